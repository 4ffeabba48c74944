//! Prompts sampled from ground-truth masks, as SAM 2's trainer samples them (`sam3/model/sam3_tracker_utils.py`,
//! the same functions as `sam2/modeling/sam2_utils.py`): a noisy box, one click in a mask, and correction clicks
//! in the error region between a prediction and the ground truth.
//!
//! The random draws are torch's (`Tensor::rand` of the same shapes, in the same order as upstream), so with the
//! same seed of torch's generator on the CPU the points are upstream's exactly; the oracle test checks this.
//! Coordinates are pixels (x, y) of the input image; labels are `int32`: 1 positive click, 0 negative click,
//! 2 / 3 the top-left / bottom-right box corner.

use crate::model::tracker::PointPrompt;
use tch::{Kind, Tensor};

/// SAM's box noise: a fraction of the box's width and height ...
pub const BOX_NOISE: f64 = 0.1;
/// ... and at most this many pixels.
pub const BOX_NOISE_BOUND: f64 = 20.0;
/// Labels of the two box corners.
pub const TOP_LEFT_LABEL: i32 = 2;
pub const BOTTOM_RIGHT_LABEL: i32 = 3;

/// The box around each mask (`mask_to_box`): `[B, 1, H, W]` bool → `[B, 1, 4]` int32 `(x0, y0, x1, y1)` of the
/// first and last covered pixel, all zeros for an empty mask.
pub fn mask_to_box(masks: &Tensor) -> Tensor {
    let (b, _, h, w) = masks.size4().expect("masks are [B, 1, H, W]");
    let device = masks.device();
    let xs = Tensor::arange(w, (Kind::Int, device))
        .view([1, 1, 1, w])
        .expand([b, 1, h, w], false);
    let ys = Tensor::arange(h, (Kind::Int, device))
        .view([1, 1, h, 1])
        .expand([b, 1, h, w], false);
    let extreme = |grid: &Tensor, fill: i64, max: bool| {
        let filled = grid.where_scalarother(masks, fill).flatten(-2, -1);
        if max {
            filled.amax(-1, false)
        } else {
            filled.amin(-1, false)
        }
    };
    let coords = Tensor::stack(
        &[
            extreme(&xs, w, false),
            extreme(&ys, h, false),
            extreme(&xs, -1, true),
            extreme(&ys, -1, true),
        ],
        -1,
    );
    let area = masks
        .to_kind(Kind::Int64)
        .sum_dim_intlist(&[-1i64, -2][..], false, None);
    coords.where_self(&area.unsqueeze(-1).gt(0), &coords.zeros_like())
}

/// A noisy box of each mask as two corner clicks (`sample_box_points`): `masks: [B, 1, H, W]` bool. The corners
/// move by up to `noise` of the box size (at most `noise_bound` pixels) and stay inside the image.
pub fn sample_box_points(masks: &Tensor, noise: f64, noise_bound: f64) -> PointPrompt {
    let (b, _, h, w) = masks.size4().expect("masks are [B, 1, H, W]");
    let device = masks.device();
    let mut coords = mask_to_box(masks).to_kind(Kind::Float);
    if noise > 0.0 {
        let bw = coords.select(-1, 2) - coords.select(-1, 0);
        let bh = coords.select(-1, 3) - coords.select(-1, 1);
        let max_dx = (bw * noise).clamp_max(noise_bound);
        let max_dy = (bh * noise).clamp_max(noise_bound);
        let unit = Tensor::rand([b, 1, 4], (Kind::Float, device)) * 2.0 - 1.0;
        let box_noise = unit * Tensor::stack(&[&max_dx, &max_dy, &max_dx, &max_dy], -1);
        let bounds = Tensor::from_slice(&[
            (w - 1) as f32,
            (h - 1) as f32,
            (w - 1) as f32,
            (h - 1) as f32,
        ])
        .to_device(device);
        coords = (coords + box_noise).clamp_tensor(Some(&bounds.zeros_like()), Some(&bounds));
    }
    let labels = Tensor::from_slice(&[TOP_LEFT_LABEL, BOTTOM_RIGHT_LABEL])
        .to_device(device)
        .repeat([b])
        .view([b, 2]);
    PointPrompt {
        coords: coords.view([b, 2, 2]),
        labels,
    }
}

/// `num_pt` clicks per mask drawn uniformly from the error region (`sample_random_points_from_errors`):
/// a negative click in a false positive or a positive one in a false negative, wherever the largest of the
/// uniform noise falls; where the prediction is exactly right, a negative click in the background.
/// `gt` and `pred`: `[B, 1, H, W]` bool (`pred` None: an empty prediction, i.e. a click in the mask).
pub fn sample_points_from_errors(gt: &Tensor, pred: Option<&Tensor>, num_pt: i64) -> PointPrompt {
    let (b, _, h, w) = gt.size4().expect("masks are [B, 1, H, W]");
    let device = gt.device();
    let empty;
    let pred = match pred {
        Some(p) => p,
        None => {
            empty = gt.zeros_like();
            &empty
        }
    };
    let not_gt = gt.logical_not();
    let fp = not_gt.logical_and(pred);
    let fn_ = gt.logical_and(&pred.logical_not());
    let all_correct = gt
        .eq_tensor(pred)
        .flatten(2, -1)
        .all_dim(2, false)
        .view([b, 1, 1, 1]);
    let noise = Tensor::rand([b, num_pt, h, w, 2], (Kind::Float, device));
    let negative_region = fp.logical_or(&all_correct.logical_and(&not_gt));
    let weights = Tensor::stack(
        &[
            negative_region.expand([b, num_pt, h, w], false),
            fn_.expand([b, num_pt, h, w], false),
        ],
        -1,
    );
    let idx = (noise * weights.to_kind(Kind::Float))
        .flatten(2, -1)
        .argmax(2, false);
    let labels = idx.remainder(2).to_kind(Kind::Int);
    let idx = idx.floor_divide_scalar(2);
    let x = idx.remainder(w);
    let y = idx.floor_divide_scalar(w);
    PointPrompt {
        coords: Tensor::stack(&[x, y], 2).to_kind(Kind::Float),
        labels,
    }
}

/// `concat_points`: the new clicks appended after the old ones.
pub fn concat_points(old: Option<&PointPrompt>, new: PointPrompt) -> PointPrompt {
    match old {
        None => new,
        Some(old) => PointPrompt {
            coords: Tensor::cat(&[&old.coords, &new.coords], 1),
            labels: Tensor::cat(&[&old.labels, &new.labels], 1),
        },
    }
}
