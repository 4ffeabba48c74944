//! The temporal stage's evaluation (semi-supervised VOS): the ground truth scores 1 against itself, tracks start
//! on each object's first annotated frame from its ground-truth mask, and meters of other kinds are errors.

mod common;
mod temporal_common;

use common::TempDir;
use sam3c_formats::ytvis::{parse_ytvis, YtvisResult};
use sam3c_runtime::temporal::{evaluate_clips, hota, j_and_f, EvalOptions, TrackingRun};
use sam3c_stdlib::components::data::DatasetSpec;
use sam3c_stdlib::components::meter::{CgF1, IouType, JAndF, MeterSpec};
use sam3c_stdlib::units::Percent;
use temporal_common::*;

fn ground_truth_as_results(run: &TrackingRun) -> Vec<YtvisResult> {
    run.ground_truth
        .annotations
        .iter()
        .map(|a| YtvisResult {
            video_id: a.video_id,
            category_id: a.category_id,
            score: 1.0,
            segmentations: a.segmentations.clone(),
            bboxes: a.bboxes.clone(),
            areas: a.areas.clone(),
        })
        .collect()
}

#[test]
fn ground_truth_tracks_score_one() {
    let dir = TempDir::new("temporal-gt");
    let data = demo_videos(&dir.0, 3);
    let text = std::fs::read_to_string(&data.annotations).unwrap();
    let mut run = TrackingRun {
        ground_truth: parse_ytvis(&text).unwrap(),
        results: Vec::new(),
    };
    assert!(run.ground_truth.annotations.len() >= 6);
    run.results = ground_truth_as_results(&run);
    let jf = j_and_f(&run).unwrap();
    for key in [
        "vos_mask_all_video_J&F",
        "vos_mask_all_video_J-Mean",
        "vos_mask_all_video_F-Mean",
    ] {
        let v = jf.get(key).unwrap_or_else(|| panic!("no {key} in {jf:?}"));
        assert!((v - 1.0).abs() < 1e-12, "{key} = {v}");
    }
    for (phrase, key) in [
        (false, "vos_mask_all_class_HOTA"),
        (true, "vos_mask_all_phrase_HOTA"),
    ] {
        let h = hota(&run, phrase).unwrap();
        let v = h.get(key).unwrap_or_else(|| panic!("no {key} in {h:?}"));
        assert!((v - 1.0).abs() < 1e-12, "{key} = {v}");
    }
    // Dropping one object's track lowers J&F: the metric sees the results.
    run.results.pop();
    let partial = j_and_f(&run)
        .unwrap()
        .get("vos_mask_all_video_J&F")
        .unwrap();
    assert!(partial < 0.99, "J&F with a missing track: {partial}");
}

#[test]
fn tracks_start_from_the_ground_truth_on_each_objects_first_frame() {
    let _rng = torch_rng_lock();
    tch::set_num_threads(1);
    let dir = TempDir::new("temporal-track");
    let mut data = demo_videos(&dir.0, 3);
    data.limit = Some(2);
    let model = small_model(0);
    let run = model
        .track_dataset(
            &data,
            &square_pipeline(112),
            &EvalOptions {
                seed: 0,
                autocast: None,
            },
        )
        .unwrap();
    // Only the evaluated videos are scored.
    assert_eq!(run.ground_truth.videos.len(), 2);
    assert_eq!(run.results.len(), run.ground_truth.annotations.len());
    for gt in &run.ground_truth.annotations {
        let first = gt.segmentations.iter().position(Option::is_some).unwrap();
        let track = run
            .results
            .iter()
            .find(|r| {
                r.video_id == gt.video_id
                    && r.category_id == gt.category_id
                    && r.segmentations.len() == gt.segmentations.len()
                    && r.segmentations[first].is_some()
                    && r.segmentations[..first].iter().all(Option::is_none)
            })
            .unwrap_or_else(|| panic!("no track starting on frame {first} for {gt:?}"));
        assert_eq!(track.score, 1.0);
    }
    // The first frame is the ground-truth mask itself (resized to the model's input and back): J near 1 there.
    let first_frames = TrackingRun {
        ground_truth: {
            let mut g = run.ground_truth.clone();
            for a in &mut g.annotations {
                let first = a.segmentations.iter().position(Option::is_some).unwrap();
                a.segmentations
                    .iter_mut()
                    .skip(first + 1)
                    .for_each(|s| *s = None);
            }
            g
        },
        results: run
            .results
            .iter()
            .map(|r| {
                let mut r = r.clone();
                let first = r.segmentations.iter().position(Option::is_some).unwrap();
                r.segmentations
                    .iter_mut()
                    .skip(first + 1)
                    .for_each(|s| *s = None);
                r
            })
            .collect(),
    };
    let j = j_and_f(&first_frames)
        .unwrap()
        .get("vos_mask_all_video_J-Mean")
        .unwrap();
    assert!(j > 0.8, "J of the prompted frames: {j}");
}

#[test]
fn image_meters_are_not_temporal_meters() {
    let _rng = torch_rng_lock();
    let dir = TempDir::new("temporal-meters");
    let data = demo_videos(&dir.0, 3);
    let model = small_model(0);
    let meters = [
        MeterSpec::JAndF(JAndF {
            data: DatasetSpec::YtvisVideos(data.clone()),
            pipeline: square_pipeline(112),
        }),
        MeterSpec::CgF1(CgF1 {
            iou: IouType::Segm,
            data: DatasetSpec::YtvisVideos(data.clone()),
            pipeline: square_pipeline(112),
            postprocess: None,
            threshold: Percent(50.0),
        }),
    ];
    let options = EvalOptions {
        seed: 0,
        autocast: None,
    };
    let err = evaluate_clips(&model, &meters, &options).unwrap_err();
    assert!(err.to_string().contains("j_and_f"), "{err}");
    // An annotation file that is not there: an error naming it.
    let mut missing = data.clone();
    missing.annotations = dir.0.join("nowhere.json");
    let err = evaluate_clips(
        &model,
        &[MeterSpec::JAndF(JAndF {
            data: DatasetSpec::YtvisVideos(missing),
            pipeline: square_pipeline(112),
        })],
        &options,
    )
    .unwrap_err();
    assert!(err.to_string().contains("nowhere.json"), "{err}");
}
