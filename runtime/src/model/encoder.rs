//! `TransformerEncoderLayer` (pre-norm self-attention, cross-attention, ReLU FFN), shared by the geometry
//! encoder and the fusion encoder, and `TransformerEncoderFusion`: image tokens attend to themselves and
//! to the prompt tokens (text + geometry).

use tch::{nn, Tensor};

use super::common::{dropout, layer_norm, linear, Activation, MultiheadAttention};
use sam3c_stdlib::arch::image::ImageConfig;

/// Where a `TransformerEncoderLayer` adds position encodings (upstream constructor flags).
#[derive(Debug, Clone, Copy)]
pub struct PosEncAt {
    /// Queries and keys of the self-attention.
    pub attn: bool,
    /// Queries of the cross-attention.
    pub cross_attn_queries: bool,
    /// Keys of the cross-attention (the memory's `pos`).
    pub cross_attn_keys: bool,
}

/// sam3's `TransformerEncoderLayer` with `pre_norm=True` (the only variant SAM 3 builds).
#[derive(Debug)]
pub struct TransformerEncoderLayer {
    pub self_attn: MultiheadAttention,
    pub cross_attn_image: MultiheadAttention,
    pub linear1: nn::Linear,
    pub linear2: nn::Linear,
    pub norm1: nn::LayerNorm,
    pub norm2: nn::LayerNorm,
    pub norm3: nn::LayerNorm,
    pub dropout: f64,
    pub activation: Activation,
    pub pos_enc_at: PosEncAt,
}

/// Inputs of `TransformerEncoderLayer::forward` besides `tgt` and `memory`.
#[derive(Default)]
pub struct EncoderLayerInputs<'a> {
    pub tgt_key_padding_mask: Option<&'a Tensor>,
    pub memory_key_padding_mask: Option<&'a Tensor>,
    /// Position encoding of `memory`.
    pub pos: Option<&'a Tensor>,
    /// Position encoding of `tgt`.
    pub query_pos: Option<&'a Tensor>,
}

impl TransformerEncoderLayer {
    /// `batch_first` applies to both attentions (the fusion encoder's are batch-first, the geometry
    /// encoder's sequence-first).
    pub fn new(p: nn::Path, cfg: &ImageConfig, batch_first: bool, pos_enc_at: PosEncAt) -> Self {
        let d = cfg.d_model;
        TransformerEncoderLayer {
            self_attn: MultiheadAttention::new(
                &p / "self_attn",
                d,
                cfg.heads,
                cfg.dropout,
                batch_first,
            ),
            cross_attn_image: MultiheadAttention::new(
                &p / "cross_attn_image",
                d,
                cfg.heads,
                cfg.dropout,
                batch_first,
            ),
            linear1: linear(&p / "linear1", d, cfg.ffn_dim),
            linear2: linear(&p / "linear2", cfg.ffn_dim, d),
            norm1: layer_norm(&p / "norm1", d),
            norm2: layer_norm(&p / "norm2", d),
            norm3: layer_norm(&p / "norm3", d),
            dropout: cfg.dropout,
            activation: Activation::Relu,
            pos_enc_at,
        }
    }

    /// `forward_pre`: self-attention over `tgt`, cross-attention from `tgt` to `memory`, FFN; residuals.
    pub fn forward(
        &self,
        tgt: &Tensor,
        memory: &Tensor,
        inputs: &EncoderLayerInputs,
        train: bool,
    ) -> Tensor {
        let add_pos = |x: &Tensor, pos: Option<&Tensor>, on: bool| match (on, pos) {
            (true, Some(p)) => x + p,
            _ => x.shallow_clone(),
        };
        let tgt2 = tgt.apply(&self.norm1);
        let qk = add_pos(&tgt2, inputs.query_pos, self.pos_enc_at.attn);
        let sa = self
            .self_attn
            .forward(&qk, &qk, &tgt2, inputs.tgt_key_padding_mask, None, train);
        let tgt = tgt + dropout(&sa, self.dropout, train);

        let tgt2 = tgt.apply(&self.norm2);
        let q = add_pos(&tgt2, inputs.query_pos, self.pos_enc_at.cross_attn_queries);
        let k = add_pos(memory, inputs.pos, self.pos_enc_at.cross_attn_keys);
        let ca = self.cross_attn_image.forward(
            &q,
            &k,
            memory,
            inputs.memory_key_padding_mask,
            None,
            train,
        );
        let tgt = &tgt + dropout(&ca, self.dropout, train);

        let tgt2 = tgt.apply(&self.norm3).apply(&self.linear1);
        let tgt2 = dropout(&self.activation.apply(&tgt2), self.dropout, train).apply(&self.linear2);
        &tgt + dropout(&tgt2, self.dropout, train)
    }
}

/// The fused image memory the decoder and segmentation head read.
#[derive(Debug)]
pub struct EncoderOutput {
    /// (H·W, B, d): the image tokens after fusion, sequence first.
    pub memory: Tensor,
    /// (H·W, B, d): their position encoding.
    pub pos_embed: Tensor,
    /// The token grid (H, W).
    pub spatial_shape: (i64, i64),
}

/// `TransformerEncoderFusion` (single feature level, no pooled-text addition, as SAM 3 builds it).
#[derive(Debug)]
pub struct TransformerEncoderFusion {
    pub layers: Vec<TransformerEncoderLayer>,
}

impl TransformerEncoderFusion {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        let pos = PosEncAt {
            attn: true,
            cross_attn_queries: false,
            cross_attn_keys: false,
        };
        TransformerEncoderFusion {
            layers: (0..cfg.enc_layers)
                .map(|i| TransformerEncoderLayer::new(&p / "layers" / i, cfg, true, pos))
                .collect(),
        }
    }

    /// * `src`, `src_pos`: (H·W, B, d) image tokens of one level and their position encoding;
    /// * `prompt`: (P, B, d) with `prompt_key_padding_mask` (B, P), `true` = padding.
    pub fn forward(
        &self,
        src: &Tensor,
        src_pos: &Tensor,
        spatial_shape: (i64, i64),
        prompt: &Tensor,
        prompt_key_padding_mask: &Tensor,
        train: bool,
    ) -> EncoderOutput {
        // Batch-first inside the layers, as upstream's flatten(2).transpose(1, 2) of the (B, C, H, W) maps.
        let mut output = src.transpose(0, 1);
        let pos = src_pos.transpose(0, 1);
        let memory = prompt.transpose(0, 1);
        let inputs = EncoderLayerInputs {
            tgt_key_padding_mask: None,
            memory_key_padding_mask: Some(prompt_key_padding_mask),
            pos: None,
            query_pos: Some(&pos),
        };
        for layer in &self.layers {
            output = layer.forward(&output, &memory, &inputs, train);
        }
        EncoderOutput {
            memory: output.transpose(0, 1),
            pos_embed: pos.transpose(0, 1),
            spatial_shape,
        }
    }
}
