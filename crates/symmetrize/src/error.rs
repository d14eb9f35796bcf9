//! The one error type of `noether-symmetrize`.

/// What can go wrong wrapping a network: a tensor whose shape does not fit its representation,
/// a group that does not act on a representation, a mode without what it needs (an interface,
/// a frame), or a tensor operation that failed. Every message names the argument or setting.
#[derive(Debug, thiserror::Error)]
pub enum SymError {
    /// An argument or setting is invalid; `what` names it (e.g. `inputs[1]`, `mode.k`).
    #[error("{what}: {reason}")]
    Invalid {
        /// The argument or setting.
        what: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A tensor operation failed (inside the base, the interface or an action).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A network of `noether-models` could not be built (its config names the field).
    #[error("interface network: {0}")]
    Model(#[from] noether_models::ModelError),
    /// A group of `noether-groups` refused an argument.
    #[error(transparent)]
    Group(#[from] noether_groups::GroupError),
}

impl SymError {
    /// A [`SymError::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> SymError {
        SymError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// `Result` with [`SymError`].
pub type Result<T, E = SymError> = std::result::Result<T, E>;
