//! Evaluation of the temporal stage: semi-supervised video object segmentation. Every ground-truth object is
//! given by its mask on the first frame where it is annotated (the tracker outputs that mask there) and tracked
//! through the rest of the video with the memory; frames before it have no prediction. The tracks are written
//! as YouTube-VIS results (one per object, with its category, score 1) at the videos' original size and scored
//! against the annotation file:
//!
//! * [`j_and_f`]: J&F (DAVIS' region and boundary measures, TrackEval's `JAndF`: per video, predicted tracks
//!   matched to ground-truth tracks to maximize J, every frame of the video counted). Keys
//!   `vos_mask_all_video_{J-Mean, ..., J&F}`.
//! * [`hota`]: HOTA (TrackEval's) of the same tracks, by category (`vos_mask_all_class_*`) or with each
//!   (video, category) pair its own sequence (`vos_mask_all_phrase_*`).
//!
//! This is *not* SA-Co/VEval's protocol, where the model finds the objects of a text prompt itself and is
//! scored with phrase HOTA (`video_mask_all_phrase_HOTA`, "pHOTA"): here detection is given, so these numbers
//! measure tracking and segmentation quality only. The `vos_` prefix keeps the two apart.
//!
//! Masks are predicted at the model's square input and resized to the original frame size, as upstream's
//! postprocessing does: evaluation pipelines must resize without padding (`resize(S, square = true)`).

use super::clip::ClipObjects;
use super::model::VideoModel;
use super::TemporalError;
use crate::data::{collate, Batch, Dataset, Pipeline, Rng, YtvisVideoDataset};
use crate::model::tracker::{MemoryBank, StepInputs};
use crate::train::amp::Autocast;
use sam3c_formats::coco::Segmentation;
use sam3c_formats::ytvis::{parse_ytvis, YtvisDataset, YtvisResult};
use sam3c_formats::Rle;
use sam3c_metrics::coco_eval::IouType;
use sam3c_metrics::hota::{hota_evaluate, HotaOptions};
use sam3c_metrics::jf::{jf_evaluate, JfOptions};
use sam3c_metrics::values::MetricValues;
use sam3c_stdlib::components::data::{DatasetSpec, YtvisVideos};
use sam3c_stdlib::components::meter::MeterSpec;
use sam3c_stdlib::components::transforms::TransformSpec;
use std::collections::{BTreeMap, BTreeSet};
use tch::{Device, Kind, Tensor};

/// The prefix of every metric key of this protocol.
pub const METRIC_PREFIX: &str = "vos";

/// How the evaluation runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalOptions {
    /// Seed of any randomness in the pipeline.
    pub seed: u64,
    /// Autocast the model to this dtype; None: fp32.
    pub autocast: Option<Kind>,
}

/// Tracks of a dataset and the ground truth they are scored against (restricted to the evaluated videos).
#[derive(Debug, Clone)]
pub struct TrackingRun {
    pub ground_truth: YtvisDataset,
    pub results: Vec<YtvisResult>,
}

fn metrics_error(e: impl std::fmt::Display) -> TemporalError {
    TemporalError::Metrics(e.to_string())
}

/// One tracked object's masks at the original size, per frame (None: no prediction or an empty mask).
struct Track {
    clip: usize,
    category_id: i64,
    masks: Vec<Option<Rle>>,
}

/// `[n, 1, S, S]` logits → masks at (h, w) (bilinear, align_corners = false, logit > 0), RLE, None if empty.
fn to_original_size(
    logits: &Tensor,
    (h, w): (i64, i64),
) -> Result<Vec<Option<Rle>>, TemporalError> {
    let n = logits.size()[0];
    let masks = logits
        .to_kind(Kind::Float)
        .upsample_bilinear2d([h, w], false, None, None)
        .gt(0.0)
        .to_kind(Kind::Uint8)
        .to_device(Device::Cpu)
        .contiguous();
    let data = Vec::<u8>::try_from(masks.view([-1]))?;
    let plane = (h * w) as usize;
    Ok((0..n as usize)
        .map(|k| {
            let rle = Rle::encode(&data[k * plane..(k + 1) * plane], h as u32, w as u32);
            (rle.area() > 0).then_some(rle)
        })
        .collect())
}

impl VideoModel {
    /// Tracks every object of the clips of `batch` from its ground-truth mask on its first frame (see the
    /// module docs); returns one YouTube-VIS result per object.
    pub fn track_from_ground_truth(
        &self,
        batch: &Batch,
        autocast: Option<Kind>,
    ) -> Result<Vec<YtvisResult>, TemporalError> {
        let _no_grad = tch::no_grad_guard();
        let device = self.device();
        let _autocast = autocast
            .map(|kind| Autocast::enter(device, kind))
            .transpose()
            .map_err(|e| TemporalError::Config(e.to_string()))?;
        let batch_on_device;
        let batch = if batch.images.device() == device {
            batch
        } else {
            batch_on_device = batch.to_device(device);
            &batch_on_device
        };
        let objects = ClipObjects::from_batch(batch)?;
        let num_frames = objects.num_frames;
        let mut tracks: Vec<Track> = objects
            .objects
            .iter()
            .map(|o| Track {
                clip: o.clip,
                category_id: o.category_id,
                masks: vec![None; num_frames],
            })
            .collect();
        for clip in 0..objects.clips.len() {
            // Objects that start on the same frame are tracked together, with one memory.
            let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for (k, o) in objects.objects.iter().enumerate() {
                if o.clip == clip {
                    groups.entry(o.first_frame).or_default().push(k);
                }
            }
            let groups: Vec<(usize, ClipObjects, Vec<usize>, MemoryBank)> = groups
                .into_iter()
                .map(|(first, members)| {
                    (first, objects.subset(&members), members, MemoryBank::new())
                })
                .collect();
            let mut groups = groups;
            let original_size = objects.clips[clip].original_size;
            for t in 0..num_frames {
                if !groups.iter().any(|(first, ..)| *first <= t) {
                    continue;
                }
                let image = (clip * num_frames + t) as i64;
                let features = self.tracker_features(&batch.images.narrow(0, image, 1), false)?;
                for (first, group, members, bank) in groups.iter_mut() {
                    if *first > t {
                        continue;
                    }
                    let n = group.len() as i64;
                    let feats = features.select(&Tensor::zeros([n], (Kind::Int64, device)));
                    let gt = group.masks.get(t as i64).unsqueeze(1).to_kind(Kind::Float);
                    let is_first = t == *first;
                    let step = StepInputs {
                        frame_idx: t as i64,
                        is_init_cond_frame: is_first,
                        num_frames: num_frames as i64,
                        mask_inputs: is_first.then_some(&gt),
                        ..Default::default()
                    };
                    let out = self
                        .tracker
                        .track_step(&feats, &step, bank, false)
                        .map_err(|e| TemporalError::Input(e.to_string()))?;
                    let masks = to_original_size(&out.pred_masks_high_res, original_size)?;
                    for (&k, mask) in members.iter().zip(masks) {
                        tracks[k].masks[t] = mask;
                    }
                    bank.insert(t as i64, out.memory(), is_first);
                }
            }
        }
        Ok(tracks
            .into_iter()
            .map(|track| {
                let boxes = track
                    .masks
                    .iter()
                    .map(|m| m.as_ref().map(Rle::bbox))
                    .collect();
                let areas = track
                    .masks
                    .iter()
                    .map(|m| m.as_ref().map(|m| m.area() as f64))
                    .collect();
                YtvisResult {
                    video_id: objects.clips[track.clip].video_id,
                    category_id: track.category_id,
                    score: 1.0,
                    segmentations: track
                        .masks
                        .iter()
                        .map(|m| m.as_ref().map(Segmentation::from_rle))
                        .collect(),
                    bboxes: Some(boxes),
                    areas: Some(areas),
                }
            })
            .collect())
    }

    /// Tracks every video of `data` (all frames, through `pipeline`) from ground-truth initialization.
    pub fn track_dataset(
        &self,
        data: &YtvisVideos,
        pipeline: &[TransformSpec],
        options: &EvalOptions,
    ) -> Result<TrackingRun, TemporalError> {
        let text = std::fs::read_to_string(&data.annotations).map_err(|e| {
            TemporalError::Data(format!("{}: cannot read: {e}", data.annotations.display()))
        })?;
        let mut ground_truth = parse_ytvis(&text)
            .map_err(|e| TemporalError::Data(format!("{}: {e}", data.annotations.display())))?;
        let mut config = data.clone();
        config.masks = true;
        let dataset = YtvisVideoDataset::open(&config, false)?;
        let pipeline = Pipeline::new(pipeline).map_err(TemporalError::Data)?;
        let mut results = Vec::new();
        let mut evaluated: BTreeSet<i64> = BTreeSet::new();
        for index in 0..dataset.len() {
            let mut rng = Rng::from_words(&[options.seed, index as u64]);
            let Some(raw) = dataset.load(index, &mut rng)? else {
                continue; // a video without any category: nothing to track
            };
            let Some(datapoint) = pipeline.apply(raw, &mut rng).map_err(TemporalError::Data)?
            else {
                continue;
            };
            let batch = collate(&[datapoint], true).map_err(TemporalError::Data)?;
            let tracked = self.track_from_ground_truth(&batch, options.autocast)?;
            evaluated.extend(tracked.iter().map(|r| r.video_id));
            if let Some(video) = batch.stages.first().and_then(|s| {
                Vec::<i64>::try_from(&s.metadata.original_image_id)
                    .ok()?
                    .first()
                    .copied()
            }) {
                evaluated.insert(video);
            }
            results.extend(tracked);
        }
        // Videos that were not evaluated (`limit`) must not count as missed.
        ground_truth.videos.retain(|v| evaluated.contains(&v.id));
        ground_truth
            .annotations
            .retain(|a| evaluated.contains(&a.video_id));
        Ok(TrackingRun {
            ground_truth,
            results,
        })
    }

    /// The values of the temporal stage's meters (`j_and_f`, `hota`), merged. Meters on the same data and
    /// pipeline share one tracking run.
    pub fn evaluate_meters(
        &self,
        meters: &[MeterSpec],
        options: &EvalOptions,
    ) -> Result<MetricValues, TemporalError> {
        let mut out = MetricValues::new();
        for meter in self.evaluate_each_meter(meters, options)? {
            out.extend(meter.values);
        }
        Ok(out)
    }

    /// The values of each meter, in order (two meters of one kind on different datasets report the same keys,
    /// so they are kept apart here). Meters on the same data and pipeline share one tracking run.
    pub fn evaluate_each_meter(
        &self,
        meters: &[MeterSpec],
        options: &EvalOptions,
    ) -> Result<Vec<MeterValues>, TemporalError> {
        // Every meter is checked before anything is tracked.
        let mut inputs = Vec::with_capacity(meters.len());
        for meter in meters {
            let (data, pipeline) = match meter {
                MeterSpec::JAndF(m) => (&m.data, &m.pipeline),
                MeterSpec::Hota(m) => (&m.data, &m.pipeline),
                MeterSpec::CocoAp(_) | MeterSpec::CgF1(_) => {
                    return Err(TemporalError::Config(
                        "a temporal stage is evaluated with video meters (j_and_f, hota), not image meters"
                            .into(),
                    ))
                }
            };
            let DatasetSpec::YtvisVideos(data) = data else {
                return Err(TemporalError::Config(
                    "video meters evaluate a `ytvis_videos` dataset".into(),
                ));
            };
            inputs.push((data, pipeline));
        }
        let mut runs: Vec<((&YtvisVideos, &Vec<TransformSpec>), TrackingRun)> = Vec::new();
        let mut out = Vec::with_capacity(meters.len());
        for (meter, key) in meters.iter().zip(inputs) {
            let position = match runs.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    let run = self.track_dataset(key.0, key.1, options)?;
                    runs.push((key, run));
                    runs.len() - 1
                }
            };
            let run = &runs[position].1;
            out.push(MeterValues {
                values: match meter {
                    MeterSpec::Hota(m) => hota(run, m.phrase)?,
                    _ => j_and_f(run)?,
                },
                videos: run.ground_truth.videos.len(),
                tracks: run.results.len(),
            });
        }
        Ok(out)
    }
}

/// One meter's values and what they were computed on.
#[derive(Debug, Clone)]
pub struct MeterValues {
    pub values: MetricValues,
    /// Videos evaluated.
    pub videos: usize,
    /// Tracks predicted (one per ground-truth object).
    pub tracks: usize,
}

/// J&F of a tracking run (see the module docs): `vos_mask_all_video_*`.
pub fn j_and_f(run: &TrackingRun) -> Result<MetricValues, TemporalError> {
    let options = JfOptions {
        per_phrase: false,
        score_threshold: None,
        dataset_name: METRIC_PREFIX.to_owned(),
    };
    Ok(jf_evaluate(&run.ground_truth, &run.results, &options)
        .map_err(metrics_error)?
        .metrics())
}

/// HOTA of a tracking run by category (`vos_mask_all_class_*`) or per (video, category) sequence
/// (`vos_mask_all_phrase_*`).
pub fn hota(run: &TrackingRun, per_phrase: bool) -> Result<MetricValues, TemporalError> {
    let options = HotaOptions {
        iou_type: IouType::Segm,
        per_phrase,
        score_threshold: None,
        dataset_name: METRIC_PREFIX.to_owned(),
    };
    Ok(hota_evaluate(&run.ground_truth, &run.results, &options)
        .map_err(metrics_error)?
        .metrics())
}
