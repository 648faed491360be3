//! The seed scenario, reproduced: a user ran node `http-proxy` as a forward
//! proxy whose `proxyReq` hook adds `Authorization: Bearer ...`, and pointed
//! axios at it with axios's `proxy` option, so the client never sets the
//! header. Here the same axios call goes through `interpose capture --rules`
//! with a `set_headers` rule, and through the seed's own http-proxy
//! (`tools/http-proxy-auth.js`), and the origin must see the same header.
//!
//! Node and the packages in `tools/node_modules` (`npm ci --prefix tools`)
//! are required; a missing package fails the test with how to install it.
//! Every child process runs under a deadline and is killed when dropped.

mod support;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interpose_testsupport::Origin;
use support::{report, DataDir};

const TOKEN: &str = "seed-token";
const RULE: &str = "seed-authorization";
/// How long a Node helper may take to print its port.
const NODE_START: Duration = Duration::from_secs(20);
/// How long one axios run may take (its own request timeout is 20 s).
const NODE_RUN: Duration = Duration::from_secs(30);

/// The seed's proxy, `node tools/http-proxy-auth.js 0 TOKEN`: a node
/// http-proxy forward proxy that sets `Authorization: Bearer TOKEN`.
/// Killed (SIGKILL) when dropped.
struct NodeProxy {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl NodeProxy {
    fn start(token: &str) -> NodeProxy {
        let root = support::workspace_root();
        let mut child = Command::new("node")
            .arg(root.join("tools/http-proxy-auth.js"))
            .args(["0", token])
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not run node (install Node.js): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let buf = stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        let mut proxy = NodeProxy {
            child,
            port: 0,
            stderr,
        };
        let line = rx.recv_timeout(NODE_START).unwrap_or_else(|_| {
            panic!(
                "tools/http-proxy-auth.js printed no port within {NODE_START:?}; stderr:\n{}",
                proxy.stderr()
            )
        });
        proxy.port = line.trim().parse().unwrap_or_else(|_| {
            std::thread::sleep(Duration::from_millis(200)); // let stderr arrive
            panic!(
                "tools/http-proxy-auth.js printed {line:?}, not a port; stderr:\n{}",
                proxy.stderr()
            )
        });
        proxy
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for NodeProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `tools/axios-get.js` printed: the status and the parsed body.
struct AxiosResult {
    status: u16,
    data: serde_json::Value,
}

/// `node tools/axios-get.js URL [PROXY_PORT]`: one axios GET, through the
/// proxy on 127.0.0.1:PROXY_PORT with axios's `proxy` option, or direct.
/// Runs off the async runtime (the origin answers from this process) and is
/// killed past [`NODE_RUN`].
async fn axios_get(url: &str, proxy_port: Option<u16>) -> AxiosResult {
    let root = support::workspace_root();
    let mut cmd = Command::new("node");
    cmd.arg(root.join("tools/axios-get.js"))
        .arg(url)
        .args(proxy_port.map(|p| p.to_string()))
        .current_dir(&root)
        .stdin(Stdio::null());
    for var in support::PROXY_VARS {
        cmd.env_remove(var);
    }
    let what = format!("axios GET {url} via {proxy_port:?}");
    let out: Output =
        tokio::task::spawn_blocking(move || support::run_command_within(cmd, NODE_RUN))
            .await
            .expect("node task");
    assert!(out.status.success(), "{what}:\n{}", report(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what} printed no JSON ({e}):\n{}", report(&out)));
    AxiosResult {
        status: json["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or_else(|| panic!("{what}: no status in {json}")),
        data: json["data"].clone(),
    }
}

/// A rules file with one rule: `Authorization: Bearer TOKEN` on every
/// request to 127.0.0.1 (the origin's host).
fn write_rules(data: &DataDir) -> PathBuf {
    let path = data.path().join("rules.toml");
    std::fs::write(
        &path,
        format!(
            "[[rule]]\n\
             name = \"{RULE}\"\n\
             match = {{ host = \"127.0.0.1\" }}\n\
             set_headers = {{ Authorization = \"Bearer {TOKEN}\" }}\n"
        ),
    )
    .expect("write the rules file");
    path
}

/// The value of header `name` (lower-case) in the origin's record of a request.
fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<&String> = headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v)
        .collect();
    assert!(values.len() <= 1, "{name} sent more than once: {headers:?}");
    values.first().map(|v| (*v).clone())
}

/// The `authorization` header in the origin's `/echo` answer, as axios got it.
fn echoed_authorization(data: &serde_json::Value) -> Option<String> {
    data["headers"]
        .as_array()
        .unwrap_or_else(|| panic!("not the origin's /echo answer: {data}"))
        .iter()
        .find(|h| h[0] == "authorization")
        .map(|h| h[1].as_str().expect("header value").to_owned())
}

/// Checks the packages the Node helpers need, with how to install them.
fn require_node_tools() {
    support::require_node_package("axios");
    support::require_node_package("http-proxy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axios_through_capture_with_a_rules_file_gets_the_authorization_header() {
    require_node_tools();
    let data = DataDir::new();
    let origin = Origin::http().await;
    let rules = write_rules(&data);
    let mut capture = data.capture(&["--rules", rules.to_str().unwrap()]);

    let url = origin.url("/echo?seed=1");
    let got = axios_get(&url, Some(capture.addr.port())).await;

    // The response reached axios: the origin's echo, with the header the rule set.
    assert_eq!(got.status, 200, "{}", got.data);
    assert_eq!(
        echoed_authorization(&got.data).as_deref(),
        Some(format!("Bearer {TOKEN}").as_str()),
        "the origin echoes the rule's header back to axios: {}",
        got.data
    );
    // The origin saw exactly that one request, with the header.
    let seen = origin.seen();
    assert_eq!(seen.len(), 1, "one request reached the origin: {seen:#?}");
    assert_eq!(seen[0].uri, "/echo?seed=1");
    assert_eq!(
        header(&seen[0].headers, "authorization").as_deref(),
        Some(format!("Bearer {TOKEN}").as_str()),
        "origin's headers: {:?}\ncapture stderr:\n{}",
        seen[0].headers,
        capture.stderr()
    );

    // The HAR holds the request as forwarded: the rule's name and its header.
    support::stop_capture(&mut capture);
    let har: serde_json::Value =
        serde_json::from_str(&data.run_ok(&["export", "--format", "har"])).expect("HAR is JSON");
    let entries: Vec<&serde_json::Value> = har["log"]["entries"]
        .as_array()
        .expect("log.entries")
        .iter()
        .filter(|e| e["request"]["url"] == url.as_str())
        .collect();
    assert_eq!(entries.len(), 1, "one HAR entry for {url}:\n{har:#}");
    let entry = entries[0];
    assert_eq!(
        entry["_interpose"]["rules"],
        serde_json::json!([RULE]),
        "{entry:#}"
    );
    assert_eq!(entry["response"]["status"], 200, "{entry:#}");
    let authorization: Vec<&serde_json::Value> = entry["request"]["headers"]
        .as_array()
        .expect("request.headers")
        .iter()
        .filter(|h| {
            h["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("authorization"))
        })
        .collect();
    assert_eq!(
        authorization.len(),
        1,
        "one Authorization header in the HAR request: {entry:#}"
    );
    assert_eq!(
        authorization[0]["value"],
        format!("Bearer {TOKEN}"),
        "{entry:#}"
    );
}

/// Parity with the seed: the same axios call through node http-proxy (its
/// `proxyReq` hook) and through `interpose capture --rules` gives the origin
/// the same Authorization; without a proxy axios sends none, so the header
/// comes from the proxies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_proxy_and_interpose_rules_give_the_origin_the_same_authorization() {
    require_node_tools();
    let data = DataDir::new();
    let origin = Origin::http().await;
    let rules = write_rules(&data);
    let capture = data.capture(&["--rules", rules.to_str().unwrap(), "--no-capture"]);
    let seed = NodeProxy::start(TOKEN);
    let url = origin.url("/echo");

    let mut sent = Vec::new();
    for (path, port) in [
        ("direct", None),
        ("node http-proxy", Some(seed.port)),
        ("interpose --rules", Some(capture.addr.port())),
    ] {
        let before = origin.seen().len();
        let got = axios_get(&url, port).await;
        assert_eq!(got.status, 200, "{path}: {}", got.data);
        let seen = origin.seen();
        assert_eq!(
            seen.len(),
            before + 1,
            "{path}: one request reached the origin"
        );
        let last = seen.last().unwrap();
        assert_eq!((last.method.as_str(), last.uri.as_str()), ("GET", "/echo"));
        let at_origin = header(&last.headers, "authorization");
        assert_eq!(
            echoed_authorization(&got.data),
            at_origin,
            "{path}: axios got the origin's answer"
        );
        sent.push((path, at_origin, last.headers.clone()));
    }

    let [(_, direct, _), (_, seed_auth, seed_headers), (_, ours, our_headers)] = &sent[..] else {
        unreachable!()
    };
    assert_eq!(
        *direct, None,
        "axios itself sends no Authorization (the proxies add it)"
    );
    assert_eq!(
        seed_auth.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str()),
        "node http-proxy's proxyReq hook set it: {seed_headers:?}\nhttp-proxy stderr:\n{}",
        seed.stderr()
    );
    assert_eq!(
        ours,
        seed_auth,
        "interpose gives the origin what the seed's http-proxy did\n\
         http-proxy sent: {seed_headers:?}\ninterpose sent: {our_headers:?}\n\
         capture stderr:\n{}",
        capture.stderr()
    );
}
