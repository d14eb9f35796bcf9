//! Homomorphic SSL (Keller, Suau & Zappella, arXiv 2211.08282; `papers/hssl.md`) and its
//! augmentation-SSL counterpart, as one [`Method`] with a [`HsslMode`].
//!
//! The backbone is a [`FiberBackbone`]: its lifted map has a group axis, read as pooled fibers
//! `F_h(x)` (`(B, C, N)`), and its [`GroupAction`] is the same group acting on images. If the
//! backbone is a homomorphism, `P f(T_g x) = Gamma_g P f(x)`, then `F_e(T_g x) = F_{g^-1}(x)`:
//! the representation of a transformed view is already in the untransformed input's map. So
//!
//! - **A-SSL** ([`HsslMode::Augmented`]): two views `T_{a^-1} x` and `T_{b^-1} x` (the input
//!   transformed by the action), the identity fiber `F_e` of each: `2B` images through the
//!   backbone;
//! - **H-SSL** ([`HsslMode::Homomorphic`]): one pass of `x`, the fibers `F_a(x)` and `F_b(x)`:
//!   `B` images through the backbone;
//!
//! feed the same `2B` fibers to the same head (SimCLR's projector) and NT-Xent, the other
//! images' fibers as negatives. With an exact homomorphism (C4 rotations with pooled fibers and
//! even maps; cyclic translations of a circular-padded CNN by whole feature cells) the two
//! losses are equal for the same `(a, b)`: batch norm too, since a rotated or rolled image has
//! the statistics of the original over group and space. With no structure ([`Structure`]
//! shuffled or plain), H-SSL's two fibers are no longer views of anything.
//!
//! Groups: `C_N` rotations of a [`GCnn`](noether_models::GCnn) (fibers pooled over space),
//! translations of a [`TranslationCnn`](noether_models::TranslationCnn) (fibers are `k x k`
//! bundles of the feature grid: the bundle is the crop) and scales of a
//! [`Sesn`](noether_models::Sesn) (fibers maximised over space; approximate, and A-SSL's view
//! of fiber `t` is the image shrunk by `a^t`, [`GroupAction::view_element`]).
//!
//! **Sampling (ours).** For image `i`, `a_i` is uniform on the group; `b_i = a_i s_i` with the
//! step `s_i` from [`GroupAction::sample_pair`]: an empty [`HsslConfig::distances`] draws it
//! uniformly among the non-identity elements (the distribution of `g1^-1 g2` for `g1`, `g2`
//! i.i.d. uniform, conditioned on `g1 != g2`: positives at the same element carry no signal);
//! otherwise a distance is drawn uniformly from the list, then an element at that distance
//! (cyclic for rotations, cyclic Chebyshev on the grid for translations). All draws come from
//! [`StepContext::rng`]`(`[`HSSL_STREAM`]`)`, so A-SSL and H-SSL with the same seed use the
//! same elements.
//!
//! [`Structure`]: noether_models::Structure

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::fibers::{fiber_equivariance_error, select_fibers};
use noether_models::{FiberBackbone, GroupAction, Mlp, MlpConfig, ParamStore};
use noether_objectives::{NtXentConfig, simclr_nt_xent};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::method::{Embed, Losses, Method, NamedStore, StepContext};
use crate::methods::check::positive;

/// The random stream of the group elements ([`StepContext::rng`]).
pub const HSSL_STREAM: u64 = 11;

/// Where the two positives come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HsslMode {
    /// Two fibers of one forward pass of the un-augmented image (H-SSL).
    #[default]
    Homomorphic,
    /// The identity fiber of two transformed copies of the image (A-SSL).
    Augmented,
}

impl HsslMode {
    /// The method's name: `hssl` or `assl` (the run file's `run.method`, the trainer's log).
    pub fn method_name(self) -> &'static str {
        match self {
            HsslMode::Homomorphic => "hssl",
            HsslMode::Augmented => "assl",
        }
    }
}

/// Settings of [`Hssl`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsslConfig {
    /// H-SSL or A-SSL.
    #[serde(default)]
    pub mode: HsslMode,
    /// Hidden width of the projector.
    pub proj_hidden: usize,
    /// Output width of the projector.
    pub proj_out: usize,
    /// NT-Xent temperature.
    pub temperature: f64,
    /// Group distances between the positives (0 to [`GroupAction::max_distance`]: cyclic
    /// `|a - b|` up to `N / 2` for rotations, cyclic Chebyshev on the grid for translations),
    /// each equally likely; empty (default): `b` uniform among the elements other than `a`.
    #[serde(default)]
    pub distances: Vec<usize>,
}

impl Default for HsslConfig {
    /// H-SSL, projector `-> 512 -> 512 -> 128`, `T = 0.5`, `b != a` uniform.
    fn default() -> Self {
        HsslConfig {
            mode: HsslMode::Homomorphic,
            proj_hidden: 512,
            proj_out: 128,
            temperature: 0.5,
            distances: Vec::new(),
        }
    }
}

impl HsslConfig {
    /// Checks the widths and temperature; errors name the field. The distances are checked
    /// against the group by [`HsslConfig::check_distances`].
    pub fn validate(&self) -> Result<()> {
        if self.proj_hidden == 0 {
            return Err(TrainError::config("hssl.proj_hidden", "must be >= 1"));
        }
        if self.proj_out == 0 {
            return Err(TrainError::config("hssl.proj_out", "must be >= 1"));
        }
        positive("hssl.temperature", self.temperature)?;
        Ok(())
    }

    /// An error naming `hssl.distances` when a distance exceeds `action`'s largest.
    pub fn check_distances(&self, action: &GroupAction) -> Result<()> {
        let max = action.max_distance();
        match self.distances.iter().find(|&&d| d > max) {
            Some(d) => Err(TrainError::config(
                "hssl.distances",
                format!(
                    "{d} is more than the largest distance {max} of the {}",
                    action.describe()
                ),
            )),
            None => Ok(()),
        }
    }
}

/// One un-augmented image per item, `(N, C, H, W)`.
#[derive(Debug, Clone)]
pub struct Images {
    /// The images.
    pub x: Tensor,
}

/// H-SSL / A-SSL over a fiber backbone; backbone and projector in one trained store `model`
/// (`backbone.*`, `projector.*`).
#[derive(Debug)]
pub struct Hssl<B> {
    store: ParamStore,
    backbone: B,
    projector: Mlp,
    config: HsslConfig,
    loss: NtXentConfig,
    dtype: DType,
    /// The group action for the last image size seen.
    action: Option<GroupAction>,
}

impl<B: FiberBackbone> Hssl<B> {
    /// The method over `backbone` (built from `store`, conventionally under `backbone.`); the
    /// projector is created in `store` under `projector.`.
    pub fn new(
        store: ParamStore,
        backbone: B,
        config: &HsslConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Hssl<B>> {
        config.validate()?;
        let vb = store.var_builder(dtype, device);
        let proj =
            MlpConfig::simclr_projector(backbone.fiber_dim(), config.proj_hidden, config.proj_out);
        let projector = Mlp::new(&proj, vb.pp("projector"))?;
        Ok(Hssl {
            store,
            backbone,
            projector,
            loss: NtXentConfig::new(config.temperature),
            config: config.clone(),
            dtype,
            action: None,
        })
    }

    /// The backbone.
    pub fn backbone(&self) -> &B {
        &self.backbone
    }

    /// The configuration.
    pub fn config(&self) -> &HsslConfig {
        &self.config
    }

    /// The group acting on `height x width` images (built once per size; the distances are
    /// checked against it).
    pub fn action(&mut self, height: usize, width: usize, device: &Device) -> Result<&GroupAction> {
        let fresh = !matches!(&self.action, Some(a) if a.image_size() == (height, width));
        if fresh {
            let action = self.backbone.action(height, width, self.dtype, device)?;
            self.config.check_distances(&action)?;
            self.action = Some(action);
        }
        Ok(self.action.as_ref().expect("set above"))
    }

    /// The group elements `(a, b)` of the positives of the images `x` at `ctx`
    /// ([`sample_elements`]).
    pub fn sample_pairs(
        &mut self,
        x: &Tensor,
        ctx: &StepContext,
    ) -> Result<(Vec<usize>, Vec<usize>)> {
        let (n, _, h, w) = x.dims4()?;
        self.action(h, w, x.device())?;
        let action = self.action.as_ref().expect("built above");
        Ok(sample_elements(action, &self.config.distances, n, ctx))
    }

    /// The `2B` fibers `[F_a; F_b]` (`(2B, C)`) of a batch for elements `a`, `b`, by this
    /// method's mode.
    pub fn positive_fibers(
        &mut self,
        x: &Tensor,
        a: &[usize],
        b: &[usize],
        train: bool,
    ) -> Result<Tensor> {
        match self.config.mode {
            HsslMode::Homomorphic => {
                let f = self.backbone.pooled_fibers_t(x, train)?; // (B, C, N)
                Ok(Tensor::cat(
                    &[&select_fibers(&f, a)?, &select_fibers(&f, b)?],
                    0,
                )?)
            }
            HsslMode::Augmented => {
                let (_, _, h, w) = x.dims4()?;
                let action = self.action(h, w, x.device())?;
                let view = |g: &[usize]| {
                    let elements: Vec<usize> = g.iter().map(|&g| action.view_element(g)).collect();
                    action.act(x, &elements)
                };
                let views = Tensor::cat(&[&view(a)?, &view(b)?], 0)?; // (2B, C, H, W)
                let f = self.backbone.pooled_fibers_t(&views, train)?; // (2B, C, N)
                Ok(select_fibers(&f, &vec![0; views.dim(0)?])?)
            }
        }
    }
}

/// `(a, b)` for `batch` images in the group of `action` from `ctx`'s [`HSSL_STREAM`] (see the
/// module docs).
pub fn sample_elements(
    action: &GroupAction,
    distances: &[usize],
    batch: usize,
    ctx: &StepContext,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ctx.rng(HSSL_STREAM);
    let mut a = Vec::with_capacity(batch);
    let mut b = Vec::with_capacity(batch);
    for _ in 0..batch {
        let (ai, bi) = action.sample_pair(&mut rng, distances);
        a.push(ai);
        b.push(bi);
    }
    (a, b)
}

impl<B: FiberBackbone> Embed for Hssl<B> {
    /// The invariant features of the backbone (pooled over space and the group).
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.features_t(xs, false)?)
    }

    /// The projection of the identity fiber.
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        let f = self.backbone.pooled_fibers_t(xs, false)?;
        let e = select_fibers(&f, &vec![0; f.dim(0)?])?;
        Ok(self.projector.forward_t(&e, false)?)
    }

    /// `fiber_equivariance_error` for one group step (a rotation by `2 pi / N`; a shift by one
    /// cell along both axes; one scale step) and, for rotations with `4 | N`, a quarter turn
    /// ([`noether_models::fibers::fiber_equivariance_error`], eval mode).
    fn extra_metrics(&self, xs: &Tensor) -> Result<Vec<(String, f64)>> {
        let (_, _, h, w) = xs.dims4()?;
        let action = self.backbone.action(h, w, xs.dtype(), xs.device())?;
        let err = |g| fiber_equivariance_error(&self.backbone, &action, xs, g);
        let mut out = Vec::new();
        match &action {
            GroupAction::Rotation(r) => {
                out.push(("fiber_equivariance_error".to_string(), err(1)?));
                if r.order().is_multiple_of(4) {
                    out.push((
                        "fiber_equivariance_error_quarter".into(),
                        err(r.order() / 4)?,
                    ));
                }
            }
            GroupAction::Translation(t) => {
                let (gh, gw) = t.grid();
                let one_cell = (1 % gh) * gw + 1 % gw; // (1, 1)
                out.push(("fiber_equivariance_error".to_string(), err(one_cell)?));
            }
            GroupAction::Scale(s) if s.num_elements() > 1 => {
                out.push(("fiber_equivariance_error".to_string(), err(1)?));
            }
            GroupAction::Scale(_) => {}
        }
        Ok(out)
    }
}

impl<B: FiberBackbone> Method for Hssl<B> {
    type Batch = Images;

    fn name(&self) -> &str {
        self.config.mode.method_name()
    }

    fn stores(&self) -> Vec<NamedStore> {
        vec![NamedStore::trained("model", self.store.clone())]
    }

    fn losses(&mut self, batch: &Images, ctx: &StepContext) -> Result<Losses> {
        if batch.x.rank() != 4 {
            return Err(TrainError::config(
                "Images",
                format!("x must be (N, C, H, W); got {:?}", batch.x.dims()),
            ));
        }
        let n = batch.x.dim(0)?;
        let (a, b) = self.sample_pairs(&batch.x, ctx)?;
        let fibers = self.positive_fibers(&batch.x, &a, &b, true)?; // (2N, C)
        let z = self.projector.forward_t(&fibers, true)?;
        let loss = simclr_nt_xent(&z.narrow(0, 0, n)?, &z.narrow(0, n, n)?, &self.loss)?;
        Losses::new(loss.clone()).with_term("nt_xent", &loss)
    }
}
