//! [`Image`]: a CHW `f32` image in `[0, 1]`, and [`Mask`], the valid pixels of a warped image.

use std::path::Path;

use image::{DynamicImage, GrayImage, ImageBuffer, Luma, Rgb, RgbImage};

use crate::error::{AugmentError, Result};

/// The shape of an image: channels, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    /// Channels: 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl Shape {
    /// A shape from channels, height and width.
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
        }
    }

    /// Number of pixels per channel.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }

    /// Number of floats.
    pub fn len(&self) -> usize {
        self.channels * self.plane()
    }

    /// True when the image has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// An image as the pipeline sees it: channels-first (CHW) `f32`, row-major, values in `[0, 1]`
/// (every op except [`crate::ops::Normalize`] keeps them there), 1 or 3 channels.
///
/// ```
/// use noether_augment::Image;
///
/// let img = Image::from_fn(3, 2, 4, |c, y, x| (c + y + x) as f32 / 8.0);
/// assert_eq!(img.get(2, 1, 3), 0.75);
/// let back = Image::from_rgb8(&img.to_rgb8()?);
/// assert!((back.get(2, 1, 3) - 0.75).abs() <= 0.5 / 255.0);
/// # Ok::<(), noether_augment::AugmentError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    shape: Shape,
    data: Vec<f32>,
}

impl Image {
    /// An image from a CHW buffer; errors when the length does not match the shape.
    pub fn new(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Result<Self> {
        let shape = Shape::new(channels, height, width);
        if data.len() != shape.len() {
            return Err(AugmentError::Shape {
                channels,
                height,
                width,
                len: data.len(),
            });
        }
        Ok(Self { shape, data })
    }

    /// An image of zeros.
    pub fn zeros(channels: usize, height: usize, width: usize) -> Self {
        let shape = Shape::new(channels, height, width);
        Self {
            shape,
            data: vec![0.0; shape.len()],
        }
    }

    /// An image whose value at `(c, y, x)` is `f(c, y, x)`.
    pub fn from_fn(
        channels: usize,
        height: usize,
        width: usize,
        mut f: impl FnMut(usize, usize, usize) -> f32,
    ) -> Self {
        let mut data = Vec::with_capacity(channels * height * width);
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    data.push(f(c, y, x));
                }
            }
        }
        Self {
            shape: Shape::new(channels, height, width),
            data,
        }
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }
    /// Channels.
    pub fn channels(&self) -> usize {
        self.shape.channels
    }
    /// Rows.
    pub fn height(&self) -> usize {
        self.shape.height
    }
    /// Columns.
    pub fn width(&self) -> usize {
        self.shape.width
    }
    /// The CHW buffer.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    /// The CHW buffer, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }
    /// The CHW buffer, by value.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }
    /// One channel's plane, row-major.
    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.shape.plane();
        &self.data[c * n..(c + 1) * n]
    }
    /// One channel's plane, mutable.
    pub fn plane_mut(&mut self, c: usize) -> &mut [f32] {
        let n = self.shape.plane();
        &mut self.data[c * n..(c + 1) * n]
    }
    /// The value at channel `c`, row `y`, column `x` (panics when out of bounds, like indexing).
    pub fn get(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.shape.height + y) * self.shape.width + x]
    }

    /// From an 8-bit RGB buffer of the `image` crate (`u8 / 255`).
    pub fn from_rgb8(img: &RgbImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let raw = img.as_raw();
        Self::from_fn(3, h, w, |c, y, x| {
            f32::from(raw[(y * w + x) * 3 + c]) / 255.0
        })
    }

    /// From an 8-bit grey buffer of the `image` crate (`u8 / 255`), one channel.
    pub fn from_luma8(img: &GrayImage) -> Self {
        let w = img.width() as usize;
        let raw = img.as_raw();
        Self::from_fn(1, img.height() as usize, w, |_, y, x| {
            f32::from(raw[y * w + x]) / 255.0
        })
    }

    /// From any decoded image: grey images (8 or 16 bit) give 1 channel, everything else 3
    /// (alpha dropped). 16-bit images keep their precision.
    pub fn from_dynamic(img: &DynamicImage) -> Self {
        match img {
            DynamicImage::ImageLuma8(g) => Self::from_luma8(g),
            DynamicImage::ImageLuma16(g) => {
                let w = g.width() as usize;
                let raw = g.as_raw();
                Self::from_fn(1, g.height() as usize, w, |_, y, x| {
                    f32::from(raw[y * w + x]) / 65535.0
                })
            }
            DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgba16(_) => {
                let rgb = img.to_rgb16();
                let (w, h) = (rgb.width() as usize, rgb.height() as usize);
                let raw = rgb.as_raw();
                Self::from_fn(3, h, w, |c, y, x| {
                    f32::from(raw[(y * w + x) * 3 + c]) / 65535.0
                })
            }
            _ => Self::from_rgb8(&img.to_rgb8()),
        }
    }

    /// Reads an image file (PNG or JPEG); the error names the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let reader = image::ImageReader::open(path)
            .map_err(|e| AugmentError::Read {
                path: path.into(),
                reason: e.to_string(),
            })?
            .with_guessed_format()
            .map_err(|e| AugmentError::Read {
                path: path.into(),
                reason: e.to_string(),
            })?;
        let img = reader.decode().map_err(|e| AugmentError::Read {
            path: path.into(),
            reason: e.to_string(),
        })?;
        Ok(Self::from_dynamic(&img))
    }

    /// Decodes an image from bytes in memory; `name` is used in the error message.
    pub fn decode(bytes: &[u8], name: &str) -> Result<Self> {
        let img = image::load_from_memory(bytes).map_err(|e| AugmentError::Read {
            path: name.into(),
            reason: e.to_string(),
        })?;
        Ok(Self::from_dynamic(&img))
    }

    /// Quantises to 8-bit RGB (grey images are repeated over the three channels); values are
    /// clamped to `[0, 1]` and rounded. Errors for channel counts other than 1 and 3.
    pub fn to_rgb8(&self) -> Result<RgbImage> {
        let (h, w) = (self.height(), self.width());
        let channels = self.channels();
        if channels != 1 && channels != 3 {
            return Err(crate::error::invalid(
                "to_rgb8",
                format!("cannot write an image of {channels} channels as RGB"),
            ));
        }
        let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        Ok(ImageBuffer::from_fn(w as u32, h as u32, |x, y| {
            let (x, y) = (x as usize, y as usize);
            if channels == 1 {
                let v = q(self.get(0, y, x));
                Rgb([v, v, v])
            } else {
                Rgb([
                    q(self.get(0, y, x)),
                    q(self.get(1, y, x)),
                    q(self.get(2, y, x)),
                ])
            }
        }))
    }

    /// Writes an 8-bit PNG (or any format the extension names); the error names the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.to_rgb8()?.save(path).map_err(|e| AugmentError::Write {
            path: path.into(),
            reason: e.to_string(),
        })
    }

    /// The largest absolute difference to another image of the same shape, optionally only
    /// where `mask` is set; `None` when the shapes differ or the mask is empty.
    pub fn max_abs_diff(&self, other: &Image, mask: Option<&Mask>) -> Option<f32> {
        if self.shape != other.shape {
            return None;
        }
        if let Some(m) = mask
            && (m.height != self.height() || m.width != self.width())
        {
            return None;
        }
        let plane = self.shape.plane();
        let mut max = None::<f32>;
        for (i, (a, b)) in self.data.iter().zip(&other.data).enumerate() {
            if mask.is_none_or(|m| m.data[i % plane]) {
                let d = (a - b).abs();
                max = Some(max.map_or(d, |m: f32| m.max(d)));
            }
        }
        max
    }
}

/// Which pixels of an image hold real content (as opposed to fill from outside the source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    height: usize,
    width: usize,
    data: Vec<bool>,
}

impl Mask {
    /// A mask of one value.
    pub fn filled(height: usize, width: usize, value: bool) -> Self {
        Self {
            height,
            width,
            data: vec![value; height * width],
        }
    }
    /// A mask whose value at `(y, x)` is `f(y, x)`.
    pub fn from_fn(height: usize, width: usize, mut f: impl FnMut(usize, usize) -> bool) -> Self {
        let mut data = Vec::with_capacity(height * width);
        for y in 0..height {
            for x in 0..width {
                data.push(f(y, x));
            }
        }
        Self {
            height,
            width,
            data,
        }
    }
    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Columns.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Whether pixel `(y, x)` is valid.
    pub fn get(&self, y: usize, x: usize) -> bool {
        self.data[y * self.width + x]
    }
    /// The row-major values.
    pub fn data(&self) -> &[bool] {
        &self.data
    }
    /// Number of valid pixels.
    pub fn count(&self) -> usize {
        self.data.iter().filter(|&&v| v).count()
    }
    /// Pixel-wise AND with a mask of the same size.
    pub fn and(&self, other: &Mask) -> Mask {
        Mask {
            height: self.height,
            width: self.width,
            data: self
                .data
                .iter()
                .zip(&other.data)
                .map(|(a, b)| *a && *b)
                .collect(),
        }
    }
    /// The mask as a grey image (1 valid, 0 not), to look at.
    pub fn to_luma8(&self) -> GrayImage {
        ImageBuffer::from_fn(self.width as u32, self.height as u32, |x, y| {
            Luma([if self.get(y as usize, x as usize) {
                255
            } else {
                0
            }])
        })
    }
}
