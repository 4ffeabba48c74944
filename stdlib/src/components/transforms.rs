//! Transforms: the steps of a pipeline, applied in order to each datapoint (an image or a clip with its objects
//! and queries). Geometric steps move boxes, masks and prompts with the pixels. For clips, `consistent = true`
//! draws one random choice for all frames.
//!
//! Upstream's `ToTensorAPI` has no counterpart here: the runtime keeps images as tensors, and the upstream
//! backend inserts it where Meta's trainer needs it.

use crate::units::Pixels;
use sam3c_derive::{Component, DslEnum, DslUnion};
use serde::{Deserialize, Serialize};

/// Drop crowd annotations (`iscrowd = 1`) from the targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "filter_crowds",
    domain = "any",
    upstream = "sam3.train.transforms.filter_query_transforms.FilterCrowds"
)]
pub struct FilterCrowds {}

/// Drop objects whose box became empty (area below 1e-6), e.g. pushed out of the image by a crop or resize.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "filter_empty",
    domain = "any",
    upstream = "sam3.train.transforms.filter_query_transforms.FilterEmptyTargets"
)]
pub struct FilterEmpty {}

/// Drop queries that have more than `n` target objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "max_objects",
    domain = "any",
    upstream = "sam3.train.transforms.filter_query_transforms.FilterFindQueriesWithTooManyOut"
)]
pub struct MaxObjects {
    /// The largest number of objects a query may have.
    #[param(positional, range = "1..", upstream = "max_num_objects")]
    pub n: u32,
}

/// Add Gaussian noise to box *prompts* (not to targets): std relative to the box size, clamped to `max`.
/// No effect on text-only queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "box_noise",
    domain = "any",
    upstream = "sam3.train.transforms.point_sampling.RandomizeInputBbox"
)]
pub struct BoxNoise {
    /// Standard deviation of the noise, as a fraction of the box width and height.
    #[param(default = "0.0", range = "0..", upstream = "box_noise_std")]
    pub std: f64,
    /// Largest displacement of a box side.
    #[param(default = "none", upstream = "box_noise_max")]
    pub max: Option<Pixels>,
    /// Boxes smaller than this area (in pixels squared) are left alone.
    #[param(default = "0.0", range = "0..", upstream = "minimum_box_area")]
    pub min_area: f64,
}

/// Decode RLE and polygon annotations into masks. Must come before any geometric transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "decode_masks",
    domain = "any",
    upstream = "sam3.train.transforms.segmentation.DecodeRle"
)]
pub struct DecodeMasks {}

/// Candidate sizes of a random resize.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum ResizeSizes {
    /// Always this size.
    One(Pixels),
    /// One of these sizes, uniformly.
    List(Vec<Pixels>),
    /// Multiples of 32 from `min` (rounded up) up to `size` (`size` itself only if a multiple of 32): upstream's
    /// `get_random_resize_scales`. With `rounded`, multiples of 128.
    Scales(Scales),
}

/// `scales(1008px, min = 480px)`: the multi-scale training sizes of SAM 3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "value",
    name = "scales",
    domain = "any",
    upstream = "sam3.train.transforms.basic.get_random_resize_scales"
)]
pub struct Scales {
    /// The largest size.
    #[param(positional)]
    pub size: Pixels,
    /// The smallest size.
    #[param(upstream = "min_size")]
    pub min: Pixels,
    /// Step by 128 instead of 32.
    #[param(default = "false")]
    pub rounded: bool,
}

/// Resize to a size drawn from `sizes`: exactly `s`×`s` when `square`, otherwise the shorter side becomes `s`
/// and the longer side is capped by `max_size`. Boxes, masks and prompts follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "random_resize",
    domain = "any",
    upstream = "sam3.train.transforms.basic_for_api.RandomResizeAPI"
)]
pub struct RandomResize {
    /// Candidate sizes: a size, a list of sizes, or `scales(...)`.
    #[param(positional)]
    pub sizes: ResizeSizes,
    /// Cap on the longer side when not square (upstream default: 5/3 of the largest size).
    #[param(default = "none")]
    pub max_size: Option<Pixels>,
    /// Resize to a square, ignoring the aspect ratio (SAM 3 trains and evaluates this way).
    #[param(default = "false")]
    pub square: bool,
    /// For clips: one draw for all frames.
    #[param(default = "false", upstream = "consistent_transform")]
    pub consistent: bool,
}

/// Resize to one fixed size (the evaluation counterpart of `random_resize`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "resize",
    domain = "any",
    upstream = "sam3.train.transforms.basic_for_api.RandomResizeAPI"
)]
pub struct Resize {
    /// The size.
    #[param(positional)]
    pub size: Pixels,
    /// Cap on the longer side when not square.
    #[param(default = "none")]
    pub max_size: Option<Pixels>,
    /// Resize to a square, ignoring the aspect ratio.
    #[param(default = "false")]
    pub square: bool,
}

/// Pad to `size`×`size`, at a random offset (or at the bottom right). The image must not be larger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "pad",
    domain = "any",
    upstream = "sam3.train.transforms.basic_for_api.PadToSizeAPI"
)]
pub struct Pad {
    /// The padded size.
    #[param(positional)]
    pub size: Pixels,
    /// Pad only at the bottom and right instead of at a random offset.
    #[param(default = "false")]
    pub bottom_right: bool,
    /// For clips: one offset for all frames.
    #[param(default = "false", upstream = "consistent_transform")]
    pub consistent: bool,
}

/// Flip horizontally with probability `p`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "hflip",
    domain = "any",
    upstream = "sam3.train.transforms.basic_for_api.RandomHorizontalFlip"
)]
pub struct HorizontalFlip {
    /// Probability of flipping.
    #[param(default = "0.5", range = "0..=1")]
    pub p: f64,
    /// For clips: flip all frames or none.
    #[param(default = "false", upstream = "consistent_transform")]
    pub consistent: bool,
}

/// Random brightness, contrast, saturation and hue changes (torchvision's ColorJitter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "color_jitter",
    domain = "any",
    upstream = "sam3.train.transforms.basic_for_api.ColorJitter"
)]
pub struct ColorJitter {
    /// Brightness factor drawn from [1 - b, 1 + b].
    #[param(default = "0.0", range = "0..")]
    pub brightness: f64,
    /// Contrast factor drawn from [1 - c, 1 + c].
    #[param(default = "0.0", range = "0..")]
    pub contrast: f64,
    /// Saturation factor drawn from [1 - s, 1 + s].
    #[param(default = "0.0", range = "0..")]
    pub saturation: f64,
    /// Hue shift drawn from [-h, h].
    #[param(default = "0.0", range = "0..=0.5")]
    pub hue: f64,
    /// For clips: one draw for all frames.
    #[param(default = "false", upstream = "consistent_transform")]
    pub consistent: bool,
}

/// Normalize pixel values (`(x - mean) / std` per channel, on 0..1 values). Upstream also converts boxes from
/// absolute XYXY to normalized CxCyWH here, so it must come after every geometric transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "normalize",
    domain = "any",
    upstream = "sam3.train.transforms.basic_for_api.NormalizeAPI"
)]
pub struct Normalize {
    /// Per-channel mean.
    #[param(default = "[0.5, 0.5, 0.5]")]
    pub mean: Vec<f64>,
    /// Per-channel standard deviation.
    #[param(default = "[0.5, 0.5, 0.5]")]
    pub std: Vec<f64>,
}

/// Turn text queries into visual-exemplar queries with probability `probability`: the query gets a random target
/// box of its own as a box prompt. Comes after `normalize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "transform",
    name = "text_to_visual",
    domain = "image",
    upstream = "sam3.train.transforms.filter_query_transforms.TextQueryToVisual"
)]
pub struct TextToVisual {
    /// Probability of converting a query.
    #[param(positional, default = "1.0", range = "0..=1")]
    pub probability: f64,
    /// Keep the query text beside the box (otherwise the text becomes "visual").
    #[param(default = "false", upstream = "keep_text_queries")]
    pub keep_text: bool,
}

/// Where a transform may appear in a pipeline; the checker enforces the order upstream relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, DslEnum)]
pub enum PipelinePhase {
    /// Query filters and prompt noise, before masks are decoded.
    Prepare,
    /// Mask decoding.
    Decode,
    /// Resizing, padding, flips, photometric changes.
    Geometric,
    /// Normalization (changes the box format).
    Normalize,
    /// After normalization: visual-exemplar conversion, final filters.
    Finish,
}

/// Any transform: the elements of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum TransformSpec {
    FilterCrowds(FilterCrowds),
    FilterEmpty(FilterEmpty),
    MaxObjects(MaxObjects),
    BoxNoise(BoxNoise),
    DecodeMasks(DecodeMasks),
    RandomResize(RandomResize),
    Resize(Resize),
    Pad(Pad),
    HorizontalFlip(HorizontalFlip),
    ColorJitter(ColorJitter),
    Normalize(Normalize),
    TextToVisual(TextToVisual),
}
