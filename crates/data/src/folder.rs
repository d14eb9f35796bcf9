//! Image folders: `root/<class>/**/<image>`, one subfolder per class, as torchvision's
//! `ImageFolder`.
//!
//! Classes are the subfolders of `root` sorted by name (byte order), labelled `0..`; the
//! images of a class are the files below its folder (recursively) whose extension is one of
//! [`FolderOptions::extensions`] (case-insensitive), sorted by path. Hidden entries (names
//! starting with `.`) are skipped. Images are decoded once, in parallel, into an
//! [`ImageStore`]; a file that does not decode is an error naming it.

use std::path::{Path, PathBuf};

use noether_augment::Shape;
use rayon::prelude::*;

use crate::error::{DataError, Result};
use crate::fsio;
use crate::store::ImageStore;

/// How to read an image folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderOptions {
    /// File extensions taken as images, lower case without the dot (default `png`, `jpg`,
    /// `jpeg`: the formats this build decodes).
    pub extensions: Vec<String>,
    /// Make every image RGB (grey images repeated over three channels); otherwise grey images
    /// keep one channel. Default `true`.
    pub rgb: bool,
}

impl Default for FolderOptions {
    fn default() -> Self {
        Self {
            extensions: vec!["png".into(), "jpg".into(), "jpeg".into()],
            rgb: true,
        }
    }
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

/// The image files below `dir`, recursively, sorted by path.
fn image_files(dir: &Path, options: &FolderOptions, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in fsio::sorted_entries(dir)? {
        if is_hidden(&e.file_name()) {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            image_files(&path, options, out)?;
        } else if path.extension().is_some_and(|x| {
            let x = x.to_string_lossy().to_lowercase();
            options.extensions.contains(&x)
        }) {
            out.push(path);
        }
    }
    Ok(())
}

/// What [`scan`] finds: the class names and every image file with its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderScan {
    /// The class names (the subfolders, sorted); label `k` is `classes[k]`.
    pub classes: Vec<String>,
    /// The image files, class by class, sorted by path within a class, with their labels.
    pub files: Vec<(PathBuf, i64)>,
}

/// The classes of an image folder (its subfolders, sorted) and the image files of each, with
/// their labels, without decoding anything. Errors when `root` has no subfolder or a class
/// has no image.
pub fn scan(root: impl AsRef<Path>, options: &FolderOptions) -> Result<FolderScan> {
    let root = root.as_ref();
    let mut classes = Vec::new();
    let mut files = Vec::new();
    for e in fsio::sorted_entries(root)? {
        let name = e.file_name();
        if is_hidden(&name) || !e.path().is_dir() {
            continue;
        }
        let label = classes.len() as i64;
        let mut found = Vec::new();
        image_files(&e.path(), options, &mut found)?;
        if found.is_empty() {
            return Err(DataError::Io {
                path: e.path(),
                reason: format!(
                    "class folder has no image file (extensions: {})",
                    options.extensions.join(", ")
                ),
            });
        }
        files.extend(found.into_iter().map(|p| (p, label)));
        classes.push(name.to_string_lossy().into_owned());
    }
    if classes.is_empty() {
        return Err(DataError::Io {
            path: root.to_path_buf(),
            reason: "no class subfolder".into(),
        });
    }
    Ok(FolderScan { classes, files })
}

/// Decodes an image file into CHW bytes: 1 channel for grey images unless `rgb`, else 3.
fn decode(path: &Path, rgb: bool) -> Result<(Shape, Vec<u8>)> {
    let bytes = fsio::read(path)?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| DataError::format(path, None, format!("cannot decode image: {e}")))?;
    let grey = !rgb && !img.color().has_color();
    let (w, h) = (img.width() as usize, img.height() as usize);
    if grey {
        let g = img.to_luma8();
        Ok((Shape::new(1, h, w), g.into_raw()))
    } else {
        let hwc = img.to_rgb8().into_raw();
        let plane = h * w;
        let mut chw = vec![0u8; 3 * plane];
        for (p, px) in hwc.chunks_exact(3).enumerate() {
            for c in 0..3 {
                chw[c * plane + p] = px[c];
            }
        }
        Ok((Shape::new(3, h, w), chw))
    }
}

/// Loads an image folder into memory (see the module docs for the rules).
///
/// ```no_run
/// use noether_data::folder::{load, FolderOptions};
///
/// let store = load("data/flowers", &FolderOptions::default())?;
/// println!("{} images of {} classes", store.len(), store.classes().len());
/// # Ok::<(), noether_data::DataError>(())
/// ```
pub fn load(root: impl AsRef<Path>, options: &FolderOptions) -> Result<ImageStore> {
    let FolderScan { classes, files } = scan(root, options)?;
    let decoded = files
        .par_iter()
        .map(|(p, _)| decode(p, options.rgb))
        .collect::<Result<Vec<_>>>()?;
    let mut store = ImageStore::new(classes);
    for ((shape, px), (path, label)) in decoded.into_iter().zip(&files) {
        store
            .push(shape, &px, *label)
            .map_err(|e| DataError::format(path, None, e.to_string()))?;
    }
    Ok(store)
}
