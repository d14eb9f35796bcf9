//! SIE, Split Invariant-Equivariant (Garrido, Najman & LeCun, "Self-supervised learning of Split
//! Invariant Equivariant representations", ICML 2023, arXiv 2302.10283) as a [`Method`] on
//! [`ActionPairs`]. Notes: `papers/sie_3diebench.md`, "SIE (baseline)".
//!
//! Networks, all in the trained store `model`:
//!
//! | part | names | shape |
//! |---|---|---|
//! | encoder `f` | `backbone.*` | any [`Backbone`] with an even `feature_dim` `D` |
//! | invariant projector | `inv_projector.*` | [`MlpConfig::sie_projector`] `D/2 -> proj_hidden -> proj_hidden -> proj_out` |
//! | equivariant projector | `equi_projector.*` | the same shape, its own weights |
//! | predictor | `predictor.weight` | [`HypernetPredictor`] `{a_dim, v_dim: proj_out}`: `yhat = sum_k a_k (A_k v)` |
//!
//! The representation `h = f(x)` is split by columns: `h_inv` the first `D/2`, `h_equi` the last
//! `D/2` (the reference's `x_emb[..., :inv_repr_size]` and `x_emb[..., inv_repr_size:]`, with
//! `--equi 256` of ResNet-18's 512). Then `u = inv_projector(h_inv)`,
//! `v = equi_projector(h_equi)`, and for a pair of views with action `a` (the
//! [`ActionColumns`] of [`ActionPairs::action`]):
//!
//! `L = 10 MSE(u, u') + 4.5 MSE(yhat, v') + 10 V([u|v], [u'|v']) + 10 V(yhat) + 1 C([u|v], [u'|v'])`,
//! `yhat = pred(v, a)` ([`sie_loss`]; weights configurable). Terms logged, unweighted:
//! `invariance`, `equivariance`, `variance`, `prediction_variance`, `covariance`; the total is
//! their weighted sum.
//!
//! ## What follows the reference (`facebookresearch/SIE`, `src/models.py`, class `SIE`)
//!
//! - **The two views go through the networks separately**: `x_emb = self.backbone(x)` and
//!   `y_emb = self.backbone(y)` are two calls, and so are the projector calls, so every
//!   batch norm normalises each view with its own batch statistics (the reference converts to
//!   `SyncBatchNorm`, which pools the statistics across GPUs but still per view) and updates
//!   its running statistics twice per step. Here too: [`Sie::embed`] is called once per view.
//!   (SimCLR and VICReg in this crate run `[x1; x2]` as one batch; SIE does not.)
//! - Widths: the reference's `--mlp 2048-2048-2048` is scaled per part by
//!   `part / repr_size = 256 / 512`, giving `256 -> 1024 -> 1024 -> 1024` for each projector:
//!   the defaults `proj_hidden = proj_out = 1024`.
//! - The reference's `Projector` has biases on its hidden Linear layers; in front of a
//!   train-mode batch norm they do nothing (the batch mean removes them), so
//!   [`MlpConfig::sie_projector`] leaves them out. Its last Linear has no bias, as here.
//! - Predictor: `--hypernetwork linear`, no bias (`--bias-hypernet`, `--bias-pred` off), one
//!   `v_dim x v_dim` matrix, no activation: exactly [`HypernetPredictor`]. Only `v -> v'` is
//!   predicted (no inverse, no EMA target).
//! - Weights: the README command's `--sim-coeff 10 --std-coeff 10 --cov-coeff 1
//!   --equi-factor 0.45` (`main.py`'s default `--equi-factor` is 4.5, which the command
//!   overrides). The variance term on `yhat` is the class `SIE`; `SIENoVar` drops it (set
//!   `prediction_variance = 0`).
//! - Actions: `SIE` predicts from the relative quaternion (`a_dim = 4`,
//!   [`ActionColumns::Rotation`]); `SIERotColor` from the quaternion and the two hue
//!   differences (`a_dim = 6`, [`ActionColumns::RotationColor`]), with the same loss.
//! - The reference also trains online linear / MLP probes on detached features inside
//!   `forward`; they are evaluation, not part of the method, and are not reproduced here.
//!
//! Evaluation ([`Embed`], [`PredictAction`], eval mode): `features` is the full `h`,
//! `embedding` is `[u | v]`, `gallery` is `v`, `predict` is `pred(v(x1), a)`.

use std::ops::Range;

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::{Backbone, HypernetConfig, HypernetPredictor, Mlp, MlpConfig, ParamStore};
use noether_objectives::{SieWeights, sie_loss};
use serde::{Deserialize, Serialize};

use crate::data::{ACTION_DIM, ActionPairs};
use crate::error::{Result, TrainError};
use crate::method::{Embed, Losses, Method, NamedStore, PredictAction, StepContext};
use crate::methods::check::{check_weight, check_width};

/// Which columns of the 6-float action of [`ActionPairs`] (`[q_x, q_y, q_z, q_w, d floor hue,
/// d spot hue]`) a method conditions on. In a run file: `"rotation"` or `"rotation-color"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionColumns {
    /// The relative rotation quaternion `(x, y, z, w)`: columns `0..4` (the reference's `SIE`,
    /// `SimCLROnlyEqui`).
    #[default]
    Rotation,
    /// The quaternion and the floor-hue and spot-hue differences: columns `0..6` (the
    /// reference's `SIERotColor`, `SimCLROnlyEquiRotColor`).
    RotationColor,
}

impl ActionColumns {
    /// The column range in the 6-float action.
    pub fn columns(self) -> Range<usize> {
        match self {
            ActionColumns::Rotation => 0..4,
            ActionColumns::RotationColor => 0..ACTION_DIM,
        }
    }

    /// The number of columns: the predictor's `a_dim` (4 or 6).
    pub fn a_dim(self) -> usize {
        self.columns().len()
    }

    /// The configured columns of `action` `(N, 6)`, as `(N, a_dim)` in `dtype`. `field` names
    /// the tensor in the error when `action` is not `(n, 6)`.
    pub fn select(self, action: &Tensor, n: usize, dtype: DType, field: &str) -> Result<Tensor> {
        if action.dims() != [n, ACTION_DIM] {
            return Err(TrainError::config(
                field,
                format!(
                    "must be ({n}, {ACTION_DIM}) (quaternion, two hue deltas), got {:?}",
                    action.dims()
                ),
            ));
        }
        let cols = self.columns();
        Ok(action
            .narrow(1, cols.start, cols.len())?
            .contiguous()?
            .to_dtype(dtype)?)
    }
}

/// Checks that an [`ActionPairs`] batch has two views of one `(N, C, H, W)` shape and an
/// `(N, 6)` action; returns `N`.
pub(crate) fn check_action_pairs(batch: &ActionPairs) -> Result<usize> {
    if batch.x1.dims() != batch.x2.dims() || batch.x1.rank() != 4 {
        return Err(TrainError::config(
            "ActionPairs",
            format!(
                "x1 and x2 must both be (N, C, H, W) of one shape; got {:?} and {:?}",
                batch.x1.dims(),
                batch.x2.dims()
            ),
        ));
    }
    let n = batch.x1.dim(0)?;
    if batch.action.dims() != [n, ACTION_DIM] {
        return Err(TrainError::config(
            "ActionPairs.action",
            format!(
                "must be ({n}, {ACTION_DIM}) (quaternion, two hue deltas), got {:?}",
                batch.action.dims()
            ),
        ));
    }
    Ok(n)
}

/// Checks that `xs` is an `(N, C, H, W)` batch and `action` an `(N, 6)` one (for
/// [`PredictAction::predict`]); returns `N`.
pub(crate) fn check_predict_inputs(xs: &Tensor, action: &Tensor) -> Result<usize> {
    if xs.rank() != 4 {
        return Err(TrainError::config(
            "predict.xs",
            format!("must be (N, C, H, W), got {:?}", xs.dims()),
        ));
    }
    let n = xs.dim(0)?;
    if action.dims() != [n, ACTION_DIM] {
        return Err(TrainError::config(
            "predict.action",
            format!(
                "must be ({n}, {ACTION_DIM}) like the images, got {:?}",
                action.dims()
            ),
        ));
    }
    Ok(n)
}

/// SIE's projector widths, action columns and loss weights. Unknown keys are an error when
/// deserialising.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SieConfig {
    /// Hidden width of each projector (1024).
    pub proj_hidden: usize,
    /// Output width of each projector, `u` and `v` alike; also the predictor's `v_dim` (1024).
    pub proj_out: usize,
    /// The action columns the predictor conditions on (`rotation`).
    pub action: ActionColumns,
    /// Weight of `MSE(u, u')` (`sim_coeff` = 10).
    pub invariance: f64,
    /// Weight of `MSE(yhat, v')` (`equi_factor * sim_coeff` = 4.5).
    pub equivariance: f64,
    /// Weight of the variance term on `[u | v]` of both views (`std_coeff` = 10).
    pub variance: f64,
    /// Weight of the variance term on `yhat` (`std_coeff` = 10; 0 is the reference's
    /// `SIENoVar`).
    pub prediction_variance: f64,
    /// Weight of the covariance term on `[u | v]` of both views (`cov_coeff` = 1).
    pub covariance: f64,
}

impl Default for SieConfig {
    /// The paper's setting: projectors `D/2 -> 1024 -> 1024 -> 1024`, rotation actions, weights
    /// 10, 4.5, 10, 10, 1.
    fn default() -> Self {
        let w = SieWeights::default();
        SieConfig {
            proj_hidden: 1024,
            proj_out: 1024,
            action: ActionColumns::Rotation,
            invariance: w.invariance,
            equivariance: w.equivariance,
            variance: w.variance,
            prediction_variance: w.prediction_variance,
            covariance: w.covariance,
        }
    }
}

impl SieConfig {
    /// Checks the widths and the weights; errors name the field.
    pub fn validate(&self) -> Result<()> {
        check_width("sie.proj_hidden", self.proj_hidden)?;
        check_width("sie.proj_out", self.proj_out)?;
        for (field, w) in [
            ("sie.invariance", self.invariance),
            ("sie.equivariance", self.equivariance),
            ("sie.variance", self.variance),
            ("sie.prediction_variance", self.prediction_variance),
            ("sie.covariance", self.covariance),
        ] {
            check_weight(field, w)?;
        }
        Ok(())
    }

    /// The loss weights as [`SieWeights`].
    pub fn weights(&self) -> SieWeights {
        SieWeights {
            invariance: self.invariance,
            equivariance: self.equivariance,
            variance: self.variance,
            prediction_variance: self.prediction_variance,
            covariance: self.covariance,
        }
    }
}

/// SIE: encoder, both projectors and the hypernetwork predictor in one trained store `model`
/// (`backbone.*`, `inv_projector.*`, `equi_projector.*`, `predictor.weight`). See the module
/// docs.
#[derive(Debug)]
pub struct Sie<B> {
    store: ParamStore,
    backbone: B,
    inv_projector: Mlp,
    equi_projector: Mlp,
    predictor: HypernetPredictor,
    action: ActionColumns,
    weights: SieWeights,
    half: usize,
}

impl<B: Backbone> Sie<B> {
    /// SIE over `backbone`, which must have been built from `store` (conventionally under
    /// `backbone.`) and have an even `feature_dim` (an error naming `backbone.feature_dim`
    /// otherwise); the projectors and the predictor are created in `store` under
    /// `inv_projector.`, `equi_projector.` and `predictor.` with `dtype` on `device`.
    pub fn new(
        store: ParamStore,
        backbone: B,
        config: &SieConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Sie<B>> {
        config.validate()?;
        let d = backbone.feature_dim();
        if d < 2 || !d.is_multiple_of(2) {
            return Err(TrainError::config(
                "backbone.feature_dim",
                format!(
                    "SIE splits the features into an invariant and an equivariant half; \
                     the width must be even and >= 2, got {d}"
                ),
            ));
        }
        let half = d / 2;
        let vb = store.var_builder(dtype, device);
        let proj = MlpConfig::sie_projector(half, config.proj_hidden, config.proj_out);
        let inv_projector = Mlp::new(&proj, vb.pp("inv_projector"))?;
        let equi_projector = Mlp::new(&proj, vb.pp("equi_projector"))?;
        let hyper = HypernetConfig {
            a_dim: config.action.a_dim(),
            v_dim: config.proj_out,
        };
        let predictor = HypernetPredictor::new(&hyper, vb.pp("predictor"))?;
        Ok(Sie {
            store,
            backbone,
            inv_projector,
            equi_projector,
            predictor,
            action: config.action,
            weights: config.weights(),
            half,
        })
    }

    /// The encoder.
    pub fn backbone(&self) -> &B {
        &self.backbone
    }

    /// The hypernetwork predictor.
    pub fn predictor(&self) -> &HypernetPredictor {
        &self.predictor
    }

    /// The action columns the predictor conditions on.
    pub fn action_columns(&self) -> ActionColumns {
        self.action
    }

    /// The invariant and equivariant embeddings `(u, v)` of one batch of images:
    /// `(N, C, H, W) -> ((N, proj_out), (N, proj_out))`.
    pub fn embed(&self, xs: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        let h = self.backbone.features_t(xs, train)?; // (N, D)
        let h_inv = h.narrow(1, 0, self.half)?.contiguous()?; // (N, D/2)
        let h_equi = h.narrow(1, self.half, self.half)?.contiguous()?; // (N, D/2)
        let u = self.inv_projector.forward_t(&h_inv, train)?; // (N, proj_out)
        let v = self.equi_projector.forward_t(&h_equi, train)?; // (N, proj_out)
        Ok((u, v))
    }
}

impl<B: Backbone> Embed for Sie<B> {
    /// The full representation `h = f(x)`, both halves.
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.features_t(xs, false)?)
    }

    /// The concatenated projections `[u | v]`, `(N, 2 proj_out)`.
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        let (u, v) = self.embed(xs, false)?;
        Ok(Tensor::cat(&[&u, &v], 1)?)
    }
}

impl<B: Backbone> PredictAction for Sie<B> {
    /// The equivariant projection `v` of the equivariant half of the representation.
    fn gallery(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.embed(xs, false)?.1)
    }

    /// `pred(v(xs), a)` with `a` the configured columns of `action`.
    fn predict(&self, xs: &Tensor, action: &Tensor) -> Result<Tensor> {
        let n = check_predict_inputs(xs, action)?;
        let v = self.gallery(xs)?; // (N, proj_out)
        let a = self.action.select(action, n, v.dtype(), "predict.action")?; // (N, a_dim)
        Ok(self.predictor.forward(&v, &a)?)
    }
}

impl<B: Backbone> Method for Sie<B> {
    type Batch = ActionPairs;

    fn name(&self) -> &str {
        "sie"
    }

    fn stores(&self) -> Vec<NamedStore> {
        vec![NamedStore::trained("model", self.store.clone())]
    }

    /// Terms: `invariance`, `equivariance`, `variance`, `prediction_variance`, `covariance`,
    /// unweighted, as [`noether_objectives::SieTerms`]; the total is their weighted sum.
    fn losses(&mut self, batch: &ActionPairs, _ctx: &StepContext) -> Result<Losses> {
        let n = check_action_pairs(batch)?;
        if n < 2 {
            return Err(TrainError::config(
                "ActionPairs",
                "SIE needs at least 2 pairs per batch (batch variance and covariance)",
            ));
        }
        // One pass per view, as the reference: batch norm sees each view's statistics alone.
        let (u1, v1) = self.embed(&batch.x1, true)?; // (N, proj_out) each
        let (u2, v2) = self.embed(&batch.x2, true)?;
        let a = self
            .action
            .select(&batch.action, n, v1.dtype(), "ActionPairs.action")?; // (N, a_dim)
        let yhat = self.predictor.forward(&v1, &a)?; // (N, proj_out)
        let t = sie_loss(&u1, &u2, &v1, &v2, &yhat, &self.weights)?;
        Losses::new(t.total.clone())
            .with_term("invariance", &t.invariance)?
            .with_term("equivariance", &t.equivariance)?
            .with_term("variance", &t.variance)?
            .with_term("prediction_variance", &t.prediction_variance)?
            .with_term("covariance", &t.covariance)
    }
}
