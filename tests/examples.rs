//! The examples: each checks clean, its resolved form (every default written out) is snapshotted, and each
//! stage's configuration deserializes into the runtime's structs.

mod common;

use sam3c_compiler::checks::StageKind;
use sam3c_stdlib::components::stage::{Evaluation, Stage};

#[test]
fn examples_check_clean_and_resolve_as_snapshotted() {
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples"),
        "*.sam3x",
        |path| {
            let path = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
            let out = common::check_file(path);
            assert!(
                out.diagnostics.is_empty(),
                "{} has diagnostics:\n{}",
                path.display(),
                common::render_all(&out)
            );
            let spec = out.spec.unwrap();
            insta::assert_snapshot!(spec.resolved());
        }
    );
}

#[test]
fn stage_configs_deserialize_into_the_runtime_structs() {
    for path in common::specs_in("examples") {
        let spec = common::check_file(&path).spec.unwrap();
        assert!(!spec.stages.is_empty(), "{} has no stages", path.display());
        for stage in &spec.stages {
            let json = spec.stage_config(stage);
            match stage.kind {
                StageKind::Train => {
                    let s: Stage = serde_json::from_value(json.clone()).unwrap_or_else(|e| {
                        panic!("{}: stage {}: {e}\n{json:#}", path.display(), stage.name)
                    });
                    assert!(s.epochs.0 > 0);
                }
                StageKind::Evaluate => {
                    let e: Evaluation = serde_json::from_value(json.clone()).unwrap_or_else(|e| {
                        panic!(
                            "{}: evaluation {}: {e}\n{json:#}",
                            path.display(),
                            stage.name
                        )
                    });
                    assert!(!e.eval.is_empty());
                }
            }
        }
    }
}

#[test]
fn the_factory_stages_run_in_dependency_order() {
    let spec = common::check_file(std::path::Path::new("examples/factory.sam3x"))
        .spec
        .unwrap();
    let names: Vec<&str> = spec.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["spatial", "temporal"]);
    assert_eq!(spec.stages[1].init_from, Some(spec.stages[0].decl));
}

#[test]
fn sweeps_select_their_values_by_index() {
    let path = std::path::Path::new("examples/roboflow_v100.sam3x");
    let text = std::fs::read_to_string(path).unwrap();
    let mut opts = common::options_from_header(&text);
    for (index, expected) in [(0, "-grccs"), (1, "zebrasatasturias"), (99, "cable-damage")] {
        opts.sweep_index = index;
        let out = sam3c_compiler::check(&common::FsDb, path, &opts);
        let spec = out.spec.unwrap();
        assert_eq!(spec.sweep_size(), 100);
        let stage = spec.stage("roboflow_v100_full_ft_100_images").unwrap();
        let config = spec.stage_config(stage);
        let images = config["data"]["CocoImages"]["images"].as_str().unwrap();
        assert_eq!(images, format!("<YOUR_DATASET_DIR>/{expected}/train"));
    }
}

#[test]
fn check_reports_a_problem_of_one_sweep_combination_with_its_values() {
    let text = std::fs::read_to_string("examples/quickstart.sam3x")
        .unwrap()
        .replace(
            "param resolution: Pixels = 224px",
            "param resolution: Pixels = sweep([224px, 300px, 448px])",
        );
    let db = sam3c_compiler::MemoryDb::default().with("q.sam3x", text);
    let opts = sam3c_compiler::CheckOptions {
        every_sweep: true,
        ..Default::default()
    };
    let out = sam3c_compiler::check(&db, std::path::Path::new("q.sam3x"), &opts);
    let e0306: Vec<_> = out
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "E0306")
        .collect();
    assert_eq!(e0306.len(), 1, "{}", common::render_all(&out));
    assert!(
        e0306[0].message.starts_with("300px"),
        "{}",
        e0306[0].message
    );
    assert!(
        e0306[0]
            .notes
            .iter()
            .any(|n| n == "with the sweep values `resolution = 300px`"),
        "{:?}",
        e0306[0].notes
    );
    // Checking only the first combination does not see it.
    let first = sam3c_compiler::check(&db, std::path::Path::new("q.sam3x"), &Default::default());
    assert!(!first.has_errors());
}

#[test]
fn the_catalog_defaults_of_tracker_prompts_are_the_runtime_defaults() {
    use sam3c_stdlib::components::model::{ModelSpec, TrackerPrompts};
    let text = r#"
dataset clips = ytvis_videos {
    frames = "videos"
    annotations = "videos/annotations.json"
}

stage temporal {
    model = sam3_video {}
    data = clips
    pipeline = [decode_masks, resize(1008px, square = true), normalize()]
    loss = tracker_loss()
    optimizer = adamw { lr = 1e-4 }
    epochs = 1 epochs
}
"#;
    let db = sam3c_compiler::MemoryDb::default().with("v.sam3x", text.to_string());
    let out = sam3c_compiler::check(&db, std::path::Path::new("v.sam3x"), &Default::default());
    assert!(!out.has_errors(), "{}", common::render_all(&out));
    let spec = out.spec.unwrap();
    let stage: Stage = serde_json::from_value(spec.stage_config(&spec.stages[0])).unwrap();
    let ModelSpec::Sam3Video(model) = stage.model else {
        panic!("a video model")
    };
    // `tracker_prompts()` in the catalog and `TrackerPrompts::default()` (the runtime's recipe) agree.
    assert_eq!(model.prompts, TrackerPrompts::default());
}
