//! `sam3c demo-data`: write the synthetic factory dataset the quickstart trains on.

use std::path::Path;
use std::process::ExitCode;

pub fn demo_data(dir: &Path, seed: u64, train_images: usize, test_images: usize) -> ExitCode {
    let started = std::time::Instant::now();
    match sam3c_runtime::demo::generate_sized(dir, seed, train_images, test_images) {
        Ok(summary) => {
            for split in &summary.image_splits {
                println!(
                    "{}: {} images ({} without objects), {} annotations -> {}",
                    split.name,
                    split.images,
                    split.negative_images,
                    split.annotation_count,
                    split.annotations.display()
                );
            }
            for split in &summary.video_splits {
                println!(
                    "videos/{}: {} videos of {} frames, {} tracks -> {}",
                    split.name,
                    split.videos,
                    split.frames_per_video,
                    split.tracks,
                    split.annotations.display()
                );
            }
            println!(
                "categories: {}; written to {} in {:.1} s",
                summary.categories.join(", "),
                dir.display(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: demo data in {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}
