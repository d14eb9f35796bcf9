//! The orthogonal groups O(n) and SO(n) as `n x n` matrices, with Haar sampling by QR of a
//! Gaussian matrix and the sign fix of Mezzadri (2006).

use nalgebra::DMatrix;
use rand::Rng;
use rand_distr::StandardNormal;

use crate::error::{GroupError, Result};
use crate::group::{Group, LinearGroup, impl_linear_actions};
use crate::layout::ParamLayout;

/// Tolerance of [`Orthogonal::decode`] on `max |M^T M - I|`: generous enough for matrices that
/// went through `f32`, tight enough to reject anything that is not a rotation or reflection.
const ORTHOGONALITY_TOL: f64 = 1e-4;

/// O(n) (all orthogonal matrices) or SO(n) (those of determinant +1), for any `n >= 1`.
///
/// Elements are row-major `n x n` matrices (`Vec<f64>` of length `n^2`).
/// - Sampling: Haar. A Gaussian matrix `Z = Q R` is factored by QR and `Q diag(sign(diag R))`
///   is returned (Mezzadri, "How to generate random matrices from the classical compact
///   groups", 2006: without the sign fix the result depends on the QR implementation and is
///   not Haar). For SO(n), a sample with determinant -1 has its first column negated, a
///   bijection of the two cosets that preserves the Haar measure.
/// - Layout `orthogonal.matrix` v1 (`special_orthogonal.matrix` v1 for SO(n)): `n^2` floats,
///   the matrix row-major, names `m00, m01, ...`. Decoding checks orthogonality
///   (`max |M^T M - I| <= 1e-4`) and, for SO(n), a positive determinant, then projects onto
///   the group exactly (polar factor `U V^T` of the SVD) so that composing decoded elements
///   does not drift.
/// - Distance: chordal, the Frobenius norm `||A - B||_F` (bi-invariant).
///
/// The compact 2-D and 3-D groups have their own types with smaller encodings
/// ([`crate::SO2`], [`crate::O2`], [`crate::SO3`], [`crate::O3`]); this type serves every `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Orthogonal {
    n: usize,
    special: bool,
}

impl Orthogonal {
    /// O(n), `n >= 1`.
    pub fn new(n: usize) -> Result<Self> {
        Self::checked(n, false)
    }

    /// SO(n), `n >= 1`.
    pub fn special(n: usize) -> Result<Self> {
        Self::checked(n, true)
    }

    fn checked(n: usize, special: bool) -> Result<Self> {
        if n == 0 {
            return Err(GroupError::InvalidParameter {
                group: if special { "SO(n)" } else { "O(n)" }.into(),
                param: "n".into(),
                reason: "the dimension must be at least 1".into(),
            });
        }
        Ok(Self { n, special })
    }

    /// The dimension n.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Whether this is SO(n).
    pub fn is_special(&self) -> bool {
        self.special
    }

    fn matrix_of(&self, m: &[f64]) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.n, self.n, m)
    }

    fn rows_of(m: &DMatrix<f64>) -> Vec<f64> {
        m.transpose().as_slice().to_vec()
    }

    fn identity_matrix(&self) -> Vec<f64> {
        Self::rows_of(&DMatrix::identity(self.n, self.n))
    }
}

/// Makes the factor `Q` of a QR decomposition `Z = Q R` unique by negating the columns `j`
/// where `R[j, j] < 0`, i.e. returns `Q diag(sign(diag R))`. For Gaussian `Z` the result is
/// Haar on O(n) whatever sign convention the QR routine follows (nalgebra 0.35's already
/// gives `R` a non-negative diagonal, LAPACK's does not; the fix keeps us independent of it).
fn mezzadri_sign_fix(mut q: DMatrix<f64>, r: &DMatrix<f64>) -> DMatrix<f64> {
    for j in 0..q.ncols() {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    q
}

impl Group for Orthogonal {
    type Element = Vec<f64>;

    fn name(&self) -> String {
        format!("{}O({})", if self.special { "S" } else { "" }, self.n)
    }

    fn identity(&self) -> Vec<f64> {
        self.identity_matrix()
    }

    fn compose(&self, a: &Vec<f64>, b: &Vec<f64>) -> Vec<f64> {
        Self::rows_of(&(self.matrix_of(a) * self.matrix_of(b)))
    }

    fn inverse(&self, a: &Vec<f64>) -> Vec<f64> {
        Self::rows_of(&self.matrix_of(a).transpose())
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let n = self.n;
        let z = DMatrix::<f64>::from_fn(n, n, |_, _| rng.sample(StandardNormal));
        let qr = z.qr();
        let mut q = mezzadri_sign_fix(qr.q(), &qr.r());
        if self.special && q.determinant() < 0.0 {
            q.column_mut(0).neg_mut();
        }
        Self::rows_of(&q)
    }

    fn sampling(&self) -> String {
        "Haar (QR of a Gaussian matrix with the Mezzadri sign fix)".into()
    }

    fn layout(&self) -> ParamLayout {
        let id = if self.special {
            "special_orthogonal.matrix"
        } else {
            "orthogonal.matrix"
        };
        let names = (0..self.n).flat_map(|i| (0..self.n).map(move |j| format!("m{i}{j}")));
        ParamLayout::new(id, 1, names)
    }

    fn encode(&self, g: &Vec<f64>) -> Vec<f32> {
        g.iter().map(|&v| v as f32).collect()
    }

    fn decode(&self, params: &[f32]) -> Result<Vec<f64>> {
        let (name, layout) = (self.name(), self.layout());
        layout.check(&name, params)?;
        let m = DMatrix::from_row_iterator(self.n, self.n, params.iter().map(|&v| f64::from(v)));
        let err = (m.transpose() * &m - DMatrix::identity(self.n, self.n))
            .abs()
            .max();
        if err > ORTHOGONALITY_TOL {
            return Err(layout.decode_error(
                &name,
                format!("not orthogonal: max |M^T M - I| = {err:.2e} > {ORTHOGONALITY_TOL:e}"),
            ));
        }
        let det = m.determinant();
        if self.special && det < 0.0 {
            return Err(layout.decode_error(&name, format!("determinant {det:.4} is not +1")));
        }
        let svd = m.svd(true, true);
        let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
            return Err(layout.decode_error(&name, "the SVD did not converge"));
        };
        Ok(Self::rows_of(&(u * v_t)))
    }

    fn distance(&self, a: &Vec<f64>, b: &Vec<f64>) -> Option<f64> {
        Some(
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
                .sqrt(),
        )
    }

    fn approx_eq(&self, a: &Vec<f64>, b: &Vec<f64>, tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    fn test_elements(&self) -> Vec<Vec<f64>> {
        let n = self.n;
        let mut out = vec![self.identity_matrix()];
        if n >= 2 {
            // A quarter turn in the (0, 1) plane.
            let mut m = DMatrix::<f64>::identity(n, n);
            m[(0, 0)] = 0.0;
            m[(1, 1)] = 0.0;
            m[(0, 1)] = -1.0;
            m[(1, 0)] = 1.0;
            out.push(Self::rows_of(&m));
        }
        // The cyclic shift of coordinates (determinant (-1)^(n-1)).
        let shift = DMatrix::<f64>::from_fn(n, n, |i, j| f64::from(u8::from((j + 1) % n == i)));
        if !self.special || n % 2 == 1 {
            out.push(Self::rows_of(&shift));
        }
        if !self.special {
            // A reflection, and -I.
            let mut reflection = DMatrix::<f64>::identity(n, n);
            reflection[(0, 0)] = -1.0;
            out.push(Self::rows_of(&reflection));
            out.push(Self::rows_of(&(-DMatrix::<f64>::identity(n, n))));
        }
        out
    }
}

impl LinearGroup for Orthogonal {
    fn dim(&self) -> usize {
        self.n
    }

    fn matrix(&self, g: &Vec<f64>) -> Vec<f64> {
        g.clone()
    }
}

impl_linear_actions!(Orthogonal);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn det(group: &Orthogonal, m: &[f64]) -> f64 {
        group.matrix_of(m).determinant()
    }

    #[test]
    fn samples_are_orthogonal_and_special_ones_have_det_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in 1..6 {
            let so = Orthogonal::special(n).unwrap();
            for _ in 0..20 {
                let m = so.sample(&mut rng);
                assert!((det(&so, &m) - 1.0).abs() < 1e-9);
                let back = so.decode(&so.encode(&m)).unwrap();
                assert!(so.approx_eq(&back, &m, 1e-6));
            }
        }
    }

    #[test]
    fn sign_fix_makes_q_independent_of_the_qr_convention() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let z = DMatrix::<f64>::from_fn(4, 4, |_, _| rng.sample(StandardNormal));
        let qr = z.clone().qr();
        let (q, r) = (qr.q(), qr.r());
        // Another valid decomposition Z = (Q D)(D R) with D = diag(1, -1, -1, 1).
        let d = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![1.0, -1.0, -1.0, 1.0]));
        let (q2, r2) = (&q * &d, &d * &r);
        assert!(((&q2 * &r2) - &z).abs().max() < 1e-12);
        let fixed = mezzadri_sign_fix(q.clone(), &r);
        let fixed2 = mezzadri_sign_fix(q2, &r2);
        assert!((fixed - fixed2).abs().max() < 1e-12);
    }

    #[test]
    fn test_elements_belong_to_the_group() {
        for n in 1..5 {
            for group in [Orthogonal::new(n).unwrap(), Orthogonal::special(n).unwrap()] {
                for m in group.test_elements() {
                    let params = group.encode(&m);
                    assert!(group.decode(&params).is_ok(), "{}: {m:?}", group.name());
                }
            }
        }
    }

    #[test]
    fn decode_rejects_non_orthogonal_and_reflections_in_so() {
        let so2 = Orthogonal::special(2).unwrap();
        let err = so2.decode(&[1.0, 0.0, 0.0, -1.0]).unwrap_err().to_string();
        assert!(
            err.contains("SO(2)") && err.contains("determinant"),
            "{err}"
        );
        let err = so2.decode(&[1.0, 0.1, 0.0, 1.0]).unwrap_err().to_string();
        assert!(
            err.contains("not orthogonal") && err.contains("special_orthogonal.matrix"),
            "{err}"
        );
        assert!(so2.decode(&[1.0, 0.0, 0.0]).is_err());
        assert!(Orthogonal::new(0).is_err());
    }
}
