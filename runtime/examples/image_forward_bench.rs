//! Forward-pass timing of the image model (eval mode, no gradient) on one image and one text prompt.
//! Used by bench/model/run.sh, which also times upstream on the same sizes and measures peak memory.
//!
//! usage: image_forward_bench (tiny|full) [iterations] [threads]
//!        image_forward_bench --config-json (tiny|full)     prints the ImageConfig as JSON

use std::time::Instant;

use sam3c_runtime::model::{FindBatch, Sam3Image, TextPrompts};
use sam3c_runtime::text::Tokenizer;
use sam3c_stdlib::arch::image::ImageConfig;
use tch::{nn, Device, Kind, Tensor};

fn config(name: &str) -> ImageConfig {
    match name {
        "tiny" => ImageConfig::tiny(),
        "full" => ImageConfig::full(),
        other => {
            eprintln!("unknown config {other:?}: expected tiny or full");
            std::process::exit(2)
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--config-json") {
        let cfg = config(args.get(1).map(String::as_str).unwrap_or("tiny"));
        println!("{}", serde_json::to_string(&cfg).unwrap());
        return;
    }
    let cfg = config(args.first().map(String::as_str).unwrap_or("tiny"));
    let iters: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let threads: i32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    tch::manual_seed(0);

    let t0 = Instant::now();
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Sam3Image::new(vs.root(), &cfg).expect("valid config");
    let build_s = t0.elapsed().as_secs_f64();

    let r = cfg.resolution;
    let tokens = Tokenizer::shared().tokenize(&["a red car"], cfg.text_context_length as usize);
    let batch = FindBatch {
        images: Tensor::randn([1, 3, r, r], (Kind::Float, Device::Cpu)),
        text: TextPrompts::Tokens(tokens),
        img_ids: Tensor::from_slice(&[0i64]),
        text_ids: Tensor::from_slice(&[0i64]),
        geometry: None,
    };
    let mut times = Vec::new();
    tch::no_grad(|| {
        // One warm-up pass (allocator, kernels), then the timed ones.
        let _ = model.forward(&batch, false).unwrap();
        for _ in 0..iters {
            let t = Instant::now();
            let out = model.forward(&batch, false).unwrap();
            let _ = out.o2o.pred_logits.sum(Kind::Float).double_value(&[]);
            times.push(t.elapsed().as_secs_f64());
        }
    });
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    println!(
        "{}",
        serde_json::json!({"impl": "sam3c", "build_s": build_s, "forward_s": times, "mean_s": mean, "threads": threads})
    );
}
