//! The one error type of `noether-groups`.

use thiserror::Error;

/// Everything that can go wrong in `noether-groups`. Each variant names the group and what was
/// expected, so a message read far from the call site still says what to fix.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GroupError {
    /// A parameter vector could not be decoded into a group element.
    #[error("{group}: cannot decode parameters: {reason}; expected {layout}")]
    Decode {
        /// The group's name, e.g. `SO(3)`.
        group: String,
        /// The expected layout, as written by [`crate::ParamLayout::describe`].
        layout: String,
        /// What was wrong with the input.
        reason: String,
    },
    /// An input (vector, point set, matrix) has the wrong dimension for the group's action.
    #[error("{group}: {what} has dimension {got}, expected {expected}")]
    Dimension {
        /// The group's name.
        group: String,
        /// What was acted on, e.g. `vector` or `point set columns`.
        what: String,
        /// The dimension the group acts on.
        expected: usize,
        /// The dimension that was given.
        got: usize,
    },
    /// A group was constructed with an invalid parameter (e.g. `C_0`, a negative standard deviation).
    #[error("{group}: invalid parameter `{param}`: {reason}")]
    InvalidParameter {
        /// The group (family) being constructed.
        group: String,
        /// The parameter's name.
        param: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A textual group specification (e.g. `"SO(3) x S5"`) could not be parsed.
    #[error("invalid group specification `{spec}`: {reason}")]
    Spec {
        /// The specification as given.
        spec: String,
        /// Why it could not be parsed.
        reason: String,
    },
    /// A point set's buffer does not match its shape.
    #[error("point set of {rows} x {cols} needs {} values, got {len}", rows * cols)]
    Shape {
        /// Number of rows (points).
        rows: usize,
        /// Number of columns (coordinates).
        cols: usize,
        /// Length of the buffer given.
        len: usize,
    },
}

/// Shorthand for results in this crate.
pub type Result<T, E = GroupError> = std::result::Result<T, E>;
