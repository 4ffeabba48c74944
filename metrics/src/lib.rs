//! Evaluation meters identical to the references (pycocotools, sam3's evaluators, TrackEval):
//! COCO AP ([`coco_eval`]), cgF1 ([`cgf1`]), HOTA and phrase-HOTA ([`hota`]), J&F ([`jf`]).
//!
//! Every result converts to [`MetricValues`], a flat ordered map with the upstream key names. [`evaluate`] is the
//! entry point of `sam3c eval`: it takes file contents and returns an [`EvalReport`].

pub mod cgf1;
pub mod coco_eval;
pub mod error;
pub mod hota;
pub mod jf;
pub mod numeric;
pub mod report;
pub mod values;

pub use cgf1::{cgf1_evaluate, parse_cgf1_ground_truth, CgF1GroundTruth, CgF1Options, CgF1Result};
pub use coco_eval::{coco_evaluate, CocoEvalOptions, CocoEvalResult, IouType};
pub use error::{DataError, EvalError, PathStep, Source};
pub use hota::{hota_evaluate, HotaOptions, HotaResult};
pub use jf::{jf_evaluate, JfOptions, JfResult};
pub use report::{
    evaluate, EvalOptions, EvalReport, EvalRequest, InputFile, MetricKind, ReportSection, VideoMode,
};
pub use values::MetricValues;
