//! `capture`'s filters and body options end to end: what they keep out of
//! the store, while every request is still answered by the origin.

mod support;

use interpose_testsupport::Origin;
use support::{stop_capture, DataDir};

/// URLs in the history, oldest first.
fn recorded_urls(data: &DataDir) -> Vec<String> {
    data.history()
        .iter()
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect()
}

/// Sends each (method, path) through `capture`, checks the answer's status,
/// then stops the capture (flushing the store) and returns what the history
/// holds. Also checks the origin saw every request: filters never stop
/// traffic.
async fn through(
    data: &DataDir,
    args: &[&str],
    origin: &Origin,
    requests: &[(&str, &str, u16)],
) -> Vec<String> {
    let mut capture = data.capture(args);
    let client = capture.client();
    for (method, path, status) in requests {
        let resp = client
            .request(method.parse().unwrap(), origin.url(path))
            .body(if *method == "GET" { "" } else { "payload" })
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            *status,
            "{method} {path} answered as usual"
        );
        resp.bytes().await.unwrap();
    }
    assert_eq!(
        origin.seen().len(),
        requests.len(),
        "the origin saw every request"
    );
    stop_capture(&mut capture);
    recorded_urls(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_and_exclude_url_limit_what_is_recorded_and_exclude_wins() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let urls = through(
        &data,
        &["--include-url", "AREA=api", "--exclude-url", "/debug$/"],
        &origin,
        &[
            ("GET", "/hello?area=api", 200),
            ("GET", "/hello?area=api-debug", 200),
            ("GET", "/json", 200),
            ("GET", "/hello?other=1&area=api", 200),
        ],
    )
    .await;
    assert_eq!(
        urls,
        [
            origin.url("/hello?area=api"),
            origin.url("/hello?other=1&area=api")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_delimited_url_patterns_are_regexes_and_i_ignores_case() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let urls = through(
        &data,
        &["--include-url", r"/\/STATUS\/2\d\d$/i"],
        &origin,
        &[
            ("GET", "/status/201", 201),
            ("GET", "/status/404", 404),
            ("GET", "/status/2000", 404),
            ("GET", "/hello", 200),
        ],
    )
    .await;
    assert_eq!(urls, [origin.url("/status/201")]);

    // Without /i the regex is case-sensitive; a plain pattern never is.
    let data = DataDir::new();
    let origin = Origin::http().await;
    let urls = through(
        &data,
        &["--include-url", "/STATUS/", "--include-url", "HELLO"],
        &origin,
        &[("GET", "/status/201", 201), ("GET", "/hello", 200)],
    )
    .await;
    assert_eq!(urls, [origin.url("/hello")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_records_only_the_methods_listed() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let urls = through(
        &data,
        &["--methods", "get,PUT"],
        &origin,
        &[
            ("GET", "/hello", 200),
            ("POST", "/echo?post", 200),
            ("PUT", "/echo?put", 200),
            ("DELETE", "/echo?delete", 200),
        ],
    )
    .await;
    assert_eq!(urls, [origin.url("/hello"), origin.url("/echo?put")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclude_assets_goes_by_content_type_and_else_by_extension() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let urls = through(
        &data,
        &["--exclude-assets"],
        &origin,
        &[
            ("GET", "/image", 200),
            ("GET", "/typed/a?type=application%2Fjavascript", 200),
            ("GET", "/typed/b?type=text%2Fcss%3B%20charset%3Dutf-8", 200),
            ("GET", "/json", 200),
            // The type decides when there is one: a .js served as text is kept.
            ("GET", "/typed/page.js?type=text%2Fplain", 200),
            // Without one, the extension does.
            ("GET", "/typed/static/app.js", 200),
            ("GET", "/typed/static/logo.PNG?v=2", 200),
            ("GET", "/typed/static/data", 200),
        ],
    )
    .await;
    assert_eq!(
        urls,
        [
            origin.url("/json"),
            origin.url("/typed/page.js?type=text%2Fplain"),
            origin.url("/typed/static/data"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_records_only_the_codes_and_classes_listed() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let urls = through(
        &data,
        &["--status", "2xx,404"],
        &origin,
        &[
            ("GET", "/hello", 200),
            ("GET", "/status/201", 201),
            ("GET", "/status/404", 404),
            ("GET", "/status/403", 403),
            ("GET", "/status/503", 503),
        ],
    )
    .await;
    assert_eq!(
        urls,
        [
            origin.url("/hello"),
            origin.url("/status/201"),
            origin.url("/status/404")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_out_exchanges_are_not_printed_either() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&["--exclude-url", "hello"]);
    let line = capture.wait_for_line(
        std::time::Duration::from_secs(5),
        "describing the filters",
        |l| l.starts_with("Recording only what passes"),
    );
    assert!(line.contains("--exclude-url hello"), "{line}");
    let client = capture.client();
    client.get(origin.url("/hello")).send().await.unwrap();
    client.get(origin.url("/json")).send().await.unwrap();
    capture.wait_for_line(std::time::Duration::from_secs(5), "for /json", |l| {
        l.contains(&origin.url("/json"))
    });
    stop_capture(&mut capture);
    assert!(
        !capture
            .stdout_lines()
            .iter()
            .any(|l| l.contains(&origin.url("/hello"))),
        "{:?}",
        capture.stdout_lines()
    );
}

#[test]
fn an_invalid_regex_is_refused_at_start_up_naming_the_pattern_and_position() {
    let data = DataDir::new();
    let out = data.run_failing_capture(&["--include-url", "ok", "--exclude-url", "/a[b/"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("--exclude-url /a[b/ is not a valid regex")
            && stderr.contains("at position 1"),
        "{stderr}"
    );
    assert!(!stdout.contains("listening on"), "{stdout}");
    assert!(
        !data.db_path().exists(),
        "refused before a session (or anything) was made"
    );
}

#[test]
fn bad_methods_status_and_organize_by_are_refused_at_start_up() {
    let data = DataDir::new();
    for (args, says) in [
        (
            &["--methods", "GET,PO ST"][..],
            "\"PO ST\" is not an HTTP method",
        ),
        (
            &["--status", "2xx,7xx"],
            "\"7xx\" is not a status code or class",
        ),
        (
            &["--organize-by", "domain"],
            "add --save-to collection:NAME",
        ),
        (&["--save-to", "collection:"], "needs a name"),
    ] {
        let out = data.run_failing_capture(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert!(!data.db_path().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_only_keeps_request_bodies_and_no_response_bodies() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&["--quiet", "--requests-only"]);
    let client = capture.client();
    let resp = client
        .post(origin.url("/echo"))
        .header("content-type", "application/json")
        .body(r#"{"kept":true}"#)
        .send()
        .await
        .unwrap();
    let echoed = resp.text().await.unwrap();
    assert!(echoed.contains("kept"), "the client got the whole response");
    let resp = client.get(origin.url("/json")).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), r#"{"ok":true,"items":[1,2,3]}"#);
    stop_capture(&mut capture);

    let rows = data.history();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let id = row["id"].to_string();
        let entry = data.run_json(&["history", "show", &id, "--json"]);
        let content = &entry["response"]["content"];
        assert!(
            content["text"].is_null(),
            "no response body kept: {entry:#}"
        );
        assert_eq!(entry["_interpose"]["bodyOmitted"], "policy", "{entry:#}");
        assert!(
            content["size"].as_i64().unwrap() > 0,
            "its size is: {entry:#}"
        );
    }
    let post = data.run_json(&["history", "show", &rows[0]["id"].to_string(), "--json"]);
    assert_eq!(post["request"]["postData"]["text"], r#"{"kept":true}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_bodies_are_forwarded_whole_but_only_their_headers_are_kept() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&["--quiet"]);
    let resp = capture
        .client()
        .get(origin.url("/image"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = resp.bytes().await.unwrap();
    assert_eq!(png.len(), 2048);
    assert!(png.starts_with(b"\x89PNG"));
    stop_capture(&mut capture);

    let rows = data.history();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], 200);
    assert_eq!(rows[0]["content_type"], "image/png");
    assert_eq!(rows[0]["response_size"], 2048);
    let entry = data.run_json(&["history", "show", &rows[0]["id"].to_string(), "--json"]);
    assert_eq!(entry["_interpose"]["bodyOmitted"], "media", "{entry:#}");
    assert!(entry["response"]["content"]["text"].is_null(), "{entry:#}");
    let show = data.run_ok(&["history", "show", &rows[0]["id"].to_string()]);
    assert!(show.contains("body not kept: media"), "{show}");
}
