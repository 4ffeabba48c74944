//! Matching of predicted queries to target objects, with upstream's semantics (`sam3/train/matcher.py`):
//! the one-to-one [`HungarianMatcher`] (`BinaryHungarianMatcherV2`) solved with `lsap`, a port of scipy's
//! `linear_sum_assignment`, and the DAC one-to-many [`OneToManyMatcher`] (`BinaryOneToManyMatcher`).

use super::box_ops::{box_iou, cxcywh_to_xyxy, generalized_box_iou};
use super::loss::{FindTargets, QueryPredictions};
use super::{Result, TrainError};
use sam3c_stdlib::components::loss::{Hungarian, OneToMany};
use tch::{Device, Kind, Tensor};

/// A matching: prediction `src_idx[k]` of find query `batch_idx[k]` is matched to a target. The target is
/// `tgt_idx[k]` (an index into the packed targets) when given; when `None`, the matches are sorted by target and
/// cover every target of the batch in packed order (upstream's convention).
#[derive(Debug)]
pub struct MatchIndices {
    /// Find query (batch element) of each match, int64 `[K]`.
    pub batch_idx: Tensor,
    /// Query index of each match, int64 `[K]`.
    pub src_idx: Tensor,
    /// Packed target index of each match, int64 `[K]`, or `None` (see above).
    pub tgt_idx: Option<Tensor>,
}

impl MatchIndices {
    /// Number of matches.
    pub fn len(&self) -> i64 {
        self.src_idx.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn empty(device: Device, with_targets: bool) -> Self {
        let empty = || Tensor::zeros([0], (Kind::Int64, device));
        MatchIndices {
            batch_idx: empty(),
            src_idx: empty(),
            tgt_idx: with_targets.then(empty),
        }
    }
}

/// Solves the linear sum assignment of a row-major `rows × cols` cost matrix like
/// `scipy.optimize.linear_sum_assignment`: returns (row, col) pairs with rows ascending. Every cost must be finite.
pub fn linear_sum_assignment(
    cost: &[f64],
    rows: usize,
    cols: usize,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if cost.len() != rows * cols {
        return Err(TrainError::invalid(format!(
            "cost matrix has {} entries, expected {rows} x {cols}",
            cost.len()
        )));
    }
    if let Some(position) = cost.iter().position(|c| !c.is_finite()) {
        return Err(TrainError::NonFiniteCost {
            matcher: "linear_sum_assignment",
            batch: 0,
            query: position / cols.max(1),
            target: position % cols.max(1),
            value: cost[position],
        });
    }
    lsap::solve(rows, cols, &cost.to_vec(), false)
        .map_err(|e| TrainError::invalid(format!("linear sum assignment failed: {e:?}")))
}

/// Upstream `_do_matching` with `return_tgt_indices=False`: the matched rows ordered by their column.
pub fn rows_sorted_by_column(rows: &[usize], cols: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|&k| cols[k]);
    order.into_iter().map(|k| rows[k]).collect()
}

/// One-to-one matching with cost `bbox·L1(cxcywh) + class·c_cls − giou·GIoU` (upstream
/// `BinaryHungarianMatcherV2`, with `remove_samples_with_0_gt=True`).
#[derive(Debug, Clone, PartialEq)]
pub struct HungarianMatcher {
    pub cost_class: f64,
    pub cost_bbox: f64,
    pub cost_giou: f64,
    pub focal: bool,
    pub alpha: f64,
    pub gamma: f64,
    pub stable: bool,
}

impl HungarianMatcher {
    /// The matcher of a catalog `hungarian(...)` value.
    pub fn new(config: &Hungarian) -> Result<Self> {
        let matcher = HungarianMatcher {
            cost_class: config.class,
            cost_bbox: config.bbox,
            cost_giou: config.giou,
            focal: config.focal,
            alpha: config.alpha,
            gamma: config.gamma,
            stable: config.stable,
        };
        if matcher.cost_class == 0.0 && matcher.cost_bbox == 0.0 && matcher.cost_giou == 0.0 {
            return Err(TrainError::InvalidConfig(
                "hungarian matcher: the class, bbox and giou costs cannot all be 0".into(),
            ));
        }
        Ok(matcher)
    }

    /// The one-to-one matcher SAM 3's model builds for training (model_builder.py): focal, class 2, bbox 5,
    /// GIoU 2, α 0.25, γ 2.
    pub fn sam3_model() -> Self {
        HungarianMatcher {
            cost_class: 2.0,
            cost_bbox: 5.0,
            cost_giou: 2.0,
            focal: true,
            alpha: 0.25,
            gamma: 2.0,
            stable: false,
        }
    }

    /// The cost matrix `[B', Q, T]` of the find queries that have at least one target (returned with their
    /// batch indices), before slicing each to its own number of targets.
    pub fn cost_matrix(
        &self,
        preds: &QueryPredictions,
        targets: &FindTargets,
    ) -> Result<(Tensor, Vec<i64>)> {
        let _no_grad = tch::no_grad_guard();
        let device = targets.device();
        preds.validate("hungarian matcher", targets.batch_size(), device)?;
        let kept: Vec<i64> = (0..targets.batch_size())
            .filter(|&b| targets.num_boxes()[b as usize] > 0)
            .collect();
        let keep = Tensor::from_slice(&kept).to_device(device);
        let score = preds
            .pred_logits
            .to_kind(Kind::Float)
            .squeeze_dim(-1)
            .index_select(0, &keep);
        let out_bbox = preds.pred_boxes.to_kind(Kind::Float).index_select(0, &keep);
        let tgt_bbox = targets.boxes_padded().index_select(0, &keep);

        let cost_bbox = Tensor::f_cdist(&out_bbox, &tgt_bbox, 1.0, None)?;
        let cost_giou =
            -generalized_box_iou(&cxcywh_to_xyxy(&out_bbox), &cxcywh_to_xyxy(&tgt_bbox));
        let prob = score.sigmoid();
        let (alpha, gamma) = (self.alpha, self.gamma);
        let cost_class = if !self.focal {
            -prob.unsqueeze(-1).expand_as(&cost_bbox)
        } else if self.stable {
            let rescaled_giou = (-&cost_giou + 1.0) / 2.0;
            let p = prob.unsqueeze(-1).expand_as(&cost_bbox) * rescaled_giou;
            (-alpha) * (-&p + 1.0).pow_tensor_scalar(gamma) * p.log()
                + (1.0 - alpha) * p.pow_tensor_scalar(gamma) * (-&p + 1.0).log()
        } else {
            let log_prob = score.log_sigmoid();
            let log_one_minus_prob = (-&score).log_sigmoid();
            let cost = (-alpha) * (-&prob + 1.0).pow_tensor_scalar(gamma) * log_prob
                + (1.0 - alpha) * prob.pow_tensor_scalar(gamma) * log_one_minus_prob;
            cost.unsqueeze(-1).expand_as(&cost_bbox)
        };
        let cost =
            self.cost_bbox * cost_bbox + self.cost_class * cost_class + self.cost_giou * cost_giou;
        Ok((cost, kept))
    }

    /// Matches the queries of every find query with targets; find queries without targets get no matches.
    pub fn matches(&self, preds: &QueryPredictions, targets: &FindTargets) -> Result<MatchIndices> {
        let device = targets.device();
        let (cost, kept) = self.cost_matrix(preds, targets)?;
        if kept.is_empty() {
            return Ok(MatchIndices::empty(device, false));
        }
        let size = cost.size();
        let (queries, max_targets) = (size[1] as usize, size[2] as usize);
        let cost = Vec::<f64>::try_from(
            cost.to_device(Device::Cpu)
                .to_kind(Kind::Double)
                .contiguous()
                .view([-1]),
        )?;
        let counts: Vec<usize> = kept
            .iter()
            .map(|&b| targets.num_boxes()[b as usize] as usize)
            .collect();
        // Upstream returns explicit target indices (unsorted) as soon as one find query has more targets than
        // there are queries; otherwise rows sorted by target.
        let with_targets = counts.iter().any(|&t| queries < t);

        let mut batch_idx = Vec::new();
        let mut src_idx = Vec::new();
        let mut tgt_idx = Vec::new();
        let mut offset = 0usize;
        for (k, (&b, &count)) in kept.iter().zip(&counts).enumerate() {
            let block = &cost[k * queries * max_targets..(k + 1) * queries * max_targets];
            let sliced: Vec<f64> = (0..queries)
                .flat_map(|q| {
                    block[q * max_targets..q * max_targets + count]
                        .iter()
                        .copied()
                })
                .collect();
            if let Some(position) = sliced.iter().position(|c| !c.is_finite()) {
                return Err(TrainError::NonFiniteCost {
                    matcher: "hungarian matcher",
                    batch: b as usize,
                    query: position / count,
                    target: position % count,
                    value: sliced[position],
                });
            }
            let (rows, cols) = linear_sum_assignment(&sliced, queries, count)?;
            if with_targets {
                src_idx.extend(rows.iter().map(|&r| r as i64));
                tgt_idx.extend(cols.iter().map(|&c| (c + offset) as i64));
                batch_idx.extend(std::iter::repeat_n(b, rows.len()));
            } else {
                let sorted = rows_sorted_by_column(&rows, &cols);
                batch_idx.extend(std::iter::repeat_n(b, sorted.len()));
                src_idx.extend(sorted.iter().map(|&r| r as i64));
            }
            offset += count;
        }
        let to_tensor = |v: &[i64]| Tensor::from_slice(v).to_device(device);
        Ok(MatchIndices {
            batch_idx: to_tensor(&batch_idx),
            src_idx: to_tensor(&src_idx),
            tgt_idx: with_targets.then(|| to_tensor(&tgt_idx)),
        })
    }
}

/// One-to-many matching (DAC-DETR): with score `C = α·p + (1−α)·IoU`, query q matches target t when C is above
/// the target's quantile `1 − topk/Q` over the queries (linear interpolation, as `torch.quantile`) and above
/// `threshold` (upstream `BinaryOneToManyMatcher`). A query may match several targets.
#[derive(Debug, Clone, PartialEq)]
pub struct OneToManyMatcher {
    pub alpha: f64,
    pub threshold: f64,
    pub topk: u32,
}

impl OneToManyMatcher {
    pub fn new(config: &OneToMany) -> Self {
        OneToManyMatcher {
            alpha: config.alpha,
            threshold: config.threshold,
            topk: config.topk,
        }
    }

    /// The score matrix `C` `[B, Q, T]` (higher is better).
    pub fn score_matrix(&self, preds: &QueryPredictions, targets: &FindTargets) -> Result<Tensor> {
        let _no_grad = tch::no_grad_guard();
        preds.validate(
            "one-to-many matcher",
            targets.batch_size(),
            targets.device(),
        )?;
        let prob = preds
            .pred_logits
            .to_kind(Kind::Float)
            .sigmoid()
            .squeeze_dim(-1);
        let out_bbox = preds.pred_boxes.to_kind(Kind::Float);
        let (iou, _) = box_iou(
            &cxcywh_to_xyxy(&out_bbox),
            &cxcywh_to_xyxy(targets.boxes_padded()),
        );
        Ok(self.alpha * prob.unsqueeze(-1) + (1.0 - self.alpha) * iou)
    }

    pub fn matches(&self, preds: &QueryPredictions, targets: &FindTargets) -> Result<MatchIndices> {
        let _no_grad = tch::no_grad_guard();
        let device = targets.device();
        let (_, queries) = preds.batch_and_queries();
        let max_targets = targets.boxes_padded().size()[1];
        if max_targets == 0 {
            return Ok(MatchIndices::empty(device, true));
        }
        if i64::from(self.topk) > queries {
            return Err(TrainError::InvalidConfig(format!(
                "one-to-many matcher: topk = {} exceeds the {queries} queries of the model",
                self.topk
            )));
        }
        let score = self.score_matrix(preds, targets)?;
        let num_boxes = Tensor::from_slice(targets.num_boxes()).to_device(device);
        let is_real_target = Tensor::arange(max_targets, (Kind::Int64, device))
            .unsqueeze(0)
            .lt_tensor(&num_boxes.unsqueeze(1))
            .unsqueeze(1);
        check_finite_scores(&score, &is_real_target)?;

        let quantile = score.f_quantile_scalar(
            1.0 - f64::from(self.topk) / queries as f64,
            1,
            true,
            "linear",
        )?;
        let matched = score
            .gt_tensor(&quantile)
            .logical_and(&score.gt(self.threshold))
            .logical_and(&is_real_target);
        let found = matched.nonzero();
        let batch_idx = found.select(1, 0);
        let src_idx = found.select(1, 1);
        let first_of_batch = num_boxes.cumsum(0, Kind::Int64) - &num_boxes;
        let tgt_idx = found.select(1, 2) + first_of_batch.index_select(0, &batch_idx);
        Ok(MatchIndices {
            batch_idx: batch_idx.contiguous(),
            src_idx: src_idx.contiguous(),
            tgt_idx: Some(tgt_idx),
        })
    }
}

/// Reports the first NaN / inf score among real (not padding) targets.
fn check_finite_scores(score: &Tensor, is_real_target: &Tensor) -> Result<()> {
    let bad = score.isfinite().logical_not().logical_and(is_real_target);
    if bad.any().int64_value(&[]) == 0 {
        return Ok(());
    }
    let first = bad.nonzero().get(0);
    let at: Vec<i64> = Vec::<i64>::try_from(first.to_device(Device::Cpu))?;
    Err(TrainError::NonFiniteCost {
        matcher: "one-to-many matcher",
        batch: at[0] as usize,
        query: at[1] as usize,
        target: at[2] as usize,
        value: score.double_value(&at),
    })
}
