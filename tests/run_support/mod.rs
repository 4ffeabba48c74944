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

/// The core losses logged in a stage's `logs/train.log` (`step N/M epoch E: loss X, ...`), in step order.
pub fn logged_losses(log: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let rest = line.split("] step ").nth(1)?;
            let step = rest.split('/').next()?.parse().ok()?;
            let loss = rest
                .split("loss ")
                .nth(1)?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((step, loss))
        })
        .collect()
}

/// The last value of `metric` recorded in a stage's `metrics.json`.
pub fn last_metric(metrics: &Path, metric: &str) -> f64 {
    let entries: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(metrics).unwrap()).unwrap();
    let last = entries.as_array().unwrap().last().expect("an evaluation");
    last["metrics"][metric]
        .as_f64()
        .unwrap_or_else(|| panic!("{metric} missing from {last}"))
}

/// Every scalar `tag` of the TensorBoard event files in `dir`, as (step, value) sorted by step: TFRecord frames
/// (length, its CRC, an `Event` proto, its CRC) whose events carry `summary.value { tag, simple_value }`.
pub fn tensorboard_scalars(dir: &Path, tag: &str) -> Vec<(i64, f32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let mut at = 0;
        while at + 12 <= bytes.len() {
            let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
            let event = &bytes[at + 12..at + 12 + len];
            at += 12 + len + 4;
            let mut step = 0;
            let mut values = Vec::new();
            for (field, value) in proto_fields(event) {
                match (field, value) {
                    (2, Field::Varint(v)) => step = v as i64,
                    (5, Field::Bytes(summary)) => {
                        for (_, value) in proto_fields(summary) {
                            let Field::Bytes(value) = value else { continue };
                            let (mut name, mut simple) = (None, None);
                            for (f, v) in proto_fields(value) {
                                match (f, v) {
                                    (1, Field::Bytes(t)) => name = Some(t),
                                    (2, Field::Fixed32(x)) => simple = Some(f32::from_bits(x)),
                                    _ => {}
                                }
                            }
                            if let (Some(name), Some(x)) = (name, simple) {
                                values.push((name, x));
                            }
                        }
                    }
                    _ => {}
                }
            }
            out.extend(
                values
                    .into_iter()
                    .filter(|(name, _)| *name == tag.as_bytes())
                    .map(|(_, x)| (step, x)),
            );
        }
    }
    out.sort_by_key(|(step, _)| *step);
    out
}

enum Field<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The (field number, value) pairs of a serialized protobuf message.
fn proto_fields(mut data: &[u8]) -> Vec<(u64, Field<'_>)> {
    fn varint(data: &mut &[u8]) -> u64 {
        let (mut value, mut shift) = (0u64, 0);
        while let Some((&b, rest)) = data.split_first() {
            *data = rest;
            value |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        value
    }
    let mut out = Vec::new();
    while !data.is_empty() {
        let key = varint(&mut data);
        let value = match key & 7 {
            0 => Field::Varint(varint(&mut data)),
            1 => {
                data = &data[8..];
                Field::Fixed64
            }
            2 => {
                let len = varint(&mut data) as usize;
                let (bytes, rest) = data.split_at(len);
                data = rest;
                Field::Bytes(bytes)
            }
            5 => {
                let (bytes, rest) = data.split_at(4);
                data = rest;
                Field::Fixed32(u32::from_le_bytes(bytes.try_into().unwrap()))
            }
            other => panic!("unexpected protobuf wire type {other}"),
        };
        out.push((key >> 3, value));
    }
    out
}
