//! Autograd gradients of every loss against central finite differences in `f64`, with respect
//! to every input that receives a gradient, on the fixture's inputs (small, generic: no input
//! sits on a kink of a ReLU, clamp or max).

use crate::common;

use candle_core::{DType, Result, Tensor, Var};
use common::{check_gradients, fixture, tensor};
use noether_objectives::{
    ContextEnv, InfoNceConfig, NtXentConfig, SieWeights, VicRegWeights, augself_loss,
    augself_loss_grouped, byol_loss, byol_loss_symmetric, contextssl_aux_loss, contextssl_nt_xent,
    equimod_nt_xent, info_nce, masked_mse, nt_xent, permutation_entropy, sie_loss, simclr_nt_xent,
    task_kl_divergence, vicreg_loss,
};
use serde_json::Value;

fn inputs(v: &Value, keys: &[&str]) -> Vec<Tensor> {
    keys.iter().map(|k| tensor(&v[*k], DType::F64)).collect()
}

#[test]
fn nt_xent_gradients() -> Result<()> {
    let fx = fixture();
    let s = inputs(&fx["simclr"], &["z1", "z2"]);
    check_gradients("simclr", &s, &[0, 1], |x| {
        simclr_nt_xent(&x[0], &x[1], &NtXentConfig::new(0.5))
    })?;
    let e = inputs(&fx["equimod"], &["y1", "y2", "yhat1", "yhat2"]);
    check_gradients("equimod", &e, &[0, 1, 2, 3], |x| {
        equimod_nt_xent(&x[0], &x[1], &x[2], &x[3], &NtXentConfig::equimod())
    })?;
    let c = inputs(&fx["contextssl_ntxent"], &["tokens"]);
    check_gradients("contextssl", &c, &[0], |x| {
        contextssl_nt_xent(&x[0], &NtXentConfig::contextssl())
    })?;
    let g = inputs(&fx["nt_xent_general"], &["z"]);
    check_gradients("general", &g, &[0], |x| {
        nt_xent(&x[0], &[3, 0, 5, 1, 6, 2, 4], &NtXentConfig::new(0.3))
    })?;
    Ok(())
}

#[test]
fn info_nce_gradients() -> Result<()> {
    let fx = fixture();
    let f = inputs(&fx["info_nce"], &["queries", "keys"]);
    check_gradients("info_nce", &f, &[0, 1], |x| {
        info_nce(&x[0], &x[1], &InfoNceConfig::new(0.1))
    })?;
    let sym = InfoNceConfig {
        temperature: 0.1,
        symmetric: true,
    };
    let square = vec![f[0].clone(), f[1].narrow(0, 0, f[0].dim(0)?)?];
    check_gradients("info_nce symmetric", &square, &[0, 1], |x| {
        info_nce(&x[0], &x[1], &sym)
    })
}

#[test]
fn byol_gradients_reach_the_prediction_only() -> Result<()> {
    let fx = fixture();
    let b = inputs(&fx["byol"], &["p1", "p2", "z1", "z2"]);
    check_gradients("byol", &b, &[0], |x| byol_loss(&x[0], &x[3]))?;
    check_gradients("byol symmetric", &b, &[0, 1], |x| {
        byol_loss_symmetric(&x[0], &x[1], &x[2], &x[3])
    })?;
    // the target projection is behind a stop-gradient
    let p = Var::from_tensor(&b[0])?;
    let z = Var::from_tensor(&b[3])?;
    let grads = byol_loss(p.as_tensor(), z.as_tensor())?.backward()?;
    assert!(grads.get(&p).is_some());
    assert!(grads.get(&z).is_none(), "BYOL target received a gradient");
    Ok(())
}

#[test]
fn vicreg_and_sie_gradients() -> Result<()> {
    let fx = fixture();
    let v = inputs(&fx["vicreg"], &["z1", "z2"]);
    let w = VicRegWeights::default();
    check_gradients("vicreg total", &v, &[0, 1], |x| {
        Ok(vicreg_loss(&x[0], &x[1], &w)?.total)
    })?;
    // each term on its own, so that a wrong term cannot hide behind a right one
    check_gradients("vicreg variance", &v, &[0, 1], |x| {
        Ok(vicreg_loss(&x[0], &x[1], &w)?.variance)
    })?;
    check_gradients("vicreg covariance", &v, &[0, 1], |x| {
        Ok(vicreg_loss(&x[0], &x[1], &w)?.covariance)
    })?;
    let s = inputs(
        &fx["sie"],
        &["inv1", "inv2", "equi1", "equi2", "equi2_pred"],
    );
    let w = SieWeights::default();
    check_gradients("sie total", &s, &[0, 1, 2, 3, 4], |x| {
        Ok(sie_loss(&x[0], &x[1], &x[2], &x[3], &x[4], &w)?.total)
    })?;
    check_gradients("sie prediction variance", &s, &[4], |x| {
        Ok(sie_loss(&x[0], &x[1], &x[2], &x[3], &x[4], &w)?.prediction_variance)
    })
}

#[test]
fn regression_gradients() -> Result<()> {
    let fx = fixture();
    let a = inputs(&fx["augself"], &["predicted", "target"]);
    check_gradients("augself", &a, &[0, 1], |x| augself_loss(&x[0], &x[1]))?;
    check_gradients("augself grouped", &a, &[0, 1], |x| {
        augself_loss_grouped(&x[0], &x[1], &[0..1, 1..4])
    })?;
    let m = &fx["masked_mse"];
    let pt = inputs(m, &["pred", "target"]);
    let entry_mask = tensor(&m["entry_mask"], DType::F64);
    check_gradients("masked mse", &pt, &[0, 1], |x| {
        masked_mse(&x[0], &x[1], &entry_mask)
    })?;
    for env in [
        ContextEnv::Rotation,
        ContextEnv::Color,
        ContextEnv::RotationColor,
    ] {
        check_gradients(&format!("contextssl aux {env:?}"), &pt, &[0, 1], |x| {
            contextssl_aux_loss(&x[0], &x[1], env)
        })?;
    }
    Ok(())
}

#[test]
fn gessl_gradients_reach_both_models() -> Result<()> {
    let fx = fixture();
    let g = inputs(
        &fx["gessl"],
        &["target_z", "target_z_prime", "z", "z_prime"],
    );
    // no detach inside: the target's embeddings get a gradient too (detaching is the caller's)
    check_gradients("gessl kl", &g, &[0, 1, 2, 3], |x| {
        task_kl_divergence(&x[0], &x[1], &x[2], &x[3], 0.5)
    })
}

#[test]
fn lps_entropy_gradients() -> Result<()> {
    let fx = fixture();
    let l = &fx["lps"];
    let p = vec![tensor(&l["p_soft"], DType::F64)];
    let mask = tensor(&l["node_mask"], DType::F64);
    check_gradients("lps masked", &p, &[0], |x| {
        permutation_entropy(&x[0], Some(&mask))
    })?;
    check_gradients("lps unmasked", &p, &[0], |x| {
        permutation_entropy(&x[0].narrow(0, 0, 1)?, None)
    })?;
    // padded entries get exactly zero gradient
    let var = Var::from_tensor(&p[0])?;
    let grads = permutation_entropy(var.as_tensor(), Some(&mask))?.backward()?;
    let g = grads.get(&var).expect("gradient").to_vec3::<f64>()?;
    let valid = [5usize, 3, 4];
    for (b, (rows, &nb)) in g.iter().zip(&valid).enumerate() {
        for (i, row) in rows.iter().enumerate() {
            for (r, &v) in row.iter().enumerate() {
                if i >= nb || r >= nb {
                    assert_eq!(v, 0.0, "padded entry ({b}, {i}, {r})");
                }
            }
        }
    }
    Ok(())
}
