//! RLE encoding, compressed strings, area, boxes, polygons, merge and IoU against pycocotools, live, on seeded
//! random and edge-case masks. Every value must be identical (strings, integers and IoU doubles alike).

mod common;

use common::{oracle_python, run_oracle, scratch_dir, Rng};
use sam3c_formats::{bbox_iou, iou, Rle, Segmentation};
use serde_json::{json, Value};

const SIZES: &[(u32, u32)] = &[
    (1, 1),
    (1, 7),
    (7, 1),
    (2, 3),
    (13, 7),
    (31, 17),
    (64, 48),
    (5, 5),
    (97, 3),
];

fn random_mask(rng: &mut Rng, h: u32, w: u32) -> Vec<u8> {
    let n = (h * w) as usize;
    match rng.range(0, 7) {
        0 => vec![0; n],
        1 => vec![1; n],
        2 => {
            let mut m = vec![0; n];
            m[rng.range(0, n as i64 - 1) as usize] = 1;
            m
        }
        3 => {
            let p = [0.1, 0.5, 0.9][rng.range(0, 2) as usize];
            (0..n).map(|_| rng.chance(p) as u8).collect()
        }
        4 => {
            // first and last pixel set: runs touching both ends of the column-major order
            let mut m = vec![0; n];
            m[0] = 1;
            m[n - 1] = 1;
            m
        }
        _ => {
            // a few rectangles, some touching the borders
            let mut m = vec![0; n];
            for _ in 0..rng.range(1, 3) {
                let (y0, x0) = (rng.range(0, h as i64 - 1), rng.range(0, w as i64 - 1));
                let (y1, x1) = (rng.range(y0, h as i64 - 1), rng.range(x0, w as i64 - 1));
                for y in y0..=y1 {
                    for x in x0..=x1 {
                        m[(y * w as i64 + x) as usize] = 1;
                    }
                }
            }
            m
        }
    }
}

fn random_polygon(rng: &mut Rng, h: u32, w: u32) -> Vec<f64> {
    match rng.range(0, 4) {
        // the whole image, edges on the borders
        0 => vec![0.0, 0.0, w as f64, 0.0, w as f64, h as f64, 0.0, h as f64],
        // coordinates on half pixels and quarter pixels, where rounding decides
        1 => (0..rng.range(3, 6) * 2)
            .map(|i| {
                let limit = if i % 2 == 0 { w } else { h } as i64;
                rng.range(-2, limit + 2) as f64 + [0.0, 0.25, 0.5, 0.7][rng.range(0, 3) as usize]
            })
            .collect(),
        // a degenerate polygon: all vertices on one point
        2 => {
            let (x, y) = (rng.uniform() * w as f64, rng.uniform() * h as f64);
            vec![x, y, x, y, x, y]
        }
        _ => (0..rng.range(3, 12) * 2)
            .map(|i| {
                let limit = if i % 2 == 0 { w } else { h } as f64;
                rng.uniform() * (limit + 6.0) - 3.0
            })
            .collect(),
    }
}

fn random_counts(rng: &mut Rng, h: u32, w: u32) -> Vec<u32> {
    // Runs that include zero-length ones, which pycocotools accepts and toBbox must skip.
    let mut left = (h * w) as i64;
    let mut counts = Vec::new();
    while left > 0 {
        let run = if rng.chance(0.2) {
            0
        } else {
            rng.range(1, left.min(9))
        };
        counts.push(run as u32);
        left -= run;
    }
    counts
}

#[test]
fn masks_match_pycocotools() {
    let Some(python) = oracle_python() else {
        return;
    };
    let mut rng = Rng::new(20261121);
    let mut ops: Vec<Value> = Vec::new();
    let mut masks: Vec<(u32, u32, Vec<u8>)> = Vec::new();
    let mut polygons: Vec<(u32, u32, Vec<Vec<f64>>)> = Vec::new();
    let mut uncompressed: Vec<(u32, u32, Vec<u32>)> = Vec::new();
    let mut merges: Vec<(Vec<Rle>, bool)> = Vec::new();
    let mut ious: Vec<(Vec<Rle>, Vec<Rle>, Vec<bool>)> = Vec::new();
    let mut box_ious: Vec<(Vec<[f64; 4]>, Vec<[f64; 4]>, Vec<bool>)> = Vec::new();

    for &(h, w) in SIZES {
        for _ in 0..12 {
            let m = random_mask(&mut rng, h, w);
            ops.push(json!({"op": "encode", "h": h, "w": w, "mask": m}));
            masks.push((h, w, m));
        }
    }
    for &(h, w) in SIZES {
        for _ in 0..4 {
            let c = random_counts(&mut rng, h, w);
            ops.push(json!({"op": "uncompressed", "h": h, "w": w, "counts": c}));
            uncompressed.push((h, w, c));
        }
    }
    for i in 0..150 {
        let (h, w) = (rng.range(1, 60) as u32, rng.range(1, 60) as u32);
        let mut polys: Vec<Vec<f64>> = (0..rng.range(1, 3))
            .map(|_| random_polygon(&mut rng, h, w))
            .collect();
        if i % 25 == 0 {
            // frPyObjects takes a first list of four numbers for boxes and fails
            polys = (0..rng.range(1, 2))
                .map(|_| {
                    vec![
                        rng.uniform() * w as f64,
                        rng.uniform() * h as f64,
                        rng.uniform() * 20.0,
                        rng.uniform() * 20.0,
                    ]
                })
                .collect();
        }
        ops.push(json!({"op": "segmentation", "h": h, "w": w, "polygons": polys}));
        polygons.push((h, w, polys));
    }
    for _ in 0..60 {
        let (h, w) = SIZES[rng.range(0, SIZES.len() as i64 - 1) as usize];
        let mut rles: Vec<Rle> = (0..rng.range(1, 4))
            .map(|_| Rle::encode(&random_mask(&mut rng, h, w), h, w))
            .collect();
        if rng.chance(0.1) {
            rles.push(Rle::encode(&[1], 1, 1)); // a size mismatch empties the merge
        }
        let intersect = rng.chance(0.5);
        let strs: Vec<String> = rles.iter().map(Rle::to_compressed).collect();
        let sizes: Vec<[u32; 2]> = rles.iter().map(|r| [r.height, r.width]).collect();
        ops.push(
            json!({"op": "merge", "sizes": sizes, "rles": strs, "intersect": intersect as i32}),
        );
        merges.push((rles, intersect));
    }
    for _ in 0..60 {
        let (h, w) = SIZES[rng.range(3, SIZES.len() as i64 - 1) as usize];
        let make = |rng: &mut Rng| -> Vec<Rle> {
            (0..rng.range(0, 5))
                .map(|_| {
                    if rng.chance(0.1) {
                        Rle::encode(&random_mask(rng, h + 1, w), h + 1, w) // different size: IoU -1 when boxes overlap
                    } else {
                        Rle::encode(&random_mask(rng, h, w), h, w)
                    }
                })
                .collect()
        };
        let dt = make(&mut rng);
        let gt = make(&mut rng);
        let crowd: Vec<bool> = gt.iter().map(|_| rng.chance(0.3)).collect();
        let sizes = |r: &[Rle]| {
            r.iter()
                .map(|x| vec![x.height, x.width])
                .collect::<Vec<_>>()
        };
        ops.push(json!({
            "op": "iou",
            "dt": dt.iter().map(Rle::to_compressed).collect::<Vec<_>>(), "dt_sizes": sizes(&dt),
            "gt": gt.iter().map(Rle::to_compressed).collect::<Vec<_>>(), "gt_sizes": sizes(&gt),
            "crowd": crowd,
        }));
        ious.push((dt, gt, crowd));
    }
    for _ in 0..40 {
        let make = |rng: &mut Rng| -> Vec<[f64; 4]> {
            (0..rng.range(1, 6))
                .map(|_| {
                    let wh = |rng: &mut Rng| {
                        if rng.chance(0.1) {
                            0.0
                        } else {
                            rng.uniform() * 30.0
                        }
                    };
                    [rng.uniform() * 40.0, rng.uniform() * 40.0, wh(rng), wh(rng)]
                })
                .collect()
        };
        let dt = make(&mut rng);
        let gt = make(&mut rng);
        let crowd: Vec<bool> = gt.iter().map(|_| rng.chance(0.3)).collect();
        ops.push(json!({"op": "bbox_iou", "dt": dt, "gt": gt, "crowd": crowd}));
        box_ious.push((dt, gt, crowd));
    }

    let dir = scratch_dir("masks");
    let (input, output) = (dir.join("ops.json"), dir.join("out.json"));
    std::fs::write(&input, serde_json::to_string(&ops).unwrap()).unwrap();
    run_oracle(&python, "masks_oracle.py", &[&input, &output]);
    let expected: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    let mut expected = expected.into_iter();

    for (h, w, m) in &masks {
        let e = expected.next().unwrap();
        let rle = Rle::encode(m, *h, *w);
        let what = format!("mask {h}x{w} {m:?}");
        assert_eq!(rle.to_compressed(), e["counts"].as_str().unwrap(), "{what}");
        assert_eq!(rle.area(), e["area"].as_u64().unwrap(), "{what}");
        assert_eq!(
            rle.bbox().to_vec(),
            serde_json::from_value::<Vec<f64>>(e["bbox"].clone()).unwrap(),
            "{what}"
        );
        let parsed = Rle::from_compressed(e["counts"].as_str().unwrap(), *h, *w).unwrap();
        assert_eq!(parsed, rle, "{what}");
        // pycocotools decodes to (h, w) arrays; flattened row-major like ours
        assert_eq!(
            parsed.decode(),
            serde_json::from_value::<Vec<u8>>(e["decoded"].clone()).unwrap(),
            "{what}"
        );
    }
    for (h, w, c) in &uncompressed {
        let e = expected.next().unwrap();
        let rle = Rle::from_uncompressed(c, *h, *w).unwrap();
        let what = format!("uncompressed {h}x{w} {c:?}");
        assert_eq!(rle.to_compressed(), e["counts"].as_str().unwrap(), "{what}");
        assert_eq!(rle.area(), e["area"].as_u64().unwrap(), "{what}");
        assert_eq!(
            rle.bbox().to_vec(),
            serde_json::from_value::<Vec<f64>>(e["bbox"].clone()).unwrap(),
            "{what}"
        );
    }
    for (h, w, polys) in &polygons {
        let e = expected.next().unwrap();
        let result = Segmentation::Polygons(polys.clone()).to_rle(*h, *w);
        if e.get("error").is_some() {
            assert!(
                result.is_err(),
                "pycocotools rejects {polys:?} ({}), we accept it",
                e["error"]
            );
            continue;
        }
        let rle = result.unwrap();
        assert_eq!(
            rle.to_compressed(),
            e["counts"].as_str().unwrap(),
            "polygons {h}x{w} {polys:?}"
        );
        assert_eq!(Rle::from_polygons(polys, *h, *w), rle);
    }
    for (rles, intersect) in &merges {
        let e = expected.next().unwrap();
        assert_eq!(
            Rle::merge(rles, *intersect).to_compressed(),
            e["counts"].as_str().unwrap(),
            "merge {rles:?}"
        );
    }
    for (dt, gt, crowd) in &ious {
        let e = expected.next().unwrap();
        let want: Vec<Vec<f64>> = serde_json::from_value(e["iou"].clone()).unwrap();
        assert_eq!(iou(dt, gt, crowd), want, "iou {dt:?} {gt:?} {crowd:?}");
    }
    for (dt, gt, crowd) in &box_ious {
        let e = expected.next().unwrap();
        let want: Vec<Vec<f64>> = serde_json::from_value(e["iou"].clone()).unwrap();
        assert_eq!(
            bbox_iou(dt, gt, crowd),
            want,
            "bbox iou {dt:?} {gt:?} {crowd:?}"
        );
    }
    assert!(expected.next().is_none());
}
