//! The equivariance error: how far `phi(g x)` is from `g phi(x)`, relative to `|g phi(x)|`,
//! over sampled group elements (escnn's `check_equivariance`, with the LPS distinction between
//! transported and fresh noise, `papers/lps.md`).
//!
//! - [`NoiseMode::Transported`]: the forward pass on `g x` uses the draws of the one on `x`
//!   moved by `g` ([`crate::Draws::transport`]). A correctly symmetrized model is then exactly
//!   equivariant, and the error is at float tolerance for every mode.
//! - [`NoiseMode::Fresh`]: independent draws. Symmetrization is equivariant in expectation; the
//!   error of a `k`-sample estimate falls like `1 / sqrt(k)`.
//!
//! The unsymmetrized base ([`crate::Mode::Unsymmetrized`]) has no draws; its error is the
//! baseline the symmetrized ones are compared with.

use candle_core::{DType, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SymError};
use crate::symmetrized::{Base, Interface, Symmetrized};

/// How the second forward pass draws its randomness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseMode {
    /// The first pass's draws, moved by `g`.
    Transported,
    /// New draws.
    Fresh,
}

/// The relative equivariance error over sampled elements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EquivarianceError {
    /// Mean over elements of `|phi(g x) - g phi(x)| / |g phi(x)|` (Frobenius norms over the
    /// batch).
    pub mean: f64,
    /// The largest of them.
    pub max: f64,
    /// Mean over elements of the root-mean-square entry of `phi(g x) - g phi(x)` (absolute:
    /// the Monte-Carlo error with fresh noise, which falls like `1 / sqrt(k)`).
    pub rms: f64,
    /// Elements sampled.
    pub elements: usize,
}

/// Samples `n_elements` Haar elements `g` (one per input of the batch each time) and measures
/// `|phi(g x) - g phi(x)| / |g phi(x)|` in eval mode. `mask` `(b, n)` marks real nodes
/// (padding last; Haar permutations keep padding in place).
///
/// ```
/// # fn main() -> Result<(), noether_symmetrize::SymError> {
/// use candle_core::{Device, Tensor};
/// use noether_symmetrize::*;
/// use rand::SeedableRng;
///
/// // f sums each node's features with its successor's: not permutation-equivariant
/// let f = |xs: &[Tensor], _: bool| {
///     let x = &xs[0];
///     let n = x.dims()[1];
///     x + Tensor::cat(&[x.narrow(1, 1, n - 1)?, x.narrow(1, 0, 1)?], 1)?
/// };
/// let x = Tensor::randn(0f32, 1.0, (2, 5, 3), &Device::Cpu)?;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let base = Symmetrized::new(f, Group::Permutations, &[Rep::Nodes], Rep::Nodes)?
///     .mode(Mode::Unsymmetrized);
/// let e = equivariance_error(&base, &[x.clone()], None, 10, NoiseMode::Transported, &mut rng)?;
/// assert!(e.mean > 0.1);
/// let ga = base.mode(Mode::GroupAveraging { k: 4 });
/// let e = equivariance_error(&ga, &[x], None, 10, NoiseMode::Transported, &mut rng)?;
/// assert!(e.max < 1e-5);
/// # Ok(()) }
/// ```
pub fn equivariance_error<B: Base, I: Interface, R: Rng + ?Sized>(
    model: &Symmetrized<B, I>,
    inputs: &[Tensor],
    mask: Option<&Tensor>,
    n_elements: usize,
    noise: NoiseMode,
    rng: &mut R,
) -> Result<EquivarianceError> {
    if n_elements == 0 {
        return Err(SymError::invalid("n_elements", "must be at least 1"));
    }
    if inputs.is_empty() {
        return Err(SymError::invalid("inputs", "at least one input"));
    }
    let mut errs = Vec::with_capacity(n_elements);
    let mut rms = 0.0;
    for _ in 0..n_elements {
        let g = model.sample_elements(inputs, mask, rng)?;
        let draws = model.draw(inputs, mask, rng)?;
        let y = model.forward_with(inputs, mask, &draws, false)?.output;
        let gy = g.act(model.output_rep(), &y, false)?;
        let gx = model.act_inputs(&g, inputs, false)?;
        let draws_g = match noise {
            NoiseMode::Transported => draws.transport(&g, model.noise_rep())?,
            NoiseMode::Fresh => model.draw(&gx, mask, rng)?,
        };
        let ygx = model.forward_with(&gx, mask, &draws_g, false)?.output;
        let num = norm(&(ygx - &gy)?)?;
        rms += num / (gy.elem_count().max(1) as f64).sqrt() / n_elements as f64;
        let den = norm(&gy)?.max(1e-12);
        errs.push(num / den);
    }
    Ok(EquivarianceError {
        mean: errs.iter().sum::<f64>() / errs.len() as f64,
        max: errs.iter().copied().fold(0.0, f64::max),
        elements: n_elements,
        rms,
    })
}

fn norm(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?
        .sqr()?
        .sum_all()?
        .sqrt()?
        .to_scalar::<f64>()?)
}
