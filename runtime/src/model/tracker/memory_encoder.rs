//! Memory encoder (`maskmem_backbone`): `SimpleMaskEncoder` with a `SimpleMaskDownSampler`, a `SimpleFuser` of
//! ConvNeXt blocks (`CXBlock`) and an output projection (`sam3/model/memory.py`).

use super::blocks::{conv2d, gelu, LayerNorm2d};
use crate::model::common::{linear, PositionEmbeddingSine};
use sam3c_stdlib::arch::tracker::{TrackerConfig, CXBLOCK_MLP_RATIO};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// `SimpleMaskDownSampler`: resize the mask to `interpol_size`, then (conv, LayerNorm2d, GELU) until
/// `total_stride`, then a 1x1 conv to `d_model` channels. `encoder.{3i}` are the convs, `encoder.{3i+1}` the
/// norms, `encoder.{3n}` the last conv.
#[derive(Debug)]
pub struct MaskDownSampler {
    pub convs: Vec<nn::Conv2D>,
    pub norms: Vec<LayerNorm2d>,
    pub out: nn::Conv2D,
    pub interpol_size: i64,
}

impl MaskDownSampler {
    pub fn new(p: nn::Path, cfg: &TrackerConfig) -> Self {
        let enc = &p / "encoder";
        let (mut convs, mut norms) = (Vec::new(), Vec::new());
        let mut chans = 1;
        let mut idx = 0;
        for _ in 0..cfg.mask_downsampler_layers() {
            let out = chans * cfg.mask_downsampler_stride * cfg.mask_downsampler_stride;
            convs.push(conv2d(
                &enc / idx,
                chans,
                out,
                cfg.mask_downsampler_kernel_size,
                cfg.mask_downsampler_stride,
                cfg.mask_downsampler_padding,
                1,
            ));
            norms.push(LayerNorm2d::new(&enc / (idx + 1), out));
            idx += 3;
            chans = out;
        }
        MaskDownSampler {
            convs,
            norms,
            out: conv2d(&enc / idx, chans, cfg.d_model, 1, 1, 0, 1),
            interpol_size: cfg.mask_downsampler_interpol_size,
        }
    }

    /// `masks: [B, 1, H, W]` -> `[B, d_model, interpol_size / total_stride, ...]`.
    pub fn forward(&self, masks: &Tensor) -> Tensor {
        let size = masks.size();
        let (h, w) = (size[2], size[3]);
        let mut x = if h != self.interpol_size || w != self.interpol_size {
            masks.to_kind(Kind::Float).internal_upsample_bilinear2d_aa(
                [self.interpol_size, self.interpol_size],
                false,
                None,
                None,
            )
        } else {
            masks.shallow_clone()
        };
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            x = gelu(&norm.forward(&conv.forward(&x)));
        }
        self.out.forward(&x)
    }
}

/// `CXBlock`: depthwise conv, LayerNorm2d, pointwise MLP (as linears on NHWC), layer scale, residual.
#[derive(Debug)]
pub struct CxBlock {
    pub dwconv: nn::Conv2D,
    pub norm: LayerNorm2d,
    pub pwconv1: nn::Linear,
    pub pwconv2: nn::Linear,
    pub gamma: Option<Tensor>,
}

impl CxBlock {
    pub fn new(p: nn::Path, cfg: &TrackerConfig) -> Self {
        let d = cfg.d_model;
        let gamma = (cfg.fuser_layer_scale_init > 0.0)
            .then(|| p.var("gamma", &[d], nn::Init::Const(cfg.fuser_layer_scale_init)));
        CxBlock {
            dwconv: conv2d(
                &p / "dwconv",
                d,
                d,
                cfg.fuser_kernel_size,
                1,
                cfg.fuser_padding,
                d,
            ),
            norm: LayerNorm2d::new(&p / "norm", d),
            pwconv1: linear(&p / "pwconv1", d, CXBLOCK_MLP_RATIO * d),
            pwconv2: linear(&p / "pwconv2", CXBLOCK_MLP_RATIO * d, d),
            gamma,
        }
    }

    pub fn forward(&self, input: &Tensor) -> Tensor {
        let x = self.norm.forward(&self.dwconv.forward(input));
        let x = x.permute([0, 2, 3, 1]);
        let mut x = self.pwconv2.forward(&gelu(&self.pwconv1.forward(&x)));
        if let Some(gamma) = &self.gamma {
            x = gamma * x;
        }
        input + x.permute([0, 3, 1, 2])
    }
}

/// The memory encoder's output: memory features and their sine position encoding, `[B, mem_dim, h, w]`.
#[derive(Debug)]
pub struct EncodedMemory {
    pub features: Tensor,
    pub pos_enc: Tensor,
}

/// `SimpleMaskEncoder`.
#[derive(Debug)]
pub struct MemoryEncoder {
    pub mask_downsampler: MaskDownSampler,
    pub pix_feat_proj: nn::Conv2D,
    pub fuser: Vec<CxBlock>,
    pub out_proj: Option<nn::Conv2D>,
    pub mem_dim: i64,
}

impl MemoryEncoder {
    pub fn new(p: nn::Path, cfg: &TrackerConfig) -> Self {
        let d = cfg.d_model;
        MemoryEncoder {
            mask_downsampler: MaskDownSampler::new(&p / "mask_downsampler", cfg),
            pix_feat_proj: conv2d(&p / "pix_feat_proj", d, d, 1, 1, 0, 1),
            fuser: (0..cfg.fuser_layers)
                .map(|i| CxBlock::new(&p / "fuser" / "layers" / i, cfg))
                .collect(),
            out_proj: (cfg.mem_dim != d)
                .then(|| conv2d(&p / "out_proj", d, cfg.mem_dim, 1, 1, 0, 1)),
            mem_dim: cfg.mem_dim,
        }
    }

    /// `pix_feat: [B, d_model, h, w]`, `masks: [B, 1, H, W]`; with `skip_mask_sigmoid` the masks are used as
    /// given (the tracker passes already-scaled probabilities).
    pub fn forward(
        &self,
        pix_feat: &Tensor,
        masks: &Tensor,
        skip_mask_sigmoid: bool,
    ) -> EncodedMemory {
        let masks = if skip_mask_sigmoid {
            masks.shallow_clone()
        } else {
            masks.sigmoid()
        };
        let masks = self.mask_downsampler.forward(&masks);
        let pix_feat = pix_feat.to_device(masks.device());
        let mut x = self.pix_feat_proj.forward(&pix_feat) + masks;
        for block in &self.fuser {
            x = block.forward(&x);
        }
        if let Some(out_proj) = &self.out_proj {
            x = out_proj.forward(&x);
        }
        let size = x.size();
        let pos_enc = PositionEmbeddingSine::new(self.mem_dim)
            .forward(size[0], size[2], size[3], x.device())
            .to_kind(x.kind());
        EncodedMemory {
            features: x,
            pos_enc,
        }
    }
}
