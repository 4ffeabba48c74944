//! The component catalog. One Rust struct per component; its doc comments are the user documentation
//! (`sam3c doc NAME`), its `#[param]` attributes give defaults (written in .sam3x syntax), ranges and upstream
//! names, and serde gives the runtime its configuration from the checked spec.

pub mod data;
pub mod loss;
pub mod optim;
pub mod transforms;
