//! AdamW, gradient clipping and schedules: against torch.optim.AdamW + clip_grad_norm_, sam3's
//! InverseSquareRootParamScheduler and fvcore's cosine schedule, live; upstream's verified schedule values;
//! exact resume from saved optimizer state; accumulation; the non-finite guard.

mod common;

use common::{oracle_python, run_oracle_script, TempDir};
use sam3c_runtime::train::guard::{check_grad_norm, check_losses};
use sam3c_runtime::train::loss::LossDict;
use sam3c_runtime::train::optim::{AdamW, AdamWConfig, GradAccumulation, ParamGroup};
use sam3c_runtime::train::schedule::{LrSchedule, ScheduleTime};
use sam3c_runtime::train::TrainError;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().to_kind(Kind::Double).double_value(&[])
}

/// Sets each parameter's gradient to exactly `grads[name]` (the gradient of sum(p · g) is g).
fn set_grads(params: &[(String, Tensor)], grads: &HashMap<String, Tensor>) {
    let terms: Vec<Tensor> = params
        .iter()
        .filter_map(|(name, p)| grads.get(name).map(|g| (p * g).sum(Kind::Float)))
        .collect();
    if !terms.is_empty() {
        Tensor::stack(&terms, 0).sum(Kind::Float).backward();
    }
}

struct Run {
    params: Vec<(String, Tensor)>,
    optimizer: AdamW,
}

fn build(meta: &Value, data: &HashMap<String, Tensor>, frozen: &[String]) -> Run {
    let params: Vec<(String, Tensor)> = meta["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let name = n.as_str().unwrap().to_owned();
            let trainable = !frozen.contains(&name);
            let t = data[&format!("init.{name}")]
                .copy()
                .set_requires_grad(trainable);
            (name, t)
        })
        .collect();
    let groups = meta["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| ParamGroup {
            params: serde_json::from_value(g["params"].clone()).unwrap(),
            lr: g["lr"].as_f64().unwrap(),
            lr_scale: g["lr_scale"].as_f64().unwrap(),
            weight_decay: g["weight_decay"].as_f64().unwrap(),
        })
        .collect();
    let optimizer = AdamW::new(AdamWConfig::default(), &params, groups).unwrap();
    Run { params, optimizer }
}

fn schedule_of(meta: &Value) -> LrSchedule {
    let s = &meta["schedule"];
    LrSchedule::InverseSqrt {
        warmup: s["warmup"].as_u64().unwrap(),
        timescale: s["timescale"].as_u64().unwrap(),
        cooldown: s["cooldown"].as_u64().unwrap(),
    }
}

/// One training step as upstream's trainer orders it: zero_grad, backward, schedule, clip, step.
fn train_step(run: &mut Run, meta: &Value, data: &HashMap<String, Tensor>, step: u64) -> f64 {
    let total = meta["total_steps"].as_u64().unwrap();
    run.optimizer.zero_grad().unwrap();
    let grads: HashMap<String, Tensor> = run
        .params
        .iter()
        .filter_map(|(n, _)| {
            data.get(&format!("grad{step}.{n}"))
                .map(|g| (n.clone(), g.copy()))
        })
        .collect();
    set_grads(&run.params, &grads);
    run.optimizer
        .apply_schedule(&schedule_of(meta), ScheduleTime::of(step, total));
    let norm = run
        .optimizer
        .clip_grad_norm(meta["max_norm"].as_f64().unwrap())
        .unwrap();
    run.optimizer.step().unwrap();
    norm
}

#[test]
fn optimizer_and_schedules_match_torch_sam3_and_fvcore() {
    let Some(python) = oracle_python() else {
        return;
    };
    tch::set_num_threads(1);
    let dir = TempDir::new("train-optim");
    run_oracle_script(&python, "train_optim_oracle.py", &[&dir.0]);
    adamw_with_groups_and_clipping_matches_torch_and_resumes_exactly(&dir.0);
    schedules_match_sam3_and_fvcore(&dir.0);
}

fn adamw_with_groups_and_clipping_matches_torch_and_resumes_exactly(dir: &Path) {
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adamw.json")).unwrap()).unwrap();
    let data: HashMap<String, Tensor> = Tensor::read_safetensors(dir.join("adamw.safetensors"))
        .unwrap()
        .into_iter()
        .collect();
    let frozen: Vec<String> = serde_json::from_value(meta["frozen"].clone()).unwrap();
    let total = meta["total_steps"].as_u64().unwrap();

    let mut run = build(&meta, &data, &frozen);
    let mut worst = 0f64;
    for step in 0..total {
        let norm = train_step(&mut run, &meta, &data, step);
        let expected_norm = data[&format!("norm{step}")].double_value(&[]);
        assert!(
            (norm - expected_norm).abs() <= 1e-6 * expected_norm.max(1.0),
            "step {step}: norm {norm} vs {expected_norm}"
        );
        let lrs = run.optimizer.learning_rates();
        for (g, lr) in lrs.iter().enumerate() {
            let expected = data[&format!("lrs{step}")].double_value(&[g as i64]);
            assert_eq!(*lr, expected, "step {step} group {g}");
        }
        for (name, p) in &run.params {
            let diff = max_abs_diff(p, &data[&format!("after{step}.{name}")]);
            worst = worst.max(diff);
            assert!(
                diff <= 1e-6,
                "step {step}: {name} differs from torch by {diff}"
            );
        }
    }
    eprintln!("AdamW + clipping, {total} steps, 3 groups: worst |Δparam| vs torch {worst:.2e}");
    // The frozen parameter never moved; the moments equal torch's.
    assert_eq!(
        max_abs_diff(&run.params[5].1, &data["init.frozen.weight"]),
        0.0
    );
    assert!(run.optimizer.param_state("frozen.weight").is_none());
    for (name, _) in &run.params {
        let Some(state) = run.optimizer.param_state(name) else {
            assert!(
                !data.contains_key(&format!("state.step.{name}")),
                "{name} has torch state"
            );
            continue;
        };
        assert!(
            max_abs_diff(&state.exp_avg, &data[&format!("state.exp_avg.{name}")]) <= 1e-7,
            "{name}"
        );
        assert!(
            max_abs_diff(
                &state.exp_avg_sq,
                &data[&format!("state.exp_avg_sq.{name}")]
            ) <= 1e-7,
            "{name}"
        );
        let torch_steps = data[&format!("state.step.{name}")].double_value(&[]);
        assert_eq!(state.step as f64, torch_steps, "{name}");
    }

    // Resume: stop after 3 steps, save parameters and optimizer state, continue in a fresh optimizer.
    let mut first = build(&meta, &data, &frozen);
    for step in 0..3 {
        train_step(&mut first, &meta, &data, step);
    }
    let saved_params: Vec<(String, Tensor)> = first
        .params
        .iter()
        .map(|(n, p)| (n.clone(), p.detach().copy()))
        .collect();
    let state_file = dir.join("optimizer.safetensors");
    Tensor::write_safetensors(&first.optimizer.state_tensors(), &state_file).unwrap();
    let mut resumed = build(&meta, &data, &frozen);
    tch::no_grad(|| {
        for ((_, p), (_, saved)) in resumed.params.iter().zip(&saved_params) {
            p.shallow_clone().copy_(saved);
        }
    });
    resumed
        .optimizer
        .load_state_tensors(Tensor::read_safetensors(&state_file).unwrap())
        .unwrap();
    for step in 3..total {
        train_step(&mut resumed, &meta, &data, step);
    }
    for ((name, a), (_, b)) in resumed.params.iter().zip(&run.params) {
        assert_eq!(
            max_abs_diff(a, b),
            0.0,
            "resumed {name} differs from the uninterrupted run"
        );
    }
}

fn schedules_match_sam3_and_fvcore(dir: &Path) {
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("schedules.json")).unwrap())
            .unwrap();
    let values: HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.join("schedules.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let expected_values = |key: String| Vec::<f64>::try_from(&values[&key]).unwrap();
    let mut compared = 0;
    for (k, case) in s["inverse_sqrt"].as_array().unwrap().iter().enumerate() {
        let schedule = LrSchedule::InverseSqrt {
            warmup: case["warmup"].as_u64().unwrap(),
            timescale: case["timescale"].as_u64().unwrap(),
            cooldown: case["cooldown"].as_u64().unwrap(),
        };
        let (base, total) = (
            case["base_lr"].as_f64().unwrap(),
            case["total"].as_u64().unwrap(),
        );
        for (step, expected) in expected_values(format!("inverse_sqrt.{k}"))
            .into_iter()
            .enumerate()
        {
            let got = schedule.value(base, ScheduleTime::of(step as u64, total));
            assert_eq!(
                got, expected,
                "inverse sqrt (base {base}, total {total}) step {step}"
            );
            compared += 1;
        }
    }
    let trainer = &s["inverse_sqrt_trainer"];
    let schedule = LrSchedule::InverseSqrt {
        warmup: trainer["warmup"].as_u64().unwrap(),
        timescale: trainer["timescale"].as_u64().unwrap(),
        cooldown: trainer["cooldown"].as_u64().unwrap(),
    };
    for (k, call) in trainer["calls"].as_array().unwrap().iter().enumerate() {
        let time = ScheduleTime::upstream(
            call["epoch"].as_u64().unwrap(),
            call["iter"].as_u64().unwrap(),
            trainer["iters_per_epoch"].as_u64().unwrap(),
            trainer["max_epochs"].as_u64().unwrap(),
        );
        assert_eq!(time.step, call["step"].as_u64().unwrap(), "{call}");
        let got = schedule.value(trainer["base_lr"].as_f64().unwrap(), time);
        assert_eq!(
            got,
            values[&format!("trainer.{k}")].double_value(&[]),
            "trainer call {call}"
        );
        compared += 1;
    }
    for (k, case) in s["cosine"].as_array().unwrap().iter().enumerate() {
        let schedule = LrSchedule::Cosine {
            warmup: case["warmup"].as_u64().unwrap(),
            final_scale: case["final_scale"].as_f64().unwrap(),
        };
        let (base, total) = (
            case["base_lr"].as_f64().unwrap(),
            case["total"].as_u64().unwrap(),
        );
        for (step, expected) in expected_values(format!("cosine.{k}"))
            .into_iter()
            .enumerate()
        {
            let got = schedule.value(base, ScheduleTime::of(step as u64, total));
            assert!(
                (got - expected).abs() <= 1e-12 * base,
                "cosine step {step}: {got} vs {expected}"
            );
            compared += 1;
        }
    }
    assert!(compared > 1200, "{compared}");
}

#[test]
fn inverse_sqrt_reproduces_upstreams_verified_values() {
    // reference/upstream-sam3.md §6: base 8e-5, W = T = C = 20, S = 1000.
    let schedule = LrSchedule::InverseSqrt {
        warmup: 20,
        timescale: 20,
        cooldown: 20,
    };
    let verified = [
        (0, 0.0),
        (1, 4.0e-6),
        (10, 4.0e-5),
        (19, 7.6e-5),
        (20, 8.0e-5),
        (21, 7.8072005836e-05),
        (40, 5.6568542495e-05),
        (100, 3.5777087640e-05),
        (500, 1.6e-05),
        (980, 1.1428571429e-05),
        (981, 1.0851607734e-05),
        (990, 5.6853524361e-06),
        (999, 5.6596847997e-07),
    ];
    for (step, expected) in verified {
        let got = schedule.value(8e-5, ScheduleTime::of(step, 1000));
        assert!(
            (got - expected).abs() <= 1e-10 * 8e-5 + 1e-9 * expected,
            "step {step}: {got} vs {expected}"
        );
    }
    // W = C = 0, T = 10, base 1.
    let schedule = LrSchedule::InverseSqrt {
        warmup: 0,
        timescale: 10,
        cooldown: 0,
    };
    for (step, expected) in [
        (0, 1.0),
        (1, 0.953463),
        (10, std::f64::consts::FRAC_1_SQRT_2),
        (30, 0.5),
        (90, 0.316228),
    ] {
        let got = schedule.value(1.0, ScheduleTime::of(step, 100));
        assert!(
            (got - expected).abs() < 5e-7,
            "step {step}: {got} vs {expected}"
        );
    }
}

#[test]
fn constant_and_cosine_schedules_have_their_shape() {
    let constant = LrSchedule::Constant {
        warmup: 4,
        cooldown: 5,
    };
    let at = |s: &LrSchedule, step| s.value(2.0, ScheduleTime::of(step, 20));
    assert_eq!(at(&constant, 0), 0.0);
    assert_eq!(at(&constant, 2), 1.0);
    assert_eq!(at(&constant, 4), 2.0);
    assert_eq!(at(&constant, 15), 2.0);
    assert_eq!(at(&constant, 17), 2.0 * 3.0 / 5.0);
    let cosine = LrSchedule::Cosine {
        warmup: 0,
        final_scale: 0.1,
    };
    assert_eq!(at(&cosine, 0), 2.0);
    assert!(
        (at(&cosine, 10) - 1.1).abs() < 1e-12,
        "halfway is the midpoint of 2 and 0.2"
    );
    // From the catalog: spans in epochs become steps.
    let spec = sam3c_stdlib::components::optim::Schedule::InverseSqrt(
        sam3c_stdlib::components::optim::InverseSqrt {
            warmup: sam3c_stdlib::units::Span::Epochs(sam3c_stdlib::units::Epochs(2)),
            timescale: sam3c_stdlib::units::Span::Steps(sam3c_stdlib::units::Steps(20)),
            cooldown: sam3c_stdlib::units::Span::Steps(sam3c_stdlib::units::Steps(0)),
        },
    );
    assert_eq!(
        LrSchedule::new(&spec, 7),
        LrSchedule::InverseSqrt {
            warmup: 14,
            timescale: 20,
            cooldown: 0
        }
    );
}

fn param(name: &str, values: &[f32]) -> (String, Tensor) {
    (
        name.to_owned(),
        Tensor::from_slice(values).set_requires_grad(true),
    )
}

#[test]
fn optimizer_rejects_inconsistent_groups_and_state() {
    let params = vec![param("a", &[1.0, 2.0]), param("b", &[3.0])];
    let group = |names: &[&str]| ParamGroup {
        params: names.iter().map(|s| s.to_string()).collect(),
        lr: 1e-3,
        lr_scale: 1.0,
        weight_decay: 0.0,
    };
    let err = AdamW::new(AdamWConfig::default(), &params, vec![group(&["a"])]).unwrap_err();
    assert!(
        err.to_string()
            .contains("in no group (freeze them or add a group): b"),
        "{err}"
    );
    let err = AdamW::new(
        AdamWConfig::default(),
        &params,
        vec![group(&["a", "b"]), group(&["b"])],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("b is in more than one group"),
        "{err}"
    );
    let err = AdamW::new(
        AdamWConfig::default(),
        &params,
        vec![group(&["a", "b", "c"])],
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown parameter c"), "{err}");
    // A frozen parameter may stay out of every group.
    let frozen = vec![
        param("a", &[1.0]),
        ("b".to_owned(), Tensor::from_slice(&[3.0f32])),
    ];
    let mut optimizer = AdamW::new(AdamWConfig::default(), &frozen, vec![group(&["a"])]).unwrap();
    let err = optimizer
        .load_state_tensors(vec![(
            "exp_avg.a".into(),
            Tensor::zeros([1], (Kind::Float, Device::Cpu)),
        )])
        .unwrap_err();
    assert!(err.to_string().contains("incomplete"), "{err}");
    let err = optimizer
        .load_state_tensors(vec![
            (
                "exp_avg.a".into(),
                Tensor::zeros([2], (Kind::Float, Device::Cpu)),
            ),
            (
                "exp_avg_sq.a".into(),
                Tensor::zeros([1], (Kind::Float, Device::Cpu)),
            ),
            ("step.a".into(), Tensor::from(1f32)),
        ])
        .unwrap_err();
    assert!(err.to_string().contains("exp_avg of a"), "{err}");
    let err = optimizer
        .load_state_tensors(vec![("momentum.a".into(), Tensor::from(1f32))])
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown optimizer state entry"),
        "{err}"
    );
    let spec_betas = sam3c_stdlib::components::optim::AdamW {
        lr: Some(1e-3),
        groups: vec![],
        weight_decay: 0.1,
        no_decay: vec![],
        layer_decay: None,
        freeze: vec![],
        clip_norm: None,
        betas: vec![0.9],
        eps: 1e-8,
    };
    assert!(AdamWConfig::new(&spec_betas).is_err());
}

#[test]
fn accumulated_micro_batches_give_the_full_batch_gradient() {
    let weights = Tensor::from_slice(&[0.5f32, -1.0, 2.0]).set_requires_grad(true);
    let data = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).view([2, 3]);
    let loss_of = |rows: &Tensor| {
        (rows.matmul(&weights))
            .pow_tensor_scalar(2.0)
            .mean(Kind::Float)
    };
    // Full batch: gradient of the mean over both rows.
    loss_of(&data).backward();
    let full = weights.grad().copy();
    let mut optimizer = AdamW::new(
        AdamWConfig::default(),
        &[("w".to_owned(), weights.shallow_clone())],
        vec![ParamGroup {
            params: vec!["w".into()],
            lr: 0.1,
            lr_scale: 1.0,
            weight_decay: 0.0,
        }],
    )
    .unwrap();
    optimizer.zero_grad().unwrap();
    assert!(!weights.grad().defined(), "zero_grad leaves no gradient");
    let mut accumulation = GradAccumulation::new(2, true).unwrap();
    let mut stepped = Vec::new();
    for row in 0..2 {
        (loss_of(&data.narrow(0, row, 1)) * accumulation.loss_scale()).backward();
        stepped.push(accumulation.record_backward());
    }
    assert_eq!(stepped, [false, true]);
    assert!(max_abs_diff(&weights.grad(), &full) < 1e-5);
    assert!(GradAccumulation::new(0, false).is_err());
    assert_eq!(GradAccumulation::new(3, false).unwrap().loss_scale(), 1.0);
}

#[test]
fn clipping_scales_to_the_max_norm_and_the_guard_names_what_went_non_finite() {
    let p = Tensor::from_slice(&[3.0f32, 4.0]).set_requires_grad(true);
    let mut optimizer = AdamW::new(
        AdamWConfig::default(),
        &[("p".to_owned(), p.shallow_clone())],
        vec![ParamGroup {
            params: vec!["p".into()],
            lr: 0.1,
            lr_scale: 1.0,
            weight_decay: 0.0,
        }],
    )
    .unwrap();
    assert_eq!(
        optimizer.clip_grad_norm(1.0).unwrap(),
        0.0,
        "no gradients: norm 0"
    );
    (&p * &p).sum(Kind::Float).backward(); // gradient (6, 8), norm 10
    assert!((optimizer.grad_norm().unwrap() - 10.0).abs() < 1e-6);
    let norm = optimizer.clip_grad_norm(1.0).unwrap();
    assert!((norm - 10.0).abs() < 1e-6);
    assert!((optimizer.grad_norm().unwrap() - 1.0).abs() < 1e-5);

    let mut losses = LossDict::new();
    losses.insert("loss_bbox".into(), Tensor::from(0.5f32));
    losses.insert("loss_ce".into(), Tensor::from(f32::NAN));
    losses.insert("loss_giou_aux_0".into(), Tensor::from(f32::INFINITY));
    let err = check_losses(17, &losses).unwrap_err();
    match &err {
        TrainError::NonFinite { step, terms } => {
            assert_eq!(*step, 17);
            let names: Vec<&str> = terms.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["loss_ce", "loss_giou_aux_0"]);
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .starts_with("step 17: non-finite loss_ce = NaN, loss_giou_aux_0 = inf"),
        "{err}"
    );
    losses.remove("loss_ce");
    losses.remove("loss_giou_aux_0");
    assert!(check_losses(18, &losses).is_ok());
    assert!(check_grad_norm(3, f64::NAN)
        .unwrap_err()
        .to_string()
        .contains("grad_norm"));
    assert!(check_grad_norm(3, 2.0).is_ok());
}
