//! The demo dataset: deterministic bytes, the promised contents, and validity as pycocotools sees it.

mod common;
mod data_common;

use common::{oracle_python, TempDir};
use data_common::run_script;
use sam3c_runtime::demo::{generate, CATEGORIES};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (
        TempDir::new("demo-a"),
        TempDir::new("demo-b"),
        TempDir::new("demo-c"),
    );
    let start = std::time::Instant::now();
    let summary = generate(&a.0, 5).unwrap();
    eprintln!("demo generation took {:?}", start.elapsed());
    generate(&b.0, 5).unwrap();
    generate(&c.0, 6).unwrap();
    let (fa, fb, fc) = (files(&a.0), files(&b.0), files(&c.0));
    assert!(fa.len() > 150, "{} files", fa.len());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        assert!(
            fb[name] == *bytes,
            "{name} differs between two runs with the same seed"
        );
    }
    let differing = fa.iter().filter(|(k, v)| fc.get(*k) != Some(v)).count();
    assert!(
        differing > fa.len() / 2,
        "another seed changed only {differing} files"
    );

    for split in &summary.image_splits {
        let share = split.negative_images as f64 / split.images as f64;
        assert!(
            (0.10..=0.20).contains(&share),
            "{}: {share} negative",
            split.name
        );
        assert!(split.annotations.exists() && split.annotation_count > split.images);
    }
    assert_eq!(summary.categories, CATEGORIES);
    assert!(summary
        .video_splits
        .iter()
        .all(|v| v.videos >= 3 && v.frames_per_video >= 8));
}

#[test]
fn pycocotools_reads_masks_boxes_and_areas_as_written() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = TempDir::new("demo-check");
    let summary = generate(&dir.0, 11).unwrap();
    run_script(&python, "demo_check.py", &[dir.0.as_path()]);
    let check: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("check.json")).unwrap()).unwrap();
    for (split, expected_images) in [
        ("train", summary.image_splits[0].images),
        ("test", summary.image_splits[1].images),
    ] {
        let s = &check[split];
        let images = s["images"].as_array().unwrap();
        assert_eq!(images.len(), expected_images, "{split}");
        let names: Vec<&str> = s["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(names, CATEGORIES);
        let mut seen = std::collections::BTreeSet::new();
        let mut empty = 0;
        for img in images {
            assert_eq!(
                img["size"],
                Value::from(vec![img["width"].clone(), img["height"].clone()]),
                "{split}"
            );
            let anns = img["annotations"].as_array().unwrap();
            empty += anns.is_empty() as usize;
            for a in anns {
                seen.insert(a["category_id"].as_i64().unwrap());
                let area = a["decoded_area"].as_f64().unwrap();
                assert!(area > 50.0, "{split}: tiny object ({area} px)");
                assert_eq!(area, a["stored_area"].as_f64().unwrap(), "{split}: area");
                assert_eq!(area, a["rle_area"].as_f64().unwrap(), "{split}: RLE area");
                assert_eq!(a["stored_bbox"], a["rle_bbox"], "{split}: bbox");
            }
        }
        assert_eq!(
            seen.len(),
            CATEGORIES.len(),
            "{split}: every category appears"
        );
        assert!(
            empty * 10 >= images.len() && empty * 5 <= images.len(),
            "{split}: {empty} empty images"
        );
    }
    for split in ["videos_train", "videos_val"] {
        let v = &check[split];
        assert!(v["frames_exist"].as_bool().unwrap(), "{split}");
        let mut seen = std::collections::BTreeSet::new();
        let mut entering_or_leaving = false;
        for t in v["tracks"].as_array().unwrap() {
            seen.insert(t["category_id"].as_i64().unwrap());
            let frames = t["frames"].as_array().unwrap();
            entering_or_leaving |= frames.iter().any(Value::is_null);
            let visible: Vec<&Value> = frames.iter().filter(|f| !f.is_null()).collect();
            assert!(
                visible.len() >= 2,
                "{split}: a track visible in fewer than 2 frames"
            );
            for f in visible {
                assert_eq!(
                    f["area"].as_f64().unwrap(),
                    f["stored_area"].as_f64().unwrap(),
                    "{split}"
                );
                assert_eq!(f["bbox"], f["stored_bbox"], "{split}");
            }
        }
        assert_eq!(
            seen.len(),
            CATEGORIES.len(),
            "{split}: every category appears"
        );
        assert!(
            entering_or_leaving,
            "{split}: no part enters or leaves the view"
        );
    }
}
