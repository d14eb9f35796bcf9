//! AugSelf (Lee et al., "Improving Transferability of Representations via Augmentation-Aware
//! Self-Supervision", NeurIPS 2021, arXiv 2111.09613): an auxiliary head regresses, from the
//! representations of two views, how the augmentation differs between them,
//!
//! `L_AugSelf = sum_aug | phi_aug(f(x1), f(x2)) - (omega_aug(x1) - omega_aug(x2)) |^2`,
//!
//! each augmentation's squared error averaged over the batch and its parameters (`F.mse_loss`).
//!
//! The loss takes the head's output and the target vector; the caller builds both (the head
//! is a model, the target an augmentation-parameter difference or, for the SIE paper's
//! "SimCLR + AugSelf" baseline on 3DIEBench, the relative rotation quaternion, where the
//! reference computes one `F.mse_loss(angle_pred, z)` over all four numbers, weight 1).

use std::ops::Range;

use candle_core::{Result, Tensor};

use crate::check;
use crate::regression::{grouped_mse, mse};

/// AugSelf with one augmentation (or all parameters averaged together, as the SIE reference's
/// baseline): `mean((predicted - target)^2)`.
///
/// Shapes: `predicted` (the head's output on `[f(x1); f(x2)]`) and `target` (the parameter
/// difference) are `(N, k)`; the result is a scalar.
pub fn augself_loss(predicted: &Tensor, target: &Tensor) -> Result<Tensor> {
    check_pair("augself_loss", predicted, target)?;
    mse(predicted, target)
}

/// AugSelf with several augmentations packed in one parameter vector: the sum over `groups`
/// (one column range per augmentation, e.g. crop `0..4`, colour `4..8`) of each group's MSE.
///
/// Shapes: `predicted` and `target` are `(N, k)`; each group is a non-empty range in `0..k`;
/// the result is a scalar.
pub fn augself_loss_grouped(
    predicted: &Tensor,
    target: &Tensor,
    groups: &[Range<usize>],
) -> Result<Tensor> {
    check_pair("augself_loss_grouped", predicted, target)?;
    grouped_mse(predicted, target, groups)
}

fn check_pair(func: &str, predicted: &Tensor, target: &Tensor) -> Result<()> {
    check::matrix(func, "predicted", predicted, 1)?;
    check::like(func, "predicted", predicted, "target", target)
}
