//! A datapoint as upstream's transforms see it (`sam3.train.data.sam3_image_dataset.Datapoint`): frames
//! (one for an image, several for a clip) with their objects, and find queries that point at objects.

use super::image::RgbImage;
use super::mask::Mask;

/// The pixels of a frame: 8-bit RGB until `normalize`, then normalized float32 planes.
#[derive(Debug, Clone, PartialEq)]
pub enum Pixels {
    Rgb(RgbImage),
    /// `[3, height, width]` row-major: `((v / 255) - mean) / std`.
    Normalized {
        width: u32,
        height: u32,
        data: Vec<f32>,
    },
}

impl Pixels {
    /// (width, height).
    pub fn size(&self) -> (u32, u32) {
        match self {
            Pixels::Rgb(img) => (img.width, img.height),
            Pixels::Normalized { width, height, .. } => (*width, *height),
        }
    }
}

/// An annotated object in one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Absolute XYXY pixels until `normalize`; normalized CxCyWH afterwards (upstream's contract).
    pub bbox: [f32; 4],
    /// Upstream's area bookkeeping: the annotation's normalized box area, multiplied by every resize's scale
    /// factors. `filter_empty` drops objects whose area is below 1e-6.
    pub area: f64,
    /// The object's id in its media: its track index in a video, its index in an image.
    pub object_id: i64,
    /// The object's frame in its clip (-1 for an image, as upstream).
    pub frame_index: i64,
    /// The decoded mask at the frame's current size, when masks are loaded.
    pub mask: Option<Mask>,
    pub is_crowd: bool,
}

/// One frame of a datapoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub pixels: Pixels,
    pub objects: Vec<Object>,
}

/// Where a query comes from, for evaluation (upstream's `InferenceMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryMetadata {
    /// The image id the evaluator uses (the annotation file's image id; -1 in training, as upstream).
    pub coco_image_id: i64,
    /// The image or video id in the annotation file (-1 in training, as upstream).
    pub original_image_id: i64,
    /// The category id in the annotation file.
    pub original_category_id: i64,
    /// (height, width) of the frame as loaded.
    pub original_size: (u32, u32),
    /// The object id of the query's first target, or -1.
    pub object_id: i64,
    /// The frame index of the query's first target, or -1.
    pub frame_index: i64,
}

/// A find query: a text prompt (and optional box prompts) on one frame, and the objects it must find.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub text: String,
    /// Index of the frame in [`Datapoint::frames`].
    pub frame: usize,
    /// Indices into that frame's objects.
    pub targets: Vec<usize>,
    /// True when every instance of the query is annotated (absent targets are true negatives).
    pub is_exhaustive: bool,
    /// Processing order (upstream's `query_processing_order`): the frame's position in a clip, 0 for images.
    pub stage: usize,
    /// Box prompts, in the same format as object boxes at that point of the pipeline.
    pub box_prompts: Vec<[f32; 4]>,
    /// One label per box prompt (true = positive).
    pub box_prompt_labels: Vec<bool>,
    pub metadata: QueryMetadata,
}

/// An image or a clip with its objects and queries.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub frames: Vec<Frame>,
    pub queries: Vec<Query>,
    /// Names the datapoint in errors (file, image id, category chunk).
    pub description: String,
}

impl Datapoint {
    /// True once `normalize` has run (boxes are normalized CxCyWH, pixels are float).
    pub fn is_normalized(&self) -> bool {
        self.frames
            .first()
            .is_some_and(|f| matches!(f.pixels, Pixels::Normalized { .. }))
    }
}
