//! The elementary losses of `sam3.train.loss.loss_fns` (the torch path, `triton=False`) and SAM 2's
//! `training/loss_fns.py`, in the same op order. `normalizer` is a 0-dim float tensor (the number of boxes or
//! objects) so that it can stay on the device.

use tch::{Kind, Reduction, Tensor};

fn sum_dims(t: &Tensor, dims: &[i64]) -> Tensor {
    t.sum_dim_intlist(dims, false, None)
}

fn mean_dims(t: &Tensor, dims: &[i64]) -> Tensor {
    t.mean_dim(dims, false, None)
}

/// Sum of all elements in the tensor's own kind (`tensor.sum()`).
pub(crate) fn total(t: &Tensor) -> Tensor {
    t.sum(t.kind())
}

/// Elementwise sigmoid focal loss (RetinaNet); `alpha < 0` disables the class weighting.
pub fn sigmoid_focal_loss_elementwise(
    inputs: &Tensor,
    targets: &Tensor,
    alpha: f64,
    gamma: f64,
) -> Tensor {
    let prob = inputs.sigmoid();
    let ce_loss =
        inputs.binary_cross_entropy_with_logits::<Tensor>(targets, None, None, Reduction::None);
    let p_t = &prob * targets + (-&prob + 1.0) * (-targets + 1.0);
    let loss = ce_loss * (-p_t + 1.0).pow_tensor_scalar(gamma);
    if alpha >= 0.0 {
        let alpha_t = alpha * targets + (1.0 - alpha) * (-targets + 1.0);
        alpha_t * loss
    } else {
        loss
    }
}

/// Focal loss of `[M, P]` inputs, averaged over P and summed over M, divided by the normalizer.
pub fn sigmoid_focal_loss(
    inputs: &Tensor,
    targets: &Tensor,
    normalizer: &Tensor,
    alpha: f64,
    gamma: f64,
) -> Tensor {
    let loss = sigmoid_focal_loss_elementwise(inputs, targets, alpha, gamma);
    total(&mean_dims(&loss, &[1])) / normalizer
}

/// Focal loss of multimask predictions `[N, M, H, W]`: `[N, M]`, averaged over pixels and divided by the normalizer.
pub fn sigmoid_focal_loss_multimask(
    inputs: &Tensor,
    targets: &Tensor,
    normalizer: &Tensor,
    alpha: f64,
    gamma: f64,
) -> Tensor {
    let loss = sigmoid_focal_loss_elementwise(inputs, targets, alpha, gamma);
    mean_dims(&loss.flatten(2, -1), &[-1]) / normalizer
}

/// Dice loss of each row of `[M, P]` logits against `[M, P]` targets (not normalized).
pub fn dice_loss_per_row(inputs: &Tensor, targets: &Tensor) -> Tensor {
    let inputs = inputs.sigmoid().flatten(1, -1);
    let targets = targets.to_kind(inputs.kind());
    let numerator: Tensor = 2.0 * sum_dims(&(&inputs * &targets), &[1]);
    let denominator = sum_dims(&inputs, &[-1]) + sum_dims(&targets, &[-1]);
    -((numerator + 1.0) / (denominator + 1.0)) + 1.0
}

/// Dice loss summed over the rows of `[M, P]` logits, divided by the normalizer.
pub fn dice_loss(inputs: &Tensor, targets: &Tensor, normalizer: &Tensor) -> Tensor {
    total(&dice_loss_per_row(inputs, targets)) / normalizer
}

/// Dice loss of multimask predictions `[N, M, H, W]`: `[N, M]`, divided by the normalizer.
pub fn dice_loss_multimask(inputs: &Tensor, targets: &Tensor, normalizer: &Tensor) -> Tensor {
    let inputs = inputs.sigmoid().flatten(2, -1);
    let targets = targets.to_kind(inputs.kind()).flatten(2, -1);
    let numerator: Tensor = 2.0 * sum_dims(&(&inputs * &targets), &[-1]);
    let denominator = sum_dims(&inputs, &[-1]) + sum_dims(&targets, &[-1]);
    (-((numerator + 1.0) / (denominator + 1.0)) + 1.0) / normalizer
}

/// Loss between predicted IoUs `[N, M]` and the actual IoUs of the thresholded masks `[N, M, H, W]` (L1 or MSE),
/// divided by the normalizer: `[N, M]`.
pub fn iou_loss_multimask(
    inputs: &Tensor,
    targets: &Tensor,
    pred_ious: &Tensor,
    normalizer: &Tensor,
    use_l1_loss: bool,
) -> Tensor {
    let pred_mask = inputs.flatten(2, -1).gt(0.0);
    let gt_mask = targets.flatten(2, -1).gt(0.0);
    let area_i = sum_dims(&pred_mask.logical_and(&gt_mask), &[-1]).to_kind(Kind::Float);
    let area_u = sum_dims(&pred_mask.logical_or(&gt_mask), &[-1]).to_kind(Kind::Float);
    let actual_ious = area_i / area_u.clamp_min(1.0);
    let pred_ious = pred_ious.to_kind(Kind::Float);
    let loss = if use_l1_loss {
        pred_ious.l1_loss(&actual_ious, Reduction::None)
    } else {
        pred_ious.mse_loss(&actual_ious, Reduction::None)
    };
    loss / normalizer
}

/// Bilinear resize of `[N, C, h, w]` to `size` (align_corners=False, as `F.interpolate(size=...)`).
pub fn resize_bilinear(input: &Tensor, size: [i64; 2]) -> tch::Result<Tensor> {
    input.f_upsample_bilinear2d(size, false, None, None)
}

/// torchmetrics' binary F1 of probabilities (threshold 0.5) against 0/1 targets, 0 when undefined.
pub fn binary_f1(probabilities: &Tensor, targets: &Tensor) -> Tensor {
    let predicted = probabilities.gt(0.5);
    let actual = targets.gt(0.5);
    let true_pos = predicted.logical_and(&actual).sum(Kind::Float);
    let false_pos = predicted
        .logical_and(&actual.logical_not())
        .sum(Kind::Float);
    let false_neg = predicted
        .logical_not()
        .logical_and(&actual)
        .sum(Kind::Float);
    let denominator: Tensor = 2.0 * &true_pos + false_pos + false_neg;
    let f1: Tensor = 2.0 * true_pos / &denominator;
    f1.where_self(&denominator.gt(0.0), &f1.zeros_like())
}
