//! Floating-point helpers that reproduce numpy's rounding, so that sums, means and threshold grids are the same
//! doubles the Python references compute.

use std::ops::{Add, Div, Sub};

/// A float type numpy may hold the data in (TrackEval keeps box IoUs in float32).
pub trait NpFloat:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Div<Output = Self>
    + PartialOrd
    + Default
    + Send
    + Sync
{
    fn to_f64(self) -> f64;
}

impl NpFloat for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

impl NpFloat for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// `np.sum` / `np.add.reduce` of a contiguous array: numpy's pairwise summation (8 accumulators, blocks of 128).
pub fn np_sum<F: NpFloat>(a: &[F]) -> F {
    let n = a.len();
    if n < 8 {
        let mut res = F::default();
        for &x in a {
            res = res + x;
        }
        res
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let mut i = 8;
        while i < n - (n % 8) {
            for j in 0..8 {
                r[j] = r[j] + a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res = res + a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        np_sum(&a[..n2]) + np_sum(&a[n2..])
    }
}

/// `np.mean` of a float64 array (NaN for an empty one, as numpy).
pub fn np_mean(a: &[f64]) -> f64 {
    np_sum(a) / a.len() as f64
}

/// `np.nanmean`: the mean of the non-NaN values, NaN when there are none.
pub fn np_nanmean(a: &[f64]) -> f64 {
    let kept: Vec<f64> = a.iter().copied().filter(|v| !v.is_nan()).collect();
    np_mean(&kept)
}

/// `np.linspace(start, stop, num)` (endpoint included), with numpy's `i * step + start` rounding.
pub fn np_linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut y: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    y[num - 1] = stop;
    y
}

/// `np.arange(start, stop, step)` for floats: `ceil((stop - start) / step)` values `start + i * step`.
pub fn np_arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let n = ((stop - start) / step).ceil().max(0.0) as usize;
    (0..n).map(|i| start + i as f64 * step).collect()
}

/// COCO's IoU thresholds 0.50:0.05:0.95 (`Params.iouThrs`).
pub fn coco_iou_thresholds() -> Vec<f64> {
    np_linspace(0.5, 0.95, ((0.95f64 - 0.5) / 0.05).round() as usize + 1)
}

/// COCO's 101 recall thresholds 0:0.01:1 (`Params.recThrs`).
pub fn coco_recall_thresholds() -> Vec<f64> {
    np_linspace(0.0, 1.0, ((1.0f64 - 0.0) / 0.01).round() as usize + 1)
}

/// The mean of the entries greater than -1, or -1 when there are none (pycocotools' `summarize` rule).
pub fn mean_of_valid(values: &[f64]) -> f64 {
    let kept: Vec<f64> = values.iter().copied().filter(|&v| v > -1.0).collect();
    if kept.is_empty() {
        -1.0
    } else {
        np_mean(&kept)
    }
}

/// Indices of a stable sort by descending score (`np.argsort(-scores, kind="mergesort")`).
pub fn argsort_descending(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| {
        (-scores[a])
            .partial_cmp(&-scores[b])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_grids_are_numpys() {
        // Bit patterns printed by numpy 2.3 for the same calls.
        let iou: Vec<u64> = coco_iou_thresholds().iter().map(|v| v.to_bits()).collect();
        assert_eq!(iou[1], 0x3FE199999999999A);
        assert_eq!(iou[3], 0x3FE4CCCCCCCCCCCD);
        assert_eq!(coco_iou_thresholds()[5], 0.75);
        assert_eq!(coco_recall_thresholds()[3], 3.0 * 0.01);
        let alphas = np_arange(0.05, 0.99, 0.05);
        assert_eq!(alphas.len(), 19);
        assert_eq!(alphas[2].to_bits(), 0x3FC3333333333334);
        assert_eq!(alphas[14].to_bits(), 0x3FE8000000000001);
    }

    #[test]
    fn pairwise_sum_differs_from_naive_like_numpy() {
        let a: Vec<f64> = (0..20).map(|i| 0.1 * i as f64 + 1e-3).collect();
        let naive: f64 = a.iter().sum();
        assert!((np_sum(&a) - naive).abs() < 1e-12);
        assert_eq!(np_sum::<f64>(&[]), 0.0);
        assert!(np_mean(&[]).is_nan());
        assert_eq!(mean_of_valid(&[-1.0, 0.5, 1.0]), 0.75);
        assert_eq!(mean_of_valid(&[-1.0]), -1.0);
        assert_eq!(argsort_descending(&[0.5, 0.9, 0.5, 0.9]), vec![1, 3, 0, 2]);
    }
}
