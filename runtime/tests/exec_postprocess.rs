//! The meters' postprocessing (`exec::postprocess::detections`) against upstream's `PostProcessImage` live, on
//! seeded random outputs: scores σ(logit)·σ(presence), boxes at the original image size, masks upsampled to the
//! original size, thresholded and RLE-encoded, with and without a detection threshold.

mod common;

use sam3c_runtime::exec::postprocess::{detections, PostprocessOptions};
use sam3c_runtime::model::sam3_image::{Predictions, Sam3ImageOutput};
use std::collections::HashMap;
use std::process::Command;
use tch::{Kind, Tensor};

#[test]
fn detections_match_upstream_postprocess_image() {
    let Some(python) = common::oracle_python() else {
        return;
    };
    let dir = common::TempDir::new("exec-postprocess");
    let output = Command::new(&python)
        .arg(common::oracle_dir().join("exec_postprocess.py"))
        .arg(&dir.0)
        .output()
        .expect("the oracle interpreter starts");
    assert!(
        output.status.success(),
        "oracle failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inputs: HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.0.join("inputs.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("expected.json")).unwrap())
            .unwrap();
    let t = |name: &str| inputs[name].shallow_clone();
    let batch = t("pred_logits").size()[0];
    let empty = || Tensor::zeros([1], (Kind::Float, tch::Device::Cpu));
    let out = Sam3ImageOutput {
        o2o: Predictions {
            pred_logits: t("pred_logits"),
            pred_boxes: t("pred_boxes"),
            pred_boxes_xyxy: t("pred_boxes_xyxy"),
        },
        presence_logit_dec: t("presence_logit_dec"),
        pred_masks: Some(t("pred_masks")),
        semantic_seg: None,
        o2m: None,
        pred_masks_o2m: None,
        aux_outputs: Vec::new(),
        queries: empty(),
        presence_feats: empty(),
        encoder_hidden_states: empty(),
        prompt: empty(),
        prompt_mask: empty(),
    };
    let sizes: Vec<i64> = Vec::try_from(t("original_sizes").view([-1])).unwrap();
    let original: Vec<(i64, i64)> = sizes.chunks(2).map(|c| (c[0], c[1])).collect();
    assert_eq!(original.len() as i64, batch);

    for (case, threshold) in [("all", None), ("threshold", Some(0.3))] {
        let options = PostprocessOptions {
            presence: true,
            threshold,
            masks: true,
            cap: None,
        };
        let ours = detections(&out, &original, &options).unwrap();
        let theirs = expected[case].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len());
        let mut compared = 0;
        for (b, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
            let theirs = theirs.as_array().unwrap();
            assert_eq!(
                ours.len(),
                theirs.len(),
                "{case}: image {b}: kept detections"
            );
            // Ours come best first; upstream's in query order: match them by query slot.
            for want in theirs {
                let slot = want["slot"].as_u64().unwrap() as usize;
                let got = ours
                    .iter()
                    .find(|d| d.slot == slot)
                    .expect("the same queries kept");
                let score = want["score"].as_f64().unwrap();
                assert!(
                    (got.score - score).abs() < 1e-6,
                    "{case}: image {b} slot {slot}: score {} vs {score}",
                    got.score
                );
                for (k, v) in want["box"].as_array().unwrap().iter().enumerate() {
                    let v = v.as_f64().unwrap();
                    assert!(
                        (got.box_xyxy[k] - v).abs() < 1e-3,
                        "{case}: image {b} slot {slot}: box {:?} vs {want}",
                        got.box_xyxy
                    );
                }
                let mask = got.mask.as_ref().expect("a mask");
                assert_eq!(
                    (mask.height as i64, mask.width as i64),
                    original[b],
                    "{case}: image {b} slot {slot}: mask size"
                );
                assert_eq!(
                    mask.to_compressed(),
                    want["counts"].as_str().unwrap(),
                    "{case}: image {b} slot {slot}: mask RLE"
                );
                compared += 1;
            }
            for pair in ours.windows(2) {
                assert!(pair[0].score >= pair[1].score, "{case}: best first");
            }
        }
        assert!(compared > 0, "{case}: nothing compared");
    }
}
