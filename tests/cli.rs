//! The command line as a user runs it: exit codes, JSON diagnostics, `fmt --check`, `explain`, `doc`.

use std::process::Command;

fn sam3c(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sam3c"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn exit_codes_say_clean_errors_or_usage() {
    assert_eq!(
        sam3c(&["check", "examples/factory.sam3x"]).status.code(),
        Some(0)
    );
    assert_eq!(
        sam3c(&["check", "tests/ui/W0301_checkpoint_never_written.sam3x"])
            .status
            .code(),
        Some(0),
        "warnings alone pass"
    );
    assert_eq!(
        sam3c(&["check", "tests/ui/E0100_unknown_name.sam3x"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        sam3c(&["check", "no/such/file.sam3x"]).status.code(),
        Some(2)
    );
    assert_eq!(
        sam3c(&["check", "examples/factory.sam3x", "--set", "novalue"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(sam3c(&["explain", "E9999"]).status.code(), Some(2));
}

#[test]
fn json_diagnostics_carry_file_range_code_severity_message_and_help() {
    let out = sam3c(&[
        "check",
        "tests/ui/E0400_pattern_matches_nothing.sam3x",
        "--format",
        "json",
    ]);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    insta::assert_json_snapshot!(lines);
}

#[test]
fn set_overrides_are_checked_like_the_spec() {
    let out = sam3c(&[
        "check",
        "examples/factory.sam3x",
        "--set",
        "resolution=1000px",
        "--format",
        "json",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\"E0306\""), "{text}");
    let out = sam3c(&[
        "check",
        "examples/factory.sam3x",
        "--set",
        "resolution=672px",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fmt_check_reports_unformatted_files_without_writing() {
    let dir = std::env::temp_dir().join(format!("sam3c-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("messy.sam3x");
    let messy = "param   x : Int=1 // keep me\nstage s {model=m\n  epochs = 3 epochs}\n";
    std::fs::write(&file, messy).unwrap();
    let f = file.to_str().unwrap();
    assert_eq!(sam3c(&["fmt", "--check", f]).status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        messy,
        "--check must not write"
    );
    assert_eq!(sam3c(&["fmt", f]).status.code(), Some(0));
    let formatted = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        formatted,
        "param x: Int = 1 // keep me\nstage s {\n    model = m\n    epochs = 3 epochs\n}\n"
    );
    assert_eq!(sam3c(&["fmt", "--check", f]).status.code(), Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn explain_and_doc_print_their_pages() {
    let out = sam3c(&["explain", "e0302"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("# E0302: resume used where init is meant"),
        "{text}"
    );
    let out = sam3c(&["doc", "random_resize"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("upstream: sam3.train.transforms.basic_for_api.RandomResizeAPI"),
        "{text}"
    );
    assert!(
        text.contains("consistent") && text.contains("upstream `consistent_transform`"),
        "{text}"
    );
    let out = sam3c(&["doc"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for name in [
        "coco_images",
        "ytvis_videos",
        "sam3_loss",
        "tracker_loss",
        "adamw",
        "coco_ap",
        "hota",
    ] {
        assert!(text.contains(name), "catalog lacks {name}");
    }
    let out = sam3c(&["doc", "random_rezise"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("did you mean `random_resize`?"));
}

#[test]
fn the_language_server_speaks_lsp_over_stdio() {
    use std::io::Write;
    let frame = |v: serde_json::Value| {
        let body = v.to_string();
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    };
    let input = [
        frame(serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})),
        frame(serde_json::json!({"jsonrpc": "2.0", "method": "initialized", "params": {}})),
        frame(serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})),
        frame(serde_json::json!({"jsonrpc": "2.0", "method": "exit"})),
    ]
    .concat();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sam3c"))
        .arg("lsp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("\"documentFormattingProvider\":true") && text.contains("\"id\":2"),
        "{text}"
    );
}

#[test]
fn eval_prints_the_coco_summary_and_json() {
    let dir = std::env::temp_dir().join(format!("sam3c-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gt = dir.join("gt.json");
    let pred = dir.join("pred.json");
    std::fs::write(
        &gt,
        r#"{"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0}],
            "categories": [{"id": 1, "name": "screw"}]}"#,
    )
    .unwrap();
    // One exact hit and one miss: AP 1 (the hit ranks first).
    std::fs::write(
        &pred,
        r#"[{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [60, 60, 10, 10], "score": 0.5}]"#,
    )
    .unwrap();
    let (g, p) = (gt.to_str().unwrap(), pred.to_str().unwrap());
    let out = sam3c(&[
        "eval", "--gt", g, "--pred", p, "--metric", "bbox", "--format", "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let values: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // pycocotools gives 0.9999999999999998 here (its interpolation sums floats); so do we.
    assert!(
        (values["coco_eval_bbox_AP"].as_f64().unwrap() - 1.0).abs() < 1e-12,
        "{values}"
    );
    let out = sam3c(&["eval", "--gt", g, "--pred", p]);
    assert!(String::from_utf8(out.stdout).unwrap().contains(
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000"
    ));
    std::fs::write(
        &pred,
        r#"[{"image_id": 7, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.9}]"#,
    )
    .unwrap();
    let out = sam3c(&["eval", "--gt", g, "--pred", p]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("image_id 7"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn model_inspect_prints_the_released_state_dicts_exactly() {
    for (args, tsv) in [
        (
            vec!["model", "inspect", "sam3"],
            "stdlib/tests/data/sam3_image_state_dict.tsv",
        ),
        (
            vec!["model", "inspect", "sam3", "--video"],
            "stdlib/tests/data/sam3_video_state_dict.tsv",
        ),
    ] {
        let out = sam3c(&args);
        assert!(out.status.success());
        assert!(
            String::from_utf8(out.stdout).unwrap() == std::fs::read_to_string(tsv).unwrap(),
            "{args:?} differs from {tsv}"
        );
    }
    let out = sam3c(&["model", "inspect", "sam3", "--summary"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "sam3 (image): 1134 state-dict entries, 840509750 trainable parameters\n"
    );
    assert_eq!(sam3c(&["model", "inspect", "sam4"]).status.code(), Some(2));
}
