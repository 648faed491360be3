//! `interpose export --format har` and `interpose history clear`.

mod support;

use std::time::Duration;

use interpose_testsupport::{closed_port, Origin, Protocols, TestCa};
use support::{validate_har, DataDir};

fn entry<'a>(entries: &'a [serde_json::Value], url: &str) -> &'a serde_json::Value {
    let found: Vec<_> = entries
        .iter()
        .filter(|e| e["request"]["url"] == url)
        .collect();
    assert_eq!(found.len(), 1, "one HAR entry for {url}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn har_export_passes_har_validator_with_every_exchange() {
    let data = DataDir::new();
    let test_ca = TestCa::new();
    let upstream_ca = test_ca.write_pem(data.path());
    let http = Origin::http().await;
    let https = Origin::https(&test_ca, Protocols::Both).await;
    let capture = data.capture(&["--quiet", "--upstream-ca", upstream_ca.to_str().unwrap()]);
    let client = capture.client();

    let json_url = https.url("/json");
    let gzip_url = https.url("/gzip");
    let image_url = http.url("/image");
    let refused_url = format!("http://127.0.0.1:{}/refused", closed_port());
    let post_url = http.url("/echo");
    for url in [&json_url, &gzip_url, &image_url, &refused_url] {
        let resp = client.get(url).send().await.unwrap();
        resp.bytes().await.unwrap();
    }
    let resp = client
        .post(&post_url)
        .header("content-type", "application/json")
        .body(r#"{"name":"interpose"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    data.wait_for_history(Duration::from_secs(5), "5 exchanges", |rows| {
        rows.len() == 5
    });

    let har_path = data.path().join("out.har");
    let out = data.run(&[
        "export",
        "--format",
        "har",
        "-o",
        har_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    validate_har(&har_path);

    let har: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&har_path).unwrap()).unwrap();
    assert_eq!(har["log"]["version"], "1.2");
    let entries = har["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 5, "{har:#}");

    let json = entry(entries, &json_url);
    assert_eq!(json["response"]["status"], 200);
    assert_eq!(
        json["response"]["content"]["text"],
        r#"{"ok":true,"items":[1,2,3]}"#
    );

    let gzip = entry(entries, &gzip_url);
    assert_eq!(
        gzip["response"]["content"]["text"], r#"{"compressed":true}"#,
        "gzip body exported decoded: {gzip:#}"
    );

    let image = entry(entries, &image_url);
    assert_eq!(image["response"]["status"], 200);
    assert_eq!(image["_interpose"]["bodyOmitted"], "media", "{image:#}");

    let refused = entry(entries, &refused_url);
    assert!(
        refused["_interpose"]["error"].is_string(),
        "the error is exported: {refused:#}"
    );

    let post = entry(entries, &post_url);
    assert_eq!(post["request"]["method"], "POST");
    assert_eq!(
        post["request"]["postData"]["text"],
        r#"{"name":"interpose"}"#
    );

    // To stdout: the same document.
    let stdout = data.run_ok(&["export", "--format", "har"]);
    let to_stdout: serde_json::Value = serde_json::from_str(&stdout).expect("HAR on stdout");
    assert_eq!(to_stdout, har);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_clear_empties_the_list() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let capture = data.capture(&["--quiet"]);
    let client = capture.client();
    for _ in 0..3 {
        client.get(origin.url("/hello")).send().await.unwrap();
    }
    data.wait_for_history(Duration::from_secs(5), "3 exchanges", |rows| {
        rows.len() == 3
    });

    data.run_ok(&["history", "clear"]);
    assert_eq!(data.history(), Vec::<serde_json::Value>::new());
    let list = data.run_ok(&["history", "list"]);
    assert!(
        !list.contains(&origin.url("/hello")),
        "the plain list is empty too: {list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_keeps_recording_after_history_clear_in_another_terminal() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let capture = data.capture(&["--quiet"]);
    let client = capture.client();
    client.get(origin.url("/hello")).send().await.unwrap();
    data.wait_for_history(Duration::from_secs(5), "1 exchange", |rows| rows.len() == 1);

    data.run_ok(&["history", "clear"]);
    let url = origin.url("/json");
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let rows = data.wait_for_history(Duration::from_secs(5), "the exchange after clear", |rows| {
        !support::rows_with_url(rows, &url).is_empty()
    });
    assert_eq!(rows.len(), 1, "{rows:#?}");
}
