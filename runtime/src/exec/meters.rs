//! Meters: a model evaluated on a held-out dataset, as upstream's `PredictionDumper` + evaluator pairs do it.
//!
//! For each batch of the meter's dataset (through the meter's pipeline, in order, no augmentation): the model's
//! forward pass in eval mode, [`super::postprocess`] with the meter's `postprocess` settings (default: masks for
//! `segm`, presence on, no threshold, no per-image limit), the detections grouped by image and category, then
//! per image the `max_dets` best (upstream's dumper keeps the top `maxdets` per image), scores and boxes rounded
//! to 5 decimals as the dumper writes them. The results go to `sam3c_metrics`:
//!
//! * `coco_ap`: [`sam3c_metrics::coco_evaluate`] against the dataset's annotation file (original image and
//!   category ids, boxes and masks at the original size), giving `coco_eval_{bbox|segm}_{AP, AP_50, ...}`;
//! * `cgf1`: SA-Co's metric on (image, category) pairs: every query evaluated is one pair whose ground truth is
//!   the query's annotations (SA-Co's files list the pairs themselves; a COCO file lists images, so the pairs
//!   are made from its images × categories as the queries are), `is_instance_exhaustive` from the query,
//!   predictions below the meter's `threshold` dropped; `cgF1_eval_{bbox|segm}_{cgF1, ...}`.

use super::batch::find_batch;
use super::error::{ExecError, InStage};
use super::postprocess::{self, round5, xywh, PostprocessOptions};
use crate::data::{CocoImageDataset, Loader, LoaderConfig, Pipeline};
use crate::model::Sam3Image;
use crate::train::amp;
use sam3c_formats::{
    parse_coco, CocoAnnotation, CocoCategory, CocoDataset, CocoImage, CocoResult, Segmentation,
};
use sam3c_metrics::{
    cgf1_evaluate, coco_evaluate, CgF1GroundTruth, CgF1Options, CocoEvalOptions, IouType,
};
use sam3c_stdlib::components::data::{CocoImages, DatasetSpec};
use sam3c_stdlib::components::meter::{Detections, IouType as SpecIou, MeterSpec};
use std::collections::BTreeMap;
use std::sync::Arc;
use tch::{Device, Kind};

/// A meter of a stage or an evaluation, with the names it is reported under.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterJob {
    /// The meter's name (its declaration in the spec, e.g. `segm_ap`).
    pub name: String,
    /// The name of its dataset (its declaration, e.g. `parts_test`).
    pub dataset: String,
    pub spec: MeterSpec,
}

/// The values of one meter after one evaluation, under upstream's metric names.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterResult {
    pub meter: String,
    pub dataset: String,
    pub metrics: Vec<(String, f64)>,
    /// Detections evaluated (after the per-image limit).
    pub detections: usize,
    /// Images (or image × category pairs for cgF1) of the ground truth.
    pub images: usize,
}

enum Target {
    Coco {
        gt: CocoDataset,
        max_dets: usize,
        positive_split: bool,
    },
    CgF1 {
        gt: CocoDataset,
        threshold: f64,
    },
}

/// A meter ready to run: its loader, ground truth and postprocessing.
pub(crate) struct Meter {
    job: MeterJob,
    iou: IouType,
    post: Detections,
    loader: Loader,
    target: Target,
    context_length: i64,
}

fn coco_data<'a>(
    stage: &str,
    meter: &str,
    data: &'a DatasetSpec,
) -> Result<&'a CocoImages, ExecError> {
    match data {
        DatasetSpec::CocoImages(c) => Ok(c),
        DatasetSpec::YtvisVideos(_) => Err(ExecError::Unsupported {
            stage: stage.to_string(),
            message: format!(
                "meter `{meter}` evaluates a video dataset; the native runtime evaluates image meters \
                 (coco_ap, cgf1) on coco_images"
            ),
        }),
    }
}

fn iou(i: SpecIou) -> IouType {
    match i {
        SpecIou::Bbox => IouType::Bbox,
        SpecIou::Segm => IouType::Segm,
    }
}

/// The default postprocessing of a meter: masks exactly when it evaluates masks.
fn default_post(iou: IouType) -> Detections {
    Detections {
        masks: iou == IouType::Segm,
        presence: true,
        max_dets: None,
        threshold: None,
    }
}

impl Meter {
    /// Opens the meter's dataset and ground truth; `batch` datapoints per forward pass.
    pub(crate) fn open(
        stage: &str,
        job: &MeterJob,
        batch: usize,
        workers: usize,
        segmentation: bool,
        context_length: i64,
    ) -> Result<Meter, ExecError> {
        let unsupported = |what: &str| {
            ExecError::Unsupported {
            stage: stage.to_string(),
            message: format!(
                "meter `{}` is a {what} meter; the native runtime evaluates image meters (coco_ap, cgf1)",
                job.name
            ),
        }
        };
        let (data, pipeline, iou_type, post, target_kind) = match &job.spec {
            MeterSpec::CocoAp(m) => (
                coco_data(stage, &job.name, &m.data)?,
                &m.pipeline,
                iou(m.iou),
                m.postprocess.clone(),
                (Some((m.max_dets as usize, m.positive_split)), None),
            ),
            MeterSpec::CgF1(m) => (
                coco_data(stage, &job.name, &m.data)?,
                &m.pipeline,
                iou(m.iou),
                m.postprocess.clone(),
                (None, Some(m.threshold.0)),
            ),
            MeterSpec::JAndF(_) => return Err(unsupported("video (J&F)")),
            MeterSpec::Hota(_) => return Err(unsupported("video (HOTA)")),
        };
        let post = post.unwrap_or_else(|| default_post(iou_type));
        let config_error = |message: String| ExecError::Config {
            stage: stage.to_string(),
            message: format!("meter `{}`: {message}", job.name),
        };
        if iou_type == IouType::Segm && !post.masks {
            return Err(config_error(
                "evaluates masks (segm) but its postprocess has `masks = false`".into(),
            ));
        }
        if post.masks && !segmentation {
            return Err(config_error(
                "needs masks, but the model has no segmentation head (`segmentation = false`)"
                    .into(),
            ));
        }
        if iou_type == IouType::Segm && !data.masks {
            return Err(config_error(format!(
                "evaluates masks (segm) but its dataset `{}` does not load them (`masks = false`)",
                job.dataset
            )));
        }
        let text = std::fs::read_to_string(&data.annotations).map_err(|e| ExecError::Io {
            stage: stage.to_string(),
            path: data.annotations.clone(),
            source: e,
        })?;
        let mut gt = parse_coco(&text).map_err(|e| {
            config_error(format!("ground truth {}: {e}", data.annotations.display()))
        })?;
        if data.reindex {
            crate::data::coco::reindex(&mut gt);
        }
        let target = match target_kind {
            (Some((max_dets, positive_split)), _) => Target::Coco {
                gt,
                max_dets,
                positive_split,
            },
            (None, Some(threshold)) => Target::CgF1 { gt, threshold },
            _ => unreachable!("every image meter has a target"),
        };
        let dataset = CocoImageDataset::open(data, false).in_stage(stage)?;
        let pipeline =
            Pipeline::new(pipeline).map_err(|e| config_error(format!("pipeline: {e}")))?;
        let loader = Loader::new(
            Arc::new(dataset),
            pipeline,
            LoaderConfig {
                batch_size: batch,
                workers,
                shuffle: false,
                drop_last: false,
                seed: 0,
                prefetch: 2,
            },
        )
        .in_stage(stage)?;
        Ok(Meter {
            job: job.clone(),
            iou: iou_type,
            post,
            loader,
            target,
            context_length,
        })
    }

    /// Evaluates `model` (eval mode, no gradient), under bf16 autocast when `autocast` is set.
    pub(crate) fn run(
        &self,
        stage: &str,
        model: &Sam3Image,
        device: Device,
        autocast: Option<Kind>,
    ) -> Result<MeterResult, ExecError> {
        let _no_grad = tch::no_grad_guard();
        let cap = match &self.target {
            Target::Coco { max_dets, .. } => Some(
                self.post
                    .max_dets
                    .map_or(*max_dets, |m| (m as usize).min(*max_dets)),
            ),
            Target::CgF1 { .. } => self.post.max_dets.map(|m| m as usize),
        };
        let options = PostprocessOptions {
            presence: self.post.presence,
            threshold: self.post.threshold,
            masks: self.post.masks && self.iou == IouType::Segm,
            cap,
        };
        // Results per evaluated "image": (image id, or pair index for cgF1) -> detections.
        let mut per_image: BTreeMap<i64, Vec<CocoResult>> = BTreeMap::new();
        // cgF1 pairs: (image id, category id) -> (pair id, exhaustive).
        let mut pairs: BTreeMap<(i64, i64), (i64, bool)> = BTreeMap::new();
        for batch in self.loader.epoch(0) {
            let batch = batch.in_stage(stage)?;
            let Some(find_stage) = batch.stages.first() else {
                continue;
            };
            let input = find_batch(&batch, find_stage, self.context_length, device);
            let _autocast = match autocast {
                Some(kind) => Some(amp::Autocast::enter(device, kind).in_stage(stage)?),
                None => None,
            };
            let out = model.forward(&input, false).in_stage(stage)?;
            let meta = &find_stage.metadata;
            let sizes = Vec::<i64>::try_from(&meta.original_size.view([-1])).in_stage(stage)?;
            let sizes: Vec<(i64, i64)> = sizes.chunks(2).map(|s| (s[0], s[1])).collect();
            let image_ids = Vec::<i64>::try_from(&meta.original_image_id).in_stage(stage)?;
            let categories = Vec::<i64>::try_from(&meta.original_category_id.to_kind(Kind::Int64))
                .in_stage(stage)?;
            let exhaustive =
                super::batch::bools(&find_stage.targets.is_exhaustive).in_stage(stage)?;
            let dets = postprocess::detections(&out, &sizes, &options).in_stage(stage)?;
            for (b, query_dets) in dets.into_iter().enumerate() {
                let (key, category) = match self.target {
                    Target::Coco { .. } => (image_ids[b], categories[b]),
                    Target::CgF1 { .. } => {
                        let next = pairs.len() as i64 + 1;
                        let (id, _) = *pairs
                            .entry((image_ids[b], categories[b]))
                            .or_insert((next, exhaustive[b]));
                        (id, 1)
                    }
                };
                let list = per_image.entry(key).or_default();
                list.extend(query_dets.into_iter().map(|d| CocoResult {
                    image_id: key,
                    category_id: category,
                    bbox: Some(xywh(d.box_xyxy).map(round5)),
                    segmentation: d.mask.as_ref().map(Segmentation::from_rle),
                    score: round5(d.score),
                }));
            }
        }
        let limit = match &self.target {
            Target::Coco { max_dets, .. } => Some(*max_dets),
            Target::CgF1 { .. } => self.post.max_dets.map(|m| m as usize),
        };
        let mut results = Vec::new();
        for (_, mut list) in per_image {
            list.sort_by(|a, b| b.score.total_cmp(&a.score));
            if let Some(limit) = limit {
                list.truncate(limit);
            }
            results.extend(list);
        }
        let meter_error = |message: String| ExecError::Meter {
            stage: stage.to_string(),
            meter: self.job.name.clone(),
            message,
        };
        let (metrics, images) = match &self.target {
            Target::Coco {
                gt, positive_split, ..
            } => {
                let r = coco_evaluate(
                    gt,
                    &results,
                    &CocoEvalOptions {
                        iou_type: self.iou,
                        positive_split: *positive_split,
                    },
                )
                .map_err(|e| meter_error(e.to_string()))?;
                (r.metrics(), gt.images.len())
            }
            Target::CgF1 { gt, threshold } => {
                let truth = pair_ground_truth(gt, &pairs);
                let r = cgf1_evaluate(
                    &[truth],
                    &results,
                    &CgF1Options {
                        iou_type: self.iou,
                        score_threshold: *threshold,
                    },
                )
                .map_err(|e| meter_error(e.to_string()))?;
                (r.metrics(), r.num_pairs)
            }
        };
        Ok(MeterResult {
            meter: self.job.name.clone(),
            dataset: self.job.dataset.clone(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), v)).collect(),
            detections: results.len(),
            images,
        })
    }
}

/// The cgF1 ground truth of the evaluated (image, category) pairs: one "image" per pair (id = pair id) with the
/// annotations of that image and category, all under one category.
fn pair_ground_truth(
    gt: &CocoDataset,
    pairs: &BTreeMap<(i64, i64), (i64, bool)>,
) -> CgF1GroundTruth {
    let sizes: BTreeMap<i64, &CocoImage> = gt.images.iter().map(|i| (i.id, i)).collect();
    let mut ordered: Vec<(&(i64, i64), &(i64, bool))> = pairs.iter().collect();
    ordered.sort_by_key(|(_, (id, _))| *id);
    let mut images = Vec::with_capacity(ordered.len());
    let mut exhaustive = Vec::with_capacity(ordered.len());
    for ((image, _), (id, is_exhaustive)) in &ordered {
        let source = sizes.get(image);
        images.push(CocoImage {
            id: *id,
            file_name: source.map(|i| i.file_name.clone()).unwrap_or_default(),
            width: source.and_then(|i| i.width),
            height: source.and_then(|i| i.height),
        });
        exhaustive.push(Some(*is_exhaustive));
    }
    let mut annotations = Vec::new();
    for ann in &gt.annotations {
        if let Some((id, _)) = pairs.get(&(ann.image_id, ann.category_id)) {
            annotations.push(CocoAnnotation {
                id: Some(annotations.len() as i64 + 1),
                image_id: *id,
                category_id: 1,
                ..ann.clone()
            });
        }
    }
    CgF1GroundTruth {
        dataset: CocoDataset {
            images,
            annotations,
            categories: vec![CocoCategory {
                id: 1,
                name: "phrase".to_string(),
                supercategory: None,
            }],
        },
        is_instance_exhaustive: exhaustive,
    }
}
