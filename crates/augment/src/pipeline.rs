//! [`Pipeline`]: ops composed with probabilities. Running one on an image gives the view and a
//! [`ViewRecord`] of every step's parameters, which replays the same view on another image and
//! undoes its geometry.

use std::sync::Arc;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{AugmentError, Result, invalid};
use crate::image::{Image, Mask, Shape};
use crate::op::DynOp;

/// One step: an op and the probability that it runs.
#[derive(Debug, Clone)]
pub struct Step {
    /// The op.
    pub op: Arc<dyn DynOp>,
    /// Probability in `[0, 1]` that the op runs.
    pub p: f64,
}

/// What one step did: the op, its layout, whether it ran and, if it did, its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    /// The op's name.
    pub op: String,
    /// The op's layout identifier and version, e.g. `augment.rotate v1`.
    pub layout: String,
    /// Whether the op ran.
    pub applied: bool,
    /// The op's parameter vector (empty when it did not run).
    pub params: Vec<f32>,
}

/// Everything needed to make a view again: the pipeline's name, the input's shape and each
/// step's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewRecord {
    /// The pipeline's name.
    pub pipeline: String,
    /// The shape of the image the view was made from.
    pub input: Shape,
    /// One record per step, in order.
    pub steps: Vec<StepRecord>,
}

impl ViewRecord {
    /// The record of the first step with op `name`.
    pub fn step(&self, name: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.op == name)
    }
}

/// A view: the image and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The augmented image.
    pub image: Image,
    /// Its record.
    pub record: ViewRecord,
}

/// Ops composed with probabilities.
///
/// ```
/// use noether_augment::{Image, Pipeline, ops::{HorizontalFlip, Rotate}};
/// use rand::SeedableRng;
///
/// let pipe = Pipeline::new("demo")
///     .then(HorizontalFlip, 0.5)?
///     .then(Rotate::new([-10.0, 10.0]), 1.0)?;
/// let img = Image::from_fn(3, 8, 8, |c, y, x| ((c + 2 * y + x) % 5) as f32 / 5.0);
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// let (view, record) = pipe.run(&img, &mut rng)?;
/// // the record replays the view, here on the same image
/// assert_eq!(pipe.replay(&img, &record)?, view);
/// # Ok::<(), noether_augment::AugmentError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pipeline {
    name: String,
    steps: Vec<Step>,
}

impl Pipeline {
    /// An empty pipeline (the identity).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            steps: Vec::new(),
        }
    }

    /// Appends `op`, run with probability `p`; errors when `p` is not in `[0, 1]` or the op's
    /// configuration is invalid.
    pub fn then(mut self, op: impl DynOp + 'static, p: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return Err(invalid(
                &format!("pipeline {}", self.name),
                format!(
                    "probability {p} of step {} ({}) is outside [0, 1]",
                    self.steps.len(),
                    op.name()
                ),
            ));
        }
        op.validate()?;
        self.steps.push(Step {
            op: Arc::new(op),
            p,
        });
        Ok(self)
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The steps.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Samples a record for an input of shape `input`, without touching pixels.
    pub fn sample(&self, input: Shape, rng: &mut dyn RngCore) -> Result<ViewRecord> {
        let mut shape = input;
        let mut steps = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let applied = rng.random::<f64>() < step.p;
            let params = if applied {
                let v = step.op.sample_vec(shape, rng);
                shape = step.op.output_shape_vec(shape, &v)?;
                v
            } else {
                Vec::new()
            };
            let l = step.op.layout();
            steps.push(StepRecord {
                op: step.op.name().into(),
                layout: format!("{} v{}", l.id, l.version),
                applied,
                params,
            });
        }
        Ok(ViewRecord {
            pipeline: self.name.clone(),
            input,
            steps,
        })
    }

    fn check_record(&self, rec: &ViewRecord) -> Result<()> {
        if rec.steps.len() != self.steps.len() {
            return Err(AugmentError::Replay {
                reason: format!(
                    "the record has {} steps, pipeline {} has {}",
                    rec.steps.len(),
                    self.name,
                    self.steps.len()
                ),
            });
        }
        for (i, (s, r)) in self.steps.iter().zip(&rec.steps).enumerate() {
            if s.op.name() != r.op {
                return Err(AugmentError::Replay {
                    reason: format!(
                        "step {i} of pipeline {} is {}, the record has {}",
                        self.name,
                        s.op.name(),
                        r.op
                    ),
                });
            }
            if !r.applied && !r.params.is_empty() {
                return Err(AugmentError::Replay {
                    reason: format!("step {i} ({}) did not run but has parameters", r.op),
                });
            }
        }
        Ok(())
    }

    /// Applies a record to an image: the same parameters, step by step. Errors when the record
    /// does not belong to this pipeline (step count, op names) or a parameter vector is
    /// malformed or out of range.
    pub fn replay(&self, img: &Image, rec: &ViewRecord) -> Result<Image> {
        self.check_record(rec)?;
        let mut out = img.clone();
        for (s, r) in self.steps.iter().zip(&rec.steps) {
            if r.applied {
                out = s.op.apply_vec(&out, &r.params)?;
            }
        }
        Ok(out)
    }

    /// Samples a record for `img` and applies it.
    pub fn run(&self, img: &Image, rng: &mut dyn RngCore) -> Result<(Image, ViewRecord)> {
        let rec = self.sample(img.shape(), rng)?;
        Ok((self.replay(img, &rec)?, rec))
    }

    /// Undoes the geometric steps of a view (photometric steps are not undone): the view mapped
    /// back into the frame of the source image, with the mask of pixels that were recovered.
    pub fn invert_geometry(&self, view: &Image, rec: &ViewRecord) -> Result<(Image, Mask)> {
        self.check_record(rec)?;
        // the shape before each step
        let mut shapes = vec![rec.input];
        for (s, r) in self.steps.iter().zip(&rec.steps) {
            let last = shapes[shapes.len() - 1];
            shapes.push(if r.applied {
                s.op.output_shape_vec(last, &r.params)?
            } else {
                last
            });
        }
        let mut img = view.clone();
        let mut mask = Mask::filled(view.height(), view.width(), true);
        for (i, (s, r)) in self.steps.iter().zip(&rec.steps).enumerate().rev() {
            if !r.applied || !s.op.is_geometric() {
                continue;
            }
            // carry the mask through the same inverse as the pixels
            let m = mask_as_image(&mask);
            let (back, valid) =
                s.op.inverse_vec(&img, &r.params, shapes[i])?
                    .ok_or_else(|| invalid(s.op.name(), "geometric op without an inverse"))?;
            let (mback, _) =
                s.op.inverse_vec(
                    &m,
                    &r.params,
                    Shape::new(1, shapes[i].height, shapes[i].width),
                )?
                .ok_or_else(|| invalid(s.op.name(), "geometric op without an inverse"))?;
            mask = Mask::from_fn(back.height(), back.width(), |y, x| {
                valid.get(y, x) && mback.get(0, y, x) > 0.999
            });
            img = back;
        }
        Ok((img, mask))
    }

    /// Makes `views_per_image` views of each image in parallel (rayon). View `v` of image `i`
    /// draws from its own RNG, `ChaCha8` seeded with `seed` on stream `i * views_per_image + v`,
    /// so the result does not depend on the thread count or order. Views are returned image by
    /// image.
    pub fn views(&self, images: &[Image], views_per_image: usize, seed: u64) -> Result<Vec<View>> {
        make_views(std::slice::from_ref(self), images, views_per_image, seed)
    }
}

fn mask_as_image(m: &Mask) -> Image {
    Image::from_fn(1, m.height(), m.width(), |_, y, x| {
        if m.get(y, x) { 1.0 } else { 0.0 }
    })
}

/// The RNG of view `v` of image `i`: `ChaCha8` seeded with `seed`, stream `i * views + v`.
pub fn view_rng(seed: u64, image: usize, views_per_image: usize, view: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((image * views_per_image + view) as u64);
    rng
}

/// Views of several images with a pipeline per view slot: view `v` of each image uses
/// `pipelines[v % pipelines.len()]` (the two views of BYOL, the global and local crops of
/// multi-crop). Parallel over all views; deterministic as [`Pipeline::views`].
pub fn make_views(
    pipelines: &[Pipeline],
    images: &[Image],
    views_per_image: usize,
    seed: u64,
) -> Result<Vec<View>> {
    if pipelines.is_empty() {
        return Err(invalid("views", "no pipeline given"));
    }
    (0..images.len() * views_per_image)
        .into_par_iter()
        .map(|k| {
            let (i, v) = (k / views_per_image, k % views_per_image);
            let mut rng = view_rng(seed, i, views_per_image, v);
            let (image, record) = pipelines[v % pipelines.len()].run(&images[i], &mut rng)?;
            Ok(View { image, record })
        })
        .collect()
}

/// Stacks views of one shape into an `N x C x H x W` buffer (for a tensor library); errors when
/// shapes differ (e.g. global and local crops).
pub fn stack(views: &[View]) -> Result<(Vec<f32>, [usize; 4])> {
    let Some(first) = views.first() else {
        return Ok((Vec::new(), [0, 0, 0, 0]));
    };
    let s = first.image.shape();
    let mut out = Vec::with_capacity(views.len() * s.len());
    for (i, v) in views.iter().enumerate() {
        if v.image.shape() != s {
            return Err(invalid(
                "stack",
                format!("view {i} is {}, view 0 is {s}", v.image.shape()),
            ));
        }
        out.extend_from_slice(v.image.data());
    }
    Ok((out, [views.len(), s.channels, s.height, s.width]))
}
