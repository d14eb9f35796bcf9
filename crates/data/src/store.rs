//! [`ImageStore`]: decoded images kept compactly in memory as 8-bit CHW bytes with their
//! labels, handed out as [`Image`]s on demand.

use noether_augment::{Image, Shape};

use crate::error::{DataError, Result};

/// Images decoded once into one `u8` buffer (each image channels-first, CHW, row-major), with
/// an integer label per image, optional second labels (CIFAR-100's coarse classes) and the
/// class names. Images may differ in shape (an image folder); CIFAR and MNIST are uniform.
///
/// A CIFAR-10 training set takes 150 MiB here instead of 600 MiB as `f32`.
///
/// ```
/// use noether_augment::Shape;
/// use noether_data::ImageStore;
///
/// let mut store = ImageStore::new(vec!["dark".into(), "light".into()]);
/// store.push(Shape::new(1, 2, 2), &[0, 0, 0, 0], 0)?;
/// store.push(Shape::new(1, 2, 2), &[255, 255, 255, 255], 1)?;
/// assert_eq!(store.len(), 2);
/// assert_eq!(store.image(1)?.get(0, 1, 1), 1.0);
/// assert_eq!(store.label(1), Some(1));
/// # Ok::<(), noether_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ImageStore {
    shapes: Vec<Shape>,
    /// `offsets[i]..offsets[i + 1]` are the bytes of image `i`; `offsets.len() == len() + 1`.
    offsets: Vec<usize>,
    pixels: Vec<u8>,
    labels: Vec<i64>,
    coarse: Option<Vec<i64>>,
    classes: Vec<String>,
}

impl Default for ImageStore {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl ImageStore {
    /// An empty store with these class names (label `k` is `classes[k]`; may be empty when
    /// names are unknown).
    pub fn new(classes: Vec<String>) -> Self {
        Self {
            shapes: Vec::new(),
            offsets: vec![0],
            pixels: Vec::new(),
            labels: Vec::new(),
            coarse: None,
            classes,
        }
    }

    /// A store of `labels.len()` images of one shape from their concatenated CHW bytes.
    pub fn from_uniform(
        shape: Shape,
        pixels: Vec<u8>,
        labels: Vec<i64>,
        classes: Vec<String>,
    ) -> Result<Self> {
        let n = labels.len();
        if shape.len().checked_mul(n) != Some(pixels.len()) {
            return Err(DataError::invalid(
                "image store",
                format!(
                    "{n} images of {shape} need {} bytes, got {}",
                    shape.len() * n,
                    pixels.len()
                ),
            ));
        }
        Ok(Self {
            shapes: vec![shape; n],
            offsets: (0..=n).map(|i| i * shape.len()).collect(),
            pixels,
            labels,
            coarse: None,
            classes,
        })
    }

    /// Appends one image from its CHW bytes.
    pub fn push(&mut self, shape: Shape, chw: &[u8], label: i64) -> Result<()> {
        if chw.len() != shape.len() || shape.is_empty() {
            return Err(DataError::invalid(
                "image store",
                format!(
                    "an image of {shape} needs {} bytes, got {}",
                    shape.len(),
                    chw.len()
                ),
            ));
        }
        if self.coarse.is_some() {
            return Err(DataError::invalid(
                "image store",
                "push gives no coarse label; this store has them",
            ));
        }
        self.shapes.push(shape);
        self.pixels.extend_from_slice(chw);
        self.offsets.push(self.pixels.len());
        self.labels.push(label);
        Ok(())
    }

    /// Appends all images of `other` (class names are kept from `self`); both must have
    /// coarse labels or neither.
    pub fn append(&mut self, other: ImageStore) -> Result<()> {
        let coarse = match (self.coarse.take(), other.coarse) {
            (None, None) => None,
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Some(a)
            }
            (None, Some(b)) if self.is_empty() => Some(b),
            (a, _) => {
                self.coarse = a;
                return Err(DataError::invalid(
                    "image store",
                    "cannot append a store with coarse labels to one without (or back)",
                ));
            }
        };
        let base = self.pixels.len();
        self.offsets
            .extend(other.offsets.iter().skip(1).map(|o| o + base));
        self.shapes.extend(other.shapes);
        self.pixels.extend(other.pixels);
        self.labels.extend(other.labels);
        self.coarse = coarse;
        Ok(())
    }

    /// Sets the second label of every image (CIFAR-100's coarse classes).
    pub fn set_coarse_labels(&mut self, coarse: Vec<i64>) -> Result<()> {
        if coarse.len() != self.len() {
            return Err(DataError::invalid(
                "image store",
                format!("{} coarse labels for {} images", coarse.len(), self.len()),
            ));
        }
        self.coarse = Some(coarse);
        Ok(())
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the store holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The shape of image `i`.
    pub fn shape(&self, i: usize) -> Option<Shape> {
        self.shapes.get(i).copied()
    }

    /// The common shape of all images, `None` when they differ or the store is empty.
    pub fn uniform_shape(&self) -> Option<Shape> {
        let first = *self.shapes.first()?;
        self.shapes.iter().all(|s| *s == first).then_some(first)
    }

    /// The CHW bytes of image `i`.
    pub fn pixels(&self, i: usize) -> Option<&[u8]> {
        let (a, b) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        self.pixels.get(a..b)
    }

    /// Image `i` as an [`Image`] (`u8 / 255`); errors when `i` is out of range.
    pub fn image(&self, i: usize) -> Result<Image> {
        let (Some(s), Some(px)) = (self.shape(i), self.pixels(i)) else {
            return Err(DataError::invalid(
                "image store",
                format!("index {i} out of range for {} images", self.len()),
            ));
        };
        let data = px.iter().map(|&v| f32::from(v) / 255.0).collect();
        Ok(Image::new(s.channels, s.height, s.width, data)?)
    }

    /// The label of image `i`.
    pub fn label(&self, i: usize) -> Option<i64> {
        self.labels.get(i).copied()
    }

    /// All labels, in image order.
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }

    /// The second labels (CIFAR-100's coarse classes), if the store has them.
    pub fn coarse_labels(&self) -> Option<&[i64]> {
        self.coarse.as_deref()
    }

    /// The class names (label `k` is `classes()[k]`).
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The number of classes: the number of names, or one more than the largest label when
    /// the names are unknown.
    pub fn num_classes(&self) -> usize {
        if self.classes.is_empty() {
            self.labels
                .iter()
                .max()
                .map_or(0, |&m| usize::try_from(m).map_or(0, |m| m + 1))
        } else {
            self.classes.len()
        }
    }

    /// The images at `indices`, in that order, as a new store (e.g. a held-out part).
    pub fn subset(&self, indices: &[usize]) -> Result<ImageStore> {
        let mut out = ImageStore::new(self.classes.clone());
        let mut coarse = Vec::new();
        for &i in indices {
            let (Some(s), Some(px), Some(l)) = (self.shape(i), self.pixels(i), self.label(i))
            else {
                return Err(DataError::invalid(
                    "image store",
                    format!("index {i} out of range for {} images", self.len()),
                ));
            };
            out.shapes.push(s);
            out.pixels.extend_from_slice(px);
            out.offsets.push(out.pixels.len());
            out.labels.push(l);
            if let Some(c) = &self.coarse {
                coarse.push(c[i]);
            }
        }
        if self.coarse.is_some() {
            out.coarse = Some(coarse);
        }
        Ok(out)
    }
}
