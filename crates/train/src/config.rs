//! [`TrainConfig`]: the hyperparameters the [`crate::Trainer`] applies the same way to every
//! method — steps, seed, optimizer, learning-rate schedule, gradient clipping, checkpoint and log
//! cadence. Loaded from TOML with unknown keys rejected, checked once by
//! [`TrainConfig::validate`] (errors name the field), and written resolved into every checkpoint.
//!
//! ```
//! use noether_train::TrainConfig;
//! let cfg = TrainConfig::from_toml_str(r#"
//!     steps = 100
//!     seed = 0
//!     [optimizer]
//!     kind = "lars"
//!     lr = 4.8
//!     weight_decay = 1e-6
//!     [schedule]
//!     kind = "warmup_cosine"
//!     warmup_steps = 10
//! "#)?;
//! assert_eq!(cfg.steps, 100);
//! # Ok::<(), noether_train::TrainError>(())
//! ```

use std::path::Path;

use noether_models::ParamStore;
use noether_ops::optim::{
    Adam, AdamConfig, Lars, LarsConfig, Optimizer, ParamGroup, Schedule, Sgd, SgdConfig,
};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The optimizer and its hyperparameters, tagged by `kind` in TOML / JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// `torch.optim.SGD`: momentum, Nesterov, coupled weight decay.
    Sgd {
        /// Base learning rate.
        lr: f64,
        /// Momentum factor (0: plain SGD).
        #[serde(default)]
        momentum: f64,
        /// Nesterov momentum (needs momentum > 0).
        #[serde(default)]
        nesterov: bool,
        /// Coupled weight decay of weights (biases and norm parameters take none).
        #[serde(default)]
        weight_decay: f64,
    },
    /// `torch.optim.Adam`: coupled L2 weight decay (`g += wd w`).
    Adam {
        /// Base learning rate.
        lr: f64,
        /// `(beta1, beta2)`, each in `[0, 1)`.
        #[serde(default = "default_betas")]
        betas: [f64; 2],
        /// Added to the denominator.
        #[serde(default = "default_eps")]
        eps: f64,
        /// Coupled weight decay of weights.
        #[serde(default)]
        weight_decay: f64,
    },
    /// `torch.optim.AdamW`: decoupled weight decay (`w -= lr wd w`).
    Adamw {
        /// Base learning rate.
        lr: f64,
        /// `(beta1, beta2)`, each in `[0, 1)`.
        #[serde(default = "default_betas")]
        betas: [f64; 2],
        /// Added to the denominator.
        #[serde(default = "default_eps")]
        eps: f64,
        /// Decoupled weight decay of weights.
        #[serde(default)]
        weight_decay: f64,
    },
    /// LARS as in the EquiMod reference code: no decay and no trust ratio on biases and norm
    /// parameters.
    Lars {
        /// Base learning rate.
        lr: f64,
        /// Momentum factor.
        #[serde(default = "default_momentum")]
        momentum: f64,
        /// Trust coefficient.
        #[serde(default = "default_eta")]
        eta: f64,
        /// Coupled weight decay of weights.
        #[serde(default)]
        weight_decay: f64,
    },
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}
fn default_momentum() -> f64 {
    0.9
}
fn default_eta() -> f64 {
    1e-3
}

/// The learning-rate schedule, tagged by `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// The base rate at every step. (A struct variant so that stray keys next to
    /// `kind = "constant"` are rejected; serde lets unit variants ignore them.)
    Constant {},
    /// Linear warmup from `lr * start_factor` to `lr` over `warmup_steps`, then a half cosine to
    /// `lr * final_factor` at the last step ([`Schedule::WarmupCosine`] with
    /// `total_steps = steps`).
    WarmupCosine {
        /// Steps of linear warmup.
        warmup_steps: u64,
        /// Rate at step 0, as a fraction of the base rate.
        #[serde(default)]
        start_factor: f64,
        /// Rate at the end, as a fraction of the base rate.
        #[serde(default)]
        final_factor: f64,
    },
}

impl Default for ScheduleConfig {
    /// [`ScheduleConfig::Constant`].
    fn default() -> Self {
        ScheduleConfig::Constant {}
    }
}

/// Everything the trainer needs besides the method and the data (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimizer steps of the whole run.
    pub steps: u64,
    /// The run seed: every random choice of step `k` is drawn from generators derived from
    /// `(seed, stream, k)` (see [`crate::StepContext::rng`]).
    pub seed: u64,
    /// Optimizer and base learning rate.
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule (default: constant).
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// Clip the global gradient norm of the trained parameters to this value (default: off).
    #[serde(default)]
    pub clip_grad_norm: Option<f64>,
    /// Write a checkpoint every this many steps (0: only at the end or on interruption).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// Committed checkpoints to keep (>= 1); older ones are deleted after a new one is committed.
    #[serde(default = "default_keep")]
    pub keep_checkpoints: usize,
    /// Write a metrics line every this many steps (and at the last step).
    #[serde(default = "default_log_every")]
    pub log_every: u64,
}

fn default_checkpoint_every() -> u64 {
    1000
}
fn default_keep() -> usize {
    2
}
fn default_log_every() -> u64 {
    1
}

/// Fields that change how often things are written but not a single number of the run: they are
/// left out of the config hash, so a run may resume with other values.
pub(crate) const OPERATIONAL_FIELDS: &[&str] =
    &["checkpoint_every", "keep_checkpoints", "log_every"];

fn check(field: &str, ok: bool, v: impl std::fmt::Display, want: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(TrainError::config(
            field,
            format!("must be {want} (got {v})"),
        ))
    }
}

fn check_min(field: &str, v: f64, min: f64) -> Result<()> {
    check(
        field,
        v.is_finite() && v >= min,
        v,
        &format!("finite and >= {min}"),
    )
}

fn check_unit(field: &str, v: f64) -> Result<()> {
    check(field, (0.0..1.0).contains(&v), v, "in [0, 1)")
}

impl OptimizerConfig {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            OptimizerConfig::Sgd { lr, .. }
            | OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::Adamw { lr, .. }
            | OptimizerConfig::Lars { lr, .. } => lr,
        }
    }

    /// The weight decay of weights (biases and norm parameters take none).
    pub fn weight_decay(&self) -> f64 {
        match *self {
            OptimizerConfig::Sgd { weight_decay, .. }
            | OptimizerConfig::Adam { weight_decay, .. }
            | OptimizerConfig::Adamw { weight_decay, .. }
            | OptimizerConfig::Lars { weight_decay, .. } => weight_decay,
        }
    }

    /// Checks the ranges; errors name the field as `optimizer.<name>`.
    pub fn validate(&self) -> Result<()> {
        check_min("optimizer.lr", self.lr(), 0.0)?;
        check_min("optimizer.weight_decay", self.weight_decay(), 0.0)?;
        match *self {
            OptimizerConfig::Sgd {
                momentum, nesterov, ..
            } => {
                check_min("optimizer.momentum", momentum, 0.0)?;
                if nesterov {
                    check(
                        "optimizer.nesterov",
                        momentum > 0.0,
                        momentum,
                        "used with momentum > 0",
                    )?;
                }
            }
            OptimizerConfig::Adam { betas, eps, .. }
            | OptimizerConfig::Adamw { betas, eps, .. } => {
                check_unit("optimizer.betas[0]", betas[0])?;
                check_unit("optimizer.betas[1]", betas[1])?;
                check_min("optimizer.eps", eps, 0.0)?;
            }
            OptimizerConfig::Lars { momentum, eta, .. } => {
                check_min("optimizer.momentum", momentum, 0.0)?;
                check_min("optimizer.eta", eta, 0.0)?;
            }
        }
        Ok(())
    }

    /// The optimizer over the trained parameters of `stores`, in order: for each store a group
    /// of its weights (weight decay `weight_decay`, LARS trust ratio on) and a group of its
    /// biases and norm parameters (no decay, no trust ratio). Buffers are never included.
    pub fn build(&self, stores: &[&ParamStore]) -> Result<Box<dyn Optimizer>> {
        self.validate()?;
        let wd = self.weight_decay();
        let mut groups = Vec::with_capacity(2 * stores.len());
        for s in stores {
            let (decay, no_decay) = s.decay_groups()?;
            groups.push(ParamGroup::new(decay, wd));
            groups.push(ParamGroup::no_decay(no_decay));
        }
        Ok(match *self {
            OptimizerConfig::Sgd {
                momentum, nesterov, ..
            } => Box::new(Sgd::new(
                groups,
                SgdConfig {
                    momentum,
                    dampening: 0.0,
                    nesterov,
                },
            )?),
            OptimizerConfig::Adam { betas, eps, .. } => Box::new(Adam::new(
                groups,
                AdamConfig {
                    beta1: betas[0],
                    beta2: betas[1],
                    eps,
                    decoupled_weight_decay: false,
                },
            )?),
            OptimizerConfig::Adamw { betas, eps, .. } => Box::new(Adam::new(
                groups,
                AdamConfig {
                    beta1: betas[0],
                    beta2: betas[1],
                    eps,
                    decoupled_weight_decay: true,
                },
            )?),
            OptimizerConfig::Lars { momentum, eta, .. } => {
                Box::new(Lars::new(groups, LarsConfig { momentum, eta })?)
            }
        })
    }
}

impl TrainConfig {
    /// A config with `steps`, `seed` and `optimizer` and the defaults for the rest (constant
    /// schedule, no clipping, a checkpoint every 1000 steps, keep 2, log every step).
    pub fn new(steps: u64, seed: u64, optimizer: OptimizerConfig) -> TrainConfig {
        TrainConfig {
            steps,
            seed,
            optimizer,
            schedule: ScheduleConfig::Constant {},
            clip_grad_norm: None,
            checkpoint_every: default_checkpoint_every(),
            keep_checkpoints: default_keep(),
            log_every: default_log_every(),
        }
    }

    /// Parses TOML (unknown keys are errors naming the key) and validates.
    pub fn from_toml_str(text: &str) -> Result<TrainConfig> {
        let cfg: TrainConfig =
            toml::from_str(text).map_err(|e| TrainError::config("<toml>", e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// [`TrainConfig::from_toml_str`] of a file; errors name the file.
    pub fn from_toml_file(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::from_toml_str(&text).map_err(|e| match e {
            TrainError::Config { field, reason } => TrainError::Config {
                field: format!("{}: {field}", path.display()),
                reason,
            },
            other => other,
        })
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        check("steps", self.steps >= 1, self.steps, ">= 1")?;
        self.optimizer.validate()?;
        if let ScheduleConfig::WarmupCosine {
            warmup_steps,
            start_factor,
            final_factor,
        } = self.schedule
        {
            check(
                "schedule.warmup_steps",
                warmup_steps <= self.steps,
                warmup_steps,
                &format!("<= steps ({})", self.steps),
            )?;
            check_min("schedule.start_factor", start_factor, 0.0)?;
            check_min("schedule.final_factor", final_factor, 0.0)?;
        }
        if let Some(c) = self.clip_grad_norm {
            check(
                "clip_grad_norm",
                c.is_finite() && c > 0.0,
                c,
                "finite and > 0",
            )?;
        }
        check(
            "keep_checkpoints",
            self.keep_checkpoints >= 1,
            self.keep_checkpoints,
            ">= 1",
        )?;
        check("log_every", self.log_every >= 1, self.log_every, ">= 1")
    }

    /// The learning-rate schedule over this run's steps.
    pub fn schedule(&self) -> Schedule {
        match self.schedule {
            ScheduleConfig::Constant {} => Schedule::Constant,
            ScheduleConfig::WarmupCosine {
                warmup_steps,
                start_factor,
                final_factor,
            } => Schedule::WarmupCosine {
                warmup_steps,
                total_steps: self.steps,
                start_factor,
                final_factor,
            },
        }
    }

    /// The learning rate of step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        self.schedule().lr(self.optimizer.lr(), step)
    }
}

/// FNV-1a (64 bit) of `bytes`: a stable hash, the same on every platform and Rust version.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The differing leaves of two JSON values, as `path: a -> b` (at most 16).
pub(crate) fn json_diff(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    let null = Value::Null;
                    walk(
                        &p,
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(format!("{path}: {a} -> {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", a, b, &mut out);
    out.truncate(16);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    fn err_of(text: &str) -> String {
        TrainConfig::from_toml_str(text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    const OK: &str = "steps = 10\nseed = 1\n[optimizer]\nkind = \"sgd\"\nlr = 0.1\n";

    #[test]
    fn toml_loads_with_defaults_and_rejects_unknown_keys() -> Result<()> {
        let cfg = TrainConfig::from_toml_str(OK)?;
        assert_eq!(
            cfg,
            TrainConfig::new(
                10,
                1,
                OptimizerConfig::Sgd {
                    lr: 0.1,
                    momentum: 0.0,
                    nesterov: false,
                    weight_decay: 0.0
                }
            )
        );
        let e = err_of(&OK.replace("seed = 1", "seed = 1\nsteps_per_epoch = 3"));
        assert!(e.contains("steps_per_epoch"), "{e}");
        let e = err_of(&format!("{OK}momentun = 0.9\n"));
        assert!(e.contains("momentun"), "{e}");
        let e = err_of(&format!(
            "{OK}[schedule]\nkind = \"constant\"\nwarmup = 3\n"
        ));
        assert!(e.contains("warmup"), "{e}");
        let e = err_of(&OK.replace("\"sgd\"", "\"rmsprop\""));
        assert!(e.contains("rmsprop"), "{e}");
        let e = err_of("seed = 1\n[optimizer]\nkind = \"sgd\"\nlr = 0.1\n");
        assert!(e.contains("steps"), "{e}");
        // every kind parses
        for kind in ["adam", "adamw", "lars"] {
            TrainConfig::from_toml_str(&OK.replace("sgd", kind))?;
        }
        Ok(())
    }

    #[test]
    fn validate_names_the_field() {
        let cases = [
            ("lr = 0.1", "lr = -1", "optimizer.lr"),
            (
                "lr = 0.1",
                "lr = 0.1\nweight_decay = -0.1",
                "optimizer.weight_decay",
            ),
            (
                "lr = 0.1",
                "lr = 0.1\nnesterov = true",
                "optimizer.nesterov",
            ),
            ("steps = 10", "steps = 0", "steps"),
            ("seed = 1", "seed = 1\nlog_every = 0", "log_every"),
            (
                "seed = 1",
                "seed = 1\nkeep_checkpoints = 0",
                "keep_checkpoints",
            ),
            (
                "seed = 1",
                "seed = 1\nclip_grad_norm = 0.0",
                "clip_grad_norm",
            ),
        ];
        for (from, to, field) in cases {
            let e = err_of(&OK.replace(from, to));
            assert!(e.contains(&format!("{field}:")), "{field}: {e}");
        }
        let adam = OK.replace("sgd", "adam") + "betas = [0.9, 1.0]\n";
        assert!(err_of(&adam).contains("optimizer.betas[1]"));
        let warm = format!("{OK}[schedule]\nkind = \"warmup_cosine\"\nwarmup_steps = 11\n");
        assert!(err_of(&warm).contains("schedule.warmup_steps"));
        let lars = OK.replace("sgd", "lars") + "eta = -1\n";
        assert!(err_of(&lars).contains("optimizer.eta"));
    }

    #[test]
    fn optimizer_sees_trained_variables_not_buffers() -> Result<()> {
        use candle_core::{DType, Device};
        let store = ParamStore::seeded(0);
        let vb = store.var_builder(DType::F32, &Device::Cpu);
        vb.get_with_hints((3, 2), "fc.weight", candle_nn_init())?;
        vb.get_with_hints(3, "fc.bias", candle_nn_init())?;
        vb.get_with_hints(3, "bn.running_mean", candle_nn_init())?;
        let opt = OptimizerConfig::Lars {
            lr: 0.1,
            momentum: 0.9,
            eta: 1e-3,
            weight_decay: 1e-4,
        }
        .build(&[&store])?;
        // state lists the trained variables only: weight (0) and bias (1), not the buffer
        let names: Vec<String> = opt.state()?.into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["steps", "0.step", "1.step"]);
        Ok(())
    }

    fn candle_nn_init() -> candle_nn::Init {
        candle_nn::Init::Const(0.5)
    }

    #[test]
    fn diff_names_nested_fields() {
        let a = serde_json::json!({"optimizer": {"lr": 0.1, "kind": "sgd"}, "steps": 3});
        let b = serde_json::json!({"optimizer": {"lr": 0.2, "kind": "sgd"}, "steps": 3});
        assert_eq!(
            json_diff(&a, &b),
            vec!["optimizer.lr: 0.1 -> 0.2".to_string()]
        );
        assert!(json_diff(&a, &a).is_empty());
    }
}
