//! Reverse mode: the listener fronts targets, takes ordinary requests (plain
//! or TLS), spreads them round-robin, routes around targets that cannot be
//! reached, and says so when none can.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use interpose_proxy::{ReverseConfig, ReverseTarget};
use interpose_testsupport::{Origin, Protocols, TestCa};
use support::{read_response, within, Harness};
use tokio::io::AsyncWriteExt;

fn reverse(targets: &[String]) -> ReverseConfig {
    ReverseConfig {
        targets: targets
            .iter()
            .map(|t| ReverseTarget::parse(t).unwrap())
            .collect(),
        backoff: Duration::from_secs(60),
        certificate: None,
    }
}

fn target_of(origin: &Origin) -> String {
    origin.url("").trim_end_matches('/').to_string()
}

/// A client that talks to the listener directly, as to any server.
fn direct_client(roots_pem: &[&str]) -> reqwest::Client {
    let roots = roots_pem
        .iter()
        .flat_map(|pem| reqwest::Certificate::from_pem_bundle(pem.as_bytes()).unwrap());
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(roots)
        .build()
        .unwrap()
}

fn header<'a>(seen: &'a interpose_testsupport::SeenRequest, name: &str) -> Option<&'a str> {
    seen.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn requests_take_turns_over_the_targets_and_say_where_they_came_from() {
    let a = Origin::http().await;
    let b = Origin::http().await;
    let targets = [target_of(&a), target_of(&b)];
    let mut h = Harness::with(|c| c.reverse = Some(reverse(&targets))).await;
    let client = direct_client(&[]);

    for i in 0..10 {
        let resp = client
            .get(format!("http://{}/hello?n={i}", h.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "hello from origin");
    }
    assert_eq!(a.hits.load(Ordering::SeqCst), 5);
    assert_eq!(b.hits.load(Ordering::SeqCst), 5);

    let seen = &a.seen()[0];
    assert_eq!(seen.uri.split('?').next(), Some("/hello"));
    assert_eq!(header(seen, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(header(seen, "x-forwarded-proto"), Some("http"));
    let listener = h.addr.to_string();
    assert_eq!(header(seen, "x-forwarded-host"), Some(listener.as_str()));
    // The target sees itself named in Host, as any origin expects.
    assert_eq!(
        header(seen, "host"),
        Some(format!("127.0.0.1:{}", a.port()).as_str())
    );

    // Captured as forwarded: the target's URL, the headers we added.
    let ex = h.next_exchange().await;
    assert_eq!(ex.request.url, a.url("/hello?n=0"));
    assert_eq!(
        interpose_capture::header_value(&ex.request.headers, "x-forwarded-proto"),
        Some("http")
    );
    assert_eq!(ex.response.as_ref().unwrap().status, 200);
}

#[tokio::test]
async fn a_client_chain_of_forwarded_for_is_extended_not_replaced() {
    let a = Origin::http().await;
    let h = Harness::with(|c| c.reverse = Some(reverse(&[target_of(&a)]))).await;
    direct_client(&[])
        .get(format!("http://{}/hello", h.addr))
        .header("X-Forwarded-For", "203.0.113.7")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    let seen = &a.seen()[0];
    assert_eq!(
        header(seen, "x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1")
    );
    // Proto is where the client's connection to us ended: plain HTTP.
    assert_eq!(header(seen, "x-forwarded-proto"), Some("http"));
}

#[tokio::test]
async fn a_stopped_target_is_routed_around() {
    let a = Origin::http().await;
    let b = Origin::http().await;
    let targets = [target_of(&a), target_of(&b)];
    drop(b);
    let mut h = Harness::with(|c| c.reverse = Some(reverse(&targets))).await;
    let client = direct_client(&[]);

    // Bodiless requests move on when the target refuses: none fails.
    for i in 0..6 {
        let resp = client
            .get(format!("http://{}/hello?n={i}", h.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "request {i}");
    }
    // Requests with bodies go only to the live target once the other is
    // backing off.
    for i in 0..4 {
        let resp = client
            .post(format!("http://{}/echo", h.addr))
            .body(format!("payload {i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "post {i}");
        let echo: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(echo["body"], format!("payload {i}"));
    }
    assert_eq!(a.hits.load(Ordering::SeqCst), 10);
    let ex = h.next_exchange().await;
    assert_eq!(ex.request.url, a.url("/hello?n=0"));
    assert!(ex.error.is_none(), "{:?}", ex.error);
}

#[tokio::test]
async fn when_every_target_is_down_the_client_gets_a_502_naming_them() {
    let a = Origin::http().await;
    let b = Origin::http().await;
    let targets = [target_of(&a), target_of(&b)];
    drop(a);
    drop(b);
    let mut h = Harness::with(|c| c.reverse = Some(reverse(&targets))).await;
    let resp = direct_client(&[])
        .get(format!("http://{}/hello", h.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    for target in &targets {
        assert!(body.contains(target.as_str()), "{body}");
    }
    assert!(
        body.contains("no reverse-proxy target could be reached"),
        "{body}"
    );
    let ex = h.next_exchange().await;
    assert!(ex.response.is_none());
    assert!(ex.error.unwrap().contains(&targets[0]));
}

#[tokio::test]
async fn https_clients_get_a_leaf_from_our_ca_and_reach_an_https_target_over_http2() {
    let test_ca = TestCa::new();
    let origin = Origin::https(&test_ca, Protocols::Both).await;
    let mut h = Harness::with_test_ca(test_ca, |c| {
        c.reverse = Some(reverse(&[target_of(&origin)]))
    })
    .await;
    let client = direct_client(&[&h.ca_pem]);
    // An IP address: no SNI, so the leaf is for the listener's address.
    let resp = client
        .get(format!("https://{}/hello", h.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.text().await.unwrap(), "hello from origin");
    let seen = &origin.seen()[0];
    assert_eq!(header(seen, "x-forwarded-proto"), Some("https"));
    let ex = h.next_exchange().await;
    assert_eq!(ex.request.url, origin.url("/hello"));
    assert_eq!(ex.request.http_version, "HTTP/2.0");
}

#[tokio::test]
async fn https_clients_get_the_users_certificate_when_one_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let user_ca = TestCa::new();
    let (cert, key) = user_ca.write_leaf_pem(dir.path(), &["app.example.test"]);
    let a = Origin::http().await;
    let h = Harness::with(|c| {
        let mut config = reverse(&[target_of(&a)]);
        config.certificate = Some((cert, key));
        c.reverse = Some(config);
    })
    .await;
    // Trusting only the user's CA (not interpose's) is enough.
    let resp = direct_client(&[&user_ca.cert_pem()])
        .get(format!("https://localhost:{}/hello", h.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(a.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connect_is_refused_with_a_reason() {
    let a = Origin::http().await;
    let h = Harness::with(|c| c.reverse = Some(reverse(&[target_of(&a)]))).await;
    let mut tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    within(
        "writing CONNECT",
        tcp.write_all(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
    )
    .await
    .unwrap();
    let resp = read_response(&mut tcp).await;
    assert_eq!(resp.status, 405);
    assert!(resp.text().contains("reverse proxy"), "{}", resp.text());
    assert_eq!(a.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_request_with_a_body_is_not_replayed_on_another_target_but_the_next_one_goes_around() {
    let dead = Origin::http().await;
    let live = Origin::http().await;
    // Turns start at the first target: the dead one.
    let targets = [target_of(&dead), target_of(&live)];
    drop(dead);
    let h = Harness::with(|c| c.reverse = Some(reverse(&targets))).await;
    let client = direct_client(&[]);
    let post = || {
        client
            .post(format!("http://{}/echo", h.addr))
            .body("streamed, not kept")
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), 502);
    let body = first.text().await.unwrap();
    assert!(body.contains(&targets[0]), "{body}");
    assert!(body.contains("not sent to another target"), "{body}");
    assert_eq!(live.hits.load(Ordering::SeqCst), 0);
    assert_eq!(post().await.unwrap().status(), 200);
    assert_eq!(post().await.unwrap().status(), 200);
    assert_eq!(live.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn rules_see_the_url_the_client_asked_for_and_apply_in_reverse_mode() {
    let a = Origin::http().await;
    let b = Origin::http().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        r#"
[[rule]]
name = "token"
match = { host = "app.example.test" }
set_headers = { Authorization = "Bearer abc" }

[[rule]]
name = "no-admin"
match = { path = "/admin" }
respond = { status = 403, body = "not here" }
"#,
    )
    .unwrap();
    let live = std::sync::Arc::new(interpose_proxy::LiveRules::load(&path).unwrap());
    let targets = [target_of(&a), target_of(&b)];
    let mut h = Harness::with(|c| {
        c.reverse = Some(reverse(&targets));
        c.rules = Some(live);
    })
    .await;
    let client = direct_client(&[]);
    for _ in 0..2 {
        let resp = client
            .get(format!("http://{}/hello", h.addr))
            .header("Host", "app.example.test")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(h.next_exchange().await.rules, ["token"]);
    }
    for origin in [&a, &b] {
        let seen = &origin.seen()[0];
        assert_eq!(header(seen, "authorization"), Some("Bearer abc"));
        assert_eq!(header(seen, "x-forwarded-host"), Some("app.example.test"));
    }
    let resp = client
        .get(format!("http://{}/admin/users", h.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        a.hits.load(Ordering::SeqCst) + b.hits.load(Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn a_target_that_times_out_is_skipped_like_one_that_refuses() {
    // Accepts connections and never says a word: the TLS handshake times out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("https://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            open.push(tcp);
        }
    });
    let live = Origin::http().await;
    let targets = [silent_url.clone(), target_of(&live)];
    let mut h = Harness::with(|c| {
        c.reverse = Some(reverse(&targets));
        c.connect_timeout = Duration::from_millis(300);
    })
    .await;
    let client = direct_client(&[]);
    for i in 0..4 {
        let resp = client
            .get(format!("http://{}/hello", h.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "request {i}");
        let ex = h.next_exchange().await;
        assert_eq!(ex.request.url, live.url("/hello"));
    }
    assert_eq!(live.hits.load(Ordering::SeqCst), 4);
    // Tried once, then left alone for the back-off.
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    held.abort();
}

#[tokio::test]
async fn a_bodiless_request_failing_on_the_last_target_up_says_all_are_down() {
    let a = Origin::http().await;
    let b = Origin::http().await;
    let targets = [target_of(&a), target_of(&b)];
    let h = Harness::with(|c| c.reverse = Some(reverse(&targets))).await;
    let client = direct_client(&[]);
    let get = || client.get(format!("http://{}/hello", h.addr)).send();
    drop(a);
    // a refuses and backs off; b answers.
    assert_eq!(get().await.unwrap().status(), 200);
    drop(b);
    // Only b was in rotation; now it refuses too.
    let resp = get().await.unwrap();
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("no reverse-proxy target could be reached"),
        "{body}"
    );
    assert!(!body.contains("has a body"), "{body}");
    for target in &targets {
        assert!(body.contains(target.as_str()), "{body}");
    }
}
