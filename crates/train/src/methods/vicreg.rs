//! VICReg (Bardes et al. 2022, arXiv 2105.04906) as a [`Method`]: an encoder `f` (any
//! [`Backbone`]), an expander `h` ([`MlpConfig::vicreg_expander`]: `[Linear-BN-ReLU] x2 ->
//! Linear`), and the loss `lambda s(z, z') + mu [v(z) + v(z')] / 2 + nu [c(z) + c(z')]` on
//! the expanded embeddings of two views ([`vicreg_loss`], eq. 6, with the variance part halved
//! as in the reference code's `std_loss`). See `papers/baselines.md`, "VICReg".
//!
//! Both views go through the networks as one batch of `2N` images (batch-norm statistics over
//! both views), as in SimCLR here; the VICReg reference runs the two views separately.

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::{Backbone, Mlp, MlpConfig, ParamStore};
use noether_objectives::{VicRegWeights, vicreg_loss};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::method::{Embed, Losses, Method, NamedStore, StepContext};
use crate::methods::byol::check_view_pair;
use crate::methods::gessl::{DEFAULT_TASK_TEMPERATURE, TaskClassifier};
use crate::methods::simclr::ViewPair;

/// VICReg's expander widths and loss weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VicregConfig {
    /// Hidden width of the expander's two hidden layers (paper: 8192; default 2048).
    pub expander_hidden: usize,
    /// Output width of the expander (paper: 8192; default 2048).
    pub expander_out: usize,
    /// `lambda`, the weight of the invariance term (25).
    pub lambda: f64,
    /// `mu`, the weight of the variance term (25).
    pub mu: f64,
    /// `nu`, the weight of the covariance term (1).
    pub nu: f64,
}

impl Default for VicregConfig {
    /// The paper's loss weights (`lambda = mu = 25`, `nu = 1`) with a narrower expander
    /// `-> 2048 -> 2048 -> 2048` (the covariance term costs `O(N d^2)`; 8192 is a GPU
    /// setting, see [`VicregConfig::paper`]).
    fn default() -> Self {
        VicregConfig {
            expander_hidden: 2048,
            expander_out: 2048,
            lambda: 25.0,
            mu: 25.0,
            nu: 1.0,
        }
    }
}

impl VicregConfig {
    /// The paper's setting: expander `-> 8192 -> 8192 -> 8192`, `lambda = mu = 25`, `nu = 1`.
    pub fn paper() -> VicregConfig {
        VicregConfig {
            expander_hidden: 8192,
            expander_out: 8192,
            ..VicregConfig::default()
        }
    }

    /// Checks the widths and the weights; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.expander_hidden == 0 {
            return Err(TrainError::config("vicreg.expander_hidden", "must be >= 1"));
        }
        if self.expander_out == 0 {
            return Err(TrainError::config("vicreg.expander_out", "must be >= 1"));
        }
        for (field, w) in [
            ("vicreg.lambda", self.lambda),
            ("vicreg.mu", self.mu),
            ("vicreg.nu", self.nu),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(TrainError::config(
                    field,
                    format!("must be finite and >= 0 (got {w})"),
                ));
            }
        }
        Ok(())
    }
}

/// VICReg: encoder and expander in one trained store `model` (`backbone.*`, `expander.*`).
#[derive(Debug)]
pub struct Vicreg<B> {
    store: ParamStore,
    backbone: B,
    expander: Mlp,
    weights: VicRegWeights,
}

impl<B: Backbone> Vicreg<B> {
    /// VICReg over `backbone`, which must have been built from `store` (conventionally under
    /// `backbone.`); the expander is created in `store` under `expander.` with `dtype` on
    /// `device`.
    pub fn new(
        store: ParamStore,
        backbone: B,
        config: &VicregConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Vicreg<B>> {
        config.validate()?;
        let exp = MlpConfig::vicreg_expander(
            backbone.feature_dim(),
            config.expander_hidden,
            config.expander_out,
        );
        let expander = Mlp::new(&exp, store.var_builder(dtype, device).pp("expander"))?;
        Ok(Vicreg {
            store,
            backbone,
            expander,
            weights: VicRegWeights {
                invariance: config.lambda,
                variance: config.mu,
                covariance: config.nu,
            },
        })
    }

    /// The encoder.
    pub fn backbone(&self) -> &B {
        &self.backbone
    }

    /// `z = h(f(x))`: `(N, C, H, W) -> (N, expander_out)`.
    pub fn expand(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let y = self.backbone.features_t(xs, train)?; // (N, feature_dim)
        Ok(self.expander.forward_t(&y, train)?) // (N, expander_out)
    }
}

impl<B: Backbone> Embed for Vicreg<B> {
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.features_t(xs, false)?)
    }

    /// The expansion `z = h(f(x))`.
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        self.expand(xs, false)
    }
}

impl<B: Backbone> TaskClassifier for Vicreg<B> {
    /// The expansions of the two views, as one batch.
    fn task_embeddings(&mut self, batch: &ViewPair) -> Result<(Tensor, Tensor)> {
        let n = check_view_pair(batch)?;
        let z = self.expand(&Tensor::cat(&[&batch.x1, &batch.x2], 0)?, true)?; // (2N, expander_out)
        Ok((z.narrow(0, 0, n)?, z.narrow(0, n, n)?))
    }

    /// VICReg has none: [`DEFAULT_TASK_TEMPERATURE`].
    fn task_temperature(&self) -> f64 {
        DEFAULT_TASK_TEMPERATURE
    }
}

impl<B: Backbone> Method for Vicreg<B> {
    type Batch = ViewPair;

    fn name(&self) -> &str {
        "vicreg"
    }

    fn stores(&self) -> Vec<NamedStore> {
        vec![NamedStore::trained("model", self.store.clone())]
    }

    /// Terms: `invariance` (`s`), `variance` (`[v(z) + v(z')] / 2`), `covariance`
    /// (`c(z) + c(z')`), unweighted, as [`noether_objectives::VicRegTerms`].
    fn losses(&mut self, batch: &ViewPair, _ctx: &StepContext) -> Result<Losses> {
        let n = check_view_pair(batch)?;
        if n < 2 {
            return Err(TrainError::config(
                "ViewPair",
                "VICReg needs at least 2 images per batch (batch variance and covariance)",
            ));
        }
        let both = Tensor::cat(&[&batch.x1, &batch.x2], 0)?; // (2N, C, H, W)
        let z = self.expand(&both, true)?; // (2N, expander_out)
        let t = vicreg_loss(&z.narrow(0, 0, n)?, &z.narrow(0, n, n)?, &self.weights)?;
        Losses::new(t.total.clone())
            .with_term("invariance", &t.invariance)?
            .with_term("variance", &t.variance)?
            .with_term("covariance", &t.covariance)
    }
}
