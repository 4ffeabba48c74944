//! The quickstart end to end, shortened by its epoch parameters: `sam3c run examples/quickstart.sam3x` on the
//! demo data trains its three stages (the second from the first's weights, the temporal third's detector from the
//! second's), the loss falls, the held-out segm AP and J&F are recorded, and `sam3c predict` runs on the
//! checkpoint it wrote.

mod run_support;

use run_support::*;
use std::path::Path;

/// The held-out segm AP@[.5:.95] the shortened quickstart must reach. With upstream's initialization a model
/// trained from scratch leaves AP 0 around step 200 (0.005 at 220, 0.014 at 800 steps of batch 4); this test
/// runs 20 + 20 steps, so the floor only checks that the meter ran and produced a valid AP. A real threshold
/// needs the quickstart to start from pretrained weights or a longer first stage (issue 5).
const SEGM_AP_FLOOR: f64 = 0.0;

#[test]
fn the_quickstart_trains_its_three_stages_and_its_checkpoint_predicts() {
    let tmp = TempDir::new("run-quickstart");
    let dir = tmp.path();
    let spec = copy_spec(
        dir,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.sam3x"),
    );
    let out = sam3c(
        dir,
        &[
            "run",
            spec.to_str().unwrap(),
            "--set",
            "data_root=\"demo\"",
            "--set",
            "pretrain_epochs=1 epochs",
            "--set",
            "finetune_epochs=1 epochs",
            "--set",
            "temporal_epochs=1 epochs",
            "--out",
            "out",
            "--threads",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for stage in ["pretrain", "finetune", "temporal"] {
        assert!(stdout.contains(&format!("{stage}: done")), "{stdout}");
    }

    // The loss falls visibly: by a quarter within the first stage's one epoch (measured with upstream's
    // initialization: 300 -> 192), and the second stage (from the first's weights) starts near where the first
    // ended, not at a random initialization's loss.
    let pretrain = logged_losses(&dir.join("out/pretrain/logs/train.log"));
    let finetune = logged_losses(&dir.join("out/finetune/logs/train.log"));
    let (first, last) = (pretrain[0].1, pretrain.last().unwrap().1);
    assert!(last < first * 0.75, "pretrain loss {first} -> {last}");
    assert!(
        finetune[0].1 < first * 0.8,
        "finetune starts at {}",
        finetune[0].1
    );
    let log = std::fs::read_to_string(dir.join("out/finetune/logs/train.log")).unwrap();
    assert!(
        log.contains("pretrain/checkpoints/final.safetensors (init)"),
        "{log}"
    );

    for stage in ["pretrain", "finetune"] {
        let ap = last_metric(
            &dir.join(format!("out/{stage}/metrics.json")),
            "coco_eval_segm_AP",
        );
        eprintln!("{stage}: held-out segm AP {ap:.4}");
        assert!((SEGM_AP_FLOOR..=1.0).contains(&ap), "{stage}: segm AP {ap}");
    }

    // The temporal stage: the video model's detector from finetune's weights, 6 clips of 4 frames, J&F on the
    // 3 held-out videos.
    let log = std::fs::read_to_string(dir.join("out/temporal/logs/train.log")).unwrap();
    assert!(
        log.contains(
            "finetune/checkpoints/final.safetensors (init, an image checkpoint: onto detector.*"
        ),
        "{log}"
    );
    assert!(log.contains("6 optimizer steps"), "{log}");
    let temporal = logged_losses(&dir.join("out/temporal/logs/train.log"));
    assert!(
        temporal.iter().all(|(_, loss)| loss.is_finite()),
        "{temporal:?}"
    );
    let j_and_f = last_metric(
        &dir.join("out/temporal/metrics.json"),
        "vos_mask_all_video_J&F",
    );
    eprintln!("temporal: held-out J&F {j_and_f:.4}");
    assert!((0.0..=1.0).contains(&j_and_f), "J&F {j_and_f}");
    assert!(dir
        .join("out/temporal/checkpoints/final.safetensors")
        .is_file());

    // Predict on a held-out image with the checkpoint the run wrote.
    let checkpoint = dir.join("out/finetune/checkpoints/final.safetensors");
    let image = demo_data().join("test/test_0002.jpg");
    let predicted = sam3c(
        dir,
        &[
            "predict",
            "--model",
            "tiny",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--image",
            image.to_str().unwrap(),
            "--prompt",
            "gear",
            "--prompt",
            "nut",
            "--out",
            "pred",
            "--threshold",
            "0",
        ],
    );
    assert!(predicted.status.success(), "{}", describe(&predicted));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("pred/test_0002.predictions.json")).unwrap(),
    )
    .unwrap();
    let (width, height) = (
        json["image"]["width"].as_f64().unwrap(),
        json["image"]["height"].as_f64().unwrap(),
    );
    assert_eq!((width, height), (320.0, 240.0));
    let predictions = json["predictions"].as_array().unwrap();
    let prompts: Vec<&str> = predictions
        .iter()
        .map(|p| p["prompt"].as_str().unwrap())
        .collect();
    assert_eq!(prompts, ["gear", "nut"]);
    for p in predictions {
        let detections = p["detections"].as_array().unwrap();
        // The tiny model has 20 object queries; threshold 0 keeps them all.
        assert_eq!(detections.len(), 20, "{p}");
        for d in detections {
            let score = d["score"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&score), "{d}");
            let b: Vec<f64> = d["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert!(b[2] >= 0.0 && b[3] >= 0.0, "{d}");
            assert_eq!(
                d["segmentation"]["size"],
                serde_json::json!([240, 320]),
                "{d}"
            );
            assert!(d["segmentation"]["counts"].is_string(), "{d}");
        }
    }
    // The overlay is a PNG of the image's size.
    let png = std::fs::read(dir.join("pred/test_0002.overlay.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let ihdr_width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let ihdr_height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((ihdr_width, ihdr_height), (320, 240));

    // A threshold above every score keeps nothing; a missing checkpoint is a usage error naming the flag.
    let none = sam3c(
        dir,
        &[
            "predict",
            "--model",
            "tiny",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--image",
            image.to_str().unwrap(),
            "--prompt",
            "gear",
            "--out",
            "none",
            "--threshold",
            "1",
        ],
    );
    assert!(none.status.success(), "{}", describe(&none));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("none/test_0002.predictions.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["predictions"][0]["detections"], serde_json::json!([]));
    let missing = sam3c(
        dir,
        &[
            "predict",
            "--model",
            "tiny",
            "--checkpoint",
            "nope.safetensors",
            "--image",
            image.to_str().unwrap(),
            "--prompt",
            "gear",
        ],
    );
    assert_eq!(missing.status.code(), Some(2), "{}", describe(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--checkpoint nope.safetensors"));
}
