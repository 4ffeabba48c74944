//! Quantities with units. A number in a spec that needs a unit must carry one (`1008px`, `20 steps`).

use serde::{Deserialize, Serialize};

/// A length in pixels (`1008px`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pixels(pub u32);

/// A number of optimizer steps (`20 steps`): one step is one optimizer update, after gradient accumulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Steps(pub u64);

/// A number of passes over the training data (`40 epochs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epochs(pub u64);

/// A wall-clock duration (`72h`, `30min`, `10s`), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Duration(pub f64);

/// A share (`15%`), stored as a fraction in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Percent(pub f64);

/// A length of training, counted either in optimizer steps or in epochs; which one is known when the spec is
/// written, the conversion needs the dataset size and happens when the stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Span {
    Steps(Steps),
    Epochs(Epochs),
}

impl Span {
    /// The span in optimizer steps, given how many steps one epoch has.
    pub fn to_steps(self, steps_per_epoch: u64) -> u64 {
        match self {
            Span::Steps(Steps(s)) => s,
            Span::Epochs(Epochs(e)) => e * steps_per_epoch,
        }
    }
}
