//! `coco_images`: a COCO image dataset turned into datapoints exactly as upstream's `Sam3ImageDataset` with
//! the `COCO_FROM_JSON` loader builds them.
//!
//! * Images are sorted by id; categories by id, split into chunks of `queries_per_image`; datapoint `d` is
//!   image `d / chunks`, chunk `d % chunks`.
//! * One text query per category of the chunk (its name, or the `prompts` entry for that name), targeting the
//!   image's annotations of that category in file order; categories without an annotation are negative
//!   queries, kept only with `negatives`. A datapoint without any query is skipped (the loader takes the next).
//! * Boxes: the annotation box normalized by the annotation file's image size (float32, clamped to [0, 1]),
//!   then XYXY scaled by the decoded image's size and clamped; `area` is the normalized box area.
//! * Masks (with `masks`): polygons and RLE decoded at load (upstream's `DecodeRle`); an empty mask becomes
//!   its box, as upstream approximates it.
//! * `limit`: the first N datapoint ids after shuffling them with Python's `random.Random(len(ids))`, as
//!   upstream's `limit_ids`, so that the same images are chosen. `repeat` visits the dataset N times per epoch.
//! * `reindex`: ids numbered from 0 are shifted to 1 (images, categories), as `reindex_coco_to_temp`.

use super::datapoint::{Datapoint, Frame, Object, Pixels, Query, QueryMetadata};
use super::image::RgbImage;
use super::loader::Dataset;
use super::mask::Mask;
use super::rng::{PyRandom, Rng};
use super::DataError;
use sam3c_formats::coco::{parse_coco, CocoDataset, Segmentation};
use sam3c_stdlib::components::data::CocoImages;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One image of the annotation file with its annotations.
#[derive(Debug, Clone)]
struct ImageEntry {
    id: i64,
    file_name: String,
    /// (width, height) from the annotation file, used to normalize boxes and rasterize polygons.
    size: (u32, u32),
    annotations: Vec<Annotation>,
}

#[derive(Debug, Clone)]
struct Annotation {
    category_id: i64,
    bbox: [f64; 4],
    is_crowd: bool,
    segmentation: Option<Segmentation>,
}

/// A loaded `coco_images` dataset.
pub struct CocoImageDataset {
    images_dir: PathBuf,
    images: Vec<ImageEntry>,
    /// Category id → query text.
    texts: HashMap<i64, String>,
    chunks: Vec<Vec<i64>>,
    /// Datapoint ids, after `limit`.
    ids: Vec<usize>,
    negatives: bool,
    masks: bool,
    training: bool,
    repeat: usize,
}

fn annotation_error(file: &Path, message: impl Into<String>) -> DataError {
    DataError::Annotation {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

impl CocoImageDataset {
    /// Read and check the annotation file. `training` selects upstream's training metadata (ids of -1).
    pub fn open(config: &CocoImages, training: bool) -> Result<CocoImageDataset, DataError> {
        let file = &config.annotations;
        let text = std::fs::read_to_string(file)
            .map_err(|e| annotation_error(file, format!("cannot read the annotation file: {e}")))?;
        let mut coco = parse_coco(&text).map_err(|e| annotation_error(file, e.to_string()))?;
        if config.reindex {
            reindex(&mut coco);
        }
        CocoImageDataset::from_parsed(config, coco, training)
    }

    fn from_parsed(
        config: &CocoImages,
        coco: CocoDataset,
        training: bool,
    ) -> Result<CocoImageDataset, DataError> {
        let file = &config.annotations;
        let mut names: HashMap<i64, String> = HashMap::new();
        for c in &coco.categories {
            names.insert(c.id, c.name.clone());
        }
        let mut texts = names.clone();
        if let Some(prompts) = &config.prompts {
            for (name, prompt) in prompts {
                let ids: Vec<i64> = coco
                    .categories
                    .iter()
                    .filter(|c| &c.name == name)
                    .map(|c| c.id)
                    .collect();
                if ids.is_empty() {
                    return Err(annotation_error(
                        file,
                        format!(
                            "`prompts` names the category `{name}`, which the file does not have"
                        ),
                    ));
                }
                for id in ids {
                    texts.insert(id, prompt.clone());
                }
            }
        }
        let mut category_ids: Vec<i64> = names.keys().copied().collect();
        category_ids.sort_unstable();
        let chunk = config
            .queries_per_image
            .map_or(category_ids.len(), |n| n as usize)
            .max(1);
        let chunks: Vec<Vec<i64>> = category_ids.chunks(chunk).map(|c| c.to_vec()).collect();

        let mut images: Vec<ImageEntry> = Vec::with_capacity(coco.images.len());
        let mut position: HashMap<i64, usize> = HashMap::new();
        let mut sorted = coco.images.clone();
        sorted.sort_by_key(|i| i.id);
        for img in sorted {
            let (Some(w), Some(h)) = (img.width, img.height) else {
                return Err(annotation_error(
                    file,
                    format!(
                        "image {} (`{}`) has no width or height",
                        img.id, img.file_name
                    ),
                ));
            };
            if position.insert(img.id, images.len()).is_some() {
                return Err(annotation_error(
                    file,
                    format!("image id {} appears twice", img.id),
                ));
            }
            images.push(ImageEntry {
                id: img.id,
                file_name: img.file_name.clone(),
                size: (w, h),
                annotations: Vec::new(),
            });
        }
        for (k, ann) in coco.annotations.into_iter().enumerate() {
            // Upstream groups annotations under the images it knows and ignores the others.
            let Some(&at) = position.get(&ann.image_id) else {
                continue;
            };
            let Some(bbox) = ann.bbox else {
                return Err(annotation_error(
                    file,
                    format!(
                        "annotation {} (index {k}) has no bbox",
                        ann.id.unwrap_or(-1)
                    ),
                ));
            };
            if !names.contains_key(&ann.category_id) {
                return Err(annotation_error(
                    file,
                    format!(
                        "annotation {} (index {k}) has category {}, which is not in `categories`",
                        ann.id.unwrap_or(-1),
                        ann.category_id
                    ),
                ));
            }
            images[at].annotations.push(Annotation {
                category_id: ann.category_id,
                bbox,
                is_crowd: ann.iscrowd.unwrap_or(0) != 0,
                segmentation: ann.segmentation,
            });
        }

        let mut ids: Vec<usize> = (0..images.len() * chunks.len()).collect();
        if let Some(limit) = config.limit {
            PyRandom::new(ids.len() as u64).shuffle(&mut ids);
            ids.truncate(limit as usize);
        }
        Ok(CocoImageDataset {
            images_dir: config.images.clone(),
            images,
            texts,
            chunks,
            ids,
            negatives: config.negatives,
            masks: config.masks,
            training,
            repeat: config.repeat.max(1) as usize,
        })
    }

    /// The datapoint ids in dataset order (image index × chunks + chunk index), after `limit`.
    pub fn datapoint_ids(&self) -> &[usize] {
        &self.ids
    }

    /// The image file of datapoint `index`.
    pub fn image_path(&self, index: usize) -> PathBuf {
        let entry = &self.images[self.ids[index] / self.chunks.len()];
        self.images_dir.join(&entry.file_name)
    }
}

/// `reindex_coco_to_temp`: shift image and category ids by one when some id is 0.
pub(crate) fn reindex(coco: &mut CocoDataset) {
    if coco.images.iter().any(|i| i.id == 0) {
        coco.images.iter_mut().for_each(|i| i.id += 1);
        coco.annotations.iter_mut().for_each(|a| a.image_id += 1);
    }
    if coco.categories.iter().any(|c| c.id == 0) {
        coco.categories.iter_mut().for_each(|c| c.id += 1);
        coco.annotations.iter_mut().for_each(|a| a.category_id += 1);
    }
    if coco.annotations.iter().any(|a| a.id == Some(0)) {
        coco.annotations
            .iter_mut()
            .for_each(|a| a.id = a.id.map(|i| i + 1));
    }
}

/// Upstream's box path: normalize by the annotation file's size in float32 and clamp to [0, 1]; XYWH to XYXY;
/// scale by the decoded image's size and clamp. Returns (absolute XYXY box, normalized area).
pub(crate) fn load_box(
    bbox: [f64; 4],
    file_size: (u32, u32),
    image_size: (u32, u32),
) -> ([f32; 4], f64) {
    let (fw, fh) = (file_size.0 as f32, file_size.1 as f32);
    let n = [
        (bbox[0] as f32 / fw).clamp(0.0, 1.0),
        (bbox[1] as f32 / fh).clamp(0.0, 1.0),
        (bbox[2] as f32 / fw).clamp(0.0, 1.0),
        (bbox[3] as f32 / fh).clamp(0.0, 1.0),
    ];
    let area = (n[2] * n[3]) as f64;
    let (w, h) = (image_size.0 as f32, image_size.1 as f32);
    let xyxy = [
        (n[0] * w).clamp(0.0, w),
        (n[1] * h).clamp(0.0, h),
        ((n[0] + n[2]) * w).clamp(0.0, w),
        ((n[1] + n[3]) * h).clamp(0.0, h),
    ];
    (xyxy, area)
}

/// Decode a segmentation at the image's size, as upstream's `DecodeRle`: an empty mask becomes its (integer)
/// box; a mask of another size is resized.
pub(crate) fn decode_mask(
    segmentation: &Segmentation,
    rle_size: (u32, u32),
    image_size: (u32, u32),
    bbox: [f32; 4],
) -> Result<Mask, String> {
    let rle = segmentation
        .to_rle(rle_size.1, rle_size.0)
        .map_err(|e| format!("bad segmentation: {e}"))?;
    let (w, h) = image_size;
    if rle.area() == 0 {
        let mut m = Mask::zeros(w, h);
        let [x1, y1, x2, y2] = bbox.map(|v| v as i64);
        let (x_end, y_end) = (x2.max(x1 + 1).min(w as i64), y2.max(y1 + 1).min(h as i64));
        for y in y1.max(0)..y_end {
            for x in x1.max(0)..x_end {
                m.data[(y * w as i64 + x) as usize] = 1;
            }
        }
        return Ok(m);
    }
    let mask = Mask {
        width: rle.width,
        height: rle.height,
        data: rle.decode(),
    };
    Ok(mask.resize(w, h))
}

impl Dataset for CocoImageDataset {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn repeat(&self) -> usize {
        self.repeat
    }

    fn loads_masks(&self) -> bool {
        self.masks
    }

    fn load(&self, index: usize, _rng: &mut Rng) -> Result<Option<Datapoint>, DataError> {
        let id = self.ids[index];
        let entry = &self.images[id / self.chunks.len()];
        let chunk = &self.chunks[id % self.chunks.len()];
        let description = format!(
            "{} (image id {}, categories {}..={})",
            entry.file_name,
            entry.id,
            chunk.first().copied().unwrap_or(0),
            chunk.last().copied().unwrap_or(0)
        );
        let fail = |message: String| DataError::Datapoint {
            datapoint: description.clone(),
            message,
        };
        let image = RgbImage::open(&self.images_dir.join(&entry.file_name)).map_err(&fail)?;
        let image_size = (image.width, image.height);

        let mut objects: Vec<Object> = Vec::new();
        let mut queries: Vec<Query> = Vec::new();
        for &category in chunk {
            let anns: Vec<&Annotation> = entry
                .annotations
                .iter()
                .filter(|a| a.category_id == category)
                .collect();
            if anns.is_empty() && !self.negatives {
                continue;
            }
            let mut targets = Vec::with_capacity(anns.len());
            for ann in anns {
                let (bbox, area) = load_box(ann.bbox, entry.size, image_size);
                let mask = match (&ann.segmentation, self.masks) {
                    (Some(seg), true) if !is_empty_polygon(seg) => Some(
                        decode_mask(seg, entry.size, image_size, bbox)
                            .map_err(|e| fail(format!("annotation of category {category}: {e}")))?,
                    ),
                    _ => None,
                };
                targets.push(objects.len());
                objects.push(Object {
                    bbox,
                    area,
                    object_id: objects.len() as i64,
                    // Upstream's image annotations carry no frame index.
                    frame_index: -1,
                    mask,
                    is_crowd: ann.is_crowd,
                });
            }
            let first = targets.first().map(|&t| &objects[t]);
            queries.push(Query {
                text: self.texts[&category].clone(),
                frame: 0,
                is_exhaustive: true,
                stage: 0,
                box_prompts: Vec::new(),
                box_prompt_labels: Vec::new(),
                metadata: QueryMetadata {
                    coco_image_id: if self.training { -1 } else { entry.id },
                    original_image_id: if self.training { -1 } else { entry.id },
                    original_category_id: category,
                    original_size: (image_size.1, image_size.0),
                    object_id: first.map_or(-1, |o| o.object_id),
                    frame_index: first.map_or(-1, |o| o.frame_index),
                },
                targets,
            });
        }
        if queries.is_empty() {
            return Ok(None);
        }
        Ok(Some(Datapoint {
            frames: vec![Frame {
                pixels: Pixels::Rgb(image),
                objects,
            }],
            queries,
            description,
        }))
    }
}

/// Upstream treats `"segmentation": []` as no segmentation.
fn is_empty_polygon(seg: &Segmentation) -> bool {
    matches!(seg, Segmentation::Polygons(p) if p.is_empty())
}
