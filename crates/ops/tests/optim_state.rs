//! Optimizer state and paths: a run saved after 4 steps and restored into a new optimizer ends
//! bit-identical to 8 uninterrupted steps; the fused CPU path and the composite (tensor op) path
//! agree on tensors large enough to run in parallel; variables without a gradient are left
//! alone; and each optimizer fits a small linear regression.

use crate::common;

use candle_core::{DType, Device, Result, Tensor, Var};
use noether_ops::optim::{
    Adam, AdamConfig, Lars, LarsConfig, Optimizer, ParamGroup, Schedule, Sgd, SgdConfig,
};

/// Which optimizer to build.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Sgd,
    Nesterov,
    Adam,
    AdamW,
    Lars,
}

const KINDS: [Kind; 5] = [
    Kind::Sgd,
    Kind::Nesterov,
    Kind::Adam,
    Kind::AdamW,
    Kind::Lars,
];

fn build(kind: Kind, w: &Var, b: &Var, fused: bool) -> Result<Box<dyn Optimizer>> {
    let groups = vec![
        ParamGroup::new(vec![w.clone()], 1e-3),
        ParamGroup::no_decay(vec![b.clone()]),
    ];
    let sgd = |nesterov| SgdConfig {
        momentum: 0.9,
        dampening: 0.0,
        nesterov,
    };
    Ok(match kind {
        Kind::Sgd => Box::new(Sgd::new(groups, sgd(false))?.with_fused(fused)?),
        Kind::Nesterov => Box::new(Sgd::new(groups, sgd(true))?.with_fused(fused)?),
        Kind::Adam => Box::new(Adam::new(groups, AdamConfig::default())?.with_fused(fused)?),
        Kind::AdamW => Box::new(Adam::new(groups, AdamConfig::adamw())?.with_fused(fused)?),
        Kind::Lars => Box::new(Lars::new(groups, LarsConfig::default())?.with_fused(fused)?),
    })
}

/// Base rate per optimizer (LARS' trust ratio makes its steps small).
fn base_lr(kind: Kind) -> f64 {
    match kind {
        Kind::Adam | Kind::AdamW => 0.05,
        Kind::Lars => 2.0,
        _ => 0.05,
    }
}

/// Fresh variables `w` of `w_shape` and `b` of `(b_len,)`, from a seed.
fn vars(w_shape: &[usize], b_len: usize, dtype: DType) -> Result<(Var, Var)> {
    Ok((
        Var::from_tensor(&common::rand(w_shape, 1, dtype)?)?,
        Var::from_tensor(&common::rand(&[b_len], 2, dtype)?)?,
    ))
}

/// One step on the loss `Σ w ⊙ g_w(s) + Σ b ⊙ g_b(s) + 0.1 Σ w²` (so gradients depend on `w`).
fn step(opt: &mut dyn Optimizer, w: &Var, b: &Var, s: u64, kind: Kind) -> Result<()> {
    let gw = common::rand(w.dims(), 100 + s, w.dtype())?;
    let gb = common::rand(b.dims(), 200 + s, b.dtype())?;
    let loss = ((w.as_tensor() * gw)?.sum_all()? + (b.as_tensor() * gb)?.sum_all()?)?;
    let loss = (loss + w.as_tensor().sqr()?.sum_all()?.affine(0.1, 0.0)?)?;
    let sched = Schedule::WarmupCosine {
        warmup_steps: 2,
        total_steps: 8,
        start_factor: 0.1,
        final_factor: 0.0,
    };
    opt.step(&loss.backward()?, sched.lr(base_lr(kind), s))
}

fn bits(v: &Var) -> Result<Vec<u64>> {
    Ok(v.to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?
        .into_iter()
        .map(f64::to_bits)
        .collect())
}

#[test]
fn resume_is_bit_identical() -> Result<()> {
    for fused in [true, false] {
        for dtype in [DType::F32, DType::F64] {
            for kind in KINDS {
                let (w1, b1) = vars(&[4, 6], 5, dtype)?;
                let mut straight = build(kind, &w1, &b1, fused)?;
                for s in 0..8 {
                    step(straight.as_mut(), &w1, &b1, s, kind)?;
                }

                let (w2, b2) = vars(&[4, 6], 5, dtype)?;
                let mut first = build(kind, &w2, &b2, fused)?;
                for s in 0..4 {
                    step(first.as_mut(), &w2, &b2, s, kind)?;
                }
                let saved = first.state()?;
                drop(first);
                let mut second = build(kind, &w2, &b2, fused)?;
                second.load_state(&saved)?;
                assert_eq!(second.steps(), 4);
                for s in 4..8 {
                    step(second.as_mut(), &w2, &b2, s, kind)?;
                }
                let what = format!("{kind:?} {dtype:?} fused={fused}");
                assert_eq!(bits(&w1)?, bits(&w2)?, "{what}: w");
                assert_eq!(bits(&b1)?, bits(&b2)?, "{what}: b");
                assert_eq!(straight.state()?.len(), second.state()?.len(), "{what}");
            }
        }
    }
    Ok(())
}

#[test]
fn load_state_rejects_bad_input() -> Result<()> {
    let (w, b) = vars(&[2, 3], 4, DType::F32)?;
    let mut opt = build(Kind::Adam, &w, &b, true)?;
    step(opt.as_mut(), &w, &b, 0, Kind::Adam)?;
    let state = opt.state()?;
    let names: Vec<&str> = state.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "steps",
            "0.step",
            "0.exp_avg",
            "0.exp_avg_sq",
            "1.step",
            "1.exp_avg",
            "1.exp_avg_sq"
        ]
    );
    let mut fresh = build(Kind::Adam, &w, &b, true)?;
    let missing: Vec<_> = state
        .iter()
        .filter(|(k, _)| k != "1.exp_avg")
        .cloned()
        .collect();
    let err = fresh
        .load_state(&missing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("1.exp_avg"), "{err}");
    assert_eq!(fresh.steps(), 0, "a failed load changes nothing");
    let mut wrong = state.clone();
    wrong[2].1 = Tensor::zeros(7, DType::F32, &Device::Cpu)?;
    let err = fresh
        .load_state(&wrong)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("0.exp_avg") && err.contains("shape"), "{err}");
    // State saved from the fused path loads into the composite path and vice versa.
    let mut other = build(Kind::Adam, &w, &b, false)?;
    other.load_state(&state)?;
    assert_eq!(other.steps(), 1);
    Ok(())
}

#[test]
fn fused_matches_composite_on_large_tensors() -> Result<()> {
    // 70k + 3 elements: more than two parallel chunks, and a ragged last chunk.
    for kind in KINDS {
        let (w1, b1) = vars(&[70_003], 9, DType::F32)?;
        let (w2, b2) = vars(&[70_003], 9, DType::F32)?;
        let mut fused = build(kind, &w1, &b1, true)?;
        let mut composite = build(kind, &w2, &b2, false)?;
        for s in 0..4 {
            step(fused.as_mut(), &w1, &b1, s, kind)?;
            step(composite.as_mut(), &w2, &b2, s, kind)?;
        }
        let what = format!("{kind:?}");
        common::assert_close(&w1, &w2, 1e-6, &what)?;
        common::assert_close(&b1, &b2, 1e-6, &what)?;
        let (w0, _) = vars(&[70_003], 9, DType::F32)?;
        assert!(
            common::max_rel_diff(&w1, &w0)? > 1e-4,
            "{what}: w did not move"
        );
    }
    Ok(())
}

#[test]
fn variables_without_gradients_are_left_alone() -> Result<()> {
    for kind in KINDS {
        let (w, b) = vars(&[3, 2], 4, DType::F64)?;
        let before = bits(&b)?;
        let mut opt = build(kind, &w, &b, true)?;
        let grads = w.as_tensor().sqr()?.sum_all()?.backward()?;
        opt.step(&grads, 0.1)?;
        assert_eq!(bits(&b)?, before, "{kind:?}");
        let state = opt.state()?;
        let b_step = state
            .iter()
            .find(|(k, _)| k == "1.step")
            .map(|(_, t)| t.clone());
        let b_step = b_step
            .map(|t| t.to_dtype(DType::F64)?.to_scalar::<f64>())
            .transpose()?;
        assert_eq!(b_step, Some(0.0), "{kind:?}: b's state did not advance");
    }
    Ok(())
}

#[test]
fn each_optimizer_fits_a_linear_regression() -> Result<()> {
    // y = x A + c with A (4, 2), c (2,); 32 samples; mean squared error.
    let dev = Device::Cpu;
    let x = common::rand(&[32, 4], 10, DType::F32)?;
    let a = common::rand(&[4, 2], 11, DType::F32)?;
    let c = common::rand(&[2], 12, DType::F32)?;
    let y = x.matmul(&a)?.broadcast_add(&c)?;
    for (kind, base, steps) in [
        (Kind::Sgd, 0.1, 300),
        (Kind::Nesterov, 0.1, 300),
        (Kind::Adam, 0.05, 300),
        (Kind::AdamW, 0.05, 300),
        (Kind::Lars, 0.3, 300),
    ] {
        let w = Var::from_tensor(&Tensor::zeros((4, 2), DType::F32, &dev)?.affine(1.0, 0.01)?)?;
        let b = Var::zeros(2, DType::F32, &dev)?;
        let groups = vec![
            ParamGroup::new(vec![w.clone()], 0.0),
            ParamGroup::no_decay(vec![b.clone()]),
        ];
        let mut opt: Box<dyn Optimizer> = match kind {
            Kind::Sgd | Kind::Nesterov => Box::new(Sgd::new(
                groups,
                SgdConfig {
                    momentum: 0.9,
                    dampening: 0.0,
                    nesterov: matches!(kind, Kind::Nesterov),
                },
            )?),
            Kind::Adam => Box::new(Adam::new(groups, AdamConfig::default())?),
            Kind::AdamW => Box::new(Adam::new(groups, AdamConfig::adamw())?),
            Kind::Lars => Box::new(Lars::new(
                groups,
                LarsConfig {
                    momentum: 0.9,
                    eta: 0.05,
                },
            )?),
        };
        let sched = Schedule::WarmupCosine {
            warmup_steps: 10,
            total_steps: steps,
            start_factor: 0.1,
            final_factor: 0.01,
        };
        let mse = |w: &Var, b: &Var| -> Result<Tensor> {
            (x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())? - &y)?
                .sqr()?
                .mean_all()
        };
        let start = mse(&w, &b)?.to_scalar::<f32>()?;
        for s in 0..steps {
            opt.step(&mse(&w, &b)?.backward()?, sched.lr(base, s))?;
        }
        let end = mse(&w, &b)?.to_scalar::<f32>()?;
        assert!(end < 1e-3 * start, "{kind:?}: loss {start} -> {end}");
    }
    Ok(())
}
