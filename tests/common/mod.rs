//! Shared helpers of the integration tests.
#![allow(dead_code)]

use sam3c_compiler::diag::{self, RenderOptions};
use sam3c_compiler::{CheckOptions, CheckOutput, SourceDb};
use std::path::Path;

/// The filesystem, for specs that import other files.
pub struct FsDb;

impl SourceDb for FsDb {
    fn read_text(&self, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|_| "no such file".to_string())
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// Options written in a spec's first lines: `// sam3c: --set NAME=VALUE`.
pub fn options_from_header(text: &str) -> CheckOptions {
    let mut opts = CheckOptions::default();
    for line in text.lines().take_while(|l| l.starts_with("//")) {
        if let Some(args) = line.strip_prefix("// sam3c:") {
            let mut words = args.split_whitespace();
            while let Some(w) = words.next() {
                if w == "--set" {
                    let kv = words.next().expect("--set needs NAME=VALUE");
                    let (k, v) = kv.split_once('=').expect("NAME=VALUE");
                    opts.overrides.push((k.to_string(), v.to_string()));
                }
            }
        }
    }
    opts
}

pub fn check_file(path: &Path) -> CheckOutput {
    let text = std::fs::read_to_string(path).unwrap();
    let opts = options_from_header(&text);
    if exports_for_upstream(&text) {
        check_and_export(path, &opts)
    } else {
        sam3c_compiler::check(&FsDb, path, &opts)
    }
}

/// Whether a spec's header asks for `--backend upstream` (its export's diagnostics count, too).
pub fn exports_for_upstream(text: &str) -> bool {
    text.lines()
        .take_while(|l| l.starts_with("//"))
        .any(|l| l.starts_with("// sam3c:") && l.contains("--backend upstream"))
}

/// Check a spec and, when it checks clean, export it for Meta's trainer; the export's diagnostics replace the
/// check's (they include them).
pub fn check_and_export(path: &Path, opts: &CheckOptions) -> CheckOutput {
    let mut out = sam3c_compiler::check(&FsDb, path, opts);
    if !out.has_errors() {
        let export = sam3c_compiler::upstream::export(
            &FsDb,
            path,
            &sam3c_compiler::upstream::ExportOptions {
                overrides: opts.overrides.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        out.files = export.files;
        out.diagnostics = export.diagnostics;
    }
    out
}

/// Every diagnostic rendered as a user sees it (no colour, 100 columns).
pub fn render_all(out: &CheckOutput) -> String {
    let opts = RenderOptions {
        color: false,
        width: 100,
    };
    out.diagnostics
        .iter()
        .map(|d| diag::render(d, &out.files, opts))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The .sam3x files of a directory (not recursive), sorted.
pub fn specs_in(dir: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sam3x"))
        .collect();
    v.sort();
    v
}
