//! [`DatasetKind`] and [`detect`]: which on-disk format a `--data-dir` holds, recognised from
//! its layout (or named with `--dataset NAME`, [`DatasetKind::parse`]).

use std::path::Path;
use std::str::FromStr;

use noether_data::folder::{self, FolderOptions};

use crate::error::{Result, TrainError};

/// A dataset format that noether reads from a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// The 3DIEBench layout (real 3DIEBench, or mini3die written by `cargo xtask render`):
    /// `train_images.npy` + `train_labels.npy` (or `val_*`) next to `<synset>/<model_id>/`.
    ThreeDieBench,
    /// CIFAR-10 binary batches: `cifar-10-batches-bin/` or the batch files themselves.
    Cifar10,
    /// CIFAR-100 binary batches: `cifar-100-binary/` or `train.bin` / `test.bin`.
    Cifar100,
    /// MNIST IDX files (raw or gzipped) in the folder, `raw/` or `MNIST/raw/`.
    Mnist,
    /// An image folder, one subfolder per class (torchvision's `ImageFolder`), optionally
    /// split into `train/`, `val/`, `test/` subfolders.
    ImageFolder,
}

impl DatasetKind {
    /// Every kind with its `--dataset` name.
    pub const ALL: [(&'static str, DatasetKind); 5] = [
        ("3diebench", DatasetKind::ThreeDieBench),
        ("cifar10", DatasetKind::Cifar10),
        ("cifar100", DatasetKind::Cifar100),
        ("mnist", DatasetKind::Mnist),
        ("folder", DatasetKind::ImageFolder),
    ];

    /// The kind called `name` (see [`DatasetKind::ALL`]; `3die`, `cifar-10`, `cifar-100` and
    /// `image-folder` are accepted too); the error lists the names.
    pub fn parse(name: &str) -> Result<Self> {
        let alias = match name {
            "3die" => "3diebench",
            "cifar-10" => "cifar10",
            "cifar-100" => "cifar100",
            "image-folder" | "imagefolder" => "folder",
            n => n,
        };
        Self::ALL
            .iter()
            .find(|(n, _)| *n == alias)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                TrainError::config(
                    "dataset",
                    format!("unknown dataset `{name}`; expected one of {}", names()),
                )
            })
    }

    /// The `--dataset` name.
    pub fn name(&self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| k == self)
            .map_or("?", |(n, _)| n)
    }

    /// What [`detect`] looks for to recognise this kind.
    pub fn looked_for(&self) -> &'static str {
        match self {
            DatasetKind::ThreeDieBench => {
                "3DIEBench: train_images.npy + train_labels.npy (or val_images.npy + val_labels.npy)"
            }
            DatasetKind::Cifar10 => {
                "CIFAR-10: a cifar-10-batches-bin/ folder, or data_batch_1.bin / test_batch.bin"
            }
            DatasetKind::Cifar100 => {
                "CIFAR-100: a cifar-100-binary/ folder, or train.bin / test.bin"
            }
            DatasetKind::Mnist => {
                "MNIST: train-images-idx3-ubyte or t10k-images-idx3-ubyte (also .idx3-ubyte, .gz) \
                 in the folder, raw/ or MNIST/raw/"
            }
            DatasetKind::ImageFolder => {
                "an image folder: one subfolder per class holding .png / .jpg / .jpeg images \
                 (or train/ with such subfolders)"
            }
        }
    }

    /// Whether `dir` matches this kind's layout (never true for [`DatasetKind::ImageFolder`],
    /// which [`detect`] checks last, with [`folder::scan`]).
    fn matches(&self, dir: &Path) -> bool {
        let file = |name: &str| dir.join(name).is_file();
        match self {
            DatasetKind::ThreeDieBench => {
                (file("train_images.npy") && file("train_labels.npy"))
                    || (file("val_images.npy") && file("val_labels.npy"))
            }
            DatasetKind::Cifar10 => {
                dir.join("cifar-10-batches-bin").is_dir()
                    || file("data_batch_1.bin")
                    || file("test_batch.bin")
            }
            DatasetKind::Cifar100 => {
                dir.join("cifar-100-binary").is_dir() || file("train.bin") || file("test.bin")
            }
            DatasetKind::Mnist => {
                let folders = [
                    dir.to_path_buf(),
                    dir.join("raw"),
                    dir.join("MNIST").join("raw"),
                ];
                folders.iter().any(|f| {
                    ["train", "t10k"].iter().any(|prefix| {
                        ["-images-idx3-ubyte", "-images.idx3-ubyte"]
                            .iter()
                            .any(|stem| {
                                ["", ".gz"]
                                    .iter()
                                    .any(|gz| f.join(format!("{prefix}{stem}{gz}")).is_file())
                            })
                    })
                })
            }
            DatasetKind::ImageFolder => false,
        }
    }
}

impl FromStr for DatasetKind {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn names() -> String {
    DatasetKind::ALL
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that `dir` exists and is a directory; the error names it.
pub(crate) fn check_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Err(TrainError::io(dir, "data directory does not exist"));
    }
    if !dir.is_dir() {
        return Err(TrainError::io(dir, "data directory is not a directory"));
    }
    Ok(())
}

/// Recognises the format of `dir` from its layout: the 3DIEBench split files, CIFAR-10 /
/// CIFAR-100 batches (their archive folder or the batch files themselves), MNIST IDX files,
/// and, when none of those is there, an image folder with one subfolder per class.
///
/// Errors: `dir` missing or not a directory; several formats at once (pass `--dataset`); no
/// format recognised — the message names `dir` and lists every layout looked for.
pub fn detect(dir: impl AsRef<Path>) -> Result<DatasetKind> {
    let dir = dir.as_ref();
    check_dir(dir)?;
    let found: Vec<DatasetKind> = DatasetKind::ALL
        .iter()
        .map(|(_, k)| *k)
        .filter(|k| k.matches(dir))
        .collect();
    match found.as_slice() {
        [one] => return Ok(*one),
        [] => {}
        many => {
            let list: Vec<_> = many.iter().map(|k| k.looked_for()).collect();
            return Err(TrainError::io(
                dir,
                format!(
                    "ambiguous dataset layout, it holds several: {}; choose one with --dataset \
                     ({})",
                    list.join("; "),
                    names()
                ),
            ));
        }
    }
    let options = FolderOptions::default();
    let train = dir.join("train");
    let scanned = if train.is_dir() {
        folder::scan(&train, &options).or_else(|_| folder::scan(dir, &options))
    } else {
        folder::scan(dir, &options)
    };
    match scanned {
        Ok(_) => Ok(DatasetKind::ImageFolder),
        Err(why) => {
            let list: Vec<String> = DatasetKind::ALL
                .iter()
                .map(|(_, k)| format!("- {}", k.looked_for()))
                .collect();
            Err(TrainError::io(
                dir,
                format!(
                    "unrecognised dataset layout; looked for:\n{}\n(as an image folder: {why}); \
                     or name the format with --dataset ({})",
                    list.join("\n"),
                    names()
                ),
            ))
        }
    }
}
