//! Model outputs to scored detections in original-image coordinates, as upstream's `PostProcessImage`:
//!
//! * score = σ(logit), times σ(presence logit) of the query when `presence` is on;
//! * boxes: normalized cxcywh → xyxy, scaled by the original (width, height) of the query's image;
//! * a detection threshold keeps scores strictly above it (upstream applies it only when it is > 0);
//! * masks: the query's mask logits, bilinearly upsampled (align_corners = false) to the original size, then
//!   σ(·) > 0.5, RLE-encoded (pycocotools-compatible).
//!
//! Per-image limits (`max_dets`) are applied by the caller over all queries of an image; `cap` here only skips
//! work for detections that cannot survive those limits (the `cap` best of each query are kept, ties in query
//! order).

use crate::model::Sam3ImageOutput;
use sam3c_formats::Rle;
use tch::{Device, Kind, Tensor};

/// One detection of one query.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The query's object slot (0..Q) that produced it.
    pub slot: usize,
    pub score: f64,
    /// Absolute xyxy in the original image.
    pub box_xyxy: [f64; 4],
    /// The mask at the original size, when masks were asked for.
    pub mask: Option<Rle>,
}

/// How outputs become detections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostprocessOptions {
    pub presence: bool,
    /// Keep only scores above this (none, or ≤ 0: keep all, as upstream).
    pub threshold: Option<f64>,
    pub masks: bool,
    /// Keep at most this many detections per query (the best ones).
    pub cap: Option<usize>,
}

/// The detections of each of the B queries of `out`; `original_sizes[b]` is (height, width) of query b's image.
pub fn detections(
    out: &Sam3ImageOutput,
    original_sizes: &[(i64, i64)],
    options: &PostprocessOptions,
) -> Result<Vec<Vec<Detection>>, tch::TchError> {
    let _no_grad = tch::no_grad_guard();
    let logits = out.o2o.pred_logits.to_kind(Kind::Float);
    let (batch, queries) = (logits.size()[0], logits.size()[1]);
    if original_sizes.len() as i64 != batch {
        return Err(tch::TchError::Shape(format!(
            "{} original sizes for {batch} queries",
            original_sizes.len()
        )));
    }
    let mut probs = logits.squeeze_dim(-1).sigmoid();
    if options.presence {
        probs = probs
            * out
                .presence_logit_dec
                .to_kind(Kind::Float)
                .sigmoid()
                .view([batch, 1]);
    }
    let probs = Vec::<f32>::try_from(probs.to_device(Device::Cpu).contiguous().view([-1]))?;
    let boxes = Vec::<f32>::try_from(
        out.o2o
            .pred_boxes_xyxy
            .to_kind(Kind::Float)
            .to_device(Device::Cpu)
            .contiguous()
            .view([-1]),
    )?;
    let threshold = options.threshold.filter(|&t| t > 0.0);
    let q = queries as usize;
    let mut all = Vec::with_capacity(batch as usize);
    for (b, &(height, width)) in original_sizes.iter().enumerate() {
        let mut kept: Vec<usize> = (0..q)
            .filter(|&slot| threshold.is_none_or(|t| f64::from(probs[b * q + slot]) > t))
            .collect();
        // Stable: equal scores keep slot order, like torch.topk on CPU in practice.
        kept.sort_by(|&x, &y| probs[b * q + y].total_cmp(&probs[b * q + x]));
        if let Some(cap) = options.cap {
            kept.truncate(cap);
        }
        // Scaling happens in float32 as upstream (boxes * scale_fct), then widens.
        let (w, h) = (width as f32, height as f32);
        let mut dets: Vec<Detection> = kept
            .iter()
            .map(|&slot| {
                let o = (b * q + slot) * 4;
                Detection {
                    slot,
                    score: f64::from(probs[b * q + slot]),
                    box_xyxy: [
                        f64::from(boxes[o] * w),
                        f64::from(boxes[o + 1] * h),
                        f64::from(boxes[o + 2] * w),
                        f64::from(boxes[o + 3] * h),
                    ],
                    mask: None,
                }
            })
            .collect();
        if options.masks && !dets.is_empty() {
            let Some(pred_masks) = &out.pred_masks else {
                return Err(tch::TchError::Kind(
                    "masks were asked for but the model has no segmentation head".into(),
                ));
            };
            let index: Vec<i64> = dets.iter().map(|d| d.slot as i64).collect();
            let selected = pred_masks
                .get(b as i64)
                .index_select(
                    0,
                    &Tensor::from_slice(&index).to_device(pred_masks.device()),
                )
                .to_kind(Kind::Float)
                .unsqueeze(1);
            let binary = selected
                .upsample_bilinear2d([height, width], false, None, None)
                .sigmoid()
                .gt(0.5)
                .squeeze_dim(1);
            // Column-major (Fortran) order is what RLE runs over: transpose, then read row by row.
            let column_major = binary
                .transpose(1, 2)
                .to_kind(Kind::Uint8)
                .to_device(Device::Cpu)
                .contiguous();
            let plane = (height * width) as usize;
            let mut bytes = vec![0u8; plane * dets.len()];
            column_major.f_copy_data_u8(&mut bytes, plane * dets.len())?;
            for (k, det) in dets.iter_mut().enumerate() {
                det.mask = Some(Rle::encode_column_major(
                    &bytes[k * plane..(k + 1) * plane],
                    height as u32,
                    width as u32,
                ));
            }
        }
        all.push(dets);
    }
    Ok(all)
}

/// xyxy → COCO's xywh.
pub fn xywh(b: [f64; 4]) -> [f64; 4] {
    [b[0], b[1], b[2] - b[0], b[3] - b[1]]
}

/// Python's `round(x, 5)` for the values upstream's prediction dumper writes (half-way cases can differ in the
/// last digit; they do not change a metric).
pub fn round5(x: f64) -> f64 {
    (x * 1e5).round() / 1e5
}
