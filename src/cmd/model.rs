//! `sam3c model inspect PRESET [--video]`: every state-dict entry of a model (name, shape, dtype), in upstream
//! order and in the format of `torch`'s own listing, from the architecture description: nothing is allocated.

use crate::util::*;
use sam3c_stdlib::arch::{model_params, Sam3Config};
use std::fmt::Write;
use std::process::ExitCode;

pub const PRESETS: [&str; 2] = ["sam3", "sam3-tiny"];

pub fn inspect(preset: &str, video: bool, summary: bool) -> ExitCode {
    let cfg = match preset {
        "sam3" => Sam3Config::full(),
        "sam3-tiny" => Sam3Config::tiny(),
        other => {
            let hint = sam3c_compiler::suggest::did_you_mean(other, PRESETS.iter().copied())
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            return usage_error(&format!(
                "unknown model `{other}`: the presets are {}{hint}",
                PRESETS.join(", ")
            ));
        }
    };
    let params = model_params(&cfg, video);
    if summary {
        let trainable: i64 = params
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.numel())
            .sum();
        println!(
            "{} ({}): {} state-dict entries, {} trainable parameters",
            preset,
            if video { "video" } else { "image" },
            params.len(),
            trainable
        );
        return ExitCode::SUCCESS;
    }
    let mut out = String::from("name\tshape\tdtype\n");
    for p in &params {
        let dims: Vec<String> = p.shape.iter().map(|d| d.to_string()).collect();
        // Python's tuple syntax: `(256,)` for one dimension.
        let shape = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let _ = writeln!(out, "{}\t{}\t{}", p.name, shape, p.dtype.torch_name());
    }
    print!("{out}");
    ExitCode::SUCCESS
}

/// `sam3c model weights CHECKPOINT -o FILE`.
#[cfg(feature = "native")]
pub fn weights(checkpoint: &std::path::Path, out: &std::path::Path) -> ExitCode {
    match sam3c_runtime::exec::state::export_weights(checkpoint, out) {
        Ok(export) => {
            println!(
                "{}: {} model tensors ({:.1} MB); {} optimizer tensors left out",
                out.display(),
                export.tensors,
                export.bytes as f64 / 1e6,
                export.dropped
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
