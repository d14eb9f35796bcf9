//! Log-domain Sinkhorn normalisation of square matrices, fused: the relaxed permutation of
//! probabilistic symmetrization over `S_n` (LPS, `papers/lps.md`: SoftSort logits, 20
//! iterations, rows then columns).
//!
//! Forward, per matrix: `iters` times `L <- L - lse_rows(L)`, then `L <- L - lse_cols(L)`;
//! the output is `P = exp(L)`. Composed from candle ops this is ~8 tensor passes and
//! allocations per half-iteration; fused it is two passes over one `n x n` buffer, matrices in
//! parallel.
//!
//! Backward, from the saved normalisers. A half-step `L' = L - lse(L)` along an axis has the
//! vector-Jacobian product `dL = dL' - softmax(L) * sum(dL')` along that axis, and
//! `softmax(L) = exp(L')`. So the backward walks the iterations in reverse from `dL = dP * P`,
//! rebuilding each intermediate `L` by adding its normaliser back: no intermediate is stored
//! (the forward is recomputed once to get the normalisers, `2 * iters * n` numbers per matrix).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, bail};

use num_traits::Zero;

use crate::kernels::{self, Float, with_float_slices};
use crate::{reference, use_fused};

/// `exp` of `iters` log-domain Sinkhorn iterations (rows, then columns) of `logits`
/// `(..., n, n)`: a doubly-stochastic matrix (to the iteration count) for each leading index.
/// Entries may be very negative (a large negative number stands for `-inf`); every row and
/// column needs one finite entry.
pub fn log_sinkhorn(logits: &Tensor, iters: usize) -> Result<Tensor> {
    let dims = logits.dims();
    if dims.len() < 2 || dims[dims.len() - 1] != dims[dims.len() - 2] {
        bail!("log_sinkhorn: logits must be (..., n, n), got {dims:?}");
    }
    if !use_fused(logits) {
        return reference::log_sinkhorn(logits, iters);
    }
    logits.contiguous()?.apply_op1(Sinkhorn { iters })
}

struct Sinkhorn {
    iters: usize,
}

fn side(l: &Layout) -> usize {
    l.dims().last().copied().unwrap_or(0)
}

/// Lanes of the row reductions: independent partial results, so the loops vectorise.
const LANES: usize = 8;

/// `log sum exp` of a row, max-shifted, with [`LANES`] partial maxima and sums.
fn row_lse<T: Float>(row: &[T]) -> T {
    let mut mx = [T::neg_infinity(); LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (m, &v) in mx.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    let mut max = tail
        .iter()
        .fold(T::neg_infinity(), |a, &v| if v > a { v } else { a });
    for &m in &mx {
        max = if m > max { m } else { max };
    }
    let mut sums = [T::zero(); LANES];
    let chunks = row.chunks_exact(LANES);
    for c in chunks {
        for (s, &v) in sums.iter_mut().zip(c) {
            *s += (v - max).fast_exp();
        }
    }
    let sum = sums.iter().fold(T::zero(), |a, &b| a + b)
        + tail
            .iter()
            .fold(T::zero(), |a, &v| a + (v - max).fast_exp());
    max + sum.ln()
}

/// The sum of a row with [`LANES`] partial sums.
fn row_sum<T: Float>(row: &[T]) -> T {
    let mut sums = [T::zero(); LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (s, &v) in sums.iter_mut().zip(c) {
            *s += v;
        }
    }
    sums.iter().fold(T::zero(), |a, &b| a + b) + tail.iter().fold(T::zero(), |a, &v| a + v)
}

/// Runs the iterations in place on one `n x n` matrix; `norms` (if given) receives the row
/// normalisers then the column normalisers of every iteration (`2 * iters * n`).
fn iterate<T: Float>(m: &mut [T], n: usize, iters: usize, mut norms: Option<&mut [T]>) {
    let mut col = vec![T::zero(); n];
    for t in 0..iters {
        for i in 0..n {
            let row = &mut m[i * n..(i + 1) * n];
            let lse = row_lse(row);
            row.iter_mut().for_each(|v| *v -= lse);
            if let Some(nr) = norms.as_deref_mut() {
                nr[(2 * t) * n + i] = lse;
            }
        }
        // columns: max then sum, row by row (contiguous reads)
        col.iter_mut().for_each(|c| *c = T::neg_infinity());
        for i in 0..n {
            for (c, &v) in col.iter_mut().zip(&m[i * n..(i + 1) * n]) {
                *c = if v > *c { v } else { *c };
            }
        }
        let mut sum = vec![T::zero(); n];
        for i in 0..n {
            for ((s, &v), &c) in sum.iter_mut().zip(&m[i * n..(i + 1) * n]).zip(&col) {
                *s += (v - c).fast_exp();
            }
        }
        for (c, s) in col.iter_mut().zip(&sum) {
            *c += s.ln();
        }
        for i in 0..n {
            for (v, &c) in m[i * n..(i + 1) * n].iter_mut().zip(&col) {
                *v -= c;
            }
        }
        if let Some(nr) = norms.as_deref_mut() {
            nr[(2 * t + 1) * n..(2 * t + 2) * n].copy_from_slice(&col);
        }
    }
}

impl CustomOp1 for Sinkhorn {
    fn name(&self) -> &'static str {
        "noether-log-sinkhorn"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = side(l);
        let iters = self.iters;
        with_float_slices!(self.name(), T; x = (s, l) => {
            let y = kernels::fill_rows(x.len(), n * n, |r, out| {
                out.copy_from_slice(&x[r * n * n..(r + 1) * n * n]);
                iterate(out, n, iters, None);
                out.iter_mut().for_each(|v| *v = v.fast_exp());
            });
            Ok(kernels::output(y, l.shape().clone()))
        })
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let dx = x.apply_op2_no_bwd(&g.contiguous()?, &SinkhornBackward { iters: self.iters })?;
        Ok(Some(dx))
    }
}

/// `(logits, dP) -> dlogits`.
struct SinkhornBackward {
    iters: usize,
}

impl CustomOp2 for SinkhornBackward {
    fn name(&self) -> &'static str {
        "noether-log-sinkhorn-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        kernels::check_same_shape(self.name(), ("logits", l1), ("grad", l2))?;
        let n = side(l1);
        let iters = self.iters;
        with_float_slices!(self.name(), T; x = (s1, l1), g = (s2, l2) => {
            let dx = kernels::fill_rows(x.len(), n * n, |r, d| {
                let range = r * n * n..(r + 1) * n * n;
                let mut l = x[range.clone()].to_vec();
                let mut norms = vec![T::zero(); 2 * iters * n];
                iterate(&mut l, n, iters, Some(&mut norms));
                // dL = dP * P at the end
                for ((dv, &gv), &lv) in d.iter_mut().zip(&g[range]).zip(&l) {
                    *dv = gv * lv.fast_exp();
                }
                let mut acc = vec![T::zero(); n];
                for t in (0..iters).rev() {
                    // column half-step: dL -= exp(L') * colsum(dL); then L = L' + b
                    acc.iter_mut().for_each(|a| *a = T::zero());
                    for i in 0..n {
                        for (a, &dv) in acc.iter_mut().zip(&d[i * n..(i + 1) * n]) {
                            *a += dv;
                        }
                    }
                    let b = &norms[(2 * t + 1) * n..(2 * t + 2) * n];
                    for i in 0..n {
                        let row = i * n..(i + 1) * n;
                        for (((dv, lv), &a), &bc) in d[row.clone()].iter_mut().zip(&mut l[row]).zip(&acc).zip(b) {
                            *dv -= lv.fast_exp() * a;
                            *lv += bc;
                        }
                    }
                    // row half-step: dL -= exp(L') * rowsum(dL); then L = L' + a
                    for i in 0..n {
                        let row = i * n..(i + 1) * n;
                        let s = row_sum(&d[row.clone()]);
                        let a = norms[(2 * t) * n + i];
                        for (dv, lv) in d[row.clone()].iter_mut().zip(&mut l[row]) {
                            *dv -= lv.fast_exp() * s;
                            *lv += a;
                        }
                    }
                }
            });
            Ok(kernels::output(dx, l1.shape().clone()))
        })
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn fused_matches_the_composite_values_and_gradients() -> Result<()> {
        // random logits with a padded block forced to "-inf" except its diagonal
        let n = 5;
        let mut v: Vec<f64> = (0..2 * n * n)
            .map(|k| ((k * 37 % 17) as f64 - 8.0) / 3.0)
            .collect();
        for i in 3..n {
            for j in 0..n {
                v[n * n + i * n + j] = if i == j { 0.0 } else { -1e4 };
                v[n * n + j * n + i] = if i == j { 0.0 } else { -1e4 };
            }
        }
        let x = Var::from_vec(v, (2, n, n), &Device::Cpu)?;
        let w = Tensor::arange(0.0f64, (2 * n * n) as f64, &Device::Cpu)?.reshape((2, n, n))?;
        let fused = log_sinkhorn(x.as_tensor(), 7)?;
        let refer = reference::log_sinkhorn(x.as_tensor(), 7)?;
        let gap = (&fused - &refer)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(gap < 1e-12, "values differ by {gap}");
        let gf = (&fused * &w)?.sum_all()?.backward()?;
        let gr = (&refer * &w)?.sum_all()?.backward()?;
        let (gf, gr) = (
            gf.get(x.as_tensor()).expect("fused gradient"),
            gr.get(x.as_tensor()).expect("reference gradient"),
        );
        let gap = (gf - gr)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(gap < 1e-10, "gradients differ by {gap}");
        let scale = gr.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(scale > 1e-3, "a gradient to compare: {scale}");
        Ok(())
    }
}
