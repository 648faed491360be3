//! `--data-dir` and `INTERPOSE_HOME` choose where the CA and the store live.

mod support;

use std::path::Path;

use support::{interpose, Capture, DataDir};

/// The two files DESIGN.md puts in the data dir after a first `capture`.
fn assert_holds_ca_and_store(dir: &Path) {
    for file in ["proxy/interpose-proxy-ca.crt", "interpose.db"] {
        assert!(
            dir.join(file).is_file(),
            "{} is missing after capture started",
            dir.join(file).display()
        );
    }
}

fn assert_empty(dir: &Path) {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        entries.is_empty(),
        "{} should be untouched, holds {entries:?}",
        dir.display()
    );
}

#[test]
fn data_dir_flag_puts_the_ca_and_the_store_there() {
    let data = DataDir::new();
    let capture = data.capture(&[]);
    assert_holds_ca_and_store(data.path());
    assert!(
        capture.first_lines.len() == 1,
        "the listening line is the first on stdout: {:?}",
        capture.first_lines
    );
}

#[test]
fn interpose_home_puts_the_ca_and_the_store_there() {
    let home = DataDir::new();
    let mut cmd = interpose();
    cmd.env("INTERPOSE_HOME", home.path())
        .args(["capture", "--listen", "127.0.0.1:0"]);
    let _capture = Capture::spawn(cmd, home.path());
    assert_holds_ca_and_store(home.path());

    // And the other commands read the same place.
    let mut cmd = interpose();
    cmd.env("INTERPOSE_HOME", home.path()).args(["ca", "path"]);
    let out = support::run_command(cmd);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        home.ca_cert_path().display().to_string()
    );
}

#[test]
fn data_dir_flag_wins_over_interpose_home() {
    let env_dir = DataDir::new();
    let flag_dir = DataDir::new();
    let mut cmd = interpose();
    cmd.env("INTERPOSE_HOME", env_dir.path())
        .arg("--data-dir")
        .arg(flag_dir.path())
        .args(["capture", "--listen", "127.0.0.1:0"]);
    let _capture = Capture::spawn(cmd, flag_dir.path());
    assert_holds_ca_and_store(flag_dir.path());
    assert_empty(env_dir.path());
}
