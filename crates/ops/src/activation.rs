//! ReLU and GELU with a one-pass backward.

use candle_core::{Result, Tensor};

use crate::reference;

/// `max(x, 0)`; the gradient is `g * (x > 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    // FUSED: to be replaced by a custom op on the CPU path.
    reference::relu(x)
}

/// GELU, exact erf form, as `torch.nn.GELU()`.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    reference::gelu(x)
}
