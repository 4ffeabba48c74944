//! `evaluate`: the entry point of `sam3c eval`. Each metric through file contents, the table and JSON outputs,
//! and errors that name the file, the entry and its line.

mod common;

use common::{coco_case, ytvis_case, CocoCaseSpec, Rng};
use sam3c_formats::{parse_coco, parse_coco_results};
use sam3c_metrics::{
    coco_evaluate, evaluate, CocoEvalOptions, EvalOptions, EvalRequest, InputFile, IouType,
    MetricKind,
};
use serde_json::{json, Value};

fn file(name: &str, value: &Value) -> InputFile {
    InputFile {
        name: name.to_owned(),
        text: serde_json::to_string_pretty(value).unwrap(),
    }
}

fn request(metric: MetricKind, gt: Vec<InputFile>, pred: InputFile) -> EvalRequest {
    EvalRequest {
        gt,
        pred,
        metric,
        options: EvalOptions::default(),
    }
}

fn spec() -> CocoCaseSpec {
    CocoCaseSpec {
        images: 8,
        categories: 2,
        max_gt: 4,
        max_dt: 8,
        crowd: 0.1,
        tied_scores: false,
        dt_boxes: true,
        gt_id_zero: false,
    }
}

#[test]
fn coco_report_table_and_json() {
    let (gt, dt) = coco_case(&mut Rng::new(1), spec());
    let report = evaluate(&request(
        MetricKind::Bbox,
        vec![file("gt.json", &gt)],
        file("pred.json", &dt),
    ))
    .unwrap();
    let direct = coco_evaluate(
        &parse_coco(&gt.to_string()).unwrap(),
        &parse_coco_results(&dt.to_string()).unwrap(),
        &CocoEvalOptions {
            iou_type: IouType::Bbox,
            positive_split: false,
        },
    )
    .unwrap();
    let json: serde_json::Map<String, Value> = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json.len(), 12);
    assert_eq!(json["coco_eval_bbox_AP"].as_f64().unwrap(), direct.stats[0]);
    assert_eq!(
        json["coco_eval_bbox_AR_large"].as_f64().unwrap(),
        direct.stats[11]
    );
    let table = report.render_table();
    let expected_line = format!(
        " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = {:0.3}",
        direct.stats[0]
    );
    assert!(table.contains(&expected_line), "{table}");
    assert!(
        table
            .contains(" Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = "),
        "{table}"
    );
    assert_eq!(table.lines().count(), 13);
}

#[test]
fn errors_name_the_file_the_entry_and_the_line() {
    let (gt, mut dt) = coco_case(&mut Rng::new(2), spec());
    dt[1]["image_id"] = json!(424242);
    let pred = file("pred.json", &dt);
    let err = evaluate(&request(
        MetricKind::Segm,
        vec![file("gt.json", &gt)],
        pred.clone(),
    ))
    .unwrap_err();
    assert_eq!(err.file, "pred.json");
    assert_eq!(err.path.as_deref(), Some("[1].image_id"));
    assert!(err.message.contains("424242"), "{err}");
    let loc = err.location.unwrap();
    assert!(
        pred.text
            .lines()
            .nth(loc.line - 1)
            .unwrap()
            .contains("424242"),
        "line {} points at the id",
        loc.line
    );
    assert!(
        err.to_string()
            .starts_with(&format!("pred.json:{}:", loc.line)),
        "{err}"
    );

    let err = evaluate(&request(
        MetricKind::Bbox,
        vec![InputFile {
            name: "gt.json".into(),
            text: "{\"images\": [".into(),
        }],
        pred.clone(),
    ))
    .unwrap_err();
    assert_eq!(
        (err.file.as_str(), err.location.map(|l| l.line)),
        ("gt.json", Some(1))
    );

    let mut bad_gt = gt.clone();
    bad_gt["annotations"][0]
        .as_object_mut()
        .unwrap()
        .remove("area");
    let err = evaluate(&request(
        MetricKind::Bbox,
        vec![file("gt.json", &bad_gt)],
        pred.clone(),
    ))
    .unwrap_err();
    assert_eq!(
        (err.file.as_str(), err.path.as_deref()),
        ("gt.json", Some("annotations[0]"))
    );
    assert!(err.message.contains("area"), "{err}");

    let err = evaluate(&request(
        MetricKind::Bbox,
        vec![file("a.json", &gt), file("b.json", &gt)],
        pred,
    ))
    .unwrap_err();
    assert!(err.message.contains("exactly one"), "{err}");
    assert!(
        "cgF1".parse::<MetricKind>().is_err()
            && "cgf1".parse::<MetricKind>() == Ok(MetricKind::CgF1)
    );
}

#[test]
fn cgf1_hota_and_jf_through_evaluate() {
    let (mut gt, dt) = coco_case(&mut Rng::new(3), spec());
    for img in gt["images"].as_array_mut().unwrap() {
        img["is_instance_exhaustive"] = json!(true);
    }
    let report = evaluate(&request(
        MetricKind::CgF1,
        vec![file("a.json", &gt), file("b.json", &gt)],
        file("p.json", &dt),
    ))
    .unwrap();
    // masks in the ground truth: both box and mask cgF1, 26 statistics each
    assert_eq!(report.values.len(), 52);
    assert!(report.values.get("cgF1_eval_segm_cgF1@0.75").is_some());
    assert_eq!(report.sections.len(), 2);
    assert!(report.render_table().contains("positive_micro_F1@0.5"));

    let (vgt, vdt) = ytvis_case(&mut Rng::new(4), 4);
    let report = evaluate(&request(
        MetricKind::Hota,
        vec![file("v.json", &vgt)],
        file("vp.json", &vdt),
    ))
    .unwrap();
    assert_eq!(report.values.len(), 18, "box and mask phrase HOTA");
    let hota = report.values.get("video_mask_all_phrase_HOTA").unwrap();
    assert!(hota > 0.0 && hota < 1.0);
    assert!(report.render_table().contains("HOTA mask"));
    let report = evaluate(&request(
        MetricKind::Jf,
        vec![file("v.json", &vgt)],
        file("vp.json", &vdt),
    ))
    .unwrap();
    assert_eq!(report.values.len(), 7);
    let jf = report.values.get("video_mask_all_phrase_J&F").unwrap();
    assert!(jf > 0.0 && jf < 1.0);
    let json: serde_json::Map<String, Value> = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["video_mask_all_phrase_J&F"].as_f64().unwrap(), jf);
}
