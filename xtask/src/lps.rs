//! The `lps` suite of `cargo xtask reproduce`: probabilistic symmetrization (Kim et al., arXiv
//! 2306.02866) against the unsymmetrized base, group averaging and canonicalization, with one
//! backbone per task (`papers/lps.md`, `docs/lps.md`):
//!
//! 1. `csl`: classification of CSL graphs (1-WL-hard) by an MLP on the padded adjacency.
//! 2. `separation`: untrained models on CSL (and on graph6 files from `--data-dir`): how many
//!    pairs of non-isomorphic graphs they fail to tell apart.
//! 3. `nbody`: charged-particle position prediction with an MLP base under `S_n x O(3)` and
//!    centring, and the two sanity baselines.
//! 4. `images`: a small CNN made C4-invariant on upright digits, tested upright and turned by
//!    quarter turns, with rotation augmentation as the other baseline.
//!
//! Every trained run goes through the `Trainer` (checkpoints, resume, `metrics.jsonl`) in
//! `RUNS/lps/EXPERIMENT-VARIANT/seed-S`; a finished run keeps its `result.json` and is reused.
//! The page is `docs/results/lps/README.md` with `results.json` and SVG plots.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, ModuleT, Tensor};
use noether_data::graphs::Graph;
use noether_data::nbody::{
    NBody, NBodyConfig, NBodySample, constant_velocity_mse, keep_position_mse,
};
use noether_data::{DigitsConfig, Rotation, Split};
use noether_models::{ConvNet, ConvNetConfig, Mlp, MlpConfig, OutputNorm, ParamStore};
use noether_symmetrize::interfaces::{C4Interface, GinInterface, VnInterface};
use noether_symmetrize::{
    Base, Group, Interface, Mode, NoInterface, NoiseMode, Rep, SnConfig, Symmetrized,
    equivariance_error,
};
use noether_train::methods::lps::{Supervised, SupervisedSource, Symmetrize, Target, evaluate};
use noether_train::{Method, NamedStore, OptimizerConfig, TrainConfig, Trainer, write_atomic};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::plots::{self, BarSeries, Series};
use crate::reproduce::{git_commit, machine, replace_readme_section, utc_date, workspace_root};

/// A base network: inputs to outputs, with the train flag.
type BaseFn = Rc<dyn Base>;
/// An interface network.
type Iface = Rc<dyn Interface>;
/// The models of this suite.
type Model = Symmetrized<BaseFn, Iface>;

/// How long each task trains and how many samples it averages.
#[derive(Debug, Clone, Serialize)]
struct Budget {
    steps: u64,
    batch: usize,
    lr: f64,
    k_train: usize,
    k_test: usize,
}

/// The suite's settings under one profile.
#[derive(Debug, Clone, Serialize)]
struct Settings {
    profile: &'static str,
    seeds: usize,
    csl_copies: usize,
    csl_train_per_class: usize,
    csl_hidden: usize,
    gin_hidden: usize,
    csl: Budget,
    separation_inits: usize,
    separation_k: usize,
    nbody: NBodyConfig,
    nbody_hidden: usize,
    vn_width: usize,
    nbody_budget: Budget,
    digits: DigitsConfig,
    cnn_widths: Vec<usize>,
    c4_widths: Vec<usize>,
    images: Budget,
    k_curve: Vec<usize>,
}

impl Settings {
    fn named(profile: &str, seeds: Option<usize>) -> Result<Settings> {
        let mut s = match profile {
            "smoke" => Settings {
                profile: "smoke",
                seeds: 1,
                csl_copies: 3,
                csl_train_per_class: 2,
                csl_hidden: 32,
                gin_hidden: 16,
                csl: budget(3, 10, 1e-3, 2, 2),
                separation_inits: 2,
                separation_k: 2,
                nbody: NBodyConfig {
                    train: 20,
                    val: 0,
                    test: 10,
                    ..NBodyConfig::default()
                },
                nbody_hidden: 32,
                vn_width: 8,
                nbody_budget: budget(3, 10, 1e-3, 2, 2),
                digits: DigitsConfig {
                    train: 32,
                    test: 16,
                    size: 16,
                    rotate: Rotation::None,
                    seed: 0,
                },
                cnn_widths: vec![8, 16],
                c4_widths: vec![4, 4],
                images: budget(3, 16, 1e-3, 2, 2),
                k_curve: vec![1, 4],
            },
            "quick" => Settings {
                profile: "quick",
                seeds: 2,
                csl_copies: 15,
                csl_train_per_class: 10,
                csl_hidden: 256,
                gin_hidden: 32,
                csl: budget(3000, 50, 1e-3, 5, 20),
                separation_inits: 5,
                separation_k: 10,
                nbody: NBodyConfig {
                    train: 1000,
                    val: 0,
                    test: 500,
                    ..NBodyConfig::default()
                },
                nbody_hidden: 128,
                vn_width: 32,
                nbody_budget: budget(1500, 100, 1e-3, 4, 20),
                digits: DigitsConfig {
                    train: 2000,
                    test: 500,
                    size: 16,
                    rotate: Rotation::None,
                    seed: 0,
                },
                cnn_widths: vec![16, 32, 64],
                c4_widths: vec![8, 16],
                images: budget(400, 64, 2e-3, 4, 4),
                k_curve: vec![1, 2, 4, 8, 16, 32, 64],
            },
            "paper" => Settings {
                profile: "paper",
                seeds: 3,
                csl_copies: 15,
                csl_train_per_class: 10,
                csl_hidden: 512,
                gin_hidden: 64,
                csl: budget(20_000, 100, 1e-3, 10, 10),
                separation_inits: 100,
                separation_k: 10,
                nbody: NBodyConfig {
                    train: 3000,
                    val: 2000,
                    test: 2000,
                    ..NBodyConfig::default()
                },
                nbody_hidden: 256,
                vn_width: 64,
                nbody_budget: budget(100_000, 100, 1e-3, 20, 200),
                digits: DigitsConfig {
                    train: 10_000,
                    test: 2000,
                    size: 28,
                    rotate: Rotation::None,
                    seed: 0,
                },
                cnn_widths: vec![32, 64, 128],
                c4_widths: vec![16, 32],
                images: budget(5000, 128, 1e-3, 4, 4),
                k_curve: vec![1, 2, 4, 8, 16, 32, 64, 128, 256],
            },
            other => bail!("--profile: unknown profile {other:?}; expected smoke, quick or paper"),
        };
        if let Some(n) = seeds {
            s.seeds = n;
        }
        Ok(s)
    }
}

const fn budget(steps: u64, batch: usize, lr: f64, k_train: usize, k_test: usize) -> Budget {
    Budget {
        steps,
        batch,
        lr,
        k_train,
        k_test,
    }
}

/// One trained (or untrained) model's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LpsRun {
    experiment: String,
    variant: String,
    seed: u64,
    /// The metric: test accuracy (classification) or test MSE (n-body).
    metric: f64,
    /// Other metrics (rotated-test accuracy, ...).
    extra: BTreeMap<String, f64>,
    /// Relative equivariance error with transported noise on test inputs.
    equivariance: Option<f64>,
    train_seconds: f64,
    steps: u64,
}

/// Where the suite writes and how it runs.
pub(crate) struct LpsArgs<'a> {
    pub profile: &'a str,
    pub seeds: Option<usize>,
    pub runs: &'a Path,
    pub out: &'a Path,
    pub update_readme: bool,
    pub data_dir: Option<&'a Path>,
    /// Only these experiments (empty: all of [`EXPERIMENTS`]).
    pub only: &'a [String],
    pub device: &'a Device,
    pub stop: &'a Arc<AtomicBool>,
    pub progress: bool,
}

/// The suite's experiments, for `--only`.
pub(crate) const EXPERIMENTS: &[&str] = &["csl", "separation", "nbody", "images"];

/// The variants of a symmetrization experiment: a name, a label, the mode.
const VARIANTS: &[(&str, &str)] = &[
    ("none", "MLP (unsymmetrized)"),
    ("ga", "MLP-GA"),
    ("canonical", "MLP-Canonical"),
    ("ps", "MLP-PS"),
];

fn mode_of(variant: &str, k: usize) -> Mode {
    match variant {
        "ga" => Mode::GroupAveraging { k },
        "canonical" => Mode::Canonicalization,
        "ps" => Mode::Probabilistic { k },
        _ => Mode::Unsymmetrized,
    }
}

/// Runs the suite and writes its page; `false` when interrupted.
pub(crate) fn run(args: &LpsArgs) -> Result<bool> {
    let start = Instant::now();
    let s = Settings::named(args.profile, args.seeds)?;
    let dir = args.runs.join("lps");
    println!(
        "reproduce: suite lps, profile {}, {} seed(s) in {}",
        s.profile,
        s.seeds,
        dir.display()
    );
    let mut runs = Vec::new();
    let mut k_curves = Vec::new();
    let want = |e: &str| args.only.is_empty() || args.only.iter().any(|o| o == e);
    // 1. CSL classification
    let csl = csl_data(&s, args.device)?;
    for seed in (0..s.seeds as u64).filter(|_| want("csl")) {
        let (train, test) = csl_split(&csl, &s, seed)?;
        for (variant, _) in VARIANTS {
            let Some(r) = train_one(args, &s, &dir, "csl", variant, seed, &train, &test)? else {
                return Ok(false);
            };
            runs.push(r.0);
            if seed == 0 && (*variant == "ps" || *variant == "ga") {
                k_curves.push((variant.to_string(), k_curve(&r.1, &test, &s)?));
            }
        }
    }
    // 2. separation (untrained)
    let mut separation = Vec::new();
    if want("separation") {
        let csl_graphs: Vec<(Graph, usize)> = noether_data::csl(s.csl_copies, 0);
        separation.push(separate(&s, "CSL", &csl_graphs, args.device)?);
    }
    if let Some(d) = args.data_dir.filter(|_| want("separation")) {
        for file in graph6_files(d)? {
            let graphs = noether_data::read_graph6(&file)?;
            let name = file.file_name().map_or_else(
                || file.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            let labelled: Vec<(Graph, usize)> = relabelled_pairs(&graphs)?;
            separation.push(separate(&s, &name, &labelled, args.device)?);
        }
    }
    // 3. n-body
    let nbody = NBody::generate(&s.nbody).context("generating the n-body data")?;
    let elapsed = s.nbody.elapsed_time();
    let baselines = (
        keep_position_mse(&nbody.test),
        constant_velocity_mse(&nbody.test, elapsed),
    );
    let (ntrain, ntest) = (
        nbody_tensors(&nbody.train, args.device)?,
        nbody_tensors(&nbody.test, args.device)?,
    );
    for seed in (0..s.seeds as u64).filter(|_| want("nbody")) {
        for (variant, _) in VARIANTS {
            let Some(r) = train_one(args, &s, &dir, "nbody", variant, seed, &ntrain, &ntest)?
            else {
                return Ok(false);
            };
            runs.push(r.0);
        }
    }
    // 4. images
    let (itrain, itest, irot) = digits_data(&s, args.device)?;
    for seed in (0..s.seeds as u64).filter(|_| want("images")) {
        for variant in ["none", "aug", "ga", "canonical", "ps"] {
            let Some(mut r) = train_one(args, &s, &dir, "images", variant, seed, &itrain, &itest)?
            else {
                return Ok(false);
            };
            if !r.0.extra.contains_key("rotated") {
                let acc = evaluate(&r.1, &irot, 64, 1000 + seed)?;
                r.0.extra.insert("rotated".into(), acc);
                save_result(&dir, &r.0)?;
            }
            runs.push(r.0);
        }
    }
    let page = Page {
        settings: s,
        runs,
        separation,
        baselines,
        k_curves,
        date: utc_date(),
        commit: git_commit(&workspace_root()),
        machine: machine(),
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    write_page(&page, args.out)?;
    if args.update_readme {
        update_readme(&workspace_root().join("README.md"), &page)?;
    }
    println!(
        "results: {} ({:.0} s)",
        args.out.join("lps").join("README.md").display(),
        page.wall_seconds
    );
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// data

/// CSL as tensors: adjacency `(N, 41, 41)` and labels.
fn csl_data(s: &Settings, device: &Device) -> Result<(Supervised, Vec<usize>)> {
    let graphs = noether_data::csl(s.csl_copies, 0);
    let labels: Vec<usize> = graphs.iter().map(|(_, c)| *c).collect();
    Ok((graphs_to_tensors(&graphs, device)?, labels))
}

fn graphs_to_tensors(graphs: &[(Graph, usize)], device: &Device) -> Result<Supervised> {
    let pad = graphs.iter().map(|(g, _)| g.n()).max().unwrap_or(0);
    let mut adj = Vec::with_capacity(graphs.len() * pad * pad);
    let mut mask = Vec::with_capacity(graphs.len() * pad);
    for (g, _) in graphs {
        adj.extend(g.adjacency_f32(pad)?);
        mask.extend((0..pad).map(|i| if i < g.n() { 1f32 } else { 0.0 }));
    }
    let n = graphs.len();
    let labels: Vec<u32> = graphs.iter().map(|(_, c)| *c as u32).collect();
    let padded = graphs.iter().any(|(g, _)| g.n() < pad);
    Ok(Supervised {
        inputs: vec![Tensor::from_vec(adj, (n, pad, pad), device)?],
        mask: if padded {
            Some(Tensor::from_vec(mask, (n, pad), device)?)
        } else {
            None
        },
        target: Target::Classes(Tensor::from_vec(labels, n, device)?),
    })
}

/// A stratified split of CSL: `csl_train_per_class` of each class train, the rest test,
/// shuffled by `seed`.
fn csl_split(
    (data, labels): &(Supervised, Vec<usize>),
    s: &Settings,
    seed: u64,
) -> Result<(Supervised, Supervised)> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x0c51 + seed);
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for c in 0..classes {
        let mut idx: Vec<u32> = (0..labels.len() as u32)
            .filter(|&i| labels[i as usize] == c)
            .collect();
        idx.shuffle(&mut rng);
        let cut = s.csl_train_per_class.min(idx.len().saturating_sub(1));
        train.extend_from_slice(&idx[..cut]);
        test.extend_from_slice(&idx[cut..]);
    }
    Ok((data.select(&train)?, data.select(&test)?))
}

/// Each graph and a random relabelling of it, labelled by the graph's index: pairs with equal
/// labels are isomorphic, the rest are not (a graph6 set lists non-isomorphic graphs).
fn relabelled_pairs(graphs: &[Graph]) -> Result<Vec<(Graph, usize)>> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x6a46);
    let mut out = Vec::with_capacity(2 * graphs.len());
    for (i, g) in graphs.iter().enumerate() {
        let mut p: Vec<usize> = (0..g.n()).collect();
        p.shuffle(&mut rng);
        out.push((g.clone(), i));
        out.push((g.permuted(&p)?, i));
    }
    Ok(out)
}

/// The `.g6` / `.graph6` files of a directory (or the file itself).
fn graph6_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("--data-dir {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "g6" || e == "graph6"))
        .collect();
    out.sort();
    Ok(out)
}

/// n-body samples as `[positions and velocities (N, n, 2, 3), charges (N, n, 1)]` and the
/// target positions `(N, n, 3)`.
fn nbody_tensors(samples: &[NBodySample], device: &Device) -> Result<Supervised> {
    let n = samples.first().map_or(0, |s| s.pos.len());
    let (mut pv, mut q, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for s in samples {
        for i in 0..n {
            pv.extend_from_slice(&s.pos[i]);
            pv.extend_from_slice(&s.vel[i]);
            q.push(s.charges[i]);
            y.extend_from_slice(&s.target[i]);
        }
    }
    let m = samples.len();
    Ok(Supervised {
        inputs: vec![
            Tensor::from_vec(pv, (m, n, 2, 3), device)?,
            Tensor::from_vec(q, (m, n, 1), device)?,
        ],
        mask: None,
        target: Target::Values(Tensor::from_vec(y, (m, n, 3), device)?),
    })
}

/// Upright digits (train, test) and the test set turned by a random quarter turn each.
fn digits_data(s: &Settings, device: &Device) -> Result<(Supervised, Supervised, Supervised)> {
    let load = |split: Split| -> Result<Supervised> {
        let store = noether_data::digits::generate(&s.digits, split)?;
        let size = s.digits.size;
        let mut px = Vec::with_capacity(store.len() * size * size);
        let mut labels = Vec::with_capacity(store.len());
        for i in 0..store.len() {
            let p = store
                .pixels(i)
                .with_context(|| format!("digits image {i}"))?;
            px.extend(p.iter().map(|&v| f32::from(v) / 255.0 - 0.5));
            labels.push(store.label(i).unwrap_or(0) as u32);
        }
        let n = labels.len();
        Ok(Supervised {
            inputs: vec![Tensor::from_vec(px, (n, 1, size, size), device)?],
            mask: None,
            target: Target::Classes(Tensor::from_vec(labels, n, device)?),
        })
    };
    let train = load(Split::Train)?;
    let test = load(Split::Test)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0x0c4);
    let x = &test.inputs[0];
    let mut turned = Vec::with_capacity(test.len());
    for i in 0..test.len() {
        let r = rand::Rng::random_range(&mut rng, 1..4i64);
        turned.push(noether_models::gconv::rot90(&x.narrow(0, i, 1)?, r)?);
    }
    let rotated = Supervised {
        inputs: vec![Tensor::cat(&turned, 0)?],
        ..test.clone()
    };
    Ok((train, test, rotated))
}

// ---------------------------------------------------------------------------------------------
// models

/// The model of `experiment` / `variant` with fresh parameters from `seed`, and its stores.
fn build(
    s: &Settings,
    experiment: &str,
    variant: &str,
    seed: u64,
    k: usize,
    dtype: DType,
    device: &Device,
) -> Result<(Model, Vec<NamedStore>)> {
    let base_store = ParamStore::seeded(seed * 1000 + 1);
    let iface_store = ParamStore::seeded(seed * 1000 + 2);
    let vb = base_store.var_builder(dtype, device);
    let ivb = iface_store.var_builder(dtype, device);
    let learned = matches!(variant, "canonical" | "ps");
    let mlp = |dims: Vec<usize>| plain_mlp(dims, vb.clone());
    let (model, interface): (Model, Option<Iface>) = match experiment {
        "csl" => {
            let n = noether_data::graphs::CSL_NODES;
            let classes = noether_data::graphs::csl_skips().len();
            let net = mlp(vec![n * n, s.csl_hidden, s.csl_hidden, classes])?;
            let f: BaseFn =
                Rc::new(move |xs: &[Tensor], train| net.forward_t(&xs[0].flatten_from(1)?, train));
            let reps = [Rep::Pairs];
            let iface: Option<Iface> = if learned {
                Some(Rc::new(GinInterface::new(
                    &reps,
                    0,
                    4,
                    s.gin_hidden,
                    3,
                    ivb,
                )?))
            } else {
                None
            };
            (
                Symmetrized::new(f, Group::Permutations, &reps, Rep::Invariant)?
                    .interface(Rc::new(NoInterface) as Iface)
                    .sn_config(SnConfig::default()),
                iface,
            )
        }
        "nbody" => {
            let n = s.nbody.particles;
            let t = s.nbody.elapsed_time();
            let net = mlp(vec![n * 7, s.nbody_hidden, s.nbody_hidden, n * 3])?;
            // the position after `t` at constant velocity, plus the MLP's correction
            let f: BaseFn = Rc::new(move |xs: &[Tensor], train| {
                let pv = &xs[0];
                let m = pv.dims()[0];
                let flat = Tensor::cat(&[pv.flatten_from(1)?, xs[1].flatten_from(1)?], 1)?;
                let delta = net.forward_t(&flat, train)?.reshape((m, n, 3))?;
                let pos = pv.narrow(2, 0, 1)?.squeeze(2)?;
                let vel = pv.narrow(2, 1, 1)?.squeeze(2)?;
                (pos + (vel * t)?)? + delta
            });
            let reps = [Rep::Points, Rep::Nodes];
            let g = Group::PermutationsOrthogonal {
                dim: 3,
                special: false,
            };
            let iface: Option<Iface> = if learned {
                Some(Rc::new(VnInterface::new(
                    &reps, 2, 1, 1, s.vn_width, 2, 4, true, ivb,
                )?))
            } else {
                None
            };
            (
                Symmetrized::new(f, g, &reps, Rep::Points)?
                    .interface(Rc::new(NoInterface) as Iface)
                    .with_centring(true)
                    .sn_config(SnConfig {
                        tau: 0.1,
                        ..SnConfig::default()
                    }),
                iface,
            )
        }
        "images" => {
            let cfg = ConvNetConfig {
                in_channels: 1,
                widths: s.cnn_widths.clone(),
                convs_per_block: 1,
                num_classes: Some(10),
            };
            let net = ConvNet::new(&cfg, vb.clone())?;
            let f: BaseFn = Rc::new(move |xs: &[Tensor], train| net.forward_t(&xs[0], train));
            let reps = [Rep::Image];
            let iface: Option<Iface> = if learned {
                Some(Rc::new(C4Interface::new(
                    &reps,
                    1,
                    s.c4_widths.clone(),
                    ivb,
                )?))
            } else {
                None
            };
            (
                Symmetrized::new(
                    f,
                    Group::ImageRotations { reflections: false },
                    &reps,
                    Rep::Invariant,
                )?
                .interface(Rc::new(NoInterface) as Iface),
                iface,
            )
        }
        other => bail!("unknown lps experiment {other}"),
    };
    let mut stores = vec![NamedStore::trained("base", base_store)];
    let model = match interface {
        Some(i) => {
            stores.push(NamedStore::trained("interface", iface_store));
            model.interface(i)
        }
        None => model,
    };
    let model = model.mode(mode_of(variant, k));
    Ok((model, stores))
}

/// An MLP with biases and no normalisation (batch statistics would couple the `k` samples).
fn plain_mlp(dims: Vec<usize>, vb: candle_nn::VarBuilder) -> Result<Mlp> {
    Ok(Mlp::new(
        &MlpConfig {
            dims,
            hidden_bias: true,
            hidden_norm: false,
            last_bias: true,
            last_norm: OutputNorm::None,
        },
        vb,
    )?)
}

fn task_budget<'a>(s: &'a Settings, experiment: &str) -> &'a Budget {
    match experiment {
        "csl" => &s.csl,
        "nbody" => &s.nbody_budget,
        _ => &s.images,
    }
}

fn result_path(dir: &Path, experiment: &str, variant: &str, seed: u64) -> PathBuf {
    dir.join(format!("{experiment}-{variant}"))
        .join(format!("seed-{seed}"))
        .join("result.json")
}

fn save_result(dir: &Path, r: &LpsRun) -> Result<()> {
    let path = result_path(dir, &r.experiment, &r.variant, r.seed);
    write_atomic(&path, serde_json::to_string_pretty(r)?.as_bytes())?;
    Ok(())
}

/// Trains (or resumes, or reuses) one run and evaluates it: `None` when interrupted.
#[allow(clippy::too_many_arguments)]
fn train_one(
    args: &LpsArgs,
    s: &Settings,
    dir: &Path,
    experiment: &str,
    variant: &str,
    seed: u64,
    train: &Supervised,
    test: &Supervised,
) -> Result<Option<(LpsRun, Model)>> {
    let b = task_budget(s, experiment);
    // "aug" is the unsymmetrized base trained on augmented batches
    let (model_variant, augment) = if variant == "aug" {
        ("none", true)
    } else {
        (variant, false)
    };
    let (model, stores) = build(
        s,
        experiment,
        model_variant,
        seed,
        b.k_train,
        DType::F32,
        args.device,
    )?;
    let run_dir = dir
        .join(format!("{experiment}-{variant}"))
        .join(format!("seed-{seed}"));
    let result = result_path(dir, experiment, variant, seed);
    let mut method = Symmetrize::new(
        format!("lps-{experiment}-{variant}"),
        model,
        stores,
        0.1,
        augment,
    );
    let reuse = result.exists();
    let cfg = TrainConfig {
        clip_grad_norm: Some(1.0),
        checkpoint_every: b.steps.max(1),
        ..TrainConfig::new(
            b.steps,
            seed,
            OptimizerConfig::Adam {
                lr: b.lr,
                betas: [0.9, 0.999],
                eps: 1e-8,
                weight_decay: 0.0,
            },
        )
    };
    let run_config = serde_json::json!({
        "suite": "lps", "experiment": experiment, "variant": variant, "profile": s.profile,
        "budget": b,
    });
    let trainer = Trainer::new(cfg, &run_dir)?
        .with_run_config(run_config)
        .with_stop_flag(args.stop.clone())
        .with_progress(args.progress);
    let resume = run_dir.join("checkpoints").join("latest").exists();
    let mut source = SupervisedSource::new(train.clone(), b.batch.min(train.len()), seed)?;
    let t0 = Instant::now();
    let summary = trainer
        .run(&mut method, &mut source, resume)
        .with_context(|| format!("lps {experiment}-{variant} seed {seed}"))?;
    if summary.interrupted {
        return Ok(None);
    }
    let train_seconds = t0.elapsed().as_secs_f64();
    let mut model = method.model().clone();
    let k_test = b.k_test;
    model.set_mode(model.current_mode().with_k(k_test));
    if reuse {
        let text = std::fs::read_to_string(&result)?;
        if let Ok(r) = serde_json::from_str::<LpsRun>(&text) {
            println!(
                "  {experiment}-{variant} seed {seed}: reused {}",
                result.display()
            );
            return Ok(Some((r, model)));
        }
    }
    let metric = evaluate(&model, test, 64, 1000 + seed)?;
    let probe = test.select(&(0..test.len().min(16) as u32).collect::<Vec<_>>())?;
    let eq32 = transported_error(&model, &probe, seed)?;
    // the construction's error: the trained weights in f64, where rounding cannot flip the
    // near-ties of canonical orderings on graphs with automorphisms (the f32 figure is kept)
    let (model64, stores64) = build(
        s,
        experiment,
        model_variant,
        seed,
        b.k_test,
        DType::F64,
        &Device::Cpu,
    )?;
    for (dst, src) in stores64.iter().zip(&method.stores()) {
        copy_params(&dst.store, &src.store)?;
    }
    let probe64 = Supervised {
        inputs: probe
            .inputs
            .iter()
            .map(|t| t.to_device(&Device::Cpu)?.to_dtype(DType::F64))
            .collect::<candle_core::Result<_>>()?,
        mask: probe
            .mask
            .as_ref()
            .map(|m| m.to_device(&Device::Cpu))
            .transpose()?,
        target: probe.target.clone(),
    };
    let eq = transported_error(&model64, &probe64, seed)?;
    let mut extra = BTreeMap::new();
    extra.insert("equivariance_f32".to_string(), eq32);
    let r = LpsRun {
        experiment: experiment.into(),
        variant: variant.into(),
        seed,
        metric,
        extra,
        equivariance: Some(eq),
        train_seconds,
        steps: summary.steps_done,
    };
    save_result(dir, &r)?;
    println!(
        "  {experiment}-{variant} seed {seed}: {} {metric:.4}, equivariance error {:.2e} ({train_seconds:.0} s)",
        if experiment == "nbody" {
            "test MSE"
        } else {
            "test accuracy"
        },
        eq
    );
    Ok(Some((r, model)))
}

/// The mean relative equivariance error with transported noise over 4 elements.
fn transported_error(model: &Model, probe: &Supervised, seed: u64) -> Result<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(2000 + seed);
    Ok(equivariance_error(
        model,
        &probe.inputs,
        probe.mask.as_ref(),
        4,
        NoiseMode::Transported,
        &mut rng,
    )?
    .mean)
}

/// Copies every parameter of `src` into the same-named one of `dst` (casting the dtype).
fn copy_params(dst: &ParamStore, src: &ParamStore) -> Result<()> {
    for p in dst.all()? {
        let v = src
            .get(&p.name)?
            .with_context(|| format!("no parameter {} to copy", p.name))?;
        p.var.set(
            &v.as_tensor()
                .to_device(p.var.device())?
                .to_dtype(p.var.dtype())?,
        )?;
    }
    Ok(())
}

/// The fresh-noise equivariance error (absolute RMS) of a trained model against `k`.
fn k_curve(model: &Model, test: &Supervised, s: &Settings) -> Result<Vec<(f64, f64)>> {
    let probe = test.select(&(0..test.len().min(16) as u32).collect::<Vec<_>>())?;
    let mut m = model.clone();
    let mut out = Vec::new();
    for &k in &s.k_curve {
        m.set_mode(m.current_mode().with_k(k));
        let mut rng = ChaCha8Rng::seed_from_u64(3000 + k as u64);
        let e = equivariance_error(
            &m,
            &probe.inputs,
            probe.mask.as_ref(),
            4,
            NoiseMode::Fresh,
            &mut rng,
        )?;
        out.push((k as f64, e.rms));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// separation

/// The separation of one graph set by untrained models.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Separation {
    data: String,
    graphs: usize,
    /// Pairs of non-isomorphic graphs.
    pairs: usize,
    /// Per variant: non-isomorphic pairs that no initialisation separated.
    not_separated: BTreeMap<String, usize>,
}

/// Counts, for GA, canonicalization and PS at random initialisations, the pairs of
/// non-isomorphic graphs (different labels) that no initialisation separates. A pair is
/// separated by an initialisation when the L1 distance of its outputs exceeds both 1e-3 and
/// that initialisation's noise floor: the largest distance between two isomorphic graphs
/// (equal labels), which an invariant model would map to the same output up to its
/// Monte-Carlo error.
fn separate(
    s: &Settings,
    name: &str,
    graphs: &[(Graph, usize)],
    device: &Device,
) -> Result<Separation> {
    let data = graphs_to_tensors(graphs, device)?;
    let labels: Vec<usize> = graphs.iter().map(|(_, c)| *c).collect();
    let n = labels.len();
    let mut pairs = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            pairs.push((i, j));
        }
    }
    let pad = data.inputs[0].dims()[1];
    let classes = 8;
    let mut not_separated = BTreeMap::new();
    for variant in ["ga", "canonical", "ps"] {
        let mut separated = vec![false; pairs.len()];
        for init in 0..s.separation_inits as u64 {
            let (model, _) = build_separation(s, variant, init, pad, classes, device)?;
            let mut rng = ChaCha8Rng::seed_from_u64(0x5e9 + init);
            let mut outs = Vec::with_capacity(n);
            for start in (0..n).step_by(64) {
                let idx: Vec<u32> = (start as u32..(start + 64).min(n) as u32).collect();
                let part = data.select(&idx)?;
                let y = model
                    .forward(&part.inputs, part.mask.as_ref(), &mut rng, false)?
                    .output;
                outs.extend(y.to_dtype(DType::F64)?.to_vec2::<f64>()?);
            }
            let dist = |i: usize, j: usize| -> f64 {
                outs[i]
                    .iter()
                    .zip(&outs[j])
                    .map(|(a, b)| (a - b).abs())
                    .sum()
            };
            let floor = pairs
                .iter()
                .filter(|(i, j)| labels[*i] == labels[*j])
                .map(|&(i, j)| dist(i, j))
                .fold(0.0, f64::max);
            for (p, &(i, j)) in pairs.iter().enumerate() {
                if labels[i] != labels[j] && dist(i, j) > floor.max(1e-3) {
                    separated[p] = true;
                }
            }
        }
        let count = pairs
            .iter()
            .zip(&separated)
            .filter(|((i, j), sep)| labels[*i] != labels[*j] && !**sep)
            .count();
        not_separated.insert(variant.to_string(), count);
    }
    let non_iso = pairs
        .iter()
        .filter(|(i, j)| labels[*i] != labels[*j])
        .count();
    println!(
        "  separation on {name}: {non_iso} non-isomorphic pairs, not separated {not_separated:?}"
    );
    Ok(Separation {
        data: name.into(),
        graphs: n,
        pairs: non_iso,
        not_separated,
    })
}

/// An untrained MLP on padded adjacency with `classes` outputs, in `variant`'s mode.
fn build_separation(
    s: &Settings,
    variant: &str,
    init: u64,
    pad: usize,
    classes: usize,
    device: &Device,
) -> Result<(Model, Vec<NamedStore>)> {
    let base_store = ParamStore::seeded(0x5e00 + init);
    let iface_store = ParamStore::seeded(0x5f00 + init);
    let net = plain_mlp(
        vec![pad * pad, s.csl_hidden, classes],
        base_store.var_builder(DType::F32, device),
    )?;
    let f: BaseFn =
        Rc::new(move |xs: &[Tensor], train| net.forward_t(&xs[0].flatten_from(1)?, train));
    let reps = [Rep::Pairs];
    let model = Symmetrized::new(f, Group::Permutations, &reps, Rep::Invariant)?;
    let iface: Iface = if variant == "ga" {
        Rc::new(NoInterface)
    } else {
        Rc::new(GinInterface::new(
            &reps,
            0,
            4,
            s.gin_hidden,
            3,
            iface_store.var_builder(DType::F32, device),
        )?)
    };
    let model = model
        .interface(iface)
        .mode(mode_of(variant, s.separation_k));
    Ok((model, vec![NamedStore::frozen("base", base_store)]))
}

// ---------------------------------------------------------------------------------------------
// the page

#[derive(Debug, Serialize)]
struct Page {
    settings: Settings,
    runs: Vec<LpsRun>,
    separation: Vec<Separation>,
    /// Keep-position and constant-velocity test MSE.
    baselines: (f64, f64),
    /// `(variant, [(k, rms error)])` on CSL, seed 0.
    k_curves: Vec<(String, Vec<(f64, f64)>)>,
    date: String,
    commit: String,
    machine: String,
    wall_seconds: f64,
}

/// Mean and sample standard deviation (`noether_eval::mean_std`; a single value has spread 0,
/// no value is NaN).
fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let (m, s) = noether_eval::mean_std(v);
    (m, s.unwrap_or(0.0))
}

impl Page {
    fn values(
        &self,
        experiment: &str,
        variant: &str,
        f: impl Fn(&LpsRun) -> Option<f64>,
    ) -> Vec<f64> {
        self.runs
            .iter()
            .filter(|r| r.experiment == experiment && r.variant == variant)
            .filter_map(f)
            .collect()
    }

    fn stat(
        &self,
        experiment: &str,
        variant: &str,
        f: impl Fn(&LpsRun) -> Option<f64>,
    ) -> (f64, f64) {
        mean_std(&self.values(experiment, variant, f))
    }

    fn metric(&self, e: &str, v: &str) -> (f64, f64) {
        self.stat(e, v, |r| Some(r.metric))
    }
}

fn pm((m, s): (f64, f64), scale: f64, d: usize) -> String {
    format!("{:.d$} ± {:.d$}", m * scale, s * scale)
}

fn sci((m, _): (f64, f64)) -> String {
    format!("{m:.1e}")
}

const IMAGE_VARIANTS: &[(&str, &str)] = &[
    ("none", "CNN (unsymmetrized)"),
    ("aug", "CNN + C4 augmentation"),
    ("ga", "CNN-GA"),
    ("canonical", "CNN-Canonical"),
    ("ps", "CNN-PS"),
];

fn tables(p: &Page) -> String {
    let mut out = String::new();
    let eq = |e: &str, v: &str| sci(p.stat(e, v, |r| r.equivariance));
    out.push_str("**CSL classification** (test accuracy, %; 10 classes, chance 10 %)\n\n");
    out.push_str("| model | accuracy | equivariance error |\n|---|---|---|\n");
    for (v, label) in VARIANTS {
        out.push_str(&format!(
            "| {label} | {} | {} |\n",
            pm(p.metric("csl", v), 100.0, 1),
            eq("csl", v)
        ));
    }
    out.push_str("\n**n-body** (test position MSE, lower is better)\n\n");
    out.push_str("| model | MSE | equivariance error |\n|---|---|---|\n");
    out.push_str(&format!(
        "| keep the frame-30 position | {:.4} | 0 |\n| constant velocity | {:.4} | 0 |\n",
        p.baselines.0, p.baselines.1
    ));
    for (v, label) in VARIANTS {
        out.push_str(&format!(
            "| {label} | {} | {} |\n",
            pm(p.metric("nbody", v), 1.0, 4),
            eq("nbody", v)
        ));
    }
    out.push_str("\n**Images** (digits, trained upright; test accuracy, %)\n\n");
    out.push_str(
        "| model | upright | turned by quarter turns | equivariance error |\n|---|---|---|---|\n",
    );
    for (v, label) in IMAGE_VARIANTS {
        out.push_str(&format!(
            "| {label} | {} | {} | {} |\n",
            pm(p.metric("images", v), 100.0, 1),
            pm(
                p.stat("images", v, |r| r.extra.get("rotated").copied()),
                100.0,
                1
            ),
            eq("images", v)
        ));
    }
    out.push_str("\n**Graph separation** (untrained; non-isomorphic pairs that no initialisation separates, fewer is better)\n\n");
    out.push_str("| graphs | pairs | GA | canonical | PS |\n|---|---|---|---|---|\n");
    for s in &p.separation {
        let g = |v: &str| s.not_separated.get(v).map_or("—".into(), |c| c.to_string());
        out.push_str(&format!(
            "| {} ({} graphs) | {} | {} | {} | {} |\n",
            s.data,
            s.graphs,
            s.pairs,
            g("ga"),
            g("canonical"),
            g("ps")
        ));
    }
    out
}

/// A claim of the paper and whether this run shows it.
struct Claim {
    claim: &'static str,
    holds: bool,
    measured: String,
}

fn claims(p: &Page) -> Vec<Claim> {
    let mut out = Vec::new();
    let m = |e: &str, v: &str| p.metric(e, v).0;
    let eq_max = p
        .runs
        .iter()
        .filter(|r| r.variant != "none" && r.variant != "aug")
        .filter_map(|r| r.equivariance)
        .fold(0.0, f64::max);
    let eq_base = p
        .runs
        .iter()
        .filter(|r| r.variant == "none")
        .filter_map(|r| r.equivariance)
        .fold(f64::INFINITY, f64::min);
    out.push(Claim {
        claim: "every symmetrized model is equivariant to float tolerance with transported noise (<= 1e-5); the base is not",
        holds: eq_max <= 1e-5 && eq_base > 1e-2,
        measured: format!("largest symmetrized error {eq_max:.1e}; smallest base error {eq_base:.1e}"),
    });
    let (ps, can) = (m("csl", "ps"), m("csl", "canonical"));
    out.push(Claim {
        claim: "CSL: PS reaches >= 95 % test accuracy while canonicalization with the same interface stays near chance",
        holds: ps >= 0.95 && can <= 0.3,
        measured: format!("PS {:.1} %, canonical {:.1} %, GA {:.1} %", ps * 100.0, can * 100.0, m("csl", "ga") * 100.0),
    });
    let (ps, can, ga) = (m("nbody", "ps"), m("nbody", "canonical"), m("nbody", "ga"));
    out.push(Claim {
        claim: "n-body: PS has a lower MSE than canonicalization and GA with the same backbone and budget, and well below constant velocity",
        holds: ps < can && ps < ga && ps < p.baselines.1,
        measured: format!("PS {ps:.4}, canonical {can:.4}, GA {ga:.4}, constant velocity {:.4}", p.baselines.1),
    });
    let rot = |v: &str| p.stat("images", v, |r| r.extra.get("rotated").copied()).0;
    out.push(Claim {
        claim: "images: the symmetrized CNN keeps its accuracy on turned test images where the base collapses",
        holds: ["ga", "canonical", "ps"].iter().all(|v| rot(v) > rot("none") + 0.2),
        measured: format!(
            "turned: base {:.1} %, GA {:.1} %, canonical {:.1} %, PS {:.1} %",
            rot("none") * 100.0,
            rot("ga") * 100.0,
            rot("canonical") * 100.0,
            rot("ps") * 100.0
        ),
    });
    for (v, curve) in &p.k_curves {
        if let (Some(first), Some(last)) = (curve.first(), curve.last()) {
            let expected = (last.0 / first.0).sqrt();
            let ratio = first.1 / last.1;
            out.push(Claim {
                claim: if v == "ps" {
                    "fresh noise: the k-sample error of PS falls like 1/sqrt(k)"
                } else {
                    "fresh noise: the k-sample error of GA falls like 1/sqrt(k)"
                },
                holds: ratio > expected / 2.0,
                measured: format!(
                    "k {} -> {}: error {:.2e} -> {:.2e} (÷{ratio:.1}; 1/sqrt(k) predicts ÷{expected:.1})",
                    first.0, last.0, first.1, last.1
                ),
            });
        }
    }
    out
}

fn write_page(p: &Page, out: &Path) -> Result<()> {
    let dir = out.join("lps");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // plots
    let labels: Vec<String> = VARIANTS.iter().map(|(_, l)| l.to_string()).collect();
    let bars = |e: &str, scale: f64| -> Vec<(f64, Option<f64>)> {
        VARIANTS
            .iter()
            .map(|(v, _)| {
                let (m, s) = p.metric(e, v);
                (m * scale, Some(s * scale))
            })
            .collect()
    };
    plots::grouped_bars(
        &dir.join("csl.svg"),
        "CSL classification",
        "test accuracy (%)",
        &labels,
        &[BarSeries {
            label: "test accuracy".into(),
            values: bars("csl", 100.0),
        }],
    )?;
    plots::grouped_bars(
        &dir.join("nbody.svg"),
        "n-body position prediction",
        "test MSE",
        &labels,
        &[BarSeries {
            label: "test MSE".into(),
            values: bars("nbody", 1.0),
        }],
    )?;
    let ilabels: Vec<String> = IMAGE_VARIANTS.iter().map(|(_, l)| l.to_string()).collect();
    let ibar = |f: &dyn Fn(&LpsRun) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
        IMAGE_VARIANTS
            .iter()
            .map(|(v, _)| {
                let (m, s) = p.stat("images", v, f);
                (m * 100.0, Some(s * 100.0))
            })
            .collect()
    };
    plots::grouped_bars(
        &dir.join("images.svg"),
        "digits, trained upright",
        "test accuracy (%)",
        &ilabels,
        &[
            BarSeries {
                label: "upright".into(),
                values: ibar(&|r| Some(r.metric)),
            },
            BarSeries {
                label: "turned".into(),
                values: ibar(&|r| r.extra.get("rotated").copied()),
            },
        ],
    )?;
    let mut series: Vec<Series> = p
        .k_curves
        .iter()
        .map(|(v, c)| Series {
            label: format!("CSL {}", if v == "ps" { "PS" } else { "GA" }),
            points: c.clone(),
        })
        .collect();
    if let Some((_, c)) = p.k_curves.first()
        && let Some(&(k0, e0)) = c.first()
    {
        series.push(Series {
            label: "1/sqrt(k)".into(),
            points: c.iter().map(|&(k, _)| (k, e0 * (k0 / k).sqrt())).collect(),
        });
    }
    plots::line_chart(
        &dir.join("k_error.svg"),
        "equivariance error with fresh noise",
        "samples k",
        "RMS of phi(g x) - g phi(x)",
        &series,
        true,
    )?;
    // page
    let claims = claims(p);
    let mut md = String::new();
    md.push_str("# LPS: making an MLP and a CNN equivariant\n\n");
    md.push_str(&format!(
        "Generated by `cargo xtask reproduce --suite lps --profile {}` on {} (commit `{}`, {}), {:.1} min. \
         Mean ± sample std over {} seed(s). How the experiments are set up and what differs from the paper: \
         [docs/lps.md](../../lps.md).\n\n",
        p.settings.profile,
        p.date,
        p.commit,
        p.machine,
        p.wall_seconds / 60.0,
        p.settings.seeds
    ));
    md.push_str(&tables(p));
    md.push_str("\n## Claims\n\n");
    for c in &claims {
        md.push_str(&format!(
            "- {} — **{}**: {}\n",
            c.claim,
            if c.holds { "holds" } else { "does not hold" },
            c.measured
        ));
    }
    md.push_str(
        "\n## Plots\n\n![CSL](csl.svg)\n![n-body](nbody.svg)\n![images](images.svg)\n![k](k_error.svg)\n",
    );
    md.push_str("\n## Settings\n\n```json\n");
    md.push_str(&serde_json::to_string_pretty(&p.settings)?);
    md.push_str("\n```\n");
    write_atomic(&dir.join("README.md"), md.as_bytes())?;
    write_atomic(
        &dir.join("results.json"),
        serde_json::to_string_pretty(p)?.as_bytes(),
    )?;
    for c in &claims {
        let mark = if c.holds { "holds" } else { "DOES NOT HOLD" };
        println!("- {} [{mark}]: {}", c.claim, c.measured);
    }
    Ok(())
}

/// Replaces the README's `lps-results` section.
fn update_readme(path: &Path, p: &Page) -> Result<()> {
    let section = format!(
        "Profile `{}`, {} (commit `{}`, {}, {:.1} min):\n\n{}\nClaims, plots and settings: \
         [docs/results/lps](docs/results/lps/README.md).\n",
        p.settings.profile,
        p.date,
        p.commit,
        p.machine,
        p.wall_seconds / 60.0,
        tables(p)
    );
    replace_readme_section(path, "lps", "lps-", &section)
}
