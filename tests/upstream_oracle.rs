//! The upstream backend against Meta's trainer, live: the configs `sam3c export --backend upstream` writes for the
//! examples are composed by Hydra as train.py composes them, resolved with sam3's resolvers, compared with Meta's
//! own configs on every key the trainer reads (tests/upstream/hydra_oracle.py says what "equal" means), and every
//! component group is instantiated with the sam3 package on CPU (generated COCO data, a reduced-size model built
//! from sam3's classes).

mod common;
#[path = "upstream/support.rs"]
mod support;

use std::path::Path;
use support::*;

/// The examples that mirror Meta's configs, with the config each of their stages must equal.
const PAIRS: &[(&str, &[&str])] = &[
    (
        "examples/roboflow_v100.sam3x",
        &["roboflow_v100_full_ft_100_images", "roboflow_v100_eval"],
    ),
    (
        "examples/odinw_text_only.sam3x",
        &["odinw_text_only", "odinw_text_only_train"],
    ),
];

#[test]
fn exported_examples_equal_meta_configs_and_instantiate_with_sam3() {
    let Some(python) = sam3c_testkit::oracle_python() else {
        return;
    };
    let root = sam3c_testkit::TempDir::new("upstream-oracle");
    let mut configs = Vec::new();
    let mut tasks_of = std::collections::HashMap::new();
    for (spec, names) in PAIRS {
        let exported = export_to(Path::new(spec), &root.path().join("ours"), &[]);
        let mut got: Vec<&str> = exported.iter().map(|(c, _)| c.stage.as_str()).collect();
        got.sort();
        let mut want = names.to_vec();
        want.sort();
        assert_eq!(got, want, "{spec}: exported stages");
        for (c, path) in exported {
            tasks_of.insert(c.stage.clone(), c.tasks);
            configs.push(OracleConfig {
                name: c.stage.clone(),
                ours: path,
                upstream: Some(meta_config(&c.stage)),
                parent: None,
                // Every job-array task: each picks its dataset through the sweep table.
                tasks: (0..c.tasks).collect(),
                instantiate: true,
            });
        }
    }
    let report = run_hydra_oracle(&python, root.path(), &configs);
    let runs = root.path().join("runs").display().to_string();
    for (_, names) in PAIRS {
        for name in *names {
            let c = config_report(&report, name);
            let differences: Vec<&str> = c["differences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap())
                .collect();
            assert!(
                differences.is_empty(),
                "{name}: {} differences with Meta's config:\n{}",
                differences.len(),
                differences[..differences.len().min(40)].join("\n")
            );
            assert_groups_built(c);
            // Outputs: under the experiment directory, and each job-array task in its own place.
            let outputs = c["outputs"].as_object().unwrap();
            assert_eq!(outputs.len(), tasks_of[*name], "{name}: tasks resolved");
            let mut save_dirs = std::collections::HashSet::new();
            for per_task in outputs.values() {
                for (key, path) in per_task.as_object().unwrap() {
                    let path = path.as_str().unwrap_or_default();
                    assert!(
                        path.starts_with(&format!("{runs}/{name}")),
                        "{name}: {key} = {path} is not in the stage's directory"
                    );
                }
                save_dirs.insert(
                    per_task["trainer.checkpoint.save_dir"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            assert_eq!(
                save_dirs.len(),
                tasks_of[*name],
                "{name}: tasks share checkpoints"
            );
        }
    }
    // What was built: the real classes, keyed as the trainer routes batches.
    let train = config_report(&report, "roboflow_v100_full_ft_100_images");
    let g = &train["groups"];
    assert_eq!(g["data.train"]["dict_keys"], serde_json::json!(["all"]));
    assert_eq!(
        g["data.val"]["dict_keys"],
        serde_json::json!(["roboflow100"])
    );
    assert_eq!(
        g["data.train"]["image_shape"],
        serde_json::json!([3, 1008, 1008])
    );
    assert_eq!(
        g["data.train"]["transforms"],
        serde_json::json!(["ComposeAPI"]),
        "one ComposeAPI"
    );
    assert_eq!(g["loss"]["all"]["class"], "Sam3LossWrapper");
    assert_eq!(
        g["loss"]["all"]["terms"],
        serde_json::json!(["Boxes", "IABCEMdetr"])
    );
    assert_eq!(g["loss"]["default"]["class"], "DummyLoss");
    // Layer decay over the reduced trunk (2 blocks) times 3 learning-rate groups times 2 weight decays.
    assert!(
        g["optimizer"]["groups"].as_u64().unwrap() > 6,
        "{}",
        g["optimizer"]
    );
    assert_eq!(
        g["optimizer"]["weight_decays"],
        serde_json::json!([0.0, 0.1])
    );
    let meter = &g["meters"]["val.roboflow100.detection"];
    assert_eq!(meter["class"], "PredictionDumper");
    assert_eq!(
        meter["evaluators"],
        serde_json::json!(["CocoEvaluatorOfflineWithPredFileEvaluators"])
    );
    let odinw = &config_report(&report, "odinw_text_only")["groups"];
    assert_eq!(
        odinw["data.val"]["dict_keys"],
        serde_json::json!(["odinw35"])
    );
    assert_eq!(odinw["trainer"]["mode"], "val");
}

#[test]
fn a_stage_initialized_from_another_loads_its_checkpoint_and_accumulates_in_chunks() {
    let Some(python) = sam3c_testkit::oracle_python() else {
        return;
    };
    let root = sam3c_testkit::TempDir::new("upstream-init");
    let spec = root.path().join("two_stages.sam3x");
    std::fs::write(
        &spec,
        format!(
            r#"import "std/sam3.sam3x" as sam3

experiment {{
    name = "two_stages"
    out = "{runs}"
}}

dataset parts = coco_images {{
    images = "{data}/train"
    annotations = "{data}/train/_annotations.coco.json"
}}

dataset parts_test = coco_images {{
    images = "{data}/test"
    annotations = "{data}/test/_annotations.coco.json"
}}

pipeline train_images = [
    filter_crowds,
    decode_masks,
    random_resize([448px, 504px], square = true),
    pad(504px),
    hflip(),
    filter_empty,
    normalize(),
    max_objects(50),
]

pipeline eval_images = [decode_masks, resize(504px, square = true), normalize()]

model detector = sam3_image {{}}

meter segm_ap = coco_ap(segm, data = parts_test, pipeline = eval_images)

stage spatial {{
    model = detector
    data = parts
    pipeline = train_images
    loss = sam3.detection_masks_semantic
    optimizer = sam3.finetune
    schedule = sam3.inverse_sqrt_20
    epochs = 2 epochs
    eval = [segm_ap]
}}

stage refine {{
    init = spatial
    model = detector
    data = parts
    pipeline = train_images
    loss = sam3.detection_masks
    optimizer = adamw {{
        lr = 1e-4
        no_decay = ["*bias*", LayerNorm, GroupNorm]
        clip_norm = 1.0
    }}
    schedule = cosine()
    epochs = 2 epochs
    batch = 4
    accumulate = 2
    precision = fp16
    eval = [segm_ap]
    save_every = 1 epochs
}}
"#,
            runs = root.path().join("runs").display(),
            data = root.path().join("data").display(),
        ),
    )
    .unwrap();
    let exported = export_to(&spec, &root.path().join("ours"), &[]);
    let configs: Vec<OracleConfig> = exported
        .iter()
        .map(|(c, path)| OracleConfig {
            name: c.stage.clone(),
            ours: path.clone(),
            upstream: None,
            parent: None,
            tasks: vec![0],
            instantiate: true,
        })
        .collect();
    let report = run_hydra_oracle(&python, root.path(), &configs);
    for name in ["spatial", "refine"] {
        assert_groups_built(config_report(&report, name));
    }
    let spatial = &config_report(&report, "spatial")["groups"];
    assert_eq!(
        spatial["loss"]["all"]["terms"],
        serde_json::json!(["Boxes", "IABCEMdetr", "Masks"])
    );
    let meter = &spatial["meters"]["val.parts_test.segm_ap"];
    assert_eq!(meter["iou_type"], "segm");
    assert_eq!(
        meter["postprocessor_iou_type"], "segm",
        "a segm meter gets masks"
    );
    let refine = &config_report(&report, "refine")["groups"];
    assert_eq!(
        refine["checkpoint.model_weight_initializer"]["loaded"], true,
        "stage 2 starts from stage 1's weights"
    );
    assert_eq!(
        refine["data.train"]["chunks"], 2,
        "accumulate = 2: the batch comes in 2 chunks"
    );
    assert!(refine["data.train"]["transforms"].as_array().is_some());
}
