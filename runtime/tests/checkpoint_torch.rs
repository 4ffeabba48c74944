//! Reading checkpoints written by torch and Meta's `sam3` (`oracle/checkpoint_writer.py`, reduced sizes): the
//! official `sam3.pt` layout, an upstream trainer checkpoint, and a zoo of dtypes and views. Every tensor is
//! compared with a copy written by the safetensors package, and with sums computed by torch.

mod common;

use common::{oracle_python, run_oracle_script};
use sam3c_runtime::checkpoint::{
    self, detect_layout, CheckpointError, DType, Format, KeyMap, Layout, StateDict,
};
use sam3c_runtime::model::tracker::{Tracker, TrackerConfig};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tch::{nn, Device, Kind, Tensor};

fn oracle_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    DIR.get_or_init(|| {
        let python = oracle_python()?;
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        std::fs::write(&cfg, serde_json::to_string(&TrackerConfig::tiny()).unwrap()).unwrap();
        run_oracle_script(&python, "checkpoint_writer.py", &[&cfg, dir.path()]);
        Some(dir)
    })
    .as_ref()
    .map(|d| d.path())
}

fn file(name: &str) -> Option<PathBuf> {
    Some(oracle_dir()?.join(name))
}

#[derive(serde::Deserialize)]
struct ManifestEntry {
    name: String,
    dtype: String,
    shape: Vec<i64>,
    sum: f64,
}

fn manifest(name: &str) -> Vec<ManifestEntry> {
    let text = std::fs::read_to_string(file(&format!("{name}.manifest.json")).unwrap()).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every tensor of `<name>.pt`, in pickle order, with the dtype, shape and values torch wrote.
fn check_file_against_reference(name: &str) -> Option<StateDict> {
    let path = file(&format!("{name}.pt"))?;
    let sd = checkpoint::load(&path).unwrap();
    assert_eq!(sd.format, Format::Torch);
    let reference =
        checkpoint::load(&file(&format!("{name}.reference.safetensors")).unwrap()).unwrap();
    let expected = manifest(name);
    let names: Vec<&str> = sd.names().collect();
    let expected_names: Vec<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, expected_names, "{name}: names in pickle order");
    for e in &expected {
        let entry = sd.get(&e.name).unwrap();
        assert_eq!(
            format!("torch.{}", entry.dtype),
            e.dtype,
            "{name}/{}: dtype",
            e.name
        );
        assert_eq!(entry.shape, e.shape, "{name}/{}: shape", e.name);
        let ours = sd.tensor(&e.name).unwrap();
        assert_eq!(ours.kind(), entry.dtype.kind());
        let theirs = reference.tensor(&e.name).unwrap();
        let comparable = if entry.dtype == DType::C128 {
            ours.view_as_real()
        } else {
            ours.shallow_clone()
        };
        assert!(
            comparable.equal(&theirs),
            "{name}/{}: values differ from the reference",
            e.name
        );
        let sum = if entry.dtype.is_complex() {
            f64::try_from(ours.to_kind(Kind::ComplexDouble).abs().sum(Kind::Double)).unwrap()
        } else {
            f64::try_from(ours.to_kind(Kind::Double).sum(Kind::Double)).unwrap()
        };
        assert!(
            (sum - e.sum).abs() <= 1e-9 * e.sum.abs().max(1.0),
            "{name}/{}: sum {sum} vs torch {}",
            e.name,
            e.sum
        );
    }
    Some(sd)
}

#[test]
fn official_layout_tensors_equal_what_torch_saved() {
    let Some(sd) = check_file_against_reference("official") else {
        return;
    };
    assert_eq!(sd.source_key, "model");
    assert_eq!(detect_layout(&sd), Some(Layout::Video));
    // The RoPE tables are complex64 buffers in the file.
    let complex = sd
        .entries()
        .iter()
        .filter(|e| e.dtype == DType::C64)
        .count();
    assert_eq!(complex, 2);
}

#[test]
fn trainer_checkpoint_tensors_equal_what_torch_saved() {
    let Some(sd) = check_file_against_reference("trainer") else {
        return;
    };
    assert_eq!(sd.source_key, "model");
    assert_eq!(detect_layout(&sd), Some(Layout::Image));
    let keys: Vec<&str> = sd.metadata.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "best_meter_values",
            "epoch",
            "loss",
            "optimizer",
            "scaler",
            "steps",
            "time_elapsed"
        ]
    );
    assert_eq!(sd.metadata["epoch"], "int 3");
    assert_eq!(sd.metadata["time_elapsed"], "float 12.5");
    assert_eq!(sd.metadata["optimizer"], "dict with 2 entries");
}

#[test]
fn every_dtype_and_view_equals_what_torch_saved() {
    let Some(sd) = check_file_against_reference("zoo") else {
        return;
    };
    assert_eq!(sd.source_key, "");
    let kinds: Vec<DType> = [
        "f64", "f32", "f16", "bf16", "i64", "i32", "i16", "i8", "u8", "bool", "c64", "c128",
    ]
    .iter()
    .map(|n| sd.get(n).unwrap().dtype)
    .collect();
    use DType::*;
    assert_eq!(
        kinds,
        [F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool, C64, C128]
    );
}

fn tiny_tracker() -> (nn::VarStore, Tracker) {
    let vs = nn::VarStore::new(Device::Cpu);
    let tracker = Tracker::new(vs.root(), &TrackerConfig::tiny()).unwrap();
    (vs, tracker)
}

#[test]
fn official_layout_loads_strictly_into_the_tracker() {
    let Some(path) = file("official.pt") else {
        return;
    };
    let sd = checkpoint::load(&path).unwrap();
    let (vs, _tracker) = tiny_tracker();
    let report = checkpoint::load_into(&vs, &sd, &KeyMap::video_to_tracker(), true).unwrap();
    assert_eq!(report.loaded, vs.variables().len());
    assert!(report.missing.is_empty() && report.unexpected.is_empty());
    assert!(report
        .not_selected
        .iter()
        .all(|n| n.starts_with("detector.")));
    assert_eq!(
        report.not_selected.len(),
        sd.names().filter(|n| n.starts_with("detector.")).count()
    );
    for (name, var) in vs.variables() {
        let expected = sd.tensor(&format!("tracker.{name}")).unwrap();
        assert!(var.equal(&expected), "{name} was not loaded");
    }
}

/// Zero variables with the shapes of the checkpoint's detector part, named as in the image model (the
/// RoPE tables, recomputed by the model, are not variables).
fn image_side_vars(sd: &StateDict) -> Vec<(String, Tensor)> {
    sd.entries()
        .iter()
        .filter(|e| e.name.starts_with("detector.") && !e.dtype.is_complex())
        .map(|e| {
            let name = e.name.strip_prefix("detector.").unwrap().to_string();
            (name, Tensor::zeros(&e.shape, (e.dtype.kind(), Device::Cpu)))
        })
        .collect()
}

#[test]
fn official_layout_into_the_image_model_skips_the_rope_tables() {
    let Some(path) = file("official.pt") else {
        return;
    };
    let sd = checkpoint::load(&path).unwrap();
    let vars = image_side_vars(&sd);
    let report = checkpoint::load_into(&vars, &sd, &KeyMap::video_to_image(), true).unwrap();
    assert_eq!(report.loaded, vars.len());
    assert_eq!(
        report.recomputed,
        [
            "detector.backbone.vision_backbone.trunk.blocks.0.attn.freqs_cis",
            "detector.backbone.vision_backbone.trunk.blocks.1.attn.freqs_cis"
        ]
    );
    assert!(report
        .not_selected
        .iter()
        .all(|n| n.starts_with("tracker.")));
    let (name, var) = &vars[0];
    assert!(var.equal(&sd.tensor(&format!("detector.{name}")).unwrap()));
    assert!(vars
        .iter()
        .any(|(n, _)| n.starts_with("backbone.vision_backbone.sam2_convs.")));
}

#[test]
fn trainer_checkpoint_loads_into_the_video_layout() {
    let Some(path) = file("trainer.pt") else {
        return;
    };
    let sd = checkpoint::load(&path).unwrap();
    let vars: Vec<(String, Tensor)> = sd
        .entries()
        .iter()
        .filter(|e| !e.dtype.is_complex())
        .map(|e| {
            (
                format!("detector.{}", e.name),
                Tensor::zeros(&e.shape, (e.dtype.kind(), Device::Cpu)),
            )
        })
        .collect();
    let map = KeyMap::between(Layout::Image, Layout::Video).unwrap();
    let report = checkpoint::load_into(&vars, &sd, &map, true).unwrap();
    assert_eq!(report.loaded, vars.len());
    assert_eq!(report.recomputed.len(), 2);
}

fn mismatch(result: Result<checkpoint::LoadReport, CheckpointError>) -> checkpoint::Mismatch {
    match result {
        Err(CheckpointError::Mismatch(m)) => *m,
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn strict_loading_lists_every_problem_and_changes_nothing() {
    let Some(path) = file("official.pt") else {
        return;
    };
    let sd = checkpoint::load(&path).unwrap();
    // A tracker of other sizes, one variable too many, one checkpoint tensor renamed into a name it lacks.
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = TrackerConfig {
        mem_dim: 32,
        ..TrackerConfig::tiny()
    };
    Tracker::new(vs.root(), &cfg).unwrap();
    let _extra = vs.root().zeros("extra_weight", &[3]);
    let before: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.copy()))
        .collect();
    let map = KeyMap::none().rename("tracker.", "").rename(
        "detector.backbone.vision_backbone.trunk.pos_embed",
        "pos_embed",
    );
    let err = checkpoint::load_into(&vs, &sd, &map, true).unwrap_err();
    let text = err.to_string();
    let m = mismatch(Err(err));
    assert_eq!(m.missing, ["extra_weight"]);
    assert_eq!(m.unexpected, ["pos_embed"]);
    let shape_names: Vec<&str> = m.wrong_shape.iter().map(|(n, _, _)| n.as_str()).collect();
    for name in [
        "maskmem_tpos_enc",
        "maskmem_backbone.out_proj.weight",
        "obj_ptr_tpos_proj.bias",
    ] {
        assert!(
            shape_names.contains(&name),
            "{name} not reported: {shape_names:?}"
        );
        assert!(text.contains(name));
    }
    assert!(text.contains("extra_weight") && text.contains("pos_embed"));
    // Nothing was copied: the check comes before any write.
    let after = vs.variables();
    for (name, t) in before {
        assert!(
            after[&name].equal(&t),
            "{name} changed although loading failed"
        );
    }

    // Non-strict: names are reported, wrong shapes are still errors.
    let m = mismatch(checkpoint::load_into(&vs, &sd, &map, false));
    assert!(m.missing.is_empty() || !m.strict);
    assert!(!m.wrong_shape.is_empty());
}

#[test]
fn non_strict_loading_reports_missing_and_unexpected() {
    let Some(path) = file("official.pt") else {
        return;
    };
    let sd = checkpoint::load(&path).unwrap();
    let (vs, _tracker) = tiny_tracker();
    let _extra = vs.root().zeros("extra_weight", &[3]);
    let map = KeyMap::none().rename("tracker.", "").rename(
        "detector.backbone.vision_backbone.trunk.pos_embed",
        "pos_embed",
    );
    let report = checkpoint::load_into(&vs, &sd, &map, false).unwrap();
    assert_eq!(report.missing, ["extra_weight"]);
    assert_eq!(report.unexpected, ["pos_embed"]);
    assert_eq!(report.loaded, vs.variables().len() - 1);
}

#[test]
fn a_variable_dtype_is_never_changed() {
    let Some(path) = file("official.pt") else {
        return;
    };
    let sd = checkpoint::load(&path).unwrap();
    let (mut vs, _tracker) = tiny_tracker();
    vs.double();
    let m = mismatch(checkpoint::load_into(
        &vs,
        &sd,
        &KeyMap::video_to_tracker(),
        true,
    ));
    assert_eq!(m.wrong_dtype.len(), vs.variables().len());
    assert!(m
        .wrong_dtype
        .iter()
        .all(|(_, model, ckpt)| model == "float64" && ckpt == "float32"));
    assert!(vs.variables().values().all(|t| t.kind() == Kind::Double));
}

#[test]
fn truncated_torch_files_are_errors() {
    let Some(path) = file("official.pt") else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let n = bytes.len();
    for cut in [
        0,
        1,
        4,
        30,
        100,
        1000,
        n / 4,
        n / 2,
        3 * n / 4,
        n - 100,
        n - 23,
        n - 22,
        n - 1,
    ] {
        let p = dir.path().join(format!("cut{cut}.pt"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let err =
            checkpoint::load(&p).expect_err(&format!("a file cut at {cut} of {n} bytes loaded"));
        assert!(
            matches!(
                err,
                CheckpointError::Corrupt { .. } | CheckpointError::Format { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn damaged_bytes_are_detected() {
    let Some(path) = file("official.pt") else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let index = checkpoint::zip::read_index(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A flipped byte in the pickle: the archive's CRC catches it.
    let pkl = &index.entries["official/data.pkl"];
    let mut damaged = bytes.clone();
    damaged[pkl.data.start + pkl.data.len() / 2] ^= 0x40;
    let p = dir.path().join("pkl.pt");
    std::fs::write(&p, &damaged).unwrap();
    let err = checkpoint::load(&p).unwrap_err();
    assert!(err.to_string().contains("CRC"), "{err}");
    // A flipped byte in a storage: found when the tensor is read, before anything is loaded.
    let storage = &index.entries["official/data/0"];
    let mut damaged = bytes.clone();
    damaged[storage.data.start] ^= 0x01;
    let p = dir.path().join("storage.pt");
    std::fs::write(&p, &damaged).unwrap();
    let sd = checkpoint::load(&p).unwrap();
    let first = sd
        .entries()
        .iter()
        .find(|e| e.to_tensor().is_err())
        .expect("the damage was not noticed");
    assert!(first.to_tensor().unwrap_err().to_string().contains("CRC"));
}

/// A tiny deterministic generator for the fuzzing below.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

#[test]
fn damaged_pickles_and_archives_never_panic() {
    let Some(path) = file("trainer.pt") else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let index = checkpoint::zip::read_index(&bytes).unwrap();
    let pkl = bytes[index.entries["archive/data.pkl"].data.clone()].to_vec();
    let mut rng = Lcg(7);
    let mut failures = 0;
    for round in 0..3000 {
        let mut p = pkl.clone();
        match round % 3 {
            0 => {
                for _ in 0..1 + rng.next(4) {
                    let i = rng.next(p.len());
                    p[i] = rng.next(256) as u8;
                }
            }
            1 => p.truncate(rng.next(p.len())),
            _ => {
                let i = rng.next(p.len());
                p.insert(i, rng.next(256) as u8);
            }
        }
        failures += usize::from(checkpoint::pickle::unpickle(&p).is_err());
    }
    assert!(
        failures > 1000,
        "only {failures} of 3000 damaged pickles were rejected"
    );
    // Damage anywhere in a (small) archive is an error or a readable file, never a panic.
    let zoo = std::fs::read(file("zoo.pt").unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("z.pt");
    for _ in 0..500 {
        let mut damaged = zoo.clone();
        for _ in 0..1 + rng.next(3) {
            let i = rng.next(zoo.len());
            damaged[i] = rng.next(256) as u8;
        }
        std::fs::write(&p, &damaged).unwrap();
        if let Ok(sd) = checkpoint::load(&p) {
            for e in sd.entries() {
                let _ = e.to_tensor();
            }
        }
    }
}

#[test]
fn other_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty.pt", b"", "not a checkpoint"),
        ("text.pt", b"hello, world", "not a checkpoint"),
        (
            "legacy.pt",
            b"\x80\x02\x8a\x0alZ\xfc\x9cF\xf9 j\xa8P\x19.",
            "legacy torch.save",
        ),
        ("zip.pt", b"PK\x03\x04 not really", "damaged or truncated"),
    ];
    for (name, bytes, expected) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = checkpoint::load(&p).unwrap_err().to_string();
        assert!(err.contains(expected), "{name}: {err}");
        assert!(
            err.contains(name),
            "{name}: the message should name the file: {err}"
        );
    }
    let err = checkpoint::load(&dir.path().join("missing.pt")).unwrap_err();
    assert!(matches!(err, CheckpointError::Io { .. }));
}
