//! The translation fiber backbone of Homomorphic SSL: with circular padding the lifted map is a
//! homomorphism for shifts by whole feature cells (exact, bundles included), the shuffled
//! ablation is far from it, zero padding would break it at the borders, the translation action
//! agrees with `roll` image by image, and every layer trains.

use crate::support;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig};
use noether_models::fibers::fiber_equivariance_error;
use noether_models::tcnn::pad_circular;
use noether_models::{
    Backbone, FiberBackbone, GroupAction, ParamStore, Structure, TranslationCnn,
    TranslationCnnConfig,
};
use support::{TestResult, assert_config_error, cross_entropy, max_abs_diff, signed_unit, train};

fn net(
    structure: Structure,
    bundle: usize,
    dtype: DType,
) -> candle_core::Result<(ParamStore, TranslationCnn)> {
    let store = ParamStore::seeded(3);
    let cfg = TranslationCnnConfig {
        structure,
        bundle,
        ..TranslationCnnConfig::new(2, vec![3, 4, 5])
    };
    let net = TranslationCnn::new(&cfg, store.var_builder(dtype, &Device::Cpu))
        .map_err(candle_core::Error::wrap)?;
    Ok((store, net))
}

fn images(b: usize, size: usize, dtype: DType) -> candle_core::Result<Tensor> {
    signed_unit(5, (b, 2, size, size), &Device::Cpu)?.to_dtype(dtype)
}

#[test]
fn lifted_map_rolls_with_whole_cell_shifts() -> TestResult {
    // 16 px, three blocks: stride 4, a 4x4 grid
    let x = images(3, 16, DType::F64)?;
    for train in [false, true] {
        let (_, net) = net(Structure::Equivariant, 1, DType::F64)?;
        let map = net.map_t(&x, train)?;
        assert_eq!(map.dims(), &[3, 5, 4, 4]);
        for (dy, dx) in [(4, 0), (0, 8), (12, 4)] {
            let moved = net.map_t(&x.roll(dy, 2)?.roll(dx, 3)?, train)?;
            let expect = map.roll(dy / 4, 2)?.roll(dx / 4, 3)?;
            let d = max_abs_diff(&moved, &expect)?;
            assert!(d < 1e-10, "train {train}, shift ({dy}, {dx}): {d}");
        }
    }
    Ok(())
}

#[test]
fn pooled_bundles_are_equivariant_only_with_structure() -> TestResult {
    let x = images(4, 16, DType::F32)?;
    for bundle in [1, 2, 3] {
        let (_, eq) = net(Structure::Equivariant, bundle, DType::F32)?;
        let action = eq.action(16, 16, DType::F32, &Device::Cpu)?;
        assert_eq!(action.order(), 16);
        for g in [1, 5, 11] {
            let e = fiber_equivariance_error(&eq, &action, &x, g)?;
            assert!(e < 1e-5, "bundle {bundle}, element {g}: {e}");
        }
    }
    let (_, shuffled) = net(Structure::Shuffled, 1, DType::F32)?;
    let action = shuffled.action(16, 16, DType::F32, &Device::Cpu)?;
    let e = fiber_equivariance_error(&shuffled, &action, &x, 5)?;
    assert!(e > 0.05, "shuffled should not be equivariant: {e}");
    // the invariant features do not move under a shift
    let (_, eq) = net(Structure::Equivariant, 2, DType::F32)?;
    let f = Backbone::features_t(&eq, &x, false)?;
    let g = Backbone::features_t(&eq, &action.act_all(&x, 6)?, false)?;
    assert!(max_abs_diff(&f, &g)? < 1e-5);
    Ok(())
}

#[test]
fn a_bundle_is_the_mean_of_its_window() -> TestResult {
    let x = images(2, 16, DType::F64)?;
    let (_, k1) = net(Structure::Equivariant, 1, DType::F64)?;
    let (_, k2) = net(Structure::Equivariant, 2, DType::F64)?;
    let single = k1.pooled_fibers_t(&x, false)?; // (2, 5, 16) on a 4x4 grid
    let bundles = k2.pooled_fibers_t(&x, false)?;
    // the bundle at (3, 1) covers (3, 1), (3, 2), (0, 1), (0, 2): it wraps around
    let cell = |u: usize, v: usize| single.narrow(2, u * 4 + v, 1);
    let expect = ((((cell(3, 1)? + cell(3, 2)?)? + cell(0, 1)?)? + cell(0, 2)?)? / 4.0)?;
    assert!(max_abs_diff(&bundles.narrow(2, 13, 1)?, &expect)? < 1e-12);
    Ok(())
}

#[test]
fn zero_padding_would_break_the_identity() -> TestResult {
    // the reason for circular padding: a zero-padded conv does not commute with cyclic shifts
    let x = images(1, 8, DType::F64)?;
    let w = signed_unit(9, (2, 2, 3, 3), &Device::Cpu)?.to_dtype(DType::F64)?;
    let zero = Conv2d::new(
        w.clone(),
        None,
        Conv2dConfig {
            padding: 1,
            ..Conv2dConfig::default()
        },
    );
    let circ = Conv2d::new(w, None, Conv2dConfig::default());
    let shifted = x.roll(3, 3)?;
    let c = max_abs_diff(
        &circ.forward(&pad_circular(&shifted, 1)?)?,
        &circ.forward(&pad_circular(&x, 1)?)?.roll(3, 3)?,
    )?;
    let z = max_abs_diff(&zero.forward(&shifted)?, &zero.forward(&x)?.roll(3, 3)?)?;
    assert!(c < 1e-12 && z > 1e-3, "circular {c}, zero {z}");
    Ok(())
}

#[test]
fn translation_action_rolls_each_image_by_its_element() -> TestResult {
    let x = images(3, 16, DType::F32)?;
    let (_, net) = net(Structure::Equivariant, 1, DType::F32)?;
    let GroupAction::Translation(t) = net.action(16, 16, DType::F32, &Device::Cpu)? else {
        panic!("a translation CNN acts by translations");
    };
    assert_eq!((t.grid(), t.stride(), t.shift(6)), ((4, 4), 4, (4, 8)));
    let elements = [0, 6, 15];
    let each = t.translate(&x, &elements)?;
    for (i, &g) in elements.iter().enumerate() {
        let (dy, dx) = t.shift(g);
        let expect = x.narrow(0, i, 1)?.roll(dy as i32, 2)?.roll(dx as i32, 3)?;
        assert_eq!(
            max_abs_diff(&each.narrow(0, i, 1)?, &expect)?,
            0.0,
            "image {i}"
        );
    }
    assert!(t.translate(&x, &[0, 1]).is_err());
    assert!(t.translate_all(&images(1, 12, DType::F32)?, 1).is_err());
    Ok(())
}

#[test]
fn every_structure_trains() -> TestResult {
    let x = images(8, 16, DType::F32)?;
    let labels = [0usize, 1, 2, 3, 0, 1, 2, 3];
    for s in [Structure::Equivariant, Structure::Shuffled] {
        let (store, net) = net(s, 2, DType::F32)?;
        // logits: four bundles' channel sums
        let log = train(&store, 30, 0.05, &[], || {
            let p = net.pooled_fibers_t(&x, true)?.narrow(2, 0, 4)?; // (8, 5, 4)
            cross_entropy(&p.sum(1)?, &labels)
        })?;
        log.assert_fell(0.5, &format!("{s:?}"));
    }
    Ok(())
}

#[test]
fn bad_configs_and_sizes_name_the_field() -> TestResult {
    let vb = || ParamStore::seeded(0).var_builder(DType::F32, &Device::Cpu);
    let bad = |f: fn(&mut TranslationCnnConfig), field: &str| {
        let mut c = TranslationCnnConfig::new(1, vec![2]);
        f(&mut c);
        assert_config_error(TranslationCnn::new(&c, vb()), field);
    };
    bad(|c| c.widths.clear(), "widths");
    bad(|c| c.kernel_size = 4, "kernel_size");
    bad(|c| c.bundle = 0, "bundle");
    bad(|c| c.structure = Structure::Plain, "structure");
    let (_, net) = net(Structure::Equivariant, 1, DType::F32)?;
    assert_config_error(net.action(18, 16, DType::F32, &Device::Cpu), "input size");
    Ok(())
}
