//! `interpose capture` end to end: real origins, real clients through the
//! proxy, and the views (`history ...`) run from other processes.

mod support;

use std::time::{Duration, Instant};

use interpose_testsupport::{closed_port, Origin, Protocols, TestCa};
use sha2::{Digest as _, Sha256};
use support::DataDir;

/// The body of the testsupport origin's `/json`, pretty-printed as a
/// terminal view should show it.
fn pretty(json: &str) -> String {
    serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(json).unwrap()).unwrap()
}

fn id_of(rows: &[serde_json::Value], url: &str) -> i64 {
    let found = support::rows_with_url(rows, url);
    assert_eq!(found.len(), 1, "one exchange for {url}: {rows:#?}");
    found[0]["id"].as_i64().expect("numeric id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_https_exchanges_are_captured_and_shown_from_another_process() {
    let data = DataDir::new();
    let test_ca = TestCa::new();
    let upstream_ca = test_ca.write_pem(data.path());
    let http = Origin::http().await;
    let https = Origin::https(&test_ca, Protocols::Both).await;
    let capture = data.capture(&["--upstream-ca", upstream_ca.to_str().unwrap()]);
    let client = capture.client();

    let gzip_url = http.url("/gzip");
    let json_url = https.url("/json");
    let resp = client.get(&gzip_url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    let resp = client.get(&json_url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"ok":true,"items":[1,2,3]}"#);

    let rows = data.wait_for_history(Duration::from_secs(5), "both exchanges", |rows| {
        !support::rows_with_url(rows, &gzip_url).is_empty()
            && !support::rows_with_url(rows, &json_url).is_empty()
    });
    for url in [&gzip_url, &json_url] {
        let row = support::rows_with_url(&rows, url)[0];
        assert_eq!(row["method"], "GET", "{row}");
        assert_eq!(row["status"], 200, "{row}");
        assert_eq!(row["session_id"], capture.session.unwrap(), "{row}");
    }

    // history show: request line, headers, the decoded and pretty-printed body.
    let json_id = id_of(&rows, &json_url);
    let show = data.run_ok(&["history", "show", &json_id.to_string()]);
    let first = show.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("GET {json_url} ")),
        "request line first: {show}"
    );
    assert!(
        show.lines()
            .any(|l| l.eq_ignore_ascii_case("content-type: application/json")),
        "response headers shown: {show}"
    );
    assert!(
        show.contains(&pretty(r#"{"ok":true,"items":[1,2,3]}"#)),
        "JSON body pretty-printed: {show}"
    );

    let gzip_id = id_of(&rows, &gzip_url);
    let show = data.run_ok(&["history", "show", &gzip_id.to_string()]);
    assert!(
        show.lines()
            .any(|l| l.eq_ignore_ascii_case("content-encoding: gzip")),
        "the encoding header as sent: {show}"
    );
    assert!(
        show.contains(&pretty(r#"{"compressed":true}"#)),
        "gzip body decoded and pretty-printed: {show}"
    );

    // history show --json is JSON describing the same exchange.
    let entry = data.run_json(&["history", "show", &json_id.to_string(), "--json"]);
    assert_eq!(entry["request"]["url"], json_url.as_str(), "{entry:#}");
    assert_eq!(entry["response"]["status"], 200, "{entry:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_exchange_is_visible_to_another_process_within_one_second() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let capture = data.capture(&[]);
    // Warm up (first start of the views, the origin connection), so what is
    // timed is the store, not a cold binary.
    data.history();

    let url = origin.url("/hello?visible-within=1s");
    let resp = capture.client().get(&url).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "hello from origin");
    let arrived = Instant::now();

    loop {
        let checked_at = arrived.elapsed();
        if !support::rows_with_url(&data.history(), &url).is_empty() {
            break;
        }
        assert!(
            checked_at < Duration::from_secs(1),
            "exchange not in the store {checked_at:?} after the response arrived"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_shows_a_banner_and_one_line_per_exchange() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&[]);
    let port = capture.addr.port();

    // Banner: the listening line was first; then the CA path and how to use it.
    assert_eq!(capture.first_lines.len(), 1, "{:?}", capture.first_lines);
    assert!(
        capture.first_lines[0].contains(&format!("http://127.0.0.1:{port}")),
        "{:?}",
        capture.first_lines
    );
    let ca_line = capture.next_line(Duration::from_secs(5)).expect("CA line");
    assert!(
        ca_line.starts_with(&format!(
            "CA certificate: {}",
            data.ca_cert_path().display()
        )),
        "{ca_line:?}"
    );
    let hint = capture
        .next_line(Duration::from_secs(5))
        .expect("hint line");
    assert!(
        hint.contains(&format!("127.0.0.1:{port}")) && hint.to_lowercase().contains("proxy"),
        "a line telling how to point a client at the proxy: {hint:?}"
    );

    let url = origin.url("/hello");
    let resp = capture.client().get(&url).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "hello from origin");

    let line = capture.wait_for_line(Duration::from_secs(5), "for /hello", |l| l.contains(&url));
    let re = regex::Regex::new(&format!(
        r"^\d\d:\d\d:\d\d GET 200 {} 17 B \d+(ms|\.\d\ds)$",
        regex::escape(&url)
    ))
    .unwrap();
    assert!(
        re.is_match(&line),
        "time, method, status, URL, size, duration: {line:?}"
    );
    assert!(
        !capture.stdout_lines().iter().any(|l| l.contains("warning")),
        "no warning on loopback: {:?}",
        capture.stdout_lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_prints_no_exchange_lines() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&["--quiet"]);
    let client = capture.client();
    for _ in 0..3 {
        let resp = client.get(origin.url("/hello")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    // Recorded (so a line would have been printed by now) ...
    data.wait_for_history(Duration::from_secs(5), "3 exchanges", |rows| {
        rows.len() == 3
    });
    // ... yet nothing about them on stdout.
    let mut lines = capture.lines_for(Duration::from_millis(500));
    lines.retain(|l| l.contains(&origin.url("/hello")));
    assert!(lines.is_empty(), "--quiet printed {lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upstream_gets_502_naming_the_host_and_port() {
    let data = DataDir::new();
    let capture = data.capture(&[]);
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/nothing-here");
    let resp = capture.client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type:?}");
    let body = resp.text().await.unwrap();
    assert!(
        body.contains(&format!("127.0.0.1:{port}")),
        "502 body names host:port: {body:?}"
    );

    // Recorded with the error.
    let rows = data.wait_for_history(Duration::from_secs(5), "the refused exchange", |rows| {
        !support::rows_with_url(rows, &url).is_empty()
    });
    let row = support::rows_with_url(&rows, &url)[0];
    assert!(row["status"].is_null(), "{row}");
    assert!(row["error"].is_string(), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_beyond_loopback_warns_that_anyone_on_the_network_can_use_it() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&["--listen", "0.0.0.0:0"]);
    assert!(
        capture.first_lines[0].contains("http://0.0.0.0:"),
        "{:?}",
        capture.first_lines
    );
    // The banner comes before any exchange line.
    let url = origin.url("/hello");
    let resp = capture.client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    capture.wait_for_line(Duration::from_secs(5), "for /hello", |l| l.contains(&url));
    let banner: Vec<&String> = capture
        .stdout_lines()
        .iter()
        .take_while(|l| !l.contains(&url))
        .collect();
    assert!(
        banner
            .iter()
            .any(|l| l.contains("warning") && l.contains("anyone")),
        "a warning that anyone on the network can use it: {banner:?}"
    );
}

#[test]
fn capture_listens_on_loopback_port_5555_by_default() {
    let data = DataDir::new();
    let help = data.run_ok(&["capture", "--help"]);
    let listen = help
        .lines()
        .skip_while(|l| !l.contains("--listen"))
        .take_while(|l| !l.trim_start().starts_with("-q") && !l.contains("--quiet"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        listen.contains("[default: 127.0.0.1:5555]"),
        "--listen defaults to 127.0.0.1:5555:\n{help}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_https_download_arrives_intact_in_under_64_mib_of_proxy_memory() {
    const SIZE: u64 = 100 * 1024 * 1024;
    const LIMIT: u64 = 64 * 1024 * 1024;
    let data = DataDir::new();
    let test_ca = TestCa::new();
    let upstream_ca = test_ca.write_pem(data.path());
    let origin = Origin::https(&test_ca, Protocols::Both).await;
    let capture = data.capture(&["--quiet", "--upstream-ca", upstream_ca.to_str().unwrap()]);

    let url = origin.url(&format!("/bytes/{SIZE}"));
    let download = async {
        let mut resp = capture.client().get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut hash = Sha256::new();
        let mut len = 0u64;
        while let Some(chunk) = resp.chunk().await.unwrap() {
            len += chunk.len() as u64;
            hash.update(&chunk);
        }
        (len, hash.finalize())
    };
    let (len, got) = tokio::time::timeout(Duration::from_secs(300), download)
        .await
        .expect("100 MiB download within 300 s");
    assert_eq!(len, SIZE);

    let mut want = Sha256::new();
    let mut offset = 0u64;
    while offset < SIZE {
        let n = (SIZE - offset).min(1 << 20) as usize;
        want.update(interpose_testsupport::pattern_chunk(offset, n));
        offset += n as u64;
    }
    assert_eq!(got, want.finalize(), "the body arrived intact");

    // Include the store's work on the (capped) body in the peak.
    data.wait_for_history(Duration::from_secs(10), "the download", |rows| {
        !support::rows_with_url(rows, &url).is_empty()
    });
    let peak = capture.peak_rss();
    assert!(
        peak < LIMIT,
        "proxy peak RSS {:.1} MiB, limit 64 MiB",
        peak as f64 / 1048576.0
    );
}
