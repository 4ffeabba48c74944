//! Building blocks of the tracker that the image model does not share: SAM's `LayerNorm2d` and `Attention`
//! (`sam3/sam/common.py`, `sam3/sam/transformer.py`), the 1D sine encoding of
//! object-pointer positions. Linear layers, LayerNorm, dropout, sam3's `MLP`, the 2D sine encoding and the
//! axial RoPE come from [`crate::model::common`].

use crate::model::common::linear;
pub use crate::model::common::{conv2d, conv_transpose2d};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// `nn.Embedding(count, dim)`, N(0, 1) init as PyTorch's.
pub fn embedding(p: &nn::Path, count: i64, dim: i64) -> Tensor {
    p.var(
        "weight",
        &[count, dim],
        nn::Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        },
    )
}

/// `trunc_normal_(std=0.02)` of timm for the tracker's bare parameters; truncation at ±2 (absolute, timm's
/// default) is 100 standard deviations away, so a normal draw is the same distribution in practice.
pub fn small_normal(p: &nn::Path, name: &str, shape: &[i64]) -> Tensor {
    p.var(
        name,
        shape,
        nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        },
    )
}

/// `nn.GELU()` (exact, erf-based).
pub fn gelu(x: &Tensor) -> Tensor {
    x.gelu("none")
}

/// SAM's `LayerNorm2d`: normalizes over channels of an NCHW map, with the same op sequence as upstream.
#[derive(Debug)]
pub struct LayerNorm2d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f64,
}

impl LayerNorm2d {
    pub fn new(p: nn::Path, channels: i64) -> Self {
        LayerNorm2d {
            weight: p.var("weight", &[channels], nn::Init::Const(1.0)),
            bias: p.var("bias", &[channels], nn::Init::Const(0.0)),
            eps: 1e-6,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let u = x.mean_dim(1, true, None);
        let centered = x - &u;
        let s = centered.pow_tensor_scalar(2).mean_dim(1, true, None);
        let x = centered / (s + self.eps).sqrt();
        self.weight.view([-1, 1, 1]) * x + self.bias.view([-1, 1, 1])
    }
}

/// Splits `[B, N, C]` into heads: `[B, heads, N, C / heads]`.
pub fn separate_heads(x: &Tensor, heads: i64) -> Tensor {
    let (b, n, c) = x.size3().expect("attention input must be [B, N, C]");
    x.reshape([b, n, heads, c / heads]).transpose(1, 2)
}

/// Inverse of [`separate_heads`].
pub fn recombine_heads(x: &Tensor) -> Tensor {
    let (b, h, n, c) = x.size4().expect("attention heads must be [B, H, N, C]");
    x.transpose(1, 2).reshape([b, n, h * c])
}

/// `F.scaled_dot_product_attention(q, k, v, dropout_p)` with the default scale, as upstream calls it.
pub fn sdpa(q: &Tensor, k: &Tensor, v: &Tensor, dropout_p: f64) -> Tensor {
    Tensor::scaled_dot_product_attention(q, k, v, None::<Tensor>, dropout_p, false, None, false)
}

/// SAM's `Attention`: q/k/v projections to `embedding_dim / downsample_rate` (k and v from `kv_in_dim`),
/// multi-head scaled dot-product attention, output projection.
#[derive(Debug)]
pub struct Attention {
    pub q_proj: nn::Linear,
    pub k_proj: nn::Linear,
    pub v_proj: nn::Linear,
    pub out_proj: nn::Linear,
    pub num_heads: i64,
    pub dropout: f64,
}

impl Attention {
    pub fn new(
        p: nn::Path,
        embedding_dim: i64,
        num_heads: i64,
        downsample_rate: i64,
        dropout: f64,
        kv_in_dim: Option<i64>,
    ) -> Self {
        let internal = embedding_dim / downsample_rate;
        let kv = kv_in_dim.unwrap_or(embedding_dim);
        Attention {
            q_proj: linear(&p / "q_proj", embedding_dim, internal),
            k_proj: linear(&p / "k_proj", kv, internal),
            v_proj: linear(&p / "v_proj", kv, internal),
            out_proj: linear(&p / "out_proj", internal, embedding_dim),
            num_heads,
            dropout,
        }
    }

    /// Projected, head-split q, k, v: `[B, heads, N, C / heads]`.
    pub fn project(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> (Tensor, Tensor, Tensor) {
        (
            separate_heads(&self.q_proj.forward(q), self.num_heads),
            separate_heads(&self.k_proj.forward(k), self.num_heads),
            separate_heads(&self.v_proj.forward(v), self.num_heads),
        )
    }

    /// Attention of head-split q, k, v, then the output projection.
    pub fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, train: bool) -> Tensor {
        let p = if train { self.dropout } else { 0.0 };
        self.out_proj.forward(&recombine_heads(&sdpa(q, k, v, p)))
    }

    /// `q: [B, Nq, C]`, `k, v: [B, Nk, kv_in_dim]` -> `[B, Nq, C]`.
    pub fn forward(&self, q: &Tensor, k: &Tensor, v: &Tensor, train: bool) -> Tensor {
        let (q, k, v) = self.project(q, k, v);
        self.attend(&q, &k, &v, train)
    }
}

/// `10000 ** (2 * (i // 2) / n)` for `i in 0..n` in float32: the frequencies of `get_1d_sine_pe`.
pub fn sine_dim_t(n: i64, device: tch::Device) -> Tensor {
    let dim_t = Tensor::arange(n, (Kind::Float, device));
    let exponent = dim_t.floor_divide_scalar(2) * 2.0 / (n as f64);
    Tensor::pow_scalar(10000.0, &exponent)
}
