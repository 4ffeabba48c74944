//! `sam3c eval`: evaluate file contents with one metric and render the result as a table or JSON.

use std::fmt::Write as _;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cgf1::{cgf1_evaluate, parse_cgf1_ground_truth, CgF1Options};
use crate::coco_eval::{coco_evaluate, CocoEvalOptions, IouType, COCO_STAT_LINES};
use crate::error::{DataError, EvalError, Source};
use crate::hota::{hota_evaluate, HotaOptions};
use crate::jf::{jf_evaluate, JfOptions};
use crate::values::MetricValues;

/// The metrics `sam3c eval --metric` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Bbox,
    Segm,
    CgF1,
    Hota,
    Jf,
}

impl MetricKind {
    pub const ALL: [MetricKind; 5] = [
        MetricKind::Bbox,
        MetricKind::Segm,
        MetricKind::CgF1,
        MetricKind::Hota,
        MetricKind::Jf,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Bbox => "bbox",
            MetricKind::Segm => "segm",
            MetricKind::CgF1 => "cgf1",
            MetricKind::Hota => "hota",
            MetricKind::Jf => "jf",
        }
    }
}

impl FromStr for MetricKind {
    type Err = String;
    fn from_str(s: &str) -> Result<MetricKind, String> {
        MetricKind::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!("unknown metric `{s}` (expected one of: bbox, segm, cgf1, hota, jf)")
            })
    }
}

/// A file handed over by the caller: its name (for messages) and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub name: String,
    pub text: String,
}

/// How sequences are formed for the video metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoMode {
    /// Each (video, category) pair is a sequence (sam3's phrase metrics).
    Phrase,
    /// HOTA: per video, averaged over categories (TrackEval's class HOTA); J&F: per video, class-agnostic.
    Video,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// COCO AP: drop detections of categories absent from an image's ground truth (ODinW "AP+").
    pub positive_split: bool,
    /// cgF1 and HOTA: the IoU types to evaluate; empty = bbox, plus segm when the data has masks (HOTA: segm,
    /// plus bbox when every track has boxes).
    pub iou_types: Vec<IouType>,
    pub video_mode: VideoMode,
    /// Video metrics: predictions scoring at most this are dropped (0.5 in sam3); `None` keeps all.
    pub score_threshold: Option<f64>,
    /// The prefix of the video metric keys (`video` in sam3).
    pub dataset_name: String,
}

impl Default for EvalOptions {
    fn default() -> EvalOptions {
        EvalOptions {
            positive_split: false,
            iou_types: Vec::new(),
            video_mode: VideoMode::Phrase,
            score_threshold: Some(0.5),
            dataset_name: "video".to_owned(),
        }
    }
}

/// What `sam3c eval` evaluates: ground-truth files (several only for cgF1's oracle setting), a prediction file.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRequest {
    pub gt: Vec<InputFile>,
    pub pred: InputFile,
    pub metric: MetricKind,
    pub options: EvalOptions,
}

/// One titled block of the human-readable table.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSection {
    pub title: String,
    /// `(label, value)`; COCO labels are pycocotools' summary lines.
    pub rows: Vec<(String, f64)>,
}

/// The result of [`evaluate`]: all values with upstream key names, and sections for the table.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    pub metric: MetricKind,
    pub values: MetricValues,
    pub sections: Vec<ReportSection>,
}

impl EvalReport {
    /// A readable table; COCO sections reproduce pycocotools' summary lines.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        for (i, section) in self.sections.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let _ = writeln!(out, "{}", section.title);
            let width = section
                .rows
                .iter()
                .map(|(l, _)| l.chars().count())
                .max()
                .unwrap_or(0);
            for (label, value) in &section.rows {
                if label.starts_with(" Average") {
                    let _ = writeln!(out, "{label} = {value:0.3}");
                } else {
                    let _ = writeln!(out, "  {label:<width$}  {}", format_value(*value));
                }
            }
        }
        out
    }

    /// The values as a flat JSON object (`{"coco_eval_bbox_AP": ..., ...}`); undefined values are `null`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.values).expect("metric values serialize")
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "nan".to_owned()
    } else {
        format!("{v:>8.4}")
    }
}

/// Evaluates `request` (file contents, not paths). Errors name the file and, when known, the entry and its
/// line and column.
pub fn evaluate(request: &EvalRequest) -> Result<EvalReport, EvalError> {
    let metric = request.metric;
    let opts = &request.options;
    let pred = &request.pred;
    let one_gt = || -> Result<&InputFile, EvalError> {
        match request.gt.as_slice() {
            [gt] => Ok(gt),
            _ => Err(EvalError::request(format!(
                "--metric {} takes exactly one ground-truth file, got {}",
                metric.name(),
                request.gt.len()
            ))),
        }
    };
    // Places a meter's error in the file it is about.
    let place = |e: DataError| -> EvalError {
        match e.source {
            Source::Predictions => EvalError::from_data(&pred.name, &pred.text, e),
            Source::GroundTruth(k) => {
                let f = &request.gt[k.min(request.gt.len() - 1)];
                EvalError::from_data(&f.name, &f.text, e)
            }
        }
    };
    match metric {
        MetricKind::Bbox | MetricKind::Segm => {
            let gt_file = one_gt()?;
            let gt = sam3c_formats::parse_coco(&gt_file.text)
                .map_err(|e| EvalError::from_format(&gt_file.name, e))?;
            let dts = sam3c_formats::parse_coco_results(&pred.text)
                .map_err(|e| EvalError::from_format(&pred.name, e))?;
            let iou_type = if metric == MetricKind::Bbox {
                IouType::Bbox
            } else {
                IouType::Segm
            };
            let result = coco_evaluate(
                &gt,
                &dts,
                &CocoEvalOptions {
                    iou_type,
                    positive_split: opts.positive_split,
                },
            )
            .map_err(place)?;
            let title = format!(
                "COCO {} AP{}",
                iou_type.name(),
                if opts.positive_split {
                    " (positive split)"
                } else {
                    ""
                }
            );
            let rows = COCO_STAT_LINES
                .iter()
                .zip(result.stats)
                .map(|(&(ap, iou, area, max_dets), v)| {
                    let (title, kind) = if ap { ("Average Precision", "(AP)") } else { ("Average Recall", "(AR)") };
                    (format!(" {title:<18} {kind} @[ IoU={iou:<9} | area={area:>6} | maxDets={max_dets:>3} ]"), v)
                })
                .collect();
            Ok(EvalReport {
                metric,
                values: result.metrics(),
                sections: vec![ReportSection { title, rows }],
            })
        }
        MetricKind::CgF1 => {
            if request.gt.is_empty() {
                return Err(EvalError::request(
                    "--metric cgf1 needs at least one ground-truth file",
                ));
            }
            let mut gts = Vec::with_capacity(request.gt.len());
            for f in &request.gt {
                gts.push(
                    parse_cgf1_ground_truth(&f.text)
                        .map_err(|e| EvalError::from_format(&f.name, e))?,
                );
            }
            let dts = sam3c_formats::parse_coco_results(&pred.text)
                .map_err(|e| EvalError::from_format(&pred.name, e))?;
            let iou_types = if opts.iou_types.is_empty() {
                let masks = gts.iter().all(|g| {
                    g.dataset
                        .annotations
                        .iter()
                        .all(|a| a.segmentation.is_some())
                });
                if masks {
                    vec![IouType::Bbox, IouType::Segm]
                } else {
                    vec![IouType::Bbox]
                }
            } else {
                opts.iou_types.clone()
            };
            let mut values = MetricValues::new();
            let mut sections = Vec::new();
            for iou_type in iou_types {
                let result =
                    cgf1_evaluate(&gts, &dts, &CgF1Options::new(iou_type)).map_err(place)?;
                let m = result.metrics();
                let prefix = format!("cgF1_eval_{}_", iou_type.name());
                sections.push(ReportSection {
                    title: format!(
                        "cgF1 {} ({} pairs, {} ground truth file(s))",
                        iou_type.name(),
                        result.num_pairs,
                        gts.len()
                    ),
                    rows: m
                        .iter()
                        .map(|(k, v)| (k.trim_start_matches(&prefix).to_owned(), v))
                        .collect(),
                });
                values.extend(m);
            }
            Ok(EvalReport {
                metric,
                values,
                sections,
            })
        }
        MetricKind::Hota | MetricKind::Jf => {
            let gt_file = one_gt()?;
            let gt = sam3c_formats::parse_ytvis(&gt_file.text)
                .map_err(|e| EvalError::from_format(&gt_file.name, e))?;
            let dts = sam3c_formats::parse_ytvis_results(&pred.text)
                .map_err(|e| EvalError::from_format(&pred.name, e))?;
            let per_phrase = opts.video_mode == VideoMode::Phrase;
            let mut values = MetricValues::new();
            let mut sections = Vec::new();
            if metric == MetricKind::Jf {
                let options = JfOptions {
                    per_phrase,
                    score_threshold: opts.score_threshold,
                    dataset_name: opts.dataset_name.clone(),
                };
                let result = jf_evaluate(&gt, &dts, &options).map_err(place)?;
                let m = result.metrics();
                sections.push(section_of(
                    &m,
                    format!(
                        "J&F ({} sequences, {} ground-truth tracks)",
                        result.num_sequences, result.num_gt_tracks
                    ),
                ));
                values.extend(m);
            } else {
                let iou_types = if opts.iou_types.is_empty() {
                    let boxes = gt.annotations.iter().all(|a| a.bboxes.is_some())
                        && dts.iter().all(|d| d.bboxes.is_some());
                    if boxes {
                        vec![IouType::Bbox, IouType::Segm]
                    } else {
                        vec![IouType::Segm]
                    }
                } else {
                    opts.iou_types.clone()
                };
                for iou_type in iou_types {
                    let options = HotaOptions {
                        iou_type,
                        per_phrase,
                        score_threshold: opts.score_threshold,
                        dataset_name: opts.dataset_name.clone(),
                    };
                    let result = hota_evaluate(&gt, &dts, &options).map_err(place)?;
                    let m = result.metrics();
                    let kind = if iou_type == IouType::Segm {
                        "mask"
                    } else {
                        "bbox"
                    };
                    sections.push(section_of(
                        &m,
                        format!("HOTA {kind} ({} sequences)", result.num_sequences),
                    ));
                    values.extend(m);
                }
            }
            Ok(EvalReport {
                metric,
                values,
                sections,
            })
        }
    }
}

/// A section whose labels are the keys without their common `..._all_{mode}_` prefix.
fn section_of(values: &MetricValues, title: String) -> ReportSection {
    let rows = values
        .iter()
        .map(|(k, v)| {
            let label = k
                .rsplit_once("_all_")
                .map_or(k, |(_, rest)| rest.split_once('_').map_or(rest, |(_, f)| f));
            (label.to_owned(), v)
        })
        .collect();
    ReportSection { title, rows }
}
