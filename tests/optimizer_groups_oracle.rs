//! The optimizer's parameter groups on the full-size SAM 3 image model, against Meta's trainer, live: our
//! `groups::resolve` (what the runtime builds its AdamW from) on the `roboflow` stage of
//! `examples/roboflow_v100.sam3x`, and upstream's `construct_optimizer` on `build_sam3_image_model` with the
//! `trainer.optim` section of Meta's `roboflow_v100_full_ft_100_images.yaml` (a copy in tests/upstream/meta_configs/). Same groups (73), same parameters in
//! each, same learning rates (layer decay and `lr_scale` included) and weight decays.

mod common;

use sam3c_compiler::checks::model_config;
use sam3c_compiler::CheckOptions;
use sam3c_stdlib::components::optim::AdamW;
use sam3c_stdlib::groups;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// (sorted parameter names) → (lr, weight decay), one entry per group.
type Groups = BTreeMap<Vec<String>, (f64, f64)>;

fn ours() -> Groups {
    let path = Path::new("examples/roboflow_v100.sam3x");
    let out = sam3c_compiler::check(&common::FsDb, path, &CheckOptions::default());
    assert!(out.diagnostics.is_empty(), "{}", common::render_all(&out));
    let spec = out.spec.unwrap();
    let stage = spec.stage("roboflow").expect("the roboflow stage");
    let config = spec.stage_config(stage);
    let optimizer: AdamW = serde_json::from_value(config["optimizer"].clone()).unwrap();
    let lr_scale = config["lr_scale"].as_f64().unwrap();
    let (model, video) = model_config(stage.value.component("model").unwrap()).unwrap();
    assert!(!video);
    let params = sam3c_stdlib::arch::model_params(&model, false);
    let (resolution, issues) = groups::resolve(&optimizer, &params, lr_scale);
    assert!(issues.is_empty(), "{issues:?}");
    resolution
        .groups
        .into_iter()
        .map(|g| {
            let mut names = g.params;
            names.sort();
            (names, (g.lr, g.weight_decay))
        })
        .collect()
}

fn theirs(python: &Path, dir: &Path) -> Groups {
    let out = dir.join("groups.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/optimizer_groups.py");
    sam3c_testkit::run_python(
        python,
        &script,
        &[
            Path::new("tests/upstream/meta_configs/roboflow_v100_full_ft_100_images.yaml"),
            Path::new("runtime/assets/bpe_simple_vocab_16e6.txt.gz"),
            &out,
        ],
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let names = g["params"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            let (lr, wd) = (
                g["lr"].as_f64().unwrap(),
                g["weight_decay"].as_f64().unwrap(),
            );
            (names, (lr, wd))
        })
        .collect()
}

#[test]
fn roboflow_groups_equal_upstreams_on_the_full_model() {
    let Some(python) = sam3c_testkit::oracle_python() else {
        return;
    };
    let dir = sam3c_testkit::TempDir::new("optimizer-groups");
    let (ours, theirs) = (ours(), theirs(&python, dir.path()));
    for (names, (lr, wd)) in &theirs {
        let Some((our_lr, our_wd)) = ours.get(names) else {
            panic!(
                "upstream group of {} parameters (first {}) is not one of ours",
                names.len(),
                names[0]
            );
        };
        assert!(
            (our_lr - lr).abs() <= 1e-12 * lr.abs(),
            "lr of the group starting {}: ours {our_lr}, upstream {lr}",
            names[0]
        );
        assert_eq!(
            our_wd, wd,
            "weight decay of the group starting {}",
            names[0]
        );
    }
    assert_eq!(ours.len(), theirs.len(), "group counts differ");
    assert_eq!(
        theirs.len(),
        73,
        "Meta's roboflow optimizer makes 73 groups"
    );
}
