//! Stages, the experiment and its resources.

use crate::catalog::{DslType, TypeDesc};
use crate::units::{Duration, Epochs};
use sam3c_derive::{Component, DslEnum, DslUnion};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::data::DatasetSpec;
use super::loss::LossSpec;
use super::meter::MeterSpec;
use super::model::ModelSpec;
use super::optim::{AdamW, Schedule};
use super::transforms::TransformSpec;

/// The name of a stage declared in the spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StageName(pub String);

impl DslType for StageName {
    fn desc() -> TypeDesc {
        TypeDesc::StageRef
    }
}

/// Where a stage's weights come from before it trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum Init {
    /// The final weights of an earlier stage (a fresh optimizer; the schedule starts at step 0).
    Stage(StageName),
    /// A checkpoint file.
    Checkpoint(PathBuf),
}

/// Numeric precision of the forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, DslEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Full fp32.
    Fp32,
    /// bf16 autocast (CUDA; fp32 on a CPU).
    Bf16,
    /// fp16 autocast with loss scaling.
    Fp16,
}

/// A training stage: a model trained on a dataset through a pipeline, with a loss, an optimizer and a schedule,
/// evaluated by meters. Stages run in dependency order (`after`, and `init` from another stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "stage",
    name = "stage",
    domain = "any",
    upstream = "sam3.train.trainer.Trainer"
)]
pub struct Stage {
    /// The model to train.
    pub model: ModelSpec,
    /// The training dataset.
    pub data: DatasetSpec,
    /// The training pipeline.
    pub pipeline: Vec<TransformSpec>,
    /// The loss.
    pub loss: LossSpec,
    /// The optimizer and its parameter groups.
    pub optimizer: AdamW,
    /// The learning-rate schedule.
    #[param(default = "constant()")]
    pub schedule: Schedule,
    /// Multiplies the learning rate of every parameter group (the `lr_scale` of SAM 3's recipes).
    #[param(default = "1.0", range = "0..")]
    pub lr_scale: f64,
    /// Length of the stage.
    #[param(range = "1..", upstream = "max_epochs")]
    pub epochs: Epochs,
    /// Images (or clips) per optimizer step per device, before accumulation splits it.
    #[param(default = "1", range = "1..", upstream = "batch_size")]
    pub batch: u32,
    /// Split each batch into this many chunks whose gradients are accumulated; must divide `batch`.
    #[param(default = "1", range = "1..", upstream = "gradient_accumulation_steps")]
    pub accumulate: u32,
    /// Numeric precision.
    #[param(default = "bf16")]
    pub precision: Precision,
    /// Meters run on held-out data.
    #[param(default = "[]")]
    pub eval: Vec<MeterSpec>,
    /// Evaluate every N epochs (and always after the last epoch).
    #[param(default = "none", upstream = "val_epoch_freq")]
    pub eval_every: Option<Epochs>,
    /// Also evaluate before training, to measure the starting point.
    #[param(default = "false")]
    pub eval_first: bool,
    /// Keep a checkpoint every N epochs (the latest one is always kept).
    #[param(default = "none", upstream = "save_freq")]
    pub save_every: Option<Epochs>,
    /// Save weights at all. A stage that others initialize from must save.
    #[param(default = "true")]
    pub save: bool,
    /// Initialize the weights from an earlier stage or a checkpoint, with a fresh optimizer.
    #[param(default = "none", upstream = "model_weight_initializer")]
    pub init: Option<Init>,
    /// Continue an interrupted run of *this* stage from a checkpoint of it (optimizer, step and RNG restored).
    #[param(default = "none", upstream = "resume_from")]
    pub resume: Option<PathBuf>,
    /// Data-loading worker threads.
    #[param(default = "2", range = "0..")]
    pub workers: u32,
    /// Load batches into page-locked host memory, for faster copies to a GPU. Changes speed, not results.
    #[param(default = "true")]
    pub pin_memory: bool,
    /// Random seed of the stage (data order, augmentation, initialization).
    #[param(default = "123", upstream = "seed_value")]
    pub seed: u64,
}

/// An evaluation: meters run on a model without training (upstream's `mode: val`), on the model's own weights,
/// a stage's final weights, or a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "evaluation",
    name = "evaluation",
    domain = "any",
    upstream = "sam3.train.trainer.Trainer"
)]
pub struct Evaluation {
    /// The model to evaluate.
    pub model: ModelSpec,
    /// The meters, each with its dataset and pipeline.
    pub eval: Vec<MeterSpec>,
    /// Weights: a stage's final weights or a checkpoint (default: the model's `weights`).
    #[param(default = "none", upstream = "model_weight_initializer")]
    pub init: Option<Init>,
    /// Images per forward pass.
    #[param(default = "1", range = "1..", upstream = "batch_size")]
    pub batch: u32,
    /// Numeric precision.
    #[param(default = "bf16")]
    pub precision: Precision,
    /// Data-loading worker threads.
    #[param(default = "0", range = "0..")]
    pub workers: u32,
    /// Load batches into page-locked host memory, for faster copies to a GPU. Changes speed, not results.
    #[param(default = "true")]
    pub pin_memory: bool,
    /// Random seed.
    #[param(default = "123", upstream = "seed_value")]
    pub seed: u64,
}

/// The experiment: its name and where its outputs go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "experiment", name = "experiment", domain = "any")]
pub struct Experiment {
    /// A name for logs and job names.
    #[param(default = "none")]
    pub name: Option<String>,
    /// The experiment directory: checkpoints, logs, TensorBoard events and metrics go below it.
    #[param(default = "\"runs\"", upstream = "experiment_log_dir")]
    pub out: PathBuf,
}

/// Compute resources: devices, nodes, and the cluster to submit to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "resources", name = "resources", domain = "any")]
pub struct Resources {
    /// GPUs per node.
    #[param(default = "1", range = "1..", upstream = "gpus_per_node")]
    pub gpus: u32,
    /// Nodes.
    #[param(default = "1", range = "1..", upstream = "num_nodes")]
    pub nodes: u32,
    /// Submit to a SLURM cluster instead of running locally.
    #[param(default = "none")]
    pub cluster: Option<Slurm>,
}

/// A SLURM cluster, reached through submitit by the upstream backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "cluster", name = "slurm", domain = "any")]
pub struct Slurm {
    /// The partition.
    #[param(default = "none")]
    pub partition: Option<String>,
    /// The account.
    #[param(default = "none")]
    pub account: Option<String>,
    /// The quality of service.
    #[param(default = "none")]
    pub qos: Option<String>,
    /// The job's time limit.
    #[param(default = "72h", upstream = "timeout_hour")]
    pub time: Duration,
    /// CPUs per task (data loading).
    #[param(default = "4", range = "1..", upstream = "cpus_per_task")]
    pub cpus_per_task: u32,
    /// Memory per node in GB.
    #[param(default = "none", upstream = "mem_gb")]
    pub mem_gb: Option<u32>,
    /// Node features required (SLURM `--constraint`).
    #[param(default = "none", upstream = "constraints")]
    pub constraints: Option<String>,
    /// Nodes to exclude.
    #[param(default = "[]", upstream = "exclude_nodes")]
    pub exclude: Vec<String>,
    /// A comment attached to the job.
    #[param(default = "none")]
    pub comment: Option<String>,
}
