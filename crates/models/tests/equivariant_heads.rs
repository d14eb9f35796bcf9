//! EquiMod's transformation encoder and predictor, and SIE's hypernetwork predictor: names,
//! shapes, values against direct computations, gradients, and training.

use crate::support;

use candle_core::{D, DType, Device, IndexOp, ModuleT, Tensor, Var};
use noether_models::{EquimodConfig, EquimodPredictor, HypernetConfig, HypernetPredictor};
use support::{
    TestResult, assert_config_error, build, max_abs_diff, names, sin_tensor, sin_values, train, var,
};

/// Column-wise `(x - mean) / sqrt(biased var + 1e-5)`, written out.
fn standardise_columns(x: &Tensor) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(0)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(0)?;
    xc.broadcast_div(&(var + 1e-5)?.sqrt()?)
}

#[test]
fn equimod_names_follow_the_reference() -> TestResult {
    let cfg = EquimodConfig::simclr_cifar();
    let (_, store) = build(0, |vb| EquimodPredictor::new(&cfg, vb.pp("equimod")))?;
    let names: Vec<(String, Vec<usize>)> = store
        .all()?
        .into_iter()
        .map(|p| (p.name, p.var.dims().to_vec()))
        .collect();
    let expect: Vec<(&str, Vec<usize>)> = vec![
        ("equimod.proj_head_t.0.weight", vec![128, 15]),
        ("equimod.proj_head_t.1.weight", vec![128]),
        ("equimod.proj_head_t.1.bias", vec![128]),
        ("equimod.proj_head_t.1.running_mean", vec![128]),
        ("equimod.proj_head_t.1.running_var", vec![128]),
        ("equimod.proj_head_t.1.num_batches_tracked", vec![]),
        ("equimod.predictor_eq.0.weight", vec![128, 256]),
        ("equimod.predictor_eq.1.running_mean", vec![128]),
        ("equimod.predictor_eq.1.running_var", vec![128]),
        ("equimod.predictor_eq.1.num_batches_tracked", vec![]),
    ];
    let expect: Vec<(String, Vec<usize>)> = expect
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
    assert_eq!(names, expect);
    // trainable: the two linear weights and the encoder's BN scale and shift
    assert_eq!(store.num_trainable()?, 128 * 15 + 2 * 128 + 128 * 256);
    assert_config_error(EquimodConfig { t_dim: 0, ..cfg }.check(), "t_dim");
    Ok(())
}

#[test]
fn equimod_predictor_is_u_of_y0_and_p_of_t() -> TestResult {
    let dev = Device::Cpu;
    let cfg = EquimodConfig {
        t_dim: 5,
        p_dim: 6,
        y_dim: 4,
    };
    let (pred, store) = build(1, |vb| EquimodPredictor::new(&cfg, vb))?;
    let n = 7;
    let y0 = sin_tensor((n, 4), 0.7, 0.003, 0.1, &dev)?;
    let t = sin_tensor((n, 5), 0.9, 0.002, 0.5, &dev)?;
    let yhat = pred.forward_t(&y0, &t, true)?;
    assert_eq!(yhat.dims(), &[n, 4]);
    // direct computation: p = BN(t Wp^T) * gamma + beta (gamma = 1, beta = 0 at init),
    // yhat = standardise([y0 ; p] Wu^T), batch statistics
    let wp = var(&store, "proj_head_t.0.weight")?;
    let wu = var(&store, "predictor_eq.0.weight")?;
    let p = standardise_columns(&t.matmul(&wp.t()?)?)?;
    let z = Tensor::cat(&[&y0, &p], 1)?.matmul(&wu.t()?)?;
    let expect = standardise_columns(&z)?;
    let diff = max_abs_diff(&yhat, &expect)?;
    assert!(diff < 1e-4, "{diff}");
    // swapping the halves of the input changes the result (the order [y0 ; p] matters)
    let swapped = standardise_columns(
        &Tensor::cat(&[&p.narrow(1, 0, 4)?, &y0, &p.narrow(1, 4, 2)?], 1)?.matmul(&wu.t()?)?,
    )?;
    assert!(max_abs_diff(&yhat, &swapped)? > 1e-3);
    // train mode updated the running statistics of both batch norms; eval mode uses them
    let rm = var(&store, "predictor_eq.1.running_mean")?;
    assert!(rm.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
    let tracked = var(&store, "proj_head_t.1.num_batches_tracked")?.to_scalar::<i64>()?;
    assert_eq!(tracked, 1);
    let eval = pred.forward_t(&y0, &t, false)?;
    assert!(max_abs_diff(&eval, &yhat)? > 1e-2);
    assert_eq!(pred.encoder().forward_t(&t, false)?.dims(), &[n, 6]);
    // wrong widths are errors
    assert!(pred.forward_t(&t, &t, true).is_err());
    assert!(pred.forward_t(&y0, &y0, true).is_err());
    Ok(())
}

#[test]
fn equimod_trains() -> TestResult {
    let dev = Device::Cpu;
    let cfg = EquimodConfig {
        t_dim: 5,
        p_dim: 8,
        y_dim: 6,
    };
    let (pred, store) = build(2, |vb| EquimodPredictor::new(&cfg, vb))?;
    let n = 16;
    let y0 = sin_tensor((n, 6), 0.7, 0.003, 0.1, &dev)?;
    let t = sin_tensor((n, 5), 0.9, 0.002, 0.5, &dev)?;
    // a target of the same kind: standardised columns of a fixed function of (y0, t)
    let mix = sin_tensor((11, 6), 0.43, 0.0, 0.0, &dev)?;
    let target = standardise_columns(&Tensor::cat(&[&y0, &t], 1)?.matmul(&mix)?)?;
    train(&store, 40, 2e-2, &[], || {
        (pred.forward_t(&y0, &t, true)? - &target)?
            .sqr()?
            .mean_all()
    })?
    .assert_fell(0.5, "equimod");
    Ok(())
}

/// The naive predictor: for each sample, `W(a_n) = sum_k a_nk A_k` materialised, then `W v_n`.
fn naive_hypernet(weight: &Tensor, v: &Tensor, a: &Tensor) -> candle_core::Result<Tensor> {
    let (n, _) = v.dims2()?;
    let (a_dim, _, _) = weight.dims3()?;
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let mut w = weight.i(0)?.broadcast_mul(&a.i((i, 0))?)?;
        for k in 1..a_dim {
            w = (w + weight.i(k)?.broadcast_mul(&a.i((i, k))?)?)?;
        }
        rows.push(w.matmul(&v.i(i)?.unsqueeze(1)?)?.squeeze(1)?);
    }
    Tensor::stack(&rows, 0)
}

#[test]
fn hypernet_matches_the_naive_per_sample_matrices_with_gradients() -> TestResult {
    let dev = Device::Cpu;
    let cfg = HypernetConfig { a_dim: 4, v_dim: 5 };
    let (pred, store) = build(3, |vb| HypernetPredictor::new(&cfg, vb))?;
    assert_eq!(pred.weight().dims(), &[4, 5, 5]);
    assert_eq!(names(&store)?, ["weight"]);
    let n = 6;
    let v = Var::from_vec(sin_values(n * 5, 0.61, 0.002, 0.3), (n, 5), &dev)?;
    let a = Var::from_vec(sin_values(n * 4, 1.3, 0.004, 0.8), (n, 4), &dev)?;
    let ours = pred.forward(v.as_tensor(), a.as_tensor())?;
    let naive = naive_hypernet(pred.weight(), v.as_tensor(), a.as_tensor())?;
    assert_eq!(ours.dims(), &[n, 5]);
    let diff = max_abs_diff(&ours, &naive)?;
    assert!(diff < 1e-5, "{diff}");
    // gradients of a generic scalar with respect to A, v and a agree
    let probe = sin_tensor((n, 5), 0.37, 0.01, 0.2, &dev)?;
    let g_ours = (ours * &probe)?.sum_all()?.backward()?;
    let g_naive = (naive * &probe)?.sum_all()?.backward()?;
    let weight = var(&store, "weight")?;
    for (what, var) in [("A", &weight), ("v", &v), ("a", &a)] {
        let g1 = g_ours
            .get(var)
            .unwrap_or_else(|| panic!("no gradient for {what}"));
        let g2 = g_naive
            .get(var)
            .unwrap_or_else(|| panic!("no naive gradient for {what}"));
        let diff = max_abs_diff(g1, g2)?;
        assert!(diff < 1e-5, "{what}: {diff}");
        assert!(g1.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
    }
    // the action enters linearly: W(a + b) v = W(a) v + W(b) v, and W(0) = 0
    let b = sin_tensor((n, 4), 0.2, 0.0, 1.0, &dev)?;
    let lhs = pred.forward(v.as_tensor(), &(a.as_tensor() + &b)?)?;
    let rhs = (pred.forward(v.as_tensor(), a.as_tensor())? + pred.forward(v.as_tensor(), &b)?)?;
    assert!(max_abs_diff(&lhs, &rhs)? < 1e-5);
    let zero = pred.forward(v.as_tensor(), &Tensor::zeros((n, 4), DType::F32, &dev)?)?;
    assert_eq!(zero.abs()?.max_all()?.to_scalar::<f32>()?, 0.0);
    // errors
    assert!(pred.forward(a.as_tensor(), v.as_tensor()).is_err());
    assert_config_error(HypernetConfig { a_dim: 0, v_dim: 3 }.check(), "a_dim");
    Ok(())
}

#[test]
fn hypernet_trains() -> TestResult {
    let dev = Device::Cpu;
    let cfg = HypernetConfig { a_dim: 4, v_dim: 6 };
    let (pred, store) = build(4, |vb| HypernetPredictor::new(&cfg, vb))?;
    // targets from a hidden hypernetwork of the same form
    let hidden = sin_tensor((4, 6, 6), 0.53, 0.0007, 0.0, &dev)?;
    let n = 24;
    let v = sin_tensor((n, 6), 0.61, 0.002, 0.3, &dev)?;
    let a = sin_tensor((n, 4), 1.3, 0.004, 0.8, &dev)?;
    let a = a.broadcast_div(&a.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)?; // unit quaternions
    let target = naive_hypernet(&hidden, &v, &a)?;
    train(&store, 40, 5e-2, &[], || {
        (pred.forward(&v, &a)? - &target)?.sqr()?.mean_all()
    })?
    .assert_fell(0.3, "hypernet");
    Ok(())
}
