//! SAM 3's tracker on tch (`Sam3TrackerBase` of `sam3/model/sam3_tracker_base.py`, built as
//! `model_builder.py::build_tracker` builds it; every size comes from [`TrackerConfig`]).
//!
//! The tracker has no backbone: it takes the detector's `sam2_convs` neck outputs (three levels, the two
//! high-resolution ones projected by the mask decoder's `conv_s0`/`conv_s1`, see [`Tracker::frame_features`]).
//! Per frame it
//! 1. conditions the frame's features on the memory bank ([`Tracker::attend_memory`]: RoPE memory attention over
//!    past mask memories and object pointers),
//! 2. decodes masks from prompts ([`Tracker::forward_sam_heads`], or [`Tracker::use_mask_as_output`] for a mask
//!    prompt),
//! 3. encodes the prediction into a new memory ([`Tracker::encode_memory`]).
//!
//! [`Tracker::track_step`] chains the three like upstream's `track_step`; a temporal training loop calls it (or
//! the pieces) frame by frame, inserting each [`FrameOutput`] into a [`MemoryBank`]. Every method takes `train`:
//! dropout and the training-only branches of upstream follow it (`self.training`). Parameter names are the
//! upstream state-dict names (VarStore paths), so `tracker_params` describes the VarStore exactly.
//!
//! ```no_run
//! # use sam3c_runtime::model::tracker::*;
//! # use tch::{nn, Device, Tensor};
//! # fn neck(t: i64) -> ([Tensor; 3], Tensor) { unimplemented!() }
//! # fn main() -> Result<(), TrackerError> {
//! let vs = nn::VarStore::new(Device::cuda_if_available());
//! let tracker = Tracker::new(vs.root() / "tracker", &TrackerConfig::full())?;
//! let click = PointPrompt { coords: Tensor::from_slice(&[500f32, 400.]).view([1, 1, 2]),
//!                           labels: Tensor::from_slice(&[1i32]).view([1, 1]) };
//! let mut bank = MemoryBank::new();
//! let mut losses = Vec::new();
//! for t in 0..8 {
//!     let ([l0, l1, l2], pos) = neck(t); // the detector's sam2_convs levels for frame t
//!     let feats = tracker.frame_features([&l0, &l1, &l2], &pos)?;
//!     let step = StepInputs { frame_idx: t, is_init_cond_frame: t == 0, num_frames: 8,
//!                             points: (t == 0).then_some(&click), ..Default::default() };
//!     let out = tracker.track_step(&feats, &step, &bank, true)?;
//!     losses.push(out.pred_masks.mean(tch::Kind::Float)); // a mask loss against the ground truth here
//!     bank.insert(t, out.memory(), t == 0);
//! }
//! Tensor::stack(&losses, 0).sum(tch::Kind::Float).backward();
//! # Ok(()) }
//! ```

pub mod blocks;
pub mod mask_decoder;
pub mod memory_attention;
pub mod memory_encoder;
pub mod prompt_encoder;
pub mod rope;

use crate::model::common::{linear, Mlp};
use blocks::{conv2d, sine_dim_t, small_normal};
use mask_decoder::MaskDecoder;
use memory_attention::MemoryAttention;
use memory_encoder::{EncodedMemory, MemoryEncoder};
use prompt_encoder::PromptEncoder;
pub use sam3c_stdlib::arch::tracker::TrackerConfig;
use sam3c_stdlib::arch::tracker::{MASK_DOWNSAMPLE_STRIDE, OBJ_PTR_PROJ_LAYERS};
use std::collections::BTreeMap;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// Mask logit given to every pixel of a frame where the object is judged absent (upstream `NO_OBJ_SCORE`).
pub const NO_OBJ_SCORE: f64 = -1024.0;

/// Bad input to the tracker: the message names the argument and the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error("invalid tracker configuration: {0}")]
    Config(String),
    #[error("tracker input: {0}")]
    Input(String),
}

/// Point prompts in pixel coordinates of the `image_size` input: `coords: [B, P, 2]` (x, y), `labels: [B, P]`
/// (1 positive, 0 negative, 2/3 box top-left/bottom-right corners, -1 padding).
#[derive(Debug)]
pub struct PointPrompt {
    pub coords: Tensor,
    pub labels: Tensor,
}

/// One frame's image features, as the tracker consumes them.
#[derive(Debug)]
pub struct FrameFeatures {
    /// The 4x-resolution neck level after `conv_s0`: `[B, d_model / 8, 4h, 4w]`.
    pub high_res_s0: Tensor,
    /// The 2x-resolution neck level after `conv_s1`: `[B, d_model / 4, 2h, 2w]`.
    pub high_res_s1: Tensor,
    /// The lowest-resolution neck level: `[B, d_model, h, w]` (h = w = `image_size / backbone_stride`).
    pub vision_feat: Tensor,
    /// Its sine position encoding: `[B, d_model, h, w]`.
    pub vision_pos: Tensor,
}

/// What the SAM heads produce for a frame (`_forward_sam_heads`).
#[derive(Debug)]
pub struct SamHeadsOutput {
    /// `[B, M, 4h, 4w]` mask logits, M = 3 with multimask output, else 1; `NO_OBJ_SCORE` where no object.
    pub low_res_multimasks: Tensor,
    /// `[B, M, image_size, image_size]`, bilinear upsampling of the above.
    pub high_res_multimasks: Tensor,
    /// `[B, M]` predicted IoUs.
    pub ious: Tensor,
    /// `[B, 1, 4h, 4w]`: the mask with the best predicted IoU.
    pub low_res_masks: Tensor,
    /// `[B, 1, image_size, image_size]`.
    pub high_res_masks: Tensor,
    /// `[B, d_model]` object pointer (`no_obj_ptr` where no object).
    pub obj_ptr: Tensor,
    /// `[B, 1]` object-presence logits.
    pub object_score_logits: Tensor,
}

/// The inputs of one tracking step besides the image features.
#[derive(Debug, Default)]
pub struct StepInputs<'a> {
    pub frame_idx: i64,
    /// An initial conditioning frame (prompted, processed before the others): it attends to no memory.
    pub is_init_cond_frame: bool,
    /// Frames in the clip (bounds object-pointer lookup).
    pub num_frames: i64,
    pub points: Option<&'a PointPrompt>,
    /// A mask prompt `[B, 1, H, W]` (probabilities or binary), used directly as the output.
    pub mask_inputs: Option<&'a Tensor>,
    /// Ground-truth masks `[B, 1, H, W]`, only for `teacher_force_obj_scores_for_mem` in training.
    pub gt_masks: Option<&'a Tensor>,
    pub track_in_reverse: bool,
    /// Skip the memory encoder (e.g. intermediate clicks); the output then cannot serve as memory.
    pub skip_memory_encoder: bool,
    /// Previous mask logits `[B, 1, 4h, 4w]` fed back with new clicks (demo-style refinement).
    pub prev_sam_mask_logits: Option<&'a Tensor>,
    /// Attend to no memory even on a non-initial frame (upstream `use_prev_mem_frame=False`).
    pub ignore_memory: bool,
}

/// The tracker's output on one frame (upstream `current_out`), plus the multimask outputs a loss needs.
#[derive(Debug)]
pub struct FrameOutput {
    /// `[B, 1, 4h, 4w]` low-resolution mask logits.
    pub pred_masks: Tensor,
    /// `[B, 1, image_size, image_size]`.
    pub pred_masks_high_res: Tensor,
    /// `[B, M, 4h, 4w]` / `[B, M, image_size, image_size]` all candidate masks (M = 1 or 3).
    pub multimasks: Tensor,
    pub multimasks_high_res: Tensor,
    /// `[B, M]` predicted IoUs of the candidates.
    pub ious: Tensor,
    /// `[B, d_model]`.
    pub obj_ptr: Tensor,
    /// `[B, 1]`.
    pub object_score_logits: Tensor,
    /// `[B, mem_dim, h, w]` memory features and their position encoding (None when the encoder was skipped).
    pub maskmem_features: Option<Tensor>,
    pub maskmem_pos_enc: Option<Tensor>,
    /// Memory-selection score (`eff_iou_score`), computed when `use_memory_selection` is on.
    pub eff_iou_score: Option<f64>,
}

impl FrameOutput {
    /// What later frames need from this one (tensors are shared, so gradients flow through the bank).
    pub fn memory(&self) -> FrameMemory {
        FrameMemory {
            maskmem_features: self.maskmem_features.as_ref().map(Tensor::shallow_clone),
            maskmem_pos_enc: self.maskmem_pos_enc.as_ref().map(Tensor::shallow_clone),
            obj_ptr: self.obj_ptr.shallow_clone(),
            eff_iou_score: self.eff_iou_score,
        }
    }
}

/// One frame's entry in the memory bank.
#[derive(Debug)]
pub struct FrameMemory {
    pub maskmem_features: Option<Tensor>,
    pub maskmem_pos_enc: Option<Tensor>,
    pub obj_ptr: Tensor,
    pub eff_iou_score: Option<f64>,
}

/// Past frames of one clip (upstream `output_dict`): conditioning frames (prompted) in insertion order, and
/// non-conditioning (tracked) frames by index.
#[derive(Debug, Default)]
pub struct MemoryBank {
    cond: Vec<(i64, FrameMemory)>,
    non_cond: BTreeMap<i64, FrameMemory>,
}

impl MemoryBank {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) frame `frame_idx`, as a conditioning frame or a tracked one.
    pub fn insert(&mut self, frame_idx: i64, memory: FrameMemory, is_cond: bool) {
        if is_cond {
            if let Some(slot) = self.cond.iter_mut().find(|(t, _)| *t == frame_idx) {
                slot.1 = memory;
            } else {
                self.cond.push((frame_idx, memory));
            }
        } else {
            self.non_cond.insert(frame_idx, memory);
        }
    }

    pub fn cond_frames(&self) -> impl Iterator<Item = i64> + '_ {
        self.cond.iter().map(|(t, _)| *t)
    }

    pub fn non_cond_frames(&self) -> impl Iterator<Item = i64> + '_ {
        self.non_cond.keys().copied()
    }

    /// Forgets frame `frame_idx` (e.g. memories too old to be attended to again, on long videos).
    pub fn remove(&mut self, frame_idx: i64) {
        self.cond.retain(|(t, _)| *t != frame_idx);
        self.non_cond.remove(&frame_idx);
    }

    pub fn clear(&mut self) {
        self.cond.clear();
        self.non_cond.clear();
    }
}

/// The tracker. Fields are public and named like the upstream modules.
#[derive(Debug)]
pub struct Tracker {
    pub cfg: TrackerConfig,
    pub maskmem_tpos_enc: Tensor,
    pub no_mem_embed: Tensor,
    pub no_mem_pos_enc: Tensor,
    pub no_obj_ptr: Tensor,
    pub no_obj_embed_spatial: Tensor,
    pub mask_downsample: nn::Conv2D,
    /// `transformer.encoder`.
    pub memory_attention: MemoryAttention,
    /// `maskmem_backbone`.
    pub memory_encoder: MemoryEncoder,
    pub sam_prompt_encoder: PromptEncoder,
    pub sam_mask_decoder: MaskDecoder,
    pub obj_ptr_proj: Mlp,
    pub obj_ptr_tpos_proj: nn::Linear,
}

fn shape_error(what: &str, expected: String, got: &Tensor) -> TrackerError {
    TrackerError::Input(format!(
        "`{what}` must be {expected}, got shape {:?}",
        got.size()
    ))
}

fn check_shape(what: &str, t: &Tensor, expected: &[Option<i64>]) -> Result<(), TrackerError> {
    let size = t.size();
    let ok = size.len() == expected.len()
        && size
            .iter()
            .zip(expected)
            .all(|(s, e)| e.is_none_or(|e| e == *s));
    if ok {
        Ok(())
    } else {
        let dims: Vec<String> = expected
            .iter()
            .map(|e| e.map_or("_".to_string(), |e| e.to_string()))
            .collect();
        Err(shape_error(what, format!("[{}]", dims.join(", ")), t))
    }
}

/// Antialiased bilinear resize (`F.interpolate(..., mode="bilinear", antialias=True)`) to `size`x`size`.
fn resize_aa(x: &Tensor, h: i64, w: i64) -> Tensor {
    x.to_kind(Kind::Float)
        .internal_upsample_bilinear2d_aa([h, w], false, None, None)
}

impl Tracker {
    /// Builds the tracker under `p` (the VarStore's device is used). Variables get PyTorch's default inits;
    /// load a checkpoint for real weights.
    pub fn new(p: nn::Path, cfg: &TrackerConfig) -> Result<Self, TrackerError> {
        cfg.validate().map_err(TrackerError::Config)?;
        let d = cfg.d_model;
        Ok(Tracker {
            maskmem_tpos_enc: small_normal(
                &p,
                "maskmem_tpos_enc",
                &[cfg.num_maskmem, 1, 1, cfg.mem_dim],
            ),
            no_mem_embed: small_normal(&p, "no_mem_embed", &[1, 1, d]),
            no_mem_pos_enc: small_normal(&p, "no_mem_pos_enc", &[1, 1, d]),
            no_obj_ptr: small_normal(&p, "no_obj_ptr", &[1, d]),
            no_obj_embed_spatial: small_normal(&p, "no_obj_embed_spatial", &[1, cfg.mem_dim]),
            mask_downsample: conv2d(
                &p / "mask_downsample",
                1,
                1,
                MASK_DOWNSAMPLE_STRIDE,
                MASK_DOWNSAMPLE_STRIDE,
                0,
                1,
            ),
            memory_attention: MemoryAttention::new(&p / "transformer" / "encoder", cfg),
            memory_encoder: MemoryEncoder::new(&p / "maskmem_backbone", cfg),
            sam_prompt_encoder: PromptEncoder::new(&p / "sam_prompt_encoder", cfg),
            sam_mask_decoder: MaskDecoder::new(&p / "sam_mask_decoder", cfg),
            obj_ptr_proj: Mlp::new(&p / "obj_ptr_proj", d, d, d, OBJ_PTR_PROJ_LAYERS),
            obj_ptr_tpos_proj: linear(&p / "obj_ptr_tpos_proj", d, cfg.mem_dim),
            cfg: cfg.clone(),
        })
    }

    /// Frame features from the `sam2_convs` neck (`forward_image`): levels `[4x, 2x, 1x]` of `[B, d_model, ..]`
    /// and the position encoding of the 1x level. Applies `conv_s0`/`conv_s1` to the two high-res levels.
    pub fn frame_features(
        &self,
        neck_levels: [&Tensor; 3],
        vision_pos: &Tensor,
    ) -> Result<FrameFeatures, TrackerError> {
        let d = self.cfg.d_model;
        let f = self.cfg.feat_size();
        check_shape(
            "neck level 0",
            neck_levels[0],
            &[None, Some(d), Some(4 * f), Some(4 * f)],
        )?;
        check_shape(
            "neck level 1",
            neck_levels[1],
            &[None, Some(d), Some(2 * f), Some(2 * f)],
        )?;
        check_shape(
            "neck level 2",
            neck_levels[2],
            &[None, Some(d), Some(f), Some(f)],
        )?;
        check_shape("vision_pos", vision_pos, &[None, Some(d), Some(f), Some(f)])?;
        Ok(FrameFeatures {
            high_res_s0: self.sam_mask_decoder.conv_s0.forward(neck_levels[0]),
            high_res_s1: self.sam_mask_decoder.conv_s1.forward(neck_levels[1]),
            vision_feat: neck_levels[2].shallow_clone(),
            vision_pos: vision_pos.shallow_clone(),
        })
    }

    fn check_features(&self, feats: &FrameFeatures) -> Result<i64, TrackerError> {
        let d = self.cfg.d_model;
        let f = self.cfg.feat_size();
        check_shape(
            "vision_feat",
            &feats.vision_feat,
            &[None, Some(d), Some(f), Some(f)],
        )?;
        let b = feats.vision_feat.size()[0];
        check_shape(
            "vision_pos",
            &feats.vision_pos,
            &[Some(b), Some(d), Some(f), Some(f)],
        )?;
        check_shape(
            "high_res_s0",
            &feats.high_res_s0,
            &[Some(b), Some(d / 8), Some(4 * f), Some(4 * f)],
        )?;
        check_shape(
            "high_res_s1",
            &feats.high_res_s1,
            &[Some(b), Some(d / 4), Some(2 * f), Some(2 * f)],
        )?;
        Ok(b)
    }

    /// Whether the SAM heads give 3 masks for these prompts (`_use_multimask`).
    pub fn use_multimask(&self, is_init_cond_frame: bool, points: Option<&PointPrompt>) -> bool {
        let num_pts = points.map_or(0, |p| p.labels.size().get(1).copied().unwrap_or(0));
        self.cfg.multimask_output_in_sam
            && (is_init_cond_frame || self.cfg.multimask_output_for_tracking)
            && (self.cfg.multimask_min_pt_num..=self.cfg.multimask_max_pt_num).contains(&num_pts)
    }

    /// Prompt encoder + mask decoder on `backbone_features: [B, d_model, h, w]` (`_forward_sam_heads`). Without
    /// points a padding point is used; a mask prompt of another size is resized to the prompt encoder's.
    #[allow(clippy::too_many_arguments)] // upstream's arguments, one for one
    pub fn forward_sam_heads(
        &self,
        backbone_features: &Tensor,
        points: Option<&PointPrompt>,
        mask_inputs: Option<&Tensor>,
        high_res: (&Tensor, &Tensor),
        multimask_output: bool,
        gt_masks: Option<&Tensor>,
        train: bool,
    ) -> Result<SamHeadsOutput, TrackerError> {
        let d = self.cfg.d_model;
        let f = self.cfg.feat_size();
        check_shape(
            "backbone_features",
            backbone_features,
            &[None, Some(d), Some(f), Some(f)],
        )?;
        let b = backbone_features.size()[0];
        let device = backbone_features.device();
        let (coords, labels) = match points {
            Some(p) => {
                check_shape("points.coords", &p.coords, &[Some(b), None, Some(2)])?;
                let n = p.coords.size()[1];
                check_shape("points.labels", &p.labels, &[Some(b), Some(n)])?;
                (p.coords.shallow_clone(), p.labels.shallow_clone())
            }
            None => (
                Tensor::zeros([b, 1, 2], (Kind::Float, device)),
                -Tensor::ones([b, 1], (Kind::Int, device)),
            ),
        };
        let mask_prompt = match mask_inputs {
            Some(m) => {
                check_shape("mask_inputs", m, &[Some(b), Some(1), None, None])?;
                let (h, w) = self.sam_prompt_encoder.mask_input_size();
                let size = m.size();
                Some(if size[2] != h || size[3] != w {
                    resize_aa(m, h, w)
                } else {
                    m.shallow_clone()
                })
            }
            None => None,
        };
        let (sparse, dense) =
            self.sam_prompt_encoder
                .forward(Some((&coords, &labels)), None, mask_prompt.as_ref());
        let image_pe = self.sam_prompt_encoder.dense_pe();
        let dec = self.sam_mask_decoder.forward(
            backbone_features,
            &image_pe,
            &sparse,
            &dense,
            multimask_output,
            high_res,
            train,
        );

        let is_obj_appearing = match (train && self.cfg.teacher_force_obj_scores_for_mem, gt_masks)
        {
            (true, Some(gt)) => gt
                .to_kind(Kind::Float)
                .flatten(1, -1)
                .gt(0.0)
                .any_dim(1, false)
                .unsqueeze(-1),
            (true, None) => {
                return Err(TrackerError::Input(
                    "`teacher_force_obj_scores_for_mem` needs ground-truth masks in training"
                        .into(),
                ))
            }
            (false, _) => dec.object_score_logits.gt(0.0),
        };
        // Spatial memories always make a hard choice between object and no object.
        let low_res_multimasks = dec
            .masks
            .where_scalarother(&is_obj_appearing.view([-1, 1, 1, 1]), NO_OBJ_SCORE)
            .to_kind(Kind::Float);
        let size = self.cfg.image_size;
        let high_res_multimasks =
            low_res_multimasks.upsample_bilinear2d([size, size], false, None, None);

        let (low_res_masks, high_res_masks, sam_output_token) = if multimask_output {
            let best = dec.iou_pred.argmax(-1, false);
            let batch = Tensor::arange(b, (Kind::Int64, device));
            let idx = [Some(batch), Some(best)];
            let token = if dec.sam_tokens_out.size()[1] > 1 {
                dec.sam_tokens_out.index(&idx)
            } else {
                dec.sam_tokens_out.select(1, 0)
            };
            (
                low_res_multimasks.index(&idx).unsqueeze(1),
                high_res_multimasks.index(&idx).unsqueeze(1),
                token,
            )
        } else {
            (
                low_res_multimasks.shallow_clone(),
                high_res_multimasks.shallow_clone(),
                dec.sam_tokens_out.select(1, 0),
            )
        };
        let obj_ptr = self.obj_ptr_proj.forward(&sam_output_token, train);
        let obj_ptr = self.gate_obj_ptr(&obj_ptr, &is_obj_appearing);
        Ok(SamHeadsOutput {
            low_res_multimasks,
            high_res_multimasks,
            ious: dec.iou_pred,
            low_res_masks,
            high_res_masks,
            obj_ptr,
            object_score_logits: dec.object_score_logits,
        })
    }

    /// `obj_ptr` where the object appears, `no_obj_ptr` elsewhere (`is_obj_appearing: [B, 1]` bool).
    fn gate_obj_ptr(&self, obj_ptr: &Tensor, is_obj_appearing: &Tensor) -> Tensor {
        let lambda = is_obj_appearing.to_kind(Kind::Float);
        &lambda * obj_ptr + (1.0 - &lambda) * &self.no_obj_ptr
    }

    /// A mask prompt `[B, 1, H, W]` used directly as the output (logits ±10), with an object pointer from the
    /// SAM heads on the downsampled mask (`_use_mask_as_output`).
    pub fn use_mask_as_output(
        &self,
        backbone_features: &Tensor,
        high_res: (&Tensor, &Tensor),
        mask_inputs: &Tensor,
        train: bool,
    ) -> Result<SamHeadsOutput, TrackerError> {
        check_shape("mask_inputs", mask_inputs, &[None, Some(1), None, None])?;
        let (out_scale, out_bias) = (20.0, -10.0);
        let mask = mask_inputs.to_kind(Kind::Float);
        let high_res_masks = &mask * out_scale + out_bias;
        let size = high_res_masks.size();
        let stride = self.cfg.backbone_stride;
        let low_res_masks = resize_aa(&high_res_masks, size[2] / stride * 4, size[3] / stride * 4);
        let ious = Tensor::ones([size[0], 1], (Kind::Float, mask.device()));
        let sam = self.forward_sam_heads(
            backbone_features,
            None,
            Some(&self.mask_downsample.forward(&mask)),
            high_res,
            false,
            Some(mask_inputs),
            train,
        )?;
        // As for the output, the mask input (not the decoder's score) decides whether the object appears.
        let is_obj_appearing = mask.flatten(1, -1).gt(0.0).any_dim(1, false).unsqueeze(-1);
        let lambda = is_obj_appearing.to_kind(Kind::Float);
        let object_score_logits = &lambda * out_scale + out_bias;
        let obj_ptr = self.gate_obj_ptr(&sam.obj_ptr, &is_obj_appearing);
        Ok(SamHeadsOutput {
            low_res_multimasks: low_res_masks.shallow_clone(),
            high_res_multimasks: high_res_masks.shallow_clone(),
            ious,
            low_res_masks,
            high_res_masks,
            obj_ptr,
            object_score_logits,
        })
    }

    /// Conditions the frame's features on the memory bank (`_prepare_memory_conditioned_features`):
    /// `[B, d_model, h, w]`. Initial conditioning frames (and `ignore_memory`) get `no_mem_embed` instead.
    pub fn attend_memory(
        &self,
        feats: &FrameFeatures,
        step: &StepInputs,
        bank: &MemoryBank,
        train: bool,
    ) -> Result<Tensor, TrackerError> {
        let b = self.check_features(feats)?;
        let cfg = &self.cfg;
        let (c, mem_dim) = (cfg.d_model, cfg.mem_dim);
        let pix = &feats.vision_feat;
        if cfg.num_maskmem == 0 {
            return Ok(pix.shallow_clone());
        }
        if step.is_init_cond_frame || step.ignore_memory {
            return Ok(pix + self.no_mem_embed.view([1, c, 1, 1]));
        }
        if bank.cond.is_empty() {
            return Err(TrackerError::Input(format!(
                "frame {} is not an initial conditioning frame but the memory bank has no conditioning frame",
                step.frame_idx
            )));
        }
        let frame_idx = step.frame_idx;
        let sign = if step.track_in_reverse { -1 } else { 1 };
        let (selected, unselected) = select_closest_cond_frames(
            frame_idx,
            &bank.cond,
            cfg.max_cond_frames_in_attn,
            cfg.keep_first_cond_frame,
        );
        let lookup = |t: i64| {
            bank.non_cond
                .get(&t)
                .or_else(|| unselected.iter().find(|(u, _)| *u == t).map(|(_, m)| *m))
        };

        // Spatial memories: the selected conditioning frames (temporal slot 0), then the last num_maskmem - 1
        // frames (or, with memory selection, the last good ones).
        let mut slots: Vec<(i64, &FrameMemory, bool)> = selected
            .iter()
            .map(|(t, m)| ((frame_idx - t) * sign, *m, true))
            .collect();
        let r = if train {
            1
        } else {
            cfg.memory_temporal_stride_for_eval
        };
        let valid_indices = if cfg.use_memory_selection {
            frame_filter(bank, step, cfg, r)
        } else {
            Vec::new()
        };
        for t_pos in 1..cfg.num_maskmem {
            let t_rel = cfg.num_maskmem - t_pos;
            let prev = if cfg.use_memory_selection {
                if t_rel as usize > valid_indices.len() {
                    continue;
                }
                valid_indices[valid_indices.len() - t_rel as usize]
            } else if t_rel == 1 {
                frame_idx - sign * t_rel
            } else if !step.track_in_reverse {
                (frame_idx - 2).div_euclid(r) * r - (t_rel - 2) * r
            } else {
                -(-(frame_idx + 2)).div_euclid(r) * r + (t_rel - 2) * r
            };
            if let Some(m) = lookup(prev) {
                slots.push((t_pos, m, false));
            }
        }
        let (mut prompt, mut prompt_pos) = (Vec::new(), Vec::new());
        for (t_pos, mem, is_cond) in slots {
            let (Some(features), Some(pos)) = (&mem.maskmem_features, &mem.maskmem_pos_enc) else {
                return Err(TrackerError::Input(
                    "a memory frame was stored without memory features (its memory encoder was skipped)"
                        .into(),
                ));
            };
            check_shape(
                "memory features",
                features,
                &[Some(b), Some(mem_dim), None, None],
            )?;
            let t = if is_cond { 0 } else { t_pos };
            let tpos = self
                .maskmem_tpos_enc
                .get(cfg.num_maskmem - t - 1)
                .view([1, 1, mem_dim]);
            prompt.push(features.flatten(2, -1).permute([0, 2, 1]));
            prompt_pos.push(pos.flatten(2, -1).permute([0, 2, 1]) + tpos);
        }

        // Object pointers: the selected conditioning frames (in eval only those not in the future), then up to
        // max_obj_ptrs - 1 previous frames.
        let max_obj_ptrs = step.num_frames.min(cfg.max_obj_ptrs_in_encoder);
        let mut ptrs: Vec<(i64, &Tensor)> = selected
            .iter()
            .filter(|(t, _)| {
                train
                    || if step.track_in_reverse {
                        *t >= frame_idx
                    } else {
                        *t <= frame_idx
                    }
            })
            .map(|(t, m)| ((frame_idx - t) * sign, &m.obj_ptr))
            .collect();
        for t_diff in 1..max_obj_ptrs {
            let t = if cfg.use_memory_selection {
                if t_diff as usize >= valid_indices.len() {
                    break;
                }
                valid_indices[valid_indices.len() - t_diff as usize]
            } else {
                let t = frame_idx + sign * -t_diff;
                if t < 0 || t >= step.num_frames {
                    break;
                }
                t
            };
            if let Some(m) = lookup(t) {
                ptrs.push((t_diff, &m.obj_ptr));
            }
        }
        let mut num_obj_ptr_tokens = 0;
        if !ptrs.is_empty() {
            let obj_ptrs = Tensor::stack(&ptrs.iter().map(|(_, p)| *p).collect::<Vec<_>>(), 1);
            let rel: Vec<i64> = ptrs.iter().map(|(t, _)| *t).collect();
            let obj_pos = self.obj_ptr_pos_enc(&rel, max_obj_ptrs, obj_ptrs.device());
            let n = rel.len() as i64;
            let mut obj_pos = obj_pos.unsqueeze(0).expand([b, n, mem_dim], false);
            let mut obj_ptrs = obj_ptrs;
            if mem_dim < c {
                // A pointer becomes d_model / mem_dim tokens of mem_dim channels.
                let split = c / mem_dim;
                obj_ptrs = obj_ptrs.reshape([b, n * split, mem_dim]);
                obj_pos = obj_pos.repeat_interleave_self_int(split, 1, None);
            }
            num_obj_ptr_tokens = obj_ptrs.size()[1];
            prompt.push(obj_ptrs);
            prompt_pos.push(obj_pos);
        }
        if prompt.is_empty() {
            return Err(TrackerError::Input(format!(
                "frame {frame_idx}: no memory to attend to (the conditioning frames were filtered out)"
            )));
        }
        let memory = Tensor::cat(&prompt, 1);
        let memory_pos = Tensor::cat(&prompt_pos, 1);
        let size = pix.size();
        let (h, w) = (size[2], size[3]);
        let src = pix.flatten(2, -1).permute([0, 2, 1]);
        let src_pos = feats.vision_pos.flatten(2, -1).permute([0, 2, 1]);
        let out = self.memory_attention.forward(
            &src,
            &src_pos,
            &memory,
            &memory_pos,
            (h, w),
            num_obj_ptr_tokens,
            train,
        );
        Ok(out.permute([0, 2, 1]).reshape([b, c, h, w]))
    }

    /// Temporal encoding of object pointers at relative positions `rel` (`_get_tpos_enc`): `[N, mem_dim]`.
    fn obj_ptr_pos_enc(&self, rel: &[i64], max_abs_pos: i64, device: tch::Device) -> Tensor {
        let t_diff_max = (max_abs_pos - 1) as f64;
        let pos = Tensor::from_slice(rel)
            .to_device(device)
            .to_kind(Kind::Float)
            / t_diff_max;
        let dim = self.cfg.d_model;
        let pe = pos.unsqueeze(-1) / sine_dim_t(dim / 2, device);
        let pe = Tensor::cat(&[pe.sin(), pe.cos()], -1);
        self.obj_ptr_tpos_proj.forward(&pe)
    }

    /// Encodes a prediction into a memory (`_encode_new_memory`). `pix_feat` is the frame's own 1x feature
    /// (not the memory-conditioned one); `pred_masks_high_res: [B, 1, H, W]` logits.
    pub fn encode_memory(
        &self,
        pix_feat: &Tensor,
        pred_masks_high_res: &Tensor,
        object_score_logits: &Tensor,
        is_mask_from_pts: bool,
        train: bool,
    ) -> EncodedMemory {
        let cfg = &self.cfg;
        let masks = if cfg.non_overlap_masks_for_mem_enc && !train {
            apply_non_overlapping_constraints(pred_masks_high_res)
        } else {
            pred_masks_high_res.shallow_clone()
        };
        let probs = if is_mask_from_pts && !train {
            masks.gt(0.0).to_kind(Kind::Float)
        } else {
            masks.sigmoid()
        };
        // (Upstream skips a scale of 1 or a bias of 0; multiplying by 1 and adding 0 are exact anyway.)
        let mask_for_mem = probs * cfg.sigmoid_scale_for_mem_enc + cfg.sigmoid_bias_for_mem_enc;
        let mut mem = self.memory_encoder.forward(pix_feat, &mask_for_mem, true);
        // Frames judged empty get a learned "no object" embedding added to every position.
        let is_obj = object_score_logits.gt(0.0).to_kind(Kind::Float);
        let absent = is_obj
            .g_mul_scalar(-1.0)
            .g_add_scalar(1.0)
            .view([-1, 1, 1, 1]);
        mem.features =
            &mem.features + absent * self.no_obj_embed_spatial.view([1, cfg.mem_dim, 1, 1]);
        mem
    }

    /// One tracking step (`track_step`): memory attention and SAM heads (or the mask prompt as output), then
    /// the memory encoder. Insert `output.memory()` into the bank afterwards (as a conditioning frame for
    /// prompted frames).
    pub fn track_step(
        &self,
        feats: &FrameFeatures,
        step: &StepInputs,
        bank: &MemoryBank,
        train: bool,
    ) -> Result<FrameOutput, TrackerError> {
        self.check_features(feats)?;
        let high_res = (&feats.high_res_s0, &feats.high_res_s1);
        let sam = if let Some(mask_inputs) = step.mask_inputs {
            self.use_mask_as_output(&feats.vision_feat, high_res, mask_inputs, train)?
        } else {
            let pix_with_mem = self.attend_memory(feats, step, bank, train)?;
            let mask_inputs = match step.prev_sam_mask_logits {
                Some(_) if step.points.is_none() => {
                    return Err(TrackerError::Input(
                        "`prev_sam_mask_logits` refines a point prompt: give points too".into(),
                    ))
                }
                other => other,
            };
            let multimask = self.use_multimask(step.is_init_cond_frame, step.points);
            self.forward_sam_heads(
                &pix_with_mem,
                step.points,
                mask_inputs,
                high_res,
                multimask,
                step.gt_masks,
                train,
            )?
        };
        let eff_iou_score = if self.cfg.use_memory_selection {
            let iou_score = sam.ious.amax(-1, false);
            Some(
                f64::try_from(mem_selection_score(&sam.object_score_logits, &iou_score))
                    .map_err(|e| TrackerError::Input(format!("memory-selection score: {e}")))?,
            )
        } else {
            None
        };
        let (maskmem_features, maskmem_pos_enc) =
            if !step.skip_memory_encoder && self.cfg.num_maskmem > 0 {
                let mem = self.encode_memory(
                    &feats.vision_feat,
                    &sam.high_res_masks,
                    &sam.object_score_logits,
                    step.points.is_some(),
                    train,
                );
                (Some(mem.features), Some(mem.pos_enc))
            } else {
                (None, None)
            };
        Ok(FrameOutput {
            pred_masks: sam.low_res_masks,
            pred_masks_high_res: sam.high_res_masks,
            multimasks: sam.low_res_multimasks,
            multimasks_high_res: sam.high_res_multimasks,
            ious: sam.ious,
            obj_ptr: sam.obj_ptr,
            object_score_logits: sam.object_score_logits,
            maskmem_features,
            maskmem_pos_enc,
            eff_iou_score,
        })
    }
}

/// `cal_mem_score`: mean of (rescaled presence probability, 0 when absent) times the best predicted IoU.
/// (Upstream broadcasts `[B, 1]` against `[B]`; kept as is, it is the same for one object.)
pub fn mem_selection_score(object_score_logits: &Tensor, iou_score: &Tensor) -> Tensor {
    let norm = (object_score_logits.sigmoid() * 2.0 - 1.0).where_self(
        &object_score_logits.gt(0.0),
        &object_score_logits.zeros_like(),
    );
    (norm * iou_score).mean(Kind::Float)
}

/// Keeps, at each pixel, only the highest-scoring object's logit; the others are clamped to at most -10.
pub fn apply_non_overlapping_constraints(pred_masks: &Tensor) -> Tensor {
    let b = pred_masks.size()[0];
    if b == 1 {
        return pred_masks.shallow_clone();
    }
    let max_obj = pred_masks.argmax(0, true);
    let obj = Tensor::arange(b, (Kind::Int64, pred_masks.device())).view([-1, 1, 1, 1]);
    let keep = max_obj.eq_tensor(&obj);
    pred_masks.where_self(&keep, &pred_masks.clamp_max(-10.0))
}

/// Memory frames by index, in upstream's (insertion) order.
type Frames<'a> = Vec<(i64, &'a FrameMemory)>;

/// `select_closest_cond_frames`: up to `max_cond` conditioning frames, the closest before and after
/// `frame_idx` first, then the temporally closest; returns (selected, unselected) in upstream's order.
fn select_closest_cond_frames(
    frame_idx: i64,
    cond: &[(i64, FrameMemory)],
    max_cond: i64,
    keep_first: bool,
) -> (Frames<'_>, Frames<'_>) {
    let all: Vec<(i64, &FrameMemory)> = cond.iter().map(|(t, m)| (*t, m)).collect();
    if max_cond == -1 || all.len() as i64 <= max_cond {
        return (all, Vec::new());
    }
    let mut selected: Vec<i64> = Vec::new();
    let add = |t: Option<i64>, selected: &mut Vec<i64>| {
        if let Some(t) = t {
            if !selected.contains(&t) {
                selected.push(t);
            }
        }
    };
    let ts = || all.iter().map(|(t, _)| *t);
    if keep_first {
        let first = ts()
            .filter(|t| *t < frame_idx)
            .min()
            .or_else(|| ts().filter(|t| *t > frame_idx).max());
        add(first, &mut selected);
    }
    add(ts().filter(|t| *t < frame_idx).max(), &mut selected);
    add(ts().filter(|t| *t >= frame_idx).min(), &mut selected);
    let mut rest: Vec<i64> = ts().filter(|t| !selected.contains(t)).collect();
    // A stable sort by distance, as Python's `sorted`.
    rest.sort_by_key(|t| (t - frame_idx).abs());
    let remain = (max_cond - selected.len() as i64).max(0) as usize;
    selected.extend(rest.into_iter().take(remain));
    let get = |t: i64| all.iter().find(|(u, _)| *u == t).map(|(_, m)| *m);
    let sel = selected
        .iter()
        .filter_map(|t| Some((*t, get(*t)?)))
        .collect();
    let unsel = all
        .iter()
        .filter(|(t, _)| !selected.contains(t))
        .map(|(t, m)| (*t, *m))
        .collect();
    (sel, unsel)
}

/// `frame_filter` (memory selection): previous tracked frames whose score exceeds `mf_threshold`, nearest
/// last, at most `min(num_frames, max_obj_ptrs_in_encoder) - 1` of them, plus always the adjacent frame.
fn frame_filter(bank: &MemoryBank, step: &StepInputs, cfg: &TrackerConfig, r: i64) -> Vec<i64> {
    let (frame_idx, num_frames) = (step.frame_idx, step.num_frames);
    if (frame_idx == 0 && !step.track_in_reverse)
        || (frame_idx == num_frames - 1 && step.track_in_reverse)
    {
        return Vec::new();
    }
    let max_num = num_frames.min(cfg.max_obj_ptrs_in_encoder);
    // Upstream walks `range(frame_idx - 1, 0, -r)` (frame 0 excluded) or `range(frame_idx + 1, num_frames, r)`.
    let (candidates, must_include): (Vec<i64>, i64) = if !step.track_in_reverse {
        let mut c = Vec::new();
        let mut i = frame_idx - 1;
        while i > 0 {
            c.push(i);
            i -= r;
        }
        (c, frame_idx - 1)
    } else {
        let mut c = Vec::new();
        let mut i = frame_idx + 1;
        while i < num_frames {
            c.push(i);
            i += r;
        }
        (c, frame_idx + 1)
    };
    let mut valid: Vec<i64> = Vec::new();
    for i in candidates {
        let Some(score) = bank.non_cond.get(&i).and_then(|m| m.eff_iou_score) else {
            continue;
        };
        if score > cfg.mf_threshold {
            valid.insert(0, i);
        }
        if valid.len() as i64 >= max_num - 1 {
            break;
        }
    }
    if !valid.contains(&must_include) {
        valid.push(must_include);
    }
    valid
}
