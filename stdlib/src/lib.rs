//! The sam3c standard library: the component catalog and the architecture descriptions of SAM 3.
//! Pure Rust, no IO, no tch: the compiler and the runtime both depend on it.

// The derives refer to `::sam3c_stdlib`, which must resolve inside this crate too.
extern crate self as sam3c_stdlib;

pub mod arch;
pub mod catalog;
pub mod components;
pub mod groups;
pub mod units;
