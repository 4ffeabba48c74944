//! `DotProductScoring` (upstream `model_misc.DotProductScoring`): the classification logit of each query is
//! the scaled dot product of its projected decoder state with the projected mean of the prompt tokens.

use tch::{nn, Kind, Tensor};

use super::common::{linear, Mlp};
use sam3c_stdlib::arch::image::ImageConfig;

/// Logits are clamped to ±this value (upstream `clamp_max_val`).
pub const SCORE_CLAMP: f64 = 12.0;

#[derive(Debug)]
pub struct DotProductScoring {
    pub prompt_mlp: Mlp,
    pub prompt_proj: nn::Linear,
    pub hs_proj: nn::Linear,
    pub scale: f64,
}

impl DotProductScoring {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        let d = cfg.d_model;
        DotProductScoring {
            prompt_mlp: Mlp::with_residual_norm(
                &p / "prompt_mlp",
                d,
                cfg.scoring_mlp_dim,
                d,
                2,
                cfg.dropout,
            ),
            prompt_proj: linear(&p / "prompt_proj", d, d),
            hs_proj: linear(&p / "hs_proj", d, d),
            scale: 1.0 / (d as f64).sqrt(),
        }
    }

    /// Mean over the valid (unpadded) prompt tokens: prompt (P, B, d), mask (B, P) `true` = padding.
    pub fn mean_pool(prompt: &Tensor, prompt_mask: &Tensor) -> Tensor {
        let is_valid = prompt_mask
            .logical_not()
            .to_kind(Kind::Float)
            .permute([1, 0])
            .unsqueeze(-1);
        let num_valid = is_valid
            .sum_dim_intlist([0].as_slice(), false, Kind::Float)
            .clamp_min(1.0);
        (prompt * &is_valid).sum_dim_intlist([0].as_slice(), false, Kind::Float) / num_valid
    }

    /// hs (L, B, Q, d) -> logits (L, B, Q, 1).
    pub fn forward(
        &self,
        hs: &Tensor,
        prompt: &Tensor,
        prompt_mask: &Tensor,
        train: bool,
    ) -> Tensor {
        let prompt = self.prompt_mlp.forward(prompt, train);
        let pooled = Self::mean_pool(&prompt, prompt_mask).apply(&self.prompt_proj);
        let proj_hs = hs.apply(&self.hs_proj);
        let scores = proj_hs.matmul(&pooled.unsqueeze(-1)) * self.scale;
        scores.clamp(-SCORE_CLAMP, SCORE_CLAMP)
    }
}
