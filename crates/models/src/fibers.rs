//! Lifted group axes read fiber by fiber: the interface of Homomorphic SSL (`papers/hssl.md`).
//!
//! A [`FiberBackbone`] maps images to a lifted map with a group axis of `N` elements and reads
//! it as `N` pooled fibers `(B, C, N)`. Its [`GroupAction`] is the same group acting on the
//! input images. The backbone is a homomorphism when `P f(T_g x) = Gamma_g P f(x)`:
//! transforming the input by `g` moves fiber `h` to `g h` ([`GroupAction::shift_fibers`]).
//! Then `F_e(T_{a^-1} x) = F_a(x)`: the identity fiber of a transformed image is another
//! fiber of the untransformed one. [`fiber_equivariance_error`] measures how far a backbone is
//! from that.
//!
//! Two groups, one per backbone:
//!
//! - [`GroupAction::Rotation`]: `C_N` rotations of a [`GCnn`](crate::GCnn): a
//!   [`RotationAction`]. Element `r` is a turn by `2 pi r / N`, and `Gamma_r` rolls the group
//!   axis by `r`.
//! - [`GroupAction::Translation`]: cyclic translations of the feature grid of a
//!   [`TranslationCnn`](crate::TranslationCnn): a [`TranslationAction`]. Element `g = u W' + v` shifts the image by
//!   `(u s, v s)` pixels, `s` the network's total stride, and `Gamma_g` rolls the `H' x W'`
//!   grid by `(u, v)`.
//! - [`GroupAction::Scale`]: the scales of a [`Sesn`](crate::Sesn): a [`ScaleAction`]. Element
//!   `t` shrinks the image content by `a^t`, and moves fiber `s` to `s + t` (approximately, and
//!   only while `s + t < S`: scales form a truncated semigroup, not a group). The identity is
//!   then `F_0(T_t x) ~ F_t(x)`: the A-SSL view of fiber `t` is the image shrunk by `a^t`
//!   ([`GroupAction::view_element`]).

use candle_core::{DType, Device, Tensor};
use rand::Rng;

use crate::error::{ModelError, Result};
use crate::gcnn::RotationAction;
use crate::layers::Backbone;
use crate::sesn::ScaleAction;
use crate::tcnn::TranslationAction;

/// A backbone whose output has a group axis, read as pooled fibers.
pub trait FiberBackbone: Backbone {
    /// `(B, fiber_dim, N)`: the lifted map's `N` fibers, each pooled over its spatial extent
    /// (the whole map for a G-CNN, a `k x k` bundle for translations).
    fn pooled_fibers_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor>;
    /// Channels per fiber.
    fn fiber_dim(&self) -> usize;
    /// The group of the lifted axis acting on input images of `height x width`. An input
    /// size the group cannot act on exactly is an error that names it.
    fn action(
        &self,
        height: usize,
        width: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<GroupAction>;
}

/// A group acting on images, indexed like a [`FiberBackbone`]'s fibers (see the module docs).
#[derive(Debug, Clone)]
pub enum GroupAction {
    /// `C_N` rotations.
    Rotation(RotationAction),
    /// Cyclic translations of a feature grid.
    Translation(TranslationAction),
    /// Shrinking by powers of a scale ratio (a truncated semigroup).
    Scale(ScaleAction),
}

impl GroupAction {
    /// The number of elements `N`.
    pub fn order(&self) -> usize {
        match self {
            GroupAction::Rotation(a) => a.order(),
            GroupAction::Translation(a) => a.order(),
            GroupAction::Scale(a) => a.num_elements(),
        }
    }

    /// The `(height, width)` of the images it acts on.
    pub fn image_size(&self) -> (usize, usize) {
        match self {
            GroupAction::Rotation(a) => (a.size(), a.size()),
            GroupAction::Translation(a) => a.image_size(),
            GroupAction::Scale(a) => (a.size(), a.size()),
        }
    }

    /// A short description: `C4 rotations`, `translations of an 8x8 grid (stride 4)`.
    pub fn describe(&self) -> String {
        match self {
            GroupAction::Rotation(a) => format!("C{} rotations", a.order()),
            GroupAction::Translation(a) => {
                let (h, w) = a.grid();
                format!("translations of a {h}x{w} grid (stride {})", a.stride())
            }
            GroupAction::Scale(a) => {
                format!("{} scales (ratio {})", a.num_elements(), a.ratio())
            }
        }
    }

    /// The element `g` whose identity fiber is fiber `a`: `F_e(T_g x) = F_a(x)`. `a^-1` for
    /// rotations and translations, `a` itself for scales (shrinking by `a^t` moves fiber 0 to
    /// `t`). A-SSL's view of fiber `a` is `T_g x`.
    pub fn view_element(&self, a: usize) -> usize {
        match self {
            GroupAction::Scale(_) => a,
            _ => self.inverse(a),
        }
    }

    /// The product `a b` (for scales, `a + b` capped at the top scale).
    pub fn compose(&self, a: usize, b: usize) -> usize {
        match self {
            GroupAction::Rotation(r) => (a + b) % r.order(),
            GroupAction::Scale(s) => (a + b).min(s.num_elements() - 1),
            GroupAction::Translation(t) => {
                let (h, w) = t.grid();
                ((a / w + b / w) % h) * w + (a % w + b % w) % w
            }
        }
    }

    /// The inverse `g^-1` (scales have none but the identity's: `g` is returned as is, see
    /// [`GroupAction::view_element`]).
    pub fn inverse(&self, g: usize) -> usize {
        match self {
            GroupAction::Rotation(r) => (r.order() - g % r.order()) % r.order(),
            GroupAction::Scale(_) => g,
            GroupAction::Translation(t) => {
                let (h, w) = t.grid();
                ((h - (g / w) % h) % h) * w + (w - g % w) % w
            }
        }
    }

    /// The distance of `g` from the identity: the cyclic distance `min(r, N - r)` for
    /// rotations, the cyclic Chebyshev distance `max(|u|, |v|)` on the torus for translations,
    /// the number of scale steps `t` for scales.
    pub fn distance(&self, g: usize) -> usize {
        let cyclic = |i: usize, n: usize| (i % n).min(n - i % n);
        match self {
            GroupAction::Rotation(r) => cyclic(g, r.order()),
            GroupAction::Scale(_) => g,
            GroupAction::Translation(t) => {
                let (h, w) = t.grid();
                cyclic(g / w, h).max(cyclic(g % w, w))
            }
        }
    }

    /// The largest distance between two fibers: `N / 2` for rotations, `min(H', W') / 2` for
    /// translations, `S - 1` for scales.
    pub fn max_distance(&self) -> usize {
        match self {
            GroupAction::Rotation(r) => r.order() / 2,
            GroupAction::Scale(s) => s.num_elements() - 1,
            GroupAction::Translation(t) => {
                let (h, w) = t.grid();
                h.min(w) / 2
            }
        }
    }

    /// A random pair of fibers `(a, b)`: `a` uniform; `b = a s` with a step `s` uniform over
    /// the non-identity elements when `distances` is empty, otherwise at a distance drawn
    /// uniformly from `distances`, then uniform among the elements at that distance (for
    /// rotations `+d` or `-d` with equal odds). Scales have no group law: there `(a, b)` is
    /// uniform over the pairs `a != b`, or over the pairs with `|a - b| = d`.
    pub fn sample_pair<R: Rng + ?Sized>(&self, rng: &mut R, distances: &[usize]) -> (usize, usize) {
        let n = self.order();
        let a = rng.random_range(0..n);
        if distances.is_empty() {
            return (a, self.compose_cyclic(a, rng.random_range(1..n)));
        }
        let d = distances[rng.random_range(0..distances.len())];
        match self {
            GroupAction::Rotation(_) => {
                let step = if rng.random_bool(0.5) {
                    d % n
                } else {
                    (n - d % n) % n
                };
                (a, self.compose(a, step))
            }
            GroupAction::Translation(_) => {
                let at: Vec<usize> = (0..n).filter(|&g| self.distance(g) == d).collect();
                let step = match at.len() {
                    0 => 0,
                    len => at[rng.random_range(0..len)],
                };
                (a, self.compose(a, step))
            }
            GroupAction::Scale(_) => {
                let pairs: Vec<(usize, usize)> = (0..n)
                    .flat_map(|x| (0..n).map(move |y| (x, y)))
                    .filter(|&(x, y)| x.abs_diff(y) == d)
                    .collect();
                match pairs.len() {
                    0 => (a, a),
                    len => pairs[rng.random_range(0..len)],
                }
            }
        }
    }

    /// `a s` on the cyclic index set (scales wrap around here: `b` uniform among the others).
    fn compose_cyclic(&self, a: usize, s: usize) -> usize {
        match self {
            GroupAction::Scale(_) => (a + s) % self.order(),
            _ => self.compose(a, s),
        }
    }

    /// Image `i` transformed by `elements[i]`: `(B, C, H, W) -> (B, C, H, W)`.
    pub fn act(&self, x: &Tensor, elements: &[usize]) -> candle_core::Result<Tensor> {
        match self {
            GroupAction::Rotation(a) => a.rotate(x, elements),
            GroupAction::Translation(a) => a.translate(x, elements),
            GroupAction::Scale(a) => a.scale(x, elements),
        }
    }

    /// The whole batch transformed by `g`.
    pub fn act_all(&self, x: &Tensor, g: usize) -> candle_core::Result<Tensor> {
        match self {
            GroupAction::Rotation(a) => a.rotate_all(x, g),
            GroupAction::Translation(a) => a.translate_all(x, g),
            GroupAction::Scale(a) => a.scale_all(x, g),
        }
    }

    /// `Gamma_g` on pooled fibers `(B, C, N)`: fiber `h` moved to `g h`, what
    /// `P f(T_g x)` is for a homomorphism. For scales, fiber `s` of the result is fiber
    /// `s + g` (and zero where `s + g >= S`: nothing is known there).
    pub fn shift_fibers(&self, fibers: &Tensor, g: usize) -> candle_core::Result<Tensor> {
        let (b, c, n) = fibers.dims3()?;
        if n != self.order() {
            candle_core::bail!(
                "shift_fibers: {n} fibers for a group of order {}",
                self.order()
            );
        }
        match self {
            GroupAction::Rotation(_) => fibers.roll((g % n) as i32, 2),
            GroupAction::Translation(t) => {
                let (h, w) = t.grid();
                let (u, v) = ((g / w) % h, g % w);
                fibers
                    .reshape((b, c, h, w))?
                    .roll(u as i32, 2)?
                    .roll(v as i32, 3)?
                    .reshape((b, c, n))
            }
            GroupAction::Scale(_) => {
                let g = g.min(n);
                if g == 0 {
                    return Ok(fibers.clone());
                }
                let kept = fibers.narrow(2, g, n - g)?;
                Tensor::cat(&[&kept, &kept.zeros_like()?.narrow(2, 0, g)?], 2)
            }
        }
    }
}

/// `fibers (B, C, N)` -> `(B, C)`: image `i`'s fiber at group element `index[i]`.
pub fn select_fibers(fibers: &Tensor, index: &[usize]) -> candle_core::Result<Tensor> {
    let (b, c, n) = fibers.dims3()?;
    if index.len() != b {
        candle_core::bail!("select_fibers: {} indices for a batch of {b}", index.len());
    }
    if let Some(bad) = index.iter().find(|&&g| g >= n) {
        candle_core::bail!("select_fibers: group element {bad} of a group of order {n}");
    }
    let flat: Vec<u32> = index
        .iter()
        .enumerate()
        .map(|(i, &g)| (i * n + g) as u32)
        .collect();
    let ix = Tensor::new(flat.as_slice(), fibers.device())?;
    fibers
        .transpose(1, 2)?
        .contiguous()?
        .reshape((b * n, c))?
        .index_select(&ix, 0)
}

/// `|| P f(T_g x) - Gamma_g P f(x) || / || Gamma_g P f(x) ||` in eval mode, `P f` the pooled
/// fibers ([`FiberBackbone::pooled_fibers_t`]): 0 for an exact homomorphism. For scales, over
/// the fibers `s` with `s + g < S` (as [`crate::sesn::scale_equivariance_error`]).
pub fn fiber_equivariance_error<B: FiberBackbone + ?Sized>(
    net: &B,
    action: &GroupAction,
    x: &Tensor,
    g: usize,
) -> candle_core::Result<f64> {
    let base = net.pooled_fibers_t(x, false)?;
    let mut moved = net.pooled_fibers_t(&action.act_all(x, g)?, false)?;
    let mut expect = action.shift_fibers(&base, g)?;
    if let GroupAction::Scale(_) = action {
        let n = base.dim(2)?;
        if g >= n {
            candle_core::bail!("fiber_equivariance_error: scale step {g} of {n} scales");
        }
        moved = moved.narrow(2, 0, n - g)?;
        expect = expect.narrow(2, 0, n - g)?;
    }
    let sq = |t: &Tensor| -> candle_core::Result<f64> {
        t.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()
    };
    let num = sq(&(moved - &expect)?)?;
    let den = sq(&expect)?;
    Ok((num / den.max(f64::MIN_POSITIVE)).sqrt())
}

/// An error for an input size a group cannot act on.
pub(crate) fn size_error(reason: String) -> ModelError {
    ModelError::Config {
        field: "input size",
        reason,
    }
}

/// The side of a square `height x width` input, or an error naming the `group` that needs one.
pub(crate) fn square_side(height: usize, width: usize, group: &str) -> Result<usize> {
    if height == width {
        Ok(height)
    } else {
        Err(size_error(format!(
            "a {height}x{width} input: the {group} acts on square images"
        )))
    }
}
