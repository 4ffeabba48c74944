//! Helper of the data and demo tests, beside `common` (oracle interpreter, temporary directories): run an
//! oracle script that reads and writes files in a directory rather than returning safetensors.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Run `tests/oracle/<script> <args...>` with `python`; panics with the script's output when it fails.
pub fn run_script(python: &Path, script: &str, args: &[&Path]) {
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
