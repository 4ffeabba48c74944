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
    /// How training clips are prompted (SAM 2's recipe); only a training stage reads it.
    #[param(default = "tracker_prompts()")]
    pub prompts: TrackerPrompts,
}

/// How the tracker is prompted on a training clip, after SAM 2's trainer (`SAM2Train`), with the values of
/// SAM 2.1's fine-tuning recipe as defaults. Per clip, frame 0 and up to `cond_frames - 1` random frames are
/// conditioning frames. With probability `clicks` they are prompted with clicks (a noisy box with probability
/// `boxes`, else one click in the object) and up to `corrected_frames` frames get `corrections` correction
/// clicks, one at a time, each in the error region of the latest prediction; otherwise the conditioning
/// frames are given their ground-truth masks. The other frames are tracked from memory.
///
/// To train with the image encoder frozen (SAM 2's `freeze_image_encoder`), freeze its parameters in the
/// optimizer (`freeze = ["detector.backbone.vision_backbone.*"]`): it then also runs without gradients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "value", name = "tracker_prompts", domain = "video")]
pub struct TrackerPrompts {
    /// Probability that a clip's conditioning frames get clicks instead of their ground-truth masks.
    #[param(
        default = "0.5",
        range = "0..=1",
        upstream = "prob_to_use_pt_input_for_train"
    )]
    pub clicks: f64,
    /// With clicks: probability that a conditioning frame gets a noisy box instead of one click.
    #[param(
        default = "0.5",
        range = "0..=1",
        upstream = "prob_to_use_box_input_for_train"
    )]
    pub boxes: f64,
    /// Conditioning frames per clip (frame 0 plus random others).
    #[param(
        default = "2",
        range = "1..",
        upstream = "num_init_cond_frames_for_train"
    )]
    pub cond_frames: u32,
    /// Draw the number of conditioning frames uniformly in `1..=cond_frames` for each clip.
    #[param(default = "true", upstream = "rand_init_cond_frames_for_train")]
    pub random_cond_frames: bool,
    /// With clicks: how many frames get correction clicks (the conditioning frames first); at least
    /// `cond_frames` when `clicks > 0`.
    #[param(
        default = "2",
        range = "1..",
        upstream = "num_frames_to_correct_for_train"
    )]
    pub corrected_frames: u32,
    /// Draw the number of corrected frames uniformly between the number of conditioning frames and
    /// `corrected_frames` for each clip.
    #[param(default = "true", upstream = "rand_frames_to_correct_for_train")]
    pub random_corrected_frames: bool,
    /// Correction clicks per corrected frame, each followed by a new prediction.
    #[param(default = "7", range = "0..", upstream = "num_correction_pt_per_frame")]
    pub corrections: u32,
    /// Probability that a correction click is drawn in the ground-truth mask instead of the error region.
    #[param(
        default = "0.1",
        range = "0..=1",
        upstream = "prob_to_sample_from_gt_for_train"
    )]
    pub gt_clicks: f64,
    /// A frame that gets correction clicks becomes a conditioning frame of the memory.
    #[param(default = "true", upstream = "add_all_frames_to_correct_as_cond")]
    pub corrected_as_cond: bool,
    /// At most this many of the objects visible on a clip's first frame are tracked (a random subset;
    /// SAM 2's `max_num_objects`). `none`: all of them.
    #[param(default = "3", range = "1..", upstream = "max_num_objects")]
    pub objects: Option<u32>,
}

/// Any model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum ModelSpec {
    Sam3Image(Sam3Image),
    Sam3Video(Sam3Video),
}

impl Default for TrackerPrompts {
    /// The catalog's defaults (`tracker_prompts()`): SAM 2.1's recipe (`sam2.1_hiera_b+_MOSE_finetune.yaml`).
    fn default() -> Self {
        TrackerPrompts {
            clicks: 0.5,
            boxes: 0.5,
            cond_frames: 2,
            random_cond_frames: true,
            corrected_frames: 2,
            random_corrected_frames: true,
            corrections: 7,
            gt_clicks: 0.1,
            corrected_as_cond: true,
            objects: Some(3),
        }
    }
}
