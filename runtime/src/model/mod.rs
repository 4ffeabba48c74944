//! SAM 3 on tch: one Rust module per upstream module, the same module tree and parameter names as
//! `sam3.model` (VarStore paths `a.b.c` equal the upstream state-dict keys). `tracker` is the video tracker.

pub mod common;
pub mod tracker;
