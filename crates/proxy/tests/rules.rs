//! Rules on the proxy's request path: header edits the origin sees over
//! plain HTTP, intercepted HTTPS and HTTP/2; map_remote; local answers that
//! never reach the origin; reloads; bodies that still stream.

mod support;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use interpose_capture::header_value;
use interpose_proxy::LiveRules;
use interpose_testsupport::{Origin, Protocols, SeenRequest, TestCa};
use support::Harness;

/// A rules file in its own directory, loaded as a capture would load it.
struct RulesFile {
    path: PathBuf,
    live: Arc<LiveRules>,
    _dir: tempfile::TempDir,
}

impl RulesFile {
    fn new(text: &str) -> RulesFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, text).unwrap();
        let live = Arc::new(LiveRules::load(&path).unwrap());
        RulesFile {
            path,
            live,
            _dir: dir,
        }
    }

    fn rewrite(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }
}

async fn with_rules(test_ca: TestCa, rules: &RulesFile) -> Harness {
    let live = rules.live.clone();
    Harness::with_test_ca(test_ca, move |c| c.rules = Some(live)).await
}

fn seen_header<'a>(seen: &'a SeenRequest, name: &str) -> Option<&'a str> {
    seen.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn client(h: &Harness, http1_only: bool) -> reqwest::Client {
    let roots = reqwest::Certificate::from_pem_bundle(h.ca_pem.as_bytes()).unwrap();
    let builder = reqwest::Client::builder()
        .no_proxy()
        .proxy(reqwest::Proxy::all(h.proxy_url()).unwrap())
        .tls_certs_only(roots);
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().unwrap()
}

const HEADER_RULES: &str = r#"
[[rule]]
name = "add-api-token"
match = { path = "/echo", methods = ["GET", "POST"] }
set_headers = { Authorization = "Bearer abc" }
remove_headers = ["X-Tracking"]
set_response_headers = { "Cache-Control" = "no-store" }
remove_response_headers = ["Content-Type"]

[[rule]]
name = "only-for-put"
match = { methods = ["PUT"] }
set_headers = { X-Put = "1" }
"#;

#[tokio::test]
async fn header_rules_reach_the_origin_over_http_https_and_http2() {
    let test_ca = TestCa::new();
    let rules = RulesFile::new(HEADER_RULES);
    let mut h = with_rules(test_ca.clone(), &rules).await;
    let plain = Origin::http().await;
    let tls = Origin::https(&test_ca, Protocols::Both).await;

    for (origin, http1_only, version) in [
        (&plain, true, "HTTP/1.1"),
        (&tls, true, "HTTP/1.1"),
        (&tls, false, "HTTP/2.0"),
    ] {
        let before = origin.seen().len();
        let resp = client(&h, http1_only)
            .post(origin.url("/echo"))
            .header("X-Tracking", "id-123")
            .header("X-Kept", "yes")
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // Response headers edited on the way back.
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert!(resp.headers().get("content-type").is_none());
        assert!(resp.text().await.unwrap().contains("payload"));

        let seen = &origin.seen()[before];
        let case = format!("{} via {version}", origin.url(""));
        assert_eq!(
            seen_header(seen, "authorization"),
            Some("Bearer abc"),
            "{case}"
        );
        assert_eq!(seen_header(seen, "x-tracking"), None, "{case}");
        assert_eq!(seen_header(seen, "x-kept"), Some("yes"), "{case}");
        assert_eq!(seen_header(seen, "x-put"), None, "{case}");

        // Recorded: which rules applied, the request as forwarded, the
        // response as received.
        let ex = h.next_exchange().await;
        assert_eq!(ex.request.http_version, version, "{case}");
        assert_eq!(ex.rules, ["add-api-token"], "{case}");
        let headers = &ex.request.headers;
        assert_eq!(header_value(headers, "authorization"), Some("Bearer abc"));
        assert_eq!(header_value(headers, "x-tracking"), None);
        let response = ex.response.unwrap();
        assert!(header_value(&response.headers, "content-type").is_some());
        assert_eq!(header_value(&response.headers, "cache-control"), None);
    }
}

#[tokio::test]
async fn a_request_no_rule_matches_is_forwarded_untouched_and_records_no_rules() {
    let rules = RulesFile::new(HEADER_RULES);
    let mut h = with_rules(TestCa::new(), &rules).await;
    let origin = Origin::http().await;
    let resp = client(&h, true)
        .get(origin.url("/hello"))
        .header("X-Tracking", "id-123")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("cache-control").is_none());
    let seen = &origin.seen()[0];
    assert_eq!(seen_header(seen, "x-tracking"), Some("id-123"));
    assert_eq!(seen_header(seen, "authorization"), None);
    assert!(h.next_exchange().await.rules.is_empty());
}

#[tokio::test]
async fn map_remote_sends_the_request_to_another_origin_with_its_path_and_host() {
    let test_ca = TestCa::new();
    let asked = Origin::http().await;
    let staging = Origin::https(&test_ca, Protocols::Http1).await;
    let rules = RulesFile::new(&format!(
        r#"
[[rule]]
name = "to-staging"
match = {{ host = "127.0.0.1", path = "/echo" }}
map_remote = "https://localhost:{}"
"#,
        staging.port()
    ));
    let mut h = with_rules(test_ca, &rules).await;
    let resp = client(&h, true)
        .get(asked.url("/echo?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(asked.hits.load(Ordering::SeqCst), 0);
    let seen = &staging.seen()[0];
    assert!(seen.uri.ends_with("/echo?x=1"), "{}", seen.uri);
    let host = format!("localhost:{}", staging.port());
    assert_eq!(seen_header(seen, "host"), Some(host.as_str()));
    let ex = h.next_exchange().await;
    assert_eq!(ex.request.url, staging.url("/echo?x=1"));
    assert_eq!(
        header_value(&ex.request.headers, "host"),
        Some(host.as_str())
    );
    assert_eq!(ex.rules, ["to-staging"]);
}

#[tokio::test]
async fn respond_answers_without_touching_the_origin_and_the_first_respond_wins() {
    let test_ca = TestCa::new();
    let origin = Origin::https(&test_ca, Protocols::Both).await;
    let rules = RulesFile::new(
        r#"
[[rule]]
name = "tag"
set_response_headers = { X-Tagged = "yes" }

[[rule]]
name = "maintenance"
match = { path = "/hello" }
respond = { status = 503, body = "down for maintenance", headers = { "Retry-After" = "5" } }

[[rule]]
name = "never-reached"
match = { path = "/hello" }
respond = { status = 200, body = "too late" }
"#,
    );
    let mut h = with_rules(test_ca, &rules).await;
    for http1_only in [true, false] {
        let resp = client(&h, http1_only)
            .post(origin.url("/hello"))
            .body("an upload nobody forwards")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "5");
        assert_eq!(resp.headers()["x-tagged"], "yes");
        assert_eq!(resp.text().await.unwrap(), "down for maintenance");

        let ex = h.next_exchange().await;
        assert_eq!(ex.rules, ["tag", "maintenance"]);
        let response = ex.response.unwrap();
        assert_eq!(response.status, 503);
        assert_eq!(response.body.bytes, b"down for maintenance");
        assert_eq!(ex.request.body.bytes, b"an upload nobody forwards");
        assert!(ex.error.is_none());
    }
    assert_eq!(origin.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_changed_file_applies_to_the_next_request_and_a_bad_edit_keeps_the_last_good_rules() {
    let origin = Origin::http().await;
    let rules = RulesFile::new(
        r#"
[[rule]]
name = "v1"
set_headers = { X-Version = "1" }
"#,
    );
    let h = with_rules(TestCa::new(), &rules).await;
    let version_seen = || async {
        client(&h, true)
            .get(origin.url("/hello"))
            .send()
            .await
            .unwrap();
        let seen = origin.seen();
        seen_header(seen.last().unwrap(), "x-version").map(str::to_string)
    };
    assert_eq!(version_seen().await.as_deref(), Some("1"));

    rules.rewrite("[[rule]]\nname = \"v2\"\nset_headers = { X-Version = \"2\" }\n");
    assert_eq!(rules.live.check().unwrap(), Some(1));
    assert_eq!(version_seen().await.as_deref(), Some("2"));

    rules.rewrite("[[rule]]\nname = \"v3\"\nset_header = { X-Version = \"3\" }\n");
    let err = rules.live.check().unwrap_err().to_string();
    assert!(
        err.contains("line 3") && err.contains("set_headers"),
        "{err}"
    );
    assert_eq!(version_seen().await.as_deref(), Some("2"));
}

#[tokio::test]
async fn header_rules_leave_bodies_streaming_both_ways() {
    let rules = RulesFile::new(
        r#"
[[rule]]
name = "everything"
set_headers = { X-Seen = "1" }
set_response_headers = { X-Back = "1" }
"#,
    );
    let mut h = with_rules(TestCa::new(), &rules).await;
    let origin = Origin::http().await;

    // /sse sends three events 50 ms apart: the first arrives alone, while
    // the response is still open.
    let mut resp = client(&h, true)
        .get(origin.url("/sse"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-back"], "1");
    let first = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, "data: 1\n\n");
    assert!(
        h.exchanges.try_recv().is_err(),
        "the body has not ended yet"
    );
    while resp.chunk().await.unwrap().is_some() {}
    assert_eq!(h.next_exchange().await.rules, ["everything"]);
}
