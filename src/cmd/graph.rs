//! `sam3c graph`: the execution graph of a spec, as text, Graphviz DOT or JSON.

use crate::fsdb;
use crate::util::*;
use clap::ValueEnum;
use sam3c_compiler::CheckOptions;
use std::path::Path;
use std::process::ExitCode;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
    Json,
}

pub fn graph(path: &Path, set: &[String], format: GraphFormat) -> ExitCode {
    let overrides = match parse_sets(set) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    if !path.exists() {
        return usage_error(&format!("`{}` does not exist", path.display()));
    }
    let out = sam3c_compiler::check(
        &fsdb::FsDb,
        path,
        &CheckOptions {
            overrides,
            ..Default::default()
        },
    );
    if out.has_errors() {
        report(&out, crate::Format::Human);
        eprintln!("{}: no graph: fix the errors first", path.display());
        return ExitCode::from(1);
    }
    let (Some(spec), Some(graph)) = (out.spec.as_ref(), out.graph.as_ref()) else {
        return ExitCode::from(1);
    };
    match format {
        GraphFormat::Text => print!("{}", graph.to_text()),
        GraphFormat::Dot => print!("{}", graph.to_dot()),
        GraphFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&graph.to_json(spec)).unwrap()
        ),
    }
    ExitCode::SUCCESS
}
