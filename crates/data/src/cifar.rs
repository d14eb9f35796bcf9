//! CIFAR-10 and CIFAR-100 in their binary versions (`cifar-10-batches-bin`,
//! `cifar-100-binary`).
//!
//! A CIFAR-10 record is 1 label byte then 3072 pixel bytes (1024 red, 1024 green, 1024 blue,
//! rows of 32): already CHW. Training batches are `data_batch_1.bin` .. `data_batch_5.bin`,
//! the test batch `test_batch.bin`; class names come from `batches.meta.txt`. A CIFAR-100
//! record has two label bytes, coarse (20 superclasses) then fine (100 classes), in
//! `train.bin` / `test.bin`, names in `fine_label_names.txt`. Labels out of range, trailing
//! partial records and empty files are errors that name the file and the byte offset.

use std::path::{Path, PathBuf};

use noether_augment::Shape;

use crate::error::{DataError, Result};
use crate::fsio;
use crate::split::Split;
use crate::store::ImageStore;

/// CIFAR's image shape: 3 x 32 x 32.
pub const CIFAR_SHAPE: [usize; 3] = [3, 32, 32];

/// CIFAR-10's class names, in label order (as in `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Which CIFAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cifar {
    /// CIFAR-10: one label byte per record, 10 classes.
    Ten,
    /// CIFAR-100: coarse then fine label byte per record, 20 and 100 classes.
    Hundred,
}

impl Cifar {
    /// Bytes per record: 3073 (CIFAR-10) or 3074 (CIFAR-100).
    pub fn record_len(self) -> usize {
        self.label_bytes() + 3 * 32 * 32
    }

    fn label_bytes(self) -> usize {
        match self {
            Cifar::Ten => 1,
            Cifar::Hundred => 2,
        }
    }

    /// The number of (fine) classes.
    pub fn num_classes(self) -> usize {
        match self {
            Cifar::Ten => 10,
            Cifar::Hundred => 100,
        }
    }

    /// The folder the official archive unpacks to.
    pub fn folder(self) -> &'static str {
        match self {
            Cifar::Ten => "cifar-10-batches-bin",
            Cifar::Hundred => "cifar-100-binary",
        }
    }

    /// The batch files of a split: `data_batch_{1..5}.bin` / `test_batch.bin` for CIFAR-10,
    /// `train.bin` / `test.bin` for CIFAR-100. Errors for [`Split::Val`].
    pub fn batch_files(self, split: Split) -> Result<Vec<String>> {
        match (self, split) {
            (Cifar::Ten, Split::Train) => {
                Ok((1..=5).map(|i| format!("data_batch_{i}.bin")).collect())
            }
            (Cifar::Ten, Split::Test) => Ok(vec!["test_batch.bin".into()]),
            (Cifar::Hundred, Split::Train) => Ok(vec!["train.bin".into()]),
            (Cifar::Hundred, Split::Test) => Ok(vec!["test.bin".into()]),
            (_, Split::Val) => Err(DataError::invalid(
                "split",
                "CIFAR has train and test splits, not val",
            )),
        }
    }
}

/// Decodes one binary batch held in memory (`path` names it in errors) into a store with
/// the fine labels (and, for CIFAR-100, the coarse ones). Class names are left empty.
pub fn parse_batch(bytes: &[u8], path: &Path, kind: Cifar) -> Result<ImageStore> {
    let rec = kind.record_len();
    if bytes.is_empty() {
        return Err(DataError::format(path, Some(0), "empty CIFAR batch"));
    }
    let whole = bytes.len() / rec;
    if !bytes.len().is_multiple_of(rec) {
        return Err(DataError::format(
            path,
            Some((whole * rec) as u64),
            format!(
                "truncated record: {} of {rec} bytes (records are {rec} bytes; is this {}?)",
                bytes.len() % rec,
                match kind {
                    Cifar::Ten => "CIFAR-10",
                    Cifar::Hundred => "CIFAR-100",
                }
            ),
        ));
    }
    let lb = kind.label_bytes();
    let mut pixels = Vec::with_capacity(whole * (rec - lb));
    let mut fine = Vec::with_capacity(whole);
    let mut coarse = Vec::with_capacity(if lb == 2 { whole } else { 0 });
    for (i, r) in bytes.chunks_exact(rec).enumerate() {
        let check = |byte: usize, max: u8, what: &str| {
            if r[byte] >= max {
                Err(DataError::format(
                    path,
                    Some((i * rec + byte) as u64),
                    format!("{what} label {} of record {i} is not below {max}", r[byte]),
                ))
            } else {
                Ok(i64::from(r[byte]))
            }
        };
        match kind {
            Cifar::Ten => fine.push(check(0, 10, "class")?),
            Cifar::Hundred => {
                coarse.push(check(0, 20, "coarse")?);
                fine.push(check(1, 100, "fine")?);
            }
        }
        pixels.extend_from_slice(&r[lb..]);
    }
    let [c, h, w] = CIFAR_SHAPE;
    let mut store = ImageStore::from_uniform(Shape::new(c, h, w), pixels, fine, Vec::new())?;
    if kind == Cifar::Hundred {
        store.set_coarse_labels(coarse)?;
    }
    Ok(store)
}

/// Reads one binary batch file.
pub fn read_batch(path: impl AsRef<Path>, kind: Cifar) -> Result<ImageStore> {
    let path = path.as_ref();
    parse_batch(&fsio::read(path)?, path, kind)
}

/// The folder holding the batches: `dir` itself, or `dir/<archive folder>` when that exists.
fn batch_dir(dir: &Path, kind: Cifar) -> PathBuf {
    let sub = dir.join(kind.folder());
    if sub.is_dir() { sub } else { dir.to_path_buf() }
}

/// Class names from a names file (one per line, blank lines ignored), if it is there.
fn read_names(path: &Path) -> Result<Option<Vec<String>>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = String::from_utf8(fsio::read(path)?)
        .map_err(|e| DataError::format(path, None, format!("not UTF-8: {e}")))?;
    Ok(Some(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
    ))
}

/// Loads a CIFAR split from `dir` (the batch folder or its parent): all batch files of the
/// split, in order, into one store with class names (from the names file when present,
/// else CIFAR-10's built-in names or `"0"`..`"99"` for CIFAR-100).
///
/// ```no_run
/// use noether_data::{cifar::{load, Cifar}, Split};
///
/// let train = load("data", Cifar::Ten, Split::Train)?;
/// assert_eq!(train.len(), 50_000);
/// # Ok::<(), noether_data::DataError>(())
/// ```
pub fn load(dir: impl AsRef<Path>, kind: Cifar, split: Split) -> Result<ImageStore> {
    let dir = batch_dir(dir.as_ref(), kind);
    let names_file = match kind {
        Cifar::Ten => "batches.meta.txt",
        Cifar::Hundred => "fine_label_names.txt",
    };
    let classes = match read_names(&dir.join(names_file))? {
        Some(names) if names.len() == kind.num_classes() => names,
        Some(names) => {
            return Err(DataError::format(
                dir.join(names_file),
                None,
                format!(
                    "{} class names, expected {}",
                    names.len(),
                    kind.num_classes()
                ),
            ));
        }
        None => match kind {
            Cifar::Ten => CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
            Cifar::Hundred => (0..100).map(|i| i.to_string()).collect(),
        },
    };
    let mut store = ImageStore::new(classes);
    for file in kind.batch_files(split)? {
        store.append(read_batch(dir.join(file), kind)?)?;
    }
    Ok(store)
}

/// Loads CIFAR-10 ([`load`] with [`Cifar::Ten`]).
pub fn load_cifar10(dir: impl AsRef<Path>, split: Split) -> Result<ImageStore> {
    load(dir, Cifar::Ten, split)
}

/// Loads CIFAR-100 with fine labels and coarse labels ([`load`] with [`Cifar::Hundred`]).
pub fn load_cifar100(dir: impl AsRef<Path>, split: Split) -> Result<ImageStore> {
    load(dir, Cifar::Hundred, split)
}
