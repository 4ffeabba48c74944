//! A synthetic factory dataset for demos, tests and quick CPU training runs.
//!
//! [`generate`] writes, deterministically from a seed:
//!
//! ```text
//! dir/train/*.jpg|png + dir/train/_annotations.coco.json      COCO, RLE masks (Roboflow layout)
//! dir/test/...                                                  the same for the test split
//! dir/videos/train/<video>/<frame>.jpg + annotations.json       YTVIS clips, per-frame RLE
//! dir/videos/val/...
//! ```
//!
//! Scenes are a conveyor belt (slats, grain, rollers, lighting that varies per image) carrying parts of five
//! categories with distinct shapes and colours: `gear` (orange toothed disc with a hole), `nut` (yellow
//! hexagon with a hole), `bracket` (blue L), `screw` (silver shank with a head) and `defect` (dark
//! irregular blotch on the belt). About one image in eight has no object; every category appears in every
//! split. In the videos the belt and its parts move to the right, entering and leaving the view.

use crate::data::image::RgbImage;
use crate::data::mask::Mask;
use crate::data::Rng;
use sam3c_formats::rle::Rle;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The categories, in id order (ids start at 1).
pub const CATEGORIES: [&str; 5] = ["gear", "nut", "bracket", "screw", "defect"];
/// Image size of every image and frame.
pub const WIDTH: u32 = 320;
pub const HEIGHT: u32 = 240;
/// Images of the train and test splits by default (the quickstart's dataset).
pub const TRAIN_IMAGES: usize = 80;
pub const TEST_IMAGES: usize = 24;
const TRAIN_VIDEOS: usize = 6;
const VAL_VIDEOS: usize = 3;
const FRAMES_PER_VIDEO: usize = 8;

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSummary {
    pub root: PathBuf,
    pub categories: Vec<String>,
    /// Per image split ("train", "test"): (images folder, annotation file, images, images without objects,
    /// annotations).
    pub image_splits: Vec<ImageSplit>,
    /// Per video split ("train", "val").
    pub video_splits: Vec<VideoSplit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageSplit {
    pub name: String,
    pub images_dir: PathBuf,
    pub annotations: PathBuf,
    pub images: usize,
    pub negative_images: usize,
    pub annotation_count: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoSplit {
    pub name: String,
    pub frames_dir: PathBuf,
    pub annotations: PathBuf,
    pub videos: usize,
    pub frames_per_video: usize,
    pub tracks: usize,
}

/// A part placed in a scene: its category and its mask.
struct Part {
    category: usize,
    mask: Mask,
    color: [f32; 3],
    /// Brightness variation of the material (0 = flat).
    texture: f32,
}

/// Shape of a part, in its own frame (centre and size), at position (cx, cy) on the image.
#[derive(Clone, Copy)]
struct Placement {
    category: usize,
    cx: f32,
    cy: f32,
    size: f32,
    angle: f32,
    seed: u64,
}

fn rasterize(p: &Placement) -> Mask {
    let mut m = Mask::zeros(WIDTH, HEIGHT);
    let (ca, sa) = (p.angle.cos(), p.angle.sin());
    let r = p.size / 2.0;
    let reach = p.size; // bounding radius of every shape
    let x0 = (p.cx - reach).floor().max(0.0) as i64;
    let x1 = (p.cx + reach).ceil().min(WIDTH as f32 - 1.0) as i64;
    let y0 = (p.cy - reach).floor().max(0.0) as i64;
    let y1 = (p.cy + reach).ceil().min(HEIGHT as f32 - 1.0) as i64;
    let mut blob = Rng::from_words(&[p.seed]);
    let lobes: Vec<(f32, f32)> = (0..5)
        .map(|_| {
            (
                blob.uniform() as f32 * std::f32::consts::TAU,
                0.55 + 0.35 * blob.uniform() as f32,
            )
        })
        .collect();
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (dx, dy) = (x as f32 + 0.5 - p.cx, y as f32 + 0.5 - p.cy);
            // Rotate into the part's frame.
            let (u, v) = (ca * dx + sa * dy, -sa * dx + ca * dy);
            let d = (u * u + v * v).sqrt();
            let inside = match CATEGORIES[p.category] {
                "gear" => {
                    let theta = v.atan2(u);
                    let tooth = ((theta * 8.0 / std::f32::consts::TAU).rem_euclid(1.0)) < 0.5;
                    let outer = if tooth { r } else { r * 0.8 };
                    d <= outer && d >= r * 0.28
                }
                "nut" => {
                    // Regular hexagon (apothem 0.85 r) with a round hole.
                    let hex = (0..3).all(|k| {
                        let a = k as f32 * std::f32::consts::PI / 3.0;
                        (u * a.cos() + v * a.sin()).abs() <= r * 0.85
                    });
                    hex && d >= r * 0.35
                }
                "bracket" => {
                    let (a, b) = (u + r * 0.6, v + r * 0.6);
                    let leg = r * 0.35;
                    (0.0..=r * 1.5).contains(&a)
                        && (0.0..=r * 1.5).contains(&b)
                        && (a <= leg || b <= leg)
                }
                "screw" => {
                    let shank = u.abs() <= r * 1.1 && v.abs() <= r * 0.14;
                    let head = (u + r * 1.1).powi(2) + v * v <= (r * 0.32).powi(2);
                    shank || head
                }
                _ => {
                    // Defect: an irregular blotch from a few lobes.
                    let theta = v.atan2(u);
                    let radius = lobes
                        .iter()
                        .map(|&(phase, amp)| amp * r * (1.0 + 0.25 * (2.0 * theta + phase).cos()))
                        .fold(0.0f32, f32::max);
                    d <= radius * 0.8
                }
            };
            if inside {
                m.data[(y * WIDTH as i64 + x) as usize] = 1;
            }
        }
    }
    m
}

fn part_color(category: usize, rng: &mut Rng) -> ([f32; 3], f32) {
    let j = |rng: &mut Rng, v: f32| (v + (rng.uniform() as f32 - 0.5) * 24.0).clamp(0.0, 255.0);
    let (base, texture) = match CATEGORIES[category] {
        "gear" => ([230.0, 120.0, 30.0], 10.0),
        "nut" => ([235.0, 205.0, 40.0], 8.0),
        "bracket" => ([40.0, 90.0, 215.0], 8.0),
        "screw" => ([200.0, 200.0, 210.0], 18.0),
        _ => ([45.0, 20.0, 15.0], 12.0),
    };
    ([j(rng, base[0]), j(rng, base[1]), j(rng, base[2])], texture)
}

/// The belt scene at horizontal offset `shift` (pixels the belt has moved), with lighting from `light`.
fn render(parts: &[Part], shift: f32, light: &Lighting, grain_seed: u64) -> RgbImage {
    let mut img = RgbImage::new(WIDTH, HEIGHT);
    let (belt_top, belt_bottom) = (30.0f32, HEIGHT as f32 - 30.0);
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            let bx = xf - shift; // belt coordinates move with the belt
            let mut c = if yf < belt_top - 6.0 || yf > belt_bottom + 6.0 {
                // Machine frame.
                [70.0, 74.0, 80.0]
            } else if yf < belt_top || yf > belt_bottom {
                // Rollers: bright cylinders with a highlight.
                let t = if yf < belt_top {
                    (belt_top - yf) / 6.0
                } else {
                    (yf - belt_bottom) / 6.0
                };
                let v = 150.0 - 60.0 * (t - 0.4).abs();
                [v, v, v + 5.0]
            } else {
                let slat = if (bx / 24.0).rem_euclid(1.0) < 0.06 {
                    -18.0
                } else {
                    0.0
                };
                let grain = (hash2(bx.floor() as i64, y as i64, grain_seed) - 0.5) * 14.0;
                let v = 105.0 + slat + grain;
                [v, v + 2.0, v + 6.0]
            };
            for part in parts {
                if part.mask.data[(y * WIDTH + x) as usize] != 0 {
                    let n = (hash2(x as i64, y as i64, grain_seed ^ 0xA5) - 0.5) * part.texture;
                    c = [part.color[0] + n, part.color[1] + n, part.color[2] + n];
                }
            }
            let gain = light.gain(xf, yf);
            let i = ((y * WIDTH + x) * 3) as usize;
            for k in 0..3 {
                img.data[i + k] = (c[k] * gain + light.tint[k]).clamp(0.0, 255.0) as u8;
            }
        }
    }
    img
}

/// Per-image lighting: overall gain, a horizontal gradient, a soft spot light and a slight colour tint.
struct Lighting {
    gain: f32,
    gradient: f32,
    spot: (f32, f32, f32),
    tint: [f32; 3],
}

impl Lighting {
    fn draw(rng: &mut Rng) -> Lighting {
        let mut u = |lo: f64, hi: f64| rng.uniform_range(lo, hi) as f32;
        Lighting {
            gain: u(0.75, 1.2),
            gradient: u(-0.25, 0.25),
            spot: (u(0.0, WIDTH as f64), u(0.0, HEIGHT as f64), u(0.0, 0.35)),
            tint: [u(-8.0, 8.0), u(-8.0, 8.0), u(-8.0, 8.0)],
        }
    }

    fn gain(&self, x: f32, y: f32) -> f32 {
        let (sx, sy, strength) = self.spot;
        let d2 = ((x - sx).powi(2) + (y - sy).powi(2)) / (90.0f32 * 90.0);
        self.gain
            * (1.0 + self.gradient * (x / WIDTH as f32 - 0.5))
            * (1.0 + strength * (-d2).exp())
    }
}

/// A deterministic hash of integer coordinates to [0, 1).
fn hash2(x: i64, y: i64, seed: u64) -> f32 {
    let mut z = seed
        ^ (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 24) as f32
}

/// Draw non-overlapping placements for `categories` on the belt; positions in belt coordinates.
fn place(categories: &[usize], rng: &mut Rng, x_range: (f32, f32)) -> Vec<Placement> {
    let mut placed: Vec<Placement> = Vec::new();
    for &category in categories {
        for _attempt in 0..60 {
            let size = rng.uniform_range(26.0, 46.0) as f32;
            let p = Placement {
                category,
                cx: rng.uniform_range(x_range.0 as f64, x_range.1 as f64) as f32,
                cy: rng.uniform_range(
                    30.0 + size as f64 * 0.8,
                    HEIGHT as f64 - 30.0 - size as f64 * 0.8,
                ) as f32,
                size,
                angle: rng.uniform_range(0.0, std::f64::consts::TAU) as f32,
                seed: rng.next_u64(),
            };
            let clear = placed.iter().all(|q| {
                ((p.cx - q.cx).powi(2) + (p.cy - q.cy).powi(2)).sqrt() > (p.size + q.size) * 0.75
            });
            if clear {
                placed.push(p);
                break;
            }
        }
    }
    placed
}

fn rle_json(mask: &Mask) -> (Value, [f64; 4], u64) {
    let rle = Rle::encode(&mask.data, mask.height, mask.width);
    let value = json!({"size": [mask.height, mask.width], "counts": rle.to_compressed()});
    (value, rle.bbox(), rle.area())
}

fn categories_json() -> Value {
    Value::Array(
        CATEGORIES
            .iter()
            .enumerate()
            .map(|(i, name)| json!({"id": i + 1, "name": name, "supercategory": "factory"}))
            .collect(),
    )
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn encode(img: &RgbImage, png: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    if png {
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(
                &img.data,
                img.width,
                img.height,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| e.to_string())?;
    } else {
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
            .encode(
                &img.data,
                img.width,
                img.height,
                image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

use image::ImageEncoder;

/// The categories of each image of a split: every category appears (the first images cycle through them),
/// about one image in eight is empty, the rest carry 1 to 5 random parts.
fn split_contents(n: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let negatives = n.div_ceil(8);
    let mut contents: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            if i < negatives {
                return vec![];
            }
            // The first category cycles so that every category appears in the split; it is placed first, on
            // an empty belt, so it always fits.
            let k = rng.below(5) as usize;
            let mut cats = vec![(i - negatives) % CATEGORIES.len()];
            cats.extend((0..k).map(|_| rng.below(CATEGORIES.len() as u64) as usize));
            cats
        })
        .collect();
    rng.shuffle(&mut contents);
    contents
}

fn generate_images(
    root: &Path,
    split: &str,
    stream: u64,
    n: usize,
    seed: u64,
) -> Result<ImageSplit, String> {
    let dir = root.join(split);
    let mut rng = Rng::from_words(&[seed, stream, 1]);
    let contents = split_contents(n, &mut rng);
    let mut images = Vec::new();
    let mut annotations = Vec::new();
    for (i, cats) in contents.iter().enumerate() {
        let mut r = Rng::from_words(&[seed, stream, 2, i as u64]);
        let placements = place(cats, &mut r, (45.0, WIDTH as f32 - 45.0));
        let parts: Vec<Part> = placements
            .iter()
            .map(|p| {
                let (color, texture) = part_color(p.category, &mut r);
                Part {
                    category: p.category,
                    mask: rasterize(p),
                    color,
                    texture,
                }
            })
            .collect();
        let light = Lighting::draw(&mut r);
        let shift = r.uniform_range(0.0, 24.0) as f32;
        let img = render(&parts, shift, &light, r.next_u64());
        let png = i % 4 == 3;
        let file_name = format!("{split}_{i:04}.{}", if png { "png" } else { "jpg" });
        write(&dir.join(&file_name), &encode(&img, png)?)?;
        let image_id = i as i64 + 1;
        images.push(
            json!({"id": image_id, "file_name": file_name, "width": WIDTH, "height": HEIGHT}),
        );
        for part in &parts {
            let (segmentation, bbox, area) = rle_json(&part.mask);
            annotations.push(json!({
                "id": annotations.len() + 1,
                "image_id": image_id,
                "category_id": part.category + 1,
                "bbox": bbox,
                "area": area,
                "segmentation": segmentation,
                "iscrowd": 0,
            }));
        }
    }
    let file = dir.join("_annotations.coco.json");
    let annotation_count = annotations.len();
    let doc =
        json!({"images": images, "annotations": annotations, "categories": categories_json()});
    write(&file, doc.to_string().as_bytes())?;
    Ok(ImageSplit {
        name: split.into(),
        images_dir: dir,
        annotations: file,
        images: n,
        negative_images: contents.iter().filter(|c| c.is_empty()).count(),
        annotation_count,
    })
}

fn generate_videos(
    root: &Path,
    split: &str,
    stream: u64,
    n: usize,
    seed: u64,
) -> Result<VideoSplit, String> {
    let dir = root.join("videos").join(split);
    let mut videos = Vec::new();
    let mut annotations = Vec::new();
    for v in 0..n {
        let mut r = Rng::from_words(&[seed, stream, 3, v as u64]);
        // Two or three parts; every category appears across the videos of a split.
        let mut cats = vec![v % CATEGORIES.len(), (v + 2) % CATEGORIES.len()];
        if r.bernoulli(0.5) {
            cats.push(r.below(CATEGORIES.len() as u64) as usize);
        }
        let speed = r.uniform_range(10.0, 18.0) as f32;
        // Start positions spread to the left so parts enter and cross the view.
        let placements = place(&cats, &mut r, (-40.0, WIDTH as f32 - 60.0));
        let colors: Vec<([f32; 3], f32)> = placements
            .iter()
            .map(|p| part_color(p.category, &mut r))
            .collect();
        let light = Lighting::draw(&mut r);
        let grain = r.next_u64();
        let name = format!("{split}_video_{v:02}");
        let mut file_names = Vec::new();
        let mut tracks: Vec<(Vec<Value>, Vec<Value>, Vec<Value>)> =
            vec![Default::default(); placements.len()];
        for f in 0..FRAMES_PER_VIDEO {
            let shift = speed * f as f32;
            let parts: Vec<Part> = placements
                .iter()
                .zip(&colors)
                .map(|(p, &(color, texture))| Part {
                    category: p.category,
                    mask: rasterize(&Placement {
                        cx: p.cx + shift,
                        ..*p
                    }),
                    color,
                    texture,
                })
                .collect();
            let img = render(&parts, shift, &light, grain);
            let file_name = format!("{name}/{f:05}.jpg");
            write(&dir.join(&file_name), &encode(&img, false)?)?;
            file_names.push(file_name);
            for (k, part) in parts.iter().enumerate() {
                if part.mask.area() == 0 {
                    tracks[k].0.push(Value::Null);
                    tracks[k].1.push(Value::Null);
                    tracks[k].2.push(Value::Null);
                } else {
                    let (segmentation, bbox, area) = rle_json(&part.mask);
                    tracks[k].0.push(segmentation);
                    tracks[k].1.push(json!(bbox));
                    tracks[k].2.push(json!(area));
                }
            }
        }
        let video_id = v as i64 + 1;
        videos.push(
            json!({"id": video_id, "file_names": file_names, "width": WIDTH, "height": HEIGHT,
                           "length": FRAMES_PER_VIDEO}),
        );
        for (k, (segmentations, bboxes, areas)) in tracks.into_iter().enumerate() {
            annotations.push(json!({
                "id": annotations.len() + 1,
                "video_id": video_id,
                "category_id": placements[k].category + 1,
                "segmentations": segmentations,
                "bboxes": bboxes,
                "areas": areas,
                "iscrowd": 0,
            }));
        }
    }
    let file = dir.join("annotations.json");
    let tracks = annotations.len();
    let doc =
        json!({"videos": videos, "annotations": annotations, "categories": categories_json()});
    write(&file, doc.to_string().as_bytes())?;
    Ok(VideoSplit {
        name: split.into(),
        frames_dir: dir,
        annotations: file,
        videos: n,
        frames_per_video: FRAMES_PER_VIDEO,
        tracks,
    })
}

/// Write the demo dataset below `dir` (created if needed); the same seed gives the same bytes.
pub fn generate(dir: &Path, seed: u64) -> anyhow::Result<DemoSummary> {
    generate_sized(dir, seed, TRAIN_IMAGES, TEST_IMAGES)
}

/// [`generate`] with other numbers of train and test images (a larger set to pretrain on, say); the videos
/// are the same as [`generate`]'s.
pub fn generate_sized(
    dir: &Path,
    seed: u64,
    train_images: usize,
    test_images: usize,
) -> anyhow::Result<DemoSummary> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    Ok(DemoSummary {
        root: dir.to_path_buf(),
        categories: CATEGORIES.iter().map(|s| s.to_string()).collect(),
        image_splits: vec![
            generate_images(dir, "train", 0, train_images, seed).map_err(anyhow::Error::msg)?,
            generate_images(dir, "test", 1, test_images, seed).map_err(anyhow::Error::msg)?,
        ],
        video_splits: vec![
            generate_videos(dir, "train", 2, TRAIN_VIDEOS, seed).map_err(anyhow::Error::msg)?,
            generate_videos(dir, "val", 3, VAL_VIDEOS, seed).map_err(anyhow::Error::msg)?,
        ],
    })
}
