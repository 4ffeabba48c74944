//! YouTube-VIS style video annotation and result files.

use serde::{Deserialize, Deserializer, Serialize};

use crate::coco::{de_opt_flag, CocoCategory, Segmentation};
use crate::error::FormatError;
use crate::json::parse_json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YtvisDataset {
    pub videos: Vec<YtvisVideo>,
    #[serde(default)]
    pub annotations: Vec<YtvisAnnotation>,
    #[serde(default)]
    pub categories: Vec<CocoCategory>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YtvisVideo {
    pub id: i64,
    pub file_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u32>,
}

/// One object track of a video: one entry per frame, `null` where the object is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YtvisAnnotation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub video_id: i64,
    pub category_id: i64,
    pub segmentations: Vec<Option<Segmentation>>,
    #[serde(
        default,
        deserialize_with = "de_opt_frame_boxes",
        skip_serializing_if = "Option::is_none"
    )]
    pub bboxes: Option<Vec<Option<[f64; 4]>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub areas: Option<Vec<Option<f64>>>,
    #[serde(
        default,
        deserialize_with = "de_opt_flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub iscrowd: Option<u8>,
}

/// One predicted track in a YouTube-VIS results file (what sam3's `YTVISResultsWriter` dumps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YtvisResult {
    pub video_id: i64,
    pub category_id: i64,
    pub score: f64,
    #[serde(default)]
    pub segmentations: Vec<Option<Segmentation>>,
    #[serde(
        default,
        deserialize_with = "de_opt_frame_boxes",
        skip_serializing_if = "Option::is_none"
    )]
    pub bboxes: Option<Vec<Option<[f64; 4]>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub areas: Option<Vec<Option<f64>>>,
}

/// Per-frame boxes: `null` or `[]` mean no box in that frame.
fn de_opt_frame_boxes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Option<[f64; 4]>>>, D::Error> {
    let frames: Option<Vec<Option<Vec<f64>>>> = Option::deserialize(deserializer)?;
    let Some(frames) = frames else {
        return Ok(None);
    };
    frames
        .into_iter()
        .map(|b| match b {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => v.as_slice().try_into().map(Some).map_err(|_| {
                serde::de::Error::custom(format!(
                    "a box needs 4 numbers [x, y, w, h], got {}",
                    v.len()
                ))
            }),
        })
        .collect::<Result<Vec<_>, D::Error>>()
        .map(Some)
}

pub fn parse_ytvis(text: &str) -> Result<YtvisDataset, FormatError> {
    parse_json(text)
}

/// Parses a YouTube-VIS results file (a JSON list of predicted tracks).
pub fn parse_ytvis_results(text: &str) -> Result<Vec<YtvisResult>, FormatError> {
    parse_json(text)
}
