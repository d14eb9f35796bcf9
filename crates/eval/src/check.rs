//! Argument checks shared by the metrics: shapes, emptiness, labels, finiteness.

use candle_core::{DType, Tensor};

use crate::error::{Result, invalid};

/// `x` must be a non-empty `(rows, cols)` matrix with `cols >= 1`; returns `(rows, cols)`.
pub(crate) fn matrix(func: &'static str, arg: &'static str, x: &Tensor) -> Result<(usize, usize)> {
    let (r, c) = match x.dims() {
        [r, c] => (*r, *c),
        d => {
            return Err(invalid(
                func,
                arg,
                format!("must be a matrix (N, D), got shape {d:?}"),
            ));
        }
    };
    if r == 0 || c == 0 {
        return Err(invalid(func, arg, format!("is empty, shape ({r}, {c})")));
    }
    if !matches!(
        x.dtype(),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16
    ) {
        return Err(invalid(
            func,
            arg,
            format!("must be a float tensor, got {:?}", x.dtype()),
        ));
    }
    Ok((r, c))
}

/// The rows of a float matrix on the host as `f64`, row-major, with its shape.
pub(crate) fn host_f64(
    func: &'static str,
    arg: &'static str,
    x: &Tensor,
) -> Result<(Vec<f64>, usize, usize)> {
    let (r, c) = matrix(func, arg, x)?;
    let v = x.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    if let Some(i) = v.iter().position(|a| !a.is_finite()) {
        return Err(invalid(
            func,
            arg,
            format!("has a non-finite entry at row {}, column {}", i / c, i % c),
        ));
    }
    Ok((v, r, c))
}

/// `labels` has `n` entries, each in `0..num_classes`; returns them as `usize`.
pub(crate) fn labels(
    func: &'static str,
    arg: &'static str,
    labels: &[i64],
    n: usize,
    num_classes: usize,
) -> Result<Vec<usize>> {
    if labels.len() != n {
        return Err(invalid(
            func,
            arg,
            format!(
                "has {} labels, expected {n} (one per feature row)",
                labels.len()
            ),
        ));
    }
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if l < 0 || l as u64 >= num_classes as u64 {
                Err(invalid(
                    func,
                    arg,
                    format!("label {l} at index {i} is outside 0..{num_classes}"),
                ))
            } else {
                Ok(l as usize)
            }
        })
        .collect()
}
