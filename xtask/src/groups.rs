//! `cargo xtask groups`: list the group families, sample elements, check the group laws.

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use noether_groups::{DynGroup, GROUP_SPECS, parse_group};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `cargo xtask groups ...`
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// List the group families with their parameter layouts and sampling distributions.
    List,
    /// Sample elements of a group and print their parameter vectors.
    Sample {
        /// The group, e.g. "SO(3)", "D4", "S5 x O(3)" (see `groups list`).
        spec: String,
        /// How many elements.
        #[arg(short = 'n', long, default_value_t = 8)]
        count: usize,
        /// Seed of the sampler (same seed, same elements).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Check identity, inverse, associativity and the encode / decode round trip on sampled
    /// elements and on the group's test elements.
    Check {
        /// The group, e.g. "SO(3)".
        spec: String,
        /// Number of sampled triples.
        #[arg(long, default_value_t = 1000)]
        samples: usize,
        /// Seed of the sampler.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Tolerance of the comparisons.
        #[arg(long, default_value_t = 1e-6)]
        tol: f64,
    },
}

/// How `groups sample` prints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns with a header.
    Table,
    /// Comma-separated values with a header of slot names.
    Csv,
    /// One JSON array per line.
    Jsonl,
}

/// Runs a `groups` subcommand.
pub fn run(cmd: GroupsCommand) -> anyhow::Result<()> {
    match cmd {
        GroupsCommand::List => list(),
        GroupsCommand::Sample {
            spec,
            count,
            seed,
            format,
        } => sample(&spec, count, seed, format),
        GroupsCommand::Check {
            spec,
            samples,
            seed,
            tol,
        } => check(&spec, samples, seed, tol),
    }
}

fn parse(spec: &str) -> anyhow::Result<Box<dyn DynGroup>> {
    parse_group(spec).with_context(|| format!("reading the group `{spec}`"))
}

fn list() -> anyhow::Result<()> {
    println!("Group families (spell them as in the first column):\n");
    for (spelling, meaning) in GROUP_SPECS {
        println!("  {spelling:<20} {meaning}");
    }
    println!("\nExamples, with their parameter layouts and sampling:\n");
    for spec in [
        "C4",
        "D4",
        "SO(2)",
        "O(2)",
        "SO(3)",
        "O(3)",
        "SO(4)",
        "S5",
        "T(3)",
        "SE(2)",
        "Scale",
        "S5 x O(3)",
    ] {
        let g = parse(spec)?;
        println!("  {:<10} {}", g.name(), g.layout().describe());
        println!("  {:<10} sampling: {}", "", g.sampling());
    }
    Ok(())
}

fn sample(spec: &str, count: usize, seed: u64, format: Format) -> anyhow::Result<()> {
    let g = parse(spec)?;
    let layout = g.layout();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows: Vec<Vec<f32>> = (0..count).map(|_| g.sample_params(&mut rng)).collect();
    match format {
        Format::Table => {
            println!("# {} ({}), seed {seed}", g.name(), layout.describe());
            println!(
                "{}",
                layout
                    .names
                    .iter()
                    .map(|n| format!("{n:>10}"))
                    .collect::<String>()
            );
            for row in &rows {
                println!(
                    "{}",
                    row.iter().map(|v| format!("{v:>10.5}")).collect::<String>()
                );
            }
        }
        Format::Csv => {
            println!("{}", layout.names.join(","));
            for row in &rows {
                println!(
                    "{}",
                    row.iter().map(f32::to_string).collect::<Vec<_>>().join(",")
                );
            }
        }
        Format::Jsonl => {
            for row in &rows {
                println!("{}", serde_json::to_string(row)?);
            }
        }
    }
    Ok(())
}

fn check(spec: &str, samples: usize, seed: u64, tol: f64) -> anyhow::Result<()> {
    let g = parse(spec)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    if let Err(violation) = g.check_laws(&mut rng, samples, tol) {
        bail!("{}: a group law failed: {violation}", g.name());
    }
    println!(
        "{}: identity, inverse, associativity and the encode/decode round trip hold on {samples} \
         sampled triples and every pair of test elements (tol {tol:e}, seed {seed})",
        g.name()
    );
    Ok(())
}
