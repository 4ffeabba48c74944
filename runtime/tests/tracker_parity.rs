//! Parity of the tch tracker with Meta's `sam3` 0.1.4, live: `oracle/tracker_parity.py` runs the reduced
//! upstream tracker (same classes as `build_tracker`, sizes from our `TrackerConfig`, every weight
//! re-randomized) block by block and over a 7-frame clip, in eval and in training; we load its weights with the
//! strict checkpoint loader, run the same inputs and compare outputs and parameter gradients.

mod common;

use common::{assert_close, assert_close_with_floor, oracle_python, run_oracle_script};
use sam3c_runtime::checkpoint::{self, KeyMap, StateDict};
use sam3c_runtime::model::tracker::{
    FrameOutput, MemoryBank, PointPrompt, StepInputs, Tracker, TrackerConfig,
};
use sam3c_stdlib::arch::tracker::tracker_params;
use sam3c_stdlib::arch::ModuleKind;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tch::{nn, Device, Kind, Tensor};

/// Per-block outputs and gradients: the same ops in the same order as upstream, so far below the 1e-4 bound.
const BLOCK_TOL: f64 = 1e-5;
/// The whole clip: 7 frames, each through the memory attention, the SAM heads and the memory encoder.
const CLIP_TOL: f64 = 1e-4;

/// The configuration both sides use: the tiny tracker without dropout (so training runs compare), and at
/// most 2 conditioning frames in attention (so the clip's 3 exercise the selection).
fn parity_config() -> TrackerConfig {
    TrackerConfig {
        dropout: 0.0,
        max_cond_frames_in_attn: 2,
        ..TrackerConfig::tiny()
    }
}

/// Runs the oracle once per test binary; the files live in a temporary directory for the whole run.
fn oracle_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    DIR.get_or_init(|| {
        let python = oracle_python()?;
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        std::fs::write(&cfg, serde_json::to_string(&parity_config()).unwrap()).unwrap();
        run_oracle_script(&python, "tracker_parity.py", &[&cfg, dir.path()]);
        Some(dir)
    })
    .as_ref()
    .map(|d| d.path())
}

fn load(file: &str) -> Option<StateDict> {
    let path: PathBuf = oracle_dir()?.join(file);
    Some(checkpoint::load(&path).unwrap())
}

/// A tracker with the oracle's weights, loaded strictly (every name, shape and dtype must match).
fn tracker_from(sd: &StateDict) -> (nn::VarStore, Tracker) {
    tch::set_num_threads(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let tracker = Tracker::new(vs.root(), &parity_config()).unwrap();
    let report =
        checkpoint::load_into(&vs, sd, &KeyMap::none().rename("weights.", ""), true).unwrap();
    assert_eq!(report.loaded, vs.variables().len());
    (vs, tracker)
}

fn t(sd: &StateDict, name: &str) -> Tensor {
    sd.tensor(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Backpropagates `Σ out · up` with the oracle's `up` tensors and compares every parameter gradient the
/// oracle recorded; a parameter with a gradient here but none upstream is an error too.
fn check_grads(
    sd: &StateDict,
    vs: &nn::VarStore,
    prefix: &str,
    outputs: &[(&str, &Tensor)],
    tol: f64,
) {
    let mut terms = Vec::new();
    for (name, out) in outputs {
        assert_close(
            &format!("{prefix}.{name}"),
            out,
            &t(sd, &format!("{prefix}.out.{name}")),
            tol,
        );
        terms.push((*out * t(sd, &format!("{prefix}.up.{name}"))).sum(Kind::Float));
    }
    Tensor::stack(&terms, 0).sum(Kind::Float).backward();
    let grad_prefix = format!("{prefix}.grad.");
    let reference: BTreeMap<&str, Tensor> = sd
        .names()
        .filter_map(|n| Some((n.strip_prefix(&grad_prefix)?, t(sd, n))))
        .collect();
    assert!(
        !reference.is_empty(),
        "{prefix}: the oracle recorded no gradient"
    );
    // Some gradients are zero in exact arithmetic (a key bias shifts every logit of a query alike) and only
    // rounding noise in both runs: they are compared against the block's largest gradient instead.
    let largest = reference
        .values()
        .map(|g| f64::try_from(g.abs().max()).unwrap())
        .fold(0.0, f64::max);
    for (name, var) in vs.variables() {
        let g = var.grad();
        match reference.get(name.as_str()) {
            Some(r) => assert_close_with_floor(
                &format!("grad {prefix} {name}"),
                &g,
                r,
                tol,
                largest * 1e-4,
            ),
            None => assert!(
                !g.defined() || f64::try_from(g.abs().max()).unwrap() == 0.0,
                "{prefix}: `{name}` has a gradient here but not upstream"
            ),
        }
    }
}

#[test]
fn upstream_tiny_tracker_has_the_described_state_dict() {
    let Some(sd) = load("blocks.safetensors") else {
        return;
    };
    let described = tracker_params(&parity_config());
    let ours: Vec<(String, Vec<i64>)> = described
        .iter()
        .map(|p| (format!("weights.{}", p.name), p.shape.clone()))
        .collect();
    let mut theirs: Vec<(String, Vec<i64>)> = sd
        .entries()
        .iter()
        .filter(|e| e.name.starts_with("weights."))
        .map(|e| (e.name.clone(), e.shape.clone()))
        .collect();
    // File order is by dtype and name; the state-dict order is in the metadata.
    let order: Vec<String> = serde_json::from_str(&sd.metadata["state_dict_order"]).unwrap();
    theirs.sort_by_key(|(n, _)| order.iter().position(|o| format!("weights.{o}") == *n));
    assert_eq!(ours, theirs);
    // The class owning each entry, as upstream's `module_cls_names` rules see it.
    let classes: BTreeMap<String, String> =
        serde_json::from_str(&sd.metadata["module_classes"]).unwrap();
    for p in &described {
        let upstream = &classes[&p.name];
        if p.module == ModuleKind::Other {
            assert!(
                !upstream.starts_with("torch.nn.") && !upstream.ends_with("LayerNorm2d"),
                "{}: described as a bare parameter, owned by {upstream}",
                p.name
            );
        } else {
            // `torch.nn.modules.conv.Conv2d` is exported as `torch.nn.Conv2d`.
            let public = match upstream.strip_prefix("torch.nn.modules.") {
                Some(rest) => format!("torch.nn.{}", rest.rsplit('.').next().unwrap()),
                None => upstream.clone(),
            };
            assert_eq!(p.module.upstream_class(), public, "{}", p.name);
        }
    }
}

#[test]
fn memory_encoder_matches_upstream() {
    let Some(sd) = load("blocks.safetensors") else {
        return;
    };
    let (vs, tracker) = tracker_from(&sd);
    let pix = t(&sd, "memenc.in.pix_feat");
    let masks = t(&sd, "memenc.in.masks");
    let mem = tracker.memory_encoder.forward(&pix, &masks, false);
    let outputs = [("features", &mem.features), ("pos_enc", &mem.pos_enc)];
    check_grads(&sd, &vs, "memenc", &outputs, BLOCK_TOL);
}

fn grid() -> (i64, i64) {
    let f = parity_config().feat_size();
    (f, f)
}

fn num_ptr_tokens() -> i64 {
    2 * parity_config().obj_ptr_tokens()
}

#[test]
fn memory_attention_layer_matches_upstream() {
    let Some(sd) = load("blocks.safetensors") else {
        return;
    };
    let (vs, tracker) = tracker_from(&sd);
    let y = tracker.memory_attention.layers[0].forward(
        &t(&sd, "malayer.in.tgt"),
        &t(&sd, "malayer.in.memory"),
        &t(&sd, "malayer.in.memory_pos"),
        grid(),
        num_ptr_tokens(),
        false,
    );
    check_grads(&sd, &vs, "malayer", &[("y", &y)], BLOCK_TOL);
}

#[test]
fn memory_attention_matches_upstream() {
    let Some(sd) = load("blocks.safetensors") else {
        return;
    };
    let (vs, tracker) = tracker_from(&sd);
    let y = tracker.memory_attention.forward(
        &t(&sd, "maenc.in.src"),
        &t(&sd, "maenc.in.src_pos"),
        &t(&sd, "maenc.in.memory"),
        &t(&sd, "maenc.in.memory_pos"),
        grid(),
        num_ptr_tokens(),
        false,
    );
    check_grads(&sd, &vs, "maenc", &[("y", &y)], BLOCK_TOL);
}

#[test]
fn prompt_encoder_matches_upstream() {
    let Some(sd) = load("blocks.safetensors") else {
        return;
    };
    let (vs, tracker) = tracker_from(&sd);
    let pe = &tracker.sam_prompt_encoder;
    let coords = t(&sd, "prompt.in.coords");
    let labels = t(&sd, "prompt.in.labels");
    let boxes = t(&sd, "prompt.in.boxes");
    let masks = t(&sd, "prompt.in.masks");
    let (sparse, dense) = pe.forward(Some((&coords, &labels)), Some(&boxes), Some(&masks));
    let (sparse_pad, dense_none) = pe.forward(Some((&coords, &labels)), None, None);
    let dense_pe = pe.dense_pe();
    let outputs = [
        ("sparse", &sparse),
        ("dense", &dense),
        ("sparse_pad", &sparse_pad),
        ("dense_none", &dense_none),
        ("dense_pe", &dense_pe),
    ];
    check_grads(&sd, &vs, "prompt", &outputs, BLOCK_TOL);
}

#[test]
fn two_way_transformer_matches_upstream() {
    let Some(sd) = load("blocks.safetensors") else {
        return;
    };
    let (vs, tracker) = tracker_from(&sd);
    let (q, k) = tracker.sam_mask_decoder.transformer.forward(
        &t(&sd, "twoway.in.image"),
        &t(&sd, "twoway.in.image_pe"),
        &t(&sd, "twoway.in.tokens"),
    );
    check_grads(
        &sd,
        &vs,
        "twoway",
        &[("queries", &q), ("keys", &k)],
        BLOCK_TOL,
    );
}

fn mask_decoder_case(mode: &str, multimask: bool, train: bool) {
    let Some(sd) = load("blocks.safetensors") else {
        return;
    };
    let (vs, tracker) = tracker_from(&sd);
    let i = |n: &str| t(&sd, &format!("maskdec.in.{n}"));
    let (s0, s1) = (i("s0"), i("s1"));
    let out = tracker.sam_mask_decoder.forward(
        &i("image"),
        &i("image_pe"),
        &i("sparse"),
        &i("dense"),
        multimask,
        (&s0, &s1),
        train,
    );
    let outputs = [
        ("masks", &out.masks),
        ("iou", &out.iou_pred),
        ("tokens", &out.sam_tokens_out),
        ("obj", &out.object_score_logits),
    ];
    check_grads(&sd, &vs, &format!("maskdec_{mode}"), &outputs, BLOCK_TOL);
}

#[test]
fn mask_decoder_multimask_matches_upstream() {
    mask_decoder_case("multi", true, false);
}

#[test]
fn mask_decoder_single_mask_with_stability_fallback_matches_upstream() {
    mask_decoder_case("single", false, false);
}

#[test]
fn mask_decoder_single_mask_in_training_matches_upstream() {
    mask_decoder_case("single_train", false, true);
}

const NUM_FRAMES: i64 = 7;
const COND: [i64; 3] = [0, 3, 5];

/// The clip as upstream's `forward_tracking` orders it: conditioning frames first, then the others.
fn run_clip(sd: &StateDict, tracker: &Tracker, train: bool) -> Vec<(i64, FrameOutput)> {
    let order: Vec<i64> = COND
        .iter()
        .copied()
        .chain((0..NUM_FRAMES).filter(|t| !COND.contains(t)))
        .collect();
    let mut bank = MemoryBank::new();
    let mut outs = Vec::new();
    for frame in order {
        let i = |n: &str| sd.tensor(&format!("in.f{frame}.{n}")).ok();
        let feats = tracker
            .frame_features(
                [&i("l0").unwrap(), &i("l1").unwrap(), &i("l2").unwrap()],
                &i("pos").unwrap(),
            )
            .unwrap();
        let points = i("coords").map(|coords| PointPrompt {
            coords,
            labels: i("labels").unwrap(),
        });
        let mask = i("mask");
        let is_cond = COND.contains(&frame);
        let step = StepInputs {
            frame_idx: frame,
            is_init_cond_frame: is_cond,
            num_frames: NUM_FRAMES,
            points: points.as_ref(),
            mask_inputs: mask.as_ref(),
            ..Default::default()
        };
        let out = tracker.track_step(&feats, &step, &bank, train).unwrap();
        bank.insert(frame, out.memory(), is_cond);
        outs.push((frame, out));
    }
    outs
}

fn frame_outputs(out: &FrameOutput) -> Vec<(&'static str, &Tensor)> {
    vec![
        ("pred_masks", &out.pred_masks),
        ("pred_masks_high_res", &out.pred_masks_high_res),
        ("multimasks", &out.multimasks),
        ("ious", &out.ious),
        ("obj_ptr", &out.obj_ptr),
        ("object_score_logits", &out.object_score_logits),
        ("maskmem_features", out.maskmem_features.as_ref().unwrap()),
        ("maskmem_pos_enc", out.maskmem_pos_enc.as_ref().unwrap()),
    ]
}

#[test]
fn clip_in_eval_with_memory_selection_matches_upstream() {
    let Some(sd) = load("clip.safetensors") else {
        return;
    };
    let (_vs, mut tracker) = tracker_from(&sd);
    tracker.cfg.use_memory_selection = true;
    let outs = tch::no_grad(|| run_clip(&sd, &tracker, false));
    for (frame, out) in &outs {
        for (name, ours) in frame_outputs(out) {
            let reference = t(&sd, &format!("eval.f{frame}.{name}"));
            assert_close(
                &format!("eval frame {frame} {name}"),
                ours,
                &reference,
                CLIP_TOL,
            );
        }
        let reference =
            f64::try_from(t(&sd, &format!("eval.f{frame}.eff_iou_score")).get(0)).unwrap();
        let ours = out.eff_iou_score.unwrap();
        assert!(
            (ours - reference).abs() <= 1e-5 * reference.abs().max(1e-3),
            "frame {frame} eff_iou_score {ours} vs {reference}"
        );
    }
}

#[test]
fn clip_in_training_matches_upstream_outputs_and_gradients() {
    let Some(sd) = load("clip.safetensors") else {
        return;
    };
    let (vs, mut tracker) = tracker_from(&sd);
    tracker.cfg.use_memory_selection = false;
    let outs = run_clip(&sd, &tracker, true);
    let mut flat = Vec::new();
    for (frame, out) in &outs {
        for (name, ours) in frame_outputs(out) {
            flat.push((format!("f{frame}.{name}"), ours));
        }
    }
    let named: Vec<(&str, &Tensor)> = flat.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    check_grads(&sd, &vs, "train", &named, CLIP_TOL);
}

#[test]
fn a_fresh_tiny_tracker_is_initialized_like_upstream() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, serde_json::to_string(&TrackerConfig::tiny()).unwrap()).unwrap();
    let out = dir.path().join("init.safetensors");
    run_oracle_script(&python, "tracker_init.py", &[&cfg, &out]);
    let stats = checkpoint::load(&out).unwrap();
    let stats: std::collections::HashMap<String, Tensor> = stats
        .entries()
        .iter()
        .map(|e| (e.name.clone(), e.to_tensor().unwrap()))
        .collect();

    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let _tracker = Tracker::new(vs.root(), &TrackerConfig::tiny()).unwrap();
    sam3c_runtime::model::init_tracker_like_upstream(&vs, "");
    let (compared, failures) = common::init_mismatches(&vs.variables(), &stats, &[]);
    assert!(compared > 100, "only {compared} tensors compared");
    assert!(
        failures.is_empty(),
        "initialized unlike upstream:\n{}",
        failures.join("\n")
    );
}
