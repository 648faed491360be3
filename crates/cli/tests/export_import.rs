//! `export --format curl` commands run by a shell against the origin, and
//! `import har` of a mitmproxy-written file.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use interpose_testsupport::Origin;
use serde_json::Value;
use support::{report, stop_capture, validate_har, DataDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_export_commands_run_by_sh_send_the_same_requests_again() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&["--quiet"]);
    let client = capture.client();
    let json_body = r#"{"name":"it's \"quoted\" $HOME `x`"}"#;
    let text_body = "line one\nline two\twith a tab\n";
    client
        .get(origin.url("/hello?q=caf%C3%A9&a[]=1"))
        .send()
        .await
        .unwrap();
    client
        .post(origin.url("/echo?kind=json"))
        .header("content-type", "application/json")
        .header("x-note", "single ' quote")
        .body(json_body)
        .send()
        .await
        .unwrap();
    client
        .put(origin.url("/echo?kind=text"))
        .header("content-type", "text/plain")
        .body(text_body)
        .send()
        .await
        .unwrap();
    client
        .delete(origin.url("/echo?kind=delete"))
        .send()
        .await
        .unwrap();
    stop_capture(&mut capture);
    let captured = origin.seen();
    assert_eq!(captured.len(), 4);

    let out = data.run(&["export", "--format", "curl"]);
    let script = support::stdout_of(&out, "export --format curl");
    let commands: Vec<&str> = script.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(commands.len(), 4, "one command per exchange:\n{script}");
    assert!(commands.iter().all(|c| c.contains("curl ")), "{script}");

    // To a file as well: the same commands.
    let file = data.path().join("replay.sh");
    let out = data.run(&["export", "--format", "curl", "-o", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), script);

    let mut echoes = Vec::new();
    for command in &commands {
        let line = format!("{command} --silent --show-error");
        let out = tokio::task::spawn_blocking(move || {
            Command::new("sh")
                .arg("-c")
                .arg(line)
                .env_remove("http_proxy")
                .env_remove("HTTP_PROXY")
                .env_remove("all_proxy")
                .env_remove("ALL_PROXY")
                .output()
                .expect("run sh (and curl)")
        })
        .await
        .unwrap();
        assert!(out.status.success(), "{command}\n{}", report(&out));
        echoes.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }

    let again = &origin.seen()[4..];
    assert_eq!(again.len(), 4);
    for (first, second) in captured.iter().zip(again) {
        assert_eq!(
            (&first.method, &first.uri, first.body_len),
            (&second.method, &second.uri, second.body_len),
            "the origin sees the same request again"
        );
    }
    assert_eq!(echoes[0], "hello from origin");
    let echoed = |i: usize| -> Value { serde_json::from_str(&echoes[i]).unwrap() };
    let post = echoed(1);
    assert_eq!(post["method"], "POST");
    assert_eq!(post["body"], json_body, "the body byte for byte");
    let header = |v: &Value, name: &str| -> Option<String> {
        v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|p| (p[0] == name).then(|| p[1].as_str().unwrap().to_string()))
    };
    assert_eq!(header(&post, "x-note").as_deref(), Some("single ' quote"));
    assert_eq!(
        header(&post, "content-type").as_deref(),
        Some("application/json")
    );
    let put = echoed(2);
    assert_eq!(put["method"], "PUT");
    assert_eq!(put["body"], text_body, "line breaks and tabs survive");
    assert_eq!(echoed(3)["method"], "DELETE");
}

fn fixture(name: &str) -> PathBuf {
    support::workspace_root()
        .join("crates/formats/tests/fixtures")
        .join(name)
}

#[test]
fn import_har_adds_a_session_whose_exchanges_history_lists_and_re_exports_as_valid_har() {
    let data = DataDir::new();
    let har = fixture("mitmproxy.har");
    let out = data.run_ok(&["import", "har", har.to_str().unwrap()]);
    assert_eq!(
        out.trim(),
        format!("imported 8 exchanges from {} as session 1", har.display())
    );

    let sessions = data.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["source"], "import");
    assert_eq!(sessions[0]["detail"], har.display().to_string());
    assert_eq!(sessions[0]["exchanges"], 8);
    assert!(
        sessions[0]["ended_at_us"].is_i64(),
        "an import is a finished session"
    );

    let rows = data.history();
    let listed: Vec<(&str, &str, &Value)> = rows
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap(),
                r["url"].as_str().unwrap(),
                &r["status"],
            )
        })
        .collect();
    let ok = |code: u16| Value::from(code);
    assert_eq!(
        listed,
        [
            (
                "GET",
                "http://127.0.0.1:35133/api/items?q=caf%C3%A9&tag=a&tag=b",
                &ok(200)
            ),
            ("POST", "http://127.0.0.1:35133/api/items", &ok(201)),
            ("POST", "http://127.0.0.1:35133/login", &ok(302)),
            ("GET", "http://127.0.0.1:35133/missing", &ok(404)),
            ("GET", "http://127.0.0.1:35133/logo.png", &ok(200)),
            ("POST", "http://127.0.0.1:35133/upload", &ok(200)),
            ("GET", "https://localhost:38135/secure", &ok(200)),
            ("GET", "http://127.0.0.1:9/down", &Value::Null),
        ]
    );
    assert!(rows.iter().all(|r| r["session_id"] == 1));
    let table = data.run_ok(&["history", "list"]);
    assert!(table.contains("/api/items?q=caf%C3%A9"), "{table}");

    // The imported session exports as HAR that har-validator accepts
    // (mitmproxy's own file does not: its failed entry lacks fields).
    let out_path = data.path().join("again.har");
    let out = data.run(&[
        "export",
        "--format",
        "har",
        "--session",
        "1",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", report(&out));
    validate_har(&out_path);
    let again: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(again["log"]["entries"].as_array().unwrap().len(), 8);

    // A second import is a second session.
    data.run_ok(&["import", "har", har.to_str().unwrap()]);
    assert_eq!(data.sessions().len(), 2);
    assert_eq!(data.history().len(), 16);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn import_har_errors_name_the_file_and_the_entry_and_import_nothing() {
    let data = DataDir::new();
    let good = std::fs::read_to_string(fixture("mitmproxy.har")).unwrap();
    let mut broken: Value = serde_json::from_str(&good).unwrap();
    broken["log"]["entries"][3]
        .as_object_mut()
        .unwrap()
        .remove("request");
    let bad_entry = write(data.path(), "bad-entry.har", &broken.to_string());
    let not_json = write(data.path(), "notes.txt", "hello");
    let missing = data.path().join("missing.har");

    for (file, says) in [
        (&bad_entry, "log.entries[3]"),
        (&not_json, "not a HAR file"),
        (&missing, "cannot open the HAR file"),
    ] {
        let out = data.run(&["import", "har", file.to_str().unwrap()]);
        assert!(!out.status.success(), "{}", file.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&file.display().to_string()) && stderr.contains(says),
            "{stderr}"
        );
    }
    assert!(data.sessions().is_empty(), "no half-imported session");
    assert!(data.history().is_empty());
}

#[test]
fn exports_list_exchanges_in_the_order_they_started_not_the_order_they_were_stored() {
    let data = DataDir::new();
    // Stored latest-first: the ids run against the start times, as when a
    // long request finishes after a short one that began later.
    let mut har: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("mitmproxy.har")).unwrap()).unwrap();
    har["log"]["entries"].as_array_mut().unwrap().reverse();
    let file = write(data.path(), "latest-first.har", &har.to_string());
    data.run_ok(&["import", "har", file.to_str().unwrap()]);
    let stored: Vec<String> = data
        .history()
        .iter()
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect();

    let exported: Value =
        serde_json::from_str(&data.run_ok(&["export", "--format", "har"])).unwrap();
    let entries = exported["log"]["entries"].as_array().unwrap();
    let started: Vec<&str> = entries
        .iter()
        .map(|e| e["startedDateTime"].as_str().unwrap())
        .collect();
    let mut sorted = started.clone();
    sorted.sort();
    assert_eq!(started, sorted, "entries in start order");
    let urls: Vec<String> = entries
        .iter()
        .map(|e| e["request"]["url"].as_str().unwrap().to_string())
        .collect();
    let mut reversed = stored.clone();
    reversed.reverse();
    assert_eq!(urls, reversed, "the store's order, undone");
}
