//! J&F against TrackEval's JAndF metric, live, on a seeded random YTVIS set (per video and per phrase), plus the
//! boundary F-measure on hand-made masks.

mod common;

use common::{
    assert_close, oracle_python, read_json, run_oracle, scratch_dir, write_json, ytvis_case, Rng,
};
use sam3c_formats::{parse_ytvis, parse_ytvis_results};
use sam3c_metrics::jf::{boundary_f_measure, boundary_map, JF_FIELDS};
use sam3c_metrics::{jf_evaluate, JfOptions};

#[test]
fn jf_matches_trackeval() {
    let Some(python) = oracle_python() else {
        return;
    };
    let dir = scratch_dir("jf");
    let mut rng = Rng::new(55);
    let (gt, pred) = ytvis_case(&mut rng, 6);
    let (gt_path, pred_path, out_path) = (
        dir.join("gt.json"),
        dir.join("pred.json"),
        dir.join("out.json"),
    );
    write_json(&gt_path, &gt);
    write_json(&pred_path, &pred);
    run_oracle(&python, "jf_oracle.py", &[&gt_path, &pred_path, &out_path]);
    let expected = read_json(&out_path);
    let gt = parse_ytvis(&std::fs::read_to_string(&gt_path).unwrap()).unwrap();
    let pred = parse_ytvis_results(&std::fs::read_to_string(&pred_path).unwrap()).unwrap();
    for (mode, options) in [
        ("video", JfOptions::default()),
        (
            "phrase",
            JfOptions {
                per_phrase: true,
                score_threshold: Some(0.5),
                ..JfOptions::default()
            },
        ),
    ] {
        let result = jf_evaluate(&gt, &pred, &options).unwrap();
        assert_eq!(
            result.num_gt_tracks as u64,
            expected[mode]["num_gt_tracks"].as_u64().unwrap(),
            "{mode}"
        );
        for (field, value) in JF_FIELDS.iter().zip(&result.values) {
            assert_close(*value, &expected[mode][field], &format!("{mode} {field}"));
        }
        assert!(
            result.values[6] > 0.2 && result.values[6] < 0.95,
            "{mode}: J&F should be neither trivial nor perfect"
        );
    }
}

#[test]
fn boundary_f_of_known_masks() {
    // a 3x3 square in a 10x10 image: seg2bmap marks pixels that differ from their east, south or south-east
    // neighbour: the square's right column and bottom row (5) and the frame above and left of it (7)
    let mut square = vec![0u8; 100];
    for y in 3..6 {
        for x in 3..6 {
            square[y * 10 + x] = 1;
        }
    }
    let b = boundary_map(&square, 10, 10);
    assert_eq!(b.iter().filter(|&&v| v).count(), 12);
    assert!(b[2 * 10 + 2] && b[5 * 10 + 5] && !b[4 * 10 + 4] && !b[6 * 10 + 6]);
    assert_eq!(boundary_f_measure(&square, &square, 10, 10), 1.0);
    assert_eq!(boundary_f_measure(&[0; 100], &[0; 100], 10, 10), 1.0);
    assert_eq!(boundary_f_measure(&[0; 100], &square, 10, 10), 0.0);
    // shifted by 5 pixels: farther than the tolerance of ceil(0.008 * 14.1) = 1 pixel
    let mut shifted = vec![0u8; 100];
    for y in 3..6 {
        for x in 3..6 {
            shifted[y * 10 + x - 3] = 1;
        }
    }
    let f = boundary_f_measure(&shifted, &square, 10, 10);
    assert!(f > 0.0 && f < 1.0, "{f}");
}
