//! The tch tracker against its pure description, and its behaviour without an oracle.

use sam3c_runtime::model::tracker::{
    MemoryBank, PointPrompt, StepInputs, Tracker, TrackerConfig, TrackerError,
};
use sam3c_stdlib::arch::tracker::tracker_params;
use std::collections::BTreeMap;
use tch::{nn, Device, Kind, Tensor};

/// The VarStore's (name -> (shape, trainable)) must be exactly the description's.
fn assert_var_store_matches_description(cfg: &TrackerConfig) {
    let vs = nn::VarStore::new(Device::Cpu);
    Tracker::new(vs.root(), cfg).unwrap();
    let trainable: std::collections::HashSet<String> = {
        let vars = vs.variables();
        let trainable_ptrs: Vec<_> = vs
            .trainable_variables()
            .iter()
            .map(|t| t.data_ptr())
            .collect();
        vars.iter()
            .filter(|(_, t)| trainable_ptrs.contains(&t.data_ptr()))
            .map(|(n, _)| n.clone())
            .collect()
    };
    let ours: BTreeMap<String, (Vec<i64>, bool)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| {
            let is_trainable = trainable.contains(&n);
            (n, (t.size(), is_trainable))
        })
        .collect();
    let described: BTreeMap<String, (Vec<i64>, bool)> = tracker_params(cfg)
        .into_iter()
        .map(|p| (p.name, (p.shape, p.trainable)))
        .collect();
    let only_ours: Vec<_> = ours
        .keys()
        .filter(|k| !described.contains_key(*k))
        .collect();
    let only_described: Vec<_> = described
        .keys()
        .filter(|k| !ours.contains_key(*k))
        .collect();
    assert!(
        only_ours.is_empty() && only_described.is_empty(),
        "VarStore vs description: only in VarStore {only_ours:?}, only described {only_described:?}"
    );
    for (name, expected) in &described {
        assert_eq!(&ours[name], expected, "{name}: (shape, trainable)");
    }
}

#[test]
fn tiny_tracker_var_store_is_the_described_state_dict() {
    assert_var_store_matches_description(&TrackerConfig::tiny());
}

#[test]
fn full_tracker_var_store_is_the_described_state_dict() {
    assert_var_store_matches_description(&TrackerConfig::full());
}

#[test]
fn invalid_config_is_an_error_not_a_panic() {
    let vs = nn::VarStore::new(Device::Cpu);
    let mut cfg = TrackerConfig::tiny();
    cfg.mem_dim = 24;
    match Tracker::new(vs.root(), &cfg) {
        Err(TrackerError::Config(msg)) => assert!(msg.contains("mem_dim"), "{msg}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

fn frame(
    cfg: &TrackerConfig,
    tracker: &Tracker,
    b: i64,
) -> sam3c_runtime::model::tracker::FrameFeatures {
    let (d, f) = (cfg.d_model, cfg.feat_size());
    let opts = (Kind::Float, Device::Cpu);
    tracker
        .frame_features(
            [
                &Tensor::randn([b, d, 4 * f, 4 * f], opts),
                &Tensor::randn([b, d, 2 * f, 2 * f], opts),
                &Tensor::randn([b, d, f, f], opts),
            ],
            &Tensor::randn([b, d, f, f], opts),
        )
        .unwrap()
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    tch::manual_seed(0);
    let cfg = TrackerConfig::tiny();
    let vs = nn::VarStore::new(Device::Cpu);
    let tracker = Tracker::new(vs.root(), &cfg).unwrap();
    let opts = (Kind::Float, Device::Cpu);
    // A neck level of the wrong size.
    let err = tracker
        .frame_features(
            [
                &Tensor::randn([1, 64, 10, 10], opts),
                &Tensor::randn([1, 64, 32, 32], opts),
                &Tensor::randn([1, 64, 16, 16], opts),
            ],
            &Tensor::randn([1, 64, 16, 16], opts),
        )
        .unwrap_err();
    assert!(err.to_string().contains("neck level 0"), "{err}");
    let feats = frame(&cfg, &tracker, 1);
    // Tracking a frame with no conditioning frame in the bank.
    let step = StepInputs {
        frame_idx: 1,
        num_frames: 3,
        ..Default::default()
    };
    let err = tracker
        .track_step(&feats, &step, &MemoryBank::new(), false)
        .unwrap_err();
    assert!(err.to_string().contains("no conditioning frame"), "{err}");
    // Points of the wrong shape.
    let points = PointPrompt {
        coords: Tensor::zeros([1, 2, 3], opts),
        labels: Tensor::ones([1, 2], (Kind::Int, Device::Cpu)),
    };
    let step = StepInputs {
        is_init_cond_frame: true,
        num_frames: 3,
        points: Some(&points),
        ..Default::default()
    };
    let err = tracker
        .track_step(&feats, &step, &MemoryBank::new(), false)
        .unwrap_err();
    assert!(err.to_string().contains("points.coords"), "{err}");
}

/// A short clip trains end to end: every parameter that upstream's loss reaches gets a finite gradient, and
/// the memory carries gradients from later frames back to the first one.
#[test]
fn clip_backpropagates_through_the_memory() {
    tch::manual_seed(0);
    let mut cfg = TrackerConfig::tiny();
    cfg.use_memory_selection = false;
    let vs = nn::VarStore::new(Device::Cpu);
    let tracker = Tracker::new(vs.root(), &cfg).unwrap();
    let b = 2;
    let first = frame(&cfg, &tracker, b);
    let first_feat = first.vision_feat.set_requires_grad(true);
    let first = sam3c_runtime::model::tracker::FrameFeatures {
        vision_feat: first_feat.shallow_clone(),
        ..first
    };
    let points = PointPrompt {
        coords: Tensor::rand([b, 1, 2], (Kind::Float, Device::Cpu)) * 200.0,
        labels: Tensor::ones([b, 1], (Kind::Int, Device::Cpu)),
    };
    let mut bank = MemoryBank::new();
    let step = StepInputs {
        frame_idx: 0,
        is_init_cond_frame: true,
        num_frames: 3,
        points: Some(&points),
        ..Default::default()
    };
    let out0 = tracker.track_step(&first, &step, &bank, true).unwrap();
    bank.insert(0, out0.memory(), true);
    let mut terms = Vec::new();
    for t in 1..3 {
        let feats = frame(&cfg, &tracker, b);
        let step = StepInputs {
            frame_idx: t,
            num_frames: 3,
            ..Default::default()
        };
        let out = tracker.track_step(&feats, &step, &bank, true).unwrap();
        assert_eq!(out.pred_masks.size(), [b, 1, 64, 64]);
        assert_eq!(out.pred_masks_high_res.size(), [b, 1, 224, 224]);
        assert_eq!(
            out.maskmem_features.as_ref().unwrap().size(),
            [b, 16, 16, 16]
        );
        terms.push(out.pred_masks.sum(Kind::Float) + out.ious.sum(Kind::Float));
        bank.insert(t, out.memory(), false);
    }
    Tensor::stack(&terms, 0).sum(Kind::Float).backward();
    let grad = first_feat.grad();
    assert!(grad.defined() && f64::try_from(grad.abs().sum(Kind::Double)).unwrap() > 0.0);
    for (name, var) in vs.variables() {
        let g = var.grad();
        if g.defined() {
            assert!(
                f64::try_from(g.isfinite().all().to_kind(Kind::Int64)).unwrap() == 1.0,
                "{name}: non-finite gradient"
            );
        }
    }
    for name in [
        "transformer.encoder.layers.0.cross_attn_image.k_proj.weight",
        "maskmem_backbone.fuser.layers.0.pwconv1.weight",
        "obj_ptr_tpos_proj.weight",
        "maskmem_tpos_enc",
    ] {
        let g = vs.variables()[name].grad();
        assert!(
            g.defined() && f64::try_from(g.abs().sum(Kind::Double)).unwrap() > 0.0,
            "{name} received no gradient"
        );
    }
    // A buffer never trains.
    let g =
        vs.variables()["sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"].grad();
    assert!(!g.defined());
}
