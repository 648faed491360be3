//! Shared set-up for the `interpose` binary's integration tests: a temporary
//! data dir, the real binary run as a user would run it, a [`Capture`] guard
//! around a running `interpose capture`, and signals sent to it.
//!
//! Every wait here is bounded; a test that waits too long fails with what the
//! process printed so far.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use rustix::process::Signal;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_interpose");

/// How long `capture` may take to print its "listening on" line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long any other subcommand may run.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The proxy variables of the environment, both cases: tests clear them so
/// the machine's proxy settings never decide a route.
pub const PROXY_VARS: [&str; 8] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
];

/// `interpose` with an environment that does not depend on the machine:
/// no data-dir, proxy, CA-bundle or log variables from the caller.
pub fn interpose() -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "INTERPOSE_HOME",
        "INTERPOSE_LOG",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ]
    .into_iter()
    .chain(PROXY_VARS)
    {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to completion (at most [`RUN_TIMEOUT`]) and returns what it
/// printed. A command still running at the deadline is killed and the test
/// fails.
pub fn run_command(cmd: Command) -> Output {
    run_command_within(cmd, RUN_TIMEOUT)
}

/// [`run_command`] with another deadline.
pub fn run_command_within(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let description = format!("{cmd:?}");
    let child = cmd.spawn().expect("spawn interpose");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(output) => output.expect("wait for interpose"),
        Err(_) => {
            let _ = send_signal(pid, Signal::KILL);
            panic!("{description} still running after {timeout:?}; killed it");
        }
    }
}

/// A temporary data directory, removed when dropped.
pub struct DataDir {
    dir: tempfile::TempDir,
}

impl Default for DataDir {
    fn default() -> Self {
        Self::new()
    }
}

impl DataDir {
    pub fn new() -> DataDir {
        DataDir {
            dir: tempfile::tempdir().expect("create a temporary data dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `DATA/proxy/interpose-proxy-ca.crt`.
    pub fn ca_cert_path(&self) -> PathBuf {
        ca_cert_path(self.path())
    }

    /// `DATA/proxy/interpose-proxy-ca.key`.
    pub fn ca_key_path(&self) -> PathBuf {
        self.path().join("proxy").join("interpose-proxy-ca.key")
    }

    /// `DATA/interpose.db`.
    pub fn db_path(&self) -> PathBuf {
        self.path().join("interpose.db")
    }

    /// The CA certificate file's contents.
    pub fn ca_pem(&self) -> String {
        read_ca_pem(self.path())
    }

    /// `interpose --data-dir DATA ARGS...`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = interpose();
        cmd.arg("--data-dir").arg(self.path()).args(args);
        cmd
    }

    /// Runs `interpose --data-dir DATA ARGS...` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        run_command(self.command(args))
    }

    /// Runs a `capture` that should fail at start: fails the test if it is
    /// still running after [`START_TIMEOUT`].
    pub fn run_failing_capture(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(&["capture"]);
        cmd.args(args);
        run_command_within(cmd, START_TIMEOUT)
    }

    /// Like [`DataDir::run`], failing the test unless the command exits 0;
    /// returns its stdout.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "interpose {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs a command that prints JSON and parses it.
    pub fn run_json(&self, args: &[&str]) -> serde_json::Value {
        let stdout = self.run_ok(args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("interpose {args:?} printed invalid JSON ({e}):\n{stdout}"))
    }

    /// `history list --json`, as an array.
    pub fn history(&self) -> Vec<serde_json::Value> {
        match self.run_json(&["history", "list", "--json"]) {
            serde_json::Value::Array(rows) => rows,
            other => panic!("history list --json is not an array: {other}"),
        }
    }

    /// `history sessions --json`, as an array.
    pub fn sessions(&self) -> Vec<serde_json::Value> {
        match self.run_json(&["history", "sessions", "--json"]) {
            serde_json::Value::Array(rows) => rows,
            other => panic!("history sessions --json is not an array: {other}"),
        }
    }

    /// Polls `history list --json` every 100 ms until `done` holds, for at
    /// most `timeout`; returns the last list. Fails the test on timeout.
    pub fn wait_for_history(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let rows = self.history();
            if done(&rows) {
                return rows;
            }
            if start.elapsed() >= timeout {
                panic!(
                    "after {:?}, history still lacks {what}:\n{}",
                    start.elapsed(),
                    serde_json::to_string_pretty(&rows).unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts `interpose --data-dir DATA capture --listen 127.0.0.1:0 ARGS...`
    /// (without that `--listen` when ARGS hold one).
    pub fn capture(&self, args: &[&str]) -> Capture {
        let mut cmd = interpose();
        cmd.arg("--data-dir").arg(self.path()).arg("capture");
        if !args.iter().any(|a| a.starts_with("--listen")) {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(args);
        Capture::spawn(cmd, self.path())
    }
}

pub fn ca_cert_path(data_dir: &Path) -> PathBuf {
    data_dir.join("proxy").join("interpose-proxy-ca.crt")
}

fn read_ca_pem(data_dir: &Path) -> String {
    let path = ca_cert_path(data_dir);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A running `interpose capture`, killed (SIGKILL) when dropped.
///
/// Its stdout is read line by line on a thread; [`Capture::next_line`] and
/// friends take the lines after the banner. Its stderr is collected for
/// failure messages.
pub struct Capture {
    child: Child,
    /// The address from the "listening on" line.
    pub addr: SocketAddr,
    /// The session number from the "listening on" line, if recording.
    pub session: Option<i64>,
    /// The lines printed up to and including the "listening on" line.
    pub first_lines: Vec<String>,
    data_dir: PathBuf,
    lines: Receiver<String>,
    /// Every stdout line read so far (banner included), for messages.
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Capture {
    /// Spawns `cmd` (a full `interpose ... capture ...` command) and waits at
    /// most [`START_TIMEOUT`] for its "listening on" line. `data_dir` is the
    /// data dir the command uses.
    pub fn spawn(mut cmd: Command, data_dir: &Path) -> Capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn interpose capture");

        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let err_buf = stderr.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                err_buf
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });

        let mut capture = Capture {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            session: None,
            first_lines: Vec::new(),
            data_dir: data_dir.to_path_buf(),
            lines,
            seen: Vec::new(),
            stderr,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let listening = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match capture.lines.recv_timeout(left) {
                Ok(line) => {
                    capture.seen.push(line.clone());
                    capture.first_lines.push(line.clone());
                    if line.contains("listening on") {
                        break line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => capture.fail(&format!(
                    "no \"listening on\" line within {START_TIMEOUT:?}"
                )),
                Err(RecvTimeoutError::Disconnected) => {
                    // Give stderr a moment to arrive before reporting it.
                    let status = capture.wait_exit(Duration::from_secs(5));
                    capture.fail(&format!(
                        "capture exited ({status:?}) before printing \"listening on\""
                    ))
                }
            }
        };
        let re = regex::Regex::new(
            r"^interpose (?:capture|reverse proxy) listening on http://(\S+)(?: and https://\S+)? \((?:session (\d+)|not recording)\)$",
        )
        .unwrap();
        let Some(caps) = re.captures(&listening) else {
            capture.fail(&format!("unexpected listening line: {listening:?}"))
        };
        capture.addr = caps[1].parse().expect("listening address");
        capture.session = caps.get(2).map(|s| s.as_str().parse().unwrap());
        capture
    }

    /// `http://127.0.0.1:PORT` (loopback even when listening on 0.0.0.0).
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// The data dir's CA certificate (PEM), as a client would install it.
    pub fn ca_pem(&self) -> String {
        read_ca_pem(&self.data_dir)
    }

    /// A reqwest client through this proxy, trusting interpose's CA.
    pub fn client(&self) -> reqwest::Client {
        interpose_testsupport::proxied_client(&self.proxy_url(), &[&self.ca_pem()])
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Every stdout line read so far, banner included.
    pub fn stdout_lines(&self) -> &[String] {
        &self.seen
    }

    /// The next stdout line, waiting at most `timeout`. `None` on timeout or
    /// at the end of output.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Reads stdout lines until one satisfies `pred` (at most `timeout`);
    /// fails the test otherwise.
    pub fn wait_for_line(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left) {
                Some(line) if pred(&line) => return line,
                Some(_) => {}
                None => self.fail(&format!("no stdout line {what} within {timeout:?}")),
            }
        }
    }

    /// Reads every stdout line printed during `period`.
    pub fn lines_for(&mut self, period: Duration) -> Vec<String> {
        let deadline = Instant::now() + period;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    out.push(line);
                }
                Err(RecvTimeoutError::Timeout) => return out,
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(left);
                    return out;
                }
            }
        }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        send_signal(self.pid(), signal).expect("send a signal to capture");
    }

    /// Sends `signal` and waits at most `timeout` for the process to exit;
    /// fails the test if it is still running. Returns the exit status, after
    /// reading the rest of stdout.
    pub fn stop(&mut self, signal: Signal, timeout: Duration) -> ExitStatus {
        self.signal(signal);
        match self.wait_exit(timeout) {
            Some(status) => {
                // The pipe is closed now: collect what is left of stdout.
                while self.next_line(Duration::from_secs(2)).is_some() {}
                status
            }
            None => self.fail(&format!(
                "still running {timeout:?} after signal {}",
                signal.as_raw()
            )),
        }
    }

    /// Waits at most `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait on capture") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Peak resident set size (VmHWM) of the process, in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .expect("VmHWM in /proc/PID/status");
        let kib: u64 = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .expect("VmHWM value");
        kib * 1024
    }

    /// Fails the test with what the process printed so far.
    pub fn fail(&self, why: &str) -> ! {
        panic!(
            "interpose capture: {why}\nstdout so far:\n{}\nstderr so far:\n{}",
            self.seen.join("\n"),
            self.stderr()
        )
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` to process `pid` (kill(2)).
pub fn send_signal(pid: u32, signal: Signal) -> std::io::Result<()> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).expect("pid fits in i32"))
        .expect("pid is not 0");
    rustix::process::kill_process(pid, signal).map_err(std::io::Error::from)
}

/// The workspace root (where `tools/` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/cli is two levels below the workspace root")
        .to_path_buf()
}

/// The JSON rows of `rows` whose `url` is `url`.
pub fn rows_with_url<'a>(rows: &'a [serde_json::Value], url: &str) -> Vec<&'a serde_json::Value> {
    rows.iter().filter(|r| r["url"] == url).collect()
}

/// Fails the test, saying how to install it, unless the Node package is in
/// `tools/node_modules` (`npm ci --prefix tools`). Never a skip.
pub fn require_node_package(package: &str) {
    let root = workspace_root();
    assert!(
        root.join("tools/node_modules").join(package).is_dir(),
        "tools/node_modules/{package} is missing: run npm ci --prefix tools in {} \
         (needs Node.js and npm)",
        root.display()
    );
}

/// `node SCRIPT ARGS...` from the workspace root; `script` is relative to
/// it (`tools/check-postman.js`). Blocking: call it through
/// [`node_async`] while an in-process origin must keep answering.
pub fn node(script: &str, args: &[String]) -> Output {
    let root = workspace_root();
    Command::new("node")
        .arg(root.join(script))
        .args(args)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("could not run `node {script}`: {e}; install Node.js"))
}

/// [`node`] off the async runtime, so origins in this process keep
/// answering while Node talks to them.
pub async fn node_async(script: &'static str, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || node(script, &args))
        .await
        .expect("node task")
}

/// Exit status and both streams of a finished command, for messages.
pub fn report(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Checks `file` with `node tools/validate-har.js` (har-validator); fails
/// the test with its report if it is not valid HAR 1.2.
pub fn validate_har(file: &Path) {
    require_node_package("har-validator");
    let out = node("tools/validate-har.js", &[file.display().to_string()]);
    assert!(
        out.status.success(),
        "har-validator rejects {}:\n{}",
        file.display(),
        report(&out)
    );
}

/// Stops a capture with SIGTERM (which flushes the store) and fails the
/// test unless it exits 0 within 15 s.
pub fn stop_capture(capture: &mut Capture) {
    let status = capture.stop(Signal::TERM, Duration::from_secs(15));
    assert!(
        status.success(),
        "capture did not stop cleanly ({status:?}):\n{}",
        capture.stderr()
    );
}

/// The stdout of a command that must succeed, or a failure with both streams.
pub fn stdout_of(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}", report(out));
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}
