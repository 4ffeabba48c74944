//! The optimizer and its parameter groups, and learning-rate schedules.

use crate::units::Span;
use sam3c_derive::{Component, DslEnum, DslUnion};
use serde::{Deserialize, Serialize};

/// AdamW with parameter groups. `lr` is the learning rate of every parameter no group claims; each group gives
/// its own; a stage's `lr_scale` multiplies them all. Layer-wise decay scales the learning rate of a ViT trunk block by `decay^(depth − block)`. Weight decay
/// is `weight_decay`, or 0 for parameters matching `no_decay`. Frozen parameters are not trained at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "optimizer",
    name = "adamw",
    domain = "any",
    upstream = "torch.optim.AdamW"
)]
pub struct AdamW {
    /// Learning rate of the parameters no group claims. Without it, every trainable parameter must belong to a
    /// group (or be frozen).
    #[param(default = "none", range = "0..")]
    pub lr: Option<f64>,
    /// Groups of parameters with their own learning rate, by name pattern.
    #[param(default = "[]")]
    pub groups: Vec<Group>,
    /// Decoupled weight decay.
    #[param(default = "0.1", range = "0..")]
    pub weight_decay: f64,
    /// Parameters without weight decay: name patterns (`"*bias*"`) or module kinds (`LayerNorm`).
    #[param(default = "[]")]
    pub no_decay: Vec<ParamSelector>,
    /// Layer-wise learning-rate decay over a ViT trunk.
    #[param(default = "none")]
    pub layer_decay: Option<LayerDecay>,
    /// Parameters that are not trained, by name pattern.
    #[param(default = "[]")]
    pub freeze: Vec<String>,
    /// Clip the gradient norm to this value (upstream `GradientClipper`).
    #[param(default = "none", range = "0..")]
    pub clip_norm: Option<f64>,
    /// Adam's beta1 and beta2.
    #[param(default = "[0.9, 0.999]")]
    pub betas: Vec<f64>,
    /// Adam's epsilon.
    #[param(default = "1e-8", range = "0..")]
    pub eps: f64,
}

/// `group("backbone.vision_backbone.*", lr = 2.5e-4)`: parameters whose name matches one of the patterns
/// (fnmatch: `*` matches any characters including dots) get this learning rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "value", name = "group", domain = "any")]
pub struct Group {
    /// Name patterns; a parameter belongs to the group when any pattern matches.
    #[param(positional, variadic)]
    pub patterns: Vec<String>,
    /// The group's learning rate.
    #[param(range = "0..")]
    pub lr: f64,
}

/// Selects parameters by name pattern or by the kind of module that owns them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum ParamSelector {
    Pattern(String),
    Module(ModuleKindName),
}

/// Module kinds that no-decay rules may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, DslEnum)]
pub enum ModuleKindName {
    LayerNorm,
    GroupNorm,
    Embedding,
    Linear,
    Conv2d,
}

/// `layer_decay(0.9, over = "backbone.vision_backbone.trunk")`: block k of the trunk (depth d) trains with
/// `lr · decay^(d − k)`; the patch embedding and position embedding count as layer 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "value",
    name = "layer_decay",
    domain = "any",
    upstream = "sam3.train.optim.optimizer.layer_decay_param_modifier"
)]
pub struct LayerDecay {
    /// The per-layer factor.
    #[param(positional, range = "0..=1", upstream = "layer_decay_value")]
    pub decay: f64,
    /// The module path of the trunk.
    #[param(upstream = "apply_to")]
    pub over: String,
    /// Fixed scales for parameters matching a pattern (first match wins), e.g. `{ pattern = "*pos_embed*", scale = 1.0 }`.
    #[param(default = "[]")]
    pub overrides: Vec<ScaleOverride>,
    /// Lower bound of the scale.
    #[param(default = "none", range = "0..=1", upstream = "layer_decay_min")]
    pub min: Option<f64>,
}

/// A fixed learning-rate scale for parameters matching `pattern`, written as a record:
/// `{ pattern = "*pos_embed*", scale = 1.0 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "value", name = "scale_override", domain = "any")]
pub struct ScaleOverride {
    /// Parameter-name pattern.
    pub pattern: String,
    /// The scale of the learning rate of matching parameters.
    #[param(range = "0..")]
    pub scale: f64,
}

/// Learning-rate schedules. Each multiplies every group's learning rate by a factor that depends on the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum Schedule {
    InverseSqrt(InverseSqrt),
    Cosine(Cosine),
    Constant(Constant),
}

/// Linear warmup, then `1/sqrt((step + timescale − warmup) / timescale)` decay, then a linear cooldown to 0 over
/// the last `cooldown` steps (upstream `InverseSquareRootParamScheduler`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "schedule",
    name = "inverse_sqrt",
    domain = "any",
    upstream = "sam3.train.optim.schedulers.InverseSquareRootParamScheduler"
)]
pub struct InverseSqrt {
    /// Linear warmup from 0.
    #[param(default = "0 steps", upstream = "warmup_steps")]
    pub warmup: Span,
    /// Decay timescale.
    #[param(default = "20 steps")]
    pub timescale: Span,
    /// Linear cooldown to 0 at the end.
    #[param(default = "0 steps", upstream = "cooldown_steps")]
    pub cooldown: Span,
}

/// Linear warmup, then half-cosine decay from 1 to `final_scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "schedule", name = "cosine", domain = "any")]
pub struct Cosine {
    /// Linear warmup from 0.
    #[param(default = "0 steps")]
    pub warmup: Span,
    /// The factor reached at the last step.
    #[param(default = "0.0", range = "0..=1")]
    pub final_scale: f64,
}

/// A constant learning rate, with an optional linear warmup and cooldown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "schedule", name = "constant", domain = "any")]
pub struct Constant {
    /// Linear warmup from 0.
    #[param(default = "0 steps")]
    pub warmup: Span,
    /// Linear cooldown to 0 at the end.
    #[param(default = "0 steps")]
    pub cooldown: Span,
}
