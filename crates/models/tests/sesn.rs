//! The scale-equivariant steerable CNN: shapes, names and config errors, the layers against
//! their definition, the Hermite-Gaussian basis against its scaling law, the scale action, the
//! measured equivariance error of the lifting layer and of the full network against plain CNNs
//! of the same shape, gradients to every parameter, determinism from a seed.

use crate::support;

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use noether_models::sesn::{
    DEFAULT_RATIO, basis_function, basis_orders, hermite_basis, hermite_e, hermite_gaussian,
    scale_equivariance_error, scale_pooled_fibers, window_radius,
};
use noether_models::{
    Backbone, GCnn, GCnnConfig, ParamStore, ScaleAction, SesConv, SesLift, Sesn, SesnConfig,
    Structure,
};
use support::{
    TestResult, assert_config_error, cross_entropy, max_abs_diff, names, signed_unit, train, values,
};

const DEV: Device = Device::Cpu;

fn sesn(seed: u64, cfg: &SesnConfig, dtype: DType) -> candle_core::Result<(ParamStore, Sesn)> {
    let store = ParamStore::seeded(seed);
    let net = Sesn::new(cfg, store.var_builder(dtype, &DEV)).map_err(candle_core::Error::wrap)?;
    Ok((store, net))
}

/// `b` images of `c` channels, each a sum of three signed Gaussian blobs (std 1.5..4 px) within
/// 5 px of the centre: smooth, and inside the region that a 1.41x shrink keeps.
fn blobs(b: usize, c: usize, size: usize, dtype: DType) -> candle_core::Result<Tensor> {
    let centre = (size as f64 - 1.0) / 2.0;
    let u = |k: u64, i: usize| support::unit(k, i as u64);
    let mut v = Vec::with_capacity(b * c * size * size);
    for img in 0..b * c {
        let params: Vec<(f64, f64, f64, f64)> = (0..3)
            .map(|j| {
                let i = img * 3 + j;
                let (dx, dy) = (10.0 * u(1, i) - 5.0, 10.0 * u(2, i) - 5.0);
                let sd = 1.5 + 2.5 * u(3, i);
                let amp = if u(4, i) < 0.3 { -1.0 } else { 1.0 } * (0.5 + u(5, i));
                (centre + dx, centre + dy, sd, amp)
            })
            .collect();
        for y in 0..size {
            for x in 0..size {
                let val: f64 = params
                    .iter()
                    .map(|&(cx, cy, sd, amp)| {
                        let r2 = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2);
                        amp * (-r2 / (2.0 * sd * sd)).exp()
                    })
                    .sum();
                v.push(val);
            }
        }
    }
    Tensor::from_vec(v, (b, c, size, size), &DEV)?.to_dtype(dtype)
}

fn rel(a: &Tensor, b: &Tensor) -> candle_core::Result<f64> {
    let sq = |t: Tensor| -> candle_core::Result<f64> {
        t.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()
    };
    Ok((sq((a - b)?)? / sq(b.clone())?).sqrt())
}

/// `|| f(T x)[s] - T' f(x)[s + 1] || / || T' f(x)[s + 1] ||` over `s < S - 1` for a lifted
/// map `f` (`T'` acts on the maps).
fn lifted_error(
    f: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
    action: &ScaleAction,
    map_action: &ScaleAction,
    x: &Tensor,
) -> candle_core::Result<f64> {
    let y = f(x)?;
    let s = y.dim(2)?;
    let moved = f(&action.scale_all(x, 1)?)?;
    let expect = map_action.scale_all(&y.narrow(2, 1, s - 1)?, 1)?;
    rel(&moved.narrow(2, 0, s - 1)?, &expect)
}

/// The pooled-fiber error of `scale_equivariance_error` with `pool` in place of the spatial
/// max, and with the scale axis shifted by `shift` (1: the homomorphism; 0: plain invariance).
fn pooled_error(
    net: &Sesn,
    action: &ScaleAction,
    x: &Tensor,
    pool: fn(&Tensor) -> candle_core::Result<Tensor>,
    shift: usize,
) -> candle_core::Result<f64> {
    let base = pool(&net.fibers_t(x, false)?)?;
    let s = base.dim(2)?;
    let moved = pool(&net.fibers_t(&action.scale_all(x, 1)?, false)?)?;
    rel(&moved.narrow(2, 0, s - 1)?, &base.narrow(2, shift, s - 1)?)
}

fn spatial_mean(map: &Tensor) -> candle_core::Result<Tensor> {
    map.mean(4)?.mean(3)
}

/// A plain conv `(B, in, H, W) -> (B, out, S, H, W)`: `out S` He-uniform 7x7 filters, no
/// basis, channels reshaped into pseudo-scales.
fn plain_lift(
    inp: usize,
    out: usize,
    s: usize,
) -> candle_core::Result<impl Fn(&Tensor) -> candle_core::Result<Tensor>> {
    let bound = (6.0 / (inp * 49) as f64).sqrt();
    let w = (signed_unit(11, (out * s, inp, 7, 7), &DEV)?.to_dtype(DType::F64)? * bound)?;
    Ok(move |x: &Tensor| {
        let y = x.conv2d(&w, 3, 1, 1, 1)?;
        let (b, _, h, ww) = y.dims4()?;
        y.reshape((b, out, s, h, ww))
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn shapes_names_and_features() -> TestResult {
    let cfg = SesnConfig {
        scale_size: 2,
        ..SesnConfig::new(2, vec![3, 4, 5])
    };
    let (store, net) = sesn(0, &cfg, DType::F32)?;
    let x = blobs(2, 2, 20, DType::F32)?;
    // 20 -> 10 -> 5
    assert_eq!(net.fibers_t(&x, false)?.dims(), &[2, 5, 3, 5, 5]);
    assert_eq!(net.fibers_t(&x, true)?.dims(), &[2, 5, 3, 5, 5]);
    assert_eq!(Backbone::features_t(&net, &x, false)?.dims(), &[2, 5]);
    assert_eq!(net.feature_dim(), 5);
    let all = names(&store)?;
    for i in 0..3 {
        for leaf in ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean"] {
            let name = format!("features.{i}.{leaf}");
            assert!(all.contains(&name), "{name} missing from {all:?}");
        }
    }
    let dims = |name: &str| -> candle_core::Result<Vec<usize>> {
        Ok(support::var(&store, name)?.dims().to_vec())
    };
    assert_eq!(dims("features.0.conv.weight")?, [3, 2, 6]);
    assert_eq!(dims("features.1.conv.weight")?, [4, 3, 2, 6]);
    assert_eq!(dims("features.2.conv.weight")?, [5, 4, 2, 6]);
    // too small for the pools, and the wrong channel count
    assert!(net.fibers_t(&blobs(1, 2, 3, DType::F32)?, false).is_err());
    assert!(net.fibers_t(&blobs(1, 3, 20, DType::F32)?, false).is_err());
    let p = scale_pooled_fibers(&net.fibers_t(&x, false)?)?;
    assert_eq!(p.dims(), &[2, 5, 3]);
    Ok(())
}

#[test]
fn bad_configs_name_the_field() {
    let vb = || ParamStore::seeded(0).var_builder(DType::F32, &DEV);
    let bad = |f: fn(&mut SesnConfig), field: &str| {
        let mut c = SesnConfig::new(1, vec![2, 3]);
        f(&mut c);
        assert_config_error(Sesn::new(&c, vb()), field);
    };
    bad(|c| c.widths.clear(), "widths");
    bad(|c| c.widths = vec![2, 0], "widths");
    bad(|c| c.in_channels = 0, "in_channels");
    bad(|c| c.kernel_size = 6, "kernel_size");
    bad(|c| c.scales.clear(), "scales");
    bad(|c| c.scales = vec![1.0, 0.9], "scales");
    bad(|c| c.scales = vec![-1.0, 1.0], "scales");
    bad(|c| c.scale_size = 0, "scale_size");
    bad(|c| c.scale_size = 4, "scale_size");
    bad(|c| c.num_funcs = 5, "num_funcs");
    bad(|c| c.num_funcs = 0, "num_funcs");
    // a 1x1 kernel: He_1(0) = 0, the function (1, 0) vanishes
    bad(
        |c| {
            c.kernel_size = 1;
            c.num_funcs = 3
        },
        "num_funcs",
    );
    assert_config_error(ScaleAction::new(1.0, 3, 8, DType::F32, &DEV), "ratio");
    assert_config_error(
        ScaleAction::new(1.41, 0, 8, DType::F32, &DEV),
        "num_elements",
    );
    assert_config_error(
        ScaleAction::with_blur(1.41, 3, 8, -1.0, DType::F32, &DEV),
        "blur",
    );
}

#[test]
fn layers_match_their_definition() -> TestResult {
    let scales = SesnConfig::new(1, vec![1]).scales;
    let basis = hermite_basis(5, &scales, 3, DType::F64, &DEV)?;
    let store = ParamStore::seeded(4);
    let vb = store.var_builder(DType::F64, &DEV);
    let lift = SesLift::new(2, 3, &basis, vb.pp("lift"))?;
    let conv = SesConv::new(3, 4, 2, &basis, vb.pp("conv"))?;
    let x = blobs(2, 2, 9, DType::F64)?;
    let y = lift.forward(&x)?; // (2, 3, 3, 9, 9)
    assert_eq!(y.dims(), &[2, 3, 3, 9, 9]);
    let kl = lift.kernels()?.reshape((3, 3, 2, 5, 5))?; // (out, S, in, k, k)
    for s in 0..3 {
        let direct = x.conv2d(&kl.i((.., s))?.contiguous()?, 2, 1, 1, 1)?;
        assert!(max_abs_diff(&y.i((.., .., s))?, &direct)? < 1e-12);
    }
    // out[s] = sum_j conv(x[s + j], kernel[.., j, s]), zeros beyond the top scale
    let z = conv.forward(&y)?;
    assert_eq!(z.dims(), &[2, 4, 3, 9, 9]);
    let kc = conv.kernels()?; // (out, in, J, S, k, k)
    for s in 0..3 {
        let mut direct = Tensor::zeros((2, 4, 9, 9), DType::F64, &DEV)?;
        for j in 0..2 {
            if s + j < 3 {
                let k = kc.i((.., .., j, s))?.contiguous()?;
                direct = (direct + y.i((.., .., s + j))?.contiguous()?.conv2d(&k, 2, 1, 1, 1)?)?;
            }
        }
        assert!(
            max_abs_diff(&z.i((.., .., s))?, &direct)? < 1e-12,
            "scale {s}"
        );
    }
    Ok(())
}

#[test]
fn basis_obeys_the_scaling_law() -> TestResult {
    // closed forms of the probabilists' Hermite polynomials
    for x in [-1.7, -0.3, 0.0, 0.9, 2.2] {
        assert_eq!(hermite_e(0, x), 1.0);
        assert!((hermite_e(2, x) - (x * x - 1.0)).abs() < 1e-12);
        assert!((hermite_e(3, x) - (x * x * x - 3.0 * x)).abs() < 1e-12);
        assert!((hermite_e(4, x) - (x.powi(4) - 6.0 * x * x + 3.0)).abs() < 1e-12);
    }
    assert_eq!(
        basis_orders(6),
        [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]
    );
    // psi_{a sigma}(a p) a^2 = psi_sigma(p), with and without the window
    let u_max = window_radius(7, 1.79);
    for (n, m) in basis_orders(10) {
        for (sigma, a) in [(0.9, 1.41), (1.3, 2.0), (0.7, 1.1)] {
            for (x, y) in [(0.3, -1.2), (1.0, 1.0), (-2.1, 0.4), (0.0, 0.0)] {
                let base = hermite_gaussian(n, m, sigma, x, y);
                let scaled = hermite_gaussian(n, m, a * sigma, a * x, a * y) * a * a;
                assert!((base - scaled).abs() < 1e-12, "({n}, {m}) {sigma} {a}");
                let base = basis_function(n, m, sigma, u_max, x, y);
                let scaled = basis_function(n, m, a * sigma, u_max, a * x, a * y) * a * a;
                assert!((base - scaled).abs() < 1e-12, "({n}, {m}) {sigma} {a}");
            }
        }
    }
    // the tensor: scale s + 1 on the grid is scale s on the grid shrunk by a, up to the common
    // normalisation (unit norm at scale 0)
    let cfg = SesnConfig::new(1, vec![1]);
    let (k, scales) = (cfg.kernel_size, cfg.scales.clone());
    let basis = hermite_basis(k, &scales, 10, DType::F64, &DEV)?; // (10, 3, 7, 7)
    let u_max = window_radius(k, scales[2]);
    let c = (k / 2) as f64;
    for (f, &(n, m)) in basis_orders(10).iter().enumerate() {
        let b = basis.i(f)?.to_vec3::<f64>()?;
        let norm0: f64 = b[0].iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm0 - 1.0).abs() < 1e-12);
        // the normalising constant of function f
        let raw0: f64 = (0..k * k)
            .map(|p| {
                let (x, y) = ((p % k) as f64 - c, (p / k) as f64 - c);
                basis_function(n, m, scales[0], u_max, x, y).powi(2)
            })
            .sum::<f64>()
            .sqrt();
        for s in 0..2 {
            let a = scales[s + 1] / scales[s];
            assert!((a - DEFAULT_RATIO).abs() < 1e-12);
            for (i, row) in b[s + 1].iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    let (x, y) = (j as f64 - c, i as f64 - c);
                    let at = v * raw0 * a * a;
                    let shrunk = basis_function(n, m, scales[s], u_max, x / a, y / a);
                    assert!((at - shrunk).abs() < 1e-12, "f {f} s {s} ({i}, {j})");
                }
            }
        }
    }
    Ok(())
}

#[test]
fn scale_action_shrinks_about_the_centre() -> TestResult {
    let size = 33;
    let c = 16.0;
    let w = 4.0f64;
    let g: Vec<f64> = (0..size * size)
        .map(|p| {
            let (x, y) = ((p % size) as f64 - c, (p / size) as f64 - c);
            (-(x * x + y * y) / (2.0 * w * w)).exp()
        })
        .collect();
    let x = Tensor::from_vec(g, (1, 1, size, size), &DEV)?;
    // the standard deviation of a centred blob, from its second moment
    let std_of = |t: &Tensor| -> candle_core::Result<f64> {
        let v = t.flatten_all()?.to_vec1::<f64>()?;
        let (mut m0, mut m2) = (0.0, 0.0);
        for (p, val) in v.iter().enumerate() {
            let (x, y) = ((p % size) as f64 - c, (p / size) as f64 - c);
            m0 += val;
            m2 += val * (x * x + y * y) / 2.0;
        }
        Ok((m2 / m0).sqrt())
    };
    for blur in [0.0, 0.5] {
        let action = ScaleAction::with_blur(1.41, 3, size, blur, DType::F64, &DEV)?;
        assert_eq!(max_abs_diff(&action.scale_all(&x, 0)?, &x)?, 0.0);
        for t in 1..3 {
            let f = 1.41f64.powi(t as i32);
            let expect = ((w * w + blur * blur * (f * f - 1.0)) / (f * f)).sqrt();
            let got = std_of(&action.scale_all(&x, t)?)?;
            assert!(
                (got - expect).abs() < 0.03 * expect,
                "blur {blur} t {t}: {got} vs {expect}"
            );
        }
        // a semigroup: T_1 T_1 ~ T_2
        let twice = action.scale_all(&action.scale_all(&x, 1)?, 1)?;
        let e = rel(&twice, &action.scale_all(&x, 2)?)?;
        assert!(e < 0.02, "blur {blur}: T1 T1 vs T2 {e}");
    }
    let action = ScaleAction::new(1.41, 3, 12, DType::F32, &DEV)?;
    let xs = blobs(3, 2, 12, DType::F32)?;
    let per = action.scale(&xs, &[2, 0, 1])?;
    for (i, t) in [2usize, 0, 1].into_iter().enumerate() {
        let one = action.scale_all(&xs.i(i..i + 1)?, t)?;
        assert_eq!(max_abs_diff(&per.i(i..i + 1)?, &one)?, 0.0);
    }
    // any leading axes: a lifted map (B, C, S, H, W)
    let map = xs.unsqueeze(2)?.repeat((1, 1, 3, 1, 1))?;
    let moved = action.scale_all(&map, 1)?;
    assert_eq!(
        max_abs_diff(&moved.i((.., .., 1))?, &action.scale_all(&xs, 1)?)?,
        0.0
    );
    assert!(action.scale_all(&xs, 3).is_err());
    assert!(action.scale(&xs, &[1, 2]).is_err());
    assert!(action.scale_all(&blobs(1, 1, 10, DType::F32)?, 1).is_err());
    Ok(())
}

#[test]
fn lifting_layer_is_scale_equivariant() -> TestResult {
    let x = blobs(4, 2, 32, DType::F64)?;
    let cfg = SesnConfig::new(2, vec![6]);
    let basis = hermite_basis(
        cfg.kernel_size,
        &cfg.scales,
        cfg.num_funcs,
        DType::F64,
        &DEV,
    )?;
    let action = ScaleAction::new(DEFAULT_RATIO, 3, 32, DType::F64, &DEV)?;
    let sharp = ScaleAction::with_blur(DEFAULT_RATIO, 3, 32, 0.0, DType::F64, &DEV)?;
    let noise = signed_unit(21, (4, 2, 32, 32), &DEV)?.to_dtype(DType::F64)?;
    let (mut errs, mut unblurred, mut unshifted) = (vec![], vec![], vec![]);
    let (mut noisy, mut noisy_unblurred) = (vec![], vec![]);
    for seed in 0..3 {
        let store = ParamStore::seeded(seed);
        let lift = SesLift::new(2, 6, &basis, store.var_builder(DType::F64, &DEV))?;
        let f = |x: &Tensor| lift.forward(x);
        errs.push(lifted_error(f, &action, &action, &x)?);
        unblurred.push(lifted_error(f, &sharp, &sharp, &x)?);
        noisy.push(lifted_error(f, &action, &action, &noise)?);
        noisy_unblurred.push(lifted_error(f, &sharp, &sharp, &noise)?);
        // without the scale shift: f(T x)[s] against T f(x)[s]
        let y = f(&x)?;
        let moved = f(&action.scale_all(&x, 1)?)?;
        let same = action.scale_all(&y.narrow(2, 0, 2)?, 1)?;
        unshifted.push(rel(&moved.narrow(2, 0, 2)?, &same)?);
    }
    let plain = lifted_error(plain_lift(2, 6, 3)?, &action, &action, &x)?;
    println!(
        "lifting layer, blobs: SESN {errs:.4?} (no pre-blur {unblurred:.4?}, no scale shift \
         {unshifted:.3?}), plain conv {plain:.3}; white noise: SESN {noisy:.3?} (no pre-blur \
         {noisy_unblurred:.3?})"
    );
    for e in &errs {
        assert!(*e < 0.03, "lifting layer error {e}");
        assert!(*e < 0.1 * plain, "lifting layer error {e} vs plain {plain}");
    }
    assert!(
        mean(&errs) < 0.2 * mean(&unshifted),
        "{errs:?} vs {unshifted:?}"
    );
    // on white noise, the pre-blur is what keeps the resampled image from aliasing
    assert!(mean(&noisy) < 0.8 * mean(&noisy_unblurred));
    Ok(())
}

#[test]
fn network_pooled_fibers_are_scale_equivariant() -> TestResult {
    let x = blobs(4, 2, 32, DType::F64)?;
    let action = ScaleAction::new(DEFAULT_RATIO, 3, 32, DType::F64, &DEV)?;
    let widths = vec![4, 8, 16];
    let cfg = SesnConfig::new(2, widths.clone());
    let (mut max_err, mut mean_err, mut unshifted, mut taps2, mut plain) =
        (vec![], vec![], vec![], vec![], vec![]);
    for seed in 0..3 {
        let (_, net) = sesn(seed, &cfg, DType::F64)?;
        max_err.push(scale_equivariance_error(&net, &action, &x, 1)?);
        mean_err.push(pooled_error(&net, &action, &x, spatial_mean, 1)?);
        unshifted.push(pooled_error(&net, &action, &x, scale_pooled_fibers, 0)?);
        let cfg2 = SesnConfig {
            scale_size: 2,
            ..cfg.clone()
        };
        let (_, net2) = sesn(seed, &cfg2, DType::F64)?;
        taps2.push(scale_equivariance_error(&net2, &action, &x, 1)?);
        // an ordinary CNN of the same shape: 7x7 convs, 3 x the channels as pseudo-scales
        let store = ParamStore::seeded(seed);
        let pcfg = GCnnConfig {
            structure: Structure::Plain,
            kernel_size: 7,
            ..GCnnConfig::new(2, widths.clone(), 3)
        };
        let p = GCnn::new(&pcfg, store.var_builder(DType::F64, &DEV))?;
        let f = |x: &Tensor, train: bool| p.fibers_t(x, train);
        plain.push(scale_equivariance_error(&f, &action, &x, 1)?);
    }
    println!(
        "3-block net, pooled fibers: SESN max {max_err:.3?}, mean {mean_err:.3?}, max without \
         the scale shift {unshifted:.3?}, scale_size 2 {taps2:.3?}; plain CNN {plain:.3?}"
    );
    for e in &max_err {
        assert!(*e < 0.2, "SESN pooled-fiber error {e}");
    }
    assert!(
        mean(&max_err) < 0.5 * mean(&plain),
        "{max_err:?} vs {plain:?}"
    );
    assert!(
        mean(&max_err) < 0.5 * mean(&mean_err),
        "max {max_err:?} vs mean {mean_err:?}"
    );
    // adjacent scales differ by 1.41 only, so the unshifted fibers are close too; the shifted
    // ones are closer
    assert!(
        mean(&max_err) < 0.8 * mean(&unshifted),
        "{max_err:?} vs {unshifted:?}"
    );
    assert!(scale_equivariance_error(&cfg_net(&cfg)?, &action, &x, 3).is_err());
    Ok(())
}

fn cfg_net(cfg: &SesnConfig) -> candle_core::Result<Sesn> {
    Ok(sesn(0, cfg, DType::F64)?.1)
}

#[test]
fn every_parameter_trains() -> TestResult {
    let cfg = SesnConfig {
        scale_size: 2,
        ..SesnConfig::new(2, vec![3, 4, 5])
    };
    let (store, net) = sesn(1, &cfg, DType::F32)?;
    let x = (blobs(8, 2, 16, DType::F32)? + (signed_unit(3, (8, 2, 16, 16), &DEV)? * 0.3)?)?;
    let labels = [0usize, 1, 2, 3, 4, 0, 1, 2];
    let log = train(&store, 25, 0.05, &[], || {
        let p = scale_pooled_fibers(&net.fibers_t(&x, true)?)?; // (8, 5, 3)
        cross_entropy(&p.sum(2)?, &labels)
    })?;
    log.assert_fell(0.6, "SESN");
    Ok(())
}

#[test]
fn seeded_networks_are_deterministic() -> TestResult {
    let cfg = SesnConfig::new(2, vec![3, 4]);
    let x = blobs(2, 2, 12, DType::F32)?;
    let run = |seed: u64| -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
        let (store, net) = sesn(seed, &cfg, DType::F32)?;
        let w = values(support::var(&store, "features.1.conv.weight")?.as_tensor())?;
        Ok((w, values(&net.fibers_t(&x, false)?)?))
    };
    let (a, b, c) = (run(7)?, run(7)?, run(8)?);
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
    Ok(())
}
