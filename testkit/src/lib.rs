//! Helpers shared by the tests of every crate (a dev-dependency only).
//!
//! Oracle tests compare our results with the reference Python packages, live: a script writes the
//! reference's answer to a scratch directory and the Rust test compares. [`oracle_python`] decides whether
//! such a test runs: without `$SAM3C_PYTHON` it is skipped with a message, unless `SAM3C_REQUIRE_ORACLES=1`
//! (as in CI), which turns the missing interpreter into a failure so that no oracle is silently skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Whether a missing oracle must fail the test rather than skip it.
pub fn oracles_required() -> bool {
    std::env::var("SAM3C_REQUIRE_ORACLES").as_deref() == Ok("1")
}

/// The oracle interpreter (`$SAM3C_PYTHON`), or `None` (with a message) when the Python environment is absent.
///
/// # Panics
/// When the interpreter is absent and [`oracles_required`].
pub fn oracle_python() -> Option<PathBuf> {
    match std::env::var_os("SAM3C_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            assert!(
                !oracles_required(),
                "SAM3C_REQUIRE_ORACLES=1 but SAM3C_PYTHON is not set (source scripts/env.sh)"
            );
            eprintln!(
                "skipping oracle test: SAM3C_PYTHON is not set (source scripts/env.sh to run it)"
            );
            None
        }
    }
}

/// Runs `python script args...`; panics with the script's output if it fails, so that a broken oracle is
/// never mistaken for agreement.
pub fn run_python<S: AsRef<std::ffi::OsStr>>(python: &Path, script: &Path, args: &[S]) -> Output {
    let output = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "oracle {} failed:\n{}\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A fresh directory under the system temp dir, unique per process and call, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("sam3c-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `self.path().join(name)`.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let draws = |seed| {
            let mut rng = Rng::new(seed);
            (0..100).map(|_| rng.range(-3, 5)).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        assert!(draws(7).iter().all(|v| (-3..=5).contains(v)));
        assert!(
            (-3..=5).all(|v| draws(7).contains(&v)),
            "every value is reachable"
        );
    }

    #[test]
    fn temp_dirs_are_distinct_and_removed() {
        let a = TempDir::new("testkit");
        let b = TempDir::new("testkit");
        assert_ne!(a.path(), b.path());
        let kept = a.path().to_path_buf();
        assert!(kept.is_dir());
        drop(a);
        assert!(!kept.exists());
    }
}
