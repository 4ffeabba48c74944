//! `SAM3VLBackbone`: the vision backbone (ViT + FPN neck) and the language backbone side by side, without
//! fusion. `scalp` drops the lowest-resolution FPN level.

use tch::{nn, Tensor};

use super::necks::Sam3DualViTDetNeck;
use super::text_encoder_ve::{TextFeatures, VETextEncoder};
use sam3c_stdlib::arch::image::{ImageConfig, NECK_SCALE_FACTORS, SCALP};

/// Image features as upstream's `backbone_out` holds them, highest resolution first.
#[derive(Debug)]
pub struct VisionFeatures {
    /// (N_images, d, h, w) per FPN level (`backbone_fpn`); the last is the stride-`patch` level.
    pub backbone_fpn: Vec<Tensor>,
    /// The sine position encoding of each level (`vision_pos_enc`).
    pub vision_pos_enc: Vec<Tensor>,
    /// The same from the `sam2_convs` neck, when the model has one (`sam2_backbone_out`).
    pub sam2_backbone_fpn: Option<Vec<Tensor>>,
    pub sam2_vision_pos_enc: Option<Vec<Tensor>>,
}

#[derive(Debug)]
pub struct SAM3VLBackbone {
    pub vision_backbone: Sam3DualViTDetNeck,
    pub language_backbone: VETextEncoder,
    pub scalp: usize,
}

impl SAM3VLBackbone {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        SAM3VLBackbone {
            vision_backbone: Sam3DualViTDetNeck::new(&p / "vision_backbone", cfg),
            language_backbone: VETextEncoder::new(&p / "language_backbone", cfg),
            scalp: SCALP,
        }
    }

    /// images (N, 3, H, W), normalized -> FPN features.
    pub fn forward_image(&self, images: &Tensor, train: bool) -> VisionFeatures {
        let levels = NECK_SCALE_FACTORS.len() - self.scalp;
        let (sam3, sam2) = self.vision_backbone.forward(images, levels, train);
        VisionFeatures {
            backbone_fpn: sam3.features,
            vision_pos_enc: sam3.pos,
            sam2_backbone_fpn: sam2
                .as_ref()
                .map(|o| o.features.iter().map(|t| t.shallow_clone()).collect()),
            sam2_vision_pos_enc: sam2.map(|o| o.pos),
        }
    }

    /// tokens (T, context_length) int64 -> per-token text features.
    pub fn forward_text(&self, tokens: &Tensor) -> TextFeatures {
        self.language_backbone.forward(tokens)
    }
}
