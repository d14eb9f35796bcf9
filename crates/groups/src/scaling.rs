//! The scaling group: the positive reals under multiplication, parametrized by the log-scale.

use rand::Rng;

use crate::error::{GroupError, Result};
use crate::group::{Group, PointAction, VectorAction};
use crate::layout::ParamLayout;
use crate::points::Points;
use crate::real::Real;

/// The positive reals under multiplication, acting on vectors and point sets by uniform
/// scaling. An element is its log-scale `s` (`f64`); it scales by `e^s`.
///
/// - Composition adds log-scales (multiplies scales), the inverse negates, the identity is 0.
/// - Sampling: the group is not compact and has no Haar probability measure; `sample` draws
///   from the stated distribution `s ~ U[log_min, log_max]`, i.e. a log-uniform scale in
///   `[min_scale, max_scale]`.
/// - Layout `scaling.log_scale` v1: 1 float `[log_s]`.
/// - Distance: `|s1 - s2|` (the invariant metric `|ln(c1 / c2)|` on scales).
/// - Acts on vectors of any length and on point sets of any shape by multiplying every
///   coordinate by `e^s`.
///
/// ```
/// use noether_groups::{Group, Scaling, VectorAction};
/// let scaling = Scaling::new(0.5, 2.0)?;
/// let double = 2f64.ln();
/// let y = scaling.act_vector(&double, &[1.0f64, -3.0])?;
/// assert!((y[0] - 2.0).abs() < 1e-12 && (y[1] + 6.0).abs() < 1e-12);
/// assert_eq!(scaling.encode(&double), vec![double as f32]);
/// # Ok::<(), noether_groups::GroupError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scaling {
    log_min: f64,
    log_max: f64,
}

impl Scaling {
    /// The scaling group, sampling scales log-uniformly in `[min_scale, max_scale]`; errors
    /// unless `0 < min_scale <= max_scale` and both are finite.
    pub fn new(min_scale: f64, max_scale: f64) -> Result<Self> {
        let ok = min_scale.is_finite()
            && max_scale.is_finite()
            && min_scale > 0.0
            && min_scale <= max_scale;
        if !ok {
            return Err(GroupError::InvalidParameter {
                group: "Scaling".into(),
                param: "scale range".into(),
                reason: format!(
                    "need finite 0 < min_scale <= max_scale, got [{min_scale}, {max_scale}]"
                ),
            });
        }
        Ok(Self {
            log_min: min_scale.ln(),
            log_max: max_scale.ln(),
        })
    }

    /// Smallest log-scale sampled.
    pub fn log_min(&self) -> f64 {
        self.log_min
    }

    /// Largest log-scale sampled.
    pub fn log_max(&self) -> f64 {
        self.log_max
    }

    /// The scale factor `e^s` of the element `s`.
    pub fn scale(&self, s: f64) -> f64 {
        s.exp()
    }
}

impl Group for Scaling {
    type Element = f64;

    fn name(&self) -> String {
        "Scaling".into()
    }

    fn identity(&self) -> f64 {
        0.0
    }

    fn compose(&self, a: &f64, b: &f64) -> f64 {
        a + b
    }

    fn inverse(&self, a: &f64) -> f64 {
        -a
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        if self.log_min >= self.log_max {
            return self.log_min;
        }
        rng.random_range(self.log_min..=self.log_max)
    }

    fn sampling(&self) -> String {
        format!(
            "log-scale s ~ U[{}, {}] (scale log-uniform in [{}, {}]; no Haar probability measure)",
            self.log_min,
            self.log_max,
            self.log_min.exp(),
            self.log_max.exp()
        )
    }

    fn layout(&self) -> ParamLayout {
        ParamLayout::new("scaling.log_scale", 1, ["log_s"])
    }

    fn encode(&self, g: &f64) -> Vec<f32> {
        vec![*g as f32]
    }

    fn decode(&self, params: &[f32]) -> Result<f64> {
        self.layout().check(&self.name(), params)?;
        Ok(f64::from(params[0]))
    }

    fn distance(&self, a: &f64, b: &f64) -> Option<f64> {
        Some((a - b).abs())
    }

    fn approx_eq(&self, a: &f64, b: &f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    fn test_elements(&self) -> Vec<f64> {
        let mut out: Vec<f64> = Vec::new();
        for s in [0.0, 2f64.ln(), -2f64.ln(), self.log_min, self.log_max] {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

impl VectorAction for Scaling {
    fn vector_dim(&self) -> Option<usize> {
        None
    }

    /// `e^s x`, for vectors of any length.
    fn act_vector<T: Real>(&self, g: &f64, x: &[T]) -> Result<Vec<T>> {
        let c = T::from_f64(g.exp());
        Ok(x.iter().map(|&v| v * c).collect())
    }
}

impl PointAction for Scaling {
    /// `e^s X`, for point sets of any shape.
    fn act_points<T: Real>(&self, g: &f64, x: &Points<T>) -> Result<Points<T>> {
        let c = T::from_f64(g.exp());
        Ok(x.map_rows(|row| row.iter().map(|&v| v * c).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn doubling_twice_quadruples() {
        let g = Scaling::new(0.5, 2.0).expect("valid");
        let d = 2f64.ln();
        let x = Points::new(2, 1, vec![1.0f64, -0.5]).expect("shape");
        let y = g.act_points(&g.compose(&d, &d), &x).expect("any shape");
        assert!(y.max_abs_diff(&Points::new(2, 1, vec![4.0, -2.0]).expect("shape")) < 1e-12);
        assert_eq!(g.inverse(&d), -d);
        assert_eq!(g.distance(&d, &-d), Some(2.0 * d));
    }

    #[test]
    fn samples_stay_in_the_range() {
        let g = Scaling::new(0.5, 2.0).expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..1000 {
            let s = g.sample(&mut rng);
            assert!((g.log_min()..=g.log_max()).contains(&s));
            assert!((0.5..=2.0 + 1e-12).contains(&g.scale(s)));
        }
        let fixed = Scaling::new(3.0, 3.0).expect("a point range is valid");
        assert_eq!(fixed.sample(&mut rng), 3f64.ln());
    }

    #[test]
    fn bad_inputs_are_errors() {
        for (lo, hi) in [
            (0.0, 1.0),
            (-1.0, 1.0),
            (2.0, 1.0),
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
        ] {
            let err = Scaling::new(lo, hi).expect_err("invalid range").to_string();
            assert!(err.contains("Scaling"), "{err}");
        }
        let g = Scaling::new(0.5, 2.0).expect("valid");
        let err = g.decode(&[f32::NAN]).expect_err("nan").to_string();
        assert!(
            err.contains("Scaling") && err.contains("scaling.log_scale"),
            "{err}"
        );
        assert!(g.decode(&[0.0, 1.0]).is_err());
        assert!(g.decode(&[]).is_err());
    }
}
