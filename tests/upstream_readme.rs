//! The README's worked examples of `export`, `run --backend upstream` and `import`: each command runs as shown (in
//! a scratch directory holding the files it names) and prints what the README says; the file excerpts shown are
//! in the files written.

use std::path::Path;
use std::process::Command;

fn readme_block(readme: &str, opening: &str) -> String {
    let start = readme
        .find(opening)
        .unwrap_or_else(|| panic!("README has no block starting with {opening:?}"))
        + opening.len();
    let end = start + readme[start..].find("```\n").unwrap();
    readme[start..end].to_string()
}

/// The command of a `text` block (its `$ sam3c ...` line) and what it prints.
fn command_and_output(block: &str) -> (Vec<String>, String) {
    let (first, rest) = block.split_once('\n').unwrap();
    let args = first
        .strip_prefix("$ sam3c ")
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    (args, rest.to_string())
}

fn scratch() -> sam3c_testkit::TempDir {
    let dir = sam3c_testkit::TempDir::new("upstream-readme");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("examples")).unwrap();
    std::fs::create_dir_all(dir.join("upstream")).unwrap();
    std::fs::copy(
        root.join("examples/roboflow_v100.sam3x"),
        dir.join("examples/roboflow_v100.sam3x"),
    )
    .unwrap();
    std::fs::copy(
        root.join("tests/upstream/meta_configs/roboflow_v100_eval.yaml"),
        dir.join("upstream/roboflow_v100_eval.yaml"),
    )
    .unwrap();
    dir
}

/// Runs the command in `dir`; stderr then stdout, as a terminal shows them (the commands write their files'
/// names before printing).
fn run(dir: &Path, args: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sam3c"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        // The dry run prints the interpreter it would start.
        .env("SAM3C_PYTHON", "python3")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    )
}

#[test]
fn the_readme_upstream_examples_print_what_they_show() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let dir = scratch();
    for opening in [
        "```text\n$ sam3c export --backend upstream",
        "```text\n$ sam3c run --backend upstream",
        "```text\n$ sam3c import",
    ] {
        let full = format!(
            "{}{}",
            &opening["```text\n".len()..],
            readme_block(&readme, opening)
        );
        let (args, shown) = command_and_output(&full);
        assert_eq!(run(dir.path(), &args), shown, "sam3c {}", args.join(" "));
    }
    // The excerpts are in the files the commands wrote.
    let optimizer = readme_block(
        &readme,
        "from `sam3.finetune` with `lr_scale = 0.1`:\n\n```yaml\n",
    );
    let exported =
        std::fs::read_to_string(dir.join("configs/roboflow_v100_full_ft_100_images.yaml")).unwrap();
    assert!(exported.contains(&optimizer), "{exported}");
    let excerpt = readme_block(
        &readme,
        "became `param supercategory: Str = sweep([...])`):\n\n```sam3x\n",
    );
    let imported = std::fs::read_to_string(dir.join("roboflow_eval.sam3x")).unwrap();
    assert!(imported.contains(&excerpt), "{imported}");
    assert!(imported.contains("param supercategory: Str = sweep(["));
}
