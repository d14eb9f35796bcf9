//! Mean squared errors shared by the regression-style losses: the plain mean
//! (`torch.nn.functional.mse_loss`), a masked mean, and a sum of per-column-group means.
//!
//! They back VICReg's and SIE's invariance terms ([`crate::vicreg_loss`], [`crate::sie_loss`]),
//! AugSelf ([`crate::augself_loss`]) and ContextSSL's auxiliary predictor loss
//! ([`crate::contextssl_aux_loss`]).

use std::ops::Range;

use candle_core::{DType, Result, Tensor};

use crate::check;

/// `mean((pred - target)^2)` over every entry, as `torch.nn.functional.mse_loss`.
///
/// Shapes: `pred` and `target` are `(N, k)`; the result is a scalar.
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    let func = "mse";
    check::matrix(func, "pred", pred, 1)?;
    check::like(func, "pred", pred, "target", target)?;
    (pred - target)?.sqr()?.mean_all()
}

/// The mean of `(pred - target)^2` over the entries where `mask` is non-zero:
/// `sum(m * (pred - target)^2) / sum(m)` with `m` the mask broadcast to `(N, k)`. With a
/// column mask that selects columns `c`, this is exactly `mse(pred[:, c], target[:, c])`.
/// A mask that selects nothing gives 0.
///
/// Shapes: `pred` and `target` are `(N, k)`; `mask` is `(k,)` (per column) or `(N, k)` (per
/// entry), of any dtype (non-zero = counted); the result is a scalar.
pub fn masked_mse(pred: &Tensor, target: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let func = "masked_mse";
    let (n, k) = check::matrix(func, "pred", pred, 1)?;
    check::like(func, "pred", pred, "target", target)?;
    if mask.dims() != [k] && mask.dims() != [n, k] {
        candle_core::bail!(
            "{func}: `mask` must have shape ({k},) or ({n}, {k}), got {:?}",
            mask.dims()
        );
    }
    if !mask.device().same_device(pred.device()) {
        candle_core::bail!("{func}: `mask` is on another device than `pred`");
    }
    let m = mask
        .ne(0.0)?
        .to_dtype(pred.dtype())?
        .broadcast_as((n, k))?
        .contiguous()?;
    let sq = ((pred - target)?.sqr()? * &m)?.sum_all()?;
    let count = m.sum_all()?;
    // nothing selected: 0 / 1 instead of 0 / 0
    let safe = (&count + count.eq(0.0)?.to_dtype(pred.dtype())?)?;
    sq / safe
}

/// The sum over column groups of the plain MSE on each group:
/// `sum_g mse(pred[:, g], target[:, g])`. Several separately-averaged regression targets
/// packed in one matrix (AugSelf's one term per augmentation; ContextSSL's rotation and colour
/// terms in its `rotcolor` environment).
///
/// Shapes: `pred` and `target` are `(N, k)`; every group is a non-empty range inside `0..k`;
/// the result is a scalar (0 for no groups).
pub fn grouped_mse(pred: &Tensor, target: &Tensor, groups: &[Range<usize>]) -> Result<Tensor> {
    let func = "grouped_mse";
    let (_, k) = check::matrix(func, "pred", pred, 1)?;
    check::like(func, "pred", pred, "target", target)?;
    let mut total = Tensor::zeros((), pred.dtype(), pred.device())?;
    for (i, g) in groups.iter().enumerate() {
        if g.start >= g.end || g.end > k {
            candle_core::bail!("{func}: `groups[{i}]` = {g:?} must be a non-empty range in 0..{k}");
        }
        let p = pred.narrow(1, g.start, g.len())?;
        let t = target.narrow(1, g.start, g.len())?;
        total = (total + (p - t)?.sqr()?.mean_all()?)?;
    }
    Ok(total)
}

/// A `(k,)` column mask of dtype `dtype` with ones in the given column groups.
pub(crate) fn column_mask(
    k: usize,
    groups: &[Range<usize>],
    dtype: DType,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let mut m = vec![0f32; k];
    for g in groups {
        for c in g.clone() {
            if let Some(v) = m.get_mut(c) {
                *v = 1.0;
            }
        }
    }
    Tensor::from_vec(m, k, device)?.to_dtype(dtype)
}
