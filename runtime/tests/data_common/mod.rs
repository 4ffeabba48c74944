//! Shared helpers of the data and demo tests: the oracle Python and temporary directories.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The reference Python (`$SAM3C_PYTHON`), or `None` with a message when it is not configured. Panics instead
/// when `SAM3C_REQUIRE_ORACLES=1`, so that CI cannot skip oracle tests silently.
pub fn oracle_python() -> Option<PathBuf> {
    match std::env::var_os("SAM3C_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            if std::env::var("SAM3C_REQUIRE_ORACLES").as_deref() == Ok("1") {
                panic!(
                    "SAM3C_REQUIRE_ORACLES=1 but SAM3C_PYTHON is not set (source scripts/env.sh)"
                );
            }
            eprintln!(
                "skipping oracle comparison: SAM3C_PYTHON is not set (source scripts/env.sh)"
            );
            None
        }
    }
}

/// Run `tests/oracle/<script>` with `args`; panics with the script's output when it fails.
pub fn run_oracle(python: &Path, script: &str, args: &[&Path]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(script);
    let out = Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "oracle {script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sam3c-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
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
