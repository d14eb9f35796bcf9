//! The augmentation ops. Each documents its parameter layout (the `f32` vector that
//! [`Op::encode`] writes and a pipeline records) and its reference formula.
//!
//! | op | layout (v1) | geometric |
//! |---|---|---|
//! | [`RandomResizedCrop`] | `[top, left, height, width]` (source pixels) | yes |
//! | [`Resize`], [`CenterCrop`] | `[]` | yes |
//! | [`HorizontalFlip`], [`VerticalFlip`] | `[]` | yes, exact |
//! | [`ColorJitter`] | `[order0, order1, order2, order3, brightness, contrast, saturation, hue]` | no |
//! | [`Grayscale`], [`Solarize`], [`Normalize`] | `[]` | no |
//! | [`GaussianBlur`] | `[sigma]` | no |
//! | [`Rotate`] | `[angle]` (degrees, counter-clockwise) | yes |
//! | [`QuarterTurn`] | `[k]` (C4: `k` quarter turns counter-clockwise) | yes, exact |
//! | [`Dihedral4`] | `[k, reflect]` (D4: flip top-bottom if `reflect`, then `k` quarter turns) | yes, exact |
//! | [`Translate`] | `[dx, dy]` (pixels, right and down) | yes, exact when whole |
//! | [`Scale`] | `[scale]` | yes |
//! | [`RandomAffine`] | `[angle, dx, dy, scale, shear_x, shear_y]` | yes |
//!
//! `ColorJitter`'s `order` is the sequence in which the four adjustments run, as indices into
//! (brightness, contrast, saturation, hue): torchvision's `fn_idx`.

use noether_groups::ParamLayout;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};

use crate::blur::{gaussian_blur, kernel_size_for};
use crate::color;
use crate::error::{Result, invalid};
use crate::geometry::{self, AffineParams, CropBox};
use crate::image::{Image, Mask, Shape};
use crate::op::{Invert, Op, check_int, check_len, check_range, dyn_op, uniform};
use crate::resample::{self, Interpolation, invert_affine, warp_affine};

fn layout(op: &str, names: &[&str]) -> ParamLayout {
    ParamLayout::new(format!("augment.{op}"), 1, names.iter().copied())
}

fn check_pair(op: &str, field: &str, r: [f64; 2], min: f64) -> Result<()> {
    if !(r[0].is_finite() && r[1].is_finite() && r[0] <= r[1] && r[0] >= min) {
        return Err(invalid(
            op,
            format!("`{field}` must be an ordered pair of finite numbers >= {min}, got {r:?}"),
        ));
    }
    Ok(())
}

/// The members of [`Op`] for an op without parameters (its layout is empty).
macro_rules! no_params {
    ($name:expr) => {
        type Params = ();
        fn name(&self) -> &'static str {
            $name
        }
        fn layout(&self) -> ParamLayout {
            layout($name, &[])
        }
        fn sample(&self, _: Shape, _: &mut dyn RngCore) {}
        fn encode(&self, _: &()) -> Vec<f32> {
            Vec::new()
        }
        fn decode(&self, v: &[f32]) -> Result<()> {
            check_len($name, &self.layout(), v)
        }
    };
}

/// Undoes a crop-and-resize: resizes `out` back to the box and pastes it into a zero canvas of
/// the source's size; the mask is the box.
fn uncrop(
    out: &Image,
    bx: CropBox,
    source: Shape,
    interp: Interpolation,
    antialias: bool,
) -> (Image, Mask) {
    let patch = resample::resize(out, bx.height, bx.width, interp, antialias);
    geometry::paste(&patch, bx, source.height, source.width)
}

/// Undoes an affine warp of an image of shape `source` done with the inverse map `inv`.
fn unwarp(
    out: &Image,
    inv: &resample::Affine,
    source: Shape,
    interp: Interpolation,
) -> (Image, Mask) {
    let probe = Image::zeros(1, source.height, source.width);
    let (_, forward_valid) = warp_affine(&probe, None, inv, out.height(), out.width(), interp);
    warp_affine(
        out,
        Some(&forward_valid),
        &invert_affine(inv),
        source.height,
        source.width,
        interp,
    )
}

// ---------------------------------------------------------------------------------------------

/// Random resized crop (torchvision `RandomResizedCrop`): a box of area `scale` times the image
/// and aspect ratio `ratio` (log-uniform), 10 tries then a centre crop, resized to `size`.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomResizedCrop {
    /// Output `[height, width]`.
    pub size: [usize; 2],
    /// Range of the box's area as a fraction of the image's.
    pub scale: [f64; 2],
    /// Range of the box's width / height.
    pub ratio: [f64; 2],
    /// Resampling.
    pub interpolation: Interpolation,
    /// Antialias when downscaling (torchvision's default, `True`).
    pub antialias: bool,
}

impl RandomResizedCrop {
    /// A square crop of side `size` with the given area range, ratio `(3/4, 4/3)`, bilinear,
    /// antialiased: torchvision's defaults.
    pub fn new(size: usize, scale: [f64; 2]) -> Self {
        Self {
            size: [size, size],
            scale,
            ratio: [3.0 / 4.0, 4.0 / 3.0],
            interpolation: Interpolation::Bilinear,
            antialias: true,
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<()> {
        let op = Op::name(self);
        if self.size.contains(&0) {
            return Err(invalid(op, "output size must be positive"));
        }
        check_pair(op, "scale", self.scale, 0.0)?;
        if self.scale[1] <= 0.0 {
            return Err(invalid(op, "`scale` must allow a non-empty crop"));
        }
        check_pair(op, "ratio", self.ratio, f64::MIN_POSITIVE)
    }
}

impl Op for RandomResizedCrop {
    type Params = CropBox;
    fn validate(&self) -> Result<()> {
        RandomResizedCrop::validate(self)
    }
    fn name(&self) -> &'static str {
        "random_resized_crop"
    }
    fn layout(&self) -> ParamLayout {
        layout(self.name(), &["top", "left", "height", "width"])
    }
    fn sample(&self, input: Shape, rng: &mut dyn RngCore) -> CropBox {
        let (hh, ww) = (input.height as f64, input.width as f64);
        let area = hh * ww;
        let (lr0, lr1) = (self.ratio[0].ln(), self.ratio[1].ln());
        for _ in 0..10 {
            let target = area * uniform(rng, self.scale[0], self.scale[1]);
            let aspect = uniform(rng, lr0, lr1).exp();
            let w = (target * aspect).sqrt().round_ties_even();
            let h = (target / aspect).sqrt().round_ties_even();
            if w > 0.0 && w <= ww && h > 0.0 && h <= hh {
                let (h, w) = (h as usize, w as usize);
                let top = rng.random_range(0..=input.height - h);
                let left = rng.random_range(0..=input.width - w);
                return CropBox {
                    top,
                    left,
                    height: h,
                    width: w,
                };
            }
        }
        let in_ratio = ww / hh;
        let (w, h) = if in_ratio < self.ratio[0] {
            (ww, (ww / self.ratio[0]).round_ties_even())
        } else if in_ratio > self.ratio[1] {
            ((hh * self.ratio[1]).round_ties_even(), hh)
        } else {
            (ww, hh)
        };
        let (h, w) = ((h as usize).max(1), (w as usize).max(1));
        CropBox {
            top: (input.height - h) / 2,
            left: (input.width - w) / 2,
            height: h,
            width: w,
        }
    }
    fn apply(&self, img: &Image, p: &CropBox) -> Result<Image> {
        p.check(self.name(), img.height(), img.width())?;
        let patch = geometry::crop(img, *p)?;
        Ok(resample::resize(
            &patch,
            self.size[0],
            self.size[1],
            self.interpolation,
            self.antialias,
        ))
    }
    fn output_shape(&self, input: Shape, _: &CropBox) -> Shape {
        Shape::new(input.channels, self.size[0], self.size[1])
    }
    fn encode(&self, p: &CropBox) -> Vec<f32> {
        vec![p.top as f32, p.left as f32, p.height as f32, p.width as f32]
    }
    fn decode(&self, v: &[f32]) -> Result<CropBox> {
        let (op, l) = (self.name(), self.layout());
        check_len(op, &l, v)?;
        let big = 1 << 24;
        Ok(CropBox {
            top: check_int(op, &l, v, 0, 0, big)? as usize,
            left: check_int(op, &l, v, 1, 0, big)? as usize,
            height: check_int(op, &l, v, 2, 1, big)? as usize,
            width: check_int(op, &l, v, 3, 1, big)? as usize,
        })
    }
}

impl Invert for RandomResizedCrop {
    fn inverse(&self, out: &Image, p: &CropBox, source: Shape) -> Result<(Image, Mask)> {
        p.check(self.name(), source.height, source.width)?;
        Ok(uncrop(out, *p, source, self.interpolation, self.antialias))
    }
}
dyn_op!(RandomResizedCrop, invertible);

/// Resize to a fixed size (torchvision `resize` with a pair); no parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Resize {
    /// Output `[height, width]`.
    pub size: [usize; 2],
    /// Resampling.
    pub interpolation: Interpolation,
    /// Antialias when downscaling.
    pub antialias: bool,
}

impl Op for Resize {
    no_params!("resize");
    fn validate(&self) -> Result<()> {
        if self.size.contains(&0) {
            return Err(invalid(self.name(), "output size must be positive"));
        }
        Ok(())
    }
    fn apply(&self, img: &Image, _: &()) -> Result<Image> {
        if self.size.contains(&0) {
            return Err(invalid(self.name(), "output size must be positive"));
        }
        Ok(resample::resize(
            img,
            self.size[0],
            self.size[1],
            self.interpolation,
            self.antialias,
        ))
    }
    fn output_shape(&self, input: Shape, _: &()) -> Shape {
        Shape::new(input.channels, self.size[0], self.size[1])
    }
}

impl Invert for Resize {
    fn inverse(&self, out: &Image, _: &(), source: Shape) -> Result<(Image, Mask)> {
        let bx = CropBox {
            top: 0,
            left: 0,
            height: source.height,
            width: source.width,
        };
        Ok(uncrop(out, bx, source, self.interpolation, self.antialias))
    }
}
dyn_op!(Resize, invertible);

/// Centre crop to a fixed size (torchvision `center_crop`, which rounds the offsets to the
/// nearest pixel); errors when the crop is larger than the image.
#[derive(Debug, Clone, PartialEq)]
pub struct CenterCrop {
    /// Output `[height, width]`.
    pub size: [usize; 2],
}

impl CenterCrop {
    fn crop_box(&self, source: Shape) -> CropBox {
        let off = |n: usize, k: usize| ((n.saturating_sub(k)) as f64 / 2.0).round() as usize;
        CropBox {
            top: off(source.height, self.size[0]),
            left: off(source.width, self.size[1]),
            height: self.size[0],
            width: self.size[1],
        }
    }
}

impl Op for CenterCrop {
    no_params!("center_crop");
    fn apply(&self, img: &Image, _: &()) -> Result<Image> {
        let bx = self.crop_box(img.shape());
        bx.check(self.name(), img.height(), img.width())?;
        geometry::crop(img, bx)
    }
    fn output_shape(&self, input: Shape, _: &()) -> Shape {
        Shape::new(input.channels, self.size[0], self.size[1])
    }
}

impl Invert for CenterCrop {
    fn inverse(&self, out: &Image, _: &(), source: Shape) -> Result<(Image, Mask)> {
        let bx = self.crop_box(source);
        bx.check(self.name(), source.height, source.width)?;
        Ok(geometry::paste(out, bx, source.height, source.width))
    }
}
dyn_op!(CenterCrop, invertible);

macro_rules! flip_op {
    ($(#[$doc:meta])* $t:ident, $name:literal, $f:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $t;

        impl Op for $t {
            no_params!($name);
            fn apply(&self, img: &Image, _: &()) -> Result<Image> {
                Ok($f(img))
            }
        }

        impl Invert for $t {
            fn inverse(&self, out: &Image, _: &(), source: Shape) -> Result<(Image, Mask)> {
                Ok(($f(out), Mask::filled(source.height, source.width, true)))
            }
        }
        dyn_op!($t, invertible);
    };
}

flip_op!(
    /// Mirror left-right (torchvision `hflip`); with a pipeline probability of 0.5 this is
    /// `RandomHorizontalFlip`. No parameters: whether it ran is the step's `applied` flag.
    HorizontalFlip,
    "horizontal_flip",
    geometry::hflip
);
flip_op!(
    /// Mirror top-bottom (torchvision `vflip`). No parameters.
    VerticalFlip,
    "vertical_flip",
    geometry::vflip
);

// ---------------------------------------------------------------------------------------------

/// Parameters of [`ColorJitter`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterParams {
    /// The order in which the adjustments run, as indices into (brightness, contrast,
    /// saturation, hue).
    pub order: [u8; 4],
    /// Brightness factor (1 = unchanged).
    pub brightness: f32,
    /// Contrast factor (1 = unchanged).
    pub contrast: f32,
    /// Saturation factor (1 = unchanged).
    pub saturation: f32,
    /// Hue shift in turns (0 = unchanged).
    pub hue: f32,
}

impl JitterParams {
    /// No change, in the order brightness, contrast, saturation, hue.
    pub const IDENTITY: Self = Self {
        order: [0, 1, 2, 3],
        brightness: 1.0,
        contrast: 1.0,
        saturation: 1.0,
        hue: 0.0,
    };
}

/// Colour jitter (torchvision `ColorJitter`): brightness, contrast and saturation factors drawn
/// from `[max(0, 1 - s), 1 + s]`, a hue shift from `[-h, h]`, applied in a random order.
#[derive(Debug, Clone, PartialEq)]
pub struct ColorJitter {
    /// Brightness strength `s`.
    pub brightness: f64,
    /// Contrast strength.
    pub contrast: f64,
    /// Saturation strength.
    pub saturation: f64,
    /// Hue strength, at most 0.5.
    pub hue: f64,
}

impl ColorJitter {
    /// A jitter with the four strengths.
    pub fn new(brightness: f64, contrast: f64, saturation: f64, hue: f64) -> Self {
        Self {
            brightness,
            contrast,
            saturation,
            hue,
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<()> {
        for (n, v) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(
                    Op::name(self),
                    format!("`{n}` must be >= 0, got {v}"),
                ));
            }
        }
        if !(0.0..=0.5).contains(&self.hue) {
            return Err(invalid(
                Op::name(self),
                format!("`hue` must be in [0, 0.5], got {}", self.hue),
            ));
        }
        Ok(())
    }

    fn factor_range(s: f64) -> (f64, f64) {
        ((1.0 - s).max(0.0), 1.0 + s)
    }
}

impl Op for ColorJitter {
    type Params = JitterParams;
    fn validate(&self) -> Result<()> {
        ColorJitter::validate(self)
    }
    fn name(&self) -> &'static str {
        "color_jitter"
    }
    fn layout(&self) -> ParamLayout {
        layout(
            self.name(),
            &[
                "order0",
                "order1",
                "order2",
                "order3",
                "brightness",
                "contrast",
                "saturation",
                "hue",
            ],
        )
    }
    fn sample(&self, _: Shape, rng: &mut dyn RngCore) -> JitterParams {
        let mut order = [0u8, 1, 2, 3];
        order.shuffle(rng);
        let mut factor = |s: f64| {
            let (lo, hi) = Self::factor_range(s);
            uniform(rng, lo, hi) as f32
        };
        let brightness = factor(self.brightness);
        let contrast = factor(self.contrast);
        let saturation = factor(self.saturation);
        let hue = uniform(rng, -self.hue, self.hue) as f32;
        JitterParams {
            order,
            brightness,
            contrast,
            saturation,
            hue,
        }
    }
    fn apply(&self, img: &Image, p: &JitterParams) -> Result<Image> {
        let mut out = img.clone();
        for &k in &p.order {
            out = match k {
                0 if p.brightness != 1.0 => color::adjust_brightness(&out, p.brightness),
                1 if p.contrast != 1.0 => color::adjust_contrast(&out, p.contrast)?,
                2 if p.saturation != 1.0 => color::adjust_saturation(&out, p.saturation)?,
                3 if p.hue != 0.0 => color::adjust_hue(&out, p.hue)?,
                _ => out,
            };
        }
        Ok(out)
    }
    fn encode(&self, p: &JitterParams) -> Vec<f32> {
        let mut v: Vec<f32> = p.order.iter().map(|&k| f32::from(k)).collect();
        v.extend([p.brightness, p.contrast, p.saturation, p.hue]);
        v
    }
    fn decode(&self, v: &[f32]) -> Result<JitterParams> {
        let (op, l) = (self.name(), self.layout());
        check_len(op, &l, v)?;
        let mut order = [0u8; 4];
        let mut seen = [false; 4];
        for (i, o) in order.iter_mut().enumerate() {
            let k = check_int(op, &l, v, i, 0, 3)? as usize;
            if seen[k] {
                return Err(invalid(
                    op,
                    format!("order {:?} is not a permutation of 0, 1, 2, 3", &v[..4]),
                ));
            }
            seen[k] = true;
            *o = k as u8;
        }
        let range = |i: usize, s: f64| {
            let (lo, hi) = Self::factor_range(s);
            check_range(op, &l, v, i, lo, hi).map(|x| x as f32)
        };
        Ok(JitterParams {
            order,
            brightness: range(4, self.brightness)?,
            contrast: range(5, self.contrast)?,
            saturation: range(6, self.saturation)?,
            hue: check_range(op, &l, v, 7, -self.hue, self.hue)? as f32,
        })
    }
}
dyn_op!(ColorJitter);

macro_rules! pixel_op {
    ($(#[$doc:meta])* $t:ident, $name:literal, |$s:ident, $img:ident| $body:expr) => {
        impl Op for $t {
            no_params!($name);
            fn apply(&self, $img: &Image, _: &()) -> Result<Image> {
                let $s = self;
                $body
            }
        }
        dyn_op!($t);
    };
}

/// Grey image on three channels (torchvision `rgb_to_grayscale(img, 3)`; `RandomGrayscale`
/// with a pipeline probability). No parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grayscale;
pixel_op!(Grayscale, "grayscale", |_s, img| color::grayscale(img));

/// Solarisation (torchvision `solarize`): values at or above `threshold` become `1 - v`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Solarize {
    /// Threshold in `[0, 1]`; BYOL uses 0.5.
    pub threshold: f32,
}
pixel_op!(Solarize, "solarize", |s, img| Ok(color::solarize(
    img,
    s.threshold
)));

/// Per-channel standardisation `(v - mean) / std` (torchvision `normalize`); the output leaves
/// `[0, 1]`, so it goes last. No parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    /// Per-channel means.
    pub mean: Vec<f32>,
    /// Per-channel standard deviations.
    pub std: Vec<f32>,
}

impl Normalize {
    /// ImageNet's constants, `mean (0.485, 0.456, 0.406)`, `std (0.229, 0.224, 0.225)`.
    pub fn imagenet() -> Self {
        Self {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }
    }
}
pixel_op!(Normalize, "normalize", |s, img| color::normalize(
    img, &s.mean, &s.std
));

/// How the blur's kernel size is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelSize {
    /// A fixed odd size, as torchvision's `GaussianBlur(kernel_size)` (SimCLR / BYOL on
    /// ImageNet: 23, about a tenth of 224).
    Fixed(usize),
    /// `2 ceil(3 sigma) + 1`, from each sampled sigma.
    FromSigma,
}

/// Gaussian blur with `sigma` drawn uniformly from a range (torchvision `GaussianBlur`).
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianBlur {
    /// Range of sigma, in pixels.
    pub sigma: [f64; 2],
    /// Kernel size rule.
    pub kernel: KernelSize,
}

impl GaussianBlur {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<()> {
        check_pair(Op::name(self), "sigma", self.sigma, f64::MIN_POSITIVE)?;
        if let KernelSize::Fixed(k) = self.kernel
            && k % 2 == 0
        {
            return Err(invalid(
                Op::name(self),
                format!("kernel size {k} must be odd"),
            ));
        }
        Ok(())
    }
    /// The kernel size used for `sigma`.
    pub fn kernel_size(&self, sigma: f32) -> usize {
        match self.kernel {
            KernelSize::Fixed(k) => k,
            KernelSize::FromSigma => kernel_size_for(sigma),
        }
    }
}

impl Op for GaussianBlur {
    type Params = f32;
    fn validate(&self) -> Result<()> {
        GaussianBlur::validate(self)
    }
    fn name(&self) -> &'static str {
        "gaussian_blur"
    }
    fn layout(&self) -> ParamLayout {
        layout(self.name(), &["sigma"])
    }
    fn sample(&self, _: Shape, rng: &mut dyn RngCore) -> f32 {
        uniform(rng, self.sigma[0], self.sigma[1]) as f32
    }
    fn apply(&self, img: &Image, sigma: &f32) -> Result<Image> {
        Ok(gaussian_blur(img, self.kernel_size(*sigma), *sigma))
    }
    fn encode(&self, p: &f32) -> Vec<f32> {
        vec![*p]
    }
    fn decode(&self, v: &[f32]) -> Result<f32> {
        let (op, l) = (self.name(), self.layout());
        check_len(op, &l, v)?;
        Ok(check_range(op, &l, v, 0, self.sigma[0], self.sigma[1])? as f32)
    }
}
dyn_op!(GaussianBlur);

// ---------------------------------------------------------------------------------------------

macro_rules! affine_op {
    ($t:ty) => {
        impl Invert for $t {
            fn inverse(
                &self,
                out: &Image,
                p: &Self::Params,
                source: Shape,
            ) -> Result<(Image, Mask)> {
                let m = self.affine(p).inverse_matrix();
                Ok(unwarp(out, &m, source, self.interpolation))
            }
        }
        dyn_op!($t, invertible);
    };
}

fn warp(img: &Image, a: &AffineParams, interp: Interpolation) -> Image {
    a.warp(img, interp).0
}

macro_rules! scalar_affine_op {
    (
        $(#[$doc:meta])* $t:ident, $name:literal, $slot:literal, $range:ident, $min:expr,
        |$v:ident| $affine:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $t {
            /// Range the parameter is drawn from, uniformly.
            pub $range: [f64; 2],
            /// Nearest or bilinear.
            pub interpolation: Interpolation,
        }

        impl $t {
            /// Bilinear, with the parameter drawn from `range`.
            pub fn new($range: [f64; 2]) -> Self {
                Self {
                    $range,
                    interpolation: Interpolation::Bilinear,
                }
            }
            fn affine(&self, $v: &f32) -> AffineParams {
                let $v = f64::from(*$v);
                $affine
            }
        }

        impl Op for $t {
            type Params = f32;
            fn validate(&self) -> Result<()> {
                check_pair(self.name(), stringify!($range), self.$range, $min)
            }
            fn name(&self) -> &'static str {
                $name
            }
            fn layout(&self) -> ParamLayout {
                layout(self.name(), &[$slot])
            }
            fn sample(&self, _: Shape, rng: &mut dyn RngCore) -> f32 {
                uniform(rng, self.$range[0], self.$range[1]) as f32
            }
            fn apply(&self, img: &Image, p: &f32) -> Result<Image> {
                Ok(warp(img, &self.affine(p), self.interpolation))
            }
            fn encode(&self, p: &f32) -> Vec<f32> {
                vec![*p]
            }
            fn decode(&self, v: &[f32]) -> Result<f32> {
                let (op, l) = (self.name(), self.layout());
                check_len(op, &l, v)?;
                let lo = self.$range[0].max($min);
                Ok(check_range(op, &l, v, 0, lo, self.$range[1])? as f32)
            }
        }
        affine_op!($t);
    };
}

scalar_affine_op!(
    /// Rotation about the centre by an angle in degrees drawn uniformly from `degrees`
    /// (torchvision `rotate`, `expand=False`, zero fill); counter-clockwise when positive.
    Rotate, "rotate", "angle", degrees, f64::NEG_INFINITY,
    |angle| AffineParams::rotation(angle)
);

scalar_affine_op!(
    /// Scaling about the centre by a factor drawn uniformly from `range` (zero fill).
    Scale, "scale", "scale", range, f64::MIN_POSITIVE,
    |s| AffineParams { scale: s, ..AffineParams::IDENTITY }
);

/// Random affine transformation (torchvision `RandomAffine`): angle from `degrees`, translation
/// up to `translate` times the width / height (rounded to whole pixels, as torchvision does),
/// scale from `scale`, shear from `shear = [x_min, x_max, y_min, y_max]` degrees.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomAffine {
    /// Range of the angle, degrees counter-clockwise.
    pub degrees: [f64; 2],
    /// Largest translation as fractions of width and height.
    pub translate: [f64; 2],
    /// Range of the scale.
    pub scale: [f64; 2],
    /// Ranges of the shear along x and y, degrees.
    pub shear: [f64; 4],
    /// Nearest or bilinear.
    pub interpolation: Interpolation,
}

impl RandomAffine {
    fn affine(&self, p: &AffineParams) -> AffineParams {
        *p
    }
}

impl Op for RandomAffine {
    type Params = AffineParams;
    fn validate(&self) -> Result<()> {
        let op = self.name();
        check_pair(op, "degrees", self.degrees, f64::NEG_INFINITY)?;
        check_pair(op, "translate", self.translate, 0.0)?;
        check_pair(op, "scale", self.scale, f64::MIN_POSITIVE)?;
        check_pair(op, "shear (x)", [self.shear[0], self.shear[1]], -89.0)?;
        check_pair(op, "shear (y)", [self.shear[2], self.shear[3]], -89.0)?;
        if self.shear[1] >= 89.0 || self.shear[3] >= 89.0 {
            return Err(invalid(op, "shear must stay within (-89, 89) degrees"));
        }
        Ok(())
    }
    fn name(&self) -> &'static str {
        "random_affine"
    }
    fn layout(&self) -> ParamLayout {
        layout(
            self.name(),
            &["angle", "dx", "dy", "scale", "shear_x", "shear_y"],
        )
    }
    fn sample(&self, input: Shape, rng: &mut dyn RngCore) -> AffineParams {
        let angle = uniform(rng, self.degrees[0], self.degrees[1]);
        let mdx = self.translate[0] * input.width as f64;
        let mdy = self.translate[1] * input.height as f64;
        let dx = uniform(rng, -mdx, mdx).round_ties_even();
        let dy = uniform(rng, -mdy, mdy).round_ties_even();
        let scale = uniform(rng, self.scale[0], self.scale[1]);
        let sx = uniform(rng, self.shear[0], self.shear[1]);
        let sy = uniform(rng, self.shear[2], self.shear[3]);
        AffineParams {
            angle,
            translate: [dx, dy],
            scale,
            shear: [sx, sy],
        }
    }
    fn apply(&self, img: &Image, p: &AffineParams) -> Result<Image> {
        Ok(warp(img, p, self.interpolation))
    }
    fn encode(&self, p: &AffineParams) -> Vec<f32> {
        [
            p.angle,
            p.translate[0],
            p.translate[1],
            p.scale,
            p.shear[0],
            p.shear[1],
        ]
        .map(|v| v as f32)
        .to_vec()
    }
    fn decode(&self, v: &[f32]) -> Result<AffineParams> {
        let (op, l) = (self.name(), self.layout());
        check_len(op, &l, v)?;
        let big = 1e6;
        let scale_lo = self.scale[0].max(f64::MIN_POSITIVE);
        Ok(AffineParams {
            angle: check_range(op, &l, v, 0, self.degrees[0], self.degrees[1])?,
            translate: [
                check_range(op, &l, v, 1, -big, big)?,
                check_range(op, &l, v, 2, -big, big)?,
            ],
            scale: check_range(op, &l, v, 3, scale_lo, self.scale[1])?,
            shear: [
                check_range(op, &l, v, 4, self.shear[0], self.shear[1])?,
                check_range(op, &l, v, 5, self.shear[2], self.shear[3])?,
            ],
        })
    }
}
affine_op!(RandomAffine);

/// Translation by up to `max` times the width / height; exact (whole pixels, zero fill) when
/// `whole_pixels`, bilinear otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Translate {
    /// Largest shift as fractions of width and height.
    pub max: [f64; 2],
    /// Round the shift to whole pixels (exact, invertible on the mask).
    pub whole_pixels: bool,
}

impl Op for Translate {
    type Params = [f32; 2];
    fn validate(&self) -> Result<()> {
        check_pair(self.name(), "max", self.max, 0.0)
    }
    fn name(&self) -> &'static str {
        "translate"
    }
    fn layout(&self) -> ParamLayout {
        layout(self.name(), &["dx", "dy"])
    }
    fn sample(&self, input: Shape, rng: &mut dyn RngCore) -> [f32; 2] {
        let mdx = self.max[0] * input.width as f64;
        let mdy = self.max[1] * input.height as f64;
        let mut d = [uniform(rng, -mdx, mdx), uniform(rng, -mdy, mdy)];
        if self.whole_pixels {
            d = d.map(f64::round_ties_even);
        }
        d.map(|v| v as f32)
    }
    fn apply(&self, img: &Image, p: &[f32; 2]) -> Result<Image> {
        if p.iter().all(|v| v.fract() == 0.0) {
            return Ok(geometry::shift(img, p[0] as i64, p[1] as i64).0);
        }
        let a = AffineParams {
            translate: p.map(f64::from),
            ..AffineParams::IDENTITY
        };
        Ok(warp(img, &a, Interpolation::Bilinear))
    }
    fn encode(&self, p: &[f32; 2]) -> Vec<f32> {
        p.to_vec()
    }
    fn decode(&self, v: &[f32]) -> Result<[f32; 2]> {
        let (op, l) = (self.name(), self.layout());
        check_len(op, &l, v)?;
        let big = 1e6;
        Ok([
            check_range(op, &l, v, 0, -big, big)? as f32,
            check_range(op, &l, v, 1, -big, big)? as f32,
        ])
    }
}

impl Invert for Translate {
    fn inverse(&self, out: &Image, p: &[f32; 2], source: Shape) -> Result<(Image, Mask)> {
        if p.iter().all(|v| v.fract() == 0.0) {
            if (out.height(), out.width()) != (source.height, source.width) {
                return Err(invalid(self.name(), "output and source shapes differ"));
            }
            // shifting back marks exactly the pixels whose content stayed inside the frame
            return Ok(geometry::shift(out, -(p[0] as i64), -(p[1] as i64)));
        }
        let a = AffineParams {
            translate: p.map(f64::from),
            ..AffineParams::IDENTITY
        };
        Ok(unwarp(
            out,
            &a.inverse_matrix(),
            source,
            Interpolation::Bilinear,
        ))
    }
}
dyn_op!(Translate, invertible);

/// A uniformly random element of C4: `k` quarter turns counter-clockwise, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuarterTurn;

impl Op for QuarterTurn {
    type Params = u8;
    fn name(&self) -> &'static str {
        "quarter_turn"
    }
    fn layout(&self) -> ParamLayout {
        layout(self.name(), &["k"])
    }
    fn sample(&self, _: Shape, rng: &mut dyn RngCore) -> u8 {
        rng.random_range(0..4)
    }
    fn apply(&self, img: &Image, k: &u8) -> Result<Image> {
        Ok(geometry::rot90(img, i64::from(*k)))
    }
    fn output_shape(&self, input: Shape, k: &u8) -> Shape {
        if k % 2 == 1 {
            Shape::new(input.channels, input.width, input.height)
        } else {
            input
        }
    }
    fn encode(&self, k: &u8) -> Vec<f32> {
        vec![f32::from(*k)]
    }
    fn decode(&self, v: &[f32]) -> Result<u8> {
        let (op, l) = (self.name(), self.layout());
        check_len(op, &l, v)?;
        Ok(check_int(op, &l, v, 0, 0, 3)? as u8)
    }
}

impl Invert for QuarterTurn {
    fn inverse(&self, out: &Image, k: &u8, source: Shape) -> Result<(Image, Mask)> {
        Ok((
            geometry::rot90(out, -i64::from(*k)),
            Mask::filled(source.height, source.width, true),
        ))
    }
}
dyn_op!(QuarterTurn, invertible);

/// A uniformly random element of D4 (the symmetries of the square): flip top-bottom when
/// `reflect` (the reflection across the x-axis of `noether-groups`' `D4`), then `k` quarter
/// turns counter-clockwise. Exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dihedral4;

impl Op for Dihedral4 {
    type Params = noether_groups::DihedralElement;
    fn name(&self) -> &'static str {
        "dihedral4"
    }
    fn layout(&self) -> ParamLayout {
        layout(self.name(), &["k", "reflect"])
    }
    fn sample(&self, _: Shape, rng: &mut dyn RngCore) -> Self::Params {
        let i: usize = rng.random_range(0..8);
        noether_groups::DihedralElement {
            k: i % 4,
            reflect: i >= 4,
        }
    }
    fn apply(&self, img: &Image, g: &Self::Params) -> Result<Image> {
        let img = if g.reflect {
            geometry::vflip(img)
        } else {
            img.clone()
        };
        Ok(geometry::rot90(&img, g.k as i64))
    }
    fn output_shape(&self, input: Shape, g: &Self::Params) -> Shape {
        QuarterTurn.output_shape(input, &((g.k % 4) as u8))
    }
    fn encode(&self, g: &Self::Params) -> Vec<f32> {
        vec![g.k as f32, f32::from(u8::from(g.reflect))]
    }
    fn decode(&self, v: &[f32]) -> Result<Self::Params> {
        let (op, l) = (self.name(), self.layout());
        check_len(op, &l, v)?;
        Ok(noether_groups::DihedralElement {
            k: check_int(op, &l, v, 0, 0, 3)? as usize,
            reflect: check_int(op, &l, v, 1, 0, 1)? == 1,
        })
    }
}

impl Invert for Dihedral4 {
    fn inverse(&self, out: &Image, g: &Self::Params, source: Shape) -> Result<(Image, Mask)> {
        let back = geometry::rot90(out, -(g.k as i64));
        let back = if g.reflect {
            geometry::vflip(&back)
        } else {
            back
        };
        Ok((back, Mask::filled(source.height, source.width, true)))
    }
}
dyn_op!(Dihedral4, invertible);
