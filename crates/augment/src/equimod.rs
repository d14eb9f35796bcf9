//! The augmentation parameter vector `t` that EquiMod conditions on (Devillers & Lefort 2023,
//! `papers/equimod.md`), read off a [`ViewRecord`], and its standardisation.
//!
//! Layout (raw, before standardisation), version [`EQUIMOD_LAYOUT_VERSION`]:
//!
//! | slots | meaning |
//! |---|---|
//! | 0-3 | crop `top, left, height, width` in source pixels |
//! | 4 | horizontal flip (0 / 1) |
//! | 5 | colour jitter applied (0 / 1) |
//! | 6-9 | jitter order: the indices into (brightness, contrast, saturation, hue) in the order they ran; `0, 1, 2, 3` when not applied |
//! | 10-12 | brightness, contrast, saturation factors (1 when not applied) |
//! | 13 | hue shift (0 when not applied) |
//! | 14 | grayscale (0 / 1) |
//! | 15-16 | blur applied, sigma (0 when not applied) — ImageNet and BYOL |
//! | 17 | solarize applied — BYOL |
//!
//! SimCLR-CIFAR uses slots 0-14 (15 floats), SimCLR-ImageNet 0-16 (17), BYOL 0-17 (18).
//!
//! Standardisation `(t - mean) / std` uses constants estimated from our own sampler
//! ([`Standardizer::estimate`]): the reference code hard-codes constants for its sampler, ours
//! differs (RNG, crop fallback), so we estimate, record the seed, draw count, source shape and
//! layout version with the constants, and re-estimate whenever the layout version changes.

use noether_groups::ParamLayout;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invalid};
use crate::image::Shape;
use crate::pipeline::{Pipeline, ViewRecord};

/// Version of the EquiMod layouts; bump when a slot's meaning changes.
pub const EQUIMOD_LAYOUT_VERSION: u32 = 1;

/// Which EquiMod vector a preset's views give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EquimodLayout {
    /// 15 floats: crop 5 + jitter 10.
    SimclrCifar,
    /// 17 floats: crop 5 + jitter 10 + blur 2.
    SimclrImagenet,
    /// 18 floats: crop 5 + jitter 10 + blur 2 + solarize 1.
    Byol,
}

const NAMES: [&str; 18] = [
    "crop.top",
    "crop.left",
    "crop.height",
    "crop.width",
    "flip",
    "jitter.applied",
    "jitter.order0",
    "jitter.order1",
    "jitter.order2",
    "jitter.order3",
    "jitter.brightness",
    "jitter.contrast",
    "jitter.saturation",
    "jitter.hue",
    "grayscale",
    "blur.applied",
    "blur.sigma",
    "solarize",
];

impl EquimodLayout {
    /// Number of floats.
    pub fn len(&self) -> usize {
        match self {
            EquimodLayout::SimclrCifar => 15,
            EquimodLayout::SimclrImagenet => 17,
            EquimodLayout::Byol => 18,
        }
    }

    /// Never empty; for symmetry with [`EquimodLayout::len`].
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The documented layout.
    pub fn layout(&self) -> ParamLayout {
        let id = match self {
            EquimodLayout::SimclrCifar => "equimod.simclr_cifar",
            EquimodLayout::SimclrImagenet => "equimod.simclr_imagenet",
            EquimodLayout::Byol => "equimod.byol",
        };
        ParamLayout::new(
            id,
            EQUIMOD_LAYOUT_VERSION,
            NAMES[..self.len()].iter().copied(),
        )
    }

    /// The raw vector of a view made by a preset pipeline. Errors when the record lacks a step
    /// the layout needs (a crop, a flip, a jitter, a grey step; blur and solarize for the
    /// longer layouts).
    pub fn vector(&self, rec: &ViewRecord) -> Result<Vec<f32>> {
        let need = |op: &str| {
            rec.step(op).ok_or_else(|| {
                invalid(
                    "equimod",
                    format!(
                        "pipeline {} has no `{op}` step, which layout {} needs",
                        rec.pipeline,
                        self.layout().id
                    ),
                )
            })
        };
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let crop = need("random_resized_crop")?;
        if !crop.applied || crop.params.len() != 4 {
            return Err(invalid("equimod", "the crop step must always run"));
        }
        let mut t = crop.params.clone();
        t.push(flag(need("horizontal_flip")?.applied));
        let jitter = need("color_jitter")?;
        t.push(flag(jitter.applied));
        if jitter.applied {
            t.extend_from_slice(&jitter.params);
        } else {
            t.extend([0.0, 1.0, 2.0, 3.0, 1.0, 1.0, 1.0, 0.0]);
        }
        t.push(flag(need("grayscale")?.applied));
        if self.len() >= 17 {
            let b = need("gaussian_blur")?;
            t.push(flag(b.applied));
            t.push(if b.applied { b.params[0] } else { 0.0 });
        }
        if self.len() >= 18 {
            t.push(flag(need("solarize")?.applied));
        }
        debug_assert_eq!(t.len(), self.len());
        Ok(t)
    }
}

/// Per-slot mean and standard deviation of an EquiMod vector under a sampler, with where they
/// came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standardizer {
    /// Layout identifier.
    pub layout: String,
    /// Layout version the constants belong to.
    pub version: u32,
    /// Source image shape the crops were drawn for (crop slots are in pixels).
    pub input: Shape,
    /// Number of sampled records.
    pub draws: usize,
    /// Seed of the sampler.
    pub seed: u64,
    /// Means.
    pub mean: Vec<f32>,
    /// Standard deviations (1 where a slot is constant, so it standardises to 0).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Estimates the constants from `draws` records sampled (parameters only, no pixels) for a
    /// source of shape `input`, alternating over `pipelines` (the view slots of a preset).
    pub fn estimate(
        layout: EquimodLayout,
        pipelines: &[Pipeline],
        input: Shape,
        draws: usize,
        seed: u64,
    ) -> Result<Self> {
        if pipelines.is_empty() || draws < 2 {
            return Err(invalid("equimod", "need pipelines and at least 2 draws"));
        }
        let n = layout.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut sum = vec![0.0f64; n];
        let mut sq = vec![0.0f64; n];
        for k in 0..draws {
            let rec = pipelines[k % pipelines.len()].sample(input, &mut rng)?;
            for (i, v) in layout.vector(&rec)?.into_iter().enumerate() {
                sum[i] += f64::from(v);
                sq[i] += f64::from(v) * f64::from(v);
            }
        }
        let d = draws as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / d).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| {
                let var = (q / d - m * m).max(0.0);
                if var.sqrt() > 1e-6 {
                    var.sqrt() as f32
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Self {
            layout: layout.layout().id,
            version: EQUIMOD_LAYOUT_VERSION,
            input,
            draws,
            seed,
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        })
    }

    /// `(t - mean) / std`; errors when the length differs.
    pub fn apply(&self, t: &[f32]) -> Result<Vec<f32>> {
        if t.len() != self.mean.len() {
            return Err(invalid(
                "equimod",
                format!(
                    "vector of {} floats for layout {} of {}",
                    t.len(),
                    self.layout,
                    self.mean.len()
                ),
            ));
        }
        Ok(t.iter()
            .zip(&self.mean)
            .zip(&self.std)
            .map(|((v, m), s)| (v - m) / s)
            .collect())
    }
}
