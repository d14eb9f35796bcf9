//! The standard SSL recipes as pipelines: SimCLR on CIFAR and ImageNet, BYOL's asymmetric pair,
//! and multi-crop. Each lists one pipeline per view slot.

use crate::equimod::EquimodLayout;
use crate::error::{Result, invalid};
use crate::ops::{
    ColorJitter, GaussianBlur, Grayscale, HorizontalFlip, KernelSize, RandomResizedCrop, Solarize,
};
use crate::pipeline::Pipeline;

/// A named augmentation recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// SimCLR on CIFAR (32 px): crop scale (0.2, 1), flip, jitter (0.4, 0.4, 0.4, 0.1) p 0.8,
    /// grey p 0.2. EquiMod layout: 15 floats.
    SimclrCifar,
    /// SimCLR on ImageNet (224 px): crop scale (0.08, 1), flip, jitter (0.8, 0.8, 0.8, 0.2)
    /// p 0.8, grey p 0.2, blur (kernel 23, sigma 0.1..2) p 0.5. EquiMod layout: 17 floats.
    SimclrImagenet,
    /// BYOL's asymmetric pair at 224 px: crop (0.08, 1), flip, jitter (0.4, 0.4, 0.2, 0.1)
    /// p 0.8, grey p 0.2, blur p 1.0 / 0.1, solarize p 0.0 / 0.2. EquiMod layout: 18 floats.
    ByolImagenet,
    /// BYOL's pair at 32 px (blur kernel 3), as EquiMod's BYOL CIFAR runs.
    ByolCifar,
    /// Multi-crop (SwAV / DINO): 2 global crops of 224 px (scale 0.14..1) and 6 local crops of
    /// 96 px (scale 0.05..0.14), each with SimCLR-ImageNet's colour steps.
    MultiCrop,
}

impl Preset {
    /// Every preset, with its command-line name.
    pub const ALL: [(&'static str, Preset); 5] = [
        ("simclr-cifar", Preset::SimclrCifar),
        ("simclr-imagenet", Preset::SimclrImagenet),
        ("byol-imagenet", Preset::ByolImagenet),
        ("byol-cifar", Preset::ByolCifar),
        ("multi-crop", Preset::MultiCrop),
    ];

    /// The preset called `name` (see [`Preset::ALL`]).
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|(n, _)| *n).collect();
                invalid(
                    "preset",
                    format!(
                        "unknown preset `{name}`; expected one of {}",
                        names.join(", ")
                    ),
                )
            })
    }

    /// The command-line name.
    pub fn name(&self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| p == self)
            .map_or("?", |(n, _)| n)
    }

    /// One pipeline per view slot: view `v` uses `pipelines()[v % len]`.
    pub fn pipelines(&self) -> Result<Vec<Pipeline>> {
        match self {
            Preset::SimclrCifar => Ok(vec![simclr(self.name(), 32, [0.2, 1.0], 0.4, 0.1, None)?]),
            Preset::SimclrImagenet => Ok(vec![simclr(
                self.name(),
                224,
                [0.08, 1.0],
                0.8,
                0.2,
                Some(23),
            )?]),
            Preset::ByolImagenet => byol(self.name(), 224, 23),
            Preset::ByolCifar => byol(self.name(), 32, 3),
            Preset::MultiCrop => {
                let global = simclr("multi-crop/global", 224, [0.14, 1.0], 0.8, 0.2, Some(23))?;
                let local = simclr("multi-crop/local", 96, [0.05, 0.14], 0.8, 0.2, Some(9))?;
                let mut v = vec![global.clone(), global];
                v.extend(std::iter::repeat_n(local, 6));
                Ok(v)
            }
        }
    }

    /// The EquiMod parameter-vector layout of this preset's views, if it has one.
    pub fn equimod_layout(&self) -> Option<EquimodLayout> {
        match self {
            Preset::SimclrCifar => Some(EquimodLayout::SimclrCifar),
            Preset::SimclrImagenet => Some(EquimodLayout::SimclrImagenet),
            Preset::ByolImagenet | Preset::ByolCifar => Some(EquimodLayout::Byol),
            Preset::MultiCrop => None,
        }
    }
}

fn crop_flip_jitter(
    name: &str,
    size: usize,
    scale: [f64; 2],
    jitter: ColorJitter,
) -> Result<Pipeline> {
    Pipeline::new(name)
        .then(RandomResizedCrop::new(size, scale), 1.0)?
        .then(HorizontalFlip, 0.5)?
        .then(jitter, 0.8)?
        .then(Grayscale, 0.2)
}

fn blur(kernel: usize) -> GaussianBlur {
    GaussianBlur {
        sigma: [0.1, 2.0],
        kernel: KernelSize::Fixed(kernel),
    }
}

fn simclr(
    name: &str,
    size: usize,
    scale: [f64; 2],
    s: f64,
    hue: f64,
    blur_kernel: Option<usize>,
) -> Result<Pipeline> {
    let p = crop_flip_jitter(name, size, scale, ColorJitter::new(s, s, s, hue))?;
    match blur_kernel {
        Some(k) => p.then(blur(k), 0.5),
        None => Ok(p),
    }
}

fn byol(name: &str, size: usize, kernel: usize) -> Result<Vec<Pipeline>> {
    let view = |i: usize, p_blur: f64, p_solarize: f64| -> Result<Pipeline> {
        crop_flip_jitter(
            &format!("{name}/view{i}"),
            size,
            [0.08, 1.0],
            ColorJitter::new(0.4, 0.4, 0.2, 0.1),
        )?
        .then(blur(kernel), p_blur)?
        .then(Solarize { threshold: 0.5 }, p_solarize)
    };
    Ok(vec![view(1, 1.0, 0.0)?, view(2, 0.1, 0.2)?])
}
