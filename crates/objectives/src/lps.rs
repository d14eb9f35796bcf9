//! The permutation entropy regulariser of probabilistic symmetrization (Kim et al., "Learning
//! Probabilistic Symmetrization for Architecture Agnostic Equivariance", arXiv 2306.02866;
//! reference `jw9730/lps`, `PermutaionMatrixPenalty` in `src_synthetic/graph_separation/
//! interface.py`).
//!
//! For `S_n`, the sampled group element is a permutation `P` made from per-node scores by
//! Sinkhorn; the straight-through estimator differentiates through the soft matrix `P_soft`.
//! The regulariser pushes `P_soft` towards a hard permutation by penalising the entropy of its
//! rows and columns, each renormalised to a distribution over the valid nodes:
//!
//! `H = mean_b (1 / n_b) sum_{i valid} [ H(row_i) + H(col_i) ]`,
//! `H(row_i) = -sum_{r valid} p_ir log p_ir`, `p_ir = s_ir / sum_{r' valid} s_ir'`,
//! `s = max(P_soft, 1e-12)` on valid pairs (columns likewise),
//!
//! with `n_b` the number of valid nodes of sample `b` and `log` clamped at `-100` as in the
//! reference. The caller weights it (0.1 in the paper). An identity (or any hard) permutation
//! scores 0; the uniform doubly-stochastic matrix scores `2 log n`.
//!
//! The reference takes `(B, k, n, n)` with `k` Monte-Carlo samples and averages over `k` before
//! the node mean; flattening the samples into the batch (`(B * k, n, n)`, mask repeated) gives
//! the same number. Padded entries are treated as 0 before renormalising (the reference's
//! Sinkhorn output is 0 there).

use candle_core::{D, Result, Tensor};

use crate::check;

/// The clamp on valid entries of `P_soft` before the logarithm.
pub const LPS_ENTROPY_EPS: f64 = 1e-12;
/// The floor of `log p` in the reference (`prob.log().clamp(min=-100)`).
const LOG_FLOOR: f64 = -100.0;

/// The row-plus-column entropy of soft permutation matrices, averaged over valid nodes and
/// samples.
///
/// Shapes: `p_soft` is `(B, n, n)` with `P[b, i, r]` the weight of node `i` at rank `r`;
/// `node_mask` is `None` (every node valid) or `(B, n)` of any dtype (non-zero = valid node;
/// padded graphs); the result is a scalar. A sample with no valid node contributes 0.
pub fn permutation_entropy(p_soft: &Tensor, node_mask: Option<&Tensor>) -> Result<Tensor> {
    let func = "permutation_entropy";
    let (b, n) = match *p_soft.dims() {
        [b, n, n2] if n == n2 && b > 0 && n > 0 => (b, n),
        ref d => candle_core::bail!(
            "{func}: `p_soft` must be a non-empty batch of square matrices (B, n, n), got {d:?}"
        ),
    };
    check::float(func, "p_soft", p_soft)?;
    let dtype = p_soft.dtype();
    let valid = match node_mask {
        None => Tensor::ones((b, n), dtype, p_soft.device())?,
        Some(m) => {
            if m.dims() != [b, n] {
                candle_core::bail!(
                    "{func}: `node_mask` must have shape ({b}, {n}) like the nodes of `p_soft`, \
                     got {:?}",
                    m.dims()
                );
            }
            if !m.device().same_device(p_soft.device()) {
                candle_core::bail!("{func}: `node_mask` is on another device than `p_soft`");
            }
            m.ne(0.0)?.to_dtype(dtype)?
        }
    }; // (B, n)
    let pair = valid
        .unsqueeze(2)?
        .broadcast_mul(&valid.unsqueeze(1)?)?
        .contiguous()?; // (B, n, n)
    let pair_on = pair.ne(0.0)?;
    let s = pair_on.where_cond(&p_soft.maximum(LPS_ENTROPY_EPS)?, &pair.zeros_like()?)?;
    let ones = pair.ones_like()?;
    let entropy = |axis: usize| -> Result<Tensor> {
        let norm = s.sum_keepdim(axis)?.maximum(LPS_ENTROPY_EPS)?;
        let prob = s.broadcast_div(&norm)?;
        // padded entries become probability 1 (contributing 1 * log 1 = 0) before the log
        let prob = pair_on.where_cond(&prob, &ones)?;
        let plogp = (&prob * prob.log()?.maximum(LOG_FLOOR)?)?;
        plogp.sum(axis)?.neg() // (B, n)
    };
    let h_col = entropy(1)?; // over rows i for each column r
    let h_row = entropy(2)?; // over columns r for each row i
    let per_node = ((h_row + h_col)? * &valid)?; // (B, n)
    let count = valid.sum(D::Minus1)?; // (B,)
    let count = (&count + count.eq(0.0)?.to_dtype(dtype)?)?;
    (per_node.sum(D::Minus1)? / count)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn uniform_matrix_scores_two_log_n() -> Result<()> {
        let n = 4;
        let p = Tensor::full(0.25f64, (2, n, n), &Device::Cpu)?;
        let h = permutation_entropy(&p, None)?.to_scalar::<f64>()?;
        assert!((h - 2.0 * (n as f64).ln()).abs() < 1e-12, "{h}");
        Ok(())
    }

    #[test]
    fn padding_is_ignored() -> Result<()> {
        // a 3-node uniform matrix padded to 5 nodes scores like an unpadded 3-node one
        let mut data = vec![0f64; 5 * 5];
        for i in 0..3 {
            for r in 0..3 {
                data[i * 5 + r] = 1.0 / 3.0;
            }
        }
        let p = Tensor::from_vec(data, (1, 5, 5), &Device::Cpu)?;
        let mask = Tensor::new(&[[1u8, 1, 1, 0, 0]], &Device::Cpu)?;
        let h = permutation_entropy(&p, Some(&mask))?.to_scalar::<f64>()?;
        assert!((h - 2.0 * 3f64.ln()).abs() < 1e-12, "{h}");
        Ok(())
    }
}
