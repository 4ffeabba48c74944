//! SAM mask decoder (`sam3/sam/mask_decoder.py::MaskDecoder`) and its `TwoWayTransformer`
//! (`sam3/sam/transformer.py`), as `Sam3TrackerBase._build_sam_heads` configures them: object-score token and
//! MLP head, sigmoid IoU head, high-resolution skip features (`conv_s0`, `conv_s1`), multimask tokens that also
//! give the object pointer.

use super::blocks::{conv2d, conv_transpose2d, embedding, gelu, Attention, LayerNorm2d};
use crate::model::common::{layer_norm, linear, Mlp};
use sam3c_stdlib::arch::tracker::{TrackerConfig, MASK_DECODER_MLP_LAYERS};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// `TwoWayAttentionBlock`: token self-attention, token-to-image attention, MLP, image-to-token attention.
#[derive(Debug)]
pub struct TwoWayAttentionBlock {
    pub self_attn: Attention,
    pub norm1: nn::LayerNorm,
    pub cross_attn_token_to_image: Attention,
    pub norm2: nn::LayerNorm,
    pub mlp: (nn::Linear, nn::Linear),
    pub norm3: nn::LayerNorm,
    pub norm4: nn::LayerNorm,
    pub cross_attn_image_to_token: Attention,
    pub skip_first_layer_pe: bool,
}

impl TwoWayAttentionBlock {
    pub fn new(p: nn::Path, cfg: &TrackerConfig, skip_first_layer_pe: bool) -> Self {
        let d = cfg.d_model;
        let heads = cfg.two_way_heads;
        let rate = cfg.attention_downsample_rate;
        TwoWayAttentionBlock {
            self_attn: Attention::new(&p / "self_attn", d, heads, 1, 0.0, None),
            norm1: layer_norm(&p / "norm1", d),
            cross_attn_token_to_image: Attention::new(
                &p / "cross_attn_token_to_image",
                d,
                heads,
                rate,
                0.0,
                None,
            ),
            norm2: layer_norm(&p / "norm2", d),
            mlp: (
                linear(&p / "mlp" / "lin1", d, cfg.two_way_mlp_dim),
                linear(&p / "mlp" / "lin2", cfg.two_way_mlp_dim, d),
            ),
            norm3: layer_norm(&p / "norm3", d),
            norm4: layer_norm(&p / "norm4", d),
            cross_attn_image_to_token: Attention::new(
                &p / "cross_attn_image_to_token",
                d,
                heads,
                rate,
                0.0,
                None,
            ),
            skip_first_layer_pe,
        }
    }

    pub fn forward(
        &self,
        queries: &Tensor,
        keys: &Tensor,
        query_pe: &Tensor,
        key_pe: &Tensor,
    ) -> (Tensor, Tensor) {
        let queries = if self.skip_first_layer_pe {
            self.self_attn.forward(queries, queries, queries, false)
        } else {
            let q = queries + query_pe;
            queries + self.self_attn.forward(&q, &q, queries, false)
        };
        let queries = self.norm1.forward(&queries);

        let q = &queries + query_pe;
        let k = keys + key_pe;
        let queries = &queries + self.cross_attn_token_to_image.forward(&q, &k, keys, false);
        let queries = self.norm2.forward(&queries);

        let mlp = self.mlp.1.forward(&self.mlp.0.forward(&queries).relu());
        let queries = self.norm3.forward(&(&queries + mlp));

        let q = &queries + query_pe;
        let k = keys + key_pe;
        let keys = keys
            + self
                .cross_attn_image_to_token
                .forward(&k, &q, &queries, false);
        let keys = self.norm4.forward(&keys);
        (queries, keys)
    }
}

/// `TwoWayTransformer`: the blocks, a final token-to-image attention and a LayerNorm.
#[derive(Debug)]
pub struct TwoWayTransformer {
    pub layers: Vec<TwoWayAttentionBlock>,
    pub final_attn_token_to_image: Attention,
    pub norm_final_attn: nn::LayerNorm,
}

impl TwoWayTransformer {
    pub fn new(p: nn::Path, cfg: &TrackerConfig) -> Self {
        let d = cfg.d_model;
        TwoWayTransformer {
            layers: (0..cfg.two_way_depth)
                .map(|i| TwoWayAttentionBlock::new(&p / "layers" / i, cfg, i == 0))
                .collect(),
            final_attn_token_to_image: Attention::new(
                &p / "final_attn_token_to_image",
                d,
                cfg.two_way_heads,
                cfg.attention_downsample_rate,
                0.0,
                None,
            ),
            norm_final_attn: layer_norm(&p / "norm_final_attn", d),
        }
    }

    /// `image_embedding, image_pe: [B, C, h, w]`, `point_embedding: [B, N, C]` -> (tokens `[B, N, C]`,
    /// image `[B, h*w, C]`).
    pub fn forward(
        &self,
        image_embedding: &Tensor,
        image_pe: &Tensor,
        point_embedding: &Tensor,
    ) -> (Tensor, Tensor) {
        let image_embedding = image_embedding.flatten(2, -1).permute([0, 2, 1]);
        let image_pe = image_pe.flatten(2, -1).permute([0, 2, 1]);
        let mut queries = point_embedding.shallow_clone();
        let mut keys = image_embedding;
        for layer in &self.layers {
            (queries, keys) = layer.forward(&queries, &keys, point_embedding, &image_pe);
        }
        let q = &queries + point_embedding;
        let k = &keys + &image_pe;
        let attn = self.final_attn_token_to_image.forward(&q, &k, &keys, false);
        let queries = self.norm_final_attn.forward(&(&queries + attn));
        (queries, keys)
    }
}

/// Everything `MaskDecoder.predict_masks` computes, before the multimask selection.
#[derive(Debug)]
pub struct DecodedMasks {
    /// `[B, num_mask_tokens, 4h, 4w]` mask logits (token 0: single-mask output).
    pub masks: Tensor,
    /// `[B, num_mask_tokens]` predicted IoU (sigmoid).
    pub iou_pred: Tensor,
    /// `[B, num_mask_tokens, C]` output mask tokens.
    pub mask_tokens_out: Tensor,
    /// `[B, 1]` object-presence logit.
    pub object_score_logits: Tensor,
}

/// The output of `MaskDecoder.forward`.
#[derive(Debug)]
pub struct MaskDecoderOutput {
    /// `[B, M, 4h, 4w]`, M = `num_multimask_outputs` with multimask output, else 1.
    pub masks: Tensor,
    /// `[B, M]`.
    pub iou_pred: Tensor,
    /// `[B, M', C]`: the multimask tokens with multimask output, else the single-mask token.
    pub sam_tokens_out: Tensor,
    /// `[B, 1]`.
    pub object_score_logits: Tensor,
}

/// The SAM mask decoder.
#[derive(Debug)]
pub struct MaskDecoder {
    pub transformer: TwoWayTransformer,
    pub iou_token: Tensor,
    pub mask_tokens: Tensor,
    pub obj_score_token: Tensor,
    pub output_upscaling: (nn::ConvTranspose2D, LayerNorm2d, nn::ConvTranspose2D),
    pub conv_s0: nn::Conv2D,
    pub conv_s1: nn::Conv2D,
    pub output_hypernetworks_mlps: Vec<Mlp>,
    pub iou_prediction_head: Mlp,
    pub pred_obj_score_head: Mlp,
    pub num_mask_tokens: i64,
    pub dynamic_multimask_via_stability: bool,
    pub dynamic_multimask_stability_delta: f64,
    pub dynamic_multimask_stability_thresh: f64,
}

impl MaskDecoder {
    pub fn new(p: nn::Path, cfg: &TrackerConfig) -> Self {
        let d = cfg.d_model;
        let n = cfg.num_mask_tokens();
        let up = &p / "output_upscaling";
        MaskDecoder {
            transformer: TwoWayTransformer::new(&p / "transformer", cfg),
            iou_token: embedding(&(&p / "iou_token"), 1, d),
            mask_tokens: embedding(&(&p / "mask_tokens"), n, d),
            obj_score_token: embedding(&(&p / "obj_score_token"), 1, d),
            output_upscaling: (
                conv_transpose2d(&up / 0, d, d / 4, 2, 2),
                LayerNorm2d::new(&up / 1, d / 4),
                conv_transpose2d(&up / 3, d / 4, d / 8, 2, 2),
            ),
            conv_s0: conv2d(&p / "conv_s0", d, d / 8, 1, 1, 0, 1),
            conv_s1: conv2d(&p / "conv_s1", d, d / 4, 1, 1, 0, 1),
            output_hypernetworks_mlps: (0..n)
                .map(|i| {
                    Mlp::new(
                        &p / "output_hypernetworks_mlps" / i,
                        d,
                        d,
                        d / 8,
                        MASK_DECODER_MLP_LAYERS,
                    )
                })
                .collect(),
            iou_prediction_head: Mlp::new(
                &p / "iou_prediction_head",
                d,
                cfg.iou_head_hidden_dim,
                n,
                cfg.iou_head_depth,
            ),
            pred_obj_score_head: Mlp::new(
                &p / "pred_obj_score_head",
                d,
                d,
                1,
                MASK_DECODER_MLP_LAYERS,
            ),
            num_mask_tokens: n,
            dynamic_multimask_via_stability: cfg.dynamic_multimask_via_stability,
            dynamic_multimask_stability_delta: cfg.dynamic_multimask_stability_delta,
            dynamic_multimask_stability_thresh: cfg.dynamic_multimask_stability_thresh,
        }
    }

    /// `predict_masks` with an already batched image (`repeat_image=False`). `high_res_features` are the
    /// `conv_s0`/`conv_s1` projections of the 4x and 2x backbone levels.
    pub fn predict_masks(
        &self,
        image_embeddings: &Tensor,
        image_pe: &Tensor,
        sparse_prompt_embeddings: &Tensor,
        dense_prompt_embeddings: &Tensor,
        high_res_features: (&Tensor, &Tensor),
    ) -> DecodedMasks {
        let b = sparse_prompt_embeddings.size()[0];
        let output_tokens = Tensor::cat(
            &[&self.obj_score_token, &self.iou_token, &self.mask_tokens],
            0,
        );
        let output_tokens = output_tokens.unsqueeze(0).expand([b, -1, -1], false);
        let tokens = Tensor::cat(&[&output_tokens, sparse_prompt_embeddings], 1);
        let src = image_embeddings + dense_prompt_embeddings;
        let pos_src = image_pe.repeat_interleave_self_int(tokens.size()[0], 0, None);
        let size = src.size();
        let (c, h, w) = (size[1], size[2], size[3]);
        let (hs, src) = self.transformer.forward(&src, &pos_src, &tokens);
        let iou_token_out = hs.select(1, 1);
        let mask_tokens_out = hs.narrow(1, 2, self.num_mask_tokens);

        let src = src.transpose(1, 2).reshape([b, c, h, w]);
        let (dc1, ln1, dc2) = &self.output_upscaling;
        let (feat_s0, feat_s1) = high_res_features;
        let up = gelu(&ln1.forward(&(dc1.forward(&src) + feat_s1)));
        let up = gelu(&(dc2.forward(&up) + feat_s0));

        let hyper_in = Tensor::stack(
            &self
                .output_hypernetworks_mlps
                .iter()
                .enumerate()
                .map(|(i, mlp)| mlp.forward(&mask_tokens_out.select(1, i as i64), false))
                .collect::<Vec<_>>(),
            1,
        );
        let us = up.size();
        let masks = hyper_in
            .matmul(&up.view([us[0], us[1], us[2] * us[3]]))
            .view([us[0], -1, us[2], us[3]]);
        DecodedMasks {
            masks,
            // `iou_prediction_use_sigmoid`
            iou_pred: self
                .iou_prediction_head
                .forward(&iou_token_out, false)
                .sigmoid(),
            object_score_logits: self.pred_obj_score_head.forward(&hs.select(1, 0), false),
            mask_tokens_out,
        }
    }

    /// `MaskDecoder.forward`: predict, then choose the multimask outputs, the dynamic fallback (eval only) or
    /// the single mask.
    #[allow(clippy::too_many_arguments)] // upstream's arguments, one for one
    pub fn forward(
        &self,
        image_embeddings: &Tensor,
        image_pe: &Tensor,
        sparse_prompt_embeddings: &Tensor,
        dense_prompt_embeddings: &Tensor,
        multimask_output: bool,
        high_res_features: (&Tensor, &Tensor),
        train: bool,
    ) -> MaskDecoderOutput {
        let d = self.predict_masks(
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            high_res_features,
        );
        let n = self.num_mask_tokens;
        let (masks, iou_pred) = if multimask_output {
            (d.masks.narrow(1, 1, n - 1), d.iou_pred.narrow(1, 1, n - 1))
        } else if self.dynamic_multimask_via_stability && !train {
            self.dynamic_multimask_via_stability(&d.masks, &d.iou_pred)
        } else {
            (d.masks.narrow(1, 0, 1), d.iou_pred.narrow(1, 0, 1))
        };
        // The multimask tokens give the object pointer with multimask output
        // (`use_multimask_token_for_obj_ptr`), the single-mask token otherwise.
        let sam_tokens_out = if multimask_output {
            d.mask_tokens_out.narrow(1, 1, n - 1)
        } else {
            d.mask_tokens_out.narrow(1, 0, 1)
        };
        MaskDecoderOutput {
            masks,
            iou_pred,
            sam_tokens_out,
            object_score_logits: d.object_score_logits,
        }
    }

    /// Stability of mask logits: area above +delta over area above -delta (1 when both are empty).
    fn stability_scores(&self, mask_logits: &Tensor) -> Tensor {
        let m = mask_logits.flatten(-2, -1);
        let delta = self.dynamic_multimask_stability_delta;
        let area_i = m.gt(delta).sum_dim_intlist(-1, false, Kind::Float);
        let area_u = m.gt(-delta).sum_dim_intlist(-1, false, Kind::Float);
        (&area_i / &area_u).where_self(&area_u.gt(0.0), &area_i.ones_like())
    }

    /// When the single-mask output is unstable, fall back to the multimask output with the best IoU.
    fn dynamic_multimask_via_stability(&self, masks: &Tensor, ious: &Tensor) -> (Tensor, Tensor) {
        let n = self.num_mask_tokens;
        let multi_masks = masks.narrow(1, 1, n - 1);
        let multi_ious = ious.narrow(1, 1, n - 1);
        let best = multi_ious.argmax(-1, false);
        let batch = Tensor::arange(multi_ious.size()[0], (Kind::Int64, ious.device()));
        let idx = [Some(batch), Some(best)];
        let best_masks = multi_masks.index(&idx).unsqueeze(1);
        let best_ious = multi_ious.index(&idx).unsqueeze(1);
        let single_masks = masks.narrow(1, 0, 1);
        let single_ious = ious.narrow(1, 0, 1);
        let stable = self
            .stability_scores(&single_masks)
            .ge(self.dynamic_multimask_stability_thresh);
        let masks_out = single_masks.where_self(
            &stable.unsqueeze(-1).unsqueeze(-1).expand_as(&single_masks),
            &best_masks,
        );
        let ious_out = single_ious.where_self(&stable.expand_as(&single_ious), &best_ious);
        (masks_out, ious_out)
    }
}
