//! The SAM 3 video model (`build_sam3_video_model`): the image model as `detector.*`, always with the `sam2_convs`
//! copy of its neck (the tracker's features), and the tracker as `tracker.*`, under the upstream state-dict names
//! of the official `sam3.pt`. Weights load strictly from three kinds of files:
//!
//! | file | names | what is loaded |
//! |---|---|---|
//! | Meta's `sam3.pt`, a sam3c video-stage checkpoint | `detector.*`, `tracker.*` (+ `optimizer.*` in sam3c's) | everything ([`VideoModel::load_weights`]) |
//! | `build_sam3_image_model(enable_inst_interactivity=True)` | image names + `inst_interactive_predictor.model.*` | everything, renamed |
//! | an image stage's checkpoint (sam3c or Meta's trainer) | `backbone.*`, `transformer.*`, ... | `detector.*` only ([`VideoModel::load_image_stage`]) |
//!
//! An image model has no `sam2_convs` unless it was built with the tracker neck, so an image checkpoint without
//! them leaves that neck as it was (the video weights loaded before, which the tracker was trained with) or,
//! when the model has no video weights, starts it as a copy of the checkpoint's `convs`, exactly as upstream's
//! constructor starts `sam2_convs` as a deep copy of `convs`. Every other detector tensor must be in the file.

use super::TemporalError;
use crate::checkpoint::{self, KeyMap, LoadReport, StateDict};
use crate::model::tracker::{FrameFeatures, Tracker};
use crate::model::Sam3Image;
use sam3c_stdlib::arch::video::{
    check_video_config, video_params, DETECTOR_PREFIX, INTERACTIVE_TRACKER_PREFIX, NECK_PREFIX,
    SAM2_NECK_PREFIX, TRACKER_PREFIX,
};
use sam3c_stdlib::arch::{ModuleKind, Sam3Config};
use sam3c_stdlib::components::model::Sam3Video;
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// Entries of sam3c stage checkpoints that hold the optimizer state (`optimizer.exp_avg.<param>`, ...), not
/// model weights. (The stage executor writes them under this prefix.)
pub const OPTIMIZER_PREFIX: &str = "optimizer.";

/// The video model with the store that owns its variables.
pub struct VideoModel {
    pub vs: VarStore,
    /// `detector.*`: the image model; the tracker reads the `sam2_convs` neck of its vision backbone.
    pub detector: Sam3Image,
    /// `tracker.*`.
    pub tracker: Tracker,
    pub config: Sam3Config,
}

impl std::fmt::Debug for VideoModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoModel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The tracker's view of a batch of frames: the three `sam2_convs` levels (the two high-resolution ones
/// already through the mask decoder's `conv_s0`/`conv_s1`) and the position encoding of the lowest one.
#[derive(Debug)]
pub struct TrackerFeatures {
    /// One entry for every image of the batch, in batch order (`[N, ...]` tensors).
    pub frames: FrameFeatures,
}

impl TrackerFeatures {
    /// The features of images `index` (`[B]` int64), one row per entry: the frame of each tracked object.
    pub fn select(&self, index: &Tensor) -> FrameFeatures {
        let f = &self.frames;
        FrameFeatures {
            high_res_s0: f.high_res_s0.index_select(0, index),
            high_res_s1: f.high_res_s1.index_select(0, index),
            vision_feat: f.vision_feat.index_select(0, index),
            vision_pos: f.vision_pos.index_select(0, index),
        }
    }

    /// Number of images.
    pub fn len(&self) -> i64 {
        self.frames.vision_feat.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where the `sam2_convs` neck came from after an image-stage checkpoint was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sam2NeckSource {
    /// The checkpoint has it (an image model built with the tracker neck).
    Checkpoint,
    /// Kept as it was (the video weights loaded before).
    Kept,
    /// Copied from the checkpoint's `convs`, as upstream's constructor deep-copies `convs`.
    CopiedFromConvs,
}

/// What loading an image stage's checkpoint did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageStageReport {
    pub load: LoadReport,
    pub sam2_neck: Sam2NeckSource,
}

/// What a stage's `init` loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum InitReport {
    /// A video checkpoint: the whole model.
    WholeModel(LoadReport),
    /// An image stage's checkpoint: the detector.
    Detector(ImageStageReport),
}

/// What the files of a stage's model loaded ([`VideoModel::for_stage_with_report`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StageWeights {
    /// The model's `weights`.
    pub weights: Option<LoadReport>,
    /// The stage's `init`.
    pub init: Option<InitReport>,
}

/// The layouts of files the video model reads (optimizer entries of sam3c checkpoints aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileLayout {
    Video,
    InteractiveImage,
    Image,
}

/// Like `checkpoint::detect_layout`, but blind to the optimizer entries of sam3c stage checkpoints.
fn file_layout(sd: &StateDict) -> Option<FileLayout> {
    let names: Vec<&str> = sd
        .names()
        .filter(|n| !n.starts_with(OPTIMIZER_PREFIX))
        .collect();
    let any = |p: &str| names.iter().any(|n| n.starts_with(p));
    if names.is_empty() {
        None
    } else if names
        .iter()
        .all(|n| n.starts_with(DETECTOR_PREFIX) || n.starts_with(TRACKER_PREFIX))
        && any(TRACKER_PREFIX)
    {
        Some(FileLayout::Video)
    } else if any(INTERACTIVE_TRACKER_PREFIX) && any("backbone.") {
        Some(FileLayout::InteractiveImage)
    } else if any("backbone.") {
        Some(FileLayout::Image)
    } else {
        None
    }
}

fn read(path: &Path) -> Result<StateDict, TemporalError> {
    checkpoint::load(path).map_err(|source| TemporalError::Checkpoint {
        path: path.to_path_buf(),
        source,
    })
}

fn bad_file(path: &Path, message: impl Into<String>) -> TemporalError {
    TemporalError::BadCheckpoint {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl VideoModel {
    /// The model configuration of a catalog `sam3_video` value: its size preset with the tracker neck, and
    /// memory selection as `temporal_disambiguation` says.
    pub fn config_of(spec: &Sam3Video) -> Sam3Config {
        let mut config = spec.size.config();
        config.image.add_sam2_neck = true;
        config.tracker.use_memory_selection = spec.temporal_disambiguation;
        config
    }

    /// Builds the model on `device` with PyTorch's default initializations (the `sam2_convs` neck is forced
    /// on: the tracker needs it). Load weights afterwards.
    pub fn new(config: &Sam3Config, device: Device) -> Result<VideoModel, TemporalError> {
        let mut config = config.clone();
        config.image.add_sam2_neck = true;
        check_video_config(&config).map_err(TemporalError::Config)?;
        let vs = VarStore::new(device);
        let detector = Sam3Image::new(vs.root() / "detector", &config.image)
            .map_err(|e| TemporalError::Config(e.to_string()))?;
        let tracker = Tracker::new(vs.root() / "tracker", &config.tracker)
            .map_err(|e| TemporalError::Config(e.to_string()))?;
        crate::model::init_image_like_upstream(&vs, "detector.");
        crate::model::init_tracker_like_upstream(&vs, "tracker.");
        Ok(VideoModel {
            vs,
            detector,
            tracker,
            config,
        })
    }

    /// The model of a stage: built after seeding torch with `seed`, then the spec's `weights` (video layout),
    /// then `init` (an image stage's checkpoint onto `detector.*`, or a video checkpoint onto everything).
    pub fn for_stage(
        spec: &Sam3Video,
        init: Option<&Path>,
        device: Device,
        seed: u64,
    ) -> Result<VideoModel, TemporalError> {
        Self::for_stage_with_report(spec, init, device, seed).map(|(model, _)| model)
    }

    /// [`VideoModel::for_stage`], with what each file loaded (for the stage's log).
    pub fn for_stage_with_report(
        spec: &Sam3Video,
        init: Option<&Path>,
        device: Device,
        seed: u64,
    ) -> Result<(VideoModel, StageWeights), TemporalError> {
        if spec.from_hub && spec.weights.is_none() {
            return Err(TemporalError::Config(
                "`from_hub = true`: the native runtime does not download checkpoints; download Meta's \
                 `sam3.pt` and give its path as the model's `weights`"
                    .into(),
            ));
        }
        tch::manual_seed(seed as i64);
        let model = VideoModel::new(&VideoModel::config_of(spec), device)?;
        let weights = match &spec.weights {
            Some(weights) => Some(model.load_weights(weights)?),
            None => None,
        };
        let init = match init {
            Some(init) => Some(model.load_init(init, spec.weights.is_some())?),
            None => None,
        };
        Ok((model, StageWeights { weights, init }))
    }

    /// Loads a whole video model strictly: Meta's `sam3.pt`, a sam3c video-stage checkpoint (its optimizer
    /// entries are skipped), or an interactive image model's checkpoint (image + instance tracker).
    pub fn load_weights(&self, path: &Path) -> Result<LoadReport, TemporalError> {
        let sd = read(path)?;
        let map = match file_layout(&sd) {
            Some(FileLayout::Video) => KeyMap::identity().drop_prefix(OPTIMIZER_PREFIX),
            Some(FileLayout::InteractiveImage) => KeyMap::none()
                .drop_prefix(OPTIMIZER_PREFIX)
                .rename(INTERACTIVE_TRACKER_PREFIX, TRACKER_PREFIX)
                .rename("", DETECTOR_PREFIX),
            Some(FileLayout::Image) => {
                return Err(bad_file(
                    path,
                    "holds an image model only (no `tracker.*` weights); give it as the stage's `init` \
                     (the detector starts from it) instead of the video model's `weights`",
                ))
            }
            None => return Err(bad_file(path, "holds no SAM 3 weights that sam3c recognizes (expected \
                `detector.*` and `tracker.*` names as in Meta's sam3.pt)")),
        };
        checkpoint::load_into(&self.vs, &sd, &map, true).map_err(|source| {
            TemporalError::Checkpoint {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// A stage's `init`: a video checkpoint loads everything ([`VideoModel::load_weights`]); an image
    /// checkpoint loads the detector ([`VideoModel::load_image_stage`]).
    pub fn load_init(
        &self,
        path: &Path,
        has_video_weights: bool,
    ) -> Result<InitReport, TemporalError> {
        let sd = read(path)?;
        match file_layout(&sd) {
            Some(FileLayout::Video) | Some(FileLayout::InteractiveImage) => {
                Ok(InitReport::WholeModel(self.load_weights(path)?))
            }
            _ => Ok(InitReport::Detector(self.image_stage_from(
                path,
                &sd,
                has_video_weights,
            )?)),
        }
    }

    /// Loads an image stage's checkpoint onto `detector.*`, strictly: every detector tensor must be in it
    /// (the `sam2_convs` neck aside, see the module docs) and nothing else may be. The tracker is untouched.
    /// `has_video_weights`: the model holds video weights, whose `sam2_convs` are then kept.
    pub fn load_image_stage(
        &self,
        path: &Path,
        has_video_weights: bool,
    ) -> Result<ImageStageReport, TemporalError> {
        let sd = read(path)?;
        self.image_stage_from(path, &sd, has_video_weights)
    }

    fn image_stage_from(
        &self,
        path: &Path,
        sd: &StateDict,
        has_video_weights: bool,
    ) -> Result<ImageStageReport, TemporalError> {
        if file_layout(sd) != Some(FileLayout::Image) {
            return Err(bad_file(
                path,
                "is not an image-model checkpoint (expected `backbone.*`, `transformer.*`, ... names as an \
                 image stage writes them)",
            ));
        }
        let has_neck = sd.names().any(|n| n.starts_with(SAM2_NECK_PREFIX));
        let detector_sam2_neck = format!("{DETECTOR_PREFIX}{SAM2_NECK_PREFIX}");
        let targets: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(n, _)| n.starts_with(DETECTOR_PREFIX))
            .filter(|(n, _)| has_neck || !n.starts_with(&detector_sam2_neck))
            .collect();
        let map = KeyMap::none()
            .drop_prefix(OPTIMIZER_PREFIX)
            .rename("", DETECTOR_PREFIX);
        let load = checkpoint::load_into(&targets, sd, &map, true).map_err(|source| {
            TemporalError::Checkpoint {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let sam2_neck = if has_neck {
            Sam2NeckSource::Checkpoint
        } else if has_video_weights {
            Sam2NeckSource::Kept
        } else {
            self.copy_neck_to_sam2_neck();
            Sam2NeckSource::CopiedFromConvs
        };
        Ok(ImageStageReport { load, sam2_neck })
    }

    /// `sam2_convs.X` := `convs.X` for every neck tensor.
    fn copy_neck_to_sam2_neck(&self) {
        let vars = self.vs.variables();
        let from = format!("{DETECTOR_PREFIX}{NECK_PREFIX}");
        let to = format!("{DETECTOR_PREFIX}{SAM2_NECK_PREFIX}");
        tch::no_grad(|| {
            for (name, src) in &vars {
                if let Some(rest) = name.strip_prefix(&from) {
                    let mut dst = vars[&format!("{to}{rest}")].shallow_clone();
                    dst.copy_(src);
                }
            }
        });
    }

    /// Every trainable parameter as (VarStore name, kind of the owning upstream module), in the upstream
    /// order of the video model's state dict, for optimizer grouping.
    pub fn parameter_kinds(&self) -> Vec<(String, ModuleKind)> {
        video_params(&self.config)
            .into_iter()
            .filter(|p| p.trainable)
            .map(|p| (p.name, p.module))
            .collect()
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Runs the vision backbone (trunk and `sam2_convs` neck only; the detector's own neck is not needed) on
    /// `[N, 3, S, S]` normalized images and prepares the tracker's features.
    pub fn tracker_features(
        &self,
        images: &Tensor,
        train: bool,
    ) -> Result<TrackerFeatures, TemporalError> {
        let s = self.config.image.resolution;
        let size = images.size();
        if size.len() != 4 || size[1] != 3 || size[2] != s || size[3] != s {
            return Err(TemporalError::Input(format!(
                "frames must be [N, 3, {s}, {s}] (the model's resolution; resize the clip in the pipeline), got {size:?}"
            )));
        }
        if !matches!(
            images.kind(),
            Kind::Float | Kind::BFloat16 | Kind::Half | Kind::Double
        ) {
            return Err(TemporalError::Input(format!(
                "frames must be floating point, got {:?}",
                images.kind()
            )));
        }
        let backbone = &self.detector.backbone.vision_backbone;
        let neck = backbone
            .sam2_convs
            .as_ref()
            .expect("VideoModel::new always builds the sam2 neck");
        let x = backbone
            .trunk
            .forward(&images.to_device(self.device()).to_kind(Kind::Float), train);
        // The tracker reads the first three levels (upstream drops the 0.5x level with `scalp = 1`).
        let levels: Vec<Tensor> = neck[..3].iter().map(|level| level.forward(&x)).collect();
        let (b, _, h, w) = levels[2].size4()?;
        let pos = backbone
            .position_encoding
            .forward(b, h, w, levels[2].device())
            .to_kind(levels[2].kind());
        let frames = self
            .tracker
            .frame_features([&levels[0], &levels[1], &levels[2]], &pos)
            .map_err(|e| TemporalError::Input(e.to_string()))?;
        Ok(TrackerFeatures { frames })
    }
}
