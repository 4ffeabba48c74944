//! The native runtime: the only crate of sam3c that touches tch.

pub mod device;
pub mod model;
pub mod train;
