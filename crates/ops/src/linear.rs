//! A linear layer `y = x Wᵀ + b` as one custom op whose forward and three gradients are GEMMs.
//!
//! With `x` of shape `(..., K)` viewed as an `(M, K)` matrix and `W` of shape `(N, K)`:
//!
//! - forward: `y = x Wᵀ + b`, the bias written into `y` first and the GEMM accumulated onto it;
//! - `dx = g W`, `dW = gᵀ x`, `db = 1ᵀ g` (the column sums, as a GEMM with a row of ones).
//!
//! candle's `Linear` adds the bias with a broadcast add and takes its gradient with a
//! `sum_keepdim` over the leading dimensions, a single-threaded strided reduction that showed at
//! about a tenth of a ViT step; here every part runs on the GEMM's threads.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use num_traits::{One, Zero};

use crate::kernels::{self, Float, matmul, pool, with_float_slices};
use crate::{reference, use_fused};

/// `x Wᵀ + b` for `x` `(..., K)`, `weight` `(N, K)` and `bias` `(N,)`; the result is `(..., N)`.
/// The fused path as everywhere in this crate (see the crate docs); elsewhere
/// [`reference::linear`] (candle's matmul and broadcast add).
///
/// ```
/// use candle_core::{Device, Tensor};
/// let x = Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu)?;
/// let w = Tensor::new(&[[1f32, 0.], [1., 1.], [0., -1.]], &Device::Cpu)?;
/// let b = Tensor::new(&[0f32, 10., 0.], &Device::Cpu)?;
/// let y = noether_ops::linear(&x, &w, Some(&b))?;
/// assert_eq!(y.to_vec2::<f32>()?, [[1., 13., -2.], [3., 17., -4.]]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (n, k) = weight.dims2()?;
    if x.rank() == 0 || x.dims()[x.rank() - 1] != k {
        candle_core::bail!(
            "linear: x {:?} must end in the weight's input width {k} (weight ({n}, {k}))",
            x.dims()
        );
    }
    if let Some(b) = bias {
        kernels::check_vector(b, n, "linear bias")?;
    }
    let same = |t: &Tensor| t.dtype() == x.dtype() && t.device().same_device(x.device());
    if !use_fused(x) || !same(weight) || !bias.is_none_or(same) {
        return reference::linear(x, weight, bias);
    }
    let (x, w) = (x.contiguous()?, weight.contiguous()?);
    match bias {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, Linear),
        None => x.apply_op2(&w, Linear),
    }
}

/// The forward op: `(x, w) -> x Wᵀ` (as a [`CustomOp2`]) or `(x, w, b) -> x Wᵀ + b`.
#[derive(Debug, Clone, Copy)]
struct Linear;

/// `(M, K, N)` of `x` and `w` layouts, and the output shape.
fn sizes(x: &Layout, w: &Layout) -> Result<(usize, usize, usize, Shape)> {
    let (n, k) = w.shape().dims2()?;
    let k_x = kernels::last_dim(x, "linear")?;
    if k_x != k {
        candle_core::bail!("linear: x {:?} against weight ({n}, {k})", x.dims());
    }
    let mut dims = x.dims().to_vec();
    let m = x.shape().elem_count() / k.max(1);
    if let Some(last) = dims.last_mut() {
        *last = n;
    }
    Ok((m, k, n, Shape::from(dims)))
}

/// `x Wᵀ (+ b)`.
fn forward<T: Float>(
    (m, k, n): (usize, usize, usize),
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
) -> Vec<T> {
    let mut y = vec![T::zero(); m * n];
    if let Some(b) = b {
        for row in y.chunks_exact_mut(n) {
            row.copy_from_slice(b);
        }
    }
    if m > 0 && n > 0 && k > 0 {
        matmul((m, n, k), &mut y, b.is_some(), (x, k, 1), (w, 1, k), pool());
    }
    y
}

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "noether-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, k, n, shape) = sizes(l1, l2)?;
        with_float_slices!("noether-linear", T; x = (s1, l1), w = (s2, l2) => {
            Ok(kernels::output(forward((m, k, n), x, w, None), shape))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = grads(x, w, g)?;
        Ok((Some(dx), Some(dw)))
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "noether-linear-bias"
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
        let (m, k, n, shape) = sizes(l1, l2)?;
        with_float_slices!("noether-linear-bias", T; x = (s1, l1), w = (s2, l2), b = (s3, l3) => {
            Ok(kernels::output(forward((m, k, n), x, w, Some(b)), shape))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        let (dx, dw) = grads(x, w, &g)?;
        let db = g.apply_op1_no_bwd(&BiasGrad)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// `dx` and `dW` by two GEMM ops (not themselves differentiable).
fn grads(x: &Tensor, w: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
    let g = g.contiguous()?;
    let dx = w.apply_op2_no_bwd(
        &g,
        &LinearGrad {
            x_shape: x.shape().clone(),
            of_input: true,
        },
    )?;
    let dw = x.apply_op2_no_bwd(
        &g,
        &LinearGrad {
            x_shape: x.shape().clone(),
            of_input: false,
        },
    )?;
    Ok((dx, dw))
}

/// `(w, g) -> dx = g W` or `(x, g) -> dW = gᵀ x`.
struct LinearGrad {
    x_shape: Shape,
    of_input: bool,
}

impl CustomOp2 for LinearGrad {
    fn name(&self) -> &'static str {
        if self.of_input {
            "noether-linear-grad-input"
        } else {
            "noether-linear-grad-weight"
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let n = kernels::last_dim(l2, self.name())?;
        let k = *self.x_shape.dims().last().unwrap_or(&0);
        let m = self.x_shape.elem_count() / k.max(1);
        if l2.shape().elem_count() != m * n {
            candle_core::bail!(
                "{}: grad {:?} for x {:?}",
                self.name(),
                l2.dims(),
                self.x_shape
            );
        }
        let empty = m == 0 || n == 0 || k == 0;
        with_float_slices!(self.name(), T; a = (s1, l1), g = (s2, l2) => {
            Ok(if self.of_input {
                // dx (M, K) = g (M, N) W (N, K)
                let mut dx = vec![T::zero(); m * k];
                if !empty {
                    matmul((m, k, n), &mut dx, false, (g, n, 1), (a, k, 1), pool());
                }
                kernels::output(dx, self.x_shape.clone())
            } else {
                // dW (N, K) = gᵀ (N, M) x (M, K)
                let mut dw = vec![T::zero(); n * k];
                if !empty {
                    matmul((n, k, m), &mut dw, false, (g, 1, n), (a, k, 1), pool());
                }
                kernels::output(dw, (n, k))
            })
        })
    }
}

/// `g (..., N) -> db = 1ᵀ g`, `(N,)`.
struct BiasGrad;

impl CustomOp1 for BiasGrad {
    fn name(&self) -> &'static str {
        "noether-linear-grad-bias"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = kernels::last_dim(l, self.name())?;
        let m = l.shape().elem_count() / n.max(1);
        with_float_slices!(self.name(), T; g = (s, l) => {
            let mut db = vec![T::zero(); n];
            if m > 0 && n > 0 {
                let ones = vec![T::one(); m];
                matmul((1, n, m), &mut db, false, (&ones, m, 1), (g, n, 1), pool());
            }
            Ok(kernels::output(db, n))
        })
    }
}
