//! [`ActionPairSource`]: pairs of two renders of one object with the action between them, for
//! the methods that learn from 3DIEBench's actions (SIE, SEN, SimCLR + AugSelf, ContextSSL;
//! `papers/sie_3diebench.md`, `papers/contextssl.md`).
//!
//! Item `i` of a batch is image `i` of the split (view 1) and another view of the same object
//! drawn from `(batch seed, i)` (view 2, the same partner as [`Pairing::ObjectViews`] gives).
//! As in both reference codes, there is **no augmentation**: each image goes through
//! [`eval_image`] at the view size and the dataset's normalisation. The batch carries the
//! 6-float action `[q_x, q_y, q_z, q_w, d floor hue, d spot hue]` from view 1 to view 2
//! ([`rotation_color_action`]) and the absolute latents of view 2 ([`absolute_rotation_color`],
//! ContextSSL's auxiliary target). Each method takes the columns it uses (SIE's rotation
//! version: the quaternion; ContextSSL: all six, masked per environment).
//!
//! [`Pairing::ObjectViews`]: super::Pairing::ObjectViews

use std::sync::Arc;

use candle_core::{Device, Tensor};
use noether_augment::Image;
use noether_augment::ops::Normalize;
use noether_data::layout::{absolute_rotation_color, rotation_color_action};
use noether_data::{Cursor, DataError, Loader};

use super::dataset::{Dataset, data_error};
use super::sources::{
    Pairing, SourceConfig, check_batch, cursor_json, eval_images, image_side,
    pair_views_per_object, parse_cursor, partner,
};
use super::tensor::images_to_tensor;
use crate::error::{Result, TrainError};
use crate::source::BatchSource;

/// Width of the action and latent rows of an [`ActionPairs`] batch.
pub const ACTION_DIM: usize = 6;

/// A batch of object-view pairs with their actions.
#[derive(Debug, Clone)]
pub struct ActionPairs {
    /// View 1 of every pair, `(N, C, H, W)`.
    pub x1: Tensor,
    /// View 2 (another render of the same object), `(N, C, H, W)`.
    pub x2: Tensor,
    /// The action from view 1 to view 2, `(N, 6)`: relative quaternion `(x, y, z, w)`, then the
    /// floor-hue and spot-hue differences.
    pub action: Tensor,
    /// The absolute latents of view 2, `(N, 6)`: quaternion `(x, y, z, w)`, floor hue, spot hue.
    pub latent2: Tensor,
    /// The class labels of the objects (`-1` where the dataset has none).
    pub labels: Vec<i64>,
}

/// What the loader thread makes for one batch: images and rows, not yet tensors.
struct RawPairs {
    first: Vec<Image>,
    second: Vec<Image>,
    action: Vec<f32>,
    latent2: Vec<f32>,
    labels: Vec<i64>,
}

/// Object-view pairs and their actions from a 3DIEBench-layout dataset (see the module docs).
pub struct ActionPairSource {
    data: Arc<Dataset>,
    config: SourceConfig,
    size: usize,
    norm: Normalize,
    device: Device,
    loader: Loader<RawPairs>,
}

impl std::fmt::Debug for ActionPairSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionPairSource")
            .field("data", &self.data)
            .field("config", &self.config)
            .field("size", &self.size)
            .field("cursor", &self.loader.cursor())
            .finish()
    }
}

impl ActionPairSource {
    /// A source over `data` (3DIEBench layout, at least two views per object) with images of
    /// side `config.view_size` (default: the dataset's own height). The preset and pairing of
    /// `config` are not used. Errors name the field.
    pub fn new(data: Arc<Dataset>, config: SourceConfig, device: &Device) -> Result<Self> {
        check_batch(&config, &data)?;
        pair_views_per_object(&data, Pairing::ObjectViews)?;
        let size = image_side(&config, &data)?;
        let loader = Self::loader(&data, size, &config, Cursor::new(config.seed))?;
        Ok(Self {
            norm: data.normalization(),
            data,
            config,
            size,
            device: device.clone(),
            loader,
        })
    }

    fn loader(
        data: &Arc<Dataset>,
        size: usize,
        config: &SourceConfig,
        start: Cursor,
    ) -> Result<Loader<RawPairs>> {
        let views = pair_views_per_object(data, Pairing::ObjectViews)?.unwrap_or(2);
        let data = Arc::clone(data);
        Loader::new(data.len(), config.loader_config(), start, move |req| {
            let other: Vec<usize> = req
                .indices
                .iter()
                .map(|&i| partner(i, views, req.seed))
                .collect();
            let load = |ix: &[usize]| eval_images(&data, ix, size, "action-pair image");
            let (first, second) = (load(&req.indices)?, load(&other)?);
            let n = req.indices.len();
            let (mut action, mut latent2) = (
                Vec::with_capacity(n * ACTION_DIM),
                Vec::with_capacity(n * ACTION_DIM),
            );
            for (&i, &j) in req.indices.iter().zip(&other) {
                let latent = |k: usize| {
                    data.latent(k)
                        .map_err(|e| DataError::invalid("latent", e.to_string()))?
                        .ok_or_else(|| DataError::invalid("latent", format!("image {k} has none")))
                };
                let (l1, l2) = (latent(i)?, latent(j)?);
                action.extend(rotation_color_action(&l1, &l2));
                latent2.extend(absolute_rotation_color(&l2));
            }
            let labels = req
                .indices
                .iter()
                .map(|&i| data.label(i).unwrap_or(-1))
                .collect();
            Ok(RawPairs {
                first,
                second,
                action,
                latent2,
                labels,
            })
        })
        .map_err(data_error)
    }

    /// The side of the images.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.data
    }
}

impl BatchSource for ActionPairSource {
    type Batch = ActionPairs;

    fn next_batch(&mut self) -> Result<ActionPairs> {
        let batch = match self.loader.next() {
            Some(b) => b.map_err(data_error)?,
            None => return Err(TrainError::Source("the data loader ended".into())),
        };
        let raw = batch.data;
        let n = raw.labels.len();
        let tensor = |images: &[Image]| {
            let refs: Vec<&Image> = images.iter().collect();
            images_to_tensor(&refs, &self.norm, &self.device)
        };
        Ok(ActionPairs {
            x1: tensor(&raw.first)?,
            x2: tensor(&raw.second)?,
            action: Tensor::from_vec(raw.action, (n, ACTION_DIM), &self.device)?,
            latent2: Tensor::from_vec(raw.latent2, (n, ACTION_DIM), &self.device)?,
            labels: raw.labels,
        })
    }

    fn cursor(&self) -> serde_json::Value {
        cursor_json(self.loader.cursor())
    }

    fn restore(&mut self, cursor: &serde_json::Value) -> Result<()> {
        let c = parse_cursor(cursor, self.config.seed)?;
        self.loader = Self::loader(&self.data, self.size, &self.config, c)?;
        Ok(())
    }

    fn batch_items(&self) -> usize {
        self.config.batch_size
    }
}
