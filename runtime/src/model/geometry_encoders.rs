//! `SequenceGeometryEncoder`: encodes point and box prompts as tokens (the sum of a direct projection of
//! the coordinates, features pooled from the image, a sine encoding of the position and a label embedding),
//! appends a cls token, projects, and refines them with transformer layers that cross-attend to the image.

use tch::{nn, Kind, Tensor};

use super::common::{box_cxcywh_to_xyxy, conv2d, layer_norm, linear, PositionEmbeddingSine};
use super::encoder::{EncoderLayerInputs, PosEncAt, TransformerEncoderLayer};
use super::roi_align::roi_align;
use sam3c_stdlib::arch::image::{ImageConfig, ROI_SIZE};

/// Geometric prompts in upstream's `Prompt` layout: sequences first, masks batch first, `true` = padding.
/// Padding must be on the right of each sequence.
#[derive(Debug)]
pub struct GeometricPrompt {
    /// (N_boxes, B, 4) normalized cxcywh.
    pub boxes: Tensor,
    /// (B, N_boxes) bool.
    pub box_mask: Tensor,
    /// (N_boxes, B) int64: 1 positive, 0 negative.
    pub box_labels: Tensor,
    /// (N_points, B, 2) normalized xy.
    pub points: Tensor,
    /// (B, N_points) bool.
    pub point_mask: Tensor,
    /// (N_points, B) int64.
    pub point_labels: Tensor,
}

impl GeometricPrompt {
    /// No boxes and no points for `batch` queries (the encoder still emits its cls token).
    pub fn empty(batch: i64, device: tch::Device) -> Self {
        GeometricPrompt {
            boxes: Tensor::zeros([0, batch, 4], (Kind::Float, device)),
            box_mask: Tensor::zeros([batch, 0], (Kind::Bool, device)),
            box_labels: Tensor::ones([0, batch], (Kind::Int64, device)),
            points: Tensor::zeros([0, batch, 2], (Kind::Float, device)),
            point_mask: Tensor::zeros([batch, 0], (Kind::Bool, device)),
            point_labels: Tensor::ones([0, batch], (Kind::Int64, device)),
        }
    }
}

/// `concat_padded_sequences`: concatenates two right-padded sequences (S, B, C) with masks (B, S) so that
/// the valid elements of `seq2` follow those of `seq1` in each batch column; the result stays right-padded.
pub fn concat_padded_sequences(
    seq1: &Tensor,
    mask1: &Tensor,
    seq2: &Tensor,
    mask2: &Tensor,
) -> (Tensor, Tensor) {
    let (l1, bs, c) = seq1.size3().unwrap();
    let l2 = seq2.size()[0];
    let len1 = mask1
        .logical_not()
        .sum_dim_intlist([-1].as_slice(), false, Kind::Int64);
    let len2 = mask2
        .logical_not()
        .sum_dim_intlist([-1].as_slice(), false, Kind::Int64);
    let total = &len1 + &len2;
    let device = seq2.device();
    let max_len = l1 + l2;
    let mask = Tensor::arange(max_len, (Kind::Int64, device))
        .unsqueeze(0)
        .repeat([bs, 1])
        .ge_tensor(&total.unsqueeze(1));
    let base = Tensor::zeros([max_len, bs, c], (seq2.kind(), device));
    let base = if l1 > 0 {
        base.slice_scatter(seq1, 0, 0, l1, 1)
    } else {
        base
    };
    let index = Tensor::arange(l2, (Kind::Int64, device))
        .unsqueeze(1)
        .repeat([1, bs])
        + len1.unsqueeze(0);
    let index = index.unsqueeze(-1).expand([l2, bs, c], false);
    (base.scatter(0, &index, seq2), mask)
}

/// `SequenceGeometryEncoder` with every encoding SAM 3 enables (direct, pool and position for both points
/// and boxes; cls token; post-encode projection; `geo_layers` transformer layers).
#[derive(Debug)]
pub struct SequenceGeometryEncoder {
    pub pos_enc: PositionEmbeddingSine,
    pub label_embed: nn::Embedding,
    pub cls_embed: nn::Embedding,
    pub points_direct_project: nn::Linear,
    pub points_pool_project: nn::Linear,
    pub points_pos_enc_project: nn::Linear,
    pub boxes_direct_project: nn::Linear,
    pub boxes_pool_project: nn::Conv2D,
    pub boxes_pos_enc_project: nn::Linear,
    pub final_proj: nn::Linear,
    pub norm: nn::LayerNorm,
    pub img_pre_norm: nn::LayerNorm,
    pub encode: Vec<TransformerEncoderLayer>,
    pub encode_norm: nn::LayerNorm,
    pub d_model: i64,
}

impl SequenceGeometryEncoder {
    pub fn new(p: nn::Path, cfg: &ImageConfig) -> Self {
        let d = cfg.d_model;
        let emb = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
            ..Default::default()
        };
        let pos = PosEncAt {
            attn: false,
            cross_attn_queries: false,
            cross_attn_keys: true,
        };
        SequenceGeometryEncoder {
            pos_enc: PositionEmbeddingSine::new(d),
            label_embed: nn::embedding(&p / "label_embed", 2, d, emb),
            cls_embed: nn::embedding(&p / "cls_embed", 1, d, emb),
            points_direct_project: linear(&p / "points_direct_project", 2, d),
            points_pool_project: linear(&p / "points_pool_project", d, d),
            points_pos_enc_project: linear(&p / "points_pos_enc_project", d, d),
            boxes_direct_project: linear(&p / "boxes_direct_project", 4, d),
            boxes_pool_project: conv2d(&p / "boxes_pool_project", d, d, ROI_SIZE, 1, 0, 1),
            boxes_pos_enc_project: linear(&p / "boxes_pos_enc_project", d + 2, d),
            final_proj: linear(&p / "final_proj", d, d),
            norm: layer_norm(&p / "norm", d),
            img_pre_norm: layer_norm(&p / "img_pre_norm", d),
            encode: (0..cfg.geo_layers)
                .map(|i| TransformerEncoderLayer::new(&p / "encode" / i, cfg, false, pos))
                .collect(),
            encode_norm: layer_norm(&p / "encode_norm", d),
            d_model: d,
        }
    }

    /// Points: direct projection + bilinear sample of the image features + x/y sine encoding + label.
    fn encode_points(&self, points: &Tensor, labels: &Tensor, img: &Tensor) -> Tensor {
        let (n, bs, _) = points.size3().unwrap();
        let direct = points.apply(&self.points_direct_project);
        // grid_sample(bilinear, zeros, align_corners=False) at (x, y) mapped from [0, 1] to [-1, 1].
        let grid = points.transpose(0, 1).unsqueeze(2) * 2.0 - 1.0;
        let sampled = img.grid_sampler_2d(&grid, 0, 0, false);
        let sampled = sampled.squeeze_dim(-1).permute([2, 0, 1]);
        let pooled = sampled.apply(&self.points_pool_project);
        let flat = points.reshape([-1, 2]);
        let (ex, ey) = self
            .pos_enc
            .encode_xy(&flat.select(1, 0), &flat.select(1, 1));
        // Explicit sizes: `-1` is ambiguous when there are no points.
        let half = ex.size()[1];
        let enc = Tensor::cat(&[ex.view([n, bs, half]), ey.view([n, bs, half])], -1);
        let position = enc.apply(&self.points_pos_enc_project);
        // Upstream's summation order: ((direct + pooled) + position), then label + that.
        labels.apply(&self.label_embed) + (direct + pooled + position)
    }

    /// Boxes: direct projection + ROI-aligned 7x7 features through a 7x7 conv + sine encoding + label.
    fn encode_boxes(&self, boxes: &Tensor, labels: &Tensor, img: &Tensor) -> Tensor {
        let (n, bs, _) = boxes.size3().unwrap();
        let d = self.d_model;
        let (_, _, h, w) = img.size4().unwrap();
        let direct = boxes.apply(&self.boxes_direct_project);

        let scale = Tensor::from_slice(&[w as f32, h as f32, w as f32, h as f32])
            .to_device(boxes.device())
            .view([1, 1, 4]);
        let xyxy = (box_cxcywh_to_xyxy(boxes) * scale)
            .to_kind(Kind::Float)
            .transpose(0, 1);
        // roi rows [batch index, x0, y0, x1, y1], batch-major like torchvision's list-of-boxes input.
        let batch_index = Tensor::arange(bs, (Kind::Float, boxes.device()))
            .view([bs, 1, 1])
            .expand([bs, n, 1], false);
        let rois = Tensor::cat(&[batch_index, xyxy], 2).reshape([-1, 5]);
        // torchvision's roi_align passes no gradient to the boxes.
        let pooled = roi_align(img, &rois.detach(), ROI_SIZE);
        let pooled = pooled
            .apply(&self.boxes_pool_project)
            .view([bs, n, d])
            .transpose(0, 1);

        let flat = boxes.reshape([-1, 4]);
        let enc = self.pos_enc.encode_boxes(
            &flat.select(1, 0),
            &flat.select(1, 1),
            &flat.select(1, 2),
            &flat.select(1, 3),
        );
        let enc = enc.view([n, bs, d + 2]);
        let position = enc.apply(&self.boxes_pos_enc_project);
        labels.apply(&self.label_embed) + (direct + pooled + position)
    }

    /// * `img_feats`, `img_pos`: (H·W, B, d) image tokens of the prompt's images and their position encoding;
    /// * returns the prompt tokens (S, B, d) and their padding mask (B, S).
    pub fn forward(
        &self,
        prompt: &GeometricPrompt,
        img_feats: &Tensor,
        img_pos: &Tensor,
        spatial_shape: (i64, i64),
        train: bool,
    ) -> (Tensor, Tensor) {
        let (h, w) = spatial_shape;
        let (_, n, c) = img_feats.size3().unwrap();
        let img = img_feats
            .apply(&self.img_pre_norm)
            .permute([1, 2, 0])
            .view([n, c, h, w]);

        let points = self.encode_points(&prompt.points, &prompt.point_labels, &img);
        let boxes = self.encode_boxes(&prompt.boxes, &prompt.box_labels, &img);
        let (embeds, mask) =
            concat_padded_sequences(&points, &prompt.point_mask, &boxes, &prompt.box_mask);

        let bs = embeds.size()[1];
        let cls = self
            .cls_embed
            .ws
            .view([1, 1, self.d_model])
            .repeat([1, bs, 1]);
        let cls_mask = Tensor::zeros([bs, 1], (Kind::Bool, embeds.device()));
        let (embeds, mask) = concat_padded_sequences(&embeds, &mask, &cls, &cls_mask);

        let mut embeds = embeds.apply(&self.final_proj).apply(&self.norm);
        let inputs = EncoderLayerInputs {
            tgt_key_padding_mask: Some(&mask),
            memory_key_padding_mask: None,
            pos: Some(img_pos),
            query_pos: None,
        };
        for layer in &self.encode {
            embeds = layer.forward(&embeds, img_feats, &inputs, train);
        }
        (embeds.apply(&self.encode_norm), mask)
    }
}
