//! `sam3c import`: an upstream Hydra config (Meta's trainer) as a formatted .sam3x spec.

use crate::util::*;
use crate::{fsdb, Format};
use sam3c_compiler::upstream::{ImportOptions, ImportOutput};
use std::path::Path;
use std::process::ExitCode;

/// Import `file` (over `parent`, its defaults-list parent); print the spec or write it to `out`. Warnings and
/// errors go to stderr; the spec is written also when some settings could not be expressed (E0811), so that it
/// can be completed by hand, and the exit code is then 1.
pub fn import(file: &Path, out: Option<&Path>, parent: Option<&Path>) -> ExitCode {
    if !file.exists() {
        return usage_error(&format!("`{}` does not exist", file.display()));
    }
    let result: ImportOutput = sam3c_compiler::upstream::import(
        &fsdb::FsDb,
        file,
        &ImportOptions {
            parent: parent.map(Path::to_path_buf),
        },
    );
    let (errors, _) = report_diagnostics(&result.diagnostics, &result.files, Format::Human);
    let Some(spec) = result.spec else {
        return ExitCode::from(1);
    };
    match out {
        Some(path) => {
            if let Err(e) = write_atomically(path, &spec) {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                return ExitCode::from(1);
            }
            eprintln!(
                "wrote {} (check it with `sam3c check {}`)",
                path.display(),
                path.display()
            );
        }
        None => print!("{spec}"),
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
