//! VICReg (Bardes, Ponce & LeCun 2022, arXiv 2105.04906): variance, invariance and covariance
//! regularisation of two batches of embeddings `z, z'` (`N x d`):
//!
//! - invariance `s(z, z') = mean_{n,j} (z_nj - z'_nj)^2` (`F.mse_loss`);
//! - variance `v(z) = mean_j ReLU(1 - sqrt(Var(z_j) + 1e-4))`, `Var` unbiased (`N - 1`);
//! - covariance `c(z) = sum_{i != j} C(z)_ij^2 / d` with the covariance matrix
//!   `C(z) = (z - mean z)^T (z - mean z) / (N - 1)`;
//! - total `lambda s + mu V + nu C` with `lambda = mu = 25`, `nu = 1`.
//!
//! The paper writes the variance part as `mu [v(z) + v(z')]`; the official code
//! (`facebookresearch/vicreg`, `main_vicreg.py`), whose numbers the defaults were tuned with,
//! computes `std_loss = v(z) / 2 + v(z') / 2`. We follow the code: [`VicRegTerms::variance`] is
//! `[v(z) + v(z')] / 2` and [`VicRegTerms::covariance`] is `c(z) + c(z')` (as in both). The
//! SIE reference uses the same forms ([`crate::sie_loss`]).

use candle_core::{Result, Tensor};

use crate::check;
use crate::regression::mse;
use crate::similarity::off_diagonal_mask;

/// The `eps` added to the variance before the square root in [`variance_term`].
pub const VARIANCE_EPS: f64 = 1e-4;

/// Weights of the three VICReg terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VicRegWeights {
    /// `lambda`, on the invariance term (25).
    pub invariance: f64,
    /// `mu`, on the variance term (25).
    pub variance: f64,
    /// `nu`, on the covariance term (1).
    pub covariance: f64,
}

impl Default for VicRegWeights {
    /// The paper's `lambda = mu = 25`, `nu = 1`.
    fn default() -> Self {
        VicRegWeights {
            invariance: 25.0,
            variance: 25.0,
            covariance: 1.0,
        }
    }
}

/// The VICReg terms, unweighted, and their weighted sum; every field is a scalar tensor.
#[derive(Debug, Clone)]
pub struct VicRegTerms {
    /// `s(z, z')`, the mean squared difference of the two views.
    pub invariance: Tensor,
    /// `[v(z) + v(z')] / 2` (the reference code's `std_loss`).
    pub variance: Tensor,
    /// `c(z) + c(z')`.
    pub covariance: Tensor,
    /// `lambda * invariance + mu * variance + nu * covariance`: the loss to minimise.
    pub total: Tensor,
}

/// `v(z) = mean_j ReLU(1 - sqrt(Var(z_j) + 1e-4))`, unbiased variance over the batch.
///
/// Shapes: `z` is `(N, d)` with `N >= 2`; the result is a scalar.
pub fn variance_term(z: &Tensor) -> Result<Tensor> {
    check::matrix("variance_term", "z", z, 2)?;
    let std = (z.var_keepdim(0)? + VARIANCE_EPS)?.sqrt()?; // (1, d)
    noether_ops::relu(&std.affine(-1.0, 1.0)?)?.mean_all()
}

/// `c(z) = sum_{i != j} C(z)_ij^2 / d` with `C(z)` the covariance of the batch (centred,
/// divided by `N - 1`).
///
/// Shapes: `z` is `(N, d)` with `N >= 2`; the result is a scalar.
pub fn covariance_term(z: &Tensor) -> Result<Tensor> {
    let (n, d) = check::matrix("covariance_term", "z", z, 2)?;
    let zc = z.broadcast_sub(&z.mean_keepdim(0)?)?;
    let cov = (zc.t()?.matmul(&zc)? / (n - 1) as f64)?; // (d, d)
    let off = off_diagonal_mask(d, z.device())?.to_dtype(z.dtype())?;
    (cov.sqr()? * off)?.sum_all()? / d as f64
}

/// The VICReg loss of two batches of embeddings, each term returned separately.
///
/// Shapes: `z1` and `z2` are `(N, d)` with `N >= 2`, row `i` of both from the same image;
/// every field of the result is a scalar.
pub fn vicreg_loss(z1: &Tensor, z2: &Tensor, weights: &VicRegWeights) -> Result<VicRegTerms> {
    let func = "vicreg_loss";
    check::matrix(func, "z1", z1, 2)?;
    check::like(func, "z1", z1, "z2", z2)?;
    check::weight(func, "invariance", weights.invariance)?;
    check::weight(func, "variance", weights.variance)?;
    check::weight(func, "covariance", weights.covariance)?;
    let invariance = mse(z1, z2)?;
    let variance = ((variance_term(z1)? + variance_term(z2)?)? * 0.5)?;
    let covariance = (covariance_term(z1)? + covariance_term(z2)?)?;
    let total = ((&invariance * weights.invariance)?
        + (&variance * weights.variance)?
        + (&covariance * weights.covariance)?)?;
    Ok(VicRegTerms {
        invariance,
        variance,
        covariance,
        total,
    })
}
