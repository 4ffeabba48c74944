//! The training loop of a stage and the run of an evaluation; see the module docs of [`super`] for the
//! sequence of a stage and what it writes.

use super::batch::{find_batch, find_outputs, find_targets, images_in};
use super::error::{ExecError, InStage};
use super::meters::Meter;
use super::model::{self, video_stage, StageModel};
use super::state::{self, CheckpointKind, Progress};
use super::{
    init_weights, EvalJob, Evaluated, Event, Outcome, RunOptions, StageJob, StageLayout,
    StageSummary,
};
use crate::data::{Batch, CocoImageDataset, Dataset, Loader, LoaderConfig, Pipeline};
use crate::train::loss::{Normalization, Sam3Loss, CORE_LOSS_KEY};
use crate::train::optim::{AdamW, AdamWConfig, GradAccumulation, ParamGroup};
use crate::train::schedule::{LrSchedule, ScheduleTime};
use crate::train::tensorboard::EventWriter;
use crate::train::{amp, guard, TrainError};
use sam3c_stdlib::arch::image::image_params;
use sam3c_stdlib::components::data::DatasetSpec;
use sam3c_stdlib::components::loss::LossSpec;
use sam3c_stdlib::components::meter::MeterSpec;
use sam3c_stdlib::components::stage::Precision;
use sam3c_stdlib::groups;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Refuses what the native runtime cannot run, before anything is loaded.
pub(crate) fn preflight(job: &StageJob, device: Device) -> Result<(), ExecError> {
    let stage = job.name.as_str();
    let cfg = &job.config;
    model::image_spec(stage, &cfg.model)?;
    if matches!(cfg.data, DatasetSpec::YtvisVideos(_))
        || matches!(cfg.loss, LossSpec::TrackerLoss(_))
    {
        return Err(video_stage(stage));
    }
    check_precision(stage, cfg.precision, device)?;
    if cfg.accumulate == 0 || cfg.batch % cfg.accumulate != 0 {
        return Err(ExecError::Config {
            stage: stage.to_string(),
            message: format!(
                "accumulate = {} must divide batch = {} (each batch is split into that many chunks)",
                cfg.accumulate, cfg.batch
            ),
        });
    }
    check_meters(stage, job.meters.iter().map(|m| (&m.name, &m.spec)))
}

pub(crate) fn preflight_evaluation(job: &EvalJob, device: Device) -> Result<(), ExecError> {
    let stage = job.name.as_str();
    model::image_spec(stage, &job.config.model)?;
    check_precision(stage, job.config.precision, device)?;
    check_meters(stage, job.meters.iter().map(|m| (&m.name, &m.spec)))
}

fn check_precision(stage: &str, precision: Precision, device: Device) -> Result<(), ExecError> {
    if precision == Precision::Fp16 && device.is_cuda() {
        return Err(ExecError::Unsupported {
            stage: stage.to_string(),
            message: "precision = fp16 needs loss scaling, which the native runtime does not implement; use \
                      bf16 (as upstream's recipes do) or fp32"
                .to_string(),
        });
    }
    Ok(())
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
                        "meter `{name}` is a video meter; the native runtime evaluates image meters (coco_ap, \
                         cgf1)"
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

/// bf16 autocast on CUDA when the stage asks for it; fp32 otherwise (a CPU trains in fp32).
fn autocast_kind(precision: Precision, device: Device) -> Option<Kind> {
    (precision == Precision::Bf16 && device.is_cuda()).then_some(Kind::BFloat16)
}

/// The stage's plain-text log (appended to, so a resumed run continues it) and the monitor.
struct StageLog<'a> {
    stage: String,
    file: Option<std::fs::File>,
    monitor: &'a dyn super::Monitor,
}

impl<'a> StageLog<'a> {
    fn open(stage: &str, path: &Path, monitor: &'a dyn super::Monitor) -> Result<Self, ExecError> {
        let io = |source| ExecError::Io {
            stage: stage.to_string(),
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(StageLog {
            stage: stage.to_string(),
            file: Some(file),
            monitor,
        })
    }

    /// A line for the log file only.
    fn detail(&mut self, text: &str) {
        if let Some(file) = &mut self.file {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            // A log line that cannot be written must not stop training; the file is best effort.
            let _ = writeln!(file, "[{stamp:.3}] {text}");
        }
    }

    /// A line for the log file and the user.
    fn note(&mut self, text: &str) {
        self.detail(text);
        self.monitor.event(&Event::Message {
            stage: self.stage.clone(),
            text: text.to_string(),
        });
    }
}

/// `metrics.json`: every evaluation of a stage, rewritten atomically after each one.
struct MetricsFile {
    path: PathBuf,
    records: Vec<serde_json::Value>,
}

impl MetricsFile {
    fn open(stage: &str, path: PathBuf, keep: bool) -> Result<Self, ExecError> {
        let records = if keep && path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|source| ExecError::Io {
                stage: stage.to_string(),
                path: path.clone(),
                source,
            })?;
            serde_json::from_str(&text).map_err(|e| ExecError::Config {
                stage: stage.to_string(),
                message: format!("{} is not a metrics file: {e}", path.display()),
            })?
        } else {
            Vec::new()
        };
        Ok(MetricsFile { path, records })
    }

    fn record(&mut self, stage: &str, evaluated: &Evaluated) -> Result<(), ExecError> {
        let metrics: serde_json::Map<String, serde_json::Value> = evaluated
            .result
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!(v)))
            .collect();
        self.records.push(serde_json::json!({
            "step": evaluated.step,
            "epoch": evaluated.epoch,
            "meter": evaluated.result.meter,
            "dataset": evaluated.result.dataset,
            "detections": evaluated.result.detections,
            "images": evaluated.result.images,
            "metrics": metrics,
        }));
        let text = serde_json::to_string_pretty(&self.records).expect("JSON values");
        let tmp = self.path.with_extension("json.tmp");
        let io = |source| ExecError::Io {
            stage: stage.to_string(),
            path: self.path.clone(),
            source,
        };
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

fn tb_error(stage: &str) -> impl Fn(TrainError) -> ExecError + '_ {
    move |source| ExecError::Train {
        stage: stage.to_string(),
        source,
    }
}

/// Runs every meter, records the results (TensorBoard, metrics.json, log) and returns them.
#[allow(clippy::too_many_arguments)]
fn run_meters(
    stage: &str,
    meters: &[Meter],
    model: &StageModel,
    device: Device,
    autocast: Option<Kind>,
    step: u64,
    epoch: u64,
    tb: &mut EventWriter,
    metrics: &mut MetricsFile,
    log: &mut StageLog,
) -> Result<Vec<Evaluated>, ExecError> {
    let mut out = Vec::new();
    for meter in meters {
        let started = Instant::now();
        let result = meter.run(stage, &model.model, device, autocast)?;
        let scalars: Vec<(String, f32)> = result
            .metrics
            .iter()
            .map(|(k, v)| {
                (
                    format!("Meters_val/{}/{}/{k}", result.dataset, result.meter),
                    *v as f32,
                )
            })
            .collect();
        let refs: Vec<(&str, f32)> = scalars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        tb.add_scalars(step as i64, &refs)
            .map_err(tb_error(stage))?;
        tb.flush().map_err(tb_error(stage))?;
        let headline = headline(&result.metrics);
        log.note(&format!(
            "eval {} on {} at step {step} (epoch {epoch}): {headline} [{} detections, {:.1} s]",
            meter.name(),
            result.dataset,
            result.detections,
            started.elapsed().as_secs_f64()
        ));
        let evaluated = Evaluated {
            step,
            epoch,
            result,
        };
        metrics.record(stage, &evaluated)?;
        out.push(evaluated);
    }
    Ok(out)
}

/// The first metrics of a result (AP, AP_50 or cgF1, ...), for log lines.
pub(crate) fn headline(metrics: &[(String, f64)]) -> String {
    metrics
        .iter()
        .take(3)
        .map(|(k, v)| format!("{k} = {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// True when the stage directory holds results of an earlier run.
fn has_results(layout: &StageLayout) -> bool {
    let checkpoints = std::fs::read_dir(layout.checkpoints())
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "safetensors"))
        })
        .unwrap_or(false);
    checkpoints || layout.metrics().exists()
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

/// Trains one stage; see the module docs of [`super`].
pub fn train_stage(job: &StageJob, opts: &RunOptions) -> Result<StageSummary, ExecError> {
    let stage = job.name.as_str();
    opts.monitor.event(&Event::Started {
        stage: stage.to_string(),
        total_steps: 0,
        done_steps: 0,
    });
    let result = run_stage(job, opts);
    opts.monitor.event(&Event::Finished {
        stage: stage.to_string(),
    });
    result
}

fn run_stage(job: &StageJob, opts: &RunOptions) -> Result<StageSummary, ExecError> {
    let started = Instant::now();
    let stage = job.name.as_str();
    preflight(job, opts.device)?;
    let cfg = &job.config;
    let spec = model::image_spec(stage, &cfg.model)?;
    let layout = StageLayout::new(&job.experiment_dir, stage);
    let config_error = |message: String| ExecError::Config {
        stage: stage.to_string(),
        message,
    };

    // What an earlier run left.
    if layout.final_checkpoint().exists() {
        let finished = state::read(stage, &layout.final_checkpoint())?;
        if finished.progress.spec_hash == job.spec_hash {
            return already_done(job, finished, &layout, started, opts);
        }
        return Err(ExecError::OutputExists {
            stage: stage.to_string(),
            dir: layout.dir.clone(),
            what: format!(
                "a finished run of a differently configured stage (checkpoints/final.safetensors has hash {}, \
                 the spec gives {})",
                finished.progress.spec_hash, job.spec_hash
            ),
        });
    }
    let resume_from = cfg
        .resume
        .clone()
        .or_else(|| (opts.resume && layout.latest().exists()).then(|| layout.latest()));
    if resume_from.is_none() && has_results(&layout) && !opts.resume {
        return Err(ExecError::OutputExists {
            stage: stage.to_string(),
            dir: layout.dir.clone(),
            what: "results of an earlier run".to_string(),
        });
    }
    for dir in [layout.checkpoints(), layout.tensorboard()] {
        std::fs::create_dir_all(&dir).map_err(|source| ExecError::Io {
            stage: stage.to_string(),
            path: dir.clone(),
            source,
        })?;
    }
    let mut log = StageLog::open(stage, &layout.log(), opts.monitor)?;
    let device = opts.device;

    // The model and its weights.
    let model = model::build(stage, spec, device, cfg.seed)?;
    if resume_from.is_none() {
        if let Some(path) = init_weights(&job.experiment_dir, cfg.init.as_ref()) {
            loads_weights(stage, &model, &path, "init", &mut log)?;
        } else if let Some(path) = &spec.weights {
            loads_weights(stage, &model, path, "the model's weights", &mut log)?;
        } else {
            log.note("weights: random initialization (no init, no model weights)");
        }
    }

    // Data.
    let DatasetSpec::CocoImages(data) = &cfg.data else {
        return Err(video_stage(stage));
    };
    let dataset = CocoImageDataset::open(data, true).in_stage(stage)?;
    let with_masks = model.config.enable_segmentation && dataset.loads_masks();
    let datapoints = dataset.len() * dataset.repeat();
    let pipeline =
        Pipeline::new(&cfg.pipeline).map_err(|e| config_error(format!("pipeline: {e}")))?;
    let accumulate = cfg.accumulate as usize;
    let chunk = cfg.batch as usize / accumulate;
    let workers = cfg.workers as usize;
    let loader = Loader::new(
        Arc::new(dataset),
        pipeline,
        LoaderConfig {
            batch_size: chunk,
            workers,
            shuffle: true,
            drop_last: true,
            seed: cfg.seed,
            prefetch: (2 * accumulate).max(2),
        },
    )
    .in_stage(stage)?;
    let steps_per_epoch = (loader.batches_per_epoch() / accumulate) as u64;
    if steps_per_epoch == 0 {
        return Err(config_error(format!(
            "the training data has {datapoints} datapoint(s), fewer than one batch of {}",
            cfg.batch
        )));
    }
    let epochs = cfg.epochs.0;
    let total_steps = epochs * steps_per_epoch;
    let schedule = LrSchedule::new(&cfg.schedule, steps_per_epoch);

    // Optimizer: the spec's groups over the model's parameters; frozen ones get no gradient.
    let (resolution, issues) =
        groups::resolve(&cfg.optimizer, &image_params(&model.config), cfg.lr_scale);
    let blocking: Vec<String> = issues
        .iter()
        .filter(|i| {
            !matches!(
                i,
                groups::GroupIssue::NoMatch { .. } | groups::GroupIssue::FrozenInGroup { .. }
            )
        })
        .map(|i| format!("{i:?}"))
        .collect();
    if !blocking.is_empty() {
        return Err(config_error(format!(
            "the optimizer's parameter groups do not fit the model: {}",
            blocking.join("; ")
        )));
    }
    let variables = model.vs.variables();
    for name in &resolution.frozen {
        if let Some(t) = variables.get(name) {
            let _ = t.set_requires_grad(false);
        }
    }
    let named: Vec<(String, Tensor)> = variables.into_iter().collect();
    let param_groups: Vec<ParamGroup> = resolution
        .groups
        .iter()
        .map(|g| ParamGroup {
            params: g.params.clone(),
            lr: g.lr,
            lr_scale: 1.0,
            weight_decay: g.weight_decay,
        })
        .collect();
    let mut optimizer = AdamW::new(
        AdamWConfig::new(&cfg.optimizer).in_stage(stage)?,
        &named,
        param_groups,
    )
    .in_stage(stage)?;
    let accumulation = GradAccumulation::new(cfg.accumulate, false).in_stage(stage)?;

    let LossSpec::Sam3Loss(loss_config) = &cfg.loss else {
        return Err(video_stage(stage));
    };
    let loss = Sam3Loss::new(loss_config, Normalization::Local).in_stage(stage)?;
    let context_length = model.config.text_context_length;
    let meters = job
        .meters
        .iter()
        .map(|m| {
            Meter::open(
                stage,
                m,
                cfg.batch as usize,
                workers,
                model.config.enable_segmentation,
                context_length,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Where the run starts.
    let (mut step, mut epoch, mut skip, mut train_seconds, mut last_loss) =
        (0u64, 0u64, 0u64, 0.0, None);
    if let Some(path) = &resume_from {
        let checkpoint = state::read(stage, path)?;
        if checkpoint.progress.stage_hash != job.stage_hash {
            return Err(ExecError::BadCheckpoint {
                stage: stage.to_string(),
                path: path.clone(),
                message: format!(
                    "was written by stage `{}` configured differently (configuration hash {} ≠ {}); it cannot \
                     resume this stage. Use it as `init` to start a new stage from its weights",
                    checkpoint.progress.stage, checkpoint.progress.stage_hash, job.stage_hash
                ),
            });
        }
        checkpoint.restore(&model.vs, &mut optimizer)?;
        let p = &checkpoint.progress;
        (step, epoch, skip, train_seconds, last_loss) =
            (p.step, p.epoch, p.steps_in_epoch, p.train_seconds, p.loss);
        log.note(&format!(
            "resuming from {} at step {step} (epoch {epoch}, step {skip} of the epoch)",
            path.display()
        ));
    }
    let mut metrics = MetricsFile::open(stage, layout.metrics(), resume_from.is_some())?;
    let mut tb = EventWriter::create(&layout.tensorboard()).map_err(tb_error(stage))?;
    let autocast = autocast_kind(cfg.precision, device);
    if cfg.precision != Precision::Fp32 && autocast.is_none() {
        log.note(&format!(
            "precision {:?} runs in fp32 on {device:?} (mixed precision is for CUDA)",
            cfg.precision
        ));
    }
    log.note(&format!(
        "{} optimizer steps: {epochs} epoch(s) × {steps_per_epoch} step(s) of {} image(s) ({} chunk(s) of {chunk}); \
         {} parameter group(s), {} frozen parameter tensor(s); device {device:?}",
        total_steps,
        cfg.batch,
        accumulate,
        optimizer.num_groups(),
        resolution.frozen.len()
    ));
    opts.monitor.event(&Event::Started {
        stage: stage.to_string(),
        total_steps,
        done_steps: step,
    });

    let mut evaluations = Vec::new();
    if cfg.eval_first && step == 0 && !meters.is_empty() {
        evaluations.extend(run_meters(
            stage,
            &meters,
            &model,
            device,
            autocast,
            0,
            0,
            &mut tb,
            &mut metrics,
            &mut log,
        )?);
    }

    let progress = |step, epoch, steps_in_epoch, loss, train_seconds| Progress {
        stage: stage.to_string(),
        stage_hash: job.stage_hash.clone(),
        spec_hash: job.spec_hash.clone(),
        step,
        epoch,
        steps_in_epoch,
        seed: cfg.seed,
        loss,
        train_seconds,
    };
    let latest_good = || layout.latest().exists().then(|| layout.latest());
    let mut steps_this_call = 0u64;
    let mut first_loss = None;
    let group_tags: Vec<String> = (0..optimizer.num_groups())
        .map(|g| {
            if optimizer.num_groups() > 1 {
                format!("Optim/{g}_/lr")
            } else {
                "Optim/lr".to_string()
            }
        })
        .collect();
    let stop_requested = |steps_this_call: u64| {
        opts.interrupt.load(Ordering::SeqCst)
            || opts.stop_after_steps.is_some_and(|n| steps_this_call >= n)
    };

    while epoch < epochs {
        let mut batches = loader.epoch_from(epoch, (skip as usize) * accumulate);
        let mut step_in_epoch = skip;
        skip = 0;
        while step_in_epoch < steps_per_epoch {
            let step_started = Instant::now();
            // Time spent waiting for the loader: when it is a large part of the step, the loader is the bottleneck.
            let chunks: Vec<Batch> = (0..accumulate)
                .map(|_| {
                    batches.next().unwrap_or_else(|| {
                        Err(crate::data::DataError::Config(
                            "the loader ended before the epoch's last step".into(),
                        ))
                    })
                })
                .collect::<Result<_, _>>()
                .in_stage(stage)?;
            let data_seconds = step_started.elapsed().as_secs_f64();
            tch::manual_seed(state::step_seed(cfg.seed, step));
            optimizer.zero_grad().in_stage(stage)?;
            let mut totals: BTreeMap<String, f64> = BTreeMap::new();
            let mut images = 0.0;
            for chunk in &chunks {
                let Some(find_stage) = chunk.stages.first() else {
                    return Err(config_error("a training batch has no query".into()));
                };
                images += images_in(chunk);
                let input = find_batch(chunk, find_stage, context_length, device);
                let targets = find_targets(find_stage, with_masks, device).in_stage(stage)?;
                let losses = {
                    let _autocast = match autocast {
                        Some(kind) => Some(amp::Autocast::enter(device, kind).in_stage(stage)?),
                        None => None,
                    };
                    let out = model.model.forward(&input, true).in_stage(stage)?;
                    loss.forward(&[vec![find_outputs(out)]], &[targets])
                        .in_stage(stage)?
                };
                if let Err(TrainError::NonFinite { terms, .. }) = guard::check_losses(step, &losses)
                {
                    return Err(ExecError::NonFinite {
                        stage: stage.to_string(),
                        step: step + 1,
                        terms,
                        last_good: latest_good(),
                    });
                }
                let keys: Vec<&String> = losses.keys().collect();
                let values = Tensor::stack(
                    &losses
                        .values()
                        .map(|v| {
                            v.detach()
                                .to_kind(Kind::Double)
                                .reshape([-1])
                                .sum(Kind::Double)
                        })
                        .collect::<Vec<_>>(),
                    0,
                );
                let values = Vec::<f64>::try_from(values.to_device(Device::Cpu)).in_stage(stage)?;
                for (k, v) in keys.into_iter().zip(values) {
                    *totals.entry(k.clone()).or_default() += v;
                }
                (&losses[CORE_LOSS_KEY] * accumulation.loss_scale()).backward();
            }
            drop(chunks);
            let time = ScheduleTime::upstream(epoch, step_in_epoch, steps_per_epoch, epochs);
            optimizer.apply_schedule(&schedule, time);
            let norm = match cfg.optimizer.clip_norm {
                Some(max) => optimizer.clip_grad_norm(max),
                None => optimizer.grad_norm(),
            }
            .in_stage(stage)?;
            if let Err(TrainError::NonFinite { terms, .. }) = guard::check_grad_norm(step, norm) {
                return Err(ExecError::NonFinite {
                    stage: stage.to_string(),
                    step: step + 1,
                    terms,
                    last_good: latest_good(),
                });
            }
            optimizer.step().in_stage(stage)?;
            step += 1;
            step_in_epoch += 1;
            steps_this_call += 1;
            let seconds = step_started.elapsed().as_secs_f64();
            train_seconds += seconds;
            let core = totals.get(CORE_LOSS_KEY).copied().unwrap_or(f64::NAN);
            last_loss = Some(core);
            first_loss.get_or_insert(core);
            let lrs = optimizer.learning_rates();
            let images_per_s = images / seconds.max(1e-9);

            // TensorBoard: upstream's names for the losses and learning rates.
            let mut scalars: Vec<(String, f32)> = totals
                .iter()
                .map(|(k, v)| {
                    let tag = if k == CORE_LOSS_KEY {
                        "Step_Losses/Losses/train_all_loss".to_string()
                    } else {
                        format!("Step_Losses/Losses/train_all_loss/{k}")
                    };
                    (tag, *v as f32)
                })
                .collect();
            scalars.extend(
                group_tags
                    .iter()
                    .cloned()
                    .zip(lrs.iter().map(|&v| v as f32)),
            );
            scalars.push(("Optim/grad_norm".to_string(), norm as f32));
            scalars.push(("Throughput/images_per_s".to_string(), images_per_s as f32));
            scalars.push(("Throughput/data_wait_s".to_string(), data_seconds as f32));
            let refs: Vec<(&str, f32)> = scalars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            tb.add_scalars(step as i64, &refs)
                .map_err(tb_error(stage))?;

            let lr = lrs.first().copied().unwrap_or(0.0);
            opts.monitor.event(&Event::Step {
                stage: stage.to_string(),
                step,
                total_steps,
                epoch,
                loss: core,
                lr,
                images_per_s,
            });
            if step == 1 || step == total_steps || step % opts.log_every.max(1) == 0 {
                log.detail(&format!(
                    "step {step}/{total_steps} epoch {epoch}: loss {core:.4}, lr {lr:.3e}, grad norm {norm:.3}, \
                     {images_per_s:.1} images/s, {seconds:.3} s (data wait {data_seconds:.3} s)"
                ));
            }
            if step_in_epoch < steps_per_epoch && stop_requested(steps_this_call) {
                tb.flush().map_err(tb_error(stage))?;
                return interrupted(
                    job,
                    &layout,
                    &model,
                    &optimizer,
                    progress(step, epoch, step_in_epoch, last_loss, train_seconds),
                    total_steps,
                    first_loss,
                    evaluations,
                    started,
                    &mut log,
                );
            }
        }
        drop(batches);
        epoch += 1;
        tb.flush().map_err(tb_error(stage))?;
        if cfg.save {
            let p = progress(step, epoch, 0, last_loss, train_seconds);
            state::save(
                &layout.latest(),
                &model.vs,
                &optimizer,
                &p,
                CheckpointKind::Latest,
            )?;
            if cfg
                .save_every
                .is_some_and(|every| every.0 > 0 && epoch % every.0 == 0)
            {
                state::save(
                    &layout.epoch_checkpoint(epoch),
                    &model.vs,
                    &optimizer,
                    &p,
                    CheckpointKind::Epoch,
                )?;
            }
        }
        log.detail(&format!("epoch {epoch}/{epochs} done at step {step}"));
        // Upstream's cadence: after 0-based epoch e when e % every == 0, except the last (evaluated below).
        let e = epoch - 1;
        let intermediate = cfg
            .eval_every
            .is_some_and(|every| every.0 > 0 && e % every.0 == 0);
        if intermediate && epoch < epochs && !meters.is_empty() {
            evaluations.extend(run_meters(
                stage,
                &meters,
                &model,
                device,
                autocast,
                step,
                epoch,
                &mut tb,
                &mut metrics,
                &mut log,
            )?);
        }
        if epoch < epochs && stop_requested(steps_this_call) {
            let p = progress(step, epoch, 0, last_loss, train_seconds);
            return interrupted(
                job,
                &layout,
                &model,
                &optimizer,
                p,
                total_steps,
                first_loss,
                evaluations,
                started,
                &mut log,
            );
        }
    }

    if !meters.is_empty() {
        evaluations.extend(run_meters(
            stage,
            &meters,
            &model,
            device,
            autocast,
            step,
            epoch,
            &mut tb,
            &mut metrics,
            &mut log,
        )?);
    }
    let checkpoint = if cfg.save {
        let p = progress(step, epoch, 0, last_loss, train_seconds);
        state::save(
            &layout.final_checkpoint(),
            &model.vs,
            &optimizer,
            &p,
            CheckpointKind::Final,
        )?;
        Some(layout.final_checkpoint())
    } else {
        None
    };
    tb.flush().map_err(tb_error(stage))?;
    log.note(&format!(
        "finished: {step} steps, {epoch} epochs, final loss {}, {:.1} s{}",
        last_loss.map_or("-".to_string(), |l| format!("{l:.4}")),
        started.elapsed().as_secs_f64(),
        checkpoint
            .as_ref()
            .map_or(String::new(), |p| format!(", weights in {}", p.display()))
    ));
    Ok(StageSummary {
        name: stage.to_string(),
        outcome: Outcome::Finished,
        steps: step,
        total_steps,
        epochs: epoch,
        seconds: started.elapsed().as_secs_f64(),
        final_loss: last_loss,
        first_loss,
        evaluations,
        checkpoints_dir: layout.checkpoints(),
        checkpoint,
    })
}

/// Saves `latest` at the current step and reports the interruption.
#[allow(clippy::too_many_arguments)]
fn interrupted(
    job: &StageJob,
    layout: &StageLayout,
    model: &StageModel,
    optimizer: &AdamW,
    progress: Progress,
    total_steps: u64,
    first_loss: Option<f64>,
    evaluations: Vec<Evaluated>,
    started: Instant,
    log: &mut StageLog,
) -> Result<StageSummary, ExecError> {
    let checkpoint = if job.config.save {
        state::save(
            &layout.latest(),
            &model.vs,
            optimizer,
            &progress,
            CheckpointKind::Interrupted,
        )?;
        Some(layout.latest())
    } else {
        None
    };
    log.note(&format!(
        "interrupted at step {} of {total_steps}{}",
        progress.step,
        match &checkpoint {
            Some(p) => format!("; {} holds the state, continue with --resume", p.display()),
            None => "; the stage does not save checkpoints (save = false), so it cannot resume"
                .to_string(),
        }
    ));
    Ok(StageSummary {
        name: job.name.clone(),
        outcome: Outcome::Interrupted,
        steps: progress.step,
        total_steps,
        epochs: progress.epoch,
        seconds: started.elapsed().as_secs_f64(),
        final_loss: progress.loss,
        first_loss,
        evaluations,
        checkpoints_dir: layout.checkpoints(),
        checkpoint,
    })
}

/// The summary of a stage whose `final` checkpoint carries its hash: nothing runs.
fn already_done(
    job: &StageJob,
    checkpoint: state::StageCheckpoint,
    layout: &StageLayout,
    started: Instant,
    opts: &RunOptions,
) -> Result<StageSummary, ExecError> {
    let p = &checkpoint.progress;
    let text = format!(
        "up to date: {} holds this configuration's finished run (hash {}); skipped",
        layout.final_checkpoint().display(),
        p.spec_hash
    );
    opts.monitor.event(&Event::Message {
        stage: job.name.clone(),
        text,
    });
    Ok(StageSummary {
        name: job.name.clone(),
        outcome: Outcome::AlreadyDone,
        steps: p.step,
        total_steps: p.step,
        epochs: p.epoch,
        seconds: started.elapsed().as_secs_f64(),
        final_loss: p.loss,
        first_loss: None,
        evaluations: Vec::new(),
        checkpoints_dir: layout.checkpoints(),
        checkpoint: Some(layout.final_checkpoint()),
    })
}

/// Runs an evaluation: the meters on a model with weights from `init` or the model's `weights`.
pub fn evaluate(job: &EvalJob, opts: &RunOptions) -> Result<StageSummary, ExecError> {
    opts.monitor.event(&Event::Started {
        stage: job.name.clone(),
        total_steps: 0,
        done_steps: 0,
    });
    let result = run_evaluation(job, opts);
    opts.monitor.event(&Event::Finished {
        stage: job.name.clone(),
    });
    result
}

fn run_evaluation(job: &EvalJob, opts: &RunOptions) -> Result<StageSummary, ExecError> {
    let started = Instant::now();
    let stage = job.name.as_str();
    preflight_evaluation(job, opts.device)?;
    let cfg = &job.config;
    let spec = model::image_spec(stage, &cfg.model)?;
    let layout = StageLayout::new(&job.experiment_dir, stage);
    let summary = |outcome, evaluations| StageSummary {
        name: stage.to_string(),
        outcome,
        steps: 0,
        total_steps: 0,
        epochs: 0,
        seconds: started.elapsed().as_secs_f64(),
        final_loss: None,
        first_loss: None,
        evaluations,
        checkpoints_dir: layout.checkpoints(),
        checkpoint: None,
    };
    if layout.metrics().exists() {
        if opts.resume {
            return Ok(summary(Outcome::AlreadyDone, Vec::new()));
        }
        return Err(ExecError::OutputExists {
            stage: stage.to_string(),
            dir: layout.dir.clone(),
            what: "the metrics of an earlier evaluation (metrics.json)".to_string(),
        });
    }
    let mut log = StageLog::open(stage, &layout.log(), opts.monitor)?;
    let model = model::build(stage, spec, opts.device, cfg.seed)?;
    if let Some(path) = init_weights(&job.experiment_dir, cfg.init.as_ref()) {
        loads_weights(stage, &model, &path, "init", &mut log)?;
    } else if let Some(path) = &spec.weights {
        loads_weights(stage, &model, path, "the model's weights", &mut log)?;
    } else {
        log.note("weights: none given (no init, no model weights): evaluating a randomly initialized model");
    }
    let meters = job
        .meters
        .iter()
        .map(|m| {
            Meter::open(
                stage,
                m,
                cfg.batch as usize,
                cfg.workers as usize,
                model.config.enable_segmentation,
                model.config.text_context_length,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut tb = EventWriter::create(&layout.tensorboard()).map_err(tb_error(stage))?;
    let mut metrics = MetricsFile::open(stage, layout.metrics(), false)?;
    let autocast = autocast_kind(cfg.precision, opts.device);
    let evaluations = run_meters(
        stage,
        &meters,
        &model,
        opts.device,
        autocast,
        0,
        0,
        &mut tb,
        &mut metrics,
        &mut log,
    )?;
    Ok(summary(Outcome::Finished, evaluations))
}
