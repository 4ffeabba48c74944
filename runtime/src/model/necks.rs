//! `Sam3DualViTDetNeck`: the ViT trunk followed by a SimpleFPN (ViTDet) neck that turns the stride-`patch`
//! map into levels at 4x, 2x, 1x and 0.5x its resolution, each with `d_model` channels and a sine position
//! encoding. With `add_sam2_neck`, an identically shaped second neck (`sam2_convs`) feeds the tracker.

use tch::{nn, Tensor};

use super::common::{conv2d, conv_transpose2d, PositionEmbeddingSine};
use super::vitdet::ViT;
use sam3c_stdlib::arch::image::{ImageConfig, NECK_SCALE_FACTORS};

/// One FPN level: optional (transposed-)conv upsampling or max-pool, then `conv_1x1` and `conv_3x3`.
#[derive(Debug)]
pub struct FpnLevel {
    pub scale: f64,
    /// 4x: `dconv_2x2_0`, GELU, `dconv_2x2_1`; 2x: `dconv_2x2`.
    pub upsample: Vec<nn::ConvTranspose2D>,
    pub conv_1x1: nn::Conv2D,
    pub conv_3x3: nn::Conv2D,
}

impl FpnLevel {
    pub fn new(p: nn::Path, dim: i64, d_model: i64, scale: f64) -> Self {
        let (upsample, out_dim) = if scale == 4.0 {
            (
                vec![
                    conv_transpose2d(&p / "dconv_2x2_0", dim, dim / 2, 2, 2),
                    conv_transpose2d(&p / "dconv_2x2_1", dim / 2, dim / 4, 2, 2),
                ],
                dim / 4,
            )
        } else if scale == 2.0 {
            (
                vec![conv_transpose2d(&p / "dconv_2x2", dim, dim / 2, 2, 2)],
                dim / 2,
            )
        } else {
            (Vec::new(), dim)
        };
        let conv_1x1 = conv2d(&p / "conv_1x1", out_dim, d_model, 1, 1, 0, 1);
        let conv_3x3 = conv2d(&p / "conv_3x3", d_model, d_model, 3, 1, 1, 1);
        FpnLevel {
            scale,
            upsample,
            conv_1x1,
            conv_3x3,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let mut y = x.shallow_clone();
        for (i, conv) in self.upsample.iter().enumerate() {
            if i > 0 {
                y = y.gelu("none");
            }
            y = y.apply(conv);
        }
        if self.scale == 0.5 {
            y = y.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
        }
        y.apply(&self.conv_1x1).apply(&self.conv_3x3)
    }
}

/// The FPN levels and their position encodings, highest resolution first.
#[derive(Debug)]
pub struct NeckOutput {
    pub features: Vec<Tensor>,
    pub pos: Vec<Tensor>,
}

/// `Sam3DualViTDetNeck`: `trunk`, `convs.{i}` and, with `add_sam2_neck`, `sam2_convs.{i}`.
#[derive(Debug)]
pub struct Sam3DualViTDetNeck {
    pub trunk: ViT,
    pub position_encoding: PositionEmbeddingSine,
    pub convs: Vec<FpnLevel>,
    pub sam2_convs: Option<Vec<FpnLevel>>,
}

impl Sam3DualViTDetNeck {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        let levels = |p: nn::Path| -> Vec<FpnLevel> {
            NECK_SCALE_FACTORS
                .iter()
                .enumerate()
                .map(|(i, s)| FpnLevel::new(&p / i, cfg.vit_dim, cfg.d_model, *s))
                .collect()
        };
        Sam3DualViTDetNeck {
            trunk: ViT::new(&p / "trunk", cfg),
            position_encoding: PositionEmbeddingSine::new(cfg.d_model),
            convs: levels(&p / "convs"),
            sam2_convs: cfg.add_sam2_neck.then(|| levels(&p / "sam2_convs")),
        }
    }

    fn run_levels(&self, levels: &[FpnLevel], x: &Tensor, num_levels: usize) -> NeckOutput {
        let mut out = NeckOutput {
            features: Vec::new(),
            pos: Vec::new(),
        };
        for level in &levels[..num_levels] {
            let f = level.forward(x);
            let (b, _, h, w) = f.size4().unwrap();
            out.pos.push(
                self.position_encoding
                    .forward(b, h, w, f.device())
                    .to_kind(f.kind()),
            );
            out.features.push(f);
        }
        out
    }

    /// Runs the trunk and the first `num_levels` FPN levels of both necks (upstream computes all four and
    /// the backbone then drops the last `scalp`; the dropped level has no effect on outputs or gradients).
    pub fn forward(
        &self,
        images: &Tensor,
        num_levels: usize,
        train: bool,
    ) -> (NeckOutput, Option<NeckOutput>) {
        let x = self.trunk.forward(images, train);
        let sam3 = self.run_levels(&self.convs, &x, num_levels);
        let sam2 = self
            .sam2_convs
            .as_ref()
            .map(|levels| self.run_levels(levels, &x, num_levels));
        (sam3, sam2)
    }
}
