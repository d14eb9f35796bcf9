//! `cargo xtask train --config FILE [--resume]`: one self-supervised run described by a run
//! file (TOML), driven by `noether-train`'s [`Trainer`].
//!
//! A run file has five tables, each with `deny_unknown_fields` (an unknown key is an error
//! naming the key and the file):
//!
//! ```toml
//! [run]
//! method = "simclr"        # simclr | byol | vicreg | equimod-simclr | equimod-byol | hssl | assl
//! [data]
//! dataset = "mini3die"     # mini3die (rendered into the cache) | digits (generated) | auto
//!                          # (detect `dir`) | a --dataset name (3diebench, cifar10, cifar100,
//!                          # mnist, folder)
//! # dir = "data/cifar"     # required unless mini3die
//! preset = "simclr-cifar"  # augmentation preset
//! view_size = 32           # optional; the preset's own size otherwise
//! batch_size = 64
//! pairing = "same-image"   # or "object-views": the second view from another render of the
//!                          # object (3DIEBench layout)
//! [data.mini3die]          # optional: classes, objects_per_class, views, size, seed
//! size = 32
//! # [data.digits]          # with dataset = "digits": train, test, size, rotate, seed
//! [model]
//! backbone = "convnet"     # convnet (widths, convs_per_block) | resnet18-cifar (base_channels)
//!                          # | gcnn (widths, n, structure, kernel_size: a C_N G-CNN)
//!                          # | tcnn (widths, bundle, structure, kernel_size: a circular-
//!                          # padded CNN whose feature grid is a translation group)
//!                          # | sesn (widths, kernel_size, scales, scale_size, num_funcs: a
//!                          # scale-equivariant steerable CNN)
//! widths = [16, 32, 64]
//! [method]                 # optional: the recipe's own config, over its defaults
//! proj_hidden = 256
//! [train]                  # noether_train::TrainConfig as is
//! steps = 100
//! seed = 0
//! optimizer = { kind = "adam", lr = 1e-3 }
//! # [gessl]                # optional: wrap the method (simclr, byol, vicreg, equimod-*) in
//! #                        # GeSSL's outer step (noether_train::methods::GesslConfig; fields
//! # tasks = 2              # tasks, inner_steps, lookahead, inner_lr, meta_gradient =
//! # inner_steps = 1        # "first-order" | "hvp", hvp_radius, temperature)
//! ```
//!
//! The resolved file (defaults filled in, overrides applied) goes to the trainer with
//! [`Trainer::with_run_config`]: it is written to `config.json` in the run directory and a
//! `--resume` under a different one is refused. `train.seed` seeds the weights and the data
//! order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use clap::Args;
use noether_data::Split;
use noether_data::digits::{self, DigitsConfig};
use noether_data::export::default_cache_root;
use noether_data::render::Mini3dieConfig;
use noether_models::{
    Backbone, ConvNet, ConvNetConfig, GCnn, GCnnConfig, ParamStore, ResNet, ResNetConfig, Sesn,
    SesnConfig, Structure, TranslationCnn, TranslationCnnConfig,
};
use noether_train::data::{
    self, ActionPairSource, Dataset, DatasetKind, EquimodSource, OneViewSource, Pairing,
    SourceConfig, TwoViewSource,
};
use noether_train::methods::{
    AugSelfConfig, Byol, ByolConfig, ContextSsl, ContextSslConfig, EquimodActions,
    EquimodActionsConfig, EquimodBase, EquimodConfig, Gessl, GesslConfig, Hssl, HsslConfig,
    HsslMode, InContext, Sen, SenConfig, Sie, SieConfig, SimClr, SimClrAugSelf, SimClrConfig,
    TaskClassifier, Tasks, Vicreg, VicregConfig,
};
use noether_train::{
    BatchSource, Checkpoint, CheckpointDir, Embed, Method, PredictAction, RunSummary, TrainConfig,
    Trainer,
};
use serde::{Deserialize, Serialize};

/// Arguments of `cargo xtask train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run file (TOML; see experiments/).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Continue the run in the output directory from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// The run directory [default: runs/STEM, STEM the config file name without .toml].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Train on this directory instead of the file's data (format detected unless --dataset).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The data format: mini3die, auto, 3diebench, cifar10, cifar100, mnist, folder.
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// Override train.steps (a warm-up longer than N is cut to N).
    #[arg(long, value_name = "N")]
    steps: Option<u64>,
    /// Override data.batch_size.
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// The methods a run file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodKind {
    /// SimCLR.
    Simclr,
    /// BYOL.
    Byol,
    /// VICReg.
    Vicreg,
    /// SimCLR + EquiMod.
    EquimodSimclr,
    /// BYOL + EquiMod.
    EquimodByol,
    /// Homomorphic SSL: two fibers of one pass of a G-CNN.
    Hssl,
    /// Its augmentation-SSL counterpart: the identity fiber of two rotated copies.
    Assl,
    /// ContextSSL: an encoder and a transformer over (state, action, next state) tokens of
    /// object-view pairs (3DIEBench layout).
    Contextssl,
    /// SIE: split invariant / equivariant representation with a hypernetwork predictor
    /// (object-view pairs).
    Sie,
    /// SEN: one equivariant projection, hypernetwork predictor, InfoNCE (object-view pairs).
    Sen,
    /// EquiMod on 3D actions (the SIE reference's `SimCLREquiMod`): SEN plus an invariant
    /// SimCLR projector (object-view pairs).
    EquimodActions,
    /// SimCLR on object-view pairs plus AugSelf's relative-rotation head.
    SimclrAugself,
}

/// `[run]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// The method.
    pub method: MethodKind,
}

/// `[data.mini3die]`: the size of the rendered mini3die (defaults: `Mini3dieConfig`'s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mini3dieSection {
    /// Classes (1 to 10).
    pub classes: usize,
    /// Objects per class.
    pub objects_per_class: usize,
    /// Views per object.
    pub views: usize,
    /// Image side in pixels.
    pub size: usize,
    /// Seed of the rendering.
    pub seed: u64,
}

impl Default for Mini3dieSection {
    fn default() -> Self {
        let d = Mini3dieConfig::default();
        Mini3dieSection {
            classes: d.classes,
            objects_per_class: d.objects_per_class,
            views: d.views,
            size: d.size,
            seed: d.seed,
        }
    }
}

/// A partial `[data.mini3die]` as written: missing keys take the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mini3diePartial {
    classes: Option<usize>,
    objects_per_class: Option<usize>,
    views: Option<usize>,
    size: Option<usize>,
    seed: Option<u64>,
}

impl Mini3diePartial {
    fn resolve(self) -> Mini3dieSection {
        let d = Mini3dieSection::default();
        Mini3dieSection {
            classes: self.classes.unwrap_or(d.classes),
            objects_per_class: self.objects_per_class.unwrap_or(d.objects_per_class),
            views: self.views.unwrap_or(d.views),
            size: self.size.unwrap_or(d.size),
            seed: self.seed.unwrap_or(d.seed),
        }
    }
}

fn default_dataset() -> String {
    "mini3die".into()
}
fn default_preset() -> String {
    "simclr-cifar".into()
}
fn default_prefetch() -> usize {
    2
}

/// `[data]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataFile {
    #[serde(default = "default_dataset")]
    dataset: String,
    #[serde(default)]
    dir: Option<PathBuf>,
    #[serde(default = "default_preset")]
    preset: String,
    #[serde(default)]
    view_size: Option<usize>,
    batch_size: usize,
    #[serde(default = "default_prefetch")]
    prefetch: usize,
    #[serde(default)]
    pairing: Pairing,
    #[serde(default)]
    mini3die: Option<Mini3diePartial>,
    #[serde(default)]
    digits: Option<toml::Table>,
}

/// `[data]` resolved: `dataset` is `mini3die` (with its size) or a [`DatasetKind`] name (with
/// its directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// `mini3die` or a [`DatasetKind::name`].
    pub dataset: String,
    /// The directory (not for mini3die).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// The augmentation preset.
    pub preset: String,
    /// The view side, if not the preset's own.
    pub view_size: Option<usize>,
    /// Images per batch.
    pub batch_size: usize,
    /// Batches prepared ahead.
    pub prefetch: usize,
    /// What the two views are made from: `same-image` (default) or `object-views` (two renders
    /// of one object, 3DIEBench layout).
    #[serde(default)]
    pub pairing: Pairing,
    /// The rendered mini3die (only for mini3die).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mini3die: Option<Mini3dieSection>,
    /// The generated digits (only for digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<DigitsConfig>,
}

impl DataSection {
    /// Channels of the images: 1 for digits and MNIST, 3 otherwise.
    pub fn channels(&self) -> Result<usize> {
        Ok(match self.kind()? {
            DatasetKind::Mnist => 1,
            _ => 3,
        })
    }

    /// The format (mini3die is in the 3DIEBench layout).
    pub fn kind(&self) -> Result<DatasetKind> {
        if self.mini3die.is_some() {
            return Ok(DatasetKind::ThreeDieBench);
        }
        if self.digits.is_some() {
            return Ok(DatasetKind::Mnist);
        }
        Ok(DatasetKind::parse(&self.dataset)?)
    }
}

/// `[model]`: the backbone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "backbone", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ModelSection {
    /// A plain ConvNet (`noether_models::ConvNet`).
    Convnet {
        /// Channels of each block.
        widths: Vec<usize>,
        /// Convolutions per block.
        #[serde(default = "one")]
        convs_per_block: usize,
    },
    /// ResNet-18 with the CIFAR stem.
    Resnet18Cifar {
        /// Channels of the first stage (64).
        #[serde(default = "sixty_four")]
        base_channels: usize,
    },
    /// ResNet-18 with torchvision's ImageNet stem (ContextSSL's and SIE's encoder at 128 px),
    /// `fc` removed.
    Resnet18 {
        /// Channels of the first stage (64).
        #[serde(default = "sixty_four")]
        base_channels: usize,
    },
    /// A `C_N` G-CNN (`noether_models::GCnn`), or one of its no-structure ablations.
    Gcnn {
        /// Channels per group element of each block.
        widths: Vec<usize>,
        /// The group order `N`.
        n: usize,
        /// `equivariant` (default), `shuffled` or `plain`.
        #[serde(default)]
        structure: Structure,
        /// Kernel side (3).
        #[serde(default = "three")]
        kernel_size: usize,
    },
    /// A circular-padded CNN read as a translation fiber backbone
    /// (`noether_models::TranslationCnn`), or its shuffled ablation.
    Tcnn {
        /// Channels of each block.
        widths: Vec<usize>,
        /// Side of a fiber bundle on the feature grid (1).
        #[serde(default = "one")]
        bundle: usize,
        /// `equivariant` (default) or `shuffled`.
        #[serde(default)]
        structure: Structure,
        /// Kernel side (3).
        #[serde(default = "three")]
        kernel_size: usize,
    },
    /// A scale-equivariant steerable CNN (`noether_models::Sesn`).
    Sesn {
        /// Channels per scale of each block.
        widths: Vec<usize>,
        /// Kernel side (7).
        #[serde(default = "seven")]
        kernel_size: usize,
        /// The basis scales (`0.9 * 1.41^s`, `s = 0, 1, 2`).
        #[serde(default = "sesn_scales")]
        scales: Vec<f64>,
        /// Interscale taps (1).
        #[serde(default = "one")]
        scale_size: usize,
        /// Hermite-Gaussian functions per kernel (6).
        #[serde(default = "six")]
        num_funcs: usize,
    },
}

fn seven() -> usize {
    7
}

fn six() -> usize {
    6
}

fn sesn_scales() -> Vec<f64> {
    SesnConfig::new(1, vec![1]).scales
}

fn three() -> usize {
    3
}

fn one() -> usize {
    1
}
fn sixty_four() -> usize {
    64
}

/// The whole run file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunFileRaw {
    run: RunSection,
    data: DataFile,
    model: ModelSection,
    #[serde(default)]
    method: Option<toml::Table>,
    train: TrainConfig,
    #[serde(default)]
    gessl: Option<toml::Table>,
}

/// A method's own config, resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MethodSection {
    /// SimCLR's.
    Simclr(SimClrConfig),
    /// BYOL's.
    Byol(ByolConfig),
    /// VICReg's.
    Vicreg(VicregConfig),
    /// EquiMod's (SimCLR or BYOL base).
    Equimod(EquimodConfig),
    /// Homomorphic SSL's or A-SSL's.
    Hssl(HsslConfig),
    /// ContextSSL's.
    Contextssl(ContextSslConfig),
    /// SIE's.
    Sie(SieConfig),
    /// SEN's.
    Sen(SenConfig),
    /// EquiMod-on-actions'.
    EquimodActions(EquimodActionsConfig),
    /// SimCLR + AugSelf's.
    Augself(AugSelfConfig),
}

impl MethodSection {
    /// Whether the method trains on augmented views of the preset (not on object-view pairs
    /// with their actions).
    pub fn trains_on_augmentations(&self) -> bool {
        !matches!(
            self,
            MethodSection::Contextssl(_)
                | MethodSection::Sie(_)
                | MethodSection::Sen(_)
                | MethodSection::EquimodActions(_)
                | MethodSection::Augself(_)
        )
    }
}

/// A run file resolved: defaults filled in, overrides applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFile {
    /// `[run]`.
    pub run: RunSection,
    /// `[data]`.
    pub data: DataSection,
    /// `[model]`.
    pub model: ModelSection,
    /// `[method]`.
    pub method: MethodSection,
    /// `[train]`.
    pub train: TrainConfig,
    /// `[gessl]`: the method wrapped in GeSSL's outer step (absent from the resolved file when
    /// not set, so the configs of plain runs are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gessl: Option<GesslConfig>,
}

/// What the command line overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--dataset`.
    pub dataset: Option<String>,
    /// `--steps`.
    pub steps: Option<u64>,
    /// `--batch-size`.
    pub batch_size: Option<usize>,
    /// `train.seed` (the seeds of `cargo xtask reproduce`).
    pub seed: Option<u64>,
    /// `[data.mini3die]` as a whole (the sizes of `reproduce`'s profiles).
    pub mini3die: Option<Mini3dieSection>,
    /// `[data.digits]` as a whole (the sizes of `reproduce`'s profiles).
    pub digits: Option<DigitsConfig>,
}

/// `defaults` with the keys of `table` laid over it, as `T` (unknown keys are refused by `T`).
fn overlay<T: Serialize + serde::de::DeserializeOwned>(
    defaults: &T,
    table: &toml::Table,
) -> Result<T> {
    let mut merged = toml::Table::try_from(defaults).context("serialising the defaults")?;
    for (k, v) in table {
        merged.insert(k.clone(), v.clone());
    }
    toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("{}", e.message().trim()))
}

impl RunFile {
    /// Reads, resolves and validates `path`; every error names the file and the field.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<RunFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read run file {}", path.display()))?;
        Self::parse(&text, overrides).with_context(|| format!("run file {}", path.display()))
    }

    /// [`RunFile::load`] on text.
    pub fn parse(text: &str, overrides: &Overrides) -> Result<RunFile> {
        let raw: RunFileRaw = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let data = resolve_data(raw.data, overrides)?;
        let preset = noether_augment::Preset::parse(&data.preset)
            .map_err(|e| anyhow::anyhow!("data.preset: {e}"))?;
        let mut table = raw.method.unwrap_or_default();
        let field = |e: anyhow::Error| e.context("in [method]");
        let method = match raw.run.method {
            MethodKind::Simclr => {
                MethodSection::Simclr(overlay(&SimClrConfig::default(), &table).map_err(field)?)
            }
            MethodKind::Byol => {
                MethodSection::Byol(overlay(&ByolConfig::default(), &table).map_err(field)?)
            }
            MethodKind::Vicreg => {
                MethodSection::Vicreg(overlay(&VicregConfig::default(), &table).map_err(field)?)
            }
            MethodKind::EquimodSimclr | MethodKind::EquimodByol => {
                let byol = raw.run.method == MethodKind::EquimodByol;
                let defaults = if byol {
                    EquimodConfig::byol_cifar()
                } else {
                    EquimodConfig::simclr_cifar()
                };
                if !table.contains_key("t_dim") {
                    // The length of the preset's EquiMod vector, unless set by hand.
                    let layout = preset.equimod_layout().with_context(|| {
                        format!("data.preset: {} has no EquiMod vector", preset.name())
                    })?;
                    table.insert("t_dim".into(), toml::Value::Integer(layout.len() as i64));
                }
                let c: EquimodConfig = overlay(&defaults, &table).map_err(field)?;
                if matches!(c.base, EquimodBase::Byol { .. }) != byol {
                    bail!("method.base: its kind does not match run.method");
                }
                MethodSection::Equimod(c)
            }
            MethodKind::Hssl | MethodKind::Assl => {
                if table.contains_key("mode") {
                    bail!("method.mode: set by run.method (hssl or assl), not in [method]");
                }
                let mode = if raw.run.method == MethodKind::Hssl {
                    HsslMode::Homomorphic
                } else {
                    HsslMode::Augmented
                };
                let c: HsslConfig = overlay(&HsslConfig::default(), &table).map_err(field)?;
                MethodSection::Hssl(HsslConfig { mode, ..c })
            }
            MethodKind::Contextssl => MethodSection::Contextssl(
                overlay(&ContextSslConfig::default(), &table).map_err(field)?,
            ),
            MethodKind::Sie => {
                MethodSection::Sie(overlay(&SieConfig::default(), &table).map_err(field)?)
            }
            MethodKind::Sen => {
                MethodSection::Sen(overlay(&SenConfig::default(), &table).map_err(field)?)
            }
            MethodKind::EquimodActions => MethodSection::EquimodActions(
                overlay(&EquimodActionsConfig::default(), &table).map_err(field)?,
            ),
            MethodKind::SimclrAugself => {
                MethodSection::Augself(overlay(&AugSelfConfig::default(), &table).map_err(field)?)
            }
        };
        // `--batch-size` below ContextSSL's block shrinks the block to one sequence per batch
        // (the smoke profile's tiny batches); the run file's own batch must fit its block.
        let method = match (method, overrides.batch_size) {
            (MethodSection::Contextssl(mut c), Some(b)) if b < c.block_pairs => {
                c.block_pairs = b;
                MethodSection::Contextssl(c)
            }
            (m, _) => m,
        };
        let mut train = raw.train;
        if let Some(seed) = overrides.seed {
            train.seed = seed;
        }
        if let Some(steps) = overrides.steps {
            train.steps = steps;
            // A shorter run keeps its warm-up inside it.
            if let noether_train::ScheduleConfig::WarmupCosine { warmup_steps, .. } =
                &mut train.schedule
            {
                *warmup_steps = (*warmup_steps).min(steps);
            }
        }
        train.validate().context("in [train]")?;
        match &raw.model {
            ModelSection::Convnet {
                widths,
                convs_per_block,
            } => {
                if widths.is_empty() || widths.contains(&0) {
                    bail!("model.widths: must be a non-empty list of widths >= 1");
                }
                if *convs_per_block == 0 {
                    bail!("model.convs_per_block: must be >= 1");
                }
            }
            ModelSection::Resnet18Cifar { base_channels }
            | ModelSection::Resnet18 { base_channels } => {
                if *base_channels == 0 {
                    bail!("model.base_channels: must be >= 1");
                }
            }
            ModelSection::Gcnn { .. } => {
                gcnn_config(&raw.model, 3)?
                    .validate()
                    .map_err(|e| anyhow::anyhow!("model.{e}"))?;
            }
            ModelSection::Tcnn { .. } => {
                tcnn_config(&raw.model, 3)?
                    .validate()
                    .map_err(|e| anyhow::anyhow!("model.{e}"))?;
            }
            ModelSection::Sesn { .. } => {
                sesn_config(&raw.model, 3)?
                    .validate()
                    .map_err(|e| anyhow::anyhow!("model.{e}"))?;
            }
        }
        let gessl = match &raw.gessl {
            Some(t) => {
                Some(overlay(&GesslConfig::default(), t).map_err(|e| e.context("in [gessl]"))?)
            }
            None => None,
        };
        let file = RunFile {
            run: raw.run,
            data,
            model: raw.model,
            method,
            train,
            gessl,
        };
        file.check_method()?;
        Ok(file)
    }

    /// Validates the method's config (field names as `noether-train` spells them).
    fn check_method(&self) -> Result<()> {
        if let Some(g) = &self.gessl {
            if !matches!(
                self.method,
                MethodSection::Simclr(_)
                    | MethodSection::Byol(_)
                    | MethodSection::Vicreg(_)
                    | MethodSection::Equimod(_)
            ) {
                bail!(
                    "[gessl]: GeSSL wraps simclr, byol, vicreg, equimod-simclr or equimod-byol, \
                     not run.method = \"{}\"",
                    self.method_name()
                );
            }
            g.validate().context("in [gessl]")?;
        }
        match &self.method {
            MethodSection::Simclr(c) => c.validate(),
            MethodSection::Byol(c) => c.validate(),
            MethodSection::Vicreg(c) => c.validate(),
            MethodSection::Equimod(c) => c.validate(),
            MethodSection::Contextssl(c) => {
                if !self.data.batch_size.is_multiple_of(c.block_pairs) {
                    bail!(
                        "contextssl.block_pairs: the batch of {} pairs (data.batch_size) is not a \
                         multiple of block_pairs {}",
                        self.data.batch_size,
                        c.block_pairs
                    );
                }
                c.validate()
            }
            MethodSection::Sie(c) => c.validate(),
            MethodSection::Sen(c) => c.validate(),
            MethodSection::EquimodActions(c) => c.validate(),
            MethodSection::Augself(c) => c.validate(),
            MethodSection::Hssl(c) => match &self.model {
                ModelSection::Gcnn { n, .. } => {
                    if let Some(d) = c.distances.iter().find(|&&d| d > n / 2) {
                        bail!(
                            "hssl.distances: {d} is more than N / 2 = {} for C{n}",
                            n / 2
                        );
                    }
                    c.validate()
                }
                // translations: the grid, hence the largest distance, comes with the images
                ModelSection::Tcnn { .. } => c.validate(),
                ModelSection::Sesn { scales, .. } => {
                    if let Some(d) = c.distances.iter().find(|&&d| d >= scales.len()) {
                        bail!(
                            "hssl.distances: {d} is more than S - 1 for {} scales",
                            scales.len()
                        );
                    }
                    c.validate()
                }
                _ => bail!(
                    "run.method = \"{}\" reads fibers along a group axis: it needs \
                     model.backbone = \"gcnn\", \"tcnn\" or \"sesn\"",
                    c.mode.method_name()
                ),
            },
        }
        .context("in [method]")
    }

    /// Reads back the resolved file that [`RunFile::to_json`] wrote (a run's `config.json`);
    /// the method section is read as the config of `run.method`.
    pub fn from_json(value: serde_json::Value) -> Result<RunFile> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            run: RunSection,
            data: DataSection,
            model: ModelSection,
            method: serde_json::Value,
            train: TrainConfig,
            #[serde(default)]
            gessl: Option<GesslConfig>,
        }
        let raw: Raw = serde_json::from_value(value)?;
        let m = raw.method;
        let method = match raw.run.method {
            MethodKind::Simclr => MethodSection::Simclr(serde_json::from_value(m)?),
            MethodKind::Byol => MethodSection::Byol(serde_json::from_value(m)?),
            MethodKind::Vicreg => MethodSection::Vicreg(serde_json::from_value(m)?),
            MethodKind::EquimodSimclr | MethodKind::EquimodByol => {
                MethodSection::Equimod(serde_json::from_value(m).context("in method")?)
            }
            MethodKind::Hssl | MethodKind::Assl => {
                MethodSection::Hssl(serde_json::from_value(m).context("in method")?)
            }
            MethodKind::Contextssl => {
                MethodSection::Contextssl(serde_json::from_value(m).context("in method")?)
            }
            MethodKind::Sie => MethodSection::Sie(serde_json::from_value(m)?),
            MethodKind::Sen => MethodSection::Sen(serde_json::from_value(m)?),
            MethodKind::EquimodActions => MethodSection::EquimodActions(serde_json::from_value(m)?),
            MethodKind::SimclrAugself => MethodSection::Augself(serde_json::from_value(m)?),
        };
        let file = RunFile {
            run: raw.run,
            data: raw.data,
            model: raw.model,
            method,
            train: raw.train,
            gessl: raw.gessl,
        };
        file.train.validate().context("in train")?;
        file.check_method()?;
        Ok(file)
    }

    /// The resolved file as JSON, for [`Trainer::with_run_config`].
    pub fn to_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).context("serialising the resolved run file")
    }

    /// `run.method` as the run file spells it.
    pub fn method_name(&self) -> String {
        serde_json::to_value(self.run.method)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The batch-source settings of the run (preset, sizes, seed).
    pub fn source_config(&self) -> SourceConfig {
        SourceConfig {
            preset: self.data.preset.clone(),
            view_size: self.data.view_size,
            batch_size: self.data.batch_size,
            seed: self.train.seed,
            prefetch: self.data.prefetch,
            pairing: self.data.pairing,
        }
    }
}

fn resolve_data(d: DataFile, o: &Overrides) -> Result<DataSection> {
    let mut dataset = o.dataset.clone().unwrap_or(d.dataset);
    let mut dir = d.dir;
    if let Some(od) = &o.data_dir {
        dir = Some(od.clone());
        if o.dataset.is_none() && dataset == "mini3die" {
            dataset = "auto".into();
        }
    }
    let batch_size = o.batch_size.unwrap_or(d.batch_size);
    if batch_size == 0 {
        bail!("data.batch_size: must be >= 1");
    }
    if d.view_size == Some(0) {
        bail!("data.view_size: must be >= 1");
    }
    let mut out = DataSection {
        dataset: dataset.clone(),
        dir: None,
        preset: d.preset,
        view_size: d.view_size,
        batch_size,
        prefetch: d.prefetch,
        pairing: d.pairing,
        mini3die: None,
        digits: None,
    };
    if dataset == "digits" {
        if dir.is_some() {
            bail!("data.dir: not used with dataset = \"digits\" (they are generated)");
        }
        let config = match (&o.digits, &d.digits) {
            (Some(c), _) => c.clone(),
            (None, Some(t)) => {
                overlay(&DigitsConfig::default(), t).map_err(|e| e.context("in [data.digits]"))?
            }
            (None, None) => DigitsConfig::default(),
        };
        config.validate().context("in [data.digits]")?;
        out.digits = Some(config);
        return Ok(out);
    }
    if d.digits.is_some() && o.data_dir.is_none() {
        bail!("data.digits: only used with dataset = \"digits\"");
    }
    if dataset == "mini3die" {
        if dir.is_some() {
            bail!("data.dir: not used with dataset = \"mini3die\" (use \"3diebench\" or \"auto\")");
        }
        out.mini3die = Some(match &o.mini3die {
            Some(m) => m.clone(),
            None => d.mini3die.unwrap_or_default().resolve(),
        });
        return Ok(out);
    }
    // --data-dir replaces the file's data, mini3die size included.
    if d.mini3die.is_some() && o.data_dir.is_none() {
        bail!("data.mini3die: only used with dataset = \"mini3die\"");
    }
    let Some(dir) = dir else {
        bail!("data.dir: required with dataset = \"{dataset}\" (or pass --data-dir)");
    };
    if !dir.is_dir() {
        bail!(
            "data directory {} does not exist (data.dir / --data-dir)",
            dir.display()
        );
    }
    let kind = if dataset == "auto" {
        data::detect(&dir)?
    } else {
        DatasetKind::parse(&dataset).context("data.dataset")?
    };
    out.dataset = kind.name().into();
    out.dir = Some(dir);
    Ok(out)
}

/// Opens a split of the run's data (`Split::Train`, or the kind's evaluation split).
pub fn open_data(d: &DataSection, split: Split) -> Result<Arc<Dataset>> {
    let ds = if let Some(m) = &d.mini3die {
        let config = Mini3dieConfig {
            classes: m.classes,
            objects_per_class: m.objects_per_class,
            views: m.views,
            size: m.size,
            seed: m.seed,
            ..Mini3dieConfig::default()
        };
        data::mini3die_default(&config, default_cache_root(), split)
            .context("rendering / opening mini3die")?
    } else if let Some(c) = &d.digits {
        let store = digits::generate(c, split).context("generating the digits")?;
        Dataset::from_store(DatasetKind::Mnist, split, store).context("digits")?
    } else {
        let dir = d.dir.as_deref().context("data.dir missing")?;
        let kind = DatasetKind::parse(&d.dataset)?;
        data::open(kind, dir, split)
            .with_context(|| format!("opening {} in {}", kind.name(), dir.display()))?
    };
    Ok(Arc::new(ds))
}

/// Runs the subcommand.
pub fn run(args: TrainArgs) -> Result<()> {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        dataset: args.dataset.clone(),
        steps: args.steps,
        batch_size: args.batch_size,
        ..Overrides::default()
    };
    let file = RunFile::load(&args.config, &overrides)?;
    let out = match &args.out {
        Some(o) => o.clone(),
        None => {
            let stem = args
                .config
                .file_stem()
                .context("--config: the file has no name")?;
            PathBuf::from("runs").join(stem)
        }
    };
    if args.resume
        && let Some(step) = finished_step(&out, &file.train)?
    {
        println!(
            "{}: already finished at step {step}/{}; nothing to do (start a new run with \
             another --out)",
            out.display(),
            file.train.steps
        );
        return Ok(());
    }
    let stop = install_ctrlc();
    let device = crate::info::device()?;
    let trainer = Trainer::new(file.train.clone(), &out)?
        .with_run_config(file.to_json()?)
        .with_stop_flag(stop)
        .with_progress(!args.no_progress);
    let summary = train(&file, &trainer, &device, args.resume)?;
    println!("{summary}");
    println!("run directory: {}", out.display());
    if summary.interrupted {
        println!(
            "interrupted; resume with: cargo xtask train --config {} --out {} --resume",
            args.config.display(),
            out.display()
        );
    }
    Ok(())
}

/// A stop flag that the first Ctrl-C sets (the trainer then checkpoints and returns); a
/// second Ctrl-C exits at once with status 130 (the last committed checkpoint stays valid).
pub fn install_ctrlc() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let presses = Arc::new(AtomicUsize::new(0));
    let flag = stop.clone();
    let handler = ctrlc::set_handler(move || {
        if presses.fetch_add(1, Ordering::SeqCst) >= 1 {
            eprintln!("\nsecond Ctrl-C: exiting without a final checkpoint");
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: stopping after this step and writing a checkpoint");
        flag.store(true, Ordering::SeqCst);
    });
    if let Err(e) = handler {
        eprintln!("warning: no Ctrl-C handler ({e})");
    }
    stop
}

/// The step of the run's last checkpoint when it has reached `train.steps`.
pub fn finished_step(out: &Path, train: &TrainConfig) -> Result<Option<u64>> {
    let Some(dir) = CheckpointDir::new(out).latest()? else {
        return Ok(None);
    };
    let step = Checkpoint::read(&dir)?.state.step;
    Ok((step >= train.steps).then_some(step))
}

/// What to do with a method once [`with_method`] has built it: train it, evaluate it, ...
/// (`visit` is generic over the method, which a closure cannot be).
pub trait Visit {
    /// The result.
    type Out;
    /// Called once with the built method (fresh weights from `train.seed`) and a maker of its
    /// training batch source (not called, no data loader is started).
    fn visit<M, S>(self, method: &mut M, source: impl FnOnce() -> Result<S>) -> Result<Self::Out>
    where
        M: Method + Embed,
        S: BatchSource<Batch = M::Batch>;

    /// Called instead of [`Visit::visit`] for the methods GeSSL can wrap (all but hssl /
    /// assl), with the run's `[gessl]` and a maker of the method's batch source over any
    /// dataset with any seed (`source_on`, for held-out tasks). By default: the method wrapped
    /// in [`Gessl`] with its source grouped into [`Tasks`] when `[gessl]` is set, else as is.
    fn visit_tasked<M, S>(
        self,
        method: &mut M,
        source: impl FnOnce() -> Result<S>,
        source_on: impl Fn(Arc<Dataset>, u64) -> Result<S>,
        gessl: Option<&GesslConfig>,
    ) -> Result<Self::Out>
    where
        Self: Sized,
        M: Method + Embed + TaskClassifier,
        S: BatchSource<Batch = M::Batch>,
    {
        let _ = source_on;
        match gessl {
            Some(c) => {
                let mut g = Gessl::new(method, c)?;
                self.visit(&mut g, || Ok(Tasks::new(source()?, c.tasks)?))
            }
            None => self.visit(method, source),
        }
    }

    /// Called instead of [`Visit::visit`] for methods with a context (ContextSSL), so that
    /// evaluation can run the in-context protocol. By default: [`Visit::visit`].
    fn visit_context<M, S>(
        self,
        method: &mut M,
        source: impl FnOnce() -> Result<S>,
    ) -> Result<Self::Out>
    where
        Self: Sized,
        M: Method + InContext,
        S: BatchSource<Batch = M::Batch>,
    {
        self.visit(method, source)
    }

    /// Called instead of [`Visit::visit`] for methods with an action-conditioned predictor
    /// (SIE, SEN), so that evaluation can score it by retrieval. By default: [`Visit::visit`].
    fn visit_paired<M, S>(
        self,
        method: &mut M,
        source: impl FnOnce() -> Result<S>,
    ) -> Result<Self::Out>
    where
        Self: Sized,
        M: Method + Embed + PredictAction,
        S: BatchSource<Batch = M::Batch>,
    {
        self.visit(method, source)
    }
}

/// Trains the visited method with `trainer`, from its last checkpoint when `resume`.
struct TrainVisit<'a> {
    trainer: &'a Trainer,
    resume: bool,
}

impl Visit for TrainVisit<'_> {
    type Out = RunSummary;
    fn visit<M, S>(self, m: &mut M, source: impl FnOnce() -> Result<S>) -> Result<RunSummary>
    where
        M: Method + Embed,
        S: BatchSource<Batch = M::Batch>,
    {
        let mut s = source()?;
        Ok(self.trainer.run(m, &mut s, self.resume)?)
    }
}

/// Builds the backbone, method and source of `file` and runs `trainer` on them.
pub fn train(
    file: &RunFile,
    trainer: &Trainer,
    device: &Device,
    resume: bool,
) -> Result<RunSummary> {
    with_method(file, device, TrainVisit { trainer, resume })
}

/// Builds the backbone and method of `file` on `device` (weights from `train.seed`) and hands
/// them to `visitor`, with a maker of the training batch source over the training split.
pub fn with_method<V: Visit>(file: &RunFile, device: &Device, visitor: V) -> Result<V::Out> {
    let in_channels = file.data.channels()?;
    let model = &file.model;
    if let MethodSection::Hssl(c) = &file.method {
        let store = ParamStore::seeded(file.train.seed);
        let source = || {
            OneViewSource::new(
                open_data(&file.data, Split::Train)?,
                file.source_config(),
                device,
            )
            .context("data source")
        };
        return match model {
            ModelSection::Tcnn { .. } => {
                let make = backbone_maker(
                    tcnn_config(model, in_channels)?,
                    device,
                    TranslationCnn::new,
                );
                let mut m = Hssl::new(store.clone(), make(&store)?, c, DType::F32, device)?;
                visitor.visit(&mut m, source)
            }
            ModelSection::Sesn { .. } => {
                let make = backbone_maker(sesn_config(model, in_channels)?, device, Sesn::new);
                let mut m = Hssl::new(store.clone(), make(&store)?, c, DType::F32, device)?;
                visitor.visit(&mut m, source)
            }
            _ => {
                let make = backbone_maker(gcnn_config(model, in_channels)?, device, GCnn::new);
                let mut m = Hssl::new(store.clone(), make(&store)?, c, DType::F32, device)?;
                visitor.visit(&mut m, source)
            }
        };
    }
    match model {
        ModelSection::Sesn { .. } => {
            let make = backbone_maker(sesn_config(model, in_channels)?, device, Sesn::new);
            with_backbone(file, device, make, visitor)
        }
        ModelSection::Tcnn { .. } => {
            let make = backbone_maker(
                tcnn_config(model, in_channels)?,
                device,
                TranslationCnn::new,
            );
            with_backbone(file, device, make, visitor)
        }
        ModelSection::Gcnn { .. } => {
            let make = backbone_maker(gcnn_config(model, in_channels)?, device, GCnn::new);
            with_backbone(file, device, make, visitor)
        }
        ModelSection::Convnet {
            widths,
            convs_per_block,
        } => {
            let cfg = ConvNetConfig {
                in_channels,
                widths: widths.clone(),
                convs_per_block: *convs_per_block,
                num_classes: None,
            };
            with_backbone(
                file,
                device,
                backbone_maker(cfg, device, ConvNet::new),
                visitor,
            )
        }
        ModelSection::Resnet18Cifar { base_channels }
        | ModelSection::Resnet18 { base_channels } => {
            let stem = match model {
                ModelSection::Resnet18 { .. } => noether_models::Stem::ImageNet,
                _ => noether_models::Stem::Cifar,
            };
            let cfg = ResNetConfig {
                base_channels: *base_channels,
                ..ResNetConfig::new(noether_models::ResNetDepth::R18, stem)
            };
            with_backbone(
                file,
                device,
                backbone_maker(cfg, device, ResNet::new),
                visitor,
            )
        }
    }
}

/// A maker of the backbone `new(&config, vb)` under `backbone.` of a store, in f32 on
/// `device` (called once per store: BYOL's target gets its own copy).
fn backbone_maker<C, B>(
    config: C,
    device: &Device,
    new: fn(&C, VarBuilder) -> noether_models::Result<B>,
) -> impl Fn(&ParamStore) -> noether_train::Result<B> {
    let dev = device.clone();
    move |s| {
        Ok(new(
            &config,
            s.var_builder(DType::F32, &dev).pp("backbone"),
        )?)
    }
}

/// The G-CNN settings of a `gcnn` model section for images of `in_channels` channels.
fn gcnn_config(model: &ModelSection, in_channels: usize) -> Result<GCnnConfig> {
    let ModelSection::Gcnn {
        widths,
        n,
        structure,
        kernel_size,
    } = model
    else {
        bail!("model.backbone: expected \"gcnn\"");
    };
    Ok(GCnnConfig {
        in_channels,
        widths: widths.clone(),
        n: *n,
        kernel_size: *kernel_size,
        structure: *structure,
    })
}

/// The translation-CNN settings of a `tcnn` model section for images of `in_channels`
/// channels.
fn tcnn_config(model: &ModelSection, in_channels: usize) -> Result<TranslationCnnConfig> {
    let ModelSection::Tcnn {
        widths,
        bundle,
        structure,
        kernel_size,
    } = model
    else {
        bail!("model.backbone: expected \"tcnn\"");
    };
    Ok(TranslationCnnConfig {
        in_channels,
        widths: widths.clone(),
        kernel_size: *kernel_size,
        bundle: *bundle,
        structure: *structure,
    })
}

/// The SESN settings of a `sesn` model section for images of `in_channels` channels.
fn sesn_config(model: &ModelSection, in_channels: usize) -> Result<SesnConfig> {
    let ModelSection::Sesn {
        widths,
        kernel_size,
        scales,
        scale_size,
        num_funcs,
    } = model
    else {
        bail!("model.backbone: expected \"sesn\"");
    };
    Ok(SesnConfig {
        in_channels,
        widths: widths.clone(),
        kernel_size: *kernel_size,
        scales: scales.clone(),
        scale_size: *scale_size,
        num_funcs: *num_funcs,
    })
}

fn with_backbone<B: Backbone, V: Visit>(
    file: &RunFile,
    device: &Device,
    make: impl Fn(&ParamStore) -> noether_train::Result<B>,
    visitor: V,
) -> Result<V::Out> {
    let store = ParamStore::seeded(file.train.seed);
    let dt = DType::F32;
    let train = || open_data(&file.data, Split::Train);
    let seed = file.train.seed;
    let gessl = file.gessl.as_ref();
    let config = |seed| SourceConfig {
        seed,
        ..file.source_config()
    };
    let two_view =
        |data, seed| TwoViewSource::new(data, config(seed), device).context("data source");
    let action_pairs =
        |data, seed| ActionPairSource::new(data, config(seed), device).context("data source");
    match &file.method {
        MethodSection::Simclr(c) => {
            let mut m = SimClr::new(store.clone(), make(&store)?, c, dt, device)?;
            visitor.visit_tasked(&mut m, || two_view(train()?, seed), two_view, gessl)
        }
        MethodSection::Vicreg(c) => {
            let mut m = Vicreg::new(store.clone(), make(&store)?, c, dt, device)?;
            visitor.visit_tasked(&mut m, || two_view(train()?, seed), two_view, gessl)
        }
        MethodSection::Byol(c) => {
            let mut m = Byol::new(store, make, c, dt, device)?;
            visitor.visit_tasked(&mut m, || two_view(train()?, seed), two_view, gessl)
        }
        MethodSection::Equimod(c) => {
            let mut m = noether_train::methods::Equimod::new(store, make, c, dt, device)?;
            let source = |data, seed| {
                let source =
                    EquimodSource::new(data, config(seed), device).context("data source")?;
                let t_dim = source.layout().len();
                if c.t_dim != t_dim {
                    bail!(
                        "method.t_dim: {} but preset {} gives EquiMod vectors of {t_dim}",
                        c.t_dim,
                        file.data.preset
                    );
                }
                Ok(source)
            };
            visitor.visit_tasked(&mut m, || source(train()?, seed), source, gessl)
        }
        MethodSection::Contextssl(c) => {
            let mut m = ContextSsl::new(store.clone(), make(&store)?, c, dt, device)?;
            visitor.visit_context(&mut m, || action_pairs(train()?, seed))
        }
        MethodSection::Sie(c) => {
            let mut m = Sie::new(store.clone(), make(&store)?, c, dt, device)?;
            visitor.visit_paired(&mut m, || action_pairs(train()?, seed))
        }
        MethodSection::Sen(c) => {
            let mut m = Sen::new(store.clone(), make(&store)?, c, dt, device)?;
            visitor.visit_paired(&mut m, || action_pairs(train()?, seed))
        }
        MethodSection::EquimodActions(c) => {
            let mut m = EquimodActions::new(store.clone(), make(&store)?, c, dt, device)?;
            visitor.visit_paired(&mut m, || action_pairs(train()?, seed))
        }
        MethodSection::Augself(c) => {
            let mut m = SimClrAugSelf::new(store.clone(), make(&store)?, c, dt, device)?;
            visitor.visit(&mut m, || action_pairs(train()?, seed))
        }
        MethodSection::Hssl(_) => bail!("run.method: hssl / assl are built by with_method"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `*_paper.toml` resolves and validates (with a data directory given, as a user
    /// would), including the GPU-sized ones the CLI test does not train.
    #[test]
    fn paper_run_files_resolve() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("experiments/") {
            let path = entry.expect("entry").path();
            if !path.to_string_lossy().ends_with("_paper.toml") {
                continue;
            }
            let overrides = Overrides {
                data_dir: Some(std::env::temp_dir()),
                ..Overrides::default()
            };
            let file = RunFile::load(&path, &overrides)
                .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            assert!(file.train.steps > 0);
            n += 1;
        }
        assert!(n >= 6, "{n} paper files");
    }
}
