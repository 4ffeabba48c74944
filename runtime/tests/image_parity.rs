//! Parity of the image model with Meta's `sam3` 0.1.4, block by block and end to end, forward and
//! gradients. The oracle (tests/oracle/sam3_image_oracle.py) builds the same reduced configuration
//! (`common::parity_config`) from the upstream classes with every parameter re-randomized, runs forward and
//! backward against a fixed random upstream gradient, and we do the same and compare.

mod common;

use common::{assert_close, cpu_var_store, parity_config, shared_fixture, Fixture};
use sam3c_runtime::model::decoder::TransformerDecoder;
use sam3c_runtime::model::dot_prod_scoring::DotProductScoring;
use sam3c_runtime::model::encoder::TransformerEncoderFusion;
use sam3c_runtime::model::geometry_encoders::{GeometricPrompt, SequenceGeometryEncoder};
use sam3c_runtime::model::maskformer_segmentation::UniversalSegmentationHead;
use sam3c_runtime::model::necks::Sam3DualViTDetNeck;
use sam3c_runtime::model::roi_align::roi_align;
use sam3c_runtime::model::text_encoder_ve::VETextEncoder;
use sam3c_runtime::model::vitdet::{Block, ViT};
use sam3c_runtime::model::{FindBatch, Sam3Image, TextPrompts};
use tch::{Kind, Tensor};

const ORACLE: &str = "sam3_image_oracle.py";

fn fixture(case: &str) -> Option<Fixture> {
    shared_fixture(ORACLE, case)
}

/// Sum of <output_i, input.upstream_i>, then backward: the oracle's fixed random upstream gradient.
fn backward(fx: &Fixture, outputs: &[&Tensor]) {
    let mut total = Tensor::zeros([], (Kind::Float, tch::Device::Cpu));
    for (i, y) in outputs.iter().enumerate() {
        total = &total + (*y * fx.get(&format!("input.upstream{i}"))).sum(Kind::Float);
    }
    total.backward();
}

fn bool_input(fx: &Fixture, name: &str) -> Tensor {
    fx.get(name).to_kind(Kind::Bool)
}

#[test]
fn vit_blocks_windowed_and_global() {
    let Some(fx) = fixture("vit_blocks") else {
        return;
    };
    let cfg = parity_config();
    let vs = cpu_var_store();
    let windowed = Block::new(&vs.root() / "blocks" / 0, &cfg, 0);
    let global = Block::new(&vs.root() / "blocks" / 1, &cfg, 1);
    assert!(windowed.window_size > 0 && global.window_size == 0);
    fx.load_weights(&vs);
    let y0 = windowed.forward(&fx.get("input.x0"), false);
    let y1 = global.forward(&fx.get("input.x1"), false);
    let yp = windowed.forward(&fx.get("input.x0_padded"), false);
    assert_close("windowed block", &y0, &fx.get("output.block0"), 1e-5);
    assert_close("global block", &y1, &fx.get("output.block1"), 1e-5);
    assert_close(
        "windowed block, padded grid",
        &yp,
        &fx.get("output.block0_padded"),
        1e-5,
    );
    backward(&fx, &[&y0, &y1, &yp]);
    fx.check_grads(&vs, 1e-5);
}

#[test]
fn vit_trunk_with_tiled_position_embedding() {
    let Some(fx) = fixture("vit") else { return };
    let cfg = parity_config();
    let vs = cpu_var_store();
    let trunk = ViT::new(&vs.root() / "trunk", &cfg);
    fx.load_weights(&vs);
    let y = trunk.forward(&fx.get("input.images"), false);
    assert_close("trunk features", &y, &fx.get("output.features"), 1e-5);
    backward(&fx, &[&y]);
    fx.check_grads(&vs, 1e-4);
}

#[test]
fn neck_levels_position_encodings_and_sam2_copy() {
    let Some(fx) = fixture("neck") else { return };
    let mut cfg = parity_config();
    cfg.add_sam2_neck = true;
    let vs = cpu_var_store();
    let neck = Sam3DualViTDetNeck::new(&vs.root() / "neck", &cfg);
    fx.load_weights(&vs);
    let (sam3, sam2) = neck.forward(&fx.get("input.images"), 4, false);
    let sam2 = sam2.expect("add_sam2_neck builds the second neck");
    for i in 0..4 {
        assert_close(
            &format!("level {i}"),
            &sam3.features[i],
            &fx.get(&format!("output.level{i}")),
            1e-5,
        );
        assert_close(
            &format!("pos {i}"),
            &sam3.pos[i],
            &fx.get(&format!("output.pos{i}")),
            1e-6,
        );
        assert_close(
            &format!("sam2 level {i}"),
            &sam2.features[i],
            &fx.get(&format!("output.sam2_level{i}")),
            1e-5,
        );
    }
    let outs: Vec<&Tensor> = sam3.features.iter().chain(sam2.features.iter()).collect();
    backward(&fx, &outs);
    fx.check_grads(&vs, 1e-4);
}

#[test]
fn text_encoder_causal_transformer_and_resizer() {
    let Some(fx) = fixture("text_encoder") else {
        return;
    };
    let cfg = parity_config();
    let vs = cpu_var_store();
    let enc = VETextEncoder::new(&vs.root() / "text", &cfg);
    fx.load_weights(&vs);
    let tokens = fx.get("input.tokens");
    let out = enc.forward(&tokens);
    assert_eq!(
        out.mask.to_kind(Kind::Int64),
        fx.get("output.mask").to_kind(Kind::Int64),
        "padding mask"
    );
    assert_close("text memory", &out.features, &fx.get("output.memory"), 1e-5);
    assert_close(
        "input embeds",
        &out.input_embeds,
        &fx.get("output.embeds"),
        1e-6,
    );
    backward(&fx, &[&out.features]);
    fx.check_grads(&vs, 1e-5);
}

#[test]
fn tokenizer_matches_simple_tokenizer_on_punctuation_and_unicode() {
    let Some(fx) = fixture("tokenizer") else {
        return;
    };
    let tok = sam3c_runtime::text::Tokenizer::shared();
    let bytes = fx.get("input.phrases_utf8");
    let n = fx.get("output.num_phrases").int64_value(&[]);
    let phrases: Vec<String> = (0..n)
        .map(|i| {
            let row = Vec::<u8>::try_from(&bytes.get(i)).unwrap();
            let end = row.iter().position(|b| *b == 0).unwrap_or(row.len());
            String::from_utf8(row[..end].to_vec()).unwrap()
        })
        .collect();
    for (ctx, name) in [(32usize, "output.tokens"), (77, "output.tokens77")] {
        let reference = fx.get(name);
        let ours = tok.tokenize(&phrases, ctx);
        for (i, phrase) in phrases.iter().enumerate() {
            let a = Vec::<i64>::try_from(&ours.get(i as i64)).unwrap();
            let b = Vec::<i64>::try_from(&reference.get(i as i64)).unwrap();
            assert_eq!(a, b, "phrase {i} {phrase:?} (context {ctx})");
        }
    }
}

#[test]
fn roi_align_matches_torchvision_including_boxes_outside_the_map() {
    let Some(fx) = fixture("roi_align") else {
        return;
    };
    let feats = fx.get("input.features").set_requires_grad(true);
    let y = roi_align(&feats, &fx.get("input.boxes"), 7);
    assert_close("pooled", &y, &fx.get("output.pooled"), 1e-6);
    (&y * fx.get("input.upstream0")).sum(Kind::Float).backward();
    assert_close(
        "grad features",
        &feats.grad(),
        &fx.get("grads.features"),
        1e-6,
    );
}

#[test]
fn geometry_encoder_points_boxes_and_padding() {
    let Some(fx) = fixture("geometry_encoder") else {
        return;
    };
    let cfg = parity_config();
    let vs = cpu_var_store();
    let geo = SequenceGeometryEncoder::new(&vs.root() / "geo", &cfg);
    fx.load_weights(&vs);
    let prompt = GeometricPrompt {
        boxes: fx.get("input.boxes"),
        box_mask: bool_input(&fx, "input.box_mask"),
        box_labels: fx.get("input.box_labels"),
        points: fx.get("input.points"),
        point_mask: bool_input(&fx, "input.point_mask"),
        point_labels: fx.get("input.point_labels"),
    };
    let g = cfg.grid_size();
    let (emb, mask) = geo.forward(
        &prompt,
        &fx.get("input.feats"),
        &fx.get("input.pos"),
        (g, g),
        false,
    );
    assert_eq!(
        mask.to_kind(Kind::Int64),
        fx.get("output.mask").to_kind(Kind::Int64),
        "mask"
    );
    let valid = fx.get("output.valid");
    assert_close(
        "embeds (valid tokens)",
        &(&emb * &valid),
        &(fx.get("output.embeds") * &valid),
        1e-5,
    );
    backward(&fx, &[&(&emb * &valid)]);
    fx.check_grads(&vs, 1e-5);
}

#[test]
fn fusion_encoder_layers() {
    let Some(fx) = fixture("fusion_encoder") else {
        return;
    };
    let cfg = parity_config();
    let vs = cpu_var_store();
    let enc = TransformerEncoderFusion::new(&vs.root() / "enc", &cfg);
    fx.load_weights(&vs);
    let out = enc.forward(
        &fx.get("input.src"),
        &fx.get("input.pos"),
        (4, 5),
        &fx.get("input.prompt"),
        &bool_input(&fx, "input.mask"),
        false,
    );
    assert_close("memory", &out.memory, &fx.get("output.memory"), 1e-5);
    assert_close("pos", &out.pos_embed, &fx.get("output.pos_embed"), 1e-7);
    backward(&fx, &[&out.memory]);
    fx.check_grads(&vs, 1e-5);
}

#[test]
fn decoder_with_box_rpb_presence_token_and_dac() {
    let Some(fx) = fixture("decoder") else { return };
    let cfg = parity_config();
    let vs = cpu_var_store();
    let dec = TransformerDecoder::new(&vs.root() / "dec", &cfg);
    fx.load_weights(&vs);
    let (memory, pos, text) = (
        fx.get("input.memory"),
        fx.get("input.pos"),
        fx.get("input.text"),
    );
    let tmask = bool_input(&fx, "input.tmask");
    let mut outs = Vec::new();
    for (dac, tag) in [(false, "plain"), (true, "dac")] {
        let o = dec.forward(&memory, &pos, (4, 5), &text, &tmask, dac, false);
        assert_close(
            &format!("{tag} hs"),
            &o.hs,
            &fx.get(&format!("output.{tag}_hs")),
            1e-5,
        );
        assert_close(
            &format!("{tag} refs"),
            &o.reference_boxes,
            &fx.get(&format!("output.{tag}_refs")),
            1e-5,
        );
        assert_close(
            &format!("{tag} presence"),
            &o.presence_logits,
            &fx.get(&format!("output.{tag}_presence")),
            1e-5,
        );
        assert_close(
            &format!("{tag} feats"),
            &o.presence_feats,
            &fx.get(&format!("output.{tag}_feats")),
            1e-5,
        );
        outs.extend([o.hs, o.reference_boxes, o.presence_logits]);
    }
    backward(&fx, &outs.iter().collect::<Vec<_>>());
    fx.check_grads(&vs, 1e-4);
}

#[test]
fn dot_product_scoring() {
    let Some(fx) = fixture("scoring") else { return };
    let cfg = parity_config();
    let vs = cpu_var_store();
    let sc = DotProductScoring::new(&vs.root() / "sc", &cfg);
    fx.load_weights(&vs);
    let y = sc.forward(
        &fx.get("input.hs"),
        &fx.get("input.prompt"),
        &bool_input(&fx, "input.mask"),
        false,
    );
    assert_close("scores", &y, &fx.get("output.scores"), 1e-6);
    backward(&fx, &[&y]);
    fx.check_grads(&vs, 1e-5);
}

#[test]
fn segmentation_head_one_and_several_images() {
    let Some(fx) = fixture("seg_head") else {
        return;
    };
    let cfg = parity_config();
    let vs = cpu_var_store();
    let head = UniversalSegmentationHead::new(&vs.root() / "seg", &cfg);
    fx.load_weights(&vs);
    let mut multi = None;
    for tag in ["multi", "single"] {
        let fpn: Vec<Tensor> = (0..3)
            .map(|i| fx.get(&format!("input.{tag}_fpn{i}")))
            .collect();
        let queries = fx.get(&format!("input.{tag}_queries"));
        let last = queries.get(queries.size()[0] - 1);
        let out = head.forward(
            &fpn,
            &fx.get(&format!("input.{tag}_img_ids")),
            &last,
            &fx.get(&format!("input.{tag}_enc")),
            &fx.get(&format!("input.{tag}_prompt")),
            &bool_input(&fx, &format!("input.{tag}_mask")),
            false,
        );
        assert_close(
            &format!("{tag} masks"),
            &out.pred_masks,
            &fx.get(&format!("output.{tag}_masks")),
            1e-5,
        );
        assert_close(
            &format!("{tag} semantic"),
            &out.semantic_seg,
            &fx.get(&format!("output.{tag}_semantic")),
            1e-5,
        );
        if tag == "multi" {
            multi = Some(out);
        }
    }
    let multi = multi.unwrap();
    backward(&fx, &[&multi.pred_masks, &multi.semantic_seg]);
    fx.check_grads(&vs, 1e-5);
}

/// The whole model on 2 images and 3 queries with text, boxes and points (padded differently per query).
fn run_model(fx: &Fixture, train: bool) {
    let cfg = parity_config();
    let vs = cpu_var_store();
    let model = Sam3Image::new(vs.root(), &cfg).unwrap();
    fx.load_weights(&vs);
    let batch = FindBatch {
        images: fx.get("input.images"),
        text: TextPrompts::Tokens(fx.get("input.tokens")),
        img_ids: fx.get("input.img_ids"),
        text_ids: fx.get("input.text_ids"),
        geometry: Some(GeometricPrompt {
            boxes: fx.get("input.boxes"),
            box_mask: bool_input(fx, "input.box_mask"),
            box_labels: fx.get("input.box_labels"),
            points: fx.get("input.points"),
            point_mask: bool_input(fx, "input.point_mask"),
            point_labels: fx.get("input.point_labels"),
        }),
    };
    let out = model.forward(&batch, train).unwrap();
    let tol = 1e-4;
    let check =
        |name: &str, t: &Tensor| assert_close(name, t, &fx.get(&format!("output.{name}")), tol);
    check("pred_logits", &out.o2o.pred_logits);
    check("pred_boxes", &out.o2o.pred_boxes);
    check("pred_boxes_xyxy", &out.o2o.pred_boxes_xyxy);
    check("presence_logit_dec", &out.presence_logit_dec);
    check("pred_masks", out.pred_masks.as_ref().unwrap());
    check("semantic_seg", out.semantic_seg.as_ref().unwrap());
    check("queries", &out.queries);
    check("encoder_hidden_states", &out.encoder_hidden_states);
    let mut outs: Vec<&Tensor> = vec![
        &out.o2o.pred_logits,
        &out.o2o.pred_boxes,
        &out.presence_logit_dec,
        out.pred_masks.as_ref().unwrap(),
        out.semantic_seg.as_ref().unwrap(),
    ];
    let o2m = out.o2m.as_ref();
    if train {
        let o2m = o2m.expect("training with DAC gives o2m outputs");
        check("pred_logits_o2m", &o2m.pred_logits);
        check("pred_boxes_o2m", &o2m.pred_boxes);
        check("pred_masks_o2m", out.pred_masks_o2m.as_ref().unwrap());
        outs.extend([
            &o2m.pred_logits,
            &o2m.pred_boxes,
            out.pred_masks_o2m.as_ref().unwrap(),
        ]);
        assert_eq!(out.aux_outputs.len() as i64, cfg.dec_layers - 1);
        for (i, aux) in out.aux_outputs.iter().enumerate() {
            let aux_o2m = aux.o2m.as_ref().unwrap();
            check(&format!("aux{i}_pred_logits"), &aux.o2o.pred_logits);
            check(&format!("aux{i}_pred_boxes"), &aux.o2o.pred_boxes);
            check(
                &format!("aux{i}_presence_logit_dec"),
                &aux.presence_logit_dec,
            );
            check(&format!("aux{i}_pred_logits_o2m"), &aux_o2m.pred_logits);
            check(&format!("aux{i}_pred_boxes_o2m"), &aux_o2m.pred_boxes);
            outs.extend([
                &aux.o2o.pred_logits,
                &aux.o2o.pred_boxes,
                &aux.presence_logit_dec,
                &aux_o2m.pred_logits,
                &aux_o2m.pred_boxes,
            ]);
        }
    } else {
        assert!(o2m.is_none(), "no one-to-many queries in eval mode");
    }
    backward(fx, &outs);
    fx.check_grads(&vs, tol);
}

#[test]
fn full_model_training_mode_with_dac_outputs_and_gradients() {
    let Some(fx) = fixture("model_train") else {
        return;
    };
    run_model(&fx, true);
}

#[test]
fn full_model_eval_mode_outputs_and_gradients() {
    let Some(fx) = fixture("model_eval") else {
        return;
    };
    run_model(&fx, false);
}
