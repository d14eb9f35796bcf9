//! EquiMod's equivariance module: Devillers & Lefort, "EquiMod: An Equivariance Module to Improve
//! Visual Instance Discrimination" (arXiv 2211.01244); notes in `papers/equimod.md`.
//!
//! - the transformation encoder `p(t) = BN(W_p t)`: `Linear(t_dim, p_dim, no bias)` + `BN(p_dim)`;
//! - the predictor `yhat_t = u([y0 ; p(t)]) = BN_noaffine(W_u [y0 ; p(t)])`:
//!   `Linear(y_dim + p_dim -> y_dim, no bias)` + `BN(y_dim, affine=false)`.
//!
//! The reference (`ADevillers/EquiMod`, `src/model.py`) builds both as `torch.nn.Sequential`
//! modules named `proj_head_t` and `predictor_eq` on the model root, so the weights here are
//! `proj_head_t.0.weight`, `proj_head_t.1.{weight,bias,running_mean,running_var,
//! num_batches_tracked}`, `predictor_eq.0.weight`, `predictor_eq.1.{running_mean,running_var,
//! num_batches_tracked}` under the [`VarBuilder`] given to [`EquimodPredictor::new`]. Linear
//! weights take torch's default initialisation (uniform in `+-1/sqrt(fan_in)`).

use crate::layers::Linear;
use candle_core::{ModuleT, Tensor};
use candle_nn::{Module, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::layers::require_positive;
use crate::layers::torch_linear;
use crate::norm::{BatchNorm, BatchNormConfig};

/// Sizes of the EquiMod module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquimodConfig {
    /// Length of the augmentation parameter vector `t` (SimCLR CIFAR: 15, ImageNet: 17, BYOL: 18).
    pub t_dim: usize,
    /// Width of the transformation embedding `p(t)` (reference: 128, the equivariant head's width).
    pub p_dim: usize,
    /// Width of the equivariant embedding `y` (128).
    pub y_dim: usize,
}

impl EquimodConfig {
    /// The CIFAR-10 SimCLR setting: `t` of 15 numbers, `p` and `y` of 128.
    pub fn simclr_cifar() -> EquimodConfig {
        EquimodConfig {
            t_dim: 15,
            p_dim: 128,
            y_dim: 128,
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn check(&self) -> Result<()> {
        require_positive(&[
            ("t_dim", self.t_dim),
            ("p_dim", self.p_dim),
            ("y_dim", self.y_dim),
        ])
    }
}

/// The transformation encoder `p`: `Linear(t_dim, p_dim, no bias)` + `BN(p_dim)` (names `0.weight`,
/// `1.*`).
#[derive(Debug, Clone)]
pub struct TransformationEncoder {
    fc: Linear,
    bn: BatchNorm,
    t_dim: usize,
}

impl TransformationEncoder {
    /// An encoder of `t_dim` parameters into `p_dim` features.
    pub fn new(t_dim: usize, p_dim: usize, vb: VarBuilder) -> Result<TransformationEncoder> {
        Ok(TransformationEncoder {
            fc: torch_linear(t_dim, p_dim, false, vb.pp("0"))?,
            bn: BatchNorm::new(p_dim, BatchNormConfig::default(), vb.pp("1"))?,
            t_dim,
        })
    }
}

impl ModuleT for TransformationEncoder {
    /// `t (N, t_dim) -> p(t) (N, p_dim)`; `train` selects batch or running statistics.
    fn forward_t(&self, t: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let (_, d) = t.dims2()?;
        if d != self.t_dim {
            candle_core::bail!(
                "equimod encoder: t {:?}, expected (N, {})",
                t.dims(),
                self.t_dim
            );
        }
        self.bn.forward_t(&self.fc.forward(t)?, train)
    }
}

/// The EquiMod predictor `yhat = u([y0 ; p(t)])` with its transformation encoder `p`.
#[derive(Debug, Clone)]
pub struct EquimodPredictor {
    encoder: TransformationEncoder,
    fc: Linear,
    bn: BatchNorm,
    config: EquimodConfig,
}

impl EquimodPredictor {
    /// The encoder under `vb.pp("proj_head_t")` and `u` under `vb.pp("predictor_eq")`.
    pub fn new(config: &EquimodConfig, vb: VarBuilder) -> Result<EquimodPredictor> {
        config.check()?;
        let encoder = TransformationEncoder::new(config.t_dim, config.p_dim, vb.pp("proj_head_t"))?;
        let u = vb.pp("predictor_eq");
        let fc = torch_linear(config.y_dim + config.p_dim, config.y_dim, false, u.pp("0"))?;
        let bn = BatchNorm::new(
            config.y_dim,
            BatchNormConfig {
                affine: false,
                ..BatchNormConfig::default()
            },
            u.pp("1"),
        )?;
        Ok(EquimodPredictor {
            encoder,
            fc,
            bn,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EquimodConfig {
        &self.config
    }

    /// The transformation encoder `p`.
    pub fn encoder(&self) -> &TransformationEncoder {
        &self.encoder
    }

    /// `y0 (N, y_dim)`, `t (N, t_dim)` -> `yhat (N, y_dim)`, the predicted embedding of the
    /// augmented view. `train` selects batch or running statistics in both batch norms (and
    /// updates the running ones).
    pub fn forward_t(&self, y0: &Tensor, t: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let p = self.encoder.forward_t(t, train)?;
        self.predict_from_embedding(y0, &p, train)
    }

    /// `y0 (N, y_dim)`, `p (N, p_dim)` (an already encoded transformation) -> `yhat (N, y_dim)`.
    pub fn predict_from_embedding(
        &self,
        y0: &Tensor,
        p: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (n, dy) = y0.dims2()?;
        let (np, dp) = p.dims2()?;
        if dy != self.config.y_dim || dp != self.config.p_dim || n != np {
            candle_core::bail!(
                "equimod predictor: y0 {:?} and p {:?}, expected (N, {}) and (N, {})",
                y0.dims(),
                p.dims(),
                self.config.y_dim,
                self.config.p_dim
            );
        }
        let z = Tensor::cat(&[y0, p], 1)?;
        self.bn.forward_t(&self.fc.forward(&z)?, train)
    }
}
