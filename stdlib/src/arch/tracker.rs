//! The tracker (`Sam3TrackerPredictor`, prefix `tracker.` in the video model): memory attention with RoPE,
//! memory encoder, SAM prompt encoder and mask decoder, object pointers. Facts: reference/upstream-sam3.md §5;
//! code: `sam3/model_builder.py::build_tracker`, `sam3/model/sam3_tracker_base.py`, `sam3/model/memory.py`,
//! `sam3/sam/*`.

use super::{DType, ModuleKind, ParamInfo};
use serde::{Deserialize, Serialize};

/// Every size and switch of the tracker. Field names follow the upstream constructor arguments; the values of
/// `full()` are the literals of `build_tracker` (and of the classes' defaults it relies on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackerConfig {
    /// Input image size in pixels (`image_size`); masks at full resolution have this size.
    pub image_size: i64,
    /// Stride of the backbone's lowest-resolution feature map (`backbone_stride`): the SAM heads work on an
    /// `image_size / backbone_stride` grid, low-resolution masks are 4x that.
    pub backbone_stride: i64,
    /// Channels of the image features and of every transformer in the tracker (`hidden_dim`).
    pub d_model: i64,
    /// Channels of the mask memory (`maskmem_backbone.out_proj` output); object pointers are split into
    /// `d_model / mem_dim` memory tokens.
    pub mem_dim: i64,
    /// Memory frames attended to: 1 conditioning slot plus `num_maskmem - 1` previous frames.
    pub num_maskmem: i64,

    /// Layers of the memory attention (`TransformerEncoderCrossAttention` of `TransformerDecoderLayerv2`).
    pub memory_attention_layers: i64,
    /// Heads of the memory attention's RoPE self- and cross-attention.
    pub memory_attention_heads: i64,
    /// Hidden width of the memory attention's feed-forward network.
    pub ffn_dim: i64,
    /// Dropout of the memory attention (attention weights and residual branches); only in training.
    pub dropout: f64,
    /// Base of the 2D axial rotary position encoding.
    pub rope_theta: f64,

    /// `SimpleMaskDownSampler`: each conv divides the mask size by `stride` and multiplies channels by
    /// `stride²`, until `total_stride`; the mask is first resized to `interpol_size`².
    pub mask_downsampler_kernel_size: i64,
    pub mask_downsampler_stride: i64,
    pub mask_downsampler_padding: i64,
    pub mask_downsampler_total_stride: i64,
    pub mask_downsampler_interpol_size: i64,
    /// `SimpleFuser`: ConvNeXt blocks (`CXBlock`) fusing image features and the downsampled mask.
    pub fuser_layers: i64,
    pub fuser_kernel_size: i64,
    pub fuser_padding: i64,
    /// Initial layer-scale of the CXBlocks; 0 means no `gamma` parameter.
    pub fuser_layer_scale_init: f64,

    /// Hidden channels of the SAM prompt encoder's mask downscaling (`mask_in_chans`).
    pub prompt_mask_in_chans: i64,
    /// Masks predicted besides the single-mask output (`num_multimask_outputs`).
    pub num_multimask_outputs: i64,
    /// The SAM mask decoder's `TwoWayTransformer`.
    pub two_way_depth: i64,
    pub two_way_heads: i64,
    pub two_way_mlp_dim: i64,
    /// Token-to-image attentions project to `d_model / attention_downsample_rate` channels.
    pub attention_downsample_rate: i64,
    pub iou_head_depth: i64,
    pub iou_head_hidden_dim: i64,

    /// Conditioning frames attended to at most (-1: all); the temporally closest are chosen.
    pub max_cond_frames_in_attn: i64,
    pub keep_first_cond_frame: bool,
    /// Object pointers from other frames in the memory attention at most.
    pub max_obj_ptrs_in_encoder: i64,
    /// Whether the first click(s) on conditioning frames give 3 masks (and whether tracking does too).
    pub multimask_output_in_sam: bool,
    pub multimask_min_pt_num: i64,
    pub multimask_max_pt_num: i64,
    pub multimask_output_for_tracking: bool,
    /// In eval, a single-mask output falls back to the best multimask output when it is unstable.
    pub dynamic_multimask_via_stability: bool,
    pub dynamic_multimask_stability_delta: f64,
    pub dynamic_multimask_stability_thresh: f64,
    /// Every r-th previous frame is a memory frame in eval (`memory_temporal_stride_for_eval`).
    pub memory_temporal_stride_for_eval: i64,
    /// In eval, keep only the highest-scoring object per pixel before encoding memories.
    pub non_overlap_masks_for_mem_enc: bool,
    /// SAM2Long-style memory selection (`use_memory_selection` = `apply_temporal_disambiguation`): only frames
    /// whose score exceeds `mf_threshold` become memories.
    pub use_memory_selection: bool,
    pub mf_threshold: f64,
    /// Mask logits become `sigmoid(x) * scale + bias` before the memory encoder.
    pub sigmoid_scale_for_mem_enc: f64,
    pub sigmoid_bias_for_mem_enc: f64,
    /// In training, decide "object present" from the ground-truth mask instead of the predicted score.
    pub teacher_force_obj_scores_for_mem: bool,
}

/// Hidden layers of the object-pointer projection (`obj_ptr_proj = MLP(d, d, d, 3)`).
pub const OBJ_PTR_PROJ_LAYERS: i64 = 3;
/// Layers of the hypernetwork MLPs and of the object-score MLP of the mask decoder.
pub const MASK_DECODER_MLP_LAYERS: i64 = 3;
/// Point embeddings of the prompt encoder: negative, positive, box top-left, box bottom-right.
pub const NUM_POINT_EMBEDDINGS: i64 = 4;
/// Kernel and stride of `mask_downsample`, which turns an input mask into a low-resolution mask prompt.
pub const MASK_DOWNSAMPLE_STRIDE: i64 = 4;
/// Expansion of the CXBlock's pointwise MLP.
pub const CXBLOCK_MLP_RATIO: i64 = 4;

impl TrackerConfig {
    /// `build_tracker(apply_temporal_disambiguation=True)` as used by `build_sam3_video_model`: 11,743,362
    /// parameters.
    pub fn full() -> Self {
        TrackerConfig {
            image_size: 1008,
            backbone_stride: 14,
            d_model: 256,
            mem_dim: 64,
            num_maskmem: 7,
            memory_attention_layers: 4,
            memory_attention_heads: 1,
            ffn_dim: 2048,
            dropout: 0.1,
            rope_theta: 10000.0,
            mask_downsampler_kernel_size: 3,
            mask_downsampler_stride: 2,
            mask_downsampler_padding: 1,
            mask_downsampler_total_stride: 16,
            mask_downsampler_interpol_size: 1152,
            fuser_layers: 2,
            fuser_kernel_size: 7,
            fuser_padding: 3,
            fuser_layer_scale_init: 1e-6,
            prompt_mask_in_chans: 16,
            num_multimask_outputs: 3,
            two_way_depth: 2,
            two_way_heads: 8,
            two_way_mlp_dim: 2048,
            attention_downsample_rate: 2,
            iou_head_depth: 3,
            iou_head_hidden_dim: 256,
            max_cond_frames_in_attn: 4,
            keep_first_cond_frame: false,
            max_obj_ptrs_in_encoder: 16,
            multimask_output_in_sam: true,
            multimask_min_pt_num: 0,
            multimask_max_pt_num: 1,
            multimask_output_for_tracking: true,
            dynamic_multimask_via_stability: true,
            dynamic_multimask_stability_delta: 0.05,
            dynamic_multimask_stability_thresh: 0.98,
            memory_temporal_stride_for_eval: 1,
            non_overlap_masks_for_mem_enc: false,
            use_memory_selection: true,
            mf_threshold: 0.01,
            sigmoid_scale_for_mem_enc: 20.0,
            sigmoid_bias_for_mem_enc: -10.0,
            teacher_force_obj_scores_for_mem: false,
        }
    }

    /// The structure of `full()` at the sizes of `ImageConfig::tiny()` (224 px, d_model 64): a 16x16 feature
    /// grid, so the whole tracker runs on a CPU in milliseconds.
    pub fn tiny() -> Self {
        TrackerConfig {
            image_size: 224,
            d_model: 64,
            mem_dim: 16,
            memory_attention_layers: 2,
            ffn_dim: 128,
            mask_downsampler_interpol_size: 256,
            two_way_heads: 4,
            two_way_mlp_dim: 128,
            iou_head_hidden_dim: 64,
            ..TrackerConfig::full()
        }
    }

    /// Side of the feature grid the SAM heads and the memory work on (`sam_image_embedding_size`).
    pub fn feat_size(&self) -> i64 {
        self.image_size / self.backbone_stride
    }

    /// Side of the low-resolution mask logits (`low_res_mask_size`, 4x the feature grid).
    pub fn low_res_mask_size(&self) -> i64 {
        self.feat_size() * 4
    }

    /// Side of the mask prompt the SAM prompt encoder takes (`mask_input_size`, 4x the low-res size).
    pub fn mask_input_size(&self) -> i64 {
        self.feat_size() * 16
    }

    /// Mask tokens of the SAM mask decoder: the single-mask token plus the multimask ones.
    pub fn num_mask_tokens(&self) -> i64 {
        self.num_multimask_outputs + 1
    }

    /// Convolutions of the mask downsampler (`log(total_stride) / log(stride)`).
    pub fn mask_downsampler_layers(&self) -> i64 {
        let mut layers = 0;
        let mut stride = 1;
        while stride < self.mask_downsampler_total_stride {
            stride *= self.mask_downsampler_stride;
            layers += 1;
        }
        layers
    }

    /// Object pointers are split into this many memory tokens of `mem_dim` channels.
    pub fn obj_ptr_tokens(&self) -> i64 {
        self.d_model / self.mem_dim
    }

    /// Checks the constraints the upstream classes assume; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("image_size", self.image_size),
            ("backbone_stride", self.backbone_stride),
            ("d_model", self.d_model),
            ("mem_dim", self.mem_dim),
            ("memory_attention_layers", self.memory_attention_layers),
            ("memory_attention_heads", self.memory_attention_heads),
            ("ffn_dim", self.ffn_dim),
            (
                "mask_downsampler_kernel_size",
                self.mask_downsampler_kernel_size,
            ),
            (
                "mask_downsampler_total_stride",
                self.mask_downsampler_total_stride,
            ),
            (
                "mask_downsampler_interpol_size",
                self.mask_downsampler_interpol_size,
            ),
            ("fuser_kernel_size", self.fuser_kernel_size),
            ("prompt_mask_in_chans", self.prompt_mask_in_chans),
            ("num_multimask_outputs", self.num_multimask_outputs),
            ("two_way_depth", self.two_way_depth),
            ("two_way_heads", self.two_way_heads),
            ("two_way_mlp_dim", self.two_way_mlp_dim),
            ("attention_downsample_rate", self.attention_downsample_rate),
            ("iou_head_depth", self.iou_head_depth),
            ("iou_head_hidden_dim", self.iou_head_hidden_dim),
            ("max_obj_ptrs_in_encoder", self.max_obj_ptrs_in_encoder),
            (
                "memory_temporal_stride_for_eval",
                self.memory_temporal_stride_for_eval,
            ),
        ];
        for (name, v) in positive {
            if v <= 0 {
                return Err(format!("`{name}` must be positive, got {v}"));
            }
        }
        for (name, v) in [
            ("num_maskmem", self.num_maskmem),
            ("fuser_layers", self.fuser_layers),
            ("mask_downsampler_padding", self.mask_downsampler_padding),
            ("fuser_padding", self.fuser_padding),
        ] {
            if v < 0 {
                return Err(format!("`{name}` must not be negative, got {v}"));
            }
        }
        if self.image_size % self.backbone_stride != 0 {
            return Err(format!(
                "`image_size` ({}) must be a multiple of `backbone_stride` ({})",
                self.image_size, self.backbone_stride
            ));
        }
        if self.d_model % 8 != 0 {
            return Err(format!(
                "`d_model` ({}) must be a multiple of 8 (the mask decoder upscales to d_model/8 channels)",
                self.d_model
            ));
        }
        if self.mem_dim > self.d_model || self.d_model % self.mem_dim != 0 {
            return Err(format!(
                "`mem_dim` ({}) must divide `d_model` ({}): object pointers are split into mem_dim tokens",
                self.mem_dim, self.d_model
            ));
        }
        if self.d_model % self.memory_attention_heads != 0
            || (self.d_model / self.memory_attention_heads) % 4 != 0
        {
            return Err(format!(
                "`d_model / memory_attention_heads` ({} / {}) must be a whole multiple of 4 (2D axial RoPE)",
                self.d_model, self.memory_attention_heads
            ));
        }
        let internal = self.d_model / self.attention_downsample_rate;
        if self.d_model % self.attention_downsample_rate != 0 || internal % self.two_way_heads != 0
        {
            return Err(format!(
                "`d_model / attention_downsample_rate` ({} / {}) must be a multiple of `two_way_heads` ({})",
                self.d_model, self.attention_downsample_rate, self.two_way_heads
            ));
        }
        if self.d_model % self.two_way_heads != 0 {
            return Err(format!(
                "`d_model` ({}) must be a multiple of `two_way_heads` ({})",
                self.d_model, self.two_way_heads
            ));
        }
        if self.mask_downsampler_stride < 2 {
            return Err(format!(
                "`mask_downsampler_stride` must be at least 2, got {}",
                self.mask_downsampler_stride
            ));
        }
        let layers = self.mask_downsampler_layers();
        if self.mask_downsampler_stride.checked_pow(layers as u32)
            != Some(self.mask_downsampler_total_stride)
        {
            return Err(format!(
                "`mask_downsampler_total_stride` ({}) must be a power of `mask_downsampler_stride` ({})",
                self.mask_downsampler_total_stride, self.mask_downsampler_stride
            ));
        }
        if self.mask_downsampler_interpol_size
            != self.feat_size() * self.mask_downsampler_total_stride
        {
            return Err(format!(
                "`mask_downsampler_interpol_size` ({}) must be the feature grid ({}) times \
                 `mask_downsampler_total_stride` ({}), so that memories match the image features",
                self.mask_downsampler_interpol_size,
                self.feat_size(),
                self.mask_downsampler_total_stride
            ));
        }
        if self.prompt_mask_in_chans % 4 != 0 {
            return Err(format!(
                "`prompt_mask_in_chans` ({}) must be a multiple of 4",
                self.prompt_mask_in_chans
            ));
        }
        if self.max_cond_frames_in_attn != -1 && self.max_cond_frames_in_attn < 2 {
            return Err(format!(
                "`max_cond_frames_in_attn` must be -1 (no limit) or at least 2, got {}",
                self.max_cond_frames_in_attn
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("`dropout` must be in [0, 1), got {}", self.dropout));
        }
        if self.fuser_layer_scale_init < 0.0 {
            return Err(format!(
                "`fuser_layer_scale_init` must not be negative, got {}",
                self.fuser_layer_scale_init
            ));
        }
        Ok(())
    }
}

/// Every state-dict entry of the tracker for `cfg` (names without the `tracker.` prefix), in upstream order
/// (`Sam3TrackerPredictor.state_dict()`). For `TrackerConfig::full()` this is the released tracker.
pub fn tracker_params(cfg: &TrackerConfig) -> Vec<ParamInfo> {
    let d = cfg.d_model;
    let mut p = Params::default();
    // The tracker's own parameters come first (registered before its submodules).
    p.other("maskmem_tpos_enc", &[cfg.num_maskmem, 1, 1, cfg.mem_dim]);
    p.other("no_mem_embed", &[1, 1, d]);
    p.other("no_mem_pos_enc", &[1, 1, d]);
    p.other("no_obj_ptr", &[1, d]);
    p.other("no_obj_embed_spatial", &[1, cfg.mem_dim]);
    p.conv("mask_downsample", 1, 1, MASK_DOWNSAMPLE_STRIDE);

    for i in 0..cfg.memory_attention_layers {
        let l = format!("transformer.encoder.layers.{i}");
        p.attention(&format!("{l}.self_attn"), d, d, d);
        p.attention(&format!("{l}.cross_attn_image"), d, cfg.mem_dim, d);
        p.linear(&format!("{l}.linear1"), d, cfg.ffn_dim);
        p.linear(&format!("{l}.linear2"), cfg.ffn_dim, d);
        for n in ["norm1", "norm2", "norm3"] {
            p.layer_norm(&format!("{l}.{n}"), d);
        }
    }
    p.layer_norm("transformer.encoder.norm", d);

    let mb = "maskmem_backbone";
    let mut chans = 1;
    let mut idx = 0;
    for _ in 0..cfg.mask_downsampler_layers() {
        let out = chans * cfg.mask_downsampler_stride * cfg.mask_downsampler_stride;
        let k = cfg.mask_downsampler_kernel_size;
        p.conv(
            &format!("{mb}.mask_downsampler.encoder.{idx}"),
            chans,
            out,
            k,
        );
        p.layer_norm_2d(
            &format!("{mb}.mask_downsampler.encoder.{}", idx + 1),
            out,
            ModuleKind::LayerNorm2d,
        );
        idx += 3; // conv, LayerNorm2d, GELU
        chans = out;
    }
    p.conv(&format!("{mb}.mask_downsampler.encoder.{idx}"), chans, d, 1);
    p.conv(&format!("{mb}.pix_feat_proj"), d, d, 1);
    for i in 0..cfg.fuser_layers {
        let l = format!("{mb}.fuser.layers.{i}");
        if cfg.fuser_layer_scale_init > 0.0 {
            p.other(&format!("{l}.gamma"), &[d]);
        }
        p.depthwise_conv(&format!("{l}.dwconv"), d, cfg.fuser_kernel_size);
        p.layer_norm_2d(&format!("{l}.norm"), d, ModuleKind::LayerNorm2d);
        p.linear(&format!("{l}.pwconv1"), d, CXBLOCK_MLP_RATIO * d);
        p.linear(&format!("{l}.pwconv2"), CXBLOCK_MLP_RATIO * d, d);
    }
    if cfg.mem_dim != d {
        p.conv(&format!("{mb}.out_proj"), d, cfg.mem_dim, 1);
    }

    let pe = "sam_prompt_encoder";
    p.buffer(
        &format!("{pe}.pe_layer.positional_encoding_gaussian_matrix"),
        &[2, d / 2],
    );
    for i in 0..NUM_POINT_EMBEDDINGS {
        p.embedding(&format!("{pe}.point_embeddings.{i}"), 1, d);
    }
    p.embedding(&format!("{pe}.not_a_point_embed"), 1, d);
    let c = cfg.prompt_mask_in_chans;
    p.conv(&format!("{pe}.mask_downscaling.0"), 1, c / 4, 2);
    p.layer_norm_2d(
        &format!("{pe}.mask_downscaling.1"),
        c / 4,
        ModuleKind::SamLayerNorm2d,
    );
    p.conv(&format!("{pe}.mask_downscaling.3"), c / 4, c, 2);
    p.layer_norm_2d(
        &format!("{pe}.mask_downscaling.4"),
        c,
        ModuleKind::SamLayerNorm2d,
    );
    p.conv(&format!("{pe}.mask_downscaling.6"), c, d, 1);
    p.embedding(&format!("{pe}.no_mask_embed"), 1, d);

    let md = "sam_mask_decoder";
    let internal = d / cfg.attention_downsample_rate;
    for i in 0..cfg.two_way_depth {
        let l = format!("{md}.transformer.layers.{i}");
        p.attention(&format!("{l}.self_attn"), d, d, d);
        p.layer_norm(&format!("{l}.norm1"), d);
        p.attention(&format!("{l}.cross_attn_token_to_image"), d, d, internal);
        p.layer_norm(&format!("{l}.norm2"), d);
        p.linear(&format!("{l}.mlp.lin1"), d, cfg.two_way_mlp_dim);
        p.linear(&format!("{l}.mlp.lin2"), cfg.two_way_mlp_dim, d);
        p.layer_norm(&format!("{l}.norm3"), d);
        p.layer_norm(&format!("{l}.norm4"), d);
        p.attention(&format!("{l}.cross_attn_image_to_token"), d, d, internal);
    }
    p.attention(
        &format!("{md}.transformer.final_attn_token_to_image"),
        d,
        d,
        internal,
    );
    p.layer_norm(&format!("{md}.transformer.norm_final_attn"), d);
    p.embedding(&format!("{md}.iou_token"), 1, d);
    p.embedding(&format!("{md}.mask_tokens"), cfg.num_mask_tokens(), d);
    p.embedding(&format!("{md}.obj_score_token"), 1, d);
    p.conv_transpose(&format!("{md}.output_upscaling.0"), d, d / 4, 2);
    p.layer_norm_2d(
        &format!("{md}.output_upscaling.1"),
        d / 4,
        ModuleKind::SamLayerNorm2d,
    );
    p.conv_transpose(&format!("{md}.output_upscaling.3"), d / 4, d / 8, 2);
    p.conv(&format!("{md}.conv_s0"), d, d / 8, 1);
    p.conv(&format!("{md}.conv_s1"), d, d / 4, 1);
    for i in 0..cfg.num_mask_tokens() {
        let name = format!("{md}.output_hypernetworks_mlps.{i}");
        p.mlp(&name, d, d, d / 8, MASK_DECODER_MLP_LAYERS);
    }
    p.mlp(
        &format!("{md}.iou_prediction_head"),
        d,
        cfg.iou_head_hidden_dim,
        cfg.num_mask_tokens(),
        cfg.iou_head_depth,
    );
    p.mlp(
        &format!("{md}.pred_obj_score_head"),
        d,
        d,
        1,
        MASK_DECODER_MLP_LAYERS,
    );

    p.mlp("obj_ptr_proj", d, d, d, OBJ_PTR_PROJ_LAYERS);
    p.linear("obj_ptr_tpos_proj", d, cfg.mem_dim);
    p.0
}

/// Appends entries; each helper mirrors one torch module class (weight shapes as torch stores them).
#[derive(Default)]
struct Params(Vec<ParamInfo>);

impl Params {
    fn push(&mut self, name: String, shape: &[i64], module: ModuleKind, trainable: bool) {
        self.0.push(ParamInfo {
            name,
            shape: shape.to_vec(),
            dtype: DType::Float32,
            trainable,
            module,
        });
    }

    fn other(&mut self, name: &str, shape: &[i64]) {
        self.push(name.to_string(), shape, ModuleKind::Other, true);
    }

    /// A persistent, non-trainable buffer.
    fn buffer(&mut self, name: &str, shape: &[i64]) {
        self.push(name.to_string(), shape, ModuleKind::Other, false);
    }

    fn linear(&mut self, name: &str, input: i64, output: i64) {
        self.push(
            format!("{name}.weight"),
            &[output, input],
            ModuleKind::Linear,
            true,
        );
        self.push(format!("{name}.bias"), &[output], ModuleKind::Linear, true);
    }

    fn conv(&mut self, name: &str, input: i64, output: i64, kernel: i64) {
        let shape = [output, input, kernel, kernel];
        self.push(format!("{name}.weight"), &shape, ModuleKind::Conv2d, true);
        self.push(format!("{name}.bias"), &[output], ModuleKind::Conv2d, true);
    }

    fn depthwise_conv(&mut self, name: &str, channels: i64, kernel: i64) {
        let shape = [channels, 1, kernel, kernel];
        self.push(format!("{name}.weight"), &shape, ModuleKind::Conv2d, true);
        self.push(
            format!("{name}.bias"),
            &[channels],
            ModuleKind::Conv2d,
            true,
        );
    }

    fn conv_transpose(&mut self, name: &str, input: i64, output: i64, kernel: i64) {
        let shape = [input, output, kernel, kernel];
        self.push(
            format!("{name}.weight"),
            &shape,
            ModuleKind::ConvTranspose2d,
            true,
        );
        self.push(
            format!("{name}.bias"),
            &[output],
            ModuleKind::ConvTranspose2d,
            true,
        );
    }

    fn layer_norm(&mut self, name: &str, dim: i64) {
        self.push(
            format!("{name}.weight"),
            &[dim],
            ModuleKind::LayerNorm,
            true,
        );
        self.push(format!("{name}.bias"), &[dim], ModuleKind::LayerNorm, true);
    }

    /// A `LayerNorm2d` (not `torch.nn.LayerNorm`: upstream rules naming that class do not match it); the
    /// memory encoder and the SAM heads use two classes of that name.
    fn layer_norm_2d(&mut self, name: &str, dim: i64, kind: ModuleKind) {
        self.push(format!("{name}.weight"), &[dim], kind, true);
        self.push(format!("{name}.bias"), &[dim], kind, true);
    }

    fn embedding(&mut self, name: &str, count: i64, dim: i64) {
        self.push(
            format!("{name}.weight"),
            &[count, dim],
            ModuleKind::Embedding,
            true,
        );
    }

    /// SAM's `Attention`: q from `dim`, k and v from `kv_dim`, all projected to `internal`, back to `dim`.
    fn attention(&mut self, name: &str, dim: i64, kv_dim: i64, internal: i64) {
        self.linear(&format!("{name}.q_proj"), dim, internal);
        self.linear(&format!("{name}.k_proj"), kv_dim, internal);
        self.linear(&format!("{name}.v_proj"), kv_dim, internal);
        self.linear(&format!("{name}.out_proj"), internal, dim);
    }

    /// SAM's `MLP(input, hidden, output, num_layers)` (`layers.{i}`).
    fn mlp(&mut self, name: &str, input: i64, hidden: i64, output: i64, num_layers: i64) {
        for i in 0..num_layers {
            let fan_in = if i == 0 { input } else { hidden };
            let fan_out = if i == num_layers - 1 { output } else { hidden };
            self.linear(&format!("{name}.layers.{i}"), fan_in, fan_out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_tiny_configs_are_valid() {
        TrackerConfig::full().validate().unwrap();
        TrackerConfig::tiny().validate().unwrap();
    }

    #[test]
    fn invalid_sizes_name_the_field() {
        let mut c = TrackerConfig::tiny();
        c.mem_dim = 48;
        assert!(c.validate().unwrap_err().contains("mem_dim"));
        let mut c = TrackerConfig::tiny();
        c.mask_downsampler_interpol_size = 200;
        assert!(c.validate().unwrap_err().contains("interpol_size"));
        let mut c = TrackerConfig::tiny();
        c.memory_attention_heads = 3;
        assert!(c.validate().unwrap_err().contains("memory_attention_heads"));
        let mut c = TrackerConfig::tiny();
        c.mask_downsampler_total_stride = 12;
        assert!(c.validate().unwrap_err().contains("total_stride"));
    }

    #[test]
    fn mem_dim_equal_to_d_model_drops_out_proj_and_zero_layer_scale_drops_gamma() {
        let mut c = TrackerConfig::tiny();
        c.mem_dim = c.d_model;
        c.fuser_layer_scale_init = 0.0;
        let names: Vec<String> = tracker_params(&c).into_iter().map(|p| p.name).collect();
        assert!(!names
            .iter()
            .any(|n| n.starts_with("maskmem_backbone.out_proj")));
        assert!(!names.iter().any(|n| n.ends_with(".gamma")));
        assert!(names
            .iter()
            .any(|n| n == "maskmem_backbone.pix_feat_proj.weight"));
    }
}
