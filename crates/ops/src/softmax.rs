//! Softmax, log-softmax and masked softmax over the last dimension, each a fused row kernel
//! with a one-pass backward from the saved output `y`:
//!
//! - softmax: `dx = y * (g - Σ g y)`;
//! - log-softmax: `dx = g - exp(y) * Σ g`;
//! - masked softmax (scaled dot-product attention, Vaswani et al., arXiv 1706.03762, eq. 1, with
//!   a mask): as softmax; masked entries have `y = 0` and so get no gradient.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, WithDType, bail,
};

use num_traits::Zero;

use crate::kernels::{self, Float, with_float_slices};
use crate::{reference, use_fused};

/// Softmax over the last dimension, any rank ≥ 1; output has the shape of `x`.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if !use_fused(x) {
        return reference::softmax_last_dim(x);
    }
    x.contiguous()?.apply_op1(Softmax { log: false })
}

/// Log-softmax over the last dimension, any rank ≥ 1; output has the shape of `x`.
pub fn log_softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if !use_fused(x) {
        return reference::log_softmax_last_dim(x);
    }
    x.contiguous()?.apply_op1(Softmax { log: true })
}

/// Softmax over the last dimension restricted to the entries where `mask` is non-zero.
///
/// `x`: any rank ≥ 1, e.g. attention logits `(B, H, T, T)`; `mask`: `u8` (or `u32`),
/// broadcastable to `x`, e.g. `(B, 1, T, T)` or `(T, T)`; output: the shape of `x`. Masked
/// entries are exactly 0; a row with no unmasked entry is all zeros (not NaN). The mask gets no
/// gradient.
pub fn masked_softmax_last_dim(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    if !use_fused(x) {
        return reference::masked_softmax_last_dim(x, mask);
    }
    if !matches!(mask.dtype(), DType::U8 | DType::U32) {
        bail!(
            "masked_softmax_last_dim: mask must be u8 or u32, got {:?}",
            mask.dtype()
        );
    }
    // A broadcast view: the kernel reads it through its strides, nothing is expanded.
    let mask = mask.broadcast_as(x.shape())?;
    x.contiguous()?.apply_op2(&mask, MaskedSoftmax)
}

/// `x -> softmax(x)` or `log_softmax(x)` over the last dimension.
struct Softmax {
    log: bool,
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        if self.log {
            "noether-log-softmax"
        } else {
            "noether-softmax"
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = kernels::last_dim(l, self.name())?;
        let log = self.log;
        with_float_slices!(self.name(), T; x = (s, l) => {
            let y = kernels::fill_rows(x.len(), d, |r, out| {
                softmax_row(&x[r * d..(r + 1) * d], out, log)
            });
            Ok(kernels::output(y, l.shape().clone()))
        })
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let dx = y.apply_op2_no_bwd(&g.contiguous()?, &SoftmaxBackward { log: self.log })?;
        Ok(Some(dx))
    }
}

/// One row of softmax (or log-softmax), max-shifted.
fn softmax_row<T: Float>(x: &[T], out: &mut [T], log: bool) {
    let max = x
        .iter()
        .fold(T::neg_infinity(), |m, &v| num_traits::Float::max(m, v));
    let mut sum = T::zero();
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - max).exp();
        sum += *o;
    }
    if log {
        let shift = max + sum.ln();
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v - shift;
        }
    } else {
        let inv = T::one() / sum;
        for o in out.iter_mut() {
            *o *= inv;
        }
    }
}

/// `(x, mask) -> masked softmax`; the mask is read through its (broadcast) strides.
struct MaskedSoftmax;

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "noether-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        kernels::check_same_shape(self.name(), ("x", l1), ("mask", l2))?;
        let d = kernels::last_dim(l1, self.name())?;
        with_float_slices!(self.name(), T; x = (s1, l1) => {
            let y = match s2 {
                CpuStorage::U8(m) => masked_softmax::<T, u8>(x, m, l2, d),
                CpuStorage::U32(m) => masked_softmax::<T, u32>(x, m, l2, d),
                _ => bail!("{}: mask must be u8 or u32, got {:?}", self.name(), kernels::dtype(s2)),
            };
            Ok(kernels::output(y, l1.shape().clone()))
        })
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _mask: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = y.apply_op2_no_bwd(&g.contiguous()?, &SoftmaxBackward { log: false })?;
        Ok((Some(dx), None))
    }
}

/// The masked softmax of every row of `x` (rows of `d`), the mask read at `ml`'s strides.
fn masked_softmax<T: Float, M: WithDType>(x: &[T], mask: &[M], ml: &Layout, d: usize) -> Vec<T> {
    let starts = row_starts(ml);
    let step = ml.stride().last().copied().unwrap_or(1);
    kernels::fill_rows(x.len(), d, |r, out| {
        let x = &x[r * d..(r + 1) * d];
        let keep = |j: usize| mask[starts[r] + j * step] != M::zero();
        let max = (0..d)
            .filter(|&j| keep(j))
            .fold(T::neg_infinity(), |m, j| num_traits::Float::max(m, x[j]));
        let mut sum = T::zero();
        for (j, o) in out.iter_mut().enumerate() {
            if keep(j) {
                *o = (x[j] - max).exp();
                sum += *o;
            }
        }
        if sum > T::zero() {
            let inv = T::one() / sum;
            out.iter_mut().for_each(|o| *o *= inv);
        }
    })
}

/// The storage offset of the first element of every row (last dimension) of a strided layout.
fn row_starts(l: &Layout) -> Vec<usize> {
    let dims = l.dims();
    let lead = dims.len().saturating_sub(1);
    let rows: usize = dims[..lead].iter().product();
    let mut idx = vec![0usize; lead];
    let mut offset = l.start_offset();
    let mut starts = Vec::with_capacity(rows);
    for _ in 0..rows {
        starts.push(offset);
        // odometer increment over the leading dimensions
        for k in (0..lead).rev() {
            idx[k] += 1;
            offset += l.stride()[k];
            if idx[k] < dims[k] {
                break;
            }
            offset -= dims[k] * l.stride()[k];
            idx[k] = 0;
        }
    }
    starts
}

/// `(y, g) -> dx` for softmax (`y * (g - Σ g y)`) or log-softmax (`g - exp(y) Σ g`).
struct SoftmaxBackward {
    log: bool,
}

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "noether-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        kernels::check_same_shape(self.name(), ("y", l1), ("grad", l2))?;
        let d = kernels::last_dim(l1, self.name())?;
        let log = self.log;
        with_float_slices!(self.name(), T; y = (s1, l1), g = (s2, l2) => {
            let dx = kernels::fill_rows(y.len(), d, |r, out| {
                let (y, g) = (&y[r * d..(r + 1) * d], &g[r * d..(r + 1) * d]);
                if log {
                    let s = g.iter().fold(T::zero(), |a, &v| a + v);
                    for ((o, &y), &g) in out.iter_mut().zip(y).zip(g) {
                        *o = g - y.exp() * s;
                    }
                } else {
                    let s = y.iter().zip(g).fold(T::zero(), |a, (&y, &g)| a + y * g);
                    for ((o, &y), &g) in out.iter_mut().zip(y).zip(g) {
                        *o = y * (g - s);
                    }
                }
            });
            Ok(kernels::output(dx, l1.shape().clone()))
        })
    }
}
