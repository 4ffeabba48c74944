//! COCO and YTVIS annotation files and RLE / polygon masks, compatible with pycocotools.
//!
//! * [`rle`]: masks as pycocotools' `maskApi.c` computes them (encode, decode, compressed strings, polygons, merge,
//!   area, box, IoU with crowd semantics).
//! * [`coco`] and [`ytvis`]: typed files; fields a file may omit are `Option`, so checkers can report them.
//! * [`json_span`]: byte ranges of values inside a JSON text, for diagnostics.
//!
//! Every parse error is a [`FormatError`] with line, column, byte offset and, when known, the JSON path.

pub mod coco;
pub mod error;
mod json;
pub mod json_span;
pub mod rle;
pub mod ytvis;

pub use coco::{
    parse_coco, parse_coco_results, CocoAnnotation, CocoCategory, CocoDataset, CocoImage,
    CocoResult, RleCounts, Segmentation,
};
pub use error::{FormatError, TextLocation};
pub use json_span::{locate, PathSeg};
pub use rle::{bbox_iou, iou, Rle};
pub use ytvis::{
    parse_ytvis, parse_ytvis_results, YtvisAnnotation, YtvisDataset, YtvisResult, YtvisVideo,
};
