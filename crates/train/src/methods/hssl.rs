//! Homomorphic SSL (Keller, Suau & Zappella, arXiv 2211.08282; `papers/hssl.md`) and its
//! augmentation-SSL counterpart, as one [`Method`] with a [`HsslMode`].
//!
//! The backbone is a [`FiberBackbone`]: a regular-representation `C_N` G-CNN whose lifted map
//! `f(x)` is `(B, C, N, H, W)`; `F_h(x)` is the fiber at group element `h`, pooled over space.
//! If `f` is a homomorphism, `f(T_g x) = Gamma_g f(x)`, then `F_e(T_g x) = F_{g^-1}(x)`: the
//! representation of a rotated view is already in the un-rotated input's map. So
//!
//! - **A-SSL** ([`HsslMode::Augmented`]): two views `T_{a^-1} x` and `T_{b^-1} x` (the input
//!   rotated by the [`RotationAction`]), the identity fiber `F_e` of each: `2B` images through
//!   the backbone;
//! - **H-SSL** ([`HsslMode::Homomorphic`]): one pass of `x`, the fibers `F_a(x)` and `F_b(x)`:
//!   `B` images through the backbone;
//!
//! feed the same `2B` fibers to the same head (SimCLR's projector) and NT-Xent, the other
//! images' fibers as negatives. With an exact homomorphism (C4, pooled fibers, even maps) the
//! two losses are equal for the same `(a, b)`: batch norm too, since a rotated image has the
//! statistics of the original over group and space. With no structure ([`Structure`] shuffled
//! or plain), H-SSL's two fibers are no longer views of anything.
//!
//! **Sampling (ours).** For image `i`, `a_i` is uniform on `C_N`; `b_i = a_i + s d` with `d`
//! drawn uniformly from [`HsslConfig::distances`] and a uniform sign `s`; an empty list draws
//! `b_i` uniformly among the elements other than `a_i` (the distribution of `g1^-1 g2` for
//! `g1`, `g2` i.i.d. uniform, conditioned on `g1 != g2`: positives at the same element carry no
//! signal). All draws come from [`StepContext::rng`]`(`[`HSSL_STREAM`]`)`, so A-SSL and H-SSL
//! with the same seed use the same elements.
//!
//! [`Structure`]: noether_models::Structure

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::gcnn::{fiber_equivariance_error, pooled_fibers, select_fibers};
use noether_models::{FiberBackbone, Mlp, MlpConfig, ParamStore, RotationAction};
use noether_objectives::{NtXentConfig, simclr_nt_xent};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::method::{Embed, Losses, Method, NamedStore, StepContext};

/// The random stream of the group elements ([`StepContext::rng`]).
pub const HSSL_STREAM: u64 = 11;

/// Where the two positives come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HsslMode {
    /// Two fibers of one forward pass of the un-augmented image (H-SSL).
    #[default]
    Homomorphic,
    /// The identity fiber of two rotated copies of the image (A-SSL).
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
    /// Cyclic distances `|a - b|` (0 to `N / 2`) the positives are drawn at, each equally
    /// likely; empty (default): `b` uniform among the elements other than `a`.
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
    /// Checks the widths, temperature and distances for a group of order `n`; errors name the
    /// field.
    pub fn validate(&self, n: usize) -> Result<()> {
        if self.proj_hidden == 0 {
            return Err(TrainError::config("hssl.proj_hidden", "must be >= 1"));
        }
        if self.proj_out == 0 {
            return Err(TrainError::config("hssl.proj_out", "must be >= 1"));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(TrainError::config(
                "hssl.temperature",
                format!("must be finite and > 0 (got {})", self.temperature),
            ));
        }
        if let Some(d) = self.distances.iter().find(|&&d| d > n / 2) {
            return Err(TrainError::config(
                "hssl.distances",
                format!("{d} is more than N / 2 = {} for C_{n}", n / 2),
            ));
        }
        Ok(())
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
    /// The rotation action for the last image size seen (A-SSL).
    action: Option<RotationAction>,
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
        config.validate(backbone.group_order())?;
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

    /// The group elements `(a, b)` of the positives of a batch of `batch` images at `ctx`.
    pub fn sample_elements(&self, batch: usize, ctx: &StepContext) -> (Vec<usize>, Vec<usize>) {
        sample_elements(
            self.backbone.group_order(),
            &self.config.distances,
            batch,
            ctx,
        )
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
        let n = self.backbone.group_order();
        match self.config.mode {
            HsslMode::Homomorphic => {
                let f = pooled_fibers(&self.backbone.fibers_t(x, train)?)?; // (B, C, N)
                Ok(Tensor::cat(
                    &[&select_fibers(&f, a)?, &select_fibers(&f, b)?],
                    0,
                )?)
            }
            HsslMode::Augmented => {
                let size = x.dim(3)?;
                let action = self.action(size, x.device())?;
                let inv = |g: &[usize]| g.iter().map(|&g| (n - g % n) % n).collect::<Vec<_>>();
                let views = Tensor::cat(
                    &[&action.rotate(x, &inv(a))?, &action.rotate(x, &inv(b))?],
                    0,
                )?; // (2B, C, H, W)
                let f = pooled_fibers(&self.backbone.fibers_t(&views, train)?)?; // (2B, C, N)
                Ok(select_fibers(&f, &vec![0; views.dim(0)?])?)
            }
        }
    }

    fn action(&mut self, size: usize, device: &Device) -> Result<&RotationAction> {
        let n = self.backbone.group_order();
        let fresh = !matches!(&self.action, Some(a) if a.order() == n && a.size() == size);
        if fresh {
            self.action = Some(RotationAction::new(n, size, self.dtype, device)?);
        }
        Ok(self.action.as_ref().expect("set above"))
    }
}

/// `(a, b)` for `batch` images in `C_n` from `ctx`'s [`HSSL_STREAM`] (see the module docs).
pub fn sample_elements(
    n: usize,
    distances: &[usize],
    batch: usize,
    ctx: &StepContext,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ctx.rng(HSSL_STREAM);
    let mut a = Vec::with_capacity(batch);
    let mut b = Vec::with_capacity(batch);
    for _ in 0..batch {
        let ai = rng.random_range(0..n);
        let step = if distances.is_empty() {
            rng.random_range(1..n)
        } else {
            let d = distances[rng.random_range(0..distances.len())];
            if rng.random_bool(0.5) { d } else { n - d }
        };
        a.push(ai);
        b.push((ai + step) % n);
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
        let f = pooled_fibers(&self.backbone.fibers_t(xs, false)?)?;
        let e = select_fibers(&f, &vec![0; f.dim(0)?])?;
        Ok(self.projector.forward_t(&e, false)?)
    }

    /// `fiber_equivariance_error` for one group step and (when `4 | N`) for a quarter turn
    /// ([`noether_models::gcnn::fiber_equivariance_error`], eval mode).
    fn extra_metrics(&self, xs: &Tensor) -> Result<Vec<(String, f64)>> {
        let n = self.backbone.group_order();
        let action = RotationAction::new(n, xs.dim(3)?, xs.dtype(), xs.device())?;
        let err = |s| fiber_equivariance_error(&self.backbone, &action, xs, s);
        let mut out = vec![("fiber_equivariance_error".to_string(), err(1)?)];
        if n.is_multiple_of(4) {
            out.push(("fiber_equivariance_error_quarter".into(), err(n / 4)?));
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
        let (a, b) = self.sample_elements(n, ctx);
        let fibers = self.positive_fibers(&batch.x, &a, &b, true)?; // (2N, C)
        let z = self.projector.forward_t(&fibers, true)?;
        let loss = simclr_nt_xent(&z.narrow(0, 0, n)?, &z.narrow(0, n, n)?, &self.loss)?;
        Losses::new(loss.clone()).with_term("nt_xent", &loss)
    }
}
