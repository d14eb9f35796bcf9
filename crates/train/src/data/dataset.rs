//! [`Dataset`]: one split of any supported format as indexable images with labels (and, for
//! the 3DIEBench layout, latents), opened by [`open`] or rendered by [`mini3die_default`].

use std::path::Path;

use noether_augment::ops::Normalize;
use noether_augment::{AugmentError, Image, Shape};
use noether_data::cifar::{self, Cifar};
use noether_data::export::cached_mini3die;
use noether_data::folder::{self, FolderOptions};
use noether_data::layout::{NORM_MEAN, NORM_STD};
use noether_data::render::Mini3dieConfig;
use noether_data::{DataError, Dataset3die, ImageSource, ImageStore, Latent, Split, mnist};

use super::detect::{DatasetKind, check_dir};
use crate::error::{Result, TrainError};

/// 3DIEBench-layout splits with at most this many images (objects x views) keep their
/// decoded images in memory after the first read (mini3die's default is 8,000 at 64 px,
/// 98 MB); larger ones (real 3DIEBench: 2.6 M) read from disk every time.
pub const CACHE_3DIE_MAX_IMAGES: usize = 200_000;

/// CIFAR-10's per-channel mean (of the training set, `[0, 1]` scale).
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// CIFAR-10's per-channel standard deviation (of the training set's pixels).
pub const CIFAR10_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];
/// CIFAR-100's per-channel mean.
pub const CIFAR100_MEAN: [f32; 3] = [0.5071, 0.4865, 0.4409];
/// CIFAR-100's per-channel standard deviation.
pub const CIFAR100_STD: [f32; 3] = [0.2673, 0.2564, 0.2762];
/// MNIST's mean.
pub const MNIST_MEAN: [f32; 1] = [0.1307];
/// MNIST's standard deviation.
pub const MNIST_STD: [f32; 1] = [0.3081];

impl DatasetKind {
    /// The per-channel normalisation of this kind's images (the last transform of every
    /// batch): 3DIEBench's [`NORM_MEAN`] / [`NORM_STD`] (also for mini3die), CIFAR's
    /// training-set statistics ([`CIFAR10_MEAN`], ...), MNIST's (0.1307, 0.3081), and
    /// ImageNet's for image folders.
    pub fn normalization(&self) -> Normalize {
        let n = |mean: &[f32], std: &[f32]| Normalize {
            mean: mean.to_vec(),
            std: std.to_vec(),
        };
        match self {
            DatasetKind::ThreeDieBench => n(&NORM_MEAN, &NORM_STD),
            DatasetKind::Cifar10 => n(&CIFAR10_MEAN, &CIFAR10_STD),
            DatasetKind::Cifar100 => n(&CIFAR100_MEAN, &CIFAR100_STD),
            DatasetKind::Mnist => n(&MNIST_MEAN, &MNIST_STD),
            DatasetKind::ImageFolder => Normalize::imagenet(),
        }
    }

    /// The split the model trains on (`train`).
    pub fn train_split(&self) -> Split {
        Split::Train
    }

    /// The held-out split evaluation reports on: `val` for 3DIEBench, `test` otherwise.
    pub fn eval_split(&self) -> Split {
        match self {
            DatasetKind::ThreeDieBench => Split::Val,
            _ => Split::Test,
        }
    }
}

/// A [`DataError`] as a [`TrainError`], keeping the file (and byte offset) it names.
pub(crate) fn data_error(e: DataError) -> TrainError {
    match e {
        DataError::Io { path, reason } => TrainError::Io {
            path,
            message: reason,
        },
        DataError::Format {
            path,
            offset,
            reason,
        } => TrainError::Io {
            path,
            message: match offset {
                Some(o) => format!("at byte {o}: {reason}"),
                None => reason,
            },
        },
        other => TrainError::Source(other.to_string()),
    }
}

/// An [`AugmentError`] as a [`TrainError`].
pub(crate) fn augment_error(e: AugmentError) -> TrainError {
    data_error(DataError::from(e))
}

enum Images {
    Store(ImageStore),
    /// Item `i` is view `i % views` of object `i / views`.
    Views(Dataset3die),
}

/// One split of a dataset: `len()` images addressable by index, each with a label; for the
/// 3DIEBench layout every view of every object is an item (`object * views + view`) with its
/// 7-float latent. Implements [`ImageSource`], so a [`noether_data::Loader`] reads it.
pub struct Dataset {
    kind: DatasetKind,
    split: Split,
    images: Images,
    shape: Option<Shape>,
    num_classes: usize,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("kind", &self.kind)
            .field("split", &self.split)
            .field("len", &self.len())
            .field("shape", &self.shape)
            .field("num_classes", &self.num_classes)
            .finish()
    }
}

impl Dataset {
    /// A dataset over images already in memory (e.g. made by a test or another loader);
    /// errors when the store is empty.
    pub fn from_store(kind: DatasetKind, split: Split, store: ImageStore) -> Result<Self> {
        if store.is_empty() {
            return Err(TrainError::Source(format!(
                "{kind} {split}: the split holds no image"
            )));
        }
        Ok(Self {
            kind,
            split,
            shape: store.uniform_shape(),
            num_classes: store.num_classes(),
            images: Images::Store(store),
        })
    }

    fn from_3die(split: Split, ds: Dataset3die) -> Result<Self> {
        let ds = if ds.len() * ds.views() <= CACHE_3DIE_MAX_IMAGES {
            ds.cached()
        } else {
            ds
        };
        // 3DIEBench's views are all of one size: the first one gives it
        let shape = ds.image(0, 0).map_err(data_error)?.shape();
        Ok(Self {
            kind: DatasetKind::ThreeDieBench,
            split,
            shape: Some(shape),
            num_classes: ds.num_classes(),
            images: Images::Views(ds),
        })
    }

    /// The format.
    pub fn kind(&self) -> DatasetKind {
        self.kind
    }

    /// The split.
    pub fn split(&self) -> Split {
        self.split
    }

    /// Number of images (3DIEBench: objects x views).
    pub fn len(&self) -> usize {
        match &self.images {
            Images::Store(s) => s.len(),
            Images::Views(d) => d.len() * d.views(),
        }
    }

    /// True when there is no image (never, after [`open`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The common shape of the images, `None` when they differ (an image folder of mixed
    /// sizes).
    pub fn uniform_shape(&self) -> Option<Shape> {
        self.shape
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Image `i`, CHW `f32` in `[0, 1]`.
    pub fn image(&self, i: usize) -> Result<Image> {
        self.check(i)?;
        match &self.images {
            Images::Store(s) => s.image(i),
            Images::Views(d) => d.image(i / d.views(), i % d.views()),
        }
        .map_err(data_error)
    }

    /// The label of image `i`.
    pub fn label(&self, i: usize) -> Option<i64> {
        match &self.images {
            Images::Store(s) => s.label(i),
            Images::Views(d) => d.objects().get(i / d.views()).map(|o| o.label),
        }
    }

    /// All labels, in image order.
    pub fn labels(&self) -> Vec<i64> {
        match &self.images {
            Images::Store(s) => s.labels().to_vec(),
            Images::Views(d) => d
                .objects()
                .iter()
                .flat_map(|o| std::iter::repeat_n(o.label, d.views()))
                .collect(),
        }
    }

    /// The 3DIEBench latent of image `i` (`None` for other formats).
    pub fn latent(&self, i: usize) -> Result<Option<Latent>> {
        self.check(i)?;
        match &self.images {
            Images::Store(_) => Ok(None),
            Images::Views(d) => d
                .latent(i / d.views(), i % d.views())
                .map(Some)
                .map_err(data_error),
        }
    }

    /// The 3DIEBench-layout reader behind this dataset (`None` for other formats): objects,
    /// views, pairs with their actions.
    pub fn views_3die(&self) -> Option<&Dataset3die> {
        match &self.images {
            Images::Views(d) => Some(d),
            Images::Store(_) => None,
        }
    }

    /// The normalisation of this dataset's format ([`DatasetKind::normalization`]).
    pub fn normalization(&self) -> Normalize {
        self.kind.normalization()
    }

    fn check(&self, i: usize) -> Result<()> {
        if i >= self.len() {
            return Err(TrainError::Source(format!(
                "{} {}: image {i} out of range for {} images",
                self.kind,
                self.split,
                self.len()
            )));
        }
        Ok(())
    }
}

impl ImageSource for Dataset {
    fn len(&self) -> usize {
        Dataset::len(self)
    }
    fn image(&self, index: usize) -> noether_data::Result<Image> {
        self.check(index)
            .map_err(|e| DataError::invalid("dataset", e.to_string()))?;
        match &self.images {
            Images::Store(s) => s.image(index),
            Images::Views(d) => d.image(index / d.views(), index % d.views()),
        }
    }
    fn label(&self, index: usize) -> Option<i64> {
        Dataset::label(self, index)
    }
}

/// Opens split `split` of a dataset of format `kind` under `dir` (from [`super::detect`] or
/// `--dataset`). Splits: 3DIEBench `train` / `val`, CIFAR and MNIST `train` / `test`; an
/// image folder reads `dir/<split>/` when that folder exists, else (`train` only) `dir`
/// itself. Errors name the directory or file (a missing split file, a truncated batch, an
/// image that does not decode) or the split a format lacks.
pub fn open(kind: DatasetKind, dir: impl AsRef<Path>, split: Split) -> Result<Dataset> {
    let dir = dir.as_ref();
    check_dir(dir)?;
    let store = match kind {
        DatasetKind::ThreeDieBench => {
            let ds = Dataset3die::open(dir, split).map_err(data_error)?;
            return Dataset::from_3die(split, ds);
        }
        DatasetKind::Cifar10 => cifar::load(dir, Cifar::Ten, split),
        DatasetKind::Cifar100 => cifar::load(dir, Cifar::Hundred, split),
        DatasetKind::Mnist => mnist::load(dir, split),
        DatasetKind::ImageFolder => {
            let sub = dir.join(split.as_str());
            let root = if sub.is_dir() {
                sub
            } else if split == Split::Train {
                dir.to_path_buf()
            } else {
                return Err(TrainError::io(
                    &sub,
                    format!("no {split} folder: an image folder without split subfolders has only a train split"),
                ));
            };
            folder::load(root, &FolderOptions::default())
        }
    }
    .map_err(data_error)?;
    Dataset::from_store(kind, split, store)
}

/// The embedded default: mini3die with `config` (the default is 10 classes x 20 objects x 50
/// views at 64 px), rendered once into the cache under `cache_root`
/// ([`noether_data::export::cached_mini3die`]; `noether_data::export::default_cache_root()`
/// is the usual root) and opened like any 3DIEBench-layout folder. Needs no file.
pub fn mini3die_default(
    config: &Mini3dieConfig,
    cache_root: impl AsRef<Path>,
    split: Split,
) -> Result<Dataset> {
    let dir = cached_mini3die(config, cache_root.as_ref(), &|| {}).map_err(data_error)?;
    open(DatasetKind::ThreeDieBench, dir, split)
}
