//! Losses and matchers of SAM 3 (reference/upstream-sam3.md §6 gives the math).

use sam3c_derive::{Component, DslUnion};
use serde::{Deserialize, Serialize};

/// The detection loss of SAM 3: a sum of loss terms over the decoder's main and auxiliary outputs, one-to-one
/// (Hungarian matching) plus one-to-many outputs weighted by `o2m_weight`, and an optional semantic-segmentation
/// criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "loss",
    name = "sam3_loss",
    domain = "image",
    upstream = "sam3.train.loss.sam3_loss.Sam3LossWrapper"
)]
pub struct Sam3Loss {
    /// The loss terms applied to matched queries.
    #[param(upstream = "loss_fns_find")]
    pub terms: Vec<LossTerm>,
    /// The semantic-segmentation criterion on the `semantic_seg` output.
    #[param(default = "none", upstream = "loss_fn_semantic_seg")]
    pub semantic: Option<SemanticSeg>,
    /// The matcher of the auxiliary one-to-many outputs (the main one-to-one matching uses the model's
    /// matcher with costs 2/5/2, as upstream).
    #[param(default = "hungarian()")]
    pub matcher: Hungarian,
    /// The matcher of the one-to-many queries.
    #[param(default = "one_to_many()", upstream = "o2m_matcher")]
    pub o2m: OneToMany,
    /// Weight of every one-to-many loss.
    #[param(default = "2.0", range = "0..", upstream = "o2m_weight")]
    pub o2m_weight: f64,
    /// Use the one-to-many matcher for the auxiliary one-to-many outputs too.
    #[param(default = "false", upstream = "use_o2m_matcher_on_o2m_aux")]
    pub o2m_matcher_on_aux: bool,
    /// Multiply the total by sqrt(number of (image, query) pairs).
    #[param(default = "true", upstream = "scale_by_find_batch_size")]
    pub scale_by_batch: bool,
    /// Divide by the number of frames (stages) of a clip.
    #[param(default = "false", upstream = "normalize_by_stage_num")]
    pub normalize_by_frames: bool,
}

/// One loss term of `sam3_loss`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum LossTerm {
    Boxes(BoxLoss),
    Classification(PresenceLoss),
    Masks(MaskLoss),
}

/// L1 and generalized-IoU losses on the boxes of matched queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "loss_term",
    name = "boxes",
    domain = "any",
    upstream = "sam3.train.loss.loss_fns.Boxes"
)]
pub struct BoxLoss {
    /// Weight of the L1 loss on normalized cxcywh boxes (`loss_bbox`).
    #[param(default = "5.0", range = "0..", upstream = "weight_dict.loss_bbox")]
    pub l1: f64,
    /// Weight of the GIoU loss (`loss_giou`).
    #[param(default = "2.0", range = "0..", upstream = "weight_dict.loss_giou")]
    pub giou: f64,
    /// Also apply to auxiliary decoder layers.
    #[param(default = "true", upstream = "compute_aux")]
    pub aux: bool,
}

/// IoU-aware classification loss with presence supervision (upstream `IABCEMdetr`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "loss_term",
    name = "classification",
    domain = "any",
    upstream = "sam3.train.loss.loss_fns.IABCEMdetr"
)]
pub struct PresenceLoss {
    /// Weight of the per-query classification loss (`loss_ce`).
    #[param(default = "20.0", range = "0..", upstream = "weight_dict.loss_ce")]
    pub ce: f64,
    /// Weight of the presence-token loss (`presence_loss`).
    #[param(
        default = "20.0",
        range = "0..",
        upstream = "weight_dict.presence_loss"
    )]
    pub presence: f64,
    /// Weight of positive queries.
    #[param(default = "10.0", range = "0..")]
    pub pos_weight: f64,
    /// Exponent of the soft target p^alpha * IoU^(1-alpha).
    #[param(default = "0.25", range = "0..=1")]
    pub alpha: f64,
    /// Focal down-weighting exponent of negatives.
    #[param(default = "2.0", range = "0..")]
    pub gamma: f64,
    /// Supervise the presence token (and drop per-query losses of negative prompts).
    #[param(default = "true", upstream = "use_presence")]
    pub use_presence: bool,
    /// Normalize as if there were this many queries (upstream pads to 200).
    #[param(default = "200", range = "1..", upstream = "pad_n_queries")]
    pub pad_queries: u32,
    /// Scale of positive queries when the model has fewer queries than `pad_queries`.
    #[param(default = "1.0", range = "0..", upstream = "pad_scale_pos")]
    pub pad_scale_pos: f64,
    /// Mask negatives of non-exhaustive queries.
    #[param(default = "false", upstream = "weak_loss")]
    pub weak: bool,
    /// Use focal loss for positives.
    #[param(default = "false")]
    pub pos_focal: bool,
    /// Also apply to auxiliary decoder layers.
    #[param(default = "true", upstream = "compute_aux")]
    pub aux: bool,
}

/// Sigmoid focal and dice losses on the masks of matched queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "loss_term",
    name = "masks",
    domain = "any",
    upstream = "sam3.train.loss.loss_fns.Masks"
)]
pub struct MaskLoss {
    /// Weight of the focal loss (`loss_mask`).
    #[param(default = "200.0", range = "0..", upstream = "weight_dict.loss_mask")]
    pub focal: f64,
    /// Weight of the dice loss (`loss_dice`).
    #[param(default = "10.0", range = "0..", upstream = "weight_dict.loss_dice")]
    pub dice: f64,
    /// Focal alpha.
    #[param(default = "0.25", range = "0..=1", upstream = "focal_alpha")]
    pub alpha: f64,
    /// Focal gamma.
    #[param(default = "2.0", range = "0..", upstream = "focal_gamma")]
    pub gamma: f64,
    /// Also apply to auxiliary decoder layers.
    #[param(default = "false", upstream = "compute_aux")]
    pub aux: bool,
}

/// Semantic-segmentation loss on the union of instance masks (focal or BCE, plus dice, plus presence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "loss_term",
    name = "semantic_seg",
    domain = "any",
    upstream = "sam3.train.loss.loss_fns.SemanticSegCriterion"
)]
pub struct SemanticSeg {
    /// Weight of the per-pixel loss (`loss_semantic_seg`).
    #[param(
        default = "20.0",
        range = "0..",
        upstream = "weight_dict.loss_semantic_seg"
    )]
    pub seg: f64,
    /// Weight of the dice loss (`loss_semantic_dice`).
    #[param(
        default = "30.0",
        range = "0..",
        upstream = "weight_dict.loss_semantic_dice"
    )]
    pub dice: f64,
    /// Weight of the presence loss (`loss_semantic_presence`).
    #[param(
        default = "1.0",
        range = "0..",
        upstream = "weight_dict.loss_semantic_presence"
    )]
    pub presence: f64,
    /// Focal instead of BCE.
    #[param(default = "true")]
    pub focal: bool,
    /// Focal alpha.
    #[param(default = "0.6", range = "0..=1", upstream = "focal_alpha")]
    pub alpha: f64,
    /// Focal gamma.
    #[param(default = "2.0", range = "0..", upstream = "focal_gamma")]
    pub gamma: f64,
    /// Downsample targets to the prediction size instead of upsampling predictions.
    #[param(default = "false")]
    pub downsample: bool,
    /// Average over positive images only.
    #[param(default = "true", upstream = "presence_head")]
    pub presence_head: bool,
    /// Compute the presence loss.
    #[param(default = "false", upstream = "presence_loss")]
    pub presence_loss: bool,
}

/// One-to-one Hungarian matching of queries to targets, cost = bbox·L1 + class·focal − giou·GIoU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "matcher",
    name = "hungarian",
    domain = "any",
    upstream = "sam3.train.matcher.BinaryHungarianMatcherV2"
)]
pub struct Hungarian {
    /// Weight of the classification cost.
    #[param(default = "2.0", range = "0..", upstream = "cost_class")]
    pub class: f64,
    /// Weight of the L1 box cost.
    #[param(default = "5.0", range = "0..", upstream = "cost_bbox")]
    pub bbox: f64,
    /// Weight of the GIoU cost.
    #[param(default = "2.0", range = "0..", upstream = "cost_giou")]
    pub giou: f64,
    /// Focal classification cost (otherwise −p).
    #[param(default = "true")]
    pub focal: bool,
    /// Focal alpha.
    #[param(default = "0.25", range = "0..=1")]
    pub alpha: f64,
    /// Focal gamma.
    #[param(default = "2.0", range = "0..")]
    pub gamma: f64,
    /// Scale the probability by the GIoU in the class cost.
    #[param(default = "false")]
    pub stable: bool,
}

/// One-to-many matching (DAC-DETR): a query matches a target when alpha·p + (1−alpha)·IoU is above the target's
/// top-k quantile and above `threshold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "matcher",
    name = "one_to_many",
    domain = "any",
    upstream = "sam3.train.matcher.BinaryOneToManyMatcher"
)]
pub struct OneToMany {
    /// Mix of probability and IoU.
    #[param(default = "0.3", range = "0..=1")]
    pub alpha: f64,
    /// Minimum matching score.
    #[param(default = "0.4", range = "0..=1")]
    pub threshold: f64,
    /// Matches per target (at most).
    #[param(default = "4", range = "1..")]
    pub topk: u32,
}

/// The tracker's losses on clips (SAM 2's recipe): focal and dice on the predicted masks, IoU prediction, and
/// the object-score classification, summed over frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "loss", name = "tracker_loss", domain = "video")]
pub struct TrackerLoss {
    /// Weight of the mask focal loss.
    #[param(default = "20.0", range = "0..")]
    pub mask: f64,
    /// Weight of the dice loss.
    #[param(default = "1.0", range = "0..")]
    pub dice: f64,
    /// Weight of the IoU-prediction loss.
    #[param(default = "1.0", range = "0..")]
    pub iou: f64,
    /// Weight of the object-score loss.
    #[param(default = "1.0", range = "0..")]
    pub object: f64,
    /// Focal alpha.
    #[param(default = "0.25", range = "0..=1")]
    pub alpha: f64,
    /// Focal gamma.
    #[param(default = "2.0", range = "0..")]
    pub gamma: f64,
    /// Supervise only the best of the multimask outputs.
    #[param(default = "true")]
    pub best_mask_only: bool,
}

/// Any loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum LossSpec {
    Sam3Loss(Sam3Loss),
    TrackerLoss(TrackerLoss),
}
