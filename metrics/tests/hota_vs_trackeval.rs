//! HOTA against the references, live, on seeded random YTVIS sets: class mode against pip trackeval (masks) and
//! sam3's VideoClassBasedHotaEvaluator (masks and boxes), phrase mode against sam3's VideoPhraseHotaEvaluator.

mod common;

use common::{
    assert_close, oracle_python, read_json, run_oracle, scratch_dir, write_json, ytvis_case, Rng,
};
use sam3c_formats::{parse_ytvis, parse_ytvis_results};
use sam3c_metrics::{hota_evaluate, HotaOptions, IouType};

#[test]
fn hota_matches_trackeval_and_sam3() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = scratch_dir("hota");
    let mut rng = Rng::new(44);
    let (gt, pred) = ytvis_case(&mut rng, 6);
    let (gt_path, pred_path, out_path) = (
        dir.join("gt.json"),
        dir.join("pred.json"),
        dir.join("out.json"),
    );
    write_json(&gt_path, &gt);
    write_json(&pred_path, &pred);
    run_oracle(
        &python,
        "hota_oracle.py",
        &[&gt_path, &pred_path, dir.path(), &out_path],
    );
    let expected = read_json(&out_path);
    let gt = parse_ytvis(&std::fs::read_to_string(&gt_path).unwrap()).unwrap();
    let pred = parse_ytvis_results(&std::fs::read_to_string(&pred_path).unwrap()).unwrap();

    // pip trackeval: class mode, masks, predictions as given
    let plain = HotaOptions {
        iou_type: IouType::Segm,
        per_phrase: false,
        score_threshold: None,
        dataset_name: "video".into(),
    };
    let result = hota_evaluate(&gt, &pred, &plain).unwrap();
    for (field, curve) in &result.curves {
        let mean = curve.iter().sum::<f64>() / curve.len() as f64;
        assert_close(
            mean,
            &expected["class_trackeval"][field],
            &format!("trackeval class {field}"),
        );
    }
    assert!(
        result.curves[0].1[0] > 0.1,
        "HOTA at alpha 0.05 should be substantial: {:?}",
        result.curves[0]
    );

    // sam3: phrase and class mode with its preprocessing, masks and boxes
    for iou_type in [IouType::Segm, IouType::Bbox] {
        for per_phrase in [true, false] {
            let options = HotaOptions {
                per_phrase,
                ..HotaOptions::phrase(iou_type)
            };
            let ours = hota_evaluate(&gt, &pred, &options).unwrap().metrics();
            let theirs = &expected[if per_phrase { "phrase" } else { "class_sam3" }];
            assert_eq!(ours.len(), 9);
            for (name, value) in ours.iter() {
                assert_close(value, &theirs[name], &format!("sam3 {name}"));
            }
        }
    }
}
