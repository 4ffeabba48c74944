//! The ViT trunk (upstream `sam3.model.vitdet.ViT`, ViTDet-style): patch embedding, absolute position
//! embedding tiled from the pretraining grid, `ln_pre`, then blocks with windowed or global attention and 2D
//! axial RoPE. Returns the feature map of the last global-attention block as (B, C, H, W).

use tch::{nn, Tensor};

use super::common::{drop_path, fan_in_uniform, layer_norm, linear, AxialRope};
use sam3c_stdlib::arch::image::ImageConfig;

/// `PatchEmbed`: a `patch`×`patch` convolution with stride `patch` and no bias, output (B, H, W, C).
#[derive(Debug)]
pub struct PatchEmbed {
    pub proj: nn::Conv2D,
}

impl PatchEmbed {
    pub fn new(p: nn::Path, patch: i64, dim: i64) -> Self {
        // PyTorch's conv init (U(±1/sqrt(fan_in))); the trunk's own init covers only its linear layers.
        let cfg = nn::ConvConfig {
            stride: patch,
            bias: false,
            ws_init: fan_in_uniform(3 * patch * patch),
            ..Default::default()
        };
        PatchEmbed {
            proj: nn::conv2d(&p / "proj", 3, dim, patch, cfg),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.apply(&self.proj).permute([0, 2, 3, 1])
    }
}

/// Multi-head self-attention with 2D RoPE on queries and keys (`vitdet.Attention`, no relative positions).
#[derive(Debug)]
pub struct Attention {
    pub qkv: nn::Linear,
    pub proj: nn::Linear,
    pub num_heads: i64,
    /// Recomputed for the block's input grid (the upstream `freqs_cis` buffer, as cos/sin).
    pub rope: AxialRope,
}

impl Attention {
    /// `side` is the token grid the block attends over (the window or the whole map); `rope_pt_side` the grid
    /// RoPE was trained at (upstream interpolates positions by `rope_pt_side / side`).
    pub fn new(
        p: nn::Path,
        dim: i64,
        num_heads: i64,
        side: i64,
        rope_pt_side: i64,
        theta: f64,
    ) -> Self {
        let scale_pos = rope_pt_side as f64 / side as f64;
        let rope = AxialRope::new(dim / num_heads, side, side, theta, scale_pos, p.device());
        Attention {
            qkv: linear(&p / "qkv", dim, 3 * dim),
            proj: linear(&p / "proj", dim, dim),
            num_heads,
            rope,
        }
    }

    /// x: (B, H, W, C) -> (B, H, W, C).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (b, h, w, c) = x.size4().unwrap();
        let l = h * w;
        let qkv = x
            .apply(&self.qkv)
            .reshape([b, l, 3, self.num_heads, -1])
            .permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let q = self.rope.rotate(&q);
        let k = self.rope.rotate(&k);
        let y = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            None::<Tensor>,
            0.0,
            false,
            None,
            false,
        );
        let y = y
            .view([b, self.num_heads, h, w, -1])
            .permute([0, 2, 3, 1, 4])
            .reshape([b, h, w, c]);
        y.apply(&self.proj)
    }
}

/// timm's `Mlp`: fc1, GELU, fc2.
#[derive(Debug)]
pub struct VitMlp {
    pub fc1: nn::Linear,
    pub fc2: nn::Linear,
}

impl VitMlp {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.apply(&self.fc1).gelu("none").apply(&self.fc2)
    }
}

/// Splits (B, H, W, C) into (B·nWindows, ws, ws, C), zero-padding H and W up to multiples of `ws`.
pub fn window_partition(x: &Tensor, ws: i64) -> (Tensor, (i64, i64)) {
    let (b, h, w, c) = x.size4().unwrap();
    let pad_h = (ws - h % ws) % ws;
    let pad_w = (ws - w % ws) % ws;
    let x = if pad_h > 0 || pad_w > 0 {
        x.constant_pad_nd([0, 0, 0, pad_w, 0, pad_h])
    } else {
        x.shallow_clone()
    };
    let (hp, wp) = (h + pad_h, w + pad_w);
    let windows = x
        .view([b, hp / ws, ws, wp / ws, ws, c])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([-1, ws, ws, c]);
    (windows, (hp, wp))
}

/// Inverse of `window_partition`, dropping the padding.
pub fn window_unpartition(windows: &Tensor, ws: i64, pad_hw: (i64, i64), hw: (i64, i64)) -> Tensor {
    let (hp, wp) = pad_hw;
    let (h, w) = hw;
    let b = windows.size()[0] / (hp * wp / ws / ws);
    let x = windows
        .reshape([b, hp / ws, wp / ws, ws, ws, -1])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([b, hp, wp, -1]);
    if hp > h || wp > w {
        x.slice(1, 0, h, 1).slice(2, 0, w, 1)
    } else {
        x
    }
}

/// A ViT block (`vitdet.Block`): pre-norm attention (within windows unless `window_size == 0`) and MLP,
/// each with stochastic depth.
#[derive(Debug)]
pub struct Block {
    pub norm1: nn::LayerNorm,
    pub attn: Attention,
    pub norm2: nn::LayerNorm,
    pub mlp: VitMlp,
    /// 0 for global attention.
    pub window_size: i64,
    pub drop_path: f64,
}

impl Block {
    pub fn new(p: nn::Path, cfg: &ImageConfig, index: i64) -> Self {
        let dim = cfg.vit_dim;
        let global = cfg.is_global_block(index);
        let window_size = if global { 0 } else { cfg.window_size };
        let side = if global {
            cfg.grid_size()
        } else {
            cfg.window_size
        };
        let drop_path = if cfg.vit_depth > 1 {
            cfg.drop_path_rate * index as f64 / (cfg.vit_depth - 1) as f64
        } else {
            0.0
        };
        let hidden = cfg.vit_mlp_dim();
        Block {
            norm1: layer_norm(&p / "norm1", dim),
            attn: Attention::new(
                &p / "attn",
                dim,
                cfg.vit_heads,
                side,
                cfg.window_size,
                cfg.rope_theta,
            ),
            norm2: layer_norm(&p / "norm2", dim),
            mlp: VitMlp {
                fc1: linear(&p / "mlp" / "fc1", dim, hidden),
                fc2: linear(&p / "mlp" / "fc2", hidden, dim),
            },
            window_size,
            drop_path,
        }
    }

    /// x: (B, H, W, C).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let shortcut = x;
        let y = x.apply(&self.norm1);
        let y = if self.window_size > 0 {
            let (h, w) = (y.size()[1], y.size()[2]);
            let (windows, pad_hw) = window_partition(&y, self.window_size);
            let attended = self.attn.forward(&windows);
            window_unpartition(&attended, self.window_size, pad_hw, (h, w))
        } else {
            self.attn.forward(&y)
        };
        let x = shortcut + drop_path(&y, self.drop_path, train);
        let m = self.mlp.forward(&x.apply(&self.norm2));
        &x + drop_path(&m, self.drop_path, train)
    }
}

/// The trunk: `pos_embed`, `patch_embed`, `blocks.{i}`, `ln_pre`.
#[derive(Debug)]
pub struct ViT {
    /// (1, 1 + pretrain_grid², C): a cls slot (unused) and the pretraining grid, tiled to the input grid.
    pub pos_embed: Tensor,
    pub patch_embed: PatchEmbed,
    pub blocks: Vec<Block>,
    pub ln_pre: nn::LayerNorm,
    /// Index of the last global-attention block, whose output is the feature map (later blocks never run).
    pub last_global_block: usize,
}

impl ViT {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        let pt = cfg.pretrain_grid_size();
        let pos_embed = p.var(
            "pos_embed",
            &[1, pt * pt + 1, cfg.vit_dim],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        );
        let patch_embed = PatchEmbed::new(&p / "patch_embed", cfg.patch_size, cfg.vit_dim);
        let blocks = (0..cfg.vit_depth)
            .map(|i| Block::new(&p / "blocks" / i, cfg, i))
            .collect();
        let last_global_block = *cfg
            .global_att_blocks
            .iter()
            .max()
            .expect("validated: non-empty") as usize;
        ViT {
            pos_embed,
            patch_embed,
            blocks,
            ln_pre: layer_norm(&p / "ln_pre", cfg.vit_dim),
            last_global_block,
        }
    }

    /// `get_abs_pos(..., has_cls_token=True, tiling=True)`: (1, h, w, C), the stored grid repeated.
    pub fn abs_pos(&self, h: i64, w: i64) -> Tensor {
        let n = self.pos_embed.size()[1] - 1;
        let size = (n as f64).sqrt() as i64;
        let grid = self.pos_embed.slice(1, 1, n + 1, 1);
        if size == h && size == w {
            return grid.reshape([1, h, w, -1]);
        }
        grid.reshape([1, size, size, -1])
            .permute([0, 3, 1, 2])
            .tile([1, 1, h / size + 1, w / size + 1])
            .slice(2, 0, h, 1)
            .slice(3, 0, w, 1)
            .permute([0, 2, 3, 1])
    }

    /// images (B, 3, H, W) -> features (B, C, H/patch, W/patch).
    pub fn forward(&self, images: &Tensor, train: bool) -> Tensor {
        let x = self.patch_embed.forward(images);
        let (h, w) = (x.size()[1], x.size()[2]);
        let mut x = (x + self.abs_pos(h, w)).apply(&self.ln_pre);
        for block in &self.blocks[..=self.last_global_block] {
            x = block.forward(&x, train);
        }
        x.permute([0, 3, 1, 2])
    }
}
