//! HOTA on YouTube-VIS style data, identical to TrackEval's `HOTA` metric with its `YouTubeVIS` dataset (pip
//! `trackeval`, and the copy bundled in sam3), and phrase-HOTA as sam3's `VideoPhraseHotaEvaluator` computes it.
//!
//! * Class mode: each video is a sequence, each category a class; results are averaged over classes
//!   (`cls_comb_cls_av`), every category of the ground truth counting, as TrackEval does.
//! * Phrase mode: each (video, category) pair present in the ground truth or the predictions is its own sequence
//!   with a single class.
//! * sam3 preprocessing (`score_threshold`): predictions scoring at most the threshold are dropped and frames with a
//!   zero area or an all-zero / missing box are emptied, as both sam3 HOTA evaluators do.
//!
//! Mask IoUs are float64 (pycocotools); box IoUs are computed in float32 as TrackEval does, and the float32 sums
//! of the metric are kept float32, so the numbers match bit for bit where the reference's do.

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;
use sam3c_formats::{Rle, YtvisDataset, YtvisResult};

use crate::coco_eval::IouType;
use crate::error::DataError;
use crate::numeric::{np_arange, np_mean, np_sum, NpFloat};
use crate::path;
use crate::values::MetricValues;

/// The 9 reported HOTA fields, in sam3's order.
pub const HOTA_FIELDS: [&str; 9] = [
    "HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA",
];

#[derive(Debug, Clone, PartialEq)]
pub struct HotaOptions {
    pub iou_type: IouType,
    /// Phrase mode (each (video, category) its own sequence) or class mode.
    pub per_phrase: bool,
    /// sam3's preprocessing with this score threshold (0.5 in sam3); `None` evaluates predictions as given.
    pub score_threshold: Option<f64>,
    /// The key prefix (`video` in sam3).
    pub dataset_name: String,
}

impl HotaOptions {
    /// sam3's `VideoPhraseHotaEvaluator` defaults.
    pub fn phrase(iou_type: IouType) -> HotaOptions {
        HotaOptions {
            iou_type,
            per_phrase: true,
            score_threshold: Some(0.5),
            dataset_name: "video".to_owned(),
        }
    }
}

/// The combined result: per field, the 19 values over alpha = 0.05..0.95 and their mean.
#[derive(Debug, Clone, PartialEq)]
pub struct HotaResult {
    pub options: HotaOptions,
    /// `(field, values over alpha)` for the 9 fields of [`HOTA_FIELDS`].
    pub curves: Vec<(&'static str, Vec<f64>)>,
    pub num_sequences: usize,
}

impl HotaResult {
    /// `{dataset}_{mask|bbox}_all_{phrase|class}_{field}`: the mean over alpha, as sam3 reports.
    pub fn metrics(&self) -> MetricValues {
        let kind = if self.options.iou_type == IouType::Segm {
            "mask"
        } else {
            "bbox"
        };
        let mode = if self.options.per_phrase {
            "phrase"
        } else {
            "class"
        };
        let mut out = MetricValues::new();
        for (field, curve) in &self.curves {
            out.push(
                format!("{}_{kind}_all_{mode}_{field}", self.options.dataset_name),
                np_mean(curve),
            );
        }
        out
    }
}

/// One frame of one sequence and class: the present tracks and their similarities (`[gt * n_tr + tr]`).
struct Frame<F> {
    gt_ids: Vec<usize>,
    tr_ids: Vec<usize>,
    similarity: Vec<F>,
}

struct SequenceData<F> {
    frames: Vec<Frame<F>>,
    num_gt_ids: usize,
    num_tr_ids: usize,
}

/// Per-sequence (or combined) HOTA arrays over the 19 alphas.
#[derive(Debug, Clone)]
struct HotaArrays {
    tp: Vec<f64>,
    fn_: Vec<f64>,
    fp: Vec<f64>,
    ass_a: Vec<f64>,
    ass_re: Vec<f64>,
    ass_pr: Vec<f64>,
    loc_a: Vec<f64>,
    det_a: Vec<f64>,
    det_re: Vec<f64>,
    det_pr: Vec<f64>,
    hota: Vec<f64>,
    owta: Vec<f64>,
}

impl HotaArrays {
    fn zeros(n: usize) -> HotaArrays {
        let z = vec![0.0; n];
        HotaArrays {
            tp: z.clone(),
            fn_: z.clone(),
            fp: z.clone(),
            ass_a: z.clone(),
            ass_re: z.clone(),
            ass_pr: z.clone(),
            loc_a: z.clone(),
            det_a: z.clone(),
            det_re: z.clone(),
            det_pr: z.clone(),
            hota: z.clone(),
            owta: z,
        }
    }

    /// `_compute_final_fields`.
    fn finalize(&mut self) {
        for a in 0..self.tp.len() {
            let (tp, fn_, fp) = (self.tp[a], self.fn_[a], self.fp[a]);
            self.det_re[a] = tp / (tp + fn_).max(1.0);
            self.det_pr[a] = tp / (tp + fp).max(1.0);
            self.det_a[a] = tp / (tp + fn_ + fp).max(1.0);
            self.hota[a] = (self.det_a[a] * self.ass_a[a]).sqrt();
            self.owta[a] = (self.det_re[a] * self.ass_a[a]).sqrt();
        }
    }

    fn field(&self, name: &str) -> &Vec<f64> {
        match name {
            "HOTA" => &self.hota,
            "DetA" => &self.det_a,
            "AssA" => &self.ass_a,
            "DetRe" => &self.det_re,
            "DetPr" => &self.det_pr,
            "AssRe" => &self.ass_re,
            "AssPr" => &self.ass_pr,
            "LocA" => &self.loc_a,
            "OWTA" => &self.owta,
            _ => unreachable!("unknown HOTA field {name}"),
        }
    }
}

/// `HOTA.eval_sequence`.
fn eval_sequence<F: NpFloat>(data: &SequenceData<F>, alphas: &[f64]) -> HotaArrays {
    let n_a = alphas.len();
    let mut res = HotaArrays::zeros(n_a);
    let num_gt_dets: usize = data.frames.iter().map(|f| f.gt_ids.len()).sum();
    let num_tr_dets: usize = data.frames.iter().map(|f| f.tr_ids.len()).sum();
    if num_tr_dets == 0 || num_gt_dets == 0 {
        if num_tr_dets == 0 {
            res.fn_ = vec![num_gt_dets as f64; n_a];
        } else {
            res.fp = vec![num_tr_dets as f64; n_a];
        }
        res.loc_a = vec![1.0; n_a];
        return res;
    }
    let (n_g, n_t) = (data.num_gt_ids, data.num_tr_ids);
    let mut potential = vec![0.0f64; n_g * n_t];
    let mut gt_count = vec![0.0f64; n_g];
    let mut tr_count = vec![0.0f64; n_t];
    let eps = f64::EPSILON;
    for f in &data.frames {
        let (rows, cols) = (f.gt_ids.len(), f.tr_ids.len());
        // similarity.sum(0) adds rows in order; similarity.sum(1) is numpy's pairwise sum of each row
        let mut col_sum = vec![F::default(); cols];
        if rows > 0 {
            col_sum.copy_from_slice(&f.similarity[..cols]);
            for r in 1..rows {
                for c in 0..cols {
                    col_sum[c] = col_sum[c] + f.similarity[r * cols + c];
                }
            }
        }
        let row_sum: Vec<F> = (0..rows)
            .map(|r| np_sum(&f.similarity[r * cols..(r + 1) * cols]))
            .collect();
        for r in 0..rows {
            for c in 0..cols {
                let sim = f.similarity[r * cols + c];
                let denom = col_sum[c] + row_sum[r] - sim;
                let sim_iou = if denom.to_f64() > eps {
                    (sim / denom).to_f64()
                } else {
                    0.0
                };
                potential[f.gt_ids[r] * n_t + f.tr_ids[c]] += sim_iou;
            }
        }
        for &g in &f.gt_ids {
            gt_count[g] += 1.0;
        }
        for &t in &f.tr_ids {
            tr_count[t] += 1.0;
        }
    }
    let global: Vec<f64> = (0..n_g * n_t)
        .map(|i| potential[i] / (gt_count[i / n_t] + tr_count[i % n_t] - potential[i]))
        .collect();
    let mut matches = vec![vec![0.0f64; n_g * n_t]; n_a];
    let mut loc_sum = vec![0.0f64; n_a];
    for f in &data.frames {
        let (rows, cols) = (f.gt_ids.len(), f.tr_ids.len());
        if rows == 0 {
            for a in 0..n_a {
                res.fp[a] += cols as f64;
            }
            continue;
        }
        if cols == 0 {
            for a in 0..n_a {
                res.fn_[a] += rows as f64;
            }
            continue;
        }
        let mut cost = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                let score =
                    global[f.gt_ids[r] * n_t + f.tr_ids[c]] * f.similarity[r * cols + c].to_f64();
                cost.push(-score);
            }
        }
        let (match_rows, match_cols) =
            lsap::solve(rows, cols, &cost, false).expect("finite HOTA scores");
        for (a, &alpha) in alphas.iter().enumerate() {
            let mut num = 0usize;
            // Python's sum() over float32 values stays float32
            let mut sim_sum = F::default();
            for (&r, &c) in match_rows.iter().zip(&match_cols) {
                let sim = f.similarity[r * cols + c];
                if sim.to_f64() >= alpha - eps {
                    num += 1;
                    sim_sum = sim_sum + sim;
                    matches[a][f.gt_ids[r] * n_t + f.tr_ids[c]] += 1.0;
                }
            }
            res.tp[a] += num as f64;
            res.fn_[a] += (rows - num) as f64;
            res.fp[a] += (cols - num) as f64;
            if num > 0 {
                loc_sum[a] += sim_sum.to_f64();
            }
        }
    }
    for a in 0..n_a {
        let m = &matches[a];
        let mut prod_a = Vec::with_capacity(m.len());
        let mut prod_re = Vec::with_capacity(m.len());
        let mut prod_pr = Vec::with_capacity(m.len());
        for i in 0..m.len() {
            let (g, t) = (i / n_t, i % n_t);
            prod_a.push(m[i] * (m[i] / (gt_count[g] + tr_count[t] - m[i]).max(1.0)));
            prod_re.push(m[i] * (m[i] / gt_count[g].max(1.0)));
            prod_pr.push(m[i] * (m[i] / tr_count[t].max(1.0)));
        }
        let tp = res.tp[a].max(1.0);
        res.ass_a[a] = np_sum(&prod_a) / tp;
        res.ass_re[a] = np_sum(&prod_re) / tp;
        res.ass_pr[a] = np_sum(&prod_pr) / tp;
        res.loc_a[a] = loc_sum[a].max(1e-10) / res.tp[a].max(1e-10);
    }
    res.finalize();
    res
}

/// `HOTA.combine_sequences`.
fn combine_sequences(all: &[HotaArrays], n_a: usize) -> HotaArrays {
    let mut res = HotaArrays::zeros(n_a);
    for a in 0..n_a {
        let (mut tp, mut fn_, mut fp) = (0.0, 0.0, 0.0);
        for s in all {
            tp += s.tp[a];
            fn_ += s.fn_[a];
            fp += s.fp[a];
        }
        res.tp[a] = tp;
        res.fn_[a] = fn_;
        res.fp[a] = fp;
        let weighted = |field: fn(&HotaArrays) -> &Vec<f64>| -> f64 {
            let mut sum = 0.0;
            for s in all {
                sum += field(s)[a] * s.tp[a];
            }
            sum
        };
        res.ass_re[a] = weighted(|s| &s.ass_re) / tp.max(1.0);
        res.ass_pr[a] = weighted(|s| &s.ass_pr) / tp.max(1.0);
        res.ass_a[a] = weighted(|s| &s.ass_a) / tp.max(1.0);
        res.loc_a[a] = weighted(|s| &s.loc_a).max(1e-10) / tp.max(1e-10);
    }
    res.finalize();
    res
}

/// `HOTA.combine_classes_class_averaged`: the mean of every float field over classes.
fn combine_classes(all: &[HotaArrays], n_a: usize) -> Vec<(&'static str, Vec<f64>)> {
    HOTA_FIELDS
        .iter()
        .map(|&name| {
            let curve = (0..n_a)
                .map(|a| {
                    let mut sum = 0.0;
                    for c in all {
                        sum += c.field(name)[a];
                    }
                    sum / all.len() as f64
                })
                .collect();
            (name, curve)
        })
        .collect()
}

/// A track reduced to what HOTA reads: its id and, per frame, a mask or a box (or nothing).
struct Track {
    id: i64,
    category: i64,
    masks: Vec<Option<Rle>>,
    boxes: Vec<Option<[f64; 4]>>,
}

/// Evaluates HOTA (class or phrase mode) of predicted tracks against a YTVIS ground truth.
pub fn hota_evaluate(
    gt: &YtvisDataset,
    preds: &[YtvisResult],
    options: &HotaOptions,
) -> Result<HotaResult, DataError> {
    let iou_type = options.iou_type;
    let videos: HashMap<i64, usize> = gt
        .videos
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id, i))
        .collect();
    for (i, v) in gt.videos.iter().enumerate() {
        if v.file_names.is_empty() {
            return Err(DataError::gt(
                0,
                path!["videos", i, "file_names"],
                "a video needs at least one frame",
            ));
        }
    }
    let frame_count = |video: usize| gt.videos[video].file_names.len();
    let video_size = |video: usize| (gt.videos[video].height, gt.videos[video].width);

    // Ground-truth tracks.
    let mut gt_tracks: Vec<(usize, Track)> = Vec::new();
    for (i, ann) in gt.annotations.iter().enumerate() {
        let Some(&video) = videos.get(&ann.video_id) else {
            continue;
        };
        let Some(id) = ann.id else {
            return Err(DataError::gt(
                0,
                path!["annotations", i],
                "annotation has no `id` (HOTA uses it as the track id)",
            ));
        };
        let n = frame_count(video);
        let track = match iou_type {
            IouType::Segm => {
                if ann.segmentations.len() < n {
                    return Err(DataError::gt(
                        0,
                        path!["annotations", i, "segmentations"],
                        format!("has {} frames, the video {n}", ann.segmentations.len()),
                    ));
                }
                let mut masks = Vec::with_capacity(n);
                for (t, seg) in ann.segmentations.iter().take(n).enumerate() {
                    masks.push(match seg {
                        None => None,
                        Some(s) => Some(crate::coco_eval::mask_of(s, video_size(video), |m| {
                            DataError::gt(0, path!["annotations", i, "segmentations", t], m)
                        })?),
                    });
                }
                Track {
                    id,
                    category: ann.category_id,
                    masks,
                    boxes: Vec::new(),
                }
            }
            IouType::Bbox => {
                let Some(boxes) = &ann.bboxes else {
                    return Err(DataError::gt(
                        0,
                        path!["annotations", i],
                        "annotation has no `bboxes` (needed for box HOTA)",
                    ));
                };
                if boxes.len() < n {
                    return Err(DataError::gt(
                        0,
                        path!["annotations", i, "bboxes"],
                        format!("has {} frames, the video {n}", boxes.len()),
                    ));
                }
                Track {
                    id,
                    category: ann.category_id,
                    masks: Vec::new(),
                    boxes: boxes[..n].to_vec(),
                }
            }
        };
        gt_tracks.push((video, track));
    }

    // Predicted tracks, after sam3's preprocessing when asked.
    let mut pred_tracks: Vec<(usize, Track)> = Vec::new();
    for (i, p) in preds.iter().enumerate() {
        if let Some(thr) = options.score_threshold {
            if p.score <= thr {
                continue;
            }
        }
        let Some(&video) = videos.get(&p.video_id) else {
            if options.per_phrase {
                return Err(DataError::pred(
                    path![i, "video_id"],
                    format!("video_id {} is not a video of the ground truth", p.video_id),
                ));
            }
            continue;
        };
        let n = frame_count(video);
        let mut segs = p.segmentations.clone();
        let mut boxes = p.bboxes.clone();
        if options.score_threshold.is_some() {
            let (Some(b), Some(areas)) = (boxes.as_mut(), p.areas.as_ref()) else {
                return Err(DataError::pred(
                    path![i],
                    "prediction needs `bboxes` and `areas` (sam3's HOTA preprocessing reads them)",
                ));
            };
            if areas.len() != b.len() || areas.len() != segs.len() {
                return Err(DataError::pred(
                    path![i],
                    "`areas`, `bboxes` and `segmentations` have different lengths",
                ));
            }
            for t in 0..areas.len() {
                let empty =
                    areas[t] == Some(0.0) || b[t].is_none_or(|bb| bb.iter().all(|&x| x == 0.0));
                let area = if empty { None } else { areas[t] };
                if empty {
                    b[t] = None;
                    segs[t] = None;
                }
                if area.is_none() != b[t].is_none() || area.is_none() != segs[t].is_none() {
                    return Err(DataError::pred(
                        path![i, "areas", t],
                        "a frame has some of area, box and mask but not all",
                    ));
                }
            }
        }
        let track = match iou_type {
            IouType::Segm => {
                if segs.len() < n {
                    return Err(DataError::pred(
                        path![i, "segmentations"],
                        format!("has {} frames, the video {n}", segs.len()),
                    ));
                }
                let mut masks = Vec::with_capacity(n);
                for (t, seg) in segs.iter().take(n).enumerate() {
                    masks.push(match seg {
                        None => None,
                        Some(s) => Some(crate::coco_eval::mask_of(s, video_size(video), |m| {
                            DataError::pred(path![i, "segmentations", t], m)
                        })?),
                    });
                }
                Track {
                    id: i as i64,
                    category: p.category_id,
                    masks,
                    boxes: Vec::new(),
                }
            }
            IouType::Bbox => {
                let Some(b) = boxes else {
                    return Err(DataError::pred(
                        path![i],
                        "prediction has no `bboxes` (needed for box HOTA)",
                    ));
                };
                if b.len() < n {
                    return Err(DataError::pred(
                        path![i, "bboxes"],
                        format!("has {} frames, the video {n}", b.len()),
                    ));
                }
                Track {
                    id: i as i64,
                    category: p.category_id,
                    masks: Vec::new(),
                    boxes: b[..n].to_vec(),
                }
            }
        };
        pred_tracks.push((video, track));
    }

    // Sequences: (video, categories evaluated in it).
    let mut gt_by_video: Vec<Vec<usize>> = vec![Vec::new(); gt.videos.len()];
    for (i, (v, _)) in gt_tracks.iter().enumerate() {
        gt_by_video[*v].push(i);
    }
    let mut pred_by_video: Vec<Vec<usize>> = vec![Vec::new(); gt.videos.len()];
    for (i, (v, _)) in pred_tracks.iter().enumerate() {
        pred_by_video[*v].push(i);
    }
    let categories: Vec<i64> = gt.categories.iter().map(|c| c.id).collect();
    // (video index, category) per (sequence, class); class index for averaging
    let units: Vec<(usize, i64, usize)> = if options.per_phrase {
        let mut pairs: BTreeSet<(i64, i64)> = BTreeSet::new();
        for (v, t) in pred_tracks.iter().chain(gt_tracks.iter()) {
            pairs.insert((gt.videos[*v].id, t.category));
        }
        pairs
            .into_iter()
            .map(|(vid, cat)| (videos[&vid], cat, 0))
            .collect()
    } else {
        let mut u = Vec::new();
        for (ci, &cat) in categories.iter().enumerate() {
            for v in 0..gt.videos.len() {
                u.push((v, cat, ci));
            }
        }
        u
    };
    let alphas = np_arange(0.05, 0.99, 0.05);
    let per_unit: Vec<Result<HotaArrays, DataError>> = units
        .par_iter()
        .map(|&(video, category, _)| {
            let gts: Vec<&Track> = gt_by_video[video]
                .iter()
                .map(|&i| &gt_tracks[i].1)
                .filter(|t| t.category == category)
                .collect();
            let trs: Vec<&Track> = pred_by_video[video]
                .iter()
                .map(|&i| &pred_tracks[i].1)
                .filter(|t| t.category == category)
                .collect();
            let n = frame_count(video);
            match iou_type {
                IouType::Segm => {
                    let data = sequence_data(
                        &gts,
                        &trs,
                        n,
                        gt.videos[video].id,
                        |g, t, frame| {
                            mask_similarity(
                                g.masks[frame].as_ref().unwrap(),
                                t.masks[frame].as_ref().unwrap(),
                            )
                        },
                        |tr, frame| tr.masks[frame].is_some(),
                    )?;
                    Ok(eval_sequence(&data, &alphas))
                }
                IouType::Bbox => {
                    let data = sequence_data(
                        &gts,
                        &trs,
                        n,
                        gt.videos[video].id,
                        |g, t, frame| {
                            Ok(box_similarity_f32(
                                &g.boxes[frame].unwrap(),
                                &t.boxes[frame].unwrap(),
                            ))
                        },
                        |tr, frame| tr.boxes[frame].is_some(),
                    )?;
                    Ok(eval_sequence(&data, &alphas))
                }
            }
        })
        .collect();
    let per_unit = per_unit.into_iter().collect::<Result<Vec<_>, _>>()?;
    let n_a = alphas.len();
    let curves = if options.per_phrase {
        combine_classes(&[combine_sequences(&per_unit, n_a)], n_a)
    } else {
        let per_class: Vec<HotaArrays> = (0..categories.len())
            .map(|ci| {
                let seqs: Vec<HotaArrays> = units
                    .iter()
                    .zip(&per_unit)
                    .filter(|((_, _, c), _)| *c == ci)
                    .map(|(_, r)| r.clone())
                    .collect();
                combine_sequences(&seqs, n_a)
            })
            .collect();
        combine_classes(&per_class, n_a)
    };
    let num_sequences = if options.per_phrase {
        units.len()
    } else {
        gt.videos.len()
    };
    Ok(HotaResult {
        options: options.clone(),
        curves,
        num_sequences,
    })
}

fn mask_similarity(gt: &Rle, tr: &Rle) -> Result<f64, String> {
    // maskUtils.iou(gt, tracker, iscrowd=False): box pre-check, then the mask IoU; -1 for different sizes
    let boxes = sam3c_formats::rle::bbox_iou_pair(&gt.bbox(), &tr.bbox(), false);
    let value = if boxes > 0.0 {
        sam3c_formats::rle::rle_iou_pair(gt, tr, false)
    } else {
        boxes
    };
    if value < 0.0 {
        return Err(format!(
            "masks of different sizes ({}x{} and {}x{})",
            gt.height, gt.width, tr.height, tr.width
        ));
    }
    Ok(value)
}

/// TrackEval's `_calculate_box_ious` (xywh) in float32.
fn box_similarity_f32(g: &[f64; 4], t: &[f64; 4]) -> f32 {
    let b1 = [g[0] as f32, g[1] as f32, g[2] as f32, g[3] as f32];
    let b2 = [t[0] as f32, t[1] as f32, t[2] as f32, t[3] as f32];
    let (x1a, y1a, x2a, y2a) = (b1[0], b1[1], b1[0] + b1[2], b1[1] + b1[3]);
    let (x1b, y1b, x2b, y2b) = (b2[0], b2[1], b2[0] + b2[2], b2[1] + b2[3]);
    let inter = (x2a.min(x2b) - x1a.max(x1b)).max(0.0) * (y2a.min(y2b) - y1a.max(y1b)).max(0.0);
    let area1 = (x2a - x1a) * (y2a - y1a);
    let area2 = (x2b - x1b) * (y2b - y1b);
    let mut union = area1 + area2 - inter;
    let eps = f64::EPSILON;
    let mut inter = inter;
    if area1 as f64 <= eps || area2 as f64 <= eps || union as f64 <= eps {
        inter = 0.0;
    }
    if union as f64 <= eps {
        union = 1.0;
    }
    inter / union
}

/// Frames of one sequence and class with TrackEval's id relabelling (sorted unique ids -> 0..n).
fn sequence_data<F: NpFloat>(
    gts: &[&Track],
    trs: &[&Track],
    frames: usize,
    video_id: i64,
    similarity: impl Fn(&Track, &Track, usize) -> Result<F, String>,
    present: impl Fn(&Track, usize) -> bool,
) -> Result<SequenceData<F>, DataError> {
    let mut gt_ids: Vec<i64> = gts
        .iter()
        .filter(|g| (0..frames).any(|f| present(g, f)))
        .map(|g| g.id)
        .collect();
    gt_ids.sort_unstable();
    gt_ids.dedup();
    let gt_map: HashMap<i64, usize> = gt_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let tr_present: Vec<usize> = (0..trs.len())
        .filter(|&i| (0..frames).any(|f| present(trs[i], f)))
        .collect();
    let tr_map: HashMap<usize, usize> = tr_present
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i))
        .collect();
    let mut out = Vec::with_capacity(frames);
    for f in 0..frames {
        let g_here: Vec<&Track> = gts.iter().copied().filter(|g| present(g, f)).collect();
        let t_here: Vec<usize> = (0..trs.len()).filter(|&i| present(trs[i], f)).collect();
        let ids: Vec<usize> = g_here.iter().map(|g| gt_map[&g.id]).collect();
        let mut seen = ids.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(DataError::gt(
                0,
                vec![],
                format!(
                    "video {video_id}, frame {}: two annotations of one category share a track id",
                    f + 1
                ),
            ));
        }
        let mut sim = Vec::with_capacity(g_here.len() * t_here.len());
        for g in &g_here {
            for &t in &t_here {
                sim.push(similarity(g, trs[t], f).map_err(|m| {
                    DataError::pred(vec![], format!("video {video_id}, frame {}: {m}", f + 1))
                })?);
            }
        }
        out.push(Frame {
            gt_ids: ids,
            tr_ids: t_here.iter().map(|t| tr_map[t]).collect(),
            similarity: sim,
        });
    }
    Ok(SequenceData {
        frames: out,
        num_gt_ids: gt_ids.len(),
        num_tr_ids: tr_present.len(),
    })
}
