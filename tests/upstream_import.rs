//! `sam3c import`: Meta's configs round-trip (import, check clean, export, and Hydra resolves the export to Meta's
//! config on every key the trainer reads); what a spec cannot say is a coded diagnostic at the YAML line; the
//! mistakes of Meta's factory guide come out as the checker's diagnostics in the imported spec.

mod common;
#[path = "upstream/support.rs"]
mod support;

use sam3c_compiler::upstream::{import, ImportOptions, ImportOutput};
use sam3c_compiler::CheckOptions;
use std::path::{Path, PathBuf};
use support::*;

const META: &[&str] = &[
    "roboflow_v100_full_ft_100_images",
    "roboflow_v100_eval",
    "odinw_text_only",
    "odinw_text_only_train",
];

fn import_file(path: &Path, parent: Option<PathBuf>) -> ImportOutput {
    import(&common::FsDb, path, &ImportOptions { parent })
}

fn codes(out: &ImportOutput) -> Vec<&'static str> {
    out.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

/// Import, write the spec beside `dir`, check it; the checker's codes.
fn import_and_check(yaml: &Path, dir: &Path) -> (ImportOutput, PathBuf, Vec<&'static str>) {
    let out = import_file(yaml, None);
    let spec = dir.join(format!(
        "{}.sam3x",
        yaml.file_stem().unwrap().to_string_lossy()
    ));
    std::fs::write(&spec, out.spec.as_deref().expect("a spec")).unwrap();
    let checked = sam3c_compiler::check(&common::FsDb, &spec, &CheckOptions::default());
    let codes = checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    (out, spec, codes)
}

#[test]
fn meta_configs_round_trip_through_import_and_export() {
    let Some(python) = sam3c_testkit::oracle_python() else {
        return;
    };
    let root = sam3c_testkit::TempDir::new("upstream-import");
    let specs = root.join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    let mut configs = Vec::new();
    for name in META {
        let (out, spec, checked) = import_and_check(&meta_config(name), &specs);
        assert!(!out.has_errors(), "{name}: {:?}", codes(&out));
        // Only keys no code reads are dropped.
        assert!(
            codes(&out).iter().all(|c| *c == "W0812"),
            "{name}: {:?}",
            codes(&out)
        );
        assert!(
            checked.is_empty(),
            "{name}: the imported spec checks with {checked:?}"
        );
        for (c, path) in export_to(&spec, &root.join("ours"), &[]) {
            assert_eq!(c.stage, *name);
            configs.push(OracleConfig {
                name: c.stage.clone(),
                ours: path,
                upstream: Some(meta_config(name)),
                parent: None,
                tasks: (0..c.tasks).collect(),
                instantiate: false,
            });
        }
    }
    assert_eq!(configs.len(), META.len());
    let report = run_hydra_oracle(&python, root.path(), &configs);
    for name in META {
        let c = config_report(&report, name);
        let differences: Vec<&str> = c["differences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert!(
            differences.is_empty(),
            "{name}: {} differences after the round trip:\n{}",
            differences.len(),
            differences[..differences.len().min(40)].join("\n")
        );
    }
}

#[test]
fn job_arrays_become_sweeps() {
    let roboflow = import_file(&meta_config("roboflow_v100_eval"), None);
    let spec = roboflow.spec.unwrap();
    assert!(
        spec.contains("param supercategory: Str = sweep([\n    \"-grccs\", \"zebrasatasturias\""),
        "{spec}"
    );
    assert!(
        spec.contains("images = \"<YOUR_DATASET_DIR>/${supercategory}/test/\""),
        "{spec}"
    );
    // ODinW picks a record per task: the varying values become its fields, prompts as a map by category id.
    let odinw = import_file(&meta_config("odinw_text_only"), None)
        .spec
        .unwrap();
    assert!(odinw.contains("param task: {"), "{odinw}");
    for field in [
        "\"1\" = \"boat\"",
        "\"5\" = \"boat lift\"",
        "\"2\" = \"chanterelle\"",
    ] {
        assert!(odinw.contains(field), "{field}:\n{odinw}");
    }
    assert!(odinw.contains("prompts = task.val_prompts"), "{odinw}");
}

/// A small trainer config, changed per test.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn meta_text(name: &str) -> String {
    std::fs::read_to_string(meta_config(name)).unwrap()
}

fn span_text<'a>(out: &'a ImportOutput, code: &str) -> &'a str {
    let d = out
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == code)
        .unwrap_or_else(|| panic!("no {code}: {:?}", codes(out)));
    let label = &d.labels[0];
    let file = out.files.get(label.file);
    file.slice(label.span)
}

#[test]
fn what_a_spec_cannot_say_is_e0811_at_the_yaml_line() {
    let dir = sam3c_testkit::TempDir::new("import-e0811");
    let text = meta_text("roboflow_v100_full_ft_100_images").replace(
        "      alpha: 0.3\n      threshold: 0.4\n",
        "      alpha: 0.3\n      threshold: 0.4\n      ignore_crowds: 7\n",
    );
    let out = import_file(&write(dir.path(), "cfg.yaml", &text), None);
    assert!(out.has_errors());
    assert_eq!(span_text(&out, "E0811"), "7");
    let d = out
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == "E0811")
        .unwrap();
    assert!(
        d.message
            .contains("`one_to_many` has no parameter for upstream's `ignore_crowds`"),
        "{}",
        d.message
    );
    // The rest is still imported, for completion by hand.
    assert!(out.spec.is_some());
}

#[test]
fn unreadable_configs_are_e0810() {
    let dir = sam3c_testkit::TempDir::new("import-e0810");
    let bad = import_file(&write(dir.path(), "bad.yaml", "trainer: [1, 2\n"), None);
    assert_eq!(codes(&bad), ["E0810"]);
    let text = meta_text("roboflow_v100_eval")
        .replace("${scratch.val_batch_size}", "${scratch.no_such_key}");
    let unresolved = import_file(&write(dir.path(), "cfg.yaml", &text), None);
    assert_eq!(codes(&unresolved), ["E0810"]);
    assert_eq!(span_text(&unresolved, "E0810"), "${scratch.no_such_key}");
    let orphan = write(dir.path(), "child.yaml", "# @package _global_\ndefaults:\n  - /configs/eval_base.yaml\n  - _self_\ntrainer:\n  mode: val\n");
    let no_parent = import_file(&orphan, None);
    assert_eq!(codes(&no_parent), ["E0810"]);
    assert_eq!(span_text(&no_parent, "E0810"), "/configs/eval_base.yaml");
}

#[test]
fn a_defaults_list_parent_is_merged_under_the_config() {
    let dir = sam3c_testkit::TempDir::new("import-parent");
    // Meta's eval config split in two: the parent has everything, the child overrides the batch size.
    let full = meta_text("roboflow_v100_eval");
    write(dir.path(), "eval_base.yaml", &full);
    let child = write(
        dir.path(),
        "gold.yaml",
        "# @package _global_\ndefaults:\n  - /configs/eval_base.yaml\n  - _self_\nscratch:\n  val_batch_size: 4\n",
    );
    let merged = import_file(&child, None);
    assert!(!merged.has_errors(), "{:?}", codes(&merged));
    let spec = merged.spec.unwrap();
    assert!(spec.contains("batch = 4"), "{spec}");
    assert!(spec.contains("evaluation gold {"), "{spec}");
    // The same parent given explicitly from elsewhere.
    let elsewhere = sam3c_testkit::TempDir::new("import-parent-2");
    let parent = write(elsewhere.path(), "base.yaml", &full);
    let explicit = import_file(&child, Some(parent));
    assert_eq!(explicit.spec.unwrap(), spec);
}

#[test]
fn a_job_array_nothing_reads_is_w0813() {
    let dir = sam3c_testkit::TempDir::new("import-w0813");
    let text = meta_text("roboflow_v100_eval").replace(
        "supercategory: ${all_roboflow_supercategories.${string:${submitit.job_array.task_index}}}",
        "supercategory: -grccs",
    );
    let out = import_file(&write(dir.path(), "cfg.yaml", &text), None);
    assert!(codes(&out).contains(&"W0813"), "{:?}", codes(&out));
    assert!(!out.spec.unwrap().contains("sweep("));
}

#[test]
fn the_factory_guide_mistakes_come_out_as_the_checkers_diagnostics() {
    let dir = sam3c_testkit::TempDir::new("import-mistakes");
    // A segm meter whose postprocessor keeps boxes only.
    let segm = meta_text("roboflow_v100_eval").replace(
        "iou_type: \"bbox\"\n          dump_dir",
        "iou_type: \"segm\"\n          dump_dir",
    );
    let (_, spec, checked) =
        import_and_check(&write(dir.path(), "segm_meter.yaml", &segm), dir.path());
    assert!(
        checked.contains(&"E0501"),
        "{checked:?}\n{}",
        std::fs::read_to_string(&spec).unwrap()
    );
    // Stage 2 resuming from stage 1's checkpoint instead of initializing from it.
    let resume = meta_text("roboflow_v100_full_ft_100_images").replace(
        "    save_freq: 0  # 0 only last checkpoint is saved.\n",
        "    save_freq: 0\n    resume_from: /runs/stage1/checkpoints/checkpoint.pt\n",
    );
    let (_, spec, checked) =
        import_and_check(&write(dir.path(), "stage2.yaml", &resume), dir.path());
    assert!(
        checked.contains(&"E0302"),
        "{checked:?}\n{}",
        std::fs::read_to_string(&spec).unwrap()
    );
}
