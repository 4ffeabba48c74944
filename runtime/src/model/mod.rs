//! SAM 3 on tch: module trees and parameter names identical to upstream (VarStore paths `a.b.c` equal the
//! upstream state-dict keys).

pub mod tracker;
