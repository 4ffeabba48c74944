//! One failing spec per data-check code (`tests/data_ui/CODE_what.sam3x`, checked with `--data` against the small
//! files in `tests/data_ui/data/`): the snapshot holds the spec and the rendered diagnostics, which point into the
//! annotation files.

mod common;

use sam3c_compiler::{CheckOptions, Code};
use std::collections::BTreeSet;

#[test]
fn every_data_spec_raises_its_code_and_renders_as_snapshotted() {
    insta::glob!("data_ui/*.sam3x", |path| {
        let path = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        let source = std::fs::read_to_string(path).unwrap();
        let out = sam3c_compiler::check(
            &common::FsDb,
            path,
            &CheckOptions {
                data: true,
                ..Default::default()
            },
        );
        let file = path.file_name().unwrap().to_string_lossy();
        let code = &file[..5];
        let raised: BTreeSet<&str> = out.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert!(
            raised.contains(code),
            "{file} should raise {code}, raised {raised:?}"
        );
        insta::assert_snapshot!(format!(
            "----- SOURCE\n{source}\n----- DIAGNOSTICS\n{}",
            common::render_all(&out)
        ));
    });
}

#[test]
fn every_data_code_has_a_spec_and_an_explanation() {
    let files: Vec<String> = common::specs_in("tests/data_ui")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for code in Code::ALL
        .iter()
        .filter(|c| c.as_str()[1..].starts_with("06"))
    {
        assert!(
            files.iter().any(|f| f.starts_with(code.as_str())),
            "no tests/data_ui spec for {}",
            code.as_str()
        );
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
    let path = std::path::Path::new("tests/data_ui/E0600_data_file_not_found.sam3x");
    let out = sam3c_compiler::check(&common::FsDb, path, &CheckOptions::default());
    assert!(out.diagnostics.is_empty(), "{}", common::render_all(&out));
}
