//! MNIST (and Fashion-MNIST, KMNIST: the same files) in the IDX format, raw or gzipped.
//!
//! An IDX file starts with a big-endian `u32` magic number: `0x00000803` = 2051 for images
//! (unsigned bytes, 3 dimensions), `0x00000801` = 2049 for labels (1 dimension), then one
//! big-endian `u32` per dimension, then the bytes. Files are `train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each
//! possibly with `.gz` (gzip is recognised by its magic number, whatever the name) or with
//! `.idx` instead of `-idx`; they may sit in `dir`, `dir/raw` or `dir/MNIST/raw`
//! (torchvision's place).

use std::path::{Path, PathBuf};

use noether_augment::Shape;

use crate::error::{DataError, Result};
use crate::fsio;
use crate::split::Split;
use crate::store::ImageStore;

/// The magic number of an IDX file of `u8` images (3 dimensions).
pub const IDX_IMAGES_MAGIC: u32 = 2051;
/// The magic number of an IDX file of `u8` labels (1 dimension).
pub const IDX_LABELS_MAGIC: u32 = 2049;

/// Images read from an IDX file: `count` grey images of `height x width`, row-major bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
    /// `count * height * width` bytes, image after image.
    pub pixels: Vec<u8>,
}

/// Reads the magic number and `dims` big-endian dimensions; returns them and the data offset.
fn idx_header(bytes: &[u8], path: &Path, magic: u32, what: &str) -> Result<Vec<usize>> {
    let word = |k: usize| {
        bytes
            .get(4 * k..4 * k + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let Some(found) = word(0) else {
        return Err(DataError::format(
            path,
            Some(0),
            format!("{} bytes is too short for an IDX header", bytes.len()),
        ));
    };
    if found != magic {
        return Err(DataError::format(
            path,
            Some(0),
            format!(
                "wrong magic number {found} (0x{found:08x}); IDX {what} have {magic} (0x{magic:08x})"
            ),
        ));
    }
    let ndims = (magic & 0xff) as usize;
    (1..=ndims)
        .map(|k| {
            word(k)
                .map(|d| d as usize)
                .ok_or_else(|| DataError::format(path, Some(4 * k as u64), "truncated IDX header"))
        })
        .collect()
}

/// Checks that the data after a header of `ndims` dimensions is exactly `n` bytes.
fn idx_data<'a>(bytes: &'a [u8], path: &Path, ndims: usize, n: Option<usize>) -> Result<&'a [u8]> {
    let start = 4 * (ndims + 1);
    let have = bytes.len() - start;
    match n {
        Some(n) if n == have => Ok(&bytes[start..]),
        Some(n) if n > have => Err(DataError::format(
            path,
            Some(bytes.len() as u64),
            format!("truncated: the header promises {n} data bytes, the file has {have}"),
        )),
        Some(n) => Err(DataError::format(
            path,
            Some((start + n) as u64),
            format!("{} bytes after the end of the data", have - n),
        )),
        None => Err(DataError::format(path, Some(4), "dimensions overflow")),
    }
}

/// Decodes an IDX image file held in memory (already decompressed); `path` names it in
/// errors.
pub fn parse_idx_images(bytes: &[u8], path: &Path) -> Result<IdxImages> {
    let dims = idx_header(bytes, path, IDX_IMAGES_MAGIC, "images")?;
    let (count, height, width) = (dims[0], dims[1], dims[2]);
    let n = count.checked_mul(height).and_then(|v| v.checked_mul(width));
    let data = idx_data(bytes, path, 3, n)?;
    Ok(IdxImages {
        count,
        height,
        width,
        pixels: data.to_vec(),
    })
}

/// Decodes an IDX label file held in memory (already decompressed).
pub fn parse_idx_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let dims = idx_header(bytes, path, IDX_LABELS_MAGIC, "labels")?;
    Ok(idx_data(bytes, path, 1, Some(dims[0]))?.to_vec())
}

/// Decompresses a whole gzip stream held in memory (all members); `path` names it in errors.
pub fn gunzip(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    fsio::gunzip(bytes, path)
}

/// Reads an IDX image file, gzipped or not.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<IdxImages> {
    let path = path.as_ref();
    parse_idx_images(&fsio::read_maybe_gz(path)?, path)
}

/// Reads an IDX label file, gzipped or not.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    parse_idx_labels(&fsio::read_maybe_gz(path)?, path)
}

/// Finds `<prefix>-<kind>-idx<d>-ubyte` under its accepted names and folders.
fn find(dir: &Path, prefix: &str, kind: &str, d: usize) -> Result<PathBuf> {
    let folders = [
        dir.to_path_buf(),
        dir.join("raw"),
        dir.join("MNIST").join("raw"),
    ];
    let names = [
        format!("{prefix}-{kind}-idx{d}-ubyte"),
        format!("{prefix}-{kind}.idx{d}-ubyte"),
    ];
    for f in &folders {
        for n in &names {
            for suffix in ["", ".gz"] {
                let p = f.join(format!("{n}{suffix}"));
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
    }
    Err(DataError::Io {
        path: dir.join(&names[0]),
        reason: format!(
            "not found (also looked for .gz, {}, and in raw/ and MNIST/raw/)",
            names[1]
        ),
    })
}

/// Loads an MNIST-format split (`train` or `test`) from `dir` into a store of 1 x 28 x 28
/// images (whatever size the header gives) with labels; class names are `"0"`.. up to the
/// largest label.
///
/// ```no_run
/// use noether_data::{mnist, Split};
///
/// let test = mnist::load("data/mnist", Split::Test)?;
/// assert_eq!(test.len(), 10_000);
/// # Ok::<(), noether_data::DataError>(())
/// ```
pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<ImageStore> {
    let dir = dir.as_ref();
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
        Split::Val => {
            return Err(DataError::invalid(
                "split",
                "MNIST has train and test splits, not val",
            ));
        }
    };
    let images_path = find(dir, prefix, "images", 3)?;
    let labels_path = find(dir, prefix, "labels", 1)?;
    let images = read_idx_images(&images_path)?;
    let labels = read_idx_labels(&labels_path)?;
    if labels.len() != images.count {
        return Err(DataError::format(
            &labels_path,
            Some(4),
            format!(
                "{} labels for {} images in {}",
                labels.len(),
                images.count,
                images_path.display()
            ),
        ));
    }
    let classes = labels.iter().max().map_or(0, |&m| usize::from(m) + 1);
    ImageStore::from_uniform(
        Shape::new(1, images.height, images.width),
        images.pixels,
        labels.into_iter().map(i64::from).collect(),
        (0..classes).map(|c| c.to_string()).collect(),
    )
}
