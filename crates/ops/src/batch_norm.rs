//! Batch norm in train mode (batch statistics, a correct backward) and eval mode.

use candle_core::{Result, Tensor};

use crate::reference;

/// Per-channel statistics of one train-mode batch, for the running-average update.
#[derive(Debug, Clone)]
pub struct BatchStats {
    /// Per-channel mean, shape `(C,)`, detached.
    pub mean: Tensor,
    /// Per-channel biased variance (divided by `count`), shape `(C,)`, detached.
    pub var: Tensor,
    /// Number of values per channel (`N * H * W`).
    pub count: usize,
}

impl BatchStats {
    /// The unbiased variance `var * count / (count - 1)` that torch's running average uses
    /// (the biased one when `count == 1`).
    pub fn unbiased_var(&self) -> Result<Tensor> {
        if self.count > 1 {
            self.var.affine(self.count as f64 / (self.count - 1) as f64, 0.0)
        } else {
            Ok(self.var.clone())
        }
    }
}

/// Batch norm in train mode over axis 1 of `x` (`(N, C)` or `(N, C, *)`), as
/// `torch.nn.functional.batch_norm(training=True)`. Returns the output and the batch statistics.
pub fn batch_norm_train(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<(Tensor, BatchStats)> {
    reference::batch_norm_train(x, weight, bias, eps)
}

/// Batch norm in eval mode with running statistics of shape `(C,)`.
pub fn batch_norm_eval(
    x: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    reference::batch_norm_eval(x, running_mean, running_var, weight, bias, eps)
}
