//! Building blocks shared by the SAM 3 modules, each with the semantics (and parameter names) of the torch or
//! sam3 class it mirrors: `nn.MultiheadAttention`, sam3's `MLP`, `PositionEmbeddingSine`,
//! `gen_sineembed_for_position`, 2D axial RoPE, box conversions, dropout and stochastic depth.
//!
//! Conventions: every `forward` takes `train` (dropout active) explicitly; tensors keep upstream's layout
//! (sequence-first unless a function says otherwise), so a reader can follow the Python side line by line.

use std::f64::consts::PI;

use tch::{nn, Kind, Tensor};

/// Uniform init with PyTorch's default bound for a layer with `fan_in` inputs (`1/sqrt(fan_in)`).
pub fn fan_in_uniform(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// Xavier (Glorot) uniform init, the upstream choice for attention projections and most transformer weights.
pub fn xavier_uniform(fan_in: i64, fan_out: i64) -> nn::Init {
    let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// `nn.Linear(input, output)`: `weight` (output, input) and `bias` (output), with PyTorch's init
/// (`kaiming_uniform_(a=sqrt(5))`, i.e. U(±1/sqrt(fan_in)) for both). tch's own default (Kaiming with the ReLU
/// gain) draws weights 2.45x larger, which a model trained from scratch does not recover from quickly.
pub fn linear(p: nn::Path, input: i64, output: i64) -> nn::Linear {
    nn::linear(p, input, output, torch_linear_config(input, true))
}

/// `nn.Linear` without bias.
pub fn linear_no_bias(p: nn::Path, input: i64, output: i64) -> nn::Linear {
    nn::linear(p, input, output, torch_linear_config(input, false))
}

fn torch_linear_config(input: i64, bias: bool) -> nn::LinearConfig {
    nn::LinearConfig {
        ws_init: fan_in_uniform(input),
        bs_init: Some(fan_in_uniform(input)),
        bias,
    }
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
            ws_init: fan_in_uniform(fan_in),
            bs_init: fan_in_uniform(fan_in),
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
            ws_init: fan_in_uniform(fan_in),
            bs_init: fan_in_uniform(fan_in),
            ..Default::default()
        },
    )
}

/// `nn.LayerNorm(dim)` with the torch default eps 1e-5.
pub fn layer_norm(p: nn::Path, dim: i64) -> nn::LayerNorm {
    nn::layer_norm(p, vec![dim], Default::default())
}

/// `nn.Dropout(p)` as a function: identity unless training.
pub fn dropout(x: &Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x.shallow_clone()
    }
}

/// timm's `DropPath` (stochastic depth): drops whole samples (dim 0) with probability `p`, rescaling the rest.
pub fn drop_path(x: &Tensor, p: f64, train: bool) -> Tensor {
    if !train || p <= 0.0 {
        return x.shallow_clone();
    }
    let keep = 1.0 - p;
    let mut shape = vec![x.size()[0]];
    shape.extend(std::iter::repeat_n(1, x.dim() - 1));
    let mask = Tensor::empty(shape.as_slice(), (x.kind(), x.device())).bernoulli_p(keep);
    x * (mask / keep)
}

/// The activation of a transformer FFN (upstream `get_activation_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    /// Exact (erf) GELU, torch's default.
    Gelu,
}

impl Activation {
    pub fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu("none"),
        }
    }
}

/// Whether two tensors are the same tensor object as far as `nn.MultiheadAttention` can tell (same storage,
/// offset, shape and strides). Upstream picks its input-projection path with Python's `is`.
fn same_tensor(a: &Tensor, b: &Tensor) -> bool {
    a.data_ptr() == b.data_ptr() && a.size() == b.size() && a.stride() == b.stride()
}

/// `torch.nn.MultiheadAttention` (and sam3's `MultiheadAttentionWrapper`, which only forces
/// `need_weights=False`): packed `in_proj_weight`/`in_proj_bias`, `out_proj`, dropout on attention weights.
#[derive(Debug)]
pub struct MultiheadAttention {
    pub in_proj_weight: Tensor,
    pub in_proj_bias: Tensor,
    pub out_proj: nn::Linear,
    pub embed_dim: i64,
    pub num_heads: i64,
    pub dropout: f64,
    /// Inputs and output are (batch, seq, dim) instead of (seq, batch, dim).
    pub batch_first: bool,
}

impl MultiheadAttention {
    pub fn new(
        p: nn::Path,
        embed_dim: i64,
        num_heads: i64,
        dropout: f64,
        batch_first: bool,
    ) -> Self {
        let in_proj_weight = p.var(
            "in_proj_weight",
            &[3 * embed_dim, embed_dim],
            xavier_uniform(embed_dim, 3 * embed_dim),
        );
        let in_proj_bias = p.var("in_proj_bias", &[3 * embed_dim], nn::Init::Const(0.0));
        let out_proj = nn::linear(
            &p / "out_proj",
            embed_dim,
            embed_dim,
            nn::LinearConfig {
                ws_init: fan_in_uniform(embed_dim),
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            },
        );
        MultiheadAttention {
            in_proj_weight,
            in_proj_bias,
            out_proj,
            embed_dim,
            num_heads,
            dropout,
            batch_first,
        }
    }

    /// `attn(query, key, value, key_padding_mask, attn_mask)[0]`.
    ///
    /// * `key_padding_mask`: bool (batch, src_len), `true` = ignore that key.
    /// * `attn_mask`: additive float or bool (`true` = masked) of shape (tgt_len, src_len) or
    ///   (batch·heads, tgt_len, src_len).
    pub fn forward(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        key_padding_mask: Option<&Tensor>,
        attn_mask: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        let (k_is_v, q_is_k) = (same_tensor(key, value), same_tensor(query, key));
        let (query, key, value) = if self.batch_first {
            (
                query.transpose(0, 1),
                key.transpose(0, 1),
                value.transpose(0, 1),
            )
        } else {
            (
                query.shallow_clone(),
                key.shallow_clone(),
                value.shallow_clone(),
            )
        };
        let (tgt_len, bsz, e) = query.size3().unwrap();
        let src_len = key.size()[0];
        let h = self.num_heads;
        let hd = e / h;

        // The same three paths as torch's `_in_projection_packed`, so that the GEMMs round alike.
        let (q, k, v) = if k_is_v && q_is_k {
            let proj = query.linear(&self.in_proj_weight, Some(&self.in_proj_bias));
            let parts = proj
                .unflatten(-1, [3, e])
                .unsqueeze(0)
                .transpose(0, -2)
                .squeeze_dim(-2)
                .contiguous();
            (parts.get(0), parts.get(1), parts.get(2))
        } else if k_is_v {
            let w = self.in_proj_weight.split_with_sizes([e, 2 * e], 0);
            let b = self.in_proj_bias.split_with_sizes([e, 2 * e], 0);
            let q = query.linear(&w[0], Some(&b[0]));
            let kv = key.linear(&w[1], Some(&b[1]));
            let kv = kv
                .unflatten(-1, [2, e])
                .unsqueeze(0)
                .transpose(0, -2)
                .squeeze_dim(-2)
                .contiguous();
            (q, kv.get(0), kv.get(1))
        } else {
            let w = self.in_proj_weight.chunk(3, 0);
            let b = self.in_proj_bias.chunk(3, 0);
            (
                query.linear(&w[0], Some(&b[0])),
                key.linear(&w[1], Some(&b[1])),
                value.linear(&w[2], Some(&b[2])),
            )
        };

        // Masks: bool -> additive float; key padding merged into the attention mask.
        let to_float = |m: &Tensor| -> Tensor {
            if m.kind() == Kind::Bool {
                Tensor::zeros(m.size(), (q.kind(), q.device())).masked_fill(m, f64::NEG_INFINITY)
            } else {
                m.to_kind(q.kind())
            }
        };
        let mut mask = attn_mask.map(|m| {
            let m = to_float(m);
            if m.dim() == 2 {
                m.unsqueeze(0)
            } else {
                m
            }
        });
        if let Some(kpm) = key_padding_mask {
            let kpm = to_float(kpm)
                .view([bsz, 1, 1, src_len])
                .expand([bsz, h, 1, src_len], false)
                .reshape([bsz * h, 1, src_len]);
            mask = Some(match mask {
                None => kpm,
                Some(m) => m + kpm,
            });
        }
        let mask = mask.map(|m| {
            if m.size()[0] == 1 && m.dim() == 3 {
                m.unsqueeze(0)
            } else {
                m.view([bsz, h, -1, src_len])
            }
        });

        let heads = |t: &Tensor, len: i64| {
            t.reshape([len, bsz * h, hd])
                .transpose(0, 1)
                .view([bsz, h, len, hd])
        };
        let (q, k, v) = (heads(&q, tgt_len), heads(&k, src_len), heads(&v, src_len));
        let p = if train { self.dropout } else { 0.0 };
        let out = Tensor::scaled_dot_product_attention(&q, &k, &v, mask, p, false, None, false);
        let out = out
            .permute([2, 0, 1, 3])
            .contiguous()
            .view([bsz * tgt_len, e]);
        let out = out.apply(&self.out_proj).view([tgt_len, bsz, e]);
        if self.batch_first {
            out.transpose(0, 1)
        } else {
            out
        }
    }
}

/// sam3's `MLP(input, hidden, output, num_layers, dropout, residual, out_norm)`: ReLU between `layers.{i}`.
#[derive(Debug)]
pub struct Mlp {
    pub layers: Vec<nn::Linear>,
    pub dropout: f64,
    pub residual: bool,
    pub out_norm: Option<nn::LayerNorm>,
}

impl Mlp {
    pub fn new(p: nn::Path, input: i64, hidden: i64, output: i64, num_layers: i64) -> Self {
        let layers = (0..num_layers)
            .map(|i| {
                let n_in = if i == 0 { input } else { hidden };
                let n_out = if i == num_layers - 1 { output } else { hidden };
                linear(&p / "layers" / i, n_in, n_out)
            })
            .collect();
        Mlp {
            layers,
            dropout: 0.0,
            residual: false,
            out_norm: None,
        }
    }

    /// The scoring variant: dropout after each hidden ReLU, a residual connection and a LayerNorm `out_norm`.
    pub fn with_residual_norm(
        p: nn::Path,
        input: i64,
        hidden: i64,
        output: i64,
        num_layers: i64,
        dropout: f64,
    ) -> Self {
        assert_eq!(
            input, output,
            "a residual MLP needs input_dim == output_dim"
        );
        let out_norm = layer_norm(&p / "out_norm", output);
        let mut mlp = Mlp::new(p, input, hidden, output, num_layers);
        mlp.dropout = dropout;
        mlp.residual = true;
        mlp.out_norm = Some(out_norm);
        mlp
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let n = self.layers.len();
        let mut y = x.shallow_clone();
        for (i, layer) in self.layers.iter().enumerate() {
            y = y.apply(layer);
            if i < n - 1 {
                y = dropout(&y.relu(), self.dropout, train);
            }
        }
        if self.residual {
            y = &y + x;
        }
        match &self.out_norm {
            Some(norm) => y.apply(norm),
            None => y,
        }
    }
}

/// `PositionEmbeddingSine(num_pos_feats, temperature=10000, normalize=True, scale=2π)`: the DETR sine
/// encoding of feature-map positions, and of normalized points and boxes for the geometry encoder.
#[derive(Debug, Clone)]
pub struct PositionEmbeddingSine {
    /// Half of the output channels (upstream divides its argument by 2).
    pub num_pos_feats: i64,
    pub temperature: f64,
    pub normalize: bool,
    pub scale: f64,
}

impl PositionEmbeddingSine {
    /// `num_pos_feats` is the full output width (upstream's constructor argument), which must be even.
    pub fn new(num_pos_feats: i64) -> Self {
        assert!(num_pos_feats % 2 == 0, "Expecting even model width");
        PositionEmbeddingSine {
            num_pos_feats: num_pos_feats / 2,
            temperature: 10000.0,
            normalize: true,
            scale: 2.0 * PI,
        }
    }

    /// `temperature ** (2 * (i // 2) / num_pos_feats)` for i in 0..num_pos_feats, in fp32 like upstream.
    fn dim_t(&self, device: tch::Device) -> Tensor {
        let i = Tensor::arange(self.num_pos_feats, (Kind::Float, device));
        let exponent = i.floor_divide_scalar(2) * 2 / self.num_pos_feats as f64;
        Tensor::pow_scalar(self.temperature, &exponent)
    }

    /// Interleaves sin of even and cos of odd channels along the last dim (`stack(..., dim=-1).flatten`).
    fn sin_cos(pos: &Tensor) -> Tensor {
        let n = pos.size()[pos.dim() - 1];
        let sin = pos.slice(-1, 0, n, 2).sin();
        let cos = pos.slice(-1, 1, n, 2).cos();
        Tensor::stack(&[sin, cos], -1).flatten(-2, -1)
    }

    /// The encoding of a (B, C, H, W) feature map: (B, 2·num_pos_feats, H, W), no gradient.
    pub fn forward(&self, batch: i64, h: i64, w: i64, device: tch::Device) -> Tensor {
        tch::no_grad(|| {
            let opts = (Kind::Float, device);
            let mut y = Tensor::arange_start(1, h + 1, opts)
                .view([1, -1, 1])
                .repeat([batch, 1, w]);
            let mut x = Tensor::arange_start(1, w + 1, opts)
                .view([1, 1, -1])
                .repeat([batch, h, 1]);
            if self.normalize {
                let eps = 1e-6;
                y = &y / (y.slice(1, h - 1, h, 1) + eps) * self.scale;
                x = &x / (x.slice(2, w - 1, w, 1) + eps) * self.scale;
            }
            let dim_t = self.dim_t(device);
            let pos_x = Self::sin_cos(&(x.unsqueeze(-1) / &dim_t));
            let pos_y = Self::sin_cos(&(y.unsqueeze(-1) / &dim_t));
            Tensor::cat(&[pos_y, pos_x], 3).permute([0, 3, 1, 2])
        })
    }

    /// `_encode_xy`: encodings of 1-D normalized coordinates, each (N, num_pos_feats).
    pub fn encode_xy(&self, x: &Tensor, y: &Tensor) -> (Tensor, Tensor) {
        let dim_t = self.dim_t(x.device());
        let pos_x = Self::sin_cos(&((x * self.scale).unsqueeze(-1) / &dim_t));
        let pos_y = Self::sin_cos(&((y * self.scale).unsqueeze(-1) / &dim_t));
        (pos_x, pos_y)
    }

    /// `encode_boxes(cx, cy, w, h)`: (N, 2·num_pos_feats + 2) = [pos_y, pos_x, h, w], no gradient.
    pub fn encode_boxes(&self, x: &Tensor, y: &Tensor, w: &Tensor, h: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let (pos_x, pos_y) = self.encode_xy(x, y);
            Tensor::cat(&[pos_y, pos_x, h.unsqueeze(1), w.unsqueeze(1)], 1)
        })
    }
}

/// `gen_sineembed_for_position`: the sine embedding of (…, 2) points or (…, 4) cxcywh boxes given as
/// (n_query, batch, k); `num_feats` is the per-coordinate width ×2 (upstream passes `d_model`).
pub fn gen_sineembed_for_position(pos: &Tensor, num_feats: i64) -> Tensor {
    let half = num_feats / 2;
    let scale = 2.0 * PI;
    let i = Tensor::arange(half, (Kind::Float, pos.device()));
    let exponent = i.floor_divide_scalar(2) * 2 / half as f64;
    let dim_t = Tensor::pow_scalar(10000.0, &exponent);
    let embed = |c: i64| -> Tensor {
        let v = pos.select(-1, c) * scale;
        let p = v.unsqueeze(-1) / &dim_t;
        let n = p.size()[p.dim() - 1];
        Tensor::stack(
            &[p.slice(-1, 0, n, 2).sin(), p.slice(-1, 1, n, 2).cos()],
            -1,
        )
        .flatten(-2, -1)
    };
    let (x, y) = (embed(0), embed(1));
    match pos.size()[pos.dim() - 1] {
        2 => Tensor::cat(&[y, x], -1),
        4 => Tensor::cat(&[y, x, embed(2), embed(3)], -1),
        k => panic!("gen_sineembed_for_position: last dim must be 2 or 4, got {k}"),
    }
}

/// `inverse_sigmoid(x, eps=1e-3)` as upstream clamps it.
pub fn inverse_sigmoid(x: &Tensor) -> Tensor {
    let eps = 1e-3;
    let x = x.clamp(0.0, 1.0);
    let x1 = x.clamp_min(eps);
    let x2 = (-&x + 1.0).clamp_min(eps);
    (x1 / x2).log()
}

/// (cx, cy, w, h) -> (x0, y0, x1, y1) along the last dimension.
pub fn box_cxcywh_to_xyxy(b: &Tensor) -> Tensor {
    let parts = b.unbind(-1);
    let (cx, cy, w, h) = (&parts[0], &parts[1], &parts[2], &parts[3]);
    Tensor::stack(
        &[cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5],
        -1,
    )
}

/// 2D axial rotary position embedding (upstream `compute_axial_cis` + `apply_rotary_enc`), kept as real
/// cos/sin tables instead of a complex64 buffer: the values are recomputed, never loaded from a checkpoint.
#[derive(Debug)]
pub struct AxialRope {
    /// (end_x·end_y, head_dim/2) each.
    pub cos: Tensor,
    pub sin: Tensor,
}

impl AxialRope {
    /// Tables for a `end_x` × `end_y` grid (x fastest), positions scaled by `scale_pos`, as upstream computes
    /// them in fp32: angles `t · theta^(-k/dim)` for k in 0, 4, 8, … below `dim`, x frequencies then y.
    pub fn new(
        dim: i64,
        end_x: i64,
        end_y: i64,
        theta: f64,
        scale_pos: f64,
        device: tch::Device,
    ) -> Self {
        let opts = (Kind::Float, device);
        let k = Tensor::arange_start_step(0, dim, 4, opts).slice(0, 0, dim / 4, 1);
        // `1.0 / tensor` is `reciprocal() * 1.0` in torch.
        let freqs = Tensor::pow_scalar(theta, &(k / dim as f64)).reciprocal();
        let t = Tensor::arange(end_x * end_y, opts);
        let t_x = t.remainder(end_x as f64) * scale_pos;
        let t_y = t.divide_scalar_mode(end_x as f64, "floor") * scale_pos;
        let angles = Tensor::cat(&[t_x.outer(&freqs), t_y.outer(&freqs)], -1);
        AxialRope {
            cos: angles.cos(),
            sin: angles.sin(),
        }
    }

    /// Rotates consecutive channel pairs of `x` (…, seq, head_dim) by the table rows; `x.size(-2)` must be a
    /// multiple of the table length (keys longer than queries repeat the table, upstream `repeat_freqs_k`).
    pub fn rotate(&self, x: &Tensor) -> Tensor {
        let size = x.size();
        let seq = size[size.len() - 2];
        let n = self.cos.size()[0];
        let (cos, sin) = if seq == n {
            (self.cos.shallow_clone(), self.sin.shallow_clone())
        } else {
            assert!(
                seq % n == 0,
                "RoPE: sequence {seq} is not a multiple of the table length {n}"
            );
            (self.cos.repeat([seq / n, 1]), self.sin.repeat([seq / n, 1]))
        };
        let xf = x.to_kind(Kind::Float);
        let mut pair_shape = size.clone();
        let last = pair_shape.pop().unwrap();
        pair_shape.extend([last / 2, 2]);
        let pairs = xf.reshape(pair_shape.as_slice());
        let re = pairs.select(-1, 0);
        let im = pairs.select(-1, 1);
        let out_re = &re * &cos - &im * &sin;
        let out_im = &re * &sin + &im * &cos;
        Tensor::stack(&[out_re, out_im], -1)
            .flatten(-2, -1)
            .to_kind(x.kind())
    }
}

/// Largest absolute difference between two tensors (as f64), for tests and diagnostics.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    let d = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs();
    if d.numel() == 0 {
        0.0
    } else {
        d.max().double_value(&[])
    }
}
