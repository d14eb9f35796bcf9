//! The paper's interface networks make exact, trainable symmetrizations.

use candle_core::{DType, Device, Tensor};
use noether_models::ParamStore;
use noether_symmetrize::interfaces::{C4Interface, GinInterface, VnInterface};
use noether_symmetrize::*;
use rand::Rng;

use crate::support;
use support::{R, dense, gauss, rng};

fn err<B: Base, I: Interface>(
    m: &Symmetrized<B, I>,
    xs: &[Tensor],
    mask: Option<&Tensor>,
) -> R<f64> {
    Ok(equivariance_error(m, xs, mask, 5, NoiseMode::Transported, &mut rng(9))?.max)
}

#[test]
fn gin_interface_canonical_and_probabilistic_are_exact_with_padding() -> R<()> {
    let (b, n) = (3, 8);
    let mut r = rng(1);
    let mut a = vec![0f64; b * n * n];
    let valid = [8usize, 6, 5];
    for g in 0..b {
        for i in 0..valid[g] {
            for j in i + 1..valid[g] {
                if r.random::<f64>() < 0.4 {
                    a[g * n * n + i * n + j] = 1.0;
                    a[g * n * n + j * n + i] = 1.0;
                }
            }
        }
    }
    let adj = Tensor::from_vec(a, (b, n, n), &Device::Cpu)?;
    let mk: Vec<f64> = (0..b * n)
        .map(|k| f64::from(u8::from(k % n < valid[k / n])))
        .collect();
    let mask = Tensor::from_vec(mk, (b, n), &Device::Cpu)?;
    let store = ParamStore::seeded(0);
    let vb = store.var_builder(DType::F64, &Device::Cpu);
    let gin = GinInterface::new(&[Rep::Pairs], 0, 4, 16, 3, vb)?;
    let base = Symmetrized::new(
        dense(gauss(&[n * n, 3], 2)?, vec![3]),
        Group::Permutations,
        &[Rep::Pairs],
        Rep::Invariant,
    )?
    .interface(gin);
    for mode in [Mode::Canonicalization, Mode::Probabilistic { k: 3 }] {
        let e = err(
            &base.clone().mode(mode),
            std::slice::from_ref(&adj),
            Some(&mask),
        )?;
        assert!(e < 1e-9, "{mode:?}: {e}");
    }
    // the entropy regulariser and the straight-through gradient reach the GIN
    let m = base.mode(Mode::Probabilistic { k: 2 });
    let out = m.forward(&[adj], Some(&mask), &mut rng(3), true)?;
    let h = out
        .entropy
        .ok_or_else(|| SymError::invalid("test", "no entropy"))?;
    let loss = (out.output.sqr()?.sum_all()? + (h * 0.1)?)?;
    let grads = loss.backward()?;
    for p in store.trainable()? {
        let g = grads
            .get(p.var.as_tensor())
            .ok_or_else(|| SymError::invalid(&p.name, "no gradient"))?;
        let s = g.abs()?.sum_all()?.to_scalar::<f64>()?;
        assert!(
            s > 0.0 || p.name.contains("eps"),
            "{}: zero gradient",
            p.name
        );
    }
    Ok(())
}

#[test]
fn vn_interface_on_n_body_inputs_is_exact() -> R<()> {
    let (b, n) = (2, 5);
    let pv = (gauss(&[b, n, 2, 3], 4)? + 1.0)?; // positions and velocities
    let q = gauss(&[b, n, 1], 5)?.sign()?; // charges
    let store = ParamStore::seeded(1);
    let vb = store.var_builder(DType::F64, &Device::Cpu);
    let reps = [Rep::Points, Rep::Nodes];
    for (g, scores) in [
        (
            Group::PermutationsOrthogonal {
                dim: 3,
                special: false,
            },
            true,
        ),
        (
            Group::Orthogonal {
                dim: 3,
                special: true,
            },
            false,
        ),
    ] {
        let vn = VnInterface::new(&reps, 2, 1, 1, 8, 2, 3, scores, vb.pp(g.name()))?;
        let base = Symmetrized::new(
            dense(gauss(&[n * 7, n * 3], 6)?, vec![n, 3]),
            g,
            &reps,
            Rep::Points,
        )?
        .interface(vn)
        .with_centring(true)
        .sn_config(SnConfig {
            tau: 0.1,
            ..SnConfig::default()
        });
        for mode in [Mode::Canonicalization, Mode::Probabilistic { k: 3 }] {
            let e = err(&base.clone().mode(mode), &[pv.clone(), q.clone()], None)?;
            assert!(e < 1e-8, "{} {mode:?}: {e}", g.name());
        }
    }
    Ok(())
}

#[test]
fn c4_interface_canonicalizes_exactly() -> R<()> {
    let x = gauss(&[3, 1, 12, 12], 7)?;
    let store = ParamStore::seeded(2);
    let vb = store.var_builder(DType::F64, &Device::Cpu);
    let c4 = C4Interface::new(&[Rep::Image], 1, vec![4, 4], vb)?;
    let base = Symmetrized::new(
        dense(gauss(&[144, 4], 8)?, vec![4]),
        Group::ImageRotations { reflections: false },
        &[Rep::Image],
        Rep::Invariant,
    )?
    .interface(c4);
    for mode in [Mode::Canonicalization, Mode::Probabilistic { k: 3 }] {
        let e = err(&base.clone().mode(mode), std::slice::from_ref(&x), None)?;
        assert!(e < 1e-9, "{mode:?}: {e}");
    }
    Ok(())
}
