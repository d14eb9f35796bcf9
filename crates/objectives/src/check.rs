//! Argument checks shared by every loss. Each failure is an `Err` whose message names the
//! function and the argument (`nt_xent: `z` must be ...`), never a panic.

use candle_core::{DType, Result, Tensor, bail};

/// `(rows, cols)` of a matrix with at least `min_rows` rows and one column, or an error naming
/// `arg`.
pub(crate) fn matrix(func: &str, arg: &str, t: &Tensor, min_rows: usize) -> Result<(usize, usize)> {
    let (rows, cols) = match *t.dims() {
        [rows, cols] => (rows, cols),
        ref d => bail!("{func}: `{arg}` must be a matrix (rows, dim), got shape {d:?}"),
    };
    if rows < min_rows || cols == 0 {
        bail!(
            "{func}: `{arg}` must have at least {min_rows} row(s) and one column, got shape \
             ({rows}, {cols})"
        );
    }
    float(func, arg, t)?;
    Ok((rows, cols))
}

/// Errors unless `t` holds floating-point data.
pub(crate) fn float(func: &str, arg: &str, t: &Tensor) -> Result<()> {
    if !matches!(
        t.dtype(),
        DType::F16 | DType::BF16 | DType::F32 | DType::F64
    ) {
        bail!("{func}: `{arg}` must hold floats, got {:?}", t.dtype());
    }
    Ok(())
}

/// Errors unless `b` has the shape, dtype and device of `a`.
pub(crate) fn like(func: &str, a_name: &str, a: &Tensor, b_name: &str, b: &Tensor) -> Result<()> {
    if a.dims() != b.dims() {
        bail!(
            "{func}: `{b_name}` must have the shape of `{a_name}` {:?}, got {:?}",
            a.dims(),
            b.dims()
        );
    }
    same_kind(func, a_name, a, b_name, b)
}

/// Errors unless `b` has the dtype and device of `a`.
pub(crate) fn same_kind(
    func: &str,
    a_name: &str,
    a: &Tensor,
    b_name: &str,
    b: &Tensor,
) -> Result<()> {
    if a.dtype() != b.dtype() {
        bail!(
            "{func}: `{b_name}` must have the dtype of `{a_name}` ({:?}), got {:?}",
            a.dtype(),
            b.dtype()
        );
    }
    if !a.device().same_device(b.device()) {
        bail!("{func}: `{b_name}` is on another device than `{a_name}`");
    }
    Ok(())
}

/// Errors unless the temperature is finite and positive.
pub(crate) fn temperature(func: &str, t: f64) -> Result<()> {
    if !(t.is_finite() && t > 0.0) {
        bail!("{func}: `temperature` must be finite and > 0, got {t}");
    }
    Ok(())
}

/// Errors unless a loss weight is finite (a weight may be 0 or negative on purpose).
pub(crate) fn weight(func: &str, name: &str, w: f64) -> Result<()> {
    if !w.is_finite() {
        bail!("{func}: weight `{name}` must be finite, got {w}");
    }
    Ok(())
}
