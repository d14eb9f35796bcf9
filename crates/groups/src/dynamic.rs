//! Groups chosen at run time: [`DynGroup`], an object-safe view of any [`Group`] that works on
//! parameter vectors, and [`DynProduct`], the direct product of two of them.
//!
//! Experiment files and the CLI name groups as text (`"SO(3)"`, `"D4"`, `"S5 x O(3)"`, see
//! [`crate::parse_group`]); what they get back is a `Box<dyn DynGroup>` whose elements are
//! their parameter vectors, in the group's documented layout.

use rand::RngCore;

use crate::error::Result;
use crate::group::Group;
use crate::laws::check_group_laws;
use crate::layout::ParamLayout;

/// A group whose elements are handled as their parameter vectors, usable as a trait object.
///
/// Every [`Group`] is a `DynGroup`. Operations decode their inputs (so malformed vectors give
/// the group's [`crate::GroupError::Decode`]), work on the typed elements and encode the
/// result; a round trip through `f32` loses about 1e-7 of precision per step.
pub trait DynGroup: Send + Sync {
    /// The group's name.
    fn name(&self) -> String;
    /// The parameter layout.
    fn layout(&self) -> ParamLayout;
    /// The sampling distribution, in words.
    fn sampling(&self) -> String;
    /// The identity's parameters.
    fn identity_params(&self) -> Vec<f32>;
    /// A sample's parameters.
    fn sample_params(&self, rng: &mut dyn RngCore) -> Vec<f32>;
    /// Parameters of the product `a b`.
    fn compose_params(&self, a: &[f32], b: &[f32]) -> Result<Vec<f32>>;
    /// Parameters of the inverse.
    fn inverse_params(&self, a: &[f32]) -> Result<Vec<f32>>;
    /// The distance between two elements where the group has one.
    fn distance_params(&self, a: &[f32], b: &[f32]) -> Result<Option<f64>>;
    /// Parameters of the test elements.
    fn test_params(&self) -> Vec<Vec<f32>>;
    /// Checks identity, inverse, associativity and the encode / decode round trip on
    /// `samples` triples of sampled elements and on the test elements, up to `tol`.
    fn check_laws(&self, rng: &mut dyn RngCore, samples: usize, tol: f64) -> Result<(), String>;
}

impl<G: Group + Send + Sync> DynGroup for G {
    fn name(&self) -> String {
        Group::name(self)
    }

    fn layout(&self) -> ParamLayout {
        Group::layout(self)
    }

    fn sampling(&self) -> String {
        Group::sampling(self)
    }

    fn identity_params(&self) -> Vec<f32> {
        self.encode(&self.identity())
    }

    fn sample_params(&self, rng: &mut dyn RngCore) -> Vec<f32> {
        self.encode(&self.sample(rng))
    }

    fn compose_params(&self, a: &[f32], b: &[f32]) -> Result<Vec<f32>> {
        Ok(self.encode(&self.compose(&self.decode(a)?, &self.decode(b)?)))
    }

    fn inverse_params(&self, a: &[f32]) -> Result<Vec<f32>> {
        Ok(self.encode(&self.inverse(&self.decode(a)?)))
    }

    fn distance_params(&self, a: &[f32], b: &[f32]) -> Result<Option<f64>> {
        Ok(self.distance(&self.decode(a)?, &self.decode(b)?))
    }

    fn test_params(&self) -> Vec<Vec<f32>> {
        self.test_elements()
            .iter()
            .map(|g| self.encode(g))
            .collect()
    }

    fn check_laws(&self, rng: &mut dyn RngCore, samples: usize, tol: f64) -> Result<(), String> {
        for _ in 0..samples {
            let (a, b, c) = (self.sample(rng), self.sample(rng), self.sample(rng));
            check_group_laws(self, &a, &b, &c, tol)?;
        }
        let tests = self.test_elements();
        for a in &tests {
            for b in &tests {
                check_group_laws(self, a, b, &self.sample(rng), tol)?;
            }
        }
        Ok(())
    }
}

/// The direct product of two run-time groups; elements are the concatenation of the factors'
/// parameter vectors (layout [`ParamLayout::product`]).
pub struct DynProduct {
    a: Box<dyn DynGroup>,
    b: Box<dyn DynGroup>,
}

impl DynProduct {
    /// `a x b`.
    pub fn new(a: Box<dyn DynGroup>, b: Box<dyn DynGroup>) -> Self {
        Self { a, b }
    }

    /// Splits a product vector into the factors' vectors, after checking its length.
    fn split<'p>(&self, params: &'p [f32]) -> Result<(&'p [f32], &'p [f32])> {
        self.layout().check(&self.name(), params)?;
        Ok(params.split_at(self.a.layout().len()))
    }
}

impl DynGroup for DynProduct {
    fn name(&self) -> String {
        format!("{} x {}", self.a.name(), self.b.name())
    }

    fn layout(&self) -> ParamLayout {
        self.a.layout().product(&self.b.layout())
    }

    fn sampling(&self) -> String {
        format!("independent: {}; {}", self.a.sampling(), self.b.sampling())
    }

    fn identity_params(&self) -> Vec<f32> {
        [self.a.identity_params(), self.b.identity_params()].concat()
    }

    fn sample_params(&self, rng: &mut dyn RngCore) -> Vec<f32> {
        let first = self.a.sample_params(rng);
        [first, self.b.sample_params(rng)].concat()
    }

    fn compose_params(&self, x: &[f32], y: &[f32]) -> Result<Vec<f32>> {
        let ((xa, xb), (ya, yb)) = (self.split(x)?, self.split(y)?);
        Ok([
            self.a.compose_params(xa, ya)?,
            self.b.compose_params(xb, yb)?,
        ]
        .concat())
    }

    fn inverse_params(&self, x: &[f32]) -> Result<Vec<f32>> {
        let (xa, xb) = self.split(x)?;
        Ok([self.a.inverse_params(xa)?, self.b.inverse_params(xb)?].concat())
    }

    fn distance_params(&self, x: &[f32], y: &[f32]) -> Result<Option<f64>> {
        let ((xa, xb), (ya, yb)) = (self.split(x)?, self.split(y)?);
        let (da, db) = (
            self.a.distance_params(xa, ya)?,
            self.b.distance_params(xb, yb)?,
        );
        Ok(da.zip(db).map(|(p, q)| p.hypot(q)))
    }

    fn test_params(&self) -> Vec<Vec<f32>> {
        let (ta, tb) = (self.a.test_params(), self.b.test_params());
        ta.iter()
            .flat_map(|p| tb.iter().map(move |q| [p.clone(), q.clone()].concat()))
            .collect()
    }

    /// The laws of a direct product follow from its factors' laws; each factor is checked.
    fn check_laws(&self, rng: &mut dyn RngCore, samples: usize, tol: f64) -> Result<(), String> {
        self.a.check_laws(rng, samples, tol)?;
        self.b.check_laws(rng, samples, tol)
    }
}
