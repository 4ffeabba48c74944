//! `sam3c run --backend upstream`: export the spec, write the configs where Meta's trainer finds them, and launch
//! `python -m sam3.train.train -c <stage>.yaml` for each stage and evaluation, locally or on SLURM through the
//! trainer's own submitit path.
//!
//! The trainer composes `-c NAME` from its `sam3.train` config module only; a small Hydra search-path plugin
//! (`sam3c_searchpath.py`, put on `PYTHONPATH`) prepends the directory of the generated configs
//! (`SAM3C_CONFIG_PATH`), so nothing is copied into the installed package.

use crate::cmd::export::export_configs;
use crate::util::*;
use clap::ValueEnum;
use sam3c_compiler::upstream::ExportedConfig;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The search-path plugin, written beside the configs.
const SEARCH_PATH_PLUGIN: &str = include_str!("sam3c_searchpath.py");

/// What the launch needs from the Python environment, probed in one interpreter start.
const PROBE: &str = r#"
import importlib.util, json
out = {"sam3": None, "submitit": importlib.util.find_spec("submitit") is not None, "cuda_devices": None}
try:
    import sam3.train.train  # noqa: F401  (the trainer module itself, with its imports)
    from importlib.metadata import version
    out["sam3"] = version("sam3")
except ModuleNotFoundError as e:
    out["missing"] = e.name
except Exception as e:
    out["broken"] = f"{type(e).__name__}: {e}"
try:
    import torch
    out["cuda_devices"] = torch.cuda.device_count() if torch.cuda.is_available() else 0
except Exception:
    pass
print(json.dumps(out))
"#;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClusterKind {
    Slurm,
}

/// `sam3c run --backend upstream` options (the spec's `resources` give the defaults of the cluster settings).
pub struct LaunchOptions {
    pub set: Vec<String>,
    pub stages: Vec<String>,
    pub bpe_path: Option<String>,
    pub cluster: Option<ClusterKind>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub nodes: Option<u32>,
    pub gpus_per_node: Option<u32>,
    /// Where the configs go; default: `<experiment out>/upstream_configs`.
    pub config_dir: Option<PathBuf>,
    /// Write the configs and print the commands, launch nothing.
    pub dry_run: bool,
}

/// The interpreter of Meta's trainer: `$SAM3C_PYTHON`, else `python3` on the PATH.
pub fn trainer_python() -> PathBuf {
    std::env::var_os("SAM3C_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

pub fn run_upstream(file: &Path, opts: &LaunchOptions) -> ExitCode {
    let out = match export_configs(file, &opts.set, &opts.stages, opts.bpe_path.as_deref()) {
        Ok(Some(out)) => out,
        Ok(None) => return ExitCode::from(1),
        Err(e) => return usage_error(&e),
    };
    let config_dir = opts.config_dir.clone().unwrap_or_else(|| {
        let first = Path::new(&out.configs[0].experiment_dir);
        first
            .parent()
            .unwrap_or(Path::new("."))
            .join("upstream_configs")
    });
    let plugin_root = config_dir.join("plugin");
    if let Err(e) = write_configs(&config_dir, &plugin_root, &out.configs) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    let python = trainer_python();
    let commands: Vec<(&ExportedConfig, Vec<String>)> = out
        .configs
        .iter()
        .map(|c| (c, trainer_args(c, opts)))
        .collect();
    if opts.dry_run {
        println!("# configs in {}", config_dir.display());
        for (_, args) in &commands {
            println!(
                "PYTHONPATH={} SAM3C_CONFIG_PATH={} {} {}",
                plugin_root.display(),
                config_dir.display(),
                python.display(),
                args.join(" ")
            );
        }
        return ExitCode::SUCCESS;
    }
    if let Err(e) = probe(&python, opts) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    let python_path = match std::env::var_os("PYTHONPATH") {
        Some(p) if !p.is_empty() => {
            let mut v = plugin_root.clone().into_os_string();
            v.push(":");
            v.push(p);
            v
        }
        _ => plugin_root.clone().into_os_string(),
    };
    let mut submitted: Vec<&str> = Vec::new();
    for (c, args) in &commands {
        if opts.cluster.is_some() {
            // The trainer submits and returns: a stage that starts from another's checkpoint cannot be queued
            // before that job has written it.
            if let Some(dep) = c.after.iter().find(|d| submitted.contains(&d.as_str())) {
                eprintln!(
                    "not submitted: `{}` starts from `{dep}`'s checkpoint; once that job has finished, submit it with\n  \
                     PYTHONPATH={} SAM3C_CONFIG_PATH={} {} {}",
                    c.stage,
                    plugin_root.display(),
                    config_dir.display(),
                    python.display(),
                    args.join(" ")
                );
                continue;
            }
        }
        eprintln!("running {} ({})", c.stage, args.join(" "));
        let status = Command::new(&python)
            .args(args)
            .env("PYTHONPATH", &python_path)
            .env("SAM3C_CONFIG_PATH", &config_dir)
            .status();
        match status {
            Ok(s) if s.success() => submitted.push(&c.stage),
            Ok(s) => {
                eprintln!(
                    "error: Meta's trainer failed on `{}` ({s}); its logs are under {}",
                    c.stage, c.experiment_dir
                );
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("error: cannot start `{}`: {e}", python.display());
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

fn write_configs(
    config_dir: &Path,
    plugin_root: &Path,
    configs: &[ExportedConfig],
) -> Result<(), String> {
    let plugins = plugin_root.join("hydra_plugins");
    std::fs::create_dir_all(&plugins)
        .map_err(|e| format!("cannot create `{}`: {e}", plugins.display()))?;
    let plugin = plugins.join("sam3c_searchpath.py");
    std::fs::write(&plugin, SEARCH_PATH_PLUGIN)
        .map_err(|e| format!("cannot write `{}`: {e}", plugin.display()))?;
    for c in configs {
        let path = config_dir.join(&c.file_name);
        write_atomically(&path, &c.yaml)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        eprintln!("wrote {} ({})", path.display(), c.stage);
    }
    Ok(())
}

/// train.py's arguments; the command-line cluster settings override the config's, as train.py gives them priority.
fn trainer_args(c: &ExportedConfig, opts: &LaunchOptions) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-m".into(),
        "sam3.train.train".into(),
        "-c".into(),
        c.file_name.clone(),
        "--use-cluster".into(),
        if opts.cluster.is_some() { "1" } else { "0" }.into(),
    ];
    let mut push = |flag: &str, v: Option<String>| {
        if let Some(v) = v {
            args.push(flag.into());
            args.push(v);
        }
    };
    push("--partition", opts.partition.clone());
    push("--account", opts.account.clone());
    push("--qos", opts.qos.clone());
    push("--num-nodes", opts.nodes.map(|n| n.to_string()));
    push("--num-gpus", opts.gpus_per_node.map(|n| n.to_string()));
    args
}

/// The interpreter has sam3 (and submitit for a cluster), and a local run has the GPUs it asks for.
fn probe(python: &Path, opts: &LaunchOptions) -> Result<(), String> {
    let output = Command::new(python)
        .arg("-c")
        .arg(PROBE)
        .output()
        .map_err(|e| {
            format!(
                "cannot start the Python interpreter `{}` ({e}); set SAM3C_PYTHON to the interpreter of an \
                 environment with Meta's `sam3` package",
                python.display()
            )
        })?;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|_| {
        format!(
            "`{}` could not probe its environment:\n{}",
            python.display(),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    if report["sam3"].is_null() {
        let why = match (report["missing"].as_str(), report["broken"].as_str()) {
            (Some("sam3"), _) => "the `sam3` package is not installed".to_string(),
            (Some(m), _) => {
                format!("Meta's trainer needs the `{m}` package, which is not installed")
            }
            (None, Some(b)) => format!("`import sam3.train.train` fails: {b}"),
            (None, None) => "`import sam3.train.train` fails".to_string(),
        };
        return Err(format!(
            "{why} for `{}`: install Meta's trainer there (`pip install sam3==0.1.4 hydra-core submitit`), or \
             point SAM3C_PYTHON at an interpreter that has it",
            python.display()
        ));
    }
    if opts.cluster.is_some() {
        if report["submitit"] != true {
            return Err(format!(
                "`--cluster slurm` submits through the `submitit` package, which `{}` lacks (`pip install submitit`)",
                python.display()
            ));
        }
        return Ok(());
    }
    let devices = report["cuda_devices"].as_u64().unwrap_or(0);
    let wanted = opts.gpus_per_node.map(u64::from);
    if devices == 0 {
        return Err(format!(
            "no CUDA GPU is visible to `{}`: Meta's trainer runs on CUDA only (`accelerator: cuda`). Submit to a \
             cluster with `--cluster slurm --partition P`, or train on this machine with sam3c's native runtime \
             (`sam3c run FILE`)",
            python.display()
        ));
    }
    if let Some(w) = wanted.filter(|&w| w > devices) {
        return Err(format!(
            "`--gpus-per-node {w}` but `{}` sees {devices} CUDA GPU{}",
            python.display(),
            if devices == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}
