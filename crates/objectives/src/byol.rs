//! The BYOL loss (Grill et al. 2020, arXiv 2006.07733, eq. (2)): the squared distance of the
//! L2-normalised online prediction and target projection,
//!
//! `L(p, z) = | p/|p| - sg(z)/|z| |^2 = 2 - 2 cos(p, sg(z))`, averaged over the batch,
//!
//! symmetrised over the two views as `L_total = L(p1, z2) + L(p2, z1)` (the paper's
//! `L + L~`; EquiMod's `BYOLLoss` returns the same sum as twice the mean over the `2N`
//! concatenated rows).
//!
//! The target is detached inside: in BYOL it comes from the EMA target network and receives no
//! gradient.

use candle_core::{Result, Tensor};

use crate::check;
use crate::similarity::cosine_similarity_rows;

/// One direction of the BYOL loss: `mean_i (2 - 2 cos(p_i, sg(z_i)))`.
///
/// Shapes: `online_prediction` (`q(z_online)` of one view) and `target_projection` (the
/// target network's projection of the other view) are `(N, d)`; the result is a scalar in
/// `[0, 4]`. No gradient flows into `target_projection`.
pub fn byol_loss(online_prediction: &Tensor, target_projection: &Tensor) -> Result<Tensor> {
    let func = "byol_loss";
    check::matrix(func, "online_prediction", online_prediction, 1)?;
    check::like(
        func,
        "online_prediction",
        online_prediction,
        "target_projection",
        target_projection,
    )?;
    let cos = cosine_similarity_rows(online_prediction, &target_projection.detach())?;
    cos.affine(-2.0, 2.0)?.mean_all()
}

/// The symmetrised BYOL loss `L(p1, z2) + L(p2, z1)`.
///
/// Shapes: `p1`, `p2` (online predictions of views 1 and 2) and `z1`, `z2` (target
/// projections of views 1 and 2) are `(N, d)`; the result is a scalar in `[0, 8]`.
pub fn byol_loss_symmetric(p1: &Tensor, p2: &Tensor, z1: &Tensor, z2: &Tensor) -> Result<Tensor> {
    let func = "byol_loss_symmetric";
    check::matrix(func, "p1", p1, 1)?;
    check::like(func, "p1", p1, "p2", p2)?;
    check::like(func, "p1", p1, "z1", z1)?;
    check::like(func, "p1", p1, "z2", z2)?;
    byol_loss(p1, z2)? + byol_loss(p2, z1)?
}
