//! RGB images as upstream's pipeline sees them before `ToTensor`: 8-bit pixels, and the PIL operations that
//! upstream applies to them (bilinear resize, padding, flips, colour enhancements), reimplemented to give the
//! same bytes as Pillow.

use std::path::Path;

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Pillow's fixed-point precision for 8-bit resampling (`PRECISION_BITS` in Resample.c).
const PRECISION_BITS: u32 = 32 - 8 - 2;

impl RgbImage {
    /// A black image.
    pub fn new(width: u32, height: u32) -> RgbImage {
        RgbImage {
            width,
            height,
            data: vec![0; width as usize * height as usize * 3],
        }
    }

    /// Decode a JPEG or PNG file to RGB (as `PIL.Image.open(path).convert("RGB")`); the error names the file.
    pub fn open(path: &Path) -> Result<RgbImage, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read image {}: {e}", path.display()))?;
        RgbImage::decode(&bytes).map_err(|e| format!("cannot decode image {}: {e}", path.display()))
    }

    /// Decode JPEG or PNG bytes to RGB.
    pub fn decode(bytes: &[u8]) -> Result<RgbImage, String> {
        let format = image::guess_format(bytes).map_err(|e| e.to_string())?;
        let decoded =
            image::load_from_memory_with_format(bytes, format).map_err(|e| e.to_string())?;
        let rgb = decoded.to_rgb8();
        Ok(RgbImage {
            width: rgb.width(),
            height: rgb.height(),
            data: rgb.into_raw(),
        })
    }

    /// The pixel at (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Resize with Pillow's BILINEAR filter (`Image.resize(size, Image.BILINEAR)`, which is what torchvision's
    /// `F.resize` does on PIL images): a triangle filter widened by the scale when shrinking (antialiasing),
    /// horizontal pass then vertical pass, each rounded to 8 bits with Pillow's fixed-point coefficients.
    pub fn resize_bilinear(&self, width: u32, height: u32) -> RgbImage {
        if width == self.width && height == self.height {
            return self.clone();
        }
        let horizontal = pil_coefficients(self.width as usize, width as usize);
        let mut vertical = pil_coefficients(self.height as usize, height as usize);
        let mut source = std::borrow::Cow::Borrowed(self);
        if width != self.width {
            // Only the rows the vertical pass reads (Pillow's ybox_first..ybox_last).
            let first = vertical.first().map_or(0, |c| c.start);
            let last = vertical.last().map_or(0, |c| c.start + c.weights.len());
            for c in vertical.iter_mut() {
                c.start -= first;
            }
            let mut tmp = RgbImage::new(width, (last - first) as u32);
            for (ty, y) in (first..last).enumerate() {
                let row =
                    &self.data[y * self.width as usize * 3..(y + 1) * self.width as usize * 3];
                for (x, c) in horizontal.iter().enumerate() {
                    for ch in 0..3 {
                        let mut acc: i32 = 1 << (PRECISION_BITS - 1);
                        for (k, &w) in c.weights.iter().enumerate() {
                            acc += row[(c.start + k) * 3 + ch] as i32 * w;
                        }
                        tmp.data[(ty * width as usize + x) * 3 + ch] = clip8(acc);
                    }
                }
            }
            source = std::borrow::Cow::Owned(tmp);
        }
        if height == source.height {
            return source.into_owned();
        }
        let src = source.as_ref();
        let stride = src.width as usize * 3;
        let mut out = RgbImage::new(src.width, height);
        for (y, c) in vertical.iter().enumerate() {
            for x in 0..stride {
                let mut acc: i32 = 1 << (PRECISION_BITS - 1);
                for (k, &w) in c.weights.iter().enumerate() {
                    acc += src.data[(c.start + k) * stride + x] as i32 * w;
                }
                out.data[y * stride + x] = clip8(acc);
            }
        }
        out
    }

    /// Pad with black: `left`, `top`, `right`, `bottom` pixels.
    pub fn pad(&self, left: u32, top: u32, right: u32, bottom: u32) -> RgbImage {
        let mut out = RgbImage::new(self.width + left + right, self.height + top + bottom);
        let row = self.width as usize * 3;
        for y in 0..self.height as usize {
            let dst = ((y + top as usize) * out.width as usize + left as usize) * 3;
            out.data[dst..dst + row].copy_from_slice(&self.data[y * row..(y + 1) * row]);
        }
        out
    }

    /// Mirror left-right.
    pub fn hflip(&self) -> RgbImage {
        let mut out = self.clone();
        let w = self.width as usize;
        for y in 0..self.height as usize {
            for x in 0..w {
                let s = (y * w + x) * 3;
                let d = (y * w + (w - 1 - x)) * 3;
                out.data[d..d + 3].copy_from_slice(&self.data[s..s + 3]);
            }
        }
        out
    }

    /// Pillow's RGB to L conversion (ITU-R 601-2 luma with its rounding).
    pub fn luma(&self) -> Vec<u8> {
        self.data
            .chunks_exact(3)
            .map(|p| {
                ((p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000) >> 16)
                    as u8
            })
            .collect()
    }

    /// `ImageEnhance.Brightness(img).enhance(factor)`.
    pub fn adjust_brightness(&self, factor: f64) -> RgbImage {
        let black = vec![0u8; self.data.len()];
        self.blend_from(&black, factor)
    }

    /// `ImageEnhance.Contrast(img).enhance(factor)`: blend with a grey image at the rounded mean luma.
    pub fn adjust_contrast(&self, factor: f64) -> RgbImage {
        let luma = self.luma();
        let mean = if luma.is_empty() {
            0.0
        } else {
            luma.iter().map(|&v| v as f64).sum::<f64>() / luma.len() as f64
        };
        let grey = (mean + 0.5) as u8;
        self.blend_from(&vec![grey; self.data.len()], factor)
    }

    /// `ImageEnhance.Color(img).enhance(factor)`: blend with the greyscale image.
    pub fn adjust_saturation(&self, factor: f64) -> RgbImage {
        let degenerate: Vec<u8> = self.luma().iter().flat_map(|&l| [l, l, l]).collect();
        self.blend_from(&degenerate, factor)
    }

    /// torchvision's `adjust_hue` on PIL images: shift Pillow's 8-bit HSV hue by `int(factor * 255)` (mod 256).
    pub fn adjust_hue(&self, factor: f64) -> RgbImage {
        let shift = ((factor * 255.0) as i32) as u8;
        let mut out = self.clone();
        for p in out.data.chunks_exact_mut(3) {
            let [h, s, v] = rgb_to_hsv([p[0], p[1], p[2]]);
            p.copy_from_slice(&hsv_to_rgb([h.wrapping_add(shift), s, v]));
        }
        out
    }

    /// `Image.blend(degenerate, self, alpha)` for 8-bit bands (Pillow's Blend.c).
    fn blend_from(&self, degenerate: &[u8], alpha: f64) -> RgbImage {
        let alpha = alpha as f32;
        let data = degenerate
            .iter()
            .zip(&self.data)
            .map(|(&a, &b)| {
                let v = a as f32 + alpha * (b as f32 - a as f32);
                if (0.0..=1.0).contains(&alpha) {
                    v as u8
                } else if v <= 0.0 {
                    0
                } else if v >= 255.0 {
                    255
                } else {
                    v as u8
                }
            })
            .collect();
        RgbImage {
            width: self.width,
            height: self.height,
            data,
        }
    }
}

fn clip8(acc: i32) -> u8 {
    if acc >= (1 << PRECISION_BITS << 8) {
        255
    } else if acc <= 0 {
        0
    } else {
        (acc >> PRECISION_BITS) as u8
    }
}

/// The input range and fixed-point weights of one output pixel.
struct Coefficients {
    start: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear filter (support 1).
fn pil_coefficients(in_size: usize, out_size: usize) -> Vec<Coefficients> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut weights: Vec<f64> = (xmin..xmax)
                .map(|x| {
                    let t = ((x as f64 - center + 0.5) / filter_scale).abs();
                    if t < 1.0 {
                        1.0 - t
                    } else {
                        0.0
                    }
                })
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                for w in weights.iter_mut() {
                    *w /= total;
                }
            }
            let one = (1u32 << PRECISION_BITS) as f64;
            Coefficients {
                start: xmin,
                weights: weights
                    .iter()
                    .map(|&w| {
                        if w < 0.0 {
                            (-0.5 + w * one) as i32
                        } else {
                            (0.5 + w * one) as i32
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Pillow's `rgb2hsv_row` (float and double arithmetic as in Convert.c).
fn rgb_to_hsv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    if maxc == minc {
        return [0, 0, maxc];
    }
    let cr = (maxc - minc) as f32;
    let s = cr / maxc as f32;
    let rc = (maxc - r) as f32 / cr;
    let gc = (maxc - g) as f32 / cr;
    let bc = (maxc - b) as f32 / cr;
    let h: f32 = if r == maxc {
        bc - gc
    } else if g == maxc {
        (2.0 + rc as f64 - bc as f64) as f32
    } else {
        (4.0 + gc as f64 - rc as f64) as f32
    };
    let h = ((h as f64 / 6.0 + 1.0) % 1.0) as f32;
    let clip = |v: i32| v.clamp(0, 255) as u8;
    [
        clip((h as f64 * 255.0) as i32),
        clip((s as f64 * 255.0) as i32),
        maxc,
    ]
}

/// Pillow's `hsv2rgb`.
fn hsv_to_rgb([h, s, v]: [u8; 3]) -> [u8; 3] {
    if s == 0 {
        return [v, v, v];
    }
    let i = (h as f32 as f64 * 6.0 / 255.0).floor() as i32;
    let f = (h as f32 as f64 * 6.0 / 255.0 - i as f32 as f64) as f32;
    let fs = (s as f32 as f64 / 255.0) as f32;
    let vf = v as f32 as f64;
    let clip = |x: f64| (x.round() as i32).clamp(0, 255) as u8;
    let p = clip(vf * (1.0 - fs as f64));
    let q = clip(vf * (1.0 - (fs * f) as f64));
    let t = clip(vf * (1.0 - fs as f64 * (1.0 - f as f64)));
    match i % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        let mut img = RgbImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let i = ((y * w + x) * 3) as usize;
                img.data[i] = (x * 255 / w.max(1)) as u8;
                img.data[i + 1] = (y * 255 / h.max(1)) as u8;
                img.data[i + 2] = ((x + y) % 256) as u8;
            }
        }
        img
    }

    #[test]
    fn resize_to_same_size_is_identity_and_constant_stays_constant() {
        let img = gradient(7, 5);
        assert_eq!(img.resize_bilinear(7, 5), img);
        let mut flat = RgbImage::new(9, 4);
        flat.data.iter_mut().for_each(|v| *v = 77);
        let out = flat.resize_bilinear(20, 3);
        assert_eq!((out.width, out.height), (20, 3));
        assert!(out.data.iter().all(|&v| v == 77));
    }

    #[test]
    fn pad_places_the_image_at_the_offset() {
        let img = gradient(3, 2);
        let out = img.pad(2, 1, 0, 3);
        assert_eq!((out.width, out.height), (5, 6));
        assert_eq!(out.pixel(2, 1), img.pixel(0, 0));
        assert_eq!(out.pixel(4, 2), img.pixel(2, 1));
        assert_eq!(out.pixel(0, 0), [0, 0, 0]);
    }

    #[test]
    fn hflip_twice_is_identity() {
        let img = gradient(6, 3);
        assert_eq!(img.hflip().pixel(0, 0), img.pixel(5, 0));
        assert_eq!(img.hflip().hflip(), img);
    }

    #[test]
    fn hsv_conversions_match_pillow_values() {
        // Pillow: Image.new("RGB", (1, 1), (0, 31, 253)).convert("HSV") == (164, 255, 253), and back to RGB
        // gives (0, 36, 253): its 8-bit hue is lossy, and we must be lossy in the same way.
        assert_eq!(rgb_to_hsv([0, 31, 253]), [164, 255, 253]);
        assert_eq!(hsv_to_rgb([164, 255, 253]), [0, 36, 253]);
        assert_eq!(rgb_to_hsv([7, 7, 7]), [0, 0, 7]);
    }

    #[test]
    fn decode_rejects_garbage_with_a_message() {
        let err = RgbImage::decode(b"not an image at all").unwrap_err();
        assert!(!err.is_empty());
    }
}
