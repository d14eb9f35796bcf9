//! `cargo xtask`: noether's command line.
//!
//! ```text
//! cargo xtask groups list                         # every group family, layout and sampling
//! cargo xtask groups sample "SO(3)" -n 4 --seed 0 # sampled elements as parameter vectors
//! cargo xtask groups check "S5 x O(3)"            # group axioms on sampled elements
//! cargo xtask augment --input IMG --preset simclr-cifar --views 8 --seed 0 --out DIR
//! cargo xtask augment --input OTHER --replay DIR/params.json --out DIR2
//! cargo xtask render --out DIR --size 64 --sheet sheet.png   # mini3die in the 3DIEBench layout
//! cargo xtask render --check                      # supervised ceiling: top-1, rotation/colour R²
//! cargo xtask train --config experiments/simclr_mini3die_smoke.toml [--resume] [--out DIR]
//! cargo xtask reproduce                           # every experiment, docs/results
//! cargo xtask eval --run DIR                      # evaluate a trained run
//! cargo xtask bench                               # CPU step against PyTorch, docs/results/bench.md
//! cargo xtask info                                # version and the candle device in use
//! ```

mod alloc;
mod augment;
mod bench;
mod eval;
mod groups;
mod incontext;
mod info;
mod learnable;
mod lps;
mod plots;
mod render;
mod reproduce;
mod train;

use clap::{Parser, Subcommand};

/// noether: self-supervised learning with symmetries.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect, sample and check the groups of `noether-groups`.
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// Make views of an image with a preset: PNGs, their parameter records (JSON) and a
    /// contact sheet; or replay recorded parameters on another image.
    Augment(augment::AugmentArgs),
    /// Render mini3die (noether's look-alike of 3DIEBench) in the 3DIEBench layout.
    Render(render::RenderArgs),
    /// Train a self-supervised method described by a run file (TOML, see experiments/);
    /// Ctrl-C writes a checkpoint, --resume continues from it.
    Train(train::TrainArgs),
    /// Train and evaluate every experiment of a profile over seeds and write docs/results
    /// (table, claims, plots) and the README's results section.
    Reproduce(reproduce::ReproduceArgs),
    /// Evaluate a trained run's frozen encoder: linear probe, kNN, rotation / colour R²,
    /// augmentation-parameter R², collapse (written to the run's eval.json).
    Eval(eval::EvalArgs),
    /// Time one CPU training step (ResNet-18, ViT) against PyTorch's and write
    /// docs/results/bench.md.
    Bench(bench::BenchArgs),
    /// One measurement of `bench`, in its own process (used by `bench`).
    #[command(hide = true)]
    BenchWorker(bench::WorkerArgs),
    /// Print the noether version and the compute device candle uses (CPU, CUDA or Metal).
    Info,
}

fn main() -> std::process::ExitCode {
    alloc::configure();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Groups(cmd) => groups::run(cmd),
        Command::Augment(args) => augment::run(args),
        Command::Render(args) => render::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Reproduce(args) => reproduce::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchWorker(args) => bench::run_worker(args),
        Command::Info => info::run(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain of causes on one line, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
