//! The 3DIEBench directory layout: a writer ([`LayoutWriter`], used to save mini3die) and a
//! reader ([`Dataset3die`]) that reads mini3die's output and the real 3DIEBench alike, with
//! view-pair sampling and the actions between two views (see
//! `shared/papers/sie_3diebench.md`).
//!
//! ```text
//! <root>/<synset>/<model_id>/image_{v}.png   (or .jpg: real 3DIEBench)
//! <root>/<synset>/<model_id>/latent_{v}.npy  7 float32 (see below)
//! <root>/train_images.npy, val_images.npy    unicode strings "/<synset>/<model_id>/"
//! <root>/train_labels.npy, val_labels.npy    int64, one per object
//! <root>/all_latents_train.npy, ..._val.npy  float32, (objects * views) x 7, the views of
//!                                            each object consecutive, in split order
//! ```
//!
//! Latents are [`Latent`]s (the one type shared with the mini3die renderer): slots 0..3 object
//! rotation as extrinsic `xyz` Euler angles (radians), 3 floor hue, 4 spot-light polar angle,
//! 5 spot-light azimuth, 6 spot-light hue.
//!
//! ```
//! use noether_augment::Image;
//! use noether_data::{ActionKind, Dataset3die, Latent, LayoutWriter, Split};
//!
//! let dir = tempfile::tempdir()?;
//! let w = LayoutWriter::new(dir.path())?;
//! for v in 0..3 {
//!     let img = Image::from_fn(3, 4, 4, |c, y, x| ((c + y + x + v) % 5) as f32 / 4.0);
//!     let latent = Latent([0.1 * v as f32, 0.0, 0.0, 0.5, 0.2, 1.0, 0.25]);
//!     w.write_view("02691156", "abc", v, &img, &latent)?;
//! }
//! w.finish(&[("/02691156/abc/".into(), 0)], &[], 3)?;
//!
//! let ds = Dataset3die::open(dir.path(), Split::Train)?;
//! assert_eq!((ds.len(), ds.views()), (1, 3));
//! let pair = ds.pair(0, 0, 2, ActionKind::Rotation)?;
//! assert_eq!(pair.action.len(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use noether_augment::ops::Normalize;
use noether_augment::{Image, Shape};
use noether_groups::Rotation3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::split::Split;
use crate::{fsio, npy};

pub use crate::latent::{LATENT_LEN, Latent};

/// Views per object in 3DIEBench.
pub const VIEWS_3DIEBENCH: usize = 50;

/// Per-channel mean used to normalise 3DIEBench images.
pub const NORM_MEAN: [f32; 3] = [0.5016, 0.5037, 0.5060];

/// Per-channel standard deviation used to normalise 3DIEBench images.
pub const NORM_STD: [f32; 3] = [0.1030, 0.0999, 0.0969];

/// The normalisation op with 3DIEBench's constants ([`NORM_MEAN`], [`NORM_STD`]).
pub fn normalization() -> Normalize {
    Normalize {
        mean: NORM_MEAN.to_vec(),
        std: NORM_STD.to_vec(),
    }
}

/// The split-file entry of an object: `/<synset>/<model_id>/`.
pub fn object_path(synset: &str, model_id: &str) -> String {
    format!("/{synset}/{model_id}/")
}

/// Parses a split-file entry `/<synset>/<model_id>/` (slashes at either end optional).
pub fn parse_object_path(entry: &str) -> Option<(String, String)> {
    let mut parts = entry.trim_matches('/').split('/');
    let (a, b) = (parts.next()?, parts.next()?);
    (parts.next().is_none() && valid_name(a) && valid_name(b)).then(|| (a.into(), b.into()))
}

/// A synset or model id: non-empty, one path component, not `.` or `..`.
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

fn check_name(what: &str, s: &str) -> Result<()> {
    if valid_name(s) {
        Ok(())
    } else {
        Err(DataError::invalid(
            what,
            format!("{s:?} is not a single path component"),
        ))
    }
}

fn images_file(split: Split) -> String {
    format!("{split}_images.npy")
}

fn labels_file(split: Split) -> String {
    format!("{split}_labels.npy")
}

fn latents_file(split: Split) -> String {
    format!("all_latents_{split}.npy")
}

fn check_split(split: Split) -> Result<()> {
    if split == Split::Test {
        return Err(DataError::invalid(
            "split",
            "3DIEBench has train and val splits, not test",
        ));
    }
    Ok(())
}

/// Reads a latent file and checks it holds exactly [`LATENT_LEN`] floats.
pub fn read_latent(path: impl AsRef<Path>) -> Result<Latent> {
    let path = path.as_ref();
    let a = npy::read_f32(path)?;
    <[f32; LATENT_LEN]>::try_from(a.data.as_slice())
        .map(Latent)
        .map_err(|_| {
            DataError::format(
                path,
                None,
                format!(
                    "latent of shape {:?} ({} floats); expected {LATENT_LEN}",
                    a.shape,
                    a.len()
                ),
            )
        })
}

/// Writes data in the 3DIEBench layout under a root folder. Every file is written to a
/// temporary name and renamed into place, so an interrupted run leaves no half file under a
/// final name. [`LayoutWriter::write_view`] takes `&self` and may be called from many
/// threads at once.
#[derive(Debug, Clone)]
pub struct LayoutWriter {
    root: PathBuf,
}

impl LayoutWriter {
    /// A writer under `root` (created if missing).
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        fsio::create_dir_all(&root)?;
        Ok(Self { root })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of an object, `<root>/<synset>/<model_id>`; errors for names that are not
    /// a single path component.
    pub fn object_dir(&self, synset: &str, model_id: &str) -> Result<PathBuf> {
        check_name("synset", synset)?;
        check_name("model_id", model_id)?;
        Ok(self.root.join(synset).join(model_id))
    }

    /// Writes view `view` of an object: `image_{view}.png` (8-bit RGB) and
    /// `latent_{view}.npy` (7 `float32`).
    pub fn write_view(
        &self,
        synset: &str,
        model_id: &str,
        view: usize,
        image: &Image,
        latent: &Latent,
    ) -> Result<()> {
        let dir = self.object_dir(synset, model_id)?;
        fsio::create_dir_all(&dir)?;
        let img_path = dir.join(format!("image_{view}.png"));
        let tmp = fsio::temp_path(&img_path);
        if let Err(e) = image.save(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        fsio::commit(&tmp, &img_path)?;
        npy::write_f32(
            dir.join(format!("latent_{view}.npy")),
            &[LATENT_LEN],
            &latent.0,
        )
    }

    /// Writes the split files once all views are on disk: for each split, the object list
    /// (`/<synset>/<model_id>/` entries), their labels, and `all_latents_<split>.npy` gathered
    /// from the objects' `latent_{0..views}.npy` files. Checks that every image and latent
    /// exists and that no object is listed twice in a split.
    pub fn finish(
        &self,
        train: &[(String, i64)],
        val: &[(String, i64)],
        views: usize,
    ) -> Result<()> {
        for (split, objects) in [(Split::Train, train), (Split::Val, val)] {
            self.write_split(split, objects, views)?;
        }
        Ok(())
    }

    fn write_split(&self, split: Split, objects: &[(String, i64)], views: usize) -> Result<()> {
        let mut seen = HashSet::new();
        let mut entries = Vec::with_capacity(objects.len());
        let mut labels = Vec::with_capacity(objects.len());
        let mut dirs = Vec::with_capacity(objects.len());
        for (entry, label) in objects {
            let (synset, model) = parse_object_path(entry).ok_or_else(|| {
                DataError::invalid(
                    format!("{split} objects"),
                    format!("{entry:?} is not of the form /<synset>/<model_id>/"),
                )
            })?;
            if !seen.insert((synset.clone(), model.clone())) {
                return Err(DataError::invalid(
                    format!("{split} objects"),
                    format!("{entry:?} is listed twice"),
                ));
            }
            if *label < 0 {
                return Err(DataError::invalid(
                    format!("{split} objects"),
                    format!("{entry:?} has negative label {label}"),
                ));
            }
            dirs.push(self.object_dir(&synset, &model)?);
            entries.push(object_path(&synset, &model));
            labels.push(*label);
        }
        let latents = dirs
            .par_iter()
            .map(|dir| {
                let mut rows = Vec::with_capacity(views * LATENT_LEN);
                for v in 0..views {
                    let img = dir.join(format!("image_{v}.png"));
                    if !img.is_file() && !dir.join(format!("image_{v}.jpg")).is_file() {
                        return Err(DataError::Io {
                            path: img,
                            reason: "missing image (every view must be written before finish)"
                                .into(),
                        });
                    }
                    rows.extend(read_latent(dir.join(format!("latent_{v}.npy")))?.0);
                }
                Ok(rows)
            })
            .collect::<Result<Vec<_>>>()?
            .concat();
        npy::write_f32(
            self.root.join(latents_file(split)),
            &[objects.len() * views, LATENT_LEN],
            &latents,
        )?;
        npy::write_i64(self.root.join(labels_file(split)), &[labels.len()], &labels)?;
        npy::write_strings(self.root.join(images_file(split)), &entries)
    }
}

/// One object of a split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object3die {
    /// The split-file entry, `/<synset>/<model_id>/`.
    pub path: String,
    /// The ShapeNet synset (class folder).
    pub synset: String,
    /// The model id (object folder).
    pub model_id: String,
    /// The class label.
    pub label: i64,
}

/// Which action between two views of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// The relative rotation as a quaternion `(x, y, z, w)` ([`rotation_action`]), 4 floats.
    Rotation,
    /// Floor-hue and spot-hue differences ([`color_action`]), 2 floats.
    Color,
    /// The quaternion then the differences of latent slots 3..7 ([`all_action`]), 8 floats.
    All,
}

impl ActionKind {
    /// The number of floats of the action.
    pub fn dim(self) -> usize {
        match self {
            ActionKind::Rotation => 4,
            ActionKind::Color => 2,
            ActionKind::All => 8,
        }
    }

    /// The action from the latent of view 1 to that of view 2.
    pub fn compute(self, l1: &Latent, l2: &Latent) -> Vec<f32> {
        match self {
            ActionKind::Rotation => rotation_action(l1, l2).to_vec(),
            ActionKind::Color => color_action(l1, l2).to_vec(),
            ActionKind::All => all_action(l1, l2).to_vec(),
        }
    }
}

impl FromStr for ActionKind {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "rotation" | "rot" | "quat" => Ok(ActionKind::Rotation),
            "color" | "colour" => Ok(ActionKind::Color),
            "all" => Ok(ActionKind::All),
            _ => Err(DataError::invalid(
                "action",
                format!("unknown action {s:?}; expected rotation, color or all"),
            )),
        }
    }
}

fn euler(l: &Latent) -> [f64; 3] {
    [f64::from(l[0]), f64::from(l[1]), f64::from(l[2])]
}

/// The rotation action from view 1 to view 2: `R1^-1 R2` with `R_i` from the extrinsic `xyz`
/// Euler angles `l_i[0..3]`, as the quaternion `(x, y, z, w)` exactly as scipy's
/// `(R.from_euler("xyz", a1).inv() * R.from_euler("xyz", a2)).as_quat()` (computed in `f64`,
/// no sign canonicalisation).
pub fn rotation_action(l1: &Latent, l2: &Latent) -> [f32; 4] {
    let q = Rotation3::from_euler_xyz(euler(l1))
        .relative_to(&Rotation3::from_euler_xyz(euler(l2)))
        .as_quat();
    q.map(|v| v as f32)
}

/// The colour action: `[l2[3] - l1[3], l2[6] - l1[6]]` (floor hue, spot hue; a plain
/// difference, no hue wrap-around).
pub fn color_action(l1: &Latent, l2: &Latent) -> [f32; 2] {
    [l2[3] - l1[3], l2[6] - l1[6]]
}

/// ContextSSL's 6-float action from view 1 to view 2: [`rotation_action`] then
/// [`color_action`], `[q_x, q_y, q_z, q_w, delta floor hue, delta spot hue]`.
pub fn rotation_color_action(l1: &Latent, l2: &Latent) -> [f32; 6] {
    let mut a = [0.0; 6];
    a[..4].copy_from_slice(&rotation_action(l1, l2));
    a[4..].copy_from_slice(&color_action(l1, l2));
    a
}

/// ContextSSL's absolute latents of one view, the auxiliary predictor's target:
/// `[q_x, q_y, q_z, q_w, floor hue, spot hue]` with `q` the quaternion of the extrinsic `xyz`
/// Euler angles exactly as scipy's `R.from_euler("xyz", l[0..3]).as_quat()`.
pub fn absolute_rotation_color(l: &Latent) -> [f32; 6] {
    let q = Rotation3::from_euler_xyz(euler(l)).as_quat();
    [
        q[0] as f32,
        q[1] as f32,
        q[2] as f32,
        q[3] as f32,
        l[3],
        l[6],
    ]
}

/// The "all" action: [`rotation_action`] then `l2[3..7] - l1[3..7]`.
pub fn all_action(l1: &Latent, l2: &Latent) -> [f32; 8] {
    let q = rotation_action(l1, l2);
    let mut a = [0.0; 8];
    a[..4].copy_from_slice(&q);
    for k in 0..4 {
        a[4 + k] = l2[3 + k] - l1[3 + k];
    }
    a
}

/// Two distinct views of one object with the action between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// Index of the object in the split.
    pub object: usize,
    /// Its label.
    pub label: i64,
    /// The two view indices (distinct when sampled).
    pub views: [usize; 2],
    /// The two images.
    pub images: [Image; 2],
    /// The two latents.
    pub latents: [Latent; 2],
    /// The action from the first view to the second.
    pub action: Vec<f32>,
}

/// A decoded image kept as 8-bit CHW bytes.
type Cached = (Shape, Vec<u8>);

/// A split of a 3DIEBench-layout folder (real 3DIEBench or mini3die): its objects and
/// labels, images loaded on demand (optionally cached as 8-bit bytes), latents from
/// `all_latents_<split>.npy` when present (else from each view's `latent_{v}.npy`).
pub struct Dataset3die {
    root: PathBuf,
    split: Split,
    objects: Vec<Object3die>,
    views: usize,
    ext: &'static str,
    latents: Option<Vec<Latent>>,
    cache: Option<Vec<OnceLock<Cached>>>,
}

impl std::fmt::Debug for Dataset3die {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset3die")
            .field("root", &self.root)
            .field("split", &self.split)
            .field("objects", &self.objects.len())
            .field("views", &self.views)
            .field("ext", &self.ext)
            .field("all_latents", &self.latents.is_some())
            .field("cached", &self.cache.is_some())
            .finish()
    }
}

impl Dataset3die {
    /// Opens a split (`train` or `val`) under `root`, counting the views of the first
    /// object (`image_0`, `image_1`, ... until one is missing).
    pub fn open(root: impl AsRef<Path>, split: Split) -> Result<Self> {
        Self::open_inner(root.as_ref(), split, None)
    }

    /// Opens a split with a known number of views per object.
    pub fn open_with_views(root: impl AsRef<Path>, split: Split, views: usize) -> Result<Self> {
        if views == 0 {
            return Err(DataError::invalid("views", "must be at least 1"));
        }
        Self::open_inner(root.as_ref(), split, Some(views))
    }

    fn open_inner(root: &Path, split: Split, views: Option<usize>) -> Result<Self> {
        check_split(split)?;
        let images_path = root.join(images_file(split));
        let labels_path = root.join(labels_file(split));
        let entries = npy::read_strings(&images_path)?;
        let labels = npy::read_i64(&labels_path)?;
        if entries.shape.len() != 1 || labels.shape.len() != 1 {
            return Err(DataError::format(
                &images_path,
                None,
                format!(
                    "split files must be 1-D; got shapes {:?} and {:?} ({})",
                    entries.shape,
                    labels.shape,
                    labels_path.display()
                ),
            ));
        }
        if entries.len() != labels.len() {
            return Err(DataError::format(
                &labels_path,
                None,
                format!(
                    "{} labels for {} objects in {}",
                    labels.len(),
                    entries.len(),
                    images_path.display()
                ),
            ));
        }
        let mut objects = Vec::with_capacity(entries.len());
        for (i, (entry, &label)) in entries.data.iter().zip(&labels.data).enumerate() {
            let (synset, model_id) = parse_object_path(entry).ok_or_else(|| {
                DataError::format(
                    &images_path,
                    None,
                    format!("entry {i} ({entry:?}) is not of the form /<synset>/<model_id>/"),
                )
            })?;
            objects.push(Object3die {
                path: entry.clone(),
                synset,
                model_id,
                label,
            });
        }
        if objects.is_empty() {
            return Err(DataError::format(
                &images_path,
                None,
                "the split lists no object",
            ));
        }
        let first = root.join(&objects[0].synset).join(&objects[0].model_id);
        let ext = if first.join("image_0.png").is_file() || !first.join("image_0.jpg").is_file() {
            "png"
        } else {
            "jpg"
        };
        let views = match views {
            Some(v) => v,
            None => {
                let n = (0..)
                    .take_while(|v| first.join(format!("image_{v}.{ext}")).is_file())
                    .count();
                if n == 0 {
                    return Err(DataError::Io {
                        path: first.join("image_0.png"),
                        reason: "no image_0.png or image_0.jpg: cannot count the views".into(),
                    });
                }
                n
            }
        };
        let latents_path = root.join(latents_file(split));
        let latents = if latents_path.is_file() {
            let a = npy::read_f32(&latents_path)?;
            let rows = objects.len() * views;
            if a.shape != [rows, LATENT_LEN] {
                return Err(DataError::format(
                    &latents_path,
                    None,
                    format!(
                        "shape {:?}; expected [{rows}, {LATENT_LEN}] ({} objects x {views} views)",
                        a.shape,
                        objects.len()
                    ),
                ));
            }
            Some(
                a.data
                    .chunks_exact(LATENT_LEN)
                    .map(|c| {
                        let mut l = [0.0; LATENT_LEN];
                        l.copy_from_slice(c);
                        Latent(l)
                    })
                    .collect(),
            )
        } else {
            None
        };
        Ok(Self {
            root: root.to_path_buf(),
            split,
            objects,
            views,
            ext,
            latents,
            cache: None,
        })
    }

    /// Keeps every image after its first load, as 8-bit bytes (exact for 8-bit PNG and
    /// JPEG). For mini3die-sized data; 3DIEBench itself does not fit in memory.
    pub fn cached(mut self) -> Self {
        self.cache = Some(
            (0..self.objects.len() * self.views)
                .map(|_| OnceLock::new())
                .collect(),
        );
        self
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The split.
    pub fn split(&self) -> Split {
        self.split
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when the split has no object (never, after [`Dataset3die::open`]).
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Views per object.
    pub fn views(&self) -> usize {
        self.views
    }

    /// The objects, in split order.
    pub fn objects(&self) -> &[Object3die] {
        &self.objects
    }

    /// The labels, in split order.
    pub fn labels(&self) -> Vec<i64> {
        self.objects.iter().map(|o| o.label).collect()
    }

    /// One more than the largest label.
    pub fn num_classes(&self) -> usize {
        self.objects
            .iter()
            .map(|o| usize::try_from(o.label).map_or(0, |l| l + 1))
            .max()
            .unwrap_or(0)
    }

    fn object(&self, i: usize) -> Result<&Object3die> {
        self.objects.get(i).ok_or_else(|| {
            DataError::invalid(
                "object",
                format!("index {i} out of range for {} objects", self.len()),
            )
        })
    }

    fn check_view(&self, v: usize) -> Result<()> {
        if v >= self.views {
            return Err(DataError::invalid(
                "view",
                format!("view {v} out of range for {} views", self.views),
            ));
        }
        Ok(())
    }

    /// The folder of object `i`.
    pub fn object_dir(&self, i: usize) -> Result<PathBuf> {
        let o = self.object(i)?;
        Ok(self.root.join(&o.synset).join(&o.model_id))
    }

    /// The image file of view `v` of object `i`: `image_{v}.png` or `.jpg` (whichever
    /// exists; the first object's decides when neither does).
    pub fn image_path(&self, i: usize, v: usize) -> Result<PathBuf> {
        self.check_view(v)?;
        let dir = self.object_dir(i)?;
        let main = dir.join(format!("image_{v}.{}", self.ext));
        if main.is_file() {
            return Ok(main);
        }
        let other = dir.join(format!(
            "image_{v}.{}",
            if self.ext == "png" { "jpg" } else { "png" }
        ));
        Ok(if other.is_file() { other } else { main })
    }

    /// Loads view `v` of object `i` (from the cache when enabled and filled).
    pub fn image(&self, i: usize, v: usize) -> Result<Image> {
        self.check_view(v)?;
        let slot = self.cache.as_ref().and_then(|c| c.get(i * self.views + v));
        if let Some((s, px)) = slot.and_then(OnceLock::get) {
            let data = px.iter().map(|&b| f32::from(b) / 255.0).collect();
            return Ok(Image::new(s.channels, s.height, s.width, data)?);
        }
        let img = Image::load(self.image_path(i, v)?)?;
        if let Some(slot) = slot {
            let px = img
                .data()
                .iter()
                .map(|&x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect();
            let _ = slot.set((img.shape(), px));
        }
        Ok(img)
    }

    /// The latent of view `v` of object `i`.
    pub fn latent(&self, i: usize, v: usize) -> Result<Latent> {
        self.check_view(v)?;
        let dir = self.object_dir(i)?;
        match &self.latents {
            Some(table) => Ok(table[i * self.views + v]),
            None => read_latent(dir.join(format!("latent_{v}.npy"))),
        }
    }

    /// Draws two distinct views uniformly (`(v1, v2)`, `v1 != v2`); errors with fewer than
    /// two views.
    pub fn sample_views<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<[usize; 2]> {
        if self.views < 2 {
            return Err(DataError::invalid(
                "pair",
                format!("{} view per object: a pair needs two", self.views),
            ));
        }
        let a = rng.random_range(0..self.views);
        let b = rng.random_range(0..self.views - 1);
        Ok([a, if b >= a { b + 1 } else { b }])
    }

    /// Views `v1` and `v2` of object `i`, with the action of `kind` from `v1` to `v2`.
    pub fn pair(&self, i: usize, v1: usize, v2: usize, kind: ActionKind) -> Result<Pair> {
        let (l1, l2) = (self.latent(i, v1)?, self.latent(i, v2)?);
        Ok(Pair {
            object: i,
            label: self.object(i)?.label,
            views: [v1, v2],
            images: [self.image(i, v1)?, self.image(i, v2)?],
            latents: [l1, l2],
            action: kind.compute(&l1, &l2),
        })
    }

    /// A random pair of distinct views for each of `objects`, in parallel. Entry `k` draws
    /// its views from `ChaCha8` seeded with `seed` on stream `k`, so the result depends only
    /// on `(seed, objects)`, not on the thread count.
    pub fn sample_pairs(
        &self,
        objects: &[usize],
        seed: u64,
        kind: ActionKind,
    ) -> Result<Vec<Pair>> {
        objects
            .par_iter()
            .enumerate()
            .map(|(k, &i)| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(k as u64);
                let [v1, v2] = self.sample_views(&mut rng)?;
                self.pair(i, v1, v2, kind)
            })
            .collect()
    }
}
