//! Timings of the training pieces at SAM 3's sizes on this machine (run with `cargo bench -p sam3c-runtime
//! --bench train_pieces`): Hungarian matching, the detection loss forward + backward (boxes and classification,
//! then with masks at 1008 px), and an AdamW step with clipping. Prints the median of several runs.

use sam3c_runtime::train::loss::{
    FindOutputs, FindTargets, LayerOutputs, Normalization, QueryPredictions, Sam3Loss,
};
use sam3c_runtime::train::matcher::HungarianMatcher;
use sam3c_runtime::train::optim::{AdamW, AdamWConfig, ParamGroup};
use sam3c_stdlib::components::loss::Sam3Loss as Sam3LossConfig;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

const QUERIES: i64 = 200;

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[runs / 2]
}

fn targets(num_boxes: &[i64], mask_size: Option<i64>) -> FindTargets {
    let total: i64 = num_boxes.iter().sum();
    let options = (Kind::Float, Device::Cpu);
    let boxes = Tensor::cat(
        &[
            Tensor::rand([total, 2], options) * 0.6 + 0.2,
            Tensor::rand([total, 2], options) * 0.3 + 0.05,
        ],
        1,
    );
    let t = FindTargets::new(
        boxes,
        num_boxes,
        Tensor::arange(total, (Kind::Int64, Device::Cpu)),
        Tensor::ones([num_boxes.len() as i64], (Kind::Bool, Device::Cpu)),
    )
    .unwrap();
    match mask_size {
        Some(size) => t
            .with_masks(Tensor::rand([total, size, size], options).gt(0.5), None)
            .unwrap(),
        None => t,
    }
}

fn predictions(batch: i64, masks: Option<i64>, leaves: &mut Vec<Tensor>) -> QueryPredictions {
    let options = (Kind::Float, Device::Cpu);
    let mut leaf = |t: Tensor| {
        let t = t.set_requires_grad(true);
        leaves.push(t.shallow_clone());
        t
    };
    let mut p = QueryPredictions::new(
        leaf(Tensor::randn([batch, QUERIES, 1], options)),
        leaf(Tensor::rand([batch, QUERIES, 4], options) * 0.5 + 0.2),
    );
    p.presence_logit_dec = Some(leaf(Tensor::randn([batch, 1], options)));
    p.pred_masks = masks.map(|size| leaf(Tensor::randn([batch, QUERIES, size, size], options)));
    p
}

fn outputs(
    batch: i64,
    aux_layers: usize,
    masks: Option<i64>,
    leaves: &mut Vec<Tensor>,
) -> FindOutputs {
    let layer = |masks: Option<i64>, leaves: &mut Vec<Tensor>| {
        let mut l = LayerOutputs::new(predictions(batch, masks, leaves));
        let mut o2m = predictions(batch, masks, leaves);
        o2m.presence_logit_dec = None;
        l.o2m = Some(o2m);
        l
    };
    let mut out = FindOutputs::new(layer(masks, leaves));
    out.aux = (0..aux_layers).map(|_| layer(None, leaves)).collect();
    out
}

fn config(masks: bool) -> Sam3LossConfig {
    let mut terms = vec![
        serde_json::json!({"Boxes": {"l1": 5.0, "giou": 2.0, "aux": true}}),
        serde_json::json!({"Classification": {"ce": 20.0, "presence": 20.0, "pos_weight": 10.0, "alpha": 0.25,
            "gamma": 2.0, "use_presence": true, "pad_queries": 200, "pad_scale_pos": 1.0, "weak": false, "pos_focal": false, "aux": true}}),
    ];
    if masks {
        terms.push(serde_json::json!({"Masks": {"focal": 200.0, "dice": 10.0, "alpha": 0.25, "gamma": 2.0, "aux": false}}));
    }
    serde_json::from_value(serde_json::json!({
        "terms": terms, "semantic": null,
        "matcher": {"class": 2.0, "bbox": 5.0, "giou": 2.0, "focal": true, "alpha": 0.25, "gamma": 2.0, "stable": false},
        "o2m": {"alpha": 0.3, "threshold": 0.4, "topk": 4},
        "o2m_weight": 2.0, "o2m_matcher_on_aux": false, "scale_by_batch": true, "normalize_by_frames": false
    }))
    .unwrap()
}

fn main() {
    tch::manual_seed(0);
    if let Some(threads) = std::env::var("SAM3C_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
    {
        tch::set_num_threads(threads);
    }
    println!(
        "torch threads: {} (SAM3C_BENCH_THREADS sets them)",
        tch::get_num_threads()
    );

    let num_boxes: Vec<i64> = (0..16).map(|b| (b * 7) % 21).collect();
    let t = targets(&num_boxes, None);
    let mut leaves = Vec::new();
    let p = predictions(16, None, &mut leaves);
    let matcher = HungarianMatcher::sam3_model();
    let ms = median_ms(20, || {
        let _ = matcher.cost_matrix(&p, &t).unwrap();
    });
    println!("hungarian cost matrix alone: {ms:.2} ms");
    let ms = median_ms(20, || {
        matcher.matches(&p, &t).unwrap();
    });
    println!(
        "hungarian matching, 16 find queries x {QUERIES} queries, {} targets: {ms:.2} ms",
        num_boxes.iter().sum::<i64>()
    );

    let loss = Sam3Loss::new(&config(false), Normalization::Local).unwrap();
    let mut leaves = Vec::new();
    let stages = vec![vec![outputs(16, 5, None, &mut leaves)]];
    let ms = median_ms(10, || {
        let losses = loss.forward(&stages, std::slice::from_ref(&t)).unwrap();
        losses["core_loss"].backward();
    });
    println!("detection loss (boxes + classification), 6 layers, o2o + o2m, B=16: {ms:.1} ms forward + backward");

    let loss = Sam3Loss::new(&config(true), Normalization::Local).unwrap();
    let mask_targets = targets(&[2, 3, 0, 3], Some(1008));
    let mut leaves = Vec::new();
    let stages = vec![vec![outputs(4, 5, Some(288), &mut leaves)]];
    let ms = median_ms(3, || {
        let losses = loss
            .forward(&stages, std::slice::from_ref(&mask_targets))
            .unwrap();
        losses["core_loss"].backward();
    });
    println!(
        "detection loss with masks (288 px predictions upsampled to 1008 px, 8 targets), 6 layers, B=4: {ms:.0} ms \
         forward + backward"
    );

    let params: Vec<(String, Tensor)> = (0..40)
        .map(|i| {
            let p = Tensor::randn([512, 512], (Kind::Float, Device::Cpu)).set_requires_grad(true);
            (format!("p{i}"), p)
        })
        .collect();
    let group = |range: std::ops::Range<usize>, lr| ParamGroup {
        params: range.map(|i| format!("p{i}")).collect(),
        lr,
        lr_scale: 1.0,
        weight_decay: 0.1,
    };
    let mut optimizer = AdamW::new(
        AdamWConfig::default(),
        &params,
        vec![group(0..20, 1e-4), group(20..40, 5e-5)],
    )
    .unwrap();
    let ms = median_ms(10, || {
        optimizer.zero_grad().unwrap();
        let terms: Vec<Tensor> = params.iter().map(|(_, p)| p.sum(Kind::Float)).collect();
        Tensor::stack(&terms, 0).sum(Kind::Float).backward();
        optimizer.clip_grad_norm(0.1).unwrap();
        optimizer.step().unwrap();
    });
    println!("AdamW step + clipping, 2 groups, 40 tensors, 10.5 M parameters (incl. a trivial backward): {ms:.1} ms");
}
