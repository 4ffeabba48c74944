//! SAM 3's losses with upstream semantics: the detection loss [`Sam3Loss`] (`Sam3LossWrapper` with `Boxes`,
//! `IABCEMdetr`, `Masks` and `SemanticSegCriterion`) and the tracker loss [`TrackerLossFn`] (SAM 2's
//! `MultiStepMultiMasksAndIous`). Values are returned under upstream's key names (`loss_bbox`,
//! `loss_giou_aux_0`, `loss_ce_o2m`, ..., [`CORE_LOSS_KEY`]); only the core loss is meant for `backward`.

mod detection;
pub mod functional;
mod inputs;
mod sam3;
mod semantic;
mod tracker;

pub use detection::{BoxesLoss, ClassificationLoss, FindLossTerm, MasksLoss};
pub use inputs::{FindOutputs, FindTargets, LayerOutputs, QueryPredictions};
pub use sam3::{Collective, Normalization, Sam3Loss, SingleProcess};
pub use semantic::SemanticSegLoss;
pub use tracker::{TrackerFrameOutputs, TrackerLossFn};

use std::collections::BTreeMap;
use tch::Tensor;

/// The key of the weighted total that is back-propagated.
pub const CORE_LOSS_KEY: &str = "core_loss";

/// Named loss values (0-dim tensors), including [`CORE_LOSS_KEY`].
pub type LossDict = BTreeMap<String, Tensor>;

/// Adds every value of `from` into `into` (upstream's `total_losses[k] += v`).
pub(crate) fn accumulate(into: &mut LossDict, from: LossDict) {
    for (key, value) in from {
        match into.remove(&key) {
            Some(previous) => {
                into.insert(key, previous + value);
            }
            None => {
                into.insert(key, value);
            }
        }
    }
}
