//! Softmax, log-softmax and masked softmax over the last dimension.

use candle_core::{Result, Tensor};

use crate::reference;

/// Softmax over the last dimension.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    reference::softmax_last_dim(x)
}

/// Log-softmax over the last dimension.
pub fn log_softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    reference::log_softmax_last_dim(x)
}

/// Softmax over the last dimension restricted to the entries where `mask` is non-zero
/// (`mask`: `u8`, broadcastable to `x`). Masked entries get 0; a fully masked row is all zeros.
pub fn masked_softmax_last_dim(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    reference::masked_softmax_last_dim(x, mask)
}
