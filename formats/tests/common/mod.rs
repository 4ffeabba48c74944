//! Shared helpers of the formats tests: the Python oracle, scratch directories and a seeded generator.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The oracle interpreter (`$SAM3C_PYTHON`). Without it the test is skipped with a message, unless
/// `SAM3C_REQUIRE_ORACLES=1`, which makes a missing oracle a failure.
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
                "skipping oracle test: SAM3C_PYTHON is not set (source scripts/env.sh to run it)"
            );
            None
        }
    }
}

/// A fresh directory for one test's files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sam3c-formats-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs `tests/oracle/<script>` with the oracle interpreter; panics with the script's stderr if it fails.
pub fn run_oracle(python: &Path, script: &str, args: &[&Path]) {
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(script);
    let output = Command::new(python)
        .arg(&script_path)
        .args(args)
        .output()
        .expect("run the oracle interpreter");
    assert!(
        output.status.success(),
        "oracle {script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// SplitMix64: a tiny seeded generator, so that test data is reproducible without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform integer in [lo, hi].
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
}
