//! One failing spec per diagnostic code: the snapshot holds the source and the rendered diagnostics together,
//! as a user sees them. Every code must have a spec and an explanation page, and every spec must raise the code
//! its name announces (`tests/ui/CODE_what.sam3x`). Data-check codes (`E06xx`, `W06xx`) have their specs in
//! `tests/data_ui/`, checked with `--data` against the small files in `tests/data_ui/data/`, so that their
//! diagnostics point into annotation files.

mod common;

use sam3c_compiler::{CheckOptions, Code};
use std::collections::BTreeSet;
use std::path::Path;

/// Checks the spec at `path` (relative, so that snapshots do not depend on where the repository is cloned)
/// with the options of its header and `--data` when `data`, asserts it raises the code its file name starts
/// with, and snapshots source and diagnostics under `snapshot@FILE`.
fn check_and_snapshot(snapshot: &str, path: &Path, data: bool) {
    let path = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
    let source = std::fs::read_to_string(path).unwrap();
    let options = CheckOptions {
        data,
        ..common::options_from_header(&source)
    };
    let out = sam3c_compiler::check(&common::FsDb, path, &options);
    let file = path.file_name().unwrap().to_string_lossy();
    let code = &file[..5];
    let raised: BTreeSet<&str> = out.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert!(
        raised.contains(code),
        "{file} should raise {code}, raised {raised:?}"
    );
    insta::assert_snapshot!(
        snapshot,
        format!(
            "----- SOURCE\n{source}\n----- DIAGNOSTICS\n{}",
            common::render_all(&out)
        )
    );
}

#[test]
fn every_ui_spec_raises_its_code_and_renders_as_snapshotted() {
    insta::glob!("ui/*.sam3x", |path| check_and_snapshot(
        "every_ui_spec_raises_its_code_and_renders_as_snapshotted",
        path,
        false
    ));
}

#[test]
fn every_data_spec_raises_its_code_and_renders_as_snapshotted() {
    insta::glob!("data_ui/*.sam3x", |path| check_and_snapshot(
        "every_data_spec_raises_its_code_and_renders_as_snapshotted",
        path,
        true
    ));
}

/// Where the failing spec of `code` lives, or `None` for codes no spec that checks clean can reach.
fn spec_dir(code: Code) -> Option<&'static str> {
    match code {
        // compiler/src/graph.rs tests these on graphs built by hand
        Code::E0701 | Code::E0702 | Code::E0703 => None,
        _ if code.as_str()[1..].starts_with("06") => Some("tests/data_ui"),
        _ => Some("tests/ui"),
    }
}

#[test]
fn every_code_has_a_failing_spec_and_an_explanation() {
    for &code in Code::ALL {
        if let Some(dir) = spec_dir(code) {
            let has_spec = common::specs_in(dir).iter().any(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(code.as_str())
            });
            assert!(has_spec, "no {dir} spec for {}", code.as_str());
        }
        let page = code.explanation();
        assert!(
            page.starts_with(&format!("# {}", code.as_str())),
            "{} explanation has no title",
            code.as_str()
        );
        assert!(
            !page.contains("TODO") && page.len() > 200,
            "{} explanation is not written",
            code.as_str()
        );
    }
}

#[test]
fn without_data_nothing_is_read() {
    let path = Path::new("tests/data_ui/E0600_data_file_not_found.sam3x");
    let out = sam3c_compiler::check(&common::FsDb, path, &CheckOptions::default());
    assert!(out.diagnostics.is_empty(), "{}", common::render_all(&out));
}
