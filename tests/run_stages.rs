//! `sam3c run` on a short image stage (8 demo images, 4 steps per epoch, 2 epochs): what a stage writes, exact
//! resume after an interruption, up-to-date stages, and the errors that stop a run before anything trains.

mod run_support;

use run_support::*;
use std::path::Path;

const SPEC: &str = "short_stage.sam3x";

fn run(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", SPEC, "--out", out, "--threads", "1"];
    args.extend_from_slice(extra);
    sam3c(dir, &args)
}

#[test]
fn an_interrupted_and_resumed_stage_ends_with_the_same_weights_as_an_uninterrupted_one() {
    let tmp = TempDir::new("run-resume");
    let dir = tmp.path();
    spec_in(dir, SPEC);

    let straight = run(dir, "straight", &[]);
    assert!(straight.status.success(), "{}", describe(&straight));
    let stage = dir.join("straight/pretrain");
    for file in [
        "checkpoints/latest.safetensors",
        "checkpoints/epoch_1.safetensors",
        "checkpoints/epoch_2.safetensors",
        "checkpoints/final.safetensors",
        "logs/train.log",
    ] {
        assert!(stage.join(file).is_file(), "{file} missing");
    }
    assert!(dir.join("straight/spec.sam3x").is_file());
    let resolved = std::fs::read_to_string(dir.join("straight/spec.resolved.sam3x")).unwrap();
    assert!(resolved.contains("pretrain"), "{resolved}");
    let events: Vec<_> = std::fs::read_dir(stage.join("tensorboard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(events.len(), 1);
    let tb = std::fs::read(&events[0]).unwrap();
    let has_tag = |tag: &str| tb.windows(tag.len()).any(|w| w == tag.as_bytes());
    assert!(has_tag("Step_Losses/Losses/train_all_loss"));
    assert!(has_tag("Step_Losses/Losses/train_all_loss/loss_mask"));
    assert!(has_tag("Throughput/images_per_s"));
    let meta = checkpoint_metadata(&stage.join("checkpoints/final.safetensors"));
    assert_eq!(meta["step"], "8");
    assert_eq!(meta["epoch"], "2");
    assert_eq!(meta["stage"], "pretrain");
    assert_eq!(meta["seed"], "123");
    assert_eq!(meta["spec_hash"].len(), 64, "{meta:?}");
    let epoch1 = checkpoint_metadata(&stage.join("checkpoints/epoch_1.safetensors"));
    assert_eq!(epoch1["step"], "4");

    // Stop after 5 steps (one step into the second epoch), then continue.
    let stopped = run(
        dir,
        "resumed",
        &["--stop-after-steps", "5", "--set", "data_root=\"demo\""],
    );
    assert_eq!(stopped.status.code(), Some(130), "{}", describe(&stopped));
    // The hint repeats what configures the stage (the overrides, quoted for a shell), not the stop.
    assert!(
        String::from_utf8_lossy(&stopped.stderr).contains(&format!(
            "continue with: sam3c run {SPEC} --set 'data_root=\"demo\"' --out resumed --resume\n"
        )),
        "{}",
        describe(&stopped)
    );
    let latest = dir.join("resumed/pretrain/checkpoints/latest.safetensors");
    let meta = checkpoint_metadata(&latest);
    assert_eq!(
        (
            meta["step"].as_str(),
            meta["epoch"].as_str(),
            meta["steps_in_epoch"].as_str()
        ),
        ("5", "1", "1")
    );
    assert!(!dir
        .join("resumed/pretrain/checkpoints/final.safetensors")
        .exists());
    // Without --resume the partial results are not touched.
    let refused = run(dir, "resumed", &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--resume"));

    let resumed = run(dir, "resumed", &["--resume"]);
    assert!(resumed.status.success(), "{}", describe(&resumed));
    let log = std::fs::read_to_string(dir.join("resumed/pretrain/logs/train.log")).unwrap();
    assert!(log.contains("resuming from"), "{log}");

    let a = checkpoint_tensors(&stage.join("checkpoints/final.safetensors"));
    let b = checkpoint_tensors(&dir.join("resumed/pretrain/checkpoints/final.safetensors"));
    assert_eq!(a.len(), b.len());
    assert!(a
        .iter()
        .any(|(name, _)| name.starts_with("optimizer.exp_avg.")));
    for ((name_a, data_a), (name_b, data_b)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(data_a == data_b, "{name_a} differs after resuming");
    }
}

#[test]
fn a_finished_stage_is_up_to_date_and_a_changed_one_is_not_overwritten() {
    let tmp = TempDir::new("run-up-to-date");
    let dir = tmp.path();
    spec_in(dir, SPEC);
    let first = run(dir, "out", &[]);
    assert!(first.status.success(), "{}", describe(&first));
    let final_path = dir.join("out/pretrain/checkpoints/final.safetensors");
    let written = std::fs::metadata(&final_path).unwrap().modified().unwrap();

    let again = run(dir, "out", &[]);
    assert!(again.status.success(), "{}", describe(&again));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("pretrain: up to date"), "{stderr}");
    assert_eq!(
        std::fs::metadata(&final_path).unwrap().modified().unwrap(),
        written
    );

    // Another batch size is another stage: its finished checkpoint is kept and the run stops.
    let changed = run(dir, "out", &["--set", "batch=4"]);
    assert_eq!(changed.status.code(), Some(2), "{}", describe(&changed));
    assert!(String::from_utf8_lossy(&changed.stderr).contains("differently configured"));
    assert_eq!(
        std::fs::metadata(&final_path).unwrap().modified().unwrap(),
        written
    );
}

#[test]
fn model_weights_keeps_a_checkpoints_weights_without_its_optimizer_state() {
    let tmp = TempDir::new("run-weights");
    let dir = tmp.path();
    spec_in(dir, SPEC);
    let first = run(dir, "out", &[]);
    assert!(first.status.success(), "{}", describe(&first));
    let checkpoint = dir.join("out/pretrain/checkpoints/final.safetensors");
    let out = sam3c(
        dir,
        &[
            "model",
            "weights",
            checkpoint.to_str().unwrap(),
            "-o",
            "w.safetensors",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));

    let (model, optimizer): (Vec<_>, Vec<_>) = checkpoint_tensors(&checkpoint)
        .into_iter()
        .partition(|(name, _)| !name.starts_with("optimizer."));
    assert!(!optimizer.is_empty());
    assert_eq!(checkpoint_tensors(&dir.join("w.safetensors")), model);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{} model tensors", model.len()))
            && stdout.contains(&format!("{} optimizer tensors left out", optimizer.len())),
        "{stdout}"
    );
    let metadata = checkpoint_metadata(&dir.join("w.safetensors"));
    assert_eq!(metadata["source_stage"], "pretrain");
    assert!(!metadata.contains_key("sam3c.checkpoint"), "{metadata:?}");

    // Not a checkpoint: a clear error naming the file, exit code 1, nothing written.
    let bad = sam3c(dir, &["model", "weights", SPEC, "-o", "bad.safetensors"]);
    assert_eq!(bad.status.code(), Some(1), "{}", describe(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains(SPEC),
        "{}",
        describe(&bad)
    );
    assert!(!dir.join("bad.safetensors").exists());
}

#[test]
fn spec_errors_and_bad_flags_stop_the_run_with_exit_codes_1_and_2() {
    let tmp = TempDir::new("run-errors");
    let dir = tmp.path();
    let spec = spec_in(dir, SPEC);
    let broken = dir.join("broken.sam3x");
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &broken,
        text.replace("epochs = 2 epochs", "epochs = 2 steps"),
    )
    .unwrap();
    let out = sam3c(dir, &["run", "broken.sam3x", "--out", "out"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was run"));
    assert!(!dir.join("out").exists());

    for (flags, needle) in [
        (vec!["--device", "tpu"], "--device"),
        (vec!["--threads", "0"], "--threads"),
        (vec!["--stage", "nope"], "--stage nope"),
        (vec!["--set", "batch"], "batch"),
    ] {
        let mut args = vec!["run", SPEC, "--out", "out"];
        args.extend(flags.iter().copied());
        let out = sam3c(dir, &args);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{flags:?}: {stderr}");
    }
    let missing = sam3c(dir, &["run", "missing.sam3x"]);
    assert_eq!(missing.status.code(), Some(2), "{}", describe(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing.sam3x"));
}
