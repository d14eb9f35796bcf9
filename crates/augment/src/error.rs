//! The one error type of `noether-augment`.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in `noether-augment`. Each variant names the file or the op, and
/// for parameter vectors the expected layout, so the message says what to fix.
#[derive(Debug, Error)]
pub enum AugmentError {
    /// An image file could not be opened or decoded (missing, truncated, not an image).
    #[error("cannot read image {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the decoder or the file system said.
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write {}: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A parameter vector has the wrong number of floats for its op.
    #[error("{op}: parameter vector has {got} floats, expected {expected}")]
    ParamLength {
        /// The op, e.g. `random_resized_crop`.
        op: String,
        /// The expected layout, as written by `ParamLayout::describe`.
        expected: String,
        /// The number of floats given.
        got: usize,
    },
    /// A parameter is outside the range its op accepts.
    #[error("{op}: parameter `{name}` = {value} is outside {range}; expected {expected}")]
    ParamRange {
        /// The op.
        op: String,
        /// The slot's name in the layout.
        name: String,
        /// The value given.
        value: f64,
        /// The accepted range, in words.
        range: String,
        /// The expected layout.
        expected: String,
    },
    /// An op's configuration is invalid, or it cannot apply to this image (a crop larger than
    /// the image, a grey image given to a colour op).
    #[error("{op}: {reason}")]
    Invalid {
        /// The op or the step.
        op: String,
        /// What is wrong.
        reason: String,
    },
    /// An image buffer does not match its shape.
    #[error("image buffer of {channels} x {height} x {width} needs {} floats, got {len}", channels * height * width)]
    Shape {
        /// Channels.
        channels: usize,
        /// Height.
        height: usize,
        /// Width.
        width: usize,
        /// Length of the buffer given.
        len: usize,
    },
    /// A recorded view does not match the pipeline asked to replay it.
    #[error("replay: {reason}")]
    Replay {
        /// What does not match.
        reason: String,
    },
    /// A group element could not act on an image.
    #[error(transparent)]
    Group(#[from] noether_groups::GroupError),
}

/// `Result` with [`AugmentError`].
pub type Result<T, E = AugmentError> = std::result::Result<T, E>;

/// Shorthand for an [`AugmentError::Invalid`].
pub(crate) fn invalid(op: &str, reason: impl Into<String>) -> AugmentError {
    AugmentError::Invalid {
        op: op.into(),
        reason: reason.into(),
    }
}
