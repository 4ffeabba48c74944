//! Training end to end on demo clips: a few hundred temporal steps on one demo clip make the tracker's loss fall
//! and the J&F of tracking that clip from its first frame's ground truth rise above the untrained model's.
//! (The slowest temporal test: about 30 s on 2 busy CPU cores; measured 0.466 -> 0.701.)

mod common;
mod temporal_common;

use common::TempDir;
use sam3c_runtime::temporal::{
    evaluate_clips, train_clip_step, EvalOptions, StepOptions, TrackerTrainingRecipe,
};
use sam3c_runtime::train::loss::TrackerLossFn;
use sam3c_stdlib::components::data::DatasetSpec;
use sam3c_stdlib::components::loss::TrackerLoss;
use sam3c_stdlib::components::meter::{JAndF, MeterSpec};
use tch::nn::OptimizerConfig;
use temporal_common::*;

const STEPS: u64 = 150;
const LEARNING_RATE: f64 = 2e-3;
/// How much J&F must rise over the untrained model's.
const J_AND_F_MARGIN: f64 = 0.15;

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn training_on_a_clip_lowers_the_loss_and_raises_j_and_f() {
    let _rng = torch_rng_lock();
    tch::set_num_threads(1);
    let dir = TempDir::new("temporal-learn");
    // One demo video cut to 2 frames: the training clip is the whole evaluated video (frame 0 given, frame 1
    // tracked). (From random weights, propagation over longer clips takes more steps than a test can afford.)
    let data = cut_videos(&demo_videos(&dir.0, 2), &dir.0, 1, 2);
    let meters = [MeterSpec::JAndF(JAndF {
        data: DatasetSpec::YtvisVideos(data.clone()),
        pipeline: square_pipeline(112),
    })];
    let options = EvalOptions {
        seed: 0,
        autocast: None,
    };
    let j_and_f = |model| {
        evaluate_clips(model, &meters, &options)
            .unwrap()
            .get("vos_mask_all_video_J&F")
            .unwrap()
    };
    let model = small_model(0);
    let before = j_and_f(&model);

    let batch = clip_batch(&data, true, 0, 112, 0);
    // Frame 0 prompted with its mask, the others tracked: what the evaluation does.
    let recipe = TrackerTrainingRecipe {
        prob_to_use_pt_input: 0.0,
        num_init_cond_frames: 1,
        ..Default::default()
    };
    let loss = TrackerLossFn::new(&TrackerLoss {
        mask: 20.0,
        dice: 1.0,
        iou: 1.0,
        object: 1.0,
        alpha: 0.25,
        gamma: 2.0,
        best_mask_only: true,
    });
    let mut optimizer = tch::nn::Adam::default()
        .build(&model.vs, LEARNING_RATE)
        .unwrap();
    let mut dice = Vec::new();
    for step in 0..STEPS {
        let out = train_clip_step(
            &model,
            &batch,
            &recipe,
            &loss,
            &StepOptions {
                seed: step,
                autocast: None,
            },
        )
        .unwrap()
        .unwrap();
        dice.push(out.losses["loss_dice"].double_value(&[]));
        optimizer.backward_step(&out.losses["core_loss"]);
    }
    let (first, last) = (mean(&dice[..10]), mean(&dice[dice.len() - 10..]));
    let after = j_and_f(&model);
    println!("dice {first:.3} -> {last:.3}; J&F {before:.3} -> {after:.3}");
    assert!(
        last < 0.75 * first,
        "the dice loss of the tracked frames must fall: {first} -> {last}"
    );
    assert!(
        after > before + J_AND_F_MARGIN,
        "J&F on the training clip: {before} -> {after} (margin {J_AND_F_MARGIN})"
    );
}
