//! [`ParamStore`]: the variables of a model, seeded initialisation, the trainable-parameter view
//! and safetensors save / load.
//!
//! candle's `VarMap` initialises from the device RNG, which cannot be seeded on the CPU, and hands
//! every variable to the optimizer, batch-norm running statistics included. A `ParamStore` is a
//! `VarBuilder` backend that
//! - samples each variable's requested initialisation (`Init::Kaiming`, `Uniform`, `Randn`,
//!   `Const`) from a seeded ChaCha8 generator, in creation order, so the same seed builds the same
//!   model;
//! - knows each variable's [`ParamKind`]: a weight that takes weight decay, a parameter that does
//!   not (biases, norm scales and shifts, ViT class token and position embedding), or a buffer
//!   (batch-norm `running_mean`, `running_var`, `num_batches_tracked`) that no optimizer may see;
//! - saves and loads safetensors under the model's own names, which follow torchvision / timm, so
//!   a PyTorch `state_dict` saved with `safetensors.torch.save_file` loads without renaming.
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use noether_models::ParamStore;
//! let store = ParamStore::seeded(0);
//! let vb = store.var_builder(DType::F32, &Device::Cpu);
//! let layer = candle_nn::linear(4, 2, vb.pp("fc"))?;
//! let y = layer.forward(&Tensor::ones((3, 4), DType::F32, &Device::Cpu)?)?;
//! assert_eq!(y.dims(), &[3, 2]);
//! assert_eq!(store.num_trainable()?, 4 * 2 + 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::Init;
use candle_nn::init::NormalOrUniform;
use candle_nn::var_builder::{SimpleBackend, VarBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{ModelError, Result};

/// What an optimizer does with a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A trainable weight that takes weight decay (conv and linear weights).
    Decay,
    /// A trainable parameter without weight decay: biases, norm scales and shifts (any tensor of
    /// rank 0 or 1), ViT `cls_token` and `pos_embed` (timm's `no_weight_decay`).
    NoDecay,
    /// State that is not trained by gradient: batch-norm `running_mean`, `running_var`,
    /// `num_batches_tracked`.
    Buffer,
}

impl ParamKind {
    /// The kind of a variable from its (torchvision / timm) name and rank.
    pub fn classify(name: &str, rank: usize) -> ParamKind {
        let leaf = name.rsplit('.').next().unwrap_or(name);
        match leaf {
            "running_mean" | "running_var" | "num_batches_tracked" => ParamKind::Buffer,
            "cls_token" | "pos_embed" | "bias" => ParamKind::NoDecay,
            _ if rank <= 1 => ParamKind::NoDecay,
            _ => ParamKind::Decay,
        }
    }

    /// Whether an optimizer updates variables of this kind.
    pub fn trainable(self) -> bool {
        self != ParamKind::Buffer
    }
}

/// One named variable of a [`ParamStore`].
#[derive(Debug, Clone)]
pub struct Param {
    /// Its full name, e.g. `layer1.0.conv1.weight`.
    pub name: String,
    /// The variable.
    pub var: Var,
    /// What an optimizer does with it.
    pub kind: ParamKind,
}

/// How [`ParamStore::load`] matched a file against the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Names set from the file.
    pub loaded: Vec<String>,
    /// Names of the model that the file lacks (left as initialised).
    pub missing: Vec<String>,
    /// Names in the file that the model lacks (ignored).
    pub unexpected: Vec<String>,
}

struct Inner {
    rng: ChaCha8Rng,
    params: Vec<Param>,
}

/// The variables of one or more models; a seeded `VarBuilder` backend. Cheap to clone (shared).
#[derive(Clone)]
pub struct ParamStore {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for ParamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.lock().map(|s| s.params.len()).unwrap_or(0);
        f.debug_struct("ParamStore").field("vars", &n).finish()
    }
}

impl ParamStore {
    /// An empty store whose initialisations draw from ChaCha8 seeded with `seed`.
    pub fn seeded(seed: u64) -> ParamStore {
        ParamStore::from_rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// An empty store drawing from `rng` (e.g. one stream of a run's seed).
    pub fn from_rng(rng: ChaCha8Rng) -> ParamStore {
        ParamStore {
            inner: Arc::new(Mutex::new(Inner {
                rng,
                params: Vec::new(),
            })),
        }
    }

    /// A `VarBuilder` that creates (or returns the existing) variables of this store.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    fn lock(&self) -> candle_core::Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| candle_core::Error::Msg("the parameter store is poisoned".into()))
    }

    /// Every variable in creation order.
    pub fn all(&self) -> Result<Vec<Param>> {
        Ok(self.lock()?.params.clone())
    }

    /// The variable called `name`, if any.
    pub fn get(&self, name: &str) -> Result<Option<Var>> {
        Ok(self
            .lock()?
            .params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.var.clone()))
    }

    /// The trainable variables (everything but buffers), in creation order.
    pub fn trainable(&self) -> Result<Vec<Param>> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|p| p.kind.trainable())
            .collect())
    }

    /// The trainable variables split into (takes weight decay, does not).
    pub fn decay_groups(&self) -> Result<(Vec<Var>, Vec<Var>)> {
        let mut decay = Vec::new();
        let mut no_decay = Vec::new();
        for p in self.trainable()? {
            match p.kind {
                ParamKind::Decay => decay.push(p.var),
                _ => no_decay.push(p.var),
            }
        }
        Ok((decay, no_decay))
    }

    /// The trainable variables whose name starts with `prefix` (one sub-network of the store).
    pub fn trainable_under(&self, prefix: &str) -> Result<Vec<Param>> {
        Ok(self
            .trainable()?
            .into_iter()
            .filter(|p| p.name.starts_with(prefix))
            .collect())
    }

    /// Number of trainable scalars (PyTorch's `sum(p.numel() for p in model.parameters())`).
    pub fn num_trainable(&self) -> Result<usize> {
        Ok(self.trainable()?.iter().map(|p| p.var.elem_count()).sum())
    }

    /// Every variable by name, as a state dict.
    pub fn state_dict(&self) -> Result<HashMap<String, Tensor>> {
        Ok(self
            .all()?
            .into_iter()
            .map(|p| (p.name, p.var.as_tensor().clone()))
            .collect())
    }

    /// Writes every variable (buffers included) to a safetensors file, atomically: a temporary
    /// file in the same directory, fsync, rename. An existing file is replaced only by a
    /// complete one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors = self.state_dict()?;
        let tmp = temp_path(path);
        let io_err = |e: std::io::Error| ModelError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if let Err(e) = candle_core::safetensors::save(&tensors, &tmp) {
            let _ = fs::remove_file(&tmp);
            return Err(ModelError::File {
                path: path.to_path_buf(),
                message: format!("writing safetensors: {e}"),
            });
        }
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_err)?;
        fs::rename(&tmp, path).map_err(io_err)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename durable; not every platform can open a directory.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Sets the store's variables from a safetensors file. Tensors are converted to each
    /// variable's dtype. A shape mismatch is always an error; with `strict`, so are names the
    /// file lacks or has in excess (PyTorch's `load_state_dict(strict=True)`). Without `strict`
    /// the report lists them.
    pub fn load(&self, path: &Path, strict: bool) -> Result<LoadReport> {
        let file =
            candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| ModelError::File {
                path: path.to_path_buf(),
                message: format!("reading safetensors: {e}"),
            })?;
        self.load_state_dict(&file, strict).map_err(|e| match e {
            ModelError::Mismatch { message, .. } => ModelError::Mismatch {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// [`ParamStore::load`] from tensors in memory (errors name the path `<memory>`).
    pub fn load_state_dict(
        &self,
        tensors: &HashMap<String, Tensor>,
        strict: bool,
    ) -> Result<LoadReport> {
        let mismatch = |message: String| ModelError::Mismatch {
            path: PathBuf::from("<memory>"),
            message,
        };
        let params = self.all()?;
        let mut report = LoadReport::default();
        let mut bad_shapes = Vec::new();
        for p in &params {
            match tensors.get(&p.name) {
                None => report.missing.push(p.name.clone()),
                Some(t) if t.shape() != p.var.shape() => bad_shapes.push(format!(
                    "{}: file {:?}, model {:?}",
                    p.name,
                    t.dims(),
                    p.var.dims()
                )),
                Some(_) => report.loaded.push(p.name.clone()),
            }
        }
        let known: HashSet<&str> = params.iter().map(|p| p.name.as_str()).collect();
        report.unexpected = tensors
            .keys()
            .filter(|k| !known.contains(k.as_str()))
            .cloned()
            .collect();
        report.unexpected.sort();
        if !bad_shapes.is_empty() {
            return Err(mismatch(format!("wrong shapes: {}", bad_shapes.join("; "))));
        }
        if strict && !(report.missing.is_empty() && report.unexpected.is_empty()) {
            return Err(mismatch(format!(
                "missing {:?}, unexpected {:?}",
                report.missing, report.unexpected
            )));
        }
        for p in &params {
            if let Some(t) = tensors.get(&p.name) {
                let t = t.to_dtype(p.var.dtype())?.to_device(p.var.device())?;
                p.var.set(&t)?;
            }
        }
        Ok(report)
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

/// `n` draws of `init` for a variable of shape `shape`, the rules of candle's `Init::var` on a
/// seeded generator.
fn sample_init(rng: &mut ChaCha8Rng, init: Init, shape: &Shape) -> Vec<f64> {
    let n = shape.elem_count();
    let normal = |rng: &mut ChaCha8Rng, mean: f64, std: f64| -> Vec<f64> {
        (0..n)
            .map(|_| {
                // Box-Muller; 1 - u lies in (0, 1].
                let u1: f64 = 1.0 - rng.random::<f64>();
                let u2: f64 = rng.random::<f64>();
                mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            })
            .collect()
    };
    let uniform = |rng: &mut ChaCha8Rng, lo: f64, up: f64| -> Vec<f64> {
        (0..n)
            .map(|_| lo + (up - lo) * rng.random::<f64>())
            .collect()
    };
    match init {
        Init::Const(c) => vec![c; n],
        Init::Uniform { lo, up } => uniform(rng, lo, up),
        Init::Randn { mean, stdev } => normal(rng, mean, stdev),
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
            match dist {
                NormalOrUniform::Normal => normal(rng, 0.0, std),
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    uniform(rng, -bound, bound)
                }
            }
        }
    }
}

impl SimpleBackend for ParamStore {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut state = self.lock()?;
        if let Some(p) = state.params.iter().find(|p| p.name == name) {
            if p.var.shape() != &s {
                candle_core::bail!(
                    "variable {name}: shape {:?} requested, {:?} exists",
                    s,
                    p.var.shape()
                );
            }
            return Ok(p.var.as_tensor().clone());
        }
        let values = sample_init(&mut state.rng, h, &s);
        let var = Var::from_tensor(&Tensor::from_vec(values, s.clone(), dev)?.to_dtype(dtype)?)?;
        let kind = ParamKind::classify(name, s.rank());
        state.params.push(Param {
            name: name.to_string(),
            var: var.clone(),
            kind,
        });
        Ok(var.as_tensor().clone())
    }

    fn get_unchecked(
        &self,
        name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let state = self.lock()?;
        match state.params.iter().find(|p| p.name == name) {
            Some(p) => Ok(p.var.as_tensor().clone()),
            None => candle_core::bail!("no variable {name}"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.lock()
            .map(|s| s.params.iter().any(|p| p.name == name))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_weights_and_kinds_follow_names() -> Result<()> {
        let build = |seed| -> Result<Vec<f32>> {
            let store = ParamStore::seeded(seed);
            let vb = store.var_builder(DType::F32, &Device::Cpu);
            let l = candle_nn::linear(3, 2, vb.pp("fc"))?;
            Ok(l.weight().flatten_all()?.to_vec1::<f32>()?)
        };
        assert_eq!(build(1)?, build(1)?);
        assert_ne!(build(1)?, build(2)?);
        assert_eq!(
            ParamKind::classify("bn1.running_mean", 1),
            ParamKind::Buffer
        );
        assert_eq!(ParamKind::classify("bn1.weight", 1), ParamKind::NoDecay);
        assert_eq!(ParamKind::classify("fc.bias", 1), ParamKind::NoDecay);
        assert_eq!(ParamKind::classify("pos_embed", 3), ParamKind::NoDecay);
        assert_eq!(ParamKind::classify("conv1.weight", 4), ParamKind::Decay);
        Ok(())
    }

    #[test]
    fn save_load_round_trip_and_mismatches_are_errors() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| ModelError::File {
            path: PathBuf::from("tempdir"),
            message: e.to_string(),
        })?;
        let path = dir.path().join("w.safetensors");
        let a = ParamStore::seeded(1);
        let vb = a.var_builder(DType::F32, &Device::Cpu);
        let la = candle_nn::linear(3, 2, vb.pp("fc"))?;
        a.save(&path)?;
        let b = ParamStore::seeded(2);
        let lb = candle_nn::linear(3, 2, b.var_builder(DType::F32, &Device::Cpu).pp("fc"))?;
        let report = b.load(&path, true)?;
        assert_eq!(report.loaded.len(), 2);
        assert_eq!(la.weight().to_vec2::<f32>()?, lb.weight().to_vec2::<f32>()?);
        // a model with another shape: an error naming the file and the tensor
        let c = ParamStore::seeded(3);
        candle_nn::linear(4, 2, c.var_builder(DType::F32, &Device::Cpu).pp("fc"))?;
        let err = c
            .load(&path, true)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("w.safetensors") && err.contains("fc.weight"),
            "{err}"
        );
        // extra names: an error when strict, a report otherwise
        let d = ParamStore::seeded(4);
        candle_nn::linear_no_bias(3, 2, d.var_builder(DType::F32, &Device::Cpu).pp("fc"))?;
        assert!(d.load(&path, true).is_err());
        assert_eq!(
            d.load(&path, false)?.unexpected,
            vec!["fc.bias".to_string()]
        );
        // a truncated file is an error, not a panic
        let bytes = fs::read(&path).map_err(|e| ModelError::File {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let cut = dir.path().join("cut.safetensors");
        fs::write(&cut, &bytes[..bytes.len() / 2]).map_err(|e| ModelError::File {
            path: cut.clone(),
            message: e.to_string(),
        })?;
        assert!(b.load(&cut, true).is_err());
        Ok(())
    }
}
