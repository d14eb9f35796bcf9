//! `cargo xtask reproduce`: trains and evaluates every experiment of a profile over seeds and
//! writes the results page (`docs/results/README.md`, `results.json`, plots), and the results
//! section of the project README.
//!
//! Profiles:
//!
//! | profile | what | budget |
//! |---|---|---|
//! | `smoke` | every experiment for 2 steps on a tiny mini3die, one seed | seconds; part of the tests |
//! | `quick` (default) | the `experiments/*_mini3die_quick.toml` runs, 3 seeds | about 20 minutes on a 2-core laptop CPU |
//! | `paper` | the `experiments/*_paper.toml` runs: the papers' settings (ResNet-18, LARS, 800 epochs) | a GPU |
//!
//! Runs go to `runs/reproduce-PROFILE/EXPERIMENT/seed-S`. A finished run is not trained
//! again and an interrupted one resumes from its last checkpoint, so re-running the command
//! after Ctrl-C (or a crash) continues where it stopped; `--fresh` starts over. The random
//! encoder (the floor) is the SimCLR run file's encoder evaluated at its initialisation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use noether_eval::{ResultsTable, mean_std};
use noether_train::{CheckpointDir, Trainer, write_atomic};
use serde::{Deserialize, Serialize};

use crate::eval::{EVAL_FILE, EvalProtocol, EvalReport, eval_file, eval_run};
use crate::plots::{self, BarSeries, Series};
use crate::train::{
    MethodSection, Mini3dieSection, ModelSection, Overrides, RunFile, finished_step, install_ctrlc,
    train,
};
use noether_data::{DigitsConfig, Rotation};
use noether_models::Structure;
use noether_train::methods::{GesslConfig, MetaGradient};

/// Arguments of `cargo xtask reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// smoke (seconds, tiny data), quick (about 20 min on a laptop CPU) or paper (a GPU).
    #[arg(long, default_value = "quick", value_name = "NAME")]
    profile: String,
    /// Only these suites (comma-separated): ssl (SimCLR, BYOL, VICReg, EquiMod on mini3die),
    /// hssl (Homomorphic SSL on rotated digits), hssl-translation, hssl-scale, gessl (GeSSL
    /// around SimCLR and VICReg on mini3die), contextssl (ContextSSL and SIE, SEN, AugSelf on
    /// mini3die), lps (probabilistic symmetrization, group averaging and canonicalization on
    /// CSL graphs, n-body and digits; graph6 files from --data-dir for its separation test)
    /// [default: all].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    suite: Vec<String>,
    /// Only these experiments (comma-separated), e.g. random, simclr, byol, vicreg,
    /// equimod-simclr, equimod-byol, assl-c4, hssl-c4, hssl-c4-plain (see docs/results).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    only: Vec<String>,
    /// Seeds per experiment [default: the profile's: smoke 1, quick 3, paper 1].
    #[arg(long, value_name = "N")]
    seeds: Option<usize>,
    /// Train and evaluate on this directory instead of mini3die (format detected unless
    /// --dataset).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The data format: auto, 3diebench, cifar10, cifar100, mnist, folder.
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// Where the results page goes [default: docs/results, which also updates the README's
    /// results section].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Where the runs go [default: runs/reproduce-PROFILE].
    #[arg(long, value_name = "DIR")]
    runs: Option<PathBuf>,
    /// Delete the profile's earlier runs first instead of reusing / resuming them.
    #[arg(long)]
    fresh: bool,
    /// No progress bars.
    #[arg(long)]
    no_progress: bool,
}

/// One experiment: a run file (or the random floor), possibly changed by a tweak.
#[derive(Debug, Clone, Copy)]
struct Experiment {
    /// The `--only` name and run directory name.
    name: &'static str,
    /// The table's row label.
    label: &'static str,
    /// The run file's stem, before the suite's suffix (`_mini3die_quick.toml`, ...).
    stem: &'static str,
    /// Evaluate at initialisation, no training.
    random: bool,
    /// A change to the resolved run file (an ablation or a sweep point).
    tweak: Tweak,
    /// At most this many seeds (sweep points); 0: the profile's.
    max_seeds: usize,
}

/// A change an experiment makes to its run file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tweak {
    None,
    /// The G-CNN's structure.
    Structure(Structure),
    /// The positives' group distances of H-SSL / A-SSL.
    Distances(&'static [usize]),
    /// The bundle size of a translation CNN.
    Bundle(usize),
    /// `train.steps` times this factor (at least 1; the warm-up kept inside the run): the
    /// equal-wall-time baseline.
    Steps(f64),
    /// GeSSL's `K`, `lambda` and meta-gradient, and `train.steps` times `steps` (the
    /// ablation's short runs).
    Gessl {
        inner_steps: usize,
        lookahead: usize,
        meta: MetaGradient,
        steps: f64,
    },
    /// ContextSSL's probability of the `rot` environment (1: rotation only, 0: colour only).
    RotationProb(f64),
}

/// Multiplies `train.steps` by `factor` (at least one step), keeping the warm-up inside.
fn scale_steps(file: &mut RunFile, factor: f64) {
    let steps = ((file.train.steps as f64 * factor).round() as u64).max(1);
    file.train.steps = steps;
    if let noether_train::ScheduleConfig::WarmupCosine { warmup_steps, .. } =
        &mut file.train.schedule
    {
        *warmup_steps = ((*warmup_steps as f64 * factor).round() as u64).min(steps);
    }
}

impl Experiment {
    const fn run(name: &'static str, label: &'static str, stem: &'static str) -> Experiment {
        Experiment {
            name,
            label,
            stem,
            random: false,
            tweak: Tweak::None,
            max_seeds: 0,
        }
    }

    const fn random(self) -> Experiment {
        Experiment {
            random: true,
            ..self
        }
    }

    const fn tweak(self, tweak: Tweak) -> Experiment {
        Experiment { tweak, ..self }
    }

    const fn seeds(self, max_seeds: usize) -> Experiment {
        Experiment { max_seeds, ..self }
    }

    /// Applies the tweak to a resolved run file.
    fn apply(&self, file: &mut RunFile) -> Result<()> {
        match self.tweak {
            Tweak::None => {}
            Tweak::Structure(s) => match &mut file.model {
                ModelSection::Gcnn { structure, .. } | ModelSection::Tcnn { structure, .. } => {
                    *structure = s
                }
                _ => bail!(
                    "experiment {}: a structure tweak needs a gcnn or tcnn model",
                    self.name
                ),
            },
            Tweak::Bundle(k) => match &mut file.model {
                ModelSection::Tcnn { bundle, .. } => *bundle = k,
                _ => bail!(
                    "experiment {}: a bundle tweak needs a tcnn model",
                    self.name
                ),
            },
            Tweak::Distances(d) => match &mut file.method {
                MethodSection::Hssl(c) => c.distances = d.to_vec(),
                _ => bail!(
                    "experiment {}: a distance tweak needs hssl / assl",
                    self.name
                ),
            },
            Tweak::Steps(f) => scale_steps(file, f),
            Tweak::Gessl {
                inner_steps,
                lookahead,
                meta,
                steps,
            } => {
                let Some(g) = &mut file.gessl else {
                    bail!(
                        "experiment {}: a GeSSL tweak needs a [gessl] run",
                        self.name
                    );
                };
                g.inner_steps = inner_steps;
                g.lookahead = lookahead;
                g.meta_gradient = meta;
                scale_steps(file, steps);
            }
            Tweak::RotationProb(p) => match &mut file.method {
                MethodSection::Contextssl(c) => c.rotation_prob = p,
                _ => bail!(
                    "experiment {}: an environment tweak needs a contextssl run",
                    self.name
                ),
            },
        }
        Ok(())
    }
}

/// The invariance-and-equivariance SSL suite (EquiMod and its bases) on mini3die.
const SSL_EXPERIMENTS: [Experiment; 6] = [
    Experiment::run("random", "random encoder", "simclr").random(),
    Experiment::run("simclr", "SimCLR", "simclr"),
    Experiment::run("byol", "BYOL", "byol"),
    Experiment::run("vicreg", "VICReg", "vicreg"),
    Experiment::run("equimod-simclr", "SimCLR + EquiMod", "equimod_simclr"),
    Experiment::run("equimod-byol", "BYOL + EquiMod", "equimod_byol"),
];

const PLAIN: Tweak = Tweak::Structure(Structure::Plain);
const SHUFFLED: Tweak = Tweak::Structure(Structure::Shuffled);

/// The Homomorphic SSL suite on rotated digits (`docs/hssl.md`).
const HSSL_EXPERIMENTS: [Experiment; 17] = [
    Experiment::run("hssl-random-c4", "random G-CNN (C4)", "hssl_c4").random(),
    Experiment::run("assl-c4", "A-SSL, C4 G-CNN", "assl_c4"),
    Experiment::run("hssl-c4", "H-SSL, C4 G-CNN", "hssl_c4"),
    Experiment::run("hssl-c4-shuffled", "H-SSL, shuffled group axis", "hssl_c4").tweak(SHUFFLED),
    Experiment::run("assl-c4-shuffled", "A-SSL, shuffled group axis", "assl_c4").tweak(SHUFFLED),
    Experiment::run("hssl-c4-plain", "H-SSL, plain CNN", "hssl_c4").tweak(PLAIN),
    Experiment::run("assl-c4-plain", "A-SSL, plain CNN", "assl_c4").tweak(PLAIN),
    Experiment::run("hssl-random-plain", "random plain CNN", "hssl_c4")
        .random()
        .tweak(PLAIN),
    Experiment::run("assl-c8", "A-SSL, C8 G-CNN", "assl_c8"),
    Experiment::run("hssl-c8", "H-SSL, C8 G-CNN", "hssl_c8"),
    Experiment::run("hssl-random-c8", "random G-CNN (C8)", "hssl_c8").random(),
    Experiment::run("hssl-c8-d1", "H-SSL C8, distance 1", "hssl_c8")
        .tweak(Tweak::Distances(&[1]))
        .seeds(1),
    Experiment::run("assl-c8-d1", "A-SSL C8, distance 1", "assl_c8")
        .tweak(Tweak::Distances(&[1]))
        .seeds(1),
    Experiment::run("hssl-c8-d2", "H-SSL C8, distance 2", "hssl_c8")
        .tweak(Tweak::Distances(&[2]))
        .seeds(1),
    Experiment::run("assl-c8-d2", "A-SSL C8, distance 2", "assl_c8")
        .tweak(Tweak::Distances(&[2]))
        .seeds(1),
    Experiment::run("hssl-c8-d4", "H-SSL C8, distance 4", "hssl_c8")
        .tweak(Tweak::Distances(&[4]))
        .seeds(1),
    Experiment::run("assl-c8-d4", "A-SSL C8, distance 4", "assl_c8")
        .tweak(Tweak::Distances(&[4]))
        .seeds(1),
];

/// The translation H-SSL suite on mini3die (`docs/hssl.md`): an ordinary CNN whose feature
/// grid is the group, fiber bundles as crops.
const TRANSLATION_EXPERIMENTS: [Experiment; 10] = [
    Experiment::run("hssl-random-tr", "random CNN", "hssl_translation").random(),
    Experiment::run("assl-tr", "A-SSL, CNN, 2x2 bundles", "assl_translation"),
    Experiment::run("hssl-tr", "H-SSL, CNN, 2x2 bundles", "hssl_translation"),
    Experiment::run(
        "hssl-tr-shuffled",
        "H-SSL, shuffled grid",
        "hssl_translation",
    )
    .tweak(SHUFFLED),
    Experiment::run(
        "assl-tr-shuffled",
        "A-SSL, shuffled grid",
        "assl_translation",
    )
    .tweak(SHUFFLED),
    Experiment::run(
        "hssl-random-tr-shuffled",
        "random shuffled CNN",
        "hssl_translation",
    )
    .random()
    .tweak(SHUFFLED),
    Experiment::run("hssl-tr-k1", "H-SSL, 1x1 bundles", "hssl_translation")
        .tweak(Tweak::Bundle(1))
        .seeds(1),
    Experiment::run("assl-tr-k1", "A-SSL, 1x1 bundles", "assl_translation")
        .tweak(Tweak::Bundle(1))
        .seeds(1),
    Experiment::run("hssl-tr-k4", "H-SSL, 4x4 bundles", "hssl_translation")
        .tweak(Tweak::Bundle(4))
        .seeds(1),
    Experiment::run("assl-tr-k4", "A-SSL, 4x4 bundles", "assl_translation")
        .tweak(Tweak::Bundle(4))
        .seeds(1),
];

/// The scale H-SSL suite on upright digits (`docs/hssl.md`): a SESN-style steerable CNN whose
/// lifted axis is the scale.
const SCALE_EXPERIMENTS: [Experiment; 3] = [
    Experiment::run("hssl-random-sesn", "random SESN", "hssl_scale").random(),
    Experiment::run("assl-sesn", "A-SSL, SESN", "assl_scale"),
    Experiment::run("hssl-sesn", "H-SSL, SESN", "hssl_scale"),
];

/// The GeSSL suite on mini3die (`docs/gessl.md`): SimCLR and VICReg with and without GeSSL
/// at equal samples seen (M = 2 tasks per outer step, half the steps), SimCLR at about
/// GeSSL's wall time, and a short-run ablation over `K`, `lambda` and the meta-gradient.
const GESSL_EXPERIMENTS: [Experiment; 15] = [
    Experiment::run("gessl-random", "random encoder", "simclr").random(),
    Experiment::run("gessl-base-simclr", "SimCLR", "simclr"),
    Experiment::run("gessl-simclr", "SimCLR + GeSSL", "gessl_simclr"),
    Experiment::run("gessl-base-simclr-long", "SimCLR, 3.5x steps", "simclr")
        .tweak(Tweak::Steps(3.5)),
    Experiment::run("gessl-base-vicreg", "VICReg", "vicreg"),
    Experiment::run("gessl-vicreg", "VICReg + GeSSL", "gessl_vicreg"),
    Experiment::run("gessl-abl-k0-l1", "abl.: K 0, λ 1", "gessl_simclr")
        .tweak(ablation(0, 1, MetaGradient::FirstOrder))
        .seeds(1),
    Experiment::run("gessl-abl-k0-l2", "abl.: K 0, λ 2", "gessl_simclr")
        .tweak(ablation(0, 2, MetaGradient::FirstOrder))
        .seeds(1),
    Experiment::run("gessl-abl-k0-l5", "abl.: K 0, λ 5", "gessl_simclr")
        .tweak(ablation(0, 5, MetaGradient::FirstOrder))
        .seeds(1),
    Experiment::run(
        "gessl-abl-fo-l1",
        "abl.: K 1, λ 1, first-order",
        "gessl_simclr",
    )
    .tweak(ablation(1, 1, MetaGradient::FirstOrder))
    .seeds(1),
    Experiment::run(
        "gessl-abl-fo-l2",
        "abl.: K 1, λ 2, first-order",
        "gessl_simclr",
    )
    .tweak(ablation(1, 2, MetaGradient::FirstOrder))
    .seeds(1),
    Experiment::run(
        "gessl-abl-fo-l5",
        "abl.: K 1, λ 5, first-order",
        "gessl_simclr",
    )
    .tweak(ablation(1, 5, MetaGradient::FirstOrder))
    .seeds(1),
    Experiment::run("gessl-abl-hvp-l1", "abl.: K 1, λ 1, HVP", "gessl_simclr")
        .tweak(ablation(1, 1, MetaGradient::Hvp))
        .seeds(1),
    Experiment::run("gessl-abl-hvp-l2", "abl.: K 1, λ 2, HVP", "gessl_simclr")
        .tweak(ablation(1, 2, MetaGradient::Hvp))
        .seeds(1),
    Experiment::run("gessl-abl-hvp-l5", "abl.: K 1, λ 5, HVP", "gessl_simclr")
        .tweak(ablation(1, 5, MetaGradient::Hvp))
        .seeds(1),
];

/// An ablation point of the GeSSL suite: half the main run's steps.
const fn ablation(inner_steps: usize, lookahead: usize, meta: MetaGradient) -> Tweak {
    Tweak::Gessl {
        inner_steps,
        lookahead,
        meta,
        steps: 0.5,
    }
}

/// The ContextSSL suite on mini3die (`docs/contextssl.md`): ContextSSL with its in-context
/// evaluation next to the equivariant baselines of its table, all on pairs of renders of one
/// object (SimCLR on its usual augmented object-view pairs).
const CONTEXTSSL_EXPERIMENTS: [Experiment; 12] = [
    Experiment::run("ctx-random", "random encoder + transformer", "contextssl").random(),
    Experiment::run("ctx-simclr", "SimCLR", "simclr"),
    Experiment::run("ctx-augself", "SimCLR + AugSelf", "simclr_augself"),
    Experiment::run("ctx-sie", "SIE (rotation)", "sie"),
    Experiment::run("ctx-sie-color", "SIE (rotation + colour)", "sie_color"),
    Experiment::run("ctx-sen", "SEN (rotation)", "sen"),
    Experiment::run("ctx-equimod", "EquiMod (rotation)", "equimod_actions"),
    Experiment::run(
        "ctx-equimod-color",
        "EquiMod (rotation + colour)",
        "equimod_actions_color",
    ),
    Experiment::run("contextssl", "ContextSSL", "contextssl"),
    Experiment::run(
        "ctx-long",
        "ContextSSL, aux. weight 25, 4x steps",
        "contextssl_long",
    )
    .seeds(2),
    Experiment::run("ctx-rot-only", "ContextSSL, rot env. only", "contextssl")
        .tweak(Tweak::RotationProb(1.0))
        .seeds(1),
    Experiment::run(
        "ctx-color-only",
        "ContextSSL, colour env. only",
        "contextssl",
    )
    .tweak(Tweak::RotationProb(0.0))
    .seeds(1),
];

/// A sweep plotted on a suite's page: H-SSL next to A-SSL at each point.
#[derive(Debug, Clone, Copy)]
struct Sweep {
    /// The plot's title (after the group) and axis label.
    title: &'static str,
    x_label: &'static str,
    /// `(x, H-SSL experiment, A-SSL experiment)`.
    points: &'static [(f64, &'static str, &'static str)],
}

/// A suite's second plot.
#[derive(Debug, Clone, Copy)]
enum SecondPlot {
    /// R² of rotation, colour and augmentation parameters (`r2.svg`).
    R2,
    /// A sweep (`sweep.svg`).
    Sweep(Sweep),
    /// Bars of other metrics (`metrics.svg`): the title, the y label, `(key, label, scale)`.
    Bars(
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str, f64)],
    ),
    /// ContextSSL's curves against the context length (`context{suffix}.svg`,
    /// `mrr{suffix}.svg`) of each `(experiment, suffix)`.
    Context(&'static [(&'static str, &'static str)]),
    /// None.
    None,
}

/// A suite: experiments on one kind of data, with their own table, claims and page.
#[derive(Debug, Clone, Copy)]
struct Suite {
    /// The `--suite` name.
    name: &'static str,
    /// The page's title.
    title: &'static str,
    experiments: &'static [Experiment],
    /// The data part of the quick / smoke run files' names (`_mini3die_quick.toml`).
    data: &'static str,
    /// Whether the suite has `_paper.toml` run files.
    paper: bool,
    /// Its page's folder under the results folder ("" for the results folder itself).
    subdir: &'static str,
    /// The table's columns.
    columns: &'static [Column],
    /// Its claims, checked.
    claims: fn(&[RunResult]) -> Vec<Claim>,
    /// What the table's numbers are (after "Mean ± sample std over N seeds.").
    legend: &'static str,
    /// The page's second plot.
    plot: SecondPlot,
}

const SUITES: [Suite; 6] = [
    Suite {
        name: "ssl",
        title: "Invariant and equivariant SSL (SimCLR, BYOL, VICReg, EquiMod)",
        experiments: &SSL_EXPERIMENTS,
        data: "mini3die",
        paper: true,
        subdir: "",
        columns: &SSL_COLUMNS,
        claims: ssl_claims,
        legend: "Probe and kNN on frozen encoder features of the held-out split; rotation / \
                 colour R² from pairs of encoder features; aug. param R² from pairs of the \
                 embedding the loss acts on (EquiMod's equivariant `y`, the projection \
                 otherwise).",
        plot: SecondPlot::R2,
    },
    Suite {
        name: "hssl",
        title: "Homomorphic SSL vs augmentation SSL",
        experiments: &HSSL_EXPERIMENTS,
        data: "digits",
        paper: false,
        subdir: "hssl",
        columns: &HSSL_COLUMNS,
        claims: hssl_claims,
        legend: "Probe and kNN on the frozen backbone's invariant features (fibers pooled over \
                 space, maximum over the group) of the rotated test digits; equivariance error \
                 `|| P f(T_g x) - roll_g P f(x) || / || P f(x) ||` of the pooled fibers on test \
                 digits for one group step (90° for C4, 45° for C8) and for a quarter turn; \
                 training images per second at the end of the run (the same images per step \
                 for H-SSL and A-SSL). Sweep rows: one seed.",
        plot: SecondPlot::Sweep(Sweep {
            title: "C8: probe top-1 against the group distance of the positives",
            x_label: "group distance |i - j| (steps of 45°)",
            points: &[
                (1.0, "hssl-c8-d1", "assl-c8-d1"),
                (2.0, "hssl-c8-d2", "assl-c8-d2"),
                (4.0, "hssl-c8-d4", "assl-c8-d4"),
            ],
        }),
    },
    Suite {
        name: "hssl-translation",
        title: "Homomorphic SSL vs augmentation SSL for translations (fiber bundles as crops)",
        experiments: &TRANSLATION_EXPERIMENTS,
        data: "mini3die",
        paper: false,
        subdir: "hssl-translation",
        columns: &TRANSLATION_COLUMNS,
        claims: translation_claims,
        legend: "Probe and kNN on the frozen backbone's invariant features (the feature map \
                 averaged over the grid) of the held-out split; equivariance error \
                 `|| P f(T_g x) - Gamma_g P f(x) || / || P f(x) ||` of the pooled bundles for a \
                 shift by one feature cell along both axes (the network's stride in pixels); \
                 training images per second at the end of the run (the same images per step \
                 for H-SSL and A-SSL). The bundle-size rows (1x1, 4x4): one seed; the 2x2 rows \
                 are the main ones.",
        plot: SecondPlot::Sweep(Sweep {
            title: "Translations: probe top-1 against the bundle size (the crop of feature space)",
            x_label: "bundle side k (feature cells of 4 px)",
            points: &[
                (1.0, "hssl-tr-k1", "assl-tr-k1"),
                (2.0, "hssl-tr", "assl-tr"),
                (4.0, "hssl-tr-k4", "assl-tr-k4"),
            ],
        }),
    },
    Suite {
        name: "hssl-scale",
        title: "Homomorphic SSL vs augmentation SSL for scale (SESN)",
        experiments: &SCALE_EXPERIMENTS,
        data: "digits",
        paper: false,
        subdir: "hssl-scale",
        columns: &TRANSLATION_COLUMNS,
        claims: scale_claims,
        legend: "Probe and kNN on the frozen backbone's invariant features (maximum over space, \
                 then over the scales) of the upright test digits; equivariance error \
                 `|| P f(T_1 x)[s] - P f(x)[s + 1] || / || P f(x)[s + 1] ||` of the pooled fibers \
                 (spatial maximum) for one scale step (shrinking by 1.41), over the scales \
                 `s + 1 < S`; training images per second at the end of the run.",
        plot: SecondPlot::None,
    },
    Suite {
        name: "gessl",
        title: "GeSSL: the bilevel universality wrapper around SimCLR and VICReg",
        experiments: &GESSL_EXPERIMENTS,
        data: "mini3die",
        paper: false,
        subdir: "gessl",
        columns: &GESSL_COLUMNS,
        claims: gessl_claims,
        legend: "Probe and kNN on frozen encoder features of the held-out split; sigma: the mean \
                 KL(p_theta* || p_theta) of the task classifier on 4 held-out mini-batches, \
                 theta* = 10 SGD steps (lr 0.05) of the base loss on the batch (lower: closer to \
                 the task-optimal models); images per second count samples seen (GeSSL: M = 2 \
                 batches per outer step). GeSSL runs see as many samples as their base run \
                 (60 outer steps of 2 batches vs 120 steps); `SimCLR, 3.5x steps` is the base at \
                 about GeSSL's wall time. Ablation rows (`abl.`): SimCLR + GeSSL at half the \
                 budget, one seed.",
        plot: SecondPlot::Bars(
            "sigma-measurement on held-out mini-batches",
            "sigma (KL, nats)",
            &[("sigma", "sigma", 1.0)],
        ),
    },
    Suite {
        name: "contextssl",
        title: "ContextSSL: in-context symmetries, and the equivariant baselines",
        experiments: &CONTEXTSSL_EXPERIMENTS,
        data: "mini3die",
        paper: false,
        subdir: "contextssl",
        columns: &CONTEXTSSL_COLUMNS,
        claims: contextssl_claims,
        legend: "Probe and kNN on frozen encoder features of the held-out split. Rotation / colour \
                 R² (encoder): R² (global mean) of the relative quaternion / the two hue deltas \
                 regressed by an MLP from `[h(x_a); h(x_b)]`. The context columns (ContextSSL \
                 and its random floor only) regress from the L2-normalised transformer outputs of \
                 `[h; 0]` query tokens that attend to 126 context tokens (63 training pairs) with \
                 rotation-only (`rot. ctx`) or colour-only (`col. ctx`) actions. MRR: retrieval of \
                 view j among an object's views from view 0 and the rotation action, by the \
                 hypernetwork predictor (SIE, SEN, EquiMod) or by the transformer under a rotation context \
                 of 126 tokens (ContextSSL); chance is about 0.15 for 25 views. ctx gap: mean \
                 distance between the unit outputs of one image under the two contexts (0: the \
                 context is ignored). SIE, SEN, EquiMod (the SIE authors' adaptation to 3D actions: SEN plus \
                 an invariant SimCLR projector) and AugSelf train on pairs of renders of one object \
                 without augmentation, 400 steps of 64 pairs; ContextSSL the same for 1200 steps \
                 (its transformer learns nothing in 400), and the `aux. weight 25, 4x steps` row \
                 (two seeds) for 4800 with the auxiliary weight at 25 instead of the paper's 5 (why: \
                 docs/contextssl.md, the synthetic world); SimCLR is the `ssl` suite's run \
                 (augmented object-view pairs, 120 steps of 64). `env. only` rows (one seed): \
                 ContextSSL trained in one environment only, so the invariance it should learn \
                 needs no context; their context columns show what the objective itself does.",
        plot: SecondPlot::Context(&[("contextssl", ""), ("ctx-long", "_long")]),
    },
];

impl Suite {
    fn find(&self, name: &str) -> Option<&'static Experiment> {
        self.experiments.iter().find(|e| e.name == name)
    }

    /// The run file of `e` under `profile`.
    fn run_file(&self, e: &Experiment, profile: &Profile) -> PathBuf {
        let suffix = if profile.paper {
            "_paper.toml".to_string()
        } else {
            format!("_{}_quick.toml", self.data)
        };
        workspace_root()
            .join("experiments")
            .join(format!("{}{suffix}", e.stem))
    }
}

/// A profile: which run files, what overrides, how many seeds, which evaluation.
#[derive(Debug, Clone)]
struct Profile {
    name: &'static str,
    /// Whether the run files are the `_paper.toml` ones (otherwise the suites' quick files).
    paper: bool,
    seeds: usize,
    overrides: Overrides,
    eval: EvalProtocol,
}

impl Profile {
    fn named(name: &str) -> Result<Profile> {
        Ok(match name {
            "smoke" => Profile {
                name: "smoke",
                paper: false,
                seeds: 1,
                overrides: Overrides {
                    steps: Some(2),
                    batch_size: Some(8),
                    mini3die: Some(Mini3dieSection {
                        classes: 2,
                        objects_per_class: 5,
                        views: 4,
                        size: 16,
                        seed: 0,
                    }),
                    digits: Some(DigitsConfig {
                        train: 64,
                        test: 32,
                        size: 16,
                        rotate: Rotation::Uniform,
                        seed: 0,
                    }),
                    ..Overrides::default()
                },
                eval: EvalProtocol::smoke(),
            },
            "quick" => Profile {
                name: "quick",
                paper: false,
                seeds: 3,
                overrides: Overrides::default(),
                eval: EvalProtocol::quick(),
            },
            "paper" => Profile {
                name: "paper",
                paper: true,
                seeds: 1,
                overrides: Overrides::default(),
                eval: EvalProtocol::paper(),
            },
            other => bail!("--profile: unknown profile {other:?}; expected smoke, quick or paper"),
        })
    }
}

/// The workspace root (run files, docs and the README live there).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// One evaluated run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// The experiment's name.
    pub experiment: String,
    /// The seed (`train.seed`).
    pub seed: u64,
    /// Steps trained (0 for the random encoder).
    pub steps: u64,
    /// Training wall time in seconds, summed over resumed sessions as logged.
    pub train_seconds: f64,
    /// Training throughput at the end of the run.
    pub images_per_second: Option<f64>,
    /// Evaluation wall time in seconds.
    pub eval_seconds: f64,
    /// The evaluation's metrics.
    pub metrics: BTreeMap<String, f64>,
}

/// A claim of the issue, checked on the measured numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claim {
    /// What is claimed.
    pub claim: String,
    /// Whether the measured numbers support it.
    pub holds: bool,
    /// The numbers.
    pub measured: String,
}

/// `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// The profile.
    pub profile: String,
    /// The data (`mini3die` or the dataset kind and directory).
    pub data: String,
    /// UTC date of the run.
    pub date: String,
    /// `git describe` of the source tree.
    pub commit: String,
    /// CPU / device description.
    pub machine: String,
    /// Wall time of this suite in this invocation, in seconds (runs reused from earlier
    /// invocations cost only their evaluation here).
    pub wall_seconds: f64,
    /// Training and evaluation time summed over every run of the page, reused ones included
    /// (training as logged, over resumed sessions): what the page costs from scratch.
    #[serde(default)]
    pub compute_seconds: f64,
    /// The evaluation protocol.
    pub eval: EvalProtocol,
    /// The table (one row per experiment, values over seeds).
    pub table: ResultsTable,
    /// Every run.
    pub runs: Vec<RunResult>,
    /// The claims of the issue, checked.
    pub claims: Vec<Claim>,
}

/// A table column: metric key in the report, header, scale, decimals.
type Column = (&'static str, &'static str, f64, usize);

/// The SSL suite's columns.
const SSL_COLUMNS: [Column; 8] = [
    ("probe_top1", "probe top-1 %", 100.0, 1),
    ("knn_top1", "kNN top-1 %", 100.0, 1),
    ("rotation_r2", "rotation R²", 1.0, 3),
    ("color_r2", "colour R²", 1.0, 3),
    ("param_r2", "aug. param R²", 1.0, 3),
    ("effective_rank", "eff. rank", 1.0, 1),
    ("train_seconds", "train s", 1.0, 0),
    ("eval_seconds", "eval s", 1.0, 0),
];

/// The H-SSL suite's columns.
const HSSL_COLUMNS: [Column; 7] = [
    ("probe_top1", "probe top-1 %", 100.0, 1),
    ("knn_top1", "kNN top-1 %", 100.0, 1),
    ("fiber_equivariance_error", "equiv. error, 1 step", 1.0, 3),
    (
        "fiber_equivariance_error_quarter",
        "equiv. error, quarter turn",
        1.0,
        3,
    ),
    ("images_per_second", "train img/s", 1.0, 0),
    ("train_seconds", "train s", 1.0, 0),
    ("eval_seconds", "eval s", 1.0, 0),
];

/// The translation suite's columns (no quarter turns).
/// The GeSSL suite's columns.
const GESSL_COLUMNS: [Column; 6] = [
    ("probe_top1", "probe top-1 %", 100.0, 1),
    ("knn_top1", "kNN top-1 %", 100.0, 1),
    ("sigma", "sigma", 1.0, 3),
    ("images_per_second", "train img/s", 1.0, 0),
    ("train_seconds", "train s", 1.0, 0),
    ("eval_seconds", "eval s", 1.0, 0),
];

/// The ContextSSL suite's columns (the context ones at the quick profile's longest context).
const CONTEXTSSL_COLUMNS: [Column; 12] = [
    ("probe_top1", "probe top-1 %", 100.0, 1),
    ("rotation_r2", "rotation R² (encoder)", 1.0, 3),
    ("color_r2", "colour R² (encoder)", 1.0, 3),
    ("ctx_rot_c126_rotation_r2", "rotation R², rot. ctx", 1.0, 3),
    ("ctx_rot_c126_color_r2", "colour R², rot. ctx", 1.0, 3),
    (
        "ctx_color_c126_rotation_r2",
        "rotation R², col. ctx",
        1.0,
        3,
    ),
    ("ctx_color_c126_color_r2", "colour R², col. ctx", 1.0, 3),
    ("mrr", "MRR (predictor)", 1.0, 3),
    ("ctx_rot_c126_mrr", "MRR, rot. ctx", 1.0, 3),
    ("ctx_c126_mode_gap", "ctx gap", 1.0, 3),
    ("train_seconds", "train s", 1.0, 0),
    ("eval_seconds", "eval s", 1.0, 0),
];

const TRANSLATION_COLUMNS: [Column; 6] = [
    HSSL_COLUMNS[0],
    HSSL_COLUMNS[1],
    HSSL_COLUMNS[2],
    HSSL_COLUMNS[4],
    HSSL_COLUMNS[5],
    HSSL_COLUMNS[6],
];

/// Runs the subcommand.
pub fn run(args: ReproduceArgs) -> Result<()> {
    let start = Instant::now();
    let mut profile = Profile::named(&args.profile)?;
    if let Some(n) = args.seeds {
        if n == 0 {
            bail!("--seeds: must be at least 1");
        }
        profile.seeds = n;
    }
    profile.overrides.data_dir = args.data_dir.clone();
    profile.overrides.dataset = args.dataset.clone();
    for name in &args.suite {
        if name != "lps" && !SUITES.iter().any(|s| s.name == name) {
            let mut names: Vec<_> = SUITES.iter().map(|s| s.name).collect();
            names.push("lps");
            bail!(
                "--suite: unknown suite {name:?}; expected {}",
                names.join(", ")
            );
        }
    }
    for name in &args.only {
        if !SUITES.iter().any(|s| s.find(name).is_some())
            && !crate::lps::EXPERIMENTS.contains(&name.as_str())
        {
            let names: Vec<_> = SUITES
                .iter()
                .flat_map(|s| s.experiments.iter().map(|e| e.name))
                .chain(crate::lps::EXPERIMENTS.iter().copied())
                .collect();
            bail!(
                "--only: unknown experiment {name:?}; expected {}",
                names.join(", ")
            );
        }
    }
    let root = workspace_root();
    let runs = args
        .runs
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("reproduce-{}", profile.name)));
    let default_out = args.out.is_none();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("docs").join("results"));
    if args.fresh && runs.exists() {
        std::fs::remove_dir_all(&runs)
            .with_context(|| format!("--fresh: removing {}", runs.display()))?;
    }
    let device = crate::info::device()?;
    let stop = install_ctrlc();
    for suite in SUITES {
        if !args.suite.is_empty() && !args.suite.iter().any(|n| n == suite.name) {
            continue;
        }
        if profile.paper && !suite.paper {
            println!(
                "reproduce: suite {} has no paper settings (see docs/hssl.md); skipped",
                suite.name
            );
            continue;
        }
        let experiments: Vec<Experiment> = suite
            .experiments
            .iter()
            .filter(|e| args.only.is_empty() || args.only.iter().any(|n| n == e.name))
            .copied()
            .collect();
        if experiments.is_empty() {
            continue;
        }
        let suite_start = Instant::now();
        let ctx = SuiteRun {
            suite: &suite,
            profile: &profile,
            runs: &runs,
            device: &device,
            stop: &stop,
            progress: !args.no_progress,
        };
        let Some(results) = ctx.run(&experiments)? else {
            println!(
                "interrupted; run the same command again to continue from the last checkpoint"
            );
            return Ok(());
        };
        let results = Results {
            profile: profile.name.into(),
            data: results.0,
            date: utc_date(),
            commit: git_commit(&root),
            machine: machine(),
            wall_seconds: suite_start.elapsed().as_secs_f64(),
            compute_seconds: results
                .1
                .iter()
                .map(|r| r.train_seconds + r.eval_seconds)
                .sum(),
            eval: profile.eval.clone(),
            table: table(suite.columns, &experiments, &results.1)?,
            claims: (suite.claims)(&results.1),
            runs: results.1,
        };
        let page_dir = out.join(suite.subdir);
        write_page(&suite, &page_dir, &runs, &experiments, &results)?;
        println!("{}", results.table.to_markdown("experiment"));
        for c in &results.claims {
            let mark = if c.holds { "holds" } else { "DOES NOT HOLD" };
            println!("- {} [{mark}]: {}", c.claim, c.measured);
        }
        if default_out {
            update_readme(&root.join("README.md"), &suite, &results)?;
        }
        println!(
            "results: {} ({:.0} s)",
            page_dir.join("README.md").display(),
            results.wall_seconds
        );
    }
    let lps_only: Vec<String> = args
        .only
        .iter()
        .filter(|o| crate::lps::EXPERIMENTS.contains(&o.as_str()))
        .cloned()
        .collect();
    let lps = (args.suite.is_empty() || args.suite.iter().any(|n| n == "lps"))
        && (args.only.is_empty() || !lps_only.is_empty());
    if lps {
        // --data-dir means graph6 files to the lps suite (its own data are generated)
        let lps_data = args
            .data_dir
            .as_deref()
            .filter(|_| args.suite.iter().any(|n| n == "lps"));
        let done = crate::lps::run(&crate::lps::LpsArgs {
            profile: profile.name,
            seeds: args.seeds,
            runs: &runs,
            out: &out,
            update_readme: default_out,
            data_dir: lps_data,
            only: &lps_only,
            device: &device,
            stop: &stop,
            progress: !args.no_progress,
        })?;
        if !done {
            println!(
                "interrupted; run the same command again to continue from the last checkpoint"
            );
            return Ok(());
        }
    }
    println!("reproduce: done in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// One suite's runs under one profile.
struct SuiteRun<'a> {
    suite: &'a Suite,
    profile: &'a Profile,
    runs: &'a Path,
    device: &'a candle_core::Device,
    stop: &'a Arc<AtomicBool>,
    progress: bool,
}

impl SuiteRun<'_> {
    /// Trains (or reuses) and evaluates every experiment over its seeds: the data's
    /// description and the results, or `None` when interrupted.
    fn run(&self, experiments: &[Experiment]) -> Result<Option<(String, Vec<RunResult>)>> {
        let seeds = |e: &Experiment| match e.max_seeds {
            0 => self.profile.seeds,
            m => m.min(self.profile.seeds),
        };
        let total: usize = experiments.iter().map(seeds).sum();
        println!(
            "reproduce: suite {}, profile {}, {} experiment(s), {total} run(s) in {}",
            self.suite.name,
            self.profile.name,
            experiments.len(),
            self.runs.display(),
        );
        let mut results = Vec::new();
        let mut data_desc = String::new();
        let mut n = 0;
        for e in experiments {
            let path = self.suite.run_file(e, self.profile);
            for s in 0..seeds(e) {
                n += 1;
                let overrides = Overrides {
                    seed: Some(s as u64),
                    ..self.profile.overrides.clone()
                };
                let mut file = RunFile::load(&path, &overrides)?;
                e.apply(&mut file)?;
                if data_desc.is_empty() {
                    data_desc = describe_data(&file);
                }
                let dir = self.runs.join(e.name).join(format!("seed-{s}"));
                println!("[{n}/{total}] {} seed {s} ({})", e.label, path.display());
                let Some(r) = self.one(e, s, &file, &dir)? else {
                    return Ok(None);
                };
                println!("  {}", one_line(&r));
                results.push(r);
            }
        }
        Ok(Some((data_desc, results)))
    }

    /// One run: `None` when training was interrupted.
    fn one(
        &self,
        e: &Experiment,
        s: usize,
        file: &RunFile,
        dir: &Path,
    ) -> Result<Option<RunResult>> {
        let eval = &self.profile.eval;
        if e.random {
            let config = file.to_json()?;
            let report = match reusable_random_eval(dir, &config, eval) {
                Some(r) => {
                    println!("  evaluated earlier in {}; not re-evaluated", dir.display());
                    r
                }
                None => {
                    let report = eval_file(file, None, eval, self.device)
                        .with_context(|| format!("{} seed {s}: evaluation", e.name))?;
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    write_atomic(
                        &dir.join(RANDOM_CONFIG_FILE),
                        serde_json::to_string_pretty(&config)?.as_bytes(),
                    )?;
                    write_atomic(
                        &dir.join(EVAL_FILE),
                        serde_json::to_string_pretty(&report)?.as_bytes(),
                    )?;
                    report
                }
            };
            return Ok(Some(RunResult {
                experiment: e.name.into(),
                seed: s as u64,
                steps: 0,
                train_seconds: 0.0,
                images_per_second: None,
                eval_seconds: report.wall_seconds,
                metrics: report.metrics,
            }));
        }
        if finished_step(dir, &file.train)?.is_none() {
            let resume = CheckpointDir::new(dir).has_any();
            let trainer = Trainer::new(file.train.clone(), dir)?
                .with_run_config(file.to_json()?)
                .with_stop_flag(self.stop.clone())
                .with_progress(self.progress);
            let summary = train(file, &trainer, self.device, resume).with_context(|| {
                format!(
                    "{} seed {s}: training in {} (start over with --fresh)",
                    e.name,
                    dir.display()
                )
            })?;
            if summary.interrupted {
                return Ok(None);
            }
        } else {
            println!("  finished earlier in {}; not retrained", dir.display());
        }
        let report = match reusable_eval(dir, file, eval) {
            Some(r) => r,
            None => eval_run(dir, eval, false, self.device)
                .with_context(|| format!("{} seed {s}: evaluation", e.name))?,
        };
        let (train_seconds, ips) = training_time(dir)?;
        Ok(Some(RunResult {
            experiment: e.name.into(),
            seed: s as u64,
            steps: file.train.steps,
            train_seconds,
            images_per_second: ips,
            eval_seconds: report.wall_seconds,
            metrics: report.metrics,
        }))
    }
}

/// The resolved run file a random-encoder evaluation was made from, next to its `eval.json`.
const RANDOM_CONFIG_FILE: &str = "random-config.json";

/// The random-encoder report already in `dir` if it was made from the same resolved run file
/// (hence the same initial weights) under the same protocol.
fn reusable_random_eval(
    dir: &Path,
    config: &serde_json::Value,
    protocol: &EvalProtocol,
) -> Option<EvalReport> {
    let stored: serde_json::Value = read_json(&dir.join(RANDOM_CONFIG_FILE))?;
    let r: EvalReport = read_json(&dir.join(EVAL_FILE))?;
    (&stored == config && r.step.is_none() && &r.protocol == protocol).then_some(r)
}

/// The eval report already in `dir` if it is of the final step under the same protocol.
fn reusable_eval(dir: &Path, file: &RunFile, protocol: &EvalProtocol) -> Option<EvalReport> {
    let r: EvalReport = read_json(&dir.join(EVAL_FILE))?;
    (r.step == Some(file.train.steps) && &r.protocol == protocol).then_some(r)
}

/// `path` parsed as JSON, or `None` when it is missing or unreadable (the caller recomputes).
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Training seconds (the logged `elapsed_s` of each session, summed) and the last logged
/// throughput, from `metrics.jsonl`.
fn training_time(dir: &Path) -> Result<(f64, Option<f64>)> {
    let path = dir.join("metrics.jsonl");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let (mut total, mut last, mut ips) = (0.0, 0.0, None);
    for v in metric_lines(&path, &text)? {
        if let Some(e) = v.get("elapsed_s").and_then(|e| e.as_f64()) {
            // a resumed session starts its clock again
            if e < last {
                total += last;
            }
            last = e;
        }
        if let Some(x) = v.get("images_per_second").and_then(|e| e.as_f64()) {
            ips = Some(x);
        }
    }
    Ok((total + last, ips))
}

/// The JSON records of a `metrics.jsonl` (`text`, read from `path`), blank lines skipped.
fn metric_lines(path: &Path, text: &str) -> Result<Vec<serde_json::Value>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).with_context(|| format!("{}: bad line {l:?}", path.display()))
        })
        .collect()
}

fn one_line(r: &RunResult) -> String {
    let m = |k: &str| r.metrics.get(k).copied().unwrap_or(f64::NAN);
    format!(
        "probe {:.1}%, kNN {:.1}%, rotation R² {:.3}, colour R² {:.3}, param R² {:.3}; train {:.0} s, eval {:.0} s",
        100.0 * m("probe_top1"),
        100.0 * m("knn_top1"),
        m("rotation_r2"),
        m("color_r2"),
        m("param_r2"),
        r.train_seconds,
        r.eval_seconds
    )
}

fn describe_data(file: &RunFile) -> String {
    match (&file.data.mini3die, &file.data.dir) {
        (Some(m), _) => format!(
            "mini3die ({} classes x {} objects x {} views at {} px, seed {})",
            m.classes, m.objects_per_class, m.views, m.size, m.seed
        ),
        (None, Some(d)) => format!("{} in {}", file.data.dataset, d.display()),
        (None, None) if file.data.digits.is_some() => {
            let c = file.data.digits.as_ref().expect("checked");
            format!(
                "digits ({} training / {} test images at {} px, rotation {:?}, seed {})",
                c.train, c.test, c.size, c.rotate, c.seed
            )
        }
        (None, None) => file.data.dataset.clone(),
    }
}

fn metric(r: &RunResult, key: &str) -> Option<f64> {
    match key {
        "train_seconds" => Some(r.train_seconds),
        "eval_seconds" => Some(r.eval_seconds),
        "images_per_second" => r.images_per_second,
        k => r.metrics.get(k).copied(),
    }
}

fn table(
    columns: &[Column],
    experiments: &[Experiment],
    results: &[RunResult],
) -> Result<ResultsTable> {
    let mut t = ResultsTable::new();
    for &(_, header, _, decimals) in columns {
        t.declare_metric(header, decimals);
    }
    for e in experiments {
        for r in results.iter().filter(|r| r.experiment == e.name) {
            for &(key, header, scale, _) in columns {
                if let Some(v) = metric(r, key).filter(|v| v.is_finite()) {
                    t.push(e.label, header, v * scale)?;
                }
            }
        }
    }
    Ok(t)
}

/// Mean and spread (sample std) of a metric over an experiment's seeds.
fn stat(results: &[RunResult], experiment: &str, key: &str) -> Option<(f64, f64, usize)> {
    let v: Vec<f64> = results
        .iter()
        .filter(|r| r.experiment == experiment)
        .filter_map(|r| metric(r, key))
        .filter(|v| v.is_finite())
        .collect();
    if v.is_empty() {
        return None;
    }
    let (m, s) = mean_std(&v);
    Some((m, s.unwrap_or(0.0), v.len()))
}

/// Margin (points of top-1) an SSL method must clear over the random encoder.
const CLEAR_MARGIN: f64 = 0.03;
/// R² gap by which EquiMod's embedding must beat its base method's on augmentation parameters.
const PARAM_R2_GAP: f64 = 0.1;

/// The table label of experiment `name` among `experiments` ("" if absent).
fn label_of(experiments: &[Experiment], name: &str) -> &'static str {
    experiments
        .iter()
        .find(|e| e.name == name)
        .map_or("", |e| e.label)
}

/// `mean ± std (n = N)` of a [`stat`], scaled, to `d` decimals.
fn pm((m, s, n): (f64, f64, usize), scale: f64, d: usize) -> String {
    format!("{:.d$} ± {:.d$} (n = {n})", m * scale, s * scale)
}

fn ssl_claims(results: &[RunResult]) -> Vec<Claim> {
    let mut out = Vec::new();
    for e in SSL_EXPERIMENTS.iter().filter(|e| !e.random) {
        for (key, what) in [("probe_top1", "linear-probe"), ("knn_top1", "kNN")] {
            if let (Some(a), Some(r)) = (stat(results, e.name, key), stat(results, "random", key)) {
                out.push(Claim {
                    claim: format!(
                        "{} beats the random encoder on {what} top-1 by at least {:.0} points",
                        e.label,
                        CLEAR_MARGIN * 100.0
                    ),
                    holds: a.0 - r.0 >= CLEAR_MARGIN,
                    measured: format!(
                        "{} % vs {} % ({:+.1} points)",
                        pm(a, 100.0, 1),
                        pm(r, 100.0, 1),
                        100.0 * (a.0 - r.0)
                    ),
                });
            }
        }
    }
    for (eq, base) in [("equimod-simclr", "simclr"), ("equimod-byol", "byol")] {
        let label = |n: &str| label_of(&SSL_EXPERIMENTS, n);
        if let (Some(a), Some(b)) = (
            stat(results, eq, "param_r2"),
            stat(results, base, "param_r2"),
        ) {
            out.push(Claim {
                claim: format!(
                    "{}'s embedding predicts the augmentation parameters better than {}'s \
                     (R² of t from [y0; y_t], gap >= {PARAM_R2_GAP})",
                    label(eq),
                    label(base)
                ),
                holds: a.0 - b.0 >= PARAM_R2_GAP,
                measured: format!("{} vs {} ({:+.3})", pm(a, 1.0, 3), pm(b, 1.0, 3), a.0 - b.0),
            });
        }
        if let (Some(a), Some(b)) = (
            stat(results, eq, "probe_top1"),
            stat(results, base, "probe_top1"),
        ) {
            out.push(Claim {
                claim: format!(
                    "{} raises {}'s linear-probe top-1 (paper, CIFAR-10 at 800 epochs: +1 to 2 \
                     points)",
                    label(eq),
                    label(base)
                ),
                holds: a.0 > b.0,
                measured: format!(
                    "{} % vs {} % ({:+.1} points)",
                    pm(a, 100.0, 1),
                    pm(b, 100.0, 1),
                    100.0 * (a.0 - b.0)
                ),
            });
        }
    }
    out
}

/// The claims of the GeSSL issue, checked on the numbers: sigma falls, top-1 at equal samples
/// seen and at equal wall time, the cost per sample.
fn gessl_claims(results: &[RunResult]) -> Vec<Claim> {
    let x = &GESSL_EXPERIMENTS;
    let mut out = Vec::new();
    let pairs = [
        ("gessl-simclr", "gessl-base-simclr"),
        ("gessl-vicreg", "gessl-base-vicreg"),
    ];
    for (g, b) in pairs {
        if let (Some(s), Some(t)) = (stat(results, g, "sigma"), stat(results, b, "sigma")) {
            out.push(Claim {
                claim: format!(
                    "{} lowers sigma relative to {} (held-out mini-batches)",
                    label_of(x, g),
                    label_of(x, b)
                ),
                holds: s.0 < t.0,
                measured: format!("{} vs {}", pm(s, 1.0, 3), pm(t, 1.0, 3)),
            });
        }
        out.extend(top1_at_least(results, g, b, "at equal samples seen"));
        if let (Some(s), Some(t)) = (
            stat(results, g, "images_per_second"),
            stat(results, b, "images_per_second"),
        ) {
            // The main runs' K = lambda = 1, first-order: GesslConfig's defaults.
            let cost = GesslConfig::default().passes_per_task();
            out.push(Claim {
                claim: format!(
                    "{} costs about (K + lambda + 1.5) = {cost}x {} per sample seen (within 30 %)",
                    label_of(x, g),
                    label_of(x, b)
                ),
                holds: ((t.0 / s.0) / cost - 1.0).abs() <= 0.3,
                measured: format!(
                    "{:.0} vs {:.0} images/s: {:.2}x per sample",
                    s.0,
                    t.0,
                    t.0 / s.0
                ),
            });
        }
    }
    let (g, long) = ("gessl-simclr", "gessl-base-simclr-long");
    if let (Some(mut c), Some(ws), Some(wt)) = (
        top1_at_least(results, g, long, "at about equal wall time"),
        stat(results, g, "train_seconds"),
        stat(results, long, "train_seconds"),
    ) {
        c.measured = format!("{}; trained in {:.0} s vs {:.0} s", c.measured, ws.0, wt.0);
        out.push(c);
    }
    out
}

/// How much the other factor's R² must fall from `c = 0` to the longest context (paper: rotation
/// 0.735 -> 0.345, colour 0.91 -> 0.05).
const CONTEXT_FALL: f64 = 0.05;
/// How much the MRR must rise from `c = 0` to the longest context (paper: 0.240 -> 0.402).
const CONTEXT_MRR_RISE: f64 = 0.02;
/// Rotation-R² gap between the two contexts at the longest context (paper: 0.40).
const CONTEXT_ROTATION_GAP: f64 = 0.3;
/// Colour-R² gap between the two contexts at the longest context (paper: 0.94).
const CONTEXT_COLOR_GAP: f64 = 0.5;
/// "Clearly above": SIE's rotation R² over SimCLR's (paper: 0.671 vs 0.506).
const SIE_ROTATION_MARGIN: f64 = 0.05;
/// "Within a few points": ContextSSL's top-1 against the invariant baseline's.
const CONTEXT_TOP1_WITHIN: f64 = 0.05;

/// The context lengths evaluated for `experiment` (from its rotation-context R² keys), sorted.
fn context_lengths(results: &[RunResult], experiment: &str) -> Vec<usize> {
    let mut cs: Vec<usize> = results
        .iter()
        .filter(|r| r.experiment == experiment)
        .flat_map(|r| r.metrics.keys())
        .filter_map(|k| {
            k.strip_prefix("ctx_rot_c")?
                .strip_suffix("_rotation_r2")?
                .parse()
                .ok()
        })
        .collect();
    cs.sort_unstable();
    cs.dedup();
    cs
}

/// The in-context claims of experiment `e` (shown as `label`): the R² gaps between the two
/// contexts at the longest context, the other factor's fall with the context length, the MRR's
/// rise.
fn context_claims(results: &[RunResult], e: &str, label: &str, out: &mut Vec<Claim>) {
    let cs = context_lengths(results, e);
    let (Some(&c0), Some(&cmax)) = (cs.first(), cs.last()) else {
        return;
    };
    let k = |mode: &str, c: usize, what: &str| format!("ctx_{mode}_c{c}_{what}");
    let get = |key: String| stat(results, e, &key);
    for (what, name, keep, other, gap, paper) in [
        (
            "rotation_r2",
            "rotation",
            "rot",
            "color",
            CONTEXT_ROTATION_GAP,
            0.40,
        ),
        (
            "color_r2",
            "colour",
            "color",
            "rot",
            CONTEXT_COLOR_GAP,
            0.94,
        ),
    ] {
        if let (Some(a), Some(b)) = (get(k(keep, cmax, what)), get(k(other, cmax, what))) {
            out.push(Claim {
                claim: format!(
                    "{label}: at c = {cmax}, {name} R² under a {name} context exceeds that under the \
                     other context by at least {gap} (paper: {paper})"
                ),
                holds: a.0 - b.0 >= gap,
                measured: format!("{} vs {} ({:+.3})", pm(a, 1.0, 3), pm(b, 1.0, 3), a.0 - b.0),
            });
        }
        if let (Some(a), Some(b)) = (get(k(other, c0, what)), get(k(other, cmax, what))) {
            out.push(Claim {
                claim: format!(
                    "{label}: under the other context, {name} R² falls by at least {CONTEXT_FALL} as the \
                     context grows (c = {c0} -> {cmax})"
                ),
                holds: a.0 - b.0 >= CONTEXT_FALL,
                measured: format!("{} -> {}", pm(a, 1.0, 3), pm(b, 1.0, 3)),
            });
        }
    }
    if let (Some(a), Some(b)) = (get(k("rot", c0, "mrr")), get(k("rot", cmax, "mrr"))) {
        out.push(Claim {
            claim: format!(
                "{label}: MRR under a rotation context rises by at least {CONTEXT_MRR_RISE} with its \
                 length (c = {c0} -> {cmax}; paper: 0.240 -> 0.402)"
            ),
            holds: b.0 - a.0 >= CONTEXT_MRR_RISE,
            measured: format!("{} -> {}", pm(a, 1.0, 3), pm(b, 1.0, 3)),
        });
    }
}

fn contextssl_claims(results: &[RunResult]) -> Vec<Claim> {
    let x = &CONTEXTSSL_EXPERIMENTS;
    let mut out = Vec::new();
    // the context claims for the paper's settings and for the longer run with the heavier
    // auxiliary loss
    for e in ["contextssl", "ctx-long"] {
        context_claims(results, e, label_of(x, e), &mut out);
    }
    let e = "contextssl";
    if let (Some(a), Some(b)) = (
        stat(results, "ctx-sie", "rotation_r2"),
        stat(results, "ctx-simclr", "rotation_r2"),
    ) {
        out.push(Claim {
            claim: format!(
                "{}'s rotation R² is clearly above {}'s (by {SIE_ROTATION_MARGIN}; paper: 0.671 vs \
                 0.506)",
                label_of(x, "ctx-sie"),
                label_of(x, "ctx-simclr")
            ),
            holds: a.0 - b.0 >= SIE_ROTATION_MARGIN,
            measured: format!("{} vs {} ({:+.3})", pm(a, 1.0, 3), pm(b, 1.0, 3), a.0 - b.0),
        });
    }
    if let (Some(a), Some(b)) = (
        stat(results, e, "probe_top1"),
        stat(results, "ctx-simclr", "probe_top1"),
    ) {
        out.push(Claim {
            claim: format!(
                "ContextSSL's linear-probe top-1 is within {:.0} points of {}'s (paper: 80.4 vs \
                 85.3)",
                100.0 * CONTEXT_TOP1_WITHIN,
                label_of(x, "ctx-simclr")
            ),
            holds: a.0 >= b.0 - CONTEXT_TOP1_WITHIN,
            measured: format!(
                "{} % vs {} % ({:+.1} points)",
                pm(a, 100.0, 1),
                pm(b, 100.0, 1),
                100.0 * (a.0 - b.0)
            ),
        });
    }
    out
}

/// `when`, the GeSSL experiment `g`'s linear-probe top-1 is at least that of `b`.
fn top1_at_least(results: &[RunResult], g: &str, b: &str, when: &str) -> Option<Claim> {
    let x = &GESSL_EXPERIMENTS;
    let (s, t) = (
        stat(results, g, "probe_top1")?,
        stat(results, b, "probe_top1")?,
    );
    Some(Claim {
        claim: format!(
            "{when}, {}'s linear-probe top-1 is at least {}'s",
            label_of(x, g),
            label_of(x, b)
        ),
        holds: s.0 >= t.0,
        measured: format!(
            "{} % vs {} % ({:+.1} points)",
            pm(s, 100.0, 1),
            pm(t, 100.0, 1),
            100.0 * (s.0 - t.0)
        ),
    })
}

/// Points of top-1 within which H-SSL must match A-SSL with an exact homomorphism.
const HSSL_MATCH: f64 = 0.03;
/// Points of top-1 by which H-SSL without structure must fall below A-SSL.
const HSSL_FALL: f64 = 0.10;

/// H-SSL's probe top-1 within [`HSSL_MATCH`] of A-SSL's (`what`: the group and whether it
/// is the issue's claim).
fn match_claim(results: &[RunResult], h: &str, a: &str, what: &str) -> Option<Claim> {
    let (x, y) = (
        stat(results, h, "probe_top1")?,
        stat(results, a, "probe_top1")?,
    );
    Some(Claim {
        claim: format!(
            "{what}: H-SSL's linear-probe top-1 is within {:.0} points of A-SSL's",
            HSSL_MATCH * 100.0
        ),
        holds: (x.0 - y.0).abs() <= HSSL_MATCH,
        measured: format!(
            "{} % vs {} % ({:+.1} points)",
            pm(x, 100.0, 1),
            pm(y, 100.0, 1),
            100.0 * (x.0 - y.0)
        ),
    })
}

/// Without structure, H-SSL (`h`) falls [`HSSL_FALL`] below A-SSL (`a`) on the same network,
/// to near the random-init `floor`.
fn fall_claim(
    results: &[RunResult],
    experiments: &[Experiment],
    h: &str,
    a: &str,
    floor: &str,
) -> Option<Claim> {
    let top1 = |e: &str| stat(results, e, "probe_top1");
    let (x, y, r) = (top1(h)?, top1(a)?, top1(floor)?);
    Some(Claim {
        claim: format!(
            "without structure ({}), H-SSL falls at least {:.0} points below A-SSL on the same \
             network, to near the random-init floor ({})",
            label_of(experiments, h),
            HSSL_FALL * 100.0,
            label_of(experiments, floor)
        ),
        holds: y.0 - x.0 >= HSSL_FALL && (x.0 - r.0).abs() <= HSSL_FALL / 2.0,
        measured: format!(
            "H-SSL {} %, A-SSL {} %, floor {} %",
            pm(x, 100.0, 1),
            pm(y, 100.0, 1),
            pm(r, 100.0, 1)
        ),
    })
}

/// A-SSL on the network without structure (`ablated`) stays within [`HSSL_FALL`] of A-SSL on
/// the equivariant one (`base`); `floor` the ablated network's random init.
fn assl_holds_claim(
    results: &[RunResult],
    experiments: &[Experiment],
    base: &str,
    ablated: &str,
    floor: &str,
) -> Option<Claim> {
    let top1 = |e: &str| stat(results, e, "probe_top1");
    let (a, p, r) = (top1(base)?, top1(ablated)?, top1(floor)?);
    Some(Claim {
        claim: format!(
            "A-SSL does not fall without structure: {} within {:.0} points of {}",
            label_of(experiments, ablated),
            HSSL_FALL * 100.0,
            label_of(experiments, base)
        ),
        holds: a.0 - p.0 <= HSSL_FALL,
        measured: format!(
            "{} % vs {} % (random floor {} %)",
            pm(p, 100.0, 1),
            pm(a, 100.0, 1),
            pm(r, 100.0, 1)
        ),
    })
}

/// H-SSL trains more images per second than A-SSL (one pass instead of two). The in-suite
/// figure shares the CPU with whatever else runs; `docs/hssl.md` has the benchmark.
fn speed_claim(results: &[RunResult], h: &str, a: &str) -> Option<Claim> {
    let (x, y) = (
        stat(results, h, "images_per_second")?,
        stat(results, a, "images_per_second")?,
    );
    Some(Claim {
        claim: "H-SSL costs one forward pass per image instead of two: it trains faster \
                (images per second, ratio > 1.5; end-of-run figure, see the benchmark in \
                docs/hssl.md)"
            .into(),
        holds: x.0 / y.0 > 1.5,
        measured: format!("{:.0} vs {:.0} images/s: {:.2}x", x.0, y.0, x.0 / y.0),
    })
}

/// The backbone of `e` is a homomorphism: pooled-fiber equivariance error at most 1e-5.
fn homomorphism_claim(results: &[RunResult], e: &str, what: &str) -> Option<Claim> {
    let err = stat(results, e, "fiber_equivariance_error")?;
    Some(Claim {
        claim: format!("{what} is a homomorphism: pooled-fiber equivariance error <= 1e-5"),
        holds: err.0 <= 1e-5,
        measured: format!("{:.2e}", err.0),
    })
}

/// The claims of the H-SSL issue for rotations, checked on the numbers.
fn hssl_claims(results: &[RunResult]) -> Vec<Claim> {
    let x = &HSSL_EXPERIMENTS;
    [
        match_claim(
            results,
            "hssl-c4",
            "assl-c4",
            "C4, an exact homomorphism (the issue's claim)",
        ),
        match_claim(
            results,
            "hssl-c8",
            "assl-c8",
            "C8, approximate (reported, not claimed)",
        ),
        fall_claim(
            results,
            x,
            "hssl-c4-plain",
            "assl-c4-plain",
            "hssl-random-plain",
        ),
        fall_claim(
            results,
            x,
            "hssl-c4-shuffled",
            "assl-c4-shuffled",
            "hssl-random-c4",
        ),
        assl_holds_claim(results, x, "assl-c4", "assl-c4-plain", "hssl-random-plain"),
        speed_claim(results, "hssl-c4", "assl-c4"),
        homomorphism_claim(results, "hssl-random-c4", "the C4 G-CNN"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The claims of the H-SSL issue for scale (approximate: reported, not claimed).
fn scale_claims(results: &[RunResult]) -> Vec<Claim> {
    let mut out: Vec<Claim> = [
        match_claim(
            results,
            "hssl-sesn",
            "assl-sesn",
            "scale, approximate (reported, not claimed)",
        ),
        speed_claim(results, "hssl-sesn", "assl-sesn"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(e) = stat(results, "hssl-random-sesn", "fiber_equivariance_error") {
        out.push(Claim {
            claim: "the SESN is approximately scale-equivariant: pooled-fiber error for one scale \
                    step <= 0.2 (a plain CNN of its shape measures about 0.5, \
                    crates/models/tests/sesn.rs)"
                .into(),
            holds: e.0 <= 0.2,
            measured: format!("{:.3}", e.0),
        });
    }
    out
}

/// The claims of the H-SSL issue for translations, checked on the numbers.
fn translation_claims(results: &[RunResult]) -> Vec<Claim> {
    let x = &TRANSLATION_EXPERIMENTS;
    [
        match_claim(
            results,
            "hssl-tr",
            "assl-tr",
            "translations, an exact homomorphism (the issue's claim)",
        ),
        fall_claim(
            results,
            x,
            "hssl-tr-shuffled",
            "assl-tr-shuffled",
            "hssl-random-tr-shuffled",
        ),
        assl_holds_claim(
            results,
            x,
            "assl-tr",
            "assl-tr-shuffled",
            "hssl-random-tr-shuffled",
        ),
        speed_claim(results, "hssl-tr", "assl-tr"),
        homomorphism_claim(results, "hssl-random-tr", "the circular-padded CNN"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// ContextSSL's curves of experiment `e` against the context length: R² of both factors under
/// both contexts (`r2_path`) and the retrieval metrics (`mrr_path`), the paper's Figure 3.
fn context_plots(
    results: &Results,
    e: &str,
    label: &str,
    r2_path: &Path,
    mrr_path: &Path,
) -> Result<()> {
    let cs = context_lengths(&results.runs, e);
    let curve = |mode: &str, what: &str, label: &str| Series {
        label: label.to_string(),
        points: cs
            .iter()
            .filter_map(|&c| {
                stat(&results.runs, e, &format!("ctx_{mode}_c{c}_{what}"))
                    .map(|(m, _, _)| (c as f64, m))
            })
            .collect(),
    };
    let charts = [
        (
            r2_path,
            "R² against the context length",
            "R² (global mean)",
            [
                ("rot", "rotation_r2", "rot. R², rot. ctx"),
                ("color", "rotation_r2", "rot. R², col. ctx"),
                ("color", "color_r2", "col. R², col. ctx"),
                ("rot", "color_r2", "col. R², rot. ctx"),
            ],
        ),
        (
            mrr_path,
            "retrieval against the context length",
            "MRR / H@k",
            [
                ("rot", "mrr", "MRR, rot. ctx"),
                ("rot", "h1", "H@1, rot. ctx"),
                ("rot", "h5", "H@5, rot. ctx"),
                ("color", "mrr", "MRR, col. ctx"),
            ],
        ),
    ];
    for (path, title, y_label, keys) in charts {
        let series = keys.map(|(mode, what, name)| curve(mode, what, name));
        plots::line_chart(
            path,
            &format!(
                "{label}: {title} ({} profile, mean over seeds)",
                results.profile
            ),
            "context length c (tokens)",
            y_label,
            &series,
            false,
        )?;
    }
    Ok(())
}

/// Writes `out/README.md`, `out/results.json` and the plots.
fn write_page(
    suite: &Suite,
    out: &Path,
    runs: &Path,
    experiments: &[Experiment],
    results: &Results,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let json = serde_json::to_string_pretty(results)?;
    write_atomic(&out.join("results.json"), json.as_bytes())?;
    let labels: Vec<String> = experiments.iter().map(|e| e.label.to_string()).collect();
    let bars = |keys: &[(&str, &str, f64)]| -> Vec<BarSeries> {
        keys.iter()
            .map(|(key, label, scale)| BarSeries {
                label: label.to_string(),
                values: experiments
                    .iter()
                    .map(|e| match stat(&results.runs, e.name, key) {
                        Some((m, s, n)) => (m * scale, (n > 1).then_some(s * scale)),
                        None => (f64::NAN, None),
                    })
                    .collect(),
            })
            .collect()
    };
    let n_seeds = results
        .runs
        .iter()
        .map(|r| r.seed)
        .max()
        .map_or(0, |s| s + 1);
    plots::grouped_bars(
        &out.join("accuracy.svg"),
        &format!(
            "Frozen-encoder top-1 on {} ({} profile, mean ± std over {n_seeds} seed(s))",
            short_data(&results.data),
            results.profile
        ),
        "top-1 (%)",
        &labels,
        &bars(&[
            ("probe_top1", "linear probe", 100.0),
            ("knn_top1", "kNN", 100.0),
        ]),
    )?;
    match suite.plot {
        SecondPlot::R2 => plots::grouped_bars(
            &out.join("r2.svg"),
            &format!(
                "R² from pairs of representations ({} profile)",
                results.profile
            ),
            "R²",
            &labels,
            &bars(&[
                ("rotation_r2", "rotation (encoder)", 1.0),
                ("color_r2", "colour (encoder)", 1.0),
                ("param_r2", "aug. parameters (embedding)", 1.0),
            ]),
        )?,
        SecondPlot::None => {}
        SecondPlot::Bars(title, y_label, keys) => plots::grouped_bars(
            &out.join("metrics.svg"),
            &format!("{title} ({} profile)", results.profile),
            y_label,
            &labels,
            &bars(keys),
        )?,
        SecondPlot::Context(plots) => {
            for &(e, suffix) in plots.iter() {
                context_plots(
                    results,
                    e,
                    label_of(experiments, e),
                    &out.join(format!("context{suffix}.svg")),
                    &out.join(format!("mrr{suffix}.svg")),
                )?;
            }
        }
        SecondPlot::Sweep(sweep) => {
            // H-SSL's setting next to its A-SSL counterpart, mean over the seeds run
            let curve = |pick: fn(&(f64, &'static str, &'static str)) -> &'static str,
                         label: &str| Series {
                label: label.to_string(),
                points: sweep
                    .points
                    .iter()
                    .filter_map(|p| {
                        stat(&results.runs, pick(p), "probe_top1").map(|(m, _, _)| (p.0, 100.0 * m))
                    })
                    .collect(),
            };
            let curves: Vec<Series> = [curve(|p| p.1, "H-SSL"), curve(|p| p.2, "A-SSL")]
                .into_iter()
                .filter(|s| !s.points.is_empty())
                .collect();
            plots::line_chart(
                &out.join("sweep.svg"),
                &format!("{} ({} profile)", sweep.title, results.profile),
                sweep.x_label,
                "linear-probe top-1 (%)",
                &curves,
                false,
            )?;
        }
    }
    let mut curves = Vec::new();
    for e in experiments.iter().filter(|e| !e.random) {
        let points = loss_curve(&runs.join(e.name).join("seed-0"))?;
        if !points.is_empty() {
            curves.push(Series {
                label: e.label.to_string(),
                points,
            });
        }
    }
    plots::line_chart(
        &out.join("loss.svg"),
        &format!("Training loss, seed 0 ({} profile)", results.profile),
        "step",
        "total loss / first logged value",
        &curves,
        false,
    )?;
    write_atomic(&out.join("README.md"), page(suite, results).as_bytes())?;
    Ok(())
}

fn short_data(d: &str) -> &str {
    d.split(" (").next().unwrap_or(d)
}

/// `(step, loss/total / first logged loss/total)` from a run's `metrics.jsonl` (empty when
/// there is none): the methods' losses live on different scales (VICReg's ~20, BYOL's ~2),
/// so each curve is drawn relative to its first value.
fn loss_curve(dir: &Path) -> Result<Vec<(f64, f64)>> {
    let path = dir.join("metrics.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Vec::new());
    };
    let mut points = Vec::new();
    for v in metric_lines(&path, &text)? {
        if let (Some(s), Some(l)) = (
            v.get("step").and_then(|x| x.as_f64()),
            v.get("loss/total").and_then(|x| x.as_f64()),
        ) {
            points.push((s, l));
        }
    }
    if let Some(&(_, first)) = points.first()
        && first.abs() > 0.0
    {
        for p in &mut points {
            p.1 /= first.abs();
        }
    }
    Ok(points)
}

/// The results page.
fn page(suite: &Suite, r: &Results) -> String {
    let mut s = String::new();
    s.push_str(&format!("# Results: {}\n\n", suite.title));
    s.push_str(
        "Generated by `cargo xtask reproduce` — do not edit by hand; run the command again.\n\n",
    );
    s.push_str(&format!(
        "| | |\n|---|---|\n| profile | `{}` |\n| data | {} |\n| date (UTC) | {} |\n| commit | `{}` |\n| machine | {} |\n| wall time | {:.1} min in this invocation; {:.1} min of training and evaluation over all runs |\n\n",
        r.profile, r.data, r.date, r.commit, r.machine, r.wall_seconds / 60.0, r.compute_seconds / 60.0
    ));
    s.push_str(&results_block(suite, r));
    s.push_str("\n## Claims, checked on these numbers\n\n");
    for c in &r.claims {
        let mark = if c.holds {
            "holds"
        } else {
            "**does not hold**"
        };
        s.push_str(&format!("- {} — {mark}: {}\n", c.claim, c.measured));
    }
    let second = match suite.plot {
        SecondPlot::R2 => "![R²](r2.svg)\n\n".to_string(),
        SecondPlot::Sweep(_) => "![sweep](sweep.svg)\n\n".to_string(),
        SecondPlot::Bars(..) => "![metrics](metrics.svg)\n\n".to_string(),
        SecondPlot::Context(plots) => plots
            .iter()
            .map(|(e, suffix)| {
                format!(
                    "{}:\n\n![R² against context](context{suffix}.svg)\n\n\
                     ![MRR against context](mrr{suffix}.svg)\n\n",
                    label_of(suite.experiments, e)
                )
            })
            .collect(),
        SecondPlot::None => String::new(),
    };
    s.push_str(&format!(
        "\n## Plots\n\n![top-1](accuracy.svg)\n\n{second}![loss](loss.svg)\n\n"
    ));
    s.push_str("## Evaluation protocol\n\n```json\n");
    s.push_str(&serde_json::to_string_pretty(&r.eval).unwrap_or_default());
    s.push_str("\n```\n\nSee `docs/eval.md` for the definitions. Every run: `results.json`.\n");
    s
}

/// The table with its legend (shared by the page and the README section).
fn results_block(suite: &Suite, r: &Results) -> String {
    let n = r.runs.iter().map(|x| x.seed).max().map_or(0, |s| s + 1);
    let legend = suite.legend;
    format!(
        "{}\nMean ± sample std over up to {n} seed(s). {legend}\n",
        r.table.to_markdown("experiment")
    )
}

/// The README's markers around a suite's generated section.
fn readme_prefix(suite: &Suite) -> String {
    if suite.name == "ssl" {
        String::new()
    } else {
        format!("{}-", suite.name)
    }
}

/// Replaces the text between the README's markers `<!-- {prefix}results:begin ... -->` and
/// `<!-- {prefix}results:end -->` with `section`; an error naming `suite` when they are missing.
pub(crate) fn replace_readme_section(
    path: &Path,
    suite: &str,
    prefix: &str,
    section: &str,
) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let begin = format!("<!-- {prefix}results:begin (generated by cargo xtask reproduce) -->");
    let end = format!("<!-- {prefix}results:end -->");
    let (Some(a), Some(b)) = (text.find(&begin), text.find(&end)) else {
        bail!(
            "{}: no results section for suite {suite} (the markers {begin} ... {end})",
            path.display()
        );
    };
    let new = format!("{}{begin}\n{section}{}", &text[..a], &text[b..]);
    write_atomic(path, new.as_bytes())?;
    Ok(())
}

/// Replaces the README's generated section of `suite`.
fn update_readme(path: &Path, suite: &Suite, r: &Results) -> Result<()> {
    let link = Path::new("docs/results")
        .join(suite.subdir)
        .join("README.md");
    let section = format!(
        "Profile `{}` on {}, {} (commit `{}`, {}, {:.1} min of training and \
         evaluation):\n\n{}\nClaims, plots and every run: [{}]({}).\n",
        r.profile,
        r.data,
        r.date,
        r.commit,
        r.machine,
        r.compute_seconds / 60.0,
        results_block(suite, r),
        link.parent().map_or(link.display(), |p| p.display()),
        link.display()
    );
    replace_readme_section(path, suite.name, &readme_prefix(suite), &section)
}

/// Today's date (UTC) as YYYY-MM-DD.
pub(crate) fn utc_date() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `git describe --always --dirty` of the workspace, or "unknown".
pub(crate) fn git_commit(root: &Path) -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The CPU model, its logical cores and candle's device.
pub(crate) fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let device = match crate::info::device() {
        Ok(candle_core::Device::Cpu) | Err(_) => "CPU".to_string(),
        Ok(d) => format!("{:?}", d.location()),
    };
    format!("{model}, {cores} logical cores, candle device {device}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_sections_are_replaced_between_their_markers_only() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("README.md");
        let text = "intro\n<!-- lps-results:begin (generated by cargo xtask reproduce) -->\nold\n\
                    <!-- lps-results:end -->\ntail\n";
        std::fs::write(&path, text)?;
        replace_readme_section(&path, "lps", "lps-", "new\n")?;
        assert_eq!(
            std::fs::read_to_string(&path)?,
            "intro\n<!-- lps-results:begin (generated by cargo xtask reproduce) -->\nnew\n\
             <!-- lps-results:end -->\ntail\n"
        );
        let err = replace_readme_section(&path, "ssl", "", "x").map(|_| ());
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("suite ssl") && msg.contains("results:begin"),
            "{msg}"
        );
        Ok(())
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn profiles_and_run_files_exist() {
        for p in ["smoke", "quick", "paper"] {
            let mut profile = Profile::named(p).unwrap();
            // the paper's files name CIFAR-10 in a directory the user passes
            profile.overrides.data_dir = Some(std::env::temp_dir());
            if p != "paper" {
                profile.overrides.data_dir = None;
            }
            for suite in SUITES.iter().filter(|s| s.paper || p != "paper") {
                for e in suite.experiments {
                    let path = suite.run_file(e, &profile);
                    let mut file = RunFile::load(&path, &profile.overrides)
                        .unwrap_or_else(|err| panic!("{}: {err:#}", path.display()));
                    e.apply(&mut file).unwrap();
                }
            }
        }
        assert!(Profile::named("fast").is_err());
    }

    /// A ContextSSL run whose in-context R² depend on the context as the paper's, or not.
    fn context_run(seed: u64, reads_context: bool) -> RunResult {
        let mut metrics = BTreeMap::new();
        for c in [0usize, 2, 126] {
            let t = if reads_context { c as f64 / 126.0 } else { 0.0 };
            let put = |m: &mut BTreeMap<String, f64>, k: String, v: f64| m.insert(k, v);
            put(&mut metrics, format!("ctx_rot_c{c}_rotation_r2"), 0.7);
            put(
                &mut metrics,
                format!("ctx_color_c{c}_rotation_r2"),
                0.7 - 0.4 * t,
            );
            put(&mut metrics, format!("ctx_color_c{c}_color_r2"), 0.9);
            put(
                &mut metrics,
                format!("ctx_rot_c{c}_color_r2"),
                0.9 - 0.8 * t,
            );
            put(&mut metrics, format!("ctx_rot_c{c}_mrr"), 0.2 + 0.2 * t);
        }
        RunResult {
            experiment: "contextssl".into(),
            seed,
            steps: 1,
            train_seconds: 1.0,
            images_per_second: None,
            eval_seconds: 1.0,
            metrics,
        }
    }

    #[test]
    fn context_claims_hold_for_a_model_that_reads_its_context_and_fail_otherwise() {
        let good = [context_run(0, true), context_run(1, true)];
        assert_eq!(context_lengths(&good, "contextssl"), vec![0, 2, 126]);
        let claims = contextssl_claims(&good);
        assert_eq!(claims.len(), 5, "{claims:?}");
        assert!(claims.iter().all(|c| c.holds), "{claims:?}");
        assert!(claims[0].claim.contains("c = 126"), "{claims:?}");
        let bad = contextssl_claims(&[context_run(0, false)]);
        assert_eq!(bad.len(), 5);
        assert!(bad.iter().all(|c| !c.holds), "{bad:?}");
        assert!(contextssl_claims(&[]).is_empty());
    }

    #[test]
    fn training_time_sums_resumed_sessions() {
        let dir = std::env::temp_dir().join(format!("noether-tt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("metrics.jsonl"),
            "{\"step\":1,\"elapsed_s\":2.0}\n{\"step\":2,\"elapsed_s\":4.0}\n\
             {\"step\":3,\"elapsed_s\":1.0,\"images_per_second\":9.0}\n",
        )
        .unwrap();
        let (t, ips) = training_time(&dir).unwrap();
        assert_eq!((t, ips), (5.0, Some(9.0)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
