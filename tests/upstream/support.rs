//! Shared by the upstream backend's tests: export a spec to files, and run the Hydra oracle
//! (`tests/upstream/hydra_oracle.py`) on configs.
#![allow(dead_code)]

use sam3c_compiler::upstream::{ExportOptions, ExportedConfig};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Meta's configs kept in the repository (verbatim, see tests/upstream/meta_configs/README.md).
pub fn meta_config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/upstream/meta_configs/{name}.yaml"))
}

/// The tokenizer vocabulary shipped in the repository (sam3's wheel lacks it).
pub fn bpe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/assets/bpe_simple_vocab_16e6.txt.gz")
}

/// Export a spec (every stage, `bpe_path` left as upstream's placeholder `<BPE_PATH>`) and write the configs
/// into `dir`. Panics with the rendered diagnostics on errors.
pub fn export_to(
    spec: &Path,
    dir: &Path,
    overrides: &[(&str, &str)],
) -> Vec<(ExportedConfig, PathBuf)> {
    let opts = ExportOptions {
        overrides: overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        stages: Vec::new(),
        bpe_path: Some("<BPE_PATH>".into()),
    };
    let out = sam3c_compiler::upstream::export(&crate::common::FsDb, spec, &opts).unwrap();
    assert!(
        !out.has_errors(),
        "{}",
        out.diagnostics
            .iter()
            .map(|d| sam3c_compiler::diag::render(d, &out.files, Default::default()))
            .collect::<String>()
    );
    std::fs::create_dir_all(dir).unwrap();
    out.configs
        .into_iter()
        .map(|c| {
            let path = dir.join(&c.file_name);
            std::fs::write(&path, &c.yaml).unwrap();
            (c, path)
        })
        .collect()
}

/// One config for the oracle: ours, optionally Meta's to compare with, the job-array tasks to resolve.
pub struct OracleConfig {
    pub name: String,
    pub ours: PathBuf,
    pub upstream: Option<PathBuf>,
    pub parent: Option<PathBuf>,
    pub tasks: Vec<usize>,
    pub instantiate: bool,
}

/// The placeholders of Meta's configs, filled with the same directories on both sides.
pub fn placeholders(root: &Path) -> Vec<(String, String)> {
    let data = root.join("data").display().to_string();
    vec![
        ("<YOUR_DATASET_DIR>".into(), data.clone()),
        ("<YOUR_DATA_DIR>".into(), data),
        (
            "<YOUR EXPERIMENET LOG_DIR>".into(),
            root.join("runs").display().to_string(),
        ),
        ("<BPE_PATH>".into(), bpe_path().display().to_string()),
    ]
}

/// Run the oracle; returns its report (`configs[i]` has `differences`, `outputs`, `groups`, maybe `error`).
pub fn run_hydra_oracle(python: &Path, root: &Path, configs: &[OracleConfig]) -> serde_json::Value {
    let manifest = serde_json::json!({
        "work": root.join("work"),
        "plugin": Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cmd/sam3c_searchpath.py"),
        "bpe_path": bpe_path(),
        "placeholders": placeholders(root).into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect::<serde_json::Map<String, serde_json::Value>>(),
        "configs": configs.iter().map(|c| serde_json::json!({
            "name": c.name,
            "ours": c.ours,
            "upstream": c.upstream,
            "parent": c.parent,
            "tasks": c.tasks,
            "instantiate": c.instantiate,
        })).collect::<Vec<_>>(),
    });
    let manifest_path = root.join("manifest.json");
    let result_path = root.join("result.json");
    std::fs::write(
        &manifest_path,
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream/hydra_oracle.py");
    // Relative paths in the configs (none in these tests) and train.py's default log dir resolve here.
    let output = Command::new(python)
        .arg(&script)
        .arg(&manifest_path)
        .arg(&result_path)
        .current_dir(root)
        .output()
        .expect("failed to start the oracle interpreter");
    assert!(
        output.status.success(),
        "hydra_oracle.py failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&result_path).unwrap()).unwrap()
}

/// The report of one config, after checking it has no error.
pub fn config_report<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let c = report["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no report for {name}"));
    assert!(
        c.get("error").is_none(),
        "{name}: {}",
        c["error"].as_str().unwrap_or("")
    );
    c
}

/// Every instantiated group built without an error.
pub fn assert_groups_built(c: &serde_json::Value) {
    let groups = c["groups"].as_object().unwrap();
    assert!(
        !groups.is_empty(),
        "{}: nothing was instantiated",
        c["name"]
    );
    for (name, g) in groups {
        assert!(
            g.get("error").is_none(),
            "{}: {name} failed:\n{}",
            c["name"],
            g["error"].as_str().unwrap_or("")
        );
    }
}
