//! `UniversalSegmentationHead`: the fused image tokens cross-attend to the prompt, replace the coarsest FPN
//! level, and a pixel decoder upsamples them through the finer levels; instance masks are dot products of
//! mask embeddings of the decoder queries with per-pixel embeddings, plus a 1-channel semantic map.

use tch::{nn, Tensor};

use super::common::{conv2d, layer_norm, Mlp, MultiheadAttention};
use sam3c_stdlib::arch::image::{ImageConfig, PIXEL_DECODER_STAGES};

/// `PixelDecoder`: from the coarsest level up, nearest-upsample, add the next finer level, conv 3x3,
/// GroupNorm(8), ReLU.
#[derive(Debug)]
pub struct PixelDecoder {
    pub conv_layers: Vec<nn::Conv2D>,
    pub norms: Vec<nn::GroupNorm>,
}

impl PixelDecoder {
    pub fn new(p: nn::Path, d: i64) -> Self {
        PixelDecoder {
            conv_layers: (0..PIXEL_DECODER_STAGES)
                .map(|i| conv2d(&p / "conv_layers" / i, d, d, 3, 1, 1, 1))
                .collect(),
            norms: (0..PIXEL_DECODER_STAGES)
                .map(|i| nn::group_norm(&p / "norms" / i, 8, d, Default::default()))
                .collect(),
        }
    }

    /// `feats` highest resolution first; the last one is the starting (coarsest) map.
    pub fn forward(&self, feats: &[Tensor]) -> Tensor {
        let (last, finer) = feats.split_last().expect("at least one feature level");
        let mut prev = last.shallow_clone();
        for (i, feat) in finer.iter().rev().enumerate() {
            let size = &feat.size()[2..];
            prev = feat + prev.upsample_nearest2d(size, None, None);
            prev = prev
                .apply(&self.conv_layers[i])
                .apply(&self.norms[i])
                .relu();
        }
        prev
    }
}

/// Outputs of the segmentation head, for all queries given (o2o and o2m are split by the caller).
#[derive(Debug)]
pub struct SegmentationOutput {
    /// (B, Q, H', W') mask logits at the finest FPN level (4x the token grid).
    pub pred_masks: Tensor,
    /// (B, 1, H', W') semantic segmentation logits.
    pub semantic_seg: Tensor,
}

/// `UniversalSegmentationHead` as SAM 3 builds it (prompt cross-attention, no presence head, no aux masks).
#[derive(Debug)]
pub struct UniversalSegmentationHead {
    pub pixel_decoder: PixelDecoder,
    pub mask_embed: Mlp,
    pub cross_attend_prompt: MultiheadAttention,
    pub cross_attn_norm: nn::LayerNorm,
    pub semantic_seg_head: nn::Conv2D,
    pub instance_seg_head: nn::Conv2D,
}

impl UniversalSegmentationHead {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        let d = cfg.d_model;
        UniversalSegmentationHead {
            pixel_decoder: PixelDecoder::new(&p / "pixel_decoder", d),
            mask_embed: Mlp::new(&p / "mask_predictor" / "mask_embed", d, d, d, 3),
            cross_attend_prompt: MultiheadAttention::new(
                &p / "cross_attend_prompt",
                d,
                cfg.heads,
                0.0,
                false,
            ),
            cross_attn_norm: layer_norm(&p / "cross_attn_norm", d),
            semantic_seg_head: conv2d(&p / "semantic_seg_head", d, 1, 1, 1, 0, 1),
            instance_seg_head: conv2d(&p / "instance_seg_head", d, d, 1, 1, 0, 1),
        }
    }

    /// * `backbone_fpn`: the FPN levels (N_images, d, h, w), highest resolution first;
    /// * `image_ids` (B,): the image of each query;
    /// * `obj_queries` (B, Q, d): the last decoder layer's queries;
    /// * `encoder_hidden_states` (H·W, B, d) and the prompt (P, B, d) with its mask (B, P).
    #[allow(clippy::too_many_arguments)] // the inputs of the upstream forward, one by one
    pub fn forward(
        &self,
        backbone_fpn: &[Tensor],
        image_ids: &Tensor,
        obj_queries: &Tensor,
        encoder_hidden_states: &Tensor,
        prompt: &Tensor,
        prompt_mask: &Tensor,
        train: bool,
    ) -> SegmentationOutput {
        let normed = encoder_hidden_states.apply(&self.cross_attn_norm);
        let attended = self.cross_attend_prompt.forward(
            &normed,
            prompt,
            prompt,
            Some(prompt_mask),
            None,
            train,
        );
        let enc = attended + encoder_hidden_states;

        // With one image the levels broadcast over the queries; otherwise each query takes its image's.
        let mut feats: Vec<Tensor> = if backbone_fpn[0].size()[0] > 1 {
            backbone_fpn
                .iter()
                .map(|f| f.index_select(0, image_ids))
                .collect()
        } else {
            backbone_fpn.iter().map(|f| f.shallow_clone()).collect()
        };
        let last = feats.last().unwrap();
        let (_, c, h, w) = last.size4().unwrap();
        let visual = enc
            .permute([1, 2, 0])
            .slice(2, 0, h * w, 1)
            .reshape([-1, c, h, w]);
        *feats.last_mut().unwrap() = visual;
        let pixel_embed = self.pixel_decoder.forward(&feats);

        let instance_embeds = pixel_embed.apply(&self.instance_seg_head);
        let mask_embed = self.mask_embed.forward(obj_queries, false);
        let pred_masks = Tensor::einsum(
            "bqc,bchw->bqhw",
            &[mask_embed, instance_embeds],
            None::<i64>,
        );
        SegmentationOutput {
            pred_masks,
            semantic_seg: pixel_embed.apply(&self.semantic_seg_head),
        }
    }
}
