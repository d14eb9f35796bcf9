//! The crate's one error type: every bad argument names the function, the argument and what
//! is wrong with it; candle and JSON failures pass through.

/// What can go wrong in an evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// An argument has a wrong shape, length, value or is empty.
    #[error("{func}: `{arg}` {msg}")]
    Invalid {
        /// The function that rejected it, e.g. `"knn_classify"`.
        func: &'static str,
        /// The argument or field, e.g. `"train_labels"` or `"config.k"`.
        arg: &'static str,
        /// What is wrong, e.g. `"has 3 rows, expected 4"`.
        msg: String,
    },
    /// A training run produced a non-finite loss (probe or regression head).
    #[error("{func}: non-finite loss {loss} at epoch {epoch}, step {step}")]
    NonFiniteLoss {
        /// The trainer that diverged.
        func: &'static str,
        /// 0-based epoch.
        epoch: usize,
        /// 0-based optimizer step over the whole run.
        step: usize,
        /// The loss value.
        loss: f64,
    },
    /// An error from candle (device, dtype, kernel).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A table that could not be (de)serialised.
    #[error("results table JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// `Result` with [`EvalError`].
pub type Result<T> = std::result::Result<T, EvalError>;

/// Shorthand for [`EvalError::Invalid`].
pub(crate) fn invalid(func: &'static str, arg: &'static str, msg: impl Into<String>) -> EvalError {
    EvalError::Invalid {
        func,
        arg,
        msg: msg.into(),
    }
}
