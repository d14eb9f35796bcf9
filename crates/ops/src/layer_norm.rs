//! Layer norm over the last dimension (Ba, Kiros & Hinton, arXiv 1607.06450, eq. 4) with a fused
//! backward.
//!
//! Per row of `D` values: `μ = mean(x)`, `σ² = mean((x - μ)²)` (biased, two passes over the row),
//! `r = 1 / √(σ² + ε)`, `x̂ = (x - μ) r`, `y = x̂ w + b`. Backward, with `ĝ = g w`:
//! `dx = r (ĝ - mean(ĝ) - x̂ mean(ĝ x̂))`, `dw = Σ_rows g x̂`, `db = Σ_rows g`. The backward kernel
//! recomputes `μ` and `r` from the row it is reading anyway (no state is kept between forward
//! and backward) and produces `dx`, `dw` and `db` in one pass over `x` and `g`.

use candle_core::{CpuStorage, CustomOp3, D, Layout, Result, Shape, Tensor, bail};

use crate::kernels::{self, Float, with_float_slices};
use crate::{reference, use_fused};

/// Layer norm over the last dimension, biased variance, as `torch.nn.functional.layer_norm` with
/// `normalized_shape = x.shape[-1:]`.
///
/// `x`: `(*, D)`; `weight`, `bias`: `(D,)` when present; output: `(*, D)`.
pub fn layer_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    if !use_fused(x) {
        return reference::layer_norm(x, weight, bias, eps);
    }
    let d = x.dim(D::Minus1)?;
    let op = LayerNorm {
        eps,
        has_weight: weight.is_some(),
        has_bias: bias.is_some(),
    };
    kernels::apply_affine(&x.contiguous()?, weight, bias, d, "layer_norm", op)
}

/// `(x, w, b) -> y`. A missing weight or bias is passed as ones or zeros and gets no gradient.
struct LayerNorm {
    eps: f64,
    has_weight: bool,
    has_bias: bool,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "noether-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = feature_dim(l1, l2, self.name())?;
        with_float_slices!(self.name(), T; x = (s1, l1), w = (s2, l2), b = (s3, l3) => {
            let eps = T::cast(self.eps);
            let y = kernels::fill_rows(x.len(), d, |r, out| {
                let x = &x[r * d..(r + 1) * d];
                let (mean, rstd) = row_stats(x, eps);
                for (((o, &x), &w), &b) in out.iter_mut().zip(x).zip(w).zip(b) {
                    *o = (x - mean) * rstd * w + b;
                }
            });
            Ok(kernels::output(y, l1.shape().clone()))
        })
    }

    /// `dx`, `dw`, `db` from one [`LayerNormBackward`] pass; not itself differentiable.
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let packed =
            x.apply_op3_no_bwd(w, &g.contiguous()?, &LayerNormBackward { eps: self.eps })?;
        kernels::split_affine_grads(&packed, x, w, self.has_weight, self.has_bias)
    }
}

/// `(x, w, g) -> [dx (x.len()) | dw (D) | db (D)]`, one flat vector.
struct LayerNormBackward {
    eps: f64,
}

impl CustomOp3 for LayerNormBackward {
    fn name(&self) -> &'static str {
        "noether-layer-norm-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = feature_dim(l1, l2, self.name())?;
        kernels::check_same_shape(self.name(), ("x", l1), ("grad", l3))?;
        with_float_slices!(self.name(), T; x = (s1, l1), w = (s2, l2), g = (s3, l3) => {
            let packed = layer_norm_backward(x, w, g, d, T::cast(self.eps));
            Ok(kernels::output(packed, x.len() + 2 * d))
        })
    }
}

/// The fused backward: each block of rows writes its `dx` rows and returns its partial
/// `(dw, db)`; the partials are summed in block order.
fn layer_norm_backward<T: Float>(x: &[T], w: &[T], g: &[T], d: usize, eps: T) -> Vec<T> {
    let n = x.len();
    let mut packed = vec![T::zero(); n + 2 * d];
    let (dx, params) = packed.split_at_mut(n);
    let inv_d = T::one() / T::cast(d as f64);
    let partials = kernels::blocks_mut(dx, d, |first, block| {
        let mut acc = vec![T::zero(); 2 * d];
        let (dw, db) = acc.split_at_mut(d);
        for (i, dx) in block.chunks_mut(d).enumerate() {
            let r = first + i;
            let (x, g) = (&x[r * d..(r + 1) * d], &g[r * d..(r + 1) * d]);
            let (mean, rstd) = row_stats(x, eps);
            // mean(ĝ) and mean(ĝ x̂), accumulating dw and db on the way
            let (mut s1, mut s2) = (T::zero(), T::zero());
            for j in 0..d {
                let xhat = (x[j] - mean) * rstd;
                let gh = g[j] * w[j];
                s1 += gh;
                s2 += gh * xhat;
                dw[j] += g[j] * xhat;
                db[j] += g[j];
            }
            let (m1, m2) = (s1 * inv_d, s2 * inv_d);
            for j in 0..d {
                let xhat = (x[j] - mean) * rstd;
                dx[j] = rstd * (g[j] * w[j] - m1 - xhat * m2);
            }
        }
        acc
    });
    for part in partials {
        for (p, v) in params.iter_mut().zip(part) {
            *p += v;
        }
    }
    packed
}

/// Mean and `1 / √(biased var + eps)` of one row, two passes.
fn row_stats<T: Float>(x: &[T], eps: T) -> (T, T) {
    let inv_d = T::one() / T::cast(x.len() as f64);
    let mean = x.iter().fold(T::zero(), |a, &v| a + v) * inv_d;
    let var = x
        .iter()
        .fold(T::zero(), |a, &v| a + (v - mean) * (v - mean))
        * inv_d;
    (mean, (var + eps).sqrt().recip())
}

/// The normalised size `D`: the last dimension of `x`, which the parameter vector must match.
fn feature_dim(x: &Layout, p: &Layout, op: &str) -> Result<usize> {
    let d = kernels::last_dim(x, op)?;
    if p.dims() != [d] {
        bail!(
            "{op}: parameters must have shape ({d},), got {:?}",
            p.dims()
        );
    }
    Ok(d)
}
