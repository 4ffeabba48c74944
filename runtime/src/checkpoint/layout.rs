//! Key mapping between checkpoint layouts, in one place. The prefixes come from the architecture description
//! (`sam3c_stdlib::arch::video`), which checks them against the upstream state dicts.
//!
//! | layout | keys | written by |
//! |---|---|---|
//! | [`Layout::Video`] | `detector.*`, `tracker.*` | the official `sam3.pt`, `build_sam3_video_model` |
//! | [`Layout::Image`] | `backbone.*`, `transformer.*`, ... | `build_sam3_image_model`, the upstream trainer (`model` entry) |
//! | [`Layout::InteractiveImage`] | image keys + `inst_interactive_predictor.model.*` | `build_sam3_image_model(enable_inst_interactivity=True)` |
//! | [`Layout::Tracker`] | `maskmem_backbone.*`, `sam_mask_decoder.*`, ... | the tracker alone (our `Tracker` VarStore) |

use super::StateDict;
use sam3c_stdlib::arch::video::{DETECTOR_PREFIX, INTERACTIVE_TRACKER_PREFIX, TRACKER_PREFIX};

/// How checkpoint names become model names: prefix rules, the first matching one wins; names no rule matches
/// are dropped (and reported) unless the map keeps them unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    rules: Vec<Rule>,
    keep_unmatched: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Rename { from: String, to: String },
    Drop { prefix: String },
}

/// The layouts SAM 3 checkpoints come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Video,
    Image,
    InteractiveImage,
    Tracker,
}

impl KeyMap {
    /// Every name unchanged.
    pub fn identity() -> Self {
        KeyMap {
            rules: Vec::new(),
            keep_unmatched: true,
        }
    }

    /// No name selected yet: add rules with [`KeyMap::rename`].
    pub fn none() -> Self {
        KeyMap {
            rules: Vec::new(),
            keep_unmatched: false,
        }
    }

    /// Names starting with `from` get `to` instead of `from`.
    pub fn rename(mut self, from: &str, to: &str) -> Self {
        self.rules.push(Rule::Rename {
            from: from.to_string(),
            to: to.to_string(),
        });
        self
    }

    /// Names starting with `prefix` are dropped.
    pub fn drop_prefix(mut self, prefix: &str) -> Self {
        self.rules.push(Rule::Drop {
            prefix: prefix.to_string(),
        });
        self
    }

    /// Names no rule matches are kept unchanged instead of dropped.
    pub fn keep_unmatched(mut self) -> Self {
        self.keep_unmatched = true;
        self
    }

    /// The model name of checkpoint name `name`, or `None` if the map drops it.
    pub fn map(&self, name: &str) -> Option<String> {
        for rule in &self.rules {
            match rule {
                Rule::Rename { from, to } => {
                    if let Some(rest) = name.strip_prefix(from.as_str()) {
                        return Some(format!("{to}{rest}"));
                    }
                }
                Rule::Drop { prefix } => {
                    if name.starts_with(prefix.as_str()) {
                        return None;
                    }
                }
            }
        }
        self.keep_unmatched.then(|| name.to_string())
    }

    /// The official checkpoint into the image model: `detector.X` -> `X` (the tracker is dropped), as
    /// upstream's `_load_checkpoint` does.
    pub fn video_to_image() -> Self {
        Self::none().rename(DETECTOR_PREFIX, "")
    }

    /// The official checkpoint into the tracker alone: `tracker.X` -> `X`.
    pub fn video_to_tracker() -> Self {
        Self::none().rename(TRACKER_PREFIX, "")
    }

    /// The official checkpoint into the image model with the interactive tracker.
    pub fn video_to_interactive_image() -> Self {
        Self::none()
            .rename(DETECTOR_PREFIX, "")
            .rename(TRACKER_PREFIX, INTERACTIVE_TRACKER_PREFIX)
    }

    /// An image-model (or trainer) checkpoint into the video model's detector.
    pub fn image_to_video() -> Self {
        Self::none().rename("", DETECTOR_PREFIX)
    }

    /// A tracker checkpoint into the video model.
    pub fn tracker_to_video() -> Self {
        Self::none().rename("", TRACKER_PREFIX)
    }

    /// The map from one layout to another, if there is one (every layout maps to itself).
    pub fn between(from: Layout, to: Layout) -> Option<Self> {
        use Layout::*;
        Some(match (from, to) {
            (a, b) if a == b => Self::identity(),
            (Video, Image) => Self::video_to_image(),
            (Video, Tracker) => Self::video_to_tracker(),
            (Video, InteractiveImage) => Self::video_to_interactive_image(),
            (Image, Video) => Self::image_to_video(),
            (Tracker, Video) => Self::tracker_to_video(),
            (InteractiveImage, Video) => Self::none()
                .rename(INTERACTIVE_TRACKER_PREFIX, TRACKER_PREFIX)
                .rename("", DETECTOR_PREFIX),
            (InteractiveImage, Image) => Self::identity().drop_prefix(INTERACTIVE_TRACKER_PREFIX),
            (InteractiveImage, Tracker) => Self::none().rename(INTERACTIVE_TRACKER_PREFIX, ""),
            (Image, InteractiveImage) => Self::identity(),
            (Tracker, InteractiveImage) => Self::none().rename("", INTERACTIVE_TRACKER_PREFIX),
            _ => return None,
        })
    }
}

/// Guesses the layout of a checkpoint from its names.
pub fn detect_layout(sd: &StateDict) -> Option<Layout> {
    let names: Vec<&str> = sd.names().collect();
    if names.is_empty() {
        return None;
    }
    let all = |p: &[&str]| names.iter().all(|n| p.iter().any(|p| n.starts_with(p)));
    let any = |p: &str| names.iter().any(|n| n.starts_with(p));
    if all(&[DETECTOR_PREFIX, TRACKER_PREFIX]) {
        Some(Layout::Video)
    } else if any(INTERACTIVE_TRACKER_PREFIX) && any("backbone.") {
        Some(Layout::InteractiveImage)
    } else if any("backbone.") {
        Some(Layout::Image)
    } else if any("maskmem_backbone.") && any("sam_mask_decoder.") {
        Some(Layout::Tracker)
    } else {
        None
    }
}
