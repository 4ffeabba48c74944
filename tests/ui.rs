//! One failing spec per diagnostic code (`tests/ui/CODE_what.sam3x`): the snapshot holds the source and the
//! rendered diagnostics together, as a user sees them. Every code must have a spec, and every spec must raise
//! the code its name announces.

mod common;

use sam3c_compiler::Code;
use std::collections::BTreeSet;

#[test]
fn every_ui_spec_raises_its_code_and_renders_as_snapshotted() {
    insta::glob!("ui/*.sam3x", |path| {
        // Relative paths, so that snapshots do not depend on where the repository is cloned.
        let path = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
        let source = std::fs::read_to_string(path).unwrap();
        let out = common::check_file(path);
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
fn every_code_has_a_ui_spec_and_an_explanation() {
    let files: Vec<String> = common::specs_in("tests/ui")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for code in Code::ALL {
        if code.as_str().starts_with("E06") || code.as_str().starts_with("W06") {
            // Data checks: their specs are in tests/data_ui/ (they need data files).
            continue;
        }
        if matches!(code, Code::E0701 | Code::E0702 | Code::E0703) {
            // No spec that checks clean lowers to such a graph; compiler/src/graph.rs tests them on built graphs.
            let page = code.explanation();
            assert!(page.starts_with(&format!("# {}", code.as_str())) && page.len() > 200);
            continue;
        }
        assert!(
            files.iter().any(|f| f.starts_with(code.as_str())),
            "no tests/ui spec for {}",
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
