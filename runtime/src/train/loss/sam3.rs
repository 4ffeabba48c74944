//! The combination of the detection loss terms over decoder layers, one-to-one and one-to-many queries, and
//! find stages (upstream `Sam3LossWrapper`).

use super::detection::{validate_indices, weighted_sum, FindLossTerm};
use super::inputs::{FindOutputs, FindTargets, LayerOutputs};
use super::semantic::SemanticSegLoss;
use super::{accumulate, LossDict, CORE_LOSS_KEY};
use crate::train::matcher::{HungarianMatcher, OneToManyMatcher};
use crate::train::{Result, TrainError};
use sam3c_stdlib::components::loss::Sam3Loss as Sam3LossConfig;
use std::sync::Arc;
use tch::{Kind, Tensor};

/// The collective operations the "global" normalization needs (one implementation per distributed backend).
pub trait Collective: Send + Sync {
    /// Number of processes.
    fn world_size(&self) -> usize;
    /// Sum of `value` over all processes.
    fn all_reduce_sum(&self, value: &Tensor) -> Result<Tensor>;
}

/// A single process: the all-reduce is the identity.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn world_size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, value: &Tensor) -> Result<Tensor> {
        Ok(value.shallow_clone())
    }
}

/// How per-box losses are normalized: by the number of target boxes averaged over processes ("global"), of
/// this process ("local"), or not at all ("none"); the count is clamped to at least 1.
#[derive(Clone)]
pub enum Normalization {
    Global(Arc<dyn Collective>),
    Local,
    None,
}

impl std::fmt::Debug for Normalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Normalization::Global(c) => write!(f, "Global(world_size={})", c.world_size()),
            Normalization::Local => write!(f, "Local"),
            Normalization::None => write!(f, "None"),
        }
    }
}

impl Normalization {
    /// The normalizer (a 0-dim float tensor on `device`) for targets with `num_boxes` boxes per find query.
    pub fn num_boxes(&self, num_boxes: &[i64], device: tch::Device) -> Result<Tensor> {
        let count = Tensor::from(num_boxes.iter().sum::<i64>() as f64)
            .to_kind(Kind::Float)
            .to_device(device);
        Ok(match self {
            Normalization::Global(collective) => {
                let summed = collective.all_reduce_sum(&count)?;
                (summed / collective.world_size() as f64).clamp_min(1.0)
            }
            Normalization::Local => count.clamp_min(1.0),
            Normalization::None => Tensor::ones([], (Kind::Float, device)),
        })
    }
}

/// SAM 3's detection loss: every term over the main and auxiliary decoder layers (and a first stage), on the
/// one-to-one matching and, weighted by `o2m_weight`, on the one-to-many queries; plus the semantic criterion.
/// The core loss is optionally divided by the number of find stages and multiplied by sqrt(B).
#[derive(Debug, Clone)]
pub struct Sam3Loss {
    pub terms: Vec<FindLossTerm>,
    pub semantic: Option<SemanticSegLoss>,
    /// Computes the one-to-one matching when the model did not (`LayerOutputs::indices` is `None`).
    pub o2o_matcher: HungarianMatcher,
    /// Matches the one-to-many queries of auxiliary layers unless `o2m_matcher_on_aux` (upstream `matcher`).
    pub aux_o2m_matcher: HungarianMatcher,
    pub o2m_matcher: OneToManyMatcher,
    pub o2m_weight: f64,
    pub o2m_matcher_on_aux: bool,
    pub scale_by_batch: bool,
    pub normalize_by_stages: bool,
    pub normalization: Normalization,
}

impl Sam3Loss {
    /// The loss of a catalog `sam3_loss(...)` value; `normalization` is upstream's "global" for a distributed
    /// run, or [`Normalization::Local`] in one process (identical there).
    pub fn new(config: &Sam3LossConfig, normalization: Normalization) -> Result<Self> {
        if config.terms.is_empty() && config.semantic.is_none() {
            return Err(TrainError::InvalidConfig(
                "sam3_loss: no loss terms are configured".into(),
            ));
        }
        Ok(Sam3Loss {
            terms: config.terms.iter().map(FindLossTerm::new).collect(),
            semantic: config.semantic.as_ref().map(SemanticSegLoss::new),
            o2o_matcher: HungarianMatcher::sam3_model(),
            aux_o2m_matcher: HungarianMatcher::new(&config.matcher)?,
            o2m_matcher: OneToManyMatcher::new(&config.o2m),
            o2m_weight: config.o2m_weight,
            o2m_matcher_on_aux: config.o2m_matcher_on_aux,
            scale_by_batch: config.scale_by_batch,
            normalize_by_stages: config.normalize_by_frames,
            normalization,
        })
    }

    /// The loss of a clip or image batch: `stages[s]` are the steps of find stage s (usually one), scored against
    /// `targets[s]`. Values of all stages and steps are summed.
    pub fn forward(
        &self,
        stages: &[Vec<FindOutputs>],
        targets: &[FindTargets],
    ) -> Result<LossDict> {
        if stages.len() != targets.len() {
            return Err(TrainError::invalid(format!(
                "sam3_loss: {} find stages but {} target sets",
                stages.len(),
                targets.len()
            )));
        }
        let mut total = LossDict::new();
        for (steps, stage_targets) in stages.iter().zip(targets) {
            for outputs in steps {
                let mut losses = self.step_losses(outputs, stage_targets)?;
                let mut core = losses
                    .remove(CORE_LOSS_KEY)
                    .expect("step_losses always returns the core loss");
                if self.normalize_by_stages {
                    core = core / stages.len() as f64;
                }
                if self.scale_by_batch {
                    core = core * (stage_targets.batch_size() as f64).powf(0.5);
                }
                losses.insert(CORE_LOSS_KEY.to_owned(), core);
                accumulate(&mut total, losses);
            }
        }
        Ok(total)
    }

    /// The loss of one step of one find stage, before stage normalization and batch scaling (upstream
    /// `compute_loss` plus the semantic criterion).
    pub fn step_losses(&self, outputs: &FindOutputs, targets: &FindTargets) -> Result<LossDict> {
        let device = targets.device();
        let num_boxes = self.normalization.num_boxes(targets.num_boxes(), device)?;
        let mut layers: Vec<(&LayerOutputs, String, bool)> =
            vec![(&outputs.main, String::new(), false)];
        for (i, aux) in outputs.aux.iter().enumerate() {
            layers.push((aux, format!("_aux_{i}"), true));
        }
        if let Some(first_stage) = &outputs.first_stage {
            layers.push((first_stage, "_fs".to_owned(), true));
        }

        let mut losses = LossDict::new();
        let mut core = Tensor::zeros([], (Kind::Float, device));
        for (layer, suffix, is_aux) in layers {
            let (batch, queries) = layer.o2o.batch_and_queries();
            layer
                .o2o
                .validate(&format!("outputs{suffix}"), targets.batch_size(), device)?;
            let computed;
            let indices = match &layer.indices {
                Some(indices) => indices,
                None => {
                    computed = self.o2o_matcher.matches(&layer.o2o, targets)?;
                    &computed
                }
            };
            validate_indices(indices, batch, queries, targets)?;
            let o2m = match &layer.o2m {
                Some(o2m) => {
                    o2m.validate(
                        &format!("outputs{suffix}_o2m"),
                        targets.batch_size(),
                        device,
                    )?;
                    let o2m_indices = if self.o2m_matcher_on_aux || !is_aux {
                        self.o2m_matcher.matches(o2m, targets)?
                    } else {
                        self.aux_o2m_matcher.matches(o2m, targets)?
                    };
                    let (o2m_batch, o2m_queries) = o2m.batch_and_queries();
                    validate_indices(&o2m_indices, o2m_batch, o2m_queries, targets)?;
                    Some((o2m, o2m_indices))
                }
                None => None,
            };

            for term in &self.terms {
                if is_aux && !term.compute_aux() {
                    continue;
                }
                let zero = || Tensor::zeros([], (Kind::Float, device));
                let values = term.losses(&layer.o2o, targets, indices, &num_boxes)?;
                core = core + weighted_sum(&values, &term.weights(), zero())?;
                losses.extend(values.into_iter().map(|(k, v)| (format!("{k}{suffix}"), v)));

                let Some((o2m, o2m_indices)) = &o2m else {
                    continue;
                };
                // Upstream skips the masks term on one-to-many queries that predict no masks.
                if matches!(term, FindLossTerm::Masks(_)) && o2m.pred_masks.is_none() {
                    continue;
                }
                // Upstream scales every value, the term's core loss included, by o2m_weight.
                let values = term.losses(o2m, targets, o2m_indices, &num_boxes)?;
                core = core + weighted_sum(&values, &term.weights(), zero())? * self.o2m_weight;
                let values: LossDict = values
                    .into_iter()
                    .map(|(k, v)| (k, v * self.o2m_weight))
                    .collect();
                losses.extend(
                    values
                        .into_iter()
                        .map(|(k, v)| (format!("{k}{suffix}_o2m"), v)),
                );
            }
        }

        if let Some(semantic) = &self.semantic {
            let mut values = semantic.compute(outputs, targets)?;
            let semantic_core = values
                .remove(CORE_LOSS_KEY)
                .expect("the semantic criterion returns its core loss");
            core = core + semantic_core;
            for key in values.keys() {
                if losses.contains_key(key) {
                    return Err(TrainError::InvalidConfig(format!(
                        "the semantic loss value {key} collides with a detection loss value"
                    )));
                }
            }
            losses.extend(values);
        }
        losses.insert(CORE_LOSS_KEY.to_owned(), core);
        Ok(losses)
    }
}
