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

pub use sam3c_testkit::TempDir;

/// The demo dataset (`<dir>/data`), written once per test binary by `sam3c demo-data` (seed 0).
pub fn demo_data() -> PathBuf {
    demo_root().join("data")
}

fn demo_root() -> &'static Path {
    // A static is never dropped: the directory outlives every test of the binary (and stays in the temp dir).
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = TempDir::new("demo-data");
        let out = sam3c(dir.path(), &["demo-data", "data", "--seed", "0"]);
        assert!(out.status.success(), "{}", describe(&out));
        dir
    })
    .path()
}

/// A copy of `tests/run_specs/<name>` in `dir`, with `demo` (the specs' `data_root`) linked to the demo data.
pub fn spec_in(dir: &Path, name: &str) -> PathBuf {
    copy_spec(
        dir,
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/run_specs")
            .join(name),
    )
}

/// A copy of the spec `source` in `dir`, with `demo` linked to the demo data.
pub fn copy_spec(dir: &Path, source: &Path) -> PathBuf {
    let text = std::fs::read_to_string(source).unwrap();
    let path = dir.join(source.file_name().unwrap());
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
