//! The .sam3x language: grammar, syntax tree, a parser that never fails, and the formatter.
//!
//! This crate knows nothing of types, components or units: they are plain identifiers here. The compiler gives
//! them meaning.

pub mod ast;
mod dump;
mod error;
pub mod format;
mod parser;
mod scan;

pub use dump::dump;
pub use error::{SyntaxError, SyntaxErrorKind};
pub use format::format;
pub use parser::{parse, parse_expr, parse_type};
