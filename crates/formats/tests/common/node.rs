//! Running the Node tools in `tools/` (installed by `npm ci --prefix tools`).
//! A missing install fails the test with the command to run; never a skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Panics, saying how to install them, unless `tools/node_modules/PACKAGE`
/// is there.
pub fn require_package(package: &str) {
    let root = repo_root();
    assert!(
        root.join("tools/node_modules").join(package).is_dir(),
        "tools/node_modules/{package} is missing: run `npm ci --prefix tools` in {} \
         (needs Node.js and npm)",
        root.display()
    );
}

/// `node SCRIPT ARGS...` from the repository root; `script` is relative to
/// it (`tools/validate-har.js`).
pub fn node(script: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let root = repo_root();
    Command::new("node")
        .arg(root.join(script))
        .args(args.iter().map(|a| a.as_ref()))
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("could not run `node {script}`: {e}; install Node.js"))
}

/// Exit status and both streams, for assertion messages.
pub fn report(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
