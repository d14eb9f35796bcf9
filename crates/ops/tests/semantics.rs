//! What each op promises beyond matching the reference: every input gets a gradient (the test
//! that catches candle's silent no-gradient ops), masked-softmax edge cases, batch statistics
//! with torch's semantics, ReLU's gradient at 0, errors as values, and results that do not
//! depend on the thread count.

use crate::common;

use candle_core::{D, DType, Device, Result, Tensor, Var};
use common::{grads, mask, rand, uniform};

const F: DType = DType::F32;

/// Why this crate exists: candle's fused softmax and layer norm give no gradient at all.
#[test]
fn candle_fused_ops_return_no_gradient() -> Result<()> {
    let x = Var::from_tensor(&rand(&[2, 4], 1, F)?)?;
    let w = Var::from_tensor(&Tensor::ones(4, F, &Device::Cpu)?)?;
    let b = Var::from_tensor(&Tensor::zeros(4, F, &Device::Cpu)?)?;
    let y = candle_nn::ops::softmax_last_dim(x.as_tensor())?;
    let store = (y * rand(&[2, 4], 2, F)?)?.sum_all()?.backward()?;
    assert!(
        store.get(&x).is_none(),
        "candle's softmax_last_dim now has a backward"
    );
    let y = candle_nn::ops::layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-5)?;
    let store = (y * rand(&[2, 4], 3, F)?)?.sum_all()?.backward()?;
    assert!(store.get(&x).is_none() && store.get(&w).is_none());
    // ... while ours give one
    let (_, g) = grads(
        &|t| noether_ops::softmax_last_dim(&t[0]),
        &[x.as_tensor().clone()],
    )?;
    assert!(g[0].abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
    Ok(())
}

/// Every op, every differentiable input: a gradient that is present and not all zero.
#[test]
fn every_input_gets_a_gradient() -> Result<()> {
    let x = rand(&[4, 3, 2, 5], 4, F)?;
    let w5 = uniform(&[5], 0.5, 1.5, 5, F)?;
    let b5 = rand(&[5], 6, F)?;
    let w3 = uniform(&[3], 0.5, 1.5, 7, F)?;
    let b3 = rand(&[3], 8, F)?;
    let rm = rand(&[3], 9, F)?;
    let rv = uniform(&[3], 0.5, 2.0, 10, F)?;
    let m = mask(&[4, 1, 2, 5], 0.7, 11)?;
    type Boxed<'a> = Box<dyn Fn(&[Tensor]) -> Result<Tensor> + 'a>;
    let cases: Vec<(&str, Boxed, Vec<Tensor>)> = vec![
        (
            "relu",
            Box::new(|t| noether_ops::relu(&t[0])),
            vec![x.clone()],
        ),
        (
            "gelu",
            Box::new(|t| noether_ops::gelu(&t[0])),
            vec![x.clone()],
        ),
        (
            "softmax",
            Box::new(|t| noether_ops::softmax_last_dim(&t[0])),
            vec![x.clone()],
        ),
        (
            "log_softmax",
            Box::new(|t| noether_ops::log_softmax_last_dim(&t[0])),
            vec![x.clone()],
        ),
        (
            "masked_softmax",
            Box::new(|t| noether_ops::masked_softmax_last_dim(&t[0], &m)),
            vec![x.clone()],
        ),
        (
            "layer_norm",
            Box::new(|t| noether_ops::layer_norm(&t[0], Some(&t[1]), Some(&t[2]), 1e-5)),
            vec![x.clone(), w5, b5],
        ),
        (
            "batch_norm_train",
            Box::new(|t| {
                Ok(noether_ops::batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), 1e-5)?.0)
            }),
            vec![x.clone(), w3.clone(), b3.clone()],
        ),
        (
            "batch_norm_eval",
            Box::new(|t| {
                noether_ops::batch_norm_eval(&t[0], &rm, &rv, Some(&t[1]), Some(&t[2]), 1e-5)
            }),
            vec![x, w3, b3],
        ),
    ];
    for (name, f, inputs) in cases {
        let (_, gs) = grads(&*f, &inputs).map_err(|e| e.context(name))?;
        for (i, g) in gs.iter().enumerate() {
            assert_eq!(g.dims(), inputs[i].dims(), "{name}: gradient {i} shape");
            let mass = g.abs()?.sum_all()?.to_scalar::<f32>()?;
            assert!(
                mass > 0.0 && mass.is_finite(),
                "{name}: gradient {i} is {mass}"
            );
        }
    }
    Ok(())
}

#[test]
fn masked_softmax_edge_cases() -> Result<()> {
    // (B=2, H=3, T=4, T=4) logits, (B, 1, T, T) mask; batch 1 row 2 fully masked
    let mut m = vec![1u8; 2 * 4 * 4];
    m[0..4].copy_from_slice(&[1, 0, 1, 0]);
    m[16 + 8..16 + 12].copy_from_slice(&[0, 0, 0, 0]);
    let m = Tensor::from_vec(m, (2, 1, 4, 4), &Device::Cpu)?;
    let x = Var::from_tensor(&rand(&[2, 3, 4, 4], 12, F)?)?;
    // masked logits may be anything, even NaN: they are never read
    let keep = m.broadcast_as((2, 3, 4, 4))?.to_dtype(F)?;
    let xs = m.broadcast_as((2, 3, 4, 4))?.where_cond(
        x.as_tensor(),
        &Tensor::full(f32::NAN, (2, 3, 4, 4), &Device::Cpu)?,
    )?;
    let y = noether_ops::masked_softmax_last_dim(&xs, &m)?;
    let yv = y.flatten_all()?.to_vec1::<f32>()?;
    assert!(yv.iter().all(|v| v.is_finite()), "NaN or inf in the output");
    // masked entries are exactly 0
    let masked = (y.clone() * (1.0 - &keep)?)?
        .abs()?
        .sum_all()?
        .to_scalar::<f32>()?;
    assert_eq!(masked, 0.0);
    // the fully masked row is all zeros, for every head; other rows sum to 1
    let sums = y.sum(D::Minus1)?.to_vec3::<f32>()?;
    for (b, heads) in sums.iter().enumerate() {
        for head in heads {
            for (t, &s) in head.iter().enumerate() {
                let expected = if b == 1 && t == 2 { 0.0 } else { 1.0 };
                assert!((s - expected).abs() < 1e-6, "row ({b}, ·, {t}) sums to {s}");
            }
        }
    }
    // broadcasting over heads equals passing the expanded mask
    let expanded = m.broadcast_as((2, 3, 4, 4))?.contiguous()?;
    let y2 = noether_ops::masked_softmax_last_dim(&xs, &expanded)?;
    common::assert_close(&y, &y2, 0.0, "broadcast mask")?;
    // a (T, T) mask broadcast over batch and heads
    let causal = Tensor::tril2(4, DType::U8, &Device::Cpu)?;
    let y3 = noether_ops::masked_softmax_last_dim(x.as_tensor(), &causal)?;
    let first = y3.get(0)?.get(0)?.get(0)?.to_vec1::<f32>()?;
    assert_eq!(first, vec![1.0, 0.0, 0.0, 0.0]);
    // gradients: zero on masked entries and on the fully masked row, finite everywhere
    let store = (y * rand(&[2, 3, 4, 4], 13, F)?)?.sum_all()?.backward()?;
    let g = store
        .get(&x)
        .ok_or_else(|| candle_core::Error::Msg("no gradient".into()))?;
    let gm = (g * (1.0 - &keep)?)?.abs()?.sum_all()?.to_scalar::<f32>()?;
    assert_eq!(gm, 0.0);
    assert!(
        g.flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .all(|v| v.is_finite())
    );
    Ok(())
}

/// Per-channel mean and biased variance computed by hand, `(C,)` each.
fn channel_moments(x: &[f64], n: usize, c: usize, s: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    for ch in 0..c {
        let vals: Vec<f64> = (0..n)
            .flat_map(|i| x[(i * c + ch) * s..(i * c + ch + 1) * s].to_vec())
            .collect();
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        mean[ch] = m;
        var[ch] = vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / vals.len() as f64;
    }
    (mean, var)
}

#[test]
fn batch_stats_have_torch_semantics() -> Result<()> {
    for (shape, s) in [(&[6, 3][..], 1), (&[4, 3, 5, 2][..], 10)] {
        let (n, c) = (shape[0], shape[1]);
        let x = rand(shape, 14, DType::F64)?.affine(2.0, 3.0)?;
        let xv = x.flatten_all()?.to_vec1::<f64>()?;
        let (mean, var) = channel_moments(&xv, n, c, s);
        let eps = 1e-5;
        let (y, stats) = noether_ops::batch_norm_train(&x, None, None, eps)?;
        assert_eq!(stats.count, n * s);
        assert_eq!(stats.mean.dims(), [c]);
        common::assert_close(
            &stats.mean,
            &Tensor::new(mean.as_slice(), &Device::Cpu)?,
            1e-12,
            "mean",
        )?;
        common::assert_close(
            &stats.var,
            &Tensor::new(var.as_slice(), &Device::Cpu)?,
            1e-12,
            "biased var",
        )?;
        let unbiased: Vec<f64> = var
            .iter()
            .map(|v| v * (n * s) as f64 / (n * s - 1) as f64)
            .collect();
        common::assert_close(
            &stats.unbiased_var()?,
            &Tensor::new(unbiased.as_slice(), &Device::Cpu)?,
            1e-12,
            "unbiased var",
        )?;
        // the output is normalised with the biased variance
        let yv = y.flatten_all()?.to_vec1::<f64>()?;
        for (i, (&xi, &yi)) in xv.iter().zip(&yv).enumerate() {
            let ch = (i / s) % c;
            let expected = (xi - mean[ch]) / (var[ch] + eps).sqrt();
            assert!(
                (yi - expected).abs() < 1e-12,
                "y[{i}] = {yi}, expected {expected}"
            );
        }
        // f32 input: f32 statistics
        let (_, s32) = noether_ops::batch_norm_train(&x.to_dtype(F)?, None, None, eps)?;
        assert_eq!((s32.mean.dtype(), s32.var.dtype()), (F, F));
    }
    Ok(())
}

#[test]
fn relu_gradient_at_zero_is_zero_as_torch() -> Result<()> {
    let x = Tensor::new(&[-1.0f32, 0.0, 2.0], &Device::Cpu)?;
    for f in [noether_ops::relu, noether_ops::reference::relu] {
        let v = Var::from_tensor(&x)?;
        let store = f(v.as_tensor())?.sum_all()?.backward()?;
        let g = store
            .get(&v)
            .ok_or_else(|| candle_core::Error::Msg("no gradient".into()))?;
        assert_eq!(g.to_vec1::<f32>()?, vec![0.0, 0.0, 1.0]);
        assert_eq!(f(&x)?.to_vec1::<f32>()?, vec![0.0, 0.0, 2.0]);
    }
    Ok(())
}

#[test]
fn bad_input_is_an_error() -> Result<()> {
    let x = rand(&[4, 6], 15, F)?;
    let w = Tensor::ones(5, F, &Device::Cpu)?;
    assert!(noether_ops::layer_norm(&x, Some(&w), None, 1e-5).is_err());
    assert!(noether_ops::layer_norm(&x, Some(&w.to_dtype(DType::F64)?), None, 1e-5).is_err());
    assert!(noether_ops::batch_norm_train(&x.flatten_all()?, None, None, 1e-5).is_err());
    assert!(noether_ops::batch_norm_train(&x, Some(&w), None, 1e-5).is_err());
    let rm = Tensor::zeros(5, F, &Device::Cpu)?;
    assert!(noether_ops::batch_norm_eval(&x, &rm, &rm, None, None, 1e-5).is_err());
    assert!(noether_ops::masked_softmax_last_dim(&x, &x.ge(0.0)?.to_dtype(F)?).is_err());
    assert!(noether_ops::masked_softmax_last_dim(&x, &mask(&[3, 6], 0.5, 1)?).is_err());
    assert!(noether_ops::softmax_last_dim(&Tensor::new(1.0f32, &Device::Cpu)?).is_err());
    Ok(())
}

/// The parallel kernels give bitwise the same values and gradients on 1 thread and on many.
#[test]
fn results_do_not_depend_on_thread_count() -> Result<()> {
    let run = || -> Result<Vec<Vec<f32>>> {
        let x = rand(&[8, 16, 16, 18], 16, F)?;
        let w = uniform(&[16], 0.5, 1.5, 17, F)?;
        let (_, g_bn) = grads(
            &|t| Ok(noether_ops::batch_norm_train(&t[0], Some(&t[1]), None, 1e-5)?.0),
            &[x.clone(), w],
        )?;
        let x2 = rand(&[70, 520], 18, F)?;
        let w2 = uniform(&[520], 0.5, 1.5, 19, F)?;
        let (y, g_ln) = grads(
            &|t| noether_ops::layer_norm(&t[0], Some(&t[1]), None, 1e-5),
            &[x2, w2],
        )?;
        let (_, stats) = noether_ops::batch_norm_train(&x, None, None, 1e-5)?;
        [
            &g_bn[0],
            &g_bn[1],
            &y,
            &g_ln[0],
            &g_ln[1],
            &stats.mean,
            &stats.var,
        ]
        .iter()
        .map(|t| t.flatten_all()?.to_vec1::<f32>())
        .collect()
    };
    let many = run()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let one = pool.install(run)?;
    assert!(
        many == one,
        "results differ between 1 and {} threads",
        rayon::current_num_threads()
    );
    Ok(())
}
