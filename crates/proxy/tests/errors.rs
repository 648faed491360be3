//! What a proxied client sees when something goes wrong, and that the proxy
//! keeps serving afterwards (issue 2, point 11): malformed and oversize
//! requests, unreachable origins, upstream TLS failures, ambiguous framing,
//! clients and origins that go away mid-body, idle and slow clients, and a
//! graceful shutdown.
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use interpose_testsupport::{closed_port, Origin, Protocols};
use support::Harness;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `request` on a fresh connection to the proxy (ignoring a write
/// cut short by the proxy closing) and returns everything the proxy sends
/// until it closes the connection, waiting at most 5 s.
async fn raw_exchange(proxy: &Harness, request: &[u8]) -> String {
    let mut conn = TcpStream::connect(proxy.addr).await.unwrap();
    let _ = conn.write_all(request).await;
    read_until_closed(&mut conn).await
}

/// Reads until the peer closes (or resets) the connection, at most 5 s.
async fn read_until_closed(conn: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Err(_) => panic!(
                "the proxy did not close the connection within 5 s; got so far: {:?}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a response head (for a CONNECT: nothing follows it but the
/// tunnel), one byte at a time so nothing after it is consumed.
async fn read_head(conn: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(Duration::from_secs(5), conn.read_u8())
            .await
            .expect("a response head within 5 s")
            .expect("reading a response head");
        head.push(byte);
    }
    String::from_utf8(head).unwrap()
}

/// True when the peer has closed the connection: a read returns end of file
/// or an error (a reset) within `wait`. False when the read is still
/// waiting. Panics on data: none was expected.
async fn closed_within(conn: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(wait, conn.read(&mut buf)).await {
        Err(_) => false,
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(n)) => panic!(
            "expected the connection to close, got data: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}

/// Reads one response with a Content-Length body from a kept-alive
/// connection; returns its head and body.
async fn read_one_response(conn: &mut TcpStream) -> (String, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
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
                return (head, body);
            }
        }
        let n = tokio::time::timeout_at(deadline, conn.read(&mut buf))
            .await
            .expect("a response within 5 s")
            .expect("reading the response");
        assert!(
            n > 0,
            "the connection closed mid-response: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    }
}

/// The proxy still forwards a normal request and captures it.
async fn assert_still_serves(proxy: &Harness, origin: &Origin) {
    let resp = proxy
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .expect("the proxy still answers");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "hello from origin");
}

async fn body_of(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, resp.text().await.unwrap())
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

#[tokio::test]
async fn a_malformed_request_line_gets_400_and_the_next_connection_is_served() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;

    let garbage = raw_exchange(&proxy, b"GARBAGE\r\n\r\n").await;
    assert_eq!(
        status_line(&garbage),
        "HTTP/1.1 400 Bad Request",
        "{garbage}"
    );

    let bad_version = format!(
        "GET {} HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
        origin.url("/hello")
    );
    let answer = raw_exchange(&proxy, bad_version.as_bytes()).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 400 Bad Request", "{answer}");
    assert_eq!(origin.hits.load(Ordering::SeqCst), 0);

    assert_still_serves(&proxy, &origin).await;
    // Nothing was recorded for the malformed requests: the first exchange
    // is the good one.
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, origin.url("/hello"));
}

#[tokio::test]
async fn a_request_head_over_64_kib_gets_431() {
    let origin = Origin::http().await;
    let proxy = Harness::start().await;

    let request = format!(
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        origin.url("/hello"),
        "a".repeat(70_000)
    );
    let answer = raw_exchange(&proxy, request.as_bytes()).await;
    assert_eq!(
        status_line(&answer),
        "HTTP/1.1 431 Request Header Fields Too Large",
        "{answer}"
    );
    assert_eq!(origin.hits.load(Ordering::SeqCst), 0);
    assert_still_serves(&proxy, &origin).await;
}

#[tokio::test]
async fn a_request_head_over_64_kib_inside_an_intercepted_tunnel_gets_431() {
    let proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Both).await;
    let big = "a".repeat(70_000);
    let roots = reqwest::Certificate::from_pem_bundle(proxy.ca_pem.as_bytes()).unwrap();
    let http1_only = reqwest::Client::builder()
        .no_proxy()
        .proxy(reqwest::Proxy::all(proxy.proxy_url()).unwrap())
        .tls_certs_only(roots)
        .http1_only()
        .build()
        .unwrap();
    for (client, version) in [
        (proxy.client(), reqwest::Version::HTTP_2),
        (http1_only, reqwest::Version::HTTP_11),
    ] {
        let resp = client
            .get(origin.url("/hello"))
            .header("x-big", &big)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.version(), version);
        assert_eq!(resp.status(), 431, "{version:?}");
    }
    assert_eq!(origin.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_request_head_just_under_64_kib_is_forwarded() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let big = "b".repeat(60_000);
    let resp = proxy
        .client()
        .get(origin.url("/echo"))
        .header("x-big", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen = origin.seen();
    assert!(seen[0]
        .headers
        .iter()
        .any(|(n, v)| n == "x-big" && *v == big));
    let ex = proxy.next_exchange().await;
    assert_eq!(
        interpose_capture::header_value(&ex.request.headers, "x-big"),
        Some(big.as_str())
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_502_naming_the_address_and_is_recorded() {
    let mut proxy = Harness::start().await;
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/hello");

    let resp = proxy.client().get(&url).send().await.unwrap();
    let (status, content_type, body) = body_of(resp).await;
    assert_eq!(status, 502);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(body.contains(&format!("127.0.0.1:{port}")), "{body}");
    assert!(body.contains("refused"), "{body}");

    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, url);
    assert!(ex.response.is_none());
    let error = ex.error.expect("the exchange records why it failed");
    assert!(error.contains("refused"), "{error}");
    assert!(
        body.contains(&error),
        "the client and the record give the same reason: {body:?} vs {error:?}"
    );
}

#[tokio::test]
async fn an_unresolvable_host_is_a_502_saying_it_cannot_be_resolved() {
    let mut proxy = Harness::start().await;
    let url = "http://does-not-exist.invalid/";

    let resp = proxy.client().get(url).send().await.unwrap();
    let (status, content_type, body) = body_of(resp).await;
    assert_eq!(status, 502);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(body.contains("does-not-exist.invalid"), "{body}");
    assert!(body.contains("cannot resolve"), "{body}");

    let ex = proxy.next_exchange().await;
    assert!(ex.response.is_none());
    let error = ex.error.expect("the exchange records why it failed");
    assert!(body.contains(&error), "{body:?} vs {error:?}");
}

#[tokio::test]
async fn an_origin_certificate_the_proxy_does_not_trust_is_a_502_naming_the_tls_reason() {
    // This proxy trusts only the system roots, not the origins' test CA.
    let mut proxy = Harness::with(|c| c.upstream_tls.extra_roots.clear()).await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Both).await;

    let resp = proxy
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .unwrap();
    let (status, content_type, body) = body_of(resp).await;
    assert_eq!(status, 502);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(
        body.contains(&format!("localhost:{}", origin.port())),
        "{body}"
    );
    assert!(body.contains("TLS handshake"), "{body}");
    assert!(body.contains("invalid peer certificate"), "{body}");
    assert!(body.contains("UnknownIssuer"), "{body}");
    assert_eq!(origin.hits.load(Ordering::SeqCst), 0);

    let ex = proxy.next_exchange().await;
    assert!(ex.response.is_none());
    let error = ex.error.expect("the exchange records why it failed");
    assert!(body.contains(&error), "{body:?} vs {error:?}");
}

/// Both orders of the two headers, on the proxy's port (absolute-form) and
/// inside a CONNECT tunnel (origin-form).
#[tokio::test]
async fn a_request_with_both_content_length_and_transfer_encoding_is_rejected_unforwarded() {
    let origin = Origin::http().await;
    let proxy = Harness::start().await;
    let url = origin.url("/echo");
    let heads = [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ];
    for framing in heads {
        let request = format!(
            "POST {url} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{framing}\r\n0\r\n\r\n",
            origin.port()
        );
        let answer = raw_exchange(&proxy, request.as_bytes()).await;
        assert_eq!(status_line(&answer), "HTTP/1.1 400 Bad Request", "{answer}");
        assert!(
            answer.contains("Content-Length and Transfer-Encoding"),
            "the 400 says why: {answer}"
        );

        let mut tunnel = TcpStream::connect(proxy.addr).await.unwrap();
        let connect = format!(
            "CONNECT 127.0.0.1:{0} HTTP/1.1\r\nHost: 127.0.0.1:{0}\r\n\r\n",
            origin.port()
        );
        tunnel.write_all(connect.as_bytes()).await.unwrap();
        let established = read_head(&mut tunnel).await;
        assert!(
            established.starts_with("HTTP/1.1 200 OK\r\n"),
            "{established}"
        );
        let inner = format!(
            "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{framing}\r\n0\r\n\r\n",
            origin.port()
        );
        tunnel.write_all(inner.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut tunnel).await;
        assert_eq!(status_line(&answer), "HTTP/1.1 400 Bad Request", "{answer}");
    }
    // Give a wrongly forwarded request time to arrive before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(origin.hits.load(Ordering::SeqCst), 0, "never forwarded");
    assert_still_serves(&proxy, &origin).await;
}

#[tokio::test]
async fn a_client_that_aborts_mid_download_is_recorded_as_cut_off_and_the_proxy_carries_on() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let url = origin.url("/bytes/104857600");

    // Its own client, so dropping the response closes its only connection.
    let mut resp = proxy.client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut read = 0;
    while read < 1024 * 1024 {
        read += resp.chunk().await.unwrap().expect("more body").len();
    }
    drop(resp);

    assert_still_serves(&proxy, &origin).await;
    let mut exchanges = vec![proxy.next_exchange().await, proxy.next_exchange().await];
    exchanges.sort_by_key(|ex| ex.request.url != url);
    let [aborted, hello] = <[_; 2]>::try_from(exchanges).unwrap();
    assert_eq!(hello.request.url, origin.url("/hello"));
    assert!(hello.error.is_none());

    assert_eq!(aborted.request.url, url);
    let response = aborted.response.expect("the response head was received");
    assert_eq!(response.status, 200);
    assert!(response.body.size >= read as u64);
    assert!(
        response.body.size < 104_857_600,
        "not recorded as complete: {}",
        response.body.size
    );
    let error = aborted.error.expect("an aborted download records an error");
    assert!(error.contains("cut off"), "{error}");
    assert!(
        error.contains(&format!("after {} bytes", response.body.size)),
        "{error}"
    );
}

#[tokio::test]
async fn an_origin_that_resets_mid_body_is_recorded_as_cut_off_and_the_proxy_carries_on() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;

    let resp = proxy
        .client()
        .get(origin.url("/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.content_length(),
        Some(1_000_000),
        "the origin's promise"
    );
    assert!(
        resp.bytes().await.is_err(),
        "the client sees the body fail, not a short body passed off as whole"
    );

    let ex = proxy.next_exchange().await;
    let response = ex.response.expect("the response head was received");
    assert_eq!(response.status, 200);
    assert_eq!(response.body.size, 1000);
    assert_eq!(response.body.bytes, vec![b'x'; 1000]);
    let error = ex.error.expect("a reset mid-body records an error");
    assert!(error.contains("cut off after 1000 bytes"), "{error}");

    assert_still_serves(&proxy, &origin).await;
}

#[tokio::test]
async fn fifty_idle_connections_do_not_stop_a_new_one_being_served() {
    let origin = Origin::http().await;
    let proxy = Harness::start().await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(proxy.addr).await.unwrap());
    }
    assert_still_serves(&proxy, &origin).await;
    // The idle ones are still open (the default client timeout is 30 s).
    for conn in &mut idle {
        assert!(!closed_within(conn, Duration::from_millis(1)).await);
    }
}

#[tokio::test]
async fn a_client_that_sends_half_a_head_is_disconnected_after_the_client_timeout() {
    let origin = Origin::http().await;
    let proxy = Harness::with(|c| c.client_timeout = Duration::from_millis(500)).await;

    let mut slow = TcpStream::connect(proxy.addr).await.unwrap();
    let half = format!("GET {} HTTP/1.1\r\nHost: 127.0", origin.url("/hello"));
    slow.write_all(half.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // hyper closes the connection without a response (no 408).
    assert!(
        closed_within(&mut slow, Duration::from_secs(2)).await,
        "the slow client is still connected"
    );
    assert_eq!(origin.hits.load(Ordering::SeqCst), 0);
    assert_still_serves(&proxy, &origin).await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_client_timeout() {
    let origin = Origin::http().await;
    let proxy = Harness::with(|c| c.client_timeout = Duration::from_secs(1)).await;

    let mut conn = TcpStream::connect(proxy.addr).await.unwrap();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        origin.url("/hello"),
        origin.port()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let (head, body) = read_one_response(&mut conn).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "hello from origin");

    // Kept alive at first...
    assert!(!closed_within(&mut conn, Duration::from_millis(100)).await);
    conn.write_all(request.as_bytes()).await.unwrap();
    let (head, _) = read_one_response(&mut conn).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // ...then closed once idle for longer than the timeout.
    assert!(
        closed_within(&mut conn, Duration::from_secs(3)).await,
        "the idle connection is still open"
    );
    assert_eq!(origin.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish_and_refuses_new_connections() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let grace = interpose_proxy::ProxyConfig::default().grace;

    let client = proxy.client();
    let url = origin.url("/slow/1000");
    let in_flight = tokio::spawn(async move {
        let resp = client.get(url).send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while origin.hits.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the slow request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    proxy.shutdown.cancel();
    let asked = Instant::now();
    // New connections fail while the slow one is still running (refused,
    // or reset when caught in the listener's backlog as it closed).
    while TcpStream::connect(proxy.addr).await.is_ok() {
        assert!(asked.elapsed() < Duration::from_secs(1), "still accepting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!in_flight.is_finished());

    let (status, body) = tokio::time::timeout(grace, in_flight)
        .await
        .expect("the in-flight request finished within the grace period")
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, "slow");
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, origin.url("/slow/1000"));
    assert_eq!(ex.response.unwrap().status, 200);

    tokio::time::timeout(grace.saturating_sub(asked.elapsed()), &mut proxy.stopped)
        .await
        .expect("the proxy stopped within the grace period")
        .unwrap();
    let refused = TcpStream::connect(proxy.addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}
