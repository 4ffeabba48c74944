//! SAM 3 on tch (the image model and, in `tracker`, the video tracker): one Rust module per upstream module, the same module tree and parameter
//! names as `sam3.model` (VarStore paths `a.b.c` equal the upstream state-dict keys, as listed by
//! `sam3c_stdlib::arch::image::image_params`).
//!
//! ```ignore
//! let vs = tch::nn::VarStore::new(tch::Device::cuda_if_available());
//! let model = Sam3Image::new(vs.root(), &ImageConfig::full())?;          // or vs.root() / "detector"
//! let tokens = crate::text::Tokenizer::shared().tokenize(&["a red car"], 32);
//! let batch = FindBatch {
//!     images,                                   // (N, 3, 1008, 1008), normalized with mean = std = 0.5
//!     text: TextPrompts::Tokens(tokens),        // or TextPrompts::Encoded(model.encode_text(&tokens)?)
//!     img_ids, text_ids,                        // (B,) int64: image and text of each query
//!     geometry: None,                           // or Some(GeometricPrompt { boxes, points, ... })
//! };
//! let out = model.forward(&batch, /* train */ true)?;   // o2o, o2m, aux_outputs, pred_masks, ...
//! let groups = model.parameter_kinds();                 // (name, ModuleKind) for optimizer groups
//! ```
//!
//! Not reproduced from upstream: activation checkpointing (a memory/compute trade with the same numbers),
//! `torch.compile`, the instance-interactive predictor, and the in-model Hungarian matcher (matching belongs
//! to the training code). RoPE tables are recomputed from the config, never loaded.

pub mod common;
pub mod decoder;
pub mod dot_prod_scoring;
pub mod encoder;
pub mod geometry_encoders;
pub mod init;
pub mod maskformer_segmentation;
pub mod necks;
pub mod roi_align;
pub mod sam3_image;
pub mod text_encoder_ve;
pub mod tracker;
pub mod vitdet;
pub mod vl_combiner;

pub use geometry_encoders::GeometricPrompt;
pub use init::{init_image_like_upstream, init_tracker_like_upstream};
pub use sam3_image::{
    AuxOutput, FindBatch, ModelError, Predictions, Sam3Image, Sam3ImageOutput, TextPrompts,
};
pub use text_encoder_ve::TextFeatures;
pub use vl_combiner::VisionFeatures;
