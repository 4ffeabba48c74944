//! Models: SAM 3's image model (detector) and video model (detector + tracker).

use sam3c_derive::{Component, DslEnum, DslUnion};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A size preset of SAM 3: `full` is the released model; `tiny` keeps the structure with small dimensions (it
/// trains on a CPU in seconds, for smoke tests and the quickstart; no released weights fit it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, DslEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelSize {
    Full,
    Tiny,
}

impl ModelSize {
    pub fn config(self) -> crate::arch::Sam3Config {
        match self {
            ModelSize::Full => crate::arch::Sam3Config::full(),
            ModelSize::Tiny => crate::arch::Sam3Config::tiny(),
        }
    }
}

/// SAM 3's image model: it detects and segments every instance of a text (or box) prompt. Parameter names start
/// with `backbone.`, `transformer.`, `segmentation_head.`, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "model",
    name = "sam3_image",
    domain = "image",
    upstream = "sam3.model_builder.build_sam3_image_model"
)]
pub struct Sam3Image {
    /// The size preset.
    #[param(default = "full")]
    pub size: ModelSize,
    /// Predict masks (the segmentation head); needed by mask losses and segm meters.
    #[param(default = "true", upstream = "enable_segmentation")]
    pub segmentation: bool,
    /// Pretrained weights to start from: Meta's `sam3.pt`, a checkpoint of Meta's trainer, or a sam3c
    /// safetensors checkpoint. Without weights the model starts from random initialization.
    #[param(default = "none", upstream = "checkpoint_path")]
    pub weights: Option<PathBuf>,
    /// Without `weights`, start from Meta's released checkpoint, downloaded from Hugging Face (`facebook/sam3`, a
    /// gated repository: request access, then `hf auth login`). Meta's trainer does this unless told otherwise.
    #[param(default = "false", upstream = "load_from_HF")]
    pub from_hub: bool,
}

/// SAM 3's video model: the image model as detector (parameter names `detector.*`) plus the tracker
/// (`tracker.*`: memory attention, memory encoder, SAM mask decoder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "model",
    name = "sam3_video",
    domain = "video",
    upstream = "sam3.model_builder.build_sam3_video_model"
)]
pub struct Sam3Video {
    /// The size preset.
    #[param(default = "full")]
    pub size: ModelSize,
    /// Pretrained weights (Meta's `sam3.pt` has both detector and tracker).
    #[param(default = "none", upstream = "checkpoint_path")]
    pub weights: Option<PathBuf>,
    /// Without `weights`, start from Meta's released checkpoint, downloaded from Hugging Face (`facebook/sam3`).
    #[param(default = "false", upstream = "load_from_HF")]
    pub from_hub: bool,
    /// Use memory selection to disambiguate objects over time.
    #[param(default = "true", upstream = "apply_temporal_disambiguation")]
    pub temporal_disambiguation: bool,
}

/// Any model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum ModelSpec {
    Sam3Image(Sam3Image),
    Sam3Video(Sam3Video),
}
