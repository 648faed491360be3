//! Bodies stream through the proxy in both directions, and the record keeps
//! a bounded copy (issue 2, point 6): a 100 MiB download arrives intact, the
//! first bytes of a response or an upload move on before the rest exists,
//! and past the cap a body is counted and marked truncated.
mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use interpose_capture::header_value;
use interpose_testsupport::{pattern_chunk, Origin, Protocols};
use sha2::{Digest, Sha256};
use support::Harness;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

const MIB: u64 = 1024 * 1024;
/// The default cap on the bytes kept per body.
const CAP: usize = 16 * 1024 * 1024;

/// sha256 of the origin's `/bytes/N` pattern, computed a piece at a time.
fn pattern_sha256(len: u64) -> Vec<u8> {
    let mut hash = Sha256::new();
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(MIB) as usize;
        hash.update(pattern_chunk(offset, n));
        offset += n as u64;
    }
    hash.finalize().to_vec()
}

/// A request body that yields what is sent on the returned channel, and
/// ends when the sender is dropped.
fn channel_body() -> (mpsc::Sender<Bytes>, reqwest::Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    (tx, reqwest::Body::wrap_stream(stream))
}

/// The `i`th 64 KiB piece of an upload: one letter repeated, so pieces out
/// of order or lost show up in the echo.
fn upload_piece(i: usize) -> Bytes {
    Bytes::from(vec![b'a' + (i % 26) as u8; 64 * 1024])
}

#[tokio::test]
async fn a_100_mib_download_through_the_intercepting_proxy_arrives_intact() {
    let mut proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Both).await;
    let len = 100 * MIB;
    // Worked out on another thread while the download runs.
    let expected = tokio::task::spawn_blocking(move || pattern_sha256(len));

    let mut resp = proxy
        .client()
        .get(origin.url(&format!("/bytes/{len}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut hash = Sha256::new();
    let mut received = 0u64;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        received += chunk.len() as u64;
        hash.update(&chunk);
    }
    assert_eq!(received, len);
    assert_eq!(
        hash.finalize().to_vec(),
        expected.await.unwrap(),
        "sha256 of what arrived"
    );

    let ex = proxy.next_exchange().await;
    assert!(ex.error.is_none(), "{:?}", ex.error);
    let body = ex.response.unwrap().body;
    assert_eq!(body.size, len);
    assert!(body.truncated);
    assert_eq!(body.bytes.len(), CAP);
    assert!(
        body.bytes == pattern_chunk(0, CAP),
        "the record keeps the first 16 MiB"
    );
}

#[tokio::test]
async fn a_configured_cap_keeps_exactly_that_many_bytes() {
    let mut proxy = Harness::with(|c| c.bodies.max_body = 1024).await;
    let origin = Origin::http().await;

    for (len, truncated) in [(1024, false), (1025, true), (300_000, true)] {
        let resp = proxy
            .client()
            .get(origin.url(&format!("/bytes/{len}")))
            .send()
            .await
            .unwrap();
        let got = resp.bytes().await.unwrap();
        assert_eq!(got, pattern_chunk(0, len), "the client gets every byte");

        let body = proxy.next_exchange().await.response.unwrap().body;
        assert_eq!(body.size, len as u64);
        assert_eq!(body.truncated, truncated, "{len} bytes");
        assert_eq!(body.bytes, pattern_chunk(0, 1024));
    }
}

/// `/sse` sends three events 50 ms apart: the first must reach the client
/// while the response is still open, before the exchange is complete.
async fn first_event_arrives_before_the_body_ends(proxy: &mut Harness, origin: &Origin) {
    let mut resp = proxy.client().get(origin.url("/sse")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().expect("a first event");
    assert_eq!(first, "data: 1\n\n", "the first event, alone");
    assert!(
        matches!(
            proxy.exchanges.try_recv(),
            Err(mpsc::error::TryRecvError::Empty)
        ),
        "the exchange is only complete when the body ends"
    );

    let mut rest = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"data: 2\n\ndata: 3\n\n");
    let body = proxy.next_exchange().await.response.unwrap().body;
    assert_eq!(body.bytes, b"data: 1\n\ndata: 2\n\ndata: 3\n\n");
    assert!(!body.truncated);
}

#[tokio::test]
async fn a_response_is_forwarded_as_it_arrives_over_plain_http() {
    let mut proxy = Harness::start().await;
    let origin = Origin::http().await;
    first_event_arrives_before_the_body_ends(&mut proxy, &origin).await;
}

#[tokio::test]
async fn a_response_is_forwarded_as_it_arrives_through_the_intercepting_proxy() {
    let mut proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Both).await;
    first_event_arrives_before_the_body_ends(&mut proxy, &origin).await;
}

#[tokio::test]
async fn a_20_mib_upload_streams_through_and_is_recorded_up_to_the_cap() {
    let mut proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Both).await;
    let pieces = 320; // 320 x 64 KiB = 20 MiB
    let stream =
        futures_util::stream::iter((0..pieces).map(|i| Ok::<_, std::io::Error>(upload_piece(i))));

    let resp = proxy
        .client()
        .post(origin.url("/echo"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echo: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(echo["body_len"], 20 * MIB);
    let sent: Vec<u8> = (0..pieces).flat_map(|i| upload_piece(i).to_vec()).collect();
    assert!(
        echo["body"].as_str().unwrap().as_bytes() == sent,
        "the origin got the upload in order"
    );

    let ex = proxy.next_exchange().await;
    let body = ex.request.body;
    assert_eq!(body.size, 20 * MIB);
    assert!(body.truncated);
    assert_eq!(body.bytes.len(), CAP);
    assert!(body.bytes == sent[..CAP]);
}

/// A one-off origin that answers with the length of the request body once
/// it has all of it, and reports on `first_bytes` as soon as the first body
/// bytes arrive.
async fn origin_reporting_first_bytes() -> (String, oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/upload", listener.local_addr().unwrap());
    let (tx, first_bytes) = oneshot::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let tx = tx.clone();
            async move {
                let mut body = req.into_body();
                let mut len = 0;
                while let Some(frame) = body.frame().await {
                    if let Some(data) = frame.unwrap().data_ref() {
                        len += data.len();
                    }
                    if len > 0 {
                        if let Some(tx) = tx.lock().unwrap().take() {
                            let _ = tx.send(());
                        }
                    }
                }
                let answer = Full::new(Bytes::from(len.to_string()));
                Ok::<_, Infallible>(http::Response::new(answer))
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), svc)
            .await;
    });
    (url, first_bytes)
}

#[tokio::test]
async fn an_upload_is_forwarded_before_the_client_has_sent_all_of_it() {
    let proxy = Harness::start().await;
    upload_is_forwarded_before_the_client_has_sent_all_of_it(proxy).await;
}

/// Rules that edit headers never hold a body back.
#[tokio::test]
async fn an_upload_is_forwarded_as_it_comes_when_header_rules_apply() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"auth\"\nset_headers = { Authorization = \"Bearer abc\" }\n\
         set_response_headers = { X-Edited = \"1\" }\n",
    )
    .unwrap();
    let live = Arc::new(interpose_proxy::LiveRules::load(&path).unwrap());
    let proxy = Harness::with(|c| c.rules = Some(live)).await;
    upload_is_forwarded_before_the_client_has_sent_all_of_it(proxy).await;
}

async fn upload_is_forwarded_before_the_client_has_sent_all_of_it(proxy: Harness) {
    let (url, first_bytes) = origin_reporting_first_bytes().await;
    let (tx, body) = channel_body();

    let client = proxy.client();
    let request = tokio::spawn(async move { client.post(url).body(body).send().await });
    tx.send(Bytes::from_static(b"first half, ")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), first_bytes)
        .await
        .expect("the origin got the first bytes while the client still held the rest")
        .unwrap();
    tx.send(Bytes::from_static(b"second half")).await.unwrap();
    drop(tx);

    let resp = request.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "23");
}

#[tokio::test]
async fn a_chunked_upload_over_http_1_1_is_forwarded_and_recorded_without_its_framing() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let mut conn = TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: text/plain\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        origin.url("/echo"),
        origin.port()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        .await
        .unwrap();
    // The same connection carries on with another request.
    let next = format!(
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        origin.url("/hello"),
        origin.port()
    );
    conn.write_all(next.as_bytes()).await.unwrap();

    let mut data = Vec::new();
    let (status, echo) = read_response(&mut conn, &mut data).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let echo: serde_json::Value = serde_json::from_str(&echo).unwrap();
    assert_eq!(echo["body"], "hello world");
    assert_eq!(echo["body_len"], 11);
    let (status, hello) = read_response(&mut conn, &mut data).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(hello, "hello from origin");

    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, origin.url("/echo"));
    let headers = &ex.request.headers;
    assert_eq!(
        header_value(headers, "transfer-encoding"),
        None,
        "hop-by-hop"
    );
    assert_eq!(header_value(headers, "content-length"), None);
    assert_eq!(header_value(headers, "content-type"), Some("text/plain"));
    assert_eq!(ex.request.body.bytes, b"hello world");
    assert_eq!(ex.request.body.size, 11);
    assert!(!ex.request.body.truncated);
}

/// Reads one response with a Content-Length body from a kept-alive
/// connection; returns its status line and body. `data` holds what was read
/// past it, for the next call.
async fn read_response(conn: &mut TcpStream, data: &mut Vec<u8>) -> (String, String) {
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .expect("the response has a Content-Length");
            if data.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&data[end + 4..end + 4 + len]).into_owned();
                data.drain(..end + 4 + len);
                let status = head.lines().next().unwrap().to_string();
                return (status, body);
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .expect("a response within 5 s")
            .expect("reading the response");
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(data)
        );
        data.extend_from_slice(&buf[..n]);
    }
}
