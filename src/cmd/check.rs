//! `sam3c check`: parse, resolve, type-check, check invariants (and with --data, the data).

use crate::util::*;
use crate::{fsdb, Format};
use sam3c_compiler::CheckOptions;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn check(files: &[PathBuf], set: &[String], format: Format, data: bool) -> ExitCode {
    let overrides = match parse_sets(set) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    let db = fsdb::FsDb;
    let mut total_errors = 0;
    for path in files {
        if !path.exists() {
            return usage_error(&format!("`{}` does not exist", path.display()));
        }
        let out = sam3c_compiler::check(
            &db,
            path,
            &CheckOptions {
                overrides: overrides.clone(),
                data,
                every_sweep: true,
                ..Default::default()
            },
        );
        let (errors, warnings) = report(&out, format);
        total_errors += errors;
        if format == Format::Human {
            let stages = out.spec.as_ref().map(|s| s.stages.len()).unwrap_or(0);
            if errors > 0 {
                eprintln!(
                    "{}: {}{}",
                    path.display(),
                    plural(errors, "error"),
                    if warnings > 0 {
                        format!(", {}", plural(warnings, "warning"))
                    } else {
                        String::new()
                    }
                );
            } else {
                eprintln!(
                    "{}: ok ({}{})",
                    path.display(),
                    plural(stages, "stage"),
                    if warnings > 0 {
                        format!(", {}", plural(warnings, "warning"))
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    if total_errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
