//! Prediction on one image: text prompts in, scored boxes and masks out (COCO RLE), and an overlay picture.
//!
//! The image goes through the evaluation pipeline of the model's resolution (square resize, normalization
//! with mean = std = 0.5), one query per prompt; the outputs are postprocessed exactly as the meters do
//! ([`crate::exec::postprocess`]: score = σ(logit)·σ(presence), boxes and masks at the original size) and
//! detections scoring at most `threshold` are dropped.
//!
//! ```no_run
//! # use sam3c_runtime::predict::{predict, PredictRequest};
//! # use sam3c_stdlib::components::model::ModelSize;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let request = PredictRequest {
//!     size: ModelSize::Tiny,
//!     checkpoint: "runs/quickstart/finetune/checkpoints/final.safetensors".into(),
//!     image: "demo-data/test/test_0000.jpg".into(),
//!     prompts: vec!["gear".into(), "nut".into()],
//!     threshold: 0.5,
//!     device: tch::Device::Cpu,
//! };
//! let prediction = predict(&request)?;
//! let json = prediction.to_json();                       // boxes, scores, COCO RLE masks per prompt
//! let picture = prediction.overlay(&prediction.image);    // masks tinted per prompt, boxes, labels
//! # Ok(()) }
//! ```

use crate::data::datapoint::{Datapoint, Frame, Pixels, Query, QueryMetadata};
use crate::data::image::RgbImage;
use crate::data::{collate, Pipeline, Rng};
use crate::exec::model::{key_map_for, StageModel};
use crate::exec::postprocess::{detections, Detection, PostprocessOptions};
use crate::exec::{find_batch, ExecError};
use crate::model::Sam3Image;
use sam3c_formats::{Rle, Segmentation};
use sam3c_stdlib::components::model::ModelSize;
use sam3c_stdlib::components::transforms::{Normalize, Resize, TransformSpec};
use sam3c_stdlib::units::Pixels as Px;
use std::path::PathBuf;
use tch::nn::VarStore;
use tch::Device;

/// What to predict.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictRequest {
    /// The size preset the checkpoint was trained at.
    pub size: ModelSize,
    /// Weights: a sam3c checkpoint, Meta's `sam3.pt`, or a trainer checkpoint.
    pub checkpoint: PathBuf,
    pub image: PathBuf,
    /// One query per prompt.
    pub prompts: Vec<String>,
    /// Keep detections scoring above this.
    pub threshold: f64,
    pub device: Device,
}

/// The detections of one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptDetections {
    pub prompt: String,
    pub detections: Vec<Detection>,
}

/// The result of [`predict`].
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The input image as decoded.
    pub image: RgbImage,
    pub prompts: Vec<PromptDetections>,
}

/// Everything that can go wrong; messages name the file or the flag.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error("--image: {0}")]
    Image(String),
    #[error("--prompt: {0}")]
    Prompt(String),
    #[error("--threshold: {0}")]
    Threshold(String),
    #[error("--checkpoint {}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },
    #[error("{0}")]
    Run(String),
}

/// Runs the model on the image with each prompt.
pub fn predict(request: &PredictRequest) -> Result<Prediction, PredictError> {
    if request.prompts.is_empty() {
        return Err(PredictError::Prompt("give at least one prompt".into()));
    }
    if let Some(p) = request.prompts.iter().find(|p| p.trim().is_empty()) {
        return Err(PredictError::Prompt(format!("empty prompt `{p}`")));
    }
    if !(0.0..=1.0).contains(&request.threshold) {
        return Err(PredictError::Threshold(format!(
            "must be between 0 and 1, got {}",
            request.threshold
        )));
    }
    let image = RgbImage::open(&request.image).map_err(PredictError::Image)?;
    let model = load_model(request)?;
    let resolution = model.config.resolution as u32;
    let pipeline = Pipeline::new(&[
        TransformSpec::Resize(Resize {
            size: Px(resolution),
            max_size: None,
            square: true,
        }),
        TransformSpec::Normalize(Normalize {
            mean: vec![0.5; 3],
            std: vec![0.5; 3],
        }),
    ])
    .map_err(PredictError::Run)?;
    let original_size = (image.height, image.width);
    let queries = request
        .prompts
        .iter()
        .map(|prompt| Query {
            text: prompt.clone(),
            frame: 0,
            targets: Vec::new(),
            is_exhaustive: true,
            stage: 0,
            box_prompts: Vec::new(),
            box_prompt_labels: Vec::new(),
            metadata: QueryMetadata {
                coco_image_id: 0,
                original_image_id: 0,
                original_category_id: 0,
                original_size,
                object_id: -1,
                frame_index: -1,
            },
        })
        .collect();
    let datapoint = Datapoint {
        frames: vec![Frame {
            pixels: Pixels::Rgb(image.clone()),
            objects: Vec::new(),
        }],
        queries,
        description: request.image.display().to_string(),
    };
    let datapoint = pipeline
        .apply(datapoint, &mut Rng::from_words(&[0]))
        .map_err(PredictError::Run)?
        .ok_or_else(|| PredictError::Run("the image has no query left".into()))?;
    let batch = collate(&[datapoint], false).map_err(PredictError::Run)?;
    let stage = &batch.stages[0];
    let input = find_batch(
        &batch,
        stage,
        model.config.text_context_length,
        request.device,
    );
    let _no_grad = tch::no_grad_guard();
    let out = model
        .model
        .forward(&input, false)
        .map_err(|e| PredictError::Run(e.to_string()))?;
    let sizes = vec![(i64::from(image.height), i64::from(image.width)); request.prompts.len()];
    let options = PostprocessOptions {
        presence: true,
        threshold: Some(request.threshold),
        masks: model.config.enable_segmentation,
        cap: None,
    };
    let per_query =
        detections(&out, &sizes, &options).map_err(|e| PredictError::Run(e.to_string()))?;
    // Queries come out in prompt order (one datapoint, one query per prompt).
    let prompts = request
        .prompts
        .iter()
        .zip(per_query)
        .map(|(prompt, detections)| PromptDetections {
            prompt: prompt.clone(),
            detections,
        })
        .collect();
    Ok(Prediction { image, prompts })
}

/// Builds the preset and loads the checkpoint strictly; the segmentation head is built when the checkpoint
/// has one.
fn load_model(request: &PredictRequest) -> Result<StageModel, PredictError> {
    let bad = |message: String| PredictError::Checkpoint {
        path: request.checkpoint.clone(),
        message,
    };
    let sd = crate::checkpoint::load(&request.checkpoint).map_err(|e| bad(e.to_string()))?;
    let segmentation = sd.names().any(|n| n.contains("segmentation_head."));
    let mut config = request.size.config().image;
    config.enable_segmentation = segmentation;
    let vs = VarStore::new(request.device);
    let model = Sam3Image::new(vs.root(), &config).map_err(|e| bad(e.to_string()))?;
    let map = key_map_for(&sd, segmentation).map_err(bad)?;
    crate::checkpoint::load_into(&vs, &sd, &map, true).map_err(|e| {
        bad(format!(
            "does not fit the `{}` model: {e}",
            format!("{:?}", request.size).to_lowercase()
        ))
    })?;
    Ok(StageModel { vs, model, config })
}

impl From<ExecError> for PredictError {
    fn from(e: ExecError) -> Self {
        PredictError::Run(e.to_string())
    }
}

/// Colours of the prompts, in order (then repeating).
pub const PALETTE: [[u8; 3]; 8] = [
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
];

impl Prediction {
    /// `{"image": {"width", "height"}, "predictions": [{"prompt", "detections": [{"score", "bbox" (xywh),
    /// "segmentation" (COCO compressed RLE)}]}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let prompts: Vec<serde_json::Value> = self
            .prompts
            .iter()
            .map(|p| {
                let detections: Vec<serde_json::Value> = p
                    .detections
                    .iter()
                    .map(|d| {
                        let b = d.box_xyxy;
                        let mut entry = serde_json::json!({
                            "score": d.score,
                            "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                        });
                        if let Some(mask) = &d.mask {
                            entry["segmentation"] =
                                serde_json::to_value(Segmentation::from_rle(mask))
                                    .expect("an RLE serializes");
                            entry["area"] = serde_json::json!(mask.area());
                        }
                        entry
                    })
                    .collect();
                serde_json::json!({ "prompt": p.prompt, "detections": detections })
            })
            .collect();
        serde_json::json!({
            "image": { "width": self.image.width, "height": self.image.height },
            "predictions": prompts,
        })
    }

    /// The image with each prompt's masks tinted in its colour, boxes outlined, and a label (prompt and score)
    /// above each box.
    pub fn overlay(&self, image: &RgbImage) -> RgbImage {
        let mut out = image.clone();
        for (i, p) in self.prompts.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            for d in &p.detections {
                if let Some(mask) = &d.mask {
                    tint(&mut out, mask, color);
                }
            }
        }
        for (i, p) in self.prompts.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            for d in &p.detections {
                draw_box(&mut out, d.box_xyxy, color);
                let label = format!("{} {:.2}", p.prompt, d.score);
                let x = d.box_xyxy[0].max(0.0) as i64;
                let y = d.box_xyxy[1] as i64 - GLYPH_H - 3;
                draw_label(&mut out, &label, x, y.max(0), color);
            }
        }
        out
    }
}

/// Encodes an image as PNG.
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            &image.data,
            image.width,
            image.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn put(img: &mut RgbImage, x: i64, y: i64, color: [u8; 3], alpha: f32) {
    if x < 0 || y < 0 || x >= img.width as i64 || y >= img.height as i64 {
        return;
    }
    let i = (y as usize * img.width as usize + x as usize) * 3;
    for c in 0..3 {
        let old = f32::from(img.data[i + c]);
        img.data[i + c] = (old + (f32::from(color[c]) - old) * alpha).round() as u8;
    }
}

fn tint(img: &mut RgbImage, mask: &Rle, color: [u8; 3]) {
    if mask.width != img.width || mask.height != img.height {
        return;
    }
    for (i, &v) in mask.decode().iter().enumerate() {
        if v != 0 {
            let (x, y) = (i % img.width as usize, i / img.width as usize);
            put(img, x as i64, y as i64, color, 0.45);
        }
    }
}

fn draw_box(img: &mut RgbImage, b: [f64; 4], color: [u8; 3]) {
    let [x0, y0, x1, y1] = b.map(|v| v.round() as i64);
    for t in 0..2 {
        for x in x0..=x1 {
            put(img, x, y0 + t, color, 1.0);
            put(img, x, y1 - t, color, 1.0);
        }
        for y in y0..=y1 {
            put(img, x0 + t, y, color, 1.0);
            put(img, x1 - t, y, color, 1.0);
        }
    }
}

const GLYPH_W: i64 = 5;
const GLYPH_H: i64 = 7;

/// A 5×7 bitmap font for labels: digits, lower-case letters (upper case is drawn lower case) and a few signs.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_lowercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'a' => [0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F],
        'b' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E],
        'c' => [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'd' => [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F],
        'e' => [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        'f' => [0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08],
        'g' => [0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'i' => [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E],
        'j' => [0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C],
        'k' => [0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12],
        'l' => [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'm' => [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11],
        'n' => [0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11],
        'o' => [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E],
        'p' => [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        'q' => [0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01],
        'r' => [0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10],
        's' => [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        'u' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D],
        'v' => [0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'w' => [0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A],
        'x' => [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11],
        'y' => [0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E],
        'z' => [0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F],
        ' ' => [0; 7],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        _ => [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F],
    }
}

/// White text on a background of the prompt's colour.
fn draw_label(img: &mut RgbImage, text: &str, x: i64, y: i64, color: [u8; 3]) {
    let width = text.chars().count() as i64 * (GLYPH_W + 1) + 3;
    for dy in 0..GLYPH_H + 3 {
        for dx in 0..width {
            put(img, x + dx, y + dy, color, 0.85);
        }
    }
    for (k, c) in text.chars().enumerate() {
        let rows = glyph(c);
        let gx = x + 2 + k as i64 * (GLYPH_W + 1);
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (0x10 >> col) != 0 {
                    put(img, gx + col, y + 2 + row as i64, [255, 255, 255], 1.0);
                }
            }
        }
    }
}
