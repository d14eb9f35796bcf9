//! BYOL (Grill et al. 2020, arXiv 2006.07733) as a [`Method`]: an online network (encoder `f`,
//! projector `g` and predictor `q`, [`MlpConfig::byol_projector`]: `Linear-BN-ReLU -> Linear`,
//! 4096-256) trained to predict the projection of the other view by a target network (encoder
//! and projector) that is an exponential moving average of the online one. Loss: the
//! symmetrised [`byol_loss_symmetric`] (eq. 2 and its mirror), `2 - 2 cos(q(z1), sg(z'2))`
//! plus the same with the views swapped. See `papers/baselines.md`, "BYOL".
//!
//! ## Target network
//!
//! The target lives in its own store, `target` (saved and restored, never optimized). It is
//! built by the same backbone constructor as the online encoder and starts as a copy of the
//! online weights (every variable, buffers included). After each optimizer update its
//! parameters (not its batch-norm buffers, as in the BYOL and EquiMod reference code) move by
//! [`ema_update`] at rate [`byol_tau`]`(tau0, k, K)` with `k` = [`StepContext::step`], the
//! 0-based index of the update just applied, and `K` the steps of the run: the first move uses
//! `tau0`, the last `1 - (1 - tau0)(cos(pi (K-1)/K) + 1)/2`, close to 1.
//!
//! The target runs in train mode (batch statistics, its own running statistics updated), as in
//! the BYOL reference, and its output is detached: it receives no gradient.
//!
//! Both views go through each network as one batch of `2N` images.

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use noether_models::{Backbone, Mlp, MlpConfig, ParamStore};
use noether_objectives::byol_loss_symmetric;
use noether_ops::optim::{byol_tau, ema_update};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::method::{Embed, Losses, Method, NamedStore, StepContext};
use crate::methods::gessl::{DEFAULT_TASK_TEMPERATURE, TaskClassifier};
use crate::methods::simclr::ViewPair;

/// BYOL's head widths and base EMA rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByolConfig {
    /// Hidden width of the projector (4096).
    pub proj_hidden: usize,
    /// Output width of the projector and of the predictor (256).
    pub proj_out: usize,
    /// Hidden width of the predictor (4096).
    pub pred_hidden: usize,
    /// Base EMA rate `tau0` of the target (0.996).
    pub tau0: f64,
}

impl Default for ByolConfig {
    /// The paper's heads, projector `-> 4096 -> 256`, predictor `256 -> 4096 -> 256`, and
    /// `tau0 = 0.996`.
    fn default() -> Self {
        ByolConfig {
            proj_hidden: 4096,
            proj_out: 256,
            pred_hidden: 4096,
            tau0: 0.996,
        }
    }
}

impl ByolConfig {
    /// Checks the widths and `tau0`; errors name the field.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("byol.proj_hidden", self.proj_hidden),
            ("byol.proj_out", self.proj_out),
            ("byol.pred_hidden", self.pred_hidden),
        ] {
            if v == 0 {
                return Err(TrainError::config(field, "must be >= 1"));
            }
        }
        validate_tau0("byol.tau0", self.tau0)
    }
}

/// Checks a base EMA rate: finite, in `[0, 1]`.
pub(crate) fn validate_tau0(field: &str, tau0: f64) -> Result<()> {
    if !(tau0.is_finite() && (0.0..=1.0).contains(&tau0)) {
        return Err(TrainError::config(
            field,
            format!("must be in [0, 1] (got {tau0})"),
        ));
    }
    Ok(())
}

/// An EMA target: an encoder and a projector in their own store, starting as a copy of the
/// online ones (same variable names) and moved towards them by [`EmaTarget::update`].
#[derive(Debug)]
pub(crate) struct EmaTarget<B> {
    store: ParamStore,
    backbone: B,
    projector: Mlp,
    /// The target's parameters and, at the same index, the online parameter of the same name.
    target_vars: Vec<Var>,
    online_vars: Vec<Var>,
}

impl<B: Backbone> EmaTarget<B> {
    /// Builds the target encoder with `make_backbone` and a projector `projector` (under
    /// `projector.`) in a new store, and copies every variable from `online` by name; a target
    /// variable missing from `online` or of another shape is an error.
    pub(crate) fn new(
        online: &ParamStore,
        make_backbone: &impl Fn(&ParamStore) -> Result<B>,
        projector: &MlpConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<EmaTarget<B>> {
        // The initial values are overwritten below; the seed only has to be fixed.
        let store = ParamStore::seeded(0);
        let backbone = make_backbone(&store)?;
        let projector = Mlp::new(projector, store.var_builder(dtype, device).pp("projector"))?;
        for p in store.all()? {
            let src = online.get(&p.name)?.ok_or_else(|| {
                TrainError::config(
                    "target network",
                    format!("`{}` has no online variable of that name", p.name),
                )
            })?;
            if src.dims() != p.var.dims() {
                return Err(TrainError::config(
                    "target network",
                    format!(
                        "`{}` is {:?} in the target but {:?} online",
                        p.name,
                        p.var.dims(),
                        src.dims()
                    ),
                ));
            }
            p.var.set(src.as_tensor())?;
        }
        let mut target_vars = Vec::new();
        let mut online_vars = Vec::new();
        for p in store.trainable()? {
            if let Some(o) = online.get(&p.name)? {
                target_vars.push(p.var);
                online_vars.push(o);
            }
        }
        Ok(EmaTarget {
            store,
            backbone,
            projector,
            target_vars,
            online_vars,
        })
    }

    /// The target's store.
    pub(crate) fn store(&self) -> &ParamStore {
        &self.store
    }

    /// The target encoder.
    pub(crate) fn backbone(&self) -> &B {
        &self.backbone
    }

    /// `sg(g'(f'(x)))` in train mode: `(M, C, H, W) -> (M, proj_out)`, detached.
    pub(crate) fn project(&self, xs: &Tensor) -> Result<Tensor> {
        let h = self.backbone.features_t(xs, true)?; // (M, feature_dim)
        Ok(self.projector.forward_t(&h, true)?.detach()) // (M, proj_out)
    }

    /// `target <- tau target + (1 - tau) online` for every parameter (not the buffers).
    pub(crate) fn update(&self, tau: f64) -> Result<()> {
        Ok(ema_update(&self.target_vars, &self.online_vars, tau)?)
    }
}

/// Checks a [`ViewPair`]: two `(N, C, H, W)` tensors of one shape.
pub(crate) fn check_view_pair(batch: &ViewPair) -> Result<usize> {
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
    Ok(batch.x1.dim(0)?)
}

/// BYOL: the online network in the trained store `online` (`backbone.*`, `projector.*`,
/// `predictor.*`), the EMA target in the frozen store `target` (`backbone.*`, `projector.*`).
#[derive(Debug)]
pub struct Byol<B> {
    online: ParamStore,
    backbone: B,
    projector: Mlp,
    predictor: Mlp,
    target: EmaTarget<B>,
    tau0: f64,
}

impl<B: Backbone> Byol<B> {
    /// BYOL with the encoder built by `make_backbone` (called twice: once on `online`, once on
    /// the target's store; it must create the encoder under `backbone.`, e.g.
    /// `|s| Ok(ConvNet::new(&cfg, s.var_builder(dtype, &device).pp("backbone"))?)`). The heads
    /// are created in `online` with `dtype` on `device`; the target starts as a copy of the
    /// online encoder and projector.
    pub fn new(
        online: ParamStore,
        make_backbone: impl Fn(&ParamStore) -> Result<B>,
        config: &ByolConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Byol<B>> {
        config.validate()?;
        let backbone = make_backbone(&online)?;
        let proj =
            MlpConfig::byol_projector(backbone.feature_dim(), config.proj_hidden, config.proj_out);
        let pred = MlpConfig::byol_projector(config.proj_out, config.pred_hidden, config.proj_out);
        let vb = online.var_builder(dtype, device);
        let projector = Mlp::new(&proj, vb.pp("projector"))?;
        let predictor = Mlp::new(&pred, vb.pp("predictor"))?;
        let target = EmaTarget::new(&online, &make_backbone, &proj, dtype, device)?;
        Ok(Byol {
            online,
            backbone,
            projector,
            predictor,
            target,
            tau0: config.tau0,
        })
    }

    /// The online encoder.
    pub fn backbone(&self) -> &B {
        &self.backbone
    }

    /// The target encoder (an EMA of the online one).
    pub fn target_backbone(&self) -> &B {
        self.target.backbone()
    }

    /// `z = g(f(x))`, the online projection: `(N, C, H, W) -> (N, proj_out)`.
    pub fn project(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.backbone.features_t(xs, train)?; // (N, feature_dim)
        Ok(self.projector.forward_t(&h, train)?) // (N, proj_out)
    }

    /// `q(g(f(x)))`, the online prediction: `(N, C, H, W) -> (N, proj_out)`.
    pub fn predict(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let z = self.project(xs, train)?; // (N, proj_out)
        Ok(self.predictor.forward_t(&z, train)?) // (N, proj_out)
    }
}

impl<B: Backbone> Embed for Byol<B> {
    /// The online encoder's features.
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.features_t(xs, false)?)
    }

    /// The online projection `z = g(f(x))` (before the predictor).
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        self.project(xs, false)
    }
}

impl<B: Backbone> TaskClassifier for Byol<B> {
    /// The online projections (before the predictor) of the two views, as one batch.
    fn task_embeddings(&mut self, batch: &ViewPair) -> Result<(Tensor, Tensor)> {
        let n = check_view_pair(batch)?;
        let z = self.project(&Tensor::cat(&[&batch.x1, &batch.x2], 0)?, true)?; // (2N, proj_out)
        Ok((z.narrow(0, 0, n)?, z.narrow(0, n, n)?))
    }

    /// BYOL has none: [`DEFAULT_TASK_TEMPERATURE`].
    fn task_temperature(&self) -> f64 {
        DEFAULT_TASK_TEMPERATURE
    }
}

impl<B: Backbone> Method for Byol<B> {
    type Batch = ViewPair;

    fn name(&self) -> &str {
        "byol"
    }

    fn stores(&self) -> Vec<NamedStore> {
        vec![
            NamedStore::trained("online", self.online.clone()),
            NamedStore::frozen("target", self.target.store().clone()),
        ]
    }

    fn losses(&mut self, batch: &ViewPair, _ctx: &StepContext) -> Result<Losses> {
        let n = check_view_pair(batch)?;
        let both = Tensor::cat(&[&batch.x1, &batch.x2], 0)?; // (2N, C, H, W)
        let q = self.predict(&both, true)?; // (2N, proj_out)
        let zt = self.target.project(&both)?; // (2N, proj_out), detached
        let loss = byol_loss_symmetric(
            &q.narrow(0, 0, n)?,
            &q.narrow(0, n, n)?,
            &zt.narrow(0, 0, n)?,
            &zt.narrow(0, n, n)?,
        )?;
        Losses::new(loss.clone()).with_term("byol", &loss)
    }

    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        self.target
            .update(byol_tau(self.tau0, ctx.step, ctx.total_steps))
    }
}
