//! Our HAR checked by the reference validator (har-validator, run by Node
//! through `tools/validate-har.js`). Needs `npm ci --prefix tools` once;
//! without it these tests fail and say so, they never skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::node;

use interpose_formats::har::write_har;
use serde_json::Value;

fn run_validator(files: &[&Path]) -> Output {
    node::require_package("har-validator");
    let args: Vec<&dyn AsRef<std::ffi::OsStr>> = files.iter().map(|f| f as _).collect();
    node::node("tools/validate-har.js", &args)
}

fn text(out: &Output) -> String {
    node::report(out)
}

fn write_every_kind(dir: &Path) -> PathBuf {
    let path = dir.join("every-kind.har");
    let file = std::fs::File::create(&path).unwrap();
    write_har(file, common::every_kind(), env!("CARGO_PKG_VERSION")).unwrap();
    path
}

#[test]
fn har_validator_accepts_a_log_with_every_kind_of_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_every_kind(dir.path());
    let out = run_validator(&[&path]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    let want = format!(
        "ok {} ({} entries)",
        path.display(),
        common::every_kind().len()
    );
    assert!(report.contains(&want), "{report}");
}

#[test]
fn har_validator_rejects_an_entry_without_request_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_every_kind(dir.path());
    let mut har: Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    har["log"]["entries"][1]
        .as_object_mut()
        .unwrap()
        .remove("request");
    let broken = dir.path().join("broken.har");
    std::fs::write(&broken, serde_json::to_vec(&har).unwrap()).unwrap();

    let out = run_validator(&[&good, &broken]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("invalid {}", broken.display())),
        "{report}"
    );
    assert!(report.contains(".log.entries[1]"), "{report}");
    assert!(report.contains("'request'"), "{report}");
}

#[test]
fn har_validator_rejects_negative_send_wait_receive() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_every_kind(dir.path());
    let mut har: Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    har["log"]["entries"][0]["timings"]["wait"] = (-1.0).into();
    let broken = dir.path().join("negative-wait.har");
    std::fs::write(&broken, serde_json::to_vec(&har).unwrap()).unwrap();

    let out = run_validator(&[&broken]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains(".log.entries[0].timings.wait"), "{report}");
}
