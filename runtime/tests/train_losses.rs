//! The detection and tracker losses against Meta's code, live: `Sam3LossWrapper` (with `Boxes`, `IABCEMdetr`,
//! `Masks`, `SemanticSegCriterion`) and SAM 2's `MultiStepMultiMasksAndIous` compute every loss value and the
//! gradient of every differentiable value with respect to every prediction; ours must agree. Plus properties
//! the oracle cannot show: bad inputs are errors, and the tracker's all-outputs mode averages.

mod common;

use common::{oracle_python, run_oracle_script, TempDir};
use sam3c_runtime::train::loss::{
    FindOutputs, FindTargets, LayerOutputs, LossDict, Normalization, QueryPredictions, Sam3Loss,
    SingleProcess, TrackerFrameOutputs, TrackerLossFn, CORE_LOSS_KEY,
};
use sam3c_stdlib::components::loss::Sam3Loss as Sam3LossConfig;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

type Tensors = HashMap<String, Tensor>;

fn load(path: &std::path::Path) -> Tensors {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

fn max_abs(t: &Tensor) -> f64 {
    if t.numel() == 0 {
        0.0
    } else {
        t.abs().max().to_kind(Kind::Double).double_value(&[])
    }
}

/// Leaves (predictions requiring grad) of the oracle's inputs, by name.
struct Leaves {
    names: Vec<String>,
    tensors: Vec<Tensor>,
}

impl Leaves {
    fn new() -> Self {
        Leaves {
            names: Vec::new(),
            tensors: Vec::new(),
        }
    }

    fn take(&mut self, data: &Tensors, name: &str) -> Option<Tensor> {
        let value = data.get(&format!("in.{name}"))?;
        let leaf = value.copy().set_requires_grad(true);
        self.names.push(name.to_owned());
        self.tensors.push(leaf.shallow_clone());
        Some(leaf)
    }
}

fn layer(data: &Tensors, leaves: &mut Leaves, prefix: &str) -> LayerOutputs {
    let mut o2o = QueryPredictions::new(
        leaves.take(data, &format!("{prefix}pred_logits")).unwrap(),
        leaves.take(data, &format!("{prefix}pred_boxes")).unwrap(),
    );
    o2o.presence_logit_dec = leaves.take(data, &format!("{prefix}presence_logit_dec"));
    o2o.pred_masks = leaves.take(data, &format!("{prefix}pred_masks"));
    let mut o2m = QueryPredictions::new(
        leaves
            .take(data, &format!("{prefix}pred_logits_o2m"))
            .unwrap(),
        leaves
            .take(data, &format!("{prefix}pred_boxes_o2m"))
            .unwrap(),
    );
    o2m.pred_masks = leaves.take(data, &format!("{prefix}pred_masks_o2m"));
    LayerOutputs {
        o2o,
        o2m: Some(o2m),
        // The oracle's indices come from the model's matcher; ours are computed by our matcher.
        indices: None,
    }
}

/// Compares every value, and every gradient of every differentiable value, with the oracle.
fn compare(
    case: &str,
    losses: &LossDict,
    expected_keys: &[String],
    data: &Tensors,
    leaves: &Leaves,
) {
    let ours: BTreeSet<&String> = losses.keys().collect();
    let theirs: BTreeSet<&String> = expected_keys.iter().collect();
    assert_eq!(ours, theirs, "{case}: loss keys");
    let mut compared_grads = 0;
    let (mut worst_value, mut worst_grad) = (0f64, 0f64);
    for (key, value) in losses {
        let expected = data[&format!("out.{key}")]
            .to_kind(Kind::Double)
            .double_value(&[]);
        let got = value.to_kind(Kind::Double).double_value(&[]);
        worst_value = worst_value.max((got - expected).abs() / expected.abs().max(1.0));
        assert!(
            (got - expected).abs() <= 1e-5 * expected.abs().max(1.0),
            "{case}: {key} = {got}, upstream {expected}"
        );
        let upstream_has_grad = leaves
            .names
            .iter()
            .any(|n| data.contains_key(&format!("grad.{key}.{n}")));
        if !value.requires_grad() {
            assert!(
                !upstream_has_grad,
                "{case}: {key} has no gradient here but upstream has one"
            );
            continue;
        }
        let grads = Tensor::run_backward(&[value], &leaves.tensors, true, false);
        for (name, grad) in leaves.names.iter().zip(grads) {
            let reference = data.get(&format!("grad.{key}.{name}"));
            let diff = match (reference, grad.defined()) {
                (Some(r), true) => max_abs(&(&grad - r)),
                (Some(r), false) => max_abs(r),
                (None, true) => max_abs(&grad),
                (None, false) => 0.0,
            };
            let scale = reference.map(max_abs).unwrap_or(0.0);
            worst_grad = worst_grad.max(diff / scale.max(1.0));
            assert!(
                diff <= 1e-6 + 1e-5 * scale,
                "{case}: d {key} / d {name} differs by {diff} (upstream max |g| {scale})"
            );
            compared_grads += 1;
        }
    }
    assert!(compared_grads > 0, "{case}: no gradient was compared");
    eprintln!(
        "{case}: {} values, {compared_grads} gradients; worst relative difference {worst_value:.2e} (values), \
         {worst_grad:.2e} (gradients)",
        losses.len()
    );
}

fn detection_case(case: &Value, data: &Tensors) {
    let name = case["name"].as_str().unwrap();
    let config: Sam3LossConfig = serde_json::from_value(case["config"].clone()).unwrap();
    let normalization = match case["normalization"].as_str().unwrap() {
        "global" => Normalization::Global(Arc::new(SingleProcess)),
        "local" => Normalization::Local,
        "none" => Normalization::None,
        other => panic!("normalization {other}"),
    };
    let loss = Sam3Loss::new(&config, normalization).unwrap();
    let aux_layers = case["aux_layers"].as_u64().unwrap();
    let mut leaves = Leaves::new();
    let mut stages = Vec::new();
    let mut all_targets = Vec::new();
    for (s, num_boxes) in case["stages"].as_array().unwrap().iter().enumerate() {
        let num_boxes: Vec<i64> = num_boxes
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let p = format!("s{s}.");
        let mut targets = FindTargets::new(
            data[&format!("{p}t.boxes")].copy(),
            &num_boxes,
            data[&format!("{p}t.object_ids")].copy(),
            data[&format!("{p}t.is_exhaustive")].copy(),
        )
        .unwrap();
        if let Some(masks) = data.get(&format!("{p}t.masks")) {
            let valid = data[&format!("{p}t.is_valid_mask")].copy();
            targets = targets.with_masks(masks.copy(), Some(valid)).unwrap();
        }
        if let Some(semantic) = data.get(&format!("{p}t.semantic_masks")) {
            targets = targets.with_semantic_masks(semantic.copy()).unwrap();
        }
        let steps = case["steps"][s].as_u64().unwrap();
        let mut step_outputs = Vec::new();
        for k in 0..steps {
            // Leaves of later interactive steps carry `k{k}.` after the stage prefix.
            let q = if k == 0 {
                p.clone()
            } else {
                format!("{p}k{k}.")
            };
            let mut outputs = FindOutputs::new(layer(data, &mut leaves, &format!("{q}main.")));
            outputs.aux = (0..aux_layers)
                .map(|i| layer(data, &mut leaves, &format!("{q}aux{i}.")))
                .collect();
            if case["first_stage"].as_bool().unwrap() {
                outputs.first_stage = Some(layer(data, &mut leaves, &format!("{q}fs.")));
            }
            outputs.semantic_seg = leaves.take(data, &format!("{q}semantic_seg"));
            outputs.semantic_presence_logit = leaves.take(data, &format!("{q}presence_logit"));
            step_outputs.push(outputs);
        }
        stages.push(step_outputs);
        all_targets.push(targets);
    }
    let losses = loss.forward(&stages, &all_targets).unwrap();
    let keys: Vec<String> = serde_json::from_value(case["keys"].clone()).unwrap();
    if case["first_stage"].as_bool().unwrap() {
        assert!(keys.iter().any(|k| k == "loss_giou_fs_o2m"), "{keys:?}");
    }
    compare(name, &losses, &keys, data, &leaves);
}

fn tracker_loss_of(config: &Value) -> TrackerLossFn {
    let f = |k: &str| config[k].as_f64().unwrap();
    let b = |k: &str| config[k].as_bool().unwrap();
    TrackerLossFn {
        weight_mask: f("weight_mask"),
        weight_dice: f("weight_dice"),
        weight_iou: f("weight_iou"),
        weight_class: f("weight_class"),
        focal_alpha: f("focal_alpha"),
        focal_gamma: f("focal_gamma"),
        best_mask_only: true,
        supervise_all_iou: b("supervise_all_iou"),
        iou_use_l1_loss: b("iou_use_l1_loss"),
        pred_obj_scores: b("pred_obj_scores"),
        focal_alpha_obj_score: f("focal_alpha_obj_score"),
        focal_gamma_obj_score: f("focal_gamma_obj_score"),
    }
}

fn tracker_case(case: &Value, data: &Tensors) {
    let name = case["name"].as_str().unwrap();
    let loss = tracker_loss_of(&case["config"]);
    let mut leaves = Leaves::new();
    let mut frames = Vec::new();
    for (f, steps) in case["steps"].as_array().unwrap().iter().enumerate() {
        let steps = steps.as_u64().unwrap();
        let mut take = |key: &str| -> Vec<Tensor> {
            (0..steps)
                .map(|s| leaves.take(data, &format!("f{f}.{key}.{s}")).unwrap())
                .collect()
        };
        frames.push(TrackerFrameOutputs {
            multistep_pred_multimasks_high_res: take("multistep_pred_multimasks_high_res"),
            multistep_pred_ious: take("multistep_pred_ious"),
            multistep_object_score_logits: take("multistep_object_score_logits"),
        });
    }
    let losses = loss
        .forward(&frames, &data["targets"], Some(&SingleProcess))
        .unwrap();
    let keys: Vec<String> = serde_json::from_value(case["keys"].clone()).unwrap();
    compare(name, &losses, &keys, data, &leaves);
}

#[test]
fn losses_and_gradients_agree_with_upstream() {
    let Some(python) = oracle_python() else {
        return;
    };
    tch::set_num_threads(1);
    let dir = TempDir::new("train-losses");
    run_oracle_script(&python, "train_loss_oracle.py", &[&dir.0]);
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("cases.json")).unwrap()).unwrap();
    let mut kinds = BTreeSet::new();
    for case in &cases {
        let data = load(
            &dir.0
                .join(format!("{}.safetensors", case["name"].as_str().unwrap())),
        );
        match case["kind"].as_str().unwrap() {
            "detection" => detection_case(case, &data),
            "tracker" => tracker_case(case, &data),
            other => panic!("unknown case kind {other}"),
        }
        kinds.insert(case["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(kinds.len(), 2, "both loss families were compared");
}

fn cpu_targets() -> FindTargets {
    let boxes = Tensor::from_slice(&[0.5f32, 0.5, 0.2, 0.2, 0.3, 0.3, 0.1, 0.2]).view([2, 4]);
    FindTargets::new(
        boxes,
        &[1, 1],
        Tensor::from_slice(&[0i64, 1]),
        Tensor::from_slice(&[true, false]),
    )
    .unwrap()
}

fn cpu_outputs(queries: i64) -> FindOutputs {
    tch::manual_seed(0);
    FindOutputs::new(LayerOutputs::new(QueryPredictions::new(
        Tensor::randn([2, queries, 1], (Kind::Float, Device::Cpu)),
        Tensor::rand([2, queries, 4], (Kind::Float, Device::Cpu)) * 0.5 + 0.2,
    )))
}

fn default_config() -> Sam3LossConfig {
    serde_json::from_value(serde_json::json!({
        "terms": [
            {"Boxes": {"l1": 5.0, "giou": 2.0, "aux": true}},
            {"Classification": {"ce": 20.0, "presence": 20.0, "pos_weight": 10.0, "alpha": 0.25, "gamma": 2.0,
             "use_presence": true, "pad_queries": 200, "pad_scale_pos": 1.0, "weak": false, "pos_focal": false, "aux": true}},
            {"Masks": {"focal": 200.0, "dice": 10.0, "alpha": 0.25, "gamma": 2.0, "aux": false}}
        ],
        "semantic": null,
        "matcher": {"class": 2.0, "bbox": 5.0, "giou": 2.0, "focal": true, "alpha": 0.25, "gamma": 2.0, "stable": false},
        "o2m": {"alpha": 0.3, "threshold": 0.4, "topk": 4},
        "o2m_weight": 2.0, "o2m_matcher_on_aux": false, "scale_by_batch": true, "normalize_by_frames": false
    }))
    .unwrap()
}

#[test]
fn bad_loss_inputs_are_errors_not_panics() {
    let loss = Sam3Loss::new(&default_config(), Normalization::Local).unwrap();
    // The masks term needs mask predictions.
    let err = loss
        .forward(&[vec![cpu_outputs(5)]], &[cpu_targets()])
        .unwrap_err();
    assert!(err.to_string().contains("needs pred_masks"), "{err}");
    // Stages and targets must pair up.
    let err = loss.forward(&[vec![cpu_outputs(5)]], &[]).unwrap_err();
    assert!(
        err.to_string().contains("1 find stages but 0 target sets"),
        "{err}"
    );
    // Predictions for another batch size.
    let mut wrong = cpu_outputs(5);
    wrong.main.o2o.pred_boxes = Tensor::zeros([2, 4, 4], (Kind::Float, Device::Cpu));
    let err = loss.forward(&[vec![wrong]], &[cpu_targets()]).unwrap_err();
    assert!(
        err.to_string()
            .contains("pred_boxes must have shape [2, 5, 4]"),
        "{err}"
    );
    // Targets whose counts do not add up.
    let err = FindTargets::new(
        Tensor::zeros([3, 4], (Kind::Float, Device::Cpu)),
        &[1, 1],
        Tensor::zeros([3], (Kind::Int64, Device::Cpu)),
        Tensor::ones([2], (Kind::Bool, Device::Cpu)),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("boxes must have shape [2, 4]"),
        "{err}"
    );
    // A tracker target without frames matching the outputs.
    let tracker = TrackerLossFn {
        best_mask_only: true,
        ..tracker_loss_of(&serde_json::json!({
            "weight_mask": 20.0, "weight_dice": 1.0, "weight_iou": 1.0, "weight_class": 1.0,
            "focal_alpha": 0.25, "focal_gamma": 2.0, "supervise_all_iou": true, "iou_use_l1_loss": true,
            "pred_obj_scores": true, "focal_alpha_obj_score": -1.0, "focal_gamma_obj_score": 0.0
        }))
    };
    let err = tracker
        .forward(
            &[],
            &Tensor::zeros([1, 2, 4, 4], (Kind::Bool, Device::Cpu)),
            None,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("targets must be [F=0, N, H, W]"),
        "{err}"
    );
}

#[test]
fn core_loss_is_the_weighted_sum_scaled_by_sqrt_batch() {
    let mut config = default_config();
    config.terms.pop();
    let loss = Sam3Loss::new(&config, Normalization::Local).unwrap();
    let losses = loss
        .forward(&[vec![cpu_outputs(6)]], &[cpu_targets()])
        .unwrap();
    let v = |k: &str| losses[k].double_value(&[]);
    let weighted = 5.0 * v("loss_bbox")
        + 2.0 * v("loss_giou")
        + 20.0 * v("loss_ce")
        + 20.0 * v("presence_loss");
    // Without one-to-many queries and auxiliary layers the core loss is the weighted sum times sqrt(B = 2).
    assert!(
        (v(CORE_LOSS_KEY) - weighted * 2f64.sqrt()).abs() < 1e-5,
        "{losses:?}"
    );
    assert!(!losses.contains_key("loss_bbox_o2m"));
}

#[test]
fn tracker_all_outputs_mode_averages_the_multimask_losses() {
    tch::manual_seed(1);
    let masks = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
    let frame = || TrackerFrameOutputs {
        multistep_pred_multimasks_high_res: vec![masks.copy()],
        multistep_pred_ious: vec![Tensor::full([2, 3], 0.5, (Kind::Float, Device::Cpu))],
        multistep_object_score_logits: vec![Tensor::ones([2, 1], (Kind::Float, Device::Cpu))],
    };
    let targets = Tensor::rand([1, 2, 8, 8], (Kind::Float, Device::Cpu)).gt(0.5);
    let mut loss = TrackerLossFn::new(&sam3c_stdlib::components::loss::TrackerLoss {
        mask: 20.0,
        dice: 1.0,
        iou: 1.0,
        object: 1.0,
        alpha: 0.25,
        gamma: 2.0,
        best_mask_only: true,
    });
    let best = loss.forward(&[frame()], &targets, None).unwrap();
    loss.best_mask_only = false;
    let all = loss.forward(&[frame()], &targets, None).unwrap();
    // Averaging over the outputs can only be worse than picking each object's best output.
    let (b, a) = (
        best["loss_mask"].double_value(&[]),
        all["loss_mask"].double_value(&[]),
    );
    assert!(a > b, "mean {a} should exceed best {b}");
    // One multimask channel alone reproduces the single-mask loss of that channel.
    let single = TrackerFrameOutputs {
        multistep_pred_multimasks_high_res: vec![masks.narrow(1, 0, 1)],
        multistep_pred_ious: vec![Tensor::full([2, 1], 0.5, (Kind::Float, Device::Cpu))],
        multistep_object_score_logits: vec![Tensor::ones([2, 1], (Kind::Float, Device::Cpu))],
    };
    let one = loss.forward(&[single], &targets, None).unwrap();
    assert!(one["loss_mask"].double_value(&[]) > 0.0);
}

#[test]
fn bf16_predictions_under_autocast_are_scored_in_fp32() {
    let mut config = default_config();
    config.terms.pop();
    let loss = Sam3Loss::new(&config, Normalization::Local).unwrap();
    let outputs = cpu_outputs(6);
    // The same values in fp32 and in bf16 (rounding to bf16 first, so both hold identical numbers).
    let round = |t: &Tensor| t.to_kind(Kind::BFloat16);
    let fp32 = FindOutputs::new(LayerOutputs::new(QueryPredictions::new(
        round(&outputs.main.o2o.pred_logits).to_kind(Kind::Float),
        round(&outputs.main.o2o.pred_boxes).to_kind(Kind::Float),
    )));
    let bf16 = FindOutputs::new(LayerOutputs::new(QueryPredictions::new(
        round(&outputs.main.o2o.pred_logits),
        round(&outputs.main.o2o.pred_boxes),
    )));
    let reference = loss.forward(&[vec![fp32]], &[cpu_targets()]).unwrap();
    let _autocast =
        sam3c_runtime::train::amp::Autocast::enter(Device::Cpu, Kind::BFloat16).unwrap();
    let mixed = loss.forward(&[vec![bf16]], &[cpu_targets()]).unwrap();
    for (key, value) in &reference {
        assert_eq!(mixed[key].kind(), Kind::Float, "{key}");
        assert_eq!(
            mixed[key].double_value(&[]),
            value.double_value(&[]),
            "{key} differs between fp32 and bf16 inputs"
        );
    }
}
