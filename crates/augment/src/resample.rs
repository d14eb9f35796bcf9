//! Resampling with PyTorch's conventions: separable resizing as `torch.nn.functional.interpolate`
//! (`align_corners=False`, with or without antialiasing) and point sampling as `grid_sample`
//! (`align_corners=False`, zero padding).
//!
//! Resizing precomputes, for each output row and column, the input indices and weights (the
//! "taps"), then runs one pass along the width and one along the height. The taps follow ATen:
//! - antialiased (`antialias=True`, what torchvision's `resize` and `resized_crop` use), the
//!   PIL-style filter of `_upsample_{bilinear,bicubic}2d_aa`: output pixel `i` has centre
//!   `s (i + 0.5)` with `s = in / out`, support `r = k/2 * max(s, 1)` (`k` = 2 bilinear, 4
//!   bicubic), input pixels `floor(centre - r + 0.5) .. floor(centre + r + 0.5)` clipped to the
//!   image, weights `filter((j - centre + 0.5) / max(s, 1))` normalised to sum 1. The cubic
//!   filter uses `a = -0.5` here, as PIL and ATen do for antialiasing;
//! - plain bilinear: source `max(s (i + 0.5) - 0.5, 0)`, two taps;
//! - plain bicubic: source `s (i + 0.5) - 0.5`, four taps with `a = -0.75`, indices clamped;
//! - nearest: source `min(floor(s i), in - 1)`.

use crate::image::{Image, Mask};

/// How pixel values between grid points are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Nearest neighbour.
    Nearest,
    /// Bilinear (triangle filter).
    Bilinear,
    /// Bicubic (cubic convolution).
    Bicubic,
}

impl Interpolation {
    /// Parses `nearest`, `bilinear` or `bicubic`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nearest" => Some(Self::Nearest),
            "bilinear" => Some(Self::Bilinear),
            "bicubic" => Some(Self::Bicubic),
            _ => None,
        }
    }
}

fn cubic1(x: f64, a: f64) -> f64 {
    ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
}

fn cubic2(x: f64, a: f64) -> f64 {
    ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
}

fn cubic(x: f64, a: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        cubic1(x, a)
    } else if x < 2.0 {
        cubic2(x, a)
    } else {
        0.0
    }
}

/// Input indices and weights for every output index along one axis.
#[derive(Debug, Clone)]
struct Taps {
    offsets: Vec<usize>,
    index: Vec<usize>,
    weight: Vec<f32>,
}

impl Taps {
    fn of(&self, i: usize) -> (&[usize], &[f32]) {
        let (a, b) = (self.offsets[i], self.offsets[i + 1]);
        (&self.index[a..b], &self.weight[a..b])
    }

    fn new(input: usize, output: usize, interp: Interpolation, antialias: bool) -> Self {
        let scale = input as f64 / output as f64;
        let mut offsets = vec![0];
        let mut index = Vec::new();
        let mut weight = Vec::new();
        let last = input as i64 - 1;
        let clamp = |j: i64| j.clamp(0, last) as usize;
        for i in 0..output {
            let fi = i as f64;
            match interp {
                Interpolation::Nearest => {
                    index.push(((scale * fi).floor() as usize).min(input - 1));
                    weight.push(1.0);
                }
                Interpolation::Bilinear | Interpolation::Bicubic if antialias => {
                    let k = if interp == Interpolation::Bilinear {
                        2.0
                    } else {
                        4.0
                    };
                    let stretch = scale.max(1.0);
                    let support = k * 0.5 * stretch;
                    let centre = scale * (fi + 0.5);
                    // ATen truncates towards zero, then clips to the image.
                    let lo = ((centre - support + 0.5) as i64).max(0);
                    let hi = ((centre + support + 0.5) as i64).min(input as i64);
                    let mut ws = Vec::with_capacity((hi - lo).max(0) as usize);
                    for j in lo..hi {
                        let x = (j as f64 - centre + 0.5) / stretch;
                        let w = if interp == Interpolation::Bilinear {
                            (1.0 - x.abs()).max(0.0)
                        } else {
                            cubic(x, -0.5)
                        };
                        ws.push((j as usize, w));
                    }
                    let total: f64 = ws.iter().map(|(_, w)| w).sum();
                    for (j, w) in ws {
                        index.push(j);
                        weight.push(if total != 0.0 {
                            (w / total) as f32
                        } else {
                            0.0
                        });
                    }
                }
                Interpolation::Bilinear => {
                    let src = (scale * (fi + 0.5) - 0.5).max(0.0);
                    let i0 = src as usize;
                    let i1 = if (i0 as i64) < last { i0 + 1 } else { i0 };
                    let l1 = (src - i0 as f64) as f32;
                    index.extend([i0, i1]);
                    weight.extend([1.0 - l1, l1]);
                }
                Interpolation::Bicubic => {
                    let src = scale * (fi + 0.5) - 0.5;
                    let i0 = src.floor();
                    let t = src - i0;
                    let a = -0.75;
                    let w = [
                        cubic2(t + 1.0, a),
                        cubic1(t, a),
                        cubic1(1.0 - t, a),
                        cubic2(2.0 - t, a),
                    ];
                    for (k, wk) in w.into_iter().enumerate() {
                        index.push(clamp(i0 as i64 - 1 + k as i64));
                        weight.push(wk as f32);
                    }
                }
            }
            offsets.push(index.len());
        }
        Self {
            offsets,
            index,
            weight,
        }
    }
}

/// Resizes to `out_height x out_width` with PyTorch's `interpolate` conventions (see the module
/// documentation). With bicubic, values are clamped to `[0, 1]` afterwards, as torchvision does
/// for 8-bit images, so the result stays a valid image.
pub fn resize(
    img: &Image,
    out_height: usize,
    out_width: usize,
    interp: Interpolation,
    antialias: bool,
) -> Image {
    let (h, w) = (img.height(), img.width());
    if (h, w) == (out_height, out_width) {
        return img.clone();
    }
    let tx = Taps::new(w, out_width, interp, antialias);
    let ty = Taps::new(h, out_height, interp, antialias);
    let mut out = Image::zeros(img.channels(), out_height, out_width);
    let mut tmp = vec![0.0f32; h * out_width];
    for c in 0..img.channels() {
        let src = img.plane(c);
        // along the width
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            let dst = &mut tmp[y * out_width..(y + 1) * out_width];
            for (x, d) in dst.iter_mut().enumerate() {
                let (idx, wts) = tx.of(x);
                *d = idx.iter().zip(wts).map(|(&j, &wt)| row[j] * wt).sum();
            }
        }
        // along the height, a row at a time
        let dst = out.plane_mut(c);
        for y in 0..out_height {
            let (idx, wts) = ty.of(y);
            let orow = &mut dst[y * out_width..(y + 1) * out_width];
            for (&j, &wt) in idx.iter().zip(wts) {
                let irow = &tmp[j * out_width..(j + 1) * out_width];
                for (o, i) in orow.iter_mut().zip(irow) {
                    *o += wt * i;
                }
            }
        }
    }
    if interp == Interpolation::Bicubic {
        for v in out.data_mut() {
            *v = v.clamp(0.0, 1.0);
        }
    }
    out
}

/// A 2x3 affine map `[a, b, c, d, e, f]`: `(x, y) -> (a x + b y + c, d x + e y + f)`, in
/// pixel-centred coordinates (origin at the image centre, x to the right, y down).
pub type Affine = [f64; 6];

/// The inverse of an invertible affine map.
pub fn invert_affine(m: &Affine) -> Affine {
    let [a, b, c, d, e, f] = *m;
    let det = a * e - b * d;
    let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
    [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)]
}

/// Warps `img` into an `out_height x out_width` image: the output pixel at centred position
/// `p` takes the input value at `inv(p)` (the *inverse* map, as `grid_sample` uses it), with
/// zero fill outside. Nearest or bilinear; bicubic falls back to bilinear.
///
/// The returned mask marks output pixels whose value used only valid input pixels: inside the
/// input and, when `valid` is given, set in it. Centred coordinates follow torchvision's
/// `_gen_affine_grid`: pixel `(i, j)` of a `h x w` image sits at `(j + 0.5 - w/2, i + 0.5 - h/2)`.
pub fn warp_affine(
    img: &Image,
    valid: Option<&Mask>,
    inv: &Affine,
    out_height: usize,
    out_width: usize,
    interp: Interpolation,
) -> (Image, Mask) {
    let (h, w, ch) = (img.height(), img.width(), img.channels());
    let mut out = Image::zeros(ch, out_height, out_width);
    let plane_out = out_height * out_width;
    let [a, b, c, d, e, f] = *inv;
    let (cx_out, cy_out) = (out_width as f64 / 2.0, out_height as f64 / 2.0);
    let (cx_in, cy_in) = (w as f64 / 2.0 - 0.5, h as f64 / 2.0 - 0.5);
    let is_valid = |y: i64, x: i64| -> bool {
        y >= 0
            && x >= 0
            && (y as usize) < h
            && (x as usize) < w
            && valid.is_none_or(|m| m.get(y as usize, x as usize))
    };
    let mut mask_data = Vec::with_capacity(plane_out);
    let data = out.data_mut();
    for i in 0..out_height {
        for j in 0..out_width {
            let xo = j as f64 + 0.5 - cx_out;
            let yo = i as f64 + 0.5 - cy_out;
            let px = a * xo + b * yo + c + cx_in;
            let py = d * xo + e * yo + f + cy_in;
            let o = i * out_width + j;
            let ok;
            match interp {
                Interpolation::Nearest => {
                    let (xi, yi) = (px.round_ties_even() as i64, py.round_ties_even() as i64);
                    ok = is_valid(yi, xi);
                    if yi >= 0 && xi >= 0 && (yi as usize) < h && (xi as usize) < w {
                        for k in 0..ch {
                            data[k * plane_out + o] = img.get(k, yi as usize, xi as usize);
                        }
                    }
                }
                Interpolation::Bilinear | Interpolation::Bicubic => {
                    let (x0, y0) = (px.floor(), py.floor());
                    let (wx1, wy1) = (px - x0, py - y0);
                    let (x0, y0) = (x0 as i64, y0 as i64);
                    let taps = [
                        (y0, x0, (1.0 - wy1) * (1.0 - wx1)),
                        (y0, x0 + 1, (1.0 - wy1) * wx1),
                        (y0 + 1, x0, wy1 * (1.0 - wx1)),
                        (y0 + 1, x0 + 1, wy1 * wx1),
                    ];
                    let mut all = true;
                    for (y, x, wt) in taps {
                        if wt <= 1e-9 {
                            continue;
                        }
                        all &= is_valid(y, x);
                        if y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w {
                            let wt = wt as f32;
                            for k in 0..ch {
                                data[k * plane_out + o] += wt * img.get(k, y as usize, x as usize);
                            }
                        }
                    }
                    ok = all;
                }
            }
            mask_data.push(ok);
        }
    }
    let mask = Mask::from_fn(out_height, out_width, |y, x| mask_data[y * out_width + x]);
    (out, mask)
}
