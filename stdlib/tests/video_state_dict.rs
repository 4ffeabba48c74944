//! The video model's description against the state dict of the real `build_sam3_video_model()` (the TSV was
//! written by upstream on the full model; see reference/upstream-sam3.md §5).

use sam3c_stdlib::arch::image::image_params;
use sam3c_stdlib::arch::tracker::{tracker_params, TrackerConfig};
use sam3c_stdlib::arch::video::{
    interactive_image_params, interactive_image_params_from_image, video_params,
    video_params_from_image, with_sam2_neck, DETECTOR_PREFIX, INTERACTIVE_TRACKER_PREFIX,
    SAM2_NECK_PREFIX, TRACKER_PREFIX,
};
use sam3c_stdlib::arch::{DType, ModuleKind, ParamInfo, Sam3Config};

const VIDEO_TSV: &str = include_str!("data/sam3_video_state_dict.tsv");

/// (name, shape, dtype) rows of the TSV, in file order.
fn upstream_rows() -> Vec<(String, Vec<i64>, String)> {
    VIDEO_TSV
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 3, "bad TSV row {line:?}");
            let shape = cols[1]
                .trim_matches(|c| c == '(' || c == ')')
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<i64>().unwrap())
                .collect();
            (cols[0].to_string(), shape, cols[2].to_string())
        })
        .collect()
}

fn rows(params: &[ParamInfo]) -> Vec<(String, Vec<i64>, String)> {
    params
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.shape.clone(),
                p.dtype.torch_name().to_string(),
            )
        })
        .collect()
}

/// The image model's entries as upstream lists them: the video model's `detector.` rows minus the neck copy.
/// (Stands in for `image::image_params(&ImageConfig::full())`, which has its own test against its own TSV.)
fn upstream_image_entries() -> Vec<ParamInfo> {
    upstream_rows()
        .into_iter()
        .filter_map(|(name, shape, dtype)| {
            let name = name.strip_prefix(DETECTOR_PREFIX)?.to_string();
            if name.starts_with(SAM2_NECK_PREFIX) {
                return None;
            }
            let dtype = if dtype == "torch.complex64" {
                DType::Complex64
            } else {
                DType::Float32
            };
            Some(ParamInfo {
                name,
                shape,
                dtype,
                trainable: dtype == DType::Float32,
                module: ModuleKind::Other,
            })
        })
        .collect()
}

/// Parameters as torch counts them (`model.parameters()`): buffers (RoPE tables, the prompt encoder's random
/// Fourier matrix) are in the state dict but not counted.
fn parameter_count(params: &[ParamInfo]) -> i64 {
    params
        .iter()
        .filter(|p| p.trainable)
        .map(ParamInfo::numel)
        .sum()
}

#[test]
fn full_tracker_equals_the_upstream_tracker_entries() {
    let expected: Vec<_> = upstream_rows()
        .into_iter()
        .filter_map(|(n, s, d)| Some((n.strip_prefix(TRACKER_PREFIX)?.to_string(), s, d)))
        .collect();
    let tracker = tracker_params(&TrackerConfig::full());
    let ours = rows(&tracker);
    assert_eq!(ours.len(), expected.len());
    for (a, b) in ours.iter().zip(&expected) {
        assert_eq!(a, b);
    }
    assert_eq!(parameter_count(&tracker), 11_743_362);
    let buffers: Vec<_> = tracker
        .iter()
        .filter(|p| !p.trainable)
        .map(|p| &p.name)
        .collect();
    assert_eq!(
        buffers,
        ["sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"]
    );
}

#[test]
fn full_video_model_equals_the_upstream_state_dict() {
    let expected = upstream_rows();
    let video = video_params_from_image(&upstream_image_entries(), &TrackerConfig::full());
    let ours = rows(&video);
    assert_eq!(ours.len(), 1465);
    assert_eq!(ours, expected);
    assert_eq!(parameter_count(&video), 860_055_224);
}

#[test]
fn neck_copy_is_not_duplicated_when_the_image_entries_already_have_it() {
    let once = with_sam2_neck(&upstream_image_entries());
    let twice = with_sam2_neck(&once);
    assert_eq!(rows(&once), rows(&twice));
    let copies = once
        .iter()
        .filter(|p| p.name.starts_with(SAM2_NECK_PREFIX))
        .count();
    assert_eq!(copies, 22);
}

#[test]
fn interactive_image_model_has_the_video_tensors_under_other_names() {
    let interactive =
        interactive_image_params_from_image(&upstream_image_entries(), &TrackerConfig::full());
    // upstream `_load_checkpoint`: detector.X -> X, tracker.X -> inst_interactive_predictor.model.X. The order
    // too is the video model's (checked once on the full upstream build: identical name, shape, dtype lists).
    let renamed: Vec<_> = upstream_rows()
        .into_iter()
        .map(|(n, s, d)| {
            let n = match (
                n.strip_prefix(DETECTOR_PREFIX),
                n.strip_prefix(TRACKER_PREFIX),
            ) {
                (Some(rest), _) => rest.to_string(),
                (_, Some(rest)) => format!("{INTERACTIVE_TRACKER_PREFIX}{rest}"),
                _ => panic!("unexpected upstream name {n}"),
            };
            (n, s, d)
        })
        .collect();
    assert_eq!(parameter_count(&interactive), 860_055_224);
    assert_eq!(rows(&interactive), renamed);
}

#[test]
fn video_params_of_the_full_config_equal_the_upstream_state_dict() {
    let video = video_params(&Sam3Config::full());
    assert_eq!(rows(&video), upstream_rows());
    assert_eq!(parameter_count(&video), 860_055_224);
    // The RoPE tables are complex buffers, not parameters.
    let complex = video.iter().filter(|p| p.dtype == DType::Complex64).count();
    assert_eq!(complex, 32);
    assert!(video
        .iter()
        .filter(|p| p.dtype == DType::Complex64)
        .all(|p| !p.trainable));
}

#[test]
fn interactive_image_params_have_the_video_count() {
    let interactive = interactive_image_params(&Sam3Config::full());
    assert_eq!(parameter_count(&interactive), 860_055_224);
    assert_eq!(interactive.len(), 1465);
}

#[test]
fn neck_copy_agrees_with_the_image_description_s_own_flag() {
    for base in [Sam3Config::full(), Sam3Config::tiny()] {
        let mut flagged = base.image.clone();
        flagged.add_sam2_neck = true;
        assert_eq!(
            rows(&with_sam2_neck(&image_params(&base.image))),
            rows(&image_params(&flagged))
        );
        // and the video layout is the same whichever way the copy comes in
        let cfg = Sam3Config {
            image: flagged,
            ..base.clone()
        };
        assert_eq!(rows(&video_params(&cfg)), rows(&video_params(&base)));
    }
}

#[test]
fn full_and_tiny_video_configs_are_consistent_and_mismatches_are_named() {
    use sam3c_stdlib::arch::video::check_video_config;
    check_video_config(&Sam3Config::full()).unwrap();
    check_video_config(&Sam3Config::tiny()).unwrap();
    let mut cfg = Sam3Config::tiny();
    cfg.tracker.d_model = 128;
    let err = check_video_config(&cfg).unwrap_err();
    assert!(
        err.contains("`d_model` (128)") && err.contains("(64)"),
        "{err}"
    );
    let mut cfg = Sam3Config::tiny();
    cfg.tracker.image_size = 448;
    assert!(check_video_config(&cfg).unwrap_err().contains("image_size"));
}
