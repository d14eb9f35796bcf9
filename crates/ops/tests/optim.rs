//! Optimizers against PyTorch: the trajectories in `tests/fixtures/torch_optim.json`, written by
//! `tests/fixtures/make_torch_optim.py` (torch.optim.SGD / Adam / AdamW and EquiMod's LARS rule,
//! two parameter groups, a warmup-cosine learning rate, fixed gradients). Checked in `f64`
//! (1e-12) and `f32` (1e-6, against torch's own `f32` run), relative to `1 + |torch|`, on the
//! fused path and on the composite path. Also: the schedule, clipping, EMA and BYOL's rate by
//! hand, and config validation.

use crate::common;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var, bail};
use noether_ops::optim::{
    Adam, AdamConfig, Lars, LarsConfig, Optimizer, ParamGroup, Schedule, Sgd, SgdConfig, byol_tau,
    clip_grad_norm, ema_update,
};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/torch_optim.json");

fn fixture() -> Result<Value> {
    serde_json::from_str(FIXTURE).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|d| d as usize)
                .collect()
        })
        .unwrap_or_default()
}

fn tensor(data: Vec<f64>, shape: &[usize], dtype: DType) -> Result<Tensor> {
    Tensor::from_vec(data, shape, &Device::Cpu)?.to_dtype(dtype)
}

/// The gradients `g_i` for `vars`, through the loss `Σ_i Σ vars_i * g_i`.
fn grads_of(vars: &[&Var], gs: &[Tensor]) -> Result<GradStore> {
    let mut loss = Tensor::zeros((), vars[0].dtype(), &Device::Cpu)?;
    for (v, g) in vars.iter().zip(gs) {
        loss = (loss + (v.as_tensor() * g)?.sum_all()?)?;
    }
    loss.backward()
}

fn schedule(fx: &Value) -> Schedule {
    let s = &fx["schedule"];
    Schedule::WarmupCosine {
        warmup_steps: s["warmup_steps"].as_u64().unwrap_or(0),
        total_steps: s["total_steps"].as_u64().unwrap_or(0),
        start_factor: s["start_factor"].as_f64().unwrap_or(0.0),
        final_factor: s["final_factor"].as_f64().unwrap_or(0.0),
    }
}

/// The optimizer of fixture case `case` over the groups `[w]` (decay) and `[b]` (no decay).
fn build(case: &Value, w: &Var, b: &Var, fused: bool) -> Result<Box<dyn Optimizer>> {
    let cfg = &case["config"];
    let f = |k: &str| cfg[k].as_f64().unwrap_or(0.0);
    let groups = vec![
        ParamGroup::new(vec![w.clone()], f("weight_decay")),
        ParamGroup::no_decay(vec![b.clone()]),
    ];
    Ok(match case["kind"].as_str().unwrap_or("") {
        "sgd" => {
            let c = SgdConfig {
                momentum: f("momentum"),
                dampening: f("dampening"),
                nesterov: cfg["nesterov"].as_bool().unwrap_or(false),
            };
            Box::new(Sgd::new(groups, c)?.with_fused(fused)?)
        }
        "adam" => Box::new(Adam::new(groups, AdamConfig::default())?.with_fused(fused)?),
        "adamw" => Box::new(Adam::new(groups, AdamConfig::adamw())?.with_fused(fused)?),
        "lars" => {
            let c = LarsConfig {
                momentum: f("momentum"),
                eta: f("eta"),
            };
            Box::new(Lars::new(groups, c)?.with_fused(fused)?)
        }
        k => bail!("unknown optimizer {k} in the fixture"),
    })
}

fn parity(dtype: DType, tol: f64, fused: bool) -> Result<()> {
    let fx = fixture()?;
    let (ws, bs) = (shape(&fx["w_shape"]), shape(&fx["b_shape"]));
    let steps = fx["steps"].as_u64().unwrap_or(0);
    let sched = schedule(&fx);
    let factors = floats(&fx["lr_factors"]);
    let cases = fx["cases"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    assert_eq!(cases.len(), 7, "fixture cases");
    assert_eq!(steps, 8);
    let key = if dtype == DType::F64 { "f64" } else { "f32" };
    for (ci, case) in cases.iter().enumerate() {
        let w = Var::from_tensor(&tensor(floats(&fx["w0"]), &ws, dtype)?)?;
        let b = Var::from_tensor(&tensor(floats(&fx["b0"]), &bs, dtype)?)?;
        let mut opt = build(case, &w, &b, fused)?;
        let base = case["base_lr"].as_f64().unwrap_or(0.0);
        for s in 0..steps {
            let i = s as usize;
            let lr = sched.lr(base, s);
            assert!(
                (lr - base * factors[i]).abs() < 1e-14,
                "schedule at step {s}"
            );
            let gw = tensor(floats(&fx["grads_w"][i]), &ws, dtype)?;
            let gb = tensor(floats(&fx["grads_b"][i]), &bs, dtype)?;
            opt.step(&grads_of(&[&w, &b], &[gw, gb])?, lr)?;
            let want = &case[key][i];
            let what = format!("case {ci} ({}) {key} fused={fused} step {s}", case["kind"]);
            common::assert_close(&w, &tensor(floats(&want["w"]), &ws, dtype)?, tol, &what)?;
            common::assert_close(&b, &tensor(floats(&want["b"]), &bs, dtype)?, tol, &what)?;
        }
        assert_eq!(opt.steps(), steps);
    }
    Ok(())
}

#[test]
fn torch_parity_f64_fused() -> Result<()> {
    parity(DType::F64, 1e-12, true)
}

#[test]
fn torch_parity_f64_composite() -> Result<()> {
    parity(DType::F64, 1e-12, false)
}

#[test]
fn torch_parity_f32_fused() -> Result<()> {
    parity(DType::F32, 1e-6, true)
}

#[test]
fn torch_parity_f32_composite() -> Result<()> {
    parity(DType::F32, 1e-6, false)
}

#[test]
fn clip_grad_norm_matches_torch() -> Result<()> {
    let fx = fixture()?;
    let (ws, bs) = (shape(&fx["w_shape"]), shape(&fx["b_shape"]));
    let c = &fx["clip"];
    for dtype in [DType::F64, DType::F32] {
        let tol = if dtype == DType::F64 { 1e-12 } else { 1e-6 };
        let w = Var::from_tensor(&tensor(floats(&fx["w0"]), &ws, dtype)?)?;
        let b = Var::from_tensor(&tensor(floats(&fx["b0"]), &bs, dtype)?)?;
        let gw = tensor(floats(&fx["grads_w"][0]), &ws, dtype)?;
        let gb = tensor(floats(&fx["grads_b"][0]), &bs, dtype)?;
        let mut grads = grads_of(&[&w, &b], &[gw, gb])?;
        let max_norm = c["max_norm"].as_f64().unwrap_or(0.0);
        let norm = clip_grad_norm(&mut grads, &[w.clone(), b.clone()], max_norm)?;
        let want = c["norm"].as_f64().unwrap_or(0.0);
        assert!(
            (norm - want).abs() < tol * want,
            "norm {norm} vs torch {want}"
        );
        let (Some(cw), Some(cb)) = (grads.get(&w), grads.get(&b)) else {
            bail!("clipping lost a gradient")
        };
        common::assert_close(cw, &tensor(floats(&c["w"]), &ws, dtype)?, tol, "clipped w")?;
        common::assert_close(cb, &tensor(floats(&c["b"]), &bs, dtype)?, tol, "clipped b")?;
        // Below the limit nothing changes, bit for bit.
        let before = cw.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
        let again = clip_grad_norm(&mut grads, &[w.clone(), b.clone()], 10.0)?;
        assert!(
            (again - max_norm).abs() < 1e-5,
            "norm after clipping {again}"
        );
        let after = grads
            .get(&w)
            .map(|g| g.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>());
        assert_eq!(after.transpose()?, Some(before));
    }
    Ok(())
}

#[test]
fn warmup_cosine_by_hand() {
    let s = Schedule::WarmupCosine {
        warmup_steps: 10,
        total_steps: 110,
        start_factor: 0.01,
        final_factor: 0.001,
    };
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(s.lr(2.0, 0), 0.02));
    assert!(close(s.lr(2.0, 5), 2.0 * (0.01 + 0.99 * 0.5)));
    assert!(close(s.lr(2.0, 10), 2.0), "end of warmup: the base rate");
    // Half way through the cosine phase: the mean of base and final.
    assert!(close(s.lr(2.0, 60), 2.0 * (0.001 + 0.999 * 0.5)));
    assert!(close(s.lr(2.0, 110), 0.002));
    assert!(close(s.lr(2.0, 1000), 0.002));
    let mut prev = f64::INFINITY;
    for step in 10..=120 {
        let lr = s.lr(2.0, step);
        assert!(lr <= prev, "not monotone at {step}");
        prev = lr;
    }
    let mut prev = 0.0;
    for step in 0..=10 {
        assert!(s.lr(2.0, step) > prev, "warmup not increasing at {step}");
        prev = s.lr(2.0, step);
    }
    assert_eq!(Schedule::Constant.lr(0.3, 17), 0.3);
    assert!(s.check().is_ok());
    let bad = Schedule::WarmupCosine {
        warmup_steps: 10,
        total_steps: 5,
        start_factor: 0.0,
        final_factor: 0.0,
    };
    assert!(bad.check().is_err());
}

#[test]
fn byol_tau_by_hand() {
    assert!((byol_tau(0.996, 0, 100) - 0.996).abs() < 1e-15);
    assert!((byol_tau(0.996, 50, 100) - 0.998).abs() < 1e-15);
    assert!((byol_tau(0.996, 100, 100) - 1.0).abs() < 1e-15);
    assert!((byol_tau(0.996, 200, 100) - 1.0).abs() < 1e-15);
    assert!((byol_tau(0.99, 25, 100) - (1.0 - 0.01 * (0.5f64.sqrt() + 1.0) / 2.0)).abs() < 1e-15);
}

#[test]
fn ema_update_by_hand() -> Result<()> {
    let dev = Device::Cpu;
    let t = Var::new(&[[1.0f64, 2.0], [3.0, 4.0]], &dev)?;
    let o = Var::new(&[[0.0f64, 10.0], [-3.0, 4.0]], &dev)?;
    let t32 = Var::new(&[1.0f32, -1.0], &dev)?;
    let o32 = Var::new(&[3.0f32, 1.0], &dev)?;
    ema_update(&[t.clone(), t32.clone()], &[o.clone(), o32.clone()], 0.75)?;
    assert_eq!(t.to_vec2::<f64>()?, vec![vec![0.75, 4.0], vec![1.5, 4.0]]);
    assert_eq!(t32.to_vec1::<f32>()?, vec![1.5, -0.5]);
    assert_eq!(o.to_vec2::<f64>()?, vec![vec![0.0, 10.0], vec![-3.0, 4.0]]);
    assert!(
        ema_update(std::slice::from_ref(&t), std::slice::from_ref(&o), 1.5).is_err(),
        "tau out of range"
    );
    assert!(
        ema_update(std::slice::from_ref(&t), &[], 0.5).is_err(),
        "length mismatch"
    );
    assert!(
        ema_update(std::slice::from_ref(&t), &[o32], 0.5).is_err(),
        "shape mismatch"
    );
    Ok(())
}

#[test]
fn configs_are_validated() -> Result<()> {
    let w = || Var::new(&[1.0f32, 2.0], &Device::Cpu);
    let g = |wd| -> Result<Vec<ParamGroup>> { Ok(vec![ParamGroup::new(vec![w()?], wd)]) };
    let msg = |r: Result<()>| r.err().map(|e| e.to_string()).unwrap_or_default();
    let sgd = |c| Sgd::new(g(0.0)?, c).map(|_| ());
    assert!(
        msg(sgd(SgdConfig {
            momentum: -0.1,
            ..Default::default()
        }))
        .contains("momentum")
    );
    assert!(
        msg(sgd(SgdConfig {
            dampening: 1.5,
            ..Default::default()
        }))
        .contains("dampening")
    );
    assert!(
        msg(sgd(SgdConfig {
            nesterov: true,
            ..Default::default()
        }))
        .contains("nesterov")
    );
    let adam = |c| Adam::new(g(0.0)?, c).map(|_| ());
    assert!(
        msg(adam(AdamConfig {
            beta1: 1.0,
            ..Default::default()
        }))
        .contains("beta1")
    );
    assert!(
        msg(adam(AdamConfig {
            beta2: -0.1,
            ..Default::default()
        }))
        .contains("beta2")
    );
    assert!(
        msg(adam(AdamConfig {
            eps: f64::NAN,
            ..Default::default()
        }))
        .contains("eps")
    );
    let lars = |c| Lars::new(g(0.0)?, c).map(|_| ());
    assert!(
        msg(lars(LarsConfig {
            eta: -1.0,
            ..Default::default()
        }))
        .contains("eta")
    );
    assert!(msg(Sgd::new(g(-1.0)?, SgdConfig::default()).map(|_| ())).contains("weight_decay"));
    let v = w()?;
    let twice = vec![
        ParamGroup::new(vec![v.clone()], 0.0),
        ParamGroup::no_decay(vec![v.clone()]),
    ];
    assert!(msg(Adam::new(twice, AdamConfig::default()).map(|_| ())).contains("more than once"));
    let mut opt = Sgd::new(
        vec![ParamGroup::new(vec![v.clone()], 0.0)],
        SgdConfig::default(),
    )?;
    let grads = v.as_tensor().sum_all()?.backward()?;
    assert!(msg(opt.step(&grads, -1.0)).contains("lr"));
    assert!(msg(opt.step(&grads, f64::NAN)).contains("lr"));
    assert_eq!(opt.steps(), 0);
    Ok(())
}
