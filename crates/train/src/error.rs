//! The train crate's error type: every variant names the step, loss term, file or field.

use std::path::PathBuf;

/// Errors of configuring, running, checkpointing and resuming a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A configuration value is missing, unknown or out of range; names the field.
    #[error("invalid train config: {field}: {reason}")]
    Config {
        /// The offending field (dotted path, e.g. `optimizer.lr`).
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A loss term (or the total) is NaN or infinite: the run stops before the update, and the
    /// last checkpoint on disk is left as it was.
    #[error(
        "non-finite loss at step {step}: term `{term}` = {value} (the last good checkpoint is kept)"
    )]
    NonFinite {
        /// The step (0-based index of the update) whose loss was not finite.
        step: u64,
        /// The loss term (`total` for the total).
        term: String,
        /// Its value.
        value: f64,
    },
    /// A checkpoint is missing, truncated, malformed, or does not fit the method.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint was written under another configuration.
    #[error(
        "checkpoint {path} was written with another config (hash {saved:016x}, current {current:016x}); differing fields: {}",
        differences.join(", ")
    )]
    ConfigMismatch {
        /// The checkpoint directory.
        path: PathBuf,
        /// Hash of the checkpoint's config.
        saved: u64,
        /// Hash of the current config.
        current: u64,
        /// The differing fields, as `path: saved -> current`.
        differences: Vec<String>,
    },
    /// Resume was asked for but the run directory holds no committed checkpoint.
    #[error("nothing to resume: {dir} has no checkpoint (no `checkpoints/latest`)")]
    NoCheckpoint {
        /// The run directory.
        dir: PathBuf,
    },
    /// A fresh run was asked for in a directory that already holds checkpoints.
    #[error("{dir} already holds checkpoints: resume the run or choose another run directory")]
    RunExists {
        /// The run directory.
        dir: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The batch source failed.
    #[error("batch source: {0}")]
    Source(String),
    /// A model or parameter store error.
    #[error(transparent)]
    Model(#[from] noether_models::ModelError),
    /// A symmetrized model refused its input or setting.
    #[error(transparent)]
    Symmetrize(#[from] noether_symmetrize::SymError),
    /// A tensor operation (forward, backward, optimizer step) failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl TrainError {
    /// A [`TrainError::Config`] for `field`.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> TrainError {
        TrainError::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A [`TrainError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> TrainError {
        TrainError::Io {
            path: path.into(),
            message: e.to_string(),
        }
    }

    /// A [`TrainError::Checkpoint`] for `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> TrainError {
        TrainError::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The train crate's result type.
pub type Result<T> = std::result::Result<T, TrainError>;
