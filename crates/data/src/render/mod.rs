//! mini3die: noether's embedded default dataset, a procedural look-alike of 3DIEBench rendered
//! on the CPU from a seed.
//!
//! It keeps everything the 3DIEBench metrics need: objects of several classes split into
//! train and validation by object, many views per object, and for every view exactly
//! 3DIEBench's 7-float [`Latent`] (object rotation as extrinsic `xyz` Euler angles, floor hue,
//! spot-light direction and hue), drawn from the same distributions. The scene imitates the
//! 3DIEBench Blender scene: a fixed camera at `(0, 1.768, 1.768)` looking at the origin, a floor
//! plane at `z = -1` coloured by the floor hue, a soft white fill light (the "sun") and a
//! coloured spot light at radius 4 aimed at the origin, with a `pi/8` cone and shadows.
//!
//! - [`classes`]: the ten procedural templates and what breaks each one's symmetries (the pose
//!   can be read off every image).
//! - [`Mini3die`]: a dataset from a [`Mini3dieConfig`]: objects ([`ObjectSpec`]), the split,
//!   latents and renders. [`render_view`] renders any object under any latent.
//! - [`sheet`]: a contact sheet of objects x views, to look at.
//!
//! **Determinism.** Image `(seed, object, view)` is the same bytes whatever the thread count
//! or the order of rendering: an object's shape is a function of `(seed, class, index)`, a
//! view's latent of `(seed, object, view)` (each from its own `ChaCha8Rng` stream), and the
//! renderer is a pure function of the object and the latent.
//!
//! ```
//! use noether_data::render::{Mini3die, Mini3dieConfig, Split};
//!
//! let data = Mini3die::new(Mini3dieConfig {
//!     objects_per_class: 2,
//!     views: 3,
//!     size: 16,
//!     ..Mini3dieConfig::default()
//! })?;
//! let img = data.render(0, 1)?;
//! assert_eq!((img.channels(), img.height(), img.width()), (3, 16, 16));
//! assert_eq!(data.objects()[0].synset, "03001627"); // chair
//! let _split: Split = data.split(0)?;
//! # Ok::<(), noether_data::DataError>(())
//! ```

pub mod classes;
mod latent;
mod math;
mod shapes;
mod trace;

use noether_augment::Image;
use noether_augment::sheet::contact_sheet;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{DataError, Result};
pub use crate::split::Split;

pub use crate::latent::{
    LATENT_LAYOUT_ID, LATENT_LAYOUT_VERSION, LATENT_LEN, LATENT_NAMES, Latent, latent_layout,
};
pub use classes::{CLASSES, ClassInfo};
pub use latent::{sample_latent, view_rng};

use shapes::Model;
use trace::OBJECT_RADIUS;

/// Number of object classes (templates) available.
pub const NUM_CLASSES: usize = CLASSES.len();

/// Smallest image side.
pub const MIN_SIZE: usize = 8;

/// Largest image side.
pub const MAX_SIZE: usize = 256;

/// Most objects per class (indices must fit the RNG stream layout).
pub const MAX_OBJECTS_PER_CLASS: usize = 1 << 24;

/// Most views per object (indices must fit the RNG stream layout).
pub const MAX_VIEWS: usize = 1 << 24;

/// Stream tag of model-id streams (shape streams have both top bits clear).
const ID_STREAM: u64 = 1 << 62;
/// Stream tag of split streams.
const SPLIT_STREAM: u64 = (1 << 62) | (1 << 61);

/// Settings of a mini3die dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Mini3dieConfig {
    /// Number of classes, the first `classes` of [`CLASSES`] (1 to [`NUM_CLASSES`]).
    pub classes: usize,
    /// Objects per class (1 to [`MAX_OBJECTS_PER_CLASS`]).
    pub objects_per_class: usize,
    /// Views (renders with their latents) per object (1 to [`MAX_VIEWS`]).
    pub views: usize,
    /// Image side in pixels ([`MIN_SIZE`] to [`MAX_SIZE`]).
    pub size: usize,
    /// Seed of shapes, latents, model ids and the split.
    pub seed: u64,
    /// Share of each class's objects in the validation split, in `[0, 1]` (rounded to whole
    /// objects per class).
    pub val_fraction: f64,
}

impl Default for Mini3dieConfig {
    /// 10 classes x 20 objects x 50 views at 64 px, seed 0, 20% of objects for validation.
    fn default() -> Self {
        Mini3dieConfig {
            classes: NUM_CLASSES,
            objects_per_class: 20,
            views: 50,
            size: 64,
            seed: 0,
            val_fraction: 0.2,
        }
    }
}

impl Mini3dieConfig {
    /// Checks every field; the error names the field (`mini3die.size`, ...).
    pub fn validate(&self) -> Result<()> {
        if !(1..=NUM_CLASSES).contains(&self.classes) {
            return Err(DataError::invalid(
                "mini3die.classes",
                format!(
                    "{} classes requested; there are 1 to {NUM_CLASSES}",
                    self.classes
                ),
            ));
        }
        if !(1..=MAX_OBJECTS_PER_CLASS).contains(&self.objects_per_class) {
            return Err(DataError::invalid(
                "mini3die.objects_per_class",
                format!(
                    "{} objects per class; must be 1 to {MAX_OBJECTS_PER_CLASS}",
                    self.objects_per_class
                ),
            ));
        }
        if !(1..=MAX_VIEWS).contains(&self.views) {
            return Err(DataError::invalid(
                "mini3die.views",
                format!("{} views; must be 1 to {MAX_VIEWS}", self.views),
            ));
        }
        check_size(self.size)?;
        if !(0.0..=1.0).contains(&self.val_fraction) {
            return Err(DataError::invalid(
                "mini3die.val_fraction",
                format!("{} is not in [0, 1]", self.val_fraction),
            ));
        }
        Ok(())
    }

    /// Number of objects, `classes * objects_per_class`.
    pub fn num_objects(&self) -> usize {
        self.classes * self.objects_per_class
    }

    /// Number of images, `num_objects() * views`.
    pub fn num_images(&self) -> usize {
        self.num_objects() * self.views
    }
}

fn check_size(size: usize) -> Result<()> {
    if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
        return Err(DataError::invalid(
            "mini3die.size",
            format!("{size} px; must be {MIN_SIZE} to {MAX_SIZE}"),
        ));
    }
    Ok(())
}

/// One object: its class, identifiers in ShapeNet's style, and its procedural shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSpec {
    /// Class label, an index into [`CLASSES`].
    pub class: usize,
    /// Index of the object within its class.
    pub index: usize,
    /// The class's ShapeNet synset id (8 digits).
    pub synset: String,
    /// A 32-hex-digit model id, a function of `(seed, class, index)` (ShapeNet's style).
    pub model_id: String,
    model: Model,
}

impl ObjectSpec {
    /// Object `index` of class `class` for `seed`: its shape is drawn from
    /// `ChaCha8Rng::seed_from_u64(seed)` on stream `class * 2^32 + index`, its model id from
    /// stream `2^62 + class * 2^32 + index`. Errors for a class beyond [`NUM_CLASSES`] or an
    /// index of `2^32` or more.
    pub fn new(seed: u64, class: usize, index: usize) -> Result<Self> {
        let info = CLASSES.get(class).ok_or_else(|| {
            DataError::invalid(
                "mini3die.class",
                format!("class {class}; there are {NUM_CLASSES}"),
            )
        })?;
        if index >= 1 << 32 {
            return Err(DataError::invalid(
                "mini3die.index",
                format!("object index {index} is 2^32 or more"),
            ));
        }
        let stream = ((class as u64) << 32) | index as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let parts = classes::build(class, &mut rng);
        let mut id_rng = ChaCha8Rng::seed_from_u64(seed);
        id_rng.set_stream(ID_STREAM | stream);
        let model_id: String = (0..16)
            .map(|_| format!("{:02x}", id_rng.random::<u8>()))
            .collect();
        Ok(ObjectSpec {
            class,
            index,
            synset: info.synset.to_string(),
            model_id,
            model: Model::normalized(parts, OBJECT_RADIUS),
        })
    }

    /// The class name, e.g. `"chair"`.
    pub fn class_name(&self) -> &'static str {
        CLASSES[self.class].name
    }

    /// Number of primitives the object is built from.
    pub fn num_parts(&self) -> usize {
        self.model.parts.len()
    }
}

/// Renders `spec` under `latent` as a `3 x size x size` image with values in `[0, 1]`. A pure
/// function of its arguments. Errors when `size` is outside [`MIN_SIZE`]..=[`MAX_SIZE`] or the
/// latent is not finite.
pub fn render_view(spec: &ObjectSpec, latent: &Latent, size: usize) -> Result<Image> {
    check_size(size)?;
    if let Some(k) = latent.0.iter().position(|v| !v.is_finite()) {
        return Err(DataError::invalid(
            "mini3die.latent",
            format!("slot {k} ({}) is not finite", LATENT_NAMES[k]),
        ));
    }
    Ok(trace::render_model(&spec.model, latent, size)?)
}

/// A mini3die dataset: its objects (class major: object `o` is index `o % objects_per_class`
/// of class `o / objects_per_class`), their split, and per view a latent and a render.
#[derive(Debug, Clone)]
pub struct Mini3die {
    config: Mini3dieConfig,
    objects: Vec<ObjectSpec>,
    split: Vec<Split>,
}

impl Mini3die {
    /// Builds the objects (not the images: views are rendered on demand). Errors when the
    /// config does not [`validate`](Mini3dieConfig::validate).
    pub fn new(config: Mini3dieConfig) -> Result<Self> {
        config.validate()?;
        let opc = config.objects_per_class;
        let objects = (0..config.num_objects())
            .into_par_iter()
            .map(|o| ObjectSpec::new(config.seed, o / opc, o % opc))
            .collect::<Result<Vec<_>>>()?;
        let n_val = ((opc as f64) * config.val_fraction).round() as usize;
        let mut split = vec![Split::Train; objects.len()];
        for class in 0..config.classes {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(SPLIT_STREAM | class as u64);
            let mut order: Vec<usize> = (0..opc).collect();
            order.shuffle(&mut rng);
            for &i in &order[..n_val.min(opc)] {
                split[class * opc + i] = Split::Val;
            }
        }
        Ok(Mini3die {
            config,
            objects,
            split,
        })
    }

    /// The settings.
    pub fn config(&self) -> &Mini3dieConfig {
        &self.config
    }

    /// All objects, class major.
    pub fn objects(&self) -> &[ObjectSpec] {
        &self.objects
    }

    /// Number of objects.
    pub fn num_objects(&self) -> usize {
        self.objects.len()
    }

    /// Views per object.
    pub fn views(&self) -> usize {
        self.config.views
    }

    /// Names of the classes in use, in label order.
    pub fn class_names(&self) -> Vec<&'static str> {
        CLASSES[..self.config.classes]
            .iter()
            .map(|c| c.name)
            .collect()
    }

    fn check_object(&self, object: usize) -> Result<()> {
        if object >= self.objects.len() {
            return Err(DataError::invalid(
                "mini3die.object",
                format!("object {object}; there are {}", self.objects.len()),
            ));
        }
        Ok(())
    }

    fn check_view(&self, view: usize) -> Result<()> {
        if view >= self.config.views {
            return Err(DataError::invalid(
                "mini3die.view",
                format!("view {view}; there are {}", self.config.views),
            ));
        }
        Ok(())
    }

    /// The split of an object: in each class, `round(objects_per_class * val_fraction)`
    /// objects chosen by a seeded shuffle are validation objects.
    pub fn split(&self, object: usize) -> Result<Split> {
        self.check_object(object)?;
        Ok(self.split[object])
    }

    /// The objects of one split, in increasing order.
    pub fn objects_in(&self, split: Split) -> Vec<usize> {
        (0..self.objects.len())
            .filter(|&o| self.split[o] == split)
            .collect()
    }

    /// The latent of a view ([`sample_latent`] with the dataset's seed).
    pub fn latent(&self, object: usize, view: usize) -> Result<Latent> {
        self.check_object(object)?;
        self.check_view(view)?;
        Ok(sample_latent(self.config.seed, object, view))
    }

    /// The image of a view, `3 x size x size`.
    pub fn render(&self, object: usize, view: usize) -> Result<Image> {
        let latent = self.latent(object, view)?;
        render_view(&self.objects[object], &latent, self.config.size)
    }

    /// Renders many `(object, view)` pairs in parallel (rayon), in the order given.
    pub fn render_many(&self, items: &[(usize, usize)]) -> Result<Vec<Image>> {
        items.par_iter().map(|&(o, v)| self.render(o, v)).collect()
    }

    /// All views of one object, in view order, rendered in parallel.
    pub fn render_object(&self, object: usize) -> Result<Vec<Image>> {
        let items: Vec<(usize, usize)> = (0..self.config.views).map(|v| (object, v)).collect();
        self.render_many(&items)
    }
}

/// A contact sheet: one row per object of `objects`, one column per view of `views`.
pub fn sheet(data: &Mini3die, objects: &[usize], views: &[usize]) -> Result<Image> {
    if objects.is_empty() || views.is_empty() {
        return Err(DataError::invalid(
            "mini3die.sheet",
            "no objects or no views to show",
        ));
    }
    let items: Vec<(usize, usize)> = objects
        .iter()
        .flat_map(|&o| views.iter().map(move |&v| (o, v)))
        .collect();
    let images = data.render_many(&items)?;
    Ok(contact_sheet(&images, views.len(), data.config.size)?)
}
