//! EquiMod (Devillers & Lefort 2023, arXiv 2211.01244) as a [`Method`]: SimCLR or BYOL plus an
//! equivariance module that predicts how the embedding of an image moves under an augmentation
//! with parameters `t`. Notes: `papers/equimod.md`.
//!
//! Networks, all in the trained store (`model` with the SimCLR base, `online` with BYOL):
//!
//! | part | names | shape |
//! |---|---|---|
//! | encoder `f` | `backbone.*` | any [`Backbone`] |
//! | invariance head `g` | `projector.*` | SimCLR: [`MlpConfig::simclr_projector`] `h -> inv_hidden -> inv_hidden -> inv_out`; BYOL: `Linear(no bias)-BN-ReLU-Linear` `h -> inv_hidden -> inv_out` |
//! | BYOL predictor `q` | `predictor.*` | `inv_out -> inv_hidden -> inv_out`, as `g` |
//! | equivariance head `g'` | `eq_projector.*` | [`MlpConfig::simclr_projector`] `h -> eq_hidden -> eq_hidden -> y_dim` |
//! | transformation encoder `p`, predictor `u` | `equimod.proj_head_t.*`, `equimod.predictor_eq.*` | [`EquimodPredictor`] |
//!
//! With the BYOL base an EMA target of `f` and `g` lives in the frozen store `target`, as in
//! [`crate::methods::Byol`] (same initial copy, same `tau` schedule and step indexing); the
//! equivariance part has no target.
//!
//! Loss of one step, with `h = f([x0; x1; x2])` computed as one `3N` batch (the reference's
//! layout, so batch norm sees all three), `y = g'(h)` split into `y0, y1, y2`, and
//! `yhat_t = u([y0 ; p(t_t)])` computed for both views as one `2N` batch:
//!
//! `L = L_inv + lambda L_equi`, `L_equi = NT-Xent_{T_y}([y1; y2; yhat1; yhat2])`
//! ([`equimod_nt_xent`]: the positive of `y_t,i` is `yhat_t,i`, everything else is a negative),
//! and `L_inv` SimCLR's [`simclr_nt_xent`] on `g(f(x1)), g(f(x2))` at `T_z`, or the symmetrised
//! [`byol_loss_symmetric`] of `q(g(f(x_t)))` against the target's projection of the other view.
//! No stop-gradient in `L_equi`: gradients flow through `y0` and `y_t`. Terms logged: `inv`,
//! `equi`.

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::{Backbone, EquimodPredictor, Mlp, MlpConfig, ParamStore};
use noether_objectives::{NtXentConfig, byol_loss_symmetric, equimod_nt_xent, simclr_nt_xent};
use noether_ops::optim::byol_tau;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::method::{Embed, Losses, Method, NamedStore, StepContext};
use crate::methods::byol::{EmaTarget, validate_tau0};
use crate::methods::check::{check_weight, positive};
use crate::methods::gessl::{DEFAULT_TASK_TEMPERATURE, TaskClassifier};

/// An EquiMod batch: the un-augmented images, two augmented views and their standardised
/// augmentation parameter vectors.
#[derive(Debug, Clone)]
pub struct EquimodBatch {
    /// The un-augmented images `x0`, `(N, C, H, W)`: the source of `x1` (and of `x2` unless
    /// `x0b` is given).
    pub x0: Tensor,
    /// The un-augmented source of `x2` when it is another image than `x0` (3DIEBench's
    /// object-view pairs, [`crate::data::Pairing::ObjectViews`]); `t2` is relative to it.
    pub x0b: Option<Tensor>,
    /// The first views `x1`, `(N, C, H, W)`, in the same image order.
    pub x1: Tensor,
    /// The second views `x2`, `(N, C, H, W)`, in the same image order.
    pub x2: Tensor,
    /// The standardised parameters of the augmentation that made `x1`, `(N, t_dim)` f32.
    pub t1: Tensor,
    /// The standardised parameters of the augmentation that made `x2`, `(N, t_dim)` f32.
    pub t2: Tensor,
}

impl EquimodBatch {
    /// Checks the shapes (`x0`, `x1`, `x2` one `(N, C, H, W)` shape, `t1`, `t2` `(N, t_dim)`)
    /// and returns `N`; the error names the field.
    pub fn check(&self, t_dim: usize) -> Result<usize> {
        if self.x0.rank() != 4 {
            return Err(TrainError::config(
                "EquimodBatch.x0",
                format!("must be (N, C, H, W), got {:?}", self.x0.dims()),
            ));
        }
        let mut same_shape = vec![("EquimodBatch.x1", &self.x1), ("EquimodBatch.x2", &self.x2)];
        if let Some(x0b) = &self.x0b {
            same_shape.push(("EquimodBatch.x0b", x0b));
        }
        for (field, x) in same_shape {
            if x.dims() != self.x0.dims() {
                return Err(TrainError::config(
                    field,
                    format!(
                        "must have x0's shape {:?}, got {:?}",
                        self.x0.dims(),
                        x.dims()
                    ),
                ));
            }
        }
        let n = self.x0.dim(0)?;
        for (field, t) in [("EquimodBatch.t1", &self.t1), ("EquimodBatch.t2", &self.t2)] {
            if t.dims() != [n, t_dim] {
                return Err(TrainError::config(
                    field,
                    format!("must be (N, t_dim) = ({n}, {t_dim}), got {:?}", t.dims()),
                ));
            }
        }
        Ok(n)
    }
}

/// The invariance method EquiMod is added to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EquimodBase {
    /// SimCLR: NT-Xent on `z1, z2` at temperature `temperature_z` (CIFAR 0.5, ImageNet 0.2).
    SimClr {
        /// The temperature `T_z`.
        temperature_z: f64,
    },
    /// BYOL: predictor, EMA target with base rate `tau0` (0.996), symmetrised BYOL loss.
    Byol {
        /// The base EMA rate `tau0`.
        tau0: f64,
    },
}

/// EquiMod's settings: the base method, head widths, sizes of the equivariance module, `T_y`
/// and `lambda`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquimodConfig {
    /// The invariance method.
    pub base: EquimodBase,
    /// Hidden width of the invariance head (and of BYOL's predictor): SimCLR 2048, BYOL 4096.
    pub inv_hidden: usize,
    /// Output width of the invariance head `z`: SimCLR 128, BYOL 256.
    pub inv_out: usize,
    /// Hidden width of the equivariance head `g'` (2048).
    pub eq_hidden: usize,
    /// Width of the equivariant embedding `y` (128).
    pub y_dim: usize,
    /// Width of the transformation embedding `p(t)` (128).
    pub p_dim: usize,
    /// Length of the augmentation parameter vector `t`, given by the data (SimCLR CIFAR: 15,
    /// SimCLR ImageNet: 17, BYOL: 18).
    pub t_dim: usize,
    /// The temperature `T_y` of `L_equi` (0.2).
    pub temperature_y: f64,
    /// The weight `lambda` of `L_equi` (1).
    pub lambda: f64,
}

impl EquimodConfig {
    /// SimCLR + EquiMod on CIFAR-10: heads `-> 2048 -> 2048 -> 128`, `T_z = 0.5`,
    /// `T_y = 0.2`, `lambda = 1`, `t` of 15, `p(t)` of 128.
    pub fn simclr_cifar() -> EquimodConfig {
        EquimodConfig {
            base: EquimodBase::SimClr { temperature_z: 0.5 },
            inv_hidden: 2048,
            inv_out: 128,
            eq_hidden: 2048,
            y_dim: 128,
            p_dim: 128,
            t_dim: 15,
            temperature_y: 0.2,
            lambda: 1.0,
        }
    }

    /// BYOL + EquiMod on CIFAR-10: invariance head and predictor `-> 4096 -> 256`,
    /// `tau0 = 0.996`, equivariance part as [`EquimodConfig::simclr_cifar`], `t` of 18.
    pub fn byol_cifar() -> EquimodConfig {
        EquimodConfig {
            base: EquimodBase::Byol { tau0: 0.996 },
            inv_hidden: 4096,
            inv_out: 256,
            t_dim: 18,
            ..EquimodConfig::simclr_cifar()
        }
    }

    /// Checks every field; errors name it.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("equimod.inv_hidden", self.inv_hidden),
            ("equimod.inv_out", self.inv_out),
            ("equimod.eq_hidden", self.eq_hidden),
            ("equimod.y_dim", self.y_dim),
            ("equimod.p_dim", self.p_dim),
            ("equimod.t_dim", self.t_dim),
        ] {
            if v == 0 {
                return Err(TrainError::config(field, "must be >= 1"));
            }
        }
        positive("equimod.temperature_y", self.temperature_y)?;
        check_weight("equimod.lambda", self.lambda)?;
        match self.base {
            EquimodBase::SimClr { temperature_z } => {
                positive("equimod.base.temperature_z", temperature_z)
            }
            EquimodBase::Byol { tau0 } => validate_tau0("equimod.base.tau0", tau0),
        }
    }
}

/// The invariance branch.
#[derive(Debug)]
enum Invariance<B> {
    SimClr {
        loss: NtXentConfig,
    },
    Byol {
        predictor: Mlp,
        target: Box<EmaTarget<B>>,
        tau0: f64,
    },
}

/// EquiMod over SimCLR or BYOL; see the module documentation for the networks and stores.
#[derive(Debug)]
pub struct Equimod<B> {
    online: ParamStore,
    backbone: B,
    projector: Mlp,
    eq_projector: Mlp,
    predictor: EquimodPredictor,
    invariance: Invariance<B>,
    loss_y: NtXentConfig,
    lambda: f64,
    t_dim: usize,
}

impl<B: Backbone> Equimod<B> {
    /// EquiMod with the encoder built by `make_backbone` under `backbone.` (called on `online`,
    /// and with the BYOL base once more on the target's store, e.g.
    /// `|s| Ok(ConvNet::new(&cfg, s.var_builder(dtype, &device).pp("backbone"))?)`). The heads
    /// and the equivariance module are created in `online` with `dtype` on `device`.
    pub fn new(
        online: ParamStore,
        make_backbone: impl Fn(&ParamStore) -> Result<B>,
        config: &EquimodConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Equimod<B>> {
        config.validate()?;
        let backbone = make_backbone(&online)?;
        let h = backbone.feature_dim();
        let vb = online.var_builder(dtype, device);
        let eq_projector = Mlp::new(
            &MlpConfig::simclr_projector(h, config.eq_hidden, config.y_dim),
            vb.pp("eq_projector"),
        )?;
        let predictor = EquimodPredictor::new(
            &noether_models::EquimodConfig {
                t_dim: config.t_dim,
                p_dim: config.p_dim,
                y_dim: config.y_dim,
            },
            vb.pp("equimod"),
        )?;
        let (projector, invariance) = match config.base {
            EquimodBase::SimClr { temperature_z } => {
                let proj = MlpConfig::simclr_projector(h, config.inv_hidden, config.inv_out);
                let projector = Mlp::new(&proj, vb.pp("projector"))?;
                let loss = NtXentConfig::new(temperature_z);
                (projector, Invariance::SimClr { loss })
            }
            EquimodBase::Byol { tau0 } => {
                // EquiMod's BYOL heads drop the hidden bias (it precedes a batch norm).
                let head = |i, o| MlpConfig {
                    hidden_bias: false,
                    ..MlpConfig::byol_projector(i, config.inv_hidden, o)
                };
                let proj = head(h, config.inv_out);
                let projector = Mlp::new(&proj, vb.pp("projector"))?;
                let predictor =
                    Mlp::new(&head(config.inv_out, config.inv_out), vb.pp("predictor"))?;
                let target = Box::new(EmaTarget::new(
                    &online,
                    &make_backbone,
                    &proj,
                    dtype,
                    device,
                )?);
                (
                    projector,
                    Invariance::Byol {
                        predictor,
                        target,
                        tau0,
                    },
                )
            }
        };
        Ok(Equimod {
            online,
            backbone,
            projector,
            eq_projector,
            predictor,
            invariance,
            loss_y: NtXentConfig::new(config.temperature_y),
            lambda: config.lambda,
            t_dim: config.t_dim,
        })
    }

    /// The (online) encoder.
    pub fn backbone(&self) -> &B {
        &self.backbone
    }

    /// The equivariance module `p`, `u`.
    pub fn equimod_predictor(&self) -> &EquimodPredictor {
        &self.predictor
    }

    /// The equivariant embedding `y = g'(f(x))` in eval mode: `(N, C, H, W) -> (N, y_dim)`.
    pub fn equivariant_embedding(&self, xs: &Tensor) -> Result<Tensor> {
        let h = self.backbone.features_t(xs, false)?; // (N, feature_dim)
        Ok(self.eq_projector.forward_t(&h, false)?) // (N, y_dim)
    }
}

impl<B: Backbone> Embed for Equimod<B> {
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.features_t(xs, false)?)
    }

    /// The equivariant embedding `y = g'(f(x))`.
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        self.equivariant_embedding(xs)
    }
}

impl<B: Backbone> TaskClassifier for Equimod<B> {
    /// The invariant projections `z = g(f(x))` of the two views `x1`, `x2` (the pair the
    /// invariance loss compares), as one batch.
    fn task_embeddings(&mut self, batch: &EquimodBatch) -> Result<(Tensor, Tensor)> {
        let n = batch.check(self.t_dim)?;
        let views = Tensor::cat(&[&batch.x1, &batch.x2], 0)?; // (2N, C, H, W)
        let h = self.backbone.features_t(&views, true)?; // (2N, feature_dim)
        let z = self.projector.forward_t(&h, true)?; // (2N, inv_out)
        Ok((z.narrow(0, 0, n)?, z.narrow(0, n, n)?))
    }

    /// The SimCLR base's `T_z`; [`DEFAULT_TASK_TEMPERATURE`] over BYOL.
    fn task_temperature(&self) -> f64 {
        match &self.invariance {
            Invariance::SimClr { loss } => loss.temperature,
            Invariance::Byol { .. } => DEFAULT_TASK_TEMPERATURE,
        }
    }
}

impl<B: Backbone> Method for Equimod<B> {
    type Batch = EquimodBatch;

    fn name(&self) -> &str {
        match self.invariance {
            Invariance::SimClr { .. } => "equimod_simclr",
            Invariance::Byol { .. } => "equimod_byol",
        }
    }

    fn stores(&self) -> Vec<NamedStore> {
        match &self.invariance {
            Invariance::SimClr { .. } => vec![NamedStore::trained("model", self.online.clone())],
            Invariance::Byol { target, .. } => vec![
                NamedStore::trained("online", self.online.clone()),
                NamedStore::frozen("target", target.store().clone()),
            ],
        }
    }

    fn losses(&mut self, batch: &EquimodBatch, _ctx: &StepContext) -> Result<Losses> {
        let n = batch.check(self.t_dim)?;
        let mut inputs = vec![&batch.x0, &batch.x1, &batch.x2];
        if let Some(x0b) = &batch.x0b {
            inputs.push(x0b);
        }
        let all = Tensor::cat(&inputs, 0)?; // (3N or 4N, C, H, W)
        let h = self.backbone.features_t(&all, true)?; // (3N or 4N, feature_dim)
        let h12 = h.narrow(0, n, 2 * n)?; // (2N, feature_dim): the two views

        let z = self.projector.forward_t(&h12, true)?; // (2N, inv_out)
        let inv = match &self.invariance {
            Invariance::SimClr { loss } => {
                simclr_nt_xent(&z.narrow(0, 0, n)?, &z.narrow(0, n, n)?, loss)?
            }
            Invariance::Byol {
                predictor, target, ..
            } => {
                let q = predictor.forward_t(&z, true)?; // (2N, inv_out)
                let views = Tensor::cat(&[&batch.x1, &batch.x2], 0)?; // (2N, C, H, W)
                let zt = target.project(&views)?; // (2N, inv_out), detached
                byol_loss_symmetric(
                    &q.narrow(0, 0, n)?,
                    &q.narrow(0, n, n)?,
                    &zt.narrow(0, 0, n)?,
                    &zt.narrow(0, n, n)?,
                )?
            }
        };

        let y = self.eq_projector.forward_t(&h, true)?; // (3N or 4N, y_dim)
        let y0 = y.narrow(0, 0, n)?; // (N, y_dim)
        let y0b = match batch.x0b {
            Some(_) => y.narrow(0, 3 * n, n)?, // (N, y_dim): the source of x2
            None => y0.clone(),
        };
        let y0s = Tensor::cat(&[&y0, &y0b], 0)?; // (2N, y_dim)
        let ts = Tensor::cat(&[&batch.t1, &batch.t2], 0)?.to_dtype(y.dtype())?; // (2N, t_dim)
        let yhat = self.predictor.forward_t(&y0s, &ts, true)?; // (2N, y_dim)
        let equi = equimod_nt_xent(
            &y.narrow(0, n, n)?,
            &y.narrow(0, 2 * n, n)?,
            &yhat.narrow(0, 0, n)?,
            &yhat.narrow(0, n, n)?,
            &self.loss_y,
        )?;
        let total = (&inv + (&equi * self.lambda)?)?;
        Losses::new(total)
            .with_term("inv", &inv)?
            .with_term("equi", &equi)
    }

    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        match &self.invariance {
            Invariance::SimClr { .. } => Ok(()),
            Invariance::Byol { target, tau0, .. } => {
                target.update(byol_tau(*tau0, ctx.step, ctx.total_steps))
            }
        }
    }
}
