//! InfoNCE between two sets (van den Oord et al. 2018, arXiv 1807.03748; the cross-set form of
//! CLIP, Radford et al. 2021): each query `q_i` must pick its own key `k_i` among all keys,
//!
//! `L = mean_i -log [ exp(cos(q_i, k_i) / T) / sum_j exp(cos(q_i, k_j) / T) ]`.
//!
//! Unlike NT-Xent ([`crate::nt_xent`]) the negatives come only from the other set. With
//! `symmetric`, the keys also pick their queries and the two directions are averaged. Keys may
//! outnumber queries (extra negatives, e.g. a queue); then `symmetric` is not available.
//!
//! The SEN baseline of the SIE paper (arXiv 2302.10283) is "InfoNCE between prediction and
//! target"; its reference code (`SimCLROnlyEqui.info_nce_loss` in `facebookresearch/SIE`)
//! concatenates `[prediction; target]` and runs SimCLR's NT-Xent over the `2N` rows, so to
//! match it use [`crate::simclr_nt_xent`]`(prediction, target, ..)`.

use candle_core::{Result, Tensor};

use crate::check;
use crate::similarity::{cosine_similarity_matrix, cross_entropy_from_logits};

/// Settings of [`info_nce`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InfoNceConfig {
    /// The temperature `T` (> 0).
    pub temperature: f64,
    /// Average the query-to-key and key-to-query losses (requires as many keys as queries).
    pub symmetric: bool,
}

impl InfoNceConfig {
    /// One direction (queries pick keys) at temperature `temperature`.
    pub fn new(temperature: f64) -> Self {
        InfoNceConfig {
            temperature,
            symmetric: false,
        }
    }
}

impl Default for InfoNceConfig {
    /// `T = 0.1`, one direction.
    fn default() -> Self {
        InfoNceConfig::new(0.1)
    }
}

/// InfoNCE of `queries` against `keys`, the positive of query `i` being key `i`.
///
/// Shapes: `queries` is `(N, d)`, `keys` is `(M, d)` with `M >= N` (`M == N` when
/// `cfg.symmetric`); the result is a scalar.
pub fn info_nce(queries: &Tensor, keys: &Tensor, cfg: &InfoNceConfig) -> Result<Tensor> {
    let func = "info_nce";
    check::temperature(func, cfg.temperature)?;
    let (n, d) = check::matrix(func, "queries", queries, 1)?;
    let (m, dk) = check::matrix(func, "keys", keys, 1)?;
    check::same_kind(func, "queries", queries, "keys", keys)?;
    if dk != d {
        candle_core::bail!("{func}: `keys` must have {d} columns like `queries`, got {dk}");
    }
    if m < n || (cfg.symmetric && m != n) {
        let need = if cfg.symmetric { "exactly" } else { "at least" };
        candle_core::bail!(
            "{func}: `keys` must have {need} as many rows as `queries` ({n}), got {m}"
        );
    }
    let logits = (cosine_similarity_matrix(queries, keys)? / cfg.temperature)?; // (N, M)
    let targets = Tensor::arange(0u32, n as u32, queries.device())?;
    let forward = cross_entropy_from_logits(&logits, &targets)?;
    if !cfg.symmetric {
        return Ok(forward);
    }
    let backward = cross_entropy_from_logits(&logits.t()?.contiguous()?, &targets)?;
    (forward + backward)? * 0.5
}
