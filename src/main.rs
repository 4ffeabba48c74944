//! The `sam3c` command line. This is the only place that reads and writes files and spawns processes; the
//! libraries it calls are pure.

mod fsdb;

use clap::{Parser, Subcommand, ValueEnum};
use sam3c_compiler::diag::{self, RenderOptions};
use sam3c_compiler::{CheckOptions, CheckOutput, Severity};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sam3c",
    version,
    about = "A typed experiment language, compiler and training runtime for fine-tuning SAM 3"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Parse, resolve and type-check specs, and check their invariants; report every problem with its code.
    Check {
        /// The .sam3x files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Override a parameter: `--set lr_scale=0.05` (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Output format: readable diagnostics, or JSON lines for editors and CI.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also check the data the spec names: annotation files, images, masks, class statistics.
        #[arg(long)]
        data: bool,
    },
    /// Format specs in place (keeps comments); with --check, only report files that would change.
    Fmt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Do not write; exit with 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Explain a diagnostic code (`sam3c explain E0400`).
    Explain {
        /// The code; without it, list every code.
        code: Option<String>,
    },
    /// Document the component catalog, or one component (`sam3c doc random_resize`).
    Doc {
        /// A component name.
        name: Option<String>,
    },
    /// Run the language server over stdio (diagnostics, hover, go to definition, completion, formatting).
    Lsp,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            files,
            set,
            format,
            data,
        } => check(&files, &set, format, data),
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Explain { code } => explain(code.as_deref()),
        Command::Doc { name } => doc(name.as_deref()),
        Command::Lsp => {
            let (connection, io_threads) = lsp_server::Connection::stdio();
            let result = sam3c_lsp::run(&connection, &fsdb::FsDb);
            drop(connection);
            let _ = io_threads.join();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => usage_error(&format!("language server: {e}")),
            }
        }
    }
}

fn color_for(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// `NAME=VALUE` pairs of `--set`.
fn parse_sets(set: &[String]) -> Result<Vec<(String, String)>, String> {
    set.iter()
        .map(|s| match s.split_once('=') {
            Some((n, v)) if !n.trim().is_empty() => Ok((n.trim().to_string(), v.to_string())),
            _ => Err(format!(
                "`--set {s}`: expected NAME=VALUE, e.g. `--set lr_scale=0.05`"
            )),
        })
        .collect()
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// Print diagnostics; returns (errors, warnings).
fn report(out: &CheckOutput, format: Format) -> (usize, usize) {
    let errors = out
        .diagnostics
        .iter()
        .filter(|d| d.severity() == Severity::Error)
        .count();
    let warnings = out.diagnostics.len() - errors;
    match format {
        Format::Json => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            for d in &out.diagnostics {
                let _ = writeln!(lock, "{}", diag::to_json(d, &out.files));
            }
        }
        Format::Human => {
            let opts = RenderOptions {
                color: color_for(&std::io::stderr()),
                width: terminal_width(),
            };
            for d in &out.diagnostics {
                eprint!("{}", diag::render(d, &out.files, opts));
                eprintln!();
            }
        }
    }
    (errors, warnings)
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn check(files: &[PathBuf], set: &[String], format: Format, data: bool) -> ExitCode {
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

fn fmt(files: &[PathBuf], check_only: bool) -> ExitCode {
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

/// Write a file so that a crash never leaves it half-written.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("sam3x.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn explain(code: Option<&str>) -> ExitCode {
    use sam3c_compiler::Code;
    match code {
        None => {
            for c in Code::ALL {
                println!("{}  {}", c.as_str(), c.title());
            }
            ExitCode::SUCCESS
        }
        Some(s) => match Code::parse(s) {
            Some(c) => {
                print!("{}", c.explanation());
                ExitCode::SUCCESS
            }
            None => {
                let all: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
                let hint =
                    sam3c_compiler::suggest::did_you_mean(&s.to_uppercase(), all.iter().copied())
                        .map(|h| format!("; {h}"))
                        .unwrap_or_else(|| "; `sam3c explain` lists them".into());
                usage_error(&format!("`{s}` is not a diagnostic code{hint}"))
            }
        },
    }
}

fn doc(name: Option<&str>) -> ExitCode {
    match name {
        None => {
            print!("{}", sam3c_compiler::docs::catalog());
            ExitCode::SUCCESS
        }
        Some(n) => match sam3c_compiler::docs::component(n) {
            Some(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            None => {
                let names: Vec<&str> = sam3c_stdlib::components::all()
                    .iter()
                    .map(|c| c.name)
                    .collect();
                let hint = sam3c_compiler::suggest::did_you_mean(n, names.iter().copied())
                    .map(|h| format!("; {h}"))
                    .unwrap_or_else(|| "; `sam3c doc` lists every component".into());
                usage_error(&format!("no component `{n}`{hint}"))
            }
        },
    }
}
