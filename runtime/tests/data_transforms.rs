//! Transforms against upstream's functions, live: resize (Pillow bilinear for pixels, torch's antialiased
//! resize for masks), pad, hflip, colour enhancements, normalize and the query filters, on generated images.
//! Everything must match exactly: pixels (PNG input, so no decoder difference), boxes, areas, masks, queries.

mod common;
mod data_common;

use common::{oracle_python, TempDir};
use data_common::run_script;
use sam3c_runtime::data::image::RgbImage;
use sam3c_runtime::data::mask::Mask;
use sam3c_runtime::data::transforms::{
    hflip_frame, normalize, pad_frame, resize_frame, Pipeline, Step,
};
use sam3c_runtime::data::{Datapoint, Frame, Object, Pixels, Query, QueryMetadata, Rng};
use sam3c_stdlib::components::transforms as cfg;
use serde_json::{json, Value};

/// A textured test image with a few bright rectangles.
fn test_image(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut rng = Rng::from_words(&[seed]);
    let mut img = RgbImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let i = ((y * width + x) * 3) as usize;
            img.data[i] = ((x * 7 + y * 3) % 256) as u8;
            img.data[i + 1] = (128 + (rng.below(60) as i32 - 30)) as u8;
            img.data[i + 2] = ((x * y) % 251) as u8;
        }
    }
    img
}

/// An ellipse mask inscribed in the box.
fn ellipse_mask(width: u32, height: u32, b: [f32; 4]) -> Mask {
    let mut m = Mask::zeros(width, height);
    let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    let (rx, ry) = (
        ((b[2] - b[0]) / 2.0).max(0.5),
        ((b[3] - b[1]) / 2.0).max(0.5),
    );
    for y in 0..height {
        for x in 0..width {
            let dx = (x as f32 + 0.5 - cx) / rx;
            let dy = (y as f32 + 0.5 - cy) / ry;
            if dx * dx + dy * dy <= 1.0 {
                m.data[(y * width + x) as usize] = 1;
            }
        }
    }
    m
}

struct Case {
    size: (u32, u32),
    ops: Vec<Value>,
}

fn cases() -> Vec<Case> {
    let c = |w, h, ops: Value| Case {
        size: (w, h),
        ops: ops.as_array().unwrap().clone(),
    };
    vec![
        c(
            64,
            48,
            json!([{"op": "resize", "size": 37, "max_size": null, "square": false}]),
        ),
        c(
            50,
            70,
            json!([{"op": "resize", "size": 96, "max_size": null, "square": false}]),
        ),
        c(
            64,
            30,
            json!([{"op": "resize", "size": 40, "max_size": 50, "square": false}]),
        ),
        c(
            61,
            47,
            json!([{"op": "resize", "size": 56, "max_size": null, "square": true},
                          {"op": "pad", "left": 3, "top": 5, "right": 8, "bottom": 10}]),
        ),
        c(
            64,
            48,
            json!([{"op": "resize", "size": 45, "max_size": null, "square": true},
                          {"op": "pad_bottom_right", "right": 19, "bottom": 19},
                          {"op": "normalize", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}]),
        ),
        c(
            40,
            36,
            json!([{"op": "hflip"}, {"op": "brightness", "factor": 1.4}, {"op": "contrast", "factor": 0.6},
                          {"op": "saturation", "factor": 1.7}, {"op": "hue", "factor": 0.13}]),
        ),
        c(
            40,
            36,
            json!([{"op": "hue", "factor": -0.31}, {"op": "brightness", "factor": 0.5},
                          {"op": "contrast", "factor": 1.3}, {"op": "saturation", "factor": 0.2}]),
        ),
        c(
            64,
            48,
            json!([{"op": "filter_crowds"}, {"op": "max_objects", "n": 1}]),
        ),
        c(
            64,
            48,
            json!([{"op": "resize", "size": 32, "max_size": null, "square": true}, {"op": "filter_empty"}]),
        ),
        c(
            64,
            48,
            json!([{"op": "max_objects", "n": 0}, {"op": "filter_crowds"}]),
        ),
        c(
            57,
            43,
            json!([{"op": "resize", "size": 64, "max_size": null, "square": true},
                          {"op": "pad", "left": 0, "top": 7, "right": 9, "bottom": 0}, {"op": "hflip"},
                          {"op": "normalize", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}]),
        ),
    ]
}

/// Objects: two of category "a" (with a box prompt), a crowd of "b", a degenerate box of "b", and a query
/// "c" without target. In the "max_objects 0" case every query has a target, so the datapoint is skipped.
fn build(case: &Case, img: &RgbImage, negative_query: bool) -> (Datapoint, Value) {
    let (w, h) = (img.width as f32, img.height as f32);
    let boxes = [
        [w * 0.1, h * 0.2, w * 0.45, h * 0.7],
        [w * 0.5, h * 0.1, w * 0.9, h * 0.5],
        [w * 0.3, h * 0.55, w * 0.8, h * 0.95],
        [w * 0.6, h * 0.6, w * 0.6, h * 0.8],
    ];
    let crowd = [false, false, true, false];
    let mut objects = Vec::new();
    let mut objects_json = Vec::new();
    for (i, b) in boxes.iter().enumerate() {
        let area = ((b[2] - b[0]) / w * ((b[3] - b[1]) / h)) as f64;
        let mask = (i != 1).then(|| ellipse_mask(img.width, img.height, *b));
        objects_json.push(json!({"bbox": b, "area": area, "is_crowd": crowd[i],
            "mask": mask.as_ref().map(|m| m.data.clone())}));
        objects.push(Object {
            bbox: *b,
            area,
            object_id: i as i64,
            frame_index: 0,
            mask,
            is_crowd: crowd[i],
        });
    }
    let prompt = [w * 0.12, h * 0.25, w * 0.4, h * 0.6];
    let mut queries = vec![
        ("a", vec![0usize, 1], vec![prompt]),
        ("b", vec![2, 3], vec![]),
    ];
    if negative_query {
        queries.push(("c", vec![], vec![]));
    }
    let queries_json: Vec<Value> = queries
        .iter()
        .map(|(t, targets, p)| json!({"text": t, "targets": targets, "box_prompts": p}))
        .collect();
    let dp = Datapoint {
        frames: vec![Frame {
            pixels: Pixels::Rgb(img.clone()),
            objects,
        }],
        queries: queries
            .into_iter()
            .map(|(t, targets, p)| Query {
                text: t.into(),
                frame: 0,
                targets,
                is_exhaustive: true,
                stage: 0,
                box_prompt_labels: vec![true; p.len()],
                box_prompts: p,
                metadata: QueryMetadata {
                    coco_image_id: -1,
                    original_image_id: -1,
                    original_category_id: -1,
                    original_size: (img.height, img.width),
                    object_id: -1,
                    frame_index: -1,
                },
            })
            .collect(),
        description: format!("case {:?}", case.size),
    };
    (
        dp,
        json!({"objects": objects_json, "queries": queries_json}),
    )
}

fn apply(mut dp: Datapoint, op: &Value) -> Option<Datapoint> {
    let u = |k: &str| op[k].as_u64().unwrap() as u32;
    let mut rng = Rng::from_words(&[0]);
    let filter = |dp: Datapoint, step: Step| {
        let mut rng = Rng::from_words(&[0]);
        Pipeline::new(&[step]).unwrap().apply(dp, &mut rng).unwrap()
    };
    match op["op"].as_str().unwrap() {
        "resize" => {
            let max = op["max_size"].as_u64().map(|v| v as u32);
            resize_frame(&mut dp, 0, u("size"), max, op["square"].as_bool().unwrap()).unwrap();
        }
        "pad" => pad_frame(&mut dp, 0, u("left"), u("top"), u("right"), u("bottom")),
        "pad_bottom_right" => pad_frame(&mut dp, 0, 0, 0, u("right"), u("bottom")),
        "hflip" => hflip_frame(&mut dp, 0).unwrap(),
        kind @ ("brightness" | "contrast" | "saturation" | "hue") => {
            let f = op["factor"].as_f64().unwrap();
            let Pixels::Rgb(img) = &dp.frames[0].pixels else {
                panic!()
            };
            let out = match kind {
                "brightness" => img.adjust_brightness(f),
                "contrast" => img.adjust_contrast(f),
                "saturation" => img.adjust_saturation(f),
                _ => img.adjust_hue(f),
            };
            dp.frames[0].pixels = Pixels::Rgb(out);
        }
        "normalize" => {
            let three = |k: &str| {
                let v: Vec<f32> = op[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect();
                [v[0], v[1], v[2]]
            };
            normalize(&mut dp, three("mean"), three("std")).unwrap();
        }
        "filter_crowds" => return filter(dp, Step::FilterCrowds(cfg::FilterCrowds {})),
        "filter_empty" => return filter(dp, Step::FilterEmpty(cfg::FilterEmpty {})),
        "max_objects" => return filter(dp, Step::MaxObjects(cfg::MaxObjects { n: u("n") })),
        other => panic!("unknown op {other}"),
    }
    let _ = &mut rng;
    Some(dp)
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn transforms_match_upstream() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = TempDir::new("data-transforms");
    let cases = cases();
    let mut inputs = Vec::new();
    let mut ours = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let img = test_image(case.size.0, case.size.1, i as u64);
        let file = format!("case{i}.png");
        image::save_buffer(
            dir.0.join(&file),
            &img.data,
            img.width,
            img.height,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
        let negative = case
            .ops
            .iter()
            .all(|o| o["op"] != "max_objects" || o["n"] != 0);
        let (mut dp, spec) = build(case, &img, negative);
        inputs.push(json!({"image": file, "objects": spec["objects"], "queries": spec["queries"], "ops": case.ops}));
        let mut result = Some(dp.clone());
        for op in &case.ops {
            result = match result {
                Some(d) => apply(d, op),
                None => None,
            };
        }
        if let Some(d) = &result {
            dp = d.clone();
        }
        ours.push(result.map(|_| dp));
    }
    std::fs::write(
        dir.0.join("cases.json"),
        json!({ "cases": inputs }).to_string(),
    )
    .unwrap();
    run_script(&python, "data_transforms.py", &[dir.0.as_path()]);
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("expected.json")).unwrap())
            .unwrap();
    for (i, (exp, got)) in expected["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&ours)
        .enumerate()
    {
        let ctx = format!("case {i} ({:?})", cases[i].ops);
        assert_eq!(
            exp["skipped"].as_bool().unwrap(),
            got.is_none(),
            "{ctx}: skipped"
        );
        let Some(dp) = got else { continue };
        let frame = &dp.frames[0];
        let (w, h) = frame.pixels.size();
        assert_eq!(
            (w as u64, h as u64),
            (
                exp["width"].as_u64().unwrap(),
                exp["height"].as_u64().unwrap()
            ),
            "{ctx}"
        );
        match &frame.pixels {
            Pixels::Rgb(img) => {
                let e: Vec<i32> = exp["image_u8"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap() as i32)
                    .collect();
                let diff = img
                    .data
                    .iter()
                    .zip(&e)
                    .map(|(&a, &b)| (a as i32 - b).abs())
                    .max()
                    .unwrap();
                assert_eq!(diff, 0, "{ctx}: pixels differ by up to {diff}");
            }
            Pixels::Normalized { data, .. } => {
                let e = f32s(&exp["image_f32"]);
                let diff = data
                    .iter()
                    .zip(&e)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(diff <= 1e-6, "{ctx}: normalized pixels differ by {diff}");
            }
        }
        let objs = exp["objects"].as_array().unwrap();
        assert_eq!(objs.len(), frame.objects.len(), "{ctx}: object count");
        for (o, eo) in frame.objects.iter().zip(objs) {
            assert_eq!(o.bbox.to_vec(), f32s(&eo["bbox"]), "{ctx}: box");
            assert_eq!(o.area, eo["area"].as_f64().unwrap(), "{ctx}: area");
            let em: Option<Vec<u8>> = eo["mask"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_u64().unwrap() as u8).collect());
            assert_eq!(o.mask.as_ref().map(|m| m.data.clone()), em, "{ctx}: mask");
        }
        let qs = exp["queries"].as_array().unwrap();
        assert_eq!(qs.len(), dp.queries.len(), "{ctx}: query count");
        for (q, eq) in dp.queries.iter().zip(qs) {
            assert_eq!(q.text, eq["text"].as_str().unwrap(), "{ctx}");
            let targets: Vec<usize> = eq["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(q.targets, targets, "{ctx}: targets of {}", q.text);
            let prompts: Vec<Vec<f32>> = eq["box_prompts"]
                .as_array()
                .unwrap()
                .iter()
                .map(f32s)
                .collect();
            assert_eq!(
                q.box_prompts.iter().map(|b| b.to_vec()).collect::<Vec<_>>(),
                prompts,
                "{ctx}: prompts"
            );
        }
    }
}
