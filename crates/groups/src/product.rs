//! Direct products `G x H` of groups.

use rand::Rng;

use crate::error::Result;
use crate::group::{FiniteGroup, Group, PointAction, VectorAction};
use crate::layout::ParamLayout;
use crate::points::Points;
use crate::real::Real;

/// The direct product `G x H`. Elements are pairs `(g, h)`, composed and inverted
/// componentwise.
///
/// - Name `"{G} x {H}"`, e.g. `S5 x O(3)`.
/// - Sampling: independent samples of the two factors (Haar when both are compact).
/// - Layout [`ParamLayout::product`]: `G`'s slots prefixed `a.`, then `H`'s prefixed `b.`,
///   id `product(<G id> v<G ver>, <H id> v<H ver>)` v1.
/// - Distance: `sqrt(d_G^2 + d_H^2)` when both factors have one.
/// - [`FiniteGroup`] when both factors are: element `i_g * |H| + i_h` is `(g_{i_g}, h_{i_h})`
///   (orders saturate at `usize::MAX`).
/// - Actions, where both factors act on the same vectors or point sets:
///   `(g, h) . x = g . (h . x)`. **This is a group action only when the two actions commute**
///   (`g . (h . x) = h . (g . x)`), as for S_n permuting the rows of a point set and O(d)
///   acting on its columns: that is the `S_n x O(3)` symmetry of point clouds in LPS.
///   Translations and rotations of the same points do not commute; their group is the
///   semidirect product [`crate::Euclidean`], not `T(d) x O(d)`.
///
/// ```
/// use noether_groups::{Cyclic, Group, PointAction, Points, Product, Symmetric};
/// let group = Product(Symmetric::new(3)?, Cyclic::new(4)?);
/// assert_eq!(group.name(), "S3 x C4");
/// let g = (group.0.permutation(vec![1, 2, 0])?, 1);
/// // Rotate every point by 90 degrees, then move row i to row sigma(i).
/// let x = Points::new(3, 2, vec![1.0f64, 0.0, 2.0, 0.0, 3.0, 0.0])?;
/// assert_eq!(group.act_points(&g, &x)?.data(), &[0.0, 3.0, 0.0, 1.0, 0.0, 2.0]);
/// # Ok::<(), noether_groups::GroupError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product<G, H>(pub G, pub H);

impl<G: Group, H: Group> Group for Product<G, H> {
    type Element = (G::Element, H::Element);

    fn name(&self) -> String {
        format!("{} x {}", self.0.name(), self.1.name())
    }

    fn identity(&self) -> Self::Element {
        (self.0.identity(), self.1.identity())
    }

    fn compose(&self, a: &Self::Element, b: &Self::Element) -> Self::Element {
        (self.0.compose(&a.0, &b.0), self.1.compose(&a.1, &b.1))
    }

    fn inverse(&self, a: &Self::Element) -> Self::Element {
        (self.0.inverse(&a.0), self.1.inverse(&a.1))
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Self::Element {
        let g = self.0.sample(rng);
        let h = self.1.sample(rng);
        (g, h)
    }

    fn sampling(&self) -> String {
        format!(
            "independent: {} for {}, {} for {}",
            self.0.sampling(),
            self.0.name(),
            self.1.sampling(),
            self.1.name()
        )
    }

    fn layout(&self) -> ParamLayout {
        self.0.layout().product(&self.1.layout())
    }

    fn encode(&self, g: &Self::Element) -> Vec<f32> {
        let mut out = self.0.encode(&g.0);
        out.extend(self.1.encode(&g.1));
        out
    }

    fn decode(&self, params: &[f32]) -> Result<Self::Element> {
        let (name, layout) = (self.name(), self.layout());
        layout.check(&name, params)?;
        let k = self.0.layout().len();
        let g = self
            .0
            .decode(&params[..k])
            .map_err(|e| layout.decode_error(&name, format!("first factor: {e}")))?;
        let h = self
            .1
            .decode(&params[k..])
            .map_err(|e| layout.decode_error(&name, format!("second factor: {e}")))?;
        Ok((g, h))
    }

    fn distance(&self, a: &Self::Element, b: &Self::Element) -> Option<f64> {
        let d0 = self.0.distance(&a.0, &b.0)?;
        let d1 = self.1.distance(&a.1, &b.1)?;
        Some((d0 * d0 + d1 * d1).sqrt())
    }

    fn approx_eq(&self, a: &Self::Element, b: &Self::Element, tol: f64) -> bool {
        self.0.approx_eq(&a.0, &b.0, tol) && self.1.approx_eq(&a.1, &b.1, tol)
    }

    /// All pairs of the factors' test elements.
    fn test_elements(&self) -> Vec<Self::Element> {
        let hs = self.1.test_elements();
        self.0
            .test_elements()
            .into_iter()
            .flat_map(|g| hs.iter().map(move |h| (g.clone(), h.clone())))
            .collect()
    }
}

impl<G: FiniteGroup, H: FiniteGroup> FiniteGroup for Product<G, H> {
    /// `|G| |H|`, saturating at `usize::MAX`.
    fn order(&self) -> usize {
        self.0.order().saturating_mul(self.1.order())
    }

    /// `(g_{i / |H|}, h_{i mod |H|})`, with `i` taken mod the order.
    fn element(&self, index: usize) -> Self::Element {
        let oh = self.1.order().max(1);
        let index = index % self.order().max(1);
        (self.0.element(index / oh), self.1.element(index % oh))
    }

    /// `i_g |H| + i_h`, saturating at `usize::MAX`.
    fn index_of(&self, g: &Self::Element) -> usize {
        self.0
            .index_of(&g.0)
            .saturating_mul(self.1.order())
            .saturating_add(self.1.index_of(&g.1))
    }
}

impl<G: VectorAction, H: VectorAction> VectorAction for Product<G, H> {
    /// The length both factors accept: `H`'s (which acts first) if it has one, else `G`'s.
    fn vector_dim(&self) -> Option<usize> {
        self.1.vector_dim().or(self.0.vector_dim())
    }

    /// `g . (h . x)`: a group action only if the factors' actions commute.
    fn act_vector<T: Real>(&self, g: &Self::Element, x: &[T]) -> Result<Vec<T>> {
        self.0.act_vector(&g.0, &self.1.act_vector(&g.1, x)?)
    }
}

impl<G: PointAction, H: PointAction> PointAction for Product<G, H> {
    /// `g . (h . X)`: a group action only if the factors' actions commute.
    fn act_points<T: Real>(&self, g: &Self::Element, x: &Points<T>) -> Result<Points<T>> {
        self.0.act_points(&g.0, &self.1.act_points(&g.1, x)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cyclic::Cyclic;
    use crate::symmetric::Symmetric;
    use crate::translation::Translations;

    #[test]
    fn finite_product_indices_round_trip() {
        let g = Product(Cyclic::new(3).expect("n"), Symmetric::new(3).expect("n"));
        assert_eq!(g.order(), 18);
        for i in 0..18 {
            assert_eq!(g.index_of(&g.element(i)), i);
        }
        assert_eq!(g.element(0), g.identity());
        let perm = g.regular_permutation(&g.element(7));
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..18).collect::<Vec<_>>());
    }

    #[test]
    fn layout_distance_and_decode() {
        let g = Product(Cyclic::new(4).expect("n"), Cyclic::new(8).expect("n"));
        assert_eq!(g.name(), "C4 x C8");
        assert_eq!(g.layout().names, vec!["a.k", "b.k"]);
        assert_eq!(g.distance(&(0, 0), &(2, 3)), Some((4.0f64 + 9.0).sqrt()));
        assert_eq!(g.decode(&[3.0, 7.0]).expect("valid"), (3, 7));
        let err = g.decode(&[3.0, 8.0]).expect_err("out of range").to_string();
        assert!(
            err.contains("C4 x C8") && err.contains("second factor"),
            "{err}"
        );
        assert!(g.decode(&[3.0]).is_err());
        assert!(g.decode(&[f32::NAN, 1.0]).is_err());
        assert_eq!(g.test_elements().len(), 4 * 4);
    }

    #[test]
    fn translations_and_rotations_do_not_commute() {
        // T(2) x C4 acting on the same points is not an action: this is why E(n) is the
        // semidirect product Euclidean.
        let g = Product(
            Translations::new(2, 1.0).expect("valid"),
            Cyclic::new(4).expect("n"),
        );
        let a = (vec![1.0, 0.0], 1);
        let b = (vec![1.0, 0.0], 0);
        let x = Points::new(1, 2, vec![0.0f64, 0.0]).expect("shape");
        assert!(crate::laws::check_point_action(&g, &a, &b, &x, 1e-9).is_err());
        // S3 x C4 (rows and columns) commute and give an action.
        let g = Product(Symmetric::new(3).expect("n"), Cyclic::new(4).expect("n"));
        let s = g.0.permutation(vec![2, 0, 1]).expect("perm");
        let x = Points::new(3, 2, vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).expect("shape");
        crate::laws::check_point_action(&g, &(s.clone(), 1), &(s, 3), &x, 1e-12)
            .expect("commuting factors act");
    }
}
