//! Collapse metrics of a batch of embeddings.
//!
//! - [`collapse_std`]: lightly's collapse monitor (notes: `papers/baselines.md`, "Evaluation
//!   protocols"): L2-normalise each embedding, take the standard deviation of every dimension
//!   over the batch (`torch.std`, `N - 1`), average over dimensions. A healthy representation
//!   spread over the sphere gives about `1 / sqrt(D)`; a collapsed one (every embedding the
//!   same direction) gives 0.
//! - [`effective_rank`]: the effective rank of Roy & Vetterli (2007), as used by RankMe
//!   (Garrido et al. 2023, arXiv 2210.02885): `exp(-sum_k p_k ln p_k)` with
//!   `p_k = sigma_k / sum_j sigma_j` the normalised singular values. Here of the **centred**
//!   embeddings (the spectrum of the covariance; RankMe itself does not centre), computed as
//!   `sigma_k = sqrt(lambda_k)` from the symmetric eigen-decomposition of the `D x D` matrix
//!   `Zc^T Zc` in `f64` (nalgebra). Between 1 and `min(N - 1, D)`; 0 for a batch without variance.

use candle_core::{DType, Tensor};

use crate::check;
use crate::error::{Result, invalid};
use crate::knn::l2_normalize;

/// lightly's collapse level: mean over dimensions of the batch standard deviation (`N - 1`) of
/// the L2-normalised embeddings.
///
/// Shapes: `embeddings` `(N, D)` with `N >= 2`; returns a value in `[0, 1]`, about
/// `1 / sqrt(D)` when healthy, 0 when collapsed.
pub fn collapse_std(embeddings: &Tensor) -> Result<f64> {
    let func = "collapse_std";
    let (n, _) = check::matrix(func, "embeddings", embeddings)?;
    if n < 2 {
        return Err(invalid(
            func,
            "embeddings",
            "needs at least 2 rows for a standard deviation",
        ));
    }
    let (z, n, d) = check::host_f64(func, "embeddings", &l2_normalize(embeddings)?)?;
    let mut total = 0.0;
    for j in 0..d {
        let mean = (0..n).map(|i| z[i * d + j]).sum::<f64>() / n as f64;
        let var = (0..n).map(|i| (z[i * d + j] - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        total += var.sqrt();
    }
    Ok(total / d as f64)
}

/// Effective rank `exp(H(p))` of the centred embeddings' singular values (see module docs).
///
/// Shapes: `embeddings` `(N, D)` with `N >= 2`; returns a value in `[1, min(N - 1, D)]`, or 0
/// when every row is the same.
pub fn effective_rank(embeddings: &Tensor) -> Result<f64> {
    let func = "effective_rank";
    let (n, _) = check::matrix(func, "embeddings", embeddings)?;
    if n < 2 {
        return Err(invalid(func, "embeddings", "needs at least 2 rows"));
    }
    let (z, n, d) = check::host_f64(func, "embeddings", &embeddings.to_dtype(DType::F64)?)?;
    let means: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| z[i * d + j]).sum::<f64>() / n as f64)
        .collect();
    let zc = nalgebra::DMatrix::from_fn(n, d, |i, j| z[i * d + j] - means[j]);
    let gram = zc.transpose() * &zc; // (D, D), symmetric
    let eig = nalgebra::SymmetricEigen::new(gram);
    let sigma: Vec<f64> = eig.eigenvalues.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let total: f64 = sigma.iter().sum();
    let largest = sigma.iter().cloned().fold(0.0, f64::max);
    // no variance at all (up to round-off of the eigen-solver): nothing to spread
    if total == 0.0 || largest <= 1e-12 * means.iter().map(|m| m.abs()).fold(1.0, f64::max) {
        return Ok(0.0);
    }
    let entropy: f64 = sigma
        .iter()
        .map(|&s| s / total)
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    Ok(entropy.exp())
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn collapsed_batch_is_zero() {
        let dev = Device::Cpu;
        // same direction, different lengths: collapsed after normalisation
        let z = Tensor::new(
            &[[1.0f32, 2.0, 2.0], [2.0, 4.0, 4.0], [0.5, 1.0, 1.0]],
            &dev,
        )
        .unwrap();
        assert!(collapse_std(&z).unwrap() < 1e-7);
        let same = Tensor::new(&[[1.0f32, 2.0, 2.0], [1.0, 2.0, 2.0]], &dev).unwrap();
        assert_eq!(effective_rank(&same).unwrap(), 0.0);
    }

    #[test]
    fn effective_rank_counts_equal_directions() {
        let dev = Device::Cpu;
        // centred rows spanning 2 orthogonal directions with equal spread: rank 2
        let z = Tensor::new(
            &[
                [1.0f32, 0.0, 0.0],
                [-1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [0.0, -1.0, 0.0],
            ],
            &dev,
        )
        .unwrap();
        assert!((effective_rank(&z).unwrap() - 2.0).abs() < 1e-9);
        let one = Tensor::new(&[[1.0f32, 0.0]], &dev).unwrap();
        assert!(collapse_std(&one).is_err());
        assert!(effective_rank(&one).is_err());
    }
}
