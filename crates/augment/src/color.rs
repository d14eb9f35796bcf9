//! Photometric functions with torchvision's formulas for float images (`functional_tensor`):
//! brightness, contrast and saturation blend with black, the mean grey level and the grey image;
//! hue goes through torchvision's RGB <-> HSV; grey is `0.2989 R + 0.587 G + 0.114 B`.

use crate::error::{Result, invalid};
use crate::image::Image;

fn need_rgb(img: &Image, op: &str) -> Result<()> {
    if img.channels() != 3 {
        return Err(invalid(
            op,
            format!("needs an RGB image, got {} channel(s)", img.channels()),
        ));
    }
    Ok(())
}

/// The grey level of each pixel, `0.2989 R + 0.587 G + 0.114 B` (ITU-R 601-2 luma, torchvision).
pub fn luma(img: &Image) -> Vec<f32> {
    let (r, g, b) = (img.plane(0), img.plane(1), img.plane(2));
    r.iter()
        .zip(g)
        .zip(b)
        .map(|((r, g), b)| 0.2989 * r + 0.587 * g + 0.114 * b)
        .collect()
}

/// `clamp(ratio * img + (1 - ratio) * other, 0, 1)` with `other` given per pixel of a plane.
fn blend_planes(img: &Image, other: impl Fn(usize) -> f32, ratio: f32) -> Image {
    let mut out = img.clone();
    for c in 0..img.channels() {
        for (i, v) in out.plane_mut(c).iter_mut().enumerate() {
            *v = (ratio * *v + (1.0 - ratio) * other(i)).clamp(0.0, 1.0);
        }
    }
    out
}

/// Multiplies by `factor` (torchvision `adjust_brightness`).
pub fn adjust_brightness(img: &Image, factor: f32) -> Image {
    blend_planes(img, |_| 0.0, factor)
}

/// Blends with the mean grey level (torchvision `adjust_contrast`). RGB only.
pub fn adjust_contrast(img: &Image, factor: f32) -> Result<Image> {
    need_rgb(img, "adjust_contrast")?;
    let l = luma(img);
    let mean = (l.iter().map(|&v| f64::from(v)).sum::<f64>() / l.len().max(1) as f64) as f32;
    Ok(blend_planes(img, |_| mean, factor))
}

/// Blends with the grey image (torchvision `adjust_saturation`). RGB only.
pub fn adjust_saturation(img: &Image, factor: f32) -> Result<Image> {
    need_rgb(img, "adjust_saturation")?;
    let l = luma(img);
    Ok(blend_planes(img, |i| l[i], factor))
}

/// The grey image repeated over the three channels (torchvision `rgb_to_grayscale` with
/// `num_output_channels = 3`). RGB only.
pub fn grayscale(img: &Image) -> Result<Image> {
    need_rgb(img, "grayscale")?;
    let l = luma(img);
    let mut out = img.clone();
    for c in 0..3 {
        out.plane_mut(c).copy_from_slice(&l);
    }
    Ok(out)
}

/// torchvision's `_rgb2hsv` for one pixel.
pub fn rgb_to_hsv(r: f32, g: f32, b: f32) -> [f32; 3] {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let eqc = maxc == minc;
    let cr = maxc - minc;
    let s = cr / if eqc { 1.0 } else { maxc };
    let div = if eqc { 1.0 } else { cr };
    let (rc, gc, bc) = ((maxc - r) / div, (maxc - g) / div, (maxc - b) / div);
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    let h = (h / 6.0 + 1.0) % 1.0;
    [h, s, maxc]
}

/// torchvision's `_hsv2rgb` for one pixel.
pub fn hsv_to_rgb(h: f32, s: f32, v: f32) -> [f32; 3] {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let i = (i as i32).rem_euclid(6);
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match i {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// Shifts the hue by `factor` turns, `factor` in `[-0.5, 0.5]` (torchvision `adjust_hue`).
pub fn adjust_hue(img: &Image, factor: f32) -> Result<Image> {
    need_rgb(img, "adjust_hue")?;
    if !(-0.5..=0.5).contains(&factor) {
        return Err(invalid(
            "adjust_hue",
            format!("hue factor {factor} is outside [-0.5, 0.5]"),
        ));
    }
    let mut out = img.clone();
    let n = img.shape().plane();
    let data = out.data_mut();
    for i in 0..n {
        let [h, s, v] = rgb_to_hsv(data[i], data[n + i], data[2 * n + i]);
        let h = (h + factor).rem_euclid(1.0);
        let [r, g, b] = hsv_to_rgb(h, s, v);
        data[i] = r;
        data[n + i] = g;
        data[2 * n + i] = b;
    }
    Ok(out)
}

/// Inverts every value at or above `threshold` (`v -> 1 - v`; torchvision `solarize`).
pub fn solarize(img: &Image, threshold: f32) -> Image {
    let mut out = img.clone();
    for v in out.data_mut() {
        if *v >= threshold {
            *v = 1.0 - *v;
        }
    }
    out
}

/// `(v - mean[c]) / std[c]` per channel (torchvision `normalize`); the result leaves `[0, 1]`.
pub fn normalize(img: &Image, mean: &[f32], std: &[f32]) -> Result<Image> {
    if mean.len() != img.channels() || std.len() != img.channels() {
        return Err(invalid(
            "normalize",
            format!(
                "{} means and {} standard deviations for an image of {} channel(s)",
                mean.len(),
                std.len(),
                img.channels()
            ),
        ));
    }
    if let Some(s) = std.iter().find(|s| s.is_nan() || **s <= 0.0) {
        return Err(invalid(
            "normalize",
            format!("standard deviation {s} is not positive"),
        ));
    }
    let mut out = img.clone();
    for c in 0..img.channels() {
        for v in out.plane_mut(c) {
            *v = (*v - mean[c]) / std[c];
        }
    }
    Ok(out)
}
