//! Run-length encoded masks, bit-compatible with pycocotools (`maskApi.c`, as shipped in pycocotools 2.0.x).
//!
//! A mask of `height` x `width` is read column by column (Fortran order); `counts` alternates runs of zeros and
//! ones and always starts with a (possibly empty) run of zeros.

use crate::error::FormatError;

/// A run-length encoded binary mask.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Rle {
    pub height: u32,
    pub width: u32,
    pub counts: Vec<u32>,
}

impl Rle {
    /// Encodes a row-major `height * width` mask (nonzero = 1), as `maskUtils.encode`.
    ///
    /// A mask of the wrong length is read as far as it goes and padded with zeros.
    pub fn encode(mask: &[u8], height: u32, width: u32) -> Rle {
        let (h, w) = (height as usize, width as usize);
        let mut counts = Vec::new();
        let mut previous = false;
        let mut run = 0u32;
        for x in 0..w {
            for y in 0..h {
                let value = mask.get(y * w + x).is_some_and(|&v| v != 0);
                if value != previous {
                    counts.push(run);
                    run = 0;
                    previous = value;
                }
                run += 1;
            }
        }
        counts.push(run);
        Rle {
            height,
            width,
            counts,
        }
    }

    /// Encodes a column-major (Fortran order) mask, the layout pycocotools works in.
    pub fn encode_column_major(mask: &[u8], height: u32, width: u32) -> Rle {
        let n = height as usize * width as usize;
        let mut counts = Vec::new();
        let mut previous = false;
        let mut run = 0u32;
        for i in 0..n {
            let value = mask.get(i).is_some_and(|&v| v != 0);
            if value != previous {
                counts.push(run);
                run = 0;
                previous = value;
            }
            run += 1;
        }
        counts.push(run);
        Rle {
            height,
            width,
            counts,
        }
    }

    /// Decodes to a row-major `height * width` mask of 0/1. Runs past the end are cut off.
    pub fn decode(&self) -> Vec<u8> {
        let column_major = self.decode_column_major();
        let (h, w) = (self.height as usize, self.width as usize);
        let mut mask = vec![0u8; h * w];
        for x in 0..w {
            let column = &column_major[x * h..(x + 1) * h];
            for (y, &v) in column.iter().enumerate() {
                mask[y * w + x] = v;
            }
        }
        mask
    }

    /// Decodes to a column-major `height * width` mask of 0/1.
    pub fn decode_column_major(&self) -> Vec<u8> {
        let n = self.height as usize * self.width as usize;
        let mut mask = vec![0u8; n];
        let mut pos = 0usize;
        let mut value = 0u8;
        for &c in &self.counts {
            let end = (pos + c as usize).min(n);
            if value == 1 {
                mask[pos..end].fill(1);
            }
            pos = end;
            value ^= 1;
        }
        mask
    }

    /// Parses the COCO "counts" string (`rleFrString`). The counts must cover exactly `height * width` pixels.
    pub fn from_compressed(counts: &str, height: u32, width: u32) -> Result<Rle, FormatError> {
        let bytes = counts.as_bytes();
        let mut out: Vec<u32> = Vec::with_capacity(bytes.len());
        let mut p = 0usize;
        while p < bytes.len() {
            let mut x: i64 = 0;
            let mut k = 0u32;
            loop {
                let Some(&byte) = bytes.get(p) else {
                    return Err(FormatError::new(format!(
                        "RLE counts string ends in the middle of a number (at character {p})"
                    )));
                };
                if !(48..=111).contains(&byte) {
                    return Err(FormatError::new(format!(
                        "RLE counts string has an invalid character {:?} at position {p} (allowed: '0' to 'o')",
                        byte as char
                    )));
                }
                if k >= 12 {
                    return Err(FormatError::new(format!(
                        "RLE counts string has a number too long at {p}"
                    )));
                }
                let c = (byte - 48) as i64;
                x |= (c & 0x1f) << (5 * k);
                let more = c & 0x20 != 0;
                p += 1;
                k += 1;
                if !more {
                    if c & 0x10 != 0 {
                        x |= -1i64 << (5 * k);
                    }
                    break;
                }
            }
            let m = out.len();
            if m > 2 {
                x += out[m - 2] as i64;
            }
            if x < 0 || x > u32::MAX as i64 {
                return Err(FormatError::new(format!(
                    "RLE run {m} has an invalid length {x}"
                )));
            }
            out.push(x as u32);
        }
        let rle = Rle {
            height,
            width,
            counts: out,
        };
        rle.check_total()?;
        Ok(rle)
    }

    /// Builds an RLE from uncompressed counts (the `{"size": .., "counts": [..]}` form), checking the total.
    pub fn from_uncompressed(counts: &[u32], height: u32, width: u32) -> Result<Rle, FormatError> {
        let rle = Rle {
            height,
            width,
            counts: counts.to_vec(),
        };
        rle.check_total()?;
        Ok(rle)
    }

    fn check_total(&self) -> Result<(), FormatError> {
        let total: u64 = self.counts.iter().map(|&c| c as u64).sum();
        let expected = self.height as u64 * self.width as u64;
        if total != expected {
            return Err(FormatError::new(format!(
                "RLE counts cover {total} pixels but the mask is {}x{} = {expected} pixels",
                self.height, self.width
            )));
        }
        Ok(())
    }

    /// The COCO "counts" string (`rleToString`).
    pub fn to_compressed(&self) -> String {
        let mut s = String::with_capacity(self.counts.len() * 2);
        for (i, &c) in self.counts.iter().enumerate() {
            let mut x = c as i64;
            if i > 2 {
                x -= self.counts[i - 2] as i64;
            }
            loop {
                let mut ch = (x & 0x1f) as u8;
                x >>= 5;
                let more = if ch & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    ch |= 0x20;
                }
                s.push((ch + 48) as char);
                if !more {
                    break;
                }
            }
        }
        s
    }

    /// Rasterizes polygons (flat `[x0, y0, x1, y1, ...]` lists) and unions them (`frPoly` + `merge`).
    ///
    /// Every list is read as a polygon here; [`crate::coco::Segmentation::to_rle`] additionally rejects what
    /// `frPyObjects` rejects (a first polygon of 4 numbers or fewer).
    pub fn from_polygons(polygons: &[Vec<f64>], height: u32, width: u32) -> Rle {
        let rles: Vec<Rle> = polygons
            .iter()
            .map(|p| Rle::from_polygon(p, height, width))
            .collect();
        if rles.is_empty() {
            return Rle {
                height: 0,
                width: 0,
                counts: Vec::new(),
            };
        }
        Rle::merge(&rles, false)
    }

    /// Rasterizes one polygon exactly as `rleFrPoly` (5x upsampling, boundary walk, downsampling with rounding).
    /// An odd trailing coordinate is ignored, as pycocotools does.
    pub fn from_polygon(xy: &[f64], height: u32, width: u32) -> Rle {
        let k = xy.len() / 2;
        let (h, w) = (height as i64, width as i64);
        let scale = 5.0f64;
        // C casts (int)(v + .5) truncate toward zero.
        let mut x: Vec<i64> = (0..k)
            .map(|j| (scale * xy[2 * j] + 0.5) as i32 as i64)
            .collect();
        let mut y: Vec<i64> = (0..k)
            .map(|j| (scale * xy[2 * j + 1] + 0.5) as i32 as i64)
            .collect();
        if k > 0 {
            x.push(x[0]);
            y.push(y[0]);
        }
        let mut u: Vec<i64> = Vec::new();
        let mut v: Vec<i64> = Vec::new();
        for j in 0..k {
            let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
            let dx = (xe - xs).abs();
            let dy = (ys - ye).abs();
            let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
            if flip {
                std::mem::swap(&mut xs, &mut xe);
                std::mem::swap(&mut ys, &mut ye);
            }
            let s = if dx >= dy {
                (ye - ys) as f64 / dx as f64
            } else {
                (xe - xs) as f64 / dy as f64
            };
            if dx >= dy {
                for d in 0..=dx {
                    let t = if flip { dx - d } else { d };
                    u.push(t + xs);
                    v.push((ys as f64 + s * t as f64 + 0.5) as i32 as i64);
                }
            } else {
                for d in 0..=dy {
                    let t = if flip { dy - d } else { d };
                    v.push(t + ys);
                    u.push((xs as f64 + s * t as f64 + 0.5) as i32 as i64);
                }
            }
        }
        // Points along the y-boundary, downsampled.
        let mut bx: Vec<i64> = Vec::new();
        let mut by: Vec<i64> = Vec::new();
        let w_last = w as f64 - 1.0;
        for j in 1..u.len() {
            if u[j] == u[j - 1] {
                continue;
            }
            let mut xd = (if u[j] < u[j - 1] { u[j] } else { u[j] - 1 }) as f64;
            xd = (xd + 0.5) / scale - 0.5;
            if xd.floor() != xd || xd < 0.0 || xd > w_last {
                continue;
            }
            let mut yd = (if v[j] < v[j - 1] { v[j] } else { v[j - 1] }) as f64;
            yd = (yd + 0.5) / scale - 0.5;
            if yd < 0.0 {
                yd = 0.0;
            } else if yd > h as f64 {
                yd = h as f64;
            }
            yd = yd.ceil();
            bx.push(xd as i64);
            by.push(yd as i64);
        }
        // RLE from the boundary points: sorted pixel indices, differenced, zero runs folded.
        let mut a: Vec<u32> = bx
            .iter()
            .zip(&by)
            .map(|(&xx, &yy)| (xx as i32).wrapping_mul(h as i32).wrapping_add(yy as i32) as u32)
            .collect();
        a.push((h * w) as u32);
        a.sort_unstable();
        let mut prev = 0u32;
        for value in a.iter_mut() {
            let t = *value;
            *value = value.wrapping_sub(prev);
            prev = t;
        }
        let mut b: Vec<u32> = Vec::with_capacity(a.len());
        let mut j = 0usize;
        b.push(a[j]);
        j += 1;
        while j < a.len() {
            if a[j] > 0 {
                b.push(a[j]);
                j += 1;
            } else {
                j += 1;
                if j < a.len() {
                    let last = b.len() - 1;
                    b[last] = b[last].wrapping_add(a[j]);
                    j += 1;
                }
            }
        }
        Rle {
            height,
            width,
            counts: b,
        }
    }

    /// The RLE of an xywh box (`frBbox`): the box as a four-corner polygon.
    pub fn from_bbox(bbox: &[f64; 4], height: u32, width: u32) -> Rle {
        let (xs, ys) = (bbox[0], bbox[1]);
        let (xe, ye) = (xs + bbox[2], ys + bbox[3]);
        Rle::from_polygon(&[xs, ys, xs, ye, xe, ye, xe, ys], height, width)
    }

    /// Union (or intersection) of masks of one size (`rleMerge`). Masks of different sizes give an empty 0x0 RLE,
    /// as in pycocotools; no masks give an empty 0x0 RLE.
    pub fn merge(rles: &[Rle], intersect: bool) -> Rle {
        let Some(first) = rles.first() else {
            return Rle::default();
        };
        if rles.len() == 1 {
            return first.clone();
        }
        let (h, w) = (first.height, first.width);
        let mut cnts: Vec<u32> = first.counts.clone();
        for b in &rles[1..] {
            if b.height != h || b.width != w {
                return Rle {
                    height: 0,
                    width: 0,
                    counts: Vec::new(),
                };
            }
            let a = std::mem::take(&mut cnts);
            let mut ca = a.first().copied().unwrap_or(0);
            let mut cb = b.counts.first().copied().unwrap_or(0);
            let (mut v, mut va, mut vb) = (false, false, false);
            let (mut ia, mut ib) = (1usize, 1usize);
            let mut cc = 0u32;
            let mut ct = 1u32;
            while ct > 0 {
                let c = ca.min(cb);
                if c == 0 && ((ca == 0 && ia >= a.len()) || (cb == 0 && ib >= b.counts.len())) {
                    cnts.push(cc);
                    break; // the masks' pixel totals differ (never for checked RLEs): stop instead of looping
                }
                cc = cc.wrapping_add(c);
                ct = 0;
                ca -= c;
                if ca == 0 && ia < a.len() {
                    ca = a[ia];
                    ia += 1;
                    va = !va;
                }
                ct = ct.wrapping_add(ca);
                cb -= c;
                if cb == 0 && ib < b.counts.len() {
                    cb = b.counts[ib];
                    ib += 1;
                    vb = !vb;
                }
                ct = ct.wrapping_add(cb);
                let vp = v;
                v = if intersect { va && vb } else { va || vb };
                if v != vp || ct == 0 {
                    cnts.push(cc);
                    cc = 0;
                }
            }
        }
        Rle {
            height: h,
            width: w,
            counts: cnts,
        }
    }

    /// Number of foreground pixels (`rleArea`).
    pub fn area(&self) -> u64 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&c| c as u64)
            .sum()
    }

    /// The tight xywh box (`rleToBbox` of pycocotools 2.0.x); all zeros for an empty mask.
    pub fn bbox(&self) -> [f64; 4] {
        let h = self.height as u64;
        let w = self.width as u64;
        let m = (self.counts.len() / 2) * 2;
        if m == 0 || h == 0 {
            return [0.0; 4];
        }
        let (mut xs, mut ys, mut xe, mut ye) = (w, h, 0u64, 0u64);
        let mut cc = 0u64;
        for j in 0..m {
            let start = cc;
            cc += self.counts[j] as u64;
            if j % 2 == 0 || self.counts[j] == 0 {
                continue;
            }
            let (y_start, x_start) = (start % h, start / h);
            let (y_end, x_end) = ((cc - 1) % h, (cc - 1) / h);
            xs = xs.min(x_start);
            xe = xe.max(x_end);
            if x_start < x_end {
                ys = 0;
                ye = h - 1;
            } else {
                ys = ys.min(y_start);
                ye = ye.max(y_end);
            }
        }
        // pycocotools computes these in unsigned 32-bit arithmetic: an all-zero-runs RLE wraps around.
        let width = (xe as u32).wrapping_sub(xs as u32).wrapping_add(1);
        let height = (ye as u32).wrapping_sub(ys as u32).wrapping_add(1);
        [
            xs as u32 as f64,
            ys as u32 as f64,
            width as f64,
            height as f64,
        ]
    }
}

/// Intersection over union of every detection with every ground truth, as `maskUtils.iou`: `result[d][g]`.
///
/// For a crowd ground truth the union is the detection's area. Masks of different sizes give -1 (only when their
/// boxes overlap, exactly as pycocotools). A missing `gt_is_crowd` entry counts as not crowd.
pub fn iou(dt: &[Rle], gt: &[Rle], gt_is_crowd: &[bool]) -> Vec<Vec<f64>> {
    let dt_boxes: Vec<[f64; 4]> = dt.iter().map(Rle::bbox).collect();
    let gt_boxes: Vec<[f64; 4]> = gt.iter().map(Rle::bbox).collect();
    let mut out = bbox_iou(&dt_boxes, &gt_boxes, gt_is_crowd);
    for (d, row) in out.iter_mut().enumerate() {
        for (g, value) in row.iter_mut().enumerate() {
            if *value > 0.0 {
                *value = rle_iou_pair(&dt[d], &gt[g], gt_is_crowd.get(g).copied().unwrap_or(false));
            }
        }
    }
    out
}

/// The mask IoU of one pair, without the box pre-check (`rleIou`'s inner loop). Sizes that differ give -1.
pub fn rle_iou_pair(dt: &Rle, gt: &Rle, crowd: bool) -> f64 {
    if dt.height != gt.height || dt.width != gt.width {
        return -1.0;
    }
    let (intersection, union) = intersection_union(&dt.counts, &gt.counts);
    let union = if intersection == 0 {
        1
    } else if crowd {
        dt.area()
    } else {
        union
    };
    intersection as f64 / union as f64
}

/// Pixels in both masks and in either, walking both run lists once.
pub fn intersection_union(a: &[u32], b: &[u32]) -> (u64, u64) {
    let mut ca = a.first().copied().unwrap_or(0) as u64;
    let mut cb = b.first().copied().unwrap_or(0) as u64;
    let (mut va, mut vb) = (false, false);
    let (mut ia, mut ib) = (1usize, 1usize);
    let (mut inter, mut union) = (0u64, 0u64);
    let mut ct = 1u64;
    while ct > 0 {
        let c = ca.min(cb);
        if c == 0 && ((ca == 0 && ia >= a.len()) || (cb == 0 && ib >= b.len())) {
            break; // one mask ran out of runs: their pixel totals differ (never for checked RLEs)
        }
        if va || vb {
            union += c;
            if va && vb {
                inter += c;
            }
        }
        ct = 0;
        ca -= c;
        if ca == 0 && ia < a.len() {
            ca = a[ia] as u64;
            ia += 1;
            va = !va;
        }
        ct += ca;
        cb -= c;
        if cb == 0 && ib < b.len() {
            cb = b[ib] as u64;
            ib += 1;
            vb = !vb;
        }
        ct += cb;
    }
    (inter, union)
}

/// Box IoU of xywh boxes, as `maskUtils.iou` on boxes (`bbIou`): `result[d][g]`; crowd boxes divide by the
/// detection's area.
pub fn bbox_iou(dt: &[[f64; 4]], gt: &[[f64; 4]], gt_is_crowd: &[bool]) -> Vec<Vec<f64>> {
    dt.iter()
        .map(|d| {
            gt.iter()
                .enumerate()
                .map(|(g, gb)| bbox_iou_pair(d, gb, gt_is_crowd.get(g).copied().unwrap_or(false)))
                .collect()
        })
        .collect()
}

/// One pair of `bbIou`, with its exact operation order.
pub fn bbox_iou_pair(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let ga = g[2] * g[3];
    let da = d[2] * d[3];
    let w = (d[2] + d[0]).min(g[2] + g[0]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[3] + d[1]).min(g[3] + g[1]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let u = if crowd { da } else { da + ga - i };
    i / u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_keeps_row_major_layout() {
        // 2x3 mask, row-major: [[1,0,1],[1,1,0]]
        let mask = [1, 0, 1, 1, 1, 0];
        let rle = Rle::encode(&mask, 2, 3);
        // column-major: 1,1 | 0,1 | 1,0  -> runs: 0 zeros, 2 ones, 1 zero, 2 ones, 1 zero
        assert_eq!(rle.counts, vec![0, 2, 1, 2, 1]);
        assert_eq!(rle.decode(), mask.to_vec());
        assert_eq!(rle.area(), 4);
    }

    #[test]
    fn compressed_round_trip_and_known_string() {
        let rle = Rle {
            height: 2,
            width: 3,
            counts: vec![0, 2, 1, 2, 1],
        };
        let s = rle.to_compressed();
        assert_eq!(Rle::from_compressed(&s, 2, 3).unwrap(), rle);
        let big = Rle {
            height: 1000,
            width: 1000,
            counts: vec![5, 999_990, 5],
        };
        let s = big.to_compressed();
        assert_eq!(Rle::from_compressed(&s, 1000, 1000).unwrap(), big);
    }

    #[test]
    fn bad_compressed_strings_are_errors_not_panics() {
        assert!(Rle::from_compressed("0 1", 1, 1).is_err());
        assert!(Rle::from_compressed("o", 1, 1).is_err()); // continuation bit set on the last character
        assert!(Rle::from_compressed("12", 1, 1).is_err()); // covers 3 pixels of 1
        assert!(Rle::from_compressed("", 0, 0).is_ok());
    }

    #[test]
    fn iou_of_identical_disjoint_and_crowd() {
        let a = Rle::encode(&[1, 1, 0, 0], 2, 2);
        let b = Rle::encode(&[0, 0, 1, 1], 2, 2);
        let c = Rle::encode(&[1, 1, 1, 1], 2, 2);
        let m = iou(
            &[a.clone(), a.clone()],
            &[a.clone(), b, c.clone()],
            &[false, false, true],
        );
        assert_eq!(m[0], vec![1.0, 0.0, 1.0]);
        let m = iou(&[c], &[a], &[false]);
        assert_eq!(m[0][0], 0.5);
    }

    #[test]
    fn inconsistent_run_totals_terminate() {
        // built by hand, not through the checked constructors: 4 pixels declared, 2 covered
        let short = Rle {
            height: 2,
            width: 2,
            counts: vec![0, 2],
        };
        let full = Rle {
            height: 2,
            width: 2,
            counts: vec![0, 4],
        };
        assert_eq!(intersection_union(&short.counts, &full.counts), (2, 2));
        let merged = Rle::merge(&[short, full], false);
        assert_eq!(merged.area(), 2);
    }
}
