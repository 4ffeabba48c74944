//! Helpers shared by the commands.

use crate::Format;
use sam3c_compiler::diag::{self, RenderOptions};
use sam3c_compiler::{CheckOutput, Severity};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

pub fn color_for(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// `NAME=VALUE` pairs of `--set`.
pub fn parse_sets(set: &[String]) -> Result<Vec<(String, String)>, String> {
    set.iter()
        .map(|s| match s.split_once('=') {
            Some((n, v)) if !n.trim().is_empty() => Ok((n.trim().to_string(), v.to_string())),
            _ => Err(format!(
                "`--set {s}`: expected NAME=VALUE, e.g. `--set lr_scale=0.05`"
            )),
        })
        .collect()
}

pub fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// Print diagnostics; returns (errors, warnings).
pub fn report(out: &CheckOutput, format: Format) -> (usize, usize) {
    report_diagnostics(&out.diagnostics, &out.files, format)
}

/// Print diagnostics whose sources are in `files`; returns (errors, warnings).
pub fn report_diagnostics(
    diagnostics: &[sam3c_compiler::Diagnostic],
    files: &sam3c_compiler::Files,
    format: Format,
) -> (usize, usize) {
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity() == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    match format {
        Format::Json => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            for d in diagnostics {
                let _ = writeln!(lock, "{}", diag::to_json(d, files));
            }
        }
        Format::Human => {
            let opts = RenderOptions {
                color: color_for(&std::io::stderr()),
                width: terminal_width(),
            };
            for d in diagnostics {
                eprint!("{}", diag::render(d, files, opts));
                eprintln!();
            }
        }
    }
    (errors, warnings)
}

pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Write a file so that a crash never leaves it half-written.
pub fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("sam3x.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
