//! Shared helpers of the `run_*` integration tests: the `sam3c` binary, demo data generated once per test
//! binary, scratch directories and checkpoint comparison.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// `sam3c` with the given arguments, run in `dir`, on one CPU thread (deterministic and quick on a shared machine).
pub fn sam3c(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sam3c"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("sam3c runs")
}

/// The exit code, stdout and stderr of a run, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sam3c-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The demo dataset, written once per test binary by `sam3c demo-data` (seed 0).
pub fn demo_data() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("demo-data");
        let out = sam3c(&dir, &["demo-data", "data", "--seed", "0"]);
        assert!(out.status.success(), "{}", describe(&out));
        dir.join("data")
    })
}

/// A copy of `tests/run_specs/<name>` in `dir`, with `data_root` pointing at the demo data.
pub fn spec_in(dir: &Path, name: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/run_specs")
        .join(name);
    let text = std::fs::read_to_string(&source).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let demo = dir.join("demo");
    if !demo.exists() {
        std::os::unix::fs::symlink(demo_data(), &demo).unwrap();
    }
    path
}

/// Every tensor of a safetensors checkpoint (weights and optimizer state), by name, as raw little-endian bytes.
pub fn checkpoint_tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let state = sam3c_runtime::checkpoint::load(path).unwrap();
    let mut tensors: Vec<(String, Vec<u8>)> = state
        .entries()
        .iter()
        .map(|e| {
            let t = e
                .to_tensor()
                .unwrap()
                .to_kind(tch::Kind::Float)
                .flatten(0, -1);
            let values = Vec::<f32>::try_from(&t).unwrap();
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (e.name.clone(), bytes)
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

/// The metadata of a safetensors checkpoint.
pub fn checkpoint_metadata(path: &Path) -> std::collections::BTreeMap<String, String> {
    sam3c_runtime::checkpoint::load(path).unwrap().metadata
}
