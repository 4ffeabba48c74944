//! Data: datasets (COCO images, YTVIS clips), the transforms of a pipeline, collation into tensors and a
//! parallel prefetching loader, all with the semantics of upstream's `sam3.train.data` and
//! `sam3.train.transforms`.
//!
//! Flow: a [`Dataset`] loads a raw [`Datapoint`] (decoded frames, objects with absolute XYXY boxes and decoded
//! masks, one text query per category and frame); a [`Pipeline`] transforms it; [`collate`] turns a list of
//! them into a [`Batch`] of CPU tensors; the [`Loader`] does all of this on worker threads in a deterministic
//! order.

pub mod coco;
pub mod collate;
pub mod datapoint;
pub mod image;
pub mod loader;
pub mod mask;
pub mod rng;
pub mod transforms;
pub mod ytvis;

pub use coco::CocoImageDataset;
pub use collate::{collate, Batch, StageBatch, Targets};
pub use datapoint::{Datapoint, Frame, Object, Pixels, Query, QueryMetadata};
pub use loader::{Dataset, EpochIter, Loader, LoaderConfig};
pub use rng::Rng;
pub use transforms::{Pipeline, Step};
pub use ytvis::YtvisVideoDataset;

use std::path::PathBuf;

/// Everything that can go wrong while loading data. Each error names the file or the datapoint.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// An annotation file that cannot be read or parsed, or whose content is inconsistent.
    #[error("{}: {message}", file.display())]
    Annotation { file: PathBuf, message: String },
    /// A datapoint that cannot be loaded (missing or corrupt image, bad mask) or transformed.
    #[error("datapoint {datapoint}: {message}")]
    Datapoint { datapoint: String, message: String },
    /// A configuration the runtime cannot run (e.g. a batch size of 0).
    #[error("{0}")]
    Config(String),
}
