//! From `noether_augment::Image`s to candle tensors: normalisation, stacking into
//! `(N, C, H, W)`, the evaluation transform, and deterministic labelled batches for
//! evaluation ([`image_tensor_batches`]).

use candle_core::{Device, Tensor};
use noether_augment::color;
use noether_augment::ops::{CenterCrop, Normalize, Resize};
use noether_augment::{Image, Interpolation, Op};
use rayon::prelude::*;

use super::dataset::{Dataset, augment_error};
use crate::error::{Result, TrainError};

/// Normalises each image (`(v - mean_c) / std_c`, augment's [`color::normalize`], i.e. its
/// `Normalize` op) and stacks them into an `(N, C, H, W)` `f32` tensor on `device`. Errors
/// when the list is empty, shapes differ, or the constants do not fit the channel count.
pub fn images_to_tensor(images: &[&Image], norm: &Normalize, device: &Device) -> Result<Tensor> {
    let Some(first) = images.first() else {
        return Err(TrainError::Source("no image to stack".into()));
    };
    let s = first.shape();
    let mut buf = Vec::with_capacity(images.len() * s.len());
    for (i, img) in images.iter().enumerate() {
        if img.shape() != s {
            return Err(TrainError::Source(format!(
                "cannot stack image {i} of {} with image 0 of {s}",
                img.shape()
            )));
        }
        let n = color::normalize(img, &norm.mean, &norm.std).map_err(augment_error)?;
        buf.extend_from_slice(n.data());
    }
    Ok(Tensor::from_vec(
        buf,
        (images.len(), s.channels, s.height, s.width),
        device,
    )?)
}

/// The evaluation transform: nothing when `size` is `None` or the image is already
/// `size x size`; else torchvision's `Resize(size)` (shorter side to `size`, aspect kept,
/// bilinear, antialiased) then `CenterCrop(size)`. No randomness.
pub fn eval_image(img: &Image, size: Option<usize>) -> Result<Image> {
    let Some(size) = size else {
        return Ok(img.clone());
    };
    if size == 0 {
        return Err(TrainError::config("image_size", "must be at least 1"));
    }
    let (h, w) = (img.height(), img.width());
    if (h, w) == (size, size) {
        return Ok(img.clone());
    }
    // torchvision: the long side is int(size * long / short)
    let (rh, rw) = if h <= w {
        (size, (size * w / h).max(size))
    } else {
        ((size * h / w).max(size), size)
    };
    let resize = Resize {
        size: [rh, rw],
        interpolation: Interpolation::Bilinear,
        antialias: true,
    };
    let resized = Op::apply(&resize, img, &()).map_err(augment_error)?;
    let crop = CenterCrop { size: [size, size] };
    Op::apply(&crop, &resized, &()).map_err(augment_error)
}

/// Deterministic batches of a dataset for evaluation (features for a linear probe, kNN, R²):
/// images `0..len` in order, `batch` at a time (the last one short), each through
/// [`eval_image`] at `size` and the dataset's normalisation, as an `(n, C, H, W)` tensor on
/// `device` with the `n` labels. No augmentation, no shuffling. Errors when `batch` is 0;
/// each item is an `Err` when an image fails to load or the shapes differ.
pub fn image_tensor_batches<'a>(
    data: &'a Dataset,
    batch: usize,
    size: Option<usize>,
    device: &Device,
) -> Result<ImageBatches<'a>> {
    if batch == 0 {
        return Err(TrainError::config("batch_size", "must be at least 1"));
    }
    Ok(ImageBatches {
        data,
        batch,
        size,
        norm: data.normalization(),
        device: device.clone(),
        next: 0,
    })
}

/// The iterator of [`image_tensor_batches`]: `(images (n, C, H, W), labels)`.
#[derive(Debug)]
pub struct ImageBatches<'a> {
    data: &'a Dataset,
    batch: usize,
    size: Option<usize>,
    norm: Normalize,
    device: Device,
    next: usize,
}

impl ImageBatches<'_> {
    fn make(&self, start: usize, end: usize) -> Result<(Tensor, Vec<i64>)> {
        let images = (start..end)
            .into_par_iter()
            .map(|i| eval_image(&self.data.image(i)?, self.size))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Image> = images.iter().collect();
        let x = images_to_tensor(&refs, &self.norm, &self.device)?;
        let labels = (start..end)
            .map(|i| self.data.label(i).unwrap_or(-1))
            .collect();
        Ok((x, labels))
    }
}

impl Iterator for ImageBatches<'_> {
    type Item = Result<(Tensor, Vec<i64>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.next;
        if start >= self.data.len() {
            return None;
        }
        let end = (start + self.batch).min(self.data.len());
        self.next = end;
        let out = self.make(start, end);
        if out.is_err() {
            self.next = self.data.len();
        }
        Some(out)
    }
}
