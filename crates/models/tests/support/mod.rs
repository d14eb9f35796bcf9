#![allow(dead_code)] // each test binary uses a different subset
//! Shared by the integration tests (each includes it with `mod support;`): seeded inputs, the
//! closed-form weights and inputs of the PyTorch fixtures rebuilt in Rust, reading the fixtures,
//! comparisons, building a model on a seeded [`ParamStore`], the "it trains" check, the
//! batch-norm train-flag check and config-error checks.

use std::collections::HashMap;
use std::fmt::Display;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, ModuleT, Result, Shape, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder};
use noether_models::{ModelError, Param, ParamStore};
use serde_json::Value;

/// The result of a test whose errors are not all candle's.
pub type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

// ---------------------------------------------------------------------------------------------
// Seeded values

/// `u(k, i)` in `[0, 1)`: splitmix64 of `(k << 32) | i`, top 53 bits.
pub fn unit(k: u64, i: u64) -> f64 {
    let mut z = ((k << 32) | i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// An f32 tensor of `shape` with `x_i = 2 u(k, i) - 1` (`u` rounded to f32 first).
pub fn signed_unit(k: u64, shape: impl Into<Shape>, dev: &Device) -> Result<Tensor> {
    let shape = shape.into();
    let values: Vec<f32> = (0..shape.elem_count())
        .map(|i| 2.0 * unit(k, i as u64) as f32 - 1.0)
        .collect();
    Tensor::from_vec(values, shape, dev)
}

/// `sin(a i + b i^2 + c)` for `i = 0..n`, in f64 then f32: the rule of the ViT and transformer
/// fixtures, and smooth, seeded test data.
pub fn sin_values(n: usize, a: f64, b: f64, c: f64) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let i = i as f64;
            (a * i + b * i * i + c).sin() as f32
        })
        .collect()
}

/// An f32 tensor of `shape` holding [`sin_values`] (row-major).
pub fn sin_tensor(shape: impl Into<Shape>, a: f64, b: f64, c: f64, dev: &Device) -> Result<Tensor> {
    let shape = shape.into();
    Tensor::from_vec(sin_values(shape.elem_count(), a, b, c), shape, dev)
}

// ---------------------------------------------------------------------------------------------
// The fixtures' closed-form weights and inputs

/// The k-th tensor of a state dict under the torchvision fixture rule (documented in
/// `make_torchvision_names.py`).
pub fn rule_tensor(k: usize, name: &str, shape: &[usize], dev: &Device) -> Result<Tensor> {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    if leaf == "num_batches_tracked" {
        return Tensor::new(k as i64, dev);
    }
    let n: usize = shape.iter().product();
    let v = (0..n).map(|i| 2.0 * unit(k as u64, i as u64) - 1.0);
    let values: Vec<f64> = match leaf {
        "weight" if shape.len() >= 2 => {
            let scale = (6.0 / (n / shape[0]) as f64).sqrt();
            v.map(|v| v * scale).collect()
        }
        "weight" => v.map(|v| 1.0 + 0.2 * v).collect(),
        "bias" | "running_mean" => v.map(|v| 0.1 * v).collect(),
        "running_var" => v.map(|v| 1.0 + 0.5 * v.abs()).collect(),
        other => candle_core::bail!("no rule for {other} ({name})"),
    };
    Tensor::from_vec(values, shape, dev)?.to_dtype(DType::F32)
}

/// The torchvision fixture input of `shape`: `x_i = 2 u(1000, i) - 1`.
pub fn rule_input(shape: &[usize], dev: &Device) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|i| 2.0 * unit(1000, i as u64) - 1.0).collect();
    Tensor::from_vec(values, shape, dev)?.to_dtype(DType::F32)
}

/// The state dict of `keys` under the torchvision rule (k = position in the list).
pub fn rule_state_dict(keys: &[Key], dev: &Device) -> Result<HashMap<String, Tensor>> {
    keys.iter()
        .enumerate()
        .map(|(k, (name, shape, _))| Ok((name.clone(), rule_tensor(k, name, shape, dev)?)))
        .collect()
}

/// The state dict of a ViT / transformer fixture's `[[name, shape], ...]` list: tensor k is
/// `0.5 sin(0.37 i + 0.0011 i^2 + k)`.
pub fn sin_state_dict(keys: &Value, dev: &Device) -> Result<HashMap<String, Tensor>> {
    entries(keys)
        .iter()
        .enumerate()
        .map(|(k, entry)| {
            let (name, shape) = name_and_shape(entry);
            let values: Vec<f32> = sin_values(shape.iter().product(), 0.37, 0.0011, k as f64)
                .iter()
                .map(|v| v * 0.5)
                .collect();
            Ok((name, Tensor::from_vec(values, shape, dev)?))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reading the fixtures

/// Reads fixture `name` from `tests/fixtures`.
pub fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture's unsigned integer.
pub fn usize_of(value: &Value) -> usize {
    value.as_u64().expect("an unsigned integer") as usize
}

/// A fixture's shape: a list of unsigned integers.
pub fn dims(value: &Value) -> Vec<usize> {
    value
        .as_array()
        .expect("a shape")
        .iter()
        .map(usize_of)
        .collect()
}

fn entries(value: &Value) -> &Vec<Value> {
    value.as_array().expect("a key list")
}

fn name_and_shape(entry: &Value) -> (String, Vec<usize>) {
    (
        entry[0].as_str().expect("a name").to_string(),
        dims(&entry[1]),
    )
}

/// One `state_dict` entry of a fixture: name, shape, torch dtype name.
pub type Key = (String, Vec<usize>, String);

/// The `[[name, shape, dtype], ...]` list of a fixture.
pub fn keys(value: &Value) -> Vec<Key> {
    entries(value)
        .iter()
        .map(|e| {
            let (name, shape) = name_and_shape(e);
            let dtype = e[2].as_str().expect("a dtype").to_string();
            (name, shape, dtype)
        })
        .collect()
}

/// The torch name of a candle dtype, as the fixtures write it.
pub fn torch_dtype(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "float32",
        DType::F64 => "float64",
        DType::I64 => "int64",
        _ => "other",
    }
}

/// A fixture's nested number list as a flat `Vec<f32>`.
pub fn flat_f32(value: &Value) -> Vec<f32> {
    match value {
        Value::Array(items) => items.iter().flat_map(flat_f32).collect(),
        v => vec![v.as_f64().expect("a number") as f32],
    }
}

/// A fixture's nested number list as an f32 tensor of the nesting's shape (which must be
/// rectangular).
pub fn fixture_tensor(value: &Value, dev: &Device) -> Result<Tensor> {
    fn walk(value: &Value, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f32>) {
        match value {
            Value::Array(items) => {
                if depth == shape.len() {
                    shape.push(items.len());
                }
                assert_eq!(shape[depth], items.len(), "ragged fixture array");
                for item in items {
                    walk(item, depth + 1, shape, out);
                }
            }
            v => {
                assert_eq!(depth, shape.len(), "ragged fixture array");
                out.push(v.as_f64().expect("a number") as f32);
            }
        }
    }
    let (mut shape, mut out) = (Vec::new(), Vec::new());
    walk(value, 0, &mut shape, &mut out);
    Tensor::from_vec(out, shape, dev)
}

// ---------------------------------------------------------------------------------------------
// Comparisons

/// Largest `|a - b| / (1 + |b|)`.
pub fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max)
}

/// Largest `|t|`, as f64 whatever the float dtype of `t`.
pub fn max_abs(t: &Tensor) -> Result<f64> {
    t.abs()?
        .flatten_all()?
        .max(0)?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()
}

/// Largest `|a - b|` (same shapes), as f64.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    max_abs(&(a - b)?)
}

/// A tensor's values, for bit-exact comparisons.
pub fn values(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()
}

// ---------------------------------------------------------------------------------------------
// Models and their stores

/// A model built by `new` on a fresh store seeded with `seed`, f32 on the CPU.
pub fn build<M>(
    seed: u64,
    new: impl FnOnce(VarBuilder<'static>) -> std::result::Result<M, ModelError>,
) -> Result<(M, ParamStore)> {
    build_in(DType::F32, seed, new)
}

/// [`build`] in `dtype`.
pub fn build_in<M>(
    dtype: DType,
    seed: u64,
    new: impl FnOnce(VarBuilder<'static>) -> std::result::Result<M, ModelError>,
) -> Result<(M, ParamStore)> {
    let store = ParamStore::seeded(seed);
    let model = new(store.var_builder(dtype, &Device::Cpu)).map_err(candle_core::Error::wrap)?;
    Ok((model, store))
}

/// Every variable name of `store`, in creation order.
pub fn names(store: &ParamStore) -> Result<Vec<String>> {
    Ok(store
        .all()
        .map_err(candle_core::Error::wrap)?
        .into_iter()
        .map(|p| p.name)
        .collect())
}

/// The store's variables as fixture keys (name, shape, torch dtype), in creation order.
pub fn layout(store: &ParamStore) -> Result<Vec<Key>> {
    Ok(store
        .all()
        .map_err(candle_core::Error::wrap)?
        .into_iter()
        .map(|p| {
            let dtype = torch_dtype(p.var.dtype()).to_string();
            (p.name, p.var.dims().to_vec(), dtype)
        })
        .collect())
}

/// The variable `name` of `store`; panics if there is none.
pub fn var(store: &ParamStore, name: &str) -> Result<Var> {
    Ok(store
        .get(name)
        .map_err(candle_core::Error::wrap)?
        .unwrap_or_else(|| panic!("no variable {name}")))
}

// ---------------------------------------------------------------------------------------------
// Training

/// What [`train`] saw.
#[derive(Debug)]
pub struct TrainLog {
    /// The loss before each step, then once after the last.
    pub losses: Vec<f32>,
}

impl TrainLog {
    /// Asserts that the loss after the last step is below `ratio` times the first.
    pub fn assert_fell(&self, ratio: f32, what: &str) {
        let (first, last) = (self.losses[0], self.losses[self.losses.len() - 1]);
        assert!(
            last < ratio * first,
            "{what}: loss {first} -> {last}, not below {ratio} x the first: {:?}",
            self.losses
        );
    }
}

/// Takes `steps` AdamW steps (lr `lr`, no weight decay) on `loss` over the trainable parameters
/// of `store`. The first gradient must reach every trainable parameter, finite and non-zero,
/// except for the names in `zero_grad_ok`, whose gradient must instead be ~0 (a bias in front
/// of a train-mode batch norm); every loss must be finite.
pub fn train(
    store: &ParamStore,
    steps: usize,
    lr: f64,
    zero_grad_ok: &[&str],
    mut loss: impl FnMut() -> Result<Tensor>,
) -> Result<TrainLog> {
    assert!(steps > 0, "no steps");
    let params = store.trainable().map_err(candle_core::Error::wrap)?;
    assert!(!params.is_empty(), "no trainable parameters");
    let vars = params.iter().map(|p| p.var.clone()).collect();
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )?;
    let mut losses = Vec::with_capacity(steps + 1);
    for step in 0..steps {
        let l = loss()?;
        losses.push(l.to_scalar::<f32>()?);
        let grads = l.backward()?;
        if step == 0 {
            check_gradients(&params, &grads, zero_grad_ok)?;
        }
        opt.step(&grads)?;
    }
    losses.push(loss()?.to_scalar::<f32>()?);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    Ok(TrainLog { losses })
}

fn check_gradients(params: &[Param], grads: &GradStore, zero_grad_ok: &[&str]) -> Result<()> {
    for p in params {
        let g = grads
            .get(&p.var)
            .unwrap_or_else(|| panic!("{} has no gradient", p.name));
        let max = max_abs(g)?;
        assert!(max.is_finite(), "{}: gradient {max}", p.name);
        if zero_grad_ok.contains(&p.name.as_str()) {
            assert!(max < 1e-4, "{}: expected a ~0 gradient, got {max}", p.name);
        } else {
            // the sum also catches a NaN that the max passes over
            let sum = g
                .abs()?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
            assert!(
                max > 0.0 && sum > 0.0,
                "{} has an all-zero gradient",
                p.name
            );
        }
    }
    Ok(())
}

/// Mean cross-entropy of `logits (N, K)` against class `labels[n]`, through
/// `noether_ops::log_softmax_last_dim`.
pub fn cross_entropy(logits: &Tensor, labels: &[usize]) -> Result<Tensor> {
    let (n, k) = logits.dims2()?;
    let mut onehot = vec![0f32; n * k];
    for (i, &c) in labels.iter().enumerate() {
        onehot[i * k + c] = 1.0;
    }
    let onehot = Tensor::from_vec(onehot, (n, k), logits.device())?.to_dtype(logits.dtype())?;
    let logp = noether_ops::log_softmax_last_dim(logits)?;
    (logp * onehot)?.sum_all()?.affine(-1.0 / n as f64, 0.0)
}

/// Checks the batch-norm contract on a model: a train-mode forward changes the running mean
/// `buffer` and bumps `counter`, an eval-mode forward changes neither, and two eval-mode forwards
/// are bit-identical.
pub fn check_train_flag<M: ModuleT>(
    model: &M,
    store: &ParamStore,
    x: &Tensor,
    buffer: &str,
    counter: &str,
) -> Result<()> {
    let get = |name: &str| -> Result<Tensor> { var(store, name)?.as_tensor().copy() };
    let before = values(&get(buffer)?)?;
    let count = get(counter)?.to_scalar::<i64>()?;
    let e1 = values(&model.forward_t(x, false)?)?;
    assert_eq!(values(&get(buffer)?)?, before, "eval mode changed {buffer}");
    assert_eq!(
        get(counter)?.to_scalar::<i64>()?,
        count,
        "eval mode bumped {counter}"
    );
    let e2 = values(&model.forward_t(x, false)?)?;
    assert_eq!(e1, e2, "eval mode is not deterministic");
    model.forward_t(x, true)?;
    assert_ne!(
        values(&get(buffer)?)?,
        before,
        "train mode left {buffer} unchanged"
    );
    assert_eq!(get(counter)?.to_scalar::<i64>()?, count + 1, "{counter}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Asserts that `result` is a [`ModelError::Config`] naming `field`.
pub fn assert_config_error<T>(result: std::result::Result<T, ModelError>, field: &str) {
    match result.err() {
        Some(ModelError::Config { field: f, .. }) => assert_eq!(f, field),
        other => panic!("{field}: expected a config error, got {other:?}"),
    }
}

/// Asserts that `result` is an error whose message contains `needle`.
pub fn assert_err_contains<T, E: Display>(result: std::result::Result<T, E>, needle: &str) {
    let err = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains(needle),
        "expected an error naming {needle}, got {err:?}"
    );
}
