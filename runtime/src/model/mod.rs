//! The SAM 3 image model on tch: one Rust module per upstream module, the same module tree and parameter
//! names as `sam3.model` (VarStore paths `a.b.c` equal the upstream state-dict keys).

pub mod common;
pub mod decoder;
pub mod dot_prod_scoring;
pub mod encoder;
pub mod geometry_encoders;
pub mod maskformer_segmentation;
pub mod necks;
pub mod roi_align;
pub mod sam3_image;
pub mod text_encoder_ve;
pub mod vitdet;
pub mod vl_combiner;

pub use geometry_encoders::GeometricPrompt;
pub use sam3_image::{
    AuxOutput, FindBatch, ModelError, Predictions, Sam3Image, Sam3ImageOutput, TextPrompts,
};
pub use text_encoder_ve::TextFeatures;
pub use vl_combiner::VisionFeatures;
