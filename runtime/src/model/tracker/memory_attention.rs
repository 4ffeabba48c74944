//! Memory attention (`transformer.encoder`): `TransformerEncoderCrossAttention` of pre-norm
//! `TransformerDecoderLayerv2` layers (`sam3/model/decoder.py`), configured as `build_tracker` does:
//! RoPE self-attention, RoPE cross-attention to the memory (keys carry the memory position encoding; the
//! object-pointer tokens at the end of the memory get no RoPE), ReLU feed-forward.

use super::rope::RopeAttention;
use crate::model::common::{dropout, layer_norm, linear};
use sam3c_stdlib::arch::tracker::TrackerConfig;
use tch::nn::{self, Module};
use tch::Tensor;

/// Weight of the image position encoding added to the input (`pos_enc_at_input`).
const INPUT_POS_WEIGHT: f64 = 0.1;

/// One `TransformerDecoderLayerv2` (self-attention first, pre-norm).
#[derive(Debug)]
pub struct MemoryAttentionLayer {
    pub self_attn: RopeAttention,
    pub cross_attn_image: RopeAttention,
    pub linear1: nn::Linear,
    pub linear2: nn::Linear,
    pub norm1: nn::LayerNorm,
    pub norm2: nn::LayerNorm,
    pub norm3: nn::LayerNorm,
    pub dropout: f64,
}

impl MemoryAttentionLayer {
    pub fn new(p: nn::Path, cfg: &TrackerConfig) -> Self {
        let d = cfg.d_model;
        let heads = cfg.memory_attention_heads;
        MemoryAttentionLayer {
            self_attn: RopeAttention::new(
                &p / "self_attn",
                d,
                heads,
                cfg.dropout,
                None,
                cfg.rope_theta,
            ),
            cross_attn_image: RopeAttention::new(
                &p / "cross_attn_image",
                d,
                heads,
                cfg.dropout,
                Some(cfg.mem_dim),
                cfg.rope_theta,
            ),
            linear1: linear(&p / "linear1", d, cfg.ffn_dim),
            linear2: linear(&p / "linear2", cfg.ffn_dim, d),
            norm1: layer_norm(&p / "norm1", d),
            norm2: layer_norm(&p / "norm2", d),
            norm3: layer_norm(&p / "norm3", d),
            dropout: cfg.dropout,
        }
    }

    /// `tgt: [B, h*w, d_model]` (the current frame), `memory: [B, M, mem_dim]` with its position encoding
    /// `memory_pos`; the last `num_obj_ptr_tokens` memory tokens are object pointers.
    pub fn forward(
        &self,
        tgt: &Tensor,
        memory: &Tensor,
        memory_pos: &Tensor,
        grid: (i64, i64),
        num_obj_ptr_tokens: i64,
        train: bool,
    ) -> Tensor {
        let x = self.norm1.forward(tgt);
        let x = self.self_attn.forward(&x, &x, &x, grid, 0, train);
        let tgt = tgt + dropout(&x, self.dropout, train);

        let x = self.norm2.forward(&tgt);
        let keys = memory + memory_pos;
        let x = self
            .cross_attn_image
            .forward(&x, &keys, memory, grid, num_obj_ptr_tokens, train);
        let tgt = tgt + dropout(&x, self.dropout, train);

        let x = self.norm3.forward(&tgt);
        let x = self.linear1.forward(&x).relu();
        let x = self.linear2.forward(&dropout(&x, self.dropout, train));
        tgt + dropout(&x, self.dropout, train)
    }
}

/// `TransformerEncoderCrossAttention`: the layers, then a final LayerNorm.
#[derive(Debug)]
pub struct MemoryAttention {
    pub layers: Vec<MemoryAttentionLayer>,
    pub norm: nn::LayerNorm,
}

impl MemoryAttention {
    pub fn new(p: nn::Path, cfg: &TrackerConfig) -> Self {
        MemoryAttention {
            layers: (0..cfg.memory_attention_layers)
                .map(|i| MemoryAttentionLayer::new(&p / "layers" / i, cfg))
                .collect(),
            norm: layer_norm(&p / "norm", cfg.d_model),
        }
    }

    /// Batch-first: `src, src_pos: [B, h*w, d_model]`, `memory, memory_pos: [B, M, mem_dim]`.
    #[allow(clippy::too_many_arguments)] // upstream's arguments, one for one
    pub fn forward(
        &self,
        src: &Tensor,
        src_pos: &Tensor,
        memory: &Tensor,
        memory_pos: &Tensor,
        grid: (i64, i64),
        num_obj_ptr_tokens: i64,
        train: bool,
    ) -> Tensor {
        let mut x = src + src_pos * INPUT_POS_WEIGHT;
        for layer in &self.layers {
            x = layer.forward(&x, memory, memory_pos, grid, num_obj_ptr_tokens, train);
        }
        self.norm.forward(&x)
    }
}
