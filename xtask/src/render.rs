//! `cargo xtask render`: mini3die in the 3DIEBench layout, a contact sheet to look at, and a
//! supervised check that the dataset is learnable.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use noether_data::export::{cached_mini3die, default_cache_root, write_mini3die};
use noether_data::render::{Mini3die, Mini3dieConfig, sheet};

use crate::learnable::{self, CheckConfig};

/// Arguments of `cargo xtask render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Output directory (the 3DIEBench layout). Without it the dataset goes to the cache
    /// (`$NOETHER_CACHE`, else `~/.cache/noether`) and is rendered only if not there yet.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Number of classes (1 to 10) [default: 10; check: 10].
    #[arg(long)]
    classes: Option<usize>,
    /// Objects per class [default: 20; check: 48].
    #[arg(long)]
    objects_per_class: Option<usize>,
    /// Views per object [default: 50; check: 12].
    #[arg(long)]
    views: Option<usize>,
    /// Image side in pixels (8 to 256) [default: 64; check: 32].
    #[arg(long)]
    size: Option<usize>,
    /// Seed of shapes, latents and split (and, with --check, of the weights and the pairs).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write a contact sheet (one row per class's first object, 8 views) to this PNG.
    #[arg(long)]
    sheet: Option<PathBuf>,
    /// Only write the sheet, do not render the dataset.
    #[arg(long, requires = "sheet")]
    sheet_only: bool,
    /// Instead of writing the dataset, train a small CNN with labels on mini3die (in memory)
    /// and report class top-1, rotation R² and colour R²: the supervised ceiling.
    #[arg(long, conflicts_with_all = ["out", "sheet", "sheet_only"])]
    check: bool,
    /// With --check: epochs of both trainings [default: 4; smoke: 1].
    #[arg(long, requires = "check", value_name = "N")]
    check_epochs: Option<usize>,
    /// With --check: also write the figures as JSON to this file.
    #[arg(long, requires = "check", value_name = "FILE")]
    check_json: Option<PathBuf>,
    /// With --check: a tiny configuration for tests (3 classes x 4 objects x 4 views at 16 px,
    /// one epoch), seconds; no pass/fail verdict.
    #[arg(long, requires = "check")]
    smoke: bool,
}

/// Runs the subcommand.
pub fn run(args: RenderArgs) -> Result<()> {
    if args.check {
        return run_check(args);
    }
    let defaults = Mini3dieConfig::default();
    let config = Mini3dieConfig {
        classes: args.classes.unwrap_or(defaults.classes),
        objects_per_class: args.objects_per_class.unwrap_or(defaults.objects_per_class),
        views: args.views.unwrap_or(defaults.views),
        size: args.size.unwrap_or(defaults.size),
        seed: args.seed,
        ..defaults
    };
    let data = Mini3die::new(config.clone())?;
    if let Some(path) = &args.sheet {
        let objects: Vec<usize> = (0..config.classes)
            .map(|c| c * config.objects_per_class)
            .collect();
        let views: Vec<usize> = (0..config.views.min(8)).collect();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        sheet(&data, &objects, &views)?
            .save(path)
            .with_context(|| format!("writing the sheet {}", path.display()))?;
        println!("sheet: {}", path.display());
    }
    if args.sheet_only {
        return Ok(());
    }
    let total = (data.num_objects() * data.views()) as u64;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} images, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("rendering mini3die");
    let tick = || bar.inc(1);
    let start = std::time::Instant::now();
    let dir = match &args.out {
        Some(out) => {
            write_mini3die(&data, out, &tick)
                .with_context(|| format!("writing mini3die to {}", out.display()))?;
            out.clone()
        }
        None => cached_mini3die(&config, &default_cache_root(), &tick)?,
    };
    bar.finish_and_clear();
    println!(
        "mini3die: {} classes x {} objects x {} views at {} px in {} ({} images written in {:.1} s)",
        config.classes,
        config.objects_per_class,
        config.views,
        config.size,
        dir.display(),
        bar.position(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `--check`: the check's own defaults (full or smoke), overridden by the flags given.
fn run_check(args: RenderArgs) -> Result<()> {
    let mut config = if args.smoke {
        CheckConfig::smoke(args.seed)
    } else {
        CheckConfig::full(args.seed)
    };
    if let Some(epochs) = args.check_epochs {
        config = config.with_epochs(epochs);
    }
    config.classes = args.classes.unwrap_or(config.classes);
    config.objects_per_class = args.objects_per_class.unwrap_or(config.objects_per_class);
    config.views = args.views.unwrap_or(config.views);
    config.size = args.size.unwrap_or(config.size);
    learnable::run(config, args.check_json)
}
