//! Coefficient of determination R² as the 3DIEBench reference code computes it
//! (Garrido et al. 2023, arXiv 2302.10283, `facebookresearch/SIE` `eval_angle_prediction.py`;
//! notes: `papers/sie_3diebench.md`, "Metrics"):
//!
//! `R² = 1 - sum_{n,k} (Y_nk - Yhat_nk)^2 / sum_{n,k} (Y_nk - ybar)^2`
//!
//! with `ybar` the **scalar** mean over all `N * K` entries of `Y`, computed once over the
//! whole evaluation set ([`r2_global_mean`]). This is the metric every R² in noether reports.
//!
//! [`r2_per_output_mean`] is scikit-learn's default `r2_score(multioutput="uniform_average")`
//! (one R² per column with that column's own mean, then averaged). It is here for comparison
//! only and is **not** the reference metric: with targets whose columns have different means
//! (quaternion components, hue deltas) the two differ.
//!
//! Both accumulate in `f64` on the host.

use candle_core::Tensor;

use crate::check;
use crate::error::{Result, invalid};

/// R² with the scalar mean over all entries of `y` (the 3DIEBench reference metric).
///
/// Shapes: `y` and `yhat` are `(N, K)` float tensors of the same shape, `N >= 1`. A perfect
/// prediction gives 1, predicting the global mean of `y` everywhere gives 0, worse predictions
/// are negative. Errors: shape mismatch, empty input, non-finite entries, or a `y` whose entries
/// are all equal (zero total variance: R² undefined).
pub fn r2_global_mean(y: &Tensor, yhat: &Tensor) -> Result<f64> {
    let func = "r2_global_mean";
    let (y, yh, _, _) = pair(func, y, yhat)?;
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let ss_res: f64 = y.iter().zip(&yh).map(|(a, b)| (a - b) * (a - b)).sum();
    let ss_tot: f64 = y.iter().map(|a| (a - mean) * (a - mean)).sum();
    if ss_tot == 0.0 {
        return Err(invalid(
            func,
            "y",
            "has zero total variance (all entries equal): R² is undefined",
        ));
    }
    Ok(1.0 - ss_res / ss_tot)
}

/// scikit-learn's `r2_score(y, yhat)` with the default `multioutput="uniform_average"`: the
/// mean over columns of each column's R² with that column's own mean. A constant column scores
/// 1 when predicted exactly and 0 otherwise (sklearn's `force_finite=True`).
///
/// **Not the reference metric** — see [`r2_global_mean`]. Shapes as there.
pub fn r2_per_output_mean(y: &Tensor, yhat: &Tensor) -> Result<f64> {
    let func = "r2_per_output_mean";
    let (y, yh, n, k) = pair(func, y, yhat)?;
    let mut total = 0.0;
    for j in 0..k {
        let col = |v: &[f64], i: usize| v[i * k + j];
        let mean = (0..n).map(|i| col(&y, i)).sum::<f64>() / n as f64;
        let ss_res: f64 = (0..n).map(|i| (col(&y, i) - col(&yh, i)).powi(2)).sum();
        let ss_tot: f64 = (0..n).map(|i| (col(&y, i) - mean).powi(2)).sum();
        total += if ss_tot == 0.0 {
            if ss_res == 0.0 { 1.0 } else { 0.0 }
        } else {
            1.0 - ss_res / ss_tot
        };
    }
    Ok(total / k as f64)
}

/// Both matrices on the host, checked to have the same shape.
fn pair(
    func: &'static str,
    y: &Tensor,
    yhat: &Tensor,
) -> Result<(Vec<f64>, Vec<f64>, usize, usize)> {
    let (yv, n, k) = check::host_f64(func, "y", y)?;
    let (yhv, n2, k2) = check::host_f64(func, "yhat", yhat)?;
    if (n, k) != (n2, k2) {
        return Err(invalid(
            func,
            "yhat",
            format!("has shape ({n2}, {k2}), expected the shape of `y` ({n}, {k})"),
        ));
    }
    Ok((yv, yhv, n, k))
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn t(v: &[[f32; 2]]) -> Tensor {
        Tensor::from_vec(v.concat(), (v.len(), 2), &Device::Cpu).unwrap()
    }

    #[test]
    fn perfect_is_one_and_global_mean_is_zero() -> Result<()> {
        let y = t(&[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]);
        assert_eq!(r2_global_mean(&y, &y)?, 1.0);
        let m = (1.0 + 2.0 + 3.0 + 10.0 + 20.0 + 30.0) / 6.0;
        let yhat = t(&[[m, m], [m, m], [m, m]]);
        assert!(r2_global_mean(&y, &yhat)?.abs() < 1e-12);
        // predicting each column's mean: per-output R² is 0, the global one is high,
        // because the columns' means differ (the reason the two are not interchangeable)
        let cols = t(&[[2.0, 20.0], [2.0, 20.0], [2.0, 20.0]]);
        assert!(r2_per_output_mean(&y, &cols)?.abs() < 1e-12);
        assert!(r2_global_mean(&y, &cols)? > 0.5);
        Ok(())
    }

    #[test]
    fn bad_inputs_are_errors_naming_the_argument() {
        let y = t(&[[1.0, 2.0], [3.0, 4.0]]);
        let other = Tensor::zeros((3, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        let err = r2_global_mean(&y, &other)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`yhat`"), "{err}");
        let constant = t(&[[1.0, 1.0], [1.0, 1.0]]);
        let err = r2_global_mean(&constant, &y)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`y`") && err.contains("variance"), "{err}");
        let empty = Tensor::zeros((0, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(r2_global_mean(&empty, &empty).is_err());
        let vector = Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(r2_per_output_mean(&vector, &vector).is_err());
    }
}
