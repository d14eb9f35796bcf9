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
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use noether_eval::{ResultsTable, mean_std};
use noether_train::{CheckpointDir, Trainer, write_atomic};
use serde::{Deserialize, Serialize};

use crate::eval::{EVAL_FILE, EvalProtocol, EvalReport, eval_file, eval_run};
use crate::plots::{self, BarSeries, Series};
use crate::train::{Mini3dieSection, Overrides, RunFile, finished_step, install_ctrlc, train};

/// Arguments of `cargo xtask reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// smoke (seconds, tiny data), quick (about 20 min on a laptop CPU) or paper (a GPU).
    #[arg(long, default_value = "quick", value_name = "NAME")]
    profile: String,
    /// Only these experiments (comma-separated): random, simclr, byol, vicreg,
    /// equimod-simclr, equimod-byol.
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

/// One experiment: a run file (or the random floor).
#[derive(Debug, Clone, Copy)]
struct Experiment {
    /// The `--only` name and run directory name.
    name: &'static str,
    /// The table's row label.
    label: &'static str,
    /// The run file's stem, before `_mini3die_quick.toml` / `_paper.toml`.
    stem: &'static str,
    /// Evaluate at initialisation, no training.
    random: bool,
}

const EXPERIMENTS: [Experiment; 6] = [
    Experiment {
        name: "random",
        label: "random encoder",
        stem: "simclr",
        random: true,
    },
    Experiment {
        name: "simclr",
        label: "SimCLR",
        stem: "simclr",
        random: false,
    },
    Experiment {
        name: "byol",
        label: "BYOL",
        stem: "byol",
        random: false,
    },
    Experiment {
        name: "vicreg",
        label: "VICReg",
        stem: "vicreg",
        random: false,
    },
    Experiment {
        name: "equimod-simclr",
        label: "SimCLR + EquiMod",
        stem: "equimod_simclr",
        random: false,
    },
    Experiment {
        name: "equimod-byol",
        label: "BYOL + EquiMod",
        stem: "equimod_byol",
        random: false,
    },
];

/// A profile: which run files, what overrides, how many seeds, which evaluation.
#[derive(Debug, Clone)]
struct Profile {
    name: &'static str,
    /// Run file suffix after the experiment's stem.
    suffix: &'static str,
    seeds: usize,
    overrides: Overrides,
    eval: EvalProtocol,
}

impl Profile {
    fn named(name: &str) -> Result<Profile> {
        Ok(match name {
            "smoke" => Profile {
                name: "smoke",
                suffix: "_mini3die_quick.toml",
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
                    ..Overrides::default()
                },
                eval: EvalProtocol::smoke(),
            },
            "quick" => Profile {
                name: "quick",
                suffix: "_mini3die_quick.toml",
                seeds: 3,
                overrides: Overrides::default(),
                eval: EvalProtocol::quick(),
            },
            "paper" => Profile {
                name: "paper",
                suffix: "_paper.toml",
                seeds: 1,
                overrides: Overrides::default(),
                eval: EvalProtocol::paper(),
            },
            other => bail!("--profile: unknown profile {other:?}; expected smoke, quick or paper"),
        })
    }
}

/// The workspace root (run files, docs and the README live there).
fn workspace_root() -> PathBuf {
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
    /// Wall time of the whole command in seconds (runs reused from earlier invocations count
    /// as their logged training time only).
    pub wall_seconds: f64,
    /// The evaluation protocol.
    pub eval: EvalProtocol,
    /// The table (one row per experiment, values over seeds).
    pub table: ResultsTable,
    /// Every run.
    pub runs: Vec<RunResult>,
    /// The claims of the issue, checked.
    pub claims: Vec<Claim>,
}

/// The table's columns: metric key in the report, header, scale, decimals.
const COLUMNS: [(&str, &str, f64, usize); 8] = [
    ("probe_top1", "probe top-1 %", 100.0, 1),
    ("knn_top1", "kNN top-1 %", 100.0, 1),
    ("rotation_r2", "rotation R²", 1.0, 3),
    ("color_r2", "colour R²", 1.0, 3),
    ("param_r2", "aug. param R²", 1.0, 3),
    ("effective_rank", "eff. rank", 1.0, 1),
    ("train_seconds", "train s", 1.0, 0),
    ("eval_seconds", "eval s", 1.0, 0),
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
    for name in &args.only {
        if !EXPERIMENTS.iter().any(|e| e.name == name) {
            let names: Vec<_> = EXPERIMENTS.iter().map(|e| e.name).collect();
            bail!(
                "--only: unknown experiment {name:?}; expected {}",
                names.join(", ")
            );
        }
    }
    let experiments: Vec<Experiment> = EXPERIMENTS
        .into_iter()
        .filter(|e| args.only.is_empty() || args.only.iter().any(|n| n == e.name))
        .collect();
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
    let total = experiments.len() * profile.seeds;
    println!(
        "reproduce: profile {}, {} experiment(s) x {} seed(s), runs in {}, results to {}",
        profile.name,
        experiments.len(),
        profile.seeds,
        runs.display(),
        out.display()
    );
    let mut results = Vec::new();
    let mut data_desc = String::new();
    for (k, e) in experiments.iter().enumerate() {
        let path = root
            .join("experiments")
            .join(format!("{}{}", e.stem, profile.suffix));
        for s in 0..profile.seeds {
            let n = k * profile.seeds + s + 1;
            let overrides = Overrides {
                seed: Some(s as u64),
                ..profile.overrides.clone()
            };
            let file = RunFile::load(&path, &overrides)?;
            if data_desc.is_empty() {
                data_desc = describe_data(&file);
            }
            let dir = runs.join(e.name).join(format!("seed-{s}"));
            println!("[{n}/{total}] {} seed {s} ({})", e.label, path.display());
            let r = if e.random {
                let report = eval_file(&file, None, &profile.eval, &device)
                    .with_context(|| format!("{} seed {s}: evaluation", e.name))?;
                RunResult {
                    experiment: e.name.into(),
                    seed: s as u64,
                    steps: 0,
                    train_seconds: 0.0,
                    images_per_second: None,
                    eval_seconds: report.wall_seconds,
                    metrics: report.metrics,
                }
            } else {
                if finished_step(&dir, &file.train)?.is_none() {
                    let resume = CheckpointDir::new(&dir).has_any();
                    let trainer = Trainer::new(file.train.clone(), &dir)?
                        .with_run_config(file.to_json()?)
                        .with_stop_flag(stop.clone())
                        .with_progress(!args.no_progress);
                    let summary = train(&file, &trainer, &device, resume).with_context(|| {
                        format!(
                            "{} seed {s}: training in {} (start over with --fresh)",
                            e.name,
                            dir.display()
                        )
                    })?;
                    if summary.interrupted {
                        println!(
                            "interrupted; run the same command again to continue from the \
                             last checkpoint"
                        );
                        return Ok(());
                    }
                } else {
                    println!("  finished earlier in {}; not retrained", dir.display());
                }
                let report = match reusable_eval(&dir, &file, &profile.eval) {
                    Some(r) => r,
                    None => eval_run(&dir, &profile.eval, false, &device)
                        .with_context(|| format!("{} seed {s}: evaluation", e.name))?,
                };
                let (train_seconds, ips) = training_time(&dir)?;
                RunResult {
                    experiment: e.name.into(),
                    seed: s as u64,
                    steps: file.train.steps,
                    train_seconds,
                    images_per_second: ips,
                    eval_seconds: report.wall_seconds,
                    metrics: report.metrics,
                }
            };
            println!("  {}", one_line(&r));
            results.push(r);
        }
    }
    let results = Results {
        profile: profile.name.into(),
        data: data_desc,
        date: utc_date(),
        commit: git_commit(&root),
        machine: machine(),
        wall_seconds: start.elapsed().as_secs_f64(),
        eval: profile.eval.clone(),
        table: table(&experiments, &results)?,
        claims: claims(&results),
        runs: results,
    };
    write_page(&out, &runs, &experiments, &results)?;
    println!("{}", results.table.to_markdown("experiment"));
    for c in &results.claims {
        let mark = if c.holds { "holds" } else { "DOES NOT HOLD" };
        println!("- {} [{mark}]: {}", c.claim, c.measured);
    }
    if default_out {
        update_readme(&root.join("README.md"), &results)?;
    }
    println!(
        "results: {} ({:.0} s)",
        out.join("README.md").display(),
        results.wall_seconds
    );
    Ok(())
}

/// The eval report already in `dir` if it is of the final step under the same protocol.
fn reusable_eval(dir: &Path, file: &RunFile, protocol: &EvalProtocol) -> Option<EvalReport> {
    let text = std::fs::read_to_string(dir.join(EVAL_FILE)).ok()?;
    let r: EvalReport = serde_json::from_str(&text).ok()?;
    (r.step == Some(file.train.steps) && &r.protocol == protocol).then_some(r)
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
        (None, None) => file.data.dataset.clone(),
    }
}

fn metric(r: &RunResult, key: &str) -> Option<f64> {
    match key {
        "train_seconds" => Some(r.train_seconds),
        "eval_seconds" => Some(r.eval_seconds),
        k => r.metrics.get(k).copied(),
    }
}

fn table(experiments: &[Experiment], results: &[RunResult]) -> Result<ResultsTable> {
    let mut t = ResultsTable::new();
    for (_, header, _, decimals) in COLUMNS {
        t.declare_metric(header, decimals);
    }
    for e in experiments {
        for r in results.iter().filter(|r| r.experiment == e.name) {
            for (key, header, scale, _) in COLUMNS {
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

fn claims(results: &[RunResult]) -> Vec<Claim> {
    let mut out = Vec::new();
    let pm = |(m, s, n): (f64, f64, usize), scale: f64, d: usize| {
        format!("{:.d$} ± {:.d$} (n = {n})", m * scale, s * scale)
    };
    for e in EXPERIMENTS.iter().filter(|e| !e.random) {
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
        let label = |n: &str| {
            EXPERIMENTS
                .iter()
                .find(|e| e.name == n)
                .map_or("", |e| e.label)
        };
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

/// Writes `out/README.md`, `out/results.json` and the plots.
fn write_page(
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
    plots::grouped_bars(
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
    )?;
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
    write_atomic(&out.join("README.md"), page(results).as_bytes())?;
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
fn page(r: &Results) -> String {
    let mut s = String::new();
    s.push_str("# Results\n\n");
    s.push_str(
        "Generated by `cargo xtask reproduce` — do not edit by hand; run the command again.\n\n",
    );
    s.push_str(&format!(
        "| | |\n|---|---|\n| profile | `{}` |\n| data | {} |\n| date (UTC) | {} |\n| commit | `{}` |\n| machine | {} |\n| wall time | {:.1} min |\n\n",
        r.profile, r.data, r.date, r.commit, r.machine, r.wall_seconds / 60.0
    ));
    s.push_str(&results_block(r));
    s.push_str("\n## Claims, checked on these numbers\n\n");
    for c in &r.claims {
        let mark = if c.holds {
            "holds"
        } else {
            "**does not hold**"
        };
        s.push_str(&format!("- {} — {mark}: {}\n", c.claim, c.measured));
    }
    s.push_str("\n## Plots\n\n![top-1](accuracy.svg)\n\n![R²](r2.svg)\n\n![loss](loss.svg)\n\n");
    s.push_str("## Evaluation protocol\n\n```json\n");
    s.push_str(&serde_json::to_string_pretty(&r.eval).unwrap_or_default());
    s.push_str("\n```\n\nSee `docs/eval.md` for the definitions. Every run: `results.json`.\n");
    s
}

/// The table with its legend (shared by the page and the README section).
fn results_block(r: &Results) -> String {
    let n = r.runs.iter().map(|x| x.seed).max().map_or(0, |s| s + 1);
    format!(
        "{}\nMean ± sample std over {n} seed(s). Probe and kNN on frozen encoder features of \
         the held-out split; rotation / colour R² from pairs of encoder features; aug. param R² \
         from pairs of the embedding the loss acts on (EquiMod's equivariant `y`, the \
         projection otherwise).\n",
        r.table.to_markdown("experiment")
    )
}

const README_BEGIN: &str = "<!-- results:begin (generated by cargo xtask reproduce) -->";
const README_END: &str = "<!-- results:end -->";

/// Replaces the README's generated results section.
fn update_readme(path: &Path, r: &Results) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(a), Some(b)) = (text.find(README_BEGIN), text.find(README_END)) else {
        bail!(
            "{}: no results section (the markers {README_BEGIN} ... {README_END})",
            path.display()
        );
    };
    let section = format!(
        "{README_BEGIN}\nProfile `{}` on {}, {} (commit `{}`, {}, {:.1} min):\n\n{}\nClaims, \
         plots and every run: [docs/results](docs/results/README.md).\n",
        r.profile,
        r.data,
        r.date,
        r.commit,
        r.machine,
        r.wall_seconds / 60.0,
        results_block(r)
    );
    let new = format!("{}{section}{}", &text[..a], &text[b..]);
    write_atomic(path, new.as_bytes())?;
    Ok(())
}

/// Today's date (UTC) as YYYY-MM-DD.
fn utc_date() -> String {
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
fn git_commit(root: &Path) -> String {
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
fn machine() -> String {
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
            for e in EXPERIMENTS {
                let path = workspace_root()
                    .join("experiments")
                    .join(format!("{}{}", e.stem, profile.suffix));
                RunFile::load(&path, &profile.overrides)
                    .unwrap_or_else(|err| panic!("{}: {err:#}", path.display()));
            }
        }
        assert!(Profile::named("fast").is_err());
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
