//! `capture --save-to collection:NAME`, `--organize-by`, `collections ...`
//! and the Postman export of a collection, loaded by Postman's SDK and
//! replayed by newman against the origin that answered the capture.

mod support;

use interpose_testsupport::Origin;
use serde_json::{json, Value};
use support::{node_async, report, require_node_package, stop_capture, DataDir};

/// Sends GETs (or a POST when a body is given) through a capture started
/// with `args`, checking each status, then stops it.
async fn capture_run(data: &DataDir, args: &[&str], requests: &[(&str, Option<&str>, u16)]) {
    let mut capture = data.capture(args);
    let client = capture.client();
    for (url, body, status) in requests {
        let req = match body {
            None => client.get(*url),
            Some(body) => client
                .post(*url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        };
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), *status, "{url}");
        resp.bytes().await.unwrap();
    }
    stop_capture(&mut capture);
}

fn urls_of(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["url"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_to_a_collection_creates_it_and_a_second_run_adds_to_it() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let (one, two, three) = (
        origin.url("/hello?run=1"),
        origin.url("/json?run=1"),
        origin.url("/hello?run=2"),
    );
    let outside = origin.url("/hello?history-only");

    capture_run(
        &data,
        &["--quiet", "--save-to", "collection:shop"],
        &[(&one, None, 200), (&two, None, 200)],
    )
    .await;
    capture_run(&data, &["--quiet"], &[(&outside, None, 200)]).await;
    let mut second = data.capture(&["--save-to", "collection:shop"]);
    let saving = second.wait_for_line(
        std::time::Duration::from_secs(5),
        "saying where it saves",
        |l| l.starts_with("Saving to"),
    );
    assert!(saving.contains("existing collection \"shop\""), "{saving}");
    let resp = second.client().get(&three).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    stop_capture(&mut second);

    let list = data.run_json(&["collections", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    assert_eq!(list[0]["name"], "shop");
    assert_eq!(list[0]["organize_by"], "none");
    assert_eq!(list[0]["sessions"], 2, "{list:#}");
    assert_eq!(list[0]["exchanges"], 3, "{list:#}");

    let show = data.run_json(&["collections", "show", "shop", "--json"]);
    assert_eq!(
        urls_of(&show["items"]),
        [&one, &two, &three].map(String::as_str),
        "in capture order"
    );

    // Everything is in the history too, and each session says where it saved.
    let history: Vec<String> = data
        .history()
        .iter()
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(history, [&one, &two, &outside, &three].map(String::as_str));
    let sessions = data.sessions();
    let saved_to: Vec<&Value> = sessions.iter().map(|s| &s["collection"]).collect();
    assert_eq!(saved_to, [&json!("shop"), &Value::Null, &json!("shop")]);

    let table = data.run_ok(&["collections", "list"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("shop ") && l.contains(" none ")),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_collection_keeps_its_exchanges_in_the_history() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let url = origin.url("/hello");
    capture_run(
        &data,
        &["--quiet", "--save-to", "collection:tmp"],
        &[(&url, None, 200)],
    )
    .await;
    let out = data.run_ok(&["collections", "delete", "tmp"]);
    assert!(out.contains("its 1 exchanges stay in the history"), "{out}");
    assert_eq!(data.run_json(&["collections", "list", "--json"]), json!([]));
    assert_eq!(data.history().len(), 1);

    let out = data.run(&["collections", "show", "tmp"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no collection \"tmp\""), "{stderr}");
    let out = data.run(&["collections", "delete", "tmp"]);
    assert!(!out.status.success(), "deleting twice is an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organized_collections_show_and_export_folders_that_newman_replays_with_the_same_statuses()
{
    require_node_package("postman-collection");
    require_node_package("newman");
    let data = DataDir::new();
    let a = Origin::http().await;
    let b = Origin::http().await;
    let body = r#"{"tea":"sencha"}"#;
    // First run: organized by domain and endpoint.
    capture_run(
        &data,
        &[
            "--quiet",
            "--save-to",
            "collection:api",
            "--organize-by",
            "domain,endpoint",
        ],
        &[
            (&a.url("/hello"), None, 200),
            (&b.url("/json?page=2"), None, 200),
            (&a.url("/echo"), Some(body), 200),
        ],
    )
    .await;
    // Second run adds to it and keeps its organization.
    capture_run(
        &data,
        &["--quiet", "--save-to", "collection:api"],
        &[
            (&a.url("/hello?again=1"), None, 200),
            (&b.url("/status/404"), None, 404),
            (&a.url("/status/201"), None, 201),
        ],
    )
    .await;

    let (da, db) = (
        format!("127.0.0.1:{}", a.port()),
        format!("127.0.0.1:{}", b.port()),
    );
    // collections show: domain folders, endpoint folders inside, requests
    // in capture order.
    let show = data.run_ok(&["collections", "show", "api"]);
    let shape: Vec<String> = show
        .lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                [name] if name.ends_with('/') => format!("{indent} {name}"),
                [_id, method, status, url] => format!("{indent} {method} {status} {url}"),
                _ => l.to_string(),
            }
        })
        .collect();
    assert_eq!(
        shape,
        [
            "api (organized by domain,endpoint; 6 exchanges)".to_string(),
            format!("2 {da}/"),
            "4 /hello/".into(),
            format!("6 GET 200 {}", a.url("/hello")),
            format!("6 GET 200 {}", a.url("/hello?again=1")),
            "4 /echo/".into(),
            format!("6 POST 200 {}", a.url("/echo")),
            "4 /status/201/".into(),
            format!("6 GET 201 {}", a.url("/status/201")),
            format!("2 {db}/"),
            "4 /json/".into(),
            format!("6 GET 200 {}", b.url("/json?page=2")),
            "4 /status/404/".into(),
            format!("6 GET 404 {}", b.url("/status/404")),
        ],
        "{show}"
    );

    // The Postman export has the same tree, as Postman's SDK reads it.
    let file = data.path().join("api.postman_collection.json");
    let out = data.run(&[
        "export",
        "--format",
        "postman",
        "--collection",
        "api",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", report(&out));
    let tree = json!([
        { &da: [
            {"/hello": ["GET /hello", "GET /hello"]},
            {"/echo": ["POST /echo"]},
            {"/status/201": ["GET /status/201"]},
        ]},
        { &db: [
            {"/json": ["GET /json"]},
            {"/status/404": ["GET /status/404"]},
        ]},
    ]);
    let out = node_async(
        "tools/check-postman.js",
        vec![
            file.display().to_string(),
            "--expect-tree".into(),
            tree.to_string(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", report(&out));
    let collection: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(collection["info"]["name"], "api");

    // newman sends every request again, to the origins still running, and
    // gets the same status codes.
    let (seen_a, seen_b) = (a.seen().len(), b.seen().len());
    let report_path = data.path().join("newman.json");
    let out = node_async(
        "tools/node_modules/newman/bin/newman.js",
        vec![
            "run".into(),
            file.display().to_string(),
            "--reporters".into(),
            "json".into(),
            "--reporter-json-export".into(),
            report_path.display().to_string(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", report(&out));
    let run: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(run["run"]["failures"], json!([]), "{}", run["run"]);
    let replayed: Vec<(String, String, u64)> = run["run"]["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let url = &e["request"]["url"];
            let host = url["host"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(".");
            (
                e["item"]["name"].as_str().unwrap().to_string(),
                format!("{host}:{}", url["port"].as_str().unwrap()),
                e["response"]["code"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = |name: &str, domain: &str, code| (name.to_string(), domain.to_string(), code);
    assert_eq!(
        replayed,
        [
            want("GET /hello", &da, 200),
            want("GET /hello", &da, 200),
            want("POST /echo", &da, 200),
            want("GET /status/201", &da, 201),
            want("GET /json", &db, 200),
            want("GET /status/404", &db, 404),
        ]
    );
    let again_a: Vec<(String, String)> = a.seen()[seen_a..]
        .iter()
        .map(|s| (s.method.clone(), s.uri.clone()))
        .collect();
    let pair = |m: &str, u: &str| (m.to_string(), u.to_string());
    assert_eq!(
        again_a,
        [
            pair("GET", "/hello"),
            pair("GET", "/hello?again=1"),
            pair("POST", "/echo"),
            pair("GET", "/status/201"),
        ]
    );
    assert_eq!(
        a.seen()[seen_a + 2].body_len,
        body.len(),
        "the body replayed"
    );
    let again_b: Vec<(String, String)> = b.seen()[seen_b..]
        .iter()
        .map(|s| (s.method.clone(), s.uri.clone()))
        .collect();
    assert_eq!(
        again_b,
        [pair("GET", "/json?page=2"), pair("GET", "/status/404")]
    );

    // --organize-by on export overrides the collection's own organization.
    let out = data.run(&[
        "export",
        "--format",
        "postman",
        "--collection",
        "api",
        "--organize-by",
        "endpoint",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", report(&out));
    let (ha, hb) = (format!("GET {da}"), format!("GET {db}"));
    let tree = json!([
        {"/hello": [format!("{ha}/hello"), format!("{ha}/hello")]},
        {"/json": [format!("{hb}/json")]},
        {"/echo": [format!("POST {da}/echo")]},
        {"/status/404": [format!("{hb}/status/404")]},
        {"/status/201": [format!("{ha}/status/201")]},
    ]);
    let out = node_async(
        "tools/check-postman.js",
        vec![
            file.display().to_string(),
            "--expect-tree".into(),
            tree.to_string(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", report(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_organize_by_reorganizes_the_collection() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let url = origin.url("/hello");
    capture_run(
        &data,
        &[
            "--quiet",
            "--save-to",
            "collection:c",
            "--organize-by",
            "domain",
        ],
        &[(&url, None, 200)],
    )
    .await;
    capture_run(
        &data,
        &[
            "--quiet",
            "--save-to",
            "collection:c",
            "--organize-by",
            "endpoint",
        ],
        &[(&url, None, 200)],
    )
    .await;
    let show = data.run_json(&["collections", "show", "c", "--json"]);
    assert_eq!(show["organize_by"], "endpoint");
    let folders: Vec<&Value> = show["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["folder"])
        .collect();
    assert_eq!(folders, [&json!(["/hello"]), &json!(["/hello"])]);
}
