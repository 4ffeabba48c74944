//! J&F (DAVIS): region similarity J (mask IoU) and boundary accuracy F, identical to TrackEval's `JAndF` metric
//! (the DAVIS 2017 protocol: J-optimal track matching, boundary tolerance ceil(0.008 x image diagonal) with a disk,
//! decay over four time bins). sam3's `compute_F_measure` is the same boundary F on precomputed boundaries.
//!
//! On YouTube-VIS style data a sequence is a video (class-agnostic: all ground-truth tracks against all predicted
//! tracks) or, in phrase mode, a (video, category) pair. A track takes part in a sequence when it has a mask in
//! at least one frame. Sequences without ground-truth tracks are skipped (TrackEval's mean would be NaN and make
//! the whole result NaN).

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;
use sam3c_formats::rle::{bbox_iou_pair, rle_iou_pair};
use sam3c_formats::{Rle, YtvisDataset, YtvisResult};

use crate::coco_eval::mask_of;
use crate::error::DataError;
use crate::numeric::{np_linspace, np_mean, np_nanmean};
use crate::path;
use crate::values::MetricValues;

/// TrackEval's J&F fields, in its order.
pub const JF_FIELDS: [&str; 7] = [
    "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay", "J&F",
];

/// DAVIS' boundary tolerance, as a fraction of the image diagonal.
pub const BOUNDARY_THRESHOLD: f64 = 0.008;

#[derive(Debug, Clone, PartialEq)]
pub struct JfOptions {
    /// Phrase mode (each (video, category) its own sequence) or per video, class-agnostic.
    pub per_phrase: bool,
    /// Keep only predictions scoring above this (sam3's video evaluators use 0.5); `None` keeps all.
    pub score_threshold: Option<f64>,
    /// The key prefix (`video` in sam3).
    pub dataset_name: String,
}

impl Default for JfOptions {
    fn default() -> JfOptions {
        JfOptions {
            per_phrase: false,
            score_threshold: None,
            dataset_name: "video".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JfResult {
    pub options: JfOptions,
    /// The 7 fields of [`JF_FIELDS`], combined over sequences weighted by their ground-truth tracks.
    pub values: Vec<f64>,
    pub num_gt_tracks: usize,
    pub num_sequences: usize,
}

impl JfResult {
    /// `{dataset}_mask_all_{video|phrase}_{J-Mean, ..., J&F}`.
    pub fn metrics(&self) -> MetricValues {
        let mode = if self.options.per_phrase {
            "phrase"
        } else {
            "video"
        };
        let mut out = MetricValues::new();
        for (field, value) in JF_FIELDS.iter().zip(&self.values) {
            out.push(
                format!("{}_mask_all_{mode}_{field}", self.options.dataset_name),
                *value,
            );
        }
        out
    }
}

/// A binary boundary map, 1 pixel wide (DAVIS' `seg2bmap`), of a row-major mask.
pub fn boundary_map(mask: &[u8], height: usize, width: usize) -> Vec<bool> {
    let at = |y: usize, x: usize| mask[y * width + x] != 0;
    let mut b = vec![false; height * width];
    for y in 0..height {
        for x in 0..width {
            let s = at(y, x);
            let e = x + 1 < width && at(y, x + 1);
            let so = y + 1 < height && at(y + 1, x);
            let se = x + 1 < width && y + 1 < height && at(y + 1, x + 1);
            b[y * width + x] = if y + 1 == height && x + 1 == width {
                false
            } else if y + 1 == height {
                s ^ e
            } else if x + 1 == width {
                s ^ so
            } else {
                (s ^ e) | (s ^ so) | (s ^ se)
            };
        }
    }
    b
}

/// Offsets of skimage's `disk(radius)`: x^2 + y^2 <= radius^2.
fn disk_offsets(radius: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            if dx * dx + dy * dy <= radius * radius {
                out.push((dy, dx));
            }
        }
    }
    out
}

/// Boundary pixels of `a` that have a boundary pixel of `b` within the disk (= sum(a * dilate(b, disk))).
fn matched_boundary(
    a: &[bool],
    b: &[bool],
    height: usize,
    width: usize,
    disk: &[(i64, i64)],
) -> usize {
    let mut count = 0;
    for y in 0..height {
        for x in 0..width {
            if !a[y * width + x] {
                continue;
            }
            let hit = disk.iter().any(|&(dy, dx)| {
                let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                yy >= 0
                    && xx >= 0
                    && (yy as usize) < height
                    && (xx as usize) < width
                    && b[yy as usize * width + xx as usize]
            });
            count += hit as usize;
        }
    }
    count
}

/// Boundary F-measure of a predicted and a ground-truth mask (row-major, same size), DAVIS / TrackEval
/// `_compute_f` with `bound_th` = [`BOUNDARY_THRESHOLD`].
pub fn boundary_f_measure(pred: &[u8], gt: &[u8], height: usize, width: usize) -> f64 {
    let diagonal = ((height * height + width * width) as f64).sqrt();
    let radius = (BOUNDARY_THRESHOLD * diagonal).ceil() as i64;
    let disk = disk_offsets(radius);
    let fg = boundary_map(pred, height, width);
    let gb = boundary_map(gt, height, width);
    let n_fg = fg.iter().filter(|&&v| v).count();
    let n_gt = gb.iter().filter(|&&v| v).count();
    let (precision, recall) = match (n_fg, n_gt) {
        (0, 0) => (1.0, 1.0),
        (0, _) => (1.0, 0.0),
        (_, 0) => (0.0, 1.0),
        _ => {
            let fg_match = matched_boundary(&fg, &gb, height, width, &disk);
            let gt_match = matched_boundary(&gb, &fg, height, width, &disk);
            (fg_match as f64 / n_fg as f64, gt_match as f64 / n_gt as f64)
        }
    };
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// Per-sequence fields (`JAndF.eval_sequence`) and the number of ground-truth tracks.
fn eval_sequence(
    gt: &[Vec<Option<Rle>>],
    tr: &[Vec<Option<Rle>>],
    frames: usize,
    height: usize,
    width: usize,
) -> (Vec<f64>, usize) {
    let n_gt = gt.len();
    let mut tracks: Vec<&Vec<Option<Rle>>> = tr.iter().collect();
    let none_track: Vec<Option<Rle>> = vec![None; frames];
    while tracks.len() < n_gt {
        tracks.push(&none_track); // zero padding when there are fewer predicted than ground-truth tracks
    }
    let n_tr = tracks.len();
    let area = |m: &Option<Rle>| m.as_ref().map_or(0, Rle::area);
    let iou = |a: &Option<Rle>, b: &Option<Rle>| -> f64 {
        if area(a) == 0 && area(b) == 0 {
            return 1.0;
        }
        match (a, b) {
            (Some(a), Some(b)) => {
                let boxes = bbox_iou_pair(&a.bbox(), &b.bbox(), false);
                if boxes > 0.0 {
                    rle_iou_pair(a, b, false)
                } else {
                    boxes
                }
            }
            _ => 0.0,
        }
    };
    // j[k][i][t]
    let j: Vec<Vec<Vec<f64>>> = (0..n_tr)
        .map(|k| {
            (0..n_gt)
                .map(|i| (0..frames).map(|t| iou(&tracks[k][t], &gt[i][t])).collect())
                .collect()
        })
        .collect();
    let cost: Vec<f64> = (0..n_tr)
        .flat_map(|k| (0..n_gt).map(move |i| (k, i)))
        .map(|(k, i)| -np_mean(&j[k][i]))
        .collect();
    let (rows, cols) = lsap::solve(n_tr, n_gt, &cost, false).expect("finite J costs");
    let decode = |m: &Option<Rle>| {
        m.as_ref()
            .map_or_else(|| vec![0u8; height * width], Rle::decode)
    };
    let mut j_m: Vec<Vec<f64>> = Vec::new();
    let mut f_m: Vec<Vec<f64>> = Vec::new();
    for (&k, &i) in rows.iter().zip(&cols) {
        j_m.push(j[k][i].clone());
        f_m.push(
            (0..frames)
                .map(|t| {
                    boundary_f_measure(&decode(&tracks[k][t]), &decode(&gt[i][t]), height, width)
                })
                .collect(),
        );
    }
    let recall = |v: &[f64]| -> f64 {
        // nanmean of a boolean array: NaN compares false and counts as 0
        let flags: Vec<f64> = v
            .iter()
            .map(|&x| (x > 0.5 + f64::EPSILON) as u8 as f64)
            .collect();
        np_mean(&flags)
    };
    // bins of np.round(np.linspace(1, T, 5) + 1e-10) - 1, cast to uint8 as TrackEval does
    let ids: Vec<usize> = np_linspace(1.0, frames as f64, 5)
        .iter()
        .map(|v| ((v + 1e-10).round_ties_even() - 1.0) as i64 as u8 as usize)
        .collect();
    let decay = |v: &[f64]| -> f64 {
        let bin = |b: usize| -> Vec<f64> {
            v[ids[b].min(v.len())..(ids[b + 1] + 1).min(v.len())].to_vec()
        };
        np_nanmean(&bin(0)) - np_nanmean(&bin(3))
    };
    let per_track =
        |f: &dyn Fn(usize) -> f64| -> f64 { np_mean(&(0..j_m.len()).map(f).collect::<Vec<_>>()) };
    let j_mean = per_track(&|k| np_nanmean(&j_m[k]));
    let f_mean = per_track(&|k| np_nanmean(&f_m[k]));
    let values = vec![
        j_mean,
        per_track(&|k| recall(&j_m[k])),
        per_track(&|k| decay(&j_m[k])),
        f_mean,
        per_track(&|k| recall(&f_m[k])),
        per_track(&|k| decay(&f_m[k])),
        (j_mean + f_mean) / 2.0,
    ];
    (values, j_m.len())
}

/// Evaluates J&F of predicted tracks against a YTVIS ground truth.
pub fn jf_evaluate(
    gt: &YtvisDataset,
    preds: &[YtvisResult],
    options: &JfOptions,
) -> Result<JfResult, DataError> {
    let videos: HashMap<i64, usize> = gt
        .videos
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id, i))
        .collect();
    let masks_of = |segs: &[Option<sam3c_formats::Segmentation>],
                    video: usize,
                    err: &dyn Fn(usize, String) -> DataError|
     -> Result<Vec<Option<Rle>>, DataError> {
        let v = &gt.videos[video];
        let n = v.file_names.len();
        if segs.len() < n {
            return Err(err(
                usize::MAX,
                format!("has {} frames, the video {n}", segs.len()),
            ));
        }
        let mut out = Vec::with_capacity(n);
        for (t, s) in segs.iter().take(n).enumerate() {
            out.push(match s {
                None => None,
                Some(s) => {
                    let m = mask_of(s, (v.height, v.width), |m| err(t, m))?;
                    if let (Some(h), Some(w)) = (v.height, v.width) {
                        if (m.height, m.width) != (h, w) {
                            return Err(err(
                                t,
                                format!("mask is {}x{}, the video {h}x{w}", m.height, m.width),
                            ));
                        }
                    }
                    Some(m)
                }
            });
        }
        Ok(out)
    };
    // (video, category, masks per frame)
    let mut gt_tracks: Vec<(usize, i64, Vec<Option<Rle>>)> = Vec::new();
    for (i, a) in gt.annotations.iter().enumerate() {
        let Some(&video) = videos.get(&a.video_id) else {
            continue;
        };
        let err = |t: usize, m: String| {
            let p = if t == usize::MAX {
                path!["annotations", i, "segmentations"]
            } else {
                path!["annotations", i, "segmentations", t]
            };
            DataError::gt(0, p, m)
        };
        gt_tracks.push((
            video,
            a.category_id,
            masks_of(&a.segmentations, video, &err)?,
        ));
    }
    let mut pred_tracks: Vec<(usize, i64, Vec<Option<Rle>>)> = Vec::new();
    for (i, p) in preds.iter().enumerate() {
        if options.score_threshold.is_some_and(|thr| p.score <= thr) {
            continue;
        }
        let Some(&video) = videos.get(&p.video_id) else {
            return Err(DataError::pred(
                path![i, "video_id"],
                format!("video_id {} is not a video of the ground truth", p.video_id),
            ));
        };
        let err = |t: usize, m: String| {
            let p = if t == usize::MAX {
                path![i, "segmentations"]
            } else {
                path![i, "segmentations", t]
            };
            DataError::pred(p, m)
        };
        pred_tracks.push((
            video,
            p.category_id,
            masks_of(&p.segmentations, video, &err)?,
        ));
    }
    // Sequences: per video, or per (video, category) pair, in sorted order.
    let mut keys: BTreeSet<(i64, Option<i64>)> = BTreeSet::new();
    for (v, c, _) in gt_tracks.iter().chain(pred_tracks.iter()) {
        keys.insert((gt.videos[*v].id, options.per_phrase.then_some(*c)));
    }
    let sequences: Vec<(usize, Option<i64>)> =
        keys.into_iter().map(|(vid, c)| (videos[&vid], c)).collect();
    let present = |t: &&(usize, i64, Vec<Option<Rle>>), video: usize, cat: Option<i64>| {
        t.0 == video && cat.is_none_or(|c| c == t.1) && t.2.iter().any(Option::is_some)
    };
    let results: Vec<(Vec<f64>, usize)> = sequences
        .par_iter()
        .filter_map(|&(video, cat)| {
            let gts: Vec<Vec<Option<Rle>>> = gt_tracks
                .iter()
                .filter(|t| present(t, video, cat))
                .map(|t| t.2.clone())
                .collect();
            if gts.is_empty() {
                return None;
            }
            let trs: Vec<Vec<Option<Rle>>> = pred_tracks
                .iter()
                .filter(|t| present(t, video, cat))
                .map(|t| t.2.clone())
                .collect();
            let v = &gt.videos[video];
            let frames = v.file_names.len();
            // the frame size: the first ground-truth mask's (TrackEval reads it from there)
            let first = gts
                .iter()
                .flat_map(|t| t.iter().flatten())
                .next()
                .expect("a present track has a mask");
            let size = (first.height, first.width);
            if let Some(m) = gts
                .iter()
                .chain(&trs)
                .flat_map(|t| t.iter().flatten())
                .find(|m| (m.height, m.width) != size)
            {
                return Some(Err(DataError::pred(
                    vec![],
                    format!(
                        "video {}: masks of different sizes ({}x{} and {}x{})",
                        v.id, size.0, size.1, m.height, m.width
                    ),
                )));
            }
            Some(Ok(eval_sequence(
                &gts,
                &trs,
                frames,
                size.0 as usize,
                size.1 as usize,
            )))
        })
        .collect::<Result<Vec<_>, DataError>>()?;
    let total: usize = results.iter().map(|r| r.1).sum();
    let values = (0..JF_FIELDS.len())
        .map(|f| {
            let mut sum = 0.0;
            for (v, n) in &results {
                sum += v[f] * *n as f64;
            }
            sum / (total as f64).max(1.0)
        })
        .collect();
    Ok(JfResult {
        options: options.clone(),
        values,
        num_gt_tracks: total,
        num_sequences: results.len(),
    })
}
