//! mini3die on disk: written in the exact 3DIEBench layout, and cached so that a dataset is
//! rendered once per machine.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::layout::{LayoutWriter, object_path};
use crate::render::{Mini3die, Mini3dieConfig};
use crate::split::Split;

/// Version of the renderer's output: part of the cache key, bumped whenever a change to the
/// renderer changes pixels or latents, so that stale caches are never read.
pub const RENDER_VERSION: u32 = 1;

/// The marker written last into a complete cached dataset: the configuration and version.
const MARKER: &str = "mini3die.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Marker {
    render_version: u32,
    classes: usize,
    objects_per_class: usize,
    views: usize,
    size: usize,
    seed: u64,
    val_fraction: f64,
}

impl Marker {
    fn of(c: &Mini3dieConfig) -> Self {
        Self {
            render_version: RENDER_VERSION,
            classes: c.classes,
            objects_per_class: c.objects_per_class,
            views: c.views,
            size: c.size,
            seed: c.seed,
            val_fraction: c.val_fraction,
        }
    }
}

/// Renders every view of `data` and writes the 3DIEBench layout under `root`:
/// `<synset>/<model_id>/image_{v}.png`, `latent_{v}.npy`, the split files, labels and
/// `all_latents_{train,val}.npy`. Rendering and writing run in parallel; `on_image` is called
/// once per image written (for a progress bar). Labels are the class indices.
pub fn write_mini3die(data: &Mini3die, root: &Path, on_image: &(dyn Fn() + Sync)) -> Result<()> {
    let writer = LayoutWriter::new(root)?;
    let views = data.views();
    (0..data.num_objects() * views)
        .into_par_iter()
        .try_for_each(|k| -> Result<()> {
            let (o, v) = (k / views, k % views);
            let spec = &data.objects()[o];
            let img = data.render(o, v)?;
            writer.write_view(&spec.synset, &spec.model_id, v, &img, &data.latent(o, v)?)?;
            on_image();
            Ok(())
        })?;
    let list = |split: Split| -> Vec<(String, i64)> {
        data.objects_in(split)
            .into_iter()
            .map(|o| {
                let s = &data.objects()[o];
                (object_path(&s.synset, &s.model_id), s.class as i64)
            })
            .collect()
    };
    writer.finish(&list(Split::Train), &list(Split::Val), views)
}

/// The default cache directory: `$NOETHER_CACHE`, else `$XDG_CACHE_HOME/noether`, else
/// `$HOME/.cache/noether`, else `.noether-cache` in the working directory.
pub fn default_cache_root() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("NOETHER_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("noether")))
        .or_else(|| env("HOME").map(|p| p.join(".cache").join("noether")))
        .unwrap_or_else(|| PathBuf::from(".noether-cache"))
}

/// The directory a configuration is cached in under `cache_root`: its name spells out the
/// configuration and the renderer version, so different configurations never collide.
pub fn cache_dir(config: &Mini3dieConfig, cache_root: &Path) -> PathBuf {
    cache_root.join(format!(
        "mini3die-r{RENDER_VERSION}-c{}-o{}-v{}-s{}px-seed{}-val{}",
        config.classes,
        config.objects_per_class,
        config.views,
        config.size,
        config.seed,
        (config.val_fraction * 1000.0).round() as i64
    ))
}

/// mini3die in the 3DIEBench layout, rendered once: returns the cached directory when a
/// complete one exists (its marker matches the configuration and renderer version), renders
/// it otherwise. The marker is written last, so an interrupted render is redone, not read.
pub fn cached_mini3die(
    config: &Mini3dieConfig,
    cache_root: &Path,
    on_image: &(dyn Fn() + Sync),
) -> Result<PathBuf> {
    config.validate()?;
    let dir = cache_dir(config, cache_root);
    let marker_path = dir.join(MARKER);
    if let Ok(text) = std::fs::read_to_string(&marker_path) {
        match serde_json::from_str::<Marker>(&text) {
            Ok(m) if m == Marker::of(config) => return Ok(dir),
            _ => {
                return Err(DataError::format(
                    &marker_path,
                    None,
                    "cache marker does not match its directory; remove the directory to re-render",
                ));
            }
        }
    }
    let data = Mini3die::new(config.clone())?;
    write_mini3die(&data, &dir, on_image)?;
    let json = serde_json::to_string_pretty(&Marker::of(config))
        .map_err(|e| DataError::invalid("mini3die cache", e.to_string()))?;
    crate::fsio::write_atomic(&marker_path, json.as_bytes())?;
    Ok(dir)
}
