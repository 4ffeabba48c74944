//! `RoPEAttention` (`sam3/sam/transformer.py`): attention with the 2D axial rotary encoding of
//! [`AxialRope`], recomputed for the feature grid, never loaded.

use super::blocks::{recombine_heads, sdpa, separate_heads, Attention};
use crate::model::common::AxialRope;
use tch::{nn, nn::Module, Tensor};

/// SAM's `RoPEAttention`: attention with the axial RoPE applied to q and to the first
/// `k_len - num_k_exclude_rope` keys. Keys may span several grids (one per memory frame, upstream
/// `rope_k_repeat`): the table repeats for each.
#[derive(Debug)]
pub struct RopeAttention {
    pub attn: Attention,
    pub rope_theta: f64,
}

impl RopeAttention {
    pub fn new(
        p: nn::Path,
        embedding_dim: i64,
        num_heads: i64,
        dropout: f64,
        kv_in_dim: Option<i64>,
        rope_theta: f64,
    ) -> Self {
        RopeAttention {
            attn: Attention::new(p, embedding_dim, num_heads, 1, dropout, kv_in_dim),
            rope_theta,
        }
    }

    /// `q: [B, h*w, C]` on an `h x w` grid; `k, v: [B, Nk, kv_in_dim]`.
    pub fn forward(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        grid: (i64, i64),
        num_k_exclude_rope: i64,
        train: bool,
    ) -> Tensor {
        let a = &self.attn;
        let q = separate_heads(&a.q_proj.forward(q), a.num_heads);
        let k = separate_heads(&a.k_proj.forward(k), a.num_heads);
        let v = separate_heads(&a.v_proj.forward(v), a.num_heads);
        let head_dim = q.size()[3];
        let (h, w) = grid;
        let rope = AxialRope::new(head_dim, w, h, self.rope_theta, 1.0, q.device());
        let q = rope.rotate(&q);
        let k_len = k.size()[2];
        let num_k_rope = k_len - num_k_exclude_rope;
        // The object pointers after the memory frames get no RoPE.
        let k = if num_k_rope > 0 {
            let rotated = rope.rotate(&k.narrow(2, 0, num_k_rope));
            if num_k_exclude_rope > 0 {
                Tensor::cat(&[rotated, k.narrow(2, num_k_rope, num_k_exclude_rope)], 2)
            } else {
                rotated
            }
        } else {
            k
        };
        let p = if train { a.dropout } else { 0.0 };
        a.out_proj.forward(&recombine_heads(&sdpa(&q, &k, &v, p)))
    }
}
