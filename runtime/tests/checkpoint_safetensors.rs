//! Saving and loading safetensors: round trips, metadata, atomic replacement, files the safetensors package
//! reads, and damaged files.

mod common;

use common::{oracle_python, run_oracle_script};
use sam3c_runtime::checkpoint::{self, CheckpointError, DType, Format, KeyMap};
use sam3c_runtime::model::tracker::{Tracker, TrackerConfig};
use std::collections::BTreeMap;
use tch::{nn, Device, Kind, Tensor};

fn every_dtype() -> Vec<(String, Tensor)> {
    tch::manual_seed(3);
    let f = Tensor::randn([3, 4], (Kind::Float, Device::Cpu));
    vec![
        ("f64".into(), f.to_kind(Kind::Double)),
        ("f32".into(), f.shallow_clone()),
        ("f16".into(), f.to_kind(Kind::Half)),
        ("bf16".into(), f.to_kind(Kind::BFloat16)),
        ("i64".into(), Tensor::from_slice(&[-5i64, 1 << 40, 7])),
        ("i32".into(), Tensor::from_slice(&[-5i32, 1 << 20])),
        ("i16".into(), Tensor::from_slice(&[-5i16, 300])),
        ("i8".into(), Tensor::from_slice(&[-5i8, 100])),
        ("u8".into(), Tensor::from_slice(&[5u8, 200])),
        ("bool".into(), f.gt(0.0)),
        ("c64".into(), Tensor::complex(&f, &(-&f))),
        ("transposed".into(), f.tr()),
        ("scalar".into(), Tensor::from(2.5f32)),
        (
            "empty".into(),
            Tensor::zeros([0, 4], (Kind::Float, Device::Cpu)),
        ),
    ]
}

fn metadata() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        ("sam3c.config".to_string(), "{\"d_model\": 64}".to_string()),
    ])
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn every_dtype_round_trips_with_metadata_and_no_leftover_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.safetensors");
    let tensors = every_dtype();
    checkpoint::save(&path, &tensors, &metadata()).unwrap();
    assert_eq!(files_in(dir.path()), ["all.safetensors"]);
    let sd = checkpoint::load(&path).unwrap();
    assert_eq!(sd.format, Format::Safetensors);
    assert_eq!(sd.metadata, metadata());
    assert_eq!(sd.len(), tensors.len());
    for (name, t) in &tensors {
        let e = sd.get(name).unwrap();
        assert_eq!(e.dtype, DType::from_kind(t.kind()).unwrap(), "{name}");
        assert!(sd.tensor(name).unwrap().equal(t), "{name}");
    }
}

#[test]
fn a_model_saved_and_loaded_back_is_identical() {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    Tracker::new(vs.root(), &TrackerConfig::tiny()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracker.safetensors");
    checkpoint::save(&path, &vs, &metadata()).unwrap();

    tch::manual_seed(2);
    let other = nn::VarStore::new(Device::Cpu);
    Tracker::new(other.root(), &TrackerConfig::tiny()).unwrap();
    let sd = checkpoint::load(&path).unwrap();
    let report = checkpoint::load_into(&other, &sd, &KeyMap::identity(), true).unwrap();
    assert_eq!(report.loaded, vs.variables().len());
    let theirs = other.variables();
    for (name, t) in vs.variables() {
        assert!(theirs[&name].equal(&t), "{name}");
    }
    // Loading keeps the variables trainable: gradients still flow.
    assert!(other
        .trainable_variables()
        .iter()
        .all(|t| t.requires_grad()));
}

#[test]
fn saving_replaces_a_file_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.safetensors");
    let old = vec![("w".to_string(), Tensor::from_slice(&[1.0f32, 2.0]))];
    let new = vec![("w".to_string(), Tensor::from_slice(&[3.0f32, 4.0]))];
    checkpoint::save(&path, &old, &BTreeMap::new()).unwrap();
    // A reader of the old file keeps reading the old file while it is replaced (rename, not rewrite).
    let reader = checkpoint::load(&path).unwrap();
    checkpoint::save(&path, &new, &BTreeMap::new()).unwrap();
    assert!(reader.tensor("w").unwrap().equal(&old[0].1));
    assert!(checkpoint::load(&path)
        .unwrap()
        .tensor("w")
        .unwrap()
        .equal(&new[0].1));
    // A save that fails leaves the existing file as it was, and nothing beside it.
    let bad = vec![
        ("w".to_string(), Tensor::from_slice(&[5.0f32])),
        ("w".to_string(), Tensor::from_slice(&[6.0f32])),
    ];
    let err = checkpoint::save(&path, &bad, &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("given twice"), "{err}");
    let unsupported = vec![(
        "c".to_string(),
        Tensor::zeros([2], (Kind::ComplexDouble, Device::Cpu)),
    )];
    let err = checkpoint::save(&path, &unsupported, &BTreeMap::new()).unwrap_err();
    assert!(matches!(err, CheckpointError::Tensor { .. }), "{err}");
    assert!(checkpoint::load(&path)
        .unwrap()
        .tensor("w")
        .unwrap()
        .equal(&new[0].1));
    assert_eq!(files_in(dir.path()), ["ckpt.safetensors"]);
    // An unwritable destination is an error naming it.
    let err = checkpoint::save(
        &dir.path().join("no/such/dir/x.safetensors"),
        &new,
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[derive(serde::Deserialize)]
struct Described {
    metadata: BTreeMap<String, String>,
    tensors: BTreeMap<String, DescribedTensor>,
}

#[derive(serde::Deserialize)]
struct DescribedTensor {
    dtype: String,
    shape: Vec<i64>,
    sum: f64,
}

#[test]
fn the_safetensors_package_reads_our_files() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.safetensors");
    let tensors = every_dtype();
    checkpoint::save(&path, &tensors, &metadata()).unwrap();
    let out = dir.path().join("described.json");
    run_oracle_script(&python, "checkpoint_read_safetensors.py", &[&path, &out]);
    let d: Described = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(d.metadata, metadata());
    assert_eq!(d.tensors.len(), tensors.len());
    for (name, t) in &tensors {
        let theirs = &d.tensors[name];
        assert_eq!(
            theirs.dtype,
            format!("torch.{}", DType::from_kind(t.kind()).unwrap()),
            "{name}"
        );
        assert_eq!(theirs.shape, t.size(), "{name}");
        let sum = if t.kind() == Kind::ComplexFloat {
            f64::try_from(t.to_kind(Kind::ComplexDouble).abs().sum(Kind::Double)).unwrap()
        } else {
            f64::try_from(t.to_kind(Kind::Double).sum(Kind::Double)).unwrap()
        };
        assert!(
            (sum - theirs.sum).abs() <= 1e-12 * sum.abs().max(1.0),
            "{name}: {sum} vs {}",
            theirs.sum
        );
    }
}

#[test]
fn damaged_safetensors_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    checkpoint::save(&path, &every_dtype(), &metadata()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for cut in [8, 9, 20, bytes.len() / 2, bytes.len() - 1] {
        let p = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let err = checkpoint::load(&p).expect_err("a truncated file loaded");
        assert!(
            matches!(err, CheckpointError::Corrupt { .. }),
            "cut {cut}: {err}"
        );
    }
    // A header that claims more data than there is.
    let mut damaged = bytes.clone();
    damaged[0] = damaged[0].wrapping_add(8);
    let p = dir.path().join("header.safetensors");
    std::fs::write(&p, &damaged).unwrap();
    assert!(checkpoint::load(&p).is_err());
}

#[test]
fn a_header_length_with_low_byte_0x80_is_not_taken_for_a_legacy_torch_file() {
    // The first byte of a safetensors file is the low byte of its header's length; 0x80 also starts a pickle.
    let dir = common::TempDir::new("ckpt-0x80");
    let path = dir.0.join("x.safetensors");
    let mut found = false;
    for n in 1..200 {
        let tensors = vec![("w".repeat(n), Tensor::from_slice(&[1.0f32, 2.0]))];
        checkpoint::save(&path, &tensors, &BTreeMap::new()).unwrap();
        if std::fs::read(&path).unwrap()[0] == 0x80 {
            found = true;
            let sd = checkpoint::load(&path).unwrap();
            assert_eq!(sd.names().collect::<Vec<_>>(), vec!["w".repeat(n).as_str()]);
        }
    }
    assert!(found, "no name length gave a header length of 0x..80");
}
