//! # noether-augment
//!
//! SSL image augmentations that sample, return, replay and invert their parameters.
//!
//! EquiMod, SIE and ContextSSL condition on *what augmentation was applied*. Here every op
//! ([`ops`]) samples a typed parameter record from an explicit RNG, applies it, encodes it as an
//! `f32` vector in a documented, versioned layout, replays it on another image, and — for
//! geometric ops — inverts it with a mask of valid pixels. Ops compose into [`Pipeline`]s with
//! probabilities; a view comes with a [`ViewRecord`] of every step, from which the EquiMod
//! vector ([`equimod`]) is read. Pixel formulas follow torchvision's functional ops (checked
//! against a torchvision fixture in the tests). Group elements of `noether-groups` act on
//! images through [`act::ImageAction`].
//!
//! ```
//! use noether_augment::{make_views, EquimodLayout, Image, Preset};
//!
//! let img = Image::from_fn(3, 40, 48, |c, y, x| ((c * 7 + y * 3 + x) % 11) as f32 / 11.0);
//! let pipelines = Preset::SimclrCifar.pipelines()?;
//! let views = make_views(&pipelines, &[img], 2, 0)?;
//! assert_eq!(views[0].image.shape().height, 32);
//! let t = EquimodLayout::SimclrCifar.vector(&views[0].record)?;
//! assert_eq!(t.len(), 15);
//! # Ok::<(), noether_augment::AugmentError>(())
//! ```
//!
//! Images are CHW `f32` in `[0, 1]` ([`Image`]); no tensor library is involved, so the crate
//! stands alone. Batches run in parallel with rayon, one RNG stream per view, so the same seed
//! gives the same views whatever the thread count.

pub mod act;
pub mod blur;
pub mod color;
pub mod equimod;
mod error;
pub mod geometry;
mod image;
pub mod op;
pub mod ops;
mod pipeline;
mod presets;
pub mod resample;
pub mod sheet;

pub use equimod::{EQUIMOD_LAYOUT_VERSION, EquimodLayout, Standardizer};
pub use error::{AugmentError, Result};
pub use image::{Image, Mask, Shape};
pub use op::{DynOp, Invert, Op};
pub use pipeline::{Pipeline, Step, StepRecord, View, ViewRecord, make_views, stack, view_rng};
pub use presets::Preset;
pub use resample::Interpolation;
