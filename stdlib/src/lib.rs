//! The sam3c standard library: the component catalog and the architecture descriptions of SAM 3.
//! Pure Rust, no IO, no tch: the compiler and the runtime both depend on it.

pub mod arch;
pub mod components;
pub mod units;
