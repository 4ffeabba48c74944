//! `sam3c eval`: evaluate a prediction file against ground truth.

use crate::util::*;
use crate::Format;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn eval(
    gt: &[PathBuf],
    pred: &std::path::Path,
    metric: &str,
    positive_split: bool,
    format: Format,
) -> ExitCode {
    use sam3c_metrics::{EvalOptions, EvalRequest, InputFile, MetricKind};
    let read = |p: &std::path::Path| -> Result<InputFile, String> {
        std::fs::read_to_string(p)
            .map(|text| InputFile {
                name: p.display().to_string(),
                text,
            })
            .map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    };
    let inputs: Result<Vec<InputFile>, String> = gt.iter().map(|p| read(p)).collect();
    let (gt, pred) = match (inputs, read(pred)) {
        (Ok(g), Ok(p)) => (g, p),
        (Err(e), _) | (_, Err(e)) => return usage_error(&e),
    };
    let metric: MetricKind = match metric.parse() {
        Ok(m) => m,
        Err(e) => return usage_error(&format!("{e}")),
    };
    let options = EvalOptions {
        positive_split,
        ..EvalOptions::default()
    };
    match sam3c_metrics::evaluate(&EvalRequest {
        gt,
        pred,
        metric,
        options,
    }) {
        Ok(report) => {
            match format {
                Format::Human => print!("{}", report.render_table()),
                Format::Json => println!("{}", report.to_json()),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
