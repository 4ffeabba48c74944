//! Stage execution: a checked spec's training stages and evaluations run on the native runtime.
//!
//! The CLI turns each stage of a checked spec into a [`StageJob`] (the catalog [`Stage`] value, its meters with
//! their names, where the experiment lives) and each evaluation into an [`EvalJob`], then calls
//! [`train_stage`] / [`evaluate`] in the spec's order. The functions are independent of each other (each reads
//! what it needs from disk: the weights of an earlier stage, its own checkpoint), so an execution graph can call
//! them per node.
//!
//! # How a stage runs
//!
//! A stage whose model is `sam3_video` is a video (temporal) stage: it runs through the same steps with the
//! video model, its clips and its meters plugged in (see [`video`]); the steps below describe an image stage.
//! The machinery both share is in `driver.rs`.
//!
//! 1. **Checks before anything runs.** What the runtime cannot run (fp16 on CUDA, a model from the hub, meters
//!    of the other domain, a video pipeline that does not make frames of the model's size, ...) is refused with
//!    a message naming the stage and the setting ([`preflight_stage`]). A stage whose `checkpoints/final` carries the stage's content hash
//!    ([`StageJob::spec_hash`], from the execution graph) is up to date and skipped; a `final` written under
//!    another hash is never overwritten (the run stops with exit code 2). Other results in the stage directory
//!    are only continued with [`RunOptions::resume`].
//! 2. **Model.** `sam3_image` at its size preset, randomly initialized from the stage seed; then weights, in
//!    this order of precedence: the stage's own checkpoint when resuming; `init` (another stage's `final`
//!    checkpoint, or a file); the model's `weights` (Meta's `sam3.pt`, a trainer checkpoint, or a sam3c
//!    checkpoint), loaded strictly ([`model`]).
//! 3. **Data.** The training dataset through the stage pipeline, in batches of `batch / accumulate` datapoints
//!    (shuffled per epoch from the seed, short last batch dropped); `accumulate` consecutive batches make one
//!    optimizer step, their gradients summed as upstream's trainer does. Steps per epoch follow from the
//!    loader, and every schedule span given in epochs is converted with them.
//! 4. **Step.** `zero_grad`; per chunk: forward in train mode (bf16 autocast on CUDA when the stage says
//!    `bf16`; fp32 on a CPU), [`crate::train::loss::Sam3Loss`] on the outputs (the loss runs the model's
//!    Hungarian matcher), the non-finite guard, backward; then the learning rates from the schedule at
//!    upstream's `(step, where)`, the gradient norm (checked, clipped to `clip_norm`), and the AdamW step with
//!    the spec's parameter groups (frozen parameters get no gradient).
//! 5. **Epoch end.** `checkpoints/latest` every epoch, `checkpoints/epoch_N` every `save_every`, the meters
//!    after epoch e (0-based) when `e % eval_every == 0` (upstream's cadence), always after the last epoch,
//!    and before the first step with `eval_first`. At the end `checkpoints/final`.
//!
//! Outputs, per stage directory: `checkpoints/*.safetensors` (see [`state`] for what a checkpoint holds),
//! `tensorboard/` (losses per step under upstream's names `Step_Losses/Losses/train_all_loss[/<term>]`,
//! learning rates `Optim/<group>_/lr`, `Optim/grad_norm`, `Throughput/images_per_s`, `Throughput/data_wait_s` (seconds the step waited for the loader), and each evaluation as
//! `Meters_val/<dataset>/<meter>/<metric>`), `logs/train.log` (plain text) and `metrics.json` (every
//! evaluation: step, epoch, meter, dataset, metrics).
//!
//! # Resuming
//!
//! An interrupted run (Ctrl-C through [`RunOptions::interrupt`], or [`RunOptions::stop_after_steps`]) writes
//! `checkpoints/latest` at the step it stopped. With [`RunOptions::resume`], a stage without a `final` checkpoint
//! continues from `latest`: weights, AdamW moments, the step and the position
//! in the epoch are restored, the loader skips the batches already done, and torch's generator is re-seeded per
//! step from (seed, step), so the continued run takes exactly the steps the uninterrupted one would have taken.
//! A checkpoint written by a differently configured stage (its configuration hash differs) is refused.

mod batch;
mod driver;
mod error;
pub mod meters;
pub mod model;
pub mod postprocess;
pub mod state;
mod train;
pub mod video;

pub use batch::{find_batch, find_outputs, find_targets};
pub use error::ExecError;
pub use meters::{MeterJob, MeterResult};
pub use train::{evaluate, train_stage};

use sam3c_stdlib::components::stage::{Evaluation, Init, Stage};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::Device;

/// A training stage to run.
#[derive(Debug, Clone)]
pub struct StageJob {
    /// The stage's name in the spec; its outputs go to `<experiment_dir>/<name>/`.
    pub name: String,
    pub config: Stage,
    /// The stage's meters (`config.eval`, in order) with their names.
    pub meters: Vec<MeterJob>,
    /// The experiment directory (`experiment.out`, or `--out`).
    pub experiment_dir: PathBuf,
    /// A hash of the stage's configuration; a checkpoint written under another one cannot resume the stage.
    pub stage_hash: String,
    /// The content hash of the stage's node in the execution graph (its configuration and its inputs'
    /// hashes), recorded in checkpoints: a stage whose `final` checkpoint carries it is up to date.
    pub spec_hash: String,
}

/// An evaluation to run.
#[derive(Debug, Clone)]
pub struct EvalJob {
    pub name: String,
    pub config: Evaluation,
    pub meters: Vec<MeterJob>,
    pub experiment_dir: PathBuf,
    /// The content hash of the evaluation's node in the execution graph.
    pub spec_hash: String,
}

/// What a run reports while it goes (the CLI draws progress bars or prints lines from these).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A stage or evaluation starts; `done_steps` > 0 when it resumes.
    Started {
        stage: String,
        total_steps: u64,
        done_steps: u64,
    },
    /// An optimizer step finished.
    Step {
        stage: String,
        /// Steps done (1-based).
        step: u64,
        total_steps: u64,
        epoch: u64,
        loss: f64,
        lr: f64,
        images_per_s: f64,
    },
    /// A line for the user (also written to the stage's log).
    Message { stage: String, text: String },
    /// The stage or evaluation ended (successfully or not).
    Finished { stage: String },
}

/// Receives [`Event`]s; called on the thread that runs the stage.
pub trait Monitor {
    fn event(&self, event: &Event);
}

/// A monitor that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Monitor for Silent {
    fn event(&self, _event: &Event) {}
}

/// How stages run: device, resuming, interruption.
pub struct RunOptions<'a> {
    pub device: Device,
    /// Continue interrupted stages and skip finished ones instead of refusing to touch existing results.
    pub resume: bool,
    /// Set (e.g. by a Ctrl-C handler) to stop after the current optimizer step, writing `latest`.
    pub interrupt: Arc<AtomicBool>,
    /// Stop as if interrupted after this many optimizer steps taken in this call (tests, smoke runs).
    pub stop_after_steps: Option<u64>,
    /// Write a line to the log every this many steps (the first and last steps are always logged).
    pub log_every: u64,
    pub monitor: &'a dyn Monitor,
}

impl<'a> RunOptions<'a> {
    /// Options for `device` with everything else off.
    pub fn new(device: Device, monitor: &'a dyn Monitor) -> Self {
        RunOptions {
            device,
            resume: false,
            interrupt: Arc::new(AtomicBool::new(false)),
            stop_after_steps: None,
            log_every: 10,
            monitor,
        }
    }
}

/// How a stage or evaluation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran to the end.
    Finished,
    /// Its `final` checkpoint was written by the same configuration (up to date): nothing ran.
    AlreadyDone,
    /// It stopped early on request; `latest` holds the state to resume from.
    Interrupted,
}

/// What a stage did.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSummary {
    pub name: String,
    pub outcome: Outcome,
    /// Optimizer steps done in total (including steps of an earlier, interrupted run).
    pub steps: u64,
    pub total_steps: u64,
    /// Epochs completed.
    pub epochs: u64,
    /// Wall-clock seconds of this call.
    pub seconds: f64,
    /// The core loss of the last step.
    pub final_loss: Option<f64>,
    /// The core loss of the first step taken by this call.
    pub first_loss: Option<f64>,
    /// The evaluations run by this call, in order.
    pub evaluations: Vec<Evaluated>,
    pub checkpoints_dir: PathBuf,
    /// The checkpoint to continue from or to use as weights (`final`, or `latest` when interrupted).
    pub checkpoint: Option<PathBuf>,
}

/// One evaluation of one meter, as recorded in `metrics.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    pub step: u64,
    pub epoch: u64,
    pub result: MeterResult,
}

/// The directories and files of a stage, in one place.
#[derive(Debug, Clone, PartialEq)]
pub struct StageLayout {
    pub dir: PathBuf,
}

impl StageLayout {
    pub fn new(experiment_dir: &Path, stage: &str) -> Self {
        StageLayout {
            dir: experiment_dir.join(stage),
        }
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.dir.join("checkpoints")
    }
    pub fn latest(&self) -> PathBuf {
        self.checkpoints().join("latest.safetensors")
    }
    pub fn final_checkpoint(&self) -> PathBuf {
        self.checkpoints().join("final.safetensors")
    }
    pub fn epoch_checkpoint(&self, epoch: u64) -> PathBuf {
        self.checkpoints()
            .join(format!("epoch_{epoch}.safetensors"))
    }
    pub fn tensorboard(&self) -> PathBuf {
        self.dir.join("tensorboard")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("logs").join("train.log")
    }
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.json")
    }
}

/// The weights file a stage or evaluation starts from by `init`, if any.
pub fn init_weights(experiment_dir: &Path, init: Option<&Init>) -> Option<PathBuf> {
    match init? {
        Init::Stage(name) => Some(StageLayout::new(experiment_dir, &name.0).final_checkpoint()),
        Init::Checkpoint(path) => Some(path.clone()),
    }
}

/// Checks, before anything runs, that the native runtime can run a stage: a model with data, loss and meters of
/// its domain, a precision it supports on `device`, and for a video stage pipelines that make frames of the
/// model's input size and valid training prompts.
pub fn preflight_stage(job: &StageJob, device: Device) -> Result<(), ExecError> {
    train::preflight(job, device)
}

/// The same for an evaluation.
pub fn preflight_eval(job: &EvalJob, device: Device) -> Result<(), ExecError> {
    train::preflight_evaluation(job, device)
}

/// Sets the number of threads of torch's intra-op pool (the CLI's `--threads`).
pub fn set_threads(threads: usize) {
    tch::set_num_threads(threads.max(1) as i32);
}
