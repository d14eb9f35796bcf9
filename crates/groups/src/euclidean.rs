//! Semidirect products `T(d) ⋊ G` of the translations with a linear group: the Euclidean
//! group E(n) = T(n) ⋊ O(n), the special Euclidean group SE(n) = T(n) ⋊ SO(n), and rigid
//! motions with any other [`LinearGroup`] (e.g. `T(2) ⋊ C4`).

use rand::Rng;

use crate::error::Result;
use crate::group::{Group, LinearGroup, PointAction, VectorAction, check_dim};
use crate::layout::ParamLayout;
use crate::orthogonal::Orthogonal;
use crate::points::Points;
use crate::real::Real;
use crate::translation::{check_std, gaussian_vector};

/// `E(d)` for `O(d)`, `SE(d)` for `SO(d)`, `T(d) ⋊ G` otherwise.
fn semidirect_name(d: usize, linear: &str) -> String {
    if linear == format!("O({d})") {
        format!("E({d})")
    } else if linear == format!("SO({d})") {
        format!("SE({d})")
    } else {
        format!("T({d}) ⋊ {linear}")
    }
}

/// An element of `T(d) ⋊ G`: the map `x -> M x + t`, with `M` the matrix of `linear`.
#[derive(Debug, Clone, PartialEq)]
pub struct RigidMotion<E> {
    /// The linear part, an element of `G`.
    pub linear: E,
    /// The translation `t`, of length `d`.
    pub translation: Vec<f64>,
}

/// `T(d) ⋊ G` for a linear group `G` acting on `R^d`: the maps `x -> M x + t`.
///
/// Unlike [`crate::Product`], the translations and the linear part do not commute, so this is
/// a semidirect product:
/// - `compose((A, a), (B, b)) = (A B, A b + a)` (apply `(B, b)` first, then `(A, a)`); the
///   inverse of `(A, a)` is `(A^-1, -A^-1 a)`; the identity is `(e, 0)`.
/// - Sampling: `G`'s own sampling (Haar for O(n), SO(n), C_n, ...) for the linear part and,
///   independently, the stated `N(0, std^2 I_d)` for the translation (the group is not
///   compact, so there is no Haar probability measure).
/// - Layout `euclidean(<G's layout id> v<G's version>)` v1: `G`'s slots, then `t0 .. t{d-1}`.
/// - Distance: `sqrt(d_G(A, B)^2 + |a - b|^2)` where `G` has a distance; invariant under left
///   multiplication when `G`'s distance is and `G` is orthogonal.
/// - Acts on vectors of length `d` (`x -> M x + t`) and on point sets with `d` columns (every
///   row).
///
/// Named `E(n)` when `G` is named `O(n)`, `SE(n)` when `G` is `SO(n)`, `T(d) ⋊ G` otherwise.
///
/// ```
/// use noether_groups::{Euclidean, Group, RigidMotion, VectorAction};
/// let se2 = Euclidean::se(2, 1.0)?;
/// // A quarter turn, then a shift by (1, 0).
/// let g = RigidMotion { linear: vec![0.0, -1.0, 1.0, 0.0], translation: vec![1.0, 0.0] };
/// assert_eq!(se2.act_vector(&g, &[1.0f64, 0.0])?, vec![1.0, 1.0]);
/// assert_eq!(se2.name(), "SE(2)");
/// # Ok::<(), noether_groups::GroupError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Euclidean<G: LinearGroup> {
    linear: G,
    std: f64,
}

/// The Euclidean groups E(n) and SE(n), built with [`Euclidean::e`] and [`Euclidean::se`].
pub type EuclideanGroup = Euclidean<Orthogonal>;

impl<G: LinearGroup> Euclidean<G> {
    /// `T(d) ⋊ linear`, `d = linear.dim()`, sampling translations from `N(0, std^2 I_d)`;
    /// errors if `std` is negative or not finite.
    pub fn new(linear: G, std: f64) -> Result<Self> {
        check_std(&semidirect_name(linear.dim(), &linear.name()), std)?;
        Ok(Self { linear, std })
    }

    /// The linear group G.
    pub fn linear(&self) -> &G {
        &self.linear
    }

    /// The dimension d of the space acted on.
    pub fn dim(&self) -> usize {
        self.linear.dim()
    }

    /// The standard deviation of the translation's sampling distribution.
    pub fn std(&self) -> f64 {
        self.std
    }

    /// Coordinate `j` of `t`, 0 past its length.
    fn coord(t: &[f64], j: usize) -> f64 {
        t.get(j).copied().unwrap_or(0.0)
    }

    /// `M x + t` in `f64`, for `x` of length `d`.
    fn apply(&self, m: &[f64], t: &[f64], x: &[f64]) -> Vec<f64> {
        let d = self.dim();
        (0..d)
            .map(|i| (0..d).map(|j| m[i * d + j] * x[j]).sum::<f64>() + Self::coord(t, i))
            .collect()
    }

    /// `M x + t` converted from and to `T`.
    fn apply_real<T: Real>(&self, m: &[f64], t: &[f64], x: &[T]) -> Vec<T> {
        let d = self.dim();
        (0..d)
            .map(|i| {
                let mx: f64 = (0..d).map(|j| m[i * d + j] * x[j].as_f64()).sum();
                T::from_f64(mx + Self::coord(t, i))
            })
            .collect()
    }
}

impl Euclidean<Orthogonal> {
    /// E(n) = T(n) ⋊ O(n), sampling Haar rotations and reflections and `N(0, std^2 I_n)`
    /// translations; errors if `n == 0` or `std` is invalid.
    pub fn e(n: usize, std: f64) -> Result<Self> {
        Self::new(Orthogonal::new(n)?, std)
    }

    /// SE(n) = T(n) ⋊ SO(n), sampling Haar rotations and `N(0, std^2 I_n)` translations;
    /// errors if `n == 0` or `std` is invalid.
    pub fn se(n: usize, std: f64) -> Result<Self> {
        Self::new(Orthogonal::special(n)?, std)
    }
}

impl<G: LinearGroup> Group for Euclidean<G> {
    type Element = RigidMotion<G::Element>;

    fn name(&self) -> String {
        semidirect_name(self.dim(), &self.linear.name())
    }

    fn identity(&self) -> Self::Element {
        RigidMotion {
            linear: self.linear.identity(),
            translation: vec![0.0; self.dim()],
        }
    }

    fn compose(&self, a: &Self::Element, b: &Self::Element) -> Self::Element {
        let m = self.linear.matrix(&a.linear);
        let b_t: Vec<f64> = (0..self.dim())
            .map(|j| Self::coord(&b.translation, j))
            .collect();
        RigidMotion {
            linear: self.linear.compose(&a.linear, &b.linear),
            translation: self.apply(&m, &a.translation, &b_t),
        }
    }

    fn inverse(&self, a: &Self::Element) -> Self::Element {
        let linear = self.linear.inverse(&a.linear);
        let m = self.linear.matrix(&linear);
        let neg: Vec<f64> = (0..self.dim())
            .map(|j| -Self::coord(&a.translation, j))
            .collect();
        let translation = self.apply(&m, &[], &neg);
        RigidMotion {
            linear,
            translation,
        }
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Self::Element {
        let linear = self.linear.sample(rng);
        let translation = gaussian_vector(rng, self.dim(), self.std);
        RigidMotion {
            linear,
            translation,
        }
    }

    fn sampling(&self) -> String {
        format!(
            "linear part: {}; translation, independently: N(0, {}^2 I_{})",
            self.linear.sampling(),
            self.std,
            self.dim()
        )
    }

    fn layout(&self) -> ParamLayout {
        let inner = self.linear.layout();
        let names = inner
            .names
            .iter()
            .cloned()
            .chain((0..self.dim()).map(|j| format!("t{j}")))
            .collect::<Vec<_>>();
        ParamLayout::new(
            format!("euclidean({} v{})", inner.id, inner.version),
            1,
            names,
        )
    }

    fn encode(&self, g: &Self::Element) -> Vec<f32> {
        let mut out = self.linear.encode(&g.linear);
        out.extend((0..self.dim()).map(|j| Self::coord(&g.translation, j) as f32));
        out
    }

    fn decode(&self, params: &[f32]) -> Result<Self::Element> {
        let (name, layout) = (self.name(), self.layout());
        layout.check(&name, params)?;
        let k = self.linear.layout().len();
        let linear = self
            .linear
            .decode(&params[..k])
            .map_err(|e| layout.decode_error(&name, format!("linear part: {e}")))?;
        let translation = params[k..].iter().map(|&v| f64::from(v)).collect();
        Ok(RigidMotion {
            linear,
            translation,
        })
    }

    fn distance(&self, a: &Self::Element, b: &Self::Element) -> Option<f64> {
        let dl = self.linear.distance(&a.linear, &b.linear)?;
        let m = self.dim().max(a.translation.len()).max(b.translation.len());
        let dt: f64 = (0..m)
            .map(|j| (Self::coord(&a.translation, j) - Self::coord(&b.translation, j)).powi(2))
            .sum();
        Some((dl * dl + dt).sqrt())
    }

    fn approx_eq(&self, a: &Self::Element, b: &Self::Element, tol: f64) -> bool {
        let m = self.dim().max(a.translation.len()).max(b.translation.len());
        self.linear.approx_eq(&a.linear, &b.linear, tol)
            && (0..m).all(|j| {
                (Self::coord(&a.translation, j) - Self::coord(&b.translation, j)).abs() <= tol
            })
    }

    fn test_elements(&self) -> Vec<Self::Element> {
        let d = self.dim();
        let shift: Vec<f64> = (0..d).map(|j| 1.0 - 0.5 * j as f64).collect();
        let mut out = Vec::new();
        for g in self.linear.test_elements() {
            out.push(RigidMotion {
                linear: g.clone(),
                translation: vec![0.0; d],
            });
            out.push(RigidMotion {
                linear: g,
                translation: shift.clone(),
            });
        }
        out
    }
}

impl<G: LinearGroup> VectorAction for Euclidean<G> {
    fn vector_dim(&self) -> Option<usize> {
        Some(self.dim())
    }

    /// `M x + t`; errors unless `x` has length `d`.
    fn act_vector<T: Real>(&self, g: &Self::Element, x: &[T]) -> Result<Vec<T>> {
        check_dim(&self.name(), "vector", self.dim(), x.len())?;
        let m = self.linear.matrix(&g.linear);
        Ok(self.apply_real(&m, &g.translation, x))
    }
}

impl<G: LinearGroup> PointAction for Euclidean<G> {
    /// `M x + t` for every row `x`; errors unless `X` has `d` columns.
    fn act_points<T: Real>(&self, g: &Self::Element, x: &Points<T>) -> Result<Points<T>> {
        check_dim(&self.name(), "point set columns", self.dim(), x.cols())?;
        let m = self.linear.matrix(&g.linear);
        Ok(x.map_rows(|row| self.apply_real(&m, &g.translation, row)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cyclic::Cyclic;

    #[test]
    fn composition_is_the_semidirect_product() {
        let e = Euclidean::new(Cyclic::new(4).expect("n >= 1"), 1.0).expect("valid");
        assert_eq!(e.name(), "T(2) ⋊ C4");
        // a = quarter turn then shift (1, 0); b = shift (0, 2).
        let a = RigidMotion {
            linear: 1,
            translation: vec![1.0, 0.0],
        };
        let b = RigidMotion {
            linear: 0,
            translation: vec![0.0, 2.0],
        };
        // (A, a)(B, b) = (AB, A b + a) = (1, R90 (0, 2) + (1, 0)) = (1, (-1, 0)).
        let ab = e.compose(&a, &b);
        assert_eq!(
            ab,
            RigidMotion {
                linear: 1,
                translation: vec![-1.0, 0.0]
            }
        );
        let x = [3.0f64, 4.0];
        let two = e
            .act_vector(&a, &e.act_vector(&b, &x).expect("len"))
            .expect("len");
        assert_eq!(two, e.act_vector(&ab, &x).expect("len"));
        // (A, a)^-1 = (A^-1, -A^-1 a) = (3, -R270 (1, 0)) = (3, (0, 1)).
        let ai = e.inverse(&a);
        assert!(e.approx_eq(
            &ai,
            &RigidMotion {
                linear: 3,
                translation: vec![0.0, 1.0]
            },
            1e-12
        ));
        assert!(e.approx_eq(&e.compose(&a, &ai), &e.identity(), 1e-12));
    }

    #[test]
    fn layout_and_round_trip() {
        let e = Euclidean::new(Cyclic::new(4).expect("n >= 1"), 1.0).expect("valid");
        let layout = e.layout();
        assert_eq!(layout.id, "euclidean(cyclic.index v1)");
        assert_eq!(layout.names, vec!["k", "t0", "t1"]);
        let g = RigidMotion {
            linear: 3,
            translation: vec![0.25, -1.5],
        };
        assert_eq!(e.encode(&g), vec![3.0, 0.25, -1.5]);
        assert_eq!(e.decode(&e.encode(&g)).expect("round trip"), g);
    }

    #[test]
    fn names_of_e_and_se() {
        assert_eq!(Euclidean::e(3, 1.0).expect("valid").name(), "E(3)");
        assert_eq!(Euclidean::se(2, 1.0).expect("valid").name(), "SE(2)");
        assert!(Euclidean::e(0, 1.0).is_err());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let c4 = Cyclic::new(4).expect("n >= 1");
        assert!(Euclidean::new(c4, -1.0).is_err());
        assert!(Euclidean::new(c4, f64::NAN).is_err());
        let e = Euclidean::new(c4, 1.0).expect("valid");
        let err = e
            .decode(&[5.0, 0.0, 0.0])
            .expect_err("k out of range")
            .to_string();
        assert!(err.contains("T(2) ⋊ C4") && err.contains("linear part") && err.contains("C4"));
        assert!(e.decode(&[1.0, 0.0]).is_err());
        assert!(e.decode(&[1.0, 0.0, f32::NAN]).is_err());
        let err = e
            .act_vector(&e.identity(), &[1.0f64, 2.0, 3.0])
            .expect_err("len")
            .to_string();
        assert!(err.contains("T(2) ⋊ C4"), "{err}");
        let x = Points::new(2, 3, vec![0.0f32; 6]).expect("shape");
        assert!(e.act_points(&e.identity(), &x).is_err());
    }
}
