//! `cargo xtask render`: mini3die in the 3DIEBench layout, a contact sheet to look at, and a
//! supervised check that the dataset is learnable.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use noether_data::export::{cached_mini3die, default_cache_root, write_mini3die};
use noether_data::render::{Mini3die, Mini3dieConfig, sheet};

/// Arguments of `cargo xtask render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Output directory (the 3DIEBench layout). Without it the dataset goes to the cache
    /// (`$NOETHER_CACHE`, else `~/.cache/noether`) and is rendered only if not there yet.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Number of classes (1 to 10).
    #[arg(long, default_value_t = Mini3dieConfig::default().classes)]
    classes: usize,
    /// Objects per class.
    #[arg(long, default_value_t = Mini3dieConfig::default().objects_per_class)]
    objects_per_class: usize,
    /// Views per object.
    #[arg(long, default_value_t = Mini3dieConfig::default().views)]
    views: usize,
    /// Image side in pixels (8 to 256).
    #[arg(long, default_value_t = Mini3dieConfig::default().size)]
    size: usize,
    /// Seed of shapes, latents and split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write a contact sheet (one row per class's first object, 8 views) to this PNG.
    #[arg(long)]
    sheet: Option<PathBuf>,
    /// Only write the sheet, do not render the dataset.
    #[arg(long, requires = "sheet")]
    sheet_only: bool,
}

/// Runs the subcommand.
pub fn run(args: RenderArgs) -> Result<()> {
    let config = Mini3dieConfig {
        classes: args.classes,
        objects_per_class: args.objects_per_class,
        views: args.views,
        size: args.size,
        seed: args.seed,
        ..Mini3dieConfig::default()
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
