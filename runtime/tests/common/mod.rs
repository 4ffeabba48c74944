//! Helpers shared by the runtime's integration tests: running the Python oracles and temporary directories.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The Python of the pinned oracle environment (`$SAM3C_PYTHON`). Without it the test is skipped with a message,
/// unless `SAM3C_REQUIRE_ORACLES=1`, which makes a missing oracle a failure.
pub fn oracle_python() -> Option<PathBuf> {
    match std::env::var_os("SAM3C_PYTHON") {
        Some(python) if !python.is_empty() => Some(PathBuf::from(python)),
        _ => {
            let message =
                "SAM3C_PYTHON is not set (source scripts/env.sh): skipping the oracle comparison";
            if std::env::var("SAM3C_REQUIRE_ORACLES").as_deref() == Ok("1") {
                panic!("{message}, but SAM3C_REQUIRE_ORACLES=1");
            }
            eprintln!("{message}");
            None
        }
    }
}

/// Runs `tests/oracle/<script>` with `python`, the output directory as first argument, then `args`.
pub fn run_oracle(python: &Path, script: &str, out_dir: &Path, args: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(script);
    let output = Command::new(python)
        .arg(&path)
        .arg(out_dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "oracle {script} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("sam3c-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
