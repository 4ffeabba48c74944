//! The image model (`Sam3Image`): ViT trunk, FPN neck, text encoder, geometry encoder, fusion encoder,
//! DETR decoder, dot-product scoring and segmentation head. Facts: reference/upstream-sam3.md §5.

use serde::{Deserialize, Serialize};

/// Every size of the image model. Field names follow the upstream constructor arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Input resolution in pixels (a multiple of `patch_size`).
    pub resolution: i64,
    pub patch_size: i64,
    /// The absolute position embedding is stored at this size (plus a cls slot) and tiled to the input grid.
    pub pretrain_img_size: i64,
    pub vit_dim: i64,
    pub vit_depth: i64,
    pub vit_heads: i64,
    pub vit_mlp_ratio: f64,
    pub window_size: i64,
    pub global_att_blocks: Vec<i64>,
    pub rope_theta: f64,
    pub d_model: i64,
    pub text_width: i64,
    pub text_heads: i64,
    pub text_layers: i64,
    pub text_context_length: i64,
    pub vocab_size: i64,
    /// Output size of the (unused) CLIP text projection.
    pub text_proj_dim: i64,
    pub geo_layers: i64,
    pub enc_layers: i64,
    pub dec_layers: i64,
    /// Attention heads of the geometry encoder, fusion encoder, decoder and segmentation head.
    pub heads: i64,
    pub ffn_dim: i64,
    pub num_queries: i64,
    /// Hidden size of the prompt MLP of dot-product scoring.
    pub scoring_mlp_dim: i64,
    pub enable_segmentation: bool,
}

impl ImageConfig {
    /// `build_sam3_image_model(enable_segmentation=True)`: 840,509,750 parameters.
    pub fn full() -> Self {
        ImageConfig {
            resolution: 1008,
            patch_size: 14,
            pretrain_img_size: 336,
            vit_dim: 1024,
            vit_depth: 32,
            vit_heads: 16,
            vit_mlp_ratio: 4.625,
            window_size: 24,
            global_att_blocks: vec![7, 15, 23, 31],
            rope_theta: 10000.0,
            d_model: 256,
            text_width: 1024,
            text_heads: 16,
            text_layers: 24,
            text_context_length: 32,
            vocab_size: 49408,
            text_proj_dim: 512,
            geo_layers: 3,
            enc_layers: 6,
            dec_layers: 6,
            heads: 8,
            ffn_dim: 2048,
            num_queries: 200,
            scoring_mlp_dim: 2048,
            enable_segmentation: true,
        }
    }

    /// The reduced model of the upstream bench harness (`tiny_builder.py`): 224 px, about 4.27 M parameters.
    pub fn tiny() -> Self {
        ImageConfig {
            resolution: 224,
            patch_size: 14,
            pretrain_img_size: 336,
            vit_dim: 64,
            vit_depth: 2,
            vit_heads: 2,
            vit_mlp_ratio: 4.625,
            window_size: 8,
            global_att_blocks: vec![1],
            rope_theta: 10000.0,
            d_model: 64,
            text_width: 64,
            text_heads: 2,
            text_layers: 1,
            text_context_length: 32,
            vocab_size: 49408,
            text_proj_dim: 512,
            geo_layers: 1,
            enc_layers: 1,
            dec_layers: 2,
            heads: 4,
            ffn_dim: 128,
            num_queries: 20,
            scoring_mlp_dim: 128,
            enable_segmentation: true,
        }
    }
}
