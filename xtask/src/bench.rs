//! `cargo xtask bench`: noether's CPU training step against PyTorch's, side by side in one run,
//! written to `docs/results/bench.md` (and `bench.json` beside it).
//!
//! Every measurement runs in its own child process, so that its peak memory is its own: this
//! binary's hidden `bench-worker` subcommand for noether (fused kernels on, then off: the
//! composite path of candle primitives, i.e. what candle alone gives) and
//! `scripts/bench_torch.py` for PyTorch (skipped, and reported "not measured", where `torch`
//! is not importable). Each child is given the thread count through `RAYON_NUM_THREADS` (noether,
//! candle's GEMM) or `torch.set_num_threads` (PyTorch), runs warm-up steps, then timed steps,
//! and prints one JSON line: the median and mean seconds per step, images per second from the
//! median, its resident set size before the first step and its peak (`VmHWM`).
//!
//! ```text
//! cargo xtask bench                           # both workloads, 2 threads, 10 timed steps
//! cargo xtask bench --workloads vit --steps 5 --baseline-steps 0 --no-torch
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use noether_train::bench::{StepBench, StepModel};
use serde_json::{Value, json};

use crate::reproduce::workspace_root;

/// Options of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Workloads, comma-separated: resnet18, vit.
    #[arg(long, value_delimiter = ',', default_value = "resnet18,vit")]
    workloads: Vec<String>,
    /// Threads for every framework.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Untimed steps before the timed ones.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Timed steps (noether and PyTorch).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Timed steps of noether with its fused kernels off (0: not measured). It is the slow
    /// baseline, so fewer steps by default.
    #[arg(long, default_value_t = 3)]
    baseline_steps: usize,
    /// Pairs of images per step (each step trains on twice as many images).
    #[arg(long, default_value_t = 64)]
    pairs: usize,
    /// The Python interpreter that runs scripts/bench_torch.py.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Do not run PyTorch.
    #[arg(long)]
    no_torch: bool,
    /// Do not measure noether with the system allocator (the binary uses mimalloc; see
    /// xtask/src/alloc.rs).
    #[arg(long)]
    no_system_alloc: bool,
    /// The Markdown report (a JSON file with the raw figures is written beside it).
    #[arg(long, default_value = "docs/results/bench.md")]
    out: PathBuf,
}

/// Options of the hidden `bench-worker` subcommand: one measurement in this process.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// resnet18 or vit.
    #[arg(long)]
    workload: String,
    /// Use the fused kernels (the default path) or the composite reference path.
    #[arg(long, default_value = "on")]
    fused: String,
    #[arg(long)]
    warmup: usize,
    #[arg(long)]
    steps: usize,
    #[arg(long)]
    pairs: usize,
}

/// Runs every measurement and writes the report.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.threads == 0 || args.steps == 0 {
        bail!("--threads and --steps must be >= 1");
    }
    let models = args
        .workloads
        .iter()
        .map(|w| {
            w.parse::<StepModel>()
                .with_context(|| format!("--workloads {w:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let root = workspace_root();
    let mut rows = Vec::new();
    for &model in &models {
        let fused = worker(&args, model, true, args.steps, "mimalloc")?;
        let system = match args.no_system_alloc {
            true => None,
            false => Some(worker(&args, model, true, args.steps, "system")?),
        };
        let baseline = match args.baseline_steps {
            0 => None,
            n => Some(worker(&args, model, false, n, "mimalloc")?),
        };
        let torch = if args.no_torch {
            Err("not measured (--no-torch)".to_string())
        } else {
            torch(&args, &root, model)
        };
        rows.push(Row {
            model,
            fused,
            system,
            baseline,
            torch,
        });
    }
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };
    write_report(&args, &rows, &out)?;
    println!("wrote {}", out.display());
    Ok(())
}

/// One workload's measurements.
struct Row {
    model: StepModel,
    fused: Value,
    system: Option<Value>,
    baseline: Option<Value>,
    torch: Result<Value, String>,
}

/// Runs the `bench-worker` subcommand of this binary under `allocator` (`mimalloc` or
/// `system`) and parses its JSON line.
fn worker(
    args: &BenchArgs,
    model: StepModel,
    fused: bool,
    steps: usize,
    allocator: &str,
) -> anyhow::Result<Value> {
    let exe = std::env::current_exe().context("finding this binary for bench-worker")?;
    let label = if fused { "on" } else { "off" };
    eprintln!("bench: noether {model}, fused {label}, {allocator}, {steps} steps ...");
    let out = Command::new(exe)
        .args(["bench-worker", "--workload", model.name(), "--fused", label])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--steps", &steps.to_string()])
        .args(["--pairs", &args.pairs.to_string()])
        .env("RAYON_NUM_THREADS", args.threads.to_string())
        .env(crate::alloc::ENV, allocator)
        .output()
        .context("running bench-worker")?;
    if !out.status.success() {
        bail!(
            "bench-worker {model} (fused {label}) failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    last_json(&out.stdout).with_context(|| format!("bench-worker {model} output"))
}

/// Runs `scripts/bench_torch.py`; `Err` holds the "not measured" reason.
fn torch(args: &BenchArgs, root: &Path, model: StepModel) -> Result<Value, String> {
    eprintln!("bench: pytorch {model}, {} steps ...", args.steps);
    let script = root.join("scripts/bench_torch.py");
    let out = Command::new(&args.python)
        .arg(&script)
        .args(["--workload", model.name()])
        .args(["--threads", &args.threads.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--steps", &args.steps.to_string()])
        .args(["--batch", &args.pairs.to_string()])
        .env("OMP_NUM_THREADS", args.threads.to_string())
        .output()
        .map_err(|e| format!("not measured ({} not runnable: {e})", args.python))?;
    let parsed = last_json(&out.stdout);
    match (out.status.code(), parsed) {
        (Some(0), Ok(v)) => Ok(v),
        (Some(3), Ok(v)) => Err(format!(
            "not measured ({})",
            v["error"].as_str().unwrap_or("torch not importable")
        )),
        (code, _) => Err(format!(
            "not measured (bench_torch.py exited {code:?}: {})",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
    }
}

/// The last non-empty line of `stdout`, parsed as JSON.
fn last_json(stdout: &[u8]) -> anyhow::Result<Value> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("no output")?;
    serde_json::from_str(line).with_context(|| format!("not JSON: {line}"))
}

/// The `bench-worker` subcommand: builds the step, times it, prints one JSON line.
pub fn run_worker(args: WorkerArgs) -> anyhow::Result<()> {
    let model: StepModel = args.workload.parse()?;
    let fused = match args.fused.as_str() {
        "on" => true,
        "off" => false,
        other => bail!("--fused: expected on or off, got {other:?}"),
    };
    noether_ops::set_fast(fused);
    let mut bench = StepBench::new(model, args.pairs, 32, 0)?;
    let rss_before = memory_mib("VmRSS")?;
    for _ in 0..args.warmup {
        bench.step()?;
    }
    let mut times = Vec::with_capacity(args.steps);
    let mut loss = f64::NAN;
    for _ in 0..args.steps {
        let t0 = Instant::now();
        loss = bench.step()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    times.sort_by(f64::total_cmp);
    let median = match times.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => times[n / 2],
        n => 0.5 * (times[n / 2 - 1] + times[n / 2]),
    };
    let images = bench.images_per_step();
    let line = json!({
        "workload": model.name(),
        "framework": "noether",
        "fused": fused,
        "allocator": crate::alloc::name(),
        "threads": candle_core::utils::get_num_threads(),
        "images_per_step": images,
        "warmup": args.warmup,
        "steps": args.steps,
        "step_s_median": median,
        "step_s_mean": mean,
        "images_per_s": images as f64 / median,
        "rss_before_mib": rss_before,
        "peak_rss_mib": memory_mib("VmHWM")?,
        "final_loss": loss,
    });
    println!("{line}");
    Ok(())
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`) in MiB; NaN where there is no
/// `/proc` (the report then says "n/a").
fn memory_mib(field: &str) -> anyhow::Result<f64> {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Ok(f64::NAN);
    };
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .with_context(|| format!("/proc/self/status has no {field}"))?;
    Ok(kib / 1024.0)
}

/// `v[key]` as a number (NaN when absent).
fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// A figure for the table: `n/a` for NaN.
fn fmt(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "n/a".into()
    }
}

/// Writes `bench.md` and `bench.json`.
fn write_report(args: &BenchArgs, rows: &[Row], out: &Path) -> anyhow::Result<()> {
    let mut md = String::new();
    md.push_str("# CPU training step: noether against PyTorch\n\n");
    md.push_str(&format!(
        "Written by `cargo xtask bench` (threads {}, {} warm-up and {} timed steps; noether \
         with its fused kernels off: {} steps). One SimCLR step of {} image pairs at 32x32 \
         ({} images): forward of both views as one batch, projector `-> 2048 -> 2048 -> 128` \
         with batch norm, NT-Xent (T = 0.5), backward, AdamW. Images per second from the \
         median step. Machine: {}. PyTorch: `scripts/bench_torch.py`, the same model and \
         step.\n\n",
        args.threads,
        args.warmup,
        args.steps,
        args.baseline_steps,
        args.pairs,
        2 * args.pairs,
        crate::reproduce::machine(),
    ));
    md.push_str(
        "| workload | noether img/s | noether, system malloc img/s | noether, fused off img/s \
         | PyTorch img/s | noether / PyTorch | fused on / off | mimalloc / system |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let ours = num(&r.fused, "images_per_s");
        let ips = |v: &Option<Value>| v.as_ref().map_or(f64::NAN, |b| num(b, "images_per_s"));
        let (base, system) = (ips(&r.baseline), ips(&r.system));
        let (theirs, ratio) = match &r.torch {
            Ok(t) => {
                let v = num(t, "images_per_s");
                (fmt(v, 1), fmt(ours / v, 2))
            }
            Err(why) => (why.clone(), "n/a".into()),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.model.describe(),
            fmt(ours, 1),
            fmt(system, 1),
            fmt(base, 1),
            theirs,
            ratio,
            fmt(ours / base, 2),
            fmt(ours / system, 2),
        ));
    }
    md.push_str(
        "\nMemory (MiB): the resident set before the first step, its peak over the run \
         (`VmHWM`, PyTorch: `ru_maxrss`), and the step's own share (peak - before). \
         PyTorch's `before` includes the torch library.\n\n\
         | workload | noether before | noether peak | noether step | PyTorch before | \
         PyTorch peak | PyTorch step |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let mem = |v: &Value| {
            let (b, p) = (num(v, "rss_before_mib"), num(v, "peak_rss_mib"));
            [fmt(b, 0), fmt(p, 0), fmt(p - b, 0)]
        };
        let ours = mem(&r.fused);
        let theirs = match &r.torch {
            Ok(t) => mem(t),
            Err(_) => ["n/a".into(), "n/a".into(), "n/a".into()],
        };
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            r.model.name(),
            ours.join(" | "),
            theirs.join(" | ")
        ));
    }
    md.push_str(
        "\nnoether runs with mimalloc (the `cargo xtask` binary's allocator; the system-malloc \
         column sets `NOETHER_ALLOCATOR=system`). The criterion benches of the same step and of \
         each kernel: `cargo bench -p noether-train --bench step`, \
         `cargo bench -p noether-ops --bench ops`.\n",
    );
    let raw: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "workload": r.model.name(),
                "noether": r.fused,
                "noether_system_alloc": r.system,
                "noether_fused_off": r.baseline,
                "pytorch": match &r.torch { Ok(v) => v.clone(), Err(e) => json!({ "error": e }) },
            })
        })
        .collect();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    noether_train::write_atomic(out, md.as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    let json_path = out.with_extension("json");
    noether_train::write_atomic(&json_path, serde_json::to_string_pretty(&raw)?.as_bytes())
        .with_context(|| format!("writing {}", json_path.display()))?;
    Ok(())
}
