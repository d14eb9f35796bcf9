//! The SIE loss (Garrido, Najman & LeCun, "Self-supervised learning of Split Invariant
//! Equivariant representations", arXiv 2302.10283), exactly as `SIE.forward` in the reference
//! code (`facebookresearch/SIE`, `src/models.py`):
//!
//! `L = 10 MSE(u, u') + 4.5 MSE(yhat, v') + 10 V(x, x') + 10 V_pred(yhat) + 1 C(x, x')`
//!
//! with `u, u'` the invariant and `v, v'` the equivariant embeddings of views 1 and 2,
//! `yhat = pred(v, a)` the prediction of `v'` from `v` and the action `a`, `x = [u | v]` and
//! `x' = [u' | v']` the concatenated embeddings, and the VICReg forms of [`crate::vicreg`]:
//!
//! - `V(x, x') = v(x) / 2 + v(x') / 2` (the code's `std_loss`);
//! - `V_pred(yhat) = v(yhat) / 2` (the code's `pred_std_loss`; the `/ 2` is in the code);
//! - `C(x, x') = c(x) + c(x')` over the full concatenated dimension.
//!
//! The weights are the reference command's `--sim-coeff 10 --std-coeff 10 --cov-coeff 1
//! --equi-factor 0.45` (`4.5 = 0.45 * 10`).

use candle_core::{Result, Tensor};

use crate::check;
use crate::regression::mse;
use crate::vicreg::{covariance_term, variance_term};

/// Weights of the SIE terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SieWeights {
    /// On `MSE(u, u')` (`sim_coeff` = 10).
    pub invariance: f64,
    /// On `MSE(yhat, v')` (`equi_factor * sim_coeff` = 4.5).
    pub equivariance: f64,
    /// On the variance of the concatenated embeddings (`std_coeff` = 10).
    pub variance: f64,
    /// On the variance of the predictions (`std_coeff` = 10).
    pub prediction_variance: f64,
    /// On the covariance of the concatenated embeddings (`cov_coeff` = 1).
    pub covariance: f64,
}

impl Default for SieWeights {
    /// The SIE paper's reference settings: 10, 4.5, 10, 10, 1.
    fn default() -> Self {
        SieWeights {
            invariance: 10.0,
            equivariance: 4.5,
            variance: 10.0,
            prediction_variance: 10.0,
            covariance: 1.0,
        }
    }
}

/// The SIE terms, unweighted, and their weighted sum; every field is a scalar tensor.
#[derive(Debug, Clone)]
pub struct SieTerms {
    /// `MSE(u, u')`, the invariance of the invariant part.
    pub invariance: Tensor,
    /// `MSE(yhat, v')`, how well the predictor maps view 1 to view 2 in the equivariant part.
    pub equivariance: Tensor,
    /// `v([u | v]) / 2 + v([u' | v']) / 2`.
    pub variance: Tensor,
    /// `v(yhat) / 2`.
    pub prediction_variance: Tensor,
    /// `c([u | v]) + c([u' | v'])`.
    pub covariance: Tensor,
    /// The weighted sum: the loss to minimise.
    pub total: Tensor,
}

/// The SIE loss, each term returned separately.
///
/// Shapes: `inv1`, `inv2` (invariant embeddings `u`, `u'`) are `(N, d_inv)`; `equi1`, `equi2`
/// (equivariant embeddings `v`, `v'`) and `equi2_pred` (the predictor's `yhat` from `v` and the
/// action) are `(N, d_equi)`; `N >= 2`; every field of the result is a scalar.
pub fn sie_loss(
    inv1: &Tensor,
    inv2: &Tensor,
    equi1: &Tensor,
    equi2: &Tensor,
    equi2_pred: &Tensor,
    weights: &SieWeights,
) -> Result<SieTerms> {
    let func = "sie_loss";
    let (n, _) = check::matrix(func, "inv1", inv1, 2)?;
    check::like(func, "inv1", inv1, "inv2", inv2)?;
    let (ne, _) = check::matrix(func, "equi1", equi1, 2)?;
    if ne != n {
        candle_core::bail!("{func}: `equi1` must have {n} rows like `inv1`, got {ne}");
    }
    check::same_kind(func, "inv1", inv1, "equi1", equi1)?;
    check::like(func, "equi1", equi1, "equi2", equi2)?;
    check::like(func, "equi1", equi1, "equi2_pred", equi2_pred)?;
    for (name, w) in [
        ("invariance", weights.invariance),
        ("equivariance", weights.equivariance),
        ("variance", weights.variance),
        ("prediction_variance", weights.prediction_variance),
        ("covariance", weights.covariance),
    ] {
        check::weight(func, name, w)?;
    }
    let invariance = mse(inv1, inv2)?;
    let equivariance = mse(equi2_pred, equi2)?;
    let x1 = Tensor::cat(&[inv1, equi1], 1)?;
    let x2 = Tensor::cat(&[inv2, equi2], 1)?;
    let variance = ((variance_term(&x1)? + variance_term(&x2)?)? * 0.5)?;
    let prediction_variance = (variance_term(equi2_pred)? * 0.5)?;
    let covariance = (covariance_term(&x1)? + covariance_term(&x2)?)?;
    let total = ((&invariance * weights.invariance)?
        + (&equivariance * weights.equivariance)?
        + (&variance * weights.variance)?
        + (&prediction_variance * weights.prediction_variance)?
        + (&covariance * weights.covariance)?)?;
    Ok(SieTerms {
        invariance,
        equivariance,
        variance,
        prediction_variance,
        covariance,
        total,
    })
}
