//! Shared helpers of the metrics tests: the Python oracle, scratch directories, a seeded generator and random
//! COCO / YTVIS data sets with the edge cases the references treat specially.
#![allow(dead_code)]

use std::path::Path;

use sam3c_formats::Rle;
use serde_json::{json, Value};

#[allow(unused_imports)]
pub use sam3c_testkit::{oracle_python, Rng, TempDir};

/// A fresh directory for one test's files, removed when the test ends.
pub fn scratch_dir(name: &str) -> TempDir {
    TempDir::new(&format!("metrics-{name}"))
}

/// Runs `tests/oracle/<script> args...` with the oracle interpreter; panics with its output if it fails.
pub fn run_oracle(python: &Path, script: &str, args: &[&Path]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(script);
    sam3c_testkit::run_python(python, &script, args);
}

pub fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string(value).unwrap()).unwrap();
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Asserts two metric values agree to 1e-9 (NaN equals NaN; null in JSON is NaN).
pub fn assert_close(ours: f64, theirs: &Value, what: &str) {
    let theirs = theirs.as_f64().unwrap_or(f64::NAN);
    if ours.is_nan() && theirs.is_nan() {
        return;
    }
    assert!(
        (ours - theirs).abs() < 1e-9,
        "{what}: ours {ours} vs reference {theirs}"
    );
}

/// A random blob: a rectangle with a few pixels flipped, inside an h x w image.
pub fn random_mask(rng: &mut Rng, h: u32, w: u32, x0: i64, y0: i64, bw: i64, bh: i64) -> Rle {
    let mut m = vec![0u8; (h * w) as usize];
    for y in y0.max(0)..(y0 + bh).min(h as i64) {
        for x in x0.max(0)..(x0 + bw).min(w as i64) {
            if !rng.chance(0.08) {
                m[(y * w as i64 + x) as usize] = 1;
            }
        }
    }
    Rle::encode(&m, h, w)
}

fn rle_json(r: &Rle) -> Value {
    json!({"size": [r.height, r.width], "counts": r.to_compressed()})
}

/// Knobs for [`coco_case`].
#[derive(Clone, Copy)]
pub struct CocoCaseSpec {
    pub images: i64,
    pub categories: i64,
    pub max_gt: i64,
    pub max_dt: i64,
    pub crowd: f64,
    /// Scores on a coarse grid, so that ties are common.
    pub tied_scores: bool,
    /// Predictions carry a box besides the mask (sam3's dumper does; it changes loadRes's area).
    pub dt_boxes: bool,
    /// The first ground-truth annotation gets id 0 (pycocotools then never counts it as matched).
    pub gt_id_zero: bool,
}

/// A random COCO ground truth and results file with masks and boxes: images without annotations, images
/// without predictions, crowd regions, all area ranges, detections of categories absent from an image.
pub fn coco_case(rng: &mut Rng, spec: CocoCaseSpec) -> (Value, Value) {
    let cat_ids: Vec<i64> = (0..spec.categories).map(|i| 3 + 4 * i).collect();
    let mut images = Vec::new();
    let mut anns = Vec::new();
    let mut dts = Vec::new();
    let mut next_id = if spec.gt_id_zero { 0 } else { 1 };
    for img in 0..spec.images {
        let image_id = 100 + 7 * img;
        let (h, w) = (rng.range(20, 130) as u32, rng.range(20, 130) as u32);
        images.push(json!({"id": image_id, "file_name": format!("{image_id}.jpg"), "height": h, "width": w}));
        let n_gt = if rng.chance(0.15) {
            0
        } else {
            rng.range(0, spec.max_gt)
        };
        let mut objects = Vec::new();
        for _ in 0..n_gt {
            let cat = cat_ids[rng.range(0, cat_ids.len() as i64 - 1) as usize];
            // sizes spanning small (< 32^2), medium and large (> 96^2) areas
            let (bw, bh) = match rng.range(0, 2) {
                0 => (rng.range(2, 25), rng.range(2, 25)),
                1 => (rng.range(25, 70), rng.range(25, 70)),
                _ => (rng.range(80, 130), rng.range(80, 130)),
            };
            let (x0, y0) = (rng.range(-5, w as i64 - 2), rng.range(-5, h as i64 - 2));
            let mask = random_mask(rng, h, w, x0, y0, bw, bh);
            if mask.area() == 0 {
                continue;
            }
            let crowd = rng.chance(spec.crowd);
            let bbox = mask.bbox();
            let segmentation = if !crowd && rng.chance(0.3) {
                // a polygon ground truth
                let [x, y, bw, bh] = bbox;
                json!([[x, y, x + bw, y, x + bw * 0.7, y + bh, x, y + bh * 0.8]])
            } else {
                rle_json(&mask)
            };
            let area = if rng.chance(0.8) {
                mask.area() as f64
            } else {
                rng.uniform() * 12000.0
            };
            anns.push(json!({
                "id": next_id, "image_id": image_id, "category_id": cat, "bbox": bbox, "area": area,
                "iscrowd": crowd as i32, "segmentation": segmentation,
            }));
            next_id += 1;
            objects.push((cat, bbox, mask));
        }
        if rng.chance(0.15) {
            continue; // an image without predictions
        }
        let n_dt = if rng.chance(0.1) {
            rng.range(101, 130)
        } else {
            rng.range(0, spec.max_dt)
        };
        for _ in 0..n_dt {
            let score = if spec.tied_scores {
                rng.range(0, 10) as f64 / 10.0
            } else {
                rng.uniform()
            };
            let (cat, mask) = if !objects.is_empty() && rng.chance(0.85) {
                // a detection near a ground truth: jittered box and mask
                let (cat, bbox, _) = &objects[rng.range(0, objects.len() as i64 - 1) as usize];
                let j = |rng: &mut Rng, v: f64| v + rng.range(-4, 4) as f64;
                let (x0, y0) = (j(rng, bbox[0]) as i64, j(rng, bbox[1]) as i64);
                let (bw, bh) = (
                    j(rng, bbox[2]).max(1.0) as i64,
                    j(rng, bbox[3]).max(1.0) as i64,
                );
                let cat = if rng.chance(0.1) {
                    cat_ids[rng.range(0, cat_ids.len() as i64 - 1) as usize]
                } else {
                    *cat
                };
                (cat, random_mask(rng, h, w, x0, y0, bw, bh))
            } else {
                let cat = cat_ids[rng.range(0, cat_ids.len() as i64 - 1) as usize];
                let (x0, y0) = (rng.range(0, w as i64 - 1), rng.range(0, h as i64 - 1));
                let (bw, bh) = (rng.range(1, 60), rng.range(1, 60));
                (cat, random_mask(rng, h, w, x0, y0, bw, bh))
            };
            let mut dt = json!({"image_id": image_id, "category_id": cat, "segmentation": rle_json(&mask), "score": score});
            if spec.dt_boxes {
                let b = mask.bbox();
                // sam3 writes boxes rounded to 5 decimals; a fractional jitter keeps IoUs off the grid
                dt["bbox"] = json!([b[0] + 0.25, b[1] - 0.5, b[2] + 1.125, b[3] * 0.9]);
            }
            dts.push(dt);
        }
    }
    let categories: Vec<Value> = cat_ids
        .iter()
        .map(|&c| json!({"id": c, "name": format!("c{c}")}))
        .collect();
    (
        json!({"images": images, "annotations": anns, "categories": categories}),
        Value::Array(dts),
    )
}

/// A random YTVIS ground truth (uncompressed RLE, as YouTube-VIS files have) and results file: moving blobs,
/// objects leaving and re-entering, predictions with id switches, false positive tracks, empty-mask frames and
/// scores on both sides of 0.5.
pub fn ytvis_case(rng: &mut Rng, videos: i64) -> (Value, Value) {
    let categories = [
        json!({"id": 1, "name": "cat"}),
        json!({"id": 2, "name": "dog"}),
        json!({"id": 5, "name": "fox"}),
    ];
    let mut video_list = Vec::new();
    let mut anns = Vec::new();
    let mut preds = Vec::new();
    let mut next_id = 1;
    for v in 0..videos {
        let video_id = 10 + v;
        let (h, w) = (rng.range(24, 48) as u32, rng.range(24, 48) as u32);
        let frames = rng.range(3, 9) as usize;
        let names: Vec<String> = (0..frames)
            .map(|f| format!("video{video_id}/{f:05}.jpg"))
            .collect();
        video_list.push(
            json!({"id": video_id, "file_names": names, "height": h, "width": w, "length": frames}),
        );
        let n_obj = if v == 0 { 0 } else { rng.range(1, 4) };
        for _ in 0..n_obj {
            let cat = [1, 2, 5][rng.range(0, 2) as usize];
            let (mut x, mut y) = (rng.range(0, w as i64 - 8), rng.range(0, h as i64 - 8));
            let (bw, bh) = (rng.range(4, 16), rng.range(4, 16));
            let mut gt_segs = Vec::new();
            let mut gt_boxes = Vec::new();
            let mut gt_areas = Vec::new();
            let mut pred_masks: Vec<Option<Rle>> = Vec::new();
            for _ in 0..frames {
                x += rng.range(-2, 2);
                y += rng.range(-2, 2);
                if rng.chance(0.15) {
                    gt_segs.push(Value::Null);
                    gt_boxes.push(Value::Null);
                    gt_areas.push(Value::Null);
                } else {
                    let m = random_mask(rng, h, w, x, y, bw, bh);
                    gt_segs.push(json!({"size": [h, w], "counts": m.counts}));
                    gt_boxes.push(json!(m.bbox()));
                    gt_areas.push(json!(m.area()));
                }
                pred_masks.push(if rng.chance(0.2) {
                    None
                } else {
                    let (dx, dy) = (rng.range(-2, 2), rng.range(-2, 2));
                    Some(random_mask(rng, h, w, x + dx, y + dy, bw, bh))
                });
            }
            anns.push(json!({"id": next_id, "video_id": video_id, "category_id": cat, "iscrowd": 0,
                             "height": h, "width": w, "segmentations": gt_segs, "bboxes": gt_boxes, "areas": gt_areas}));
            next_id += 1;
            // the prediction of this object, sometimes split in two tracks (an id switch)
            let split = if rng.chance(0.3) {
                rng.range(1, frames as i64 - 1) as usize
            } else {
                frames
            };
            let pred_cat = if rng.chance(0.1) {
                [1, 2, 5][rng.range(0, 2) as usize]
            } else {
                cat
            };
            for (lo, hi) in [(0, split), (split, frames)] {
                if lo == hi {
                    continue;
                }
                let masks: Vec<Option<Rle>> = (0..frames)
                    .map(|f| {
                        if f >= lo && f < hi {
                            pred_masks[f].clone()
                        } else {
                            None
                        }
                    })
                    .collect();
                preds.push(pred_track(rng, video_id, pred_cat, &masks));
            }
        }
        for _ in 0..rng.range(0, 2) {
            // a false positive track, sometimes with an empty mask in a frame
            let cat = [1, 2, 5][rng.range(0, 2) as usize];
            let masks: Vec<Option<Rle>> = (0..frames)
                .map(|_| {
                    if rng.chance(0.3) {
                        None
                    } else if rng.chance(0.2) {
                        Some(Rle::encode(&vec![0; (h * w) as usize], h, w))
                    } else {
                        let (x, y) = (rng.range(0, w as i64 - 4), rng.range(0, h as i64 - 4));
                        Some(random_mask(rng, h, w, x, y, 6, 6))
                    }
                })
                .collect();
            preds.push(pred_track(rng, video_id, cat, &masks));
        }
    }
    (
        json!({"videos": video_list, "annotations": anns, "categories": categories}),
        Value::Array(preds),
    )
}

fn pred_track(rng: &mut Rng, video_id: i64, category: i64, masks: &[Option<Rle>]) -> Value {
    let segs: Vec<Value> = masks
        .iter()
        .map(|m| m.as_ref().map_or(Value::Null, rle_json))
        .collect();
    let boxes: Vec<Value> = masks
        .iter()
        .map(|m| m.as_ref().map_or(Value::Null, |m| json!(m.bbox())))
        .collect();
    let areas: Vec<Value> = masks
        .iter()
        .map(|m| m.as_ref().map_or(Value::Null, |m| json!(m.area())))
        .collect();
    let score = 0.3 + 0.7 * rng.uniform();
    json!({"video_id": video_id, "category_id": category, "score": score, "segmentations": segs, "bboxes": boxes, "areas": areas})
}
