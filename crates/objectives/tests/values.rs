//! Loss values against the numpy reference (`fixtures/make_objectives_fixture.py`, float64,
//! each loss written from the papers' formulas and the reference code's choices), in `f64` to
//! 1e-9 and in `f32` to 1e-5, plus a few cases computed by hand.

use crate::common;

use candle_core::{DType, Device, Result, Tensor};
use common::{assert_close, fixture, num, scalar, tensor};
use noether_objectives::{
    ContextEnv, InfoNceConfig, NtXentConfig, SieWeights, VicRegWeights, augself_loss,
    augself_loss_grouped, byol_loss, byol_loss_symmetric, contextssl_aux_loss, contextssl_nt_xent,
    covariance_term, equimod_nt_xent, info_nce, kl_divergence_rows, masked_mse, nt_xent,
    permutation_entropy, sie_loss, simclr_nt_xent, task_kl_divergence, task_log_probs,
    variance_term, vicreg_loss,
};
use serde_json::Value;

/// Every dtype with its tolerance.
const PRECISIONS: [(DType, f64); 2] = [(DType::F64, 1e-9), (DType::F32, 1e-5)];

fn t(v: &Value, key: &str, dtype: DType) -> Tensor {
    tensor(&v[key], dtype)
}

#[test]
fn nt_xent_layouts_match_numpy() -> Result<()> {
    let fx = fixture();
    for (dt, tol) in PRECISIONS {
        let s = &fx["simclr"];
        let loss = simclr_nt_xent(
            &t(s, "z1", dt),
            &t(s, "z2", dt),
            &NtXentConfig::new(num(s, &["temperature"])),
        )?;
        assert_close(
            &format!("simclr {dt:?}"),
            scalar(&loss),
            num(s, &["loss"]),
            tol,
        );

        let e = &fx["equimod"];
        let loss = equimod_nt_xent(
            &t(e, "y1", dt),
            &t(e, "y2", dt),
            &t(e, "yhat1", dt),
            &t(e, "yhat2", dt),
            &NtXentConfig::equimod(),
        )?;
        assert_close(
            &format!("equimod {dt:?}"),
            scalar(&loss),
            num(e, &["loss"]),
            tol,
        );

        let c = &fx["contextssl_ntxent"];
        let tokens = t(c, "tokens", dt);
        let loss = contextssl_nt_xent(&tokens, &NtXentConfig::contextssl())?;
        assert_close(
            &format!("contextssl {dt:?}"),
            scalar(&loss),
            num(c, &["loss"]),
            tol,
        );
        let unclamped = contextssl_nt_xent(&tokens, &NtXentConfig::new(0.1))?;
        assert_close(
            &format!("contextssl unclamped {dt:?}"),
            scalar(&unclamped),
            num(c, &["loss_unclamped"]),
            tol,
        );

        let g = &fx["nt_xent_general"];
        let positives: Vec<usize> = g["positives"]
            .as_array()
            .expect("positives")
            .iter()
            .map(|p| p.as_u64().expect("index") as usize)
            .collect();
        let loss = nt_xent(
            &t(g, "z", dt),
            &positives,
            &NtXentConfig::new(num(g, &["temperature"])),
        )?;
        assert_close(
            &format!("general {dt:?}"),
            scalar(&loss),
            num(g, &["loss"]),
            tol,
        );
    }
    // the fixture's clamp changes the value, so a missing clamp would be caught
    let c = &fx["contextssl_ntxent"];
    assert!((num(c, &["loss"]) - num(c, &["loss_unclamped"])).abs() > 1e-4);
    Ok(())
}

#[test]
fn info_nce_and_byol_match_numpy() -> Result<()> {
    let fx = fixture();
    for (dt, tol) in PRECISIONS {
        let f = &fx["info_nce"];
        let (q, k) = (t(f, "queries", dt), t(f, "keys", dt));
        let loss = info_nce(&q, &k, &InfoNceConfig::new(0.1))?;
        assert_close(
            &format!("info_nce {dt:?}"),
            scalar(&loss),
            num(f, &["loss"]),
            tol,
        );
        let sym = InfoNceConfig {
            temperature: 0.1,
            symmetric: true,
        };
        let loss = info_nce(&q, &k.narrow(0, 0, q.dim(0)?)?, &sym)?;
        let want = num(f, &["loss_symmetric_first_n"]);
        assert_close(
            &format!("info_nce symmetric {dt:?}"),
            scalar(&loss),
            want,
            tol,
        );

        let b = &fx["byol"];
        let (p1, p2, z1, z2) = (
            t(b, "p1", dt),
            t(b, "p2", dt),
            t(b, "z1", dt),
            t(b, "z2", dt),
        );
        let want = num(b, &["loss_p1_z2"]);
        assert_close(
            &format!("byol {dt:?}"),
            scalar(&byol_loss(&p1, &z2)?),
            want,
            tol,
        );
        let got = scalar(&byol_loss_symmetric(&p1, &p2, &z1, &z2)?);
        assert_close(
            &format!("byol symmetric {dt:?}"),
            got,
            num(b, &["symmetric"]),
            tol,
        );
    }
    Ok(())
}

#[test]
fn vicreg_and_sie_terms_match_numpy() -> Result<()> {
    let fx = fixture();
    for (dt, tol) in PRECISIONS {
        let v = &fx["vicreg"];
        let (z1, z2) = (t(v, "z1", dt), t(v, "z2", dt));
        let terms = vicreg_loss(&z1, &z2, &VicRegWeights::default())?;
        for (name, got) in [
            ("invariance", &terms.invariance),
            ("variance", &terms.variance),
            ("covariance", &terms.covariance),
            ("total", &terms.total),
        ] {
            assert_close(
                &format!("vicreg {name} {dt:?}"),
                scalar(got),
                num(v, &[name]),
                tol,
            );
        }
        let want = num(v, &["variance_term_z1"]);
        assert_close(
            &format!("v(z1) {dt:?}"),
            scalar(&variance_term(&z1)?),
            want,
            tol,
        );
        let want = num(v, &["covariance_term_z1"]);
        assert_close(
            &format!("c(z1) {dt:?}"),
            scalar(&covariance_term(&z1)?),
            want,
            tol,
        );

        let s = &fx["sie"];
        let terms = sie_loss(
            &t(s, "inv1", dt),
            &t(s, "inv2", dt),
            &t(s, "equi1", dt),
            &t(s, "equi2", dt),
            &t(s, "equi2_pred", dt),
            &SieWeights::default(),
        )?;
        for (name, got) in [
            ("invariance", &terms.invariance),
            ("equivariance", &terms.equivariance),
            ("variance", &terms.variance),
            ("prediction_variance", &terms.prediction_variance),
            ("covariance", &terms.covariance),
            ("total", &terms.total),
        ] {
            assert_close(
                &format!("sie {name} {dt:?}"),
                scalar(got),
                num(s, &[name]),
                tol,
            );
        }
    }
    // the fixture's variance hinge is active on some columns and not on others
    let v = &fx["vicreg"];
    assert!(num(v, &["variance_term_z1"]) > 0.05);
    Ok(())
}

#[test]
fn regression_losses_match_numpy() -> Result<()> {
    let fx = fixture();
    for (dt, tol) in PRECISIONS {
        let a = &fx["augself"];
        let (p, tg) = (t(a, "predicted", dt), t(a, "target", dt));
        assert_close(
            &format!("augself {dt:?}"),
            scalar(&augself_loss(&p, &tg)?),
            num(a, &["loss"]),
            tol,
        );
        let got = scalar(&augself_loss_grouped(&p, &tg, &[0..1, 1..4])?);
        assert_close(
            &format!("augself grouped {dt:?}"),
            got,
            num(a, &["loss_grouped"]),
            tol,
        );

        let m = &fx["masked_mse"];
        let (p, tg) = (t(m, "pred", dt), t(m, "target", dt));
        let got = scalar(&masked_mse(&p, &tg, &t(m, "column_mask", dt))?);
        assert_close(
            &format!("column mask {dt:?}"),
            got,
            num(m, &["column"]),
            tol,
        );
        let entry_mask = t(m, "entry_mask", DType::F64).to_dtype(DType::U8)?; // any dtype
        let got = scalar(&masked_mse(&p, &tg, &entry_mask)?);
        assert_close(&format!("entry mask {dt:?}"), got, num(m, &["entry"]), tol);
        for (env, key) in [
            (ContextEnv::Rotation, "aux_rotation"),
            (ContextEnv::Color, "aux_color"),
            (ContextEnv::RotationColor, "aux_rotation_color"),
        ] {
            let got = scalar(&contextssl_aux_loss(&p, &tg, env)?);
            assert_close(&format!("{key} {dt:?}"), got, num(m, &[key]), tol);
            // single-group environments are exactly the masked MSE with the env's column mask
            if env != ContextEnv::RotationColor {
                let mask = env.column_mask(dt, &Device::Cpu)?;
                let name = format!("{key} as masked_mse {dt:?}");
                assert_close(&name, scalar(&masked_mse(&p, &tg, &mask)?), got, tol);
            }
        }
    }
    Ok(())
}

#[test]
fn gessl_and_lps_match_numpy() -> Result<()> {
    let fx = fixture();
    for (dt, tol) in PRECISIONS {
        let g = &fx["gessl"];
        let temperature = num(g, &["temperature"]);
        let (z, zp) = (t(g, "z", dt), t(g, "z_prime", dt));
        let kl = task_kl_divergence(
            &t(g, "target_z", dt),
            &t(g, "target_z_prime", dt),
            &z,
            &zp,
            temperature,
        )?;
        assert_close(
            &format!("gessl kl {dt:?}"),
            scalar(&kl),
            num(g, &["kl"]),
            tol,
        );
        let got = task_log_probs(&z, &zp, temperature)?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        let want = tensor(&g["log_probs_model"], DType::F64)
            .flatten_all()?
            .to_vec1::<f64>()?;
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(want) {
            assert_close(&format!("log p(j | i) {dt:?}"), *a, b, tol);
        }

        let l = &fx["lps"];
        let (p, mask) = (t(l, "p_soft", dt), t(l, "node_mask", dt));
        let got = scalar(&permutation_entropy(&p, Some(&mask))?);
        assert_close(&format!("lps {dt:?}"), got, num(l, &["entropy"]), tol);
        let got = scalar(&permutation_entropy(&p.narrow(0, 0, 1)?, None)?);
        assert_close(
            &format!("lps unmasked {dt:?}"),
            got,
            num(l, &["entropy_unmasked_first"]),
            tol,
        );
    }
    Ok(())
}

#[test]
fn nt_xent_of_two_identical_pairs_is_log_one_plus_two_e_minus_one_over_t() -> Result<()> {
    // rows [e1, e2, e1, e2]: each row's positive has cosine 1, its two negatives cosine 0:
    // l = -log(e^{1/T} / (e^{1/T} + 2)) = log(1 + 2 e^{-1/T})
    let z = Tensor::new(&[[1.0f64, 0.0], [0.0, 1.0]], &Device::Cpu)?;
    for temperature in [0.1, 0.5, 1.0] {
        let loss = simclr_nt_xent(&z, &z, &NtXentConfig::new(temperature))?;
        let want = (1.0 + 2.0 * (-1.0 / temperature).exp()).ln();
        assert_close("two identical pairs", scalar(&loss), want, 1e-14);
    }
    // scaling an embedding does not change a cosine loss
    let loss = simclr_nt_xent(&z, &(&z * 7.0)?, &NtXentConfig::new(0.5))?;
    assert_close(
        "scale invariance",
        scalar(&loss),
        (1.0 + 2.0 * (-2.0f64).exp()).ln(),
        1e-14,
    );
    Ok(())
}

#[test]
fn contextssl_clamp_makes_negative_cosines_count_as_zero() -> Result<()> {
    // pairs (e1, e1) and (-e1, -e1): the cross-pair cosines are -1. Unclamped they are
    // ~impossible negatives; clamped at 1e-7 they count like orthogonal ones.
    let z = Tensor::new(
        &[[1.0f64, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]],
        &Device::Cpu,
    )?;
    let t = 0.1f64;
    let clamped = scalar(&contextssl_nt_xent(&z, &NtXentConfig::contextssl())?);
    let want = (1.0 + 2.0 * ((1e-7 - 1.0) / t).exp()).ln();
    assert_close("clamped", clamped, want, 1e-14);
    let plain = scalar(&contextssl_nt_xent(&z, &NtXentConfig::new(t))?);
    assert_close(
        "unclamped",
        plain,
        (1.0 + 2.0 * (-2.0 / t).exp()).ln(),
        1e-14,
    );
    Ok(())
}

#[test]
fn vicreg_variance_of_a_constant_batch_is_one_minus_sqrt_eps() -> Result<()> {
    // Var = 0 in every column: v = ReLU(1 - sqrt(0 + 1e-4)) = 0.99; covariance 0
    let z = Tensor::ones((5, 3), DType::F64, &Device::Cpu)?;
    assert_close("v(const)", scalar(&variance_term(&z)?), 0.99, 1e-14);
    assert_close("c(const)", scalar(&covariance_term(&z)?), 0.0, 1e-14);
    let terms = vicreg_loss(&z, &z, &VicRegWeights::default())?;
    assert_close("invariance", scalar(&terms.invariance), 0.0, 1e-14);
    assert_close("total", scalar(&terms.total), 25.0 * 0.99, 1e-12);
    // a batch with unit-or-larger spread in every column pays no variance term
    let spread = Tensor::new(&[[3.0f64, -2.0], [-3.0, 2.0], [0.0, 0.0]], &Device::Cpu)?;
    assert_close("v(spread)", scalar(&variance_term(&spread)?), 0.0, 1e-14);
    Ok(())
}

#[test]
fn byol_of_identical_vectors_is_zero_and_of_opposite_is_four() -> Result<()> {
    let p = Tensor::new(&[[1.0f64, 2.0, -1.0], [0.5, 0.0, 3.0]], &Device::Cpu)?;
    assert_close(
        "identical",
        scalar(&byol_loss(&p, &(&p * 3.0)?)?),
        0.0,
        1e-14,
    );
    assert_close("opposite", scalar(&byol_loss(&p, &p.neg()?)?), 4.0, 1e-14);
    assert_close(
        "symmetric",
        scalar(&byol_loss_symmetric(&p, &p, &p, &p)?),
        0.0,
        1e-14,
    );
    Ok(())
}

#[test]
fn kl_of_identical_distributions_is_zero() -> Result<()> {
    let z = Tensor::new(&[[1.0f64, 0.3], [-0.2, 0.9], [0.4, 0.4]], &Device::Cpu)?;
    let zp = Tensor::new(&[[0.8f64, 0.1], [0.0, 1.0], [0.5, 0.2]], &Device::Cpu)?;
    let kl = task_kl_divergence(&z, &zp, &z, &zp, 0.5)?;
    assert_close("KL(p || p)", scalar(&kl), 0.0, 1e-15);
    // and a hand-computed pair: p = (1/2, 1/2), q = (1/4, 3/4)
    let log_p = Tensor::new(&[[0.5f64.ln(), 0.5f64.ln()]], &Device::Cpu)?;
    let log_q = Tensor::new(&[[0.25f64.ln(), 0.75f64.ln()]], &Device::Cpu)?;
    let want = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
    assert_close(
        "KL by hand",
        scalar(&kl_divergence_rows(&log_p, &log_q)?),
        want,
        1e-15,
    );
    Ok(())
}

#[test]
fn entropy_of_a_permutation_is_zero() -> Result<()> {
    // the identity and a 3-cycle, hard: every row and column is one-hot
    let data = vec![
        1.0f64, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, //
        0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0,
    ];
    let p = Tensor::from_vec(data, (2, 3, 3), &Device::Cpu)?;
    // the 1e-12 clamp leaves ~2 * 2 * 1e-12 * 27.6 per node
    assert_close(
        "H(permutation)",
        scalar(&permutation_entropy(&p, None)?),
        0.0,
        1e-9,
    );
    Ok(())
}
