//! The cyclic group C_n: rotations of the plane by multiples of 2 pi / n.

use rand::Rng;

use crate::error::{GroupError, Result};
use crate::group::{FiniteGroup, Group, LinearGroup, impl_linear_actions};
use crate::layout::{ParamLayout, integer_slot};

/// C_n, the rotations of the plane by `2 pi k / n`, `k = 0..n`. Elements are the integers `k`.
///
/// - Composition adds indices mod n; the identity is 0.
/// - Sampling: Haar (uniform over the n rotations).
/// - Layout `cyclic.index` v1: 1 float `[k]`, an integer in `0..n`.
/// - Distance: the word metric of the generator, `min(|a - b|, n - |a - b|)`.
/// - Acts on `R^2` by rotation matrices (exact entries at multiples of pi / 2) and, as a
///   [`FiniteGroup`], on its own index set by the regular representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cyclic {
    n: usize,
}

impl Cyclic {
    /// C_n for `n >= 1`.
    pub fn new(n: usize) -> Result<Self> {
        if n == 0 {
            return Err(GroupError::InvalidParameter {
                group: "C_n".into(),
                param: "n".into(),
                reason: "the order must be at least 1".into(),
            });
        }
        Ok(Self { n })
    }

    /// The order n.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The rotation angle of element `k`, `2 pi k / n`, in `[0, 2 pi)`.
    pub fn angle(&self, k: usize) -> f64 {
        std::f64::consts::TAU * (k % self.n) as f64 / self.n as f64
    }
}

/// `(cos, sin)` of `2 pi k / n`, exact when the angle is a multiple of pi / 2.
pub(crate) fn cos_sin_of_fraction(k: usize, n: usize) -> (f64, f64) {
    let k = k % n;
    if (4 * k).is_multiple_of(n) {
        return [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)][4 * k / n];
    }
    let t = std::f64::consts::TAU * k as f64 / n as f64;
    (t.cos(), t.sin())
}

impl Group for Cyclic {
    type Element = usize;

    fn name(&self) -> String {
        format!("C{}", self.n)
    }

    fn identity(&self) -> usize {
        0
    }

    fn compose(&self, a: &usize, b: &usize) -> usize {
        (a + b) % self.n
    }

    fn inverse(&self, a: &usize) -> usize {
        (self.n - a % self.n) % self.n
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        rng.random_range(0..self.n)
    }

    fn sampling(&self) -> String {
        "Haar (uniform over the n rotations)".into()
    }

    fn layout(&self) -> ParamLayout {
        ParamLayout::new("cyclic.index", 1, ["k"])
    }

    fn encode(&self, g: &usize) -> Vec<f32> {
        vec![*g as f32]
    }

    fn decode(&self, params: &[f32]) -> Result<usize> {
        let layout = self.layout();
        layout.check(&self.name(), params)?;
        integer_slot(&layout, &self.name(), params, 0, self.n)
    }

    fn distance(&self, a: &usize, b: &usize) -> Option<f64> {
        let d = a.abs_diff(*b) % self.n;
        Some(d.min(self.n - d) as f64)
    }

    fn approx_eq(&self, a: &usize, b: &usize, _tol: f64) -> bool {
        a % self.n == b % self.n
    }

    fn test_elements(&self) -> Vec<usize> {
        let mut v = vec![0, 1 % self.n, self.n - 1, self.n / 2];
        v.dedup();
        v
    }
}

impl FiniteGroup for Cyclic {
    fn order(&self) -> usize {
        self.n
    }

    fn element(&self, index: usize) -> usize {
        index % self.n
    }

    fn index_of(&self, g: &usize) -> usize {
        g % self.n
    }
}

impl LinearGroup for Cyclic {
    fn dim(&self) -> usize {
        2
    }

    fn matrix(&self, g: &usize) -> Vec<f64> {
        let (c, s) = cos_sin_of_fraction(*g, self.n);
        vec![c, -s, s, c]
    }
}

impl_linear_actions!(Cyclic);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::VectorAction;

    #[test]
    fn c4_generator_rotates_x_to_y_exactly() {
        let c4 = Cyclic::new(4).unwrap();
        assert_eq!(c4.act_vector(&1, &[1.0f32, 0.0]).unwrap(), vec![0.0, 1.0]);
        assert_eq!(c4.act_vector(&2, &[1.0f64, 2.0]).unwrap(), vec![-1.0, -2.0]);
    }

    #[test]
    fn regular_permutation_is_a_shift() {
        let c4 = Cyclic::new(4).unwrap();
        assert_eq!(c4.regular_permutation(&1), vec![1, 2, 3, 0]);
    }

    #[test]
    fn zero_order_and_bad_params_are_errors() {
        assert!(Cyclic::new(0).is_err());
        let c4 = Cyclic::new(4).unwrap();
        let err = c4.decode(&[4.0]).unwrap_err().to_string();
        assert!(err.contains("C4") && err.contains("cyclic.index"), "{err}");
        assert!(c4.decode(&[1.5]).is_err());
        assert!(c4.decode(&[1.0, 0.0]).is_err());
        assert!(c4.decode(&[f32::NAN]).is_err());
    }

    #[test]
    fn distance_wraps_around() {
        let c8 = Cyclic::new(8).unwrap();
        assert_eq!(c8.distance(&1, &7), Some(2.0));
        assert_eq!(c8.distance(&0, &4), Some(4.0));
    }
}
