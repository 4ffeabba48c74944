//! The SAM 3 image model on tch: one Rust module per upstream module, the same module tree and parameter
//! names as `sam3.model` (VarStore paths `a.b.c` equal the upstream state-dict keys).

pub mod common;
