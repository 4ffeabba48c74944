//! Full-size tracker timings on this machine (a benchmark, not a test): reading a checkpoint in the official
//! `sam3.pt` layout, loading the tracker from it strictly, and tracking steps at 1008 px on the CPU.
//!
//! usage: cargo run --release -p sam3c-runtime --example tracker_bench -- [CHECKPOINT] [THREADS]

use sam3c_runtime::checkpoint::{self, KeyMap};
use sam3c_runtime::model::tracker::{MemoryBank, PointPrompt, StepInputs, Tracker, TrackerConfig};
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let threads: i32 = args.get(2).map_or(Ok(2), |s| s.parse())?;
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let cfg = TrackerConfig::full();
    let vs = nn::VarStore::new(Device::Cpu);
    let tracker = Tracker::new(vs.root(), &cfg)?;

    if let Some(path) = args.get(1) {
        let t = Instant::now();
        let sd = checkpoint::load(path.as_ref())?;
        println!(
            "load index: {} tensors in {:.3} s",
            sd.len(),
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        let mut bytes = 0usize;
        for e in sd.entries() {
            let x = e.to_tensor()?;
            bytes += x.numel() * e.dtype.size();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "read every tensor (CRC-checked): {:.2} GB in {s:.2} s ({:.2} GB/s)",
            bytes as f64 / 1e9,
            bytes as f64 / 1e9 / s
        );
        let t = Instant::now();
        let report = checkpoint::load_into(&vs, &sd, &KeyMap::video_to_tracker(), true)?;
        println!(
            "load_into tracker (strict): {} tensors in {:.3} s, {} detector tensors not selected",
            report.loaded,
            t.elapsed().as_secs_f64(),
            report.not_selected.len()
        );
    }

    let (d, f) = (cfg.d_model, cfg.feat_size());
    let opts = (Kind::Float, Device::Cpu);
    let frame = || {
        tracker.frame_features(
            [
                &Tensor::randn([1, d, 4 * f, 4 * f], opts),
                &Tensor::randn([1, d, 2 * f, 2 * f], opts),
                &Tensor::randn([1, d, f, f], opts),
            ],
            &Tensor::randn([1, d, f, f], opts),
        )
    };
    let points = PointPrompt {
        coords: Tensor::from_slice(&[500.0f32, 400.0]).view([1, 1, 2]),
        labels: Tensor::ones([1, 1], (Kind::Int, Device::Cpu)),
    };
    tch::no_grad(|| -> Result<(), Box<dyn std::error::Error>> {
        let mut bank = MemoryBank::new();
        for frame_idx in 0..4 {
            let feats = frame()?;
            let step = StepInputs {
                frame_idx,
                is_init_cond_frame: frame_idx == 0,
                num_frames: 8,
                points: (frame_idx == 0).then_some(&points),
                ..Default::default()
            };
            let t = Instant::now();
            let out = tracker.track_step(&feats, &step, &bank, false)?;
            println!(
                "eval track_step frame {frame_idx} ({} memory frames): {:.3} s",
                bank.cond_frames().count() + bank.non_cond_frames().count(),
                t.elapsed().as_secs_f64()
            );
            bank.insert(frame_idx, out.memory(), frame_idx == 0);
        }
        Ok(())
    })?;

    let mut bank = MemoryBank::new();
    let t = Instant::now();
    let mut terms = Vec::new();
    for frame_idx in 0..3 {
        let feats = frame()?;
        let step = StepInputs {
            frame_idx,
            is_init_cond_frame: frame_idx == 0,
            num_frames: 3,
            points: (frame_idx == 0).then_some(&points),
            ..Default::default()
        };
        let out = tracker.track_step(&feats, &step, &bank, true)?;
        terms.push(out.pred_masks.mean(Kind::Float) + out.ious.mean(Kind::Float));
        bank.insert(frame_idx, out.memory(), frame_idx == 0);
    }
    let forward = t.elapsed().as_secs_f64();
    Tensor::stack(&terms, 0).sum(Kind::Float).backward();
    println!(
        "training, 3-frame clip: forward {forward:.3} s, forward+backward {:.3} s",
        t.elapsed().as_secs_f64()
    );
    println!("peak RSS: {:.0} MiB", peak_rss_mib());
    Ok(())
}
