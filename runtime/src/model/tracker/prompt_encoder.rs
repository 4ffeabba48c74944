//! SAM prompt encoder (`sam3/sam/prompt_encoder.py::PromptEncoder`): points and boxes become sparse tokens
//! (random Fourier position encoding plus a learned embedding per label), a mask prompt becomes a dense map.

use super::blocks::{conv2d, embedding, gelu, LayerNorm2d};
use sam3c_stdlib::arch::tracker::{TrackerConfig, NUM_POINT_EMBEDDINGS};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// `PositionEmbeddingRandom`: `[sin, cos](2π (2c - 1) G)` with a fixed Gaussian matrix `G: [2, C/2]` (a
/// persistent buffer: loaded from checkpoints, never trained).
#[derive(Debug)]
pub struct PositionEmbeddingRandom {
    pub positional_encoding_gaussian_matrix: Tensor,
}

impl PositionEmbeddingRandom {
    pub fn new(p: nn::Path, num_pos_feats: i64) -> Self {
        // A persistent buffer upstream: in the state dict, never trained (no gradient, not in the optimizer).
        let g = p.add(
            "positional_encoding_gaussian_matrix",
            Tensor::randn([2, num_pos_feats], (Kind::Float, p.device())),
            false,
        );
        PositionEmbeddingRandom {
            positional_encoding_gaussian_matrix: g,
        }
    }

    /// Encodes coordinates normalized to [0, 1]: `[..., 2]` -> `[..., C]`.
    fn encode(&self, coords: &Tensor) -> Tensor {
        let coords = coords * 2.0 - 1.0;
        let coords = coords.matmul(&self.positional_encoding_gaussian_matrix);
        let coords = coords * (2.0 * std::f64::consts::PI);
        Tensor::cat(&[coords.sin(), coords.cos()], -1)
    }

    /// The encoding of every cell center of an `h x w` grid: `[C, h, w]`.
    pub fn grid(&self, h: i64, w: i64) -> Tensor {
        let g = &self.positional_encoding_gaussian_matrix;
        let ones = Tensor::ones([h, w], (Kind::Float, g.device()));
        let y = (ones.cumsum(0, Kind::Float) - 0.5) / (h as f64);
        let x = (ones.cumsum(1, Kind::Float) - 0.5) / (w as f64);
        self.encode(&Tensor::stack(&[x, y], -1)).permute([2, 0, 1])
    }

    /// Encodes pixel coordinates `[B, N, 2]` (x, y) of an image of `(h, w)` pixels.
    pub fn with_coords(&self, coords: &Tensor, image_size: (i64, i64)) -> Tensor {
        let x = coords.select(2, 0) / (image_size.1 as f64);
        let y = coords.select(2, 1) / (image_size.0 as f64);
        self.encode(&Tensor::stack(&[x, y], 2).to_kind(Kind::Float))
    }
}

/// The SAM prompt encoder.
#[derive(Debug)]
pub struct PromptEncoder {
    pub embed_dim: i64,
    pub image_embedding_size: (i64, i64),
    pub input_image_size: (i64, i64),
    pub pe_layer: PositionEmbeddingRandom,
    /// Negative point, positive point, box top-left, box bottom-right.
    pub point_embeddings: Vec<Tensor>,
    pub not_a_point_embed: Tensor,
    pub mask_downscaling: (nn::Conv2D, LayerNorm2d, nn::Conv2D, LayerNorm2d, nn::Conv2D),
    pub no_mask_embed: Tensor,
}

impl PromptEncoder {
    pub fn new(p: nn::Path, cfg: &TrackerConfig) -> Self {
        let d = cfg.d_model;
        let c = cfg.prompt_mask_in_chans;
        let md = &p / "mask_downscaling";
        PromptEncoder {
            embed_dim: d,
            image_embedding_size: (cfg.feat_size(), cfg.feat_size()),
            input_image_size: (cfg.image_size, cfg.image_size),
            pe_layer: PositionEmbeddingRandom::new(&p / "pe_layer", d / 2),
            point_embeddings: (0..NUM_POINT_EMBEDDINGS)
                .map(|i| embedding(&(&p / "point_embeddings" / i), 1, d))
                .collect(),
            not_a_point_embed: embedding(&(&p / "not_a_point_embed"), 1, d),
            mask_downscaling: (
                conv2d(&md / 0, 1, c / 4, 2, 2, 0, 1),
                LayerNorm2d::new(&md / 1, c / 4),
                conv2d(&md / 3, c / 4, c, 2, 2, 0, 1),
                LayerNorm2d::new(&md / 4, c),
                conv2d(&md / 6, c, d, 1, 1, 0, 1),
            ),
            no_mask_embed: embedding(&(&p / "no_mask_embed"), 1, d),
        }
    }

    /// Size of the mask prompt `forward` expects: 4x the image embedding.
    pub fn mask_input_size(&self) -> (i64, i64) {
        (
            4 * self.image_embedding_size.0,
            4 * self.image_embedding_size.1,
        )
    }

    /// `get_dense_pe()`: `[1, C, h, w]`.
    pub fn dense_pe(&self) -> Tensor {
        let (h, w) = self.image_embedding_size;
        self.pe_layer.grid(h, w).unsqueeze(0)
    }

    /// Points `[B, N, 2]` in pixels with labels `[B, N]` (-1 padding, 0 negative, 1 positive, 2/3 box corners).
    fn embed_points(&self, points: &Tensor, labels: &Tensor, pad: bool) -> Tensor {
        let mut points = points + 0.5;
        let mut labels = labels.shallow_clone();
        if pad {
            let b = points.size()[0];
            let pad_point = Tensor::zeros([b, 1, 2], (Kind::Float, points.device()));
            let pad_label = -Tensor::ones([b, 1], (labels.kind(), labels.device()));
            points = Tensor::cat(&[points, pad_point], 1);
            labels = Tensor::cat(&[labels, pad_label], 1);
        }
        let mut pe = self.pe_layer.with_coords(&points, self.input_image_size);
        let is = |v: i64| labels.eq(v).unsqueeze(-1);
        pe = pe.where_self(
            &is(-1).logical_not(),
            &(pe.zeros_like() + &self.not_a_point_embed),
        );
        for (label, emb) in self.point_embeddings.iter().enumerate() {
            pe = (&pe + emb).where_self(&is(label as i64), &pe);
        }
        pe
    }

    /// Boxes `[B, 4]` (x0, y0, x1, y1) in pixels -> two corner tokens each.
    fn embed_boxes(&self, boxes: &Tensor) -> Tensor {
        let coords = (boxes + 0.5).reshape([-1, 2, 2]);
        let corners = self.pe_layer.with_coords(&coords, self.input_image_size);
        let top_left = corners.select(1, 0) + &self.point_embeddings[2];
        let bottom_right = corners.select(1, 1) + &self.point_embeddings[3];
        Tensor::stack(&[top_left, bottom_right], 1)
    }

    fn embed_masks(&self, masks: &Tensor) -> Tensor {
        let (c0, n0, c1, n1, c2) = &self.mask_downscaling;
        let x = gelu(&n0.forward(&c0.forward(masks)));
        let x = gelu(&n1.forward(&c1.forward(&x)));
        c2.forward(&x)
    }

    /// Returns (sparse `[B, N, C]`, dense `[B, C, h, w]`) embeddings.
    pub fn forward(
        &self,
        points: Option<(&Tensor, &Tensor)>,
        boxes: Option<&Tensor>,
        masks: Option<&Tensor>,
    ) -> (Tensor, Tensor) {
        let bs = match (points, boxes, masks) {
            (Some((p, _)), _, _) => p.size()[0],
            (None, Some(b), _) => b.size()[0],
            (None, None, Some(m)) => m.size()[0],
            _ => 1,
        };
        let device = self.no_mask_embed.device();
        let mut sparse = Tensor::zeros([bs, 0, self.embed_dim], (Kind::Float, device));
        if let Some((coords, labels)) = points {
            let pts = self.embed_points(coords, labels, boxes.is_none());
            sparse = Tensor::cat(&[sparse, pts], 1);
        }
        if let Some(boxes) = boxes {
            sparse = Tensor::cat(&[sparse, self.embed_boxes(boxes)], 1);
        }
        let dense = match masks {
            Some(m) => self.embed_masks(m),
            None => {
                let (h, w) = self.image_embedding_size;
                self.no_mask_embed
                    .reshape([1, -1, 1, 1])
                    .expand([bs, -1, h, w], false)
            }
        };
        (sparse, dense)
    }
}
