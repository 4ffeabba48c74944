//! Small building blocks of the tracker, mirroring `sam3/sam/common.py`, `sam3/sam/transformer.py::Attention`,
//! `sam3/sam/mask_decoder.py::MLP` and `sam3/model/position_encoding.py::PositionEmbeddingSine`.
//!
//! These overlap with the image model's `model::common` (written in parallel on another branch); once both are
//! merged, the shared ones (sine position encoding, default inits) should live there only.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// PyTorch's default init of `nn.Linear`/`nn.Conv2d` weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
/// Parameters are normally loaded from a checkpoint; this only matters when training from scratch.
pub fn torch_default_init(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// `nn.Linear(input, output)` with PyTorch's init.
pub fn linear(p: nn::Path, input: i64, output: i64) -> nn::Linear {
    nn::linear(
        p,
        input,
        output,
        nn::LinearConfig {
            ws_init: torch_default_init(input),
            bs_init: Some(torch_default_init(input)),
            bias: true,
        },
    )
}

/// `nn.Conv2d(input, output, kernel, stride, padding, groups)` with PyTorch's init.
pub fn conv2d(
    p: nn::Path,
    input: i64,
    output: i64,
    kernel: i64,
    stride: i64,
    padding: i64,
    groups: i64,
) -> nn::Conv2D {
    let fan_in = input / groups * kernel * kernel;
    nn::conv2d(
        p,
        input,
        output,
        kernel,
        nn::ConvConfig {
            stride,
            padding,
            groups,
            ws_init: torch_default_init(fan_in),
            bs_init: torch_default_init(fan_in),
            ..Default::default()
        },
    )
}

/// `nn.ConvTranspose2d(input, output, kernel, stride)` with PyTorch's init (fan-in from the weight's dim 1).
pub fn conv_transpose2d(
    p: nn::Path,
    input: i64,
    output: i64,
    kernel: i64,
    stride: i64,
) -> nn::ConvTranspose2D {
    let fan_in = output * kernel * kernel;
    nn::conv_transpose2d(
        p,
        input,
        output,
        kernel,
        nn::ConvTransposeConfig {
            stride,
            ws_init: torch_default_init(fan_in),
            bs_init: torch_default_init(fan_in),
            ..Default::default()
        },
    )
}

/// `nn.LayerNorm(dim)` (eps 1e-5).
pub fn layer_norm(p: nn::Path, dim: i64) -> nn::LayerNorm {
    nn::layer_norm(p, vec![dim], Default::default())
}

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

/// Dropout that is active only in training.
pub fn dropout(x: &Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x.shallow_clone()
    }
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

/// SAM's `MLP(input, hidden, output, num_layers, sigmoid_output)`: ReLU between layers.
#[derive(Debug)]
pub struct SamMlp {
    pub layers: Vec<nn::Linear>,
    pub sigmoid_output: bool,
}

impl SamMlp {
    pub fn new(
        p: nn::Path,
        input: i64,
        hidden: i64,
        output: i64,
        num_layers: i64,
        sigmoid_output: bool,
    ) -> Self {
        let layers = (0..num_layers)
            .map(|i| {
                let fan_in = if i == 0 { input } else { hidden };
                let fan_out = if i == num_layers - 1 { output } else { hidden };
                linear(&p / "layers" / i, fan_in, fan_out)
            })
            .collect();
        SamMlp {
            layers,
            sigmoid_output,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let n = self.layers.len();
        let mut x = x.shallow_clone();
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x);
            if i + 1 < n {
                x = x.relu();
            }
        }
        if self.sigmoid_output {
            x.sigmoid()
        } else {
            x
        }
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

/// `PositionEmbeddingSine(num_pos_feats, temperature=10000, normalize=True, scale=2π)`: the DETR sine encoding of
/// an `h x w` grid, `[batch, num_pos_feats, h, w]`, with upstream's op order (so values match bit for bit).
pub fn position_embedding_sine(
    num_pos_feats: i64,
    batch: i64,
    h: i64,
    w: i64,
    device: tch::Device,
) -> Tensor {
    let half = num_pos_feats / 2;
    let opts = (Kind::Float, device);
    let scale = 2.0 * std::f64::consts::PI;
    let eps = 1e-6;
    let y_embed = Tensor::arange_start(1, h + 1, opts)
        .view([1, -1, 1])
        .repeat([batch, 1, w]);
    let x_embed = Tensor::arange_start(1, w + 1, opts)
        .view([1, 1, -1])
        .repeat([batch, h, 1]);
    let y_embed = &y_embed / (y_embed.narrow(1, h - 1, 1) + eps) * scale;
    let x_embed = &x_embed / (x_embed.narrow(2, w - 1, 1) + eps) * scale;
    let dim_t = sine_dim_t(half, device);
    let pos_x = x_embed.unsqueeze(-1) / &dim_t;
    let pos_y = y_embed.unsqueeze(-1) / &dim_t;
    let interleave = |pos: &Tensor| {
        let sin = pos.slice(3, 0, half, 2).sin();
        let cos = pos.slice(3, 1, half, 2).cos();
        Tensor::stack(&[sin, cos], 4).flatten(3, 4)
    };
    Tensor::cat(&[interleave(&pos_y), interleave(&pos_x)], 3).permute([0, 3, 1, 2])
}

/// `temperature ** (2 * (i // 2) / n)` for `i in 0..n`, as float32 (the sine encodings' frequencies).
pub fn sine_dim_t(n: i64, device: tch::Device) -> Tensor {
    let dim_t = Tensor::arange(n, (Kind::Float, device));
    let exponent = dim_t.floor_divide_scalar(2) * 2.0 / (n as f64);
    Tensor::pow_scalar(10000.0, &exponent)
}
