//! Real-socket tests of the test-support servers themselves.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use interpose_testsupport::{closed_port, pattern_chunk, BannerServer, Origin, Protocols, TestCa};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::Message;

/// A client that talks to origins directly, whatever proxy the environment sets.
fn direct_client(ca: Option<&TestCa>) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().no_proxy();
    match ca {
        Some(ca) => builder
            .tls_certs_only([reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap()]),
        None => builder,
    }
}

async fn json(resp: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn hello_over_http_is_recorded() {
    let origin = Origin::http().await;
    let resp = direct_client(None)
        .build()
        .unwrap()
        .get(origin.url("/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.text().await.unwrap(), "hello from origin");
    assert_eq!(origin.hits.load(Ordering::SeqCst), 1);
    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].uri, "/hello");
    assert_eq!(seen[0].version, http::Version::HTTP_11);
    assert!(origin.url("x").starts_with("http://127.0.0.1:"));
}

#[tokio::test]
async fn echo_over_https_negotiates_h2_by_alpn() {
    let ca = TestCa::new();
    let origin = Origin::https(&ca, Protocols::Both).await;
    assert!(origin.url("/echo").starts_with("https://localhost:"));
    let client = direct_client(Some(&ca)).build().unwrap();
    let resp = client
        .post(origin.url("/echo?a=1"))
        .header("x-test", "yes")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let echo: serde_json::Value = json(resp).await;
    assert_eq!(echo["version"], "HTTP/2.0");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo?a=1");
    assert_eq!(echo["body_len"], 7);
    assert_eq!(echo["body"], "payload");
    let headers = echo["headers"].as_array().unwrap();
    assert!(
        headers.iter().any(|h| h[0] == "x-test" && h[1] == "yes"),
        "{headers:?}"
    );
    let seen = origin.seen();
    assert_eq!(seen[0].version, http::Version::HTTP_2);
    assert_eq!(seen[0].body_len, 7);
}

#[tokio::test]
async fn https_http1_only_origin_stays_on_http1() {
    let ca = TestCa::new();
    let origin = Origin::https(&ca, Protocols::Http1).await;
    let client = direct_client(Some(&ca)).build().unwrap();
    let echo = json(client.get(origin.url("/echo")).send().await.unwrap()).await;
    assert_eq!(echo["version"], "HTTP/1.1");
}

#[tokio::test]
async fn https_rejects_untrusted_client() {
    let ca = TestCa::new();
    let other = TestCa::new();
    let origin = Origin::https(&ca, Protocols::Both).await;
    let client = direct_client(Some(&other)).build().unwrap();
    assert!(client.get(origin.url("/hello")).send().await.is_err());
}

#[tokio::test]
async fn h2c_prior_knowledge_over_plain_http() {
    let origin = Origin::http().await;
    let client = direct_client(None).http2_prior_knowledge().build().unwrap();
    let echo = json(client.get(origin.url("/echo")).send().await.unwrap()).await;
    assert_eq!(echo["version"], "HTTP/2.0");
}

#[tokio::test]
async fn bytes_streams_the_exact_pattern() {
    const N: usize = 1_048_576;
    let origin = Origin::http().await;
    let resp = direct_client(None)
        .build()
        .unwrap()
        .get(origin.url("/bytes/1048576"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), Some(N as u64));
    let mut stream = resp.bytes_stream();
    let mut offset = 0u64;
    let mut frames = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(
            &chunk[..],
            &pattern_chunk(offset, chunk.len())[..],
            "at offset {offset}"
        );
        offset += chunk.len() as u64;
        frames += 1;
    }
    assert_eq!(offset, N as u64);
    assert!(frames > 1);
    // The pattern formula itself, at a few offsets.
    let whole = pattern_chunk(0, 600);
    for i in [0usize, 1, 250, 251, 599] {
        assert_eq!(whole[i], ((i * 31 + 7) % 251) as u8);
    }
    assert_eq!(pattern_chunk(300, 10), whole[300..310]);
}

#[tokio::test]
async fn gzip_decodes() {
    use std::io::Read as _;
    let origin = Origin::http().await;
    let resp = direct_client(None)
        .build()
        .unwrap()
        .get(origin.url("/gzip"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let raw = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, r#"{"compressed":true}"#);
}

#[tokio::test]
async fn small_routes() {
    let origin = Origin::http().await;
    let client = direct_client(None).build().unwrap();
    let get = |path: &str| client.get(origin.url(path)).send();

    let json = get("/json").await.unwrap().text().await.unwrap();
    assert_eq!(json, r#"{"ok":true,"items":[1,2,3]}"#);

    let image = get("/image").await.unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    let image = image.bytes().await.unwrap();
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(image.len() >= 2000);

    let status = get("/status/418").await.unwrap();
    assert_eq!(status.status(), 418);
    assert_eq!(status.text().await.unwrap(), "status 418");

    let missing = get("/nope").await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.unwrap(), "no route");

    let start = std::time::Instant::now();
    assert_eq!(
        get("/slow/150").await.unwrap().text().await.unwrap(),
        "slow"
    );
    assert!(start.elapsed() >= Duration::from_millis(150));

    let sse = get("/sse").await.unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    assert_eq!(
        sse.text().await.unwrap(),
        "data: 1\n\ndata: 2\n\ndata: 3\n\n"
    );

    let reset = get("/reset").await.unwrap();
    assert_eq!(reset.content_length(), Some(1_000_000));
    assert!(reset.bytes().await.is_err(), "/reset must fail mid-body");

    assert_eq!(origin.hits.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn websocket_echo_round_trip() {
    let origin = Origin::http().await;
    let url = format!("ws://127.0.0.1:{}/ws", origin.port());
    let (mut ws, resp) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("hi there")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hi there"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
    ws.close(None).await.unwrap();
    // The server answers the close; the stream then ends.
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        let mut rest = Vec::new();
        while let Some(Ok(msg)) = ws.next().await {
            rest.push(msg);
        }
        rest
    })
    .await
    .unwrap();
    assert!(rest.iter().all(|m| m.is_close()), "{rest:?}");
    assert_eq!(origin.seen()[0].uri, "/ws");
}

#[tokio::test]
async fn banner_server_speaks_first_then_echoes() {
    let server = BannerServer::start().await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut banner = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut banner))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&banner, b"220 banner\r\n");
    tcp.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tcp.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");
}

#[tokio::test]
async fn closed_port_refuses() {
    let port = closed_port();
    let err = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn dropping_an_origin_stops_it() {
    let origin = Origin::http().await;
    let addr = origin.addr;
    drop(origin);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn write_pem_writes_the_ca() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let path = ca.write_pem(dir.path());
    assert_eq!(std::fs::read_to_string(path).unwrap(), ca.cert_pem());
    assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
}

#[tokio::test]
async fn proxied_client_sends_everything_to_the_proxy() {
    // An origin stands in for the proxy: for http:// URLs a forward proxy gets the absolute form.
    let fake_proxy = Origin::http().await;
    let ca = TestCa::new();
    let client = interpose_testsupport::proxied_client(&fake_proxy.url(""), &[&ca.cert_pem()]);
    let url = format!("http://127.0.0.1:{}/hello", closed_port());
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "hello from origin");
    let body = client
        .get("http://example.invalid/json")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, r#"{"ok":true,"items":[1,2,3]}"#);
    let seen = fake_proxy.seen();
    assert_eq!(seen[0].uri, url);
    assert_eq!(seen[1].uri, "http://example.invalid/json");
}

#[tokio::test]
async fn set_cookie_sends_one_header_per_c_parameter_in_order() {
    let origin = Origin::http().await;
    let resp = direct_client(None)
        .build()
        .unwrap()
        .get(origin.url("/set-cookie?c=a%3D1%3B%20Path%3D%2F&c=b%3D2&other=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookies: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
}

#[tokio::test]
async fn typed_answers_with_the_content_type_asked_for_or_none() {
    let origin = Origin::http().await;
    let client = direct_client(None).build().unwrap();
    let resp = client
        .get(origin.url("/typed/app.js?type=text%2Fcss%3B%20charset%3Dutf-8"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/css; charset=utf-8");
    let resp = client
        .get(origin.url("/typed/static/logo.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("content-type").is_none());
    assert_eq!(resp.text().await.unwrap(), "typed");
}
