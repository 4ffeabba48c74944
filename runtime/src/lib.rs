//! The native runtime: the only crate of sam3c that touches tch.

pub mod checkpoint;
pub mod data;
pub mod demo;
pub mod device;
pub mod exec;
pub mod model;
pub mod predict;
pub mod temporal;
pub mod text;
pub mod train;
