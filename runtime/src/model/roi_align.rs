//! `torchvision.ops.roi_align` (not part of libtorch) on tensor ops, with torchvision's semantics for the
//! call the geometry encoder makes: `aligned=False`, `spatial_scale=1`, `sampling_ratio=-1` (adaptive).
//!
//! For each box and each of the `out`×`out` bins, torchvision averages `gh`×`gw` bilinear samples, where
//! `gh = ceil(roi_h / out)` (likewise `gw`) depends on the box size. A sample outside
//! [-1, H] × [-1, W] counts as 0; inside, its coordinates are clamped to [0, H-1] × [0, W-1]. This is
//! `grid_sampler_2d` with border padding and `align_corners=True` on pixel coordinates, times a validity mask,
//! averaged per bin. Gradients flow to the features (not to the boxes, as in torchvision).

use tch::{Kind, Tensor};

/// `roi_align(features, boxes, out)`.
///
/// * `features`: (N, C, H, W);
/// * `boxes`: (K, 5) rows `[batch_index, x0, y0, x1, y1]` in feature-map pixels;
/// * returns (K, C, out, out).
pub fn roi_align(features: &Tensor, boxes: &Tensor, out: i64) -> Tensor {
    let (_, c, h, w) = features
        .size4()
        .expect("roi_align: features must be (N, C, H, W)");
    let k = boxes.size()[0];
    if k == 0 {
        return Tensor::zeros([0, c, out, out], (features.kind(), features.device()));
    }
    let flat = boxes
        .to_kind(Kind::Float)
        .to_device(tch::Device::Cpu)
        .flatten(0, -1);
    let rows = Vec::<f32>::try_from(&flat).expect("boxes are a float tensor");
    let pooled: Vec<Tensor> = rows
        .chunks(5)
        .map(|r| roi_align_one(features, r[0] as i64, [r[1], r[2], r[3], r[4]], out, h, w))
        .collect();
    Tensor::cat(&pooled, 0)
}

/// One box: (1, C, out, out).
fn roi_align_one(
    features: &Tensor,
    batch: i64,
    xyxy: [f32; 4],
    out: i64,
    h: i64,
    w: i64,
) -> Tensor {
    let device = features.device();
    let [x0, y0, x1, y1] = xyxy;
    // aligned=False: no half-pixel shift, and the box is at least one pixel wide and high.
    let roi_w = (x1 - x0).max(1.0);
    let roi_h = (y1 - y0).max(1.0);
    let bin_w = roi_w / out as f32;
    let bin_h = roi_h / out as f32;
    let gw = (roi_w / out as f32).ceil().max(1.0) as i64;
    let gh = (roi_h / out as f32).ceil().max(1.0) as i64;
    // Sample coordinates in the order torchvision accumulates them: bin p, then sample i within the bin.
    let coords = |start: f32, bin: f32, grid: i64| -> Vec<f32> {
        let mut v = Vec::with_capacity((out * grid) as usize);
        for p in 0..out {
            for i in 0..grid {
                v.push(start + p as f32 * bin + (i as f32 + 0.5) * bin / grid as f32);
            }
        }
        v
    };
    let ys = Tensor::from_slice(&coords(y0, bin_h, gh)).to_device(device);
    let xs = Tensor::from_slice(&coords(x0, bin_w, gw)).to_device(device);
    let valid_y = ys.ge(-1.0).logical_and(&ys.le(h as f64));
    let valid_x = xs.ge(-1.0).logical_and(&xs.le(w as f64));
    // Pixel -> [-1, 1] for align_corners=True (a 1-pixel axis maps everything to its only pixel).
    let norm = |t: &Tensor, n: i64| {
        if n > 1 {
            t * (2.0 / (n - 1) as f64) - 1.0
        } else {
            t.zeros_like()
        }
    };
    let (ny, nx) = (ys.size()[0], xs.size()[0]);
    let gy = norm(&ys, h).view([ny, 1]).expand([ny, nx], false);
    let gx = norm(&xs, w).view([1, nx]).expand([ny, nx], false);
    let grid = Tensor::stack(&[gx, gy], -1)
        .unsqueeze(0)
        .to_kind(features.kind());
    let feat = features.narrow(0, batch, 1);
    // interpolation 0 = bilinear, padding 1 = border.
    let sampled = feat.grid_sampler_2d(&grid, 0, 1, true);
    let valid = valid_y
        .view([ny, 1])
        .logical_and(&valid_x.view([1, nx]))
        .to_kind(features.kind());
    let sampled = sampled * valid;
    let c = sampled.size()[1];
    sampled.view([1, c, out, gh, out, gw]).sum_dim_intlist(
        [3, 5].as_slice(),
        false,
        features.kind(),
    ) / (gh * gw) as f64
}
