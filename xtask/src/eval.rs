//! `cargo xtask eval --run DIR`: the frozen-encoder evaluation of a trained run (or of a
//! randomly initialised encoder, the floor), with `noether-eval`'s metrics.
//!
//! Features are computed once per split with the encoder in eval mode (no augmentation: the
//! evaluation transform of [`noether_train::data::eval_image`] and the dataset's
//! normalisation), then:
//!
//! | metric | what | protocol |
//! |---|---|---|
//! | `probe_top1` | linear probe on the encoder features, top-1 on the held-out split | `baselines.md` (SGD Nesterov lr 0.2, batch 256, cosine), `probe_epochs` epochs |
//! | `knn_top1` | weighted kNN (k = `knn_k`, T = 0.1, cosine) on the same features | solo-learn's monitor |
//! | `rotation_r2`, `color_r2` | R² (global mean) of the relative rotation quaternion / colour deltas of two views of one object, regressed from `[h(x_a); h(x_b)]` | `sie_3diebench.md`, MLP head, pairs of held-out objects; 3DIEBench layout only |
//! | `param_r2` | R² of EquiMod's standardised augmentation vector `t` regressed from `[y(x0); y(x_t)]`, `y` the method's embedding | `equimod.md`, "the claim"; MLP head |
//! | `collapse_std`, `effective_rank` | collapse diagnostics of the held-out features | `noether_eval::collapse_std`, `effective_rank` |
//!
//! The regressions train on pairs from the training split and report on pairs from the
//! held-out split (3DIEBench: `val`, else `test`). Every choice (pairs, batch order, head
//! initialisation, augmentations) is drawn from [`EvalProtocol::seed`], so evaluating the same
//! weights twice gives the same numbers (up to the order of multi-threaded sums).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{Device, Tensor};
use clap::Args;
use noether_data::layout::{color_action, rotation_action};
use noether_eval::{
    KnnConfig, LinearProbeConfig, RegressionConfig, RegressionHead, collapse_std, effective_rank,
    knn_classify, linear_probe, regression_r2,
};
use noether_train::data::{Dataset, EquimodSource, SourceConfig, image_tensor_batches};
use noether_train::methods::InContext;
use noether_train::methods::{
    GesslConfig, SigmaConfig, TaskClassifier, gessl_name, sigma, task_temperature,
};
use noether_train::{BatchSource, Checkpoint, CheckpointDir, Embed, Method, PredictAction};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::incontext::{ContextProtocol, context_metrics, predictor_metrics};
use crate::train::{RunFile, Visit, open_data, with_method};

/// The name of the evaluation report in a run directory.
pub const EVAL_FILE: &str = "eval.json";

/// Arguments of `cargo xtask eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run directory (made by `cargo xtask train`): its config.json and last checkpoint.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// The evaluation budget: smoke, quick or paper.
    #[arg(long, default_value = "quick", value_name = "NAME")]
    profile: String,
    /// Evaluate the run's encoder at its initialisation instead (the random floor).
    #[arg(long)]
    random: bool,
}

/// The evaluation budget (per profile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalProtocol {
    /// Images per forward pass when computing features.
    pub batch_size: usize,
    /// Linear-probe epochs (protocol: 90).
    pub probe_epochs: usize,
    /// kNN neighbours (protocol: 200).
    pub knn_k: usize,
    /// View pairs for fitting the rotation / colour heads (training split).
    pub pairs_train: usize,
    /// View pairs they are scored on (held-out split).
    pub pairs_val: usize,
    /// Epochs of the R² heads (reference: 300).
    pub regression_epochs: usize,
    /// Hidden width of the R² MLP heads (reference: 1024).
    pub regression_hidden: usize,
    /// EquiMod batches (of the run's batch size) for fitting the parameter head.
    pub param_batches_train: usize,
    /// EquiMod batches it is scored on.
    pub param_batches_val: usize,
    /// The seed of every choice the evaluation makes.
    pub seed: u64,
    /// The sigma-measurement (GeSSL's; for every method with a task classifier): held-out
    /// mini-batches of the run's batch size it averages over (0: not measured).
    #[serde(default)]
    pub sigma_tasks: usize,
    /// SGD steps and learning rate that approximate the task-optimal model `theta*_tau`.
    #[serde(default = "default_sigma")]
    pub sigma: SigmaConfig,
    /// The in-context protocol (ContextSSL) and the MRR of predictors (SIE, SEN).
    #[serde(default)]
    pub context: ContextProtocol,
}

fn default_sigma() -> SigmaConfig {
    SigmaConfig {
        steps: 10,
        lr: 0.05,
    }
}

impl EvalProtocol {
    /// A few seconds on anything: plumbing, not numbers.
    pub fn smoke() -> Self {
        EvalProtocol {
            batch_size: 64,
            probe_epochs: 2,
            knn_k: 20,
            pairs_train: 64,
            pairs_val: 32,
            regression_epochs: 2,
            regression_hidden: 16,
            param_batches_train: 1,
            param_batches_val: 1,
            seed: 0,
            sigma_tasks: 1,
            sigma: SigmaConfig { steps: 2, lr: 0.05 },
            context: ContextProtocol::smoke(),
        }
    }

    /// The laptop budget of `reproduce`'s quick profile (about 10 s per run on 2 cores for
    /// the ConvNet on mini3die at 32 px).
    pub fn quick() -> Self {
        EvalProtocol {
            batch_size: 256,
            probe_epochs: 30,
            knn_k: 50,
            pairs_train: 8192,
            pairs_val: 2048,
            regression_epochs: 20,
            regression_hidden: 256,
            param_batches_train: 16,
            param_batches_val: 8,
            seed: 0,
            sigma_tasks: 4,
            sigma: default_sigma(),
            context: ContextProtocol::paper(),
        }
    }

    /// The papers' protocols.
    pub fn paper() -> Self {
        EvalProtocol {
            batch_size: 256,
            probe_epochs: 90,
            knn_k: 200,
            pairs_train: 65536,
            pairs_val: 16384,
            regression_epochs: 300,
            regression_hidden: 1024,
            param_batches_train: 128,
            param_batches_val: 32,
            seed: 0,
            sigma_tasks: 32,
            sigma: SigmaConfig {
                steps: 50,
                lr: 0.05,
            },
            context: ContextProtocol::paper(),
        }
    }

    /// The protocol of a profile name.
    pub fn named(name: &str) -> Result<Self> {
        Ok(match name {
            "smoke" => Self::smoke(),
            "quick" => Self::quick(),
            "paper" => Self::paper(),
            other => bail!("unknown profile {other:?}: expected smoke, quick or paper"),
        })
    }

    pub(crate) fn regression(&self, salt: u64) -> RegressionConfig {
        RegressionConfig {
            seed: self.seed ^ salt,
            ..RegressionConfig::scaled(
                RegressionHead::Mlp {
                    hidden: self.regression_hidden,
                },
                self.regression_epochs,
            )
        }
    }
}

/// What an evaluation reports (written to a run's `eval.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The method's name.
    pub method: String,
    /// The checkpoint's step (`None`: the encoder at its initialisation).
    pub step: Option<u64>,
    /// Metric name -> value (accuracies and R² as fractions).
    pub metrics: BTreeMap<String, f64>,
    /// The protocol.
    pub protocol: EvalProtocol,
    /// Seconds the evaluation took.
    pub wall_seconds: f64,
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step {
            Some(s) => writeln!(f, "{} at step {s}:", self.method)?,
            None => writeln!(f, "{} at initialisation (random encoder):", self.method)?,
        }
        for (k, v) in &self.metrics {
            writeln!(f, "  {k:<16} {v:.4}")?;
        }
        write!(f, "  ({:.1} s)", self.wall_seconds)
    }
}

/// Runs the subcommand.
pub fn run(args: EvalArgs) -> Result<()> {
    let protocol = EvalProtocol::named(&args.profile).context("--profile")?;
    let device = crate::info::device()?;
    let report = eval_run(&args.run, &protocol, args.random, &device)?;
    println!("{report}");
    if !args.random {
        println!("written to {}", args.run.join(EVAL_FILE).display());
    }
    Ok(())
}

/// Reads a run directory's resolved config (`config.json`).
pub fn read_run_file(run: &Path) -> Result<RunFile> {
    let path = run.join("config.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a run directory of `cargo xtask train`?)",
            path.display(),
            run.display()
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    // The trainer writes {"train": ..., "run": <the resolved run file>}.
    let value = value
        .get("run")
        .cloned()
        .with_context(|| format!("{}: no `run` section", path.display()))?;
    RunFile::from_json(value).with_context(|| format!("{}", path.display()))
}

/// Evaluates the last checkpoint of `run` (or, with `random`, the encoder at its
/// initialisation) and, for a checkpoint, writes the report to `run/eval.json`.
pub fn eval_run(
    run: &Path,
    protocol: &EvalProtocol,
    random: bool,
    device: &Device,
) -> Result<EvalReport> {
    let file = read_run_file(run)?;
    let checkpoint = if random {
        None
    } else {
        let dir = CheckpointDir::new(run)
            .latest()?
            .with_context(|| format!("{}: no checkpoint to evaluate", run.display()))?;
        Some(dir)
    };
    let report = eval_file(&file, checkpoint.as_deref(), protocol, device)?;
    if !random {
        let json = serde_json::to_string_pretty(&report)?;
        noether_train::write_atomic(&run.join(EVAL_FILE), json.as_bytes())
            .with_context(|| format!("writing {}", run.join(EVAL_FILE).display()))?;
    }
    Ok(report)
}

/// Evaluates the method of `file` with the weights of `checkpoint` (`None`: as initialised
/// from `train.seed`).
pub fn eval_file(
    file: &RunFile,
    checkpoint: Option<&Path>,
    protocol: &EvalProtocol,
    device: &Device,
) -> Result<EvalReport> {
    let start = Instant::now();
    let kind = file.data.kind()?;
    let data = EvalData {
        train: open_data(&file.data, kind.train_split())?,
        val: open_data(&file.data, kind.eval_split())?,
        source: SourceConfig {
            seed: protocol.seed,
            prefetch: 1,
            ..file.source_config()
        },
        view_size: file.data.view_size,
    };
    let visit = EvalVisit {
        checkpoint,
        data: &data,
        protocol,
        device,
        augmented: file.method.trains_on_augmentations(),
    };
    let (method, step, metrics) = with_method(file, device, visit)?;
    Ok(EvalReport {
        method,
        step,
        metrics,
        protocol: protocol.clone(),
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

/// The splits an evaluation reads.
pub(crate) struct EvalData {
    pub(crate) train: Arc<Dataset>,
    pub(crate) val: Arc<Dataset>,
    /// The run's source settings with the evaluation's seed (the EquiMod parameter pairs).
    source: SourceConfig,
    pub(crate) view_size: Option<usize>,
}

struct EvalVisit<'a> {
    checkpoint: Option<&'a Path>,
    data: &'a EvalData,
    protocol: &'a EvalProtocol,
    device: &'a Device,
    /// Whether the method trains on augmented views (then `param_r2` is measured).
    augmented: bool,
}

impl Visit for EvalVisit<'_> {
    type Out = (String, Option<u64>, BTreeMap<String, f64>);

    fn visit<M, S>(self, m: &mut M, _source: impl FnOnce() -> Result<S>) -> Result<Self::Out>
    where
        M: Method + Embed,
        S: BatchSource<Batch = M::Batch>,
    {
        self.evaluate_with(m, |_, _| Ok(BTreeMap::new()))
    }

    /// A GeSSL run is evaluated as its base method (GeSSL adds no parameters), plus the
    /// sigma-measurement on held-out tasks for every method with a task classifier.
    fn visit_tasked<M, S>(
        self,
        m: &mut M,
        _source: impl FnOnce() -> Result<S>,
        source_on: impl Fn(Arc<Dataset>, u64) -> Result<S>,
        gessl: Option<&GesslConfig>,
    ) -> Result<Self::Out>
    where
        M: Method + Embed + TaskClassifier,
        S: BatchSource<Batch = M::Batch>,
    {
        let name = match gessl {
            Some(_) => gessl_name(m.name()),
            None => m.name().to_string(),
        };
        let step = match self.checkpoint {
            Some(dir) => Some(load_weights(m, &name, dir)?),
            None => None,
        };
        let (mut metrics, _) = evaluate(m, self.data, self.protocol, self.device, self.augmented)?;
        let p = self.protocol;
        if p.sigma_tasks > 0 {
            let mut held_out = source_on(self.data.val.clone(), p.seed)
                .context("the sigma-measurement's held-out tasks")?;
            let tasks = (0..p.sigma_tasks)
                .map(|_| held_out.next_batch())
                .collect::<noether_train::Result<Vec<_>>>()?;
            let s = sigma(m, &tasks, &p.sigma, task_temperature(gessl, m))
                .context("sigma-measurement")?;
            metrics.insert("sigma".into(), s);
        }
        Ok((name, step, metrics))
    }

    /// The plain metrics and, on the 3DIEBench layout, the in-context ones.
    fn visit_context<M, S>(
        self,
        m: &mut M,
        _source: impl FnOnce() -> Result<S>,
    ) -> Result<Self::Out>
    where
        M: Method + InContext,
        S: BatchSource<Batch = M::Batch>,
    {
        let (data, p, dev) = (self.data, self.protocol, self.device);
        self.evaluate_with(m, |m, h| {
            context_metrics(m, h, data, p, dev).context("in-context evaluation")
        })
    }

    /// The plain metrics and, on the 3DIEBench layout, the predictor's MRR.
    fn visit_paired<M, S>(self, m: &mut M, _source: impl FnOnce() -> Result<S>) -> Result<Self::Out>
    where
        M: Method + Embed + PredictAction,
        S: BatchSource<Batch = M::Batch>,
    {
        let (data, p, dev) = (self.data, self.protocol, self.device);
        self.evaluate_with(m, |m, _| {
            predictor_metrics(m, data, p, dev).context("the predictor's retrieval")
        })
    }
}

impl EvalVisit<'_> {
    /// Loads the checkpoint (if any) into `m`, then the plain metrics and, on the 3DIEBench
    /// layout, the method's own (`extra`).
    fn evaluate_with<M: Method + Embed>(
        self,
        m: &mut M,
        extra: impl FnOnce(&M, &SplitFeatures) -> Result<BTreeMap<String, f64>>,
    ) -> Result<(String, Option<u64>, BTreeMap<String, f64>)> {
        let step = match self.checkpoint {
            Some(dir) => Some(load_weights(m, m.name(), dir)?),
            None => None,
        };
        let (mut metrics, h) = evaluate(m, self.data, self.protocol, self.device, self.augmented)?;
        if self.data.has_views() {
            metrics.extend(extra(m, &h)?);
        }
        Ok((m.name().to_string(), step, metrics))
    }
}

impl EvalData {
    /// Whether both splits are in the 3DIEBench layout (pairs of views with latents).
    fn has_views(&self) -> bool {
        self.train.views_3die().is_some() && self.val.views_3die().is_some()
    }
}

/// Loads every store of `m` from the checkpoint in `dir` (strict: every tensor by name,
/// shape and dtype), which must have been written by method `name`, and returns its step.
fn load_weights<M: Method>(m: &M, name: &str, dir: &Path) -> Result<u64> {
    let ck = Checkpoint::read(dir)?;
    if ck.state.method != name {
        bail!(
            "checkpoint {}: written by method `{}`, the run file builds `{}`",
            dir.display(),
            ck.state.method,
            name
        );
    }
    for s in m.stores() {
        let i = ck
            .state
            .stores
            .iter()
            .position(|r| r.name == s.name)
            .with_context(|| format!("checkpoint {}: no store `{}`", dir.display(), s.name))?;
        s.store
            .load_state_dict(&ck.stores[i], true)
            .with_context(|| format!("checkpoint {}: store `{}`", dir.display(), s.name))?;
    }
    Ok(ck.state.step)
}

/// The encoder features of both splits, in image order, `(N, D)` each.
pub(crate) struct SplitFeatures {
    /// Of the training split.
    pub(crate) train: Tensor,
    /// Of the held-out split.
    pub(crate) val: Tensor,
}

/// All metrics of the module docs for `m` on `data`; `param_r2` only for a method trained on
/// augmented views (`augmented`), not for those trained on object-view pairs with actions.
/// Also returns the features it computed, for the metrics a method adds.
fn evaluate<M: Embed>(
    m: &M,
    data: &EvalData,
    p: &EvalProtocol,
    device: &Device,
    augmented: bool,
) -> Result<(BTreeMap<String, f64>, SplitFeatures)> {
    let mut out = BTreeMap::new();
    let (train_h, train_y) = features(m, &data.train, data.view_size, p.batch_size, device)
        .context("features of the training split")?;
    let (val_h, val_y) = features(m, &data.val, data.view_size, p.batch_size, device)
        .context("features of the held-out split")?;

    let classes = data.train.num_classes().max(data.val.num_classes());
    let probe = linear_probe(
        &train_h,
        &train_y,
        &val_h,
        &val_y,
        classes,
        &LinearProbeConfig {
            seed: p.seed,
            ..LinearProbeConfig::scaled(p.probe_epochs)
        },
    )
    .context("linear probe")?;
    out.insert("probe_top1".into(), probe.top1);
    let knn = knn_classify(
        &train_h,
        &train_y,
        &val_h,
        &val_y,
        classes,
        &KnnConfig {
            k: p.knn_k,
            ..KnnConfig::default()
        },
    )
    .context("kNN")?;
    out.insert("knn_top1".into(), knn.top1);
    out.insert("collapse_std".into(), collapse_std(&val_h)?);
    out.insert("effective_rank".into(), effective_rank(&val_h)?);
    if data.has_views() {
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let train_pairs = view_pairs(&data.train, p.pairs_train, &mut rng)?;
        let val_pairs = view_pairs(&data.val, p.pairs_val, &mut rng)?;
        let (tr_x, tr_rot, tr_col) = pair_tensors(&train_h, &data.train, &train_pairs, device)?;
        let (va_x, va_rot, va_col) = pair_tensors(&val_h, &data.val, &val_pairs, device)?;
        let rot = regression_r2(&tr_x, &tr_rot, &va_x, &va_rot, &p.regression(1))
            .context("rotation R²")?;
        out.insert("rotation_r2".into(), rot.r2);
        let col =
            regression_r2(&tr_x, &tr_col, &va_x, &va_col, &p.regression(2)).context("colour R²")?;
        out.insert("color_r2".into(), col.r2);
    }
    if let Some(batch) =
        image_tensor_batches(&data.val, p.batch_size, data.view_size, device)?.next()
    {
        for (name, v) in m
            .extra_metrics(&batch?.0)
            .context("the method's own metrics")?
        {
            out.insert(name, v);
        }
    }
    if augmented
        && let Some(r2) = param_r2(m, data, p, device).context("augmentation-parameter R²")?
    {
        out.insert("param_r2".into(), r2);
    }
    Ok((
        out,
        SplitFeatures {
            train: train_h,
            val: val_h,
        },
    ))
}

/// Encoder features of every image of `data` in order, `(N, D)` on `device`, and the labels.
fn features<M: Embed>(
    m: &M,
    data: &Dataset,
    size: Option<usize>,
    batch: usize,
    device: &Device,
) -> Result<(Tensor, Vec<i64>)> {
    let mut parts = Vec::new();
    let mut labels = Vec::with_capacity(data.len());
    for b in image_tensor_batches(data, batch, size, device)? {
        let (x, y) = b?;
        parts.push(m.features(&x)?);
        if y.iter().any(|&l| l < 0) {
            bail!("{} {}: an image without a label", data.kind(), data.split());
        }
        labels.extend(y);
    }
    Ok((Tensor::cat(&parts, 0)?, labels))
}

/// `n` random pairs (indices into the split) of two distinct views of one object.
pub(crate) fn view_pairs(
    data: &Dataset,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<(usize, usize)>> {
    let views = data
        .views_3die()
        .context("not in the 3DIEBench layout")?
        .views();
    if views < 2 {
        bail!(
            "{} {}: one view per object, no pairs",
            data.kind(),
            data.split()
        );
    }
    let objects = data.len() / views;
    Ok((0..n)
        .map(|_| {
            let o = rng.random_range(0..objects);
            let a = rng.random_range(0..views);
            let b = (a + rng.random_range(1..views)) % views;
            (o * views + a, o * views + b)
        })
        .collect())
}

/// `[h_a; h_b]` `(P, 2D)`, the relative rotation quaternions `(P, 4)` and the colour deltas
/// `(P, 2)` of `pairs`.
pub(crate) fn pair_tensors(
    h: &Tensor,
    data: &Dataset,
    pairs: &[(usize, usize)],
    device: &Device,
) -> Result<(Tensor, Tensor, Tensor)> {
    let idx = |f: fn(&(usize, usize)) -> usize| -> Result<Tensor> {
        let v: Vec<u32> = pairs.iter().map(|p| f(p) as u32).collect();
        Ok(Tensor::from_vec(v, pairs.len(), device)?)
    };
    let a = h.index_select(&idx(|p| p.0)?, 0)?;
    let b = h.index_select(&idx(|p| p.1)?, 0)?;
    let x = Tensor::cat(&[a, b], 1)?;
    let mut rot = Vec::with_capacity(pairs.len() * 4);
    let mut col = Vec::with_capacity(pairs.len() * 2);
    for &(i, j) in pairs {
        let la = data.latent(i)?.context("no latent")?;
        let lb = data.latent(j)?.context("no latent")?;
        rot.extend(rotation_action(&la, &lb));
        col.extend(color_action(&la, &lb));
    }
    let rot = Tensor::from_vec(rot, (pairs.len(), 4), device)?;
    let col = Tensor::from_vec(col, (pairs.len(), 2), device)?;
    Ok((x, rot, col))
}

/// EquiMod's measure: R² of the standardised augmentation vector `t` regressed from
/// `[y(x0); y(x_t)]`, fitted on pairs of the training split and scored on the held-out one.
/// `None` when the preset has no EquiMod vector or a split is too small for one batch.
fn param_r2<M: Embed>(
    m: &M,
    data: &EvalData,
    p: &EvalProtocol,
    device: &Device,
) -> Result<Option<f64>> {
    let preset = noether_augment::Preset::parse(&data.source.preset)?;
    // the presets' colour steps need RGB: no augmentation parameters for grey images
    let rgb = data.train.uniform_shape().is_some_and(|s| s.channels == 3);
    if preset.equimod_layout().is_none() || !rgb {
        return Ok(None);
    }
    let pairs = |split: &Arc<Dataset>, batches: usize| -> Result<Option<(Tensor, Tensor)>> {
        let batch_size = data.source.batch_size.min(split.len());
        if batch_size == 0 {
            return Ok(None);
        }
        let config = SourceConfig {
            batch_size,
            ..data.source.clone()
        };
        let mut source = EquimodSource::new(split.clone(), config, device)?;
        let (mut xs, mut ts) = (Vec::new(), Vec::new());
        for _ in 0..batches {
            let b = source.next_batch()?;
            let y0 = m.embedding(&b.x0)?;
            for (x, t) in [(&b.x1, &b.t1), (&b.x2, &b.t2)] {
                xs.push(Tensor::cat(&[&y0, &m.embedding(x)?], 1)?);
                ts.push(t.clone());
            }
        }
        Ok(Some((Tensor::cat(&xs, 0)?, Tensor::cat(&ts, 0)?)))
    };
    let (Some((tr_x, tr_t)), Some((va_x, va_t))) = (
        pairs(&data.train, p.param_batches_train)?,
        pairs(&data.val, p.param_batches_val)?,
    ) else {
        return Ok(None);
    };
    Ok(Some(
        regression_r2(&tr_x, &tr_t, &va_x, &va_t, &p.regression(3))?.r2,
    ))
}
