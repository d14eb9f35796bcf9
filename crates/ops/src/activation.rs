//! ReLU and GELU (exact erf form, `torch.nn.GELU()`) with a one-pass backward.
//!
//! GELU (Hendrycks & Gimpel, arXiv 1606.08415, eq. 1): `gelu(x) = x Φ(x)` with
//! `Φ(x) = (1 + erf(x / √2)) / 2`; its derivative is `Φ(x) + x φ(x)`, `φ(x) = exp(-x²/2) / √(2π)`.
//! ReLU's gradient is `g * (x > 0)`: 0 at `x = 0`, as torch (candle's own `relu` passes the
//! gradient at 0).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use crate::kernels::{self, Float, with_float_slices};
use crate::{reference, use_fused};

/// `max(x, 0)`, any shape; the gradient is `g * (x > 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if !use_fused(x) {
        return reference::relu(x);
    }
    x.contiguous()?.apply_op1(Unary::Relu)
}

/// GELU, exact erf form, as `torch.nn.GELU()`: `x * (1 + erf(x / √2)) / 2`, any shape.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    if !use_fused(x) {
        return reference::gelu(x);
    }
    x.contiguous()?.apply_op1(Unary::Gelu)
}

/// The activation of a [`Unary`] op.
#[derive(Debug, Clone, Copy)]
enum Unary {
    Relu,
    Gelu,
}

impl Unary {
    fn f<T: Float>(self, x: T) -> T {
        match self {
            Unary::Relu => {
                if x > T::zero() {
                    x
                } else {
                    T::zero()
                }
            }
            Unary::Gelu => x * phi_cdf(x),
        }
    }

    /// `d f / d x` at `x`.
    fn df<T: Float>(self, x: T) -> T {
        match self {
            Unary::Relu => {
                if x > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Unary::Gelu => {
                let inv_sqrt_2pi = T::cast(
                    0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2,
                );
                phi_cdf(x) + x * inv_sqrt_2pi * (-(x * x) * T::cast(0.5)).exp()
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unary::Relu => "noether-relu",
            Unary::Gelu => "noether-gelu",
        }
    }
}

/// The standard normal CDF `Φ(x) = (1 + erf(x / √2)) / 2`.
fn phi_cdf<T: Float>(x: T) -> T {
    T::cast(0.5) * (T::one() + (x * T::cast(std::f64::consts::FRAC_1_SQRT_2)).erf())
}

impl CustomOp1 for Unary {
    fn name(&self) -> &'static str {
        Unary::name(*self)
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let op = *self;
        with_float_slices!(op.name(), T; x = (s, l) => {
            Ok(kernels::output(kernels::map(x, |v| op.f(v)), l.shape().clone()))
        })
    }

    /// `g * f'(x)` by [`UnaryBackward`], one pass; not itself differentiable.
    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let dx = x.apply_op2_no_bwd(&g.contiguous()?, &UnaryBackward(*self))?;
        Ok(Some(dx))
    }
}

/// `(x, g) -> g * f'(x)` for the activation of a [`Unary`].
struct UnaryBackward(Unary);

impl CustomOp2 for UnaryBackward {
    fn name(&self) -> &'static str {
        "noether-activation-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        kernels::check_same_shape(self.name(), ("x", l1), ("grad", l2))?;
        let op = self.0;
        with_float_slices!(self.name(), T; x = (s1, l1), g = (s2, l2) => {
            Ok(kernels::output(kernels::zip_map(x, g, |x, g| g * op.df(x)), l1.shape().clone()))
        })
    }
}
