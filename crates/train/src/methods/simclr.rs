//! SimCLR (Chen et al. 2020, arXiv 2002.05709) as a [`Method`]: an encoder `f` (any
//! [`Backbone`]), a projector `g` ([`MlpConfig::simclr_projector`]: Linear-BN-ReLU x2 -> Linear
//! -> BN without affine, as in EquiMod's SimCLR), and NT-Xent (eq. 1) over the `2N` embeddings
//! `z = g(f(x))` of two views at temperature `T` ([`simclr_nt_xent`]). See
//! `papers/baselines.md`, "SimCLR".
//!
//! Both views go through the networks as one batch of `2N` images, so batch-norm statistics are
//! taken over both views together, as in the reference implementation.

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::{Backbone, Mlp, MlpConfig, ParamStore};
use noether_objectives::{NtXentConfig, simclr_nt_xent};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::method::{Embed, Losses, Method, NamedStore, StepContext};
use crate::methods::byol::check_view_pair;
use crate::methods::check::positive;
use crate::methods::gessl::TaskClassifier;

/// SimCLR's projector widths and temperature.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimClrConfig {
    /// Hidden width of the projector (CIFAR: 2048).
    pub proj_hidden: usize,
    /// Output width of the projector (128).
    pub proj_out: usize,
    /// NT-Xent temperature `T` (CIFAR: 0.5, ImageNet: 0.2).
    pub temperature: f64,
}

impl Default for SimClrConfig {
    /// The CIFAR recipe: projector `-> 2048 -> 2048 -> 128`, `T = 0.5`.
    fn default() -> Self {
        SimClrConfig {
            proj_hidden: 2048,
            proj_out: 128,
            temperature: 0.5,
        }
    }
}

impl SimClrConfig {
    /// Checks the widths and the temperature; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.proj_hidden == 0 {
            return Err(TrainError::config("simclr.proj_hidden", "must be >= 1"));
        }
        if self.proj_out == 0 {
            return Err(TrainError::config("simclr.proj_out", "must be >= 1"));
        }
        positive("simclr.temperature", self.temperature)?;
        Ok(())
    }
}

/// Two augmented views of the same `N` images, each `(N, C, H, W)`.
#[derive(Debug, Clone)]
pub struct ViewPair {
    /// The first views.
    pub x1: Tensor,
    /// The second views, in the same image order.
    pub x2: Tensor,
}

/// SimCLR: encoder and projector in one trained store `model` (`backbone.*`, `projector.*`).
#[derive(Debug)]
pub struct SimClr<B> {
    store: ParamStore,
    backbone: B,
    projector: Mlp,
    loss: NtXentConfig,
}

impl<B: Backbone> SimClr<B> {
    /// SimCLR over `backbone`, which must have been built from `store` (conventionally under
    /// `backbone.`); the projector is created in `store` under `projector.` with `dtype` on
    /// `device`.
    pub fn new(
        store: ParamStore,
        backbone: B,
        config: &SimClrConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<SimClr<B>> {
        config.validate()?;
        let vb = store.var_builder(dtype, device);
        let proj = MlpConfig::simclr_projector(
            backbone.feature_dim(),
            config.proj_hidden,
            config.proj_out,
        );
        let projector = Mlp::new(&proj, vb.pp("projector"))?;
        Ok(SimClr {
            store,
            backbone,
            projector,
            loss: NtXentConfig::new(config.temperature),
        })
    }

    /// The encoder (for evaluation: [`Backbone::features_t`] in eval mode).
    pub fn backbone(&self) -> &B {
        &self.backbone
    }

    /// `z = g(f(x))`: `(N, C, H, W) -> (N, proj_out)`.
    pub fn project(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.backbone.features_t(xs, train)?; // (N, feature_dim)
        Ok(self.projector.forward_t(&h, train)?) // (N, proj_out)
    }
}

impl<B: Backbone> Embed for SimClr<B> {
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.features_t(xs, false)?)
    }

    /// The projection `z = g(f(x))`.
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        self.project(xs, false)
    }
}

impl<B: Backbone> TaskClassifier for SimClr<B> {
    /// The projections of the two views, computed as one batch of `2N` like the loss.
    fn task_embeddings(&mut self, batch: &ViewPair) -> Result<(Tensor, Tensor)> {
        let n = check_view_pair(batch)?;
        let z = self.project(&Tensor::cat(&[&batch.x1, &batch.x2], 0)?, true)?; // (2N, proj_out)
        Ok((z.narrow(0, 0, n)?, z.narrow(0, n, n)?))
    }

    /// The NT-Xent temperature.
    fn task_temperature(&self) -> f64 {
        self.loss.temperature
    }
}

impl<B: Backbone> Method for SimClr<B> {
    type Batch = ViewPair;

    fn name(&self) -> &str {
        "simclr"
    }

    fn stores(&self) -> Vec<NamedStore> {
        vec![NamedStore::trained("model", self.store.clone())]
    }

    fn losses(&mut self, batch: &ViewPair, _ctx: &StepContext) -> Result<Losses> {
        if batch.x1.dims() != batch.x2.dims() || batch.x1.rank() != 4 {
            return Err(TrainError::config(
                "ViewPair",
                format!(
                    "x1 and x2 must both be (N, C, H, W) of one shape; got {:?} and {:?}",
                    batch.x1.dims(),
                    batch.x2.dims()
                ),
            ));
        }
        let n = batch.x1.dim(0)?;
        let both = Tensor::cat(&[&batch.x1, &batch.x2], 0)?; // (2N, C, H, W)
        let z = self.project(&both, true)?; // (2N, proj_out)
        let (z1, z2) = (z.narrow(0, 0, n)?, z.narrow(0, n, n)?);
        let loss = simclr_nt_xent(&z1, &z2, &self.loss)?;
        Losses::new(loss.clone()).with_term("nt_xent", &loss)
    }
}
