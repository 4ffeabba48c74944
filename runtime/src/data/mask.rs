//! Binary instance masks (`u8` 0/1, row-major) and the tensor operations upstream applies to them.

/// A binary mask, row-major `height × width`, values 0 or 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Mask {
    /// An empty mask.
    pub fn zeros(width: u32, height: u32) -> Mask {
        Mask {
            width,
            height,
            data: vec![0; width as usize * height as usize],
        }
    }

    /// Number of set pixels.
    pub fn area(&self) -> u64 {
        self.data.iter().map(|&v| v as u64).sum()
    }

    /// Resize as upstream's `F.resize(segment[None, None], size)` does on a uint8 tensor: bilinear with
    /// antialiasing in float32 (torch's separable kernel: width pass, then height pass), then `round` (half to
    /// even) back to 0/1.
    pub fn resize(&self, width: u32, height: u32) -> Mask {
        if width == self.width && height == self.height {
            return self.clone();
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let mut values: Vec<f32> = self.data.iter().map(|&v| v as f32).collect();
        let mut cur_w = w;
        if width as usize != w {
            let taps = torch_aa_weights(w, width as usize);
            let ow = width as usize;
            let mut out = vec![0f32; ow * h];
            for y in 0..h {
                let row = &values[y * w..(y + 1) * w];
                for (x, (start, weights)) in taps.iter().enumerate() {
                    out[y * ow + x] = accumulate(weights, |k| row[start + k]);
                }
            }
            values = out;
            cur_w = ow;
        }
        if height as usize != h {
            let taps = torch_aa_weights(h, height as usize);
            let oh = height as usize;
            let mut out = vec![0f32; cur_w * oh];
            for (y, (start, weights)) in taps.iter().enumerate() {
                for x in 0..cur_w {
                    out[y * cur_w + x] = accumulate(weights, |k| values[(start + k) * cur_w + x]);
                }
            }
            values = out;
        }
        Mask {
            width,
            height,
            data: values
                .iter()
                .map(|&v| v.round_ties_even().clamp(0.0, 255.0) as u8)
                .collect(),
        }
    }

    /// Pad with zeros.
    pub fn pad(&self, left: u32, top: u32, right: u32, bottom: u32) -> Mask {
        let mut out = Mask::zeros(self.width + left + right, self.height + top + bottom);
        let w = self.width as usize;
        for y in 0..self.height as usize {
            let dst = (y + top as usize) * out.width as usize + left as usize;
            out.data[dst..dst + w].copy_from_slice(&self.data[y * w..(y + 1) * w]);
        }
        out
    }

    /// Mirror left-right.
    pub fn hflip(&self) -> Mask {
        let w = self.width as usize;
        let mut out = self.clone();
        for row in out.data.chunks_exact_mut(w.max(1)) {
            row.reverse();
        }
        out
    }
}

/// `sum_k value(k) * w[k]` accumulated in float32 in tap order with fused multiply-adds, as torch's
/// vectorized CPU kernel does.
fn accumulate(weights: &[f32], value: impl Fn(usize) -> f32) -> f32 {
    let mut acc = value(0) * weights[0];
    for (k, &w) in weights.iter().enumerate().skip(1) {
        acc = value(k).mul_add(w, acc);
    }
    acc
}

/// torch's antialiased bilinear weights (`_compute_indices_min_size_weights_aa`, float32, align_corners=False).
fn torch_aa_weights(in_size: usize, out_size: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = in_size as f32 / out_size as f32;
    let support = if scale >= 1.0 { scale } else { 1.0f32 };
    let inv_scale = if scale >= 1.0 { 1.0 / scale } else { 1.0f32 };
    (0..out_size)
        .map(|i| {
            let center = scale * (i as f32 + 0.5);
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xsize = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
            let mut weights: Vec<f32> = (0..xsize)
                .map(|j| {
                    let x = (((j + xmin) as f32 - center + 0.5) * inv_scale).abs();
                    if x < 1.0 {
                        1.0 - x
                    } else {
                        0.0
                    }
                })
                .collect();
            let total: f32 = weights.iter().fold(0.0, |a, &w| a + w);
            if total != 0.0 {
                for w in weights.iter_mut() {
                    *w /= total;
                }
            }
            if weights.is_empty() {
                weights.push(0.0);
            }
            (xmin.min(in_size.saturating_sub(1)), weights)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_keeps_a_full_mask_full_and_an_empty_mask_empty() {
        let full = Mask {
            width: 13,
            height: 7,
            data: vec![1; 91],
        };
        assert!(full.resize(40, 3).data.iter().all(|&v| v == 1));
        assert_eq!(Mask::zeros(9, 9).resize(4, 30).area(), 0);
    }

    #[test]
    fn downscale_by_two_matches_hand_computed_weights() {
        // 4 -> 2 pixels: torch's taps are (3/7, 3/7, 1/7) over pixels 0..3 and (1/7, 3/7, 3/7) over 1..4.
        let m = Mask {
            width: 4,
            height: 1,
            data: vec![0, 1, 1, 1],
        };
        let out = m.resize(2, 1);
        assert_eq!(out.data, vec![1, 1]);
        let m = Mask {
            width: 4,
            height: 1,
            data: vec![0, 0, 1, 1],
        };
        assert_eq!(m.resize(2, 1).data, vec![0, 1]);
    }

    #[test]
    fn pad_and_flip_move_pixels() {
        let m = Mask {
            width: 2,
            height: 1,
            data: vec![1, 0],
        };
        assert_eq!(m.hflip().data, vec![0, 1]);
        let p = m.pad(1, 1, 0, 0);
        assert_eq!((p.width, p.height), (3, 2));
        assert_eq!(p.data, vec![0, 0, 0, 0, 1, 0]);
    }
}
