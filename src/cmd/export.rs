//! `sam3c export --backend upstream`: Hydra configs for Meta's trainer, one per image stage or evaluation.

use crate::util::*;
use crate::{fsdb, Format};
use sam3c_compiler::upstream::{ExportOptions, ExportOutput};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Check and export; diagnostics are printed. `None` when there are errors (already reported).
pub fn export_configs(
    file: &Path,
    set: &[String],
    stages: &[String],
    bpe_path: Option<&str>,
) -> Result<Option<ExportOutput>, String> {
    let overrides = parse_sets(set)?;
    if !file.exists() {
        return Err(format!("`{}` does not exist", file.display()));
    }
    let out = sam3c_compiler::upstream::export(
        &fsdb::FsDb,
        file,
        &ExportOptions {
            overrides,
            stages: stages.to_vec(),
            bpe_path: bpe_path.map(str::to_string),
        },
    )?;
    let (errors, warnings) = report_diagnostics(&out.diagnostics, &out.files, Format::Human);
    if errors > 0 {
        eprintln!(
            "{}: {}{}",
            file.display(),
            plural(errors, "error"),
            if warnings > 0 {
                format!(", {}", plural(warnings, "warning"))
            } else {
                String::new()
            }
        );
        return Ok(None);
    }
    Ok(Some(out))
}

pub fn export(
    file: &Path,
    out_dir: Option<&Path>,
    set: &[String],
    stages: &[String],
    bpe_path: Option<&str>,
) -> ExitCode {
    let out = match export_configs(file, set, stages, bpe_path) {
        Ok(Some(out)) => out,
        Ok(None) => return ExitCode::from(1),
        Err(e) => return usage_error(&e),
    };
    let Some(dir) = out_dir else {
        // Without a directory: every config on stdout, as YAML documents.
        for (i, c) in out.configs.iter().enumerate() {
            if i > 0 {
                println!("---");
            }
            print!("{}", c.yaml);
        }
        return ExitCode::SUCCESS;
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create `{}`: {e}", dir.display());
        return ExitCode::from(1);
    }
    for c in &out.configs {
        let path: PathBuf = dir.join(&c.file_name);
        if let Err(e) = write_atomically(&path, &c.yaml) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return ExitCode::from(1);
        }
        let tasks = if c.tasks > 1 {
            format!(", a job array of {} tasks", c.tasks)
        } else {
            String::new()
        };
        eprintln!("wrote {} ({}{tasks})", path.display(), c.stage);
    }
    eprintln!(
        "run them with `sam3c run --backend upstream {}` (it puts the configs on the trainer's config path)",
        file.display()
    );
    ExitCode::SUCCESS
}
