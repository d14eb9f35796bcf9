//! The [`Trainer`]: one loop for every [`Method`] — learning-rate schedule, forward through the
//! method, finiteness check, backward, gradient clipping, optimizer step, the method's
//! after-step hook (EMA targets), JSONL metrics, progress bar, periodic and final checkpoints,
//! resume, and a clean stop on a flag (Ctrl-C in the CLI).
//!
//! ## Step numbering
//!
//! [`StepContext::step`] counts updates from 0: step `k` uses learning rate
//! `schedule(k)` and random streams keyed by `k`. After step `k` the run has done `k + 1` steps;
//! that count is the `step` of the metrics line written then and the number of the checkpoint
//! (`step-00000012` holds the state after 12 updates and resumes at step index 12).
//!
//! ## Metrics log on resume
//!
//! `<run>/metrics.jsonl` gets one line per logged step. A run that is interrupted after its last
//! checkpoint may have logged steps that the resumed run will redo; on resume the log is cut back
//! to the lines with `step <= ` the checkpoint's step (rewritten atomically), so the file ends up
//! with one line per step, as an uninterrupted run's does.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use noether_ops::optim::{Optimizer, clip_grad_norm};

use crate::checkpoint::{Checkpoint, CheckpointDir, check_store_name, write_atomic};
use crate::config::{OPERATIONAL_FIELDS, TrainConfig, fnv1a};
use crate::error::{Result, TrainError};
use crate::method::{Method, StepContext};
use crate::source::BatchSource;

/// What a run did, with a short human summary as its `Display`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The method's name.
    pub method: String,
    /// Steps completed in total (including those before a resume).
    pub steps_done: u64,
    /// Steps of the whole run.
    pub total_steps: u64,
    /// Steps run by this call.
    pub steps_this_run: u64,
    /// Whether the run stopped on the stop flag before the last step.
    pub interrupted: bool,
    /// The total loss (`total`) and the terms of the last step run by this call.
    pub final_losses: Vec<(String, f64)>,
    /// Wall-clock seconds of this call.
    pub wall_seconds: f64,
    /// Items (images) per second over this call's steps.
    pub images_per_second: f64,
    /// The last committed checkpoint.
    pub checkpoint: Option<PathBuf>,
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.interrupted {
            "interrupted"
        } else {
            "finished"
        };
        write!(
            f,
            "{}: {state} at step {}/{} ({} this run) in {:.1} s, {:.0} images/s",
            self.method,
            self.steps_done,
            self.total_steps,
            self.steps_this_run,
            self.wall_seconds,
            self.images_per_second
        )?;
        if !self.final_losses.is_empty() {
            let terms: Vec<String> = self
                .final_losses
                .iter()
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect();
            write!(f, "; last losses: {}", terms.join(", "))?;
        }
        if let Some(c) = &self.checkpoint {
            write!(f, "; checkpoint {}", c.display())?;
        }
        Ok(())
    }
}

/// The part of a resolved config that the hash covers: everything but [`OPERATIONAL_FIELDS`].
pub(crate) fn hashed_part(config: &serde_json::Value) -> serde_json::Value {
    let mut c = config.clone();
    if let Some(train) = c.get_mut("train").and_then(|t| t.as_object_mut()) {
        for f in OPERATIONAL_FIELDS {
            train.remove(*f);
        }
    }
    c
}

/// Runs any [`Method`] on any [`BatchSource`] under a [`TrainConfig`], writing into a run
/// directory (`metrics.jsonl`, `config.json`, `checkpoints/`).
///
/// ```
/// # fn main() -> Result<(), noether_train::TrainError> {
/// use candle_core::{DType, Device, Tensor};
/// use noether_models::ParamStore;
/// use noether_train::*;
///
/// /// Fits w to 3: loss (w - 3)².
/// struct Fit { store: ParamStore, w: candle_core::Var }
/// impl Method for Fit {
///     type Batch = ();
///     fn name(&self) -> &str { "fit" }
///     fn stores(&self) -> Vec<NamedStore> { vec![NamedStore::trained("model", self.store.clone())] }
///     fn losses(&mut self, _: &(), _: &StepContext) -> Result<Losses> {
///         let loss = (self.w.as_tensor() - 3.0)?.sqr()?.sum_all()?;
///         Losses::new(loss.clone()).with_term("sq", &loss)
///     }
/// }
/// /// An endless source of unit batches.
/// struct Units(u64);
/// impl BatchSource for Units {
///     type Batch = ();
///     fn next_batch(&mut self) -> Result<()> { self.0 += 1; Ok(()) }
///     fn cursor(&self) -> serde_json::Value { self.0.into() }
///     fn restore(&mut self, c: &serde_json::Value) -> Result<()> {
///         self.0 = c.as_u64().ok_or(TrainError::Source("bad cursor".into()))?;
///         Ok(())
///     }
///     fn batch_items(&self) -> usize { 1 }
/// }
///
/// let store = ParamStore::seeded(0);
/// let vb = store.var_builder(DType::F32, &Device::Cpu);
/// let w = candle_core::Var::from_tensor(&vb.get_with_hints(2, "w", candle_nn::Init::Const(0.0))?)?;
/// let mut fit = Fit { store, w: w.clone() };
/// let dir = tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))?;
/// let cfg = TrainConfig::new(50, 0, OptimizerConfig::Sgd { lr: 0.1, momentum: 0.0, nesterov: false, weight_decay: 0.0 });
/// let summary = Trainer::new(cfg, dir.path())?.with_progress(false).run(&mut fit, &mut Units(0), false)?;
/// assert_eq!(summary.steps_done, 50);
/// assert!((w.as_tensor().to_vec1::<f32>()?[0] - 3.0).abs() < 1e-3);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Trainer {
    config: TrainConfig,
    run_dir: PathBuf,
    run_config: serde_json::Value,
    stop: Option<Arc<AtomicBool>>,
    progress: bool,
}

impl Trainer {
    /// A trainer for `config` (validated here) writing into `run_dir`.
    pub fn new(config: TrainConfig, run_dir: &Path) -> Result<Trainer> {
        config.validate()?;
        Ok(Trainer {
            config,
            run_dir: run_dir.to_path_buf(),
            run_config: serde_json::Value::Object(serde_json::Map::new()),
            stop: None,
            progress: true,
        })
    }

    /// Records the caller's resolved config (method, model, data...) in `config.json` and in
    /// every checkpoint; a resume under a different one is refused like a different
    /// [`TrainConfig`].
    pub fn with_run_config(mut self, run_config: serde_json::Value) -> Trainer {
        self.run_config = run_config;
        self
    }

    /// A flag that, once set (e.g. by a Ctrl-C handler), makes the run write a checkpoint after
    /// the current step and return a summary marked interrupted.
    pub fn with_stop_flag(mut self, stop: Arc<AtomicBool>) -> Trainer {
        self.stop = Some(stop);
        self
    }

    /// Shows (default) or hides the progress bar.
    pub fn with_progress(mut self, on: bool) -> Trainer {
        self.progress = on;
        self
    }

    /// The config.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The run's checkpoints.
    pub fn checkpoints(&self) -> CheckpointDir {
        CheckpointDir::new(&self.run_dir)
    }

    /// The resolved config written into checkpoints: `{"train": ..., "run": ...}`.
    pub fn resolved_config(&self) -> Result<serde_json::Value> {
        let train = serde_json::to_value(&self.config)
            .map_err(|e| TrainError::config("<config>", e.to_string()))?;
        Ok(serde_json::json!({ "train": train, "run": self.run_config }))
    }

    /// Hash of [`Trainer::resolved_config`] without the fields that do not change the numbers.
    pub fn config_hash(&self) -> Result<u64> {
        let part = hashed_part(&self.resolved_config()?);
        Ok(fnv1a(part.to_string().as_bytes()))
    }

    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// Trains `method` on batches of `source` up to `config.steps` steps. With `resume`,
    /// continues from the committed checkpoint of the run directory (an error when there is
    /// none, or it does not fit); without, the run directory must hold no checkpoint.
    ///
    /// Errors: a non-finite loss term ([`TrainError::NonFinite`], nothing written after the last
    /// checkpoint), a bad checkpoint, I/O, or any error of the method or the source.
    pub fn run<M, S>(&self, method: &mut M, source: &mut S, resume: bool) -> Result<RunSummary>
    where
        M: Method,
        S: BatchSource<Batch = M::Batch>,
    {
        let t0 = Instant::now();
        let cfg = &self.config;
        let stores = method.stores();
        for (i, s) in stores.iter().enumerate() {
            check_store_name(&s.name)?;
            if stores[..i].iter().any(|o| o.name == s.name) {
                return Err(TrainError::config(
                    format!("store `{}`", s.name),
                    "appears twice in Method::stores",
                ));
            }
        }
        let trained: Vec<&noether_models::ParamStore> = stores
            .iter()
            .filter(|s| s.trained)
            .map(|s| &s.store)
            .collect();
        let mut optimizer = cfg.optimizer.build(&trained)?;
        let mut trained_vars = Vec::new();
        for s in &trained {
            trained_vars.extend(s.trainable()?.into_iter().map(|p| p.var));
        }
        let config_json = self.resolved_config()?;
        let config_hash = self.config_hash()?;
        let ckdir = self.checkpoints();
        let metrics_path = self.run_dir.join("metrics.jsonl");

        let (start, resumed_from) = if resume {
            let Some(dir) = ckdir.latest()? else {
                return Err(TrainError::NoCheckpoint {
                    dir: self.run_dir.clone(),
                });
            };
            let ck = Checkpoint::read(&dir)?;
            ck.check_fits(method.name(), &stores, &config_json, config_hash)?;
            source.restore(&ck.state.cursor)?;
            ck.apply(&stores, optimizer.as_mut())?;
            truncate_metrics(&metrics_path, ck.state.step)?;
            (ck.state.step, Some(dir))
        } else {
            if ckdir.has_any() {
                return Err(TrainError::RunExists {
                    dir: self.run_dir.clone(),
                });
            }
            fs::create_dir_all(&self.run_dir).map_err(|e| TrainError::io(&self.run_dir, e))?;
            write_atomic(&metrics_path, b"")?;
            (0, None)
        };
        let pretty = serde_json::to_vec_pretty(&config_json)
            .map_err(|e| TrainError::config("<config>", e.to_string()))?;
        write_atomic(&self.run_dir.join("config.json"), &pretty)?;
        let mut metrics = fs::OpenOptions::new()
            .append(true)
            .open(&metrics_path)
            .map_err(|e| TrainError::io(&metrics_path, e))?;

        let bar = self.progress_bar(start);
        let mut saved_step = resumed_from.is_some().then_some(start);
        let mut last_saved = resumed_from;
        let name = method.name().to_string();
        let commit = |step: u64, optimizer: &dyn Optimizer, cursor| {
            ckdir.save(
                step,
                &name,
                &stores,
                optimizer,
                cursor,
                config_json.clone(),
                config_hash,
                cfg.keep_checkpoints,
            )
        };
        let mut final_losses = Vec::new();
        let mut interrupted = false;
        let mut step = start;
        let loop_t0 = Instant::now();
        while step < cfg.steps {
            if self.stopped() {
                interrupted = true;
                break;
            }
            let ctx = StepContext {
                step,
                total_steps: cfg.steps,
                lr: cfg.lr(step),
                seed: cfg.seed,
            };
            let batch = source.next_batch()?;
            let losses = method.losses(&batch, &ctx)?;
            let total = scalar(&losses.total, step)?;
            let mut terms = Vec::with_capacity(losses.terms.len() + 1);
            terms.push(("total".to_string(), total));
            terms.extend(losses.terms.iter().cloned());
            // Name a non-finite term before the total it makes non-finite.
            let bad = terms[1..]
                .iter()
                .chain(&terms[..1])
                .find(|(_, v)| !v.is_finite());
            if let Some((term, value)) = bad {
                bar.abandon();
                return Err(TrainError::NonFinite {
                    step,
                    term: term.clone(),
                    value: *value,
                });
            }
            let mut grads = losses.total.backward()?;
            let grad_norm = match cfg.clip_grad_norm {
                Some(max) => {
                    let n = clip_grad_norm(&mut grads, &trained_vars, max)?;
                    if !n.is_finite() {
                        bar.abandon();
                        return Err(TrainError::NonFinite {
                            step,
                            term: "grad_norm".into(),
                            value: n,
                        });
                    }
                    Some(n)
                }
                None => None,
            };
            optimizer.step(&grads, ctx.lr)?;
            drop(grads);
            method.after_step(&ctx)?;
            step += 1;
            let done_here = step - start;
            let secs = loop_t0.elapsed().as_secs_f64();
            let ips = (done_here as f64 * source.batch_items() as f64) / secs.max(1e-9);
            if step % cfg.log_every == 0 || step == cfg.steps {
                let mut line = serde_json::Map::new();
                line.insert("step".into(), step.into());
                line.insert("lr".into(), json_f64(ctx.lr));
                for (k, v) in &terms {
                    line.insert(format!("loss/{k}"), json_f64(*v));
                }
                if let Some(n) = grad_norm {
                    line.insert("grad_norm".into(), json_f64(n));
                }
                line.insert("images_per_second".into(), json_f64(ips));
                line.insert("elapsed_s".into(), json_f64(secs));
                let text = format!("{}\n", serde_json::Value::Object(line));
                metrics
                    .write_all(text.as_bytes())
                    .map_err(|e| TrainError::io(&metrics_path, e))?;
            }
            bar.set_position(step);
            bar.set_message(format!("loss {total:.4} | {ips:.0} img/s"));
            final_losses = terms;
            let periodic = cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0;
            if periodic || step == cfg.steps {
                last_saved = Some(commit(step, optimizer.as_ref(), source.cursor())?);
                saved_step = Some(step);
            }
        }
        if saved_step != Some(step) {
            last_saved = Some(commit(step, optimizer.as_ref(), source.cursor())?);
        }
        metrics
            .sync_all()
            .map_err(|e| TrainError::io(&metrics_path, e))?;
        bar.finish_and_clear();
        let steps_this_run = step - start;
        let secs = loop_t0.elapsed().as_secs_f64();
        Ok(RunSummary {
            method: name,
            steps_done: step,
            total_steps: cfg.steps,
            steps_this_run,
            interrupted,
            final_losses,
            wall_seconds: t0.elapsed().as_secs_f64(),
            images_per_second: if steps_this_run == 0 {
                0.0
            } else {
                steps_this_run as f64 * source.batch_items() as f64 / secs.max(1e-9)
            },
            checkpoint: last_saved,
        })
    }

    fn progress_bar(&self, start: u64) -> ProgressBar {
        let target = if self.progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(self.config.steps), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
        ) {
            bar.set_style(style);
        }
        bar.set_position(start);
        bar
    }
}

/// The value of the rank-0 total loss; a non-scalar is an error naming the step.
fn scalar(total: &candle_core::Tensor, step: u64) -> Result<f64> {
    if total.rank() != 0 {
        return Err(TrainError::config(
            "Losses.total",
            format!(
                "must be a scalar, got shape {:?} at step {step}",
                total.dims()
            ),
        ));
    }
    Ok(total
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?)
}

/// A JSON number (finite values only reach here).
fn json_f64(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Keeps the lines of the metrics log whose `step` is at most `step` (see the module docs).
fn truncate_metrics(path: &Path, step: u64) -> Result<()> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(TrainError::io(path, e)),
    };
    let mut kept = String::new();
    for line in text.lines() {
        let keep = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
            .is_some_and(|s| s <= step);
        if keep {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    write_atomic(path, kept.as_bytes())
}
