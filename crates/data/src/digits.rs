//! digits: an embedded, seed-generated stand-in for MNIST and rotated MNIST (MNIST-rot).
//!
//! Each digit 0-9 is a few hand-written polyline strokes in a unit box (in the manner of a
//! Hershey simplex font). Every image draws its own handwriting from a `ChaCha8` stream keyed
//! by `(seed, split, index)`: a smooth warp and a small jitter of the control points, stroke
//! thickness, scale, aspect, slant and a small shift; then, under [`Rotation::Uniform`], a
//! rotation by an angle uniform in `[0, 2 pi)` about the image centre, as in MNIST-rot. The
//! strokes are rendered anti-aliased from the distance to each segment, white on black like
//! MNIST, and quantised to `u8`. The digit is fitted into the image's inscribed circle, so no
//! rotation cuts it.
//!
//! ```
//! use noether_data::Split;
//! use noether_data::digits::{DigitsConfig, Rotation, generate};
//!
//! let config = DigitsConfig {
//!     train: 20,
//!     test: 10,
//!     rotate: Rotation::None,
//!     ..DigitsConfig::default()
//! };
//! let train = generate(&config, Split::Train)?;
//! assert_eq!(train.len(), 20);
//! assert_eq!(train.classes()[7], "7");
//! # Ok::<(), noether_data::DataError>(())
//! ```

use std::f32::consts::TAU;
use std::sync::OnceLock;

use noether_augment::Shape;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::split::Split;
use crate::store::ImageStore;

/// Number of classes, the digits 0 to 9.
pub const NUM_CLASSES: usize = 10;

/// Smallest image side.
pub const MIN_SIZE: usize = 8;

/// Largest image side.
pub const MAX_SIZE: usize = 512;

/// Most images per split (an index must fit the RNG stream layout).
pub const MAX_IMAGES: usize = 1 << 32;

/// Stream tag of the label shuffles (image streams have the top bits clear).
const LABEL_STREAM: u64 = 1 << 62;

/// How the digits are turned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    /// Upright digits (MNIST).
    None,
    /// Each digit turned by an angle uniform in `[0, 2 pi)` about the image centre (MNIST-rot).
    Uniform,
}

/// Settings of a digits data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitsConfig {
    /// Images in the training split (1 to [`MAX_IMAGES`]).
    pub train: usize,
    /// Images in the test split (1 to [`MAX_IMAGES`]); [`Split::Val`] reads the same images.
    pub test: usize,
    /// Image side in pixels ([`MIN_SIZE`] to [`MAX_SIZE`]).
    pub size: usize,
    /// Whether the digits are turned.
    pub rotate: Rotation,
    /// Seed of labels and handwriting.
    pub seed: u64,
}

impl Default for DigitsConfig {
    /// 6,000 training and 2,000 test images at 28 px, uniformly rotated, seed 0.
    fn default() -> Self {
        DigitsConfig {
            train: 6000,
            test: 2000,
            size: 28,
            rotate: Rotation::Uniform,
            seed: 0,
        }
    }
}

impl DigitsConfig {
    /// Checks every field; the error names the field (`digits.size`, `digits.train`,
    /// `digits.test`).
    pub fn validate(&self) -> Result<()> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return Err(DataError::invalid(
                "digits.size",
                format!("{} px; must be {MIN_SIZE} to {MAX_SIZE}", self.size),
            ));
        }
        for (what, n) in [("digits.train", self.train), ("digits.test", self.test)] {
            if !(1..=MAX_IMAGES).contains(&n) {
                return Err(DataError::invalid(
                    what,
                    format!("{n} images; must be 1 to {MAX_IMAGES}"),
                ));
            }
            if n.checked_mul(self.size * self.size).is_none() {
                return Err(DataError::invalid(
                    what,
                    format!("{n} images of {} px overflow memory", self.size),
                ));
            }
        }
        Ok(())
    }

    /// Number of images in `split`: `train` for [`Split::Train`], `test` for the others.
    pub fn len(&self, split: Split) -> usize {
        match split {
            Split::Train => self.train,
            Split::Val | Split::Test => self.test,
        }
    }
}

/// 0 for the training split, 1 for the test split (which [`Split::Val`] also reads).
fn split_tag(split: Split) -> u64 {
    match split {
        Split::Train => 0,
        Split::Val | Split::Test => 1,
    }
}

/// The RNG of image `index` of `split`: `ChaCha8Rng::seed_from_u64(seed)` on stream
/// `split_tag * 2^32 + index` (`split_tag` 0 for train, 1 for test and val).
fn image_rng(seed: u64, split: Split, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((split_tag(split) << 32) | index as u64);
    rng
}

/// The labels of a split: `i % 10` for `i < n`, shuffled (Fisher-Yates with multiply-shift
/// draws) by the stream `2^62 + split_tag`, so every class has `n / 10` or `n / 10 + 1`
/// images.
fn labels(seed: u64, split: Split, n: usize) -> Vec<i64> {
    let mut out: Vec<i64> = (0..n).map(|i| (i % NUM_CLASSES) as i64).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(LABEL_STREAM | split_tag(split));
    for i in (1..n).rev() {
        let j = ((u128::from(rng.next_u64()) * (i as u128 + 1)) >> 64) as usize;
        out.swap(i, j);
    }
    out
}

/// The split's images as 1-channel `size x size` images with labels 0-9 and class names
/// `"0"` to `"9"`. [`Split::Train`] has `config.train` images; [`Split::Test`] and
/// [`Split::Val`] are the same `config.test` images (there is no separate validation set).
///
/// Image `i` is a pure function of `(config, split, i)`: the same bytes for any thread count.
/// Errors when the config does not [`validate`](DigitsConfig::validate).
pub fn generate(config: &DigitsConfig, split: Split) -> Result<ImageStore> {
    config.validate()?;
    let (n, size) = (config.len(split), config.size);
    let labels = labels(config.seed, split, n);
    let mut pixels = vec![0u8; n * size * size];
    pixels
        .par_chunks_mut(size * size)
        .zip(labels.par_iter())
        .enumerate()
        .for_each(|(i, (out, &label))| {
            let mut rng = image_rng(config.seed, split, i);
            draw(label as usize, size, config.rotate, &mut rng, out);
        });
    let classes = (0..NUM_CLASSES).map(|k| k.to_string()).collect();
    ImageStore::from_uniform(Shape::new(1, size, size), pixels, labels, classes)
}

/// The rotation angle of every image of `split`, in radians in `[0, 2 pi)`, counter-clockwise
/// as seen on screen (all zero under [`Rotation::None`]), in the order of [`generate`]'s
/// images: the target of a rotation-prediction head.
pub fn angles(config: &DigitsConfig, split: Split) -> Result<Vec<f32>> {
    config.validate()?;
    Ok((0..config.len(split))
        .into_par_iter()
        .map(|i| match config.rotate {
            Rotation::None => 0.0,
            Rotation::Uniform => sample_angle(&mut image_rng(config.seed, split, i)),
        })
        .collect())
}

/// The first draw of every image's stream (made under both rotations, so that
/// [`Rotation::None`] and [`Rotation::Uniform`] give the same handwriting).
fn sample_angle(rng: &mut ChaCha8Rng) -> f32 {
    (rng.random::<f32>() * TAU).rem_euclid(TAU)
}

/// A stroke: a polyline in glyph units (y down, the digit's height 1, centred on the origin).
type Stroke = Vec<[f32; 2]>;

/// Points on an ellipse centred at `(cx, cy)` with radii `rx, ry`, from angle `a0` to `a1` in
/// degrees (counter-clockwise as seen on screen, 0 pointing right), `n` segments.
fn arc(cx: f32, cy: f32, rx: f32, ry: f32, a0: f32, a1: f32, n: usize) -> Stroke {
    (0..=n)
        .map(|k| {
            let a = (a0 + (a1 - a0) * k as f32 / n as f32).to_radians();
            [cx + rx * a.cos(), cy - ry * a.sin()]
        })
        .collect()
}

/// A quadratic Bezier curve from `p0` to `p2` pulled towards `p1`, `n` segments.
fn bezier(p0: [f32; 2], p1: [f32; 2], p2: [f32; 2], n: usize) -> Stroke {
    (0..=n)
        .map(|k| {
            let t = k as f32 / n as f32;
            let (a, b, c) = ((1.0 - t) * (1.0 - t), 2.0 * t * (1.0 - t), t * t);
            [
                a * p0[0] + b * p1[0] + c * p2[0],
                a * p0[1] + b * p1[1] + c * p2[1],
            ]
        })
        .collect()
}

/// Joins polylines into one stroke (dropping a repeated joint).
fn join(parts: &[Stroke]) -> Stroke {
    let mut out: Stroke = Vec::new();
    for p in parts {
        for &q in p {
            if out.last() != Some(&q) {
                out.push(q);
            }
        }
    }
    out
}

/// The ten glyphs, built once: digit `d` is `glyphs()[d]`, a few strokes each.
fn glyphs() -> &'static [Vec<Stroke>] {
    static GLYPHS: OnceLock<Vec<Vec<Stroke>>> = OnceLock::new();
    GLYPHS.get_or_init(|| {
        vec![
            // 0: an ellipse, started at the top and closed with a little overlap.
            vec![arc(0.0, 0.0, 0.27, 0.5, 100.0, 470.0, 20)],
            // 1: a stem with a flag.
            vec![vec![[-0.16, -0.3], [0.04, -0.5], [0.04, 0.5]]],
            // 2: a hook over the top, a diagonal, a base line.
            vec![join(&[
                arc(0.0, -0.24, 0.26, 0.26, 155.0, -30.0, 10),
                bezier([0.225, -0.11], [0.0, 0.15], [-0.28, 0.5], 4),
                vec![[0.3, 0.5]],
            ])],
            // 3: two bowls open to the left, meeting in the middle.
            vec![join(&[
                arc(0.0, -0.25, 0.24, 0.25, 150.0, -90.0, 12),
                arc(-0.02, 0.23, 0.28, 0.27, 100.0, -145.0, 14),
            ])],
            // 4: a diagonal with a cross bar, and the stem.
            vec![
                vec![[0.12, -0.5], [-0.3, 0.18], [0.3, 0.18]],
                vec![[0.12, -0.5], [0.12, 0.5]],
            ],
            // 5: a flag, a short down stroke, a bowl open to the left.
            vec![join(&[
                vec![[0.27, -0.5], [-0.16, -0.5], [-0.2, -0.06]],
                arc(0.0, 0.2, 0.28, 0.3, 125.0, -150.0, 14),
            ])],
            // 6: a sweep down from the top right into a loop at the bottom.
            vec![join(&[
                bezier([0.2, -0.5], [-0.3, -0.3], [-0.27, 0.22], 8),
                arc(0.0, 0.22, 0.27, 0.27, 180.0, 540.0, 16),
            ])],
            // 7: a top bar and a long diagonal.
            vec![vec![[-0.28, -0.5], [0.28, -0.5], [-0.04, 0.5]]],
            // 8: a small loop on a large loop.
            vec![
                arc(0.0, -0.27, 0.21, 0.23, -90.0, 270.0, 16),
                arc(0.0, 0.23, 0.27, 0.27, 90.0, 450.0, 18),
            ],
            // 9: a loop at the top and a stem down its right side.
            vec![
                arc(0.0, -0.22, 0.26, 0.27, 0.0, 360.0, 16),
                bezier([0.26, -0.22], [0.25, 0.15], [0.12, 0.5], 4),
            ],
        ]
    })
}

/// A uniform draw in `[lo, hi)`.
fn uniform(rng: &mut ChaCha8Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// Renders digit `digit` with the handwriting drawn from `rng` into `out` (`size * size`
/// bytes, row-major).
fn draw(digit: usize, size: usize, rotate: Rotation, rng: &mut ChaCha8Rng, out: &mut [u8]) {
    let angle = sample_angle(rng);
    let angle = match rotate {
        Rotation::None => 0.0,
        Rotation::Uniform => angle,
    };
    let px = size as f32;
    // Half the stroke width, in pixels: 2 to 3.4 px wide at 28 px, like MNIST's pen.
    let half = px * uniform(rng, 0.036, 0.06);
    let scale = px * uniform(rng, 0.66, 0.8);
    let aspect = uniform(rng, 0.8, 1.2);
    let slant = uniform(rng, -0.3, 0.3);
    let shift = [uniform(rng, -0.06, 0.06), uniform(rng, -0.06, 0.06)];
    // A smooth warp of the glyph (two random plane waves) and a small per-point jitter.
    let waves: [[f32; 5]; 2] = std::array::from_fn(|_| {
        let dir = uniform(rng, 0.0, TAU);
        [
            dir.cos() * uniform(rng, 2.0, 5.0),
            dir.sin() * uniform(rng, 2.0, 5.0),
            uniform(rng, 0.0, TAU),
            uniform(rng, -0.04, 0.04),
            uniform(rng, -0.04, 0.04),
        ]
    });
    let mut strokes: Vec<Stroke> = glyphs()[digit].clone();
    let mut reach = 0.0f32;
    for stroke in &mut strokes {
        for p in stroke.iter_mut() {
            let (mut x, mut y) = (p[0], p[1]);
            for w in &waves {
                let s = (w[0] * x + w[1] * y + w[2]).sin();
                x += w[3] * s;
                y += w[4] * s;
            }
            x += uniform(rng, -0.012, 0.012);
            y += uniform(rng, -0.012, 0.012);
            // Slant: the top leans right for a positive slant (y points down).
            x = aspect * x - slant * y + shift[0];
            y += shift[1];
            *p = [x, y];
            reach = reach.max(x.hypot(y));
        }
    }
    // Fit the digit and its anti-aliased edge into the circle through the centres of the
    // outermost pixels, whatever the angle: the border rows and columns stay black.
    let soft = 0.75f32;
    let room = px / 2.0 - 0.6 - half - soft;
    let scale = scale.min(room / reach.max(1e-6));
    let (sin, cos) = angle.sin_cos();
    let centre = px / 2.0;
    for stroke in &mut strokes {
        for p in stroke.iter_mut() {
            let (x, y) = (p[0] * scale, p[1] * scale);
            // Counter-clockwise on screen (y down).
            *p = [centre + x * cos + y * sin, centre - x * sin + y * cos];
        }
    }
    rasterize(&strokes, size, half, soft, out);
}

/// Writes the strokes' anti-aliased coverage: `255 * (1 - smoothstep(-1, 1, (d - half) /
/// soft))` with `d` the distance from a pixel centre to the nearest segment.
fn rasterize(strokes: &[Stroke], size: usize, half: f32, soft: f32, out: &mut [u8]) {
    let mut dist = vec![f32::INFINITY; size * size];
    let reach = half + soft;
    let clamp = |v: f32| (v.max(0.0) as usize).min(size);
    for stroke in strokes {
        for seg in stroke.windows(2) {
            let ([ax, ay], [bx, by]) = (seg[0], seg[1]);
            let (x0, x1) = (ax.min(bx) - reach, ax.max(bx) + reach);
            let (y0, y1) = (ay.min(by) - reach, ay.max(by) + reach);
            let (dx, dy) = (bx - ax, by - ay);
            let len2 = (dx * dx + dy * dy).max(1e-12);
            for row in clamp(y0.floor())..clamp(y1.ceil() + 1.0) {
                let py = row as f32 + 0.5 - ay;
                for col in clamp(x0.floor())..clamp(x1.ceil() + 1.0) {
                    let pxo = col as f32 + 0.5 - ax;
                    let t = ((pxo * dx + py * dy) / len2).clamp(0.0, 1.0);
                    let (ex, ey) = (pxo - t * dx, py - t * dy);
                    let d = &mut dist[row * size + col];
                    *d = d.min(ex * ex + ey * ey);
                }
            }
        }
    }
    for (o, &d2) in out.iter_mut().zip(&dist) {
        let e = ((d2.sqrt() - half) / soft).clamp(-1.0, 1.0);
        // smoothstep on [-1, 1], reversed: 1 inside the stroke, 0 beyond its soft edge.
        let t = (e + 1.0) / 2.0;
        let v = 1.0 - t * t * (3.0 - 2.0 * t);
        *o = (v * 255.0).round() as u8;
    }
}
