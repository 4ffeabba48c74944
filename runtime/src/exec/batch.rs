//! The glue between the data loader, the model and the loss: a collated [`Batch`] becomes the model's
//! [`FindBatch`] and the loss's [`FindTargets`]; the model's [`Sam3ImageOutput`] becomes the loss's
//! [`FindOutputs`] (main layer, auxiliary layers, one-to-many queries, masks, semantic map).

use crate::data::{Batch, StageBatch};
use crate::model::{FindBatch, GeometricPrompt, Sam3ImageOutput, TextPrompts};
use crate::text::Tokenizer;
use crate::train::loss::{FindOutputs, FindTargets, LayerOutputs, QueryPredictions};
use crate::train::TrainError;
use tch::{Device, Kind, Tensor};

/// The model input of the (single) find stage of an image batch, on `device`.
pub fn find_batch(
    batch: &Batch,
    stage: &StageBatch,
    context_length: i64,
    device: Device,
) -> FindBatch {
    let tokens = Tokenizer::shared().tokenize(&batch.texts, context_length as usize);
    let queries = stage.image_ids.size()[0];
    let prompts = stage.box_prompts.size()[0];
    let geometry = (prompts > 0).then(|| {
        let empty = GeometricPrompt::empty(queries, device);
        GeometricPrompt {
            boxes: stage.box_prompts.to_device(device),
            // The collator marks padding with true; the model's mask means the same (key padding).
            box_mask: stage.box_prompt_mask.to_device(device),
            box_labels: stage.box_prompt_labels.to_device(device),
            ..empty
        }
    });
    FindBatch {
        images: batch.images.to_device(device),
        text: TextPrompts::Tokens(tokens.to_device(device)),
        img_ids: stage.image_ids.to_device(device),
        text_ids: stage.text_ids.to_device(device),
        geometry,
    }
}

/// The loss targets of a find stage, on `device`; masks only when `with_masks` (the model predicts masks and
/// the data has them).
pub fn find_targets(
    stage: &StageBatch,
    with_masks: bool,
    device: Device,
) -> Result<FindTargets, TrainError> {
    let t = &stage.targets;
    let num_boxes = Vec::<i64>::try_from(&t.num_boxes)?;
    let targets = FindTargets::new(
        t.boxes.to_device(device),
        &num_boxes,
        t.object_ids.to_device(device),
        t.is_exhaustive.to_device(device),
    )?;
    match (&t.masks, with_masks) {
        (Some(masks), true) => targets.with_masks(
            masks.to_device(device),
            t.is_valid_mask.as_ref().map(|v| v.to_device(device)),
        ),
        _ => Ok(targets),
    }
}

/// The model's outputs as the loss reads them. The one-to-one matching is left to the loss (`indices: None`),
/// which runs the model's Hungarian matcher as upstream's model does.
pub fn find_outputs(out: Sam3ImageOutput) -> FindOutputs {
    let Sam3ImageOutput {
        o2o,
        presence_logit_dec,
        pred_masks,
        semantic_seg,
        o2m,
        pred_masks_o2m,
        aux_outputs,
        ..
    } = out;
    let main = LayerOutputs {
        o2o: QueryPredictions {
            pred_logits: o2o.pred_logits,
            pred_boxes: o2o.pred_boxes,
            pred_boxes_xyxy: Some(o2o.pred_boxes_xyxy),
            presence_logit_dec: Some(presence_logit_dec),
            pred_masks,
        },
        o2m: o2m.map(|p| QueryPredictions {
            pred_logits: p.pred_logits,
            pred_boxes: p.pred_boxes,
            pred_boxes_xyxy: Some(p.pred_boxes_xyxy),
            presence_logit_dec: None,
            pred_masks: pred_masks_o2m,
        }),
        indices: None,
    };
    let aux = aux_outputs
        .into_iter()
        .map(|a| LayerOutputs {
            o2o: QueryPredictions {
                pred_logits: a.o2o.pred_logits,
                pred_boxes: a.o2o.pred_boxes,
                pred_boxes_xyxy: Some(a.o2o.pred_boxes_xyxy),
                presence_logit_dec: Some(a.presence_logit_dec),
                pred_masks: None,
            },
            o2m: a.o2m.map(|p| QueryPredictions {
                pred_logits: p.pred_logits,
                pred_boxes: p.pred_boxes,
                pred_boxes_xyxy: Some(p.pred_boxes_xyxy),
                presence_logit_dec: None,
                pred_masks: None,
            }),
            indices: None,
        })
        .collect();
    FindOutputs {
        main,
        aux,
        first_stage: None,
        semantic_seg,
        semantic_presence_logit: None,
    }
}

/// Number of images of a batch (a float for throughput arithmetic).
pub fn images_in(batch: &Batch) -> f64 {
    batch.images.size().first().copied().unwrap_or(0) as f64
}

/// `[N]` bool → `Vec<bool>`.
pub(crate) fn bools(t: &Tensor) -> Result<Vec<bool>, TrainError> {
    Ok(Vec::<bool>::try_from(
        &t.to_kind(Kind::Bool).to_device(Device::Cpu),
    )?)
}
