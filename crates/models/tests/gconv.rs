//! C_N group convolutions: the rotation convention, the stacked filters, equivariance
//! `f(rot90 x) = rot90(roll(f(x), N / 4, group axis))` (exact, 1e-5) for C4 and C8, invariance of
//! group-pooled features, group batch norm, and training.

use crate::support;

use candle_core::{DType, Device, IndexOp, Module, ModuleT, Tensor};
use noether_models::gconv::{filter_rotation_matrix, group_pool, rot90};
use noether_models::{
    BatchNormConfig, GConvConfig, GroupBatchNorm, GroupConv, GroupPool, LiftingConv, ModelError,
    ParamStore,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::{
    TestResult, assert_config_error, cross_entropy, max_abs, max_abs_diff, names, train, var,
};

fn uniform(shape: &[usize], seed: u64) -> candle_core::Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
}

/// `Gamma_g f`: rotate the spatial map by `k` quarter turns and shift the group axis by `k N / 4`
/// (`out[r] = f[r - shift]`).
fn act_on_features(f: &Tensor, k: i64) -> candle_core::Result<Tensor> {
    let n = f.dim(2)?;
    let shift = (k.rem_euclid(4) as usize * n / 4) as i32;
    rot90(&f.roll(shift, 2)?, k)
}

#[test]
fn rot90_turns_counter_clockwise_on_screen() -> TestResult {
    let dev = Device::Cpu;
    // torch.rot90(x, 1, [-2, -1]) of [[0, 1, 2], [3, 4, 5]] is [[2, 5], [1, 4], [0, 3]]:
    // the top-right corner moves to the top-left (counter-clockwise with y down)
    let x = Tensor::new(&[[0f32, 1., 2.], [3., 4., 5.]], &dev)?;
    assert_eq!(
        rot90(&x, 1)?.to_vec2::<f32>()?,
        vec![vec![2., 5.], vec![1., 4.], vec![0., 3.]]
    );
    assert_eq!(
        rot90(&x, 2)?.to_vec2::<f32>()?,
        vec![vec![5., 4., 3.], vec![2., 1., 0.]]
    );
    assert_eq!(
        rot90(&x, 3)?.to_vec2::<f32>()?,
        vec![vec![3., 0.], vec![4., 1.], vec![5., 2.]]
    );
    assert_eq!(
        rot90(&x, -1)?.to_vec2::<f32>()?,
        rot90(&x, 3)?.to_vec2::<f32>()?
    );
    assert_eq!(rot90(&x, 4)?.to_vec2::<f32>()?, x.to_vec2::<f32>()?);
    // leading axes are untouched
    let y = uniform(&[2, 3, 4, 5], 0)?;
    assert_eq!(rot90(&y, 1)?.dims(), &[2, 3, 5, 4]);
    assert_eq!(max_abs_diff(&rot90(&rot90(&y, 1)?, 3)?, &y)?, 0.0);
    assert!(rot90(&Tensor::zeros(3, DType::F32, &dev)?, 1).is_err());
    Ok(())
}

#[test]
fn interpolated_rotation_matrices_are_exact_for_quarter_turns() -> TestResult {
    let dev = Device::Cpu;
    for k in [3usize, 4, 5] {
        let f = uniform(&[k, k], k as u64)?;
        let flat = f.reshape(k * k)?;
        for q in 0..4i64 {
            let angle = std::f64::consts::FRAC_PI_2 * q as f64;
            let m = filter_rotation_matrix(k, angle);
            // a permutation matrix: entries 0 or 1, one 1 per row and column
            assert!(m.iter().all(|&v| v == 0.0 || v == 1.0), "k {k}, q {q}");
            for r in 0..k * k {
                assert_eq!(m[r * k * k..(r + 1) * k * k].iter().sum::<f64>(), 1.0);
                assert_eq!((0..k * k).map(|c| m[c * k * k + r]).sum::<f64>(), 1.0);
            }
            let m = Tensor::from_vec(m, (k * k, k * k), &dev)?.to_dtype(DType::F32)?;
            let rotated = m.matmul(&flat.unsqueeze(1)?)?.reshape((k, k))?;
            assert_eq!(max_abs_diff(&rotated, &rot90(&f, q)?)?, 0.0, "k {k}, q {q}");
        }
        // other angles interpolate: rows sum to at most 1 (mass leaves the grid), the centre of
        // an odd kernel stays put
        let m = filter_rotation_matrix(k, std::f64::consts::FRAC_PI_4);
        for r in 0..k * k {
            let s: f64 = m[r * k * k..(r + 1) * k * k].iter().sum();
            assert!((0.0..=1.0 + 1e-12).contains(&s));
        }
        if k % 2 == 1 {
            let c = (k / 2) * k + k / 2;
            assert!((m[c * k * k + c] - 1.0).abs() < 1e-12);
        }
    }
    Ok(())
}

#[test]
fn group_conv_filters_follow_the_formula() -> TestResult {
    let store = ParamStore::seeded(1);
    let vb = store.var_builder(DType::F32, &Device::Cpu);
    let (o, c, n, k) = (2, 3, 4, 3);
    let gc = GroupConv::new(&GConvConfig::new(c, o, k, n), vb.pp("g"))?;
    let lift = LiftingConv::new(&GConvConfig::new(c, o, k, n), vb.pp("l"))?;
    let w = var(&store, "g.weight")?;
    assert_eq!(w.dims(), &[o, c, n, k, k]);
    let psi = gc.filters()?;
    assert_eq!(psi.dims(), &[o * n, c * n, k, k]);
    for oi in 0..o {
        for r in 0..n {
            for ci in 0..c {
                for s in 0..n {
                    let expect = rot90(&w.i((oi, ci, (s + n - r) % n))?, r as i64)?;
                    let got = psi.i((oi * n + r, ci * n + s))?;
                    assert_eq!(
                        max_abs_diff(&got, &expect)?,
                        0.0,
                        "o {oi} r {r} c {ci} s {s}"
                    );
                }
            }
        }
    }
    let wl = var(&store, "l.weight")?;
    let psi = lift.filters()?;
    for oi in 0..o {
        for r in 0..n {
            let expect = rot90(&wl.i(oi)?, r as i64)?;
            assert_eq!(max_abs_diff(&psi.i(oi * n + r)?, &expect)?, 0.0);
        }
    }
    Ok(())
}

/// lifting (3 -> 4) -> relu -> group conv (4 -> 3) -> group BN (train) -> relu -> group conv
/// (3 -> 2)
/// in `dtype`. The equivariance identities are exact in exact arithmetic; in f64 the float error
/// (summation order differs between an image and its rotation) is ~1e-15, in f32 ~1e-6.
struct Net {
    lift: LiftingConv,
    g1: GroupConv,
    bn: GroupBatchNorm,
    g2: GroupConv,
}

impl Net {
    fn new(n: usize, stride: usize, dtype: DType, store: &ParamStore) -> Result<Net, ModelError> {
        let vb = store.var_builder(dtype, &Device::Cpu);
        Ok(Net {
            lift: LiftingConv::new(&GConvConfig::new(3, 4, 3, n), vb.pp("lift"))?,
            g1: GroupConv::new(&GConvConfig::new(4, 3, 3, n), vb.pp("g1"))?,
            bn: GroupBatchNorm::new(3, BatchNormConfig::default(), vb.pp("bn"))?,
            g2: GroupConv::new(
                &GConvConfig {
                    stride,
                    ..GConvConfig::new(3, 2, 3, n)
                },
                vb.pp("g2"),
            )?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = noether_ops::relu(&self.lift.forward(x)?)?;
        let h = self.bn.forward_t(&self.g1.forward(&h)?, true)?;
        self.g2.forward(&noether_ops::relu(&h)?)
    }
}

#[test]
fn c4_layers_are_exactly_equivariant_to_quarter_turns() -> TestResult {
    // f64: at 1e-9 (exact up to rounding); f32: at 1e-5 relative to the output's scale
    for (dtype, tol) in [(DType::F64, 1e-9), (DType::F32, 1e-5)] {
        let store = ParamStore::seeded(2);
        let net = Net::new(4, 1, dtype, &store)?;
        let x = uniform(&[2, 3, 9, 9], 3)?.to_dtype(dtype)?;
        let fx = net.forward(&x)?;
        assert_eq!(fx.dims(), &[2, 2, 4, 9, 9]);
        let scale = max_abs(&fx)?;
        assert!(scale > 0.1);
        let tol = tol * scale.max(1.0);
        for k in 1..4 {
            let lhs = net.forward(&rot90(&x, k)?)?;
            let rhs = act_on_features(&fx, k)?;
            let err = max_abs_diff(&lhs, &rhs)?;
            assert!(err < tol, "{dtype:?}, k = {k}: {err}");
            // the group axis must move: without the shift the identity fails
            assert!(max_abs_diff(&lhs, &rot90(&fx, k)?)? > 1e-2);
        }
        // the lifting layer alone
        let l = net.lift.forward(&x)?;
        let err = max_abs_diff(&net.lift.forward(&rot90(&x, 1)?)?, &act_on_features(&l, 1)?)?;
        assert!(err < tol, "{dtype:?}, lifting: {err}");
    }
    Ok(())
}

#[test]
fn strided_c4_layers_stay_equivariant_when_the_grid_is_symmetric() -> TestResult {
    let store = ParamStore::seeded(4);
    let net = Net::new(4, 2, DType::F64, &store)?;
    // (9 + 2 - 3) / 2 = 4: a symmetric sampling grid
    let x = uniform(&[1, 3, 9, 9], 5)?.to_dtype(DType::F64)?;
    let fx = net.forward(&x)?;
    assert_eq!(fx.dims(), &[1, 2, 4, 5, 5]);
    let err = max_abs_diff(&net.forward(&rot90(&x, 1)?)?, &act_on_features(&fx, 1)?)?;
    assert!(err < 1e-9, "{err}");
    Ok(())
}

#[test]
fn c8_layers_are_exactly_equivariant_to_quarter_turns_and_pool_to_invariants() -> TestResult {
    let store = ParamStore::seeded(6);
    let net = Net::new(8, 1, DType::F64, &store)?;
    let x = uniform(&[2, 3, 9, 9], 7)?.to_dtype(DType::F64)?;
    let fx = net.forward(&x)?;
    assert_eq!(fx.dims(), &[2, 2, 8, 9, 9]);
    for k in 1..4 {
        let lhs = net.forward(&rot90(&x, k)?)?;
        let err = max_abs_diff(&lhs, &act_on_features(&fx, k)?)?; // group shift 2 k
        assert!(err < 1e-9, "k = {k}: {err}");
    }
    // group pooling: the pooled map rotates with the input; pooled over space too, invariant
    for pool in [GroupPool::Max, GroupPool::Mean] {
        let p = group_pool(&fx, pool)?;
        assert_eq!(p.dims(), &[2, 2, 9, 9]);
        let pr = group_pool(&net.forward(&rot90(&x, 1)?)?, pool)?;
        assert!(max_abs_diff(&pr, &rot90(&p, 1)?)? < 1e-9);
        let inv = p.mean((2, 3))?;
        let inv_r = pr.mean((2, 3))?;
        assert!(max_abs_diff(&inv, &inv_r)? < 1e-9, "{pool:?}");
        // and not trivially so: the two images give different invariants
        assert!(max_abs_diff(&inv.i(0)?, &inv.i(1)?)? > 1e-4);
    }
    assert!(group_pool(&x, GroupPool::Max).is_err());
    Ok(())
}

#[test]
fn group_batch_norm_shares_statistics_over_the_group_axis() -> TestResult {
    let store = ParamStore::seeded(8);
    let bn = GroupBatchNorm::new(
        3,
        BatchNormConfig::default(),
        store.var_builder(DType::F32, &Device::Cpu).pp("bn"),
    )?;
    assert_eq!(
        names(&store)?,
        [
            "weight",
            "bias",
            "running_mean",
            "running_var",
            "num_batches_tracked"
        ]
        .map(|s| format!("bn.{s}"))
    );
    let x = (uniform(&[2, 3, 4, 5, 5], 9)? * 3.0)?;
    let y = bn.forward_t(&x, true)?;
    // per channel: mean 0, biased variance 1 over (B, N, H, W); not per group element
    let per_c = y.transpose(0, 1)?.flatten_from(1)?;
    let mean = per_c.mean(1)?;
    let var = per_c.sqr()?.mean(1)?;
    assert!(max_abs(&mean)? < 1e-5);
    assert!(max_abs(&(var - 1.0)?)? < 1e-3);
    let per_group = y.i((.., 0, 0))?.mean_all()?.to_scalar::<f32>()?;
    assert!(
        per_group.abs() > 1e-4,
        "the group element's own mean is not forced to 0"
    );
    assert_eq!(bn.batch_norm().num_batches_tracked()?, 1);
    Ok(())
}

#[test]
fn config_errors_and_wrong_inputs() -> TestResult {
    let store = ParamStore::seeded(0);
    let vb = store.var_builder(DType::F32, &Device::Cpu);
    assert_config_error(
        LiftingConv::new(&GConvConfig::new(3, 4, 3, 0), vb.pp("a")),
        "n",
    );
    let gc = GroupConv::new(&GConvConfig::new(2, 2, 3, 4), vb.pp("b"))?;
    assert!(gc.forward(&uniform(&[1, 2, 8, 5, 5], 0)?).is_err()); // wrong group order
    assert!(gc.forward(&uniform(&[1, 2, 5, 5], 0)?).is_err()); // no group axis
    let lift = LiftingConv::new(&GConvConfig::new(3, 2, 3, 4), vb.pp("c"))?;
    assert!(lift.forward(&uniform(&[1, 2, 5, 5], 0)?).is_err());
    Ok(())
}

#[test]
fn group_convolutions_train() -> TestResult {
    let dev = Device::Cpu;
    let store = ParamStore::seeded(10);
    let vb = store.var_builder(DType::F32, &dev);
    let lift = LiftingConv::new(&GConvConfig::new(1, 4, 3, 4), vb.pp("lift"))?;
    let gconv = GroupConv::new(&GConvConfig::new(4, 4, 3, 4), vb.pp("gconv"))?;
    let bn = GroupBatchNorm::new(4, BatchNormConfig::default(), vb.pp("bn"))?;
    let lift8 = LiftingConv::new(&GConvConfig::new(1, 2, 3, 8), vb.pp("lift8"))?;
    let gconv8 = GroupConv::new(&GConvConfig::new(2, 2, 3, 8), vb.pp("gconv8"))?;
    let head = candle_nn::linear(4 + 2, 2, vb.pp("head"))?;
    let n = 8;
    let x = uniform(&[n, 1, 7, 7], 11)?;
    let labels = [0, 1, 0, 1, 1, 0, 1, 0];
    let loss = || -> candle_core::Result<Tensor> {
        let h = noether_ops::relu(&lift.forward(&x)?)?;
        let h = noether_ops::relu(&bn.forward_t(&gconv.forward(&h)?, true)?)?;
        let a = group_pool(&h, GroupPool::Max)?.mean((2, 3))?; // (n, 4), invariant
        let h8 = gconv8.forward(&noether_ops::relu(&lift8.forward(&x)?)?)?;
        let b = group_pool(&h8, GroupPool::Mean)?.mean((2, 3))?; // (n, 2)
        cross_entropy(&head.forward(&Tensor::cat(&[&a, &b], 1)?)?, &labels)
    };
    train(&store, 30, 3e-2, &[], loss)?.assert_fell(0.5, "group convolutions");
    Ok(())
}
