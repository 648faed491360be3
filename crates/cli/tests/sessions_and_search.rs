//! `history sessions` with its breakdown, and `history list --filter`.

mod support;

use interpose_testsupport::{closed_port, Origin, Protocols, TestCa};
use serde_json::{json, Value};
use support::{stop_capture, DataDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_sessions_breaks_each_session_down_by_method_domain_type_and_status() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&["--quiet"]);
    let client = capture.client();
    for path in ["/json", "/status/404", "/hello"] {
        client.get(origin.url(path)).send().await.unwrap();
    }
    client
        .post(origin.url("/echo"))
        .body("x")
        .send()
        .await
        .unwrap();
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let resp = client.get(&refused).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let port = capture.addr.port();
    stop_capture(&mut capture);

    let mut second = data.capture(&["--quiet"]);
    second
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .unwrap();
    stop_capture(&mut second);

    let sessions = data.sessions();
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    let first = &sessions[0];
    assert_eq!(first["source"], "proxy");
    assert_eq!(
        first["detail"],
        format!("127.0.0.1:{port}"),
        "the address bound, not the :0 asked for"
    );
    assert_eq!(first["exchanges"], 5);
    assert!(first["ended_at_us"].as_i64().unwrap() >= first["started_at_us"].as_i64().unwrap());
    assert_eq!(
        first["breakdown"],
        json!({
            "methods": {"GET": 4, "POST": 1},
            "domains": {"127.0.0.1": 5},
            "content_types": {"application/json": 2, "text/plain": 2, "none": 1},
            "statuses": {"200": 3, "404": 1, "error": 1},
        }),
        "{first:#}"
    );
    assert_eq!(
        sessions[1]["breakdown"],
        json!({
            "methods": {"GET": 1},
            "domains": {"127.0.0.1": 1},
            "content_types": {"text/plain": 1},
            "statuses": {"200": 1},
        })
    );

    // The table: one line per session, its breakdown on indented lines.
    let table = data.run_ok(&["history", "sessions"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("  ID  STARTED"), "{table}");
    let session_line = lines[1];
    assert!(
        session_line.trim_start().starts_with("1 ")
            && session_line.contains(" proxy ")
            && session_line.contains(&format!("127.0.0.1:{port}")),
        "{table}"
    );
    assert_eq!(lines[2].trim(), "methods   GET 4, POST 1", "{table}");
    assert_eq!(lines[3].trim(), "domains   127.0.0.1 5", "{table}");
    assert_eq!(
        lines[4].trim(),
        "types     application/json 2, text/plain 2, none 1",
        "{table}"
    );
    assert_eq!(
        lines[5].trim(),
        "statuses  200 3, 404 1, error 1",
        "{table}"
    );
    assert!(lines[6].trim_start().starts_with("2 "), "{table}");
}

/// Ids of `history list --json --filter EXPR`, as URLs.
fn matching(data: &DataDir, expr: &str) -> Vec<String> {
    match data.run_json(&["history", "list", "--json", "--filter", expr]) {
        Value::Array(rows) => rows
            .iter()
            .map(|r| r["url"].as_str().unwrap().to_string())
            .collect(),
        other => panic!("not a list: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_list_filter_supports_every_operator_and_points_at_errors() {
    let data = DataDir::new();
    let test_ca = TestCa::new();
    let upstream_ca = test_ca.write_pem(data.path());
    let http = Origin::http().await;
    let https = Origin::https(&test_ca, Protocols::Both).await;
    let mut capture = data.capture(&["--quiet", "--upstream-ca", upstream_ca.to_str().unwrap()]);
    let client = capture.client();
    let (json_url, echo_url, missing_url, gzip_url, tls_url) = (
        http.url("/json"),
        http.url("/echo?kind=tea"),
        http.url("/status/404"),
        http.url("/gzip"),
        https.url("/hello"),
    );
    client.get(&json_url).send().await.unwrap();
    client
        .post(&echo_url)
        .header("X-Trace", "abc-123")
        .header("content-type", "application/json")
        .body(r#"{"flavour":"sencha"}"#)
        .send()
        .await
        .unwrap();
    client.get(&missing_url).send().await.unwrap();
    let resp = client.get(&gzip_url).send().await.unwrap();
    resp.bytes().await.unwrap();
    client.get(&tls_url).send().await.unwrap();
    stop_capture(&mut capture);
    assert_eq!(data.history().len(), 5);

    let all = [&json_url, &echo_url, &missing_url, &gzip_url, &tls_url];
    let want = |idx: &[usize]| -> Vec<String> { idx.iter().map(|&i| all[i].clone()).collect() };
    for (expr, expected) in [
        ("~d localhost", want(&[4])),
        ("~d 0.0.1", want(&[])),
        ("~m post", want(&[1])),
        ("~u /status/", want(&[2])),
        (r"~u 'kind=t.a$'", want(&[1])),
        ("~c 404", want(&[2])),
        ("~t JSON", want(&[0, 1, 3])),
        (r#"~h "x-trace: abc-\d+""#, want(&[1])),
        ("~b sencha", want(&[1])),
        ("~b compressed", want(&[3])),
        ("!~m GET", want(&[1])),
        ("~m GET & ~t json", want(&[0, 3])),
        ("~m GET ~t json", want(&[0, 3])),
        ("~c 404 | ~d localhost", want(&[2, 4])),
        // ! binds tighter than &, & tighter than |.
        ("~m POST | ~m GET & ~c 404", want(&[1, 2])),
        ("(~m POST | ~m GET) & ~c 404", want(&[2])),
        ("!(~c 200 | ~c 404)", want(&[])),
        ("!~c 200 & !~m POST", want(&[2])),
    ] {
        assert_eq!(matching(&data, expr), expected, "--filter {expr:?}");
    }
    // --limit keeps the last N matches.
    let out = data.run_json(&[
        "history", "list", "--json", "--filter", "~m GET", "--limit", "2",
    ]);
    let urls: Vec<&str> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, [gzip_url.as_str(), tls_url.as_str()]);
    // The table too.
    let table = data.run_ok(&["history", "list", "--filter", "~c 404"]);
    assert!(
        table.contains("/status/404") && !table.contains("/json"),
        "{table}"
    );
    let none = data.run_ok(&["history", "list", "--filter", "~c 418"]);
    assert_eq!(none.trim(), "no exchanges match the filter");

    // Errors show the expression with a caret under the bad token.
    for (expr, caret_at, says) in [
        ("~m GET & ~x foo", 9, "unknown filter ~x"),
        ("~m GET & (~c 200", 9, "unclosed ("),
        ("~c abc", 3, ""),
        ("~u '('", 3, ""),
    ] {
        let out = data.run(&["history", "list", "--filter", expr]);
        assert!(!out.status.success(), "{expr}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines[0], "error: invalid --filter expression:", "{stderr}");
        assert_eq!(lines[1], format!("  {expr}"), "{stderr}");
        let caret = lines[2].find('^').expect("a caret line");
        assert_eq!(
            caret,
            caret_at + 2,
            "caret under the token of {expr:?}:\n{stderr}"
        );
        assert!(lines[2].contains(says), "{stderr}");
    }
}
