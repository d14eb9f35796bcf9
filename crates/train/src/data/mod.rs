//! The data side of training: which dataset a `--data-dir` holds ([`detect`]), one split of
//! it as indexed images with labels ([`open`], [`Dataset`]; mini3die rendered into the cache
//! when no directory is given, [`mini3die_default`]), images to normalised `(N, C, H, W)`
//! tensors ([`images_to_tensor`], [`image_tensor_batches`] for evaluation), and the training
//! batch sources over `noether-data`'s loader and `noether-augment`'s presets
//! ([`TwoViewSource`] for SimCLR / BYOL / VICReg, [`EquimodSource`] for EquiMod,
//! [`ActionPairSource`] for the methods that learn from 3DIEBench's actions).
//!
//! ```no_run
//! use std::sync::Arc;
//! use candle_core::Device;
//! use noether_train::data::{self, SourceConfig, TwoViewSource};
//! use noether_train::BatchSource;
//!
//! let kind = data::detect("data/cifar")?;
//! let train = Arc::new(data::open(kind, "data/cifar", kind.train_split())?);
//! let mut source = TwoViewSource::new(train, SourceConfig::new("simclr-cifar", 512), &Device::Cpu)?;
//! let pair = source.next_batch()?; // x1, x2: (512, 3, 32, 32)
//! # Ok::<(), noether_train::TrainError>(())
//! ```

mod dataset;
mod detect;
mod pairs;
mod sources;
mod tensor;

pub use dataset::{
    CACHE_3DIE_MAX_IMAGES, CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, Dataset,
    MNIST_MEAN, MNIST_STD, mini3die_default, open,
};
pub use detect::{DatasetKind, detect};
pub use pairs::{ACTION_DIM, ActionPairSource, ActionPairs};
pub use sources::{
    EquimodSource, OneViewSource, Pairing, STANDARDIZER_DRAWS, STANDARDIZER_SEED, SourceConfig,
    TwoViewSource, preset_pipelines,
};
pub use tensor::{ImageBatches, eval_image, image_tensor_batches, images_to_tensor};
