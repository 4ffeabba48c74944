//! Datasets: where images or videos and their annotations come from, and how queries are built from them.

use sam3c_derive::{Component, DslUnion};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A COCO image dataset (images and a COCO annotation file with boxes and, optionally, RLE or polygon masks).
///
/// Each image becomes one datapoint; each category becomes one text query whose prompt is the category name
/// (or the `prompts` entry for it). Categories with no instance in an image are negative queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "dataset",
    name = "coco_images",
    domain = "image",
    upstream = "sam3.train.data.sam3_image_dataset.Sam3ImageDataset"
)]
pub struct CocoImages {
    /// The folder that holds the image files named in the annotation file.
    #[param(upstream = "img_folder")]
    pub images: PathBuf,
    /// The COCO annotation file (`_annotations.coco.json`).
    #[param(upstream = "ann_file")]
    pub annotations: PathBuf,
    /// Load segmentation masks (needed by mask losses and segm meters).
    #[param(default = "true", upstream = "load_segmentation")]
    pub masks: bool,
    /// Keep queries for categories absent from an image, as negatives.
    #[param(default = "true", upstream = "include_negatives")]
    pub negatives: bool,
    /// At most this many category queries per datapoint; an image with more categories is split into several
    /// datapoints. Bounds memory on datasets with many categories.
    #[param(default = "none", range = "1..", upstream = "category_chunk_size")]
    pub queries_per_image: Option<u32>,
    /// Use only the first N images (in file order).
    #[param(default = "none", range = "1..", upstream = "limit_ids")]
    pub limit: Option<u32>,
    /// Prompt text per category name, replacing the category name as the query text.
    #[param(default = "none", upstream = "prompts")]
    pub prompts: Option<std::collections::BTreeMap<String, String>>,
    /// The annotation file numbers images, categories or annotations from 0 (ODinW does): shift them to 1.
    #[param(default = "false", upstream = "reindex_coco_to_temp")]
    pub reindex: bool,
    /// Repeat the dataset this many times per epoch.
    #[param(default = "1", range = "1..", upstream = "multiplier")]
    pub repeat: u32,
}

/// A YouTube-VIS style video dataset: a folder of frame folders and one annotation file whose tracks carry one
/// mask (or null) per frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "dataset",
    name = "ytvis_videos",
    domain = "video",
    upstream = "sam3.train.data.sam3_video_dataset.VideoGroundingDataset"
)]
pub struct YtvisVideos {
    /// The folder that holds one sub-folder of frames per video (`file_names` are relative to it).
    #[param(upstream = "img_folder")]
    pub frames: PathBuf,
    /// The YTVIS annotation file.
    #[param(upstream = "ann_file")]
    pub annotations: PathBuf,
    /// Load segmentation masks.
    #[param(default = "true", upstream = "load_segmentation")]
    pub masks: bool,
    /// How clips are sampled from each video.
    #[param(default = "clips()")]
    pub clip: ClipSampler,
    /// Use only the first N videos.
    #[param(default = "none", range = "1..", upstream = "limit_ids")]
    pub limit: Option<u32>,
}

/// How training clips are cut from a video: `frames` frames with a random stride, optionally reversed in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "sampler", name = "clips", domain = "video")]
pub struct ClipSampler {
    /// Frames per clip. Every video needs at least this many annotated frames.
    #[param(
        positional,
        default = "4",
        range = "1..",
        upstream = "num_stages_sample"
    )]
    pub frames: u32,
    /// Smallest stride between sampled frames.
    #[param(default = "1", range = "1..", upstream = "stage_stride_min")]
    pub stride_min: u32,
    /// Largest stride between sampled frames.
    #[param(default = "5", range = "1..", upstream = "stage_stride_max")]
    pub stride_max: u32,
    /// Reverse the time axis of a clip with probability 1/2 (training only).
    #[param(default = "true", upstream = "random_reverse_time_axis")]
    pub reverse: bool,
    /// At most this many tracked objects per clip.
    #[param(default = "50", range = "1..", upstream = "max_masklet_num_in_video")]
    pub max_objects: u32,
}

/// Any dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum DatasetSpec {
    CocoImages(CocoImages),
    YtvisVideos(YtvisVideos),
}
