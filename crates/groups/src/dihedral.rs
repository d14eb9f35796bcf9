//! The dihedral group D_n: the n rotations and n reflections that map a regular n-gon to itself.

use rand::Rng;

use crate::cyclic::cos_sin_of_fraction;
use crate::error::{GroupError, Result};
use crate::group::{FiniteGroup, Group, LinearGroup, impl_linear_actions};
use crate::layout::{ParamLayout, flag_slot, integer_slot};

/// An element `r^k s^f` of D_n: `r` the rotation by `2 pi / n`, `s` the reflection across the
/// x-axis (applied first when `reflect` is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DihedralElement {
    /// Rotation index `k` in `0..n`.
    pub k: usize,
    /// Whether the reflection `s` is applied.
    pub reflect: bool,
}

/// D_n, of order 2n (`D_4` is the symmetry group of the square, the flips and quarter turns
/// of images).
///
/// - Elements [`DihedralElement`] `r^k s^f`; composition uses `s r = r^-1 s`:
///   `(r^a s^f)(r^b s^g) = r^(a + (-1)^f b) s^(f + g)`.
/// - Numbering (as a [`FiniteGroup`]): index `k + n f`, so rotations come first.
/// - Sampling: Haar (uniform over the 2n elements).
/// - Layout `dihedral.index_reflect` v1: 2 floats `[k, reflect]`, an integer in `0..n` and 0 / 1.
/// - Distance: the word metric of the generators `{r, r^-1, s}`: `|r^k| = min(k, n - k)`,
///   `|r^k s| = min(k, n - k) + 1`.
/// - Acts on `R^2` by `R(2 pi k / n) diag(1, -1)^f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dihedral {
    n: usize,
}

impl Dihedral {
    /// D_n for `n >= 1`.
    pub fn new(n: usize) -> Result<Self> {
        if n == 0 {
            return Err(GroupError::InvalidParameter {
                group: "D_n".into(),
                param: "n".into(),
                reason: "the number of rotations must be at least 1".into(),
            });
        }
        Ok(Self { n })
    }

    /// The number of rotations n (the order is 2n).
    pub fn n(&self) -> usize {
        self.n
    }

    fn word_length(&self, g: &DihedralElement) -> usize {
        let k = g.k % self.n;
        k.min(self.n - k) + usize::from(g.reflect)
    }
}

impl Group for Dihedral {
    type Element = DihedralElement;

    fn name(&self) -> String {
        format!("D{}", self.n)
    }

    fn identity(&self) -> DihedralElement {
        DihedralElement {
            k: 0,
            reflect: false,
        }
    }

    fn compose(&self, a: &DihedralElement, b: &DihedralElement) -> DihedralElement {
        let n = self.n;
        let turn = if a.reflect { n - b.k % n } else { b.k % n };
        DihedralElement {
            k: (a.k + turn) % n,
            reflect: a.reflect != b.reflect,
        }
    }

    fn inverse(&self, a: &DihedralElement) -> DihedralElement {
        if a.reflect {
            *a
        } else {
            DihedralElement {
                k: (self.n - a.k % self.n) % self.n,
                reflect: false,
            }
        }
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DihedralElement {
        self.element(rng.random_range(0..2 * self.n))
    }

    fn sampling(&self) -> String {
        "Haar (uniform over the 2n elements)".into()
    }

    fn layout(&self) -> ParamLayout {
        ParamLayout::new("dihedral.index_reflect", 1, ["k", "reflect"])
    }

    fn encode(&self, g: &DihedralElement) -> Vec<f32> {
        vec![g.k as f32, f32::from(u8::from(g.reflect))]
    }

    fn decode(&self, params: &[f32]) -> Result<DihedralElement> {
        let (name, layout) = (self.name(), self.layout());
        layout.check(&name, params)?;
        let k = integer_slot(&layout, &name, params, 0, self.n)?;
        let reflect = flag_slot(&layout, &name, params, 1)?;
        Ok(DihedralElement { k, reflect })
    }

    fn distance(&self, a: &DihedralElement, b: &DihedralElement) -> Option<f64> {
        Some(self.word_length(&self.compose(&self.inverse(a), b)) as f64)
    }

    fn approx_eq(&self, a: &DihedralElement, b: &DihedralElement, _tol: f64) -> bool {
        a.k % self.n == b.k % self.n && a.reflect == b.reflect
    }

    fn test_elements(&self) -> Vec<DihedralElement> {
        let n = self.n;
        let mut v: Vec<_> = [0, 1 % n, n - 1, n / 2]
            .into_iter()
            .flat_map(|k| [false, true].map(|reflect| DihedralElement { k, reflect }))
            .collect();
        v.sort_by_key(|g| self.index_of(g));
        v.dedup();
        v
    }
}

impl FiniteGroup for Dihedral {
    fn order(&self) -> usize {
        2 * self.n
    }

    fn element(&self, index: usize) -> DihedralElement {
        let index = index % (2 * self.n);
        DihedralElement {
            k: index % self.n,
            reflect: index >= self.n,
        }
    }

    fn index_of(&self, g: &DihedralElement) -> usize {
        g.k % self.n + if g.reflect { self.n } else { 0 }
    }
}

impl LinearGroup for Dihedral {
    fn dim(&self) -> usize {
        2
    }

    fn matrix(&self, g: &DihedralElement) -> Vec<f64> {
        let (c, s) = cos_sin_of_fraction(g.k, self.n);
        let f = if g.reflect { -1.0 } else { 1.0 };
        vec![c, -s * f, s, c * f]
    }
}

impl_linear_actions!(Dihedral);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::VectorAction;

    #[test]
    fn reflection_conjugates_rotation_to_its_inverse() {
        let d4 = Dihedral::new(4).unwrap();
        let r = DihedralElement {
            k: 1,
            reflect: false,
        };
        let s = DihedralElement {
            k: 0,
            reflect: true,
        };
        // s r s = r^-1
        assert_eq!(
            d4.compose(&d4.compose(&s, &r), &s),
            DihedralElement {
                k: 3,
                reflect: false
            }
        );
    }

    #[test]
    fn d4_acts_exactly_on_the_plane() {
        let d4 = Dihedral::new(4).unwrap();
        let rs = DihedralElement {
            k: 1,
            reflect: true,
        };
        // s: (1, 2) -> (1, -2), then r (quarter turn): -> (2, 1).
        assert_eq!(d4.act_vector(&rs, &[1.0f32, 2.0]).unwrap(), vec![2.0, 1.0]);
    }

    #[test]
    fn every_element_has_the_right_word_length() {
        let d6 = Dihedral::new(6).unwrap();
        let e = d6.identity();
        let lengths: Vec<_> = d6
            .elements()
            .iter()
            .map(|g| d6.distance(&e, g).unwrap())
            .collect();
        assert_eq!(
            lengths,
            vec![0., 1., 2., 3., 2., 1., 1., 2., 3., 4., 3., 2.]
        );
    }

    #[test]
    fn bad_parameters_are_errors() {
        let d4 = Dihedral::new(4).unwrap();
        let err = d4.decode(&[1.0, 2.0]).unwrap_err().to_string();
        assert!(err.contains("D4") && err.contains("reflect"), "{err}");
        assert!(d4.decode(&[4.0, 0.0]).is_err());
        assert!(Dihedral::new(0).is_err());
    }
}
