//! `coco_images` against upstream's `Sam3ImageDataset` + `COCO_FROM_JSON` (+ `DecodeRle`), live: the same
//! datapoints in the same order (limit, chunks, negatives, prompts, reindex, crowds, training metadata),
//! boxes and areas bit for bit, masks pixel for pixel (RLE and polygons), images within JPEG decoder noise.

mod common;
mod data_common;

use common::{oracle_python, TempDir};
use data_common::run_script;
use sam3c_runtime::data::{CocoImageDataset, Dataset, Pixels, Rng};
use sam3c_stdlib::components::data::CocoImages;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

fn checksum(data: &[u8]) -> [i64; 2] {
    let sum = data.iter().map(|&v| v as i64).sum();
    let weighted = data
        .iter()
        .enumerate()
        .map(|(i, &v)| v as i64 * (i as i64 % 9973 + 1))
        .sum();
    [sum, weighted]
}

fn config(images: &Path, annotations: &Path) -> CocoImages {
    CocoImages {
        images: images.to_path_buf(),
        annotations: annotations.to_path_buf(),
        masks: true,
        negatives: true,
        queries_per_image: None,
        limit: None,
        prompts: None,
        reindex: false,
        repeat: 1,
    }
}

/// Compare our datapoints with upstream's for `cfg`; `upstream_annotations` is the file upstream reads.
fn compare(
    python: &Path,
    dir: &Path,
    case: &str,
    cfg: &CocoImages,
    training: bool,
    upstream_annotations: &Path,
) {
    let prompts_by_id: Option<BTreeMap<String, String>> = cfg.prompts.as_ref().map(|p| {
        sam3c_runtime::demo::CATEGORIES
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    (i + 1).to_string(),
                    p.get(*name).cloned().unwrap_or_else(|| name.to_string()),
                )
            })
            .collect()
    });
    let opts = json!({
        "images": cfg.images, "annotations": upstream_annotations, "masks": cfg.masks,
        "negatives": cfg.negatives, "chunk": cfg.queries_per_image, "limit": cfg.limit,
        "prompts": prompts_by_id, "training": training,
    });
    std::fs::write(dir.join(format!("{case}.json")), opts.to_string()).unwrap();
    run_script(python, "data_coco.py", &[dir, Path::new(case)]);
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("expected_{case}.json"))).unwrap(),
    )
    .unwrap();
    let expected = expected["datapoints"].as_array().unwrap();

    let ds = CocoImageDataset::open(cfg, training).unwrap();
    assert_eq!(ds.len(), expected.len(), "{case}: datapoint count");
    let mut rng = Rng::from_words(&[0]);
    for (i, exp) in expected.iter().enumerate() {
        let ctx = format!("{case}, datapoint {i}");
        let got = ds.load(i, &mut rng).unwrap();
        let exp_queries = exp["queries"].as_array().unwrap();
        let Some(dp) = got else {
            assert!(
                exp_queries.is_empty(),
                "{ctx}: we skip a datapoint upstream has queries for"
            );
            continue;
        };
        let frame = &dp.frames[0];
        let Pixels::Rgb(img) = &frame.pixels else {
            panic!()
        };
        assert_eq!(json!([img.width, img.height]), exp["size"], "{ctx}");
        if i == 0 {
            let theirs = std::fs::read(dir.join(format!("{case}_pixels.bin"))).unwrap();
            let diffs: Vec<i32> = img
                .data
                .iter()
                .zip(&theirs)
                .map(|(&a, &b)| (a as i32 - b as i32).abs())
                .collect();
            let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
            let max = *diffs.iter().max().unwrap();
            eprintln!("{case}: JPEG/PNG decoding vs PIL: mean |diff| {mean:.3}, max {max}");
            assert!(
                mean < 1.0 && max <= 12,
                "{ctx}: decoded pixels differ from PIL (mean {mean}, max {max})"
            );
        }
        let objs = exp["objects"].as_array().unwrap();
        assert_eq!(frame.objects.len(), objs.len(), "{ctx}: objects");
        for (o, e) in frame.objects.iter().zip(objs) {
            let eb: Vec<f32> = e["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(o.bbox.to_vec(), eb, "{ctx}: box");
            assert_eq!(o.area, e["area"].as_f64().unwrap(), "{ctx}: area");
            assert_eq!(o.is_crowd, e["is_crowd"].as_bool().unwrap(), "{ctx}: crowd");
            assert_eq!(
                o.object_id,
                e["object_id"].as_i64().unwrap(),
                "{ctx}: object id"
            );
            assert_eq!(
                o.mask.as_ref().map(|m| json!(checksum(&m.data))),
                e["mask"].as_array().map(|_| e["mask"].clone()),
                "{ctx}: mask"
            );
        }
        assert_eq!(dp.queries.len(), exp_queries.len(), "{ctx}: queries");
        for (q, e) in dp.queries.iter().zip(exp_queries) {
            assert_eq!(q.text, e["text"].as_str().unwrap(), "{ctx}");
            assert_eq!(json!(q.targets), e["targets"], "{ctx}: targets");
            assert_eq!(
                q.is_exhaustive,
                e["is_exhaustive"].as_bool().unwrap(),
                "{ctx}"
            );
            let m = &q.metadata;
            assert_eq!(
                m.coco_image_id,
                e["coco_image_id"].as_i64().unwrap(),
                "{ctx}: coco_image_id"
            );
            assert_eq!(
                m.original_image_id,
                e["original_image_id"].as_i64().unwrap(),
                "{ctx}"
            );
            assert_eq!(
                m.original_category_id,
                e["original_category_id"].as_i64().unwrap(),
                "{ctx}"
            );
            assert_eq!(
                json!([m.original_size.0, m.original_size.1]),
                e["original_size"],
                "{ctx}"
            );
            assert_eq!(
                m.object_id,
                e["object_id"].as_i64().unwrap(),
                "{ctx}: object_id"
            );
            assert_eq!(
                m.frame_index,
                e["frame_index"].as_i64().unwrap(),
                "{ctx}: frame_index"
            );
        }
    }
}

/// The demo's test split, with some annotations turned into crowds; returns (images dir, annotation file).
fn prepared(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let summary = sam3c_runtime::demo::generate(&dir.join("demo"), 3).unwrap();
    let split = &summary.image_splits[1];
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&split.annotations).unwrap()).unwrap();
    for (k, ann) in doc["annotations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        if k % 7 == 3 {
            ann["iscrowd"] = json!(1);
        }
        if k % 11 == 5 {
            // A box reaching past the image: clamped like upstream.
            ann["bbox"] = json!([300.5, 10.25, 40.0, 30.0]);
        }
    }
    let file = dir.join("annotations.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    (split.images_dir.clone(), file)
}

#[test]
fn coco_datapoints_match_upstream() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = TempDir::new("data-coco");
    let (images, file) = prepared(&dir.0);

    // Everything, evaluation metadata, masks.
    let cfg = config(&images, &file);
    compare(&python, &dir.0, "all", &cfg, false, &file);

    // Training, no masks, no negatives, chunks of 2 categories, limit and prompts.
    let mut cfg = config(&images, &file);
    cfg.masks = false;
    cfg.negatives = false;
    cfg.queries_per_image = Some(2);
    cfg.limit = Some(17);
    cfg.prompts = Some(
        [
            ("gear".to_string(), "metal gear".to_string()),
            ("defect".into(), "scratch".into()),
        ]
        .into(),
    );
    compare(&python, &dir.0, "chunks", &cfg, true, &file);

    // A 0-based file with `reindex`: the same datapoints as upstream's reindexed (1-based) file.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for img in doc["images"].as_array_mut().unwrap() {
        img["id"] = json!(img["id"].as_i64().unwrap() - 1);
    }
    for cat in doc["categories"].as_array_mut().unwrap() {
        cat["id"] = json!(cat["id"].as_i64().unwrap() - 1);
    }
    for ann in doc["annotations"].as_array_mut().unwrap() {
        ann["image_id"] = json!(ann["image_id"].as_i64().unwrap() - 1);
        ann["category_id"] = json!(ann["category_id"].as_i64().unwrap() - 1);
    }
    let zero_based = dir.0.join("zero_based.json");
    std::fs::write(&zero_based, doc.to_string()).unwrap();
    let mut cfg = config(&images, &zero_based);
    cfg.reindex = true;
    cfg.masks = false;
    compare(&python, &dir.0, "reindex", &cfg, false, &file);
}

#[test]
fn polygon_and_uncompressed_masks_match_upstream() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = TempDir::new("data-coco-poly");
    let (images, file) = prepared(&dir.0);
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for (k, ann) in doc["annotations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let b: Vec<f64> = ann["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        match k % 4 {
            // A polygon of two parts: a diamond in the box and a small triangle at its corner.
            0 => {
                let (cx, cy) = (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
                ann["segmentation"] = json!([
                    [cx, b[1], b[0] + b[2], cy, cx, b[1] + b[3], b[0], cy],
                    [b[0], b[1], b[0] + 4.5, b[1], b[0], b[1] + 4.5]
                ]);
            }
            // An empty polygon list: no mask, as upstream.
            1 => ann["segmentation"] = json!([]),
            // Uncompressed RLE: a vertical band of the box.
            2 => {
                let (h, w) = (240u32, 320u32);
                let x0 = b[0] as u32;
                let start = x0 * h + b[1] as u32;
                let len = (b[3] as u32).max(1);
                ann["segmentation"] =
                    json!({"size": [h, w], "counts": [start, len, h * w - start - len]});
            }
            _ => {}
        }
    }
    let poly = dir.0.join("polygons.json");
    std::fs::write(&poly, doc.to_string()).unwrap();
    let cfg = config(&images, &poly);
    compare(&python, &dir.0, "poly", &cfg, false, &poly);
}

#[test]
fn annotation_problems_are_clear_errors() {
    let dir = TempDir::new("data-coco-bad");
    let write = |name: &str, text: &str| {
        let p = dir.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let missing = config(&dir.0, &dir.0.join("nope.json"));
    let err = CocoImageDataset::open(&missing, true)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("nope.json") && err.contains("cannot read"),
        "{err}"
    );

    let no_size = write(
        "no_size.json",
        r#"{"images":[{"id":1,"file_name":"a.jpg"}],"annotations":[],"categories":[{"id":1,"name":"x"}]}"#,
    );
    let err = CocoImageDataset::open(&config(&dir.0, &no_size), true)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("no_size.json") && err.contains("a.jpg") && err.contains("width"),
        "{err}"
    );

    let unknown = write(
        "unknown.json",
        r#"{"images":[{"id":1,"file_name":"a.jpg","width":4,"height":4}],
            "annotations":[{"id":9,"image_id":1,"category_id":7,"bbox":[0,0,1,1],"iscrowd":0}],
            "categories":[{"id":1,"name":"x"}]}"#,
    );
    let err = CocoImageDataset::open(&config(&dir.0, &unknown), true)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("category 7"), "{err}");

    // A missing image file is an error at load time naming the file and the datapoint.
    let ok = write(
        "ok.json",
        r#"{"images":[{"id":1,"file_name":"missing.jpg","width":4,"height":4}],"annotations":[],
            "categories":[{"id":1,"name":"x"}]}"#,
    );
    let ds = CocoImageDataset::open(&config(&dir.0, &ok), true).unwrap();
    let err = ds
        .load(0, &mut Rng::from_words(&[0]))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("missing.jpg") && err.contains("image id 1"),
        "{err}"
    );

    // A corrupt JPEG: the error names the file.
    std::fs::write(dir.0.join("missing.jpg"), b"\xFF\xD8\xFF\xE0 truncated").unwrap();
    let err = ds
        .load(0, &mut Rng::from_words(&[0]))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("missing.jpg") && err.contains("decode"),
        "{err}"
    );

    let mut bad_prompt = config(&dir.0, &ok);
    bad_prompt.prompts = Some([("y".to_string(), "why".to_string())].into());
    let err = CocoImageDataset::open(&bad_prompt, true)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("`y`"), "{err}");
}
