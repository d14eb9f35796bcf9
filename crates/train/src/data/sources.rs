//! Training batch sources over a [`Dataset`]: [`TwoViewSource`] (two augmented views per
//! image, for SimCLR / BYOL / VICReg) and [`EquimodSource`] (the un-augmented image, two views
//! and their standardised EquiMod vectors `t`, Devillers & Lefort 2023, `papers/equimod.md`).
//!
//! Both draw batches from a [`noether_data::Loader`] over the dataset (shuffled per epoch
//! from the seed, full batches only, prepared on a background thread) and make view `v` of the
//! `i`-th image of a batch from `ChaCha8` seeded with the batch's seed on stream `2 i + v`
//! ([`noether_augment::make_views`]): a batch is a function of the loader's cursor, so
//! [`BatchSource::restore`] with a saved cursor gives bit-identical batches.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use noether_augment::ops::{Normalize, RandomResizedCrop};
use noether_augment::{
    DynOp, EquimodLayout, Image, Mask, Pipeline, Preset, Shape, Standardizer, View, make_views,
    view_rng,
};
use noether_data::{Cursor, DataError, ImageSource, Loader, LoaderConfig, ViewBatch};
use noether_groups::ParamLayout;
use rand::RngCore;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::dataset::{Dataset, augment_error, data_error};
use super::tensor::{eval_image, images_to_tensor};
use crate::error::{Result, TrainError};
use crate::methods::{EquimodBatch, Images, ViewPair};
use crate::source::BatchSource;

/// Parameter draws of the EquiMod standardisation ([`Standardizer::estimate`]).
pub const STANDARDIZER_DRAWS: usize = 4096;
/// Seed of the EquiMod standardisation: fixed, so the constants depend on the recipe and
/// the image size only, not on the run's seed.
pub const STANDARDIZER_SEED: u64 = 0;

/// How a source cuts batches and makes views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// The augmentation preset's name ([`Preset::ALL`], e.g. `simclr-cifar`).
    pub preset: String,
    /// Side of the views in pixels; `None` keeps the preset's own (32 for the CIFAR presets,
    /// 224 for the ImageNet ones). mini3die at 64 px takes `Some(64)`.
    pub view_size: Option<usize>,
    /// Images per batch (full batches only: the short last batch of an epoch is dropped).
    pub batch_size: usize,
    /// The seed of the data order and of the views.
    pub seed: u64,
    /// Batches prepared ahead on the loader's thread.
    pub prefetch: usize,
    /// What the two views of an item are made from.
    pub pairing: Pairing,
}

/// What the two views of a batch item are made from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pairing {
    /// Both views from the same image (the CIFAR / ImageNet recipes).
    #[default]
    SameImage,
    /// The second view from another view (render) of the same object, drawn uniformly
    /// among the object's other views: 3DIEBench's positive pairs (SIE, ContextSSL), with the
    /// preset's augmentation on top of each. 3DIEBench layout only. EquiMod's `t2` is then
    /// relative to that other render (its un-augmented image is the batch's `x0b`).
    ObjectViews,
}

/// The other view of the same object that item `i` of a 3DIEBench-layout dataset with
/// `views` views per object is paired with, drawn from `(seed, i)`.
pub(super) fn partner(i: usize, views: usize, seed: u64) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    rng.set_stream(i as u64);
    let (object, view) = (i / views, i % views);
    let other = (view + 1 + rng.random_range(0..views - 1)) % views;
    object * views + other
}

/// The views per object to pair within for `pairing`: `None` for same-image pairs; for
/// object-view pairs, checks that `data` can make them (3DIEBench layout, at least two views
/// per object) and returns its views per object.
pub(super) fn pair_views_per_object(data: &Dataset, pairing: Pairing) -> Result<Option<usize>> {
    if pairing == Pairing::SameImage {
        return Ok(None);
    }
    let views = data.views_3die().map(|d| d.views()).ok_or_else(|| {
        TrainError::config(
            "pairing",
            format!(
                "object-views needs the 3DIEBench layout (several views per object); {} has none",
                data.kind()
            ),
        )
    })?;
    if views < 2 {
        return Err(TrainError::config(
            "pairing",
            "object-views needs at least two views per object",
        ));
    }
    Ok(Some(views))
}

/// The loaded images of a batch: the first view's source of every item and, when pairing
/// within objects of `views` views ([`pair_views_per_object`]), the second view's.
fn batch_images(
    data: &Dataset,
    indices: &[usize],
    views: Option<usize>,
    seed: u64,
) -> noether_data::Result<(Vec<Image>, Option<Vec<Image>>)> {
    let load = |ix: &[usize]| {
        ix.par_iter()
            .map(|&i| ImageSource::image(data, i))
            .collect::<noether_data::Result<Vec<_>>>()
    };
    let first = load(indices)?;
    let second = match views {
        None => None,
        Some(views) => {
            let other: Vec<usize> = indices.iter().map(|&i| partner(i, views, seed)).collect();
            Some(load(&other)?)
        }
    };
    Ok((first, second))
}

/// Two views per item, laid out as [`make_views`] does (`views[2 i + v]`, RNG stream
/// `2 i + v`): view 0 from `first[i]`, view 1 from `second[i]` (or `first[i]`).
fn two_views(
    pipelines: &[Pipeline],
    first: &[Image],
    second: Option<&[Image]>,
    seed: u64,
) -> noether_data::Result<Vec<View>> {
    let Some(second) = second else {
        return Ok(make_views(pipelines, first, 2, seed)?);
    };
    (0..first.len() * 2)
        .into_par_iter()
        .map(|k| {
            let (i, v) = (k / 2, k % 2);
            let src = if v == 0 { &first[i] } else { &second[i] };
            let mut rng = view_rng(seed, i, 2, v);
            let (image, record) = pipelines[v % pipelines.len()].run(src, &mut rng)?;
            Ok(View { image, record })
        })
        .collect()
}

impl SourceConfig {
    /// `preset` at its own size, `batch_size` images per batch, seed 0, two batches ahead.
    pub fn new(preset: impl Into<String>, batch_size: usize) -> Self {
        Self {
            preset: preset.into(),
            view_size: None,
            batch_size,
            seed: 0,
            prefetch: 2,
            pairing: Pairing::SameImage,
        }
    }

    pub(super) fn loader_config(&self) -> LoaderConfig {
        LoaderConfig {
            batch_size: self.batch_size,
            shuffle: true,
            drop_last: true,
            epochs: None,
            prefetch: self.prefetch,
        }
    }
}

/// The output side of a preset's views, and its crop's area range.
fn preset_geometry(preset: Preset) -> Option<(usize, [f64; 2])> {
    match preset {
        Preset::SimclrCifar => Some((32, [0.2, 1.0])),
        Preset::SimclrImagenet => Some((224, [0.08, 1.0])),
        Preset::ByolImagenet => Some((224, [0.08, 1.0])),
        Preset::ByolCifar => Some((32, [0.08, 1.0])),
        Preset::MultiCrop => None,
    }
}

/// A pipeline step shared with a preset's pipeline (the op is behind an `Arc`).
#[derive(Debug)]
struct Shared(Arc<dyn DynOp>);

impl DynOp for Shared {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn layout(&self) -> ParamLayout {
        self.0.layout()
    }
    fn validate(&self) -> noether_augment::Result<()> {
        self.0.validate()
    }
    fn sample_vec(&self, input: Shape, rng: &mut dyn RngCore) -> Vec<f32> {
        self.0.sample_vec(input, rng)
    }
    fn apply_vec(&self, img: &Image, v: &[f32]) -> noether_augment::Result<Image> {
        self.0.apply_vec(img, v)
    }
    fn output_shape_vec(&self, input: Shape, v: &[f32]) -> noether_augment::Result<Shape> {
        self.0.output_shape_vec(input, v)
    }
    fn inverse_vec(
        &self,
        out: &Image,
        v: &[f32],
        source: Shape,
    ) -> noether_augment::Result<Option<(Image, Mask)>> {
        self.0.inverse_vec(out, v, source)
    }
    fn is_geometric(&self) -> bool {
        self.0.is_geometric()
    }
}

/// The pipelines of `preset` with views of side `size` (`None`: the preset's own): the
/// preset's steps unchanged except the random resized crop, whose output size is replaced
/// (same area and ratio ranges). Step names are kept, so the EquiMod layout still reads the
/// records. Multi-crop has two sizes and is only available at its own.
pub fn preset_pipelines(preset: Preset, size: Option<usize>) -> Result<Vec<Pipeline>> {
    let pipelines = preset.pipelines().map_err(augment_error)?;
    let Some(size) = size else {
        return Ok(pipelines);
    };
    let Some((native, scale)) = preset_geometry(preset) else {
        return Err(TrainError::config(
            "view_size",
            format!(
                "preset {} has crops of two sizes; it cannot be resized",
                preset.name()
            ),
        ));
    };
    if size == 0 {
        return Err(TrainError::config("view_size", "must be at least 1"));
    }
    if size == native {
        return Ok(pipelines);
    }
    pipelines
        .iter()
        .map(|p| {
            let mut out = Pipeline::new(p.name());
            for step in p.steps() {
                out = if step.op.name() == "random_resized_crop" {
                    out.then(RandomResizedCrop::new(size, scale), step.p)
                } else {
                    out.then(Shared(Arc::clone(&step.op)), step.p)
                }
                .map_err(augment_error)?;
            }
            Ok(out)
        })
        .collect()
}

fn parse_preset(name: &str) -> Result<Preset> {
    Preset::parse(name).map_err(|e| TrainError::config("preset", e.to_string()))
}

pub(super) fn check_batch(config: &SourceConfig, data: &Dataset) -> Result<()> {
    if config.batch_size == 0 {
        return Err(TrainError::config("batch_size", "must be at least 1"));
    }
    if config.batch_size > data.len() {
        return Err(TrainError::config(
            "batch_size",
            format!(
                "{} is more than the {} images of {} {} (batches are full)",
                config.batch_size,
                data.len(),
                data.kind(),
                data.split()
            ),
        ));
    }
    Ok(())
}

/// The side of un-augmented images: `config.view_size`, else the dataset's own height (an error
/// naming `view_size` when its images differ in size).
pub(super) fn image_side(config: &SourceConfig, data: &Dataset) -> Result<usize> {
    match config.view_size {
        Some(s) => Ok(s),
        None => data.uniform_shape().map(|s| s.height).ok_or_else(|| {
            TrainError::config(
                "view_size",
                format!(
                    "{} {} has images of different sizes; give a view size",
                    data.kind(),
                    data.split()
                ),
            )
        }),
    }
}

/// Images `indices` of `data` through [`eval_image`] at side `size`, in parallel; an error names
/// `what` (e.g. "one-view image").
pub(super) fn eval_images(
    data: &Dataset,
    indices: &[usize],
    size: usize,
    what: &str,
) -> noether_data::Result<Vec<Image>> {
    indices
        .par_iter()
        .map(|&i| {
            let img = ImageSource::image(data, i)?;
            eval_image(&img, Some(size)).map_err(|e| DataError::invalid(what, e.to_string()))
        })
        .collect()
}

pub(super) fn cursor_json(c: Cursor) -> serde_json::Value {
    serde_json::json!({ "epoch": c.epoch, "position": c.position, "seed": c.seed })
}

/// Parses a cursor from [`cursor_json`] and checks its seed against the source's.
pub(super) fn parse_cursor(value: &serde_json::Value, seed: u64) -> Result<Cursor> {
    let c: Cursor = serde_json::from_value(value.clone())
        .map_err(|e| TrainError::Source(format!("malformed data cursor {value}: {e}")))?;
    if c.seed != seed {
        return Err(TrainError::Source(format!(
            "data cursor seed {} differs from the source's seed {seed}",
            c.seed
        )));
    }
    Ok(c)
}

fn views_tensor(views: &[View], slot: usize, norm: &Normalize, device: &Device) -> Result<Tensor> {
    let images: Vec<&Image> = views
        .iter()
        .skip(slot)
        .step_by(2)
        .map(|v| &v.image)
        .collect();
    images_to_tensor(&images, norm, device)
}

/// Two augmented views of each image of a batch, as a [`ViewPair`] of `(N, C, size, size)`
/// normalised tensors: for SimCLR, BYOL, VICReg.
pub struct TwoViewSource {
    data: Arc<Dataset>,
    pipelines: Vec<Pipeline>,
    config: SourceConfig,
    norm: Normalize,
    device: Device,
    loader: Loader<ViewBatch>,
}

impl std::fmt::Debug for TwoViewSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoViewSource")
            .field("data", &self.data)
            .field("config", &self.config)
            .field("cursor", &self.loader.cursor())
            .finish()
    }
}

impl TwoViewSource {
    /// A source over `data` (usually its train split) with the preset and sizes of `config`,
    /// tensors on `device`. Errors name the field: an unknown preset, a batch larger than the
    /// dataset, a view size the preset cannot take.
    pub fn new(data: Arc<Dataset>, config: SourceConfig, device: &Device) -> Result<Self> {
        let preset = parse_preset(&config.preset)?;
        let pipelines = preset_pipelines(preset, config.view_size)?;
        check_batch(&config, &data)?;
        let loader = Self::loader(&data, &pipelines, &config, Cursor::new(config.seed))?;
        Ok(Self {
            norm: data.normalization(),
            data,
            pipelines,
            config,
            device: device.clone(),
            loader,
        })
    }

    fn loader(
        data: &Arc<Dataset>,
        pipelines: &[Pipeline],
        config: &SourceConfig,
        start: Cursor,
    ) -> Result<Loader<ViewBatch>> {
        let views = pair_views_per_object(data, config.pairing)?;
        let (data, pipelines) = (Arc::clone(data), pipelines.to_vec());
        Loader::new(data.len(), config.loader_config(), start, move |req| {
            let (first, second) = batch_images(&data, &req.indices, views, req.seed)?;
            let views = two_views(&pipelines, &first, second.as_deref(), req.seed)?;
            let labels = req
                .indices
                .iter()
                .map(|&i| data.label(i).unwrap_or(-1))
                .collect();
            Ok(ViewBatch { views, labels })
        })
        .map_err(data_error)
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.data
    }

    /// The pipelines (one per view slot).
    pub fn pipelines(&self) -> &[Pipeline] {
        &self.pipelines
    }
}

impl BatchSource for TwoViewSource {
    type Batch = ViewPair;

    fn next_batch(&mut self) -> Result<ViewPair> {
        let batch = match self.loader.next() {
            Some(b) => b.map_err(data_error)?,
            None => return Err(TrainError::Source("the data loader ended".into())),
        };
        let views = &batch.data.views;
        Ok(ViewPair {
            x1: views_tensor(views, 0, &self.norm, &self.device)?,
            x2: views_tensor(views, 1, &self.norm, &self.device)?,
        })
    }

    fn cursor(&self) -> serde_json::Value {
        cursor_json(self.loader.cursor())
    }

    fn restore(&mut self, cursor: &serde_json::Value) -> Result<()> {
        let c = parse_cursor(cursor, self.config.seed)?;
        self.loader = Self::loader(&self.data, &self.pipelines, &self.config, c)?;
        Ok(())
    }

    fn batch_items(&self) -> usize {
        self.config.batch_size
    }
}

/// What the loader thread makes for an EquiMod batch: images and vectors, not yet tensors.
struct RawEquimod {
    x0: Vec<Image>,
    /// The un-augmented source of the second views (object-view pairs).
    x0b: Option<Vec<Image>>,
    views: Vec<View>,
    t: [Vec<f32>; 2],
}

/// The EquiMod triple of each image of a batch as an [`EquimodBatch`]: `x0` the un-augmented
/// image (through [`eval_image`] at the view size, then normalised), `x1`, `x2` two views,
/// `t1`, `t2` their EquiMod vectors ([`EquimodLayout::vector`]: 15 floats for
/// `simclr-cifar`, 17 for `simclr-imagenet`, 18 for BYOL) standardised by a
/// [`Standardizer`] estimated once from the pipelines' own sampler for the dataset's image
/// shape ([`STANDARDIZER_DRAWS`] parameter draws, [`STANDARDIZER_SEED`]; the crop slots are
/// in source pixels, so the constants depend on that shape). The views are the same as a
/// [`TwoViewSource`]'s with the same configuration.
pub struct EquimodSource {
    data: Arc<Dataset>,
    pipelines: Arc<Vec<Pipeline>>,
    layout: EquimodLayout,
    standardizer: Arc<Standardizer>,
    view_size: usize,
    config: SourceConfig,
    norm: Normalize,
    device: Device,
    loader: Loader<RawEquimod>,
}

impl std::fmt::Debug for EquimodSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EquimodSource")
            .field("data", &self.data)
            .field("layout", &self.layout)
            .field("config", &self.config)
            .field("cursor", &self.loader.cursor())
            .finish()
    }
}

impl EquimodSource {
    /// A source over `data` with the preset and sizes of `config`, tensors on `device`.
    /// Errors: an unknown preset or one without an EquiMod vector (multi-crop), images of
    /// differing shapes (the standardisation needs one source shape), a batch larger than
    /// the dataset.
    pub fn new(data: Arc<Dataset>, config: SourceConfig, device: &Device) -> Result<Self> {
        let preset = parse_preset(&config.preset)?;
        let layout = preset.equimod_layout().ok_or_else(|| {
            TrainError::config(
                "preset",
                format!("{} has no EquiMod parameter vector", preset.name()),
            )
        })?;
        let pipelines = preset_pipelines(preset, config.view_size)?;
        check_batch(&config, &data)?;
        let input = data.uniform_shape().ok_or_else(|| {
            TrainError::Source(format!(
                "{} {}: images of different sizes; EquiMod's standardisation needs one size",
                data.kind(),
                data.split()
            ))
        })?;
        let standardizer = Standardizer::estimate(
            layout,
            &pipelines,
            input,
            STANDARDIZER_DRAWS,
            STANDARDIZER_SEED,
        )
        .map_err(augment_error)?;
        let view_size = match config.view_size {
            Some(s) => s,
            None => preset_geometry(preset).map_or(input.height, |(native, _)| native),
        };
        let pipelines = Arc::new(pipelines);
        let standardizer = Arc::new(standardizer);
        let loader = equimod_loader(
            &data,
            &pipelines,
            &standardizer,
            layout,
            view_size,
            &config,
            Cursor::new(config.seed),
        )?;
        Ok(Self {
            norm: data.normalization(),
            data,
            pipelines,
            layout,
            standardizer,
            view_size,
            config,
            device: device.clone(),
            loader,
        })
    }

    /// The EquiMod layout of `t1`, `t2`.
    pub fn layout(&self) -> EquimodLayout {
        self.layout
    }

    /// The standardisation constants (save them with the run).
    pub fn standardizer(&self) -> &Standardizer {
        &self.standardizer
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.data
    }
}

/// The loader of an [`EquimodSource`]: loads a batch's images, makes their two views with the
/// batch's seed, the eval-transformed originals and the standardised vectors.
fn equimod_loader(
    data: &Arc<Dataset>,
    pipelines: &Arc<Vec<Pipeline>>,
    standardizer: &Arc<Standardizer>,
    layout: EquimodLayout,
    size: usize,
    config: &SourceConfig,
    start: Cursor,
) -> Result<Loader<RawEquimod>> {
    let data = Arc::clone(data);
    let pipelines = Arc::clone(pipelines);
    let standardizer = Arc::clone(standardizer);
    let views = pair_views_per_object(&data, config.pairing)?;
    Loader::new(data.len(), config.loader_config(), start, move |req| {
        let (first, second) = batch_images(&data, &req.indices, views, req.seed)?;
        let views = two_views(&pipelines, &first, second.as_deref(), req.seed)?;
        let unaugmented = |images: &[Image]| {
            images
                .par_iter()
                .map(|img| eval_image(img, Some(size)))
                .collect::<Result<Vec<_>>>()
                .map_err(|e| DataError::invalid("equimod x0", e.to_string()))
        };
        let x0 = unaugmented(&first)?;
        let x0b = second.as_deref().map(unaugmented).transpose()?;
        let mut t = [Vec::new(), Vec::new()];
        for (k, v) in views.iter().enumerate() {
            t[k % 2].extend(standardizer.apply(&layout.vector(&v.record)?)?);
        }
        Ok(RawEquimod { x0, x0b, views, t })
    })
    .map_err(data_error)
}

impl BatchSource for EquimodSource {
    type Batch = EquimodBatch;

    fn next_batch(&mut self) -> Result<EquimodBatch> {
        let batch = match self.loader.next() {
            Some(b) => b.map_err(data_error)?,
            None => return Err(TrainError::Source("the data loader ended".into())),
        };
        let RawEquimod { x0, x0b, views, t } = batch.data;
        let n = x0.len();
        let stack = |images: &[Image]| {
            let refs: Vec<&Image> = images.iter().collect();
            images_to_tensor(&refs, &self.norm, &self.device)
        };
        let [t1, t2] = t;
        let d = self.layout.len();
        Ok(EquimodBatch {
            x0: stack(&x0)?,
            x0b: x0b.as_deref().map(stack).transpose()?,
            x1: views_tensor(&views, 0, &self.norm, &self.device)?,
            x2: views_tensor(&views, 1, &self.norm, &self.device)?,
            t1: Tensor::from_vec(t1, (n, d), &self.device)?,
            t2: Tensor::from_vec(t2, (n, d), &self.device)?,
        })
    }

    fn cursor(&self) -> serde_json::Value {
        cursor_json(self.loader.cursor())
    }

    fn restore(&mut self, cursor: &serde_json::Value) -> Result<()> {
        let c = parse_cursor(cursor, self.config.seed)?;
        self.loader = equimod_loader(
            &self.data,
            &self.pipelines,
            &self.standardizer,
            self.layout,
            self.view_size,
            &self.config,
            c,
        )?;
        Ok(())
    }

    fn batch_items(&self) -> usize {
        self.config.batch_size
    }
}

/// One un-augmented image per item, as [`Images`] `(N, C, size, size)` normalised tensors
/// ([`eval_image`] at the view size, the dataset's normalisation): for methods that make their
/// own views on the tensor, as Homomorphic SSL (one forward pass of the un-augmented image)
/// and its augmentation-SSL counterpart. The preset is not used; the batches are a function of
/// the loader's cursor, as for the other sources.
pub struct OneViewSource {
    data: Arc<Dataset>,
    config: SourceConfig,
    size: usize,
    norm: Normalize,
    device: Device,
    loader: Loader<Vec<Image>>,
}

impl std::fmt::Debug for OneViewSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneViewSource")
            .field("data", &self.data)
            .field("config", &self.config)
            .field("size", &self.size)
            .field("cursor", &self.loader.cursor())
            .finish()
    }
}

impl OneViewSource {
    /// A source over `data` with images of side `config.view_size` (default: the dataset's
    /// own height; images of different sizes then need a view size). Errors name the field.
    pub fn new(data: Arc<Dataset>, config: SourceConfig, device: &Device) -> Result<Self> {
        check_batch(&config, &data)?;
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
    ) -> Result<Loader<Vec<Image>>> {
        let data = Arc::clone(data);
        Loader::new(data.len(), config.loader_config(), start, move |req| {
            eval_images(&data, &req.indices, size, "one-view image")
        })
        .map_err(data_error)
    }

    /// The side of the images.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl BatchSource for OneViewSource {
    type Batch = Images;

    fn next_batch(&mut self) -> Result<Images> {
        let batch = match self.loader.next() {
            Some(b) => b.map_err(data_error)?,
            None => return Err(TrainError::Source("the data loader ended".into())),
        };
        let refs: Vec<&Image> = batch.data.iter().collect();
        Ok(Images {
            x: images_to_tensor(&refs, &self.norm, &self.device)?,
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
