//! Loader throughput on the demo dataset: images per second for a training pipeline (crowd filter, box
//! noise, multi-scale square resize, pad, normalize, filters) with masks, per resolution and worker count.
//!
//! `cargo run -p sam3c-runtime --release --example bench_loader -- [DIR]`
use sam3c_runtime::data::{CocoImageDataset, Dataset, Loader, LoaderConfig, Pipeline, Step};
use sam3c_stdlib::components::data::CocoImages;
use sam3c_stdlib::components::transforms as t;
use sam3c_stdlib::units::Pixels as Px;
use std::sync::Arc;
use std::time::Instant;

fn pipeline(size: u32) -> Pipeline {
    Pipeline::new(&[
        Step::FilterCrowds(t::FilterCrowds {}),
        Step::BoxNoise(t::BoxNoise {
            std: 0.1,
            max: Some(Px(20)),
            min_area: 0.0,
        }),
        Step::DecodeMasks(t::DecodeMasks {}),
        Step::RandomResize(t::RandomResize {
            sizes: t::ResizeSizes::Scales(t::Scales {
                size: Px(size),
                min: Px(size * 480 / 1008),
                rounded: false,
            }),
            max_size: None,
            square: true,
            consistent: false,
        }),
        Step::Pad(t::Pad {
            size: Px(size),
            bottom_right: false,
            consistent: false,
        }),
        Step::Normalize(t::Normalize {
            mean: vec![0.5; 3],
            std: vec![0.5; 3],
        }),
        Step::FilterEmpty(t::FilterEmpty {}),
        Step::MaxObjects(t::MaxObjects { n: 200 }),
    ])
    .unwrap()
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("sam3c-bench-demo"));
    let summary = sam3c_runtime::demo::generate(&dir, 0)?;
    let train = &summary.image_splits[0];
    let cfg = CocoImages {
        images: train.images_dir.clone(),
        annotations: train.annotations.clone(),
        masks: true,
        negatives: true,
        queries_per_image: None,
        limit: None,
        prompts: None,
        reindex: false,
        repeat: 1,
    };
    let dataset: Arc<dyn Dataset> = Arc::new(CocoImageDataset::open(&cfg, true)?);
    println!(
        "{} images of {}x{}, batch 4, masks on, {} logical CPUs",
        dataset.len(),
        320,
        240,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for size in [224u32, 1008] {
        for workers in [1usize, 2] {
            let loader = Loader::new(
                dataset.clone(),
                pipeline(size),
                LoaderConfig {
                    batch_size: 4,
                    workers,
                    shuffle: true,
                    drop_last: false,
                    seed: 0,
                    prefetch: 4,
                },
            )?;
            // One warm-up epoch (page cache), then two timed epochs.
            for b in loader.epoch(0) {
                b?;
            }
            let start = Instant::now();
            let mut images = 0;
            for epoch in 1..=2 {
                for b in loader.epoch(epoch) {
                    images += b?.num_images();
                }
            }
            let secs = start.elapsed().as_secs_f64();
            println!("{size:>5} px  {workers} worker(s): {:7.1} images/s ({images} images in {secs:.2} s)", images as f64 / secs);
        }
    }
    Ok(())
}
