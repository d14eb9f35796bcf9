//! The translation group T(d) of `R^d`.

use rand::Rng;
use rand_distr::StandardNormal;

use crate::error::{GroupError, Result};
use crate::group::{Group, PointAction, VectorAction, check_dim};
use crate::layout::ParamLayout;
use crate::points::Points;
use crate::real::Real;

/// Checks that a standard deviation is finite and non-negative; the error names `group`.
pub(crate) fn check_std(group: &str, std: f64) -> Result<()> {
    if !std.is_finite() || std < 0.0 {
        return Err(GroupError::InvalidParameter {
            group: group.into(),
            param: "std".into(),
            reason: format!("the standard deviation must be finite and >= 0, got {std}"),
        });
    }
    Ok(())
}

/// Draws `d` independent `N(0, std^2)` values.
pub(crate) fn gaussian_vector<R: Rng + ?Sized>(rng: &mut R, d: usize, std: f64) -> Vec<f64> {
    (0..d)
        .map(|_| std * rng.sample::<f64, _>(StandardNormal))
        .collect()
}

/// T(d), the translations of `R^d`, `d >= 1`. Elements are vectors `t` of length `d`
/// (`Vec<f64>`).
///
/// - Composition adds (`compose(s, t) = s + t`), the inverse negates, the identity is 0.
/// - Sampling: T(d) is not compact and has no Haar probability measure; `sample` draws from the
///   stated distribution `N(0, std^2 I_d)`, with `std` fixed at construction.
/// - Layout `translation.vector` v1: `d` floats `[t0, ..., t{d-1}]`.
/// - Distance: Euclidean, `|s - t|`.
/// - Acts on vectors of length `d` by `x -> x + t` and on point sets with `d` columns by
///   adding `t` to every row (any number of rows).
///
/// Elements of another length are read as vectors of `R^d` padded with zeros (extra
/// coordinates are kept by composition and ignored by encoding and the actions).
///
/// ```
/// use noether_groups::{Group, Translations, VectorAction};
/// let t2 = Translations::new(2, 1.0)?;
/// let t = vec![1.0, -2.0];
/// assert_eq!(t2.act_vector(&t, &[0.5f64, 0.5])?, vec![1.5, -1.5]);
/// assert_eq!(t2.compose(&t, &t2.inverse(&t)), t2.identity());
/// # Ok::<(), noether_groups::GroupError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Translations {
    dim: usize,
    std: f64,
}

impl Translations {
    /// T(d) with sampling distribution `N(0, std^2 I_d)`; errors if `dim == 0` or `std` is
    /// negative or not finite.
    pub fn new(dim: usize, std: f64) -> Result<Self> {
        if dim == 0 {
            return Err(GroupError::InvalidParameter {
                group: "T(d)".into(),
                param: "dim".into(),
                reason: "the dimension must be at least 1".into(),
            });
        }
        check_std(&format!("T({dim})"), std)?;
        Ok(Self { dim, std })
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The standard deviation of the sampling distribution.
    pub fn std(&self) -> f64 {
        self.std
    }

    /// Coordinate `j` of `t`, 0 past its length.
    fn coord(t: &[f64], j: usize) -> f64 {
        t.get(j).copied().unwrap_or(0.0)
    }

    /// The first `d` coordinates of `t` converted to `T`, zero-padded.
    fn shift<T: Real>(&self, t: &[f64]) -> Vec<T> {
        (0..self.dim)
            .map(|j| T::from_f64(Self::coord(t, j)))
            .collect()
    }
}

impl Group for Translations {
    type Element = Vec<f64>;

    fn name(&self) -> String {
        format!("T({})", self.dim)
    }

    fn identity(&self) -> Vec<f64> {
        vec![0.0; self.dim]
    }

    fn compose(&self, a: &Vec<f64>, b: &Vec<f64>) -> Vec<f64> {
        let m = self.dim.max(a.len()).max(b.len());
        (0..m)
            .map(|j| Self::coord(a, j) + Self::coord(b, j))
            .collect()
    }

    fn inverse(&self, a: &Vec<f64>) -> Vec<f64> {
        let m = self.dim.max(a.len());
        (0..m).map(|j| -Self::coord(a, j)).collect()
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        gaussian_vector(rng, self.dim, self.std)
    }

    fn sampling(&self) -> String {
        format!(
            "N(0, {}^2 I_{}) (T(d) has no Haar probability measure)",
            self.std, self.dim
        )
    }

    fn layout(&self) -> ParamLayout {
        ParamLayout::new(
            "translation.vector",
            1,
            (0..self.dim).map(|j| format!("t{j}")),
        )
    }

    fn encode(&self, g: &Vec<f64>) -> Vec<f32> {
        (0..self.dim).map(|j| Self::coord(g, j) as f32).collect()
    }

    fn decode(&self, params: &[f32]) -> Result<Vec<f64>> {
        self.layout().check(&self.name(), params)?;
        Ok(params.iter().map(|&v| f64::from(v)).collect())
    }

    fn distance(&self, a: &Vec<f64>, b: &Vec<f64>) -> Option<f64> {
        let m = self.dim.max(a.len()).max(b.len());
        Some(
            (0..m)
                .map(|j| (Self::coord(a, j) - Self::coord(b, j)).powi(2))
                .sum::<f64>()
                .sqrt(),
        )
    }

    fn approx_eq(&self, a: &Vec<f64>, b: &Vec<f64>, tol: f64) -> bool {
        let m = self.dim.max(a.len()).max(b.len());
        (0..m).all(|j| (Self::coord(a, j) - Self::coord(b, j)).abs() <= tol)
    }

    fn test_elements(&self) -> Vec<Vec<f64>> {
        let d = self.dim;
        let unit = (0..d).map(|j| if j == 0 { 1.0 } else { 0.0 }).collect();
        let last = (0..d)
            .map(|j| if j == d - 1 { -2.5 } else { 0.0 })
            .collect();
        let mixed = (0..d).map(|j| 0.5 - 0.75 * j as f64).collect();
        let mut out = vec![self.identity()];
        for t in [unit, last, mixed] {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

impl VectorAction for Translations {
    fn vector_dim(&self) -> Option<usize> {
        Some(self.dim)
    }

    /// `x + t`; errors unless `x` has length `d`.
    fn act_vector<T: Real>(&self, g: &Vec<f64>, x: &[T]) -> Result<Vec<T>> {
        check_dim(&self.name(), "vector", self.dim, x.len())?;
        Ok(x.iter()
            .zip(self.shift::<T>(g))
            .map(|(&v, s)| v + s)
            .collect())
    }
}

impl PointAction for Translations {
    /// Adds `t` to every row; errors unless `X` has `d` columns.
    fn act_points<T: Real>(&self, g: &Vec<f64>, x: &Points<T>) -> Result<Points<T>> {
        check_dim(&self.name(), "point set columns", self.dim, x.cols())?;
        let shift = self.shift::<T>(g);
        Ok(x.map_rows(|row| row.iter().zip(&shift).map(|(&v, &s)| v + s).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn translations_add_and_shift_every_row() {
        let t3 = Translations::new(3, 1.0).expect("valid");
        let a = vec![1.0, 2.0, 3.0];
        let b = vec![-1.0, 0.5, 0.0];
        assert_eq!(t3.compose(&a, &b), vec![0.0, 2.5, 3.0]);
        assert_eq!(t3.inverse(&a), vec![-1.0, -2.0, -3.0]);
        assert_eq!(t3.distance(&a, &b), Some((4.0f64 + 2.25 + 9.0).sqrt()));
        let x = Points::new(2, 3, vec![0.0f32, 0.0, 0.0, 1.0, 1.0, 1.0]).expect("shape");
        let y = t3.act_points(&a, &x).expect("3 columns");
        assert_eq!(y.data(), &[1.0, 2.0, 3.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn sampling_has_the_stated_spread() {
        let t1 = Translations::new(1, 2.0).expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let xs: Vec<f64> = (0..20_000).map(|_| t1.sample(&mut rng)[0]).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.05, "{var}");
        let t0 = Translations::new(2, 0.0).expect("std 0 is allowed");
        assert_eq!(t0.sample(&mut rng), vec![0.0, 0.0]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(Translations::new(0, 1.0).is_err());
        let err = Translations::new(2, -1.0)
            .expect_err("negative")
            .to_string();
        assert!(err.contains("T(2)") && err.contains("std"), "{err}");
        assert!(Translations::new(2, f64::NAN).is_err());
        assert!(Translations::new(2, f64::INFINITY).is_err());
        let t2 = Translations::new(2, 1.0).expect("valid");
        let err = t2.decode(&[1.0]).expect_err("short").to_string();
        assert!(
            err.contains("T(2)") && err.contains("translation.vector"),
            "{err}"
        );
        assert!(t2.decode(&[1.0, f32::INFINITY]).is_err());
        assert!(t2.act_vector(&vec![0.0, 0.0], &[1.0f64, 2.0, 3.0]).is_err());
        let x = Points::new(1, 3, vec![0.0f64; 3]).expect("shape");
        assert!(t2.act_points(&vec![0.0, 0.0], &x).is_err());
    }
}
