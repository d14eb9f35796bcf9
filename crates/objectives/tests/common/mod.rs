//! Helpers shared by the integration tests: the fixture, tensor builders, closeness checks, the
//! finite-difference gradient check, seeded tiny models and a short training loop.
#![allow(dead_code)]

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// The reference values written by `fixtures/make_objectives_fixture.py`.
pub fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/objectives.json")).expect("fixture parses")
}

/// A float of the fixture, by path of keys.
pub fn num(v: &Value, keys: &[&str]) -> f64 {
    let mut cur = v;
    for k in keys {
        cur = &cur[*k];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("fixture: {keys:?} is not a number"))
}

/// Flattens a nested JSON array of numbers, returning the data and the shape.
fn flatten(v: &Value) -> (Vec<f64>, Vec<usize>) {
    match v {
        Value::Array(items) => {
            let mut data = Vec::new();
            let mut inner = Vec::new();
            for it in items {
                let (d, s) = flatten(it);
                data.extend(d);
                inner = s;
            }
            let mut shape = vec![items.len()];
            shape.extend(inner);
            (data, shape)
        }
        Value::Number(n) => (vec![n.as_f64().expect("finite number")], vec![]),
        other => panic!("fixture: expected numbers, got {other}"),
    }
}

/// A fixture array as a tensor of `dtype` on the CPU.
pub fn tensor(v: &Value, dtype: DType) -> Tensor {
    let (data, shape) = flatten(v);
    Tensor::from_vec(data, shape, &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .expect("fixture tensor")
}

/// A scalar tensor's value as `f64`.
pub fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64)
        .and_then(|t| t.to_scalar::<f64>())
        .expect("scalar tensor")
}

/// Asserts `|got - want| <= tol * max(1, |want|)`.
pub fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    let err = (got - want).abs();
    assert!(
        err <= tol * want.abs().max(1.0),
        "{what}: got {got:.17}, want {want:.17} (error {err:.3e}, tolerance {tol:.0e})"
    );
}

/// Compares the autograd gradient of `f` with respect to each input in `wrt` with central
/// finite differences in `f64`, entry by entry, to `1e-6` relative. The step is
/// `1e-6 * max(|x|, 0.01)`: relative, so that tiny entries where the loss curves sharply (a
/// soft-permutation entry of 5e-5 inside `p log p`) are not stepped over. Also asserts that
/// each checked gradient is not identically zero, so the check can fail.
pub fn check_gradients(
    name: &str,
    inputs: &[Tensor],
    wrt: &[usize],
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<()> {
    let vars = inputs
        .iter()
        .map(|t| Var::from_tensor(&t.to_dtype(DType::F64)?))
        .collect::<Result<Vec<_>>>()?;
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = f(&tensors)?.backward()?;
    for &k in wrt {
        let g = grads
            .get(&vars[k])
            .unwrap_or_else(|| panic!("{name}: no gradient for input {k}"))
            .flatten_all()?
            .to_vec1::<f64>()?;
        assert!(
            g.iter().any(|v| v.abs() > 1e-9),
            "{name}: gradient of input {k} is identically zero"
        );
        let base = tensors[k].flatten_all()?.to_vec1::<f64>()?;
        let shape = tensors[k].shape().clone();
        let eval = |e: usize, delta: f64| -> Result<f64> {
            let mut moved = base.clone();
            moved[e] += delta;
            let mut args: Vec<Tensor> = tensors.iter().map(|t| t.detach()).collect();
            args[k] = Tensor::from_vec(moved, shape.clone(), &Device::Cpu)?;
            f(&args)?.to_scalar::<f64>()
        };
        for e in 0..base.len() {
            let h = 1e-6 * base[e].abs().max(0.01);
            let fd = (eval(e, h)? - eval(e, -h)?) / (2.0 * h);
            let err = (fd - g[e]).abs();
            assert!(
                err <= 1e-6 * fd.abs().max(1.0),
                "{name}: input {k} entry {e}: autograd {:.12e}, finite difference {fd:.12e}",
                g[e]
            );
        }
    }
    Ok(())
}

/// A deterministic RNG for a test.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// An `f32` tensor of shape `shape` with entries uniform in `[-1, 1)`.
pub fn uniform(rng: &mut ChaCha8Rng, shape: &[usize]) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    Tensor::from_vec(data, shape, &Device::Cpu)
}

/// A linear layer `y = x W^T + b` with weights drawn from a seeded RNG (torch's default
/// uniform(-1/sqrt(in), 1/sqrt(in)) for both), as candle `Var`s.
pub struct Lin {
    /// `(out, in)`.
    pub w: Var,
    /// `(out,)`.
    pub b: Var,
}

impl Lin {
    /// A seeded `in_dim -> out_dim` layer.
    pub fn new(rng: &mut ChaCha8Rng, in_dim: usize, out_dim: usize) -> Result<Self> {
        let bound = 1.0 / (in_dim as f32).sqrt();
        let w: Vec<f32> = (0..in_dim * out_dim)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let b: Vec<f32> = (0..out_dim)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        Ok(Lin {
            w: Var::from_tensor(&Tensor::from_vec(w, (out_dim, in_dim), &Device::Cpu)?)?,
            b: Var::from_tensor(&Tensor::from_vec(b, out_dim, &Device::Cpu)?)?,
        })
    }

    /// `(..., in) -> (..., out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let layer =
            candle_nn::Linear::new(self.w.as_tensor().clone(), Some(self.b.as_tensor().clone()));
        candle_core::Module::forward(&layer, x)
    }

    /// The two variables.
    pub fn vars(&self) -> Vec<Var> {
        vec![self.w.clone(), self.b.clone()]
    }
}

/// Runs `steps` AdamW steps (lr `lr`, no weight decay) on `loss_fn` over `vars`. On the first
/// step asserts that every variable gets a gradient with a non-zero entry. Returns the loss
/// before the first step and after the last.
pub fn train(
    name: &str,
    vars: &[Var],
    steps: usize,
    lr: f64,
    mut loss_fn: impl FnMut() -> Result<Tensor>,
) -> Result<(f64, f64)> {
    let mut opt = AdamW::new(
        vars.to_vec(),
        ParamsAdamW {
            lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut first = None;
    for step in 0..steps {
        let loss = loss_fn()?;
        let value = scalar(&loss);
        assert!(value.is_finite(), "{name}: loss {value} at step {step}");
        let grads = loss.backward()?;
        if step == 0 {
            first = Some(value);
            for (i, v) in vars.iter().enumerate() {
                let g = grads
                    .get(v)
                    .unwrap_or_else(|| panic!("{name}: parameter {i} gets no gradient"));
                let size = scalar(&g.abs()?.sum_all()?);
                assert!(size > 0.0, "{name}: parameter {i} gets a zero gradient");
            }
        }
        opt.step(&grads)?;
    }
    let last = scalar(&loss_fn()?);
    Ok((first.unwrap_or(f64::NAN), last))
}
