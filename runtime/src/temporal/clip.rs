//! The objects of collated clips, as the tracker sees them: one row per (clip, track), with its ground-truth mask
//! on every frame (empty where the object is absent) and the image row it looks at on each frame (upstream
//! `BatchedVideoDatapoint.masks` and `flat_obj_to_img_idx`).

use super::TemporalError;
use crate::data::{Batch, Rng};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// A tracked object of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Index of the clip in the batch.
    pub clip: usize,
    /// The object's track id in its video (`Targets::track_ids`).
    pub track_id: i64,
    /// The category id of the annotation file.
    pub category_id: i64,
    /// The first frame of the clip where its mask is not empty.
    pub first_frame: usize,
}

/// The objects of the clips of a batch.
#[derive(Debug)]
pub struct ClipObjects {
    pub objects: Vec<ObjectInfo>,
    /// Frames per clip.
    pub num_frames: usize,
    /// `[F, N, H, W]` bool ground-truth masks at the input resolution, on the batch's device.
    pub masks: Tensor,
    /// `[F, N]` int64: the row of `Batch::images` object n looks at on frame t.
    pub image_index: Tensor,
    /// Per clip, the video id and the original (height, width) of its frames (from the query metadata).
    pub clips: Vec<ClipInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipInfo {
    pub video_id: i64,
    pub original_size: (i64, i64),
}

fn ints(t: &Tensor) -> Result<Vec<i64>, TemporalError> {
    Ok(Vec::<i64>::try_from(
        t.to_device(Device::Cpu)
            .to_kind(Kind::Int64)
            .contiguous()
            .view([-1]),
    )?)
}

/// A track's category and, per frame, its row in the stage's target masks (None: absent).
type TrackRows = (i64, Vec<Option<i64>>);

impl ClipObjects {
    /// Every object of the batch's clips that has a mask on some frame. The batch holds clips of the same
    /// length, one stage per frame (as the YTVIS dataset collates them); its targets need masks.
    pub fn from_batch(batch: &Batch) -> Result<ClipObjects, TemporalError> {
        let num_frames = batch.stages.len();
        let num_images = batch.num_images() as usize;
        if num_frames == 0 || !num_images.is_multiple_of(num_frames) {
            return Err(TemporalError::Input(format!(
                "a batch of clips has one stage per frame and clips of equal length; got {num_images} images \
                 and {num_frames} stages"
            )));
        }
        let num_clips = num_images / num_frames;
        let mut clips: Vec<Option<ClipInfo>> = vec![None; num_clips];
        // (clip, track) -> category and, per frame, the row of the stage's target masks.
        let mut rows: BTreeMap<(usize, i64), TrackRows> = BTreeMap::new();
        let mut frame_masks = Vec::with_capacity(num_frames);
        for (t, stage) in batch.stages.iter().enumerate() {
            let targets = &stage.targets;
            let (Some(masks), Some(valid)) = (&targets.masks, &targets.is_valid_mask) else {
                return Err(TemporalError::Input(
                    "the tracker trains on masks: the video dataset must load them (`masks = true`)".into(),
                ));
            };
            let image_ids = ints(&stage.image_ids)?;
            let num_boxes = ints(&targets.num_boxes)?;
            let track_ids = ints(&targets.track_ids)?;
            let valid = ints(&valid.to_kind(Kind::Int64))?;
            let categories = ints(&stage.metadata.original_category_id)?;
            let video_ids = ints(&stage.metadata.original_image_id)?;
            let sizes = ints(&stage.metadata.original_size)?;
            let nonempty = ints(&masks.flatten(1, -1).any_dim(1, false).to_kind(Kind::Int64))?;
            let mut next = 0usize;
            for (q, &image) in image_ids.iter().enumerate() {
                let offset = image - t as i64;
                if offset < 0
                    || !(offset as usize).is_multiple_of(num_frames)
                    || image as usize >= num_images
                {
                    return Err(TemporalError::Input(format!(
                        "stage {t} has a query on image {image}, which is not frame {t} of a clip of \
                         {num_frames} frames"
                    )));
                }
                let clip = offset as usize / num_frames;
                clips[clip].get_or_insert(ClipInfo {
                    video_id: video_ids[q],
                    original_size: (sizes[2 * q], sizes[2 * q + 1]),
                });
                for _ in 0..num_boxes[q] {
                    let j = next;
                    next += 1;
                    if valid[j] == 0 {
                        return Err(TemporalError::Input(format!(
                            "{}: object {} has no mask on frame {t}; the tracker trains on masks",
                            batch.sources.get(clip).map_or("a clip", String::as_str),
                            track_ids[j]
                        )));
                    }
                    let entry = rows
                        .entry((clip, track_ids[j]))
                        .or_insert_with(|| (categories[q], vec![None; num_frames]));
                    if nonempty[j] != 0 {
                        entry.1[t] = Some(j as i64);
                    }
                }
            }
            frame_masks.push(masks.shallow_clone());
        }
        let clips: Vec<ClipInfo> = clips
            .into_iter()
            .map(|c| {
                c.unwrap_or(ClipInfo {
                    video_id: -1,
                    original_size: (0, 0),
                })
            })
            .collect();
        let mut objects = Vec::new();
        let mut picks: Vec<Vec<i64>> = vec![Vec::new(); num_frames];
        let mut images: Vec<Vec<i64>> = vec![Vec::new(); num_frames];
        for ((clip, track_id), (category_id, per_frame)) in rows {
            let Some(first_frame) = per_frame.iter().position(Option::is_some) else {
                continue; // never visible: nothing to track
            };
            objects.push(ObjectInfo {
                clip,
                track_id,
                category_id,
                first_frame,
            });
            for (t, row) in per_frame.iter().enumerate() {
                // -1: an empty mask (the object is absent from the frame).
                picks[t].push(row.unwrap_or(-1));
                images[t].push((clip * num_frames + t) as i64);
            }
        }
        let (h, w) = (batch.images.size()[2], batch.images.size()[3]);
        let device = batch.images.device();
        let masks = if objects.is_empty() {
            Tensor::zeros([num_frames as i64, 0, h, w], (Kind::Bool, device))
        } else {
            let per_frame: Vec<Tensor> = frame_masks
                .iter()
                .zip(&picks)
                .map(|(m, rows)| {
                    let padded =
                        Tensor::cat(&[m, &Tensor::zeros([1, h, w], (Kind::Bool, device))], 0);
                    let empty = padded.size()[0] - 1;
                    let index: Vec<i64> = rows
                        .iter()
                        .map(|&r| if r < 0 { empty } else { r })
                        .collect();
                    padded.index_select(0, &Tensor::from_slice(&index).to_device(device))
                })
                .collect();
            Tensor::stack(&per_frame, 0)
        };
        let image_index = Tensor::from_slice(&images.concat())
            .view([num_frames as i64, objects.len() as i64])
            .to_device(device);
        Ok(ClipObjects {
            objects,
            num_frames,
            masks,
            image_index,
            clips,
        })
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Only the objects `keep` (indices into `objects`, in that order).
    pub fn subset(&self, keep: &[usize]) -> ClipObjects {
        let device = self.masks.device();
        let index = Tensor::from_slice(&keep.iter().map(|&k| k as i64).collect::<Vec<_>>())
            .to_device(device);
        ClipObjects {
            objects: keep.iter().map(|&k| self.objects[k].clone()).collect(),
            num_frames: self.num_frames,
            masks: self.masks.index_select(1, &index),
            image_index: self.image_index.index_select(1, &index),
            clips: self.clips.clone(),
        }
    }

    /// SAM 2's object sampling for training: per clip, the objects visible on its first frame, at most `max` of
    /// them drawn at random (all of them, in order, when they are few enough).
    pub fn sample_for_training(&self, max: Option<usize>, rng: &mut Rng) -> ClipObjects {
        let mut keep = Vec::new();
        for clip in 0..self.clips.len() {
            let mut visible: Vec<usize> = (0..self.len())
                .filter(|&k| self.objects[k].clip == clip && self.objects[k].first_frame == 0)
                .collect();
            if let Some(max) = max {
                if visible.len() > max {
                    rng.shuffle(&mut visible);
                    visible.truncate(max);
                    visible.sort_unstable();
                }
            }
            keep.extend(visible);
        }
        self.subset(&keep)
    }
}
