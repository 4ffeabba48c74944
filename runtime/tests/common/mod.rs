//! Shared helpers of the runtime's integration tests: the oracle Python, and tensor comparison.
#![allow(dead_code)] // each test binary uses a subset

use std::path::{Path, PathBuf};
use std::process::Command;
use tch::Tensor;

/// The Python with Meta's `sam3` and the other oracles, from `SAM3C_PYTHON` (set by `scripts/env.sh`).
/// Without it the test is skipped with a message, unless `SAM3C_REQUIRE_ORACLES=1`, which makes it fail.
pub fn oracle_python() -> Option<PathBuf> {
    match std::env::var_os("SAM3C_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            if std::env::var("SAM3C_REQUIRE_ORACLES").is_ok_and(|v| v == "1") {
                panic!("SAM3C_REQUIRE_ORACLES=1 but SAM3C_PYTHON is unset: source scripts/env.sh");
            }
            eprintln!(
                "skipping: SAM3C_PYTHON is unset (source scripts/env.sh to run the oracle tests)"
            );
            None
        }
    }
}

/// Runs `runtime/tests/oracle/<script>` with `args`; panics with the script's output if it fails.
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

/// max |a - b| and max |b| in float64.
pub fn max_diff(a: &Tensor, b: &Tensor) -> (f64, f64) {
    let a = a.to_kind(tch::Kind::Double);
    let b = b.to_kind(tch::Kind::Double);
    let diff = f64::try_from((&a - &b).abs().max()).unwrap();
    let scale = f64::try_from(b.abs().max()).unwrap();
    (diff, scale)
}

/// Asserts `ours` equals `reference` in shape and within `rel * max|reference|` (the parity criterion).
pub fn assert_close(what: &str, ours: &Tensor, reference: &Tensor, rel: f64) {
    assert_close_with_floor(what, ours, reference, rel, 0.0);
}

/// As [`assert_close`], with the scale at least `floor` (for tensors that are zero up to rounding).
pub fn assert_close_with_floor(
    what: &str,
    ours: &Tensor,
    reference: &Tensor,
    rel: f64,
    floor: f64,
) {
    assert_eq!(ours.size(), reference.size(), "{what}: shape");
    if reference.numel() == 0 {
        return;
    }
    let (diff, scale) = max_diff(ours, reference);
    let scale = scale.max(floor).max(1e-12);
    assert!(
        diff <= rel * scale && diff.is_finite(),
        "{what}: max|diff| {diff:e} > {rel:e} * {scale:e}"
    );
}
