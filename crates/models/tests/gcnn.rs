//! The fiber backbone of Homomorphic SSL: the full lifted map of the equivariant G-CNN is a
//! homomorphism for quarter turns (exact), pooled fibers shift along the group axis (C4 exact,
//! C8 approximate at 45 degrees), the two no-structure ablations are far from it, the rotation
//! action agrees with `rot90`, fiber selection picks the right element, and every layer trains.

use crate::support;

use candle_core::{DType, Device, IndexOp, Tensor};
use noether_models::fibers::{fiber_equivariance_error, select_fibers};
use noether_models::gcnn::pooled_fibers;
use noether_models::gconv::rot90;
use noether_models::{
    Backbone, FiberBackbone, GCnn, GCnnConfig, ParamStore, RotationAction, Structure,
};
use support::{TestResult, assert_config_error, cross_entropy, max_abs_diff, signed_unit, train};

fn net(structure: Structure, n: usize, dtype: DType) -> candle_core::Result<(ParamStore, GCnn)> {
    let store = ParamStore::seeded(3);
    let cfg = GCnnConfig {
        structure,
        ..GCnnConfig::new(2, vec![3, 4, 5], n)
    };
    let net = GCnn::new(&cfg, store.var_builder(dtype, &Device::Cpu))
        .map_err(candle_core::Error::wrap)?;
    Ok((store, net))
}

fn images(b: usize, size: usize, dtype: DType) -> candle_core::Result<Tensor> {
    signed_unit(7, (b, 2, size, size), &Device::Cpu)?.to_dtype(dtype)
}

/// Smooth images inside the inscribed disc (what interpolated rotations approximate well).
fn smooth_images(b: usize, size: usize) -> candle_core::Result<Tensor> {
    let c = (size as f64 - 1.0) / 2.0;
    let mut v = Vec::with_capacity(b * 2 * size * size);
    for i in 0..b {
        for ch in 0..2 {
            for y in 0..size {
                for x in 0..size {
                    let (u, w) = ((x as f64 - c) / c, (y as f64 - c) / c);
                    let r2 = u * u + w * w;
                    let phase = i as f64 + 0.7 * ch as f64;
                    let val =
                        (-3.0 * r2).exp() * ((2.0 * u + phase).cos() + (1.5 * w - phase).sin());
                    v.push(val as f32);
                }
            }
        }
    }
    Tensor::from_vec(v, (b, 2, size, size), &Device::Cpu)
}

fn rel(a: &Tensor, b: &Tensor) -> candle_core::Result<f64> {
    let d = (a - b)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
    let n = b.sqr()?.sum_all()?.to_scalar::<f64>()?;
    Ok((d / n).sqrt())
}

#[test]
fn equivariant_lifted_map_is_a_homomorphism_for_quarter_turns() -> TestResult {
    for n in [4, 8] {
        let (_, net) = net(Structure::Equivariant, n, DType::F64)?;
        // 12 px: the maps of the three blocks are 12, 6, 3 (every pooled map even)
        let x = images(3, 12, DType::F64)?;
        for train in [false, true] {
            let f = net.fibers_t(&x, train)?;
            assert_eq!(f.dims(), &[3, 5, n, 3, 3]);
            for k in 1..4i64 {
                let moved = net.fibers_t(&rot90(&x, k)?, train)?;
                let expect = rot90(&f.roll((k as usize * n / 4) as i32, 2)?, k)?;
                let err = rel(&moved, &expect)?;
                assert!(
                    err < 1e-10,
                    "C{n}, {k} quarter turn(s), train {train}: {err}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn pooled_fiber_error_is_zero_only_with_structure() -> TestResult {
    let x = images(4, 16, DType::F32)?;
    let (_, eq) = net(Structure::Equivariant, 4, DType::F32)?;
    let a4 = eq.action(16, 16, DType::F32, &Device::Cpu)?;
    for s in 1..4 {
        let e = fiber_equivariance_error(&eq, &a4, &x, s)?;
        assert!(e < 1e-5, "equivariant C4, element {s}: {e}");
    }
    for structure in [Structure::Shuffled, Structure::Plain] {
        let (_, other) = net(structure, 4, DType::F32)?;
        let e = fiber_equivariance_error(&other, &a4, &x, 1)?;
        assert!(e > 0.05, "{structure:?} should not be equivariant: {e}");
    }
    // C8: quarter turns exact, 45 degrees approximate but far better than no structure
    let (_, eq8) = net(Structure::Equivariant, 8, DType::F32)?;
    let a8 = eq8.action(16, 16, DType::F32, &Device::Cpu)?;
    let quarter = fiber_equivariance_error(&eq8, &a8, &x, 2)?;
    assert!(quarter < 1e-5, "C8 quarter turn: {quarter}");
    let smooth = smooth_images(4, 16)?;
    let eighth = fiber_equivariance_error(&eq8, &a8, &smooth, 1)?;
    let (_, plain8) = net(Structure::Plain, 8, DType::F32)?;
    let plain = fiber_equivariance_error(&plain8, &a8, &smooth, 1)?;
    println!("C8 45 degrees on smooth images: equivariant {eighth:.3}, plain {plain:.3}");
    assert!(
        eighth < plain / 2.0,
        "C8 45 degrees {eighth} vs plain {plain}"
    );
    Ok(())
}

#[test]
fn the_three_structures_have_one_output_shape() -> TestResult {
    let x = images(2, 12, DType::F32)?;
    for s in [
        Structure::Equivariant,
        Structure::Shuffled,
        Structure::Plain,
    ] {
        let (_, net) = net(s, 4, DType::F32)?;
        assert_eq!(net.fibers_t(&x, false)?.dims(), &[2, 5, 4, 3, 3], "{s:?}");
        assert_eq!(Backbone::features_t(&net, &x, false)?.dims(), &[2, 5]);
        assert_eq!((net.fiber_dim(), net.group_order()), (5, 4));
    }
    Ok(())
}

#[test]
fn invariant_features_do_not_move_under_quarter_turns() -> TestResult {
    let (_, net) = net(Structure::Equivariant, 4, DType::F64)?;
    let x = images(2, 12, DType::F64)?;
    let f = Backbone::features_t(&net, &x, false)?;
    let g = Backbone::features_t(&net, &rot90(&x, 1)?, false)?;
    assert!(max_abs_diff(&f, &g)? < 1e-10);
    Ok(())
}

#[test]
fn rotation_action_agrees_with_rot90_and_per_image_elements() -> TestResult {
    let x = images(3, 10, DType::F32)?;
    let a8 = RotationAction::new(8, 10, DType::F32, &Device::Cpu)?;
    for r in [0, 2, 4, 6] {
        let a = a8.rotate_all(&x, r)?;
        assert_eq!(
            max_abs_diff(&a, &rot90(&x, (r / 2) as i64)?)?,
            0.0,
            "element {r}"
        );
    }
    // 45 degrees twice is close to a quarter turn away from the borders
    let twice = a8.rotate_all(&a8.rotate_all(&x, 1)?, 1)?;
    let centre = |t: &Tensor| t.i((.., .., 3..7, 3..7));
    let q = rot90(&x, 1)?;
    let err = max_abs_diff(&centre(&twice)?, &centre(&q)?)?;
    assert!(err < 0.9, "{err}");
    let per = a8.rotate(&x, &[1, 0, 6])?;
    for (i, r) in [1usize, 0, 6].into_iter().enumerate() {
        let one = a8.rotate_all(&x.i(i..i + 1)?, r)?;
        assert_eq!(max_abs_diff(&per.i(i..i + 1)?, &one)?, 0.0);
    }
    assert!(a8.rotate(&x, &[1, 2]).is_err());
    assert!(a8.rotate_all(&images(1, 12, DType::F32)?, 1).is_err());
    Ok(())
}

#[test]
fn select_fibers_picks_each_images_element() -> TestResult {
    let map =
        Tensor::arange(0f32, 2. * 3. * 4. * 2. * 2., &Device::Cpu)?.reshape((2, 3, 4, 2, 2))?;
    let pooled = pooled_fibers(&map)?; // (2, 3, 4)
    let s = select_fibers(&pooled, &[1, 3])?;
    assert_eq!(s.dims(), &[2, 3]);
    assert_eq!(
        s.to_vec2::<f32>()?,
        vec![
            pooled.i((0, .., 1))?.to_vec1::<f32>()?,
            pooled.i((1, .., 3))?.to_vec1::<f32>()?
        ]
    );
    assert!(select_fibers(&pooled, &[4, 0]).is_err());
    assert!(select_fibers(&pooled, &[0]).is_err());
    Ok(())
}

#[test]
fn every_structure_trains() -> TestResult {
    let x = images(8, 12, DType::F32)?;
    let labels = [0usize, 1, 2, 3, 0, 1, 2, 3];
    for s in [
        Structure::Equivariant,
        Structure::Shuffled,
        Structure::Plain,
    ] {
        let (store, net) = net(s, 4, DType::F32)?;
        // logits: four fibers' channel sums of one image, read off the pooled map
        let log = train(&store, 30, 0.05, &[], || {
            let p = pooled_fibers(&net.fibers_t(&x, true)?)?; // (8, 5, 4)
            cross_entropy(&p.sum(1)?, &labels)
        })?;
        log.assert_fell(0.5, &format!("{s:?}"));
    }
    Ok(())
}

#[test]
fn bad_configs_name_the_field() {
    let vb = || ParamStore::seeded(0).var_builder(DType::F32, &Device::Cpu);
    let bad = |f: fn(&mut GCnnConfig), field: &str| {
        let mut c = GCnnConfig::new(1, vec![2], 4);
        f(&mut c);
        assert_config_error(GCnn::new(&c, vb()), field);
    };
    bad(|c| c.widths.clear(), "widths");
    bad(|c| c.widths = vec![2, 0], "widths");
    bad(|c| c.n = 1, "n");
    bad(|c| c.kernel_size = 2, "kernel_size");
    bad(|c| c.in_channels = 0, "in_channels");
}
