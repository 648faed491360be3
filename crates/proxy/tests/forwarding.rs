//! The forward proxy: absolute-form requests (http and https without
//! CONNECT), keep-alive and pipelining from clients, the connection pool to
//! origins, hop-by-hop hygiene, and what is recorded of each exchange.
mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use interpose_capture::{decode_body, header_value, BodyOmitted, Exchange};
use interpose_testsupport::{Origin, Protocols};
use support::{read_response, within, Harness};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn has_header(headers: &[interpose_capture::Header], name: &str) -> bool {
    headers.iter().any(|h| h.name.eq_ignore_ascii_case(name))
}

/// The headers the origin saw, from `/echo`'s JSON.
fn echoed_headers(echo: &serde_json::Value) -> Vec<(String, String)> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_string(),
                pair[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn assert_recorded_from_loopback(ex: &Exchange, before_us: i64, after_us: i64) {
    let (ip, port) = ex.client_addr.rsplit_once(':').unwrap();
    assert_eq!(ip, "127.0.0.1", "client_addr {}", ex.client_addr);
    assert!(port.parse::<u16>().unwrap() > 0);
    assert!(
        (before_us..=after_us).contains(&ex.started_at_us),
        "started_at_us {} not within the test's own clock readings {before_us}..={after_us}",
        ex.started_at_us
    );
    assert!(ex.timings.wait.is_some(), "{:?}", ex.timings);
    assert!(ex.timings.receive.is_some(), "{:?}", ex.timings);
    assert_eq!(ex.session_id, 7);
    assert_eq!(ex.error, None);
    assert!(!ex.websocket);
}

#[tokio::test]
async fn an_absolute_form_get_is_forwarded_and_recorded_in_full() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let before = now_us();
    let resp = within(
        "GET /json through the proxy",
        proxy
            .client()
            .get(origin.url("/json?page=2"))
            .header("X-Test", "forwarding")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_11);
    let body = within("the body", resp.text()).await.unwrap();
    assert_eq!(body, r#"{"ok":true,"items":[1,2,3]}"#);

    let ex = proxy.next_exchange().await;
    assert_recorded_from_loopback(&ex, before, now_us());
    assert_eq!(ex.request.method, "GET");
    assert_eq!(ex.request.url, origin.url("/json?page=2"));
    assert_eq!(ex.request.http_version, "HTTP/1.1");
    assert_eq!(
        header_value(&ex.request.headers, "host"),
        Some(format!("127.0.0.1:{}", origin.port()).as_str())
    );
    assert_eq!(
        header_value(&ex.request.headers, "x-test"),
        Some("forwarding")
    );
    let response = ex.response.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.reason, "OK");
    assert_eq!(response.http_version, "HTTP/1.1");
    assert_eq!(
        header_value(&response.headers, "content-type"),
        Some("application/json")
    );
    assert_eq!(response.body.bytes, body.as_bytes());
    assert_eq!(response.body.size, body.len() as u64);
    assert_eq!(origin.seen()[0].uri, "/json?page=2", "origin-form upstream");
}

#[tokio::test]
async fn an_absolute_form_post_delivers_its_body_to_the_origin_and_records_both_bodies() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let before = now_us();
    let sent = "name=interpose&kind=proxy";
    let resp = within(
        "POST /echo through the proxy",
        proxy
            .client()
            .post(origin.url("/echo"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(sent)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let echoed = within("the body", resp.bytes()).await.unwrap();
    let echo: serde_json::Value = serde_json::from_slice(&echoed).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body_len"], sent.len());
    assert_eq!(echo["body"], sent);

    let ex = proxy.next_exchange().await;
    assert_recorded_from_loopback(&ex, before, now_us());
    assert_eq!(ex.request.method, "POST");
    assert_eq!(ex.request.url, origin.url("/echo"));
    assert_eq!(
        header_value(&ex.request.headers, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(ex.request.body.bytes, sent.as_bytes());
    assert_eq!(ex.request.body.size, sent.len() as u64);
    let response = ex.response.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body.bytes, &echoed[..]);
}

#[tokio::test]
async fn an_absolute_form_https_request_without_connect_makes_the_tls_connection_itself() {
    let mut proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Http1).await;
    let url = origin.url("/hello");
    assert!(url.starts_with("https://localhost:"));

    // What axios's `proxy` option sends: a plain-text request for an https URL.
    let mut tcp = proxy.tcp().await;
    let request = format!(
        "GET {url} HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
        origin.port()
    );
    within("writing the request", tcp.write_all(request.as_bytes()))
        .await
        .unwrap();
    let resp = read_response(&mut tcp).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.text(), "hello from origin");
    assert_eq!(origin.hits.load(std::sync::atomic::Ordering::SeqCst), 1);

    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, url);
    assert_eq!(ex.response.unwrap().body.bytes, b"hello from origin");
    assert!(
        ex.timings.tls.is_some(),
        "the proxy made a TLS connection: {:?}",
        ex.timings
    );
}

#[tokio::test]
async fn a_kept_alive_client_connection_serves_pipelined_requests_in_order() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let mut tcp = proxy.tcp().await;
    let host = format!("127.0.0.1:{}", origin.port());
    // Two complete requests in one write, before reading anything.
    let both = format!(
        "GET http://{host}/hello HTTP/1.1\r\nHost: {host}\r\n\r\n\
         GET http://{host}/json HTTP/1.1\r\nHost: {host}\r\n\r\n"
    );
    within("writing two requests", tcp.write_all(both.as_bytes()))
        .await
        .unwrap();

    let first = read_response(&mut tcp).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.text(), "hello from origin");
    let second = read_response(&mut tcp).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.text(), r#"{"ok":true,"items":[1,2,3]}"#);

    // And the connection is still open for a third.
    let third = format!("GET http://{host}/status/204 HTTP/1.1\r\nHost: {host}\r\n\r\n");
    within("writing a third request", tcp.write_all(third.as_bytes()))
        .await
        .unwrap();
    assert_eq!(read_response(&mut tcp).await.status, 204);

    let local = tcp.local_addr().unwrap().to_string();
    let mut urls = Vec::new();
    for _ in 0..3 {
        let ex = proxy.next_exchange().await;
        assert_eq!(ex.client_addr, local, "recorded with the client's address");
        urls.push(ex.request.url);
    }
    urls.sort();
    let mut expected = vec![
        format!("http://{host}/hello"),
        format!("http://{host}/json"),
        format!("http://{host}/status/204"),
    ];
    expected.sort();
    assert_eq!(urls, expected);
}

#[tokio::test]
async fn sequential_requests_to_one_origin_reuse_a_pooled_connection() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let client = proxy.client();
    let mut connects = Vec::new();
    for i in 0..4 {
        let resp = within("GET /hello", client.get(origin.url("/hello")).send())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        within("the body", resp.bytes()).await.unwrap();
        let ex = proxy.next_exchange().await;
        assert_eq!(ex.request.url, origin.url("/hello"), "request {i}");
        connects.push(ex.timings.connect);
    }
    assert!(connects[0].is_some(), "the first request connected");
    assert_eq!(
        connects[1..],
        [None, None, None],
        "later requests reused the pooled connection: {connects:?}"
    );
}

#[tokio::test]
async fn sequential_https_requests_reuse_one_tls_connection_to_the_origin() {
    let mut proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Http1).await;
    let client = proxy.client();
    let mut setups = Vec::new();
    for _ in 0..3 {
        let resp = within("GET /hello", client.get(origin.url("/hello")).send())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        within("the body", resp.bytes()).await.unwrap();
        let ex = proxy.next_exchange().await;
        setups.push((ex.timings.connect, ex.timings.tls));
    }
    assert!(setups[0].0.is_some() && setups[0].1.is_some(), "{setups:?}");
    assert_eq!(setups[1..], [(None, None), (None, None)], "{setups:?}");
}

#[tokio::test]
async fn hop_by_hop_request_headers_are_neither_forwarded_nor_recorded() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let mut tcp = proxy.tcp().await;
    let host = format!("127.0.0.1:{}", origin.port());
    let request = format!(
        "GET http://{host}/echo HTTP/1.1\r\n\
         Host: {host}\r\n\
         Connection: keep-alive, X-Hop\r\n\
         X-Hop: 1\r\n\
         Keep-Alive: timeout=5\r\n\
         Proxy-Authorization: Basic eDp5\r\n\
         Proxy-Connection: keep-alive\r\n\
         X-End-To-End: kept\r\n\r\n"
    );
    within("writing the request", tcp.write_all(request.as_bytes()))
        .await
        .unwrap();
    let resp = read_response(&mut tcp).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let echo: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    let seen = echoed_headers(&echo);
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        seen.contains(&("x-end-to-end".into(), "kept".into())),
        "{seen:?}"
    );
    for hop in [
        "connection",
        "x-hop",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
    ] {
        assert!(!names.contains(&hop), "origin saw {hop}: {names:?}");
    }

    let ex = proxy.next_exchange().await;
    assert!(has_header(&ex.request.headers, "x-end-to-end"));
    for hop in [
        "connection",
        "x-hop",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
    ] {
        assert!(
            !has_header(&ex.request.headers, hop),
            "recorded {hop}: {:?}",
            ex.request.headers
        );
    }
}

/// An origin written by hand, so the response can carry hop-by-hop headers
/// that a well-behaved server library would not produce.
async fn hop_header_origin() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(5), read_head_of_request(&mut tcp)).await;
        let _ = tcp
            .write_all(
                b"HTTP/1.1 200 OK\r\n\
                  Content-Type: text/plain\r\n\
                  Content-Length: 2\r\n\
                  Connection: X-Resp-Hop\r\n\
                  X-Resp-Hop: 1\r\n\
                  Keep-Alive: timeout=5\r\n\
                  Proxy-Authenticate: Basic realm=\"nope\"\r\n\
                  X-End-To-End: kept\r\n\r\nok",
            )
            .await;
        // Hold the connection open until the test ends.
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    (port, task)
}

async fn read_head_of_request(tcp: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt as _;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
}

#[tokio::test]
async fn hop_by_hop_response_headers_are_not_forwarded_to_the_client() {
    let (port, origin) = hop_header_origin().await;
    let mut proxy = Harness::start().await;
    let mut tcp = proxy.tcp().await;
    let request =
        format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    within("writing the request", tcp.write_all(request.as_bytes()))
        .await
        .unwrap();
    let resp = read_response(&mut tcp).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "ok");
    assert_eq!(resp.header("x-end-to-end"), Some("kept"));
    for hop in [
        "connection",
        "x-resp-hop",
        "keep-alive",
        "proxy-authenticate",
    ] {
        assert_eq!(
            resp.header(hop),
            None,
            "client got {hop}: {:?}",
            resp.headers
        );
    }
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.response.unwrap().status, 200);
    origin.abort();
}

#[tokio::test]
async fn a_gzip_response_is_forwarded_untouched_and_recorded_as_sent() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let resp = within("GET /gzip", proxy.client().get(origin.url("/gzip")).send())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-encoding").unwrap(),
        "gzip",
        "the client sees the origin's encoding"
    );
    let wire = within("the body", resp.bytes()).await.unwrap();
    assert_eq!(&wire[..2], b"\x1f\x8b", "the client got gzip bytes");
    assert_eq!(
        decode_body(&wire, Some("gzip")).unwrap(),
        br#"{"compressed":true}"#
    );

    let ex = proxy.next_exchange().await;
    let body = ex.response.unwrap().body;
    assert_eq!(body.encoding.as_deref(), Some("gzip"));
    assert_eq!(body.bytes, &wire[..], "recorded exactly as sent");
    assert_eq!(body.size, wire.len() as u64);
    let decoded = decode_body(&body.bytes, body.encoding.as_deref()).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(json, serde_json::json!({"compressed": true}));
}

#[tokio::test]
async fn a_media_response_reaches_the_client_whole_but_its_bytes_are_not_kept() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let resp = within(
        "GET /image",
        proxy.client().get(origin.url("/image")).send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("content-type").unwrap(), "image/png");
    let png = within("the body", resp.bytes()).await.unwrap();
    assert_eq!(png.len(), 2048);
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let ex = proxy.next_exchange().await;
    let response = ex.response.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        header_value(&response.headers, "content-type"),
        Some("image/png")
    );
    assert_eq!(response.body.omitted, Some(BodyOmitted::Media));
    assert!(response.body.bytes.is_empty(), "no image bytes kept");
    assert_eq!(response.body.size, 2048, "but every byte counted");
    assert!(!response.body.truncated);
}

#[tokio::test]
async fn an_origin_form_request_to_the_proxy_itself_gets_400_explaining_proxy_setup() {
    let mut proxy = Harness::start().await;
    let mut tcp = proxy.tcp().await;
    let request = format!("GET /hello HTTP/1.1\r\nHost: {}\r\n\r\n", proxy.addr);
    within("writing the request", tcp.write_all(request.as_bytes()))
        .await
        .unwrap();
    let resp = read_response(&mut tcp).await;
    assert_eq!(resp.status, 400);
    let text = resp.text();
    assert!(text.contains("/hello"), "{text}");
    assert!(
        text.contains("configure your client to use this address as its HTTP(S) proxy"),
        "{text}"
    );
    proxy.assert_no_exchange(Duration::from_millis(200)).await;

    // A browser pointed at the proxy as if it were a site gets the same.
    let direct = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = within(
        "GET the proxy directly",
        direct.get(format!("http://{}/", proxy.addr)).send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(within("the body", resp.text())
        .await
        .unwrap()
        .contains("proxy"));
}
