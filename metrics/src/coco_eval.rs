//! COCO AP / AR, identical to pycocotools' `COCOeval` (evaluate, accumulate, summarize) for bbox and segm, plus
//! sam3's `COCOevalCustom` "positive split" (ODinW AP+).
//!
//! The steps, their orderings and their quirks follow cocoeval.py exactly: detections sorted by score with a
//! stable sort and cut at 100 per image and category, greedy matching per IoU threshold where an equal IoU moves
//! the match to the later ground truth, crowd ground truth matched any number of times, ignore flags from
//! `iscrowd` and area ranges, a ground truth whose `id` is 0 counting as no match (pycocotools stores matched ids
//! and tests them for truth), 101-point interpolated precision, and `-1` for what is undefined.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use sam3c_formats::rle::{bbox_iou_pair, rle_iou_pair};
use sam3c_formats::{CocoDataset, CocoResult, Rle, Segmentation};
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::numeric::{
    argsort_descending, coco_iou_thresholds, coco_recall_thresholds, mean_of_valid,
};
use crate::path;
use crate::values::MetricValues;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IouType {
    Bbox,
    Segm,
}

impl IouType {
    /// The name upstream keys use (`bbox`, `segm`).
    pub fn name(self) -> &'static str {
        match self {
            IouType::Bbox => "bbox",
            IouType::Segm => "segm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CocoEvalOptions {
    pub iou_type: IouType,
    /// sam3's `positive_split`: detections of a category absent from an image's ground truth are dropped.
    pub positive_split: bool,
}

/// The 12 statistics of `COCOeval.summarize`, with sam3's key suffixes (`coco_eval_{iou}_{name}`).
pub const COCO_STAT_NAMES: [&str; 12] = [
    "AP",
    "AP_50",
    "AP_75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR_maxDets@1",
    "AR_maxDets@10",
    "AR_maxDets@100",
    "AR_small",
    "AR_medium",
    "AR_large",
];

/// The lines pycocotools prints for the 12 statistics: (AP?, IoU label, area label, maxDets).
pub const COCO_STAT_LINES: [(bool, &str, &str, usize); 12] = [
    (true, "0.50:0.95", "all", 100),
    (true, "0.50", "all", 100),
    (true, "0.75", "all", 100),
    (true, "0.50:0.95", "small", 100),
    (true, "0.50:0.95", "medium", 100),
    (true, "0.50:0.95", "large", 100),
    (false, "0.50:0.95", "all", 1),
    (false, "0.50:0.95", "all", 10),
    (false, "0.50:0.95", "all", 100),
    (false, "0.50:0.95", "small", 100),
    (false, "0.50:0.95", "medium", 100),
    (false, "0.50:0.95", "large", 100),
];

const MAX_DETS: [usize; 3] = [1, 10, 100];
const AREA_RANGES: [(f64, f64); 4] = [(0.0, 1e10), (0.0, 1024.0), (1024.0, 9216.0), (9216.0, 1e10)];

/// Accumulated COCO evaluation: the 12 statistics and the precision / recall arrays of `COCOeval.eval`.
#[derive(Debug, Clone, PartialEq)]
pub struct CocoEvalResult {
    pub iou_type: IouType,
    pub stats: [f64; 12],
    /// `precision[t][r][k][a][m]` flattened (T=10 IoU thresholds, R=101 recall thresholds, K categories,
    /// A=4 area ranges, M=3 maxDets), -1 where undefined.
    pub precision: Vec<f64>,
    /// `recall[t][k][a][m]` flattened.
    pub recall: Vec<f64>,
    /// The evaluated category ids (sorted), the K axis.
    pub category_ids: Vec<i64>,
}

impl CocoEvalResult {
    /// `coco_eval_{bbox|segm}_{AP, AP_50, ...}`, as sam3's `CocoEvaluatorOfflineWithPredFileEvaluators`.
    pub fn metrics(&self) -> MetricValues {
        let mut out = MetricValues::new();
        for (name, value) in COCO_STAT_NAMES.iter().zip(self.stats) {
            out.push(
                format!("coco_eval_{}_{}", self.iou_type.name(), name),
                value,
            );
        }
        out
    }
}

/// A ground-truth annotation or a detection, reduced to what matching needs.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub id: i64,
    pub image: usize,
    pub category: usize,
    pub score: f64,
    pub crowd: bool,
    pub area: f64,
    pub bbox: [f64; 4],
    pub mask: Option<Rle>,
    /// `toBbox` of the mask: pycocotools' mask IoU skips pairs whose mask boxes do not overlap.
    pub mask_bbox: [f64; 4],
}

/// The ground truth as `COCO(gt)` indexes it: sorted image and category ids and the annotations that belong to
/// them, in file order.
pub(crate) struct GroundTruth {
    pub image_ids: Vec<i64>,
    pub image_index: HashMap<i64, usize>,
    pub image_sizes: Vec<(Option<u32>, Option<u32>)>,
    pub category_ids: Vec<i64>,
    pub category_index: HashMap<i64, usize>,
    pub annotations: Vec<Instance>,
}

pub(crate) fn mask_of(
    seg: &Segmentation,
    size: (Option<u32>, Option<u32>),
    err: impl Fn(String) -> DataError,
) -> Result<Rle, DataError> {
    if let Segmentation::Polygons(_) = seg {
        if size.0.is_none() || size.1.is_none() {
            return Err(err("polygons need the image's `height` and `width`, which the ground truth does not give".into()));
        }
    }
    seg.to_rle(size.0.unwrap_or(0), size.1.unwrap_or(0))
        .map_err(|e| err(e.message))
}

fn with_mask(mut inst: Instance, mask: Rle) -> Instance {
    inst.mask_bbox = mask.bbox();
    inst.mask = Some(mask);
    inst
}

/// Indexes a ground-truth dataset (`file` numbers it in errors). Masks are decoded only for `segm`.
pub(crate) fn load_ground_truth(
    gt: &CocoDataset,
    iou_type: IouType,
    file: usize,
) -> Result<GroundTruth, DataError> {
    let mut image_ids: Vec<i64> = gt.images.iter().map(|i| i.id).collect();
    image_ids.sort_unstable();
    image_ids.dedup();
    let image_index: HashMap<i64, usize> = image_ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();
    let mut image_sizes = vec![(None, None); image_ids.len()];
    for img in &gt.images {
        image_sizes[image_index[&img.id]] = (img.height, img.width);
    }
    let mut category_ids: Vec<i64> = gt.categories.iter().map(|c| c.id).collect();
    category_ids.sort_unstable();
    category_ids.dedup();
    let category_index: HashMap<i64, usize> = category_ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();

    let mut seen_ids: HashMap<i64, usize> = HashMap::new();
    let mut kept: Vec<(usize, Instance)> = Vec::new();
    for (i, ann) in gt.annotations.iter().enumerate() {
        let err = |key: &str, msg: String| DataError::gt(file, path!["annotations", i, key], msg);
        let Some(id) = ann.id else {
            return Err(DataError::gt(
                file,
                path!["annotations", i],
                "annotation has no `id`",
            ));
        };
        if let Some(first) = seen_ids.insert(id, i) {
            return Err(err(
                "id",
                format!("annotation id {id} is used twice (annotations[{first}] and [{i}]); pycocotools would silently evaluate one of them twice"),
            ));
        }
        let (Some(&image), Some(&category)) = (
            image_index.get(&ann.image_id),
            category_index.get(&ann.category_id),
        ) else {
            continue; // not in the evaluated images or categories, as getAnnIds(imgIds, catIds)
        };
        let Some(area) = ann.area else {
            return Err(DataError::gt(
                file,
                path!["annotations", i],
                "annotation has no `area` (COCO AP needs it for the area ranges)",
            ));
        };
        let bbox = match (iou_type, ann.bbox) {
            (_, Some(b)) => b,
            (IouType::Bbox, None) => {
                return Err(DataError::gt(
                    file,
                    path!["annotations", i],
                    "annotation has no `bbox`",
                ))
            }
            (IouType::Segm, None) => [0.0; 4],
        };
        let inst = Instance {
            id,
            image,
            category,
            score: 0.0,
            crowd: ann.iscrowd.unwrap_or(0) != 0,
            area,
            bbox,
            mask: None,
            mask_bbox: [0.0; 4],
        };
        kept.push((i, inst));
    }
    let annotations = if iou_type == IouType::Segm {
        kept.into_par_iter()
            .map(|(i, inst)| {
                let Some(seg) = &gt.annotations[i].segmentation else {
                    return Err(DataError::gt(
                        file,
                        path!["annotations", i],
                        "annotation has no `segmentation`",
                    ));
                };
                let mask = mask_of(seg, image_sizes[inst.image], |m| {
                    DataError::gt(file, path!["annotations", i, "segmentation"], m)
                })?;
                Ok(with_mask(inst, mask))
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        kept.into_iter().map(|(_, inst)| inst).collect()
    };
    Ok(GroundTruth {
        image_ids,
        image_index,
        image_sizes,
        category_ids,
        category_index,
        annotations,
    })
}

/// Detections as `COCO.loadRes` makes them: ids 1..n in file order; when the first detection has a box, every
/// area is the box's `w * h` and a missing segmentation is the box as a polygon; otherwise every area is the
/// mask's and a missing box is the mask's `toBbox`. Detections must name images of the ground truth. Those whose
/// category is not a ground-truth category are dropped (`keep_all_categories` keeps them with category
/// `usize::MAX`, for cgF1, which ignores categories but still orders by them).
pub(crate) fn load_detections(
    dts: &[CocoResult],
    indices: &[usize],
    gt: &GroundTruth,
    iou_type: IouType,
) -> Result<Vec<Instance>, DataError> {
    let Some(&first) = indices.first() else {
        return Ok(Vec::new());
    };
    let box_branch = dts[first].bbox.is_some();
    if !box_branch && dts[first].segmentation.is_none() {
        return Err(DataError::pred(
            path![first],
            "a detection needs a `bbox` or a `segmentation`",
        ));
    }
    let mut kept: Vec<(usize, Instance, Option<Segmentation>)> = Vec::new();
    for (n, &i) in indices.iter().enumerate() {
        let dt = &dts[i];
        let Some(&image) = gt.image_index.get(&dt.image_id) else {
            return Err(DataError::pred(
                path![i, "image_id"],
                format!(
                    "image_id {} is not an image of the ground truth",
                    dt.image_id
                ),
            ));
        };
        let category = gt.category_index.get(&dt.category_id).copied();
        let (bbox, area, seg) = if box_branch {
            let Some(b) = dt.bbox else {
                return Err(DataError::pred(
                    path![i],
                    "detection has no `bbox` although the first detection has one (pycocotools then reads every detection's box)",
                ));
            };
            let seg = dt.segmentation.clone().unwrap_or_else(|| {
                let (x1, x2, y1, y2) = (b[0], b[0] + b[2], b[1], b[1] + b[3]);
                Segmentation::Polygons(vec![vec![x1, y1, x1, y2, x2, y2, x2, y1]])
            });
            (b, b[2] * b[3], Some(seg))
        } else {
            if dt.segmentation.is_none() {
                return Err(DataError::pred(
                    path![i],
                    "detection has no `segmentation` although the first detection has one and no box",
                ));
            }
            (dt.bbox.unwrap_or([0.0; 4]), 0.0, dt.segmentation.clone())
        };
        let Some(category) = category else { continue };
        let inst = Instance {
            id: n as i64 + 1,
            image,
            category,
            score: dt.score,
            crowd: false,
            area,
            bbox,
            mask: None,
            mask_bbox: [0.0; 4],
        };
        kept.push((i, inst, seg));
    }
    let needs_mask = iou_type == IouType::Segm || !box_branch;
    if !needs_mask {
        return Ok(kept.into_iter().map(|(_, inst, _)| inst).collect());
    }
    kept.into_par_iter()
        .map(|(i, inst, seg)| {
            let seg = seg.expect("segmentation present in the mask branches");
            let size = gt.image_sizes[inst.image];
            let mask = mask_of(&seg, size, |m| DataError::pred(path![i, "segmentation"], m))?;
            let mut inst = inst;
            if !box_branch {
                inst.area = mask.area() as f64;
                if dts[i].bbox.is_none() {
                    inst.bbox = mask.bbox();
                }
            }
            Ok(with_mask(inst, mask))
        })
        .collect()
}

/// IoU of every detection with every ground truth (`computeIoU` after sorting): `out[d * G + g]`.
pub(crate) fn iou_matrix(dts: &[&Instance], gts: &[&Instance], iou_type: IouType) -> Vec<f64> {
    let mut out = Vec::with_capacity(dts.len() * gts.len());
    for d in dts {
        for g in gts {
            let value = match iou_type {
                IouType::Bbox => bbox_iou_pair(&d.bbox, &g.bbox, g.crowd),
                IouType::Segm => {
                    let boxes = bbox_iou_pair(&d.mask_bbox, &g.mask_bbox, g.crowd);
                    if boxes > 0.0 {
                        rle_iou_pair(d.mask.as_ref().unwrap(), g.mask.as_ref().unwrap(), g.crowd)
                    } else {
                        boxes
                    }
                }
            };
            out.push(value);
        }
    }
    out
}

/// `evaluateImg` for one image, category and area range.
#[derive(Debug, Clone)]
struct ImageEval {
    /// Scores of the (sorted, cut) detections.
    scores: Vec<f64>,
    /// `[t * D + d]`: matched to a ground truth with a nonzero id.
    matched: Vec<bool>,
    /// `[t * D + d]`: ignored (matched to an ignored ground truth, or unmatched and outside the area range).
    ignored: Vec<bool>,
    /// Number of ground truths not ignored.
    num_gt: usize,
}

fn evaluate_image(
    dts: &[&Instance],
    gts: &[&Instance],
    ious: &[f64],
    range: (f64, f64),
    thresholds: &[f64],
) -> ImageEval {
    let num_g = gts.len();
    let gt_ignore_unsorted: Vec<bool> = gts
        .iter()
        .map(|g| g.crowd || g.area < range.0 || g.area > range.1)
        .collect();
    // Stable sort: not-ignored ground truths first.
    let mut order: Vec<usize> = (0..num_g).collect();
    order.sort_by_key(|&g| gt_ignore_unsorted[g]);
    let gt_ignore: Vec<bool> = order.iter().map(|&g| gt_ignore_unsorted[g]).collect();
    let crowd: Vec<bool> = order.iter().map(|&g| gts[g].crowd).collect();
    let gt_ids: Vec<i64> = order.iter().map(|&g| gts[g].id).collect();
    let num_d = dts.len();
    let num_t = thresholds.len();
    let mut gt_matched = vec![false; num_t * num_g];
    let mut matched_id: Vec<Option<i64>> = vec![None; num_t * num_d];
    let mut ignored = vec![false; num_t * num_d];
    if num_g > 0 && num_d > 0 {
        for (t, &thr) in thresholds.iter().enumerate() {
            for d in 0..num_d {
                let mut best = thr.min(1.0 - 1e-10);
                let mut m: Option<usize> = None;
                for g in 0..num_g {
                    if gt_matched[t * num_g + g] && !crowd[g] {
                        continue;
                    }
                    if let Some(mm) = m {
                        if !gt_ignore[mm] && gt_ignore[g] {
                            break;
                        }
                    }
                    let value = ious[d * num_g + order[g]];
                    if value < best {
                        continue;
                    }
                    best = value;
                    m = Some(g);
                }
                if let Some(mm) = m {
                    ignored[t * num_d + d] = gt_ignore[mm];
                    matched_id[t * num_d + d] = Some(gt_ids[mm]);
                    gt_matched[t * num_g + mm] = true;
                }
            }
        }
    }
    let matched: Vec<bool> = matched_id
        .iter()
        .map(|m| matches!(m, Some(id) if *id != 0))
        .collect();
    for t in 0..num_t {
        for (d, dt) in dts.iter().enumerate() {
            let outside = dt.area < range.0 || dt.area > range.1;
            if !matched[t * num_d + d] && outside {
                ignored[t * num_d + d] = true;
            }
        }
    }
    ImageEval {
        scores: dts.iter().map(|d| d.score).collect(),
        matched,
        ignored,
        num_gt: gt_ignore.iter().filter(|&&i| !i).count(),
    }
}

/// Runs COCO evaluation (evaluate, accumulate, summarize) with pycocotools' default parameters.
pub fn coco_evaluate(
    gt: &CocoDataset,
    dts: &[CocoResult],
    options: &CocoEvalOptions,
) -> Result<CocoEvalResult, DataError> {
    let iou_type = options.iou_type;
    let truth = load_ground_truth(gt, iou_type, 0)?;
    let all: Vec<usize> = (0..dts.len()).collect();
    let mut detections = load_detections(dts, &all, &truth, iou_type)?;
    let num_images = truth.image_ids.len();
    let num_cats = truth.category_ids.len();

    if options.positive_split {
        let mut positive: HashSet<(usize, usize)> = HashSet::new();
        for g in &truth.annotations {
            positive.insert((g.image, g.category));
        }
        detections.retain(|d| positive.contains(&(d.image, d.category)));
    }

    // Per image: the categories present, each with its ground truths and detections in file order.
    let mut per_image: Vec<Vec<(usize, Vec<usize>, Vec<usize>)>> = vec![Vec::new(); num_images];
    {
        let mut slots: HashMap<(usize, usize), usize> = HashMap::new();
        let mut slot =
            |image: usize,
             cat: usize,
             per_image: &mut Vec<Vec<(usize, Vec<usize>, Vec<usize>)>>| {
                *slots.entry((image, cat)).or_insert_with(|| {
                    per_image[image].push((cat, Vec::new(), Vec::new()));
                    per_image[image].len() - 1
                })
            };
        for (i, g) in truth.annotations.iter().enumerate() {
            let s = slot(g.image, g.category, &mut per_image);
            per_image[g.image][s].1.push(i);
        }
        for (i, d) in detections.iter().enumerate() {
            let s = slot(d.image, d.category, &mut per_image);
            per_image[d.image][s].2.push(i);
        }
    }

    let thresholds = coco_iou_thresholds();
    let max_det = *MAX_DETS.last().unwrap();
    let evals: Vec<Vec<(usize, Vec<ImageEval>)>> = per_image
        .par_iter()
        .map(|cats| {
            let mut out = Vec::with_capacity(cats.len());
            for (cat, gis, dis) in cats {
                let gts: Vec<&Instance> = gis.iter().map(|&i| &truth.annotations[i]).collect();
                let scores: Vec<f64> = dis.iter().map(|&i| detections[i].score).collect();
                let mut sorted: Vec<&Instance> = argsort_descending(&scores)
                    .into_iter()
                    .map(|j| &detections[dis[j]])
                    .collect();
                sorted.truncate(max_det);
                let ious = iou_matrix(&sorted, &gts, iou_type);
                let per_area = AREA_RANGES
                    .iter()
                    .map(|&r| evaluate_image(&sorted, &gts, &ious, r, &thresholds))
                    .collect();
                out.push((*cat, per_area));
            }
            out
        })
        .collect();

    // Per category, the image evaluations in image order (accumulate's E lists).
    let mut by_category: Vec<Vec<&Vec<ImageEval>>> = vec![Vec::new(); num_cats];
    for image in &evals {
        for (cat, per_area) in image {
            by_category[*cat].push(per_area);
        }
    }

    let (t_n, r_n, a_n, m_n) = (
        thresholds.len(),
        101usize,
        AREA_RANGES.len(),
        MAX_DETS.len(),
    );
    let rec_thresholds = coco_recall_thresholds();
    let per_category: Vec<(Vec<f64>, Vec<f64>)> = by_category
        .par_iter()
        .map(|e_list| accumulate_category(e_list, t_n, &rec_thresholds, a_n))
        .collect();

    // Assemble precision[t][r][k][a][m] and recall[t][k][a][m].
    let mut precision = vec![-1.0; t_n * r_n * num_cats * a_n * m_n];
    let mut recall = vec![-1.0; t_n * num_cats * a_n * m_n];
    for (k, (p, r)) in per_category.iter().enumerate() {
        for t in 0..t_n {
            for a in 0..a_n {
                for m in 0..m_n {
                    recall[((t * num_cats + k) * a_n + a) * m_n + m] = r[(t * a_n + a) * m_n + m];
                    for ri in 0..r_n {
                        precision[(((t * r_n + ri) * num_cats + k) * a_n + a) * m_n + m] =
                            p[((t * r_n + ri) * a_n + a) * m_n + m];
                    }
                }
            }
        }
    }
    let stats = summarize(&precision, &recall, &thresholds, num_cats);
    Ok(CocoEvalResult {
        iou_type,
        stats,
        precision,
        recall,
        category_ids: truth.category_ids,
    })
}

/// `accumulate` for one category: precision `[t][r][a][m]` and recall `[t][a][m]`.
fn accumulate_category(
    e_list: &[&Vec<ImageEval>],
    t_n: usize,
    rec_thresholds: &[f64],
    a_n: usize,
) -> (Vec<f64>, Vec<f64>) {
    let r_n = rec_thresholds.len();
    let m_n = MAX_DETS.len();
    let mut precision = vec![-1.0; t_n * r_n * a_n * m_n];
    let mut recall = vec![-1.0; t_n * a_n * m_n];
    if e_list.is_empty() {
        return (precision, recall);
    }
    for a in 0..a_n {
        for (m, &max_det) in MAX_DETS.iter().enumerate() {
            let mut scores: Vec<f64> = Vec::new();
            let mut npig = 0usize;
            for e in e_list {
                let e = &e[a];
                scores.extend_from_slice(&e.scores[..e.scores.len().min(max_det)]);
                npig += e.num_gt;
            }
            if npig == 0 {
                continue;
            }
            let order = argsort_descending(&scores);
            let nd = scores.len();
            for t in 0..t_n {
                // matched / ignored flags in the concatenated order, then sorted by score
                let mut matched = Vec::with_capacity(nd);
                let mut ignored = Vec::with_capacity(nd);
                for e in e_list {
                    let e = &e[a];
                    let d_n = e.scores.len();
                    let take = d_n.min(max_det);
                    matched.extend_from_slice(&e.matched[t * d_n..t * d_n + take]);
                    ignored.extend_from_slice(&e.ignored[t * d_n..t * d_n + take]);
                }
                let mut tp = 0.0f64;
                let mut fp = 0.0f64;
                let mut rc = Vec::with_capacity(nd);
                let mut pr = Vec::with_capacity(nd);
                for &i in &order {
                    if !ignored[i] {
                        if matched[i] {
                            tp += 1.0;
                        } else {
                            fp += 1.0;
                        }
                    }
                    rc.push(tp / npig as f64);
                    pr.push(tp / (fp + tp + f64::EPSILON));
                }
                recall[(t * a_n + a) * m_n + m] = if nd > 0 { rc[nd - 1] } else { 0.0 };
                for i in (1..nd).rev() {
                    if pr[i] > pr[i - 1] {
                        pr[i - 1] = pr[i];
                    }
                }
                for (ri, &thr) in rec_thresholds.iter().enumerate() {
                    let pi = rc.partition_point(|&v| v < thr);
                    // pycocotools fills q with zeros and stops at the first recall threshold never reached
                    let q = if pi < nd { pr[pi] } else { 0.0 };
                    precision[((t * r_n + ri) * a_n + a) * m_n + m] = q;
                }
            }
        }
    }
    (precision, recall)
}

/// `summarize` for detections: the 12 standard statistics.
fn summarize(precision: &[f64], recall: &[f64], thresholds: &[f64], num_cats: usize) -> [f64; 12] {
    let (t_n, r_n, a_n, m_n) = (
        thresholds.len(),
        101usize,
        AREA_RANGES.len(),
        MAX_DETS.len(),
    );
    let t_at = |v: f64| thresholds.iter().position(|&t| t == v);
    let ap = |iou: Option<f64>, a: usize, m: usize| -> f64 {
        let ts: Vec<usize> = match iou {
            None => (0..t_n).collect(),
            Some(v) => t_at(v).into_iter().collect(),
        };
        let mut values = Vec::new();
        for &t in &ts {
            for r in 0..r_n {
                for k in 0..num_cats {
                    values.push(precision[(((t * r_n + r) * num_cats + k) * a_n + a) * m_n + m]);
                }
            }
        }
        mean_of_valid(&values)
    };
    let ar = |a: usize, m: usize| -> f64 {
        let mut values = Vec::new();
        for t in 0..t_n {
            for k in 0..num_cats {
                values.push(recall[((t * num_cats + k) * a_n + a) * m_n + m]);
            }
        }
        mean_of_valid(&values)
    };
    [
        ap(None, 0, 2),
        ap(Some(0.5), 0, 2),
        ap(Some(0.75), 0, 2),
        ap(None, 1, 2),
        ap(None, 2, 2),
        ap(None, 3, 2),
        ar(0, 0),
        ar(0, 1),
        ar(0, 2),
        ar(1, 2),
        ar(2, 2),
        ar(3, 2),
    ]
}
