//! An upstream config as a .sam3x spec.
use crate::db::Files;
use crate::diag::Diagnostic;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {}

#[derive(Debug)]
pub struct ImportOutput {
    pub files: Files,
    pub diagnostics: Vec<Diagnostic>,
    pub spec: Option<String>,
}

pub fn import() {}
