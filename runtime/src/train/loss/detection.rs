//! The per-query loss terms of SAM 3's detector (`sam3/train/loss/loss_fns.py`): [`BoxesLoss`] (`Boxes`),
//! [`ClassificationLoss`] (`IABCEMdetr` with presence) and [`MasksLoss`] (`Masks`). Each computes its named
//! values for one set of query predictions and a matching, and its weighted sum (the core loss).

use super::functional::{
    binary_f1, dice_loss, resize_bilinear, sigmoid_focal_loss, sigmoid_focal_loss_elementwise,
    total,
};
use super::inputs::{FindTargets, QueryPredictions};
use super::LossDict;
use crate::train::box_ops::{diag_box_iou, diag_generalized_box_iou};
use crate::train::matcher::MatchIndices;
use crate::train::{Result, TrainError};
use sam3c_stdlib::components::loss::{BoxLoss, LossTerm, MaskLoss, PresenceLoss};
use tch::{Kind, Reduction, Tensor};

/// `tensor[batch_idx, src_idx]`: the matched predictions.
fn gather_predictions(tensor: &Tensor, indices: &MatchIndices) -> Result<Tensor> {
    Ok(tensor.f_index(&[Some(&indices.batch_idx), Some(&indices.src_idx)])?)
}

/// The packed targets in match order.
fn gather_targets(tensor: &Tensor, indices: &MatchIndices) -> Result<Tensor> {
    match &indices.tgt_idx {
        Some(tgt_idx) => Ok(tensor.f_index_select(0, tgt_idx)?),
        None => Ok(tensor.shallow_clone()),
    }
}

/// Checks that a matching fits the predictions and targets it will index.
pub(crate) fn validate_indices(
    indices: &MatchIndices,
    batch: i64,
    queries: i64,
    targets: &FindTargets,
) -> Result<()> {
    let matches = indices.len();
    let packed = targets.boxes().size()[0];
    let bad = |what: &str| {
        Err(TrainError::invalid(format!(
            "matching: {what} (batch {batch}, queries {queries}, packed targets {packed})"
        )))
    };
    if indices.batch_idx.size() != [matches] {
        return bad("batch_idx and src_idx must be 1-d of the same length");
    }
    let in_range = |t: &Tensor, bound: i64| -> bool {
        t.numel() == 0 || (t.min().int64_value(&[]) >= 0 && t.max().int64_value(&[]) < bound)
    };
    if !in_range(&indices.batch_idx, batch) || !in_range(&indices.src_idx, queries) {
        return bad("an index is out of range");
    }
    match &indices.tgt_idx {
        Some(tgt_idx) if tgt_idx.size() != [matches] || !in_range(tgt_idx, packed) => {
            return bad("tgt_idx must have one in-range target per match");
        }
        Some(_) => {}
        None if matches != packed => {
            return bad("without tgt_idx there must be exactly one match per target");
        }
        None => {}
    }
    Ok(())
}

/// L1 and GIoU losses on matched boxes (`loss_bbox`, `loss_giou`), summed and divided by the number of boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxesLoss {
    pub weight_l1: f64,
    pub weight_giou: f64,
    pub compute_aux: bool,
}

impl BoxesLoss {
    pub fn new(config: &BoxLoss) -> Self {
        BoxesLoss {
            weight_l1: config.l1,
            weight_giou: config.giou,
            compute_aux: config.aux,
        }
    }

    fn losses(
        &self,
        out: &QueryPredictions,
        targets: &FindTargets,
        indices: &MatchIndices,
        num_boxes: &Tensor,
    ) -> Result<LossDict> {
        let src_boxes = gather_predictions(&out.pred_boxes.to_kind(Kind::Float), indices)?;
        let src_boxes_xyxy = gather_predictions(&out.boxes_xyxy(), indices)?;
        let target_boxes = gather_targets(targets.boxes(), indices)?;
        let target_boxes_xyxy = gather_targets(targets.boxes_xyxy(), indices)?;
        let loss_bbox = src_boxes.f_l1_loss(&target_boxes, Reduction::None)?;
        let loss_giou = -diag_generalized_box_iou(&src_boxes_xyxy, &target_boxes_xyxy) + 1.0;
        Ok(LossDict::from([
            ("loss_bbox".to_owned(), total(&loss_bbox) / num_boxes),
            ("loss_giou".to_owned(), total(&loss_giou) / num_boxes),
        ]))
    }
}

/// IoU-aware BCE (`IABCEMdetr`): soft targets `clamp(p^α · IoU^(1−α), 0.01)` weighted by `pos_weight` on matched
/// queries, `p^γ`-weighted BCE on the others, per-query losses dropped for find queries without a visible target
/// (negative prompts), the presence token supervised with `FL(α 0.5, γ 0)`, and normalization over
/// `pad_n_queries` queries (`loss_ce`, `ce_f1`, `presence_loss`, `presence_dec_acc`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationLoss {
    pub weight_ce: f64,
    pub weight_presence: f64,
    pub pos_weight: f64,
    pub alpha: f64,
    pub gamma: f64,
    pub use_presence: bool,
    /// Normalize as if there were this many queries when the model has fewer; `None`: plain mean.
    pub pad_n_queries: Option<i64>,
    /// Scale of the positive loss when the model has fewer queries than `pad_n_queries`.
    pub pad_scale_pos: f64,
    /// Mask the negatives of non-exhaustively annotated find queries (`weak_loss`).
    pub weak_loss: bool,
    /// Focal loss (α 0.5) instead of BCE on positives.
    pub pos_focal: bool,
    pub compute_aux: bool,
    pub presence_alpha: f64,
    pub presence_gamma: f64,
}

impl ClassificationLoss {
    pub fn new(config: &PresenceLoss) -> Self {
        ClassificationLoss {
            weight_ce: config.ce,
            weight_presence: config.presence,
            pos_weight: config.pos_weight,
            alpha: config.alpha,
            gamma: config.gamma,
            use_presence: config.use_presence,
            pad_n_queries: Some(i64::from(config.pad_queries)),
            pad_scale_pos: config.pad_scale_pos,
            weak_loss: config.weak,
            pos_focal: config.pos_focal,
            compute_aux: config.aux,
            presence_alpha: 0.5,
            presence_gamma: 0.0,
        }
    }

    fn losses(
        &self,
        out: &QueryPredictions,
        targets: &FindTargets,
        indices: &MatchIndices,
    ) -> Result<LossDict> {
        let src_logits = out.pred_logits.to_kind(Kind::Float).squeeze_dim(-1);
        let prob = src_logits.sigmoid();
        let matched = [Some(&indices.batch_idx), Some(&indices.src_idx)];

        let (target_classes, positive_target_classes) = {
            let _no_grad = tch::no_grad_guard();
            let mut target_classes = src_logits.zeros_like().to_kind(Kind::Float);
            let ones = Tensor::ones([1], (Kind::Float, src_logits.device()));
            let _ = target_classes.f_index_put_(&matched, &ones, false)?;
            let src_boxes_xyxy = gather_predictions(&out.boxes_xyxy(), indices)?;
            let target_boxes_xyxy = gather_targets(targets.boxes_xyxy(), indices)?;
            let iou = diag_box_iou(&src_boxes_xyxy, &target_boxes_xyxy);
            let soft = prob.f_index(&matched)?.pow_tensor_scalar(self.alpha)
                * iou.pow_tensor_scalar(1.0 - self.alpha);
            let soft = soft.clamp_min(0.01).detach();
            let mut positive = target_classes.copy();
            let _ = positive.f_index_put_(&matched, &soft, false)?;
            (target_classes, positive)
        };

        let positive_loss = if self.pos_focal {
            sigmoid_focal_loss_elementwise(&src_logits, &positive_target_classes, 0.5, self.gamma)
        } else {
            src_logits.f_binary_cross_entropy_with_logits::<Tensor>(
                &positive_target_classes,
                None,
                None,
                Reduction::None,
            )?
        };
        let mut loss_bce = positive_loss * &target_classes * self.pos_weight;
        let queries = loss_bce.size()[1];
        if matches!(self.pad_n_queries, Some(pad) if queries < pad) {
            loss_bce = loss_bce * self.pad_scale_pos;
        }
        let negative_loss = src_logits.f_binary_cross_entropy_with_logits::<Tensor>(
            &target_classes,
            None,
            None,
            Reduction::None,
        )? * (-&target_classes + 1.0)
            * prob.pow_tensor_scalar(self.gamma);
        loss_bce = loss_bce + negative_loss;

        let device = src_logits.device();
        let mut presence_loss = Tensor::zeros([], (Kind::Float, device));
        let mut presence_dec_acc = Tensor::zeros([], (Kind::Float, device));
        if self.use_presence {
            // A find query is a positive prompt when one of its targets is visible (valid id, non-empty box).
            let boxes = targets.boxes_padded();
            let visible = targets
                .object_ids_padded()
                .ge(0)
                .logical_and(&boxes.select(-1, 2).gt(0.0))
                .logical_and(&boxes.select(-1, 3).gt(0.0));
            let keep_loss = visible
                .sum_dim_intlist(&[-1i64][..], false, None)
                .unsqueeze(-1)
                .ne(0)
                .to_kind(Kind::Float);
            loss_bce = loss_bce * &keep_loss;
            if let Some(presence) = &out.presence_logit_dec {
                let presence_logits = presence.to_kind(Kind::Float).view_as(&keep_loss);
                let batch = presence_logits.size()[0] as f64;
                presence_loss = sigmoid_focal_loss(
                    &presence_logits,
                    &keep_loss,
                    &Tensor::from(batch).to_kind(Kind::Float).to_device(device),
                    self.presence_alpha,
                    self.presence_gamma,
                );
                let predicted = presence_logits.sigmoid().gt(0.5).to_kind(Kind::Float);
                presence_dec_acc = predicted
                    .eq_tensor(&keep_loss)
                    .to_kind(Kind::Float)
                    .mean(Kind::Float);
            }
        }

        let batch = loss_bce.size()[0];
        let loss_ce = if self.weak_loss {
            let not_exhaustive = targets
                .is_exhaustive()
                .logical_not()
                .view([-1, 1])
                .expand_as(&loss_bce);
            let ignored = not_exhaustive.logical_and(&target_classes.lt(0.5));
            let loss_mask = ignored.logical_not();
            total(&(loss_bce * loss_mask.to_kind(Kind::Float)))
                / (loss_mask.sum(Kind::Int64) + 1e-6)
        } else {
            match self.pad_n_queries {
                Some(pad) if queries < pad => total(&loss_bce) / (pad * batch),
                _ => loss_bce.mean(loss_bce.kind()),
            }
        };

        let ce_f1 = {
            let _no_grad = tch::no_grad_guard();
            binary_f1(
                &src_logits.sigmoid().flatten(0, -1),
                &target_classes.flatten(0, -1),
            )
        };
        Ok(LossDict::from([
            ("loss_ce".to_owned(), loss_ce),
            ("ce_f1".to_owned(), ce_f1),
            ("presence_loss".to_owned(), presence_loss),
            ("presence_dec_acc".to_owned(), presence_dec_acc),
        ]))
    }
}

/// Sigmoid focal and dice losses on matched masks, predictions upsampled bilinearly to the target size
/// (`loss_mask`, `loss_dice`); invalid target masks are skipped, and both are 0 when the data has no masks.
#[derive(Debug, Clone, PartialEq)]
pub struct MasksLoss {
    pub weight_focal: f64,
    pub weight_dice: f64,
    pub alpha: f64,
    pub gamma: f64,
    pub compute_aux: bool,
}

impl MasksLoss {
    pub fn new(config: &MaskLoss) -> Self {
        MasksLoss {
            weight_focal: config.focal,
            weight_dice: config.dice,
            alpha: config.alpha,
            gamma: config.gamma,
            compute_aux: config.aux,
        }
    }

    fn losses(
        &self,
        out: &QueryPredictions,
        targets: &FindTargets,
        indices: &MatchIndices,
        num_boxes: &Tensor,
    ) -> Result<LossDict> {
        let pred_masks = out.pred_masks.as_ref().ok_or_else(|| {
            TrainError::invalid("the masks loss needs pred_masks, but the model output has none")
        })?;
        let (Some(masks), Some(is_valid)) = (targets.masks(), targets.is_valid_mask()) else {
            let zero = || Tensor::zeros([], (Kind::Float, pred_masks.device()));
            return Ok(LossDict::from([
                ("loss_mask".to_owned(), zero()),
                ("loss_dice".to_owned(), zero()),
            ]));
        };
        let keep = gather_targets(is_valid, indices)?;
        let src_masks = gather_predictions(pred_masks, indices)?.f_index(&[Some(&keep)])?;
        let target_masks = gather_targets(masks, indices)?
            .f_index(&[Some(&keep)])?
            .to_kind(Kind::Float);
        let (src_masks, target_masks) = if src_masks.size()[0] == 0 {
            let src_masks = src_masks.flatten(1, -1);
            let target_masks = target_masks.reshape(src_masks.size());
            (src_masks, target_masks)
        } else {
            let size = target_masks.size();
            let upsampled = resize_bilinear(
                &src_masks.to_kind(Kind::Float).unsqueeze(1),
                [size[1], size[2]],
            )?;
            (
                upsampled.select(1, 0).flatten(1, -1),
                target_masks.flatten(1, -1),
            )
        };
        Ok(LossDict::from([
            (
                "loss_mask".to_owned(),
                sigmoid_focal_loss(&src_masks, &target_masks, num_boxes, self.alpha, self.gamma),
            ),
            (
                "loss_dice".to_owned(),
                dice_loss(&src_masks, &target_masks, num_boxes),
            ),
        ]))
    }
}

/// One loss term of the detection loss.
#[derive(Debug, Clone, PartialEq)]
pub enum FindLossTerm {
    Boxes(BoxesLoss),
    Classification(ClassificationLoss),
    Masks(MasksLoss),
}

impl FindLossTerm {
    pub fn new(config: &LossTerm) -> Self {
        match config {
            LossTerm::Boxes(c) => FindLossTerm::Boxes(BoxesLoss::new(c)),
            LossTerm::Classification(c) => FindLossTerm::Classification(ClassificationLoss::new(c)),
            LossTerm::Masks(c) => FindLossTerm::Masks(MasksLoss::new(c)),
        }
    }

    /// Whether the term also applies to auxiliary decoder layers.
    pub fn compute_aux(&self) -> bool {
        match self {
            FindLossTerm::Boxes(l) => l.compute_aux,
            FindLossTerm::Classification(l) => l.compute_aux,
            FindLossTerm::Masks(l) => l.compute_aux,
        }
    }

    /// The weighted values, in upstream weight-dict order.
    pub fn weights(&self) -> Vec<(&'static str, f64)> {
        match self {
            FindLossTerm::Boxes(l) => {
                vec![("loss_bbox", l.weight_l1), ("loss_giou", l.weight_giou)]
            }
            FindLossTerm::Classification(l) => {
                vec![
                    ("loss_ce", l.weight_ce),
                    ("presence_loss", l.weight_presence),
                ]
            }
            FindLossTerm::Masks(l) => {
                vec![("loss_mask", l.weight_focal), ("loss_dice", l.weight_dice)]
            }
        }
    }

    /// The named values of the term (without the core loss).
    pub fn losses(
        &self,
        out: &QueryPredictions,
        targets: &FindTargets,
        indices: &MatchIndices,
        num_boxes: &Tensor,
    ) -> Result<LossDict> {
        match self {
            FindLossTerm::Boxes(l) => l.losses(out, targets, indices, num_boxes),
            FindLossTerm::Classification(l) => l.losses(out, targets, indices),
            FindLossTerm::Masks(l) => l.losses(out, targets, indices, num_boxes),
        }
    }
}

/// `Σ weight · value` over the nonzero weights (upstream `LossWithWeights.reduce_loss`).
pub(crate) fn weighted_sum(
    losses: &LossDict,
    weights: &[(&str, f64)],
    zero: Tensor,
) -> Result<Tensor> {
    let mut reduced = zero;
    for &(key, weight) in weights {
        let value = losses
            .get(key)
            .ok_or_else(|| TrainError::invalid(format!("the loss does not compute {key}")))?;
        if weight != 0.0 {
            reduced = reduced + value * weight;
        }
    }
    Ok(reduced)
}
