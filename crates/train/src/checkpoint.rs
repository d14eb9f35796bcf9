//! Checkpoints: everything a run needs to continue bit-identically, written atomically.
//!
//! ## Layout
//!
//! ```text
//! <run>/checkpoints/
//!   latest                    one line naming the committed checkpoint, e.g. `step-00000012`
//!   step-00000008/            an older committed checkpoint (the last `keep_checkpoints` stay)
//!   step-00000012/
//!     <store>.safetensors     every variable of each store of the method, buffers included
//!     optimizer.safetensors   Optimizer::state (step counts, momentum / moment buffers)
//!     state.json              format, step, method, stores, data cursor, resolved config and
//!                             its hash, and the size and FNV-1a hash of every other file
//! ```
//!
//! The schedule position is the step; every RNG stream is a function of (seed, stream, step)
//! ([`crate::StepContext::rng`]); the data order is the source's cursor.
//!
//! ## Writing (never a partial checkpoint where a good one was)
//!
//! Files go into `step-XXXXXXXX.tmp<pid>/`, each fsynced; the directory is fsynced and renamed to
//! `step-XXXXXXXX/`, the parent fsynced; then `latest` is replaced by writing `latest.tmp<pid>`,
//! fsync, rename, fsync. Only `latest` commits a checkpoint: a crash at any point leaves the
//! previous `latest` and the directory it names intact, and stray `*.tmp*` entries are ignored by
//! readers and removed by the next save. Older checkpoints are deleted only after the new one is
//! committed; directories numbered above the committed step (left by a crash between the rename
//! and the commit) are deleted too.
//!
//! ## Reading (validate everything, then touch variables)
//!
//! [`Checkpoint::read`] reads `state.json` and every file into memory, checking each file's size
//! and hash against `state.json` (a truncated or altered file is an error naming it) and parsing
//! the safetensors. [`Checkpoint::check_fits`] compares the method name, the stores, every
//! tensor's name, shape and dtype, and the config hash (a mismatch lists the differing fields).
//! Only then does [`Checkpoint::apply`] load the optimizer state (all or nothing) and set the
//! variables.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use noether_ops::optim::Optimizer;
use serde::{Deserialize, Serialize};

use crate::config::{fnv1a, json_diff};
use crate::error::{Result, TrainError};
use crate::method::NamedStore;

/// Version of the checkpoint format written by this crate.
pub const FORMAT_VERSION: u32 = 1;

/// The name of the optimizer's file in a checkpoint directory.
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The name of the state file in a checkpoint directory.
const STATE_FILE: &str = "state.json";

/// One store as recorded in `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreRecord {
    /// Its name (the file is `<name>.safetensors`).
    pub name: String,
    /// Whether the optimizer trains it.
    pub trained: bool,
}

/// Size and FNV-1a hash of one file of a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Length in bytes.
    pub bytes: u64,
    /// FNV-1a (64 bit) of the contents, as 16 hex digits.
    pub fnv1a: Hex,
}

/// A `u64` written as 16 hex digits in JSON (exact in every JSON reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hex(pub u64);

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:016x}", self.0))
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Hex, D::Error> {
        let s = String::deserialize(d)?;
        u64::from_str_radix(&s, 16)
            .map(Hex)
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a hex u64")))
    }
}

/// The contents of `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointState {
    /// [`FORMAT_VERSION`] of the writer.
    pub format: u32,
    /// Steps completed (the next step to run).
    pub step: u64,
    /// [`crate::Method::name`].
    pub method: String,
    /// The stores, in the method's order.
    pub stores: Vec<StoreRecord>,
    /// [`crate::BatchSource::cursor`] after `step` batches.
    pub cursor: serde_json::Value,
    /// The resolved config (`{"train": TrainConfig, "run": the caller's config}`).
    pub config: serde_json::Value,
    /// Hash of the config without the fields that do not change the numbers.
    pub config_hash: Hex,
    /// Every other file of the checkpoint.
    pub files: BTreeMap<String, FileRecord>,
}

/// A checkpoint read into memory and checked for integrity (not yet against a method).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Its directory.
    pub dir: PathBuf,
    /// `state.json`.
    pub state: CheckpointState,
    /// Each store's tensors, in the order of `state.stores`.
    pub stores: Vec<HashMap<String, Tensor>>,
    /// The optimizer state.
    pub optimizer: Vec<(String, Tensor)>,
}

/// The `checkpoints/` directory of a run.
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    root: PathBuf,
}

/// `step-XXXXXXXX`.
pub fn step_dir_name(step: u64) -> String {
    format!("step-{step:08}")
}

/// The step of a committed checkpoint directory name, `None` for anything else.
fn parse_step_dir(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("step-")?;
    if digits.len() >= 8 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// Fsyncs a directory (makes renames in it durable); a no-op where directories cannot be opened.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(|e| TrainError::io(path, e))?;
    f.write_all(bytes).map_err(|e| TrainError::io(path, e))?;
    f.sync_all().map_err(|e| TrainError::io(path, e))
}

/// Writes `tensors` as safetensors to `path`, fsyncs, and returns its record.
fn write_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<FileRecord> {
    candle_core::safetensors::save(tensors, path)
        .map_err(|e| TrainError::io(path, format!("writing safetensors: {e}")))?;
    let f = fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
    f.sync_all().map_err(|e| TrainError::io(path, e))?;
    let bytes = fs::read(path).map_err(|e| TrainError::io(path, e))?;
    Ok(FileRecord {
        bytes: bytes.len() as u64,
        fnv1a: Hex(fnv1a(&bytes)),
    })
}

/// Writes `text` to `path` atomically: a temporary sibling, fsync, rename, fsync the directory.
/// A reader sees the old file or the new one, never a partial one.
pub fn write_atomic(path: &Path, text: &[u8]) -> Result<()> {
    let mut name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    write_synced(&tmp, text)?;
    fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// Checks that a store name is usable as a file name in a checkpoint.
pub(crate) fn check_store_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && name != "optimizer"
        && name != "state";
    if ok {
        Ok(())
    } else {
        Err(TrainError::config(
            format!("store `{name}`"),
            "store names must be non-empty ASCII letters, digits, `_` or `-`, and not `optimizer` or `state`",
        ))
    }
}

impl CheckpointDir {
    /// The checkpoints of the run in `run_dir` (`<run_dir>/checkpoints`).
    pub fn new(run_dir: &Path) -> CheckpointDir {
        CheckpointDir {
            root: run_dir.join("checkpoints"),
        }
    }

    /// The `checkpoints/` directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The committed checkpoint named by `latest`, if any. A `latest` that does not name a
    /// checkpoint directory is an error.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        let path = self.root.join("latest");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(TrainError::io(&path, e)),
        };
        let name = text.trim();
        if parse_step_dir(name).is_none() {
            return Err(TrainError::checkpoint(
                &path,
                format!("expected a name like `step-00000012`, found {name:?}"),
            ));
        }
        let dir = self.root.join(name);
        if !dir.is_dir() {
            return Err(TrainError::checkpoint(
                &path,
                format!("names `{name}`, which is not a directory"),
            ));
        }
        Ok(Some(dir))
    }

    /// Whether the directory holds anything that looks like a checkpoint.
    pub fn has_any(&self) -> bool {
        self.root.join("latest").exists()
            || fs::read_dir(&self.root)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .any(|e| parse_step_dir(&e.file_name().to_string_lossy()).is_some())
                })
                .unwrap_or(false)
    }

    /// Writes and commits the checkpoint of `step` (see the module docs), then keeps the `keep`
    /// newest committed checkpoints. Returns the committed directory.
    #[allow(clippy::too_many_arguments)]
    pub fn save(
        &self,
        step: u64,
        method: &str,
        stores: &[NamedStore],
        optimizer: &dyn Optimizer,
        cursor: serde_json::Value,
        config: serde_json::Value,
        config_hash: u64,
        keep: usize,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.root).map_err(|e| TrainError::io(&self.root, e))?;
        let name = step_dir_name(step);
        let tmp = self.root.join(format!("{name}.tmp{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
        }
        fs::create_dir(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
        let mut files = BTreeMap::new();
        for s in stores {
            let file = format!("{}.safetensors", s.name);
            let rec = write_tensors(&tmp.join(&file), &s.store.state_dict()?)?;
            files.insert(file, rec);
        }
        let opt: HashMap<String, Tensor> = optimizer.state()?.into_iter().collect();
        files.insert(
            OPTIMIZER_FILE.to_string(),
            write_tensors(&tmp.join(OPTIMIZER_FILE), &opt)?,
        );
        let state = CheckpointState {
            format: FORMAT_VERSION,
            step,
            method: method.to_string(),
            stores: stores
                .iter()
                .map(|s| StoreRecord {
                    name: s.name.clone(),
                    trained: s.trained,
                })
                .collect(),
            cursor,
            config,
            config_hash: Hex(config_hash),
            files,
        };
        let json = serde_json::to_vec_pretty(&state)
            .map_err(|e| TrainError::io(tmp.join(STATE_FILE), e))?;
        write_synced(&tmp.join(STATE_FILE), &json)?;
        sync_dir(&tmp);
        let dir = self.root.join(&name);
        if dir.exists() {
            // Not committed (`latest` names an earlier step): a leftover of a crashed run.
            fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
        }
        fs::rename(&tmp, &dir).map_err(|e| TrainError::io(&dir, e))?;
        sync_dir(&self.root);
        write_atomic(&self.root.join("latest"), format!("{name}\n").as_bytes())?;
        self.prune(step, keep);
        Ok(dir)
    }

    /// Deletes committed checkpoints older than the `keep` newest up to `committed`, directories
    /// numbered above `committed`, and temporary leftovers. Best effort: a failure to delete
    /// never fails the run.
    fn prune(&self, committed: u64, keep: usize) {
        let Ok(rd) = fs::read_dir(&self.root) else {
            return;
        };
        let mut steps = Vec::new();
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(s) = parse_step_dir(&name) {
                steps.push((s, e.path()));
            } else if name.starts_with("step-") && name.contains(".tmp") {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        steps.sort();
        let kept: Vec<u64> = steps
            .iter()
            .map(|(s, _)| *s)
            .filter(|&s| s <= committed)
            .rev()
            .take(keep.max(1))
            .collect();
        for (s, path) in steps {
            if !kept.contains(&s) {
                let _ = fs::remove_dir_all(path);
            }
        }
    }
}

/// Reads `path`, checking its length and hash against `rec`.
fn read_checked(path: &Path, rec: Option<&FileRecord>) -> Result<Vec<u8>> {
    let Some(rec) = rec else {
        return Err(TrainError::checkpoint(path, "not listed in state.json"));
    };
    let bytes = fs::read(path).map_err(|e| TrainError::checkpoint(path, e.to_string()))?;
    if bytes.len() as u64 != rec.bytes {
        return Err(TrainError::checkpoint(
            path,
            format!(
                "{} bytes, state.json records {} (truncated or replaced)",
                bytes.len(),
                rec.bytes
            ),
        ));
    }
    let h = fnv1a(&bytes);
    if h != rec.fnv1a.0 {
        return Err(TrainError::checkpoint(
            path,
            format!(
                "contents hash {h:016x}, state.json records {:016x} (corrupted)",
                rec.fnv1a.0
            ),
        ));
    }
    Ok(bytes)
}

/// Parses safetensors bytes onto the CPU.
fn parse_tensors(path: &Path, bytes: &[u8]) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| TrainError::checkpoint(path, format!("reading safetensors: {e}")))
}

impl Checkpoint {
    /// Reads the checkpoint in `dir` into memory, checking every file (see the module docs).
    pub fn read(dir: &Path) -> Result<Checkpoint> {
        let state_path = dir.join(STATE_FILE);
        let text = fs::read(&state_path)
            .map_err(|e| TrainError::checkpoint(&state_path, e.to_string()))?;
        let state: CheckpointState = serde_json::from_slice(&text)
            .map_err(|e| TrainError::checkpoint(&state_path, format!("malformed: {e}")))?;
        if state.format != FORMAT_VERSION {
            return Err(TrainError::checkpoint(
                &state_path,
                format!(
                    "format version {}, this build reads {FORMAT_VERSION}",
                    state.format
                ),
            ));
        }
        let mut stores = Vec::with_capacity(state.stores.len());
        for s in &state.stores {
            check_store_name(&s.name)
                .map_err(|e| TrainError::checkpoint(&state_path, e.to_string()))?;
            let file = format!("{}.safetensors", s.name);
            let path = dir.join(&file);
            let bytes = read_checked(&path, state.files.get(&file))?;
            stores.push(parse_tensors(&path, &bytes)?);
        }
        let path = dir.join(OPTIMIZER_FILE);
        let bytes = read_checked(&path, state.files.get(OPTIMIZER_FILE))?;
        let mut optimizer: Vec<(String, Tensor)> =
            parse_tensors(&path, &bytes)?.into_iter().collect();
        optimizer.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            state,
            stores,
            optimizer,
        })
    }

    /// Checks that the checkpoint was written by method `method` with these `stores` (names,
    /// trained flags, every tensor's name, shape and dtype) under a config with hash
    /// `config_hash` (`config` is the current config, for the list of differences).
    pub fn check_fits(
        &self,
        method: &str,
        stores: &[NamedStore],
        config: &serde_json::Value,
        config_hash: u64,
    ) -> Result<()> {
        let err = |m: String| Err(TrainError::checkpoint(&self.dir, m));
        if self.state.method != method {
            return err(format!(
                "written by method `{}`, resuming method `{method}`",
                self.state.method
            ));
        }
        if self.state.config_hash.0 != config_hash {
            let saved = crate::trainer::hashed_part(&self.state.config);
            let current = crate::trainer::hashed_part(config);
            let mut differences = json_diff(&saved, &current);
            if differences.is_empty() {
                differences
                    .push("(none found: the recorded hash does not match its config)".into());
            }
            return Err(TrainError::ConfigMismatch {
                path: self.dir.clone(),
                saved: self.state.config_hash.0,
                current: config_hash,
                differences,
            });
        }
        let want: Vec<StoreRecord> = stores
            .iter()
            .map(|s| StoreRecord {
                name: s.name.clone(),
                trained: s.trained,
            })
            .collect();
        if self.state.stores != want {
            return err(format!(
                "stores {:?}, the method has {:?}",
                self.state.stores, want
            ));
        }
        for (s, saved) in stores.iter().zip(&self.stores) {
            let params = s.store.all()?;
            let mut problems = Vec::new();
            for p in &params {
                match saved.get(&p.name) {
                    None => problems.push(format!("`{}` missing", p.name)),
                    Some(t) if t.dims() != p.var.dims() || t.dtype() != p.var.dtype() => problems
                        .push(format!(
                            "`{}` is {:?} {:?}, the model's {:?} {:?}",
                            p.name,
                            t.dims(),
                            t.dtype(),
                            p.var.dims(),
                            p.var.dtype()
                        )),
                    Some(_) => {}
                }
            }
            if saved.len() != params.len() {
                let mut extra: Vec<&String> = saved
                    .keys()
                    .filter(|k| !params.iter().any(|p| &p.name == *k))
                    .collect();
                extra.sort();
                problems.push(format!("unexpected {extra:?}"));
            }
            if !problems.is_empty() {
                return err(format!(
                    "{}.safetensors does not fit the model: {}",
                    s.name,
                    problems.join("; ")
                ));
            }
        }
        Ok(())
    }

    /// Loads the optimizer state (all or nothing) and then every variable of `stores`. Call
    /// [`Checkpoint::check_fits`] first.
    pub fn apply(&self, stores: &[NamedStore], optimizer: &mut dyn Optimizer) -> Result<()> {
        optimizer
            .load_state(&self.optimizer)
            .map_err(|e| TrainError::checkpoint(self.dir.join(OPTIMIZER_FILE), e.to_string()))?;
        for (s, saved) in stores.iter().zip(&self.stores) {
            s.store.load_state_dict(saved, true)?;
        }
        Ok(())
    }
}
