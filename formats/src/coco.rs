//! COCO annotation files and COCO result (prediction) files.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::FormatError;
use crate::json::parse_json;
use crate::rle::Rle;

/// A COCO annotation file. Keys other than these (`info`, `licenses`, ...) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoDataset {
    pub images: Vec<CocoImage>,
    #[serde(default)]
    pub annotations: Vec<CocoAnnotation>,
    #[serde(default)]
    pub categories: Vec<CocoCategory>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoImage {
    pub id: i64,
    pub file_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoAnnotation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub image_id: i64,
    pub category_id: i64,
    #[serde(
        default,
        deserialize_with = "de_opt_bbox",
        skip_serializing_if = "Option::is_none"
    )]
    pub bbox: Option<[f64; 4]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<Segmentation>,
    #[serde(
        default,
        deserialize_with = "de_opt_flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub iscrowd: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoCategory {
    pub id: i64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
}

/// A segmentation as COCO writes it: polygons, or an RLE with compressed or uncompressed counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Segmentation {
    Polygons(Vec<Vec<f64>>),
    Rle { size: [u32; 2], counts: RleCounts },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RleCounts {
    Compressed(String),
    Uncompressed(Vec<u32>),
}

impl Segmentation {
    /// The mask, as pycocotools' `COCO.annToRLE` computes it. `height` and `width` (the image's) are used for
    /// polygons; an RLE carries its own size.
    ///
    /// Polygons follow `frPyObjects`: a first polygon of 4 numbers or fewer, or no polygon at all, is an error
    /// (pycocotools raises on these too).
    pub fn to_rle(&self, height: u32, width: u32) -> Result<Rle, FormatError> {
        match self {
            Segmentation::Rle { size, counts } => match counts {
                RleCounts::Compressed(s) => Rle::from_compressed(s, size[0], size[1]),
                RleCounts::Uncompressed(c) => Rle::from_uncompressed(c, size[0], size[1]),
            },
            Segmentation::Polygons(polygons) => {
                let Some(first) = polygons.first() else {
                    return Err(FormatError::new(
                        "segmentation is an empty list of polygons",
                    ));
                };
                if first.len() <= 4 {
                    // pycocotools fails on these too: 4 numbers are taken for a box (and rejected), fewer match no
                    // input type.
                    return Err(FormatError::new(format!(
                        "segmentation: a polygon needs at least 3 points (6 numbers), the first has {} numbers",
                        first.len()
                    )));
                }
                Ok(Rle::from_polygons(polygons, height, width))
            }
        }
    }

    /// The compressed RLE form `{"size": [h, w], "counts": "..."}` of a mask.
    pub fn from_rle(rle: &Rle) -> Segmentation {
        Segmentation::Rle {
            size: [rle.height, rle.width],
            counts: RleCounts::Compressed(rle.to_compressed()),
        }
    }
}

impl Serialize for Segmentation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Segmentation::Polygons(p) => p.serialize(serializer),
            Segmentation::Rle { size, counts } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("size", size)?;
                match counts {
                    RleCounts::Compressed(s) => map.serialize_entry("counts", s)?,
                    RleCounts::Uncompressed(c) => map.serialize_entry("counts", c)?,
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Segmentation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SegmentationVisitor)
    }
}

struct SegmentationVisitor;

impl<'de> Visitor<'de> for SegmentationVisitor {
    type Value = Segmentation;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of polygons or an RLE object {\"size\": [h, w], \"counts\": ...}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Segmentation, A::Error> {
        let mut polygons = Vec::new();
        while let Some(p) = seq.next_element::<Vec<f64>>()? {
            polygons.push(p);
        }
        Ok(Segmentation::Polygons(polygons))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Segmentation, A::Error> {
        let mut size: Option<[u32; 2]> = None;
        let mut counts: Option<RleCounts> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "size" => size = Some(map.next_value()?),
                "counts" => counts = Some(map.next_value::<CountsValue>()?.0),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let size = size.ok_or_else(|| de::Error::missing_field("size"))?;
        let counts = counts.ok_or_else(|| de::Error::missing_field("counts"))?;
        Ok(Segmentation::Rle { size, counts })
    }
}

struct CountsValue(RleCounts);

impl<'de> Deserialize<'de> for CountsValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountsVisitor;
        impl<'de> Visitor<'de> for CountsVisitor {
            type Value = CountsValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RLE counts string or a list of run lengths")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CountsValue, E> {
                Ok(CountsValue(RleCounts::Compressed(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<CountsValue, E> {
                Ok(CountsValue(RleCounts::Compressed(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CountsValue, A::Error> {
                let mut counts = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(c) = seq.next_element::<u32>()? {
                    counts.push(c);
                }
                Ok(CountsValue(RleCounts::Uncompressed(counts)))
            }
        }
        deserializer.deserialize_any(CountsVisitor)
    }
}

/// A box is `[x, y, w, h]`; `null` and `[]` (which some writers emit) mean no box.
pub(crate) fn de_opt_bbox<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<[f64; 4]>, D::Error> {
    let values: Option<Vec<f64>> = Option::deserialize(deserializer)?;
    match values {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => {
            let b: [f64; 4] = v.as_slice().try_into().map_err(|_| {
                de::Error::custom(format!(
                    "a box needs 4 numbers [x, y, w, h], got {}",
                    v.len()
                ))
            })?;
            Ok(Some(b))
        }
    }
}

/// `iscrowd` is 0/1 in COCO files, but some writers emit `true`/`false`.
pub(crate) fn de_opt_flag<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Int(u8),
        Bool(bool),
    }
    Ok(Option::<Flag>::deserialize(deserializer)?.map(|f| match f {
        Flag::Int(i) => i,
        Flag::Bool(b) => b as u8,
    }))
}

/// Parses a COCO annotation file. Errors carry line, column, byte offset and the JSON path of the bad value.
pub fn parse_coco(text: &str) -> Result<CocoDataset, FormatError> {
    parse_json(text)
}

/// One detection in a COCO results file: `{image_id, category_id, bbox?, segmentation?, score}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoResult {
    pub image_id: i64,
    pub category_id: i64,
    #[serde(
        default,
        deserialize_with = "de_opt_bbox",
        skip_serializing_if = "Option::is_none"
    )]
    pub bbox: Option<[f64; 4]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<Segmentation>,
    pub score: f64,
}

/// Parses a COCO results file (a JSON list of detections).
pub fn parse_coco_results(text: &str) -> Result<Vec<CocoResult>, FormatError> {
    parse_json(text)
}
