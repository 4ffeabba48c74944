//! The prompts of temporal training against SAM 2's samplers as shipped in sam3, live: correction clicks from
//! error regions, the first click in a mask, the box of a mask and its noisy corners, draw for draw with the same
//! seed of torch's generator.

mod common;
mod temporal_common;

use common::{oracle_python, run_oracle, TempDir};
use sam3c_runtime::checkpoint;
use sam3c_runtime::temporal::prompts::{mask_to_box, sample_box_points, sample_points_from_errors};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};
use temporal_common::torch_rng_lock;

const SEED: i64 = 1234;

/// Masks `[6, 1, 24, 32]` covering every case of the samplers: rectangles with predictions that overlap them
/// partly, a prediction equal to its mask (all correct), an empty mask with a false positive, an empty mask and
/// prediction, a full mask.
fn masks() -> (Tensor, Tensor) {
    let (b, h, w) = (6, 24, 32);
    let gt = Tensor::zeros([b, 1, h, w], (Kind::Bool, Device::Cpu));
    let pred = Tensor::zeros([b, 1, h, w], (Kind::Bool, Device::Cpu));
    let fill = |t: &Tensor, i: i64, y0: i64, y1: i64, x0: i64, x1: i64| {
        let _ = t
            .get(i)
            .get(0)
            .narrow(0, y0, y1 - y0)
            .narrow(1, x0, x1 - x0)
            .fill_(1);
    };
    fill(&gt, 0, 3, 15, 4, 20);
    fill(&pred, 0, 6, 20, 10, 28);
    fill(&gt, 1, 0, 24, 0, 5);
    fill(&pred, 1, 10, 12, 2, 30);
    fill(&gt, 2, 5, 9, 5, 9); // prediction exactly right
    fill(&pred, 2, 5, 9, 5, 9);
    fill(&pred, 3, 1, 4, 1, 4); // empty mask, a false positive
                                // 4: empty mask and prediction
    fill(&gt, 5, 0, 24, 0, 32); // full mask
    (gt, pred)
}

#[test]
fn samplers_match_sam2s_draw_for_draw() {
    let Some(python) = oracle_python() else {
        return;
    };
    let _rng = torch_rng_lock();
    let (gt, pred) = masks();
    let num_pt = 3;
    let dir = TempDir::new("temporal-prompts");
    let input = dir.0.join("in.safetensors");
    let tensors = vec![
        ("gt".to_string(), gt.shallow_clone()),
        ("pred".to_string(), pred.shallow_clone()),
        ("seed".to_string(), Tensor::from_slice(&[SEED])),
        ("num_pt".to_string(), Tensor::from_slice(&[num_pt])),
    ];
    checkpoint::save(&input, &tensors, &BTreeMap::new()).unwrap();
    let oracle = run_oracle(
        &python,
        "temporal_prompts.py",
        "prompts",
        &[input.to_str().unwrap()],
    );

    tch::manual_seed(SEED);
    let errors = sample_points_from_errors(&gt, Some(&pred), num_pt);
    tch::manual_seed(SEED);
    let first = sample_points_from_errors(&gt, None, 1);
    let boxes = mask_to_box(&gt);
    tch::manual_seed(SEED);
    let noisy = sample_box_points(&gt, 0.1, 20.0);

    let same = |what: &str, ours: &Tensor, theirs: &Tensor| {
        assert_eq!(ours.size(), theirs.size(), "{what}: shape");
        assert_eq!(ours.kind(), theirs.kind(), "{what}: dtype");
        assert!(
            ours.equal(theirs),
            "{what} differs:\nours {ours}\nupstream {theirs}"
        );
    };
    same("error points", &errors.coords, &oracle.get("errors.points"));
    same("error labels", &errors.labels, &oracle.get("errors.labels"));
    same("first click", &first.coords, &oracle.get("empty.points"));
    same(
        "first click labels",
        &first.labels,
        &oracle.get("empty.labels"),
    );
    same("mask boxes", &boxes, &oracle.get("box"));
    same(
        "noisy box corners",
        &noisy.coords,
        &oracle.get("noisy_box.points"),
    );
    same("box labels", &noisy.labels, &oracle.get("noisy_box.labels"));

    // The cases are what they claim: the right prediction gets a negative click in the background, the
    // overlapping ones both kinds of clicks somewhere.
    let labels = Vec::<i32>::try_from(errors.labels.flatten(0, -1)).unwrap();
    assert_eq!(&labels[6..9], &[0, 0, 0], "all correct: negative clicks");
    assert!(labels.contains(&1) && labels.contains(&0));
}
