//! Building the image model of a stage and loading weights into it.
//!
//! Weights come in three layouts, told apart by their names ([`checkpoint::detect_layout`]): Meta's `sam3.pt`
//! (the video layout, `detector.*` + `tracker.*`: the detector is loaded, the tracker ignored), a checkpoint of
//! Meta's trainer or `build_sam3_image_model` (the image layout, loaded as is), and sam3c's own stage
//! checkpoints (the image layout plus the optimizer state under [`OPTIMIZER_PREFIX`], which is skipped). Loading
//! is strict: every parameter of the model must be in the file with its shape and dtype, and nothing else may
//! be (except the parts the layout says to ignore), so that a wrong file fails loudly instead of training from
//! a half-initialized model.

use super::error::ExecError;
use crate::checkpoint::{self, KeyMap, Layout, LoadReport, StateDict};
use crate::model::Sam3Image;
use sam3c_stdlib::arch::image::ImageConfig;
use sam3c_stdlib::components::model::{ModelSpec, Sam3Image as Sam3ImageSpec};
use std::path::Path;
use tch::nn::VarStore;
use tch::Device;

/// The prefix of the optimizer state in sam3c checkpoints (`optimizer.exp_avg.<param>`, ...).
pub const OPTIMIZER_PREFIX: &str = "optimizer.";

/// A model with the store that owns its variables.
pub struct StageModel {
    pub vs: VarStore,
    pub model: Sam3Image,
    pub config: ImageConfig,
}

impl std::fmt::Debug for StageModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageModel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The image model's configuration for a catalog `sam3_image` value.
pub fn image_config(spec: &Sam3ImageSpec) -> ImageConfig {
    let mut config = spec.size.config().image;
    config.enable_segmentation = spec.segmentation;
    config
}

/// The image-model part of a model spec, or an error naming the stage for a video model.
pub fn image_spec<'a>(stage: &str, spec: &'a ModelSpec) -> Result<&'a Sam3ImageSpec, ExecError> {
    match spec {
        ModelSpec::Sam3Image(image) => Ok(image),
        ModelSpec::Sam3Video(_) => Err(video_stage(stage)),
    }
}

pub(crate) fn video_stage(stage: &str) -> ExecError {
    ExecError::Unsupported {
        stage: stage.to_string(),
        message: "the model is `sam3_video` where the image model (`sam3_image`) is expected"
            .to_string(),
    }
}

/// Builds the model on `device`, its random initialization drawn after seeding torch with `seed`.
pub fn build(
    stage: &str,
    spec: &Sam3ImageSpec,
    device: Device,
    seed: u64,
) -> Result<StageModel, ExecError> {
    let config = image_config(spec);
    tch::manual_seed(seed as i64);
    let vs = VarStore::new(device);
    let model = Sam3Image::new(vs.root(), &config).map_err(|source| ExecError::Model {
        stage: stage.to_string(),
        source,
    })?;
    crate::model::init_image_like_upstream(&vs, "");
    Ok(StageModel { vs, model, config })
}

/// How the names of a weights file map onto the image model, from the file's layout.
pub fn key_map_for(sd: &StateDict, segmentation: bool) -> Result<KeyMap, String> {
    let layout = checkpoint::detect_layout(sd).ok_or_else(|| {
        "holds no SAM 3 weights that sam3c recognizes (expected `detector.*` names as in Meta's sam3.pt, or \
         `backbone.*` names as in image-model and trainer checkpoints)"
            .to_string()
    })?;
    let mut map = match layout {
        Layout::Tracker => {
            return Err(
                "holds only a tracker (`maskmem_backbone.*`, ...); the image model needs detector weights"
                    .to_string(),
            )
        }
        Layout::Video => KeyMap::none(),
        Layout::Image | Layout::InteractiveImage => KeyMap::none(),
    };
    // A model without the segmentation head ignores the head's weights (upstream builds it with
    // `enable_segmentation=False` and loads non-strictly).
    let prefix = if layout == Layout::Video {
        "detector."
    } else {
        ""
    };
    if !segmentation {
        map = map.drop_prefix(&format!("{prefix}segmentation_head."));
    }
    map = match layout {
        Layout::Video => map.rename("detector.", ""),
        Layout::InteractiveImage => map
            .drop_prefix(sam3c_stdlib::arch::video::INTERACTIVE_TRACKER_PREFIX)
            .drop_prefix(OPTIMIZER_PREFIX)
            .keep_unmatched(),
        _ => map.drop_prefix(OPTIMIZER_PREFIX).keep_unmatched(),
    };
    Ok(map)
}

/// Loads the weights of `path` into the model, strictly (see the module docs).
pub fn load_weights(stage: &str, model: &StageModel, path: &Path) -> Result<LoadReport, ExecError> {
    let sd = checkpoint::load(path).map_err(|source| ExecError::Checkpoint {
        stage: stage.to_string(),
        context: format!("reading the weights {}", path.display()),
        source,
    })?;
    let map = key_map_for(&sd, model.config.enable_segmentation).map_err(|message| {
        ExecError::BadCheckpoint {
            stage: stage.to_string(),
            path: path.to_path_buf(),
            message,
        }
    })?;
    checkpoint::load_into(&model.vs, &sd, &map, true).map_err(|source| ExecError::Checkpoint {
        stage: stage.to_string(),
        context: format!("loading the weights {}", path.display()),
        source,
    })
}
