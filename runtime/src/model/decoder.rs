//! `TransformerDecoder`: DETR-style object queries with iterative box refinement, a presence token, and a
//! box relative position bias ("log" boxRPB) on the image cross-attention. In training, DAC duplicates the
//! queries: the second half (one-to-many queries) skips self-attention.

use tch::{nn, Kind, Tensor};

use super::common::{
    box_cxcywh_to_xyxy, dropout, gen_sineembed_for_position, inverse_sigmoid, layer_norm, linear,
    Activation, Mlp, MultiheadAttention,
};
use sam3c_stdlib::arch::image::ImageConfig;

/// sam3's `TransformerDecoderLayer` with text cross-attention: self-attention (o2o queries and the presence
/// token), cross-attention to the prompt (`ca_text`), cross-attention to the image (`cross_attn`), FFN; each
/// post-norm.
#[derive(Debug)]
pub struct TransformerDecoderLayer {
    pub cross_attn: MultiheadAttention,
    pub norm1: nn::LayerNorm,
    pub ca_text: MultiheadAttention,
    pub catext_norm: nn::LayerNorm,
    pub self_attn: MultiheadAttention,
    pub norm2: nn::LayerNorm,
    pub linear1: nn::Linear,
    pub linear2: nn::Linear,
    pub norm3: nn::LayerNorm,
    pub dropout: f64,
    pub activation: Activation,
}

/// The per-layer inputs of `TransformerDecoderLayer::forward` (sequence first).
pub struct DecoderLayerInputs<'a> {
    /// (Q, B, d) position of each query (`ref_point_head` of its reference box).
    pub query_pos: &'a Tensor,
    /// (P, B, d) prompt tokens and their padding mask (B, P).
    pub memory_text: &'a Tensor,
    pub text_attention_mask: &'a Tensor,
    /// (H·W, B, d) image memory and its position encoding.
    pub memory: &'a Tensor,
    pub memory_pos: &'a Tensor,
    /// (B·heads, Q, H·W) additive bias of the image cross-attention (boxRPB).
    pub cross_attn_mask: &'a Tensor,
    /// Split the queries in halves; only the first (o2o) half takes part in self-attention.
    pub dac: bool,
}

impl TransformerDecoderLayer {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        let d = cfg.d_model;
        TransformerDecoderLayer {
            cross_attn: MultiheadAttention::new(
                &p / "cross_attn",
                d,
                cfg.heads,
                cfg.dropout,
                false,
            ),
            norm1: layer_norm(&p / "norm1", d),
            ca_text: MultiheadAttention::new(&p / "ca_text", d, cfg.heads, cfg.dropout, false),
            catext_norm: layer_norm(&p / "catext_norm", d),
            self_attn: MultiheadAttention::new(&p / "self_attn", d, cfg.heads, cfg.dropout, false),
            norm2: layer_norm(&p / "norm2", d),
            linear1: linear(&p / "linear1", d, cfg.ffn_dim),
            linear2: linear(&p / "linear2", cfg.ffn_dim, d),
            norm3: layer_norm(&p / "norm3", d),
            dropout: cfg.dropout,
            activation: Activation::Relu,
        }
    }

    /// Returns the updated queries (Q, B, d) and presence token (1, B, d).
    pub fn forward(
        &self,
        tgt: &Tensor,
        presence_token: &Tensor,
        inputs: &DecoderLayerInputs,
        train: bool,
    ) -> (Tensor, Tensor) {
        let q_total = tgt.size()[0];
        let (tgt_o2o, pos_o2o, tgt_o2m) = if inputs.dac {
            let n = q_total / 2;
            (
                tgt.slice(0, 0, n, 1),
                inputs.query_pos.slice(0, 0, n, 1),
                Some(tgt.slice(0, n, q_total, 1)),
            )
        } else {
            (tgt.shallow_clone(), inputs.query_pos.shallow_clone(), None)
        };
        // The presence token joins the o2o queries, with a zero position.
        let zeros = presence_token.zeros_like();
        let tgt_o2o = Tensor::cat(&[presence_token, &tgt_o2o], 0);
        let pos_o2o = Tensor::cat(&[&zeros, &pos_o2o], 0);
        let query_pos = Tensor::cat(&[&zeros, inputs.query_pos], 0);

        let qk = &tgt_o2o + &pos_o2o;
        let sa = self
            .self_attn
            .forward(&qk, &qk, &tgt_o2o, None, None, train);
        let tgt_o2o = &tgt_o2o + dropout(&sa, self.dropout, train);
        let tgt = match tgt_o2m {
            Some(o2m) => Tensor::cat(&[tgt_o2o, o2m], 0),
            None => tgt_o2o,
        }
        .apply(&self.norm2);

        let ca = self.ca_text.forward(
            &(&tgt + &query_pos),
            inputs.memory_text,
            inputs.memory_text,
            Some(inputs.text_attention_mask),
            None,
            train,
        );
        let tgt = (&tgt + dropout(&ca, self.dropout, train)).apply(&self.catext_norm);

        let mask = inputs.cross_attn_mask;
        let presence_rows = mask.slice(1, 0, 1, 1).zeros_like();
        let mask = Tensor::cat(&[&presence_rows, mask], 1);
        let ca = self.cross_attn.forward(
            &(&tgt + &query_pos),
            &(inputs.memory + inputs.memory_pos),
            inputs.memory,
            None,
            Some(&mask),
            train,
        );
        let tgt = (&tgt + dropout(&ca, self.dropout, train)).apply(&self.norm1);

        let ffn = tgt.apply(&self.linear1);
        let ffn = dropout(&self.activation.apply(&ffn), self.dropout, train).apply(&self.linear2);
        let tgt = (&tgt + dropout(&ffn, self.dropout, train)).apply(&self.norm3);
        let n = tgt.size()[0];
        (tgt.slice(0, 1, n, 1), tgt.slice(0, 0, 1, 1))
    }
}

/// What the decoder returns, sequence first as upstream.
#[derive(Debug)]
pub struct DecoderOutput {
    /// (L, Q, B, d): `norm` of each layer's queries.
    pub hs: Tensor,
    /// (L, Q, B, 4): each layer's input reference boxes (cxcywh in [0, 1]); gradients flow into all but
    /// the first layer's (upstream keeps the undetached refined boxes).
    pub reference_boxes: Tensor,
    /// (L, 1, B): presence logit of each layer (upstream's clamp is a no-op: its result is discarded).
    pub presence_logits: Tensor,
    /// (1, B, d): the presence token after the last layer.
    pub presence_feats: Tensor,
}

/// `TransformerDecoder` as SAM 3 builds it: box refinement, DAC, boxRPB "log", presence token.
#[derive(Debug)]
pub struct TransformerDecoder {
    pub layers: Vec<TransformerDecoderLayer>,
    pub norm: nn::LayerNorm,
    pub bbox_embed: Mlp,
    pub query_embed: nn::Embedding,
    pub reference_points: nn::Embedding,
    pub box_rpb_embed_x: Mlp,
    pub box_rpb_embed_y: Mlp,
    pub presence_token: nn::Embedding,
    pub presence_token_head: Mlp,
    pub presence_token_out_norm: nn::LayerNorm,
    pub ref_point_head: Mlp,
    pub d_model: i64,
    pub num_heads: i64,
    pub num_queries: i64,
}

impl TransformerDecoder {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        let d = cfg.d_model;
        let layers = (0..cfg.dec_layers)
            .map(|i| TransformerDecoderLayer::new(&p / "layers" / i, cfg))
            .collect();
        let bbox_embed = Mlp::new(&p / "bbox_embed", d, d, 4, 3);
        // Upstream zero-initializes the last box layer so that refinement starts from the reference boxes.
        tch::no_grad(|| {
            let last = bbox_embed.layers.last().unwrap();
            let _ = last.ws.shallow_clone().zero_();
            if let Some(b) = &last.bs {
                let _ = b.shallow_clone().zero_();
            }
        });
        let normal = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
            ..Default::default()
        };
        TransformerDecoder {
            layers,
            norm: layer_norm(&p / "norm", d),
            bbox_embed,
            query_embed: nn::embedding(&p / "query_embed", cfg.num_queries, d, normal),
            reference_points: nn::embedding(&p / "reference_points", cfg.num_queries, 4, normal),
            box_rpb_embed_x: Mlp::new(&p / "boxRPB_embed_x", 2, d, cfg.heads, 2),
            box_rpb_embed_y: Mlp::new(&p / "boxRPB_embed_y", 2, d, cfg.heads, 2),
            presence_token: nn::embedding(&p / "presence_token", 1, d, normal),
            presence_token_head: Mlp::new(&p / "presence_token_head", d, d, 1, 3),
            presence_token_out_norm: layer_norm(&p / "presence_token_out_norm", d),
            ref_point_head: Mlp::new(&p / "ref_point_head", 2 * d, d, d, 2),
            d_model: d,
            num_heads: cfg.heads,
            num_queries: cfg.num_queries,
        }
    }

    /// `_get_rpb_matrix`: (B, heads, Q, H·W) bias from the log-scaled distances of each token coordinate to
    /// the edges of each reference box (`reference_boxes` (Q, B, 4) cxcywh).
    pub fn rpb_matrix(&self, reference_boxes: &Tensor, h: i64, w: i64) -> Tensor {
        let boxes = box_cxcywh_to_xyxy(reference_boxes).transpose(0, 1);
        let (bs, nq, _) = boxes.size3().unwrap();
        let opts = (Kind::Float, reference_boxes.device());
        let coords_h = Tensor::arange(h, opts) / h as f64;
        let coords_w = Tensor::arange(w, opts) / w as f64;
        let flat = boxes.reshape([-1, 1, 4]);
        let deltas_y = (coords_h.view([1, -1, 1]) - flat.slice(2, 1, 4, 2)).view([bs, nq, -1, 2]);
        let deltas_x = (coords_w.view([1, -1, 1]) - flat.slice(2, 0, 3, 2)).view([bs, nq, -1, 2]);
        let log_scale = |d: Tensor| {
            let d = d * 8.0;
            d.sign() * (d.abs() + 1.0).log2() / 3.0
        };
        let dx = self.box_rpb_embed_x.forward(&log_scale(deltas_x), false);
        let dy = self.box_rpb_embed_y.forward(&log_scale(deltas_y), false);
        let bias = dy.unsqueeze(3) + dx.unsqueeze(2);
        bias.flatten(2, 3).permute([0, 3, 1, 2]).contiguous()
    }

    /// * `memory`, `pos`: (H·W, B, d) fused image tokens; `spatial_shape` their grid;
    /// * `memory_text` (P, B, d) and `text_attention_mask` (B, P): the prompt;
    /// * `apply_dac`: add the one-to-many copy of the queries (training).
    #[allow(clippy::too_many_arguments)] // the inputs of the upstream forward, one by one
    pub fn forward(
        &self,
        memory: &Tensor,
        pos: &Tensor,
        spatial_shape: (i64, i64),
        memory_text: &Tensor,
        text_attention_mask: &Tensor,
        apply_dac: bool,
        train: bool,
    ) -> DecoderOutput {
        let bs = memory.size()[1];
        let copies = if apply_dac { 2 } else { 1 };
        let mut output = self.query_embed.ws.unsqueeze(1).repeat([copies, bs, 1]);
        let mut reference_boxes = self
            .reference_points
            .ws
            .unsqueeze(1)
            .repeat([copies, bs, 1])
            .sigmoid();
        let mut ref_boxes = vec![reference_boxes.shallow_clone()];
        let mut presence = self
            .presence_token
            .ws
            .unsqueeze(0)
            .expand([1, bs, -1], false);
        let mut hs = Vec::new();
        let mut presence_logits = Vec::new();
        let (h, w) = spatial_shape;
        let num_layers = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            // valid_ratios are all 1 (no padding masks): the reference points are the boxes themselves.
            let sine = gen_sineembed_for_position(&reference_boxes, self.d_model);
            let query_pos = self.ref_point_head.forward(&sine, false);
            let rpb = self.rpb_matrix(&reference_boxes, h, w).flatten(0, 1);
            let inputs = DecoderLayerInputs {
                query_pos: &query_pos,
                memory_text,
                text_attention_mask,
                memory,
                memory_pos: pos,
                cross_attn_mask: &rpb,
                dac: apply_dac,
            };
            let (out, pres) = layer.forward(&output, &presence, &inputs, train);
            output = out;
            presence = pres;

            let normed = output.apply(&self.norm);
            let delta = self.bbox_embed.forward(&normed, false);
            let refined = (delta + inverse_sigmoid(&reference_boxes)).sigmoid();
            reference_boxes = refined.detach();
            if i != num_layers - 1 {
                ref_boxes.push(refined);
            }
            hs.push(normed);
            let logit = self
                .presence_token_head
                .forward(&presence.apply(&self.presence_token_out_norm), false)
                .squeeze_dim(-1);
            presence_logits.push(logit);
        }
        DecoderOutput {
            hs: Tensor::stack(&hs, 0),
            reference_boxes: Tensor::stack(&ref_boxes, 0),
            presence_logits: Tensor::stack(&presence_logits, 0),
            presence_feats: presence.copy(),
        }
    }
}
