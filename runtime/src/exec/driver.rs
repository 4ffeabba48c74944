//! What every stage shares, whatever its model: the stage directory and what an earlier run left in it, the log,
//! `metrics.json`, TensorBoard, the optimizer's parameter groups, the loader of the training data, and the
//! training loop itself (schedule, gradient accumulation, non-finite guard, clipping, checkpoints, evaluation
//! cadence, interruption and exact resume). A model plugs in through [`Trainee`] (the losses of one chunk of a
//! batch) and [`Evaluator`] (its meters); `train.rs` implements them for the image model, `video.rs` for the
//! video model.

use super::batch::images_in;
use super::error::{ExecError, InStage};
use super::meters::MeterResult;
use super::state::{self, CheckpointKind, Progress};
use super::{Evaluated, Event, Monitor, Outcome, RunOptions, StageJob, StageLayout, StageSummary};
use crate::data::{Batch, Dataset, Loader, LoaderConfig, Pipeline};
use crate::train::loss::{LossDict, CORE_LOSS_KEY};
use crate::train::optim::{AdamW, AdamWConfig, GradAccumulation, ParamGroup};
use crate::train::schedule::{LrSchedule, ScheduleTime};
use crate::train::tensorboard::EventWriter;
use crate::train::{guard, TrainError};
use sam3c_stdlib::arch::ParamInfo;
use sam3c_stdlib::components::stage::{Precision, Stage};
use sam3c_stdlib::groups::{self, Resolution};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// A model's meters, run in eval mode.
pub(crate) trait Evaluator {
    /// Whether there is anything to evaluate.
    fn has_meters(&self) -> bool;

    /// Runs every meter, handing each result to `record` as soon as it is known.
    fn evaluate(
        &self,
        record: &mut dyn FnMut(MeterResult) -> Result<(), ExecError>,
    ) -> Result<(), ExecError>;
}

/// A model being trained by [`train`].
pub(crate) trait Trainee: Evaluator {
    /// The store of the model's variables: what checkpoints hold and the optimizer updates.
    fn vs(&self) -> &VarStore;

    /// What a training datapoint is, for log lines ("image", "clip").
    fn datapoint(&self) -> &'static str;

    /// The losses of one chunk of an optimizer step (forward pass in train mode), with upstream's keys and
    /// [`CORE_LOSS_KEY`] to back-propagate; `None`: the chunk has nothing to learn from and is skipped. `seed`
    /// is a function of (stage seed, step, chunk) for models that draw their own random choices.
    fn losses(&self, chunk: &Batch, seed: u64) -> Result<Option<LossDict>, ExecError>;
}

/// bf16 autocast on CUDA when the stage asks for it; fp32 otherwise (a CPU trains in fp32).
pub(crate) fn autocast_kind(precision: Precision, device: Device) -> Option<Kind> {
    (precision == Precision::Bf16 && device.is_cuda()).then_some(Kind::BFloat16)
}

/// fp16 needs loss scaling, which the native runtime does not implement.
pub(crate) fn check_precision(
    stage: &str,
    precision: Precision,
    device: Device,
) -> Result<(), ExecError> {
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

/// `accumulate` must split `batch` into equal chunks.
pub(crate) fn check_accumulation(stage: &str, cfg: &Stage) -> Result<(), ExecError> {
    if cfg.accumulate == 0 || !cfg.batch.is_multiple_of(cfg.accumulate) {
        return Err(ExecError::Config {
            stage: stage.to_string(),
            message: format!(
                "accumulate = {} must divide batch = {} (each batch is split into that many chunks)",
                cfg.accumulate, cfg.batch
            ),
        });
    }
    Ok(())
}

/// The stage's plain-text log (appended to, so a resumed run continues it) and the monitor.
pub(crate) struct StageLog<'a> {
    stage: String,
    file: Option<std::fs::File>,
    monitor: &'a dyn Monitor,
}

impl<'a> StageLog<'a> {
    pub(crate) fn open(
        stage: &str,
        path: &Path,
        monitor: &'a dyn Monitor,
    ) -> Result<Self, ExecError> {
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
    pub(crate) fn detail(&mut self, text: &str) {
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
    pub(crate) fn note(&mut self, text: &str) {
        self.detail(text);
        self.monitor.event(&Event::Message {
            stage: self.stage.clone(),
            text: text.to_string(),
        });
    }
}

/// `metrics.json`: every evaluation of a stage, rewritten atomically after each one.
pub(crate) struct MetricsFile {
    path: PathBuf,
    records: Vec<serde_json::Value>,
}

impl MetricsFile {
    pub(crate) fn open(stage: &str, path: PathBuf, keep: bool) -> Result<Self, ExecError> {
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

pub(crate) fn tb_error(stage: &str) -> impl Fn(TrainError) -> ExecError + '_ {
    move |source| ExecError::Train {
        stage: stage.to_string(),
        source,
    }
}

/// Runs the meters of `evaluator`, records each result (TensorBoard, metrics.json, log) and returns them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate(
    stage: &str,
    evaluator: &dyn Evaluator,
    step: u64,
    epoch: u64,
    tb: &mut EventWriter,
    metrics: &mut MetricsFile,
    log: &mut StageLog,
) -> Result<Vec<Evaluated>, ExecError> {
    let mut out = Vec::new();
    let mut since = Instant::now();
    evaluator.evaluate(&mut |result| {
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
        log.note(&format!(
            "eval {} on {} at step {step} (epoch {epoch}): {} [{} detections, {:.1} s]",
            result.meter,
            result.dataset,
            headline(&result.metrics),
            result.detections,
            since.elapsed().as_secs_f64()
        ));
        let evaluated = Evaluated {
            step,
            epoch,
            result,
        };
        metrics.record(stage, &evaluated)?;
        out.push(evaluated);
        since = Instant::now();
        Ok(())
    })?;
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

/// A stage about to train: its directories exist, its log is open, and where it continues from is known.
pub(crate) struct Begun<'a> {
    pub layout: StageLayout,
    pub log: StageLog<'a>,
    /// The checkpoint to resume from (the stage's `resume`, or `latest` with `--resume`).
    pub resume_from: Option<PathBuf>,
    pub started: Instant,
}

/// How a stage starts.
pub(crate) enum Start<'a> {
    /// Its `final` checkpoint carries its hash: nothing to do.
    UpToDate(StageSummary),
    Train(Begun<'a>),
}

/// Looks at what an earlier run left in the stage directory (see the module docs of [`super`]), creates the
/// directories and opens the log.
pub(crate) fn begin<'a>(job: &StageJob, opts: &RunOptions<'a>) -> Result<Start<'a>, ExecError> {
    let started = Instant::now();
    let stage = job.name.as_str();
    let layout = StageLayout::new(&job.experiment_dir, stage);
    if layout.final_checkpoint().exists() {
        let finished = state::read(stage, &layout.final_checkpoint())?;
        if finished.progress.spec_hash == job.spec_hash {
            return Ok(Start::UpToDate(already_done(
                job, finished, &layout, started, opts,
            )));
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
    let resume_from = job
        .config
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
    let log = StageLog::open(stage, &layout.log(), opts.monitor)?;
    Ok(Start::Train(Begun {
        layout,
        log,
        resume_from,
        started,
    }))
}

/// The training data of a stage: its loader and how many optimizer steps an epoch makes.
pub(crate) struct TrainingData {
    pub loader: Loader,
    pub steps_per_epoch: u64,
    /// Chunks per optimizer step (`accumulate`) and datapoints per chunk.
    pub accumulate: usize,
    pub chunk: usize,
}

/// The training dataset through the stage pipeline, in chunks of `batch / accumulate` datapoints, shuffled per
/// epoch from the seed, the short last batch dropped.
pub(crate) fn training_data(
    stage: &str,
    cfg: &Stage,
    dataset: Arc<dyn Dataset>,
) -> Result<TrainingData, ExecError> {
    let datapoints = dataset.len() * dataset.repeat();
    let pipeline = Pipeline::new(&cfg.pipeline).map_err(|e| ExecError::Config {
        stage: stage.to_string(),
        message: format!("pipeline: {e}"),
    })?;
    let accumulate = cfg.accumulate as usize;
    let chunk = cfg.batch as usize / accumulate;
    let loader = Loader::new(
        dataset,
        pipeline,
        LoaderConfig {
            batch_size: chunk,
            workers: cfg.workers as usize,
            shuffle: true,
            drop_last: true,
            seed: cfg.seed,
            prefetch: (2 * accumulate).max(2),
        },
    )
    .in_stage(stage)?;
    let steps_per_epoch = (loader.batches_per_epoch() / accumulate) as u64;
    if steps_per_epoch == 0 {
        return Err(ExecError::Config {
            stage: stage.to_string(),
            message: format!(
                "the training data has {datapoints} datapoint(s), fewer than one batch of {}",
                cfg.batch
            ),
        });
    }
    Ok(TrainingData {
        loader,
        steps_per_epoch,
        accumulate,
        chunk,
    })
}

/// The spec's optimizer over the model's parameters (`params`: names and module kinds, as the compiler
/// resolved the groups against): AdamW with its parameter groups; frozen parameters stop requiring gradients.
pub(crate) fn optimizer(
    stage: &str,
    cfg: &Stage,
    params: &[ParamInfo],
    vs: &VarStore,
) -> Result<(AdamW, Resolution), ExecError> {
    let (resolution, issues) = groups::resolve(&cfg.optimizer, params, cfg.lr_scale);
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
        return Err(ExecError::Config {
            stage: stage.to_string(),
            message: format!(
                "the optimizer's parameter groups do not fit the model: {}",
                blocking.join("; ")
            ),
        });
    }
    let variables = vs.variables();
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
    let optimizer = AdamW::new(
        AdamWConfig::new(&cfg.optimizer).in_stage(stage)?,
        &named,
        param_groups,
    )
    .in_stage(stage)?;
    Ok((optimizer, resolution))
}

/// Trains `trainee` on `data` with `optimizer` (see the module docs of [`super`]): resumes from
/// `begun.resume_from`, steps through the epochs, writes checkpoints, evaluates on the stage's cadence, and
/// stops early when interrupted.
pub(crate) fn train(
    job: &StageJob,
    opts: &RunOptions,
    begun: Begun,
    data: TrainingData,
    mut optimizer: AdamW,
    frozen: usize,
    trainee: &dyn Trainee,
) -> Result<StageSummary, ExecError> {
    let stage = job.name.as_str();
    let cfg = &job.config;
    let device = opts.device;
    let Begun {
        layout,
        mut log,
        resume_from,
        started,
    } = begun;
    let TrainingData {
        loader,
        steps_per_epoch,
        accumulate,
        chunk,
    } = data;
    let epochs = cfg.epochs.0;
    let total_steps = epochs * steps_per_epoch;
    let schedule = LrSchedule::new(&cfg.schedule, steps_per_epoch);
    let accumulation = GradAccumulation::new(cfg.accumulate, false).in_stage(stage)?;

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
        checkpoint.restore(trainee.vs(), &mut optimizer)?;
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
    if cfg.precision != Precision::Fp32 && autocast_kind(cfg.precision, device).is_none() {
        log.note(&format!(
            "precision {:?} runs in fp32 on {device:?} (mixed precision is for CUDA)",
            cfg.precision
        ));
    }
    let what = trainee.datapoint();
    log.note(&format!(
        "{} optimizer steps: {epochs} epoch(s) × {steps_per_epoch} step(s) of {} {what}(s) ({} chunk(s) of \
         {chunk}); {} parameter group(s), {} frozen parameter tensor(s); device {device:?}",
        total_steps,
        cfg.batch,
        accumulate,
        optimizer.num_groups(),
        frozen
    ));
    opts.monitor.event(&Event::Started {
        stage: stage.to_string(),
        total_steps,
        done_steps: step,
    });

    let mut evaluations = Vec::new();
    if cfg.eval_first && step == 0 && trainee.has_meters() {
        evaluations.extend(evaluate(
            stage,
            trainee,
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
    let finish =
        |outcome, step, epoch, last_loss, first_loss, evaluations, checkpoint| StageSummary {
            name: stage.to_string(),
            outcome,
            steps: step,
            total_steps,
            epochs: epoch,
            seconds: started.elapsed().as_secs_f64(),
            final_loss: last_loss,
            first_loss,
            evaluations,
            checkpoints_dir: layout.checkpoints(),
            checkpoint,
        };

    while epoch < epochs {
        let mut batches = loader.epoch_from(epoch, (skip as usize) * accumulate);
        let mut step_in_epoch = skip;
        skip = 0;
        while step_in_epoch < steps_per_epoch {
            let step_started = Instant::now();
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
            // Time spent waiting for the loader: when it is a large part of the step, the loader is the bottleneck.
            let data_seconds = step_started.elapsed().as_secs_f64();
            let step_seed = state::step_seed(cfg.seed, step);
            tch::manual_seed(step_seed);
            optimizer.zero_grad().in_stage(stage)?;
            let mut totals: BTreeMap<String, f64> = BTreeMap::new();
            let mut images = 0.0;
            for (k, chunk) in chunks.iter().enumerate() {
                images += images_in(chunk);
                let chunk_seed = (step_seed as u64).wrapping_add(k as u64);
                let Some(losses) = trainee.losses(chunk, chunk_seed)? else {
                    continue;
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
            // Without a gradient (every chunk skipped) the step changes no weight.
            optimizer.step().in_stage(stage)?;
            step += 1;
            step_in_epoch += 1;
            steps_this_call += 1;
            let seconds = step_started.elapsed().as_secs_f64();
            train_seconds += seconds;
            let core = totals.get(CORE_LOSS_KEY).copied();
            if let Some(core) = core {
                last_loss = Some(core);
                first_loss.get_or_insert(core);
            } else {
                log.note(&format!(
                    "step {step}: every {what} of the batch was skipped (nothing to learn from); no update"
                ));
            }
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
            let shown_loss = core.unwrap_or(f64::NAN);
            opts.monitor.event(&Event::Step {
                stage: stage.to_string(),
                step,
                total_steps,
                epoch,
                loss: shown_loss,
                lr,
                images_per_s,
            });
            if step == 1 || step == total_steps || step % opts.log_every.max(1) == 0 {
                log.detail(&format!(
                    "step {step}/{total_steps} epoch {epoch}: loss {shown_loss:.4}, lr {lr:.3e}, grad norm \
                     {norm:.3}, {images_per_s:.1} images/s, {seconds:.3} s (data wait {data_seconds:.3} s)"
                ));
            }
            if step_in_epoch < steps_per_epoch && stop_requested(steps_this_call) {
                tb.flush().map_err(tb_error(stage))?;
                let p = progress(step, epoch, step_in_epoch, last_loss, train_seconds);
                let checkpoint = interrupted(
                    job,
                    &layout,
                    trainee.vs(),
                    &optimizer,
                    &p,
                    total_steps,
                    &mut log,
                )?;
                return Ok(finish(
                    Outcome::Interrupted,
                    p.step,
                    p.epoch,
                    p.loss,
                    first_loss,
                    evaluations,
                    checkpoint,
                ));
            }
        }
        drop(batches);
        epoch += 1;
        tb.flush().map_err(tb_error(stage))?;
        if cfg.save {
            let p = progress(step, epoch, 0, last_loss, train_seconds);
            state::save(
                &layout.latest(),
                trainee.vs(),
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
                    trainee.vs(),
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
        if intermediate && epoch < epochs && trainee.has_meters() {
            evaluations.extend(evaluate(
                stage,
                trainee,
                step,
                epoch,
                &mut tb,
                &mut metrics,
                &mut log,
            )?);
        }
        if epoch < epochs && stop_requested(steps_this_call) {
            let p = progress(step, epoch, 0, last_loss, train_seconds);
            let checkpoint = interrupted(
                job,
                &layout,
                trainee.vs(),
                &optimizer,
                &p,
                total_steps,
                &mut log,
            )?;
            return Ok(finish(
                Outcome::Interrupted,
                p.step,
                p.epoch,
                p.loss,
                first_loss,
                evaluations,
                checkpoint,
            ));
        }
    }

    if trainee.has_meters() {
        evaluations.extend(evaluate(
            stage,
            trainee,
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
            trainee.vs(),
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
    Ok(finish(
        Outcome::Finished,
        step,
        epoch,
        last_loss,
        first_loss,
        evaluations,
        checkpoint,
    ))
}

/// Saves `latest` at the current step and reports the interruption; returns the checkpoint written.
fn interrupted(
    job: &StageJob,
    layout: &StageLayout,
    vs: &VarStore,
    optimizer: &AdamW,
    progress: &Progress,
    total_steps: u64,
    log: &mut StageLog,
) -> Result<Option<PathBuf>, ExecError> {
    let checkpoint = if job.config.save {
        state::save(
            &layout.latest(),
            vs,
            optimizer,
            progress,
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
    Ok(checkpoint)
}

/// The summary of a stage whose `final` checkpoint carries its hash: nothing runs.
fn already_done(
    job: &StageJob,
    checkpoint: state::StageCheckpoint,
    layout: &StageLayout,
    started: Instant,
    opts: &RunOptions,
) -> StageSummary {
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
    StageSummary {
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
    }
}

/// An evaluation about to run: its log is open.
pub(crate) struct EvalBegun<'a> {
    pub layout: StageLayout,
    pub log: StageLog<'a>,
    pub started: Instant,
}

/// How an evaluation starts.
pub(crate) enum EvalStart<'a> {
    /// Its `metrics.json` exists and the run resumes: nothing to do.
    Done(StageSummary),
    Run(EvalBegun<'a>),
}

fn evaluation_summary(
    name: &str,
    layout: &StageLayout,
    started: Instant,
    outcome: Outcome,
    evaluations: Vec<Evaluated>,
) -> StageSummary {
    StageSummary {
        name: name.to_string(),
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
    }
}

/// An evaluation's earlier results: kept (and skipped) with `--resume`, refused otherwise.
pub(crate) fn begin_evaluation<'a>(
    name: &str,
    experiment_dir: &Path,
    opts: &RunOptions<'a>,
) -> Result<EvalStart<'a>, ExecError> {
    let started = Instant::now();
    let layout = StageLayout::new(experiment_dir, name);
    if layout.metrics().exists() {
        if opts.resume {
            return Ok(EvalStart::Done(evaluation_summary(
                name,
                &layout,
                started,
                Outcome::AlreadyDone,
                Vec::new(),
            )));
        }
        return Err(ExecError::OutputExists {
            stage: name.to_string(),
            dir: layout.dir.clone(),
            what: "the metrics of an earlier evaluation (metrics.json)".to_string(),
        });
    }
    let log = StageLog::open(name, &layout.log(), opts.monitor)?;
    Ok(EvalStart::Run(EvalBegun {
        layout,
        log,
        started,
    }))
}

/// Runs an evaluation's meters and records them (step 0).
pub(crate) fn run_evaluation(
    name: &str,
    begun: EvalBegun,
    evaluator: &dyn Evaluator,
) -> Result<StageSummary, ExecError> {
    let EvalBegun {
        layout,
        mut log,
        started,
    } = begun;
    let mut tb = EventWriter::create(&layout.tensorboard()).map_err(tb_error(name))?;
    let mut metrics = MetricsFile::open(name, layout.metrics(), false)?;
    let evaluations = evaluate(name, evaluator, 0, 0, &mut tb, &mut metrics, &mut log)?;
    Ok(evaluation_summary(
        name,
        &layout,
        started,
        Outcome::Finished,
        evaluations,
    ))
}
