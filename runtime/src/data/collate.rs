//! Collation of transformed datapoints into the tensors the model and the losses consume, as upstream's
//! `collate_fn_api` builds its `BatchedDatapoint` (one [`StageBatch`] per processing stage: one for images,
//! one per clip frame for videos). All tensors are built on the CPU; [`Batch::to_device`] moves them.

use super::datapoint::{Datapoint, Pixels};
use tch::{Device, Tensor};

/// A collated batch.
#[derive(Debug)]
pub struct Batch {
    /// `[N, 3, H, W]` float32, normalized: every frame of every datapoint, datapoint after datapoint.
    pub images: Tensor,
    /// The distinct prompt texts of the batch, in order of first appearance; queries refer to them by index.
    pub texts: Vec<String>,
    /// One entry per processing stage (`query_processing_order`).
    pub stages: Vec<StageBatch>,
    /// The description of each datapoint, in batch order (for logs and errors).
    pub sources: Vec<String>,
}

/// The queries of one stage and their targets. `Q` is the number of queries of the stage.
#[derive(Debug)]
pub struct StageBatch {
    /// `[Q]` int64: the row of `images` each query looks at.
    pub image_ids: Tensor,
    /// `[Q]` int64: the query's prompt text, an index into [`Batch::texts`].
    pub text_ids: Tensor,
    /// `[P, Q, 4]` float32: box prompts in normalized CxCyWH, padded with zeros to the largest count `P`
    /// (upstream stacks them on dimension 1).
    pub box_prompts: Tensor,
    /// `[P, Q]` int64: 1 for a positive box prompt, 0 for a negative one or padding.
    pub box_prompt_labels: Tensor,
    /// `[Q, P]` bool: true where a box prompt slot is padding.
    pub box_prompt_mask: Tensor,
    pub targets: Targets,
    pub metadata: Metadata,
}

/// What each query must find. `T` is the total number of targets of the stage, `M` the largest per query.
#[derive(Debug)]
pub struct Targets {
    /// `[Q]` int64: targets per query.
    pub num_boxes: Tensor,
    /// `[T, 4]` float32: normalized CxCyWH boxes, packed query after query.
    pub boxes: Tensor,
    /// `[Q, M, 4]` float32: the same boxes padded per query with zeros.
    pub boxes_padded: Tensor,
    /// `[T]` int64: each target's index among its frame's objects (upstream's `object_ids`).
    pub object_ids: Tensor,
    /// `[Q, M]` int64: the same, padded with -1.
    pub object_ids_padded: Tensor,
    /// `[T]` int64: each target's id in its media (track id in a video), stable across frames.
    pub track_ids: Tensor,
    /// `[Q]` bool: every instance of the query is annotated.
    pub is_exhaustive: Tensor,
    /// `[T, H, W]` bool: masks at the padded input resolution, when the dataset loads masks.
    pub masks: Option<Tensor>,
    /// `[T]` bool: false where an object had no mask (its mask row is all false).
    pub is_valid_mask: Option<Tensor>,
}

/// Per-query metadata for evaluation (upstream's `BatchedInferenceMetadata`). All `[Q]` int64 except
/// `original_category_id` (int32) and `original_size` (`[Q, 2]`, height then width).
#[derive(Debug)]
pub struct Metadata {
    pub coco_image_id: Tensor,
    pub original_image_id: Tensor,
    pub original_category_id: Tensor,
    pub original_size: Tensor,
    pub object_id: Tensor,
    pub frame_index: Tensor,
}

fn ints(v: &[i64]) -> Tensor {
    Tensor::from_slice(v)
}

#[derive(Default)]
struct StageBuilder {
    image_ids: Vec<i64>,
    text_ids: Vec<i64>,
    prompts: Vec<Vec<([f32; 4], bool)>>,
    num_boxes: Vec<i64>,
    boxes: Vec<[f32; 4]>,
    object_ids: Vec<i64>,
    track_ids: Vec<i64>,
    is_exhaustive: Vec<bool>,
    masks: Vec<bool>,
    mask_valid: Vec<bool>,
    coco_image_id: Vec<i64>,
    original_image_id: Vec<i64>,
    original_category_id: Vec<i32>,
    original_size: Vec<i64>,
    object_id: Vec<i64>,
    frame_index: Vec<i64>,
}

/// Collate normalized datapoints. `with_masks`: build target masks (objects without a mask get an empty,
/// invalid one). Errors name the datapoint: frames of different sizes, a datapoint that was not normalized.
pub fn collate(batch: &[Datapoint], with_masks: bool) -> Result<Batch, String> {
    let Some(first) = batch.first() else {
        return Err("cannot collate an empty batch".into());
    };
    let Some(first_frame) = first.frames.first() else {
        return Err(format!("datapoint {}: no frame", first.description));
    };
    let (width, height) = first_frame.pixels.size();
    let plane = width as usize * height as usize;
    let num_stages = batch
        .iter()
        .flat_map(|d| d.queries.iter().map(|q| q.stage + 1))
        .max()
        .unwrap_or(0);
    let mut stages: Vec<StageBuilder> = (0..num_stages).map(|_| StageBuilder::default()).collect();
    let mut texts: Vec<String> = Vec::new();
    let mut pixels: Vec<f32> = Vec::new();
    let mut image_offset = 0i64;
    for dp in batch {
        for frame in &dp.frames {
            match &frame.pixels {
                Pixels::Normalized {
                    width: w,
                    height: h,
                    data,
                } => {
                    if (*w, *h) != (width, height) {
                        return Err(format!(
                            "datapoint {}: frame is {w}x{h} but the batch is {width}x{height}; all frames of a \
                             batch need one size (pad, or resize with square = true)",
                            dp.description
                        ));
                    }
                    pixels.extend_from_slice(data);
                }
                Pixels::Rgb(_) => {
                    return Err(format!(
                        "datapoint {}: not normalized; the pipeline needs a normalize step",
                        dp.description
                    ))
                }
            }
        }
        for q in &dp.queries {
            let s = &mut stages[q.stage];
            s.image_ids.push(q.frame as i64 + image_offset);
            let text_id = match texts.iter().position(|t| *t == q.text) {
                Some(i) => i,
                None => {
                    texts.push(q.text.clone());
                    texts.len() - 1
                }
            };
            s.text_ids.push(text_id as i64);
            s.prompts.push(
                q.box_prompts
                    .iter()
                    .copied()
                    .zip(q.box_prompt_labels.iter().copied())
                    .collect(),
            );
            let frame = &dp.frames[q.frame];
            for &t in &q.targets {
                let obj = frame.objects.get(t).ok_or_else(|| {
                    format!(
                        "datapoint {}: query '{}' targets a missing object",
                        dp.description, q.text
                    )
                })?;
                s.boxes.push(obj.bbox);
                s.object_ids.push(t as i64);
                s.track_ids.push(obj.object_id);
                if with_masks {
                    match &obj.mask {
                        Some(m) if m.width == width && m.height == height => {
                            s.masks.extend(m.data.iter().map(|&v| v != 0));
                            s.mask_valid.push(true);
                        }
                        Some(m) => {
                            return Err(format!(
                                "datapoint {}: a mask is {}x{} but its frame is {width}x{height}",
                                dp.description, m.width, m.height
                            ))
                        }
                        None => {
                            s.masks.extend(std::iter::repeat_n(false, plane));
                            s.mask_valid.push(false);
                        }
                    }
                }
            }
            s.num_boxes.push(q.targets.len() as i64);
            s.is_exhaustive.push(q.is_exhaustive);
            let m = &q.metadata;
            s.coco_image_id.push(m.coco_image_id);
            s.original_image_id.push(m.original_image_id);
            s.original_category_id.push(m.original_category_id as i32);
            s.original_size
                .extend([m.original_size.0 as i64, m.original_size.1 as i64]);
            s.object_id.push(m.object_id);
            s.frame_index.push(m.frame_index);
        }
        image_offset += dp.frames.len() as i64;
    }
    let images = Tensor::from_slice(&pixels).view([image_offset, 3, height as i64, width as i64]);
    let stages = stages
        .into_iter()
        .map(|s| s.finish(with_masks, height as i64, width as i64))
        .collect();
    Ok(Batch {
        images,
        texts,
        stages,
        sources: batch.iter().map(|d| d.description.clone()).collect(),
    })
}

impl StageBuilder {
    fn finish(self, with_masks: bool, height: i64, width: i64) -> StageBatch {
        let q = self.image_ids.len() as i64;
        let p = self.prompts.iter().map(Vec::len).max().unwrap_or(0) as i64;
        let mut prompt_boxes = vec![0f32; (p * q * 4) as usize];
        let mut prompt_labels = vec![0i64; (p * q) as usize];
        let mut prompt_mask = vec![true; (q * p) as usize];
        for (qi, prompts) in self.prompts.iter().enumerate() {
            for (pi, (b, label)) in prompts.iter().enumerate() {
                let slot = pi * q as usize + qi;
                prompt_boxes[slot * 4..slot * 4 + 4].copy_from_slice(b);
                prompt_labels[slot] = *label as i64;
                prompt_mask[qi * p as usize + pi] = false;
            }
        }
        let m = self.num_boxes.iter().copied().max().unwrap_or(0);
        let mut padded = vec![0f32; (q * m * 4) as usize];
        let mut ids_padded = vec![-1i64; (q * m) as usize];
        let mut next = 0usize;
        for (qi, &n) in self.num_boxes.iter().enumerate() {
            for j in 0..n as usize {
                let slot = qi * m as usize + j;
                padded[slot * 4..slot * 4 + 4].copy_from_slice(&self.boxes[next]);
                ids_padded[slot] = self.object_ids[next];
                next += 1;
            }
        }
        let t = self.boxes.len() as i64;
        let flat_boxes: Vec<f32> = self.boxes.iter().flatten().copied().collect();
        StageBatch {
            image_ids: ints(&self.image_ids),
            text_ids: ints(&self.text_ids),
            box_prompts: Tensor::from_slice(&prompt_boxes).view([p, q, 4]),
            box_prompt_labels: ints(&prompt_labels).view([p, q]),
            box_prompt_mask: Tensor::from_slice(&prompt_mask).view([q, p]),
            targets: Targets {
                num_boxes: ints(&self.num_boxes),
                boxes: Tensor::from_slice(&flat_boxes).view([t, 4]),
                boxes_padded: Tensor::from_slice(&padded).view([q, m, 4]),
                object_ids: ints(&self.object_ids),
                object_ids_padded: ints(&ids_padded).view([q, m]),
                track_ids: ints(&self.track_ids),
                is_exhaustive: Tensor::from_slice(&self.is_exhaustive),
                masks: with_masks.then(|| Tensor::from_slice(&self.masks).view([t, height, width])),
                is_valid_mask: with_masks.then(|| Tensor::from_slice(&self.mask_valid)),
            },
            metadata: Metadata {
                coco_image_id: ints(&self.coco_image_id),
                original_image_id: ints(&self.original_image_id),
                original_category_id: Tensor::from_slice(&self.original_category_id),
                original_size: ints(&self.original_size).view([q, 2]),
                object_id: ints(&self.object_id),
                frame_index: ints(&self.frame_index),
            },
        }
    }
}

impl Batch {
    /// The batch with every tensor on `device` (a no-op copy-free move for the CPU).
    pub fn to_device(&self, device: Device) -> Batch {
        let mv = |t: &Tensor| t.to_device(device);
        Batch {
            images: mv(&self.images),
            texts: self.texts.clone(),
            sources: self.sources.clone(),
            stages: self
                .stages
                .iter()
                .map(|s| StageBatch {
                    image_ids: mv(&s.image_ids),
                    text_ids: mv(&s.text_ids),
                    box_prompts: mv(&s.box_prompts),
                    box_prompt_labels: mv(&s.box_prompt_labels),
                    box_prompt_mask: mv(&s.box_prompt_mask),
                    targets: Targets {
                        num_boxes: mv(&s.targets.num_boxes),
                        boxes: mv(&s.targets.boxes),
                        boxes_padded: mv(&s.targets.boxes_padded),
                        object_ids: mv(&s.targets.object_ids),
                        object_ids_padded: mv(&s.targets.object_ids_padded),
                        track_ids: mv(&s.targets.track_ids),
                        is_exhaustive: mv(&s.targets.is_exhaustive),
                        masks: s.targets.masks.as_ref().map(mv),
                        is_valid_mask: s.targets.is_valid_mask.as_ref().map(mv),
                    },
                    metadata: Metadata {
                        coco_image_id: mv(&s.metadata.coco_image_id),
                        original_image_id: mv(&s.metadata.original_image_id),
                        original_category_id: mv(&s.metadata.original_category_id),
                        original_size: mv(&s.metadata.original_size),
                        object_id: mv(&s.metadata.object_id),
                        frame_index: mv(&s.metadata.frame_index),
                    },
                })
                .collect(),
        }
    }

    /// Number of frames in the batch.
    pub fn num_images(&self) -> i64 {
        self.images.size()[0]
    }
}
