//! Batch norm (Ioffe & Szegedy, arXiv 1502.03167, Algorithm 1) in train mode (batch statistics,
//! a backward through them) and eval mode (running statistics), fused per channel.
//!
//! `x` is `(N, C)` or `(N, C, *)`; a channel's `M = N * prod(*)` values are `N` contiguous
//! blocks. Train mode: one pass computes every channel's mean and biased variance in `f64`
//! (two-pass within each block, blocks merged with Chan et al.'s pairwise update), then
//! `y = (x - μ) r w + b` with `r = 1 / √(σ² + ε)`. Backward, with `x̂ = (x - μ) r`:
//! `dw = Σ g x̂`, `db = Σ g` (one reduction pass) and, in train mode,
//! `dx = (w r / M) (M g - Σ g - x̂ Σ g x̂)` (in eval mode `dx = w r g`). The running-average update
//! is the caller's (`noether_models::BatchNorm`) from the returned [`BatchStats`].
//!
//! [`batch_norm_relu_train`] / [`batch_norm_relu_eval`] fuse a ReLU after the norm: the forward
//! clamps at 0, the backward zeroes `g` where the pre-activation, recomputed from `x`, is not
//! positive. The pre-activation itself is never stored.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};

use num_traits::Zero;

use crate::kernels::{self, Float, with_float_slices};
use crate::{reference, use_fused};

/// Per-channel statistics of one train-mode batch, for the running-average update.
#[derive(Debug, Clone)]
pub struct BatchStats {
    /// Per-channel mean, shape `(C,)`, detached.
    pub mean: Tensor,
    /// Per-channel biased variance (divided by `count`), shape `(C,)`, detached.
    pub var: Tensor,
    /// Number of values per channel (`N * H * W`).
    pub count: usize,
}

impl BatchStats {
    /// The unbiased variance `var * count / (count - 1)` that torch's running average uses
    /// (the biased one when `count == 1`).
    pub fn unbiased_var(&self) -> Result<Tensor> {
        if self.count > 1 {
            self.var
                .affine(self.count as f64 / (self.count - 1) as f64, 0.0)
        } else {
            Ok(self.var.clone())
        }
    }
}

/// Batch norm in train mode over axis 1 of `x`, as
/// `torch.nn.functional.batch_norm(training=True)`: normalised with the batch's per-channel mean
/// and biased variance. Returns the output and the batch statistics.
///
/// `x`: `(N, C)` or `(N, C, *)`; `weight`, `bias`: `(C,)` when present; output: the shape of `x`;
/// [`BatchStats`]: `(C,)` tensors in `x`'s dtype and `count = N * prod(*)`.
pub fn batch_norm_train(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<(Tensor, BatchStats)> {
    train(x, weight, bias, eps, false)
}

/// [`batch_norm_train`] followed by ReLU, as one op: the same result as
/// `relu(batch_norm_train(..).0)`, but the normalised pre-activation is never stored (the
/// backward recomputes its sign from `x`), which saves one activation-sized tensor per layer
/// and one pass in each direction.
pub fn batch_norm_relu_train(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<(Tensor, BatchStats)> {
    train(x, weight, bias, eps, true)
}

fn train(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, BatchStats)> {
    if !use_fused(x) {
        let (y, stats) = reference::batch_norm_train(x, weight, bias, eps)?;
        return Ok((if relu { reference::relu(&y)? } else { y }, stats));
    }
    let (c, count) = channels(x)?;
    let x = x.contiguous()?;
    let stats = x.apply_op1_no_bwd(&ChannelStats)?; // (2, C), f64: [mean; biased var]
    let moments = stats.to_vec2::<f64>()?;
    let (mean, var) = (&moments[0], &moments[1]);
    let op = BatchNorm::new(mean.clone(), var, eps, true, relu, weight, bias);
    let y = kernels::apply_affine(&x, weight, bias, c, "batch_norm", op)?;
    let stats = BatchStats {
        mean: stats.get(0)?.to_dtype(x.dtype())?,
        var: stats.get(1)?.to_dtype(x.dtype())?,
        count,
    };
    Ok((y, stats))
}

/// Batch norm in eval mode: `(x - running_mean) / √(running_var + eps) * weight + bias` per
/// channel. The running statistics get no gradient.
///
/// `x`: `(N, C)` or `(N, C, *)`; `running_mean`, `running_var`, `weight`, `bias`: `(C,)`; output:
/// the shape of `x`.
pub fn batch_norm_eval(
    x: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    eval(x, (running_mean, running_var), weight, bias, eps, false)
}

/// [`batch_norm_eval`] followed by ReLU, as one op (see [`batch_norm_relu_train`]).
pub fn batch_norm_relu_eval(
    x: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    eval(x, (running_mean, running_var), weight, bias, eps, true)
}

fn eval(
    x: &Tensor,
    (running_mean, running_var): (&Tensor, &Tensor),
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
    relu: bool,
) -> Result<Tensor> {
    if !use_fused(x) {
        let y = reference::batch_norm_eval(x, running_mean, running_var, weight, bias, eps)?;
        return if relu { reference::relu(&y) } else { Ok(y) };
    }
    let (c, _) = channels(x)?;
    kernels::check_vector(running_mean, c, "batch_norm_eval running_mean")?;
    kernels::check_vector(running_var, c, "batch_norm_eval running_var")?;
    let mean = running_mean.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let var = running_var.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let op = BatchNorm::new(mean, &var, eps, false, relu, weight, bias);
    kernels::apply_affine(&x.contiguous()?, weight, bias, c, "batch_norm", op)
}

/// `C` and the count per channel of `(N, C, *)` input.
fn channels(x: &Tensor) -> Result<(usize, usize)> {
    if x.rank() < 2 {
        bail!(
            "batch_norm: x must be (N, C) or (N, C, *), got {:?}",
            x.dims()
        );
    }
    let c = x.dim(1)?;
    Ok((c, x.elem_count() / c.max(1)))
}

/// The `(C, S)` view of a contiguous `(N, C, *)` layout: channels and the block size `S`.
fn blocks(l: &Layout) -> (usize, usize) {
    let dims = l.dims();
    let c = dims.get(1).copied().unwrap_or(1);
    let s = dims.iter().skip(2).product();
    (c, s)
}

/// `x -> (2, C)` `f64` tensor of per-channel mean and biased variance.
struct ChannelStats;

impl CustomOp1 for ChannelStats {
    fn name(&self) -> &'static str {
        "noether-batch-norm-stats"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (c, bs) = blocks(l);
        with_float_slices!(self.name(), T; x = (s, l) => {
            let moments = channel_moments(x, c, bs);
            let mut out: Vec<f64> = moments.iter().map(|m| m.mean).collect();
            out.extend(moments.iter().map(Moments::biased_var));
            Ok(kernels::output(out, (2, c)))
        })
    }
}

/// Count, mean and sum of squared deviations of a set of values.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    count: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    /// The moments of one contiguous block, two passes.
    fn of<T: Float>(block: &[T]) -> Moments {
        let count = block.len() as f64;
        let mean = block.iter().map(|v| v.wide()).sum::<f64>() / count;
        let m2 = block.iter().map(|v| (v.wide() - mean).powi(2)).sum::<f64>();
        Moments { count, mean, m2 }
    }

    /// `m2 / count` (NaN for no values).
    fn biased_var(&self) -> f64 {
        if self.count > 0.0 {
            self.m2 / self.count
        } else {
            f64::NAN
        }
    }

    /// The moments of the union (Chan, Golub & LeVeque's pairwise update).
    fn merge(self, o: Moments) -> Moments {
        if o.count == 0.0 {
            return self;
        }
        if self.count == 0.0 {
            return o;
        }
        let count = self.count + o.count;
        let delta = o.mean - self.mean;
        Moments {
            count,
            mean: self.mean + delta * o.count / count,
            m2: self.m2 + o.m2 + delta * delta * self.count * o.count / count,
        }
    }
}

/// Per-channel moments of contiguous `(N, C, S)` data; samples are split into fixed ranges whose
/// partial moments are merged in order (independent of the thread count).
fn channel_moments<T: Float>(x: &[T], c: usize, s: usize) -> Vec<Moments> {
    let sample = c * s;
    let n = x.len().checked_div(sample).unwrap_or(0);
    let partials = kernels::map_ranges(n, sample, |start, end| {
        let mut acc = vec![Moments::default(); c];
        for i in start..end {
            for (ch, m) in acc.iter_mut().enumerate() {
                let off = i * sample + ch * s;
                *m = m.merge(Moments::of(&x[off..off + s]));
            }
        }
        acc
    });
    partials
        .into_iter()
        .fold(vec![Moments::default(); c], |acc, part| {
            acc.into_iter().zip(part).map(|(a, p)| a.merge(p)).collect()
        })
}

/// `(x, w, b) -> (x - mean) * rstd * w + b` per channel, with the statistics fixed in the op
/// (the batch's in train mode, the running ones in eval mode).
struct BatchNorm {
    mean: Vec<f64>,
    rstd: Vec<f64>,
    train: bool,
    /// Apply ReLU to the output (the backward masks the gradient by the recomputed sign).
    relu: bool,
    has_weight: bool,
    has_bias: bool,
}

impl BatchNorm {
    /// The op normalising with per-channel `mean` and biased `var` (`rstd = 1 / √(var + eps)`);
    /// `train` says whether the backward goes through the statistics, `relu` whether ReLU
    /// follows.
    fn new(
        mean: Vec<f64>,
        var: &[f64],
        eps: f64,
        train: bool,
        relu: bool,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
    ) -> BatchNorm {
        BatchNorm {
            mean,
            rstd: var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect(),
            train,
            relu,
            has_weight: weight.is_some(),
            has_bias: bias.is_some(),
        }
    }
}

impl CustomOp3 for BatchNorm {
    fn name(&self) -> &'static str {
        "noether-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (c, bs) = blocks(l1);
        let relu = self.relu;
        with_float_slices!(self.name(), T; x = (s1, l1), w = (s2, l2), b = (s3, l3) => {
            let mean: Vec<T> = self.mean.iter().map(|&v| T::cast(v)).collect();
            let scale = scales(&self.rstd, w);
            let y = kernels::fill_rows(x.len(), c * bs, |i, out| {
                let x = &x[i * c * bs..(i + 1) * c * bs];
                for (ch, (out, x)) in out.chunks_mut(bs).zip(x.chunks(bs)).enumerate() {
                    let (m, a, b) = (mean[ch], scale[ch], b[ch]);
                    for (o, &v) in out.iter_mut().zip(x) {
                        let z = (v - m) * a + b;
                        *o = if relu && z <= T::zero() { T::zero() } else { z };
                    }
                }
            });
            Ok(kernels::output(y, l1.shape().clone()))
        })
    }

    /// `dx`, `dw`, `db` from one [`BatchNormBackward`] op (a reduction pass and a `dx` pass);
    /// not itself differentiable.
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let relu_bias = match self.relu {
            true => Some(b.to_dtype(DType::F64)?.to_vec1::<f64>()?),
            false => None,
        };
        let op = BatchNormBackward {
            mean: self.mean.clone(),
            rstd: self.rstd.clone(),
            train: self.train,
            relu_bias,
        };
        let packed = x.apply_op3_no_bwd(w, &g.contiguous()?, &op)?;
        kernels::split_affine_grads(&packed, x, w, self.has_weight, self.has_bias)
    }
}

/// The per-channel factors `rstd * w` of the forward pass, computed the same way in the
/// backward so that the recomputed ReLU sign is bitwise the forward's.
fn scales<T: Float>(rstd: &[f64], w: &[T]) -> Vec<T> {
    rstd.iter().zip(w).map(|(&r, &w)| T::cast(r) * w).collect()
}

/// `(x, w, g) -> [dx (x.len()) | dw (C) | db (C)]`, one flat vector.
struct BatchNormBackward {
    mean: Vec<f64>,
    rstd: Vec<f64>,
    train: bool,
    /// With a fused ReLU, the bias of the forward pass: `g` is zeroed where the recomputed
    /// pre-activation `(x - mean) rstd w + b` is not positive.
    relu_bias: Option<Vec<f64>>,
}

impl CustomOp3 for BatchNormBackward {
    fn name(&self) -> &'static str {
        "noether-batch-norm-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        kernels::check_same_shape(self.name(), ("x", l1), ("grad", l3))?;
        let (c, bs) = blocks(l1);
        with_float_slices!(self.name(), T; x = (s1, l1), w = (s2, l2), g = (s3, l3) => {
            let packed = self.backward(x, w, g, c, bs);
            Ok(kernels::output(packed, x.len() + 2 * c))
        })
    }
}

impl BatchNormBackward {
    fn backward<T: Float>(&self, x: &[T], w: &[T], g: &[T], c: usize, s: usize) -> Vec<T> {
        let sample = c * s;
        let n = x.len().checked_div(sample).unwrap_or(0);
        // With a fused ReLU, the gradient reaching the norm: `g` where the output was positive.
        let (scale, bias): (Vec<T>, Vec<T>) = match &self.relu_bias {
            Some(b) => (
                scales(&self.rstd, w),
                b.iter().map(|&v| T::cast(v)).collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let relu = self.relu_bias.is_some();
        let mask = |ch: usize, x: T, m: T, g: T| -> T {
            if relu && (x - m) * scale[ch] + bias[ch] <= T::zero() {
                T::zero()
            } else {
                g
            }
        };
        // pass 1: Σ g and Σ g x̂ per channel, in f64, summed over fixed sample ranges in order
        let partials = kernels::map_ranges(n, sample, |start, end| {
            let mut acc = vec![0f64; 2 * c];
            for i in start..end {
                for ch in 0..c {
                    let off = i * sample + ch * s;
                    let (m, r) = (T::cast(self.mean[ch]), T::cast(self.rstd[ch]));
                    let (mut sg, mut sgx) = (T::zero(), T::zero());
                    for (&x, &g) in x[off..off + s].iter().zip(&g[off..off + s]) {
                        let g = mask(ch, x, m, g);
                        sg += g;
                        sgx += g * (x - m) * r;
                    }
                    acc[ch] += sg.wide();
                    acc[c + ch] += sgx.wide();
                }
            }
            acc
        });
        let mut sums = vec![0f64; 2 * c];
        for part in partials {
            sums.iter_mut().zip(part).for_each(|(s, p)| *s += p);
        }
        let (sum_g, sum_gx) = sums.split_at(c);
        // pass 2: dx = w r (g - Σg / M - x̂ Σgx̂ / M) (train) or w r g (eval)
        let count = (n * s) as f64;
        let (k1, k2): (Vec<T>, Vec<T>) = (0..c)
            .map(|ch| {
                if self.train && count > 0.0 {
                    (T::cast(sum_g[ch] / count), T::cast(sum_gx[ch] / count))
                } else {
                    (T::zero(), T::zero())
                }
            })
            .unzip();
        let mut packed = vec![T::zero(); x.len() + 2 * c];
        let (dx, params) = packed.split_at_mut(x.len());
        kernels::rows_mut(dx, sample, |i, out| {
            for (ch, out) in out.chunks_mut(s).enumerate() {
                let off = i * sample + ch * s;
                let (m, r) = (T::cast(self.mean[ch]), T::cast(self.rstd[ch]));
                let scale = w[ch] * r;
                for ((o, &x), &g) in out.iter_mut().zip(&x[off..off + s]).zip(&g[off..off + s]) {
                    let g = mask(ch, x, m, g);
                    *o = scale * (g - k1[ch] - (x - m) * r * k2[ch]);
                }
            }
        });
        for ch in 0..c {
            params[ch] = T::cast(sum_gx[ch]);
            params[c + ch] = T::cast(sum_g[ch]);
        }
        packed
    }
}
