//! The loader: deterministic batches whatever the number of workers, shuffling per epoch, drop_last,
//! skipped datapoints replaced by the next index, errors that name the datapoint, clean early shutdown; and
//! collation into the documented tensors.

use sam3c_runtime::data::image::RgbImage;
use sam3c_runtime::data::mask::Mask;
use sam3c_runtime::data::{
    collate, DataError, Datapoint, Dataset, Frame, Loader, LoaderConfig, Object, Pipeline, Pixels,
    Query, QueryMetadata, Rng, Step,
};
use sam3c_stdlib::components::transforms as cfg;
use sam3c_stdlib::units::Pixels as Px;
use std::sync::Arc;
use tch::{Kind, Tensor};

/// Procedural datapoints: index `i` is a `40+i`-wide image with `1 + i % 3` objects of category "part"
/// and a negative query "screw". Index `fail_at` fails, index `skip_at` has no query, `panic_at` panics.
struct Synthetic {
    n: usize,
    fail_at: Option<usize>,
    skip_at: Option<usize>,
    panic_at: Option<usize>,
}

impl Synthetic {
    fn new(n: usize) -> Synthetic {
        Synthetic {
            n,
            fail_at: None,
            skip_at: None,
            panic_at: None,
        }
    }
}

fn meta(h: u32, w: u32) -> QueryMetadata {
    QueryMetadata {
        coco_image_id: -1,
        original_image_id: -1,
        original_category_id: 1,
        original_size: (h, w),
        object_id: -1,
        frame_index: -1,
    }
}

impl Dataset for Synthetic {
    fn len(&self) -> usize {
        self.n
    }
    fn loads_masks(&self) -> bool {
        true
    }
    fn load(&self, index: usize, _rng: &mut Rng) -> Result<Option<Datapoint>, DataError> {
        if Some(index) == self.fail_at {
            return Err(DataError::Datapoint {
                datapoint: format!("synthetic {index}"),
                message: "cannot read image /nowhere.jpg".into(),
            });
        }
        if Some(index) == self.panic_at {
            panic!("bug at {index}");
        }
        let (w, h) = (40 + index as u32, 30);
        let mut gen = Rng::from_words(&[index as u64]);
        let mut img = RgbImage::new(w, h);
        img.data.iter_mut().for_each(|v| *v = gen.below(256) as u8);
        let count = 1 + index % 3;
        let objects: Vec<Object> = (0..count)
            .map(|k| {
                let x0 = (k as f32) * 10.0 + 1.0;
                let bbox = [x0, 5.0, x0 + 8.0, 20.0];
                let mut mask = Mask::zeros(w, h);
                for y in 5..20 {
                    for x in x0 as u32..x0 as u32 + 8 {
                        mask.data[(y * w + x) as usize] = 1;
                    }
                }
                Object {
                    bbox,
                    area: (8.0 / w as f64) * (15.0 / h as f64),
                    object_id: k as i64,
                    frame_index: 0,
                    mask: Some(mask),
                    is_crowd: false,
                }
            })
            .collect();
        let queries = if Some(index) == self.skip_at {
            vec![]
        } else {
            vec![
                Query {
                    text: "part".into(),
                    frame: 0,
                    targets: (0..count).collect(),
                    is_exhaustive: true,
                    stage: 0,
                    box_prompts: vec![],
                    box_prompt_labels: vec![],
                    metadata: meta(h, w),
                },
                Query {
                    text: "screw".into(),
                    frame: 0,
                    targets: vec![],
                    is_exhaustive: true,
                    stage: 0,
                    box_prompts: vec![],
                    box_prompt_labels: vec![],
                    metadata: meta(h, w),
                },
            ]
        };
        if queries.is_empty() {
            return Ok(None);
        }
        Ok(Some(Datapoint {
            frames: vec![Frame {
                pixels: Pixels::Rgb(img),
                objects,
            }],
            queries,
            description: format!("synthetic {index}"),
        }))
    }
}

fn augmenting_pipeline() -> Pipeline {
    Pipeline::new(&[
        Step::HorizontalFlip(cfg::HorizontalFlip {
            p: 0.5,
            consistent: false,
        }),
        Step::RandomResize(cfg::RandomResize {
            sizes: cfg::ResizeSizes::List(vec![Px(24), Px(32)]),
            max_size: None,
            square: true,
            consistent: false,
        }),
        Step::Pad(cfg::Pad {
            size: Px(40),
            bottom_right: false,
            consistent: false,
        }),
        Step::Normalize(cfg::Normalize {
            mean: vec![0.5; 3],
            std: vec![0.5; 3],
        }),
    ])
    .unwrap()
}

fn config(workers: usize, batch_size: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size,
        workers,
        shuffle: true,
        drop_last: false,
        seed: 7,
        prefetch: 2,
    }
}

/// A digest of a batch: everything that depends on order and augmentation.
fn digest(batch: &sam3c_runtime::data::Batch) -> (Vec<String>, f64, f64, Vec<i64>) {
    let s = &batch.stages[0];
    let weights = Tensor::arange(batch.images.numel() as i64, (Kind::Float, tch::Device::Cpu))
        .view(batch.images.size().as_slice());
    (
        batch.sources.clone(),
        f64::try_from((&batch.images * weights).sum(Kind::Double)).unwrap(),
        f64::try_from(s.targets.boxes.sum(Kind::Double)).unwrap() * 1000.0
            + f64::try_from(s.targets.masks.as_ref().unwrap().sum(Kind::Double)).unwrap(),
        Vec::<i64>::try_from(&s.targets.num_boxes).unwrap(),
    )
}

fn epoch_digests(loader: &Loader, epoch: u64) -> Vec<(Vec<String>, f64, f64, Vec<i64>)> {
    loader.epoch(epoch).map(|b| digest(&b.unwrap())).collect()
}

#[test]
fn batches_are_identical_for_any_number_of_workers() {
    let ds: Arc<dyn Dataset> = Arc::new(Synthetic::new(11));
    let reference = epoch_digests(
        &Loader::new(ds.clone(), augmenting_pipeline(), config(0, 3)).unwrap(),
        0,
    );
    assert_eq!(reference.len(), 4);
    for workers in [1, 2, 3] {
        let loader = Loader::new(ds.clone(), augmenting_pipeline(), config(workers, 3)).unwrap();
        assert_eq!(epoch_digests(&loader, 0), reference, "{workers} workers");
    }
}

#[test]
fn each_epoch_has_its_own_order_and_augmentation_and_is_reproducible() {
    let ds: Arc<dyn Dataset> = Arc::new(Synthetic::new(12));
    let loader = Loader::new(ds, augmenting_pipeline(), config(2, 4)).unwrap();
    let e0 = epoch_digests(&loader, 0);
    let e1 = epoch_digests(&loader, 1);
    assert_eq!(e0, epoch_digests(&loader, 0));
    assert_ne!(e0, e1);
    let mut seen: Vec<String> = e0.iter().flat_map(|d| d.0.clone()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 12, "an epoch visits every datapoint once");
    let order0: Vec<String> = e0.iter().flat_map(|d| d.0.clone()).collect();
    let order1: Vec<String> = e1.iter().flat_map(|d| d.0.clone()).collect();
    assert_ne!(order0, order1, "shuffled per epoch");
}

#[test]
fn drop_last_drops_the_short_batch_and_no_shuffle_keeps_file_order() {
    let ds: Arc<dyn Dataset> = Arc::new(Synthetic::new(10));
    let mut cfg = config(2, 4);
    cfg.shuffle = false;
    let keep = Loader::new(ds.clone(), augmenting_pipeline(), cfg.clone()).unwrap();
    let sizes: Vec<i64> = keep.epoch(0).map(|b| b.unwrap().num_images()).collect();
    assert_eq!(sizes, vec![4, 4, 2]);
    assert_eq!(keep.order(3), (0..10).collect::<Vec<_>>());
    cfg.drop_last = true;
    let drop = Loader::new(ds, augmenting_pipeline(), cfg).unwrap();
    assert_eq!(drop.batches_per_epoch(), 2);
    let sizes: Vec<i64> = drop.epoch(0).map(|b| b.unwrap().num_images()).collect();
    assert_eq!(sizes, vec![4, 4]);
}

#[test]
fn a_skipped_datapoint_is_replaced_by_the_next_index() {
    let mut ds = Synthetic::new(5);
    ds.skip_at = Some(2);
    let mut cfg = config(1, 5);
    cfg.shuffle = false;
    let loader = Loader::new(Arc::new(ds), augmenting_pipeline(), cfg).unwrap();
    let batch = loader.epoch(0).next().unwrap().unwrap();
    assert_eq!(
        batch.sources,
        vec![
            "synthetic 0",
            "synthetic 1",
            "synthetic 3",
            "synthetic 3",
            "synthetic 4"
        ]
    );
}

#[test]
fn errors_name_the_datapoint_and_do_not_stop_other_batches() {
    let mut ds = Synthetic::new(6);
    ds.fail_at = Some(4);
    ds.panic_at = Some(1);
    let mut cfg = config(2, 2);
    cfg.shuffle = false;
    let loader = Loader::new(Arc::new(ds), augmenting_pipeline(), cfg).unwrap();
    let results: Vec<_> = loader.epoch(0).collect();
    assert_eq!(results.len(), 3);
    let panicked = results[0].as_ref().unwrap_err().to_string();
    assert!(
        panicked.contains("panicked") && panicked.contains("bug at 1"),
        "{panicked}"
    );
    assert!(results[1].is_ok());
    let failed = results[2].as_ref().unwrap_err().to_string();
    assert!(
        failed.contains("synthetic 4") && failed.contains("/nowhere.jpg"),
        "{failed}"
    );
}

#[test]
fn a_transform_error_names_the_datapoint() {
    // Pad to a size smaller than the image: upstream asserts, we report.
    let pipeline = Pipeline::new(&[Step::Pad(cfg::Pad {
        size: Px(10),
        bottom_right: true,
        consistent: false,
    })])
    .unwrap();
    let loader = Loader::new(Arc::new(Synthetic::new(2)), pipeline, config(0, 1)).unwrap();
    let err = loader.datapoint(0, 0).unwrap_err().to_string();
    assert!(
        err.contains("synthetic") && err.contains("larger than 10x10"),
        "{err}"
    );
}

#[test]
fn dropping_an_epoch_early_stops_the_workers() {
    let loader = Loader::new(
        Arc::new(Synthetic::new(40)),
        augmenting_pipeline(),
        config(2, 1),
    )
    .unwrap();
    let mut epoch = loader.epoch(0);
    assert!(epoch.next().unwrap().is_ok());
    drop(epoch); // joins the workers; a hang here fails the test by timeout
    assert_eq!(loader.epoch(1).count(), 40);
}

#[test]
fn bad_configurations_are_errors() {
    let ds: Arc<dyn Dataset> = Arc::new(Synthetic::new(3));
    assert!(Loader::new(ds.clone(), augmenting_pipeline(), config(1, 0)).is_err());
    assert!(Loader::new(
        Arc::new(Synthetic::new(0)),
        augmenting_pipeline(),
        config(1, 1)
    )
    .is_err());
    let err = Pipeline::new(&[Step::Normalize(cfg::Normalize {
        mean: vec![0.5],
        std: vec![0.5; 3],
    })])
    .unwrap_err();
    assert!(
        err.contains("normalize") && err.contains("3 values"),
        "{err}"
    );
    let err = Pipeline::new(&[Step::RandomResize(cfg::RandomResize {
        sizes: cfg::ResizeSizes::Scales(cfg::Scales {
            size: Px(400),
            min: Px(480),
            rounded: false,
        }),
        max_size: None,
        square: true,
        consistent: false,
    })])
    .unwrap_err();
    assert!(err.contains("no candidate size"), "{err}");
}

#[test]
fn collation_builds_the_documented_tensors() {
    let ds = Synthetic::new(3);
    let mut rng = Rng::from_words(&[1]);
    let pipeline = Pipeline::new(&[
        Step::Resize(cfg::Resize {
            size: Px(32),
            max_size: None,
            square: true,
        }),
        Step::Normalize(cfg::Normalize {
            mean: vec![0.5; 3],
            std: vec![0.5; 3],
        }),
        Step::TextToVisual(cfg::TextToVisual {
            probability: 1.0,
            keep_text: false,
        }),
    ])
    .unwrap();
    let dps: Vec<Datapoint> = (0..3)
        .map(|i| {
            pipeline
                .apply(ds.load(i, &mut rng).unwrap().unwrap(), &mut rng)
                .unwrap()
                .unwrap()
        })
        .collect();
    let batch = collate(&dps, true).unwrap();
    assert_eq!(batch.images.size(), vec![3, 3, 32, 32]);
    assert_eq!(batch.images.kind(), Kind::Float);
    // Positive queries became "visual" with one box prompt each; negatives stay "screw" without.
    assert_eq!(batch.texts, vec!["visual", "screw"]);
    let s = &batch.stages[0];
    assert_eq!(
        Vec::<i64>::try_from(&s.image_ids).unwrap(),
        vec![0, 0, 1, 1, 2, 2]
    );
    assert_eq!(
        Vec::<i64>::try_from(&s.text_ids).unwrap(),
        vec![0, 1, 0, 1, 0, 1]
    );
    assert_eq!(s.box_prompts.size(), vec![1, 6, 4]);
    assert_eq!(
        Vec::<bool>::try_from(&s.box_prompt_mask.view([-1])).unwrap(),
        vec![false, true, false, true, false, true]
    );
    let t = &s.targets;
    assert_eq!(
        Vec::<i64>::try_from(&t.num_boxes).unwrap(),
        vec![1, 0, 2, 0, 3, 0]
    );
    assert_eq!(t.boxes.size(), vec![6, 4]);
    assert_eq!(t.boxes_padded.size(), vec![6, 3, 4]);
    assert_eq!(
        Vec::<i64>::try_from(&t.object_ids_padded.view([-1])).unwrap(),
        vec![0, -1, -1, -1, -1, -1, 0, 1, -1, -1, -1, -1, 0, 1, 2, -1, -1, -1]
    );
    // The visual prompt is one of the query's own target boxes (normalized CxCyWH).
    let prompt = s.box_prompts.get(0).get(0);
    assert!(f64::try_from((prompt - t.boxes.get(0)).abs().sum(Kind::Double)).unwrap() < 1e-6);
    let masks = t.masks.as_ref().unwrap();
    assert_eq!(masks.size(), vec![6, 32, 32]);
    assert_eq!(masks.kind(), Kind::Bool);
    assert!(bool::try_from(t.is_valid_mask.as_ref().unwrap().all()).unwrap());
    assert!(bool::try_from(t.is_exhaustive.all()).unwrap());
    assert_eq!(s.metadata.original_size.size(), vec![6, 2]);
    // Normalized boxes lie in [0, 1].
    assert!(f64::try_from(t.boxes.max()).unwrap() <= 1.0);
    // Un-normalized datapoints are refused with a message.
    let raw = ds.load(0, &mut rng).unwrap().unwrap();
    let err = collate(&[raw], false).unwrap_err();
    assert!(err.contains("normalize"), "{err}");
}
