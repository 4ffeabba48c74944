//! The inputs of the detection losses: the model's predictions of one find stage and the batched targets, as
//! plain documented structs of tensors (the upstream dictionaries `out` and `back_convert(find_target)`).
//!
//! Shapes: `B` = find queries in the batch (image × prompt pairs), `Q` = object queries, `N` = target objects
//! of the whole batch (packed), `T` = the largest number of targets of one query, `h × w` = the predicted mask
//! size, `H × W` = the target mask size (the padded input resolution).

use super::super::matcher::MatchIndices;
use super::super::{box_ops, Result, TrainError};
use tch::{Device, Kind, Tensor};

/// Predictions of one decoder layer for one set of queries (the one-to-one or the one-to-many queries).
#[derive(Debug)]
pub struct QueryPredictions {
    /// Classification logits `[B, Q, 1]` (upstream `pred_logits`).
    pub pred_logits: Tensor,
    /// Boxes `[B, Q, 4]`, normalized cxcywh (upstream `pred_boxes`).
    pub pred_boxes: Tensor,
    /// The same boxes as xyxy; computed from `pred_boxes` when `None` (upstream `pred_boxes_xyxy`).
    pub pred_boxes_xyxy: Option<Tensor>,
    /// The decoder's presence-token logit `[B, 1]` (upstream `presence_logit_dec`; absent for one-to-many).
    pub presence_logit_dec: Option<Tensor>,
    /// Mask logits `[B, Q, h, w]` (upstream `pred_masks`), when the model has a segmentation head.
    pub pred_masks: Option<Tensor>,
}

impl QueryPredictions {
    /// Predictions with logits and boxes only.
    pub fn new(pred_logits: Tensor, pred_boxes: Tensor) -> Self {
        QueryPredictions {
            pred_logits,
            pred_boxes,
            pred_boxes_xyxy: None,
            presence_logit_dec: None,
            pred_masks: None,
        }
    }

    pub(crate) fn batch_and_queries(&self) -> (i64, i64) {
        let size = self.pred_logits.size();
        (size[0], size[1])
    }

    /// The xyxy boxes in fp32 (converted before any arithmetic, so that bf16 outputs are scored in fp32).
    pub(crate) fn boxes_xyxy(&self) -> Tensor {
        match &self.pred_boxes_xyxy {
            Some(xyxy) => xyxy.to_kind(Kind::Float),
            None => box_ops::cxcywh_to_xyxy(&self.pred_boxes.to_kind(Kind::Float)),
        }
    }

    /// Checks shapes and kinds against `batch` find queries on `device`.
    pub(crate) fn validate(&self, what: &str, batch: i64, device: Device) -> Result<()> {
        let logits = self.pred_logits.size();
        if logits.len() != 3 || logits[2] != 1 || logits[0] != batch {
            return Err(TrainError::invalid(format!(
                "{what}: pred_logits must be [B={batch}, Q, 1], got {logits:?}"
            )));
        }
        let queries = logits[1];
        expect_shape(&self.pred_boxes, &[batch, queries, 4], what, "pred_boxes")?;
        if let Some(xyxy) = &self.pred_boxes_xyxy {
            expect_shape(xyxy, &[batch, queries, 4], what, "pred_boxes_xyxy")?;
        }
        if let Some(presence) = &self.presence_logit_dec {
            if presence.numel() as i64 != batch {
                return Err(TrainError::invalid(format!(
                    "{what}: presence_logit_dec must hold one logit per find query ([B={batch}, 1]), got {:?}",
                    presence.size()
                )));
            }
        }
        if let Some(masks) = &self.pred_masks {
            let size = masks.size();
            if size.len() != 4 || size[0] != batch || size[1] != queries {
                return Err(TrainError::invalid(format!(
                    "{what}: pred_masks must be [B={batch}, Q={queries}, h, w], got {size:?}"
                )));
            }
        }
        let tensors = [
            Some(&self.pred_logits),
            Some(&self.pred_boxes),
            self.pred_boxes_xyxy.as_ref(),
            self.presence_logit_dec.as_ref(),
            self.pred_masks.as_ref(),
        ];
        for tensor in tensors.into_iter().flatten() {
            expect_float(tensor, what)?;
            expect_device(tensor, device, what)?;
        }
        Ok(())
    }
}

/// The outputs of one decoder layer: one-to-one queries, optional one-to-many queries (upstream keys ending in
/// `_o2m`), and the one-to-one matching.
#[derive(Debug)]
pub struct LayerOutputs {
    /// The one-to-one queries.
    pub o2o: QueryPredictions,
    /// The one-to-many queries (DAC), present in training.
    pub o2m: Option<QueryPredictions>,
    /// The one-to-one matching computed by the model (upstream `out["indices"]`). When `None`, the loss computes
    /// it with the model's matcher (Hungarian, costs class 2, bbox 5, GIoU 2, focal α 0.25 γ 2).
    pub indices: Option<MatchIndices>,
}

impl LayerOutputs {
    pub fn new(o2o: QueryPredictions) -> Self {
        LayerOutputs {
            o2o,
            o2m: None,
            indices: None,
        }
    }
}

/// Everything the detection loss reads from one find stage (one step) of the model.
#[derive(Debug)]
pub struct FindOutputs {
    /// The last decoder layer.
    pub main: LayerOutputs,
    /// The earlier decoder layers, first to last (upstream `aux_outputs`; keys get `_aux_{i}`).
    pub aux: Vec<LayerOutputs>,
    /// Outputs of a first stage (upstream `first_stage`; keys get `_fs`).
    pub first_stage: Option<LayerOutputs>,
    /// The semantic-segmentation logits `[B, 1, h, w]` (upstream `semantic_seg`).
    pub semantic_seg: Option<Tensor>,
    /// The segmentation head's presence logit `[B, 1]` (upstream `presence_logit`).
    pub semantic_presence_logit: Option<Tensor>,
}

impl FindOutputs {
    pub fn new(main: LayerOutputs) -> Self {
        FindOutputs {
            main,
            aux: Vec::new(),
            first_stage: None,
            semantic_seg: None,
            semantic_presence_logit: None,
        }
    }
}

/// The targets of one find stage, packed over the batch (upstream `Sam3Image.back_convert`).
#[derive(Debug)]
pub struct FindTargets {
    boxes: Tensor,
    boxes_xyxy: Tensor,
    boxes_padded: Tensor,
    num_boxes: Vec<i64>,
    object_ids_padded: Tensor,
    is_exhaustive: Tensor,
    masks: Option<Tensor>,
    is_valid_mask: Option<Tensor>,
    semantic_masks: Option<Tensor>,
}

impl FindTargets {
    /// Targets from packed boxes `[N, 4]` (normalized cxcywh), the number of boxes of each of the `B` find
    /// queries (summing to N), the object id of each box `[N]` (negative ids mark invisible objects), and whether
    /// each find query is exhaustively annotated `[B]`.
    pub fn new(
        boxes: Tensor,
        num_boxes: &[i64],
        object_ids: Tensor,
        is_exhaustive: Tensor,
    ) -> Result<Self> {
        let total: i64 = num_boxes.iter().sum();
        if num_boxes.iter().any(|&n| n < 0) {
            return Err(TrainError::invalid(format!(
                "targets: num_boxes must not be negative, got {num_boxes:?}"
            )));
        }
        let batch = num_boxes.len() as i64;
        if batch == 0 {
            return Err(TrainError::invalid(
                "targets: the batch has no find queries",
            ));
        }
        expect_shape(&boxes, &[total, 4], "targets", "boxes")?;
        expect_float(&boxes, "targets")?;
        let device = boxes.device();
        expect_shape(&object_ids, &[total], "targets", "object_ids")?;
        if object_ids.is_floating_point() || object_ids.kind() == Kind::Bool {
            return Err(TrainError::invalid(
                "targets: object_ids must be an integer tensor",
            ));
        }
        expect_shape(&is_exhaustive, &[batch], "targets", "is_exhaustive")?;
        expect_device(&object_ids, device, "targets")?;
        expect_device(&is_exhaustive, device, "targets")?;
        // Targets are fp32 as upstream's collator makes them, whatever the caller passes.
        let boxes = boxes.detach().to_kind(Kind::Float);
        let boxes_xyxy = box_ops::cxcywh_to_xyxy(&boxes);
        let max_boxes = num_boxes.iter().copied().max().unwrap_or(0);
        let boxes_padded = packed_to_padded(&boxes, num_boxes, max_boxes, 0.0)?;
        let object_ids_padded =
            packed_to_padded(&object_ids.to_kind(Kind::Int64), num_boxes, max_boxes, -1.0)?;
        Ok(FindTargets {
            boxes,
            boxes_xyxy,
            boxes_padded,
            num_boxes: num_boxes.to_vec(),
            object_ids_padded,
            is_exhaustive: is_exhaustive.to_kind(Kind::Bool),
            masks: None,
            is_valid_mask: None,
            semantic_masks: None,
        })
    }

    /// Adds instance masks `[N, H, W]` (bool or 0/1 float) and which of them are valid `[N]` (all when `None`).
    pub fn with_masks(mut self, masks: Tensor, is_valid_mask: Option<Tensor>) -> Result<Self> {
        let n = self.boxes.size()[0];
        let size = masks.size();
        if size.len() != 3 || size[0] != n {
            return Err(TrainError::invalid(format!(
                "targets: masks must be [N={n}, H, W], got {size:?}"
            )));
        }
        expect_device(&masks, self.boxes.device(), "targets")?;
        let valid = match is_valid_mask {
            Some(valid) => {
                expect_shape(&valid, &[n], "targets", "is_valid_mask")?;
                expect_device(&valid, self.boxes.device(), "targets")?;
                valid.to_kind(Kind::Bool)
            }
            None => Tensor::ones([n], (Kind::Bool, self.boxes.device())),
        };
        self.masks = Some(masks);
        self.is_valid_mask = Some(valid);
        Ok(self)
    }

    /// Adds semantic masks `[B, H, W]`; without them the semantic loss uses the union of the instance masks.
    pub fn with_semantic_masks(mut self, semantic_masks: Tensor) -> Result<Self> {
        let batch = self.num_boxes.len() as i64;
        let size = semantic_masks.size();
        if size.len() != 3 || size[0] != batch {
            return Err(TrainError::invalid(format!(
                "targets: semantic_masks must be [B={batch}, H, W], got {size:?}"
            )));
        }
        expect_device(&semantic_masks, self.boxes.device(), "targets")?;
        self.semantic_masks = Some(semantic_masks);
        Ok(self)
    }

    /// Packed target boxes `[N, 4]`, normalized cxcywh.
    pub fn boxes(&self) -> &Tensor {
        &self.boxes
    }
    /// Packed target boxes `[N, 4]` as xyxy.
    pub fn boxes_xyxy(&self) -> &Tensor {
        &self.boxes_xyxy
    }
    /// Target boxes padded with zeros to `[B, T, 4]`.
    pub fn boxes_padded(&self) -> &Tensor {
        &self.boxes_padded
    }
    /// Number of target boxes of each find query.
    pub fn num_boxes(&self) -> &[i64] {
        &self.num_boxes
    }
    /// The number of find queries B.
    pub fn batch_size(&self) -> i64 {
        self.num_boxes.len() as i64
    }
    /// Object ids padded with -1 to `[B, T]`.
    pub fn object_ids_padded(&self) -> &Tensor {
        &self.object_ids_padded
    }
    /// Whether each find query is exhaustively annotated, `[B]` bool.
    pub fn is_exhaustive(&self) -> &Tensor {
        &self.is_exhaustive
    }
    /// Packed instance masks `[N, H, W]`, if the data has segmentation.
    pub fn masks(&self) -> Option<&Tensor> {
        self.masks.as_ref()
    }
    /// Which instance masks are valid, `[N]` bool (present with `masks`).
    pub fn is_valid_mask(&self) -> Option<&Tensor> {
        self.is_valid_mask.as_ref()
    }
    /// Semantic masks `[B, H, W]`, if given.
    pub fn semantic_masks(&self) -> Option<&Tensor> {
        self.semantic_masks.as_ref()
    }
    pub(crate) fn device(&self) -> Device {
        self.boxes.device()
    }
}

/// `[N, ...]` packed rows to `[B, T, ...]` (upstream `packed_to_padded_naive`).
fn packed_to_padded(packed: &Tensor, counts: &[i64], max: i64, fill: f64) -> Result<Tensor> {
    let mut shape = vec![counts.len() as i64, max];
    shape.extend_from_slice(&packed.size()[1..]);
    let mut padded = Tensor::full(shape, fill, (packed.kind(), packed.device()));
    let mut batch_index = Vec::new();
    let mut slot_index = Vec::new();
    for (b, &n) in counts.iter().enumerate() {
        for slot in 0..n {
            batch_index.push(b as i64);
            slot_index.push(slot);
        }
    }
    if !batch_index.is_empty() {
        let device = packed.device();
        let rows = Tensor::from_slice(&batch_index).to_device(device);
        let slots = Tensor::from_slice(&slot_index).to_device(device);
        let _ = padded.f_index_put_(&[Some(rows), Some(slots)], packed, false)?;
    }
    Ok(padded)
}

pub(crate) fn expect_shape(tensor: &Tensor, shape: &[i64], what: &str, name: &str) -> Result<()> {
    if tensor.size() != shape {
        return Err(TrainError::invalid(format!(
            "{what}: {name} must have shape {shape:?}, got {:?}",
            tensor.size()
        )));
    }
    Ok(())
}

pub(crate) fn expect_float(tensor: &Tensor, what: &str) -> Result<()> {
    if !tensor.is_floating_point() {
        return Err(TrainError::invalid(format!(
            "{what}: predictions must be floating point, got {:?}",
            tensor.kind()
        )));
    }
    Ok(())
}

pub(crate) fn expect_device(tensor: &Tensor, device: Device, what: &str) -> Result<()> {
    if tensor.device() != device {
        return Err(TrainError::invalid(format!(
            "{what}: all tensors must be on {device:?}, found one on {:?}",
            tensor.device()
        )));
    }
    Ok(())
}
