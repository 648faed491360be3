//! The cookie jar: `Set-Cookie` headers in captured responses, listed by
//! `cookies list [--domain D]`.

mod support;

use interpose_testsupport::{Origin, Protocols, TestCa};
use serde_json::Value;
use support::{stop_capture, DataDir};

/// `/set-cookie?c=...&c=...` for these header values.
fn set_cookie_path(values: &[&str]) -> String {
    let query: Vec<String> = values
        .iter()
        .map(|v| {
            let encoded: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("c={encoded}")
        })
        .collect();
    format!("/set-cookie?{}", query.join("&"))
}

fn jar(data: &DataDir, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["cookies", "list", "--json"];
    all.extend_from_slice(args);
    match data.run_json(&all) {
        Value::Array(list) => list,
        other => panic!("not a list: {other}"),
    }
}

fn names(cookies: &[Value]) -> Vec<&str> {
    cookies
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_cookie_headers_in_captured_responses_fill_the_jar_listed_by_domain() {
    let data = DataDir::new();
    let test_ca = TestCa::new();
    let upstream_ca = test_ca.write_pem(data.path());
    let http = Origin::http().await;
    let https = Origin::https(&test_ca, Protocols::Both).await;
    let mut capture = data.capture(&["--quiet", "--upstream-ca", upstream_ca.to_str().unwrap()]);
    let client = capture.client();

    let resp = client
        .get(http.url(&set_cookie_path(&[
            "sid=abc123; HttpOnly; Path=/",
            "theme=dark; Max-Age=3600",
            "evil=1; Domain=example.com",
        ])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let forwarded: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(forwarded.len(), 3, "the client gets every header as sent");
    client
        .get(https.url(&set_cookie_path(&[
            "lang=en; Secure; SameSite=Lax; Domain=localhost",
        ])))
        .send()
        .await
        .unwrap();
    // A later response replaces one cookie and deletes another.
    client
        .get(http.url(&set_cookie_path(&[
            "sid=def456; Path=/",
            "theme=; Max-Age=0",
        ])))
        .send()
        .await
        .unwrap();
    stop_capture(&mut capture);

    let all = jar(&data, &[]);
    assert_eq!(names(&all), ["sid", "lang"], "{all:#?}");
    let sid = &all[0];
    assert_eq!(sid["domain"], "127.0.0.1");
    assert_eq!(sid["path"], "/");
    assert_eq!(sid["value"], "def456", "replaced by the later response");
    assert_eq!(sid["host_only"], true);
    assert_eq!(sid["http_only"], false, "the later header had no HttpOnly");
    assert!(sid["expires_at_us"].is_null(), "a session cookie");
    assert!(sid["created_at_us"].as_i64() < sid["last_seen_us"].as_i64());
    let lang = &all[1];
    assert_eq!(lang["domain"], "localhost");
    assert_eq!(lang["secure"], true);
    assert_eq!(lang["same_site"], "Lax");
    assert_eq!(lang["path"], "/", "the default path of /set-cookie");

    assert_eq!(names(&jar(&data, &["--domain", "LOCALHOST"])), ["lang"]);
    assert_eq!(names(&jar(&data, &["--domain", "127.0.0.1"])), ["sid"]);
    assert!(jar(&data, &["--domain", "example.com"]).is_empty());

    let table = data.run_ok(&["cookies", "list", "--domain", "127.0.0.1"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("DOMAIN"), "{table}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row,
        ["127.0.0.1", "/", "sid", "def456", "session", "host-only"]
    );

    assert_eq!(
        data.run_ok(&["cookies", "clear"]).trim(),
        "deleted 2 cookies"
    );
    assert!(jar(&data, &[]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_of_exchanges_the_filters_drop_stay_out_of_the_jar() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&["--quiet", "--exclude-url", "skip=1"]);
    let client = capture.client();
    let path = set_cookie_path(&["dropped=1"]);
    client
        .get(origin.url(&format!("{path}&skip=1")))
        .send()
        .await
        .unwrap();
    client
        .get(origin.url(&set_cookie_path(&["kept=1"])))
        .send()
        .await
        .unwrap();
    stop_capture(&mut capture);
    assert_eq!(names(&jar(&data, &[])), ["kept"]);
}
