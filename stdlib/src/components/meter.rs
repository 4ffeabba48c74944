//! Meters: evaluation of a stage's model on a held-out dataset.

use crate::units::Percent;
use sam3c_derive::{Component, DslEnum, DslUnion};
use serde::{Deserialize, Serialize};

use super::data::DatasetSpec;
use super::transforms::TransformSpec;

/// What predictions are compared with: boxes or masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, DslEnum)]
#[serde(rename_all = "lowercase")]
pub enum IouType {
    Bbox,
    Segm,
}

/// Turns model outputs into scored detections (upstream `PostProcessImage`): score = σ(logit)·σ(presence),
/// boxes and masks rescaled to the original image size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "postprocess",
    name = "detections",
    domain = "image",
    upstream = "sam3.eval.postprocessors.PostProcessImage"
)]
pub struct Detections {
    /// Output masks (needed by segm meters), not only boxes.
    #[param(default = "true")]
    pub masks: bool,
    /// Multiply scores by the presence probability.
    #[param(default = "true", upstream = "use_presence")]
    pub presence: bool,
    /// Keep at most this many detections per image (none: all).
    #[param(default = "none", range = "1..", upstream = "max_dets_per_img")]
    pub max_dets: Option<u32>,
    /// Drop detections scoring below this.
    #[param(default = "none", range = "0..=1", upstream = "detection_threshold")]
    pub threshold: Option<f64>,
}

/// COCO average precision (the 12 pycocotools statistics) for boxes or masks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "meter",
    name = "coco_ap",
    domain = "image",
    upstream = "sam3.eval.coco_eval_offline.CocoEvaluatorOfflineWithPredFileEvaluators"
)]
pub struct CocoAp {
    /// Evaluate boxes or masks.
    #[param(positional, default = "bbox", upstream = "iou_type")]
    pub iou: IouType,
    /// The held-out dataset.
    pub data: DatasetSpec,
    /// The evaluation pipeline (usually resize and normalize).
    pub pipeline: Vec<TransformSpec>,
    /// How outputs become detections (default: masks when `iou = segm`).
    #[param(default = "none")]
    pub postprocess: Option<Detections>,
    /// Detections per image kept for evaluation.
    #[param(default = "100", range = "1..", upstream = "maxdets")]
    pub max_dets: u32,
    /// Ignore detections of categories absent from an image (ODinW's "AP+").
    #[param(default = "false")]
    pub positive_split: bool,
}

/// SA-Co's concept-grounding F1: positive micro-F1 times image-level MCC, averaged over IoU 0.5:0.95.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "meter",
    name = "cgf1",
    domain = "image",
    upstream = "sam3.eval.cgf1_eval.CGF1Evaluator"
)]
pub struct CgF1 {
    /// Evaluate boxes or masks.
    #[param(positional, default = "segm", upstream = "iou_type")]
    pub iou: IouType,
    /// The held-out dataset.
    pub data: DatasetSpec,
    /// The evaluation pipeline.
    pub pipeline: Vec<TransformSpec>,
    /// How outputs become detections (default: masks when `iou = segm`).
    #[param(default = "none")]
    pub postprocess: Option<Detections>,
    /// Predictions scoring below this are dropped (SA-Co uses 0.5).
    #[param(default = "50%")]
    pub threshold: Percent,
}

/// J&F for video object segmentation: region similarity J (mask IoU) and boundary accuracy F, averaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(kind = "meter", name = "j_and_f", domain = "video")]
pub struct JAndF {
    /// The held-out video dataset.
    pub data: DatasetSpec,
    /// The evaluation pipeline.
    pub pipeline: Vec<TransformSpec>,
}

/// HOTA for multi-object tracking (TrackEval); with `phrase`, each (video, phrase) pair is its own sequence as
/// in SA-Co/VEval's pHOTA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Component)]
#[component(
    kind = "meter",
    name = "hota",
    domain = "video",
    upstream = "sam3.eval.saco_veval_evaluators.VideoPhraseHotaEvaluator"
)]
pub struct Hota {
    /// The held-out video dataset.
    pub data: DatasetSpec,
    /// The evaluation pipeline.
    pub pipeline: Vec<TransformSpec>,
    /// Phrase HOTA: one sequence per (video, phrase).
    #[param(default = "true")]
    pub phrase: bool,
}

/// Any meter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DslUnion)]
pub enum MeterSpec {
    CocoAp(CocoAp),
    CgF1(CgF1),
    JAndF(JAndF),
    Hota(Hota),
}
