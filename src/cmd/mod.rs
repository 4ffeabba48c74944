//! One module per command.

pub mod check;
#[cfg(feature = "native")]
pub mod demo_data;
pub mod doc;
pub mod eval;
pub mod explain;
pub mod export;
pub mod fmt;
pub mod graph;
pub mod import;
pub mod launch;
pub mod model;
#[cfg(feature = "native")]
pub mod predict;
#[cfg(feature = "native")]
pub mod run;
pub mod run_flags;
