//! Routing end to end with the real binary: `settings`, `route`, `send` and
//! `replay` through real upstream proxies started by the tests, and Node's
//! axios through `interpose capture`. Proxy environment variables are set on
//! the child process only, never in this process.

mod support;

use std::process::Output;
use std::sync::atomic::Ordering;
use std::time::Duration;

use interpose_testsupport::{closed_port, Origin, ParentProxy, Protocols, TestCa};
use support::{report, DataDir};

/// `interpose --data-dir DATA ARGS...` with `envs` set on the child only.
fn run_env(data: &DataDir, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = data.command(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    support::run_command(cmd)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON a successful command printed.
fn json_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", report(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", report(out)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails unless the command exited non-zero with exactly one line on
/// stderr, `error: ...`; returns that line.
fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "should fail:\n{}", report(out));
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of error:\n{}", report(out));
    assert!(lines[0].starts_with("error: "), "{}", report(out));
    lines[0].to_owned()
}

// ---------------------------------------------------------------------------
// settings

#[test]
fn settings_set_then_show_masks_the_password_and_the_file_has_the_value() {
    let data = DataDir::new();
    data.run_ok(&["settings", "set", "proxy.custom.host", "proxy.corp"]);
    data.run_ok(&["settings", "set", "proxy.custom.port", "3128"]);
    let set = data.run_ok(&["settings", "set", "proxy.custom.password", "hunter2"]);
    assert!(!set.contains("hunter2"), "set echoes no password: {set}");

    let show = data.run_ok(&["settings", "show"]);
    assert!(show.contains("proxy.custom.host = proxy.corp"), "{show}");
    assert!(show.contains("proxy.custom.port = 3128"), "{show}");
    assert!(show.contains("proxy.custom.password = ***"), "{show}");
    assert!(!show.contains("hunter2"), "password shown: {show}");

    let path = data.run_ok(&["settings", "path"]);
    assert_eq!(
        path.trim(),
        data.path().join("settings.toml").to_str().unwrap()
    );
    let file = std::fs::read_to_string(path.trim()).expect("settings.toml written");
    assert!(file.contains("hunter2"), "{file}");
    assert!(file.contains("3128"), "{file}");
}

#[test]
fn settings_refuses_unknown_keys_and_bad_values_naming_the_key() {
    let data = DataDir::new();
    data.run_ok(&["settings", "set", "proxy.custom.port", "8080"]);
    let before = std::fs::read_to_string(data.path().join("settings.toml")).unwrap();

    let line = one_line_error(&data.run(&["settings", "set", "proxy.custom.hots", "x"]));
    assert!(line.contains("proxy.custom.hots"), "{line}");
    let line = one_line_error(&data.run(&["settings", "set", "proxy.custom.port", "70000"]));
    assert!(line.contains("proxy.custom.port"), "{line}");
    assert!(
        line.contains("8080") || line.contains("e.g."),
        "shows an example: {line}"
    );
    let line = one_line_error(&data.run(&["settings", "set", "proxy.custom.enabled", "maybe"]));
    assert!(line.contains("proxy.custom.enabled"), "{line}");
    let out = data.run(&["settings", "set", "proxy.custom.host", "http://proxy.corp"]);
    assert!(!out.status.success(), "{}", report(&out));
    assert!(
        stderr(&out).contains("proxy.custom.host"),
        "{}",
        report(&out)
    );

    let after = std::fs::read_to_string(data.path().join("settings.toml")).unwrap();
    assert_eq!(before, after, "refused values leave the file as it was");
}

// ---------------------------------------------------------------------------
// route

#[test]
fn route_follows_the_https_proxy_variable_in_both_cases_without_the_password() {
    let data = DataDir::new();
    for var in ["HTTPS_PROXY", "https_proxy"] {
        let out = run_env(
            &data,
            &["route", "https://api.example.com/v1"],
            &[(var, "http://alice:s3cret@10.1.2.3:3128")],
        );
        assert!(out.status.success(), "{}", report(&out));
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1, "one line: {text}");
        assert!(
            text.contains("https://api.example.com/v1 via http://10.1.2.3:3128"),
            "{text}"
        );
        assert!(
            text.contains(&format!("{var} environment variable")),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "password printed: {text}");
    }
    // Lower case wins when both are set.
    let out = run_env(
        &data,
        &["route", "https://api.example.com/"],
        &[
            ("HTTPS_PROXY", "http://10.9.9.9:1111"),
            ("https_proxy", "http://10.1.2.3:3128"),
        ],
    );
    let text = stdout(&out);
    assert!(
        text.contains("via http://10.1.2.3:3128 (https_proxy"),
        "{text}"
    );
}

#[test]
fn route_custom_settings_beat_the_environment() {
    let data = DataDir::new();
    for (k, v) in [
        ("proxy.custom.enabled", "true"),
        ("proxy.custom.host", "custom.corp"),
        ("proxy.custom.port", "8081"),
        ("proxy.custom.username", "bob"),
        ("proxy.custom.password", "pa55word"),
    ] {
        data.run_ok(&["settings", "set", k, v]);
    }
    let env = [("HTTPS_PROXY", "http://env.corp:3128")];
    let out = run_env(&data, &["route", "https://api.example.com/"], &env);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", report(&out));
    assert!(text.contains("via http://custom.corp:8081"), "{text}");
    assert!(text.contains("custom proxy in settings"), "{text}");
    assert!(!text.contains("pa55word"), "password printed: {text}");

    let out = run_env(
        &data,
        &["route", "https://api.example.com/", "--json"],
        &env,
    );
    let json = json_of(&out);
    assert_eq!(json["proxy"], "http://custom.corp:8081", "{json}");
    assert!(
        json["reason"].as_str().unwrap().contains("custom proxy"),
        "{json}"
    );
    assert!(!json.to_string().contains("pa55word"), "{json}");

    // A flag beats both.
    let out = run_env(
        &data,
        &[
            "route",
            "https://api.example.com/",
            "--proxy",
            "http://flag.corp:9",
        ],
        &env,
    );
    assert!(
        stdout(&out).contains("via http://flag.corp:9"),
        "{}",
        report(&out)
    );
}

#[test]
fn route_no_proxy_entry_goes_direct_and_says_which_entry() {
    let data = DataDir::new();
    let env = [
        ("HTTPS_PROXY", "http://u:topsecret@env.corp:3128"),
        ("NO_PROXY", "localhost, .example.com"),
    ];
    let out = run_env(&data, &["route", "https://api.example.com/x"], &env);
    assert!(out.status.success(), "{}", report(&out));
    let text = stdout(&out);
    assert!(text.contains("https://api.example.com/x direct"), "{text}");
    assert!(text.contains("NO_PROXY entry .example.com"), "{text}");

    let out = run_env(&data, &["route", "https://other.test/", "--json"], &env);
    let json = json_of(&out);
    assert_eq!(json["proxy"], "http://env.corp:3128", "{json}");
    assert!(!json.to_string().contains("topsecret"), "{json}");
    let out = run_env(
        &data,
        &["route", "https://api.example.com/", "--json"],
        &env,
    );
    let json = json_of(&out);
    assert!(json["proxy"].is_null(), "{json}");
}

// ---------------------------------------------------------------------------
// send

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_goes_through_a_parent_proxy_with_auth_from_the_url() {
    let data = DataDir::new();
    let ca = TestCa::new();
    let ca_file = ca.write_pem(data.path());
    let http = Origin::http().await;
    let https = Origin::https(&ca, Protocols::Both).await;
    let parent = ParentProxy::start(Some(("alice", "s3cret"))).await;
    let proxy = parent.url_with("alice:s3cret");

    // Flag, absolute-form for http.
    let url = http.url("/hello");
    let out = data.run(&["send", &url, "--proxy", &proxy]);
    assert!(out.status.success(), "{}", report(&out));
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{text}");
    assert!(text.ends_with("\n\nhello from origin"), "{text}");
    let seen = parent.seen();
    assert!(
        seen.iter().any(|r| r.target == url
            && r.allowed
            && r.credentials.as_deref() == Some("alice:s3cret")),
        "the parent forwarded it with the credentials: {seen:?}"
    );

    // Environment variable on the child, CONNECT for https.
    let url = https.url("/json");
    let out = run_env(
        &data,
        &["send", &url, "--upstream-ca", ca_file.to_str().unwrap()],
        &[("HTTPS_PROXY", &proxy)],
    );
    assert!(out.status.success(), "{}", report(&out));
    assert!(
        stdout(&out).contains(r#"{"ok":true,"items":[1,2,3]}"#),
        "{}",
        report(&out)
    );
    let seen = parent.seen();
    assert!(
        seen.iter().any(|r| r.method == "CONNECT"
            && r.target == format!("localhost:{}", https.port())
            && r.allowed),
        "the parent tunnelled it: {seen:?}"
    );
    assert_eq!(https.hits.load(Ordering::SeqCst), 1);
}

#[test]
fn send_to_a_refused_port_fails_with_one_line() {
    let data = DataDir::new();
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let out = data.run(&["send", &url]);
    let line = one_line_error(&out);
    assert!(line.contains("refused"), "{line}");
    assert!(stdout(&out).is_empty(), "{}", report(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_through_a_proxy_wanting_credentials_names_the_proxy() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let parent = ParentProxy::start(Some(("alice", "s3cret"))).await;
    let out = data.run(&["send", &origin.url("/hello"), "--proxy", &parent.url()]);
    let line = one_line_error(&out);
    assert!(line.contains(&parent.url()), "names the proxy: {line}");
    assert!(line.contains("407"), "{line}");
    assert_eq!(origin.hits.load(Ordering::SeqCst), 0);

    // Wrong credentials: refused, once, not retried in a loop.
    let wrong = parent.url_with("alice:wrong");
    let out = data.run(&["send", &origin.url("/hello"), "--proxy", &wrong]);
    let line = one_line_error(&out);
    assert!(!line.contains("wrong"), "password printed: {line}");
    assert!(parent.seen().len() <= 3, "{:?}", parent.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_save_records_the_exchange_in_a_send_session() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let url = origin.url("/echo");
    let out = data.run(&["send", "PUT", &url, "-H", "X-Test: yes", "-d", "payload"]);
    assert!(out.status.success(), "{}", report(&out));
    assert!(data.history().is_empty(), "not saved without --save");

    let out = data.run(&["send", &url, "--json", r#"{"a":1}"#, "--save"]);
    assert!(out.status.success(), "{}", report(&out));
    let rows = data.history();
    let found = support::rows_with_url(&rows, &url);
    assert_eq!(found.len(), 1, "{rows:#?}");
    assert_eq!(found[0]["method"], "POST", "a body makes it a POST");
    assert_eq!(found[0]["status"], 200);
    let sessions = data.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(sessions[0]["source"], "send");
    let list = data.run_ok(&["history", "list"]);
    assert!(list.contains("POST") && list.contains("/echo"), "{list}");
}

// ---------------------------------------------------------------------------
// replay

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sends_a_captured_exchange_again_and_prints_the_diff() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let url = origin.url("/hello");
    let mut capture = data.capture(&[]);
    let resp = capture.client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    let rows = data.wait_for_history(Duration::from_secs(5), "the capture", |rows| {
        !support::rows_with_url(rows, &url).is_empty()
    });
    support::stop_capture(&mut capture);
    let id = support::rows_with_url(&rows, &url)[0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(origin.hits.load(Ordering::SeqCst), 1);

    let out = data.run(&["replay", &id.to_string()]);
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(origin.hits.load(Ordering::SeqCst), 2, "sent again");
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{text}");
    assert!(text.contains("status 200, body 17 B (unchanged)"), "{text}");

    let rows = data.history();
    assert_eq!(support::rows_with_url(&rows, &url).len(), 2, "{rows:#?}");
    assert!(
        data.sessions().iter().any(|s| s["source"] == "replay"),
        "a replay session"
    );

    let line = one_line_error(&data.run(&["replay", "9999"]));
    assert!(line.contains("9999"), "{line}");
}

// ---------------------------------------------------------------------------
// axios through capture

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axios_with_its_proxy_option_is_captured_for_http_and_https() {
    assert!(
        support::workspace_root()
            .join("tools/node_modules/axios")
            .is_dir(),
        "tools/node_modules/axios is missing: run npm ci --prefix tools"
    );
    let data = DataDir::new();
    let ca = TestCa::new();
    let ca_file = ca.write_pem(data.path());
    let http = Origin::http().await;
    let https = Origin::https(&ca, Protocols::Http1).await;
    let mut capture = data.capture(&["--upstream-ca", ca_file.to_str().unwrap()]);
    let port = capture.addr.port().to_string();

    // axios tunnels https with CONNECT and checks the certificate capture
    // presents: Node trusts interpose's CA through NODE_EXTRA_CA_CERTS.
    let interpose_ca = support::ca_cert_path(data.path());
    let urls = [http.url("/hello"), https.url("/json")];
    for url in &urls {
        let mut node = std::process::Command::new("node");
        node.arg(support::workspace_root().join("tools/axios-proxy.js"))
            .args([url, &port])
            .env("NODE_EXTRA_CA_CERTS", &interpose_ca)
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
        let out = tokio::task::spawn_blocking(move || support::run_command(node))
            .await
            .expect("node task");
        assert!(out.status.success(), "axios {url}:\n{}", report(&out));
        assert_eq!(stdout(&out).trim(), "200", "axios {url}:\n{}", report(&out));
    }
    let rows = data.wait_for_history(Duration::from_secs(5), "both axios requests", |rows| {
        urls.iter()
            .all(|u| !support::rows_with_url(rows, u).is_empty())
    });
    for url in &urls {
        assert_eq!(
            support::rows_with_url(&rows, url)[0]["status"],
            200,
            "{rows:#?}"
        );
    }
    support::stop_capture(&mut capture);
}

// ---------------------------------------------------------------------------
// send --cookies

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_cookies_uses_the_jar_entries_for_the_host_and_path() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    // sid for every path, scoped for /api only, secure never over http.
    let set = origin.url(
        "/set-cookie?c=sid%3Dabc%3B%20Path%3D%2F&c=scoped%3D1%3B%20Path%3D%2Fapi\
         &c=sec%3Dx%3B%20Path%3D%2F%3B%20Secure",
    );
    let out = data.run(&["send", &set, "--save"]);
    assert!(out.status.success(), "{}", report(&out));
    let jar = data.run_ok(&["cookies", "list"]);
    assert!(jar.contains("sid"), "the jar has the cookie: {jar}");

    let cookie_sent = |path: &str, cookies: bool| -> Option<String> {
        let before = origin.seen().len();
        let url = origin.url(path);
        let mut args = vec!["send", url.as_str()];
        if cookies {
            args.push("--cookies");
        }
        let out = data.run(&args);
        assert!(out.status.success(), "{}", report(&out));
        let seen = origin.seen();
        assert_eq!(seen.len(), before + 1);
        let last = seen.last().unwrap().clone();
        last.headers
            .iter()
            .find(|(n, _)| n == "cookie")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        cookie_sent("/echo", false),
        None,
        "no jar without --cookies"
    );
    assert_eq!(cookie_sent("/echo", true).as_deref(), Some("sid=abc"));
    let api = cookie_sent("/api/echo", true).unwrap_or_default();
    assert!(api.contains("sid=abc") && api.contains("scoped=1"), "{api}");
    assert!(!api.contains("sec=x"), "a Secure cookie over http: {api}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_output_writes_the_body_to_a_file() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let file = data.path().join("body.bin");
    let out = data.run(&[
        "send",
        &origin.url("/bytes/100000"),
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", report(&out));
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{text}");
    assert!(text.ends_with("\n\n"), "no body on stdout: {text}");
    let body = std::fs::read(&file).expect("body written");
    assert_eq!(body, interpose_testsupport::pattern_chunk(0, 100_000));
}
