//! `ytvis_videos` + `clips(...)`: YouTube-VIS videos turned into clips as upstream's
//! `VideoGroundingDataset` samples them (SAM 2's stage sampling).
//!
//! * Training: a stride is drawn in `[stride_min, stride_max]` (lowered to the largest that fits when the
//!   video is short), a start in `[0, frames_total - 1 - (frames - 1) * stride]`, and the clip is reversed in
//!   time with probability 1/2 when `reverse`. Evaluation: every frame, in order.
//! * Every frame of the clip gets one text query per category of the video (ordered by category id), whose
//!   targets are that category's tracks visible (non-null, non-empty mask) in the frame. Queries are not
//!   exhaustive, as upstream ingests video data (`override_query_is_exhaustive_to_true` is off).
//! * Objects keep their track index as `object_id` across frames; `frame_index` is the position in the clip.
//! * A clip with more than `max_objects` tracks is skipped (the loader takes the next video), as upstream
//!   skips datapoints above `max_masklet_num_in_video`.
//! * A video with fewer frames than a clip needs is an error at load time, naming the video.
//! * `limit`: as for images, the first N video indices after Python's `random.Random(len).shuffle`.

use super::coco::{decode_mask, load_box};
use super::datapoint::{Datapoint, Frame, Object, Pixels, Query, QueryMetadata};
use super::image::RgbImage;
use super::loader::Dataset;
use super::rng::{PyRandom, Rng};
use super::DataError;
use sam3c_formats::coco::Segmentation;
use sam3c_formats::ytvis::parse_ytvis;
use sam3c_stdlib::components::data::{ClipSampler, YtvisVideos};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
struct Track {
    category_id: i64,
    is_crowd: bool,
    /// Per frame: the segmentation and the box (XYWH), when the object is annotated there.
    frames: Vec<(Option<Segmentation>, Option<[f64; 4]>)>,
}

#[derive(Debug, Clone)]
struct Video {
    id: i64,
    file_names: Vec<String>,
    size: Option<(u32, u32)>,
    tracks: Vec<Track>,
}

/// A loaded `ytvis_videos` dataset.
pub struct YtvisVideoDataset {
    frames_dir: PathBuf,
    videos: Vec<Video>,
    names: HashMap<i64, String>,
    ids: Vec<usize>,
    sampler: ClipSampler,
    masks: bool,
    training: bool,
}

fn annotation_error(file: &Path, message: impl Into<String>) -> DataError {
    DataError::Annotation {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

impl YtvisVideoDataset {
    /// Read and check the annotation file. In training, every video must have at least `clip.frames` frames.
    pub fn open(config: &YtvisVideos, training: bool) -> Result<YtvisVideoDataset, DataError> {
        let file = &config.annotations;
        let text = std::fs::read_to_string(file)
            .map_err(|e| annotation_error(file, format!("cannot read the annotation file: {e}")))?;
        let parsed = parse_ytvis(&text).map_err(|e| annotation_error(file, e.to_string()))?;
        let clip = &config.clip;
        if clip.frames == 0 || clip.stride_min == 0 || clip.stride_max < clip.stride_min {
            return Err(DataError::Config(format!(
                "clips: need frames >= 1 and 1 <= stride_min <= stride_max, got frames = {}, stride {}..{}",
                clip.frames, clip.stride_min, clip.stride_max
            )));
        }
        let names: HashMap<i64, String> = parsed
            .categories
            .iter()
            .map(|c| (c.id, c.name.clone()))
            .collect();
        let mut videos: Vec<Video> = parsed
            .videos
            .iter()
            .map(|v| Video {
                id: v.id,
                file_names: v.file_names.clone(),
                size: v.width.zip(v.height),
                tracks: Vec::new(),
            })
            .collect();
        videos.sort_by_key(|v| v.id);
        let position: HashMap<i64, usize> =
            videos.iter().enumerate().map(|(i, v)| (v.id, i)).collect();
        for (k, ann) in parsed.annotations.into_iter().enumerate() {
            let Some(&at) = position.get(&ann.video_id) else {
                return Err(annotation_error(
                    file,
                    format!(
                        "annotation {k} refers to video {}, which is not in `videos`",
                        ann.video_id
                    ),
                ));
            };
            let video = &mut videos[at];
            let n = video.file_names.len();
            if ann.segmentations.len() != n {
                return Err(annotation_error(
                    file,
                    format!(
                        "annotation {k} of video {} has {} segmentations for {n} frames",
                        video.id,
                        ann.segmentations.len()
                    ),
                ));
            }
            if !names.contains_key(&ann.category_id) {
                return Err(annotation_error(
                    file,
                    format!(
                        "annotation {k} has category {}, which is not in `categories`",
                        ann.category_id
                    ),
                ));
            }
            let boxes = ann.bboxes.unwrap_or_default();
            video.tracks.push(Track {
                category_id: ann.category_id,
                is_crowd: ann.iscrowd.unwrap_or(0) != 0,
                frames: ann
                    .segmentations
                    .into_iter()
                    .enumerate()
                    .map(|(f, s)| (s, boxes.get(f).copied().flatten()))
                    .collect(),
            });
        }
        if training {
            if let Some(v) = videos
                .iter()
                .find(|v| v.file_names.len() < clip.frames as usize)
            {
                return Err(annotation_error(
                    file,
                    format!(
                        "video {} (`{}`) has {} annotated frames but a clip needs {}",
                        v.id,
                        v.file_names.first().map(String::as_str).unwrap_or(""),
                        v.file_names.len(),
                        clip.frames
                    ),
                ));
            }
        }
        let mut ids: Vec<usize> = (0..videos.len()).collect();
        if let Some(limit) = config.limit {
            PyRandom::new(ids.len() as u64).shuffle(&mut ids);
            ids.truncate(limit as usize);
        }
        Ok(YtvisVideoDataset {
            frames_dir: config.frames.clone(),
            videos,
            names,
            ids,
            sampler: config.clip.clone(),
            masks: config.masks,
            training,
        })
    }
}

/// Upstream's `_sample_stage_ids` on `total` frames, then the optional time reversal.
pub fn sample_clip(total: usize, sampler: &ClipSampler, rng: &mut Rng) -> Vec<usize> {
    let frames = sampler.frames as usize;
    let mut stride =
        rng.int_inclusive(sampler.stride_min as i64, sampler.stride_max as i64) as usize;
    if frames > 1 && (frames - 1) * stride > total - 1 {
        stride = (total - 1) / (frames - 1);
    }
    let gap = (frames - 1) * stride;
    let start = rng.int_inclusive(0, (total - 1 - gap) as i64) as usize;
    let mut chosen: Vec<usize> = (0..frames).map(|k| start + k * stride.max(1)).collect();
    if frames == 1 {
        chosen = vec![start];
    }
    if sampler.reverse && rng.uniform() < 0.5 {
        chosen.reverse();
    }
    chosen
}

impl Dataset for YtvisVideoDataset {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn loads_masks(&self) -> bool {
        self.masks
    }

    fn load(&self, index: usize, rng: &mut Rng) -> Result<Option<Datapoint>, DataError> {
        let video = &self.videos[self.ids[index]];
        let description = format!(
            "video {} (`{}`)",
            video.id,
            video.file_names.first().map(String::as_str).unwrap_or("")
        );
        let fail = |message: String| DataError::Datapoint {
            datapoint: description.clone(),
            message,
        };
        let total = video.file_names.len();
        let chosen: Vec<usize> = if self.training {
            if total < self.sampler.frames as usize {
                return Err(fail(format!(
                    "{total} annotated frames, but a clip needs {}",
                    self.sampler.frames
                )));
            }
            sample_clip(total, &self.sampler, rng)
        } else {
            (0..total).collect()
        };
        // Categories of the video, by id; tracks visible in the clip.
        let categories: Vec<i64> = video
            .tracks
            .iter()
            .map(|t| t.category_id)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let visible = |t: &Track, f: usize| t.frames[f].0.is_some() || t.frames[f].1.is_some();
        let tracks_in_clip = video
            .tracks
            .iter()
            .filter(|t| chosen.iter().any(|&f| visible(t, f)))
            .count();
        if tracks_in_clip > self.sampler.max_objects as usize {
            return Ok(None);
        }

        let mut frames = Vec::with_capacity(chosen.len());
        let mut queries = Vec::new();
        for (t, &f) in chosen.iter().enumerate() {
            let path = self.frames_dir.join(&video.file_names[f]);
            let image = RgbImage::open(&path).map_err(&fail)?;
            let image_size = (image.width, image.height);
            let file_size = video.size.unwrap_or(image_size);
            let mut objects = Vec::new();
            let mut by_category: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
            for (k, track) in video.tracks.iter().enumerate() {
                let (seg, bbox) = &track.frames[f];
                let rle = match seg {
                    Some(s) => Some(s.to_rle(file_size.1, file_size.0).map_err(|e| {
                        fail(format!("track {k}, frame {f}: bad segmentation: {e}"))
                    })?),
                    None => None,
                };
                // An empty or absent mask without a box: the object is not in this frame.
                let bbox = match (bbox, &rle) {
                    (Some(b), _) => *b,
                    (None, Some(r)) if r.area() > 0 => r.bbox(),
                    _ => continue,
                };
                let (xyxy, area) = load_box(bbox, file_size, image_size);
                let mask = match (seg, self.masks) {
                    (Some(s), true) => Some(
                        decode_mask(s, file_size, image_size, xyxy)
                            .map_err(|e| fail(format!("track {k}, frame {f}: {e}")))?,
                    ),
                    _ => None,
                };
                by_category
                    .entry(track.category_id)
                    .or_default()
                    .push(objects.len());
                objects.push(Object {
                    bbox: xyxy,
                    area,
                    object_id: k as i64,
                    frame_index: t as i64,
                    mask,
                    is_crowd: track.is_crowd,
                });
            }
            for &category in &categories {
                let targets = by_category.remove(&category).unwrap_or_default();
                let first = targets.first().map(|&o| &objects[o]);
                queries.push(Query {
                    text: self.names[&category].clone(),
                    frame: t,
                    is_exhaustive: false,
                    stage: t,
                    box_prompts: Vec::new(),
                    box_prompt_labels: Vec::new(),
                    metadata: QueryMetadata {
                        coco_image_id: if self.training { -1 } else { video.id },
                        original_image_id: if self.training { -1 } else { video.id },
                        original_category_id: category,
                        original_size: (image_size.1, image_size.0),
                        object_id: first.map_or(-1, |o| o.object_id),
                        frame_index: first.map_or(-1, |o| o.frame_index),
                    },
                    targets,
                });
            }
            frames.push(Frame {
                pixels: Pixels::Rgb(image),
                objects,
            });
        }
        if queries.is_empty() {
            return Ok(None);
        }
        Ok(Some(Datapoint {
            frames,
            queries,
            description,
        }))
    }
}
