//! Fixtures of the temporal tests: the demo videos, a pipeline to the model's square input, clip batches, and a
//! video model small enough that a clip step takes a fraction of a second on 2 CPU cores.
#![allow(dead_code)]

use sam3c_runtime::data::{collate, Batch, Dataset, Pipeline, Rng, YtvisVideoDataset};
use sam3c_runtime::temporal::VideoModel;
use sam3c_stdlib::arch::Sam3Config;
use sam3c_stdlib::components::data::{ClipSampler, YtvisVideos};
use sam3c_stdlib::components::transforms::{DecodeMasks, Normalize, Resize, TransformSpec};
use sam3c_stdlib::units::Pixels;
use std::path::Path;
use tch::Device;

/// The tiny presets at a 112-pixel input (an 8x8 feature grid): same modules and names, 4x fewer tokens.
pub fn small_config() -> Sam3Config {
    let mut config = Sam3Config::tiny();
    config.image.resolution = 112;
    config.tracker.image_size = 112;
    config.tracker.mask_downsampler_interpol_size = 128;
    config.image.add_sam2_neck = true;
    config
}

pub fn small_model(seed: i64) -> VideoModel {
    tch::manual_seed(seed);
    VideoModel::new(&small_config(), Device::Cpu).unwrap()
}

/// The demo's training videos (6 videos of 8 frames, 320x240), `frames` frames per clip, stride 1, in order.
pub fn demo_videos(dir: &Path, frames: u32) -> YtvisVideos {
    let summary = sam3c_runtime::demo::generate(dir, 2).unwrap();
    let split = &summary.video_splits[0];
    YtvisVideos {
        frames: split.frames_dir.clone(),
        annotations: split.annotations.clone(),
        masks: true,
        clip: ClipSampler {
            frames,
            stride_min: 1,
            stride_max: 1,
            reverse: false,
            max_objects: 50,
        },
        limit: None,
    }
}

/// Decode masks, resize to the model's square input, normalize (mean = std = 0.5).
pub fn square_pipeline(size: u32) -> Vec<TransformSpec> {
    vec![
        TransformSpec::DecodeMasks(DecodeMasks {}),
        TransformSpec::Resize(Resize {
            size: Pixels(size),
            max_size: None,
            square: true,
        }),
        TransformSpec::Normalize(Normalize {
            mean: vec![0.5; 3],
            std: vec![0.5; 3],
        }),
    ]
}

/// Clip `index` of `data` (training sampling, seeded) through `pipeline`, collated with masks.
pub fn clip_batch(data: &YtvisVideos, training: bool, index: usize, size: u32, seed: u64) -> Batch {
    let dataset = YtvisVideoDataset::open(data, training).unwrap();
    let pipeline = Pipeline::new(&square_pipeline(size)).unwrap();
    let mut rng = Rng::from_words(&[seed, index as u64]);
    let raw = dataset.load(index, &mut rng).unwrap().unwrap();
    let dp = pipeline.apply(raw, &mut rng).unwrap().unwrap();
    collate(&[dp], true).unwrap()
}

/// Torch's generator is process-wide: every test of a temporal binary holds this lock, so that a test that seeds
/// it and checks the draws is not disturbed by the others (threads of the same process) drawing in between.
pub fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The first `videos` videos of `data` cut to their first `frames` frames, in a new annotation file in `dir`: with
/// a clip sampler of `frames` frames at stride 1 and no reversal, every training clip is a whole (cut) video, so
/// evaluating these videos evaluates exactly the training clips.
pub fn cut_videos(data: &YtvisVideos, dir: &Path, videos: usize, frames: usize) -> YtvisVideos {
    let text = std::fs::read_to_string(&data.annotations).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cut = |v: &mut serde_json::Value| {
        if let Some(list) = v.as_array_mut() {
            list.truncate(frames);
        }
    };
    let kept: Vec<i64> = {
        let list = json["videos"].as_array_mut().unwrap();
        list.truncate(videos);
        for video in list.iter_mut() {
            cut(&mut video["file_names"]);
            if video.get("length").is_some() {
                video["length"] = serde_json::json!(frames);
            }
        }
        list.iter().map(|v| v["id"].as_i64().unwrap()).collect()
    };
    let annotations = json["annotations"].as_array_mut().unwrap();
    annotations.retain(|a| kept.contains(&a["video_id"].as_i64().unwrap()));
    for a in annotations.iter_mut() {
        for key in ["segmentations", "bboxes", "areas"] {
            if let Some(v) = a.get_mut(key) {
                cut(v);
            }
        }
    }
    // Tracks that only appear after the cut have nothing left to score.
    annotations.retain(|a| {
        a["segmentations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| !s.is_null())
    });
    let path = dir.join("cut_annotations.json");
    std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
    YtvisVideos {
        annotations: path,
        clip: ClipSampler {
            frames: frames as u32,
            stride_min: 1,
            stride_max: 1,
            reverse: false,
            max_objects: 50,
        },
        limit: None,
        ..data.clone()
    }
}
