//! Mistakes a user can make on the command line get a clear message naming
//! what was wrong, and a non-zero exit.

mod support;

use std::process::Output;

use support::DataDir;

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failed run: non-zero exit, nothing about listening on stdout, and a
/// message that contains every piece of `names`.
fn assert_fails_naming(out: &Output, names: &[&str]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = stderr_of(out);
    assert!(
        !out.status.success(),
        "expected a failure; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        !stdout.contains("listening on"),
        "it should fail before listening:\n{stdout}"
    );
    for name in names {
        assert!(
            stderr.contains(name),
            "the message names {name:?}:\n{stderr}"
        );
    }
}

#[test]
fn an_invalid_ignore_hosts_pattern_fails_at_start_naming_the_pattern() {
    let data = DataDir::new();
    let out = data.run_failing_capture(&["--listen", "127.0.0.1:0", "--ignore-hosts", "("]);
    assert_fails_naming(&out, &["--ignore-hosts", "\"(\""]);
}

#[test]
fn listening_on_a_port_in_use_fails_naming_the_address() {
    let data = DataDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = data.run_failing_capture(&["--listen", &addr]);
    assert_fails_naming(&out, &[&addr]);
    assert_no_session_running(&data);
}

/// A capture that failed to start must not look like one still running in
/// `history sessions`.
fn assert_no_session_running(data: &DataDir) {
    let running: Vec<_> = data
        .sessions()
        .into_iter()
        .filter(|s| s["ended_at_us"].is_null())
        .collect();
    assert!(
        running.is_empty(),
        "a run that never listened left sessions running: {running:#?}"
    );
}

#[test]
fn history_show_of_an_unknown_id_fails_naming_the_id() {
    let data = DataDir::new();
    let out = data.run(&["history", "show", "999999"]);
    assert!(!out.status.success(), "{out:?}");
    let stderr = stderr_of(&out);
    assert!(stderr.contains("999999"), "names the id: {stderr}");
}

#[test]
fn a_missing_upstream_ca_file_fails_at_start_naming_the_file() {
    let data = DataDir::new();
    let missing = data.path().join("nonexistent.pem");
    let out = data.run_failing_capture(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream-ca",
        missing.to_str().unwrap(),
    ]);
    assert_fails_naming(&out, &[missing.to_str().unwrap()]);
    assert_no_session_running(&data);
}

#[test]
fn an_upstream_ca_file_without_certificates_fails_at_start_naming_the_file() {
    let data = DataDir::new();
    let bogus = data.path().join("not-a-cert.pem");
    std::fs::write(&bogus, "this is not PEM\n").unwrap();
    let out = data.run_failing_capture(&[
        "--listen",
        "127.0.0.1:0",
        "--upstream-ca",
        bogus.to_str().unwrap(),
    ]);
    assert_fails_naming(&out, &[bogus.to_str().unwrap()]);
}
