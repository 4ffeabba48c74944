//! `sam3c fmt`: format specs in place.

use crate::util::*;
use crate::{fsdb, Format};
use sam3c_compiler::CheckOptions;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn fmt(files: &[PathBuf], check_only: bool) -> ExitCode {
    let mut unformatted = 0;
    let mut failed = false;
    for path in files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return usage_error(&format!("cannot read `{}`: {e}", path.display())),
        };
        match sam3c_lang::format(&text) {
            Ok(formatted) => {
                if formatted != text {
                    unformatted += 1;
                    if check_only {
                        eprintln!("{}: not formatted", path.display());
                    } else if let Err(e) = write_atomically(path, &formatted) {
                        return usage_error(&format!("cannot write `{}`: {e}", path.display()));
                    }
                }
            }
            Err(_) => {
                // Show the syntax errors with their codes, as `check` would.
                let out = sam3c_compiler::check(&fsdb::FsDb, path, &CheckOptions::default());
                report(&out, Format::Human);
                eprintln!(
                    "{}: not formatted: fix the syntax errors first",
                    path.display()
                );
                failed = true;
            }
        }
    }
    if failed || (check_only && unformatted > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
