//! `VETextEncoder`: a CLIP-style causal text transformer (`encoder`, upstream `TextTransformer`) over BPE
//! token ids, whose per-token outputs are resized to `d_model` (`resizer`). Tokenization lives in
//! `crate::text` so that data loading can tokenize ahead of the forward pass.

use tch::{nn, Kind, Tensor};

use super::common::{layer_norm, linear, MultiheadAttention};
use sam3c_stdlib::arch::image::{ImageConfig, TEXT_MLP_RATIO};

/// CLIP's `ResidualAttentionBlock`: pre-norm causal self-attention and a GELU MLP (`c_fc`, `c_proj`).
#[derive(Debug)]
pub struct ResidualAttentionBlock {
    pub attn: MultiheadAttention,
    pub ln_1: nn::LayerNorm,
    pub ln_2: nn::LayerNorm,
    pub c_fc: nn::Linear,
    pub c_proj: nn::Linear,
}

impl ResidualAttentionBlock {
    pub fn new(p: nn::Path, width: i64, heads: i64) -> Self {
        ResidualAttentionBlock {
            attn: MultiheadAttention::new(&p / "attn", width, heads, 0.0, true),
            ln_1: layer_norm(&p / "ln_1", width),
            ln_2: layer_norm(&p / "ln_2", width),
            c_fc: linear(&p / "mlp" / "c_fc", width, TEXT_MLP_RATIO * width),
            c_proj: linear(&p / "mlp" / "c_proj", TEXT_MLP_RATIO * width, width),
        }
    }

    /// x: (B, L, W) batch-first; `attn_mask` additive (L, L).
    pub fn forward(&self, x: &Tensor, attn_mask: &Tensor) -> Tensor {
        let y = x.apply(&self.ln_1);
        let x = x + self.attn.forward(&y, &y, &y, None, Some(attn_mask), false);
        let m = x
            .apply(&self.ln_2)
            .apply(&self.c_fc)
            .gelu("none")
            .apply(&self.c_proj);
        x + m
    }
}

/// `TextTransformer` (`encoder.*`): token and position embeddings, causal blocks, `ln_final`. The CLIP
/// `text_projection` is kept for checkpoint compatibility; SAM 3 uses the per-token outputs, not the
/// projected pooled one, so it takes no part in the forward pass.
#[derive(Debug)]
pub struct TextTransformer {
    pub positional_embedding: Tensor,
    pub text_projection: Tensor,
    pub token_embedding: nn::Embedding,
    pub resblocks: Vec<ResidualAttentionBlock>,
    pub ln_final: nn::LayerNorm,
    pub context_length: i64,
}

impl TextTransformer {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        let w = cfg.text_width;
        let positional_embedding = p.var(
            "positional_embedding",
            &[cfg.text_context_length, w],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 0.01,
            },
        );
        let text_projection = p.var(
            "text_projection",
            &[w, cfg.text_proj_dim],
            nn::Init::Randn {
                mean: 0.0,
                stdev: (w as f64).powf(-0.5),
            },
        );
        let token_embedding = nn::embedding(
            &p / "token_embedding",
            cfg.vocab_size,
            w,
            nn::EmbeddingConfig {
                // `nn.Embedding`'s N(0, 1): upstream's text encoder does not re-initialize it.
                ws_init: nn::Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
                ..Default::default()
            },
        );
        let resblocks = (0..cfg.text_layers)
            .map(|i| {
                ResidualAttentionBlock::new(&p / "transformer" / "resblocks" / i, w, cfg.text_heads)
            })
            .collect();
        TextTransformer {
            positional_embedding,
            text_projection,
            token_embedding,
            resblocks,
            ln_final: layer_norm(&p / "ln_final", w),
            context_length: cfg.text_context_length,
        }
    }

    /// The upstream additive causal mask: -inf above the diagonal.
    pub fn causal_mask(len: i64, device: tch::Device) -> Tensor {
        Tensor::full([len, len], f64::NEG_INFINITY, (Kind::Float, device)).triu(1)
    }

    /// tokens (B, L) int64 -> per-token features (B, L, W).
    pub fn forward(&self, tokens: &Tensor) -> Tensor {
        let len = tokens.size()[1];
        let mask = Self::causal_mask(len, tokens.device());
        let mut x =
            tokens.apply(&self.token_embedding) + self.positional_embedding.slice(0, 0, len, 1);
        for block in &self.resblocks {
            x = block.forward(&x, &mask);
        }
        x.apply(&self.ln_final)
    }
}

/// Encoded text prompts in upstream's layout.
#[derive(Debug)]
pub struct TextFeatures {
    /// (L, T, d_model): per-token features, sequence first.
    pub features: Tensor,
    /// (T, L) bool, `true` for padding (token id 0).
    pub mask: Tensor,
    /// (L, T, width): the token embeddings before the transformer (upstream `language_embeds`).
    pub input_embeds: Tensor,
}

/// `VETextEncoder`: `encoder` and `resizer`.
#[derive(Debug)]
pub struct VETextEncoder {
    pub encoder: TextTransformer,
    pub resizer: nn::Linear,
}

impl VETextEncoder {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        VETextEncoder {
            encoder: TextTransformer::new(&p / "encoder", cfg),
            resizer: linear(&p / "resizer", cfg.text_width, cfg.d_model),
        }
    }

    /// tokens: (T, context_length) int64 from `crate::text::Tokenizer`, 0 = padding.
    pub fn forward(&self, tokens: &Tensor) -> TextFeatures {
        let mask = tokens.eq(0);
        let input_embeds = tokens.apply(&self.encoder.token_embedding).transpose(0, 1);
        let memory = self.encoder.forward(tokens).transpose(0, 1);
        TextFeatures {
            features: memory.apply(&self.resizer),
            mask,
            input_embeds,
        }
    }
}
