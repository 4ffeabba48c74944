//! The transforms of `sam3c_stdlib::components::transforms`, with upstream's semantics
//! (`sam3.train.transforms.{basic_for_api, filter_query_transforms, point_sampling, segmentation}`).
//!
//! A [`Pipeline`] applies its [`Step`]s in order to a [`Datapoint`]. Random choices come from the datapoint's
//! own [`Rng`], so a datapoint's augmentation depends only on (seed, epoch, position). Like upstream, boxes are
//! absolute XYXY pixels until `normalize`, which converts them (object boxes and box prompts) to normalized
//! CxCyWH and the pixels to float. A query filter that leaves no query makes the datapoint *skipped*
//! (`Ok(None)`): upstream raises `ValueError` there and its dataset loads the next index instead.

use super::datapoint::{Datapoint, Pixels};
use super::image::RgbImage;
use super::rng::Rng;
use sam3c_stdlib::components::transforms as cfg;
use std::collections::HashSet;

/// One pipeline step: the stdlib's transform configuration.
pub use cfg::TransformSpec as Step;

/// A validated sequence of steps.
#[derive(Debug, Clone)]
pub struct Pipeline {
    steps: Vec<Prepared>,
}

#[derive(Debug, Clone)]
enum Prepared {
    DropCrowds,
    DropEmpty,
    MaxObjects(usize),
    BoxNoise {
        std: f32,
        max: Option<f32>,
        min_area: f32,
    },
    Noop,
    Resize {
        sizes: Vec<u32>,
        max_size: Option<u32>,
        square: bool,
        consistent: bool,
    },
    Pad {
        size: u32,
        bottom_right: bool,
        consistent: bool,
    },
    HorizontalFlip {
        p: f64,
        consistent: bool,
    },
    ColorJitter {
        brightness: (f64, f64),
        contrast: (f64, f64),
        saturation: (f64, f64),
        hue: (f64, f64),
        consistent: bool,
    },
    Normalize {
        mean: [f32; 3],
        std: [f32; 3],
    },
    TextToVisual {
        probability: f64,
        keep_text: bool,
    },
}

/// Upstream's `get_random_resize_scales`: multiples of `stride` (32, or 128 when rounded) from `min` rounded
/// up to `size`, inclusive.
pub fn random_resize_scales(size: u32, min: u32, rounded: bool) -> Vec<u32> {
    let stride = if rounded { 128 } else { 32 };
    let start = min.div_ceil(stride) * stride;
    (start..=size).step_by(stride as usize).collect()
}

/// Upstream's `get_random_resize_max_size`: `round(5/3 * size)` (half to even, as Python's `round`).
pub fn random_resize_max_size(size: u32) -> u32 {
    (5.0 / 3.0 * size as f64).round_ties_even() as u32
}

impl Pipeline {
    /// Check the configuration of every step (non-empty size lists, three normalization channels, ...).
    pub fn new(steps: &[Step]) -> Result<Pipeline, String> {
        let steps = steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                prepare(s).map_err(|e| format!("transform {} ({}): {e}", i + 1, step_name(s)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pipeline { steps })
    }

    /// Apply every step. `Ok(None)`: a query filter left no query, so the datapoint is skipped.
    pub fn apply(&self, mut dp: Datapoint, rng: &mut Rng) -> Result<Option<Datapoint>, String> {
        for step in &self.steps {
            match step.apply(dp, rng)? {
                Some(next) => dp = next,
                None => return Ok(None),
            }
        }
        Ok(Some(dp))
    }
}

/// The component name of a step, for messages.
pub fn step_name(step: &Step) -> &'static str {
    match step {
        Step::FilterCrowds(_) => "filter_crowds",
        Step::FilterEmpty(_) => "filter_empty",
        Step::MaxObjects(_) => "max_objects",
        Step::BoxNoise(_) => "box_noise",
        Step::DecodeMasks(_) => "decode_masks",
        Step::RandomResize(_) => "random_resize",
        Step::Resize(_) => "resize",
        Step::Pad(_) => "pad",
        Step::HorizontalFlip(_) => "hflip",
        Step::ColorJitter(_) => "color_jitter",
        Step::Normalize(_) => "normalize",
        Step::TextToVisual(_) => "text_to_visual",
    }
}

fn prepare(step: &Step) -> Result<Prepared, String> {
    Ok(match step {
        Step::FilterCrowds(_) => Prepared::DropCrowds,
        Step::FilterEmpty(_) => Prepared::DropEmpty,
        Step::MaxObjects(m) => Prepared::MaxObjects(m.n as usize),
        Step::BoxNoise(b) => Prepared::BoxNoise {
            std: b.std as f32,
            max: b.max.map(|p| p.0 as f32),
            min_area: b.min_area as f32,
        },
        // Masks are decoded when a datapoint is loaded: this step only marks where upstream decodes them.
        Step::DecodeMasks(_) => Prepared::Noop,
        Step::RandomResize(r) => {
            let sizes: Vec<u32> = match &r.sizes {
                cfg::ResizeSizes::One(p) => vec![p.0],
                cfg::ResizeSizes::List(l) => l.iter().map(|p| p.0).collect(),
                cfg::ResizeSizes::Scales(s) => random_resize_scales(s.size.0, s.min.0, s.rounded),
            };
            let Some(&largest) = sizes.iter().max() else {
                return Err(
                    "no candidate size (is the smallest scale larger than the largest?)".into(),
                );
            };
            if sizes.contains(&0) {
                return Err("sizes must be positive".into());
            }
            Prepared::Resize {
                max_size: Some(
                    r.max_size
                        .map_or_else(|| random_resize_max_size(largest), |p| p.0),
                ),
                sizes,
                square: r.square,
                consistent: r.consistent,
            }
        }
        Step::Resize(r) => {
            if r.size.0 == 0 {
                return Err("size must be positive".into());
            }
            Prepared::Resize {
                sizes: vec![r.size.0],
                max_size: r.max_size.map(|p| p.0),
                square: r.square,
                consistent: true,
            }
        }
        Step::Pad(p) => Prepared::Pad {
            size: p.size.0,
            bottom_right: p.bottom_right,
            consistent: p.consistent,
        },
        Step::HorizontalFlip(h) => Prepared::HorizontalFlip {
            p: h.p,
            consistent: h.consistent,
        },
        Step::ColorJitter(c) => Prepared::ColorJitter {
            brightness: ((1.0 - c.brightness).max(0.0), 1.0 + c.brightness),
            contrast: ((1.0 - c.contrast).max(0.0), 1.0 + c.contrast),
            saturation: ((1.0 - c.saturation).max(0.0), 1.0 + c.saturation),
            hue: (-c.hue, c.hue),
            consistent: c.consistent,
        },
        Step::Normalize(n) => {
            let three = |v: &[f64], what: &str| -> Result<[f32; 3], String> {
                match v {
                    [a, b, c] => Ok([*a as f32, *b as f32, *c as f32]),
                    _ => Err(format!("{what} needs 3 values (R, G, B), got {}", v.len())),
                }
            };
            let std = three(&n.std, "std")?;
            if std.contains(&0.0) {
                return Err("std must not be 0".into());
            }
            Prepared::Normalize {
                mean: three(&n.mean, "mean")?,
                std,
            }
        }
        Step::TextToVisual(t) => Prepared::TextToVisual {
            probability: t.probability,
            keep_text: t.keep_text,
        },
    })
}

fn rgb_of<'a>(dp: &'a Datapoint, frame: usize, step: &str) -> Result<&'a RgbImage, String> {
    match &dp.frames[frame].pixels {
        Pixels::Rgb(img) => Ok(img),
        Pixels::Normalized { .. } => Err(format!("{step} must come before normalize")),
    }
}

impl Prepared {
    fn apply(&self, mut dp: Datapoint, rng: &mut Rng) -> Result<Option<Datapoint>, String> {
        match self {
            Prepared::Noop => Ok(Some(dp)),
            Prepared::DropCrowds => {
                let drop = objects_where(&dp, |o| o.is_crowd);
                filter_queries(dp, &HashSet::new(), &drop)
            }
            Prepared::DropEmpty => {
                let drop = objects_where(&dp, |o| o.area < 1e-6);
                filter_queries(dp, &HashSet::new(), &drop)
            }
            Prepared::MaxObjects(n) => {
                let drop = dp
                    .queries
                    .iter()
                    .enumerate()
                    .filter(|(_, q)| q.targets.len() > *n)
                    .map(|(i, _)| i)
                    .collect();
                filter_queries(dp, &drop, &HashSet::new())
            }
            Prepared::BoxNoise { std, max, min_area } => {
                for qi in 0..dp.queries.len() {
                    let (w, h) = dp.frames[dp.queries[qi].frame].pixels.size();
                    for b in dp.queries[qi].box_prompts.iter_mut() {
                        *b = noise_box(*b, (w as f32, h as f32), *std, *max, *min_area, rng);
                    }
                }
                Ok(Some(dp))
            }
            Prepared::Resize {
                sizes,
                max_size,
                square,
                consistent,
            } => {
                let mut size = sizes[rng.below(sizes.len() as u64) as usize];
                for i in 0..dp.frames.len() {
                    if !consistent && i > 0 {
                        size = sizes[rng.below(sizes.len() as u64) as usize];
                    }
                    resize_frame(&mut dp, i, size, *max_size, *square)?;
                }
                Ok(Some(dp))
            }
            Prepared::Pad {
                size,
                bottom_right,
                consistent,
            } => {
                let mut drawn: Option<(u32, u32)> = None;
                for i in 0..dp.frames.len() {
                    let (w, h) = rgb_of(&dp, i, "pad").map(|img| (img.width, img.height))?;
                    if w > *size || h > *size {
                        return Err(format!(
                            "pad: frame {i} is {w}x{h}, larger than {size}x{size}"
                        ));
                    }
                    let (pad_x, pad_y) = (size - w, size - h);
                    let (left, top) = if *bottom_right {
                        (0, 0)
                    } else if *consistent && drawn.is_some() {
                        drawn.unwrap()
                    } else {
                        let left = rng.int_inclusive(0, pad_x as i64) as u32;
                        let top = rng.int_inclusive(0, pad_y as i64) as u32;
                        drawn = Some((left, top));
                        (left, top)
                    };
                    pad_frame(
                        &mut dp,
                        i,
                        left,
                        top,
                        pad_x - left.min(pad_x),
                        pad_y - top.min(pad_y),
                    );
                }
                Ok(Some(dp))
            }
            Prepared::HorizontalFlip { p, consistent } => {
                let once = rng.uniform() < *p;
                for i in 0..dp.frames.len() {
                    let flip = if *consistent || i == 0 {
                        once
                    } else {
                        rng.uniform() < *p
                    };
                    if flip {
                        hflip_frame(&mut dp, i)?;
                    }
                }
                Ok(Some(dp))
            }
            Prepared::ColorJitter {
                brightness,
                contrast,
                saturation,
                hue,
                consistent,
            } => {
                let draw = |rng: &mut Rng| {
                    let mut order = [0usize, 1, 2, 3];
                    rng.shuffle(&mut order);
                    (
                        order,
                        [
                            rng.uniform_range(brightness.0, brightness.1),
                            rng.uniform_range(contrast.0, contrast.1),
                            rng.uniform_range(saturation.0, saturation.1),
                            rng.uniform_range(hue.0, hue.1),
                        ],
                    )
                };
                let mut params = draw(rng);
                for i in 0..dp.frames.len() {
                    if !consistent && i > 0 {
                        params = draw(rng);
                    }
                    let mut img = rgb_of(&dp, i, "color_jitter")?.clone();
                    for &op in &params.0 {
                        let f = params.1[op];
                        img = match op {
                            0 => img.adjust_brightness(f),
                            1 => img.adjust_contrast(f),
                            2 => img.adjust_saturation(f),
                            _ => img.adjust_hue(f),
                        };
                    }
                    dp.frames[i].pixels = Pixels::Rgb(img);
                }
                Ok(Some(dp))
            }
            Prepared::Normalize { mean, std } => {
                normalize(&mut dp, *mean, *std)?;
                Ok(Some(dp))
            }
            Prepared::TextToVisual {
                probability,
                keep_text,
            } => {
                for qi in 0..dp.queries.len() {
                    let q = &dp.queries[qi];
                    if !q.box_prompts.is_empty() || q.targets.is_empty() || q.stage > 0 {
                        continue;
                    }
                    if rng.uniform() > *probability {
                        continue;
                    }
                    let chosen = q.targets[rng.below(q.targets.len() as u64) as usize];
                    let bbox = dp.frames[q.frame].objects[chosen].bbox;
                    let q = &mut dp.queries[qi];
                    q.box_prompts = vec![bbox];
                    q.box_prompt_labels = vec![true];
                    if !keep_text {
                        q.text = "visual".into();
                    }
                }
                Ok(Some(dp))
            }
        }
    }
}

fn objects_where(
    dp: &Datapoint,
    pred: impl Fn(&super::datapoint::Object) -> bool,
) -> HashSet<(usize, usize)> {
    dp.frames
        .iter()
        .enumerate()
        .flat_map(|(f, frame)| {
            frame
                .objects
                .iter()
                .enumerate()
                .filter(|(_, o)| pred(o))
                .map(move |(o, _)| (f, o))
        })
        .collect()
}

/// Upstream's `FlexibleFilterFindGetQueries`: drop the given queries and objects, then every object no query
/// targets any more and every frame no query looks at; renumber stages, targets and frames.
fn filter_queries(
    mut dp: Datapoint,
    drop_queries: &HashSet<usize>,
    drop_objects: &HashSet<(usize, usize)>,
) -> Result<Option<Datapoint>, String> {
    let queries: Vec<_> = std::mem::take(&mut dp.queries)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !drop_queries.contains(i))
        .map(|(_, q)| q)
        .collect();
    if queries.is_empty() {
        return Ok(None);
    }
    if !queries.iter().any(|q| q.stage == 0) {
        return Err("after filtering, no query is left at processing stage 0".into());
    }
    dp.queries = queries;
    let mut stages: Vec<usize> = dp.queries.iter().map(|q| q.stage).collect();
    stages.sort_unstable();
    stages.dedup();
    for q in dp.queries.iter_mut() {
        q.stage = stages.binary_search(&q.stage).unwrap();
    }

    for f in 0..dp.frames.len() {
        let used: HashSet<usize> = dp
            .queries
            .iter()
            .filter(|q| q.frame == f)
            .flat_map(|q| q.targets.iter().copied())
            .collect();
        let keep: Vec<bool> = (0..dp.frames[f].objects.len())
            .map(|o| used.contains(&o) && !drop_objects.contains(&(f, o)))
            .collect();
        if keep.iter().all(|&k| k) {
            continue;
        }
        let mut new_index = vec![usize::MAX; keep.len()];
        let mut next = 0;
        for (o, &k) in keep.iter().enumerate() {
            if k {
                new_index[o] = next;
                next += 1;
            }
        }
        let objects = std::mem::take(&mut dp.frames[f].objects);
        dp.frames[f].objects = objects
            .into_iter()
            .zip(&keep)
            .filter(|(_, &k)| k)
            .map(|(o, _)| o)
            .collect();
        for q in dp.queries.iter_mut().filter(|q| q.frame == f) {
            q.targets = q
                .targets
                .iter()
                .filter(|&&o| keep[o])
                .map(|&o| new_index[o])
                .collect();
        }
    }

    let used_frames: HashSet<usize> = dp.queries.iter().map(|q| q.frame).collect();
    if used_frames.len() < dp.frames.len() {
        let mut new_index = vec![usize::MAX; dp.frames.len()];
        let mut next = 0;
        for (f, slot) in new_index.iter_mut().enumerate() {
            if used_frames.contains(&f) {
                *slot = next;
                next += 1;
            }
        }
        let frames = std::mem::take(&mut dp.frames);
        dp.frames = frames
            .into_iter()
            .enumerate()
            .filter(|(f, _)| used_frames.contains(f))
            .map(|(_, fr)| fr)
            .collect();
        for q in dp.queries.iter_mut() {
            q.frame = new_index[q.frame];
        }
    }
    Ok(Some(dp))
}

/// Upstream's `noise_box` (float32): Gaussian noise scaled by the box size, clamped to `max`, the box clamped
/// to the image; a result of area `<= min_area` keeps the original box.
fn noise_box(
    b: [f32; 4],
    (img_w, img_h): (f32, f32),
    std: f32,
    max: Option<f32>,
    min_area: f32,
    rng: &mut Rng,
) -> [f32; 4] {
    if std <= 0.0 {
        return b;
    }
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let scale = [w, h, w, h];
    let limit = [img_w, img_h, img_w, img_h];
    let mut out = [0f32; 4];
    for k in 0..4 {
        let mut n = std * rng.normal() as f32 * scale[k];
        if let Some(m) = max {
            n = n.clamp(-m, m);
        }
        out[k] = (b[k] + n).max(0.0).min(limit[k]);
    }
    if (out[2] - out[0]) * (out[3] - out[1]) <= min_area {
        return b;
    }
    out
}

/// Upstream's `get_size_with_aspect_ratio`: the shorter side becomes `size`, unless the longer side would
/// exceed `max_size`. Returns (height, width).
fn size_with_aspect_ratio((w, h): (u32, u32), size: u32, max_size: Option<u32>) -> (u32, u32) {
    let mut size = size as f64;
    let (wf, hf) = (w as f64, h as f64);
    if let Some(max) = max_size {
        let (min_orig, max_orig) = (wf.min(hf), wf.max(hf));
        if max_orig / min_orig * size > max as f64 {
            size = max as f64 * min_orig / max_orig;
        }
    }
    if (w <= h && wf == size) || (h <= w && hf == size) {
        return (h, w);
    }
    if w < h {
        (
            (size * hf / wf).round_ties_even() as u32,
            size.round_ties_even() as u32,
        )
    } else {
        (
            size.round_ties_even() as u32,
            (size * wf / hf).round_ties_even() as u32,
        )
    }
}

/// Resize frame `index` as upstream's `basic_for_api.resize`: to `size`×`size` when `square`, otherwise the
/// shorter side to `size` with the longer side capped by `max_size`; boxes, areas, masks and prompts follow.
pub fn resize_frame(
    dp: &mut Datapoint,
    index: usize,
    size: u32,
    max_size: Option<u32>,
    square: bool,
) -> Result<(), String> {
    let img = rgb_of(dp, index, "resize")?;
    let (old_w, old_h) = (img.width, img.height);
    let (new_h, new_w) = if square {
        (size, size)
    } else {
        size_with_aspect_ratio((old_w, old_h), size, max_size)
    };
    if new_w == 0 || new_h == 0 {
        return Err(format!(
            "resize: frame {index} ({old_w}x{old_h}) would become empty"
        ));
    }
    let resized = img.resize_bilinear(new_w, new_h);
    let frame = &mut dp.frames[index];
    frame.pixels = Pixels::Rgb(resized);
    let rw = new_w as f64 / old_w as f64;
    let rh = new_h as f64 / old_h as f64;
    let scale = [rw as f32, rh as f32, rw as f32, rh as f32];
    for obj in frame.objects.iter_mut() {
        for k in 0..4 {
            obj.bbox[k] *= scale[k];
        }
        obj.area *= rw * rh;
        if let Some(m) = obj.mask.as_mut() {
            *m = m.resize(new_w, new_h);
        }
    }
    for q in dp.queries.iter_mut().filter(|q| q.frame == index) {
        for b in q.box_prompts.iter_mut() {
            for k in 0..4 {
                b[k] *= scale[k];
            }
        }
    }
    Ok(())
}

/// Pad frame `index` with black as upstream's `basic_for_api.pad`; boxes, box prompts and masks are shifted.
pub fn pad_frame(dp: &mut Datapoint, index: usize, left: u32, top: u32, right: u32, bottom: u32) {
    let frame = &mut dp.frames[index];
    if let Pixels::Rgb(img) = &frame.pixels {
        frame.pixels = Pixels::Rgb(img.pad(left, top, right, bottom));
    }
    let shift = [left as f32, top as f32, left as f32, top as f32];
    for obj in frame.objects.iter_mut() {
        for k in 0..4 {
            obj.bbox[k] += shift[k];
        }
        if let Some(m) = obj.mask.as_mut() {
            *m = m.pad(left, top, right, bottom);
        }
    }
    for q in dp.queries.iter_mut().filter(|q| q.frame == index) {
        for b in q.box_prompts.iter_mut() {
            for k in 0..4 {
                b[k] += shift[k];
            }
        }
    }
}

/// Mirror frame `index` as upstream's `basic_for_api.hflip`, with its boxes, masks and box prompts.
pub fn hflip_frame(dp: &mut Datapoint, index: usize) -> Result<(), String> {
    let img = rgb_of(dp, index, "hflip")?;
    let w = img.width as f32;
    let flipped = img.hflip();
    let flip = |b: &mut [f32; 4]| *b = [w - b[2], b[1], w - b[0], b[3]];
    let frame = &mut dp.frames[index];
    frame.pixels = Pixels::Rgb(flipped);
    for obj in frame.objects.iter_mut() {
        flip(&mut obj.bbox);
        if let Some(m) = obj.mask.as_mut() {
            *m = m.hflip();
        }
    }
    for q in dp.queries.iter_mut().filter(|q| q.frame == index) {
        q.box_prompts.iter_mut().for_each(flip);
    }
    Ok(())
}

/// XYXY absolute to CxCyWH normalized by the frame size (float32, as upstream's `NormalizeAPI`).
fn normalize_box(b: [f32; 4], w: f32, h: f32) -> [f32; 4] {
    [
        (b[0] + b[2]) / 2.0 / w,
        (b[1] + b[3]) / 2.0 / h,
        (b[2] - b[0]) / w,
        (b[3] - b[1]) / h,
    ]
}

/// `ToTensor` + `NormalizeAPI`: pixels to `((v / 255) - mean) / std` float planes, boxes and box prompts
/// from absolute XYXY to CxCyWH normalized by the frame size.
pub fn normalize(dp: &mut Datapoint, mean: [f32; 3], std: [f32; 3]) -> Result<(), String> {
    for frame in dp.frames.iter_mut() {
        let Pixels::Rgb(img) = &frame.pixels else {
            return Err("normalize applied twice".into());
        };
        let plane = img.width as usize * img.height as usize;
        let mut data = vec![0f32; plane * 3];
        for (i, px) in img.data.chunks_exact(3).enumerate() {
            for c in 0..3 {
                data[c * plane + i] = (px[c] as f32 / 255.0 - mean[c]) / std[c];
            }
        }
        let (w, h) = (img.width, img.height);
        frame.pixels = Pixels::Normalized {
            width: w,
            height: h,
            data,
        };
        for obj in frame.objects.iter_mut() {
            obj.bbox = normalize_box(obj.bbox, w as f32, h as f32);
        }
    }
    for q in dp.queries.iter_mut() {
        let (w, h) = dp.frames[q.frame].pixels.size();
        for b in q.box_prompts.iter_mut() {
            *b = normalize_box(*b, w as f32, h as f32);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_match_upstream_examples() {
        let s = random_resize_scales(1008, 480, false);
        assert_eq!(s.len(), 17);
        assert_eq!((s[0], s[16]), (480, 992));
        assert_eq!(random_resize_scales(1024, 480, false).last(), Some(&1024));
        assert_eq!(
            random_resize_scales(1008, 480, true),
            vec![512, 640, 768, 896]
        );
        assert_eq!(random_resize_max_size(1008), 1680);
    }

    #[test]
    fn aspect_ratio_sizes_follow_upstream() {
        // Shorter side to 480, longer side scaled and rounded.
        assert_eq!(size_with_aspect_ratio((640, 427), 480, None), (480, 719));
        // Capped by max_size: 1000x200 to 480 would give 2400 wide; the cap 1000 gives 200 high.
        assert_eq!(
            size_with_aspect_ratio((1000, 200), 480, Some(1000)),
            (200, 1000)
        );
        // Already the right size: unchanged.
        assert_eq!(size_with_aspect_ratio((480, 600), 480, None), (600, 480));
    }
}
