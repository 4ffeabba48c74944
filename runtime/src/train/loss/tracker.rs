//! The tracker's loss on clips (SAM 2's `MultiStepMultiMasksAndIous`): for every frame and prediction step,
//! focal and dice losses on the best of the multimask outputs, the IoU-prediction loss and the object-score loss.

use super::detection::weighted_sum;
use super::functional::{
    dice_loss_multimask, iou_loss_multimask, sigmoid_focal_loss, sigmoid_focal_loss_multimask,
    total,
};
use super::sam3::Collective;
use super::{accumulate, LossDict, CORE_LOSS_KEY};
use crate::train::{Result, TrainError};
use sam3c_stdlib::components::loss::TrackerLoss;
use tch::{Kind, Tensor};

/// The tracker's predictions for one frame: one entry per prediction step (the initial prompt and the corrective
/// clicks), for the N objects of the clip.
#[derive(Debug)]
pub struct TrackerFrameOutputs {
    /// Mask logits at the target resolution, `[N, M, H, W]` per step (M = 1, or 3 multimask outputs).
    pub multistep_pred_multimasks_high_res: Vec<Tensor>,
    /// Predicted IoUs `[N, M]` per step.
    pub multistep_pred_ious: Vec<Tensor>,
    /// Object-score logits `[N, 1]` per step.
    pub multistep_object_score_logits: Vec<Tensor>,
}

/// SAM 2's multi-step multimask loss (`loss_mask`, `loss_dice`, `loss_iou`, `loss_class`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerLossFn {
    pub weight_mask: f64,
    pub weight_dice: f64,
    pub weight_iou: f64,
    pub weight_class: f64,
    pub focal_alpha: f64,
    pub focal_gamma: f64,
    /// Supervise mask and dice on the multimask output with the lowest weighted focal + dice loss only (upstream
    /// always does); when false every output is supervised and the per-output losses are averaged.
    pub best_mask_only: bool,
    /// IoU loss on every multimask output (averaged) instead of the best one only.
    pub supervise_all_iou: bool,
    /// L1 instead of MSE for the IoU prediction.
    pub iou_use_l1_loss: bool,
    /// Supervise object scores (and the other losses only where the object is present).
    pub pred_obj_scores: bool,
    pub focal_alpha_obj_score: f64,
    pub focal_gamma_obj_score: f64,
}

impl TrackerLossFn {
    /// The loss of a catalog `tracker_loss(...)` value. Options the catalog does not expose take the values of
    /// SAM 2.1's training configs: IoU on all outputs with L1, object scores with FL(α −1, γ 0).
    pub fn new(config: &TrackerLoss) -> Self {
        TrackerLossFn {
            weight_mask: config.mask,
            weight_dice: config.dice,
            weight_iou: config.iou,
            weight_class: config.object,
            focal_alpha: config.alpha,
            focal_gamma: config.gamma,
            best_mask_only: config.best_mask_only,
            supervise_all_iou: true,
            iou_use_l1_loss: true,
            pred_obj_scores: true,
            focal_alpha_obj_score: -1.0,
            focal_gamma_obj_score: 0.0,
        }
    }

    fn weights(&self) -> [(&'static str, f64); 4] {
        [
            ("loss_mask", self.weight_mask),
            ("loss_dice", self.weight_dice),
            ("loss_iou", self.weight_iou),
            ("loss_class", self.weight_class),
        ]
    }

    /// The loss of a clip: `frames[f]` scored against the binary masks `targets[f]` of shape `[F, N, H, W]`.
    /// The normalizer is the number of objects N (averaged over processes with a collective), at least 1.
    pub fn forward(
        &self,
        frames: &[TrackerFrameOutputs],
        targets: &Tensor,
        collective: Option<&dyn Collective>,
    ) -> Result<LossDict> {
        let size = targets.size();
        if size.len() != 4 || size[0] != frames.len() as i64 {
            return Err(TrainError::invalid(format!(
                "tracker loss: targets must be [F={}, N, H, W], got {size:?}",
                frames.len()
            )));
        }
        let device = targets.device();
        let mut num_objects = Tensor::from(size[1] as f64)
            .to_kind(Kind::Float)
            .to_device(device);
        let mut world = 1.0;
        if let Some(collective) = collective {
            num_objects = collective.all_reduce_sum(&num_objects)?;
            world = collective.world_size() as f64;
        }
        // Upstream takes `.item()`: the normalizer is a plain number from here on.
        let num_objects = (num_objects / world).clamp_min(1.0).double_value(&[]);
        let normalizer = Tensor::from(num_objects)
            .to_kind(Kind::Float)
            .to_device(device);

        let mut total_losses = LossDict::new();
        for (f, frame) in frames.iter().enumerate() {
            let losses = self.frame_losses(frame, &targets.get(f as i64), &normalizer, f)?;
            accumulate(&mut total_losses, losses);
        }
        Ok(total_losses)
    }

    fn frame_losses(
        &self,
        frame: &TrackerFrameOutputs,
        targets: &Tensor,
        normalizer: &Tensor,
        index: usize,
    ) -> Result<LossDict> {
        let steps = frame.multistep_pred_multimasks_high_res.len();
        if frame.multistep_pred_ious.len() != steps
            || frame.multistep_object_score_logits.len() != steps
        {
            return Err(TrainError::invalid(format!(
                "tracker loss, frame {index}: masks, IoUs and object scores must have one entry per step"
            )));
        }
        let target_masks = targets.unsqueeze(1).to_kind(Kind::Float);
        let device = targets.device();
        let zero = || Tensor::zeros([], (Kind::Float, device));
        let mut losses = LossDict::from([
            ("loss_mask".to_owned(), zero()),
            ("loss_dice".to_owned(), zero()),
            ("loss_iou".to_owned(), zero()),
            ("loss_class".to_owned(), zero()),
        ]);
        for step in 0..steps {
            let masks = &frame.multistep_pred_multimasks_high_res[step];
            let ious = &frame.multistep_pred_ious[step];
            let scores = &frame.multistep_object_score_logits[step];
            let (n, h, w) = (
                target_masks.size()[0],
                target_masks.size()[2],
                target_masks.size()[3],
            );
            let mask_size = masks.size();
            if mask_size.len() != 4 || mask_size[0] != n || mask_size[2] != h || mask_size[3] != w {
                return Err(TrainError::invalid(format!(
                    "tracker loss, frame {index} step {step}: masks must be [N={n}, M, H={h}, W={w}], got {mask_size:?}"
                )));
            }
            if ious.size() != [n, mask_size[1]] || scores.numel() as i64 != n {
                return Err(TrainError::invalid(format!(
                    "tracker loss, frame {index} step {step}: IoUs must be [N, M] and object scores [N, 1], got {:?} and {:?}",
                    ious.size(),
                    scores.size()
                )));
            }
            let step_losses = self.step_losses(
                &masks.to_kind(Kind::Float),
                &target_masks,
                ious,
                &scores.to_kind(Kind::Float).view([n, 1]),
                normalizer,
            );
            for (key, value) in step_losses {
                let previous = losses.remove(key).expect("all four keys are present");
                losses.insert(key.to_owned(), previous + value);
            }
        }
        let core = weighted_sum(&losses, &self.weights(), zero())?;
        losses.insert(CORE_LOSS_KEY.to_owned(), core);
        Ok(losses)
    }

    fn step_losses(
        &self,
        src_masks: &Tensor,
        target_masks: &Tensor,
        ious: &Tensor,
        object_score_logits: &Tensor,
        normalizer: &Tensor,
    ) -> [(&'static str, Tensor); 4] {
        let target_masks = target_masks.expand_as(src_masks);
        let loss_multimask = sigmoid_focal_loss_multimask(
            src_masks,
            &target_masks,
            normalizer,
            self.focal_alpha,
            self.focal_gamma,
        );
        let loss_multidice = dice_loss_multimask(src_masks, &target_masks, normalizer);
        let (loss_class, target_obj) = if self.pred_obj_scores {
            let target_obj = target_masks
                .select(1, 0)
                .gt(0.0)
                .flatten(1, -1)
                .any_dim(-1, false)
                .unsqueeze(-1)
                .to_kind(Kind::Float);
            let loss_class = sigmoid_focal_loss(
                object_score_logits,
                &target_obj,
                normalizer,
                self.focal_alpha_obj_score,
                self.focal_gamma_obj_score,
            );
            (loss_class, target_obj)
        } else {
            let n = loss_multimask.size()[0];
            (
                Tensor::zeros([], (Kind::Float, src_masks.device())),
                Tensor::ones([n, 1], (Kind::Float, src_masks.device())),
            )
        };
        let loss_multiiou = iou_loss_multimask(
            src_masks,
            &target_masks,
            ious,
            normalizer,
            self.iou_use_l1_loss,
        );
        let outputs = loss_multimask.size()[1];
        let (loss_mask, loss_dice, loss_iou) = if outputs > 1 && self.best_mask_only {
            let loss_combo =
                &loss_multimask * self.weight_mask + &loss_multidice * self.weight_dice;
            let best = loss_combo.argmin(-1, false).unsqueeze(1);
            let pick = |t: &Tensor| t.gather(1, &best, false);
            let loss_iou = if self.supervise_all_iou {
                loss_multiiou
                    .mean_dim(&[-1i64][..], false, None)
                    .unsqueeze(1)
            } else {
                pick(&loss_multiiou)
            };
            (pick(&loss_multimask), pick(&loss_multidice), loss_iou)
        } else if outputs > 1 {
            let mean = |t: &Tensor| t.mean_dim(&[-1i64][..], false, None).unsqueeze(1);
            (
                mean(&loss_multimask),
                mean(&loss_multidice),
                mean(&loss_multiiou),
            )
        } else {
            (loss_multimask, loss_multidice, loss_multiiou)
        };
        // Mask, dice and IoU losses count only where the object is present.
        [
            ("loss_mask", total(&(loss_mask * &target_obj))),
            ("loss_dice", total(&(loss_dice * &target_obj))),
            ("loss_iou", total(&(loss_iou * &target_obj))),
            ("loss_class", loss_class),
        ]
    }
}
