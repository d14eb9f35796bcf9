//! Config checks shared by the method recipes: each error names the field.

use crate::error::{Result, TrainError};

/// `Ok` when `v` is finite and positive, else an error naming `field`.
pub(crate) fn positive(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(TrainError::config(
            field,
            format!("must be finite and > 0 (got {v})"),
        ))
    }
}

/// `Ok` when the loss weight `w` is finite and `>= 0`, else an error naming `field`.
pub(crate) fn check_weight(field: &str, w: f64) -> Result<()> {
    if w.is_finite() && w >= 0.0 {
        Ok(())
    } else {
        Err(TrainError::config(
            field,
            format!("must be finite and >= 0 (got {w})"),
        ))
    }
}

/// Errors naming `field` unless `width >= 1`.
pub(crate) fn check_width(field: &str, width: usize) -> Result<()> {
    if width == 0 {
        Err(TrainError::config(field, "must be >= 1"))
    } else {
        Ok(())
    }
}
