//! 2D axial rotary position encoding of the memory attention (`sam3/sam/rope.py::compute_axial_cis`,
//! `apply_rotary_enc`, `RoPEAttention`). The complex tables are recomputed for each feature grid, never loaded.

use super::blocks::{recombine_heads, sdpa, Attention};
use tch::{nn, nn::Module, Kind, Tensor};

/// `compute_axial_cis(dim, end_x, end_y, theta)`: `[end_x * end_y, dim / 2]` complex64, positions flattened
/// row-major (x fastest), the first `dim / 4` frequencies along x, the rest along y.
pub fn axial_cis(dim: i64, end_x: i64, end_y: i64, theta: f64, device: tch::Device) -> Tensor {
    let opts = (Kind::Float, device);
    let exponent = Tensor::arange_start_step(0, dim, 4, (Kind::Int64, device))
        .narrow(0, 0, dim / 4)
        .to_kind(Kind::Float)
        / (dim as f64);
    let freqs = Tensor::pow_scalar(theta, &exponent).reciprocal();
    let t = Tensor::arange(end_x * end_y, opts);
    let t_x = t.fmod(end_x as f64);
    let t_y = t.divide_scalar_mode(end_x as f64, "floor");
    let freqs_x = t_x.outer(&freqs);
    let freqs_y = t_y.outer(&freqs);
    let cis_x = Tensor::polar(&freqs_x.ones_like(), &freqs_x);
    let cis_y = Tensor::polar(&freqs_y.ones_like(), &freqs_y);
    Tensor::cat(&[cis_x, cis_y], -1)
}

/// Rotates `x: [B, H, N, D]` by `cis: [N, D / 2]` (complex), as `apply_rotary_enc` does (in float32, cast back).
fn rotate(x: &Tensor, cis: &Tensor) -> Tensor {
    let shape = x.size();
    let mut pairs = shape.clone();
    let d = pairs.pop().unwrap_or(0);
    pairs.extend([d / 2, 2]);
    let xc = x.to_kind(Kind::Float).reshape(&pairs).view_as_complex();
    let n = shape[shape.len() - 2];
    let rotated = xc * cis.view([1, 1, n, d / 2]);
    rotated.view_as_real().flatten(3, -1).to_kind(x.kind())
}

/// SAM's `RoPEAttention`: attention with the axial RoPE applied to q and to the first
/// `k_len - num_k_exclude_rope` keys. With `rope_k_repeat`, keys are several grids long (one per memory frame)
/// and the table repeats for each.
#[derive(Debug)]
pub struct RopeAttention {
    pub attn: Attention,
    pub rope_theta: f64,
    pub rope_k_repeat: bool,
}

impl RopeAttention {
    pub fn new(
        p: nn::Path,
        embedding_dim: i64,
        num_heads: i64,
        dropout: f64,
        kv_in_dim: Option<i64>,
        rope_theta: f64,
        rope_k_repeat: bool,
    ) -> Self {
        RopeAttention {
            attn: Attention::new(p, embedding_dim, num_heads, 1, dropout, kv_in_dim),
            rope_theta,
            rope_k_repeat,
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
        let q = super::blocks::separate_heads(&a.q_proj.forward(q), a.num_heads);
        let k = super::blocks::separate_heads(&a.k_proj.forward(k), a.num_heads);
        let v = super::blocks::separate_heads(&a.v_proj.forward(v), a.num_heads);
        let head_dim = q.size()[3];
        let (h, w) = grid;
        let cis = axial_cis(head_dim, w, h, self.rope_theta, q.device());
        let q = rotate(&q, &cis);
        let k_len = k.size()[2];
        let num_k_rope = k_len - num_k_exclude_rope;
        let k = if num_k_rope > 0 {
            let repeats = num_k_rope / (h * w);
            let k_cis = if self.rope_k_repeat && repeats > 1 {
                cis.repeat([repeats, 1])
            } else {
                cis
            };
            let rotated = rotate(&k.narrow(2, 0, num_k_rope), &k_cis);
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
