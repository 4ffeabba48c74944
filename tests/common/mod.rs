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

/// Check a spec; a first line `// sam3c: --backend upstream` also exports it for Meta's trainer, whose
/// diagnostics are added.
pub fn check_file(path: &Path) -> CheckOutput {
    let text = std::fs::read_to_string(path).unwrap();
    let opts = options_from_header(&text);
    let upstream = text
        .lines()
        .take_while(|l| l.starts_with("//"))
        .any(|l| l.starts_with("// sam3c:") && l.contains("--backend upstream"));
    let mut out = sam3c_compiler::check(&FsDb, path, &opts);
    if upstream && !out.has_errors() {
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

/// The oracle interpreter, or `None` (with a message) when the Python environment is absent. Under
/// `SAM3C_REQUIRE_ORACLES=1` a missing interpreter is a failure instead.
pub fn oracle_python() -> Option<std::path::PathBuf> {
    match std::env::var_os("SAM3C_PYTHON") {
        Some(p) if !p.is_empty() => Some(std::path::PathBuf::from(p)),
        _ => {
            if std::env::var("SAM3C_REQUIRE_ORACLES").as_deref() == Ok("1") {
                panic!("SAM3C_REQUIRE_ORACLES=1 but SAM3C_PYTHON is unset: source scripts/env.sh");
            }
            eprintln!(
                "skipping oracle test: SAM3C_PYTHON is unset (source scripts/env.sh to run it)"
            );
            None
        }
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("sam3c-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
