//! Parity with PyTorch: forward values and gradients of every op against
//! `tests/fixtures/torch_ops.json`, written by `tests/fixtures/make_torch_ops.py` (torch,
//! float64). Checked in `f64` (tolerance 1e-10) and in `f32` (1e-5), relative to `1 + |torch|`.

use crate::common;

use std::collections::BTreeMap;

use candle_core::{DType, Device, Result, Tensor, bail};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/torch_ops.json");

/// A `{"shape": [...], "data": [...]}` object as a tensor of `dtype`.
fn tensor(v: &Value, dtype: DType) -> Result<Tensor> {
    let shape: Vec<usize> = match v["shape"].as_array() {
        Some(a) => a
            .iter()
            .filter_map(Value::as_u64)
            .map(|d| d as usize)
            .collect(),
        None => bail!("fixture: tensor without a shape"),
    };
    let data: Vec<f64> = match v["data"].as_array() {
        Some(a) => a.iter().filter_map(Value::as_f64).collect(),
        None => bail!("fixture: tensor without data"),
    };
    Tensor::from_vec(data, shape, &Device::Cpu)?.to_dtype(dtype)
}

/// The named tensors of one field of a case.
fn tensors(case: &Value, field: &str, dtype: DType) -> Result<BTreeMap<String, Tensor>> {
    let mut out = BTreeMap::new();
    if let Some(obj) = case[field].as_object() {
        for (k, v) in obj {
            out.insert(k.clone(), tensor(v, dtype)?);
        }
    }
    Ok(out)
}

/// Runs the op of `case` on `inputs` (in the fixture's order: x, weight, bias).
fn run(op: &str, t: &[Tensor], params: &BTreeMap<String, Tensor>, eps: f64) -> Result<Tensor> {
    let p = |k: &str| match params.get(k) {
        Some(v) => Ok(v),
        None => bail!("{op}: missing parameter {k}"),
    };
    match op {
        "relu" => noether_ops::relu(&t[0]),
        "gelu" => noether_ops::gelu(&t[0]),
        "softmax" => noether_ops::softmax_last_dim(&t[0]),
        "log_softmax" => noether_ops::log_softmax_last_dim(&t[0]),
        "masked_softmax" => {
            noether_ops::masked_softmax_last_dim(&t[0], &p("mask")?.to_dtype(DType::U8)?)
        }
        "layer_norm" => noether_ops::layer_norm(&t[0], Some(&t[1]), Some(&t[2]), eps),
        "batch_norm_train" => {
            Ok(noether_ops::batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), eps)?.0)
        }
        "batch_norm_eval" => noether_ops::batch_norm_eval(
            &t[0],
            p("running_mean")?,
            p("running_var")?,
            Some(&t[1]),
            Some(&t[2]),
            eps,
        ),
        _ => bail!("unknown op {op} in the fixture"),
    }
}

fn check(dtype: DType, tol: f64) -> Result<()> {
    let fixture: Value =
        serde_json::from_str(FIXTURE).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let eps = fixture["eps"].as_f64().unwrap_or(1e-5);
    let cases = fixture["cases"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    assert!(cases.len() >= 9, "fixture has {} cases", cases.len());
    for (i, case) in cases.iter().enumerate() {
        let op = case["op"].as_str().unwrap_or("?");
        let what = format!("case {i} ({op}, {dtype:?})");
        let inputs = tensors(case, "inputs", dtype)?;
        let params = tensors(case, "params", dtype)?;
        let order: Vec<&str> = ["x", "weight", "bias"]
            .into_iter()
            .filter(|k| inputs.contains_key(*k))
            .collect();
        let vars = order
            .iter()
            .map(|k| candle_core::Var::from_tensor(&inputs[*k]))
            .collect::<Result<Vec<_>>>()?;
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = run(op, &ts, &params, eps)?;
        common::assert_close(&y, &tensor(&case["y"], dtype)?, tol, &format!("{what}: y"))?;
        let r = tensor(&case["r"], dtype)?;
        let store = (&y * r)?.sum_all()?.backward()?;
        for (k, v) in order.iter().zip(&vars) {
            let Some(g) = store.get(v) else {
                bail!("{what}: no gradient for {k}")
            };
            common::assert_close(
                g,
                &tensor(&case["grads"][*k], dtype)?,
                tol,
                &format!("{what}: d{k}"),
            )?;
        }
        if let Some(extra) = case["extra"].as_object() {
            let (_, stats) = noether_ops::batch_norm_train(&ts[0], None, None, eps)?;
            let get = |k: &str| tensor(&extra[k], dtype);
            common::assert_close(&stats.mean, &get("mean")?, tol, &format!("{what}: mean"))?;
            common::assert_close(&stats.var, &get("var")?, tol, &format!("{what}: var"))?;
            // torch's running-average update with momentum 0.1 from (0, 1)
            let rm = stats.mean.affine(0.1, 0.0)?;
            let rv = stats.unbiased_var()?.affine(0.1, 0.9)?;
            common::assert_close(
                &rm,
                &get("running_mean")?,
                tol,
                &format!("{what}: running_mean"),
            )?;
            common::assert_close(
                &rv,
                &get("running_var")?,
                tol,
                &format!("{what}: running_var"),
            )?;
        }
    }
    Ok(())
}

#[test]
fn matches_torch_in_f64() -> Result<()> {
    check(DType::F64, 1e-10)
}

#[test]
fn matches_torch_in_f32() -> Result<()> {
    check(DType::F32, 1e-5)
}
