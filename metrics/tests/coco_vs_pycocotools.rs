//! COCO AP (all 12 statistics, bbox and segm, plain and positive split) against pycocotools / sam3's
//! COCOevalCustom, live, on seeded random sets with crowds, empty images, images without predictions, more
//! predictions than maxDets, every area range, score ties and a ground truth of id 0.

mod common;

use common::{
    assert_close, coco_case, oracle_python, read_json, run_oracle, scratch_dir, write_json,
    CocoCaseSpec, Rng,
};
use sam3c_formats::{parse_coco, parse_coco_results};
use sam3c_metrics::{coco_evaluate, CocoEvalOptions, IouType};
use serde_json::json;

#[test]
fn coco_ap_matches_pycocotools() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = scratch_dir("coco");
    let mut rng = Rng::new(6);
    let base = CocoCaseSpec {
        images: 12,
        categories: 3,
        max_gt: 6,
        max_dt: 15,
        crowd: 0.1,
        tied_scores: false,
        dt_boxes: true,
        gt_id_zero: false,
    };
    let specs = [
        base,
        CocoCaseSpec {
            tied_scores: true,
            ..base
        },
        CocoCaseSpec {
            dt_boxes: false,
            crowd: 0.25,
            ..base
        },
        CocoCaseSpec {
            categories: 1,
            max_dt: 40,
            ..base
        },
        CocoCaseSpec {
            images: 25,
            categories: 5,
            max_gt: 3,
            ..base
        },
        CocoCaseSpec {
            gt_id_zero: true,
            tied_scores: true,
            ..base
        },
    ];
    let mut cases = Vec::new();
    let mut inputs = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let (mut gt, mut dt) = coco_case(&mut rng, *spec);
        if spec.gt_id_zero {
            // a perfect detection of the ground truth with id 0, which pycocotools counts as a false positive
            let ann = &mut gt["annotations"][0];
            assert_eq!(ann["id"], 0);
            ann["iscrowd"] = json!(0);
            let ann = ann.clone();
            dt.as_array_mut().unwrap().push(json!({
                "image_id": ann["image_id"], "category_id": ann["category_id"], "bbox": ann["bbox"],
                "segmentation": ann["segmentation"], "score": 1.0,
            }));
        }
        if dt.as_array().unwrap().is_empty() {
            // pycocotools cannot load an empty results list
            dt = json!([{"image_id": gt["images"][0]["id"], "category_id": 3, "bbox": [1, 1, 5, 5], "score": 0.5,
                         "segmentation": {"size": [gt["images"][0]["height"], gt["images"][0]["width"]], "counts": "0"}}]);
        }
        let (gt_path, dt_path) = (
            dir.join(format!("gt{i}.json")),
            dir.join(format!("dt{i}.json")),
        );
        write_json(&gt_path, &gt);
        write_json(&dt_path, &dt);
        for iou_type in [IouType::Bbox, IouType::Segm] {
            for positive_split in [false, true] {
                cases.push(json!({"gt": gt_path, "dt": dt_path, "iou_type": iou_type.name(), "positive_split": positive_split}));
                inputs.push((i, iou_type, positive_split));
            }
        }
    }
    let (manifest, output) = (dir.join("cases.json"), dir.join("out.json"));
    write_json(&manifest, &json!(cases));
    run_oracle(&python, "coco_oracle.py", &[&manifest, &output]);
    let expected = read_json(&output);

    for (n, (i, iou_type, positive_split)) in inputs.iter().enumerate() {
        let gt =
            parse_coco(&std::fs::read_to_string(dir.join(format!("gt{i}.json"))).unwrap()).unwrap();
        let dt =
            parse_coco_results(&std::fs::read_to_string(dir.join(format!("dt{i}.json"))).unwrap())
                .unwrap();
        let result = coco_evaluate(
            &gt,
            &dt,
            &CocoEvalOptions {
                iou_type: *iou_type,
                positive_split: *positive_split,
            },
        )
        .unwrap();
        for (s, ours) in result.stats.iter().enumerate() {
            assert_close(
                *ours,
                &expected[n][s],
                &format!("case {i} {iou_type:?} positive_split={positive_split} stat {s}"),
            );
        }
        // the cases must exercise real matching, not only -1s and zeros
        if !positive_split && *iou_type == IouType::Bbox {
            assert!(
                result.stats[0] > 0.01 && result.stats[8] > 0.01,
                "case {i} too easy or too hard: {:?}",
                result.stats
            );
        }
    }
}
