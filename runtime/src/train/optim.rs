//! AdamW on tensors with parameter groups (torch.optim.AdamW semantics, its single-tensor CPU path op for op),
//! gradient clipping by total L2 norm (`torch.nn.utils.clip_grad_norm_`), and gradient accumulation.
//!
//! tch's C++ optimizer is not used: its moments are unreachable, and resuming must restore them exactly. Here the
//! state is plain tensors ([`AdamW::state_tensors`] / [`AdamW::load_state_tensors`]).
//!
//! The assignment of parameters to groups (name patterns, layer decay, no-decay rules, frozen parameters) is
//! decided by the caller; this module receives the resulting [`ParamGroup`]s.

use super::schedule::{LrSchedule, ScheduleTime};
use super::{ffi, Result, TrainError};
use sam3c_stdlib::components::optim::AdamW as AdamWSpec;
use std::collections::{BTreeMap, HashSet};
use tch::{Kind, Tensor};

/// A group of parameters trained with the same learning rate and weight decay.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamGroup {
    /// Parameter names (as in the model's named parameters).
    pub params: Vec<String>,
    /// The group's base learning rate, before the schedule.
    pub lr: f64,
    /// A factor applied after the schedule (upstream `ValueScaler`, e.g. layer-wise decay).
    pub lr_scale: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

/// Adam's hyper-parameters shared by all groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamWConfig {
    /// torch's defaults, which upstream uses.
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl AdamWConfig {
    /// The hyper-parameters of a catalog `adamw(...)` value.
    pub fn new(spec: &AdamWSpec) -> Result<Self> {
        let [beta1, beta2] = spec.betas[..] else {
            return Err(TrainError::InvalidConfig(format!(
                "adamw: betas must be two numbers, got {:?}",
                spec.betas
            )));
        };
        let config = AdamWConfig {
            beta1,
            beta2,
            eps: spec.eps,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(TrainError::InvalidConfig(format!(
                    "adamw: {name} must be in [0, 1), got {beta}"
                )));
            }
        }
        if self.eps.is_nan() || self.eps < 0.0 {
            return Err(TrainError::InvalidConfig(format!(
                "adamw: eps must be >= 0, got {}",
                self.eps
            )));
        }
        Ok(())
    }
}

/// The moments of one parameter, as torch keeps them.
#[derive(Debug)]
pub struct ParamState {
    /// Number of updates applied to the parameter.
    pub step: u64,
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
}

#[derive(Debug)]
struct Group {
    spec: ParamGroup,
    params: Vec<(String, Tensor)>,
    lr: f64,
    weight_decay: f64,
}

/// AdamW over parameter groups. Each step updates the parameters that have a gradient (a parameter without one,
/// frozen or unused in the step, keeps its value and its moments), with the group's current learning rate and
/// weight decay.
#[derive(Debug)]
pub struct AdamW {
    config: AdamWConfig,
    groups: Vec<Group>,
    state: BTreeMap<String, ParamState>,
}

const STATE_KINDS: [&str; 3] = ["exp_avg", "exp_avg_sq", "step"];

impl AdamW {
    /// An optimizer over `named_params` (e.g. `VarStore::variables()`) split into `groups`. Every trainable
    /// parameter (requires_grad) must be in exactly one group; a parameter in no group must be frozen.
    pub fn new(
        config: AdamWConfig,
        named_params: &[(String, Tensor)],
        groups: Vec<ParamGroup>,
    ) -> Result<Self> {
        config.validate()?;
        let by_name: BTreeMap<&str, &Tensor> =
            named_params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut seen = HashSet::new();
        let mut built = Vec::with_capacity(groups.len());
        for (index, spec) in groups.into_iter().enumerate() {
            for (what, value) in [
                ("lr", spec.lr),
                ("lr_scale", spec.lr_scale),
                ("weight_decay", spec.weight_decay),
            ] {
                if !value.is_finite() || value < 0.0 {
                    return Err(TrainError::Optimizer(format!(
                        "group {index}: {what} must be finite and >= 0, got {value}"
                    )));
                }
            }
            let mut params = Vec::with_capacity(spec.params.len());
            for name in &spec.params {
                let tensor = by_name.get(name.as_str()).ok_or_else(|| {
                    TrainError::Optimizer(format!("group {index}: unknown parameter {name}"))
                })?;
                if !seen.insert(name.clone()) {
                    return Err(TrainError::Optimizer(format!(
                        "parameter {name} is in more than one group"
                    )));
                }
                if !tensor.is_floating_point() {
                    return Err(TrainError::Optimizer(format!(
                        "parameter {name} is not floating point ({:?})",
                        tensor.kind()
                    )));
                }
                params.push((name.clone(), tensor.shallow_clone()));
            }
            built.push(Group {
                lr: spec.lr * spec.lr_scale,
                weight_decay: spec.weight_decay,
                spec,
                params,
            });
        }
        let ungrouped: Vec<&str> = named_params
            .iter()
            .filter(|(name, tensor)| tensor.requires_grad() && !seen.contains(name))
            .map(|(name, _)| name.as_str())
            .collect();
        if !ungrouped.is_empty() {
            let shown: Vec<&str> = ungrouped.iter().take(5).copied().collect();
            return Err(TrainError::Optimizer(format!(
                "{} trainable parameter(s) are in no group (freeze them or add a group): {}{}",
                ungrouped.len(),
                shown.join(", "),
                if ungrouped.len() > 5 { ", ..." } else { "" }
            )));
        }
        Ok(AdamW {
            config,
            groups: built,
            state: BTreeMap::new(),
        })
    }

    pub fn config(&self) -> AdamWConfig {
        self.config
    }

    /// Number of groups.
    pub fn num_groups(&self) -> usize {
        self.groups.len()
    }

    /// The group as given at construction.
    pub fn group(&self, index: usize) -> Option<&ParamGroup> {
        self.groups.get(index).map(|g| &g.spec)
    }

    /// The current learning rate of each group.
    pub fn learning_rates(&self) -> Vec<f64> {
        self.groups.iter().map(|g| g.lr).collect()
    }

    /// The current weight decay of each group.
    pub fn weight_decays(&self) -> Vec<f64> {
        self.groups.iter().map(|g| g.weight_decay).collect()
    }

    /// Sets the learning rate of one group.
    pub fn set_lr(&mut self, group: usize, lr: f64) -> Result<()> {
        let count = self.groups.len();
        let slot = self.groups.get_mut(group).ok_or_else(|| {
            TrainError::Optimizer(format!("no group {group} (there are {count})"))
        })?;
        slot.lr = lr;
        Ok(())
    }

    /// Sets the weight decay of one group.
    pub fn set_weight_decay(&mut self, group: usize, weight_decay: f64) -> Result<()> {
        let count = self.groups.len();
        let slot = self.groups.get_mut(group).ok_or_else(|| {
            TrainError::Optimizer(format!("no group {group} (there are {count})"))
        })?;
        slot.weight_decay = weight_decay;
        Ok(())
    }

    /// Sets every group's learning rate to `schedule(group.lr, time) · group.lr_scale` and its weight decay to
    /// the group's (upstream `Optimizer.step_schedulers`, called before each step).
    pub fn apply_schedule(&mut self, schedule: &LrSchedule, time: ScheduleTime) {
        for group in &mut self.groups {
            group.lr = schedule.value(group.spec.lr, time) * group.spec.lr_scale;
            group.weight_decay = group.spec.weight_decay;
        }
    }

    fn params(&self) -> impl Iterator<Item = &(String, Tensor)> {
        self.groups.iter().flat_map(|g| g.params.iter())
    }

    /// The gradients that exist (trainable parameters touched by backward since the last `zero_grad`).
    fn grads(&self) -> Vec<Tensor> {
        self.params()
            .filter(|(_, p)| p.requires_grad())
            .map(|(_, p)| p.grad())
            .filter(|g| g.defined())
            .collect()
    }

    /// One AdamW update of every parameter with a gradient.
    pub fn step(&mut self) -> Result<()> {
        let _no_grad = tch::no_grad_guard();
        let AdamWConfig { beta1, beta2, eps } = self.config;
        for group in &self.groups {
            let (lr, weight_decay) = (group.lr, group.weight_decay);
            for (name, param) in &group.params {
                if !param.requires_grad() {
                    continue;
                }
                let grad = param.grad();
                if !grad.defined() {
                    continue;
                }
                let state = self
                    .state
                    .entry(name.clone())
                    .or_insert_with(|| ParamState {
                        step: 0,
                        exp_avg: param.zeros_like(),
                        exp_avg_sq: param.zeros_like(),
                    });
                state.step += 1;
                let mut param = param.shallow_clone();
                if weight_decay != 0.0 {
                    let _ = param.f_mul_scalar_(1.0 - lr * weight_decay)?;
                }
                let _ = state.exp_avg.f_lerp_(&grad, 1.0 - beta1)?;
                // exp_avg_sq.mul_(β2).addcmul_(g, g, value=1−β2). tch's addcmul_ has no `value`; torch's kernel
                // computes self + (value·g)·g, so scaling the first factor beforehand rounds identically.
                let _ = state.exp_avg_sq.f_mul_scalar_(beta2)?;
                let _ = state
                    .exp_avg_sq
                    .f_addcmul_(&(&grad * (1.0 - beta2)), &grad)?;
                let step = state.step as f64;
                let bias_correction1 = 1.0 - beta1.powf(step);
                let bias_correction2 = 1.0 - beta2.powf(step);
                let step_size = lr / bias_correction1;
                let bias_correction2_sqrt = bias_correction2.powf(0.5);
                let mut denom = state.exp_avg_sq.sqrt() / bias_correction2_sqrt;
                let _ = denom.f_add_scalar_(eps)?;
                // param.addcdiv_(exp_avg, denom, value=−step_size), likewise: self + (value·exp_avg) / denom.
                let _ = param.f_addcdiv_(&(&state.exp_avg * (-step_size)), &denom)?;
            }
        }
        Ok(())
    }

    /// Drops every gradient (torch's `zero_grad(set_to_none=True)`, as upstream): a parameter that gets no
    /// gradient in the next step is then not updated at all.
    pub fn zero_grad(&mut self) -> Result<()> {
        for group in &mut self.groups {
            for (name, param) in &mut group.params {
                ffi::reset_grad(param).map_err(|e| {
                    TrainError::Optimizer(format!("resetting the gradient of {name}: {e}"))
                })?;
            }
        }
        Ok(())
    }

    /// The total L2 norm of all gradients (0 when there are none).
    pub fn grad_norm(&self) -> Result<f64> {
        Ok(self.total_grad_norm(&self.grads())?.double_value(&[]))
    }

    fn total_grad_norm(&self, grads: &[Tensor]) -> Result<Tensor> {
        if grads.is_empty() {
            return Ok(Tensor::zeros([], (Kind::Float, tch::Device::Cpu)));
        }
        let norms = grads
            .iter()
            .map(vector_norm)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let device = norms[0].device();
        let norms: Vec<Tensor> = norms.iter().map(|n| n.to_device(device)).collect();
        vector_norm(&Tensor::f_stack(&norms, 0)?)
    }

    /// Scales all gradients so that their total L2 norm is at most `max_norm` (`clip_grad_norm_`: factor
    /// `min(1, max_norm / (norm + 1e-6))`) and returns the norm before clipping. A non-finite norm makes every
    /// gradient non-finite, as in torch; check it with [`crate::train::guard`].
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> Result<f64> {
        if max_norm.is_nan() || max_norm < 0.0 {
            return Err(TrainError::InvalidConfig(format!(
                "clip_norm must be >= 0, got {max_norm}"
            )));
        }
        let _no_grad = tch::no_grad_guard();
        let mut grads = self.grads();
        let total = self.total_grad_norm(&grads)?;
        if grads.is_empty() {
            return Ok(0.0);
        }
        // torch evaluates `max_norm / t` as `t.reciprocal() * max_norm`.
        let clip_coef = (&total + 1e-6).reciprocal() * max_norm;
        let clamped = clip_coef.clamp_max(1.0);
        for grad in &mut grads {
            let factor = clamped.to_device(grad.device());
            let _ = grad.f_mul_(&factor)?;
        }
        Ok(total.double_value(&[]))
    }

    /// The moments of one parameter, if it has been updated.
    pub fn param_state(&self, name: &str) -> Option<&ParamState> {
        self.state.get(name)
    }

    /// The whole state as named tensors for a checkpoint: `exp_avg.<param>`, `exp_avg_sq.<param>` and
    /// `step.<param>` (a 0-dim float, as torch stores it), for every parameter updated at least once.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut tensors = Vec::with_capacity(self.state.len() * 3);
        for (name, state) in &self.state {
            tensors.push((format!("exp_avg.{name}"), state.exp_avg.shallow_clone()));
            tensors.push((
                format!("exp_avg_sq.{name}"),
                state.exp_avg_sq.shallow_clone(),
            ));
            tensors.push((format!("step.{name}"), Tensor::from(state.step as f32)));
        }
        tensors
    }

    /// Replaces the state by one saved with [`AdamW::state_tensors`], copied to each parameter's device. Fails,
    /// changing nothing, on unknown or incomplete entries and on shape or kind mismatches.
    pub fn load_state_tensors(&mut self, tensors: Vec<(String, Tensor)>) -> Result<()> {
        let params: BTreeMap<&str, &Tensor> = self.params().map(|(n, t)| (n.as_str(), t)).collect();
        let mut parts: BTreeMap<String, [Option<Tensor>; 3]> = BTreeMap::new();
        for (key, tensor) in tensors {
            let (kind_index, name) = STATE_KINDS
                .iter()
                .enumerate()
                .find_map(|(i, prefix)| {
                    key.strip_prefix(prefix)
                        .and_then(|rest| rest.strip_prefix('.'))
                        .map(|name| (i, name.to_owned()))
                })
                .ok_or_else(|| {
                    TrainError::Optimizer(format!("unknown optimizer state entry {key}"))
                })?;
            if !params.contains_key(name.as_str()) {
                return Err(TrainError::Optimizer(format!(
                    "optimizer state for {name}, which is not an optimized parameter"
                )));
            }
            parts.entry(name).or_default()[kind_index] = Some(tensor);
        }
        let mut state = BTreeMap::new();
        for (name, [exp_avg, exp_avg_sq, step]) in parts {
            let (Some(exp_avg), Some(exp_avg_sq), Some(step)) = (exp_avg, exp_avg_sq, step) else {
                return Err(TrainError::Optimizer(format!(
                    "optimizer state of {name} is incomplete (needs exp_avg, exp_avg_sq and step)"
                )));
            };
            let param = params[name.as_str()];
            for (what, moment) in [("exp_avg", &exp_avg), ("exp_avg_sq", &exp_avg_sq)] {
                if moment.size() != param.size() || moment.kind() != param.kind() {
                    return Err(TrainError::Optimizer(format!(
                        "{what} of {name} is {:?} {:?}, the parameter is {:?} {:?}",
                        moment.kind(),
                        moment.size(),
                        param.kind(),
                        param.size()
                    )));
                }
            }
            let steps = if step.numel() == 1 {
                step.double_value(&[])
            } else {
                -1.0
            };
            if !(steps >= 1.0 && steps.fract() == 0.0) {
                return Err(TrainError::Optimizer(format!(
                    "step of {name} must be a positive integer, got {:?}",
                    step
                )));
            }
            let device = param.device();
            state.insert(
                name,
                ParamState {
                    step: steps as u64,
                    exp_avg: exp_avg.to_device(device).copy(),
                    exp_avg_sq: exp_avg_sq.to_device(device).copy(),
                },
            );
        }
        self.state = state;
        Ok(())
    }
}

/// The L2 norm of all elements (`torch.linalg.vector_norm`; tch exposes it through `linalg_norm` of a 1-d view).
fn vector_norm(t: &Tensor) -> Result<Tensor> {
    Ok(t.flatten(0, -1)
        .f_linalg_norm(2.0, None::<&[i64]>, false, None)?)
}

/// Counts micro-batches of gradient accumulation: backward runs on each micro-batch (gradients add up in the
/// parameters), the optimizer steps after the last one.
#[derive(Debug, Clone, PartialEq)]
pub struct GradAccumulation {
    micro_batches: u32,
    average: bool,
    seen: u32,
}

impl GradAccumulation {
    /// `micro_batches` per optimizer step. With `average`, each micro-batch loss is scaled by 1/micro_batches (the
    /// gradient of the mean); without it the gradients are summed, as upstream's trainer does.
    pub fn new(micro_batches: u32, average: bool) -> Result<Self> {
        if micro_batches == 0 {
            return Err(TrainError::InvalidConfig(
                "gradient accumulation needs at least 1 micro-batch per step".into(),
            ));
        }
        Ok(GradAccumulation {
            micro_batches,
            average,
            seen: 0,
        })
    }

    /// The factor to multiply each micro-batch loss by before backward.
    pub fn loss_scale(&self) -> f64 {
        if self.average {
            1.0 / f64::from(self.micro_batches)
        } else {
            1.0
        }
    }

    /// Records one backward pass; true when the optimizer should step (then the count starts over).
    pub fn record_backward(&mut self) -> bool {
        self.seen += 1;
        if self.seen == self.micro_batches {
            self.seen = 0;
            true
        } else {
            false
        }
    }

    /// Micro-batches recorded since the last step.
    pub fn pending(&self) -> u32 {
        self.seen
    }
}
