//! SEN, "symmetric embedding network" (Park et al., "Learning Symmetric Embeddings for
//! Equivariant World Models", ICML 2022), as the SIE paper re-implements it
//! as a baseline on 3DIEBench (`papers/sie_3diebench.md`: "one equivariant projector +
//! hypernetwork predictor, InfoNCE between prediction and target only"), as a [`Method`] on
//! [`ActionPairs`].
//!
//! Networks, all in the trained store `model`:
//!
//! | part | names | shape |
//! |---|---|---|
//! | encoder `f` | `backbone.*` | any [`Backbone`] |
//! | projector `g` | `projector.*` | [`MlpConfig::sie_projector`] `D -> proj_hidden -> proj_hidden -> proj_out` on the full feature |
//! | predictor | `predictor.weight` | [`HypernetPredictor`] `{a_dim, v_dim: proj_out}` |
//!
//! Loss of one step, with `y = g(f(x1))`, `y' = g(f(x2))`, `yhat = pred(y, a)`:
//! `L = NT-Xent_T([yhat; y'])` ([`simclr_nt_xent`]`(yhat, y')`): each of the `2N` rows must
//! pick its partner (`yhat_i <-> y'_i`) among the `2N - 1` other rows, so the negatives of a
//! prediction are the other predictions and the other targets. Term logged: `info_nce`.
//!
//! ## What the reference does (`facebookresearch/SIE`, `src/models.py`, class `SimCLROnlyEqui`;
//! `SimCLROnlyEquiRotColor` with 6 action columns)
//!
//! - `projector_equi = Projector(repr_size, args.mlp)` on the whole representation (no split),
//!   the same `[Linear-BN-ReLU] x2 -> Linear(no bias)` head as SIE's (its hidden biases, which
//!   a train-mode batch norm cancels, are left out here).
//! - The predictor is SIE's linear hypernetwork (`hypernetwork.ParametrizedNet`, no bias),
//!   applied to the *projection* of view 1: [`HypernetPredictor`]. This is the SIE paper's
//!   SEN, not Park et al.'s original architecture.
//! - The loss is its `info_nce_loss` on `features = cat([y_equi_pred, y_equi])`: L2-normalise,
//!   drop the diagonal, one positive per row, cross-entropy over all `2N` rows at
//!   `args.simclr_temp`: exactly SimCLR's NT-Xent with the prediction and the target as the two
//!   "views", symmetric in that both sets are anchors. Nothing else: no variance or covariance
//!   term, no loss on the invariant side, no stop-gradient, no EMA target, only the `x -> y`
//!   direction (the prediction of view 2 from view 1).
//! - The two views go through the backbone and the projector in separate calls (batch-norm
//!   statistics per view, as in SIE); so here.
//!
//! **Reconstructed** (the reference does not say which values its SEN runs used; the README
//! gives a command for SIE only): the temperature is `main.py`'s default `--simclr-temp 0.1`,
//! and the projector widths are `main.py`'s default `--mlp 2048-2048-2048` applied to the full
//! 512-d ResNet-18 representation (SEN has no split, so no per-part scaling as in SIE):
//! `proj_hidden = proj_out = 2048`. The reference's online probes are evaluation only, as in
//! [`crate::methods::sie`].
//!
//! Evaluation ([`Embed`], [`PredictAction`], eval mode): `features` is `h`, `embedding` and
//! `gallery` are `y = g(h)`, `predict` is `pred(y(x1), a)`.

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::{Backbone, HypernetConfig, HypernetPredictor, Mlp, MlpConfig, ParamStore};
use noether_objectives::{NtXentConfig, simclr_nt_xent};
use serde::{Deserialize, Serialize};

use crate::data::ActionPairs;
use crate::error::Result;
use crate::method::{Embed, Losses, Method, NamedStore, PredictAction, StepContext};
use crate::methods::check::{check_width, positive};
use crate::methods::sie::{ActionColumns, check_action_pairs, check_predict_inputs};

/// SEN's projector widths, action columns and temperature. Unknown keys are an error when
/// deserialising.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenConfig {
    /// Hidden width of the projector (2048, reconstructed: the reference's default `--mlp`).
    pub proj_hidden: usize,
    /// Output width of the projector; also the predictor's `v_dim` (2048, reconstructed).
    pub proj_out: usize,
    /// The action columns the predictor conditions on (`rotation`).
    pub action: ActionColumns,
    /// Temperature of the InfoNCE (NT-Xent) loss (0.1, the reference's `--simclr-temp`
    /// default).
    pub temperature: f64,
}

impl Default for SenConfig {
    /// Projector `D -> 2048 -> 2048 -> 2048`, rotation actions, `T = 0.1` (see the module
    /// docs: reconstructed from the reference's defaults).
    fn default() -> Self {
        SenConfig {
            proj_hidden: 2048,
            proj_out: 2048,
            action: ActionColumns::Rotation,
            temperature: 0.1,
        }
    }
}

impl SenConfig {
    /// Checks the widths and the temperature; errors name the field.
    pub fn validate(&self) -> Result<()> {
        self.validate_as("sen")
    }

    /// [`SenConfig::validate`] with the fields named under `section` (EquiMod on actions
    /// checks its SEN part as `equimod_actions.*`).
    pub(crate) fn validate_as(&self, section: &str) -> Result<()> {
        check_width(&format!("{section}.proj_hidden"), self.proj_hidden)?;
        check_width(&format!("{section}.proj_out"), self.proj_out)?;
        positive(&format!("{section}.temperature"), self.temperature)
    }
}

/// SEN: encoder, projector and hypernetwork predictor in one trained store `model`
/// (`backbone.*`, `projector.*`, `predictor.weight`). See the module docs.
#[derive(Debug)]
pub struct Sen<B> {
    store: ParamStore,
    backbone: B,
    projector: Mlp,
    predictor: HypernetPredictor,
    action: ActionColumns,
    loss: NtXentConfig,
}

impl<B: Backbone> Sen<B> {
    /// SEN over `backbone`, which must have been built from `store` (conventionally under
    /// `backbone.`); the projector and the predictor are created in `store` under `projector.`
    /// and `predictor.` with `dtype` on `device`.
    pub fn new(
        store: ParamStore,
        backbone: B,
        config: &SenConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Sen<B>> {
        config.validate()?;
        let vb = store.var_builder(dtype, device);
        let proj =
            MlpConfig::sie_projector(backbone.feature_dim(), config.proj_hidden, config.proj_out);
        let projector = Mlp::new(&proj, vb.pp("projector"))?;
        let hyper = HypernetConfig {
            a_dim: config.action.a_dim(),
            v_dim: config.proj_out,
        };
        let predictor = HypernetPredictor::new(&hyper, vb.pp("predictor"))?;
        Ok(Sen {
            store,
            backbone,
            projector,
            predictor,
            action: config.action,
            loss: NtXentConfig::new(config.temperature),
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

    /// The training-mode loss on the encoder features of the two views, `h1, h2 (N, D)`, and
    /// their actions `(N, 6)`: `NT-Xent_T([pred(g(h1), a); g(h2)])`. Shared with
    /// [`crate::methods::EquimodActions`], whose equivariance term it is.
    pub(crate) fn equivariance_loss(
        &self,
        h1: &Tensor,
        h2: &Tensor,
        action: &Tensor,
    ) -> Result<Tensor> {
        let n = h1.dim(0)?;
        let y1 = self.project_features(h1, true)?; // (N, proj_out)
        let y2 = self.project_features(h2, true)?; // (N, proj_out)
        let a = self
            .action
            .select(action, n, y1.dtype(), "ActionPairs.action")?; // (N, a_dim)
        let yhat = self.predictor.forward(&y1, &a)?; // (N, proj_out)
        Ok(simclr_nt_xent(&yhat, &y2, &self.loss)?)
    }

    /// `y = g(f(x))`: `(N, C, H, W) -> (N, proj_out)`.
    pub fn project(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.backbone.features_t(xs, train)?; // (N, feature_dim)
        self.project_features(&h, train)
    }

    /// `y = g(h)` of encoder features: `(N, D) -> (N, proj_out)`.
    pub fn project_features(&self, h: &Tensor, train: bool) -> Result<Tensor> {
        Ok(self.projector.forward_t(h, train)?)
    }
}

impl<B: Backbone> Embed for Sen<B> {
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.features_t(xs, false)?)
    }

    /// The projection `y = g(f(x))`.
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        self.project(xs, false)
    }
}

impl<B: Backbone> PredictAction for Sen<B> {
    /// The projection `y = g(f(x))`.
    fn gallery(&self, xs: &Tensor) -> Result<Tensor> {
        self.project(xs, false)
    }

    /// `pred(y(xs), a)` with `a` the configured columns of `action`.
    fn predict(&self, xs: &Tensor, action: &Tensor) -> Result<Tensor> {
        let n = check_predict_inputs(xs, action)?;
        let y = self.project(xs, false)?; // (N, proj_out)
        let a = self.action.select(action, n, y.dtype(), "predict.action")?; // (N, a_dim)
        Ok(self.predictor.forward(&y, &a)?)
    }
}

impl<B: Backbone> Method for Sen<B> {
    type Batch = ActionPairs;

    fn name(&self) -> &str {
        "sen"
    }

    fn stores(&self) -> Vec<NamedStore> {
        vec![NamedStore::trained("model", self.store.clone())]
    }

    /// Term: `info_nce`, NT-Xent over `[yhat; y']`.
    fn losses(&mut self, batch: &ActionPairs, _ctx: &StepContext) -> Result<Losses> {
        check_action_pairs(batch)?;
        // One pass per view, as the reference.
        let h1 = self.backbone.features_t(&batch.x1, true)?; // (N, feature_dim)
        let h2 = self.backbone.features_t(&batch.x2, true)?; // (N, feature_dim)
        let loss = self.equivariance_loss(&h1, &h2, &batch.action)?;
        Losses::new(loss.clone()).with_term("info_nce", &loss)
    }
}
