//! Learning-rate schedules with upstream's step convention. The trainer evaluates a schedule before every
//! optimizer step at `(step, where)`: `step` counts optimizer steps (after gradient accumulation) and `where` is
//! the fraction of training done, so that the total is `S = step / where` (upstream `sched(step, where)`; S is 1
//! when `where` is 0).

use sam3c_stdlib::components::optim::Schedule;
use std::f64::consts::PI;

/// When a schedule is evaluated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduleTime {
    /// Optimizer steps done before this one.
    pub step: u64,
    /// Fraction of training done, in [0, 1).
    pub fraction: f64,
}

impl ScheduleTime {
    /// Step `step` of `total_steps`.
    pub fn of(step: u64, total_steps: u64) -> Self {
        let fraction = if total_steps == 0 {
            0.0
        } else {
            step as f64 / total_steps as f64
        };
        ScheduleTime { step, fraction }
    }

    /// Exactly what upstream's trainer passes at iteration `data_iter` of `epoch`:
    /// `where = (epoch + data_iter / iters_per_epoch) / max_epochs`, `step = int(exact_epoch · iters_per_epoch)`.
    pub fn upstream(epoch: u64, data_iter: u64, iters_per_epoch: u64, max_epochs: u64) -> Self {
        let exact_epoch = epoch as f64 + data_iter as f64 / iters_per_epoch as f64;
        ScheduleTime {
            step: (exact_epoch * iters_per_epoch as f64) as u64,
            fraction: exact_epoch / max_epochs as f64,
        }
    }

    /// The total number of steps the schedule assumes: `step / where`, or 1 when `where` is 0 (upstream).
    pub fn total_steps(&self) -> f64 {
        if self.fraction > 0.0 {
            self.step as f64 / self.fraction
        } else {
            1.0
        }
    }
}

/// A learning-rate schedule; spans are in optimizer steps.
#[derive(Debug, Clone, PartialEq)]
pub enum LrSchedule {
    /// Upstream `InverseSquareRootParamScheduler`: `lr / sqrt((step + T − W) / T)` after warmup, times
    /// `min(1, step / W)` (warmup) and `min(1, (S − step) / C)` (cooldown).
    InverseSqrt {
        warmup: u64,
        timescale: u64,
        cooldown: u64,
    },
    /// Linear warmup over `warmup` steps, then a half cosine from `lr` to `lr · final_scale` at the last step
    /// (fvcore's `CosineParamScheduler` after a `LinearParamScheduler`).
    Cosine { warmup: u64, final_scale: f64 },
    /// `lr`, with the same linear warmup and cooldown factors as `InverseSqrt`.
    Constant { warmup: u64, cooldown: u64 },
}

impl LrSchedule {
    /// The schedule of a catalog value; spans given in epochs are converted with `steps_per_epoch`.
    pub fn new(spec: &Schedule, steps_per_epoch: u64) -> Self {
        match spec {
            Schedule::InverseSqrt(s) => LrSchedule::InverseSqrt {
                warmup: s.warmup.to_steps(steps_per_epoch),
                timescale: s.timescale.to_steps(steps_per_epoch),
                cooldown: s.cooldown.to_steps(steps_per_epoch),
            },
            Schedule::Cosine(s) => LrSchedule::Cosine {
                warmup: s.warmup.to_steps(steps_per_epoch),
                final_scale: s.final_scale,
            },
            Schedule::Constant(s) => LrSchedule::Constant {
                warmup: s.warmup.to_steps(steps_per_epoch),
                cooldown: s.cooldown.to_steps(steps_per_epoch),
            },
        }
    }

    /// The learning rate for base rate `base_lr` at `time`.
    pub fn value(&self, base_lr: f64, time: ScheduleTime) -> f64 {
        let step = time.step as f64;
        let total = time.total_steps();
        match *self {
            LrSchedule::InverseSqrt {
                warmup,
                timescale,
                cooldown,
            } => {
                let (warmup, timescale, cooldown) =
                    (warmup as f64, timescale as f64, cooldown as f64);
                let mut lr = base_lr;
                let shift = timescale - warmup;
                if warmup < step {
                    lr /= ((step + shift) / timescale).sqrt();
                }
                with_cooldown(with_warmup(lr, step, warmup), step, total, cooldown)
            }
            LrSchedule::Constant { warmup, cooldown } => with_cooldown(
                with_warmup(base_lr, step, warmup as f64),
                step,
                total,
                cooldown as f64,
            ),
            LrSchedule::Cosine {
                warmup,
                final_scale,
            } => {
                let warmup = warmup as f64;
                if step < warmup {
                    return base_lr * step / warmup;
                }
                let progress = if total > warmup {
                    ((step - warmup) / (total - warmup)).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let end = base_lr * final_scale;
                end + 0.5 * (base_lr - end) * (1.0 + (PI * progress).cos())
            }
        }
    }
}

fn with_warmup(lr: f64, step: f64, warmup: f64) -> f64 {
    if warmup > 0.0 {
        lr * (step / warmup).min(1.0)
    } else {
        lr
    }
}

fn with_cooldown(lr: f64, step: f64, total: f64, cooldown: f64) -> f64 {
    if cooldown > 0.0 {
        lr * ((total - step) / cooldown).min(1.0)
    } else {
        lr
    }
}
