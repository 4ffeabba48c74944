//! `Sam3Image`: the SAM 3 image model (promptable concept detection and segmentation).
//!
//! For each query (an image with a text prompt and optional box/point prompts) it predicts `num_queries`
//! objects: a score logit, a box and a mask, plus a presence logit for "the concept is in the image" and a
//! semantic segmentation map. Matching and losses are not part of the model (upstream matches inside the
//! model in training; here the training code does).

use tch::{nn, Device, Kind, Tensor};

use super::common::{box_cxcywh_to_xyxy, inverse_sigmoid};
use super::decoder::TransformerDecoder;
use super::dot_prod_scoring::DotProductScoring;
use super::encoder::TransformerEncoderFusion;
use super::geometry_encoders::{GeometricPrompt, SequenceGeometryEncoder};
use super::maskformer_segmentation::UniversalSegmentationHead;
use super::text_encoder_ve::TextFeatures;
use super::vl_combiner::{SAM3VLBackbone, VisionFeatures};
use sam3c_stdlib::arch::image::{image_params, ImageConfig};
use sam3c_stdlib::arch::ModuleKind;

/// A batch input the model cannot use; the message says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error("invalid input: {0}")]
    Input(String),
}

/// The text of the prompts: token ids to encode, or features encoded earlier (e.g. cached per class name).
#[derive(Debug)]
pub enum TextPrompts {
    /// (T, context_length) int64 from `crate::text::Tokenizer`.
    Tokens(Tensor),
    /// The output of `Sam3Image::encode_text` for T texts.
    Encoded(TextFeatures),
}

/// One find-stage batch, in upstream's layout: unique images and texts, and per query the index of its
/// image and of its text, with optional geometric prompts.
#[derive(Debug)]
pub struct FindBatch {
    /// (N_images, 3, resolution, resolution), normalized like upstream (mean 0.5, std 0.5).
    pub images: Tensor,
    pub text: TextPrompts,
    /// (B,) int64: the image of each query.
    pub img_ids: Tensor,
    /// (B,) int64: the text of each query.
    pub text_ids: Tensor,
    /// Box and point prompts with batch dimension B; `None` means none. Upstream's `Sam3Image.forward`
    /// drops point prompts ("Point prompts are ignored in PCS") and passes only boxes; points given here are
    /// encoded (the geometry encoder supports them), so leave them empty to train exactly like upstream.
    pub geometry: Option<GeometricPrompt>,
}

/// Scores and boxes of a set of queries at one decoder layer.
#[derive(Debug)]
pub struct Predictions {
    /// (B, Q, 1) classification logits.
    pub pred_logits: Tensor,
    /// (B, Q, 4) boxes, normalized cxcywh.
    pub pred_boxes: Tensor,
    /// (B, Q, 4) the same boxes as normalized xyxy.
    pub pred_boxes_xyxy: Tensor,
}

/// The outputs of a decoder layer before the last (upstream `aux_outputs[i]`).
#[derive(Debug)]
pub struct AuxOutput {
    pub o2o: Predictions,
    /// (B, 1) presence logit of this layer.
    pub presence_logit_dec: Tensor,
    /// The one-to-many queries (training with DAC only).
    pub o2m: Option<Predictions>,
}

/// What `Sam3Image::forward` returns; upstream key names in the field docs.
#[derive(Debug)]
pub struct Sam3ImageOutput {
    /// `pred_logits`, `pred_boxes`, `pred_boxes_xyxy` of the last layer's one-to-one queries.
    pub o2o: Predictions,
    /// `presence_logit_dec` (B, 1): is the prompted concept present in the image.
    pub presence_logit_dec: Tensor,
    /// `pred_masks` (B, Q, 4h, 4w) mask logits (with the segmentation head).
    pub pred_masks: Option<Tensor>,
    /// `semantic_seg` (B, 1, 4h, 4w) logits (with the segmentation head).
    pub semantic_seg: Option<Tensor>,
    /// `pred_logits_o2m`, `pred_boxes_o2m`, `pred_boxes_xyxy_o2m` (training with DAC).
    pub o2m: Option<Predictions>,
    /// `pred_masks_o2m` (training with DAC and the segmentation head).
    pub pred_masks_o2m: Option<Tensor>,
    /// One entry per decoder layer but the last (upstream fills them in training; here always).
    pub aux_outputs: Vec<AuxOutput>,
    /// `queries` (B, Q, d): the last layer's one-to-one query states.
    pub queries: Tensor,
    /// `presence_feats` (1, B, d).
    pub presence_feats: Tensor,
    /// `encoder_hidden_states` (h·w, B, d): the fused image tokens.
    pub encoder_hidden_states: Tensor,
    /// The prompt tokens (P, B, d) (text, then geometry) and their padding mask (B, P).
    pub prompt: Tensor,
    pub prompt_mask: Tensor,
}

/// `TransformerWrapper`: the fusion encoder and the decoder (`transformer.encoder`, `transformer.decoder`).
#[derive(Debug)]
pub struct TransformerWrapper {
    pub encoder: TransformerEncoderFusion,
    pub decoder: TransformerDecoder,
}

/// The SAM 3 image model; see the module docs.
#[derive(Debug)]
pub struct Sam3Image {
    pub cfg: ImageConfig,
    pub backbone: SAM3VLBackbone,
    pub geometry_encoder: SequenceGeometryEncoder,
    pub transformer: TransformerWrapper,
    pub segmentation_head: Option<UniversalSegmentationHead>,
    pub dot_prod_scoring: DotProductScoring,
    /// The VarStore path the model lives under ("" for the root, "detector" in the video model).
    pub prefix: String,
    pub device: Device,
}

/// Splits (L, B, Q, k) along the query dimension at `n`.
fn split_queries(t: &Tensor, n: i64) -> (Tensor, Tensor) {
    let q = t.size()[2];
    (t.slice(2, 0, n, 1), t.slice(2, n, q, 1))
}

impl Sam3Image {
    /// Builds the model under `p` (its variables are named like upstream's state dict, below `p`'s path)
    /// on `p`'s device.
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Result<Self, ModelError> {
        cfg.validate().map_err(ModelError::Config)?;
        let prefix = p.components().collect::<Vec<_>>().join(".");
        Ok(Sam3Image {
            cfg: cfg.clone(),
            backbone: SAM3VLBackbone::new(&p / "backbone", cfg),
            geometry_encoder: SequenceGeometryEncoder::new(&p / "geometry_encoder", cfg),
            transformer: TransformerWrapper {
                encoder: TransformerEncoderFusion::new(&p / "transformer" / "encoder", cfg),
                decoder: TransformerDecoder::new(&p / "transformer" / "decoder", cfg),
            },
            segmentation_head: cfg
                .enable_segmentation
                .then(|| UniversalSegmentationHead::new(&p / "segmentation_head", cfg)),
            dot_prod_scoring: DotProductScoring::new(&p / "dot_prod_scoring", cfg),
            prefix,
            device: p.device(),
        })
    }

    /// Every trainable variable as (VarStore name, kind of the owning upstream module), in upstream order,
    /// for optimizer grouping (no weight decay on LayerNorm, layer decay on the trunk, ...).
    pub fn parameter_kinds(&self) -> Vec<(String, ModuleKind)> {
        image_params(&self.cfg)
            .into_iter()
            .filter(|p| p.trainable)
            .map(|p| {
                let name = if self.prefix.is_empty() {
                    p.name
                } else {
                    format!("{}.{}", self.prefix, p.name)
                };
                (name, p.module)
            })
            .collect()
    }

    /// Encodes texts once (e.g. the class names of a dataset) for reuse as `TextPrompts::Encoded`.
    pub fn encode_text(&self, tokens: &Tensor) -> Result<TextFeatures, ModelError> {
        let ctx = self.cfg.text_context_length;
        if tokens.dim() != 2 || tokens.size()[1] != ctx || tokens.kind() != Kind::Int64 {
            return Err(ModelError::Input(format!(
                "text tokens must be an int64 tensor (T, {ctx}), got {:?} {:?}",
                tokens.kind(),
                tokens.size()
            )));
        }
        let max = if tokens.numel() > 0 {
            tokens.max().int64_value(&[])
        } else {
            0
        };
        let min = if tokens.numel() > 0 {
            tokens.min().int64_value(&[])
        } else {
            0
        };
        if min < 0 || max >= self.cfg.vocab_size {
            return Err(ModelError::Input(format!(
                "text token ids must lie in 0..{}, got {min}..={max}",
                self.cfg.vocab_size
            )));
        }
        Ok(self.backbone.forward_text(&tokens.to_device(self.device)))
    }

    /// Runs the vision backbone on (N, 3, resolution, resolution) images.
    pub fn encode_images(
        &self,
        images: &Tensor,
        train: bool,
    ) -> Result<VisionFeatures, ModelError> {
        let r = self.cfg.resolution;
        if images.dim() != 4
            || images.size()[1] != 3
            || images.size()[2] != r
            || images.size()[3] != r
        {
            return Err(ModelError::Input(format!(
                "images must be (N, 3, {r}, {r}) (the RoPE tables are built for that grid), got {:?}",
                images.size()
            )));
        }
        if !matches!(
            images.kind(),
            Kind::Float | Kind::BFloat16 | Kind::Half | Kind::Double
        ) {
            return Err(ModelError::Input(format!(
                "images must be floating point, got {:?}",
                images.kind()
            )));
        }
        Ok(self
            .backbone
            .forward_image(&images.to_device(self.device).to_kind(Kind::Float), train))
    }

    /// The full forward pass. `train` enables dropout, stochastic depth and the DAC one-to-many queries.
    pub fn forward(&self, batch: &FindBatch, train: bool) -> Result<Sam3ImageOutput, ModelError> {
        let vision = self.encode_images(&batch.images, train)?;
        let text = match &batch.text {
            TextPrompts::Tokens(tokens) => self.encode_text(tokens)?,
            TextPrompts::Encoded(f) => TextFeatures {
                features: f.features.to_device(self.device),
                mask: f.mask.to_device(self.device),
                input_embeds: f.input_embeds.to_device(self.device),
            },
        };
        self.forward_grounding(&vision, &text, batch, train)
    }

    fn check_ids(ids: &Tensor, what: &str, count: i64) -> Result<(), ModelError> {
        if ids.dim() != 1 || ids.kind() != Kind::Int64 {
            return Err(ModelError::Input(format!(
                "{what} must be an int64 vector, got {:?} {:?}",
                ids.kind(),
                ids.size()
            )));
        }
        if ids.numel() > 0 {
            let (min, max) = (ids.min().int64_value(&[]), ids.max().int64_value(&[]));
            if min < 0 || max >= count {
                return Err(ModelError::Input(format!(
                    "{what} must lie in 0..{count}, got {min}..={max}"
                )));
            }
        }
        Ok(())
    }

    fn check_geometry(g: &GeometricPrompt, bs: i64) -> Result<(), ModelError> {
        let shape_err = |what: &str, got: Vec<i64>, want: String| {
            ModelError::Input(format!("geometry {what} must be {want}, got {got:?}"))
        };
        let nb = g.boxes.size().first().copied().unwrap_or(0);
        let np = g.points.size().first().copied().unwrap_or(0);
        if g.boxes.size() != [nb, bs, 4] {
            return Err(shape_err(
                "boxes",
                g.boxes.size(),
                format!("(N_boxes, {bs}, 4)"),
            ));
        }
        if g.box_mask.size() != [bs, nb] || g.box_mask.kind() != Kind::Bool {
            return Err(shape_err(
                "box_mask",
                g.box_mask.size(),
                format!("bool ({bs}, {nb})"),
            ));
        }
        if g.box_labels.size() != [nb, bs] {
            return Err(shape_err(
                "box_labels",
                g.box_labels.size(),
                format!("({nb}, {bs})"),
            ));
        }
        if g.points.size() != [np, bs, 2] {
            return Err(shape_err(
                "points",
                g.points.size(),
                format!("(N_points, {bs}, 2)"),
            ));
        }
        if g.point_mask.size() != [bs, np] || g.point_mask.kind() != Kind::Bool {
            return Err(shape_err(
                "point_mask",
                g.point_mask.size(),
                format!("bool ({bs}, {np})"),
            ));
        }
        if g.point_labels.size() != [np, bs] {
            return Err(shape_err(
                "point_labels",
                g.point_labels.size(),
                format!("({np}, {bs})"),
            ));
        }
        Ok(())
    }

    /// Everything after the backbones (upstream `forward_grounding`), for callers that cache image or text
    /// features (e.g. several prompts on one image, or the video model).
    pub fn forward_grounding(
        &self,
        vision: &VisionFeatures,
        text: &TextFeatures,
        batch: &FindBatch,
        train: bool,
    ) -> Result<Sam3ImageOutput, ModelError> {
        let n_images = vision.backbone_fpn[0].size()[0];
        let n_texts = text.features.size()[1];
        Self::check_ids(&batch.img_ids, "img_ids", n_images)?;
        Self::check_ids(&batch.text_ids, "text_ids", n_texts)?;
        let bs = batch.img_ids.size()[0];
        if batch.text_ids.size()[0] != bs {
            return Err(ModelError::Input(format!(
                "img_ids ({bs}) and text_ids ({}) must have one entry per query",
                batch.text_ids.size()[0]
            )));
        }
        let img_ids = batch.img_ids.to_device(self.device);
        let text_ids = batch.text_ids.to_device(self.device);

        // _encode_prompt: index text features per query, encode the geometry against the query's image.
        let txt_feats = text.features.index_select(1, &text_ids);
        let txt_masks = text.mask.index_select(0, &text_ids);
        let level = vision.backbone_fpn.last().unwrap();
        let level_pos = vision.vision_pos_enc.last().unwrap();
        let (h, w) = (level.size()[2], level.size()[3]);
        let img_feats = level
            .index_select(0, &img_ids)
            .flatten(2, -1)
            .permute([2, 0, 1]);
        let img_pos = level_pos
            .index_select(0, &img_ids)
            .flatten(2, -1)
            .permute([2, 0, 1]);
        let geometry = match &batch.geometry {
            Some(g) => {
                Self::check_geometry(g, bs)?;
                GeometricPrompt {
                    boxes: g.boxes.to_device(self.device).to_kind(Kind::Float),
                    box_mask: g.box_mask.to_device(self.device),
                    box_labels: g.box_labels.to_device(self.device).to_kind(Kind::Int64),
                    points: g.points.to_device(self.device).to_kind(Kind::Float),
                    point_mask: g.point_mask.to_device(self.device),
                    point_labels: g.point_labels.to_device(self.device).to_kind(Kind::Int64),
                }
            }
            None => GeometricPrompt::empty(bs, self.device),
        };
        let (geo_feats, geo_masks) =
            self.geometry_encoder
                .forward(&geometry, &img_feats, &img_pos, (h, w), train);
        let prompt = Tensor::cat(&[&txt_feats, &geo_feats], 0);
        let prompt_mask = Tensor::cat(&[&txt_masks, &geo_masks], 1);

        // _run_encoder
        let enc = self.transformer.encoder.forward(
            &img_feats,
            &img_pos,
            (h, w),
            &prompt,
            &prompt_mask,
            train,
        );

        // _run_decoder
        let apply_dac = train;
        let dec = self.transformer.decoder.forward(
            &enc.memory,
            &enc.pos_embed,
            enc.spatial_shape,
            &prompt,
            &prompt_mask,
            apply_dac,
            train,
        );
        let hs = dec.hs.transpose(1, 2); // (L, B, Q, d)
        let reference_boxes = dec.reference_boxes.transpose(1, 2);
        let presence = dec.presence_logits.transpose(1, 2); // (L, B, 1)

        // _update_scores_and_boxes
        let total_queries = hs.size()[2];
        let num_o2o = if apply_dac {
            total_queries / 2
        } else {
            total_queries
        };
        let outputs_class = self
            .dot_prod_scoring
            .forward(&hs, &prompt, &prompt_mask, train);
        let offsets = self.transformer.decoder.bbox_embed.forward(&hs, false);
        let outputs_coord = (inverse_sigmoid(&reference_boxes) + offsets).sigmoid();
        let outputs_xyxy = box_cxcywh_to_xyxy(&outputs_coord);
        let (cls_o2o, cls_o2m) = split_queries(&outputs_class, num_o2o);
        let (box_o2o, box_o2m) = split_queries(&outputs_coord, num_o2o);
        let (xyxy_o2o, xyxy_o2m) = split_queries(&outputs_xyxy, num_o2o);
        let layer = |l: i64, o2m: bool| -> Predictions {
            let (c, b, x) = if o2m {
                (&cls_o2m, &box_o2m, &xyxy_o2m)
            } else {
                (&cls_o2o, &box_o2o, &xyxy_o2o)
            };
            Predictions {
                pred_logits: c.get(l),
                pred_boxes: b.get(l),
                pred_boxes_xyxy: x.get(l),
            }
        };
        let num_layers = hs.size()[0];
        let last = num_layers - 1;
        let aux_outputs = (0..last)
            .map(|l| AuxOutput {
                o2o: layer(l, false),
                presence_logit_dec: presence.get(l),
                o2m: apply_dac.then(|| layer(l, true)),
            })
            .collect();

        // _run_segmentation_heads (o2m masks too: upstream o2m_mask_predict=True)
        let (pred_masks, pred_masks_o2m, semantic_seg) = match &self.segmentation_head {
            Some(head) => {
                let seg = head.forward(
                    &vision.backbone_fpn,
                    &img_ids,
                    &hs.get(last),
                    &enc.memory,
                    &prompt,
                    &prompt_mask,
                    train,
                );
                let q = seg.pred_masks.size()[1];
                let o2o = seg.pred_masks.slice(1, 0, num_o2o, 1);
                let o2m = apply_dac.then(|| seg.pred_masks.slice(1, num_o2o, q, 1));
                (Some(o2o), o2m, Some(seg.semantic_seg))
            }
            None => (None, None, None),
        };

        Ok(Sam3ImageOutput {
            o2o: layer(last, false),
            presence_logit_dec: presence.get(last),
            pred_masks,
            semantic_seg,
            o2m: apply_dac.then(|| layer(last, true)),
            pred_masks_o2m,
            aux_outputs,
            queries: hs.get(last).slice(1, 0, num_o2o, 1),
            presence_feats: dec.presence_feats,
            encoder_hidden_states: enc.memory,
            prompt,
            prompt_mask,
        })
    }
}
