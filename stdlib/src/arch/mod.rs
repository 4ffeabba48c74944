//! Architecture descriptions of the SAM 3 models, without tensors.
//!
//! The compiler checks optimizer patterns against these names, `sam3c model inspect` prints them, and the
//! runtime builds its tch modules with exactly these names and shapes (a runtime test asserts the match).
//! Everything here is a pure function of a size configuration, so the full 840 M-parameter model is described
//! without allocating it.

pub mod image;
pub mod tracker;
pub mod video;

use serde::{Deserialize, Serialize};

/// Element type of a state-dict entry, spelled as torch prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    Float32,
    /// Only the ViT RoPE tables (`...attn.freqs_cis`): buffers recomputed at load time, never trained.
    Complex64,
}

impl DType {
    pub fn torch_name(self) -> &'static str {
        match self {
            DType::Float32 => "torch.float32",
            DType::Complex64 => "torch.complex64",
        }
    }
}

/// The kind of the module that directly owns a parameter, for no-decay rules such as "every LayerNorm".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModuleKind {
    Linear,
    Conv2d,
    ConvTranspose2d,
    LayerNorm,
    GroupNorm,
    Embedding,
    /// `torch.nn.MultiheadAttention` itself: owns `in_proj_weight` / `in_proj_bias`.
    MultiheadAttention,
    /// sam3's `MultiheadAttentionWrapper` subclass of it (upstream matches module classes by exact type).
    MultiheadAttentionWrapper,
    /// The `out_proj` of a multi-head attention (`NonDynamicallyQuantizableLinear`, not a plain `Linear` to
    /// upstream's exact-type matching).
    AttentionOutProj,
    /// sam3's `LayerNorm2d` (channels of an NCHW map) in the tracker's memory encoder.
    LayerNorm2d,
    /// SAM's own `LayerNorm2d` class (same math) in the tracker's prompt encoder and mask decoder.
    SamLayerNorm2d,
    /// A bare `nn.Parameter` or buffer on a composite module (pos_embed, query_embed, ...).
    Other,
}

impl ModuleKind {
    /// The Python class upstream's `module_cls_names` would name (exact type).
    pub fn upstream_class(self) -> &'static str {
        match self {
            ModuleKind::Linear => "torch.nn.Linear",
            ModuleKind::Conv2d => "torch.nn.Conv2d",
            ModuleKind::ConvTranspose2d => "torch.nn.ConvTranspose2d",
            ModuleKind::LayerNorm => "torch.nn.LayerNorm",
            ModuleKind::GroupNorm => "torch.nn.GroupNorm",
            ModuleKind::Embedding => "torch.nn.Embedding",
            ModuleKind::MultiheadAttention => "torch.nn.MultiheadAttention",
            ModuleKind::MultiheadAttentionWrapper => {
                "sam3.model.model_misc.MultiheadAttentionWrapper"
            }
            ModuleKind::AttentionOutProj => {
                "torch.nn.modules.linear.NonDynamicallyQuantizableLinear"
            }
            ModuleKind::LayerNorm2d => "sam3.model.model_misc.LayerNorm2d",
            ModuleKind::SamLayerNorm2d => "sam3.sam.common.LayerNorm2d",
            ModuleKind::Other => "(composite module)",
        }
    }
}

/// One entry of a model's state dict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    /// The upstream state-dict name, e.g. `backbone.vision_backbone.trunk.blocks.0.attn.qkv.weight`.
    pub name: String,
    pub shape: Vec<i64>,
    pub dtype: DType,
    /// Persistent buffers (RoPE tables) are in the state dict but are not trainable parameters.
    pub trainable: bool,
    pub module: ModuleKind,
}

impl ParamInfo {
    pub fn numel(&self) -> i64 {
        self.shape.iter().product()
    }
}

/// Size configuration of SAM 3. `Sam3Config::full()` is the released model; `Sam3Config::tiny()` keeps the
/// structure with small dimensions so that it trains on a CPU in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sam3Config {
    pub image: image::ImageConfig,
    pub tracker: tracker::TrackerConfig,
}

impl Sam3Config {
    pub fn full() -> Self {
        Sam3Config {
            image: image::ImageConfig::full(),
            tracker: tracker::TrackerConfig::full(),
        }
    }

    pub fn tiny() -> Self {
        Sam3Config {
            image: image::ImageConfig::tiny(),
            tracker: tracker::TrackerConfig::tiny(),
        }
    }
}

/// The state-dict entries of a model: the image model (`detector` layout not applied), or the video model
/// (`detector.*` + the SAM 2 neck copy + `tracker.*`).
pub fn model_params(cfg: &Sam3Config, video: bool) -> Vec<ParamInfo> {
    let image = image::image_params(&cfg.image);
    if video {
        video::video_params_from_image(&image, &cfg.tracker)
    } else {
        image
    }
}
