//! GeSSL (Qiang et al., "On the Universality of Self-Supervised Representation Learning",
//! arXiv 2405.01053, v4) as a wrapper around any base [`Method`] that exposes its task
//! classifier ([`TaskClassifier`]): SimCLR, BYOL, VICReg and EquiMod do.
//!
//! **No code was released and the algorithm is reconstructed** (`papers/gessl.md`, from the
//! abstract and the method's ancestors BMSSL and Bootstrapped Meta-Gradients). Every choice
//! below is ours and is listed, with the reasons, in `docs/gessl.md`.
//!
//! ## One outer step ([`Gessl`] as a [`Method`], batch = `M` tasks)
//!
//! A task `tau_i` is one mini-batch of the base method, seen as an `N`-way classification
//! (`p_theta(j | i) = softmax_j(cos(z_i, z'_j) / T)`, [`noether_objectives::task_log_probs`]). For each of
//! the `M` tasks:
//!
//! 1. inner loop: `theta^0 = theta`, `theta^k = theta^{k-1} - alpha grad L_ssl(theta^{k-1}; tau)`
//!    for `k = 1..K` (plain SGD, so that `d theta^k / d theta^{k-1} = I - alpha H_k`);
//! 2. look-ahead target: `lambda` more such steps from `theta^K` give `theta~`, held constant;
//! 3. outer loss `l = mean_i KL(p_theta~(. | i) || p_theta^K(. | i))` (target first, as in BMG);
//! 4. meta-gradient `d l / d theta` through the inner steps ([`MetaGradient`]).
//!
//! The meta-gradients are averaged over the tasks and handed to the trainer, whose optimizer
//! (the base method's: Adam, LARS, ...) takes the meta step with the schedule's learning rate
//! `beta`. The hand-over uses a surrogate: the `total` of [`Losses`] is
//! `l + sum_p <g_p, p - stopgrad(p)>`, whose value is `l` and whose gradient in `p` is `g_p`, so
//! clipping, logging, checkpoints and resume work unchanged.
//!
//! ## The "functional copy"
//!
//! candle modules own their variables, so the task-specific models are the base method's own
//! networks with their variables overwritten in place ([`candle_core::Var::set`]) and restored
//! to `theta` afterwards; nothing is rebuilt and the optimizer's variables keep their identity.
//!
//! ## Batch norm in the inner copies
//!
//! Every forward pass runs in train mode (batch statistics), as the base method's does, so the
//! losses are the base method's functions of the parameters. Running statistics (buffers) are
//! *not* written back from the adapted copies: per task, the first forward pass — the one at
//! `theta` itself — keeps its running-statistics update (so after an outer step the buffers
//! have moved exactly as after `M` steps of the base method), every later forward (at
//! `theta^k`, `k >= 1`, the look-ahead, the finite-difference probes) has its update undone.
//!
//! ## Meta-gradients without second-order autograd
//!
//! candle differentiates once. [`MetaGradient::FirstOrder`] applies the gradient of `l` at
//! `theta^K` to `theta` (FOMAML). [`MetaGradient::Hvp`] is exact up to the finite difference:
//! `d theta^K / d theta = prod_k (I - alpha H_k)` (each `H_k` symmetric) is applied backwards
//! to `v = grad l(theta^K)` with Hessian-vector products
//! `H v ~ (g(theta^k + r v) - g(theta^k - r v)) / (2 r)`, `r = hvp_radius / ||v||`: two extra
//! gradient evaluations per inner step. With `K = 0` (distillation into the future self) the
//! gradient is exact in both modes.

use candle_core::{DType, Tensor, Var};
use noether_models::ParamKind;
use noether_objectives::{kl_divergence_rows, task_log_probs};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::method::{Embed, Losses, Method, NamedStore, StepContext};
use crate::methods::check::positive;
use crate::source::BatchSource;

/// The task temperature of bases whose own loss has none (BYOL, VICReg): SimCLR's ImageNet
/// temperature. A choice of ours (`docs/gessl.md`).
pub const DEFAULT_TASK_TEMPERATURE: f64 = 0.2;

/// What GeSSL needs of a base method beyond [`Method`]: the embeddings its task classifier
/// compares.
pub trait TaskClassifier: Method {
    /// The embeddings `(z, z')` of the task's first and second views, each `(N, d)`, row `i`
    /// from image `i`, computed in train mode (batch statistics) by the method's trained
    /// networks: SimCLR's projection, BYOL's online projection, VICReg's expansion,
    /// EquiMod's invariant projection.
    fn task_embeddings(&mut self, batch: &Self::Batch) -> Result<(Tensor, Tensor)>;

    /// The temperature `T` of `p(j | i) = softmax_j(cos(z_i, z'_j) / T)`: the method's own
    /// NT-Xent temperature where it has one, else [`DEFAULT_TASK_TEMPERATURE`].
    fn task_temperature(&self) -> f64;
}

impl<M: Method + ?Sized> Method for &mut M {
    type Batch = M::Batch;
    fn name(&self) -> &str {
        (**self).name()
    }
    fn stores(&self) -> Vec<NamedStore> {
        (**self).stores()
    }
    fn losses(&mut self, batch: &M::Batch, ctx: &StepContext) -> Result<Losses> {
        (**self).losses(batch, ctx)
    }
    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        (**self).after_step(ctx)
    }
}

impl<M: TaskClassifier + ?Sized> TaskClassifier for &mut M {
    fn task_embeddings(&mut self, batch: &M::Batch) -> Result<(Tensor, Tensor)> {
        (**self).task_embeddings(batch)
    }
    fn task_temperature(&self) -> f64 {
        (**self).task_temperature()
    }
}

impl<M: Embed + ?Sized> Embed for &mut M {
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        (**self).features(xs)
    }
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        (**self).embedding(xs)
    }
    fn extra_metrics(&self, xs: &Tensor) -> Result<Vec<(String, f64)>> {
        (**self).extra_metrics(xs)
    }
}

/// How the meta-gradient flows through the `K` inner steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetaGradient {
    /// FOMAML: `grad l(theta^K)` applied to `theta` (drops the curvature terms).
    FirstOrder,
    /// `prod_k (I - alpha H_k) grad l(theta^K)` with finite-difference Hessian-vector
    /// products: exact up to `O(r^2)`, `2 K` extra gradient evaluations per task.
    Hvp,
}

/// GeSSL's settings (`[gessl]` of a run file). Defaults: `papers/gessl.md`'s starting points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GesslConfig {
    /// Tasks (mini-batches of the base method) per outer step, `M` (>= 1).
    pub tasks: usize,
    /// Inner SGD steps of the base loss, `K` (0: distil into the future self).
    pub inner_steps: usize,
    /// Look-ahead steps to the target, `lambda` (>= 1).
    pub lookahead: usize,
    /// The inner and look-ahead SGD learning rate `alpha`.
    pub inner_lr: f64,
    /// The meta-gradient through the inner steps.
    pub meta_gradient: MetaGradient,
    /// The norm `r ||v||` of the finite-difference probe of a Hessian-vector product.
    pub hvp_radius: f64,
    /// The task temperature; `None`: the base method's ([`TaskClassifier::task_temperature`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
}

impl Default for GesslConfig {
    /// `M = 2`, `K = 1`, `lambda = 1`, `alpha = 0.05`, first-order, `r = 0.01`.
    fn default() -> Self {
        GesslConfig {
            tasks: 2,
            inner_steps: 1,
            lookahead: 1,
            inner_lr: 0.05,
            meta_gradient: MetaGradient::FirstOrder,
            hvp_radius: 1e-2,
            temperature: None,
        }
    }
}

impl GesslConfig {
    /// The largest `K` and `lambda` accepted (each step is a forward and backward pass of the
    /// base method per task).
    pub const MAX_STEPS: usize = 64;

    /// Checks every field; errors name it.
    pub fn validate(&self) -> Result<()> {
        if self.tasks == 0 {
            return Err(TrainError::config("gessl.tasks", "must be >= 1"));
        }
        if self.inner_steps > Self::MAX_STEPS {
            return Err(TrainError::config(
                "gessl.inner_steps",
                format!("must be <= {} (got {})", Self::MAX_STEPS, self.inner_steps),
            ));
        }
        if self.lookahead == 0 || self.lookahead > Self::MAX_STEPS {
            return Err(TrainError::config(
                "gessl.lookahead",
                format!(
                    "must be in 1..={} (got {}); with 0 the target is the model and the KL is 0",
                    Self::MAX_STEPS,
                    self.lookahead
                ),
            ));
        }
        positive("gessl.inner_lr", self.inner_lr)?;
        positive("gessl.hvp_radius", self.hvp_radius)?;
        if let Some(t) = self.temperature {
            positive("gessl.temperature", t)?;
        }
        Ok(())
    }

    /// Forward and backward passes of the base method per task and outer step, counting the
    /// target's forward pass as one half: the cost per sample seen relative to the base.
    pub fn passes_per_task(&self) -> f64 {
        let hvp = match self.meta_gradient {
            MetaGradient::Hvp => 2 * self.inner_steps,
            MetaGradient::FirstOrder => 0,
        };
        (self.inner_steps + self.lookahead + 1 + hvp) as f64 + 0.5
    }
}

/// The task temperature of `base` under `config`: `gessl.temperature` when set, else the
/// base method's ([`TaskClassifier::task_temperature`]).
pub fn task_temperature<M: TaskClassifier + ?Sized>(config: Option<&GesslConfig>, base: &M) -> f64 {
    config
        .and_then(|c| c.temperature)
        .unwrap_or_else(|| base.task_temperature())
}

/// The name GeSSL over a base method called `base` records in checkpoints.
pub fn gessl_name(base: &str) -> String {
    format!("gessl_{base}")
}

/// The trained variables and the buffers of a method's stores, in a fixed order.
#[derive(Debug, Clone)]
struct Vars {
    params: Vec<Var>,
    buffers: Vec<Var>,
}

impl Vars {
    fn of(stores: &[NamedStore]) -> Result<Vars> {
        let mut params = Vec::new();
        let mut buffers = Vec::new();
        for s in stores {
            for p in s.store.all()? {
                if p.kind == ParamKind::Buffer {
                    buffers.push(p.var);
                } else if s.trained {
                    params.push(p.var);
                }
            }
        }
        if params.is_empty() {
            return Err(TrainError::config(
                "gessl",
                "the base method has no trained parameters",
            ));
        }
        Ok(Vars { params, buffers })
    }
}

/// Deep copies of the variables' values.
fn snapshot(vars: &[Var]) -> Result<Vec<Tensor>> {
    Ok(vars
        .iter()
        .map(|v| v.as_tensor().detach().copy())
        .collect::<candle_core::Result<_>>()?)
}

/// Overwrites the variables with `values` (same order and shapes).
fn restore(vars: &[Var], values: &[Tensor]) -> Result<()> {
    for (v, t) in vars.iter().zip(values) {
        v.set(t)?;
    }
    Ok(())
}

/// `vars[i] += scale * dirs[i]`, in place.
fn axpy(vars: &[Var], dirs: &[Tensor], scale: f64) -> Result<()> {
    for (v, d) in vars.iter().zip(dirs) {
        let next = (v.as_tensor().detach() + (d * scale)?)?;
        v.set(&next)?;
    }
    Ok(())
}

/// The gradient of the scalar `loss` for each of `params` (zeros where it does not depend on
/// one).
fn gradients(loss: &Tensor, params: &[Var]) -> Result<Vec<Tensor>> {
    let grads = loss.backward()?;
    Ok(params
        .iter()
        .map(|p| match grads.get(p.as_tensor()) {
            Some(g) => Ok(g.clone()),
            None => p.as_tensor().zeros_like(),
        })
        .collect::<candle_core::Result<_>>()?)
}

/// `sqrt(sum_i ||v_i||^2)`.
fn norm(v: &[Tensor]) -> Result<f64> {
    let mut s = 0.0;
    for t in v {
        s += t
            .sqr()?
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
    }
    Ok(s.sqrt())
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// The base loss's gradient on `task` at the current parameters, and the loss.
fn base_gradient<M: TaskClassifier>(
    base: &mut M,
    vars: &Vars,
    task: &M::Batch,
    ctx: &StepContext,
) -> Result<(Vec<Tensor>, f64)> {
    let losses = base.losses(task, ctx)?;
    let value = scalar(&losses.total)?;
    Ok((gradients(&losses.total, &vars.params)?, value))
}

/// `steps` plain SGD steps of the base loss on `task` from the current parameters, in place.
/// `at(k)` is called after the forward and backward pass of step `k`, before its update (the
/// parameters are still `theta^k`). Returns the loss of the first step.
fn sgd_steps<M: TaskClassifier>(
    base: &mut M,
    vars: &Vars,
    task: &M::Batch,
    ctx: &StepContext,
    steps: usize,
    lr: f64,
    mut at: impl FnMut(usize) -> Result<()>,
) -> Result<Option<f64>> {
    let mut first = None;
    for k in 0..steps {
        let (g, loss) = base_gradient(base, vars, task, ctx)?;
        first.get_or_insert(loss);
        at(k)?;
        axpy(&vars.params, &g, -lr)?;
    }
    Ok(first)
}

/// The task classifier's log-probabilities `(N, N)` at the current parameters.
fn task_log_probs_now<M: TaskClassifier>(
    base: &mut M,
    task: &M::Batch,
    temperature: f64,
) -> Result<Tensor> {
    let (z, zp) = base.task_embeddings(task)?;
    Ok(task_log_probs(&z, &zp, temperature)?)
}

/// One task of an outer step, evaluated at the current parameters `theta` (left as found,
/// buffers included): the meta-gradient, the outer loss and the base loss at `theta`.
struct TaskResult {
    meta: Vec<Tensor>,
    kl: f64,
    ssl: f64,
}

/// The GeSSL wrapper: a [`Method`] whose batch is `M` tasks of the base method (see
/// [`Tasks`]) and whose step is the outer step of the module documentation.
///
/// ```
/// # fn main() -> Result<(), noether_train::TrainError> {
/// use candle_core::{DType, Device, Tensor};
/// use noether_models::{ConvNet, ConvNetConfig, ParamStore};
/// use noether_train::methods::{Gessl, GesslConfig, SimClr, SimClrConfig, ViewPair};
/// use noether_train::{Method, StepContext};
///
/// let dev = Device::Cpu;
/// let store = ParamStore::seeded(0);
/// let cfg = ConvNetConfig { in_channels: 3, widths: vec![4, 8], convs_per_block: 1, num_classes: None };
/// let backbone = ConvNet::new(&cfg, store.var_builder(DType::F32, &dev).pp("backbone"))?;
/// let simclr_cfg = SimClrConfig { proj_hidden: 16, proj_out: 8, temperature: 0.5 };
/// let simclr = SimClr::new(store, backbone, &simclr_cfg, DType::F32, &dev)?;
/// let mut gessl = Gessl::new(simclr, &GesslConfig::default())?;
/// let task = |s| -> Result<ViewPair, noether_train::TrainError> {
///     let x = Tensor::randn(0f32, 1., (4, 3, 8, 8), &dev)?;
///     Ok(ViewPair { x1: x.clone(), x2: (x + (s as f64))? })
/// };
/// let ctx = StepContext { step: 0, total_steps: 1, lr: 1e-3, seed: 0 };
/// let losses = gessl.losses(&vec![task(0)?, task(1)?], &ctx)?;
/// // `total` is the outer KL; its gradient is the meta-gradient.
/// assert!(losses.terms.iter().any(|(k, v)| k == "kl" && *v >= 0.0));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Gessl<M> {
    base: M,
    config: GesslConfig,
    name: String,
    temperature: f64,
    vars: Vars,
}

impl<M: TaskClassifier> Gessl<M> {
    /// GeSSL around `base` (validates `config`).
    pub fn new(base: M, config: &GesslConfig) -> Result<Gessl<M>> {
        config.validate()?;
        let vars = Vars::of(&base.stores())?;
        let temperature = task_temperature(Some(config), &base);
        positive("gessl.temperature (the base method's)", temperature)?;
        Ok(Gessl {
            name: gessl_name(base.name()),
            base,
            config: *config,
            temperature,
            vars,
        })
    }

    /// The base method.
    pub fn base(&self) -> &M {
        &self.base
    }

    /// The base method, mutably.
    pub fn base_mut(&mut self) -> &mut M {
        &mut self.base
    }

    /// The base method, unwrapped.
    pub fn into_inner(self) -> M {
        self.base
    }

    /// The settings.
    pub fn config(&self) -> &GesslConfig {
        &self.config
    }

    /// The task temperature in use.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// The meta-gradient of one task at the current parameters, which are left as found.
    /// `buffers` are the running statistics to start from; on return they hold the update of
    /// the first forward pass at `theta` (and the variables hold them too).
    fn task(
        &mut self,
        task: &M::Batch,
        ctx: &StepContext,
        theta: &[Tensor],
        buffers: &mut Vec<Tensor>,
    ) -> Result<TaskResult> {
        let (k_steps, lr) = (self.config.inner_steps, self.config.inner_lr);
        let vars = self.vars.clone();
        restore(&vars.buffers, buffers)?;
        // 1. The inner loop, keeping theta^k for the Hessian-vector products and the running
        //    statistics of the first forward pass (at theta).
        let hvp = self.config.meta_gradient == MetaGradient::Hvp;
        let mut inner = Vec::new();
        let mut after_first = None;
        let ssl_inner = sgd_steps(&mut self.base, &vars, task, ctx, k_steps, lr, |k| {
            if k == 0 {
                after_first = Some(snapshot(&vars.buffers)?);
            }
            if hvp {
                inner.push(snapshot(&vars.params)?);
            }
            Ok(())
        })?;
        let theta_k = snapshot(&vars.params)?;
        // 2. The look-ahead target, held constant.
        let lookahead = self.config.lookahead;
        let ssl_look = sgd_steps(&mut self.base, &vars, task, ctx, lookahead, lr, |k| {
            if k == 0 && after_first.is_none() {
                after_first = Some(snapshot(&vars.buffers)?);
            }
            Ok(())
        })?;
        let target = task_log_probs_now(&mut self.base, task, self.temperature)?.detach();
        // 3. The outer loss at theta^K.
        restore(&vars.params, &theta_k)?;
        let log_model = task_log_probs_now(&mut self.base, task, self.temperature)?;
        let kl = kl_divergence_rows(&target, &log_model)?;
        let mut v = gradients(&kl, &vars.params)?;
        // 4. Back through the inner steps.
        if hvp {
            for theta_j in inner.iter().rev() {
                let hv = self.hessian_vector(task, ctx, theta_j, &v)?;
                v = v
                    .iter()
                    .zip(&hv)
                    .map(|(a, b)| a - (b * lr)?)
                    .collect::<candle_core::Result<_>>()?;
            }
        }
        restore(&vars.params, theta)?;
        *buffers = after_first.ok_or_else(|| {
            TrainError::config("gessl", "no forward pass at theta (K = lambda = 0)")
        })?;
        restore(&vars.buffers, buffers)?;
        Ok(TaskResult {
            meta: v,
            kl: scalar(&kl)?,
            ssl: ssl_inner.or(ssl_look).unwrap_or(f64::NAN),
        })
    }

    /// `H(theta_j) v` by central differences of the base loss's gradient on `task`; leaves the
    /// parameters at `theta_j + r v` (the caller restores them).
    fn hessian_vector(
        &mut self,
        task: &M::Batch,
        ctx: &StepContext,
        theta_j: &[Tensor],
        v: &[Tensor],
    ) -> Result<Vec<Tensor>> {
        let vars = self.vars.clone();
        let n = norm(v)?;
        if n == 0.0 {
            return Ok(v.to_vec());
        }
        let r = self.config.hvp_radius / n;
        restore(&vars.params, theta_j)?;
        axpy(&vars.params, v, r)?;
        let (g_plus, _) = base_gradient(&mut self.base, &vars, task, ctx)?;
        restore(&vars.params, theta_j)?;
        axpy(&vars.params, v, -r)?;
        let (g_minus, _) = base_gradient(&mut self.base, &vars, task, ctx)?;
        Ok(g_plus
            .iter()
            .zip(&g_minus)
            .map(|(a, b)| (a - b)? / (2.0 * r))
            .collect::<candle_core::Result<_>>()?)
    }

    /// The averaged meta-gradient of `tasks` (one per trained variable, in the order of the
    /// base's trained stores), the mean outer loss and the mean base loss at `theta`. The
    /// parameters are left as found; the buffers hold the running statistics of one base step
    /// per task.
    pub fn meta_gradient(
        &mut self,
        tasks: &[M::Batch],
        ctx: &StepContext,
    ) -> Result<(Vec<Tensor>, f64, f64)> {
        if tasks.is_empty() {
            return Err(TrainError::config("gessl", "an outer step needs >= 1 task"));
        }
        let theta = snapshot(&self.vars.params)?;
        let mut buffers = snapshot(&self.vars.buffers)?;
        let m = tasks.len() as f64;
        let (mut meta, mut kl, mut ssl): (Option<Vec<Tensor>>, f64, f64) = (None, 0.0, 0.0);
        for task in tasks {
            let r = match self.task(task, ctx, &theta, &mut buffers) {
                Ok(r) => r,
                Err(e) => {
                    // Leave theta and the running statistics as they were before the step.
                    restore(&self.vars.params, &theta)?;
                    restore(&self.vars.buffers, &buffers)?;
                    return Err(e);
                }
            };
            kl += r.kl / m;
            ssl += r.ssl / m;
            meta = Some(match meta {
                None => r.meta,
                Some(acc) => acc
                    .iter()
                    .zip(&r.meta)
                    .map(|(a, b)| a + b)
                    .collect::<candle_core::Result<_>>()?,
            });
        }
        let meta = meta
            .unwrap_or_default()
            .iter()
            .map(|g| g / m)
            .collect::<candle_core::Result<_>>()?;
        Ok((meta, kl, ssl))
    }
}

impl<M: TaskClassifier> Method for Gessl<M> {
    type Batch = Vec<M::Batch>;

    /// `gessl_<base>`.
    fn name(&self) -> &str {
        &self.name
    }

    /// The base method's stores (GeSSL adds no parameters).
    fn stores(&self) -> Vec<NamedStore> {
        self.base.stores()
    }

    /// The outer step; `total`'s value is the mean outer KL and its gradient the averaged
    /// meta-gradient. Terms: `kl` (the outer loss), `ssl` (the base loss at `theta`).
    fn losses(&mut self, tasks: &Vec<M::Batch>, ctx: &StepContext) -> Result<Losses> {
        let (meta, kl, ssl) = self.meta_gradient(tasks, ctx)?;
        let dev = meta
            .first()
            .map(|t| t.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        let mut total = Tensor::new(kl, &dev)?.to_dtype(meta[0].dtype())?;
        for (p, g) in self.vars.params.iter().zip(&meta) {
            let p = p.as_tensor();
            let zero = (p - p.detach())?; // value 0, gradient identity
            total = (total + (g * zero)?.sum_all()?)?;
        }
        Losses::new(total)
            .with_term("kl", &Tensor::new(kl, &dev)?)?
            .with_term("ssl", &Tensor::new(ssl, &dev)?)
    }

    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        self.base.after_step(ctx)
    }
}

impl<M: TaskClassifier + Embed> Embed for Gessl<M> {
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        self.base.features(xs)
    }
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        self.base.embedding(xs)
    }
    fn extra_metrics(&self, xs: &Tensor) -> Result<Vec<(String, f64)>> {
        self.base.extra_metrics(xs)
    }
}

/// A batch source of `M` tasks per outer step: `M` consecutive batches of `inner`.
#[derive(Debug)]
pub struct Tasks<S> {
    inner: S,
    tasks: usize,
}

impl<S: BatchSource> Tasks<S> {
    /// Groups the batches of `inner` by `tasks` (>= 1).
    pub fn new(inner: S, tasks: usize) -> Result<Tasks<S>> {
        if tasks == 0 {
            return Err(TrainError::config("gessl.tasks", "must be >= 1"));
        }
        Ok(Tasks { inner, tasks })
    }
}

impl<S: BatchSource> BatchSource for Tasks<S> {
    type Batch = Vec<S::Batch>;
    fn next_batch(&mut self) -> Result<Vec<S::Batch>> {
        (0..self.tasks).map(|_| self.inner.next_batch()).collect()
    }
    fn cursor(&self) -> serde_json::Value {
        self.inner.cursor()
    }
    fn restore(&mut self, cursor: &serde_json::Value) -> Result<()> {
        self.inner.restore(cursor)
    }
    /// Images per outer step: `M` batches.
    fn batch_items(&self) -> usize {
        self.inner.batch_items() * self.tasks
    }
}

/// How the sigma-measurement approximates the optimal task-specific model `theta*_tau`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigmaConfig {
    /// SGD steps of the base loss on the task from `theta`.
    pub steps: usize,
    /// Their learning rate.
    pub lr: f64,
}

/// The sigma-measurement (`papers/gessl.md`, working definition): the mean over `tasks` of
/// `KL(p_theta*(. | tau) || p_theta(. | tau))`, `theta*_tau` being `config.steps` SGD steps of
/// the base loss on `tau` from `theta`. Lower: the model is closer to the task-optimal ones.
/// The parameters and buffers are left as found. Report it on held-out mini-batches.
pub fn sigma<M: TaskClassifier>(
    base: &mut M,
    tasks: &[M::Batch],
    config: &SigmaConfig,
    temperature: f64,
) -> Result<f64> {
    positive("sigma.lr", config.lr)?;
    if config.steps == 0 || tasks.is_empty() {
        return Err(TrainError::config("sigma", "needs >= 1 step and >= 1 task"));
    }
    let vars = Vars::of(&base.stores())?;
    let theta = snapshot(&vars.params)?;
    let buffers = snapshot(&vars.buffers)?;
    let ctx = StepContext {
        step: 0,
        total_steps: 1,
        lr: config.lr,
        seed: 0,
    };
    let result = (|| {
        let mut total = 0.0;
        for task in tasks {
            let now = task_log_probs_now(base, task, temperature)?.detach();
            sgd_steps(base, &vars, task, &ctx, config.steps, config.lr, |_| Ok(()))?;
            let star = task_log_probs_now(base, task, temperature)?.detach();
            total += scalar(&kl_divergence_rows(&star, &now)?)?;
            restore(&vars.params, &theta)?;
            restore(&vars.buffers, &buffers)?;
        }
        Ok(total / tasks.len() as f64)
    })();
    restore(&vars.params, &theta)?;
    restore(&vars.buffers, &buffers)?;
    result
}
