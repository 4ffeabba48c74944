//! `sam3c run` on a video (temporal) stage initialized from an image stage, on a cut-down demo set
//! (`tests/run_specs/video_stage.sam3x`): what it writes, that its loss falls and J&F is recorded, an evaluation of
//! its weights, exact resume, the detector weights it starts from, and the settings the runtime refuses before
//! anything trains. (About 20 s on 2 cores.)

mod run_support;

use run_support::*;
use std::path::Path;

const SPEC: &str = "video_stage.sam3x";
const LOSS_TAG: &str = "Step_Losses/Losses/train_all_loss";

fn run(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", SPEC, "--out", out, "--threads", "1"];
    args.extend_from_slice(extra);
    sam3c(dir, &args)
}

fn mean(values: &[f32]) -> f32 {
    values.iter().sum::<f32>() / values.len() as f32
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_video_stage_trains_from_an_image_stage_and_resumes_exactly() {
    let tmp = TempDir::new("run-video");
    let dir = tmp.path();
    spec_in(dir, SPEC);

    let straight = run(dir, "straight", &[]);
    assert!(straight.status.success(), "{}", describe(&straight));
    let stdout = String::from_utf8_lossy(&straight.stdout);
    assert!(
        stdout.contains("spatial: done") && stdout.contains("temporal: done"),
        "{stdout}"
    );
    let stage = dir.join("straight/temporal");
    for file in [
        "checkpoints/latest.safetensors",
        "checkpoints/epoch_1.safetensors",
        "checkpoints/epoch_3.safetensors",
        "checkpoints/final.safetensors",
        "logs/train.log",
        "metrics.json",
    ] {
        assert!(stage.join(file).is_file(), "{file} missing");
    }
    // 4 clips per epoch, 2 per step: 2 steps per epoch, 3 epochs.
    let meta = checkpoint_metadata(&stage.join("checkpoints/final.safetensors"));
    assert_eq!((meta["step"].as_str(), meta["epoch"].as_str()), ("6", "3"));
    assert_eq!(meta["stage"], "temporal");
    let log = std::fs::read_to_string(stage.join("logs/train.log")).unwrap();
    assert!(
        log.contains(
            "spatial/checkpoints/final.safetensors (init, an image checkpoint: onto detector.*; the tracker's \
             neck, sam2_convs, copied from the image model's neck, convs)"
        ),
        "{log}"
    );
    assert!(log.contains("of 2 clip(s) (2 chunk(s) of 1)"), "{log}");

    // The tracker's loss falls, and every term is logged under upstream's names.
    let tb = stage.join("tensorboard");
    let losses: Vec<f32> = tensorboard_scalars(&tb, LOSS_TAG)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(losses.len(), 6, "{losses:?}");
    let (first, last) = (mean(&losses[..2]), mean(&losses[4..]));
    assert!(last < 0.8 * first, "loss {first} -> {last}: {losses:?}");
    for term in ["loss_mask", "loss_dice", "loss_iou", "loss_class"] {
        let tag = format!("{LOSS_TAG}/{term}");
        assert_eq!(tensorboard_scalars(&tb, &tag).len(), 6, "{tag}");
    }
    // J&F of the held-out video, recorded like image meters.
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stage.join("metrics.json")).unwrap())
            .unwrap();
    let record = &metrics.as_array().unwrap()[0];
    assert_eq!(record["step"], 6);
    assert_eq!(record["images"], 1, "one video evaluated: {record}");
    let j_and_f = last_metric(&stage.join("metrics.json"), "vos_mask_all_video_J&F");
    assert!((0.0..=1.0).contains(&j_and_f), "J&F {j_and_f}");
    let meter_tags =
        tensorboard_scalars(&tb, "Meters_val/clips_val/meter_0/vos_mask_all_video_J&F");
    assert_eq!(meter_tags.len(), 1, "the J&F scalar of the evaluation");
    // An evaluation of the stage's final weights: the same J&F, and HOTA from the same tracks.
    let evaluation = dir.join("straight/temporal_test/metrics.json");
    let records: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&evaluation).unwrap()).unwrap();
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["metrics"]["vos_mask_all_video_J&F"], j_and_f);
    let hota = records[1]["metrics"]["vos_mask_all_phrase_HOTA"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&hota), "HOTA {hota}");
    assert_eq!(records[0]["detections"], records[1]["detections"]);

    // The detector parts the tracking loss does not reach keep the image stage's weights exactly.
    let image = checkpoint_tensors(&dir.join("straight/spatial/checkpoints/final.safetensors"));
    let video = checkpoint_tensors(&stage.join("checkpoints/final.safetensors"));
    let video: std::collections::BTreeMap<_, _> = video.into_iter().collect();
    let mut untouched = 0;
    for (name, data) in &image {
        if name.starts_with("transformer.") || name.starts_with("segmentation_head.") {
            assert!(video[&format!("detector.{name}")] == *data, "{name}");
            untouched += 1;
        }
    }
    assert!(untouched > 10, "{untouched}");

    // Interrupted after 3 steps (one step into the second epoch) and resumed: the same final weights.
    copy_dir(&dir.join("straight/spatial"), &dir.join("resumed/spatial"));
    let stopped = run(dir, "resumed", &["--stop-after-steps", "3"]);
    assert_eq!(stopped.status.code(), Some(130), "{}", describe(&stopped));
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("spatial: up to date"));
    let latest = checkpoint_metadata(&dir.join("resumed/temporal/checkpoints/latest.safetensors"));
    assert_eq!(
        (
            latest["step"].as_str(),
            latest["epoch"].as_str(),
            latest["steps_in_epoch"].as_str()
        ),
        ("3", "1", "1")
    );
    let resumed = run(dir, "resumed", &["--resume"]);
    assert!(resumed.status.success(), "{}", describe(&resumed));
    let log = std::fs::read_to_string(dir.join("resumed/temporal/logs/train.log")).unwrap();
    assert!(log.contains("resuming from"), "{log}");
    let a = checkpoint_tensors(&stage.join("checkpoints/final.safetensors"));
    let b = checkpoint_tensors(&dir.join("resumed/temporal/checkpoints/final.safetensors"));
    assert_eq!(a.len(), b.len());
    assert!(a
        .iter()
        .any(|(name, _)| name.starts_with("optimizer.exp_avg.tracker.")));
    for ((name_a, data_a), (name_b, data_b)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(data_a == data_b, "{name_a} differs after resuming");
    }
    let resumed_jf = last_metric(
        &dir.join("resumed/temporal/metrics.json"),
        "vos_mask_all_video_J&F",
    );
    assert_eq!(resumed_jf, j_and_f);
}

#[test]
fn a_video_stage_starts_from_the_image_stage_weights_on_its_detector() {
    let tmp = TempDir::new("run-video-init");
    let dir = tmp.path();
    let spec = spec_in(dir, SPEC);
    // With the detector frozen, its weights after a step are the ones it started from.
    let text = std::fs::read_to_string(&spec).unwrap();
    let frozen = text.replace(
        "        lr = 1e-3\n        clip_norm = 1.0\n",
        "        lr = 1e-3\n        clip_norm = 1.0\n        freeze = [\"detector.*\"]\n",
    );
    assert_ne!(frozen, text);
    std::fs::write(&spec, frozen).unwrap();
    let spatial = run(dir, "out", &["--stage", "spatial"]);
    assert!(spatial.status.success(), "{}", describe(&spatial));
    let out = run(
        dir,
        "out",
        &["--stage", "temporal", "--stop-after-steps", "1"],
    );
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    let log = std::fs::read_to_string(dir.join("out/temporal/logs/train.log")).unwrap();
    assert!(
        log.contains("the optimizer freezes the vision backbone"),
        "{log}"
    );

    let image: std::collections::BTreeMap<_, _> =
        checkpoint_tensors(&dir.join("out/spatial/checkpoints/final.safetensors"))
            .into_iter()
            .filter(|(name, _)| !name.starts_with("optimizer."))
            .collect();
    let video = checkpoint_tensors(&dir.join("out/temporal/checkpoints/latest.safetensors"));
    let (mut detector, mut tracker) = (0, 0);
    for (name, data) in &video {
        if let Some(rest) = name.strip_prefix("detector.") {
            // The image model has no tracker neck: it starts as a copy of the image stage's neck.
            let source = rest.replace("vision_backbone.sam2_convs.", "vision_backbone.convs.");
            assert!(
                image[&source] == *data,
                "{name} is not {source} of the image stage"
            );
            detector += 1;
        } else if name.starts_with("tracker.") {
            tracker += 1;
        }
    }
    assert!(detector >= image.len(), "{detector} of {}", image.len());
    assert!(tracker > 0);
    // Only the tracker was trained.
    assert!(video
        .iter()
        .filter(|(name, _)| name.starts_with("optimizer.exp_avg."))
        .all(|(name, _)| name.starts_with("optimizer.exp_avg.tracker.")));
}

#[test]
fn settings_the_runtime_cannot_run_in_a_video_stage_stop_the_run_before_it_trains() {
    let tmp = TempDir::new("run-video-refused");
    let dir = tmp.path();
    let spec = spec_in(dir, SPEC);
    let text = std::fs::read_to_string(&spec).unwrap();
    for (from, to, needle) in [
        (
            "model tiny_video = sam3_video {\n    size = tiny\n",
            "model tiny_video = sam3_video {\n    size = tiny\n    from_hub = true\n",
            "stage `temporal`: the model has `from_hub = true`: the native runtime does not download",
        ),
        (
            "pad(224px, consistent = true),",
            "pad(448px, consistent = true),",
            "stage `temporal`: the training pipeline makes 448×448 frames, but the video model's input is \
             224×224",
        ),
        (
            "pipeline eval_clips = [decode_masks, resize(224px, square = true), normalize()]",
            "pipeline eval_clips = [decode_masks, resize(196px, square = true), pad(224px), normalize()]",
            "stage `temporal`: the pipeline of meter `meter_0` pads its frames",
        ),
    ] {
        let changed = text.replace(from, to);
        assert_ne!(changed, text, "{from}");
        std::fs::write(&spec, &changed).unwrap();
        let out = run(dir, "out", &[]);
        assert_eq!(out.status.code(), Some(1), "{to}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{to}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!dir.join("out/spatial").exists(), "{to}: a stage ran");
    }
}
