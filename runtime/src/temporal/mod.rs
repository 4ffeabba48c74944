//! Temporal (video) training: SAM 3's tracker trained on clips, the stage Meta's trainer does not have.
//!
//! # The model
//!
//! [`VideoModel`] is `build_sam3_video_model`: the image model as `detector.*` (with the `sam2_convs` neck that
//! feeds the tracker) and the tracker as `tracker.*`, named like Meta's `sam3.pt`. It loads, strictly, a video
//! checkpoint (`sam3.pt` or a sam3c video stage) as its `weights`, and an image stage's checkpoint onto
//! `detector.*` as its `init` (the factory spec's `init = spatial`); see [`model`].
//!
//! # A training step ([`VideoModel::train_step`]), after SAM 2's `SAM2Train`
//!
//! 1. The objects: per clip, those visible on its first frame (SAM 2's sampler), at most
//!    [`TrackerTrainingRecipe::max_objects`] of them at random. Each is one row of the tracker's batch, with its
//!    ground-truth mask on every frame (empty where it is absent).
//! 2. The prompts ([`TrackerTrainingRecipe::plan`]): frame 0 and up to `num_init_cond_frames - 1` random frames
//!    are conditioning frames. With probability `prob_to_use_pt_input` they get clicks — a noisy box of the mask
//!    (probability `prob_to_use_box_input`) or one click drawn uniformly in the mask — and up to
//!    `num_frames_to_correct` frames (the conditioning ones first) get `num_correction_pt_per_frame` correction
//!    clicks, each drawn in the error region of the latest prediction (from the ground truth with probability
//!    `prob_to_sample_from_gt`) and followed by a new prediction of the SAM heads given all clicks and the
//!    previous mask; a corrected frame becomes a conditioning frame. Otherwise the conditioning frames get
//!    their ground-truth masks, which the tracker outputs as is.
//! 3. The vision backbone runs once on every frame (without gradients when `freeze_backbone`). Frames are
//!    processed conditioning frames first, then the others in time order; each is conditioned on the memory
//!    bank (conditioning frames plus the previous frames and their object pointers), and its final prediction
//!    is encoded into the bank. Gradients flow through the memory from later frames back to earlier ones.
//! 4. The loss: [`TrackerLossFn`](crate::train::loss::TrackerLossFn) (SAM 2's `MultiStepMultiMasksAndIous`) on
//!    every frame and every prediction step against the ground-truth masks, summed over frames and normalized
//!    by the number of objects; the returned dict has upstream's keys, `core_loss` is back-propagated by the
//!    caller (with its optimizer, clipping and schedule).
//!
//! Randomness: the step seeds torch's generator (dropout, stochastic depth, box noise, click positions) and its
//! own generator (which objects, clicks or masks, which frames) from [`StepOptions::seed`], so a seed fixes
//! the step. Torch's generator is process-wide: two steps running at once on threads of one process interleave
//! their draws (the executor runs one step at a time; tests that check draws serialize themselves). Click and box sampling use torch's generator exactly as upstream does, so on the CPU they match
//! upstream's functions draw for draw (checked by the oracle tests).
//!
//! What differs from SAM 2: the defaults are SAM 2.1's fine-tuning recipe, but the discrete choices come from
//! sam3c's seeded generator instead of numpy's `default_rng(42)` (same distributions, other draws); SAM 2
//! re-samples a clip whose first frame has no object, here the step returns `None` and the caller moves on;
//! clips come from sam3c's YTVIS clip sampler (SAM 2.1 samples consecutive frames, reversed with probability
//! 0 in its MOSE config); activation checkpointing of the correction steps is not reproduced (same numbers,
//! more memory). Everything else — the prompt probabilities, correction loop, conditioning-frame bookkeeping,
//! memory, losses and their weights — is SAM 2's.
//!
//! Entry points for the stage executor: [`train_clip_step`] (one step; the caller back-propagates `core_loss`,
//! clips gradients, steps its optimizer and schedule) and [`evaluate_clips`] (the stage's video meters).
//!
//! # Evaluation ([`eval`])
//!
//! Semi-supervised video object segmentation: each ground-truth object is given by its mask on the first frame
//! where it is annotated and tracked through the rest of the video; J&F and HOTA of those tracks, under
//! `vos_*` keys so that they are not mistaken for SA-Co/VEval's text-prompted phrase HOTA (pHOTA):
//! `vos_mask_all_video_{J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay, J&F}` for `j_and_f`, and
//! `vos_mask_all_class_*` (or `vos_mask_all_phrase_*` with `phrase = true`) for `hota`. Detection is given here
//! (the objects' masks on their first frames), so these numbers measure propagation only; they are not
//! comparable with upstream's `video_mask_all_phrase_HOTA`.

pub mod clip;
pub mod eval;
pub mod model;
pub mod prompts;
pub mod recipe;
mod step;

pub use clip::{ClipInfo, ClipObjects, ObjectInfo};
pub use eval::{hota, j_and_f, EvalOptions, MeterValues, TrackingRun, METRIC_PREFIX};
pub use model::{
    ImageStageReport, InitReport, Sam2NeckSource, StageWeights, TrackerFeatures, VideoModel,
    OPTIMIZER_PREFIX,
};
pub use recipe::{FramePrompt, PromptPlan, TrackerTrainingRecipe};
pub use step::{StepOptions, StepOutput};

use crate::data::Batch;
use crate::train::loss::TrackerLossFn;
use sam3c_metrics::values::MetricValues;
use sam3c_stdlib::components::meter::MeterSpec;
use std::path::PathBuf;

/// One training step of the temporal stage on a batch of clips ([`VideoModel::train_step`]): the caller
/// back-propagates `losses["core_loss"]` and steps its optimizer. `Ok(None)`: no clip of the batch has an object
/// on its first frame (skip the batch).
pub fn train_clip_step(
    model: &VideoModel,
    batch: &Batch,
    recipe: &TrackerTrainingRecipe,
    loss: &TrackerLossFn,
    options: &StepOptions,
) -> Result<Option<StepOutput>, TemporalError> {
    model.train_step(batch, recipe, loss, options)
}

/// The temporal stage's meters (`j_and_f`, `hota`) on their datasets, under the `vos_*` keys of the
/// semi-supervised protocol ([`eval`]); meters on the same data and pipeline share one tracking run.
pub fn evaluate_clips(
    model: &VideoModel,
    meters: &[MeterSpec],
    options: &EvalOptions,
) -> Result<MetricValues, TemporalError> {
    model.evaluate_meters(meters, options)
}

/// [`evaluate_clips`], one result per meter, in order (the stage executor records each meter on its own).
pub fn evaluate_clips_each(
    model: &VideoModel,
    meters: &[MeterSpec],
    options: &EvalOptions,
) -> Result<Vec<MeterValues>, TemporalError> {
    model.evaluate_each_meter(meters, options)
}

/// Everything that can go wrong in temporal training or evaluation; messages name the file, field or input.
#[derive(Debug, thiserror::Error)]
pub enum TemporalError {
    /// A configuration the video model or the recipe cannot use.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A batch or tensor the step cannot use.
    #[error("invalid input: {0}")]
    Input(String),
    /// A checkpoint that cannot be read or does not fit the model.
    #[error("{}: {source}", path.display())]
    Checkpoint {
        path: PathBuf,
        #[source]
        source: crate::checkpoint::CheckpointError,
    },
    /// A readable checkpoint of the wrong kind.
    #[error("{}: {message}", path.display())]
    BadCheckpoint { path: PathBuf, message: String },
    /// Data that cannot be loaded or transformed.
    #[error("{0}")]
    Data(String),
    /// The tracks cannot be scored (inconsistent ground truth).
    #[error("evaluation: {0}")]
    Metrics(String),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

impl From<crate::data::DataError> for TemporalError {
    fn from(e: crate::data::DataError) -> Self {
        TemporalError::Data(e.to_string())
    }
}
