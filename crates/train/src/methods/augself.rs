//! SimCLR + AugSelf, the SIE paper's baseline on 3DIEBench (Garrido et al., arXiv 2302.10283;
//! AugSelf: Lee et al., NeurIPS 2021, arXiv 2111.09613), as a [`Method`] on [`ActionPairs`]:
//! SimCLR between the two renders of one object (no augmentation) plus an AugSelf head that
//! regresses the relative rotation between them from the two representations. Notes:
//! `papers/sie_3diebench.md`, "SIE (baseline)", and `papers/baselines.md`, "SimCLR".
//!
//! Networks, all in the trained store `model`:
//!
//! | part | names | shape |
//! |---|---|---|
//! | encoder `f` | `backbone.*` | any [`Backbone`] |
//! | projector `g` | `projector.*` | [`MlpConfig::simclr_projector`] `D -> proj_hidden -> proj_hidden -> proj_out` |
//! | AugSelf head `phi` | `predictor.{0,2,4}.*` | `Linear(2D, head_hidden)-ReLU-Linear(head_hidden, head_hidden)-ReLU-Linear(head_hidden, 4)`, biases on, no batch norm |
//!
//! Loss of one step, with `h_t = f(x_t)`, `z_t = g(h_t)` and `q` the relative quaternion (action
//! columns `0..4`):
//!
//! `L = NT-Xent_T(z1, z2) + augself_weight * MSE(phi([h1; h2]), q)`
//!
//! ([`simclr_nt_xent`], [`augself_loss`]: one mean over all `4N` numbers). Terms logged,
//! unweighted: `nt_xent`, `augself`.
//!
//! ## What follows the reference (`facebookresearch/SIE`, `src/models.py`, class `SimCLRAugSelf`)
//!
//! - The head is its `predictor`: `nn.Sequential(Linear(2R, 2R), ReLU, Linear(2R, 2R), ReLU,
//!   Linear(2R, 4))` with torch's default biases and initialisation, on
//!   `cat([x_emb, y_emb], dim=1)`, the representations (not the projections) of view 1 then view
//!   2, *not* detached: the AugSelf gradient trains the encoder. Its hidden width is `2R`
//!   (1024 for ResNet-18's `R = 512`): the default `head_hidden = 1024`. The names here are the
//!   `nn.Sequential` indices under `predictor.`, so its weights load unchanged.
//! - Target `z` = the relative quaternion `(x, y, z, w)` from view 1 to view 2 (scipy order),
//!   loss `F.mse_loss(angle_pred, z)`, weight `--ec-weight` (default 1).
//! - SimCLR part: its `info_nce_loss` on `cat([x, y])` is NT-Xent over the `2N` projections at
//!   `--simclr-temp`, default 0.1: the default `temperature = 0.1`.
//! - The two views go through the backbone and the projector in separate calls, so every batch
//!   norm sees each view's statistics alone (unlike [`crate::methods::SimClr`] here, which runs
//!   `[x1; x2]` as one batch); so here.
//! - Projector: the reference's `Projector(512, "2048-2048-2048")` (its `main.py` default
//!   `--mlp`; the README gives no command for this baseline) is `[Linear-BN-ReLU] x2 -> Linear`
//!   with no batch norm at the end; this crate uses its SimCLR projector,
//!   [`MlpConfig::simclr_projector`], which ends in `BatchNorm1d(affine=False)` (EquiMod's SimCLR
//!   head). The widths are the reference default: `proj_hidden = proj_out = 2048`.
//! - The reference's `SimCLRAugSelfRotColor` regresses all 6 action columns; this method does
//!   the rotation version only. Its online probes are evaluation only, as in
//!   [`crate::methods::sie`].
//!
//! Evaluation ([`Embed`], eval mode): `features` is `h`, `embedding` is `z = g(h)`. No
//! [`crate::PredictAction`]: the head predicts the action, not an embedding.

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::{Backbone, Mlp, MlpConfig, OutputNorm, ParamStore};
use noether_objectives::{NtXentConfig, augself_loss, simclr_nt_xent};
use serde::{Deserialize, Serialize};

use crate::data::ActionPairs;
use crate::error::Result;
use crate::method::{Embed, Losses, Method, NamedStore, StepContext};
use crate::methods::check::{check_weight, check_width, positive};
use crate::methods::sie::{ActionColumns, check_action_pairs};

/// Number of outputs of the AugSelf head: the relative quaternion.
const QUATERNION: usize = 4;

/// SimCLR + AugSelf's widths, temperature and AugSelf weight. Unknown keys are an error when
/// deserialising.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugSelfConfig {
    /// Hidden width of the SimCLR projector (2048, the reference's default `--mlp`).
    pub proj_hidden: usize,
    /// Output width of the SimCLR projector (2048).
    pub proj_out: usize,
    /// NT-Xent temperature `T` (0.1, the reference's `--simclr-temp` default).
    pub temperature: f64,
    /// Width of the AugSelf head's two hidden layers (1024 = twice ResNet-18's 512).
    pub head_hidden: usize,
    /// Weight of the AugSelf regression term (1, the reference's `--ec-weight`).
    pub augself_weight: f64,
}

impl Default for AugSelfConfig {
    /// The reference's defaults: projector `D -> 2048 -> 2048 -> 2048`, `T = 0.1`, head
    /// `2D -> 1024 -> 1024 -> 4`, weight 1.
    fn default() -> Self {
        AugSelfConfig {
            proj_hidden: 2048,
            proj_out: 2048,
            temperature: 0.1,
            head_hidden: 1024,
            augself_weight: 1.0,
        }
    }
}

impl AugSelfConfig {
    /// Checks the widths, the temperature and the weight; errors name the field.
    pub fn validate(&self) -> Result<()> {
        check_width("augself.proj_hidden", self.proj_hidden)?;
        check_width("augself.proj_out", self.proj_out)?;
        check_width("augself.head_hidden", self.head_hidden)?;
        positive("augself.temperature", self.temperature)?;
        check_weight("augself.augself_weight", self.augself_weight)
    }

    /// The AugSelf head on `[h1; h2]`: `2 feature_dim -> head_hidden -> head_hidden -> 4`,
    /// plain Linear layers with biases and ReLU, no batch norm.
    pub fn head(&self, feature_dim: usize) -> MlpConfig {
        MlpConfig {
            dims: vec![
                2 * feature_dim,
                self.head_hidden,
                self.head_hidden,
                QUATERNION,
            ],
            hidden_bias: true,
            hidden_norm: false,
            last_bias: true,
            last_norm: OutputNorm::None,
        }
    }
}

/// SimCLR + AugSelf: encoder, projector and AugSelf head in one trained store `model`
/// (`backbone.*`, `projector.*`, `predictor.*`). See the module docs.
#[derive(Debug)]
pub struct SimClrAugSelf<B> {
    store: ParamStore,
    backbone: B,
    projector: Mlp,
    head: Mlp,
    loss: NtXentConfig,
    augself_weight: f64,
}

impl<B: Backbone> SimClrAugSelf<B> {
    /// SimCLR + AugSelf over `backbone`, which must have been built from `store`
    /// (conventionally under `backbone.`); the projector and the head are created in `store`
    /// under `projector.` and `predictor.` with `dtype` on `device`.
    pub fn new(
        store: ParamStore,
        backbone: B,
        config: &AugSelfConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<SimClrAugSelf<B>> {
        config.validate()?;
        let d = backbone.feature_dim();
        let vb = store.var_builder(dtype, device);
        let proj = MlpConfig::simclr_projector(d, config.proj_hidden, config.proj_out);
        let projector = Mlp::new(&proj, vb.pp("projector"))?;
        let head = Mlp::new(&config.head(d), vb.pp("predictor"))?;
        Ok(SimClrAugSelf {
            store,
            backbone,
            projector,
            head,
            loss: NtXentConfig::new(config.temperature),
            augself_weight: config.augself_weight,
        })
    }

    /// The encoder.
    pub fn backbone(&self) -> &B {
        &self.backbone
    }

    /// `z = g(f(x))`: `(N, C, H, W) -> (N, proj_out)`.
    pub fn project(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.backbone.features_t(xs, train)?; // (N, feature_dim)
        Ok(self.projector.forward_t(&h, train)?) // (N, proj_out)
    }

    /// The AugSelf head's predicted relative quaternion from the representations of two views:
    /// `h1`, `h2` `(N, feature_dim)` -> `(N, 4)`.
    pub fn predict_rotation(&self, h1: &Tensor, h2: &Tensor, train: bool) -> Result<Tensor> {
        let pair = Tensor::cat(&[h1, h2], 1)?; // (N, 2 feature_dim)
        Ok(self.head.forward_t(&pair, train)?)
    }
}

impl<B: Backbone> Embed for SimClrAugSelf<B> {
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.features_t(xs, false)?)
    }

    /// The SimCLR projection `z = g(f(x))`.
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        self.project(xs, false)
    }
}

impl<B: Backbone> Method for SimClrAugSelf<B> {
    type Batch = ActionPairs;

    fn name(&self) -> &str {
        "simclr-augself"
    }

    fn stores(&self) -> Vec<NamedStore> {
        vec![NamedStore::trained("model", self.store.clone())]
    }

    /// Terms: `nt_xent`, `augself` (unweighted); total `nt_xent + augself_weight * augself`.
    fn losses(&mut self, batch: &ActionPairs, _ctx: &StepContext) -> Result<Losses> {
        let n = check_action_pairs(batch)?;
        // One pass per view, as the reference.
        let h1 = self.backbone.features_t(&batch.x1, true)?; // (N, feature_dim)
        let h2 = self.backbone.features_t(&batch.x2, true)?;
        let z1 = self.projector.forward_t(&h1, true)?; // (N, proj_out)
        let z2 = self.projector.forward_t(&h2, true)?;
        let nt_xent = simclr_nt_xent(&z1, &z2, &self.loss)?;
        let q =
            ActionColumns::Rotation.select(&batch.action, n, h1.dtype(), "ActionPairs.action")?; // (N, 4)
        let q_hat = self.predict_rotation(&h1, &h2, true)?; // (N, 4)
        let augself = augself_loss(&q_hat, &q)?;
        let total = (&nt_xent + (&augself * self.augself_weight)?)?;
        Losses::new(total)
            .with_term("nt_xent", &nt_xent)?
            .with_term("augself", &augself)
    }
}
