//! Video (temporal) stages and evaluations: `sam3_video` trained on `ytvis_videos` clips with `tracker_loss`
//! and evaluated with `j_and_f` / `hota`, through the same [`super::driver`] as image stages (directories,
//! checkpoints, exact resume, schedule, parameter groups, TensorBoard, logs, `metrics.json`).
//!
//! What is the video model's own:
//!
//! * **Model and weights.** [`VideoModel::for_stage_with_report`]: built from the stage seed, then the model's
//!   `weights` (a video checkpoint: Meta's `sam3.pt` or a sam3c video stage), then `init`: an image stage's
//!   `final` checkpoint loads onto `detector.*` (the factory guide's `init = spatial`; the tracker keeps its
//!   weights, and the tracker's `sam2_convs` neck starts as a copy of the image stage's neck when nothing else
//!   provides it), a video checkpoint onto the whole model. Resuming restores everything from the stage's
//!   own checkpoint instead.
//! * **Parameter groups.** The spec's optimizer resolved on the video model's names
//!   ([`sam3c_stdlib::arch::model_params`] with the `detector.`/`tracker.` prefixes), as the compiler checked
//!   them. Only the vision trunk, the `sam2_convs` neck and the tracker receive gradients from the tracking
//!   loss; the rest of the detector keeps its weights (AdamW skips parameters without a gradient). When the
//!   optimizer freezes the whole trunk and neck, they run without gradients (SAM 2's `freeze_image_encoder`).
//! * **Step.** Per chunk of clips, [`train_clip_step`] with the model's `prompts` recipe, seeded from (stage
//!   seed, step, chunk) so that a resumed run draws the same prompts; a chunk in which no clip has an object on
//!   its first frame is skipped (SAM 2 would draw another clip).
//! * **Meters.** [`evaluate_clips_each`]: semi-supervised VOS (each object given by its first mask, tracked
//!   through the video), J&F / HOTA under `vos_*` keys; meters on the same data share one tracking run. In
//!   `metrics.json`, `images` counts the videos and `detections` the predicted tracks.

use super::driver::{self, Evaluator, Start, Trainee};
use super::error::{ExecError, InStage};
use super::meters::{MeterJob, MeterResult};
use super::{init_weights, EvalJob, RunOptions, StageJob, StageSummary};
use crate::data::{Batch, Dataset, YtvisVideoDataset};
use crate::temporal::{
    evaluate_clips_each, train_clip_step, EvalOptions, InitReport, Sam2NeckSource, StageWeights,
    StepOptions, TemporalError, TrackerTrainingRecipe, VideoModel,
};
use crate::train::loss::{LossDict, TrackerLossFn};
use sam3c_stdlib::arch::model_params;
use sam3c_stdlib::arch::video::{DETECTOR_PREFIX, SAM2_NECK_PREFIX};
use sam3c_stdlib::components::data::DatasetSpec;
use sam3c_stdlib::components::loss::LossSpec;
use sam3c_stdlib::components::meter::MeterSpec;
use sam3c_stdlib::components::model::{ModelSpec, Sam3Video};
use sam3c_stdlib::components::transforms::TransformSpec;
use std::path::Path;
use std::sync::Arc;
use tch::nn::VarStore;
use tch::{Device, Kind};

/// Whether a stage or evaluation runs the video model (and so dispatches here).
pub(crate) fn is_video(model: &ModelSpec) -> bool {
    matches!(model, ModelSpec::Sam3Video(_))
}

fn video_spec<'a>(stage: &str, model: &'a ModelSpec) -> Result<&'a Sam3Video, ExecError> {
    match model {
        ModelSpec::Sam3Video(spec) => Ok(spec),
        ModelSpec::Sam3Image(_) => Err(unsupported(
            stage,
            "the model is `sam3_image`; video stages train `sam3_video`".to_string(),
        )),
    }
}

fn unsupported(stage: &str, message: String) -> ExecError {
    ExecError::Unsupported {
        stage: stage.to_string(),
        message,
    }
}

fn config_error(stage: &str, message: String) -> ExecError {
    ExecError::Config {
        stage: stage.to_string(),
        message,
    }
}

impl<T> InStage<T> for Result<T, TemporalError> {
    fn in_stage(self, stage: &str) -> Result<T, ExecError> {
        self.map_err(|e| match e {
            TemporalError::Config(message) => config_error(stage, message),
            TemporalError::Checkpoint { path, source } => ExecError::Checkpoint {
                stage: stage.to_string(),
                context: format!("loading the weights {}", path.display()),
                source,
            },
            TemporalError::BadCheckpoint { path, message } => ExecError::BadCheckpoint {
                stage: stage.to_string(),
                path,
                message,
            },
            TemporalError::Torch(e) => ExecError::Train {
                stage: stage.to_string(),
                source: crate::train::TrainError::Torch(e),
            },
            other => ExecError::Temporal {
                stage: stage.to_string(),
                source: other,
            },
        })
    }
}

/// The side of the square frames a pipeline ends with, when it fixes one: the last `resize(S, square = true)`
/// or `pad(S)`; `None` when the size depends on the input.
fn square_output(pipeline: &[TransformSpec]) -> Option<u32> {
    let mut size = None;
    for transform in pipeline {
        match transform {
            TransformSpec::Resize(r) => size = r.square.then_some(r.size.0),
            TransformSpec::RandomResize(_) => size = None,
            TransformSpec::Pad(p) => size = Some(p.size.0),
            _ => {}
        }
    }
    size
}

/// The tracker works on frames of exactly the model's input size.
fn check_frames(
    stage: &str,
    what: &str,
    pipeline: &[TransformSpec],
    resolution: u32,
    eval: bool,
) -> Result<(), ExecError> {
    let fix = if eval {
        format!("end it with `resize({resolution}px, square = true)`")
    } else {
        format!(
            "end it with `pad({resolution}px)` (after a square `random_resize` up to {resolution}px) or \
             `resize({resolution}px, square = true)`"
        )
    };
    match square_output(pipeline) {
        Some(size) if size == resolution => {}
        Some(size) => {
            return Err(config_error(
                stage,
                format!(
                    "{what} makes {size}×{size} frames, but the video model's input is \
                     {resolution}×{resolution}: {fix}"
                ),
            ))
        }
        None => {
            return Err(config_error(
                stage,
                format!(
                    "{what} does not make frames of one fixed size; the video model needs \
                     {resolution}×{resolution}: {fix}"
                ),
            ))
        }
    }
    // Masks are predicted on the model's square input and resized back to the frame: padding would shift them.
    if eval && pipeline.iter().any(|t| matches!(t, TransformSpec::Pad(_))) {
        return Err(config_error(
            stage,
            format!(
                "{what} pads its frames; video meters need frames resized without padding: {fix}"
            ),
        ));
    }
    Ok(())
}

/// Video meters only, each on a `ytvis_videos` dataset with frames of the model's size.
fn check_meters(stage: &str, meters: &[MeterJob], resolution: u32) -> Result<(), ExecError> {
    for meter in meters {
        let name = &meter.name;
        let (data, pipeline) = match &meter.spec {
            MeterSpec::JAndF(m) => (&m.data, &m.pipeline),
            MeterSpec::Hota(m) => (&m.data, &m.pipeline),
            MeterSpec::CocoAp(_) | MeterSpec::CgF1(_) => {
                return Err(unsupported(
                    stage,
                    format!(
                        "meter `{name}` is an image meter; a `sam3_video` model is evaluated with video \
                         meters (j_and_f, hota)"
                    ),
                ))
            }
        };
        if !matches!(data, DatasetSpec::YtvisVideos(_)) {
            return Err(unsupported(
                stage,
                format!(
                    "meter `{name}` evaluates an image dataset; video meters need `ytvis_videos`"
                ),
            ));
        }
        check_frames(
            stage,
            &format!("the pipeline of meter `{name}`"),
            pipeline,
            resolution,
            true,
        )?;
    }
    Ok(())
}

fn check_model(stage: &str, spec: &Sam3Video) -> Result<(), ExecError> {
    if spec.from_hub && spec.weights.is_none() {
        return Err(unsupported(
            stage,
            "the model has `from_hub = true`: the native runtime does not download checkpoints; download \
             Meta's `sam3.pt` and give its path as the model's `weights`"
                .to_string(),
        ));
    }
    Ok(())
}

fn resolution(spec: &Sam3Video) -> u32 {
    VideoModel::config_of(spec).tracker.image_size as u32
}

/// Refuses, before anything is loaded, what the native runtime cannot run in a video stage; every message
/// names the stage and the setting.
pub(crate) fn preflight(job: &StageJob, device: Device) -> Result<(), ExecError> {
    let stage = job.name.as_str();
    let cfg = &job.config;
    let spec = video_spec(stage, &cfg.model)?;
    check_model(stage, spec)?;
    let DatasetSpec::YtvisVideos(data) = &cfg.data else {
        return Err(unsupported(
            stage,
            "the model is `sam3_video`, but the training data is an image dataset (coco_images); a temporal \
             stage trains on `ytvis_videos` clips"
                .to_string(),
        ));
    };
    if !data.masks {
        return Err(config_error(
            stage,
            "the tracker trains on masks, but the training data has `masks = false`".to_string(),
        ));
    }
    if !matches!(cfg.loss, LossSpec::TrackerLoss(_)) {
        return Err(unsupported(
            stage,
            "the loss is `sam3_loss` (the detector's); a temporal stage trains the tracker with \
             `tracker_loss`"
                .to_string(),
        ));
    }
    driver::check_precision(stage, cfg.precision, device)?;
    driver::check_accumulation(stage, cfg)?;
    TrackerTrainingRecipe::from_prompts(&spec.prompts, false)
        .validate()
        .map_err(|e| config_error(stage, format!("the model's `prompts`: {e}")))?;
    let resolution = resolution(spec);
    check_frames(
        stage,
        "the training pipeline",
        &cfg.pipeline,
        resolution,
        false,
    )?;
    check_meters(stage, &job.meters, resolution)
}

pub(crate) fn preflight_evaluation(job: &EvalJob, device: Device) -> Result<(), ExecError> {
    let stage = job.name.as_str();
    let spec = video_spec(stage, &job.config.model)?;
    check_model(stage, spec)?;
    driver::check_precision(stage, job.config.precision, device)?;
    check_meters(stage, &job.meters, resolution(spec))
}

/// The model, its weights, and a log line per file.
fn build_model(
    stage: &str,
    spec: &Sam3Video,
    init: Option<&Path>,
    device: Device,
    seed: u64,
    log: &mut driver::StageLog,
) -> Result<VideoModel, ExecError> {
    for (path, why) in [
        (spec.weights.as_deref(), "the model's weights"),
        (init, "init"),
    ] {
        if let Some(path) = path.filter(|p| !p.exists()) {
            return Err(ExecError::Io {
                stage: stage.to_string(),
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("the weights of {why} do not exist"),
                ),
            });
        }
    }
    let (
        model,
        StageWeights {
            weights,
            init: loaded,
        },
    ) = VideoModel::for_stage_with_report(spec, init, device, seed).in_stage(stage)?;
    if let (Some(report), Some(path)) = (&weights, &spec.weights) {
        log.note(&format!(
            "weights: {} tensors from {} (the model's weights)",
            report.loaded,
            path.display()
        ));
    }
    if let (Some(report), Some(path)) = (&loaded, init) {
        let text = match report {
            InitReport::WholeModel(r) => format!(
                "weights: {} tensors from {} (init, a video checkpoint: the whole model)",
                r.loaded,
                path.display()
            ),
            InitReport::Detector(r) => format!(
                "weights: {} tensors from {} (init, an image checkpoint: onto {DETECTOR_PREFIX}*; the \
                 tracker's neck, sam2_convs, {})",
                r.load.loaded,
                path.display(),
                match r.sam2_neck {
                    Sam2NeckSource::Checkpoint => "from the checkpoint",
                    Sam2NeckSource::Kept => "kept from the model's weights",
                    Sam2NeckSource::CopiedFromConvs => "copied from the image model's neck, convs",
                }
            ),
        };
        log.note(&text);
    }
    if weights.is_none() && loaded.is_none() {
        log.note("weights: random initialization (no init, no model weights)");
    }
    Ok(model)
}

/// The video model with its meters.
struct VideoMeters<'a> {
    stage: &'a str,
    model: VideoModel,
    meters: &'a [MeterJob],
    options: EvalOptions,
}

impl Evaluator for VideoMeters<'_> {
    fn has_meters(&self) -> bool {
        !self.meters.is_empty()
    }

    fn evaluate(
        &self,
        record: &mut dyn FnMut(MeterResult) -> Result<(), ExecError>,
    ) -> Result<(), ExecError> {
        let specs: Vec<MeterSpec> = self.meters.iter().map(|m| m.spec.clone()).collect();
        let values = evaluate_clips_each(&self.model, &specs, &self.options).map_err(|e| {
            ExecError::Meter {
                stage: self.stage.to_string(),
                meter: self
                    .meters
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                message: e.to_string(),
            }
        })?;
        for (job, values) in self.meters.iter().zip(values) {
            let mut metrics: Vec<(String, f64)> = values
                .values
                .iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            // The headline of log lines and summaries is the first metric: J&F rather than J-Mean.
            metrics.sort_by_key(|(k, _)| !k.ends_with("J&F"));
            record(MeterResult {
                meter: job.name.clone(),
                dataset: job.dataset.clone(),
                metrics,
                detections: values.tracks,
                images: values.videos,
            })?;
        }
        Ok(())
    }
}

/// The video model in training: the tracker's loss on a chunk of clips.
struct VideoTrainee<'a> {
    eval: VideoMeters<'a>,
    recipe: TrackerTrainingRecipe,
    loss: TrackerLossFn,
    autocast: Option<Kind>,
}

impl Evaluator for VideoTrainee<'_> {
    fn has_meters(&self) -> bool {
        self.eval.has_meters()
    }

    fn evaluate(
        &self,
        record: &mut dyn FnMut(MeterResult) -> Result<(), ExecError>,
    ) -> Result<(), ExecError> {
        self.eval.evaluate(record)
    }
}

impl Trainee for VideoTrainee<'_> {
    fn vs(&self) -> &VarStore {
        &self.eval.model.vs
    }

    fn datapoint(&self) -> &'static str {
        "clip"
    }

    fn losses(&self, chunk: &Batch, seed: u64) -> Result<Option<LossDict>, ExecError> {
        let options = StepOptions {
            seed,
            autocast: self.autocast,
        };
        let out = train_clip_step(&self.eval.model, chunk, &self.recipe, &self.loss, &options)
            .in_stage(self.eval.stage)?;
        Ok(out.map(|o| o.losses))
    }
}

/// Trains a video stage; see the module docs.
pub(crate) fn train_stage(job: &StageJob, opts: &RunOptions) -> Result<StageSummary, ExecError> {
    let stage = job.name.as_str();
    preflight(job, opts.device)?;
    let cfg = &job.config;
    let spec = video_spec(stage, &cfg.model)?;
    let mut begun = match driver::begin(job, opts)? {
        Start::UpToDate(summary) => return Ok(summary),
        Start::Train(begun) => begun,
    };
    let device = opts.device;
    let model = if begun.resume_from.is_some() {
        // Every weight comes from the stage's own checkpoint.
        tch::manual_seed(cfg.seed as i64);
        VideoModel::new(&VideoModel::config_of(spec), device).in_stage(stage)?
    } else {
        let init = init_weights(&job.experiment_dir, cfg.init.as_ref());
        build_model(
            stage,
            spec,
            init.as_deref(),
            device,
            cfg.seed,
            &mut begun.log,
        )?
    };

    let DatasetSpec::YtvisVideos(data) = &cfg.data else {
        return Err(unsupported(
            stage,
            "the training data is not `ytvis_videos`".to_string(),
        ));
    };
    let LossSpec::TrackerLoss(loss_config) = &cfg.loss else {
        return Err(unsupported(
            stage,
            "the loss is not `tracker_loss`".to_string(),
        ));
    };
    let dataset = YtvisVideoDataset::open(data, true).in_stage(stage)?;
    if !dataset.loads_masks() {
        return Err(config_error(
            stage,
            "the tracker trains on masks, but the training data loads none".to_string(),
        ));
    }
    let data = driver::training_data(stage, cfg, Arc::new(dataset))?;
    let params = model_params(&model.config, true);
    let (optimizer, resolution) = driver::optimizer(stage, cfg, &params, &model.vs)?;
    let freeze_backbone = params
        .iter()
        .filter(|p| p.trainable && is_backbone(&p.name))
        .all(|p| resolution.frozen.contains(&p.name));
    if freeze_backbone {
        begun.log.note(
            "the optimizer freezes the vision backbone: it runs without gradients (SAM 2's \
             freeze_image_encoder)",
        );
    }
    let autocast = driver::autocast_kind(cfg.precision, device);
    let trainee = VideoTrainee {
        eval: VideoMeters {
            stage,
            model,
            meters: &job.meters,
            options: EvalOptions {
                seed: cfg.seed,
                autocast,
            },
        },
        recipe: TrackerTrainingRecipe::from_prompts(&spec.prompts, freeze_backbone),
        loss: TrackerLossFn::new(loss_config),
        autocast,
    };
    driver::train(
        job,
        opts,
        begun,
        data,
        optimizer,
        resolution.frozen.len(),
        &trainee,
    )
}

/// The parameters the tracker's features come from: the vision trunk and the `sam2_convs` neck.
fn is_backbone(name: &str) -> bool {
    name.strip_prefix(DETECTOR_PREFIX).is_some_and(|rest| {
        rest.starts_with("backbone.vision_backbone.trunk.") || rest.starts_with(SAM2_NECK_PREFIX)
    })
}

/// Runs an evaluation of the video model: its meters, with weights from `init` or the model's `weights`.
pub(crate) fn evaluate(job: &EvalJob, opts: &RunOptions) -> Result<StageSummary, ExecError> {
    let stage = job.name.as_str();
    preflight_evaluation(job, opts.device)?;
    let cfg = &job.config;
    let spec = video_spec(stage, &cfg.model)?;
    let mut begun = match driver::begin_evaluation(stage, &job.experiment_dir, opts)? {
        driver::EvalStart::Done(summary) => return Ok(summary),
        driver::EvalStart::Run(begun) => begun,
    };
    let init = init_weights(&job.experiment_dir, cfg.init.as_ref());
    let model = build_model(
        stage,
        spec,
        init.as_deref(),
        opts.device,
        cfg.seed,
        &mut begun.log,
    )?;
    let evaluator = VideoMeters {
        stage,
        model,
        meters: &job.meters,
        options: EvalOptions {
            seed: cfg.seed,
            autocast: driver::autocast_kind(cfg.precision, opts.device),
        },
    };
    driver::run_evaluation(stage, begun, &evaluator)
}
