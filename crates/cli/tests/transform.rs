//! `capture --rules` and `capture --reverse` end to end: the real binary,
//! real origins, real clients, the store read from another process.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use interpose_testsupport::{Origin, Protocols, SeenRequest, TestCa};
use support::{Capture, DataDir};

fn seen_header(seen: &SeenRequest, name: &str) -> Option<String> {
    seen.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// Waits (at most 5 s) until capture's stderr holds `needle`.
fn wait_for_stderr(capture: &Capture, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stderr = capture.stderr();
        if stderr.contains(needle) {
            return stderr;
        }
        assert!(
            Instant::now() < deadline,
            "capture's stderr never said {needle:?}:\n{stderr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_bad_rules_file_stops_start_up_naming_the_file_line_rule_and_fix() {
    let data = DataDir::new();
    let rules = data.path().join("rules.toml");
    for (text, says) in [
        (
            "[[rule]]\nname = \"auth\"\n\nset_header = { Authorization = \"x\" }\n",
            vec![
                "line 4",
                "rule \"auth\"",
                "set_header",
                "did you mean `set_headers`",
            ],
        ),
        (
            "[[rule]]\nname = \"files\"\nrespond = { body_file = \"missing.json\" }\n",
            vec!["line 3", "rule \"files\"", "missing.json"],
        ),
        (
            "[[rule]]\nname = \"re\"\nmatch = { path_regex = \"([a-z\" }\n",
            vec!["line 3", "rule \"re\"", "path_regex"],
        ),
        (
            "[[rule]]\nname = \"hdr\"\nset_headers = { \"Bad Name\" = \"x\" }\n",
            vec!["line 3", "rule \"hdr\"", "Bad Name"],
        ),
    ] {
        std::fs::write(&rules, text).unwrap();
        let out = data.run_failing_capture(&[
            "--listen",
            "127.0.0.1:0",
            "--rules",
            rules.to_str().unwrap(),
        ]);
        assert!(!out.status.success(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("rules.toml"), "{stderr}");
        for needle in says {
            assert!(
                stderr.contains(needle),
                "{needle:?} missing from:\n{stderr}"
            );
        }
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("listening on"),
            "it must not start"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_capture_reloads_its_rules_and_keeps_the_last_good_ones_through_a_bad_edit() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let rules = data.path().join("rules.toml");
    let version = |v: u32| {
        format!("[[rule]]\nname = \"v{v}\"\nmatch = {{ path = \"/echo\" }}\nset_headers = {{ X-Version = \"{v}\" }}\n")
    };
    std::fs::write(&rules, version(1)).unwrap();
    let mut capture = data.capture(&["--rules", rules.to_str().unwrap()]);
    let line = capture.wait_for_line(Duration::from_secs(5), "naming the rules", |l| {
        l.starts_with("Rules:")
    });
    assert!(
        line.contains("Rules: 1 from") && line.contains("(v1;"),
        "{line}"
    );
    let client = capture.client();
    let send = || async {
        let resp = client.get(origin.url("/echo")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let seen = origin.seen();
        seen_header(seen.last().unwrap(), "x-version")
    };
    assert_eq!(send().await.as_deref(), Some("1"));
    let line = capture.wait_for_line(Duration::from_secs(5), "for the exchange", |l| {
        l.contains("/echo")
    });
    assert!(line.ends_with("[rules: v1]"), "{line}");

    std::fs::write(&rules, version(2)).unwrap();
    wait_for_stderr(&capture, "rules: reloaded");
    assert_eq!(send().await.as_deref(), Some("2"));

    // A bad edit: said once, with the line, and the last good rules stay.
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"v3\"\nset_headers = { X-Version = 3 }\n",
    )
    .unwrap();
    let stderr = wait_for_stderr(&capture, "keeping the 1 rules in force");
    assert!(
        stderr.contains("line 3") && stderr.contains("rule \"v3\""),
        "{stderr}"
    );
    assert_eq!(send().await.as_deref(), Some("2"));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        capture.stderr().matches("keeping the").count(),
        1,
        "reported once, not on every look"
    );

    // Every exchange was captured, each with the rule that applied.
    let rows = data.wait_for_history(Duration::from_secs(5), "three exchanges", |rows| {
        rows.len() == 3
    });
    assert_eq!(rows.len(), 3);
    let first = rows[0]["id"].as_i64().unwrap().to_string();
    let show = data.run_ok(&["history", "show", &first]);
    assert!(show.contains("\nrules applied: v1\n"), "{show}");
    let har: serde_json::Value =
        serde_json::from_str(&data.run_ok(&["export", "--format", "har"])).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    let applied: Vec<&serde_json::Value> =
        entries.iter().map(|e| &e["_interpose"]["rules"]).collect();
    assert_eq!(
        applied,
        [
            &serde_json::json!(["v1"]),
            &serde_json::json!(["v2"]),
            &serde_json::json!(["v2"])
        ]
    );
    // The HAR entry is the request as forwarded.
    let sent: Vec<&serde_json::Value> = entries[1]["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            h["name"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("x-version")
        })
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["value"], "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_mode_spreads_requests_answers_tls_and_routes_around_a_stopped_target() {
    let data = DataDir::new();
    let a = Origin::http().await;
    let b = Origin::http().await;
    let targets = format!(
        "{},{}",
        a.url("").trim_end_matches('/'),
        b.url("").trim_end_matches('/')
    );
    let user_ca = TestCa::new();
    let (cert, key) = user_ca.write_leaf_pem(data.path(), &[]);
    let capture = data.capture(&[
        "--reverse",
        &targets,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        capture
            .first_lines
            .iter()
            .any(|l| l.starts_with("interpose reverse proxy listening on")),
        "{:?}",
        capture.first_lines
    );
    let port = capture.addr.port();
    let roots = reqwest::Certificate::from_pem_bundle(user_ca.cert_pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(roots)
        .build()
        .unwrap();
    for i in 0..4 {
        // Plain and TLS on the one port.
        let url = if i % 2 == 0 {
            format!("http://127.0.0.1:{port}/hello")
        } else {
            format!("https://localhost:{port}/hello")
        };
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
    }
    assert_eq!(a.hits.load(Ordering::SeqCst), 2);
    assert_eq!(b.hits.load(Ordering::SeqCst), 2);
    let protos: Vec<Option<String>> = a
        .seen()
        .iter()
        .chain(b.seen().iter())
        .map(|s| seen_header(s, "x-forwarded-proto"))
        .collect();
    assert!(protos.contains(&Some("https".into())), "{protos:?}");
    assert!(protos.contains(&Some("http".into())), "{protos:?}");

    drop(b);
    for _ in 0..4 {
        let resp = client
            .get(format!("http://127.0.0.1:{port}/hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(a.hits.load(Ordering::SeqCst), 6);
    let stderr = wait_for_stderr(&capture, "skipping it for 10s");
    assert!(
        stderr.contains("reverse target http://127.0.0.1:"),
        "{stderr}"
    );

    // Recorded as forwarded: the targets' URLs, in a session of its own kind.
    let rows = data.wait_for_history(Duration::from_secs(5), "eight exchanges", |rows| {
        rows.len() == 8
    });
    let to_a = support::rows_with_url(&rows, &a.url("/hello")).len();
    assert_eq!(to_a, 6, "{rows:#?}");
    let sessions = data.sessions();
    assert_eq!(sessions[0]["source"], "reverse", "{sessions:#?}");
}

#[test]
fn reverse_mode_options_are_checked_before_anything_starts() {
    let data = DataDir::new();
    let out = data.run_failing_capture(&["--listen", "127.0.0.1:0", "--reverse", "localhost:8001"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("write http://localhost:8001"), "{stderr}");

    let out = data.run_failing_capture(&[
        "--listen",
        "127.0.0.1:0",
        "--reverse",
        "http://127.0.0.1:8001",
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("/nonexistent/cert.pem") && stderr.contains("--tls-cert"),
        "{stderr}"
    );
    // Checked before anything is created: no session was begun.
    assert!(!data.db_path().exists() || data.sessions().is_empty());
    let out = data.run_failing_capture(&["--listen", "127.0.0.1:0", "--connect-timeout", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connect-timeout"));
    let out = data.run_failing_capture(&["--listen", "127.0.0.1:0", "--tls-cert", "c.pem"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--reverse"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_target_is_reached_over_tls_with_the_upstream_trust() {
    let data = DataDir::new();
    let test_ca = TestCa::new();
    let upstream_ca = test_ca.write_pem(data.path());
    let origin = Origin::https(&test_ca, Protocols::Both).await;
    let target = origin.url("").trim_end_matches('/').to_string();
    let capture = data.capture(&[
        "--reverse",
        &target,
        "--upstream-ca",
        upstream_ca.to_str().unwrap(),
    ]);
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{}/json", capture.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"ok":true,"items":[1,2,3]}"#);
    assert_eq!(origin.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_bounds_the_wait_for_a_silent_origin() {
    let data = DataDir::new();
    // Accepts connections and never answers: the TLS handshake cannot end.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            open.push(tcp);
        }
    });
    let capture = data.capture(&["--connect-timeout", "1"]);
    let resp = capture
        .client()
        .get(format!("https://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502, "a 502 that explains itself");
    let body = resp.text().await.unwrap();
    assert!(body.contains("timed out after 1s"), "{body}");
    held.abort();
}
