//! Shared helpers of the formats tests: the Python oracle, scratch directories and a seeded generator.
#![allow(dead_code)]

use std::path::Path;

#[allow(unused_imports)]
pub use sam3c_testkit::{oracle_python, Rng, TempDir};

/// A fresh directory for one test's files, removed when the test ends.
pub fn scratch_dir(name: &str) -> TempDir {
    TempDir::new(&format!("formats-{name}"))
}

/// Runs `tests/oracle/<script> args...` with the oracle interpreter; panics with its output if it fails.
pub fn run_oracle(python: &Path, script: &str, args: &[&Path]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(script);
    sam3c_testkit::run_python(python, &script, args);
}
