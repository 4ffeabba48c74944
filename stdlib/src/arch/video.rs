//! The video model (`build_sam3_video_model`): the image model as `detector.` (with the `sam2_convs` copy of
//! the neck, which feeds the tracker) plus the tracker as `tracker.`. The same modules also form
//! `build_sam3_image_model(enable_inst_interactivity=True)`, under other names; both layouts are described here
//! so that checkpoint key mapping has one source of truth.

use super::tracker::{tracker_params, TrackerConfig};
use super::ParamInfo;

/// Prefix of the image model inside the video model (and inside the official `sam3.pt`).
pub const DETECTOR_PREFIX: &str = "detector.";
/// Prefix of the tracker inside the video model (and inside the official `sam3.pt`).
pub const TRACKER_PREFIX: &str = "tracker.";
/// Prefix of the tracker inside `build_sam3_image_model(enable_inst_interactivity=True)`.
pub const INTERACTIVE_TRACKER_PREFIX: &str = "inst_interactive_predictor.model.";
/// The FPN neck of the image model and its deep copy that feeds the tracker (`add_sam2_neck`).
pub const NECK_PREFIX: &str = "backbone.vision_backbone.convs.";
pub const SAM2_NECK_PREFIX: &str = "backbone.vision_backbone.sam2_convs.";

/// The image model's entries with the `sam2_convs` neck copy, placed right after `convs` as upstream registers
/// it. Entries that already contain the copy (an image description built with the neck flag on) are kept.
pub fn with_sam2_neck(image: &[ParamInfo]) -> Vec<ParamInfo> {
    if image.iter().any(|p| p.name.starts_with(SAM2_NECK_PREFIX)) {
        return image.to_vec();
    }
    let copy: Vec<ParamInfo> = image
        .iter()
        .filter_map(|p| {
            let rest = p.name.strip_prefix(NECK_PREFIX)?;
            Some(ParamInfo {
                name: format!("{SAM2_NECK_PREFIX}{rest}"),
                ..p.clone()
            })
        })
        .collect();
    let after_neck = image
        .iter()
        .rposition(|p| p.name.starts_with(NECK_PREFIX))
        .map_or(image.len(), |i| i + 1);
    let mut out = image[..after_neck].to_vec();
    out.extend(copy);
    out.extend_from_slice(&image[after_neck..]);
    out
}

fn prefixed(prefix: &str, entries: impl IntoIterator<Item = ParamInfo>) -> Vec<ParamInfo> {
    entries
        .into_iter()
        .map(|p| ParamInfo {
            name: format!("{prefix}{}", p.name),
            ..p
        })
        .collect()
}

/// The video model's state dict (`Sam3VideoInferenceWithInstanceInteractivity.state_dict()`, the layout of the
/// official `sam3.pt`) from the image model's entries (`image::image_params`) and the tracker's size: for the
/// released sizes, 1,465 entries and 860,055,224 parameters.
pub fn video_params_from_image(image: &[ParamInfo], tracker: &TrackerConfig) -> Vec<ParamInfo> {
    let mut out = prefixed(DETECTOR_PREFIX, with_sam2_neck(image));
    out.extend(prefixed(TRACKER_PREFIX, tracker_params(tracker)));
    out
}

/// `build_sam3_image_model(enable_inst_interactivity=True).state_dict()`: the same tensors as the video model,
/// the image model at the root and the tracker under `inst_interactive_predictor.model.` (registered last).
pub fn interactive_image_params_from_image(
    image: &[ParamInfo],
    tracker: &TrackerConfig,
) -> Vec<ParamInfo> {
    let mut out = with_sam2_neck(image);
    out.extend(prefixed(
        INTERACTIVE_TRACKER_PREFIX,
        tracker_params(tracker),
    ));
    out
}

/// The video model's state dict for `cfg` (`build_sam3_video_model`, the layout of the official `sam3.pt`).
pub fn video_params(cfg: &super::Sam3Config) -> Vec<ParamInfo> {
    video_params_from_image(&super::image::image_params(&cfg.image), &cfg.tracker)
}

/// `build_sam3_image_model(enable_inst_interactivity=True)`'s state dict for `cfg`.
pub fn interactive_image_params(cfg: &super::Sam3Config) -> Vec<ParamInfo> {
    interactive_image_params_from_image(&super::image::image_params(&cfg.image), &cfg.tracker)
}

/// The tracker works on the detector's `sam2_convs` features: it must agree with the image model on the
/// channel width, the input size and the stride of the lowest-resolution level. The message names the fields.
pub fn check_video_config(cfg: &super::Sam3Config) -> Result<(), String> {
    let (image, tracker) = (&cfg.image, &cfg.tracker);
    let pairs = [
        ("d_model", image.d_model, "d_model", tracker.d_model),
        (
            "resolution",
            image.resolution,
            "image_size",
            tracker.image_size,
        ),
        (
            "patch_size",
            image.patch_size,
            "backbone_stride",
            tracker.backbone_stride,
        ),
    ];
    for (image_field, a, tracker_field, b) in pairs {
        if a != b {
            return Err(format!(
                "the tracker's `{tracker_field}` ({b}) must equal the image model's `{image_field}` ({a})"
            ));
        }
    }
    tracker.validate()
}
