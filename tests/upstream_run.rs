//! `sam3c run --backend upstream`: the configs land where Meta's trainer composes them (checked with the trainer's
//! own `initialize_config_module("sam3.train")` + `compose`), and a missing `sam3` package or a missing GPU stops
//! the launch with a clear error before anything runs. No GPU is needed: the GPU check is made to see none.

use std::path::Path;
use std::process::{Command, Output};

fn sam3c_run(args: &[&str], python: &Path, cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sam3c"))
        .arg("run")
        .arg("--backend")
        .arg("upstream")
        .args(args)
        .env("NO_COLOR", "1")
        .env("SAM3C_PYTHON", python)
        // Whatever the machine, the trainer's interpreter sees no GPU.
        .env("CUDA_VISIBLE_DEVICES", "")
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_trainer_composes_the_configs_run_writes() {
    let Some(python) = sam3c_testkit::oracle_python() else {
        return;
    };
    let dir = sam3c_testkit::TempDir::new("upstream-run");
    let configs = dir.join("configs");
    let out = sam3c_run(
        &[
            &example("roboflow_v100.sam3x"),
            "--dry-run",
            "--config-dir",
            configs.to_str().unwrap(),
            "--cluster",
            "slurm",
            "--partition",
            "learn",
            "--nodes",
            "2",
        ],
        &python,
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(commands.len(), 2, "{stdout}");
    for (command, name) in commands
        .iter()
        .zip(["roboflow_v100_full_ft_100_images", "roboflow_v100_eval"])
    {
        assert!(
            command.ends_with(&format!(
                "-m sam3.train.train -c {name}.yaml --use-cluster 1 --partition learn --num-nodes 2"
            )),
            "{command}"
        );
    }
    // The trainer's own loading, in the environment the printed commands set.
    let compose = r#"
import sys
from hydra import compose, initialize_config_module
from sam3.train.utils.train_utils import register_omegaconf_resolvers
initialize_config_module("sam3.train", version_base="1.2")
register_omegaconf_resolvers()
for name in sys.argv[1:]:
    cfg = compose(config_name=name)
    print(name, cfg.trainer.mode, cfg.submitit.job_array.num_tasks, cfg.trainer.data.val.dataset.img_folder)
"#;
    let composed = Command::new(&python)
        .args([
            "-c",
            compose,
            "roboflow_v100_full_ft_100_images.yaml",
            "roboflow_v100_eval.yaml",
        ])
        .env("PYTHONPATH", configs.join("plugin"))
        .env("SAM3C_CONFIG_PATH", &configs)
        .output()
        .unwrap();
    assert!(composed.status.success(), "{}", text(&composed));
    assert_eq!(
        String::from_utf8_lossy(&composed.stdout),
        "roboflow_v100_full_ft_100_images.yaml train 100 <YOUR_DATASET_DIR>/-grccs/test\n\
         roboflow_v100_eval.yaml val 100 <YOUR_DATASET_DIR>/-grccs/test\n"
    );
}

#[test]
fn a_python_without_sam3_is_a_clear_error() {
    let Some(python) = sam3c_testkit::oracle_python() else {
        return;
    };
    let dir = sam3c_testkit::TempDir::new("upstream-run-nosam3");
    // A fresh environment of the same interpreter, without site packages: no sam3.
    let venv = dir.join("venv");
    let made = Command::new(&python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let bare = venv.join("bin/python");
    let out = sam3c_run(
        &[
            &example("roboflow_v100.sam3x"),
            "--config-dir",
            dir.join("configs").to_str().unwrap(),
        ],
        &bare,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "error: the `sam3` package is not installed for `{}`",
            bare.display()
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn a_local_run_without_a_gpu_is_a_clear_error() {
    let Some(python) = sam3c_testkit::oracle_python() else {
        return;
    };
    let dir = sam3c_testkit::TempDir::new("upstream-run-nogpu");
    let out = sam3c_run(
        &[
            &example("odinw_text_only.sam3x"),
            "--config-dir",
            dir.join("configs").to_str().unwrap(),
        ],
        &python,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("error: no CUDA GPU is visible to")
            && text(&out).contains("--cluster slurm"),
        "{}",
        text(&out)
    );
    // Nothing was launched: the trainer would have created its log directory.
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["configs"], "the trainer ran");
}
