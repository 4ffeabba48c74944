//! `sam3c predict`: run a checkpoint on one image with text prompts; write the detections (boxes, scores, COCO
//! RLE masks) as JSON and an overlay PNG.

use crate::util::usage_error;
use sam3c_runtime::predict::{encode_png, predict as run_predict, PredictError, PredictRequest};
use sam3c_stdlib::components::model::ModelSize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The flags of `sam3c predict`.
#[derive(clap::Args)]
pub struct PredictArgs {
    /// The size preset of the checkpoint: tiny (sam3-tiny) or full (sam3).
    #[arg(long)]
    pub model: String,
    /// The weights: a sam3c checkpoint, Meta's sam3.pt, or a trainer checkpoint.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The image (JPEG or PNG).
    #[arg(long)]
    pub image: PathBuf,
    /// A text prompt (repeatable: one colour per prompt).
    #[arg(long = "prompt", required = true)]
    pub prompts: Vec<String>,
    /// Where to write `<image>.predictions.json` and `<image>.overlay.png`.
    #[arg(long, default_value = "predictions")]
    pub out: PathBuf,
    /// Keep detections scoring above this.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// cpu, cuda or cuda:N (default: CUDA when present, else the CPU).
    #[arg(long)]
    pub device: Option<String>,
}

pub fn predict(args: PredictArgs) -> ExitCode {
    let size = match args.model.as_str() {
        "tiny" | "sam3-tiny" => ModelSize::Tiny,
        "full" | "sam3" => ModelSize::Full,
        other => {
            return usage_error(&format!(
                "--model {other}: unknown preset; expected tiny (sam3-tiny) or full (sam3)"
            ))
        }
    };
    for (flag, path) in [("--checkpoint", &args.checkpoint), ("--image", &args.image)] {
        if !path.exists() {
            return usage_error(&format!("{flag} {}: no such file", path.display()));
        }
    }
    let device = match sam3c_runtime::device::select(args.device.as_deref()) {
        Ok(d) => d,
        Err(e) => return usage_error(&format!("--device: {e}")),
    };
    let request = PredictRequest {
        size,
        checkpoint: args.checkpoint.clone(),
        image: args.image.clone(),
        prompts: args.prompts.clone(),
        threshold: args.threshold,
        device,
    };
    let prediction = match run_predict(&request) {
        Ok(p) => p,
        Err(e @ (PredictError::Prompt(_) | PredictError::Threshold(_))) => {
            return usage_error(&e.to_string())
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: cannot create {}: {e}", args.out.display());
        return ExitCode::from(1);
    }
    let stem = args
        .image
        .file_stem()
        .map_or("image".to_string(), |s| s.to_string_lossy().into_owned());
    let json_path = args.out.join(format!("{stem}.predictions.json"));
    let png_path = args.out.join(format!("{stem}.overlay.png"));
    let json = serde_json::to_string_pretty(&prediction.to_json()).expect("JSON values");
    let png = match encode_png(&prediction.overlay(&prediction.image)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: encoding the overlay: {e}");
            return ExitCode::from(1);
        }
    };
    for (path, bytes) in [(&json_path, json.as_bytes()), (&png_path, png.as_slice())] {
        if let Err(e) = write(path, bytes) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    for p in &prediction.prompts {
        let scores: Vec<String> = p
            .detections
            .iter()
            .map(|d| format!("{:.2}", d.score))
            .collect();
        println!(
            "{}: {} detection(s){}",
            p.prompt,
            p.detections.len(),
            if scores.is_empty() {
                String::new()
            } else {
                format!(" (scores {})", scores.join(", "))
            }
        );
    }
    println!("wrote {} and {}", json_path.display(), png_path.display());
    ExitCode::SUCCESS
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
