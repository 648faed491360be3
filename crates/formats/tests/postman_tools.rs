//! Exports checked by the tools that consume them, against a real origin:
//! requests really sent to a local server become exchanges, their Postman
//! collection is loaded by Postman's SDK (`tools/check-postman.js`) and
//! replayed by `newman run` against the same server; and imported HAR files
//! come out valid for `har-validator`.
//!
//! Needs `npm ci --prefix tools` once; without it these tests fail and say
//! so, they never skip.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use common::node;
use interpose_capture::{Body, Exchange, Header, Request, Response, Timings};
use interpose_formats::har::{read_har, write_har};
use interpose_formats::postman::{write_collection, Organize};
use interpose_testsupport::Origin;
use serde_json::{json, Value};

/// Runs a Node script off the async runtime, so the in-process origin keeps
/// answering while Node talks to it.
async fn node_async(script: &'static str, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&dyn AsRef<OsStr>> = args.iter().map(|a| a as _).collect();
        node::node(script, &args)
    })
    .await
    .unwrap()
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Sends one request to `origin` and records it as an exchange: the
/// request headers as the origin received them, the response as reqwest
/// got it.
async fn send(
    origin: &Origin,
    client: &reqwest::Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Exchange {
    let url = origin.url(path);
    let started_at_us = now_us();
    let mut req = client.request(method.parse().unwrap(), &url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if !body.is_empty() {
        req = req.body(body.to_vec());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let resp_headers: Vec<Header> = resp
        .headers()
        .iter()
        .map(|(n, v)| Header::new(n.as_str(), v.to_str().unwrap()))
        .collect();
    let resp_body = resp.bytes().await.unwrap().to_vec();
    let seen = origin.seen().pop().expect("the origin saw the request");
    assert_eq!(seen.method, method);
    Exchange {
        id: None,
        session_id: 1,
        client_addr: "127.0.0.1:50000".into(),
        started_at_us,
        timings: Timings {
            send: Some(0.1),
            wait: Some(1.0),
            receive: Some(0.1),
            ..Timings::default()
        },
        request: Request {
            method: method.into(),
            url,
            http_version: "HTTP/1.1".into(),
            headers: seen
                .headers
                .iter()
                .map(|(n, v)| Header::new(n.as_str(), v.as_str()))
                .collect(),
            body: Body::from_bytes(body.to_vec()),
        },
        response: Some(Response {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").into(),
            http_version: "HTTP/1.1".into(),
            headers: resp_headers,
            body: Body::from_bytes(resp_body),
        }),
        error: None,
        rules: vec![],
        route: Some("direct".into()),
        websocket: false,
    }
}

const JSON_BODY: &str = r#"{"name":"sencha","tags":["green","loose leaf"],"price":4.5}"#;
const FORM_BODY: &str = "user=ana+maria&pass=p%40ss&note=caf%C3%A9";
const MULTIPART_BODY: &str = "--f0rm\r\n\
Content-Disposition: form-data; name=\"title\"\r\n\r\n\
holiday photos\r\n\
--f0rm\r\n\
Content-Disposition: form-data; name=\"album\"\r\n\r\n\
summer\r\n\
--f0rm--\r\n";

/// Real requests to `origin`, in capture order.
async fn capture(origin: &Origin) -> Vec<Exchange> {
    let client = reqwest::Client::new();
    let json = [("content-type", "application/json")];
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let multipart = [("content-type", "multipart/form-data; boundary=f0rm")];
    vec![
        send(
            origin,
            &client,
            "GET",
            "/hello",
            &[("accept", "text/plain")],
            b"",
        )
        .await,
        send(
            origin,
            &client,
            "POST",
            "/echo",
            &json,
            JSON_BODY.as_bytes(),
        )
        .await,
        send(origin, &client, "GET", "/json?page=2&q=caf%C3%A9", &[], b"").await,
        send(origin, &client, "GET", "/status/201", &[], b"").await,
        send(
            origin,
            &client,
            "POST",
            "/echo",
            &form,
            FORM_BODY.as_bytes(),
        )
        .await,
        send(origin, &client, "GET", "/missing", &[], b"").await,
        send(origin, &client, "GET", "/hello?again=1", &[], b"").await,
        send(
            origin,
            &client,
            "POST",
            "/echo",
            &multipart,
            MULTIPART_BODY.as_bytes(),
        )
        .await,
        send(origin, &client, "GET", "/status/503", &[], b"").await,
    ]
}

fn write_postman(dir: &Path, exchanges: &[Exchange]) -> PathBuf {
    let path = dir.join("capture.postman_collection.json");
    let file = std::fs::File::create(&path).unwrap();
    write_collection(file, "capture", exchanges, Organize::DomainEndpoint).unwrap();
    path
}

/// The origin's `/echo` answer to a replayed request: what it received.
fn echoed(execution: &Value) -> Value {
    let bytes: Vec<u8> = execution["response"]["stream"]["data"]
        .as_array()
        .expect("newman's JSON report carries the response bytes")
        .iter()
        .map(|b| b.as_u64().unwrap() as u8)
        .collect();
    serde_json::from_slice(&bytes).unwrap()
}

fn echoed_header(echo: &Value, name: &str) -> Option<String> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|pair| (pair[0] == name).then(|| pair[1].as_str().unwrap().to_string()))
}

fn form_pairs(s: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(s.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn newman_replays_every_exported_request_with_the_captured_status_codes() {
    node::require_package("postman-collection");
    node::require_package("newman");
    let origin = Origin::http().await;
    let captured = capture(&origin).await;
    let statuses: Vec<u16> = captured
        .iter()
        .map(|e| e.response.as_ref().unwrap().status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 201, 200, 404, 200, 200, 503]);

    let dir = tempfile::tempdir().unwrap();
    let file = write_postman(dir.path(), &captured);

    // Postman's SDK reads the folders as organized: endpoints inside the
    // domain, in order of first request, requests in capture order.
    let domain = format!("127.0.0.1:{}", origin.port());
    let tree = json!([{ domain: [
        {"/hello": ["GET /hello", "GET /hello"]},
        {"/echo": ["POST /echo", "POST /echo", "POST /echo"]},
        {"/json": ["GET /json"]},
        {"/status/201": ["GET /status/201"]},
        {"/missing": ["GET /missing"]},
        {"/status/503": ["GET /status/503"]},
    ]}]);
    let out = node_async(
        "tools/check-postman.js",
        vec![
            file.display().to_string(),
            "--expect-tree".into(),
            tree.to_string(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", node::report(&out));
    assert!(
        node::report(&out).contains("(9 requests in 7 folders)"),
        "{}",
        node::report(&out)
    );

    // newman sends each request again, in the collection's order.
    let replay_order = [0, 6, 1, 4, 7, 2, 3, 5, 8];
    let seen_before = origin.seen().len();
    let report_path = dir.path().join("newman.json");
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
    assert!(out.status.success(), "{}", node::report(&out));
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(report["run"]["failures"], json!([]), "{}", report["run"]);
    let executions = report["run"]["executions"].as_array().unwrap();
    let replayed: Vec<(String, u16)> = executions
        .iter()
        .map(|e| {
            (
                e["item"]["name"].as_str().unwrap().to_string(),
                e["response"]["code"].as_u64().unwrap() as u16,
            )
        })
        .collect();
    let expected: Vec<(String, u16)> = replay_order
        .iter()
        .map(|&i| {
            let ex = &captured[i];
            let path = ex.request.url[origin.url("").len() - 1..]
                .split('?')
                .next()
                .unwrap();
            (format!("{} {path}", ex.request.method), statuses[i])
        })
        .collect();
    assert_eq!(replayed, expected, "every request replayed, same status");

    // The origin saw the same methods and targets (query included) again.
    let seen = origin.seen();
    let again: Vec<(String, String)> = seen[seen_before..]
        .iter()
        .map(|s| (s.method.clone(), s.uri.clone()))
        .collect();
    let want: Vec<(String, String)> = replay_order
        .iter()
        .map(|&i| {
            let ex = &captured[i];
            let target = ex.request.url[origin.url("").len() - 1..].to_string();
            (ex.request.method.clone(), target)
        })
        .collect();
    assert_eq!(again, want);

    // And the same bodies: JSON byte for byte, forms field for field.
    let echo = |i: usize| {
        let at = replay_order.iter().position(|&r| r == i).unwrap();
        echoed(&executions[at])
    };
    let body = |echo: &Value| echo["body"].as_str().unwrap().to_string();
    let json_replay = echo(1);
    assert_eq!(body(&json_replay), JSON_BODY);
    assert_eq!(
        echoed_header(&json_replay, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(form_pairs(&body(&echo(4))), form_pairs(FORM_BODY));
    // Postman writes the form with a boundary of its own, and says so in
    // the Content-Type it sends.
    let form_replay = echo(7);
    let content_type = echoed_header(&form_replay, "content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    let multipart = body(&form_replay);
    assert!(
        multipart.starts_with(&format!("--{boundary}\r\n")),
        "{content_type}\n{multipart}"
    );
    for field in [
        "name=\"title\"\r\n\r\nholiday photos\r\n",
        "name=\"album\"\r\n\r\nsummer\r\n",
    ] {
        assert!(multipart.contains(field), "{multipart}");
    }
}

#[test]
fn check_postman_fails_on_a_tree_that_is_not_the_expected_one() {
    node::require_package("postman-collection");
    let dir = tempfile::tempdir().unwrap();
    let file = write_postman(dir.path(), &common::every_kind());
    let wrong = json!([{"api.example.test": ["GET /v1/items"]}]).to_string();
    let args: [&dyn AsRef<OsStr>; 3] = [&file, &"--expect-tree", &wrong];
    let out = node::node("tools/check-postman.js", &args);
    let report = node::report(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("tree mismatch"), "{report}");
    assert!(
        report.contains(r#"expected: [{"api.example.test":["GET /v1/items"]}]"#),
        "{report}"
    );
}

#[test]
fn check_postman_fails_when_a_url_s_parts_disagree_with_its_raw_text() {
    node::require_package("postman-collection");
    let dir = tempfile::tempdir().unwrap();
    let file = write_postman(dir.path(), &common::every_kind());
    let mut c: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let first = &mut c["item"][0]["item"][0]["item"][0]["request"]["url"];
    first["port"] = "8443".into();
    std::fs::write(&file, c.to_string()).unwrap();
    let args: [&dyn AsRef<OsStr>; 1] = [&file];
    let out = node::node("tools/check-postman.js", &args);
    let report = node::report(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(".item[0].item[0].item[0].request.url: the parts give"),
        "{report}"
    );
    assert!(
        report.contains(".request.url.port: \"8443\", but Postman parses raw as undefined"),
        "{report}"
    );
}

#[test]
fn postmans_sdk_parses_every_kind_of_url_as_our_parts_say() {
    node::require_package("postman-collection");
    let urls = [
        "https://api.example.test/v1/items?q=caf%C3%A9+latte&flag&empty=&&a=b=c",
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/",
        "http://[::1]:8080/a/b/",
        "https://user:pw@a.test:443/x#frag",
        "http://a.test/?",
        "http://localhost/a%20b/;p?x=%20",
    ];
    let exchanges: Vec<Exchange> = urls.iter().map(|u| common::get(u)).collect();
    let dir = tempfile::tempdir().unwrap();
    for organize in [Organize::None, Organize::DomainEndpoint] {
        let path = dir.path().join(format!("{organize}.json"));
        write_collection(
            std::fs::File::create(&path).unwrap(),
            "urls",
            &exchanges,
            organize,
        )
        .unwrap();
        let args: [&dyn AsRef<OsStr>; 1] = [&path];
        let out = node::node("tools/check-postman.js", &args);
        assert!(out.status.success(), "{organize}: {}", node::report(&out));
    }
    // And every kind of exchange the capture makes.
    let path = write_postman(dir.path(), &common::every_kind());
    let args: [&dyn AsRef<OsStr>; 1] = [&path];
    let out = node::node("tools/check-postman.js", &args);
    assert!(out.status.success(), "{}", node::report(&out));
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn an_imported_mitmproxy_har_exports_as_a_log_har_validator_accepts() {
    node::require_package("har-validator");
    // mitmproxy's own file is not valid HAR: a failed request gets
    // `content: {}`, without the required size and mimeType.
    let original = fixture("mitmproxy.har");
    let args: [&dyn AsRef<OsStr>; 1] = [&original];
    let out = node::node("tools/validate-har.js", &args);
    let report = node::report(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(".log.entries[7].response.content: should have required property 'size'"),
        "{report}"
    );

    for name in ["mitmproxy.har", "chrome-devtools.har"] {
        let exchanges = read_har(std::fs::File::open(fixture(name)).unwrap()).unwrap();
        let count = exchanges.len();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        write_har(std::fs::File::create(&path).unwrap(), exchanges, "test").unwrap();
        let args: [&dyn AsRef<OsStr>; 1] = [&path];
        let out = node::node("tools/validate-har.js", &args);
        let report = node::report(&out);
        assert!(out.status.success(), "{name}: {report}");
        assert!(
            report.contains(&format!("ok {} ({count} entries)", path.display())),
            "{report}"
        );
        // What came in is what goes out.
        let again = read_har(std::fs::File::open(&path).unwrap()).unwrap();
        let first = read_har(std::fs::File::open(fixture(name)).unwrap()).unwrap();
        for (a, b) in first.iter().zip(&again) {
            assert_eq!(a.request, b.request, "{name}");
            assert_eq!(a.response, b.response, "{name}");
            assert_eq!(a.error, b.error, "{name}");
        }
    }
}
