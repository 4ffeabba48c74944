//! The formatter over every example and UI spec: it is idempotent, keeps every comment, and never changes the
//! meaning (`parse(fmt(x))` equals `parse(x)`, spans and comments aside).

mod common;

fn all_specs() -> Vec<std::path::PathBuf> {
    let mut v = common::specs_in("examples");
    v.extend(common::specs_in("tests/ui"));
    v.extend(common::specs_in("tests/ui/imports"));
    v.extend(common::specs_in("stdlib/presets"));
    v
}

#[test]
fn formatting_is_idempotent_and_keeps_meaning_and_comments() {
    let mut formatted_count = 0;
    for path in all_specs() {
        let text = std::fs::read_to_string(&path).unwrap();
        let original = sam3c_lang::parse(&text);
        let Ok(once) = sam3c_lang::format(&text) else {
            assert!(
                !original.errors.is_empty(),
                "{}: format failed without syntax errors",
                path.display()
            );
            continue;
        };
        formatted_count += 1;
        let twice = sam3c_lang::format(&once).expect("formatted output parses");
        assert_eq!(
            once,
            twice,
            "{}: formatting is not idempotent",
            path.display()
        );
        let reparsed = sam3c_lang::parse(&once);
        assert_eq!(
            sam3c_lang::dump(&reparsed),
            sam3c_lang::dump(&original),
            "{}: formatting changed the meaning",
            path.display()
        );
        let comments = |f: &sam3c_lang::ast::SourceFile| {
            f.comments
                .iter()
                .map(|c| c.text.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            comments(&reparsed),
            comments(&original),
            "{}: formatting lost or reordered comments",
            path.display()
        );
    }
    assert!(
        formatted_count > 40,
        "only {formatted_count} specs were formatted"
    );
}

#[test]
fn examples_and_presets_are_formatted() {
    for path in common::specs_in("examples")
        .into_iter()
        .chain(common::specs_in("stdlib/presets"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            sam3c_lang::format(&text).unwrap(),
            text,
            "{} is not formatted: run `sam3c fmt {}`",
            path.display(),
            path.display()
        );
    }
}
