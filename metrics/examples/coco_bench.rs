//! The COCO AP benchmark's Rust side (driven by bench/metrics/coco_bench.py).
//!
//!   coco_bench gen DIR IMAGES DETS_PER_IMAGE SEED   writes DIR/gt.json and DIR/dt.json
//!   coco_bench eval GT DT bbox|segm                 prints {"stats": [...], "parse_seconds": .., "eval_seconds": ..}

use std::time::Instant;

use sam3c_formats::{parse_coco, parse_coco_results, Rle};
use sam3c_metrics::{coco_evaluate, CocoEvalOptions, IouType};
use serde_json::{json, Value};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
}

/// A filled rectangle's RLE, built from runs directly (column-major).
fn rect_rle(h: i64, w: i64, x0: i64, y0: i64, x1: i64, y1: i64) -> Rle {
    let (x0, y0, x1, y1) = (
        x0.clamp(0, w),
        y0.clamp(0, h),
        x1.clamp(0, w),
        y1.clamp(0, h),
    );
    let mut counts = Vec::new();
    if x1 <= x0 || y1 <= y0 {
        counts.push((h * w) as u32);
    } else {
        let mut zeros = x0 * h + y0;
        for _ in x0..x1 {
            counts.push(zeros as u32);
            counts.push((y1 - y0) as u32);
            zeros = h - (y1 - y0);
        }
        let _ = zeros;
        counts.push(((h - y1) + (w - x1) * h) as u32);
    }
    Rle {
        height: h as u32,
        width: w as u32,
        counts,
    }
}

fn generate(dir: &str, images: i64, dets: i64, seed: u64) {
    let mut rng = Rng(seed);
    let (h, w) = (240i64, 320i64);
    let cats = 20;
    let mut imgs = Vec::new();
    let mut anns = Vec::new();
    let mut results = Vec::new();
    for i in 0..images {
        let image_id = i + 1;
        imgs.push(json!({"id": image_id, "file_name": format!("{image_id}.jpg"), "height": h, "width": w}));
        let mut objects = Vec::new();
        for _ in 0..rng.range(0, 14) {
            let (bw, bh) = (rng.range(4, 160), rng.range(4, 160));
            let (x0, y0) = (rng.range(0, w - 4), rng.range(0, h - 4));
            let mask = rect_rle(h, w, x0, y0, x0 + bw, y0 + bh);
            let cat = rng.range(1, cats);
            let crowd = rng.uniform() < 0.02;
            anns.push(json!({
                "id": anns.len() + 1, "image_id": image_id, "category_id": cat, "bbox": mask.bbox(),
                "area": mask.area(), "iscrowd": crowd as i32,
                "segmentation": {"size": [h, w], "counts": mask.to_compressed()},
            }));
            objects.push((cat, x0, y0, bw, bh));
        }
        for _ in 0..dets {
            let (cat, x0, y0, bw, bh) = if !objects.is_empty() && rng.uniform() < 0.5 {
                let (c, x, y, bw, bh) = objects[rng.range(0, objects.len() as i64 - 1) as usize];
                let j = |rng: &mut Rng, v: i64| v + rng.range(-6, 6);
                (
                    if rng.uniform() < 0.9 {
                        c
                    } else {
                        rng.range(1, cats)
                    },
                    j(&mut rng, x),
                    j(&mut rng, y),
                    j(&mut rng, bw).max(2),
                    j(&mut rng, bh).max(2),
                )
            } else {
                (
                    rng.range(1, cats),
                    rng.range(0, w - 4),
                    rng.range(0, h - 4),
                    rng.range(4, 120),
                    rng.range(4, 120),
                )
            };
            let mask = rect_rle(h, w, x0, y0, x0 + bw, y0 + bh);
            let b = mask.bbox();
            results.push(json!({
                "image_id": image_id, "category_id": cat, "score": (rng.uniform() * 1000.0).round() / 1000.0,
                "bbox": [b[0] + 0.5, b[1] + 0.25, b[2] - 0.75, b[3] + 0.125],
                "segmentation": {"size": [h, w], "counts": mask.to_compressed()},
            }));
        }
    }
    let categories: Vec<Value> = (1..=cats)
        .map(|c| json!({"id": c, "name": format!("c{c}")}))
        .collect();
    std::fs::create_dir_all(dir).unwrap();
    let gt = json!({"images": imgs, "annotations": anns, "categories": categories});
    std::fs::write(
        format!("{dir}/gt.json"),
        serde_json::to_string(&gt).unwrap(),
    )
    .unwrap();
    std::fs::write(
        format!("{dir}/dt.json"),
        serde_json::to_string(&results).unwrap(),
    )
    .unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 6 => generate(
            &args[2],
            args[3].parse().unwrap(),
            args[4].parse().unwrap(),
            args[5].parse().unwrap(),
        ),
        Some("eval") if args.len() == 5 => {
            let iou_type = if args[4] == "segm" {
                IouType::Segm
            } else {
                IouType::Bbox
            };
            let start = Instant::now();
            let gt = parse_coco(&std::fs::read_to_string(&args[2]).unwrap()).unwrap();
            let dt = parse_coco_results(&std::fs::read_to_string(&args[3]).unwrap()).unwrap();
            let parsed = Instant::now();
            let result = coco_evaluate(
                &gt,
                &dt,
                &CocoEvalOptions {
                    iou_type,
                    positive_split: false,
                },
            )
            .unwrap();
            let done = Instant::now();
            let out = json!({
                "stats": result.stats,
                "parse_seconds": (parsed - start).as_secs_f64(),
                "eval_seconds": (done - parsed).as_secs_f64(),
            });
            println!("{out}");
        }
        _ => {
            eprintln!(
                "usage: coco_bench gen DIR IMAGES DETS SEED | coco_bench eval GT DT bbox|segm"
            );
            std::process::exit(2);
        }
    }
}
