//! Image stages and evaluations: the image model's part of a run (its weights, its data, its step, its meters);
//! the rest is [`super::driver`]'s. Video stages dispatch to [`super::video`] at the top of [`train_stage`] and
//! [`evaluate`]. See the module docs of [`super`] for the sequence of a stage and what it writes.

use super::batch::{find_batch, find_outputs, find_targets};
use super::driver::{self, Evaluator, StageLog, Start, Trainee};
use super::error::{ExecError, InStage};
use super::meters::{Meter, MeterResult};
use super::model::{self, StageModel};
use super::video;
use super::{init_weights, EvalJob, Event, RunOptions, StageJob, StageSummary};
use crate::data::{Batch, CocoImageDataset, Dataset};
use crate::train::amp;
use crate::train::loss::{LossDict, Normalization, Sam3Loss};
use sam3c_stdlib::arch::image::image_params;
use sam3c_stdlib::components::data::DatasetSpec;
use sam3c_stdlib::components::loss::LossSpec;
use sam3c_stdlib::components::meter::MeterSpec;
use std::path::Path;
use std::sync::Arc;
use tch::nn::VarStore;
use tch::{Device, Kind};

/// Refuses what the native runtime cannot run, before anything is loaded.
pub(crate) fn preflight(job: &StageJob, device: Device) -> Result<(), ExecError> {
    if video::is_video(&job.config.model) {
        return video::preflight(job, device);
    }
    let stage = job.name.as_str();
    let cfg = &job.config;
    model::image_spec(stage, &cfg.model)?;
    if matches!(cfg.data, DatasetSpec::YtvisVideos(_)) {
        return Err(image_model_on_video(
            stage,
            "its training data is a video dataset (ytvis_videos)",
        ));
    }
    if matches!(cfg.loss, LossSpec::TrackerLoss(_)) {
        return Err(image_model_on_video(stage, "its loss is `tracker_loss`"));
    }
    driver::check_precision(stage, cfg.precision, device)?;
    driver::check_accumulation(stage, cfg)?;
    check_meters(stage, job.meters.iter().map(|m| (&m.name, &m.spec)))
}

pub(crate) fn preflight_evaluation(job: &EvalJob, device: Device) -> Result<(), ExecError> {
    if video::is_video(&job.config.model) {
        return video::preflight_evaluation(job, device);
    }
    let stage = job.name.as_str();
    model::image_spec(stage, &job.config.model)?;
    driver::check_precision(stage, job.config.precision, device)?;
    check_meters(stage, job.meters.iter().map(|m| (&m.name, &m.spec)))
}

fn image_model_on_video(stage: &str, what: &str) -> ExecError {
    ExecError::Unsupported {
        stage: stage.to_string(),
        message: format!(
            "the model is `sam3_image`, but {what}: a temporal stage trains `sam3_video` on `ytvis_videos` with \
             `tracker_loss`; an image stage trains `sam3_image` on `coco_images` with `sam3_loss`"
        ),
    }
}

fn check_meters<'a>(
    stage: &str,
    meters: impl Iterator<Item = (&'a String, &'a MeterSpec)>,
) -> Result<(), ExecError> {
    for (name, spec) in meters {
        let data = match spec {
            MeterSpec::CocoAp(m) => &m.data,
            MeterSpec::CgF1(m) => &m.data,
            MeterSpec::JAndF(_) | MeterSpec::Hota(_) => {
                return Err(ExecError::Unsupported {
                    stage: stage.to_string(),
                    message: format!(
                        "meter `{name}` is a video meter; it evaluates a `sam3_video` model (the model here is \
                         `sam3_image`, evaluated with coco_ap or cgf1)"
                    ),
                })
            }
        };
        if matches!(data, DatasetSpec::YtvisVideos(_)) {
            return Err(ExecError::Unsupported {
                stage: stage.to_string(),
                message: format!(
                    "meter `{name}` evaluates a video dataset; image meters need coco_images"
                ),
            });
        }
    }
    Ok(())
}

fn loads_weights(
    stage: &str,
    model: &StageModel,
    path: &Path,
    why: &str,
    log: &mut StageLog,
) -> Result<(), ExecError> {
    if !path.exists() {
        return Err(ExecError::Io {
            stage: stage.to_string(),
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the weights of {why} do not exist"),
            ),
        });
    }
    let report = model::load_weights(stage, model, path)?;
    log.note(&format!(
        "weights: {} tensors from {} ({why}){}",
        report.loaded,
        path.display(),
        if report.not_selected.is_empty() {
            String::new()
        } else {
            format!(
                ", {} entries not used by the image model",
                report.not_selected.len()
            )
        }
    ));
    Ok(())
}

/// The image model with its meters.
struct ImageMeters<'a> {
    stage: &'a str,
    model: StageModel,
    meters: Vec<Meter>,
    device: Device,
    autocast: Option<Kind>,
}

impl Evaluator for ImageMeters<'_> {
    fn has_meters(&self) -> bool {
        !self.meters.is_empty()
    }

    fn evaluate(
        &self,
        record: &mut dyn FnMut(MeterResult) -> Result<(), ExecError>,
    ) -> Result<(), ExecError> {
        for meter in &self.meters {
            record(meter.run(self.stage, &self.model.model, self.device, self.autocast)?)?;
        }
        Ok(())
    }
}

/// The image model in training: its loss on a chunk of images.
struct ImageTrainee<'a> {
    eval: ImageMeters<'a>,
    loss: Sam3Loss,
    with_masks: bool,
}

impl Evaluator for ImageTrainee<'_> {
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

impl Trainee for ImageTrainee<'_> {
    fn vs(&self) -> &VarStore {
        &self.eval.model.vs
    }

    fn datapoint(&self) -> &'static str {
        "image"
    }

    fn losses(&self, chunk: &Batch, _seed: u64) -> Result<Option<LossDict>, ExecError> {
        let stage = self.eval.stage;
        let device = self.eval.device;
        let model = &self.eval.model;
        let Some(find_stage) = chunk.stages.first() else {
            return Err(ExecError::Config {
                stage: stage.to_string(),
                message: "a training batch has no query".into(),
            });
        };
        let input = find_batch(chunk, find_stage, model.config.text_context_length, device);
        let targets = find_targets(find_stage, self.with_masks, device).in_stage(stage)?;
        let _autocast = match self.eval.autocast {
            Some(kind) => Some(amp::Autocast::enter(device, kind).in_stage(stage)?),
            None => None,
        };
        let out = model.model.forward(&input, true).in_stage(stage)?;
        self.loss
            .forward(&[vec![find_outputs(out)]], &[targets])
            .in_stage(stage)
            .map(Some)
    }
}

/// Trains one stage; see the module docs of [`super`].
pub fn train_stage(job: &StageJob, opts: &RunOptions) -> Result<StageSummary, ExecError> {
    let stage = job.name.as_str();
    opts.monitor.event(&Event::Started {
        stage: stage.to_string(),
        total_steps: 0,
        done_steps: 0,
    });
    let result = if video::is_video(&job.config.model) {
        video::train_stage(job, opts)
    } else {
        run_stage(job, opts)
    };
    opts.monitor.event(&Event::Finished {
        stage: stage.to_string(),
    });
    result
}

fn run_stage(job: &StageJob, opts: &RunOptions) -> Result<StageSummary, ExecError> {
    let stage = job.name.as_str();
    preflight(job, opts.device)?;
    let cfg = &job.config;
    let spec = model::image_spec(stage, &cfg.model)?;
    let mut begun = match driver::begin(job, opts)? {
        Start::UpToDate(summary) => return Ok(summary),
        Start::Train(begun) => begun,
    };
    let device = opts.device;

    // The model and its weights.
    let model = model::build(stage, spec, device, cfg.seed)?;
    if begun.resume_from.is_none() {
        if let Some(path) = init_weights(&job.experiment_dir, cfg.init.as_ref()) {
            loads_weights(stage, &model, &path, "init", &mut begun.log)?;
        } else if let Some(path) = &spec.weights {
            loads_weights(stage, &model, path, "the model's weights", &mut begun.log)?;
        } else {
            begun
                .log
                .note("weights: random initialization (no init, no model weights)");
        }
    }

    // Data, optimizer, loss and meters.
    let DatasetSpec::CocoImages(data) = &cfg.data else {
        return Err(image_model_on_video(
            stage,
            "its training data is a video dataset (ytvis_videos)",
        ));
    };
    let dataset = CocoImageDataset::open(data, true).in_stage(stage)?;
    let with_masks = model.config.enable_segmentation && dataset.loads_masks();
    let data = driver::training_data(stage, cfg, Arc::new(dataset))?;
    let (optimizer, resolution) =
        driver::optimizer(stage, cfg, &image_params(&model.config), &model.vs)?;
    let LossSpec::Sam3Loss(loss_config) = &cfg.loss else {
        return Err(image_model_on_video(stage, "its loss is `tracker_loss`"));
    };
    let loss = Sam3Loss::new(loss_config, Normalization::Local).in_stage(stage)?;
    let meters = open_meters(stage, &job.meters, cfg.batch, cfg.workers, &model)?;
    let trainee = ImageTrainee {
        eval: ImageMeters {
            stage,
            model,
            meters,
            device,
            autocast: driver::autocast_kind(cfg.precision, device),
        },
        loss,
        with_masks,
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

fn open_meters(
    stage: &str,
    jobs: &[super::MeterJob],
    batch: u32,
    workers: u32,
    model: &StageModel,
) -> Result<Vec<Meter>, ExecError> {
    jobs.iter()
        .map(|m| {
            Meter::open(
                stage,
                m,
                batch as usize,
                workers as usize,
                model.config.enable_segmentation,
                model.config.text_context_length,
            )
        })
        .collect()
}

/// Runs an evaluation: the meters on a model with weights from `init` or the model's `weights`.
pub fn evaluate(job: &EvalJob, opts: &RunOptions) -> Result<StageSummary, ExecError> {
    opts.monitor.event(&Event::Started {
        stage: job.name.clone(),
        total_steps: 0,
        done_steps: 0,
    });
    let result = if video::is_video(&job.config.model) {
        video::evaluate(job, opts)
    } else {
        run_evaluation(job, opts)
    };
    opts.monitor.event(&Event::Finished {
        stage: job.name.clone(),
    });
    result
}

fn run_evaluation(job: &EvalJob, opts: &RunOptions) -> Result<StageSummary, ExecError> {
    let stage = job.name.as_str();
    preflight_evaluation(job, opts.device)?;
    let cfg = &job.config;
    let spec = model::image_spec(stage, &cfg.model)?;
    let mut begun = match driver::begin_evaluation(stage, &job.experiment_dir, opts)? {
        driver::EvalStart::Done(summary) => return Ok(summary),
        driver::EvalStart::Run(begun) => begun,
    };
    let model = model::build(stage, spec, opts.device, cfg.seed)?;
    if let Some(path) = init_weights(&job.experiment_dir, cfg.init.as_ref()) {
        loads_weights(stage, &model, &path, "init", &mut begun.log)?;
    } else if let Some(path) = &spec.weights {
        loads_weights(stage, &model, path, "the model's weights", &mut begun.log)?;
    } else {
        begun.log.note(
            "weights: none given (no init, no model weights): evaluating a randomly initialized model",
        );
    }
    let meters = open_meters(stage, &job.meters, cfg.batch, cfg.workers, &model)?;
    let evaluator = ImageMeters {
        stage,
        model,
        meters,
        device: opts.device,
        autocast: driver::autocast_kind(cfg.precision, opts.device),
    };
    driver::run_evaluation(stage, begun, &evaluator)
}
