//! The training pieces of the runtime: SAM 3's losses and matchers with upstream semantics, AdamW on tensors with
//! parameter groups and checkpointable state, gradient clipping and accumulation, learning-rate schedules, bf16
//! autocast, a non-finite guard, and a TensorBoard event writer.
//!
//! Configuration comes from the catalog structs of `sam3c_stdlib::components::{loss, optim}`; inputs are plain
//! structs of tensors ([`loss::FindOutputs`], [`loss::FindTargets`], [`loss::TrackerFrameOutputs`]) so that the
//! model and the training loop can be connected without knowing each other.

// In tch, `a += b` on tensors is an in-place op, which would corrupt values autograd saved for backward; the
// losses therefore write `a = a + b` on purpose.
#![allow(clippy::assign_op_pattern)]

pub mod amp;
pub mod box_ops;
mod error;
mod ffi;
pub mod guard;
pub mod loss;
pub mod matcher;
pub mod optim;
pub mod schedule;
pub mod tensorboard;

pub use error::TrainError;

/// Result type of the training pieces.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
