//! The composite (slow) path of every op, built only from candle primitives that have a
//! backward. The fused kernels are tested against these; non-CPU devices and dtypes other than
//! `f32` / `f64` use them directly.

use candle_core::{D, Result, Tensor};

/// `max(x, 0)`, with torch's gradient `g * (x > 0)` (0 at `x = 0`; candle's own `relu` passes
/// the gradient at 0, so it is not used here).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.gt(0.0)?.where_cond(x, &x.zeros_like()?)
}

/// GELU, exact erf form, as `torch.nn.GELU()`: `x * 0.5 * (1 + erf(x / sqrt(2)))`.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    // candle's `gelu_erf` has a backward; written out here so the reference owns its maths.
    let half = (x.affine(std::f64::consts::FRAC_1_SQRT_2, 0.0)?.erf()? + 1.0)?;
    (x * half)? * 0.5
}

/// Softmax over the last dimension, with the max subtracted for stability.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// Log-softmax over the last dimension.
pub fn log_softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}

/// Softmax over the last dimension restricted to the entries where `mask` is non-zero
/// (`mask` is `u8` or `u32`, broadcastable to `x`'s shape). Masked entries get probability 0;
/// a row with no unmasked entry is all zeros, not NaN.
pub fn masked_softmax_last_dim(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let keep = mask.broadcast_as(x.shape())?.ne(0u8)?.to_dtype(x.dtype())?;
    let neg = Tensor::full(f32::MIN, x.shape(), x.device())?.to_dtype(x.dtype())?;
    let filled = keep.ne(0.0)?.where_cond(x, &neg)?;
    let max = filled.max_keepdim(D::Minus1)?.detach();
    let e = (filled.broadcast_sub(&max)?.exp()? * &keep)?;
    let sum = e.sum_keepdim(D::Minus1)?;
    // rows with nothing to attend to: divide by 1 instead of 0
    let safe = (&sum + sum.eq(0.0)?.to_dtype(x.dtype())?)?;
    e.broadcast_div(&safe)
}

/// Layer norm over the last dimension: `(x - mean) / sqrt(var + eps) * weight + bias`, biased
/// variance, as `torch.nn.functional.layer_norm` with `normalized_shape = x.shape[-1:]`.
pub fn layer_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let mut y = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    if let Some(w) = weight {
        y = y.broadcast_mul(w)?;
    }
    if let Some(b) = bias {
        y = y.broadcast_add(b)?;
    }
    Ok(y)
}

/// Batch norm in train mode: per-channel statistics over every axis but axis 1 of `x`
/// (`(N, C)` or `(N, C, *)`), biased variance in the normalisation, as
/// `torch.nn.functional.batch_norm(training=True)`. Returns the output and the (detached) batch
/// statistics for the running-average update.
pub fn batch_norm_train(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<(Tensor, super::BatchStats)> {
    let c = x.dim(1)?;
    let xt = channels_last_rows(x)?; // (rows, C)
    let n = xt.dim(0)?;
    let mean = xt.mean_keepdim(0)?; // (1, C)
    let xc = xt.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(0)?;
    let y = xc.broadcast_div(&(&var + eps)?.sqrt()?)?;
    let y = affine_rows(y, weight, bias)?;
    let stats = super::BatchStats {
        mean: mean.reshape(c)?.detach(),
        var: var.reshape(c)?.detach(),
        count: n,
    };
    Ok((from_channels_last_rows(&y, x)?, stats))
}

/// Batch norm in eval mode with the given running statistics (shape `(C,)`).
pub fn batch_norm_eval(
    x: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let xt = channels_last_rows(x)?;
    let rm = running_mean.to_dtype(x.dtype())?.unsqueeze(0)?;
    let rv = running_var.to_dtype(x.dtype())?.unsqueeze(0)?;
    let y = xt.broadcast_sub(&rm)?.broadcast_div(&(rv + eps)?.sqrt()?)?;
    let y = affine_rows(y, weight, bias)?;
    from_channels_last_rows(&y, x)
}

fn affine_rows(mut y: Tensor, weight: Option<&Tensor>, bias: Option<&Tensor>) -> Result<Tensor> {
    if let Some(w) = weight {
        y = y.broadcast_mul(&w.unsqueeze(0)?)?;
    }
    if let Some(b) = bias {
        y = y.broadcast_add(&b.unsqueeze(0)?)?;
    }
    Ok(y)
}

/// `(N, C, *) -> (N * prod(*), C)`.
fn channels_last_rows(x: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    let c = dims[1];
    if dims.len() == 2 {
        return Ok(x.clone());
    }
    let n = dims[0];
    let s: usize = dims[2..].iter().product();
    x.reshape((n, c, s))?.transpose(1, 2)?.reshape((n * s, c))
}

/// Inverse of [`channels_last_rows`] for the shape of `like`.
fn from_channels_last_rows(y: &Tensor, like: &Tensor) -> Result<Tensor> {
    let dims = like.dims();
    if dims.len() == 2 {
        return Ok(y.clone());
    }
    let (n, c) = (dims[0], dims[1]);
    let s: usize = dims[2..].iter().product();
    y.reshape((n, s, c))?.transpose(1, 2)?.reshape(dims)
}

/// candle's `conv2d` (stride and padding in both directions, no dilation, one group): the slow
/// path of [`conv2d`](crate::conv2d). Its CPU backward runs a direct `conv_transpose2d` loop.
pub fn conv2d(x: &Tensor, w: &Tensor, padding: usize, stride: usize) -> Result<Tensor> {
    x.conv2d(w, padding, stride, 1, 1)
}

/// `x Wᵀ + b` for `x` `(..., K)`, as candle's `Linear`: the leading dimensions flattened into one
/// matmul, the bias added by broadcasting. The slow path of [`linear`](crate::linear).
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let k = x.dim(D::Minus1)?;
    let mut dims = x.dims().to_vec();
    let y = x.contiguous()?.reshape(((), k))?.matmul(&weight.t()?)?;
    if let Some(last) = dims.last_mut() {
        *last = y.dim(1)?;
    }
    let y = y.reshape(dims)?;
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// Log-domain Sinkhorn from candle ops (the fused op's reference): `iters` times rows then
/// columns, `exp` at the end.
pub fn log_sinkhorn(logits: &Tensor, iters: usize) -> Result<Tensor> {
    let r = logits.rank();
    let lse = |x: &Tensor, dim: usize| -> Result<Tensor> {
        let m = x.max_keepdim(dim)?.detach();
        x.broadcast_sub(&m)?
            .exp()?
            .sum_keepdim(dim)?
            .log()?
            .broadcast_add(&m)
    };
    let mut l = logits.clone();
    for _ in 0..iters {
        l = l.broadcast_sub(&lse(&l, r - 1)?)?;
        l = l.broadcast_sub(&lse(&l, r - 2)?)?;
    }
    l.exp()
}
