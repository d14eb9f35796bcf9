//! Shared building blocks of the contrastive losses: L2 normalisation with torch's epsilon,
//! cosine similarities, the off-diagonal mask, and cross-entropy from logits.
//!
//! `cos(a, b) = a . b / (max(|a|, eps) max(|b|, eps))` with `eps = 1e-12`, exactly
//! `torch.nn.functional.normalize` followed by a dot product, which is what the SimCLR, EquiMod,
//! SIE and ContextSSL reference code compute. Cross-entropy is `-log_softmax` gathered at the
//! target, through [`noether_ops::log_softmax_last_dim`] so that it has a gradient (candle's
//! fused `softmax_last_dim` has none).

use candle_core::{D, DType, Device, Result, Tensor};

use crate::check;

/// The `eps` of `torch.nn.functional.normalize`: norms below it are replaced by it.
pub const NORMALIZE_EPS: f64 = 1e-12;

/// Normalises each row (the last dimension) of `x` to unit L2 norm: `x / max(|x|, eps)`.
///
/// Shapes: `x` is `(..., d)`; the result has the same shape. A row of zeros stays zeros (and
/// gets a zero gradient, not NaN): the norm is computed as `sqrt(max(|x|^2, eps^2))`.
pub fn l2_normalize(x: &Tensor, eps: f64) -> Result<Tensor> {
    check::float("l2_normalize", "x", x)?;
    if !(eps.is_finite() && eps > 0.0) {
        candle_core::bail!("l2_normalize: `eps` must be finite and > 0, got {eps}");
    }
    let sq = x.sqr()?.sum_keepdim(D::Minus1)?;
    let norm = sq.maximum(eps * eps)?.sqrt()?;
    x.broadcast_div(&norm)
}

/// Cosine similarity of every row of `a` with every row of `b`.
///
/// Shapes: `a` is `(N, d)`, `b` is `(M, d)`; the result is `(N, M)` with entry `(i, j)` equal to
/// `cos(a_i, b_j)`.
pub fn cosine_similarity_matrix(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let func = "cosine_similarity_matrix";
    let (_, da) = check::matrix(func, "a", a, 1)?;
    let (_, db) = check::matrix(func, "b", b, 1)?;
    if da != db {
        candle_core::bail!("{func}: `b` must have {da} columns like `a`, got {db}");
    }
    check::same_kind(func, "a", a, "b", b)?;
    let an = l2_normalize(a, NORMALIZE_EPS)?;
    let bn = l2_normalize(b, NORMALIZE_EPS)?;
    an.matmul(&bn.t()?)
}

/// Row-wise cosine similarity of two aligned sets.
///
/// Shapes: `a` and `b` are `(N, d)`; the result is `(N,)` with entry `i` equal to
/// `cos(a_i, b_i)`.
pub fn cosine_similarity_rows(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let func = "cosine_similarity_rows";
    check::matrix(func, "a", a, 1)?;
    check::like(func, "a", a, "b", b)?;
    let an = l2_normalize(a, NORMALIZE_EPS)?;
    let bn = l2_normalize(b, NORMALIZE_EPS)?;
    (an * bn)?.sum(D::Minus1)
}

/// A `(n, n)` `u8` mask on `device`: 1 off the diagonal, 0 on it.
pub fn off_diagonal_mask(n: usize, device: &Device) -> Result<Tensor> {
    let idx = Tensor::arange(0u32, n as u32, device)?;
    idx.unsqueeze(1)?.broadcast_ne(&idx.unsqueeze(0)?)
}

/// Mean cross-entropy of logits against integer class targets:
/// `mean_i -log softmax(logits_i)[targets_i]`, as `torch.nn.functional.cross_entropy`.
///
/// Shapes: `logits` is `(N, C)`; `targets` is `(N,)` of `u32` or `i64` class indices in
/// `0..C`; the result is a scalar. On the CPU an out-of-range target is an error (candle's
/// `gather` checks its indices).
pub fn cross_entropy_from_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let func = "cross_entropy_from_logits";
    let (n, _) = check::matrix(func, "logits", logits, 1)?;
    if targets.dims() != [n] {
        candle_core::bail!(
            "{func}: `targets` must have shape ({n},) like the rows of `logits`, got {:?}",
            targets.dims()
        );
    }
    if !matches!(targets.dtype(), DType::U32 | DType::I64 | DType::U8) {
        candle_core::bail!(
            "{func}: `targets` must hold class indices (u32 or i64), got {:?}",
            targets.dtype()
        );
    }
    let log_p = noether_ops::log_softmax_last_dim(logits)?;
    let picked = log_p.gather(&targets.unsqueeze(1)?.contiguous()?, 1)?; // (N, 1)
    picked.mean_all()?.neg()
}
