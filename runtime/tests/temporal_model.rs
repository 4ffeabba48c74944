//! The video model's weights: an image stage's checkpoint loads onto `detector.*` exactly and strictly (the
//! factory spec's `init = spatial`), a video checkpoint round-trips, and files of the wrong kind are errors.

mod common;
mod temporal_common;

use common::TempDir;
use sam3c_runtime::checkpoint;
use sam3c_runtime::model::Sam3Image;
use sam3c_runtime::temporal::{Sam2NeckSource, TemporalError, VideoModel};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Tensor};
use temporal_common::*;

const DETECTOR: &str = "detector.";
const NECK: &str = "backbone.vision_backbone.convs.";
const SAM2_NECK: &str = "backbone.vision_backbone.sam2_convs.";

/// An image model of the small config (with or without the tracker neck), seeded, saved as an image stage
/// would save it; returns its tensors by name.
fn save_image_stage(path: &Path, with_sam2_neck: bool, seed: i64) -> BTreeMap<String, Tensor> {
    tch::manual_seed(seed);
    let mut config = small_config().image;
    config.add_sam2_neck = with_sam2_neck;
    let vs = VarStore::new(Device::Cpu);
    Sam3Image::new(vs.root(), &config).unwrap();
    let tensors: BTreeMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    checkpoint::save(path, &tensors, &BTreeMap::new()).unwrap();
    tensors
}

fn snapshot(model: &VideoModel) -> HashMap<String, Tensor> {
    model
        .vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect()
}

fn copy_of(tensors: &BTreeMap<String, Tensor>) -> BTreeMap<String, Tensor> {
    tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect()
}

fn path(dir: &TempDir, name: &str) -> PathBuf {
    dir.0.join(name)
}

#[test]
fn an_image_stage_loads_onto_the_detector_exactly() {
    let _rng = torch_rng_lock();
    let dir = TempDir::new("temporal-init");
    let file = path(&dir, "image.safetensors");
    let image = save_image_stage(&file, false, 5);
    let model = small_model(6);
    let before = snapshot(&model);

    let report = model.load_image_stage(&file, false).unwrap();
    assert_eq!(report.sam2_neck, Sam2NeckSource::CopiedFromConvs);
    let after = snapshot(&model);
    let mut detector_tensors = 0;
    for (name, value) in &after {
        if let Some(image_name) = name.strip_prefix(DETECTOR) {
            detector_tensors += 1;
            // The tracker neck starts as a copy of the image neck (upstream deep-copies `convs`).
            let source = match image_name.strip_prefix(SAM2_NECK) {
                Some(rest) => format!("{NECK}{rest}"),
                None => image_name.to_string(),
            };
            let expected = image
                .get(&source)
                .unwrap_or_else(|| panic!("{name}: no `{source}` in the image checkpoint"));
            assert!(
                value.equal(expected),
                "{name} differs from the checkpoint's {source}"
            );
        } else {
            assert!(
                value.equal(&before[name]),
                "{name}: the tracker must be untouched"
            );
        }
    }
    let neck_tensors = image.keys().filter(|n| n.starts_with(NECK)).count();
    assert!(neck_tensors > 0);
    assert_eq!(detector_tensors, image.len() + neck_tensors);
    assert!(after.keys().any(|n| n.starts_with("tracker.")));

    // Video weights loaded before keep their tracker neck; a checkpoint that has one brings its own.
    let kept = small_model(7);
    let neck_before = snapshot(&kept);
    assert_eq!(
        kept.load_image_stage(&file, true).unwrap().sam2_neck,
        Sam2NeckSource::Kept
    );
    for (name, value) in snapshot(&kept) {
        if name.contains(SAM2_NECK) {
            assert!(value.equal(&neck_before[&name]), "{name} must be kept");
        }
    }
    let with_neck = path(&dir, "image-with-neck.safetensors");
    let image = save_image_stage(&with_neck, true, 8);
    assert_eq!(
        kept.load_image_stage(&with_neck, true).unwrap().sam2_neck,
        Sam2NeckSource::Checkpoint
    );
    for (name, value) in snapshot(&kept) {
        if let Some(image_name) = name.strip_prefix(DETECTOR) {
            assert!(value.equal(&image[image_name]), "{name}");
        }
    }
}

#[test]
fn image_stage_loading_is_strict() {
    let _rng = torch_rng_lock();
    let dir = TempDir::new("temporal-strict");
    let full = path(&dir, "image.safetensors");
    let image = save_image_stage(&full, false, 5);
    let model = small_model(6);
    let before = snapshot(&model);

    // One tensor missing: an error naming it, and nothing is loaded.
    let missing_name = image
        .keys()
        .find(|n| n.starts_with("transformer."))
        .unwrap()
        .clone();
    let mut partial = copy_of(&image);
    partial.remove(&missing_name);
    let missing = path(&dir, "missing.safetensors");
    checkpoint::save(&missing, &partial, &BTreeMap::new()).unwrap();
    let err = model.load_image_stage(&missing, false).unwrap_err();
    assert!(matches!(err, TemporalError::Checkpoint { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("detector.{missing_name}")),
        "{message}"
    );
    assert!(message.contains("missing"), "{message}");
    for (name, value) in snapshot(&model) {
        assert!(
            value.equal(&before[&name]),
            "{name} changed by a failed load"
        );
    }

    // An unexpected tensor is an error too.
    let mut extra = copy_of(&image);
    extra.insert(
        "backbone.not_a_module.weight".into(),
        Tensor::zeros([2], tch::kind::FLOAT_CPU),
    );
    let unexpected = path(&dir, "unexpected.safetensors");
    checkpoint::save(&unexpected, &extra, &BTreeMap::new()).unwrap();
    let err = model.load_image_stage(&unexpected, false).unwrap_err();
    assert!(
        err.to_string().contains("backbone.not_a_module.weight"),
        "{err}"
    );

    // A wrong shape is an error.
    let mut reshaped = copy_of(&image);
    let (name, t) = image.iter().find(|(_, t)| t.dim() == 2).unwrap();
    reshaped.insert(name.clone(), t.narrow(0, 0, 1).copy());
    let wrong = path(&dir, "shape.safetensors");
    checkpoint::save(&wrong, &reshaped, &BTreeMap::new()).unwrap();
    let err = model.load_image_stage(&wrong, false).unwrap_err();
    assert!(err.to_string().contains(name.as_str()), "{err}");
}

#[test]
fn video_checkpoints_round_trip_and_wrong_kinds_are_errors() {
    let _rng = torch_rng_lock();
    let dir = TempDir::new("temporal-video");
    let trained = small_model(1);
    let video = path(&dir, "video.safetensors");
    let mut tensors: BTreeMap<String, Tensor> = trained
        .vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    // A sam3c stage checkpoint also holds its optimizer state, which the model skips.
    tensors.insert(
        "optimizer.exp_avg.tracker.maskmem_tpos_enc".into(),
        Tensor::ones([3], tch::kind::FLOAT_CPU),
    );
    checkpoint::save(&video, &tensors, &BTreeMap::new()).unwrap();
    let fresh = small_model(2);
    fresh.load_weights(&video).unwrap();
    let loaded = snapshot(&fresh);
    for (name, value) in snapshot(&trained) {
        assert!(value.equal(&loaded[&name]), "{name}");
    }
    // `init` with a video checkpoint loads everything too.
    let other = small_model(3);
    other.load_init(&video, false).unwrap();
    for (name, value) in snapshot(&other) {
        assert!(value.equal(&loaded[&name]), "{name}");
    }

    // An image checkpoint is no video model's `weights`; a video checkpoint is no image stage.
    let image = path(&dir, "image.safetensors");
    save_image_stage(&image, false, 4);
    let err = fresh.load_weights(&image).unwrap_err();
    assert!(matches!(err, TemporalError::BadCheckpoint { .. }), "{err}");
    assert!(err.to_string().contains("init"), "{err}");
    let err = fresh.load_image_stage(&video, false).unwrap_err();
    assert!(matches!(err, TemporalError::BadCheckpoint { .. }), "{err}");
    // A file that is not a checkpoint.
    let junk = path(&dir, "junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    assert!(matches!(
        fresh.load_weights(&junk).unwrap_err(),
        TemporalError::Checkpoint { .. }
    ));
}

#[test]
fn a_stage_model_loads_its_weights_then_its_init() {
    use sam3c_stdlib::components::model::{ModelSize, Sam3Video, TrackerPrompts};
    let _rng = torch_rng_lock();
    let dir = TempDir::new("temporal-stage");
    let image = path(&dir, "image.safetensors");
    let tensors = save_image_stage(&image, false, 5);
    let spec = Sam3Video {
        size: ModelSize::Tiny,
        weights: None,
        from_hub: true,
        temporal_disambiguation: true,
        prompts: TrackerPrompts::default(),
    };
    let err = VideoModel::for_stage(&spec, None, Device::Cpu, 0).unwrap_err();
    assert!(err.to_string().contains("from_hub"), "{err}");
    // `weights` (a video checkpoint) first, then `init` (an image stage) onto the detector: the tracker and its
    // neck come from the weights, every other detector tensor from the image stage. (The small test config
    // differs from the tiny preset in resolution only, which no parameter shape depends on.)
    let video = path(&dir, "video.safetensors");
    let weights: BTreeMap<String, Tensor> = snapshot(&small_model(1)).into_iter().collect();
    checkpoint::save(&video, &weights, &BTreeMap::new()).unwrap();
    let spec = Sam3Video {
        from_hub: false,
        weights: Some(video),
        ..spec
    };
    let model = VideoModel::for_stage(&spec, Some(&image), Device::Cpu, 0).unwrap();
    assert!(model.config.image.add_sam2_neck && model.config.tracker.use_memory_selection);
    for (name, value) in snapshot(&model) {
        let expected = match name.strip_prefix(DETECTOR) {
            Some(rest) if !rest.starts_with(SAM2_NECK) => &tensors[rest],
            _ => &weights[&name],
        };
        assert!(value.equal(expected), "{name}");
    }
}
