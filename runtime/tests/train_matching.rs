//! The matchers against Meta's sam3 matchers, live: assignments of exported cost matrices (scipy through
//! upstream's `_do_matching`), cost matrices and indices of `BinaryHungarianMatcherV2` and
//! `BinaryOneToManyMatcher` on seeded random predictions; and clear errors for NaN costs and bad settings.

mod common;

use common::{oracle_python, run_oracle_script, TempDir};
use sam3c_runtime::train::loss::{FindTargets, QueryPredictions};
use sam3c_runtime::train::matcher::{
    linear_sum_assignment, rows_sorted_by_column, HungarianMatcher, OneToManyMatcher,
};
use sam3c_runtime::train::TrainError;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use tch::{Kind, Tensor};

fn load(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .into_iter()
        .collect()
}

fn ints(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.to_kind(Kind::Int64).reshape([-1])).unwrap()
}

fn floats(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

fn usizes(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

fn targets_for(boxes: &Tensor, num_boxes: &[i64]) -> FindTargets {
    let total: i64 = num_boxes.iter().sum();
    FindTargets::new(
        boxes.shallow_clone(),
        num_boxes,
        Tensor::arange(total, (Kind::Int64, tch::Device::Cpu)),
        Tensor::ones([num_boxes.len() as i64], (Kind::Bool, tch::Device::Cpu)),
    )
    .unwrap()
}

#[test]
fn matchers_agree_with_upstream_sam3() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = TempDir::new("train-matcher");
    run_oracle_script(&python, "train_matcher_oracle.py", &[&dir.0]);
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("matchers.json")).unwrap())
            .unwrap();

    // Assignments of exported cost matrices, ties and near-ties included.
    let assignment = load(&dir.0.join("assignment.safetensors"));
    let count = meta["assignments"].as_u64().unwrap();
    assert!(count >= 20);
    for k in 0..count {
        let cost = &assignment[&format!("{k}.cost")];
        let (rows, cols) = (cost.size()[0] as usize, cost.size()[1] as usize);
        let (r, c) = linear_sum_assignment(&floats(cost), rows, cols).unwrap();
        assert_eq!(
            usizes(&r),
            ints(&assignment[&format!("{k}.rows")]),
            "rows of cost {k}"
        );
        assert_eq!(
            usizes(&c),
            ints(&assignment[&format!("{k}.cols")]),
            "cols of cost {k}"
        );
        assert_eq!(
            usizes(&rows_sorted_by_column(&r, &c)),
            ints(&assignment[&format!("{k}.sorted_rows")]),
            "rows sorted by target of cost {k}"
        );
    }

    let tensors = load(&dir.0.join("matchers.safetensors"));
    for case in meta["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let get = |key: &str| &tensors[&format!("{name}.{key}")];
        let num_boxes: Vec<i64> = case["num_boxes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let targets = targets_for(get("boxes"), &num_boxes);
        let preds = QueryPredictions::new(get("pred_logits").copy(), get("pred_boxes").copy());

        let hungarian = HungarianMatcher {
            focal: case["hungarian"]["focal"].as_bool().unwrap(),
            stable: case["hungarian"]["stable"].as_bool().unwrap_or(false),
            ..HungarianMatcher::sam3_model()
        };
        // The cost matrices scipy received, one per find query with targets.
        let (cost, kept) = hungarian.cost_matrix(&preds, &targets).unwrap();
        assert_eq!(kept.len() as u64, case["costs"].as_u64().unwrap(), "{name}");
        for (k, &b) in kept.iter().enumerate() {
            let expected = floats(get(&format!("hungarian.cost.{k}")));
            let ours = floats(&cost.get(k as i64).narrow(1, 0, num_boxes[b as usize]));
            assert_eq!(ours.len(), expected.len(), "{name}: cost {k}");
            for (o, e) in ours.iter().zip(&expected) {
                assert!(
                    (o - e).abs() <= 1e-6 * e.abs().max(1.0),
                    "{name}: cost {k}: {o} vs {e}"
                );
            }
        }
        let indices = hungarian.matches(&preds, &targets).unwrap();
        assert_eq!(
            ints(&indices.batch_idx),
            ints(get("hungarian.batch_idx")),
            "{name}"
        );
        assert_eq!(
            ints(&indices.src_idx),
            ints(get("hungarian.src_idx")),
            "{name}"
        );
        assert_eq!(
            indices.tgt_idx.is_some(),
            case["has_tgt_idx"].as_bool().unwrap(),
            "{name}"
        );
        if let Some(tgt_idx) = &indices.tgt_idx {
            assert_eq!(ints(tgt_idx), ints(get("hungarian.tgt_idx")), "{name}");
        }

        let o2m = OneToManyMatcher {
            alpha: case["o2m"]["alpha"].as_f64().unwrap(),
            threshold: case["o2m"]["threshold"].as_f64().unwrap(),
            topk: case["o2m"]["topk"].as_u64().unwrap() as u32,
        };
        if num_boxes.iter().any(|&n| n > 0) {
            let scores = floats(&o2m.score_matrix(&preds, &targets).unwrap());
            let expected = floats(get("o2m.scores"));
            for (o, e) in scores.iter().zip(&expected) {
                assert!(
                    (o - e).abs() <= 1e-6,
                    "{name}: one-to-many score {o} vs {e}"
                );
            }
        }
        let indices = o2m.matches(&preds, &targets).unwrap();
        assert_eq!(
            ints(&indices.batch_idx),
            ints(get("o2m.batch_idx")),
            "{name}"
        );
        assert_eq!(ints(&indices.src_idx), ints(get("o2m.src_idx")), "{name}");
        assert_eq!(
            ints(indices.tgt_idx.as_ref().unwrap()),
            ints(get("o2m.tgt_idx")),
            "{name}"
        );
    }
}

fn simple_case(queries: i64) -> (QueryPredictions, FindTargets) {
    tch::manual_seed(3);
    let preds = QueryPredictions::new(
        Tensor::randn([2, queries, 1], (Kind::Float, tch::Device::Cpu)),
        Tensor::rand([2, queries, 4], (Kind::Float, tch::Device::Cpu)) * 0.5 + 0.2,
    );
    let boxes = Tensor::from_slice(&[
        0.5f32, 0.5, 0.2, 0.2, 0.3, 0.3, 0.1, 0.2, 0.6, 0.6, 0.3, 0.3,
    ])
    .view([3, 4]);
    (preds, targets_for(&boxes, &[2, 1]))
}

#[test]
fn nan_predictions_are_reported_with_their_position() {
    let (preds, targets) = simple_case(5);
    let _ = preds.pred_boxes.get(1).get(3).fill_(f64::NAN);
    let err = HungarianMatcher::sam3_model()
        .matches(&preds, &targets)
        .unwrap_err();
    match err {
        TrainError::NonFiniteCost { batch, query, .. } => {
            assert_eq!((batch, query), (1, 3), "{err}")
        }
        other => panic!("expected a non-finite cost error, got {other}"),
    }
    let err = OneToManyMatcher {
        alpha: 0.3,
        threshold: 0.4,
        topk: 2,
    }
    .matches(&preds, &targets)
    .unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFiniteCost {
                batch: 1,
                query: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("NaN or inf"), "{err}");

    let err = linear_sum_assignment(&[1.0, f64::INFINITY, 0.0, 2.0], 2, 2).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFiniteCost {
                query: 0,
                target: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn bad_matcher_settings_and_inputs_are_errors() {
    let (preds, targets) = simple_case(3);
    let err = OneToManyMatcher {
        alpha: 0.3,
        threshold: 0.4,
        topk: 4,
    }
    .matches(&preds, &targets)
    .unwrap_err();
    assert!(
        err.to_string().contains("topk = 4 exceeds the 3 queries"),
        "{err}"
    );

    let zero_costs = sam3c_stdlib::components::loss::Hungarian {
        class: 0.0,
        bbox: 0.0,
        giou: 0.0,
        focal: true,
        alpha: 0.25,
        gamma: 2.0,
        stable: false,
    };
    assert!(HungarianMatcher::new(&zero_costs).is_err());

    let wrong = QueryPredictions::new(
        Tensor::zeros([3, 4, 1], (Kind::Float, tch::Device::Cpu)),
        Tensor::zeros([3, 4, 4], (Kind::Float, tch::Device::Cpu)),
    );
    let err = HungarianMatcher::sam3_model()
        .matches(&wrong, &targets)
        .unwrap_err();
    assert!(
        err.to_string().contains("pred_logits must be [B=2, Q, 1]"),
        "{err}"
    );
    assert!(linear_sum_assignment(&[1.0, 2.0, 3.0], 2, 2).is_err());
}
