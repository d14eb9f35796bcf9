//! The one error type of `noether-data`.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong reading, writing or rendering data. Each variant names the file
/// (and where useful the byte offset) or the setting, so the message says what to fix.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file or directory could not be read or written.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        reason: String,
    },
    /// A file's contents are not what its format requires (wrong magic number, truncated
    /// record, bad header, wrong length).
    #[error("{}{}: {reason}", path.display(), offset.map(|o| format!(" at byte {o}")).unwrap_or_default())]
    Format {
        /// The file.
        path: PathBuf,
        /// Byte offset of the problem, when known.
        offset: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// A setting or argument is invalid (zero classes, a size out of range, an unknown split).
    #[error("{what}: {reason}")]
    Invalid {
        /// The setting, e.g. `mini3die.size`.
        what: String,
        /// Why it is invalid.
        reason: String,
    },
    /// An image could not be decoded or written.
    #[error(transparent)]
    Image(#[from] noether_augment::AugmentError),
    /// A group operation failed.
    #[error(transparent)]
    Group(#[from] noether_groups::GroupError),
}

/// `Result` with [`DataError`].
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// An [`DataError::Io`] for `path` from an `std::io::Error`.
    pub fn io(path: impl Into<PathBuf>, e: &std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            reason: e.to_string(),
        }
    }

    /// A [`DataError::Format`] for `path`.
    pub fn format(
        path: impl Into<PathBuf>,
        offset: Option<u64>,
        reason: impl Into<String>,
    ) -> Self {
        DataError::Format {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// A [`DataError::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        DataError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
