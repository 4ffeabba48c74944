//! The semantic-segmentation criterion (`SemanticSegCriterion`): focal or BCE plus dice on the `semantic_seg`
//! logits against the union of the instance masks, averaged over positive images with a presence head.

use super::detection::weighted_sum;
use super::functional::{
    dice_loss_per_row, resize_bilinear, sigmoid_focal_loss_elementwise, total,
};
use super::inputs::{FindOutputs, FindTargets};
use super::{LossDict, CORE_LOSS_KEY};
use crate::train::{Result, TrainError};
use sam3c_stdlib::components::loss::SemanticSeg;
use tch::{Kind, Reduction, Tensor};

/// Semantic-segmentation loss (`loss_semantic_seg`, `loss_semantic_dice`, `loss_semantic_presence`) and metrics
/// (`miou_semantic_seg`, `presence_acc`).
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticSegLoss {
    pub weight_seg: f64,
    pub weight_dice: f64,
    pub weight_presence: f64,
    pub focal: bool,
    pub alpha: f64,
    pub gamma: f64,
    /// Downsample the targets to the prediction size instead of upsampling the predictions.
    pub downsample: bool,
    /// Average the per-image losses over positive images only.
    pub presence_head: bool,
    /// Supervise the segmentation head's presence logit (with `presence_head`).
    pub presence_loss: bool,
}

impl SemanticSegLoss {
    pub fn new(config: &SemanticSeg) -> Self {
        SemanticSegLoss {
            weight_seg: config.seg,
            weight_dice: config.dice,
            weight_presence: config.presence,
            focal: config.focal,
            alpha: config.alpha,
            gamma: config.gamma,
            downsample: config.downsample,
            presence_head: config.presence_head,
            presence_loss: config.presence_loss,
        }
    }

    /// The weighted values; `loss_semantic_presence` exists only with a presence head.
    pub fn weights(&self) -> Vec<(&'static str, f64)> {
        let mut weights = vec![("loss_semantic_seg", self.weight_seg)];
        if self.presence_head {
            weights.push(("loss_semantic_presence", self.weight_presence));
        }
        weights.push(("loss_semantic_dice", self.weight_dice));
        weights
    }

    /// The named values and the core loss for one find stage.
    pub fn compute(&self, out: &FindOutputs, targets: &FindTargets) -> Result<LossDict> {
        let outputs = out.semantic_seg.as_ref().ok_or_else(|| {
            TrainError::invalid(
                "the semantic-segmentation loss needs the model's semantic_seg output",
            )
        })?;
        let size = outputs.size();
        let batch = targets.batch_size();
        if size.len() != 4 || size[0] != batch || size[1] != 1 {
            return Err(TrainError::invalid(format!(
                "semantic_seg must be [B={batch}, 1, h, w], got {size:?}"
            )));
        }
        let pred_size = [size[2], size[3]];
        let semantic_targets = {
            let _no_grad = tch::no_grad_guard();
            self.semantic_targets(targets, pred_size)?
        };
        let outputs = if self.downsample {
            outputs.to_kind(Kind::Float)
        } else {
            let target_size = semantic_targets.size();
            resize_bilinear(
                &outputs.to_kind(Kind::Float),
                [target_size[1], target_size[2]],
            )?
        };
        let logits = outputs.squeeze_dim(1);
        let target_float = semantic_targets.to_kind(Kind::Float);
        let batch_normalizer = Tensor::from(batch as f64)
            .to_kind(Kind::Float)
            .to_device(logits.device());

        let mut loss = if self.focal {
            let per_pixel = sigmoid_focal_loss_elementwise(
                &logits.flatten(-2, -1),
                &target_float.flatten(-2, -1),
                self.alpha,
                self.gamma,
            );
            let per_image = per_pixel.mean_dim(&[1i64][..], false, None);
            if self.presence_head {
                per_image
            } else {
                total(&per_image) / &batch_normalizer
            }
        } else if self.presence_head {
            logits
                .f_binary_cross_entropy_with_logits::<Tensor>(
                    &target_float,
                    None,
                    None,
                    Reduction::None,
                )?
                .flatten(1, -1)
                .mean_dim(&[1i64][..], false, None)
        } else {
            logits.f_binary_cross_entropy_with_logits::<Tensor>(
                &target_float,
                None,
                None,
                Reduction::Mean,
            )?
        };
        let dice_per_image =
            dice_loss_per_row(&logits.flatten(1, -1), &semantic_targets.flatten(1, -1));
        let mut loss_dice = if self.presence_head {
            dice_per_image
        } else {
            total(&dice_per_image) / &batch_normalizer
        };
        let miou = {
            let _no_grad = tch::no_grad_guard();
            segment_miou(&logits.sigmoid().gt(0.5), &semantic_targets)
        };

        let mut losses = LossDict::new();
        if self.presence_head {
            let presence_target = semantic_targets.flatten(1, -1).any_dim(-1, false);
            let device = logits.device();
            let (loss_presence, presence_acc) = match (
                &out.semantic_presence_logit,
                self.presence_loss,
            ) {
                (Some(presence_logit), true) => {
                    let flat = presence_logit.to_kind(Kind::Float).flatten(0, -1);
                    if flat.size() != [batch] {
                        return Err(TrainError::invalid(format!(
                            "the segmentation head's presence logit must hold B={batch} values, got {:?}",
                            presence_logit.size()
                        )));
                    }
                    let loss = flat.f_binary_cross_entropy_with_logits::<Tensor>(
                        &presence_target.to_kind(Kind::Float),
                        None,
                        None,
                        Reduction::Mean,
                    )?;
                    let accuracy = flat
                        .sigmoid()
                        .gt(0.5)
                        .eq_tensor(&presence_target)
                        .to_kind(Kind::Float)
                        .mean(Kind::Float)
                        .detach();
                    (loss, accuracy)
                }
                (None, true) => {
                    return Err(TrainError::invalid(
                        "the semantic presence loss needs the segmentation head's presence logit",
                    ))
                }
                (_, false) => (
                    Tensor::zeros([], (Kind::Float, device)),
                    Tensor::zeros([], (Kind::Float, device)),
                ),
            };
            losses.insert("loss_semantic_presence".into(), loss_presence);
            losses.insert("presence_acc".into(), presence_acc);
            let positive = presence_target.to_kind(Kind::Float);
            let positives = presence_target.sum(Kind::Int64).int64_value(&[]) as f64 + 1e-6;
            loss = total(&(loss * &positive)) / positives;
            loss_dice = total(&(loss_dice * &positive)) / positives;
        }
        losses.insert("loss_semantic_seg".into(), loss);
        losses.insert("loss_semantic_dice".into(), loss_dice);
        losses.insert("miou_semantic_seg".into(), miou);
        let zero = Tensor::zeros([], (Kind::Float, logits.device()));
        let core = weighted_sum(&losses, &self.weights(), zero)?;
        losses.insert(CORE_LOSS_KEY.into(), core);
        Ok(losses)
    }

    /// The boolean semantic targets: the given semantic masks, or the union of each find query's instance masks.
    fn semantic_targets(&self, targets: &FindTargets, pred_size: [i64; 2]) -> Result<Tensor> {
        let downsample = |masks: &Tensor| -> Result<Tensor> {
            Ok(
                resize_bilinear(&masks.to_kind(Kind::Float).unsqueeze(1), pred_size)?
                    .squeeze_dim(1)
                    .to_kind(Kind::Bool),
            )
        };
        if let Some(semantic) = targets.semantic_masks().filter(|m| m.size()[0] > 0) {
            return if self.downsample {
                downsample(semantic)
            } else {
                Ok(semantic.to_kind(Kind::Bool))
            };
        }
        let masks = targets.masks().ok_or_else(|| {
            TrainError::invalid(
                "the semantic-segmentation loss needs instance masks or semantic masks in the targets",
            )
        })?;
        let device = masks.device();
        let counts = targets.num_boxes();
        if counts.iter().sum::<i64>() == 0 {
            // Upstream's all-negative batch is a [B, 1, 1] zero target (the predictions are then resized to 1x1);
            // with downsampling upstream fails, here the zeros take the prediction size.
            let size = if self.downsample {
                [pred_size[0], pred_size[1]]
            } else {
                [1, 1]
            };
            return Ok(Tensor::zeros(
                [counts.len() as i64, size[0], size[1]],
                (Kind::Bool, device),
            ));
        }
        let segments = if self.downsample {
            downsample(masks)?
        } else {
            masks.to_kind(Kind::Bool)
        };
        let (height, width) = (segments.size()[1], segments.size()[2]);
        let mut unions = Vec::with_capacity(counts.len());
        let mut offset = 0;
        for &count in counts {
            unions.push(if count == 0 {
                Tensor::zeros([height, width], (Kind::Bool, device))
            } else {
                segments.narrow(0, offset, count).any_dim(0, false)
            });
            offset += count;
        }
        Ok(Tensor::stack(&unions, 0))
    }
}

/// Mean IoU over images with a non-empty target (1 when there is none), of boolean masks `[B, H, W]`.
fn segment_miou(source: &Tensor, target: &Tensor) -> Tensor {
    let dims = &[1i64, 2][..];
    let valid_targets = target
        .to_kind(Kind::Int64)
        .sum_dim_intlist(dims, false, None)
        .gt(0)
        .sum(Kind::Int64);
    if valid_targets.int64_value(&[]) == 0 {
        return Tensor::ones([], (Kind::Float, source.device()));
    }
    let intersection = source
        .logical_and(target)
        .sum_dim_intlist(dims, false, Kind::Int64);
    let union = source
        .logical_or(target)
        .sum_dim_intlist(dims, false, Kind::Int64);
    let iou = intersection / (union + 1e-8);
    total(&iou) / valid_targets
}
