//! The README shows a spec and what `sam3c check` says about it; this keeps the two true.

mod common;

#[test]
fn the_readme_example_output_is_what_check_prints() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let block = |fence: &str| {
        let start = readme
            .find(fence)
            .unwrap_or_else(|| panic!("README has no {fence} block"))
            + fence.len();
        let end = start + readme[start..].find("```\n").unwrap();
        readme[start..end].to_string()
    };
    let spec = block("```sam3x\n");
    let shown = block("```text\n$ sam3c check spec.sam3x --set resolution=1000px\n");
    let db = sam3c_compiler::MemoryDb::default().with("spec.sam3x", spec);
    let opts = sam3c_compiler::CheckOptions {
        overrides: vec![("resolution".into(), "1000px".into())],
        ..Default::default()
    };
    let out = sam3c_compiler::check(&db, std::path::Path::new("spec.sam3x"), &opts);
    let printed = format!("{}\nspec.sam3x: 1 error\n", common::render_all(&out));
    assert_eq!(printed, shown);
}
