//! cgF1, SAM 3's concept-grounding F1, identical to `sam3.eval.cgf1_eval.CGF1Evaluator`.
//!
//! Each ground-truth "image" is an (image, noun phrase) pair. Only pairs that are instance-exhaustive in every
//! ground-truth file are evaluated; detections scoring at least 0.5 are kept; crowd ground truth is dropped; a
//! one-to-one matching maximizing the total IoU (scipy's `linear_sum_assignment`, same algorithm) gives TP/FP/FN at
//! IoU 0.50:0.05:0.95. cgF1 = positive micro F1 x image-level MCC. With several ground-truth files (the "oracle"
//! setting) each pair is scored against the file that gives it the best mean local F1.

use std::collections::HashMap;

use sam3c_formats::{CocoDataset, CocoResult, FormatError};
use serde::Deserialize;

use crate::coco_eval::{iou_matrix, load_detections, load_ground_truth, Instance, IouType};
use crate::error::DataError;
use crate::numeric::{coco_iou_thresholds, mean_of_valid, np_mean};
use crate::path;
use crate::values::MetricValues;

/// A ground-truth file for cgF1: the COCO dataset and each image's `is_instance_exhaustive` flag (aligned with
/// `dataset.images`; `None` where the file lacks it).
#[derive(Debug, Clone)]
pub struct CgF1GroundTruth {
    pub dataset: CocoDataset,
    pub is_instance_exhaustive: Vec<Option<bool>>,
}

/// Parses a SA-Co style ground-truth file (COCO plus `images[i].is_instance_exhaustive`).
pub fn parse_cgf1_ground_truth(text: &str) -> Result<CgF1GroundTruth, FormatError> {
    #[derive(Deserialize)]
    struct Flags {
        images: Vec<ImageFlag>,
    }
    #[derive(Deserialize)]
    struct ImageFlag {
        #[serde(default, deserialize_with = "de_flag")]
        is_instance_exhaustive: Option<bool>,
    }
    fn de_flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Flag {
            Bool(bool),
            Int(i64),
        }
        Ok(Option::<Flag>::deserialize(d)?.map(|f| match f {
            Flag::Bool(b) => b,
            Flag::Int(i) => i != 0,
        }))
    }
    let dataset = sam3c_formats::parse_coco(text)?;
    // The dataset parsed, so this second, lighter pass over the same text can only fail on the flags themselves.
    let flags: Flags = serde_json::from_str(text)
        .map_err(|e| FormatError::new(format!("is_instance_exhaustive: {e}")))?;
    Ok(CgF1GroundTruth {
        dataset,
        is_instance_exhaustive: flags
            .images
            .into_iter()
            .map(|f| f.is_instance_exhaustive)
            .collect(),
    })
}

/// The 26 statistics: (name, image level?, IoU threshold), in `CGF1_METRICS` order.
pub const CGF1_STATS: [(&str, bool, Option<f64>); 26] = [
    ("cgF1", false, None),
    ("precision", false, None),
    ("recall", false, None),
    ("F1", false, None),
    ("positive_macro_F1", false, None),
    ("positive_micro_F1", false, None),
    ("positive_micro_precision", false, None),
    ("IL_precision", true, None),
    ("IL_recall", true, None),
    ("IL_F1", true, None),
    ("IL_FPR", true, None),
    ("IL_MCC", true, None),
    ("cgF1", false, Some(0.5)),
    ("precision", false, Some(0.5)),
    ("recall", false, Some(0.5)),
    ("F1", false, Some(0.5)),
    ("positive_macro_F1", false, Some(0.5)),
    ("positive_micro_F1", false, Some(0.5)),
    ("positive_micro_precision", false, Some(0.5)),
    ("cgF1", false, Some(0.75)),
    ("precision", false, Some(0.75)),
    ("recall", false, Some(0.75)),
    ("F1", false, Some(0.75)),
    ("positive_macro_F1", false, Some(0.75)),
    ("positive_micro_F1", false, Some(0.75)),
    ("positive_micro_precision", false, Some(0.75)),
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgF1Options {
    pub iou_type: IouType,
    /// Detections scoring below are dropped (`CGF1Eval.threshold`, 0.5 in sam3).
    pub score_threshold: f64,
}

impl CgF1Options {
    pub fn new(iou_type: IouType) -> CgF1Options {
        CgF1Options {
            iou_type,
            score_threshold: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CgF1Result {
    pub iou_type: IouType,
    /// The 26 statistics in [`CGF1_STATS`] order.
    pub stats: Vec<f64>,
    /// Number of (image, phrase) pairs evaluated.
    pub num_pairs: usize,
}

impl CgF1Result {
    /// `cgF1_eval_{bbox|segm}_{name}[@thr]`, as sam3's `CGF1Evaluator.evaluate`.
    pub fn metrics(&self) -> MetricValues {
        let mut out = MetricValues::new();
        for ((name, _, thr), value) in CGF1_STATS.iter().zip(&self.stats) {
            let name = match thr {
                Some(t) => format!("{name}@{t}"),
                None => (*name).to_owned(),
            };
            out.push(
                format!("cgF1_eval_{}_{}", self.iou_type.name(), name),
                *value,
            );
        }
        out
    }
}

/// One pair's evaluation (`CGF1Eval.evaluateImg`).
#[derive(Debug, Clone)]
enum PairEval {
    /// No ground truth and no detection: the box-level metrics are undefined.
    TrueNegative,
    Scored {
        tps: Vec<i64>,
        fps: Vec<i64>,
        fns: Vec<i64>,
        local_f1: Vec<f64>,
        /// Both ground truth and detections: the pair counts for the positive metrics.
        positive: bool,
        num_dt: usize,
        il: [bool; 4], // TP, FP, TN, FN
    },
}

fn evaluate_pair(
    dts: &[&Instance],
    gts: &[&Instance],
    iou_type: IouType,
    thresholds: &[f64],
    score_threshold: f64,
) -> PairEval {
    let ious_all = iou_matrix(dts, gts, iou_type);
    let keep_g: Vec<usize> = (0..gts.len()).filter(|&g| !gts[g].crowd).collect();
    let keep_d: Vec<usize> = (0..dts.len())
        .filter(|&d| dts[d].score >= score_threshold)
        .collect();
    let (n_g, n_d) = (keep_g.len(), keep_d.len());
    let t_n = thresholds.len();
    if n_g == 0 && n_d == 0 {
        return PairEval::TrueNegative;
    }
    if n_d == 0 {
        return PairEval::Scored {
            tps: vec![0; t_n],
            fps: vec![0; t_n],
            fns: vec![n_g as i64; t_n],
            local_f1: vec![0.0; t_n],
            positive: true,
            num_dt: 0,
            il: [false, false, false, true],
        };
    }
    let mut ious = Vec::with_capacity(n_d * n_g);
    for &d in &keep_d {
        for &g in &keep_g {
            ious.push(ious_all[d * gts.len() + g]);
        }
    }
    let cost: Vec<f64> = ious.iter().map(|v| -v).collect();
    let (rows, cols) =
        lsap::solve(n_d, n_g, &cost, false).expect("finite IoU costs always have an assignment");
    let match_scores: Vec<f64> = rows
        .iter()
        .zip(&cols)
        .map(|(&r, &c)| ious[r * n_g + c])
        .collect();
    let mut tps = Vec::with_capacity(t_n);
    let mut fps = Vec::with_capacity(t_n);
    let mut fns = Vec::with_capacity(t_n);
    let mut local_f1 = Vec::with_capacity(t_n);
    for &thr in thresholds {
        let tp = match_scores.iter().filter(|&&s| s >= thr).count() as i64;
        let (fp, fn_) = (n_d as i64 - tp, n_g as i64 - tp);
        let precision = tp as f64 / (tp as f64 + fp as f64 + 1e-4);
        let recall = tp as f64 / (tp as f64 + fn_ as f64 + 1e-4);
        local_f1.push(2.0 * precision * recall / (precision + recall + 1e-4));
        tps.push(tp);
        fps.push(fp);
        fns.push(fn_);
    }
    PairEval::Scored {
        tps,
        fps,
        fns,
        local_f1,
        positive: n_g > 0,
        num_dt: n_d,
        il: [n_g > 0, n_g == 0, false, false],
    }
}

/// The oracle choice among ground-truth files (`CGF1Evaluator._select_best_scoring`).
fn select_best(candidates: Vec<PairEval>) -> PairEval {
    let mut it = candidates.into_iter();
    let mut best = it.next().expect("at least one ground truth");
    for current in it {
        match (&best, &current) {
            (PairEval::Scored { local_f1: b, .. }, PairEval::Scored { local_f1: c, .. }) => {
                if np_mean(c) > np_mean(b) {
                    best = current;
                }
            }
            (_, PairEval::TrueNegative) => best = current,
            _ => {}
        }
    }
    best
}

/// Evaluates predictions against one or more ground-truth files (several = the oracle setting).
pub fn cgf1_evaluate(
    gts: &[CgF1GroundTruth],
    preds: &[CocoResult],
    options: &CgF1Options,
) -> Result<CgF1Result, DataError> {
    let iou_type = options.iou_type;
    let Some(first) = gts.first() else {
        return Err(DataError::gt(
            0,
            vec![],
            "cgF1 needs at least one ground-truth file",
        ));
    };
    let mut truths = Vec::with_capacity(gts.len());
    for (k, gt) in gts.iter().enumerate() {
        truths.push(load_ground_truth(&gt.dataset, iou_type, k)?);
    }
    let flag = |k: usize, j: usize| -> Result<bool, DataError> {
        gts[k].is_instance_exhaustive.get(j).copied().flatten().ok_or_else(|| {
            DataError::gt(k, path!["images", j], "image has no `is_instance_exhaustive` flag (cgF1 evaluates only exhaustive pairs)")
        })
    };
    let mut excluded = std::collections::HashSet::new();
    for k in 1..gts.len() {
        for (j, img) in gts[k].dataset.images.iter().enumerate() {
            if !flag(k, j)? {
                excluded.insert(img.id);
            }
        }
    }
    let mut eval_ids = Vec::new();
    for (j, img) in first.dataset.images.iter().enumerate() {
        if flag(0, j)? && !excluded.contains(&img.id) {
            eval_ids.push(img.id);
        }
    }

    // Ground truths per image in `p.catIds` order: by category id, then file order.
    let per_image_gts: Vec<HashMap<i64, Vec<usize>>> = truths
        .iter()
        .map(|t| {
            let mut map: HashMap<i64, Vec<usize>> = HashMap::new();
            for (i, a) in t.annotations.iter().enumerate() {
                map.entry(t.image_ids[a.image]).or_default().push(i);
            }
            for list in map.values_mut() {
                list.sort_by_key(|&i| t.annotations[i].category);
            }
            map
        })
        .collect();
    let mut preds_by_image: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, p) in preds.iter().enumerate() {
        preds_by_image.entry(p.image_id).or_default().push(i);
    }

    let thresholds = coco_iou_thresholds();
    let empty = Vec::new();
    let mut selected = Vec::with_capacity(eval_ids.len());
    for image_id in &eval_ids {
        let pred_idx = preds_by_image.get(image_id).unwrap_or(&empty);
        let mut candidates = Vec::with_capacity(truths.len());
        for (k, truth) in truths.iter().enumerate() {
            let mut dets = load_detections(preds, pred_idx, truth, iou_type)?;
            dets.sort_by_key(|d| d.category);
            let det_refs: Vec<&Instance> = dets.iter().collect();
            let gt_refs: Vec<&Instance> = per_image_gts[k]
                .get(image_id)
                .map(|l| l.iter().map(|&i| &truth.annotations[i]).collect())
                .unwrap_or_default();
            candidates.push(evaluate_pair(
                &det_refs,
                &gt_refs,
                iou_type,
                &thresholds,
                options.score_threshold,
            ));
        }
        selected.push(select_best(candidates));
    }
    Ok(CgF1Result {
        iou_type,
        stats: accumulate(&selected, &thresholds),
        num_pairs: eval_ids.len(),
    })
}

/// `CGF1Eval.accumulate` + `summarize`.
fn accumulate(pairs: &[PairEval], thresholds: &[f64]) -> Vec<f64> {
    let t_n = thresholds.len();
    let mut tps = vec![0i64; t_n];
    let mut fps = vec![0i64; t_n];
    let mut pm_fps = vec![0i64; t_n];
    let mut fns = vec![0i64; t_n];
    let mut local_f1s = vec![0.0f64; t_n];
    let (mut il_tp, mut il_fp, mut il_tn, mut il_fn) = (0i64, 0i64, 0i64, 0i64);
    let mut valid_f1_count = 0usize;
    for pair in pairs {
        match pair {
            PairEval::TrueNegative => il_tn += 1,
            PairEval::Scored {
                tps: tp,
                fps: fp,
                fns: fn_,
                local_f1,
                positive,
                num_dt,
                il,
            } => {
                il_tp += il[0] as i64;
                il_fp += il[1] as i64;
                il_tn += il[2] as i64;
                il_fn += il[3] as i64;
                for t in 0..t_n {
                    tps[t] += tp[t];
                    fps[t] += fp[t];
                    fns[t] += fn_[t];
                }
                if *positive {
                    for t in 0..t_n {
                        local_f1s[t] += local_f1[t];
                        pm_fps[t] += fp[t];
                    }
                    if *num_dt > 0 {
                        valid_f1_count += 1;
                    }
                }
            }
        }
    }
    let per_t = |f: &dyn Fn(usize) -> f64| -> Vec<f64> { (0..t_n).map(f).collect() };
    let precision = per_t(&|t| tps[t] as f64 / (tps[t] as f64 + fps[t] as f64 + 1e-4));
    let pm_precision = per_t(&|t| tps[t] as f64 / (tps[t] as f64 + pm_fps[t] as f64 + 1e-4));
    let recall = per_t(&|t| tps[t] as f64 / (tps[t] as f64 + fns[t] as f64 + 1e-4));
    let f1 = per_t(&|t| 2.0 * precision[t] * recall[t] / (precision[t] + recall[t] + 1e-4));
    let pm_f1 =
        per_t(&|t| 2.0 * pm_precision[t] * recall[t] / (pm_precision[t] + recall[t] + 1e-4));
    let macro_f1 = per_t(&|t| local_f1s[t] / valid_f1_count as f64);
    let (tp, fp, tn, fn_) = (il_tp as f64, il_fp as f64, il_tn as f64, il_fn as f64);
    let il_recall = tp / (tp + fn_ + 1e-6);
    let il_precision = tp / (tp + fp + 1e-6);
    let il_f1 = 2.0 * il_precision * il_recall / (il_precision + il_recall + 1e-6);
    let il_fpr = fp / (fp + tn + 1e-6);
    let numerator = (il_tp as i128 * il_tn as i128 - il_fp as i128 * il_fn as i128) as f64;
    let il_mcc = numerator / (((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).powf(0.5) + 1e-6);
    let cgf1 = per_t(&|t| pm_f1[t] * il_mcc);

    let array = |name: &str| -> &Vec<f64> {
        match name {
            "cgF1" => &cgf1,
            "precision" => &precision,
            "recall" => &recall,
            "F1" => &f1,
            "positive_macro_F1" => &macro_f1,
            "positive_micro_F1" => &pm_f1,
            "positive_micro_precision" => &pm_precision,
            _ => unreachable!("not a per-threshold cgF1 statistic: {name}"),
        }
    };
    CGF1_STATS
        .iter()
        .map(|&(name, image_level, thr)| {
            if image_level {
                match name {
                    "IL_precision" => il_precision,
                    "IL_recall" => il_recall,
                    "IL_F1" => il_f1,
                    "IL_FPR" => il_fpr,
                    _ => il_mcc,
                }
            } else {
                let values = array(name);
                match thr {
                    None => mean_of_valid(values),
                    Some(v) => {
                        let picked: Vec<f64> = thresholds
                            .iter()
                            .zip(values)
                            .filter(|(t, _)| **t == v)
                            .map(|(_, x)| *x)
                            .collect();
                        mean_of_valid(&picked)
                    }
                }
            }
        })
        .collect()
}
