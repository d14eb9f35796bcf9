//! Helpers shared by the test binaries: seeded tensors, a closeness check, a finite-difference
//! gradient check and a fused-versus-reference comparison of values and gradients.

#![allow(dead_code)]

use candle_core::{DType, Device, Result, Tensor, Var, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An op under test: a function of the input tensors.
pub type OpFn<'a> = &'a dyn Fn(&[Tensor]) -> Result<Tensor>;

/// Uniform values in `[lo, hi)` of `shape` and `dtype`, from `seed`.
pub fn uniform(shape: &[usize], lo: f64, hi: f64, seed: u64, dtype: DType) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)
}

/// Uniform values in `[-2, 2)`.
pub fn rand(shape: &[usize], seed: u64, dtype: DType) -> Result<Tensor> {
    uniform(shape, -2.0, 2.0, seed, dtype)
}

/// Values with `|v|` in `[0.1, 2)` and random sign (away from ReLU's kink).
pub fn away_from_zero(shape: &[usize], seed: u64, dtype: DType) -> Result<Tensor> {
    let mag = uniform(shape, 0.1, 2.0, seed, DType::F64)?;
    let sign = uniform(shape, -1.0, 1.0, seed + 1, DType::F64)?.sign()?;
    (mag * sign)?.to_dtype(dtype)
}

/// A `u8` mask of `shape` with about `keep` of the entries set, from `seed`.
pub fn mask(shape: &[usize], keep: f64, seed: u64) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<u8> = (0..n).map(|_| u8::from(rng.random_bool(keep))).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
}

/// Largest `|a - b| / (1 + |b|)` over all elements (shapes must match).
pub fn max_rel_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    if a.dims() != b.dims() {
        bail!("shapes differ: {:?} vs {:?}", a.dims(), b.dims());
    }
    let a = a.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let b = b.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let mut worst = 0f64;
    for (x, y) in a.iter().zip(&b) {
        let d = (x - y).abs() / (1.0 + y.abs());
        if d.is_nan() {
            return Ok(f64::INFINITY);
        }
        worst = worst.max(d);
    }
    Ok(worst)
}

/// Fails unless `a` and `b` agree to `tol` (relative to `1 + |b|`).
pub fn assert_close(a: &Tensor, b: &Tensor, tol: f64, what: &str) -> Result<()> {
    let d = max_rel_diff(a, b)?;
    if d > tol {
        bail!("{what}: max relative difference {d:e} > {tol:e}");
    }
    Ok(())
}

/// The scalar loss `Σ f(inputs) * r` with fixed weights `r` (so no gradient is trivially zero).
fn weighted_loss(y: &Tensor, seed: u64) -> Result<Tensor> {
    let r = rand(y.dims(), seed, y.dtype())?;
    (y * r)?.sum_all()
}

/// Gradients of `Σ f(inputs) * r` with respect to every input; `None` is an error naming it.
pub fn grads(f: OpFn, inputs: &[Tensor]) -> Result<(Tensor, Vec<Tensor>)> {
    let vars = inputs
        .iter()
        .map(Var::from_tensor)
        .collect::<Result<Vec<_>>>()?;
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let y = f(&ts)?;
    let store = weighted_loss(&y, 7)?.backward()?;
    let mut out = Vec::new();
    for (i, v) in vars.iter().enumerate() {
        match store.get(v) {
            Some(g) => out.push(g.clone()),
            None => bail!("input {i}: no gradient"),
        }
    }
    Ok((y, out))
}

/// Central finite differences (step `h`) of `Σ f(inputs) * r` against the backward of `f`, for
/// every element of every input (`f64` inputs); fails at a relative error above `tol`.
pub fn fd_check(f: OpFn, inputs: &[Tensor], h: f64, tol: f64) -> Result<()> {
    let (_, analytic) = grads(f, inputs)?;
    let loss = |ts: &[Tensor]| -> Result<f64> { weighted_loss(&f(ts)?, 7)?.to_scalar::<f64>() };
    for (i, (input, grad)) in inputs.iter().zip(&analytic).enumerate() {
        let base = input.flatten_all()?.to_vec1::<f64>()?;
        let grad = grad.flatten_all()?.to_vec1::<f64>()?;
        for j in 0..base.len() {
            let at = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[j] += delta;
                let mut ts = inputs.to_vec();
                ts[i] = Tensor::from_vec(v, input.dims(), &Device::Cpu)?;
                loss(&ts)
            };
            let numeric = (at(h)? - at(-h)?) / (2.0 * h);
            let err = (numeric - grad[j]).abs() / (1.0 + grad[j].abs());
            if err.is_nan() || err > tol {
                bail!(
                    "input {i} element {j}: analytic {} vs numeric {numeric} (error {err:e})",
                    grad[j]
                );
            }
        }
    }
    Ok(())
}

/// `fused` and `reference` agree in value and in every input's gradient, to `tol`.
pub fn compare(
    fused: OpFn,
    reference: OpFn,
    inputs: &[Tensor],
    tol: f64,
    what: &str,
) -> Result<()> {
    let (y1, g1) = grads(fused, inputs)?;
    let (y2, g2) = grads(reference, inputs)?;
    assert_close(&y1, &y2, tol, &format!("{what}: value"))?;
    for (i, (a, b)) in g1.iter().zip(&g2).enumerate() {
        assert_close(a, b, tol, &format!("{what}: gradient of input {i}"))?;
    }
    Ok(())
}
