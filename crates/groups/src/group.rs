//! The abstractions every group implements: [`Group`], and where they apply [`FiniteGroup`],
//! [`LinearGroup`], [`VectorAction`] and [`PointAction`].

use std::fmt::Debug;

use rand::Rng;

use crate::error::{GroupError, Result};
use crate::layout::ParamLayout;
use crate::points::Points;
use crate::real::Real;

/// A group: identity, composition, inverse, sampling, and a fixed-length `f32` encoding of its
/// elements.
///
/// A group value carries the group's parameters (the `n` of C_n, the dimension of SO(n), the
/// range of a scaling group); its elements are plain values of [`Group::Element`].
///
/// Conventions, the same for every group:
/// - `compose(a, b)` is the product `a b`: as transformations, `b` acts first, then `a`
///   (`act(compose(a, b), x) == act(a, act(b, x))`), as with matrices.
/// - `sample` draws from the Haar measure for compact groups and from the distribution that
///   [`Group::sampling`] states otherwise; the RNG is always an argument, never ambient.
/// - `encode` writes exactly `layout().len()` floats; `decode(encode(g))` gives `g` back (up
///   to `f32` rounding) and `decode` rejects malformed vectors with a [`GroupError::Decode`]
///   that names the group and the layout.
///
/// ```
/// use noether_groups::{Group, Cyclic};
/// use rand::SeedableRng;
///
/// let c4 = Cyclic::new(4)?;
/// let g = c4.sample(&mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
/// let e = c4.compose(&g, &c4.inverse(&g));
/// assert_eq!(e, c4.identity());
/// assert_eq!(c4.decode(&c4.encode(&g))?, g);
/// # Ok::<(), noether_groups::GroupError>(())
/// ```
pub trait Group {
    /// The type of the group's elements.
    type Element: Clone + Debug;

    /// A short human name, e.g. `C4`, `SO(3)`, `S5 x O(3)`.
    fn name(&self) -> String;

    /// The identity element.
    fn identity(&self) -> Self::Element;

    /// The product `a b` (`b` acts first, then `a`).
    fn compose(&self, a: &Self::Element, b: &Self::Element) -> Self::Element;

    /// The inverse element.
    fn inverse(&self, a: &Self::Element) -> Self::Element;

    /// Draws one element from [`Group::sampling`]'s distribution.
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Self::Element;

    /// The sampling distribution, in words: `Haar` or the stated distribution.
    fn sampling(&self) -> String;

    /// The layout of the parameter vector.
    fn layout(&self) -> ParamLayout;

    /// Encodes an element as `layout().len()` floats.
    fn encode(&self, g: &Self::Element) -> Vec<f32>;

    /// Decodes a parameter vector, or says why it is not a valid element.
    fn decode(&self, params: &[f32]) -> Result<Self::Element>;

    /// A distance between elements where one is natural (word metric for finite groups,
    /// geodesic angle for rotations); `None` otherwise.
    fn distance(&self, _a: &Self::Element, _b: &Self::Element) -> Option<f64> {
        None
    }

    /// Whether two elements are equal up to `tol` (exact for discrete groups; for SO(3),
    /// `q` and `-q` are the same element).
    fn approx_eq(&self, a: &Self::Element, b: &Self::Element, tol: f64) -> bool;

    /// A small set of elements for tests: the identity, generators and a few special ones.
    fn test_elements(&self) -> Vec<Self::Element>;
}

/// A finite group whose elements are numbered `0..order()`.
pub trait FiniteGroup: Group {
    /// Number of elements.
    fn order(&self) -> usize;

    /// Element number `index` (`index < order()`; the identity is number 0).
    fn element(&self, index: usize) -> Self::Element;

    /// The number of an element, the inverse of [`FiniteGroup::element`].
    fn index_of(&self, g: &Self::Element) -> usize;

    /// All elements, in index order.
    fn elements(&self) -> Vec<Self::Element> {
        (0..self.order()).map(|i| self.element(i)).collect()
    }

    /// The regular representation of `g` as a permutation of element indices: entry `h` is
    /// the index of `g h`. This is how `g` moves the group axis of a regular G-CNN feature map
    /// (`(Γ_g F)(g h) = F(h)`).
    fn regular_permutation(&self, g: &Self::Element) -> Vec<usize> {
        (0..self.order())
            .map(|h| self.index_of(&self.compose(g, &self.element(h))))
            .collect()
    }
}

/// A group represented by `dim() x dim()` real matrices acting on `R^dim`: rotations,
/// reflections, the planar actions of C_n and D_n.
pub trait LinearGroup: Group {
    /// The dimension of the space acted on.
    fn dim(&self) -> usize;

    /// The representing matrix, row-major `dim() x dim()`.
    fn matrix(&self, g: &Self::Element) -> Vec<f64>;
}

/// A group acting on vectors.
pub trait VectorAction: Group {
    /// The vector length the group acts on, `None` if it acts on vectors of any length.
    fn vector_dim(&self) -> Option<usize>;

    /// `g . x`; errors if `x` has the wrong length.
    fn act_vector<T: Real>(&self, g: &Self::Element, x: &[T]) -> Result<Vec<T>>;
}

/// A group acting on point sets (rows of an `n x d` array).
pub trait PointAction: Group {
    /// `g . X`; errors if `X` has the wrong number of rows or columns.
    fn act_points<T: Real>(&self, g: &Self::Element, x: &Points<T>) -> Result<Points<T>>;
}

/// Applies a row-major `d x d` matrix to a vector of length `d`, after checking the length.
pub(crate) fn apply_matrix<T: Real>(group: &str, m: &[f64], d: usize, x: &[T]) -> Result<Vec<T>> {
    check_dim(group, "vector", d, x.len())?;
    Ok(matvec(m, d, x))
}

/// `m x` for a row-major `d x d` matrix and a vector of length `d` (unchecked).
pub(crate) fn matvec<T: Real>(m: &[f64], d: usize, x: &[T]) -> Vec<T> {
    (0..d)
        .map(|i| T::from_f64((0..d).map(|j| m[i * d + j] * x[j].as_f64()).sum()))
        .collect()
}

/// An error unless `got == expected`.
pub(crate) fn check_dim(group: &str, what: &str, expected: usize, got: usize) -> Result<()> {
    if got != expected {
        return Err(GroupError::Dimension {
            group: group.to_string(),
            what: what.to_string(),
            expected,
            got,
        });
    }
    Ok(())
}

/// Implements [`VectorAction`] and [`PointAction`] for a [`LinearGroup`]: vectors are
/// multiplied by the matrix, point sets row by row (`X -> X M^T`).
macro_rules! impl_linear_actions {
    ($ty:ty) => {
        impl $crate::group::VectorAction for $ty {
            fn vector_dim(&self) -> Option<usize> {
                Some($crate::group::LinearGroup::dim(self))
            }

            fn act_vector<T: $crate::real::Real>(
                &self,
                g: &Self::Element,
                x: &[T],
            ) -> $crate::error::Result<Vec<T>> {
                let d = $crate::group::LinearGroup::dim(self);
                let m = $crate::group::LinearGroup::matrix(self, g);
                $crate::group::apply_matrix(&$crate::group::Group::name(self), &m, d, x)
            }
        }

        impl $crate::group::PointAction for $ty {
            fn act_points<T: $crate::real::Real>(
                &self,
                g: &Self::Element,
                x: &$crate::points::Points<T>,
            ) -> $crate::error::Result<$crate::points::Points<T>> {
                let d = $crate::group::LinearGroup::dim(self);
                let name = $crate::group::Group::name(self);
                $crate::group::check_dim(&name, "point set columns", d, x.cols())?;
                let m = $crate::group::LinearGroup::matrix(self, g);
                Ok(x.map_rows(|row| $crate::group::matvec(&m, d, row)))
            }
        }
    };
}
pub(crate) use impl_linear_actions;
