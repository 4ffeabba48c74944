//! The tch model against the architecture description (`image_params`), upstream's tiny bench model, and its
//! public API contract: errors for bad input, train/eval behaviour, optimizer grouping.

mod common;

use common::{cpu_var_store, shared_fixture};
use sam3c_runtime::model::{FindBatch, GeometricPrompt, ModelError, Sam3Image, TextPrompts};
use sam3c_runtime::text::Tokenizer;
use sam3c_stdlib::arch::image::{image_params, ImageConfig};
use sam3c_stdlib::arch::{DType, ModuleKind};
use tch::{nn, Device, Kind, Tensor};

/// Names and shapes of the VarStore's variables.
fn var_shapes(vs: &nn::VarStore) -> Vec<(String, Vec<i64>)> {
    let mut v: Vec<_> = vs
        .variables()
        .into_iter()
        .map(|(k, t)| (k, t.size()))
        .collect();
    v.sort();
    v
}

fn described(cfg: &ImageConfig, prefix: &str) -> Vec<(String, Vec<i64>)> {
    let mut v: Vec<_> = image_params(cfg)
        .into_iter()
        .filter(|p| p.trainable)
        .map(|p| (format!("{prefix}{}", p.name), p.shape))
        .collect();
    v.sort();
    v
}

#[test]
fn tiny_model_variables_are_exactly_the_described_parameters() {
    for sam2 in [false, true] {
        let mut cfg = ImageConfig::tiny();
        cfg.add_sam2_neck = sam2;
        let vs = nn::VarStore::new(Device::Cpu);
        let _model = Sam3Image::new(vs.root(), &cfg).unwrap();
        assert_eq!(
            var_shapes(&vs),
            described(&cfg, ""),
            "add_sam2_neck = {sam2}"
        );
    }
}

#[test]
fn model_under_a_prefix_names_and_kinds_its_parameters() {
    let cfg = ImageConfig::tiny();
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Sam3Image::new(vs.root() / "detector", &cfg).unwrap();
    assert_eq!(var_shapes(&vs), described(&cfg, "detector."));
    let kinds = model.parameter_kinds();
    let vars = vs.variables();
    assert_eq!(kinds.len(), vars.len());
    for (name, _) in &kinds {
        assert!(vars.contains_key(name), "{name} is not a variable");
    }
    let kind = |n: &str| kinds.iter().find(|(k, _)| k == n).unwrap().1;
    assert_eq!(
        kind("detector.transformer.decoder.norm.weight"),
        ModuleKind::LayerNorm
    );
    assert_eq!(
        kind("detector.segmentation_head.pixel_decoder.norms.1.weight"),
        ModuleKind::GroupNorm
    );
    assert_eq!(
        kind("detector.backbone.vision_backbone.trunk.pos_embed"),
        ModuleKind::Other
    );
}

#[test]
fn tiny_config_matches_upstream_tiny_builder_state_dict() {
    let Some(fx) = shared_fixture("sam3_image_oracle.py", "tiny_builder_names") else {
        return;
    };
    let shapes = fx.with_prefix("shape");
    let order = fx.with_prefix("index");
    let complex = fx.with_prefix("complex");
    let mut upstream: Vec<(i64, String)> = order
        .iter()
        .map(|(k, v)| (v.int64_value(&[]), k.clone()))
        .collect();
    upstream.sort();
    let ours = image_params(&ImageConfig::tiny());
    let names: Vec<&str> = ours.iter().map(|p| p.name.as_str()).collect();
    let up_names: Vec<&str> = upstream.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, up_names, "names and order");
    for p in &ours {
        let shape = Vec::<i64>::try_from(&shapes[&p.name]).unwrap();
        assert_eq!(p.shape, shape, "{}", p.name);
        let is_complex = complex[&p.name].int64_value(&[]) == 1;
        assert_eq!(p.dtype == DType::Complex64, is_complex, "{}", p.name);
    }
}

fn tiny_batch(cfg: &ImageConfig, n_images: i64) -> FindBatch {
    tch::manual_seed(0);
    let r = cfg.resolution;
    let tokens =
        Tokenizer::shared().tokenize(&["a cat", "two dogs"], cfg.text_context_length as usize);
    FindBatch {
        images: Tensor::randn([n_images, 3, r, r], (Kind::Float, Device::Cpu)),
        text: TextPrompts::Tokens(tokens),
        img_ids: Tensor::from_slice(&[0i64, n_images - 1]),
        text_ids: Tensor::from_slice(&[1i64, 0]),
        geometry: Some(GeometricPrompt {
            boxes: Tensor::from_slice(&[0.5f32, 0.5, 0.2, 0.3, 0.3, 0.4, 0.1, 0.1]).view([1, 2, 4]),
            box_mask: Tensor::from_slice(&[false, true]).view([2, 1]),
            box_labels: Tensor::ones([1, 2], (Kind::Int64, Device::Cpu)),
            points: Tensor::zeros([0, 2, 2], (Kind::Float, Device::Cpu)),
            point_mask: Tensor::zeros([2, 0], (Kind::Bool, Device::Cpu)),
            point_labels: Tensor::zeros([0, 2], (Kind::Int64, Device::Cpu)),
        }),
    }
}

#[test]
fn output_shapes_follow_the_config_in_train_and_eval() {
    let cfg = ImageConfig::tiny();
    let vs = cpu_var_store();
    let model = Sam3Image::new(vs.root(), &cfg).unwrap();
    let batch = tiny_batch(&cfg, 2);
    let q = cfg.num_queries;
    let side = 4 * cfg.grid_size();
    let out = model.forward(&batch, true).unwrap();
    assert_eq!(out.o2o.pred_logits.size(), [2, q, 1]);
    assert_eq!(out.o2o.pred_boxes.size(), [2, q, 4]);
    assert_eq!(out.presence_logit_dec.size(), [2, 1]);
    assert_eq!(out.pred_masks.as_ref().unwrap().size(), [2, q, side, side]);
    assert_eq!(
        out.semantic_seg.as_ref().unwrap().size(),
        [2, 1, side, side]
    );
    assert_eq!(out.o2m.as_ref().unwrap().pred_logits.size(), [2, q, 1]);
    assert_eq!(
        out.pred_masks_o2m.as_ref().unwrap().size(),
        [2, q, side, side]
    );
    assert_eq!(out.aux_outputs.len() as i64, cfg.dec_layers - 1);
    // Boxes are normalized.
    let b = &out.o2o.pred_boxes;
    assert!(b.min().double_value(&[]) >= 0.0 && b.max().double_value(&[]) <= 1.0);
    // Autograd reaches the trunk and the text encoder.
    out.o2o.pred_logits.sum(Kind::Float).backward();
    for name in [
        "backbone.vision_backbone.trunk.patch_embed.proj.weight",
        "backbone.language_backbone.encoder.token_embedding.weight",
        "geometry_encoder.boxes_pool_project.weight",
    ] {
        let g = vs.variables()[name].grad();
        assert!(
            g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0,
            "{name} has no gradient"
        );
    }

    let eval = tch::no_grad(|| model.forward(&batch, false).unwrap());
    assert!(eval.o2m.is_none() && eval.pred_masks_o2m.is_none());
    assert_eq!(eval.o2o.pred_logits.size(), [2, q, 1]);
}

#[test]
fn dropout_only_acts_in_training() {
    let cfg = ImageConfig::tiny();
    assert!(cfg.dropout > 0.0);
    let vs = cpu_var_store();
    let model = Sam3Image::new(vs.root(), &cfg).unwrap();
    let batch = tiny_batch(&cfg, 1);
    tch::no_grad(|| {
        let e1 = model.forward(&batch, false).unwrap().o2o.pred_logits;
        let e2 = model.forward(&batch, false).unwrap().o2o.pred_logits;
        assert_eq!(
            e1.to_kind(Kind::Double).sum(Kind::Double).double_value(&[]),
            e2.to_kind(Kind::Double).sum(Kind::Double).double_value(&[])
        );
        // (not the boxes: the last box layer starts at zero, so fresh boxes equal the reference boxes)
        let t1 = model.forward(&batch, true).unwrap().o2o.pred_logits;
        let t2 = model.forward(&batch, true).unwrap().o2o.pred_logits;
        assert!(
            (&t1 - &t2).abs().max().double_value(&[]) > 0.0,
            "dropout made no difference in training"
        );
    });
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let cfg = ImageConfig::tiny();
    let vs = cpu_var_store();
    let model = Sam3Image::new(vs.root(), &cfg).unwrap();
    let expect_input_error = |batch: FindBatch, needle: &str| match model.forward(&batch, false) {
        Err(ModelError::Input(msg)) => {
            assert!(msg.contains(needle), "{msg:?} should mention {needle:?}")
        }
        other => panic!("expected an input error mentioning {needle:?}, got {other:?}"),
    };
    let mut b = tiny_batch(&cfg, 1);
    b.images = Tensor::zeros([1, 3, 200, 200], (Kind::Float, Device::Cpu));
    expect_input_error(b, "images must be");
    let mut b = tiny_batch(&cfg, 1);
    b.img_ids = Tensor::from_slice(&[0i64, 3]);
    expect_input_error(b, "img_ids");
    let mut b = tiny_batch(&cfg, 1);
    b.text_ids = Tensor::from_slice(&[0i64, 2]);
    expect_input_error(b, "text_ids");
    let mut b = tiny_batch(&cfg, 1);
    b.text = TextPrompts::Tokens(Tensor::full([1, 32], 60000i64, (Kind::Int64, Device::Cpu)));
    expect_input_error(b, "token ids");
    let mut b = tiny_batch(&cfg, 1);
    b.geometry.as_mut().unwrap().boxes = Tensor::zeros([1, 2, 3], (Kind::Float, Device::Cpu));
    expect_input_error(b, "boxes");

    let mut bad = ImageConfig::tiny();
    bad.vit_heads = 3;
    let vs = nn::VarStore::new(Device::Cpu);
    assert!(matches!(
        Sam3Image::new(vs.root(), &bad),
        Err(ModelError::Config(_))
    ));
}

#[test]
fn encoded_text_gives_the_same_outputs_as_tokens() {
    let cfg = ImageConfig::tiny();
    let vs = cpu_var_store();
    let model = Sam3Image::new(vs.root(), &cfg).unwrap();
    tch::no_grad(|| {
        let batch = tiny_batch(&cfg, 1);
        let direct = model.forward(&batch, false).unwrap();
        let TextPrompts::Tokens(tokens) = &batch.text else {
            unreachable!()
        };
        let encoded = model.encode_text(tokens).unwrap();
        let batch = FindBatch {
            text: TextPrompts::Encoded(encoded),
            ..batch
        };
        let cached = model.forward(&batch, false).unwrap();
        let d = (&direct.o2o.pred_logits - &cached.o2o.pred_logits)
            .abs()
            .max()
            .double_value(&[]);
        assert_eq!(d, 0.0);
    });
}

/// A model trained from scratch starts from upstream's distributions: every parameter of the tiny model built
/// by `sam3c run` (`exec::model::build`: PyTorch's module defaults, then upstream's ViT and transformer init
/// passes) has the mean and spread of the same parameter in a freshly built upstream model. Constant tensors
/// (norm weights, zeroed biases and box head) must be equal; tensors of 256+ values must have a standard
/// deviation within 25% of upstream's. Upstream leaves the text encoder's `positional_embedding` and
/// `text_projection` uninitialized (`torch.empty`), so they have nothing to compare with.
#[test]
fn a_fresh_tiny_model_is_initialized_like_upstream() {
    use sam3c_stdlib::components::model::{ModelSize, Sam3Image as Sam3ImageSpec};
    let Some(fx) = shared_fixture("sam3_image_oracle.py", "tiny_init_statistics") else {
        return;
    };
    let spec = Sam3ImageSpec {
        size: ModelSize::Tiny,
        segmentation: true,
        weights: None,
        from_hub: false,
    };
    let built = sam3c_runtime::exec::model::build("init", &spec, Device::Cpu, 0).unwrap();
    let ours = built.vs.variables();
    // Upstream leaves these uninitialized (torch.empty): any values are "like upstream".
    let uninitialized_upstream = [
        "backbone.language_backbone.encoder.positional_embedding",
        "backbone.language_backbone.encoder.text_projection",
    ];
    let (compared, failures) = common::init_mismatches(&ours, &fx.tensors, &uninitialized_upstream);
    assert!(compared > 200, "only {compared} parameters compared");
    assert!(
        failures.is_empty(),
        "initialized unlike upstream:\n{}",
        failures.join("\n")
    );
}
