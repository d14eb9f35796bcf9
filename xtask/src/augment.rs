//! `cargo xtask augment`: make views of an image with a preset, write them with their parameter
//! records and a contact sheet; or replay recorded parameters on another image.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use noether_augment::sheet::contact_sheet;
use noether_augment::{Image, Pipeline, Preset, Standardizer, ViewRecord, make_views};
use serde::{Deserialize, Serialize};

/// Arguments of `cargo xtask augment`.
#[derive(Debug, Args)]
pub struct AugmentArgs {
    /// The image to augment (PNG or JPEG).
    #[arg(long)]
    input: PathBuf,
    /// The recipe: simclr-cifar, simclr-imagenet, byol-imagenet, byol-cifar or multi-crop.
    #[arg(long, default_value = "simclr-cifar")]
    preset: String,
    /// Number of views.
    #[arg(long, default_value_t = 8)]
    views: usize,
    /// Seed of the views' RNG streams.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (created): `view_NN.png`, `params.json`, `sheet.png`.
    #[arg(long)]
    out: PathBuf,
    /// Re-apply the records of a `params.json` written by an earlier run to `--input`
    /// (the preset is read from the file).
    #[arg(long)]
    replay: Option<PathBuf>,
}

/// What `params.json` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamsFile {
    preset: String,
    seed: u64,
    input: String,
    views: Vec<ViewEntry>,
    /// Standardisation constants of the preset's EquiMod layout for this input's shape.
    standardizer: Option<Standardizer>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewEntry {
    file: String,
    record: ViewRecord,
    /// The EquiMod vector, raw and standardised, when the preset has a layout.
    equimod_raw: Option<Vec<f32>>,
    equimod_standardized: Option<Vec<f32>>,
}

/// Runs the subcommand.
pub fn run(args: AugmentArgs) -> Result<()> {
    let img = Image::load(&args.input)?;
    let (preset, seed, records) = match &args.replay {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let file: ParamsFile = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a params.json of `cargo xtask augment`",
                    path.display()
                )
            })?;
            let preset =
                Preset::parse(&file.preset).with_context(|| format!("in {}", path.display()))?;
            let records = file.views.into_iter().map(|v| v.record).collect::<Vec<_>>();
            (preset, file.seed, Some(records))
        }
        None => (Preset::parse(&args.preset)?, args.seed, None),
    };
    if args.views == 0 && records.is_none() {
        bail!("--views must be at least 1");
    }
    let pipelines = preset.pipelines()?;
    let views: Vec<(Image, ViewRecord)> = match records {
        Some(records) => records
            .into_iter()
            .enumerate()
            .map(|(i, rec)| {
                let pipe = find_pipeline(&pipelines, &rec)
                    .with_context(|| format!("view {i} of the replayed file"))?;
                let view = pipe
                    .replay(&img, &rec)
                    .with_context(|| format!("replaying view {i} on {}", args.input.display()))?;
                Ok((view, rec))
            })
            .collect::<Result<_>>()?,
        None => make_views(&pipelines, std::slice::from_ref(&img), args.views, seed)?
            .into_iter()
            .map(|v| (v.image, v.record))
            .collect(),
    };

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let standardizer = preset
        .equimod_layout()
        .map(|l| Standardizer::estimate(l, &pipelines, img.shape(), 4096, 0))
        .transpose()?;
    let mut entries = Vec::new();
    for (i, (view, rec)) in views.iter().enumerate() {
        let file = format!("view_{i:02}.png");
        view.save(args.out.join(&file))?;
        let raw = preset.equimod_layout().map(|l| l.vector(rec)).transpose()?;
        let standardized = match (&standardizer, &raw) {
            (Some(s), Some(t)) => Some(s.apply(t)?),
            _ => None,
        };
        entries.push(ViewEntry {
            file,
            record: rec.clone(),
            equimod_raw: raw,
            equimod_standardized: standardized,
        });
    }
    let params = ParamsFile {
        preset: preset.name().into(),
        seed,
        input: args.input.display().to_string(),
        views: entries,
        standardizer,
    };
    write(
        &args.out.join("params.json"),
        serde_json::to_string_pretty(&params)?.as_bytes(),
    )?;

    let mut cells = vec![img.clone()];
    cells.extend(views.iter().map(|(v, _)| v.clone()));
    let columns = cells.len().min(9);
    let sheet = contact_sheet(&cells, columns, 96)?;
    sheet.save(args.out.join("sheet.png"))?;
    println!(
        "{} views of {} ({}) with {} written to {} (view_NN.png, params.json, sheet.png: the input first, then the views)",
        views.len(),
        args.input.display(),
        img.shape(),
        preset.name(),
        args.out.display()
    );
    Ok(())
}

fn find_pipeline<'a>(pipelines: &'a [Pipeline], rec: &ViewRecord) -> Result<&'a Pipeline> {
    pipelines
        .iter()
        .find(|p| p.name() == rec.pipeline)
        .with_context(|| {
            let names: Vec<_> = pipelines.iter().map(Pipeline::name).collect();
            format!(
                "the record was made by pipeline `{}`, the preset has {}",
                rec.pipeline,
                names.join(", ")
            )
        })
}

/// Writes a file through a temporary name and a rename, so a reader never sees half of it.
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
