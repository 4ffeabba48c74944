//! `ytvis_videos` + `clips`: SAM 2 / upstream clip sampling (frames, stride range, reversal, evaluation on
//! every frame), one query per (frame, category), track ids stable across frames, `max_objects` skipping,
//! and a clear error for a video shorter than a clip.

mod common;

use common::TempDir;
use sam3c_runtime::data::ytvis::sample_clip;
use sam3c_runtime::data::{Dataset, Rng, YtvisVideoDataset};
use sam3c_stdlib::components::data::{ClipSampler, YtvisVideos};
use std::collections::{BTreeSet, HashMap};

fn sampler(
    frames: u32,
    stride_min: u32,
    stride_max: u32,
    reverse: bool,
    max_objects: u32,
) -> ClipSampler {
    ClipSampler {
        frames,
        stride_min,
        stride_max,
        reverse,
        max_objects,
    }
}

#[test]
fn clips_follow_upstream_stage_sampling() {
    let mut strides = BTreeSet::new();
    let (mut reversed, mut forward) = (0, 0);
    for seed in 0..400 {
        let mut rng = Rng::from_words(&[seed]);
        let clip = sample_clip(20, &sampler(4, 1, 5, true, 50), &mut rng);
        assert_eq!(clip.len(), 4);
        let steps: Vec<i64> = clip.windows(2).map(|w| w[1] as i64 - w[0] as i64).collect();
        assert!(steps.iter().all(|&s| s == steps[0]), "{clip:?}: one stride");
        assert!(clip.iter().all(|&f| f < 20));
        strides.insert(steps[0].unsigned_abs());
        if steps[0] < 0 {
            reversed += 1
        } else {
            forward += 1
        }
    }
    assert_eq!(strides, (1..=5).collect(), "every stride in [min, max]");
    assert!(
        reversed > 150 && forward > 150,
        "{reversed} reversed, {forward} forward"
    );
    // A video too short for the drawn stride: the largest stride that fits (upstream lowers it).
    let clip = sample_clip(7, &sampler(4, 3, 3, false, 50), &mut Rng::from_words(&[1]));
    assert_eq!(clip, vec![0, 2, 4, 6]);
    // Without reversal, time always runs forward.
    for seed in 0..50 {
        let clip = sample_clip(
            9,
            &sampler(3, 1, 4, false, 50),
            &mut Rng::from_words(&[seed]),
        );
        assert!(clip.windows(2).all(|w| w[1] > w[0]));
    }
}

fn demo_videos(dir: &std::path::Path) -> YtvisVideos {
    let summary = sam3c_runtime::demo::generate(dir, 2).unwrap();
    let split = &summary.video_splits[0];
    YtvisVideos {
        frames: split.frames_dir.clone(),
        annotations: split.annotations.clone(),
        masks: true,
        clip: sampler(4, 1, 2, true, 50),
        limit: None,
    }
}

#[test]
fn clips_have_one_query_per_frame_and_category_with_stable_track_ids() {
    let dir = TempDir::new("data-ytvis");
    let cfg = demo_videos(&dir.0);
    let train = YtvisVideoDataset::open(&cfg, true).unwrap();
    let eval = YtvisVideoDataset::open(&cfg, false).unwrap();
    assert_eq!(train.len(), 6);
    let mut rng = Rng::from_words(&[4]);
    for v in 0..train.len() {
        let dp = train.load(v, &mut rng).unwrap().unwrap();
        assert_eq!(dp.frames.len(), 4);
        let categories: BTreeSet<i64> = dp
            .queries
            .iter()
            .map(|q| q.metadata.original_category_id)
            .collect();
        assert_eq!(
            dp.queries.len(),
            4 * categories.len(),
            "one query per frame and category"
        );
        let mut category_of_track: HashMap<i64, String> = HashMap::new();
        for (i, q) in dp.queries.iter().enumerate() {
            assert_eq!(q.stage, i / categories.len());
            assert_eq!(q.frame, q.stage);
            assert!(!q.is_exhaustive);
            assert_eq!(q.metadata.coco_image_id, -1, "training metadata");
            for &t in &q.targets {
                let obj = &dp.frames[q.frame].objects[t];
                assert_eq!(obj.frame_index, q.frame as i64);
                let mask = obj.mask.as_ref().unwrap();
                assert!(mask.area() > 0);
                assert_eq!((mask.width, mask.height), (320, 240));
                // A track keeps its id, and so its category, in every frame.
                let previous = category_of_track.insert(obj.object_id, q.text.clone());
                assert!(previous.is_none_or(|p| p == q.text));
            }
        }
        let e = eval.load(v, &mut rng).unwrap().unwrap();
        assert_eq!(e.frames.len(), 8, "evaluation uses every frame");
        assert!(e
            .queries
            .iter()
            .all(|q| q.metadata.original_image_id == v as i64 + 1));
    }
}

#[test]
fn too_many_tracks_skip_and_short_videos_fail_clearly() {
    let dir = TempDir::new("data-ytvis-limits");
    let mut cfg = demo_videos(&dir.0);
    cfg.clip.max_objects = 1;
    let ds = YtvisVideoDataset::open(&cfg, true).unwrap();
    let mut rng = Rng::from_words(&[0]);
    let skipped = (0..ds.len())
        .filter(|&v| ds.load(v, &mut rng).unwrap().is_none())
        .count();
    assert!(
        skipped > 0,
        "every demo video has at least two parts in view at some point"
    );

    let mut cfg = demo_videos(&dir.0);
    cfg.clip.frames = 9;
    let err = YtvisVideoDataset::open(&cfg, true)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("video 1") && err.contains("8 annotated frames") && err.contains("needs 9"),
        "{err}"
    );
    // Evaluation plays whole videos, so the clip length does not matter there.
    assert!(YtvisVideoDataset::open(&cfg, false).is_ok());
}
