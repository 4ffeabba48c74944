//! One training step on a batch of clips (`SAM2Train.forward` + `MultiStepMultiMasksAndIous`); see the module
//! docs of `temporal` for what it does.

use super::clip::ClipObjects;
use super::model::VideoModel;
use super::prompts::{
    concat_points, sample_box_points, sample_points_from_errors, BOX_NOISE, BOX_NOISE_BOUND,
};
use super::recipe::{FramePrompt, PromptPlan, TrackerTrainingRecipe};
use super::TemporalError;
use crate::data::{Batch, Rng};
use crate::model::tracker::{
    mem_selection_score, FrameFeatures, FrameOutput, MemoryBank, PointPrompt, SamHeadsOutput,
    StepInputs,
};
use crate::train::amp::Autocast;
use crate::train::loss::{LossDict, TrackerFrameOutputs, TrackerLossFn};
use tch::{Kind, Tensor};

/// Separates the prompting stream of a step from other uses of the same seed.
const PROMPT_STREAM: u64 = 0x7072_6f6d_7074; // "prompt"

/// How a step runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOptions {
    /// Seeds torch's generator (dropout, stochastic depth, prompt noise) and the prompting choices: the same
    /// seed gives the same step.
    pub seed: u64,
    /// Autocast the forward pass to this dtype (`BFloat16`, or `Half` on CUDA); None: fp32.
    pub autocast: Option<Kind>,
}

/// What a step produced.
#[derive(Debug)]
pub struct StepOutput {
    /// Upstream's loss keys (`loss_mask`, `loss_dice`, `loss_iou`, `loss_class`, `core_loss`), summed over
    /// frames; back-propagate `core_loss`.
    pub losses: LossDict,
    /// Objects tracked (over all clips of the batch).
    pub num_objects: usize,
    /// How the clips were prompted.
    pub plan: PromptPlan,
}

/// One frame's predictions, every prediction step kept for the loss.
struct FrameSteps {
    masks: Vec<Tensor>,
    ious: Vec<Tensor>,
    scores: Vec<Tensor>,
}

impl FrameSteps {
    fn new() -> Self {
        FrameSteps {
            masks: Vec::new(),
            ious: Vec::new(),
            scores: Vec::new(),
        }
    }

    fn push(&mut self, multimasks_high_res: &Tensor, ious: &Tensor, scores: &Tensor) {
        self.masks.push(multimasks_high_res.shallow_clone());
        self.ious.push(ious.shallow_clone());
        self.scores.push(scores.shallow_clone());
    }

    fn into_loss_input(self) -> TrackerFrameOutputs {
        TrackerFrameOutputs {
            multistep_pred_multimasks_high_res: self.masks,
            multistep_pred_ious: self.ious,
            multistep_object_score_logits: self.scores,
        }
    }
}

fn tracker_error(e: crate::model::tracker::TrackerError) -> TemporalError {
    TemporalError::Input(e.to_string())
}

/// A frame prompted with clicks, or tracked and then corrected (`SAM2Train.track_step` without a mask input):
/// memory attention once, the SAM heads for the first prediction and again after each correction click
/// (fed the previous low-resolution mask), then the memory of the final prediction.
#[allow(clippy::too_many_arguments)]
fn clicked_or_tracked_frame(
    model: &VideoModel,
    feats: &FrameFeatures,
    step: &StepInputs,
    bank: &MemoryBank,
    gt: &Tensor,
    gt_float: &Tensor,
    corrections: usize,
    recipe: &TrackerTrainingRecipe,
    rng: &mut Rng,
    steps: &mut FrameSteps,
) -> Result<FrameOutput, TemporalError> {
    let tracker = &model.tracker;
    let pix_with_mem = tracker
        .attend_memory(feats, step, bank, true)
        .map_err(tracker_error)?;
    let high_res = (&feats.high_res_s0, &feats.high_res_s1);
    let heads = |points: Option<&PointPrompt>, mask: Option<&Tensor>| {
        tracker
            .forward_sam_heads(
                &pix_with_mem,
                points,
                mask,
                high_res,
                tracker.use_multimask(step.is_init_cond_frame, points),
                Some(gt_float),
                true,
            )
            .map_err(tracker_error)
    };
    let mut points: Option<PointPrompt> = step.points.map(|p| PointPrompt {
        coords: p.coords.shallow_clone(),
        labels: p.labels.shallow_clone(),
    });
    let mut sam: SamHeadsOutput = heads(points.as_ref(), None)?;
    steps.push(
        &sam.high_res_multimasks,
        &sam.ious,
        &sam.object_score_logits,
    );
    for _ in 0..corrections {
        // With a small probability the click comes from the ground truth instead of the error region.
        let from_gt =
            recipe.prob_to_sample_from_gt > 0.0 && rng.uniform() < recipe.prob_to_sample_from_gt;
        let predicted = (!from_gt).then(|| sam.high_res_masks.gt(0.0));
        let click = sample_points_from_errors(gt, predicted.as_ref(), 1);
        let all = concat_points(points.as_ref(), click);
        sam = heads(Some(&all), Some(&sam.low_res_masks))?;
        steps.push(
            &sam.high_res_multimasks,
            &sam.ious,
            &sam.object_score_logits,
        );
        points = Some(all);
    }
    let eff_iou_score = if tracker.cfg.use_memory_selection {
        Some(f64::try_from(mem_selection_score(
            &sam.object_score_logits,
            &sam.ious.amax(-1, false),
        ))?)
    } else {
        None
    };
    let memory = tracker.encode_memory(
        &feats.vision_feat,
        &sam.high_res_masks,
        &sam.object_score_logits,
        points.is_some(),
        true,
    );
    Ok(FrameOutput {
        pred_masks: sam.low_res_masks,
        pred_masks_high_res: sam.high_res_masks,
        multimasks: sam.low_res_multimasks,
        multimasks_high_res: sam.high_res_multimasks,
        ious: sam.ious,
        obj_ptr: sam.obj_ptr,
        object_score_logits: sam.object_score_logits,
        maskmem_features: Some(memory.features),
        maskmem_pos_enc: Some(memory.pos_enc),
        eff_iou_score,
    })
}

impl VideoModel {
    /// One training step on a batch of clips (from a YTVIS dataset with masks, one stage per frame): prompts
    /// from the ground truth, tracking through the memory, correction clicks, and the tracker loss on every
    /// frame. `Ok(None)` when no clip has an object on its first frame (SAM 2 would sample another clip; the
    /// caller skips the batch). Torch's generator is re-seeded with `options.seed`.
    pub fn train_step(
        &self,
        batch: &Batch,
        recipe: &TrackerTrainingRecipe,
        loss: &TrackerLossFn,
        options: &StepOptions,
    ) -> Result<Option<StepOutput>, TemporalError> {
        recipe.validate().map_err(TemporalError::Config)?;
        let s = self.config.tracker.image_size;
        let size = batch.images.size();
        if size.len() != 4 || size[2] != s || size[3] != s {
            return Err(TemporalError::Input(format!(
                "clip frames must be {s}x{s} (the model's resolution; resize or pad in the pipeline), got {size:?}"
            )));
        }
        tch::manual_seed(options.seed as i64);
        let mut rng = Rng::from_words(&[options.seed, PROMPT_STREAM]);
        let device = self.device();
        let batch_on_device;
        let batch = if batch.images.device() == device {
            batch
        } else {
            batch_on_device = batch.to_device(device);
            &batch_on_device
        };
        let objects =
            ClipObjects::from_batch(batch)?.sample_for_training(recipe.max_objects, &mut rng);
        if objects.is_empty() {
            return Ok(None);
        }
        let num_frames = objects.num_frames;
        let plan = recipe.plan(num_frames, &mut rng);

        let frames = {
            let _autocast = options
                .autocast
                .map(|kind| Autocast::enter(device, kind))
                .transpose()
                .map_err(|e| TemporalError::Config(e.to_string()))?;
            self.track_clip_for_training(batch, &objects, &plan, recipe, &mut rng)?
        };
        let targets = objects.masks.to_kind(Kind::Float);
        let losses = loss
            .forward(&frames, &targets, None)
            .map_err(|e| TemporalError::Input(e.to_string()))?;
        Ok(Some(StepOutput {
            losses,
            num_objects: objects.len(),
            plan,
        }))
    }

    fn track_clip_for_training(
        &self,
        batch: &Batch,
        objects: &ClipObjects,
        plan: &PromptPlan,
        recipe: &TrackerTrainingRecipe,
        rng: &mut Rng,
    ) -> Result<Vec<TrackerFrameOutputs>, TemporalError> {
        let num_frames = objects.num_frames;
        // Only the images the sampled objects look at (usually all of them).
        let features = if recipe.freeze_backbone {
            tch::no_grad(|| self.tracker_features(&batch.images, true))?
        } else {
            self.tracker_features(&batch.images, true)?
        };
        let mut bank = MemoryBank::new();
        let mut per_frame: Vec<Option<FrameSteps>> = (0..num_frames).map(|_| None).collect();
        for &t in &plan.processing_order {
            let feats = features.select(&objects.image_index.get(t as i64));
            let gt = objects.masks.get(t as i64).unsqueeze(1);
            let is_init_cond_frame = plan.is_init_cond(t);
            let corrected = plan.frames_to_correct.contains(&t);
            let mut steps = FrameSteps::new();
            let points = match plan.prompt_of(t) {
                Some(FramePrompt::Box) => Some(sample_box_points(&gt, BOX_NOISE, BOX_NOISE_BOUND)),
                Some(FramePrompt::Click) => Some(sample_points_from_errors(&gt, None, 1)),
                Some(FramePrompt::Mask) | None => None,
            };
            let gt_float = gt.to_kind(Kind::Float);
            let mask_prompt = plan.prompt_of(t) == Some(FramePrompt::Mask);
            let step = StepInputs {
                frame_idx: t as i64,
                is_init_cond_frame,
                num_frames: num_frames as i64,
                points: points.as_ref(),
                mask_inputs: mask_prompt.then_some(&gt_float),
                gt_masks: Some(&gt_float),
                ..Default::default()
            };
            let output = if mask_prompt {
                // The ground-truth mask is the output (`_use_mask_as_output`); nothing to correct.
                let out = self
                    .tracker
                    .track_step(&feats, &step, &bank, true)
                    .map_err(tracker_error)?;
                steps.push(
                    &out.multimasks_high_res,
                    &out.ious,
                    &out.object_score_logits,
                );
                out
            } else {
                let corrections = if corrected {
                    recipe.num_correction_pt_per_frame
                } else {
                    0
                };
                clicked_or_tracked_frame(
                    self,
                    &feats,
                    &step,
                    &bank,
                    &gt,
                    &gt_float,
                    corrections,
                    recipe,
                    rng,
                    &mut steps,
                )?
            };
            let is_cond =
                is_init_cond_frame || (recipe.add_all_frames_to_correct_as_cond && corrected);
            bank.insert(t as i64, output.memory(), is_cond);
            per_frame[t] = Some(steps);
        }
        Ok(per_frame
            .into_iter()
            .map(|s| {
                s.expect("the processing order covers every frame")
                    .into_loss_input()
            })
            .collect())
    }
}
