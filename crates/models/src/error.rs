//! The models crate's error type.

use std::path::PathBuf;

/// Errors of building, saving and loading models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A configuration value is out of range; names the field.
    #[error("invalid model config: {field}: {reason}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// Reading or writing a weights file failed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A weights file does not fit the model.
    #[error("{path}: {message}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// Which tensors are missing, unexpected or of the wrong shape.
        message: String,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The models crate's result type.
pub type Result<T> = std::result::Result<T, ModelError>;
