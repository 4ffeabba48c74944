//! The image model (`Sam3Image`): ViT trunk, FPN neck, text encoder, geometry encoder, fusion encoder,
//! DETR decoder, dot-product scoring and segmentation head. Facts: reference/upstream-sam3.md §5.

use serde::{Deserialize, Serialize};

use super::{DType, ModuleKind, ParamInfo};

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
    /// Add the `sam2_convs` copy of the FPN neck (the tracker's features; always on in the video model).
    pub add_sam2_neck: bool,
    /// Dropout of the geometry encoder, fusion encoder, decoder and scoring MLP (0 in eval mode).
    pub dropout: f64,
    /// Stochastic depth of the ViT, rising linearly from 0 at block 0 to this value at the last block.
    pub drop_path_rate: f64,
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
            add_sam2_neck: false,
            dropout: 0.1,
            drop_path_rate: 0.1,
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
            add_sam2_neck: false,
            dropout: 0.1,
            drop_path_rate: 0.1,
        }
    }
}

/// The FPN scales of the neck (upstream `scale_factors`); `SCALP` drops the last (lowest-resolution) level.
pub const NECK_SCALE_FACTORS: [f64; 4] = [4.0, 2.0, 1.0, 0.5];
/// How many of the lowest-resolution FPN levels the backbone discards (upstream `SAM3VLBackbone(scalp=1)`).
pub const SCALP: usize = 1;
/// Output size of the geometry encoder's ROI-align box pooling.
pub const ROI_SIZE: i64 = 7;
/// Convolutions of the segmentation head's pixel decoder (upstream `num_upsampling_stages`).
pub const PIXEL_DECODER_STAGES: i64 = 3;
/// Hidden width of the text transformer's MLP relative to its width (CLIP's 4x).
pub const TEXT_MLP_RATIO: i64 = 4;

impl ImageConfig {
    /// Tokens per side of the ViT grid (`resolution / patch_size`).
    pub fn grid_size(&self) -> i64 {
        self.resolution / self.patch_size
    }

    /// Tokens per side of the stored absolute position embedding.
    pub fn pretrain_grid_size(&self) -> i64 {
        self.pretrain_img_size / self.patch_size
    }

    /// Hidden width of a ViT block's MLP: `int(vit_dim * mlp_ratio)`, truncated like Python's `int`.
    pub fn vit_mlp_dim(&self) -> i64 {
        (self.vit_dim as f64 * self.vit_mlp_ratio) as i64
    }

    pub fn vit_head_dim(&self) -> i64 {
        self.vit_dim / self.vit_heads
    }

    /// Whether ViT block `i` attends globally (otherwise within `window_size`² windows).
    pub fn is_global_block(&self, i: i64) -> bool {
        self.global_att_blocks.contains(&i)
    }

    /// Checks the constraints the upstream classes assume but do not all check; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("resolution", self.resolution),
            ("patch_size", self.patch_size),
            ("pretrain_img_size", self.pretrain_img_size),
            ("vit_dim", self.vit_dim),
            ("vit_depth", self.vit_depth),
            ("vit_heads", self.vit_heads),
            ("window_size", self.window_size),
            ("d_model", self.d_model),
            ("text_width", self.text_width),
            ("text_heads", self.text_heads),
            ("text_layers", self.text_layers),
            ("text_context_length", self.text_context_length),
            ("vocab_size", self.vocab_size),
            ("text_proj_dim", self.text_proj_dim),
            ("dec_layers", self.dec_layers),
            ("heads", self.heads),
            ("ffn_dim", self.ffn_dim),
            ("num_queries", self.num_queries),
            ("scoring_mlp_dim", self.scoring_mlp_dim),
        ];
        for (name, v) in positive {
            if v <= 0 {
                return Err(format!("`{name}` must be positive, got {v}"));
            }
        }
        for (name, v) in [
            ("geo_layers", self.geo_layers),
            ("enc_layers", self.enc_layers),
        ] {
            if v < 0 {
                return Err(format!("`{name}` must not be negative, got {v}"));
            }
        }
        if self.geo_layers == 0 {
            // Upstream builds no `encode` stack then, but `encode_norm` too disappears; we keep one layout.
            return Err(
                "`geo_layers` must be at least 1 (the geometry encoder's transformer)".into(),
            );
        }
        if self.resolution % self.patch_size != 0 {
            return Err(format!(
                "`resolution` ({}) must be a multiple of `patch_size` ({})",
                self.resolution, self.patch_size
            ));
        }
        if self.pretrain_img_size % self.patch_size != 0 {
            return Err(format!(
                "`pretrain_img_size` ({}) must be a multiple of `patch_size` ({})",
                self.pretrain_img_size, self.patch_size
            ));
        }
        if self.grid_size() % 2 != 0 {
            return Err(format!(
                "`resolution / patch_size` ({}) must be even: the neck's 0.5x level max-pools it by 2",
                self.grid_size()
            ));
        }
        if self.vit_dim % self.vit_heads != 0 || self.vit_head_dim() % 4 != 0 {
            return Err(format!(
                "`vit_dim / vit_heads` ({} / {}) must be a whole multiple of 4 (2D axial RoPE)",
                self.vit_dim, self.vit_heads
            ));
        }
        if self.vit_dim % 4 != 0 {
            return Err(format!(
                "`vit_dim` ({}) must be a multiple of 4 (the neck's 4x level)",
                self.vit_dim
            ));
        }
        if self.text_width % self.text_heads != 0 {
            return Err(format!(
                "`text_width` ({}) must be a multiple of `text_heads` ({})",
                self.text_width, self.text_heads
            ));
        }
        if self.d_model % self.heads != 0 {
            return Err(format!(
                "`d_model` ({}) must be a multiple of `heads` ({})",
                self.d_model, self.heads
            ));
        }
        if self.d_model % 8 != 0 {
            return Err(format!(
                "`d_model` ({}) must be a multiple of 8 (GroupNorm(8) in the pixel decoder)",
                self.d_model
            ));
        }
        if let Some(b) = self
            .global_att_blocks
            .iter()
            .find(|b| **b < 0 || **b >= self.vit_depth)
        {
            return Err(format!(
                "`global_att_blocks` has {b}, outside 0..{}",
                self.vit_depth
            ));
        }
        if self.global_att_blocks.is_empty() {
            return Err(
                "`global_att_blocks` must name at least one block (the last one feeds the neck)"
                    .into(),
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("`dropout` must be in [0, 1), got {}", self.dropout));
        }
        if !(0.0..1.0).contains(&self.drop_path_rate) {
            return Err(format!(
                "`drop_path_rate` must be in [0, 1), got {}",
                self.drop_path_rate
            ));
        }
        Ok(())
    }
}

/// Every state-dict entry of `Sam3Image` for `cfg`, in upstream order (`model.state_dict()`), with the kind of
/// the module that owns it. For `ImageConfig::full()` this is exactly the released model's state dict.
pub fn image_params(cfg: &ImageConfig) -> Vec<ParamInfo> {
    let mut p = ParamList::default();
    backbone_params(&mut p, cfg);
    geometry_encoder_params(&mut p, cfg);
    transformer_params(&mut p, cfg);
    if cfg.enable_segmentation {
        segmentation_head_params(&mut p, cfg);
    }
    dot_prod_scoring_params(&mut p, cfg);
    p.0
}

/// Appends state-dict entries; each helper mirrors one torch module class.
#[derive(Default)]
pub(crate) struct ParamList(pub(crate) Vec<ParamInfo>);

impl ParamList {
    pub(crate) fn push(&mut self, name: String, shape: &[i64], module: ModuleKind) {
        self.0.push(ParamInfo {
            name,
            shape: shape.to_vec(),
            dtype: DType::Float32,
            trainable: true,
            module,
        });
    }

    pub(crate) fn buffer(&mut self, name: String, shape: &[i64], dtype: DType, module: ModuleKind) {
        self.0.push(ParamInfo {
            name,
            shape: shape.to_vec(),
            dtype,
            trainable: false,
            module,
        });
    }

    /// `nn.Linear(input, output)`.
    pub(crate) fn linear(&mut self, prefix: &str, input: i64, output: i64) {
        self.push(
            format!("{prefix}.weight"),
            &[output, input],
            ModuleKind::Linear,
        );
        self.push(format!("{prefix}.bias"), &[output], ModuleKind::Linear);
    }

    pub(crate) fn layer_norm(&mut self, prefix: &str, dim: i64) {
        self.push(format!("{prefix}.weight"), &[dim], ModuleKind::LayerNorm);
        self.push(format!("{prefix}.bias"), &[dim], ModuleKind::LayerNorm);
    }

    pub(crate) fn group_norm(&mut self, prefix: &str, dim: i64) {
        self.push(format!("{prefix}.weight"), &[dim], ModuleKind::GroupNorm);
        self.push(format!("{prefix}.bias"), &[dim], ModuleKind::GroupNorm);
    }

    pub(crate) fn conv2d(
        &mut self,
        prefix: &str,
        input: i64,
        output: i64,
        kernel: i64,
        bias: bool,
    ) {
        self.push(
            format!("{prefix}.weight"),
            &[output, input, kernel, kernel],
            ModuleKind::Conv2d,
        );
        if bias {
            self.push(format!("{prefix}.bias"), &[output], ModuleKind::Conv2d);
        }
    }

    pub(crate) fn conv_transpose2d(&mut self, prefix: &str, input: i64, output: i64, kernel: i64) {
        self.push(
            format!("{prefix}.weight"),
            &[input, output, kernel, kernel],
            ModuleKind::ConvTranspose2d,
        );
        self.push(
            format!("{prefix}.bias"),
            &[output],
            ModuleKind::ConvTranspose2d,
        );
    }

    pub(crate) fn embedding(&mut self, prefix: &str, count: i64, dim: i64) {
        self.push(
            format!("{prefix}.weight"),
            &[count, dim],
            ModuleKind::Embedding,
        );
    }

    /// `nn.MultiheadAttention(dim, heads)` (`kind` tells the plain class from sam3's wrapper subclass).
    pub(crate) fn multihead_attention(&mut self, prefix: &str, dim: i64, kind: ModuleKind) {
        self.push(format!("{prefix}.in_proj_weight"), &[3 * dim, dim], kind);
        self.push(format!("{prefix}.in_proj_bias"), &[3 * dim], kind);
        self.push(
            format!("{prefix}.out_proj.weight"),
            &[dim, dim],
            ModuleKind::AttentionOutProj,
        );
        self.push(
            format!("{prefix}.out_proj.bias"),
            &[dim],
            ModuleKind::AttentionOutProj,
        );
    }

    /// sam3's `MLP(input, hidden, output, num_layers)`: `layers.{i}` linears (+ an optional `out_norm`).
    pub(crate) fn mlp(
        &mut self,
        prefix: &str,
        input: i64,
        hidden: i64,
        output: i64,
        num_layers: i64,
    ) {
        for i in 0..num_layers {
            let n_in = if i == 0 { input } else { hidden };
            let n_out = if i == num_layers - 1 { output } else { hidden };
            self.linear(&format!("{prefix}.layers.{i}"), n_in, n_out);
        }
    }
}

fn backbone_params(p: &mut ParamList, cfg: &ImageConfig) {
    let trunk = "backbone.vision_backbone.trunk";
    let d = cfg.vit_dim;
    let pt = cfg.pretrain_grid_size();
    p.push(
        format!("{trunk}.pos_embed"),
        &[1, pt * pt + 1, d],
        ModuleKind::Other,
    );
    p.push(
        format!("{trunk}.patch_embed.proj.weight"),
        &[d, 3, cfg.patch_size, cfg.patch_size],
        ModuleKind::Conv2d,
    );
    for i in 0..cfg.vit_depth {
        let b = format!("{trunk}.blocks.{i}");
        p.layer_norm(&format!("{b}.norm1"), d);
        let side = if cfg.is_global_block(i) {
            cfg.grid_size()
        } else {
            cfg.window_size
        };
        p.buffer(
            format!("{b}.attn.freqs_cis"),
            &[side * side, cfg.vit_head_dim() / 2],
            DType::Complex64,
            ModuleKind::Other,
        );
        p.linear(&format!("{b}.attn.qkv"), d, 3 * d);
        p.linear(&format!("{b}.attn.proj"), d, d);
        p.layer_norm(&format!("{b}.norm2"), d);
        p.linear(&format!("{b}.mlp.fc1"), d, cfg.vit_mlp_dim());
        p.linear(&format!("{b}.mlp.fc2"), cfg.vit_mlp_dim(), d);
    }
    p.layer_norm(&format!("{trunk}.ln_pre"), d);
    neck_convs(p, "backbone.vision_backbone.convs", cfg);
    if cfg.add_sam2_neck {
        neck_convs(p, "backbone.vision_backbone.sam2_convs", cfg);
    }

    let text = "backbone.language_backbone";
    let w = cfg.text_width;
    p.push(
        format!("{text}.encoder.positional_embedding"),
        &[cfg.text_context_length, w],
        ModuleKind::Other,
    );
    p.push(
        format!("{text}.encoder.text_projection"),
        &[w, cfg.text_proj_dim],
        ModuleKind::Other,
    );
    p.embedding(
        &format!("{text}.encoder.token_embedding"),
        cfg.vocab_size,
        w,
    );
    for i in 0..cfg.text_layers {
        let b = format!("{text}.encoder.transformer.resblocks.{i}");
        p.multihead_attention(&format!("{b}.attn"), w, ModuleKind::MultiheadAttention);
        p.layer_norm(&format!("{b}.ln_1"), w);
        p.layer_norm(&format!("{b}.ln_2"), w);
        p.linear(&format!("{b}.mlp.c_fc"), w, TEXT_MLP_RATIO * w);
        p.linear(&format!("{b}.mlp.c_proj"), TEXT_MLP_RATIO * w, w);
    }
    p.layer_norm(&format!("{text}.encoder.ln_final"), w);
    p.linear(&format!("{text}.resizer"), w, cfg.d_model);
}

/// The SimpleFPN convolutions of `Sam3DualViTDetNeck`, one `nn.Sequential` per scale.
fn neck_convs(p: &mut ParamList, prefix: &str, cfg: &ImageConfig) {
    let dim = cfg.vit_dim;
    for (i, scale) in NECK_SCALE_FACTORS.iter().enumerate() {
        let c = format!("{prefix}.{i}");
        let out_dim = if *scale == 4.0 {
            p.conv_transpose2d(&format!("{c}.dconv_2x2_0"), dim, dim / 2, 2);
            p.conv_transpose2d(&format!("{c}.dconv_2x2_1"), dim / 2, dim / 4, 2);
            dim / 4
        } else if *scale == 2.0 {
            p.conv_transpose2d(&format!("{c}.dconv_2x2"), dim, dim / 2, 2);
            dim / 2
        } else {
            dim
        };
        p.conv2d(&format!("{c}.conv_1x1"), out_dim, cfg.d_model, 1, true);
        p.conv2d(&format!("{c}.conv_3x3"), cfg.d_model, cfg.d_model, 3, true);
    }
}

/// sam3's `TransformerEncoderLayer` (self-attention, cross-attention to image or prompt, FFN, 3 norms).
fn encoder_layer_params(p: &mut ParamList, prefix: &str, cfg: &ImageConfig) {
    let d = cfg.d_model;
    p.multihead_attention(
        &format!("{prefix}.self_attn"),
        d,
        ModuleKind::MultiheadAttentionWrapper,
    );
    p.multihead_attention(
        &format!("{prefix}.cross_attn_image"),
        d,
        ModuleKind::MultiheadAttentionWrapper,
    );
    p.linear(&format!("{prefix}.linear1"), d, cfg.ffn_dim);
    p.linear(&format!("{prefix}.linear2"), cfg.ffn_dim, d);
    p.layer_norm(&format!("{prefix}.norm1"), d);
    p.layer_norm(&format!("{prefix}.norm2"), d);
    p.layer_norm(&format!("{prefix}.norm3"), d);
}

fn geometry_encoder_params(p: &mut ParamList, cfg: &ImageConfig) {
    let g = "geometry_encoder";
    let d = cfg.d_model;
    p.embedding(&format!("{g}.label_embed"), 2, d);
    p.embedding(&format!("{g}.cls_embed"), 1, d);
    p.linear(&format!("{g}.points_direct_project"), 2, d);
    p.linear(&format!("{g}.points_pool_project"), d, d);
    p.linear(&format!("{g}.points_pos_enc_project"), d, d);
    p.linear(&format!("{g}.boxes_direct_project"), 4, d);
    p.conv2d(&format!("{g}.boxes_pool_project"), d, d, ROI_SIZE, true);
    p.linear(&format!("{g}.boxes_pos_enc_project"), d + 2, d);
    p.linear(&format!("{g}.final_proj"), d, d);
    p.layer_norm(&format!("{g}.norm"), d);
    p.layer_norm(&format!("{g}.img_pre_norm"), d);
    for i in 0..cfg.geo_layers {
        encoder_layer_params(p, &format!("{g}.encode.{i}"), cfg);
    }
    p.layer_norm(&format!("{g}.encode_norm"), d);
}

fn transformer_params(p: &mut ParamList, cfg: &ImageConfig) {
    let d = cfg.d_model;
    for i in 0..cfg.enc_layers {
        encoder_layer_params(p, &format!("transformer.encoder.layers.{i}"), cfg);
    }
    let dec = "transformer.decoder";
    for i in 0..cfg.dec_layers {
        let l = format!("{dec}.layers.{i}");
        p.multihead_attention(
            &format!("{l}.cross_attn"),
            d,
            ModuleKind::MultiheadAttentionWrapper,
        );
        p.layer_norm(&format!("{l}.norm1"), d);
        p.multihead_attention(&format!("{l}.ca_text"), d, ModuleKind::MultiheadAttention);
        p.layer_norm(&format!("{l}.catext_norm"), d);
        p.multihead_attention(&format!("{l}.self_attn"), d, ModuleKind::MultiheadAttention);
        p.layer_norm(&format!("{l}.norm2"), d);
        p.linear(&format!("{l}.linear1"), d, cfg.ffn_dim);
        p.linear(&format!("{l}.linear2"), cfg.ffn_dim, d);
        p.layer_norm(&format!("{l}.norm3"), d);
    }
    p.layer_norm(&format!("{dec}.norm"), d);
    p.mlp(&format!("{dec}.bbox_embed"), d, d, 4, 3);
    p.embedding(&format!("{dec}.query_embed"), cfg.num_queries, d);
    p.embedding(&format!("{dec}.reference_points"), cfg.num_queries, 4);
    p.mlp(&format!("{dec}.boxRPB_embed_x"), 2, d, cfg.heads, 2);
    p.mlp(&format!("{dec}.boxRPB_embed_y"), 2, d, cfg.heads, 2);
    p.embedding(&format!("{dec}.presence_token"), 1, d);
    p.mlp(&format!("{dec}.presence_token_head"), d, d, 1, 3);
    p.layer_norm(&format!("{dec}.presence_token_out_norm"), d);
    p.mlp(&format!("{dec}.ref_point_head"), 2 * d, d, d, 2);
}

fn segmentation_head_params(p: &mut ParamList, cfg: &ImageConfig) {
    let s = "segmentation_head";
    let d = cfg.d_model;
    for i in 0..PIXEL_DECODER_STAGES {
        p.conv2d(&format!("{s}.pixel_decoder.conv_layers.{i}"), d, d, 3, true);
    }
    for i in 0..PIXEL_DECODER_STAGES {
        p.group_norm(&format!("{s}.pixel_decoder.norms.{i}"), d);
    }
    p.mlp(&format!("{s}.mask_predictor.mask_embed"), d, d, d, 3);
    p.multihead_attention(
        &format!("{s}.cross_attend_prompt"),
        d,
        ModuleKind::MultiheadAttentionWrapper,
    );
    p.layer_norm(&format!("{s}.cross_attn_norm"), d);
    p.conv2d(&format!("{s}.semantic_seg_head"), d, 1, 1, true);
    p.conv2d(&format!("{s}.instance_seg_head"), d, d, 1, true);
}

fn dot_prod_scoring_params(p: &mut ParamList, cfg: &ImageConfig) {
    let s = "dot_prod_scoring";
    let d = cfg.d_model;
    p.mlp(&format!("{s}.prompt_mlp"), d, cfg.scoring_mlp_dim, d, 2);
    p.layer_norm(&format!("{s}.prompt_mlp.out_norm"), d);
    p.linear(&format!("{s}.prompt_proj"), d, d);
    p.linear(&format!("{s}.hs_proj"), d, d);
}
