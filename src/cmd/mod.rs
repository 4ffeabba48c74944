//! One module per command.

pub mod check;
pub mod doc;
pub mod eval;
pub mod explain;
pub mod export;
pub mod fmt;
pub mod graph;
pub mod import;
pub mod launch;
pub mod model;
