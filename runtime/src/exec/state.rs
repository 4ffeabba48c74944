//! Stage checkpoints: one safetensors file holding everything a stage needs to continue exactly where it was.
//!
//! | entry | content |
//! |---|---|
//! | `<param>` (e.g. `backbone.vision_backbone.trunk.pos_embed`) | the model's weights, under upstream's state-dict names, so the file is also a plain image-model checkpoint |
//! | `optimizer.exp_avg.<param>`, `optimizer.exp_avg_sq.<param>`, `optimizer.step.<param>` | AdamW's moments and per-parameter step counts |
//! | metadata `sam3c.checkpoint` | the format version ([`FORMAT`]) |
//! | metadata `stage`, `stage_hash`, `spec_hash` | which stage wrote it, a hash of its configuration, a hash of the whole resolved spec |
//! | metadata `step`, `epoch`, `steps_in_epoch` | optimizer steps done; epochs completed; steps done in the current epoch |
//! | metadata `seed`, `rng` | the stage seed and how torch's generator is derived from it (see below) |
//! | metadata `kind`, `loss`, `train_seconds` | why it was written (`latest`, `epoch`, `final`, `interrupted`), the last step's loss, training time so far |
//!
//! Randomness: the data order and every augmentation are functions of (seed, epoch, position) in the loader,
//! and torch's generator (dropout, stochastic depth) is re-seeded before every optimizer step from (seed, step).
//! The RNG state of a run is therefore the pair (seed, step) the metadata holds, and resuming reproduces the
//! same random draws as an uninterrupted run.

use super::error::ExecError;
use super::model::OPTIMIZER_PREFIX;
use crate::checkpoint::{self, StateDict};
use crate::train::optim::AdamW;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::Tensor;

/// The value of the `sam3c.checkpoint` metadata entry this runtime writes and reads.
pub const FORMAT: &str = "stage-v1";

/// How torch's generator is seeded, recorded in each checkpoint.
pub const RNG_SCHEME: &str = "torch re-seeded before every optimizer step with mix(seed, step)";

/// Where a stage checkpoint sits in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// The end of the latest epoch (overwritten every epoch).
    Latest,
    /// A kept epoch (`save_every`).
    Epoch,
    /// The end of the stage.
    Final,
    /// Written when the run was interrupted in the middle of an epoch.
    Interrupted,
}

impl CheckpointKind {
    fn name(self) -> &'static str {
        match self {
            CheckpointKind::Latest => "latest",
            CheckpointKind::Epoch => "epoch",
            CheckpointKind::Final => "final",
            CheckpointKind::Interrupted => "interrupted",
        }
    }
}

/// The progress and identity a checkpoint records.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub stage: String,
    pub stage_hash: String,
    pub spec_hash: String,
    /// Optimizer steps done.
    pub step: u64,
    /// Epochs completed.
    pub epoch: u64,
    /// Optimizer steps done in epoch `epoch` (0 at an epoch boundary).
    pub steps_in_epoch: u64,
    pub seed: u64,
    /// The core loss of the last step, if a step was taken.
    pub loss: Option<f64>,
    /// Training time so far (excluding evaluations), in seconds.
    pub train_seconds: f64,
}

/// Writes a stage checkpoint atomically (temporary file, then rename).
pub fn save(
    path: &Path,
    vs: &VarStore,
    optimizer: &AdamW,
    progress: &Progress,
    kind: CheckpointKind,
) -> Result<(), ExecError> {
    let mut tensors: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    tensors.extend(
        optimizer
            .state_tensors()
            .into_iter()
            .map(|(name, t)| (format!("{OPTIMIZER_PREFIX}{name}"), t)),
    );
    let mut metadata = BTreeMap::new();
    metadata.insert("sam3c.checkpoint".to_string(), FORMAT.to_string());
    metadata.insert("kind".to_string(), kind.name().to_string());
    metadata.insert("stage".to_string(), progress.stage.clone());
    metadata.insert("stage_hash".to_string(), progress.stage_hash.clone());
    metadata.insert("spec_hash".to_string(), progress.spec_hash.clone());
    metadata.insert("step".to_string(), progress.step.to_string());
    metadata.insert("epoch".to_string(), progress.epoch.to_string());
    metadata.insert(
        "steps_in_epoch".to_string(),
        progress.steps_in_epoch.to_string(),
    );
    metadata.insert("seed".to_string(), progress.seed.to_string());
    metadata.insert("rng".to_string(), RNG_SCHEME.to_string());
    if let Some(loss) = progress.loss {
        metadata.insert("loss".to_string(), format!("{loss}"));
    }
    metadata.insert(
        "train_seconds".to_string(),
        format!("{:.3}", progress.train_seconds),
    );
    checkpoint::save(path, &tensors, &metadata).map_err(|source| ExecError::Checkpoint {
        stage: progress.stage.clone(),
        context: format!("writing the checkpoint {}", path.display()),
        source,
    })
}

/// A stage checkpoint read back: its progress and its tensors (read lazily).
pub struct StageCheckpoint {
    pub path: PathBuf,
    pub progress: Progress,
    pub kind: String,
    pub state: StateDict,
}

/// Reads a stage checkpoint written by [`save`]; errors name the file and what is wrong with it.
pub fn read(stage: &str, path: &Path) -> Result<StageCheckpoint, ExecError> {
    let state = checkpoint::load(path).map_err(|source| ExecError::Checkpoint {
        stage: stage.to_string(),
        context: format!("reading the checkpoint {}", path.display()),
        source,
    })?;
    let bad = |message: String| ExecError::BadCheckpoint {
        stage: stage.to_string(),
        path: path.to_path_buf(),
        message,
    };
    let md = &state.metadata;
    match md.get("sam3c.checkpoint").map(String::as_str) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(bad(format!(
                "is a sam3c checkpoint of format `{other}`; this runtime reads `{FORMAT}`"
            )))
        }
        None => {
            return Err(bad(
                "is not a sam3c stage checkpoint (no `sam3c.checkpoint` metadata): it cannot resume a stage; \
                 use it as `init` or as the model's `weights` instead"
                    .to_string(),
            ))
        }
    }
    let text = |key: &str| -> Result<String, ExecError> {
        md.get(key)
            .cloned()
            .ok_or_else(|| bad(format!("lacks the `{key}` metadata entry")))
    };
    let number = |key: &str| -> Result<u64, ExecError> {
        text(key)?
            .parse()
            .map_err(|_| bad(format!("has a malformed `{key}` metadata entry")))
    };
    let progress = Progress {
        stage: text("stage")?,
        stage_hash: text("stage_hash")?,
        spec_hash: text("spec_hash")?,
        step: number("step")?,
        epoch: number("epoch")?,
        steps_in_epoch: number("steps_in_epoch")?,
        seed: number("seed")?,
        loss: md.get("loss").and_then(|v| v.parse().ok()),
        train_seconds: md
            .get("train_seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
    };
    Ok(StageCheckpoint {
        path: path.to_path_buf(),
        kind: text("kind")?,
        progress,
        state,
    })
}

impl StageCheckpoint {
    /// Copies the weights into `vs` (strictly) and the optimizer state into `optimizer`.
    pub fn restore(&self, vs: &VarStore, optimizer: &mut AdamW) -> Result<(), ExecError> {
        let stage = &self.progress.stage;
        let map = checkpoint::KeyMap::identity().drop_prefix(OPTIMIZER_PREFIX);
        checkpoint::load_into(vs, &self.state, &map, true).map_err(|source| {
            ExecError::Checkpoint {
                stage: stage.clone(),
                context: format!("restoring the weights of {}", self.path.display()),
                source,
            }
        })?;
        let mut optimizer_state = Vec::new();
        for entry in self.state.entries() {
            if let Some(name) = entry.name.strip_prefix(OPTIMIZER_PREFIX) {
                let tensor = entry.to_tensor().map_err(|source| ExecError::Checkpoint {
                    stage: stage.clone(),
                    context: format!("reading {}", self.path.display()),
                    source,
                })?;
                optimizer_state.push((name.to_string(), tensor));
            }
        }
        optimizer
            .load_state_tensors(optimizer_state)
            .map_err(|e| ExecError::BadCheckpoint {
                stage: stage.clone(),
                path: self.path.clone(),
                message: format!("has an optimizer state that does not fit this stage: {e}"),
            })
    }
}

/// A stable 64-bit FNV-1a hash, as 16 hex digits (configuration hashes in checkpoints; not cryptographic).
pub fn stable_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The seed of torch's generator for optimizer step `step` of a stage seeded with `seed` (splitmix64).
pub fn step_seed(seed: u64, step: u64) -> i64 {
    let mut z = seed
        .wrapping_add(step.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as i64
}

/// What [`export_weights`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightsExport {
    /// Model tensors written.
    pub tensors: usize,
    /// Optimizer tensors left out.
    pub dropped: usize,
    /// Bytes of the file written.
    pub bytes: u64,
}

/// Writes the model weights of the checkpoint `src` (a stage checkpoint, or any checkpoint [`checkpoint::load`]
/// reads) to `dst` as safetensors, without the optimizer state: a file to share, ship, or start a stage from
/// (`model = sam3_image { weights = ... }`), a third of a stage checkpoint's size. Where `src` is a stage
/// checkpoint, its stage, step and loss are kept as metadata (`source_*`); it is no longer resumable.
pub fn export_weights(
    src: &Path,
    dst: &Path,
) -> Result<WeightsExport, checkpoint::CheckpointError> {
    let state = checkpoint::load(src)?;
    let mut tensors = Vec::new();
    let mut dropped = 0;
    for entry in state.entries() {
        if entry.name.starts_with(OPTIMIZER_PREFIX) {
            dropped += 1;
        } else {
            tensors.push((entry.name.clone(), entry.to_tensor()?));
        }
    }
    let mut metadata = BTreeMap::new();
    metadata.insert("sam3c.weights".to_string(), "model weights".to_string());
    for key in ["stage", "step", "epoch", "loss", "spec_hash"] {
        if let Some(value) = state.metadata.get(key) {
            metadata.insert(format!("source_{key}"), value.clone());
        }
    }
    checkpoint::save(dst, &tensors, &metadata)?;
    let bytes = std::fs::metadata(dst)
        .map_err(|source| checkpoint::CheckpointError::Io {
            path: dst.to_path_buf(),
            source,
        })?
        .len();
    Ok(WeightsExport {
        tensors: tensors.len(),
        dropped,
        bytes,
    })
}
