//! The two traits every augmentation implements: [`Op`] (typed parameters: sample, apply,
//! encode, decode) and, for geometric ops, [`Invert`]; plus [`DynOp`], the object-safe form on
//! parameter vectors that pipelines hold.

use std::fmt::Debug;

use noether_groups::ParamLayout;
use rand::{Rng, RngCore};

use crate::error::{AugmentError, Result};
use crate::image::{Image, Mask, Shape};

/// An augmentation: it samples a typed parameter record from an explicit RNG, applies it,
/// encodes it as an `f32` vector in a documented, versioned layout, and decodes (validating) a
/// vector back, so the same parameters can be replayed on another image.
///
/// ```
/// use noether_augment::{Image, Op, ops::Rotate};
/// use rand::SeedableRng;
///
/// let img = Image::from_fn(3, 16, 16, |c, y, x| ((c + y * x) % 7) as f32 / 7.0);
/// let op = Rotate::new([-30.0, 30.0]);
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let angle = op.sample(img.shape(), &mut rng);
/// let view = op.apply(&img, &angle)?;
/// let replayed = op.apply(&img, &op.decode(&op.encode(&angle))?)?;
/// assert_eq!(view, replayed);
/// # Ok::<(), noether_augment::AugmentError>(())
/// ```
pub trait Op: Send + Sync + Debug {
    /// The typed parameter record.
    type Params: Clone + Debug + PartialEq + Send + Sync;

    /// The op's name, e.g. `random_resized_crop`.
    fn name(&self) -> &'static str;

    /// Checks the op's configuration (ranges ordered, sizes positive); pipelines call it when a
    /// step is added.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// The layout of the parameter vector (may depend on nothing but the op's type).
    fn layout(&self) -> ParamLayout;

    /// Draws parameters for an input of shape `input`.
    fn sample(&self, input: Shape, rng: &mut dyn RngCore) -> Self::Params;

    /// Applies the op with the given parameters.
    fn apply(&self, img: &Image, params: &Self::Params) -> Result<Image>;

    /// The shape of `apply`'s output for an input of shape `input`.
    fn output_shape(&self, input: Shape, params: &Self::Params) -> Shape {
        let _ = params;
        input
    }

    /// The parameters as `layout().len()` floats.
    fn encode(&self, params: &Self::Params) -> Vec<f32>;

    /// Parameters from a vector; errors name the op, the slot and the expected layout when the
    /// length is wrong or a value is out of range.
    fn decode(&self, v: &[f32]) -> Result<Self::Params>;
}

/// A geometric op that can be undone: maps an output of [`Op::apply`] back into the frame of
/// the source image, with the mask of the pixels that it recovers (those whose value came from
/// inside the source and lands inside the output).
pub trait Invert: Op {
    /// The inverse of `apply(_, params)` on an image of shape `source`.
    fn inverse(&self, out: &Image, params: &Self::Params, source: Shape) -> Result<(Image, Mask)>;
}

/// The object-safe form of [`Op`] on parameter vectors: what a [`crate::Pipeline`] holds.
/// Every op in [`crate::ops`] implements it.
pub trait DynOp: Send + Sync + Debug {
    /// The op's name.
    fn name(&self) -> &'static str;
    /// The parameter layout.
    fn layout(&self) -> ParamLayout;
    /// Checks the configuration.
    fn validate(&self) -> Result<()>;
    /// Samples and encodes parameters.
    fn sample_vec(&self, input: Shape, rng: &mut dyn RngCore) -> Vec<f32>;
    /// Decodes and applies.
    fn apply_vec(&self, img: &Image, v: &[f32]) -> Result<Image>;
    /// The output shape for an input shape and encoded parameters.
    fn output_shape_vec(&self, input: Shape, v: &[f32]) -> Result<Shape>;
    /// The inverse, `None` for ops that are not geometric (photometric ops are not undone).
    fn inverse_vec(&self, out: &Image, v: &[f32], source: Shape) -> Result<Option<(Image, Mask)>>;
    /// Whether the op moves pixels (and so can be inverted).
    fn is_geometric(&self) -> bool;
}

macro_rules! dyn_op {
    (@common) => {
        fn name(&self) -> &'static str {
            $crate::op::Op::name(self)
        }
        fn layout(&self) -> noether_groups::ParamLayout {
            $crate::op::Op::layout(self)
        }
        fn validate(&self) -> $crate::error::Result<()> {
            $crate::op::Op::validate(self)
        }
        fn sample_vec(&self, input: $crate::image::Shape, rng: &mut dyn rand::RngCore) -> Vec<f32> {
            let p = $crate::op::Op::sample(self, input, rng);
            $crate::op::Op::encode(self, &p)
        }
        fn apply_vec(&self, img: &$crate::image::Image, v: &[f32]) -> $crate::error::Result<$crate::image::Image> {
            let p = $crate::op::Op::decode(self, v)?;
            $crate::op::Op::apply(self, img, &p)
        }
        fn output_shape_vec(&self, input: $crate::image::Shape, v: &[f32]) -> $crate::error::Result<$crate::image::Shape> {
            let p = $crate::op::Op::decode(self, v)?;
            Ok($crate::op::Op::output_shape(self, input, &p))
        }
    };
    ($t:ty, invertible) => {
        impl $crate::op::DynOp for $t {
            dyn_op!(@common);
            fn inverse_vec(
                &self,
                out: &$crate::image::Image,
                v: &[f32],
                source: $crate::image::Shape,
            ) -> $crate::error::Result<Option<($crate::image::Image, $crate::image::Mask)>> {
                let p = $crate::op::Op::decode(self, v)?;
                $crate::op::Invert::inverse(self, out, &p, source).map(Some)
            }
            fn is_geometric(&self) -> bool {
                true
            }
        }
    };
    ($t:ty) => {
        impl $crate::op::DynOp for $t {
            dyn_op!(@common);
            fn inverse_vec(
                &self,
                _out: &$crate::image::Image,
                _v: &[f32],
                _source: $crate::image::Shape,
            ) -> $crate::error::Result<Option<($crate::image::Image, $crate::image::Mask)>> {
                Ok(None)
            }
            fn is_geometric(&self) -> bool {
                false
            }
        }
    };
}
pub(crate) use dyn_op;

/// Uniform in `[lo, hi)`, or `lo` when the interval is empty.
pub(crate) fn uniform(rng: &mut dyn RngCore, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        lo + (hi - lo) * rng.random::<f64>()
    } else {
        lo
    }
}

/// Checks a vector's length against a layout.
pub(crate) fn check_len(op: &str, layout: &ParamLayout, v: &[f32]) -> Result<()> {
    if v.len() != layout.len() {
        return Err(AugmentError::ParamLength {
            op: op.into(),
            expected: layout.describe(),
            got: v.len(),
        });
    }
    Ok(())
}

/// Checks that slot `i` lies in `[lo, hi]` (with `f32` slack) and is finite.
pub(crate) fn check_range(
    op: &str,
    layout: &ParamLayout,
    v: &[f32],
    i: usize,
    lo: f64,
    hi: f64,
) -> Result<f64> {
    let x = f64::from(v[i]);
    let slack = 1e-5 * (1.0 + lo.abs().max(hi.abs()));
    if !x.is_finite() || x < lo - slack || x > hi + slack {
        return Err(AugmentError::ParamRange {
            op: op.into(),
            name: layout.names[i].clone(),
            value: x,
            range: format!("[{lo}, {hi}]"),
            expected: layout.describe(),
        });
    }
    Ok(x.clamp(lo, hi))
}

/// Checks that slot `i` is a whole number in `[lo, hi]`.
pub(crate) fn check_int(
    op: &str,
    layout: &ParamLayout,
    v: &[f32],
    i: usize,
    lo: i64,
    hi: i64,
) -> Result<i64> {
    let x = f64::from(v[i]);
    if !x.is_finite() || x.fract() != 0.0 || x < lo as f64 || x > hi as f64 {
        return Err(AugmentError::ParamRange {
            op: op.into(),
            name: layout.names[i].clone(),
            value: x,
            range: format!("the whole numbers {lo}..={hi}"),
            expected: layout.describe(),
        });
    }
    Ok(x as i64)
}
