//! ContextSSL's auxiliary predictor loss (Gupta et al., "In-Context Symmetries:
//! Self-Supervised Learning through Contextual World Models", arXiv 2405.18193; reference
//! `Sharut/In-Context-Symmetries`, `main.py`).
//!
//! An MLP on the L2-normalised token outputs regresses the absolute latents of the target
//! view, `[q_x, q_y, q_z, q_w, floor hue, spot hue]` (6 columns), for both tokens of every pair.
//! Only the part of the action the current environment keeps is supervised:
//!
//! - `rot`: `MSE(pred[:, 0..4], target[:, 0..4])`;
//! - `color`: `MSE(pred[:, 4..6], target[:, 4..6])`;
//! - `rotcolor` (in the code, not in the paper's runs): the sum of the two.
//!
//! That is a masked MSE ([`crate::masked_mse`]) with a per-column mask, summed over the
//! environment's column groups. The total ContextSSL loss is
//! `contextssl_nt_xent + 5 * contextssl_aux_loss` (the contrastive part is
//! [`crate::contextssl_nt_xent`]).

use std::ops::Range;

use candle_core::{DType, Device, Result, Tensor};

use crate::check;
use crate::regression::{column_mask, masked_mse};

/// The rotation columns (relative / absolute quaternion, scipy order `x, y, z, w`) of
/// ContextSSL's 6-float action and latent layout.
pub const CONTEXTSSL_ROTATION_COLUMNS: Range<usize> = 0..4;
/// The colour columns (floor hue, spot-light hue) of ContextSSL's 6-float layout.
pub const CONTEXTSSL_COLOR_COLUMNS: Range<usize> = 4..6;
/// Width of ContextSSL's action and latent vectors.
pub const CONTEXTSSL_ACTION_DIM: usize = 6;
/// The weight of the auxiliary loss in the reference (`weight_equiv_loss`).
pub const CONTEXTSSL_AUX_WEIGHT: f64 = 5.0;

/// Which transformation an iteration's context is about; decides the supervised columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextEnv {
    /// `rot`: rotation columns only (colour part of the action zeroed).
    Rotation,
    /// `color`: colour columns only (rotation part of the action zeroed).
    Color,
    /// `rotcolor`: both, as two separately averaged terms.
    RotationColor,
}

impl ContextEnv {
    /// The column groups this environment supervises, each averaged separately.
    pub fn column_groups(self) -> Vec<Range<usize>> {
        match self {
            ContextEnv::Rotation => vec![CONTEXTSSL_ROTATION_COLUMNS],
            ContextEnv::Color => vec![CONTEXTSSL_COLOR_COLUMNS],
            ContextEnv::RotationColor => {
                vec![CONTEXTSSL_ROTATION_COLUMNS, CONTEXTSSL_COLOR_COLUMNS]
            }
        }
    }

    /// A `(6,)` column mask with ones on every supervised column (for [`crate::masked_mse`]).
    pub fn column_mask(self, dtype: DType, device: &Device) -> Result<Tensor> {
        column_mask(CONTEXTSSL_ACTION_DIM, &self.column_groups(), dtype, device)
    }
}

/// The auxiliary predictor loss of ContextSSL in environment `env`: the sum over the
/// environment's column groups of the MSE restricted to that group (a masked MSE per group).
///
/// Shapes: `pred` (the predictor's output for every token) and `target` (the target view's
/// latents, repeated for both tokens of a pair) are `(2N, 6)`; the result is a scalar.
pub fn contextssl_aux_loss(pred: &Tensor, target: &Tensor, env: ContextEnv) -> Result<Tensor> {
    let func = "contextssl_aux_loss";
    let (_, k) = check::matrix(func, "pred", pred, 1)?;
    if k != CONTEXTSSL_ACTION_DIM {
        candle_core::bail!(
            "{func}: `pred` must have {CONTEXTSSL_ACTION_DIM} columns (quaternion, two hues), \
             got {k}"
        );
    }
    check::like(func, "pred", pred, "target", target)?;
    let mut total = Tensor::zeros((), pred.dtype(), pred.device())?;
    for g in env.column_groups() {
        let mask = column_mask(k, &[g], pred.dtype(), pred.device())?;
        total = (total + masked_mse(pred, target, &mask)?)?;
    }
    Ok(total)
}
