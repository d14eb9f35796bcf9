//! Helpers shared by the integration tests.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use noether_symmetrize::SymError;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The tests' result type.
pub type R<T> = Result<T, SymError>;

/// A seeded generator.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A seeded Gaussian tensor (candle's CPU randn is unseeded).
pub fn gauss(shape: &[usize], seed: u64) -> R<Tensor> {
    use rand_distr::{Distribution, StandardNormal};
    let mut r = rng(seed);
    let len: usize = shape.iter().product();
    let v: Vec<f64> = (0..len).map(|_| StandardNormal.sample(&mut r)).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// `tanh(flatten(x) W)` reshaped to `out`: an MLP layer that sees node order and coordinates.
pub fn dense(
    w: Tensor,
    out: Vec<usize>,
) -> impl Fn(&[Tensor], bool) -> candle_core::Result<Tensor> + Clone {
    move |xs: &[Tensor], _| {
        let flat: Vec<Tensor> = xs
            .iter()
            .map(|x| x.flatten_from(1))
            .collect::<candle_core::Result<_>>()?;
        let x = Tensor::cat(&flat, 1)?;
        let m = x.dims()[0];
        let mut shape = vec![m];
        shape.extend(&out);
        x.matmul(&w)?.tanh()?.reshape(shape)
    }
}
