//! Small shared pieces of the two trained evaluations ([`crate::probe`] and
//! [`crate::regression`]): seeded `Linear` layers, seeded mini-batch orders, seed streams.
//!
//! `noether-eval` does not depend on `noether-models`, so it initialises its own layers:
//! weight and bias `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, the bounds of `torch.nn.Linear`'s
//! default init, drawn from a ChaCha8 stream of the run seed.

use candle_core::{DType, Device, Tensor, Var};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::Result;

/// Seed stream for weight initialisation.
pub(crate) const STREAM_INIT: u64 = 1;
/// Seed stream for the mini-batch order.
pub(crate) const STREAM_ORDER: u64 = 2;

/// A ChaCha8 generator on one stream of `seed`.
pub(crate) fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// `y = x W^T + b` with trainable `W` `(out, in)` and `b` `(out,)`.
pub(crate) struct Linear {
    pub(crate) weight: Var,
    pub(crate) bias: Var,
}

impl Linear {
    /// Weight and bias `U(±1/sqrt(in))` from `rng`, `f32` on `device`.
    pub(crate) fn new(
        fan_in: usize,
        fan_out: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Self> {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let mut draw = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| rand::Rng::random_range(rng, -bound..bound))
                .collect()
        };
        let w = Tensor::from_vec(draw(fan_out * fan_in), (fan_out, fan_in), device)?;
        let b = Tensor::from_vec(draw(fan_out), fan_out, device)?;
        Ok(Self {
            weight: Var::from_tensor(&w)?,
            bias: Var::from_tensor(&b)?,
        })
    }

    /// `x` `(B, in)` -> `(B, out)`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight.as_tensor().t()?)?
            .broadcast_add(self.bias.as_tensor())?)
    }

    /// The two variables, weight first.
    pub(crate) fn vars(&self) -> Vec<Var> {
        vec![self.weight.clone(), self.bias.clone()]
    }
}

/// One epoch's mini-batches: a seeded shuffle of `0..n` cut into `batch`-sized index tensors
/// (the last one may be smaller, as a `DataLoader` without `drop_last`).
pub(crate) fn epoch_batches(
    n: usize,
    batch: usize,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<Vec<Tensor>> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(rng);
    order
        .chunks(batch)
        .map(|c| Ok(Tensor::from_slice(c, c.len(), device)?))
        .collect()
}

/// Number of mini-batches per epoch.
pub(crate) fn batches_per_epoch(n: usize, batch: usize) -> usize {
    n.div_ceil(batch)
}

/// `x` as contiguous `f32` (the features are frozen: no gradient flows into them).
pub(crate) fn frozen_f32(x: &Tensor) -> Result<Tensor> {
    Ok(x.detach().to_dtype(DType::F32)?.contiguous()?)
}
