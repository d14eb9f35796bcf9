//! Every loss trains: a tiny seeded model (linear layers on random inputs) takes a few AdamW
//! steps on a tiny batch, the loss falls, and on the first step every parameter receives a
//! non-zero gradient (checked inside `common::train`).

use crate::common;

use candle_core::{D, Result, Tensor, Var};
use common::{Lin, rng, train, uniform};
use noether_objectives::{
    ContextEnv, InfoNceConfig, NtXentConfig, SieWeights, VicRegWeights, augself_loss,
    byol_loss_symmetric, contextssl_aux_loss, contextssl_nt_xent, equimod_nt_xent, info_nce,
    permutation_entropy, sie_loss, simclr_nt_xent, similarity::l2_normalize, task_kl_divergence,
    vicreg_loss,
};

const N: usize = 8;
const IN: usize = 6;
const STEPS: usize = 40;

/// Asserts the loss fell by at least `fraction` of its starting value.
fn assert_falls(name: &str, (first, last): (f64, f64), fraction: f64) {
    println!("{name}: {first:.5} -> {last:.5}");
    assert!(
        last < first * (1.0 - fraction),
        "{name}: loss did not fall by {:.0}%: {first} -> {last}",
        fraction * 100.0
    );
}

/// Two noisy views `x + 0.2 noise` of a batch.
fn two_views(seed: u64) -> Result<(Tensor, Tensor)> {
    let mut r = rng(seed);
    let x = uniform(&mut r, &[N, IN])?;
    let x1 = (&x + (uniform(&mut r, &[N, IN])? * 0.2)?)?;
    let x2 = (&x + (uniform(&mut r, &[N, IN])? * 0.2)?)?;
    Ok((x1, x2))
}

/// Concatenates the variables of several layers.
fn vars(layers: &[&Lin]) -> Vec<Var> {
    layers.iter().flat_map(|l| l.vars()).collect()
}

#[test]
fn simclr_nt_xent_trains() -> Result<()> {
    let (x1, x2) = two_views(1)?;
    let f = Lin::new(&mut rng(11), IN, 4)?;
    let cfg = NtXentConfig::new(0.5);
    let losses = train("simclr", &f.vars(), STEPS, 0.05, || {
        simclr_nt_xent(&f.forward(&x1)?, &f.forward(&x2)?, &cfg)
    })?;
    assert_falls("simclr", losses, 0.2);
    Ok(())
}

#[test]
fn equimod_nt_xent_trains() -> Result<()> {
    // views x_t = x0 + t A: the embedding of a view is predictable from x0 and t
    let mut r = rng(2);
    let x0 = uniform(&mut r, &[N, IN])?;
    let a = uniform(&mut r, &[3, IN])?;
    let t1 = uniform(&mut r, &[N, 3])?;
    let t2 = uniform(&mut r, &[N, 3])?;
    let x1 = (&x0 + t1.matmul(&a)?)?;
    let x2 = (&x0 + t2.matmul(&a)?)?;
    let f = Lin::new(&mut rng(12), IN, 4)?;
    let u = Lin::new(&mut rng(13), 4 + 3, 4)?;
    let cfg = NtXentConfig::equimod();
    let losses = train("equimod", &vars(&[&f, &u]), STEPS, 0.05, || {
        let y0 = f.forward(&x0)?;
        let yhat1 = u.forward(&Tensor::cat(&[&y0, &t1], 1)?)?;
        let yhat2 = u.forward(&Tensor::cat(&[&y0, &t2], 1)?)?;
        equimod_nt_xent(&f.forward(&x1)?, &f.forward(&x2)?, &yhat1, &yhat2, &cfg)
    })?;
    assert_falls("equimod", losses, 0.2);
    Ok(())
}

#[test]
fn contextssl_nt_xent_trains() -> Result<()> {
    // source tokens [x; a], target tokens [x'; 0], interleaved
    let (x1, x2) = two_views(3)?;
    let action = uniform(&mut rng(30), &[N, 2])?;
    let src = Tensor::cat(&[&x1, &action], 1)?;
    let tgt = Tensor::cat(&[&x2, &action.zeros_like()?], 1)?;
    let f = Lin::new(&mut rng(14), IN + 2, 4)?;
    let cfg = NtXentConfig::contextssl();
    let losses = train("contextssl", &f.vars(), STEPS, 0.05, || {
        let s = f.forward(&src)?;
        let t = f.forward(&tgt)?;
        let tokens = Tensor::stack(&[&s, &t], 1)?.reshape((2 * N, 4))?; // s1, t1, s2, t2, ...
        contextssl_nt_xent(&tokens, &cfg)
    })?;
    assert_falls("contextssl", losses, 0.2);
    Ok(())
}

#[test]
fn info_nce_trains() -> Result<()> {
    let (x1, x2) = two_views(4)?;
    let f = Lin::new(&mut rng(15), IN, 4)?;
    let g = Lin::new(&mut rng(16), IN, 4)?;
    let cfg = InfoNceConfig {
        temperature: 0.2,
        symmetric: true,
    };
    let losses = train("info_nce", &vars(&[&f, &g]), STEPS, 0.05, || {
        info_nce(&f.forward(&x1)?, &g.forward(&x2)?, &cfg)
    })?;
    assert_falls("info_nce", losses, 0.3);
    Ok(())
}

#[test]
fn byol_trains() -> Result<()> {
    // online encoder + predictor chase a fixed random target network
    let (x1, x2) = two_views(5)?;
    let f = Lin::new(&mut rng(17), IN, 4)?;
    let q = Lin::new(&mut rng(18), 4, 4)?;
    let target = Lin::new(&mut rng(19), IN, 4)?;
    let (z1, z2) = (target.forward(&x1)?.detach(), target.forward(&x2)?.detach());
    let losses = train("byol", &vars(&[&f, &q]), STEPS, 0.05, || {
        let p1 = q.forward(&f.forward(&x1)?)?;
        let p2 = q.forward(&f.forward(&x2)?)?;
        byol_loss_symmetric(&p1, &p2, &z1, &z2)
    })?;
    assert_falls("byol", losses, 0.5);
    Ok(())
}

#[test]
fn vicreg_trains() -> Result<()> {
    let (x1, x2) = two_views(6)?;
    let f = Lin::new(&mut rng(20), IN, 4)?;
    let w = VicRegWeights::default();
    let losses = train("vicreg", &f.vars(), STEPS, 0.05, || {
        Ok(vicreg_loss(&f.forward(&x1)?, &f.forward(&x2)?, &w)?.total)
    })?;
    assert_falls("vicreg", losses, 0.3);
    Ok(())
}

#[test]
fn sie_trains() -> Result<()> {
    // the second view moves the first by an action: x2 = x1 + a B
    let mut r = rng(7);
    let x1 = uniform(&mut r, &[N, IN])?;
    let action = uniform(&mut r, &[N, 2])?;
    let b = uniform(&mut r, &[2, IN])?;
    let x2 = (&x1 + action.matmul(&b)?)?;
    let inv = Lin::new(&mut rng(21), IN, 3)?;
    let equi = Lin::new(&mut rng(22), IN, 4)?;
    let pred = Lin::new(&mut rng(23), 4 + 2, 4)?;
    let w = SieWeights::default();
    let losses = train("sie", &vars(&[&inv, &equi, &pred]), STEPS, 0.05, || {
        let (v1, v2) = (equi.forward(&x1)?, equi.forward(&x2)?);
        let yhat = pred.forward(&Tensor::cat(&[&v1, &action], 1)?)?;
        Ok(sie_loss(&inv.forward(&x1)?, &inv.forward(&x2)?, &v1, &v2, &yhat, &w)?.total)
    })?;
    assert_falls("sie", losses, 0.3);
    Ok(())
}

#[test]
fn augself_trains() -> Result<()> {
    // a head on [f(x1); f(x2)] regresses the parameter difference t1 - t2 of x_t = x + t A
    let mut r = rng(8);
    let x = uniform(&mut r, &[N, IN])?;
    let a = uniform(&mut r, &[3, IN])?;
    let (t1, t2) = (uniform(&mut r, &[N, 3])?, uniform(&mut r, &[N, 3])?);
    let (x1, x2) = ((&x + t1.matmul(&a)?)?, (&x + t2.matmul(&a)?)?);
    let target = (&t1 - &t2)?;
    let f = Lin::new(&mut rng(24), IN, 4)?;
    let head = Lin::new(&mut rng(25), 8, 3)?;
    let losses = train("augself", &vars(&[&f, &head]), STEPS, 0.05, || {
        let h = Tensor::cat(&[f.forward(&x1)?, f.forward(&x2)?], 1)?;
        augself_loss(&head.forward(&h)?, &target)
    })?;
    assert_falls("augself", losses, 0.5);
    Ok(())
}

#[test]
fn contextssl_aux_loss_trains() -> Result<()> {
    // predictor on L2-normalised token outputs regresses the target view's 6 latents
    let mut r = rng(9);
    let x = uniform(&mut r, &[2 * N, IN])?;
    let latents = uniform(&mut r, &[2 * N, 6])?;
    let f = Lin::new(&mut rng(26), IN, 4)?;
    let head = Lin::new(&mut rng(27), 4, 6)?;
    let losses = train("contextssl aux", &vars(&[&f, &head]), STEPS, 0.05, || {
        let h = l2_normalize(&f.forward(&x)?, 1e-12)?;
        contextssl_aux_loss(&head.forward(&h)?, &latents, ContextEnv::RotationColor)
    })?;
    assert_falls("contextssl aux", losses, 0.3);
    Ok(())
}

#[test]
fn gessl_task_kl_trains() -> Result<()> {
    // distil a fixed look-ahead target's task distribution into the model
    let (x1, x2) = two_views(10)?;
    let f = Lin::new(&mut rng(28), IN, 4)?;
    let target = Lin::new(&mut rng(29), IN, 4)?;
    let (tz, tzp) = (target.forward(&x1)?.detach(), target.forward(&x2)?.detach());
    let losses = train("gessl", &f.vars(), STEPS, 0.05, || {
        task_kl_divergence(&tz, &tzp, &f.forward(&x1)?, &f.forward(&x2)?, 0.5)
    })?;
    assert_falls("gessl", losses, 0.5);
    Ok(())
}

/// Log-domain Sinkhorn (rows then columns), `(B, n, n)` logits to a soft permutation.
fn sinkhorn(logits: &Tensor, iters: usize) -> Result<Tensor> {
    let mut l = logits.clone();
    for _ in 0..iters {
        l = noether_ops::log_softmax_last_dim(&l)?;
        l = noether_ops::log_softmax_last_dim(&l.transpose(1, 2)?.contiguous()?)?
            .transpose(1, 2)?
            .contiguous()?;
    }
    l.exp()
}

#[test]
fn lps_permutation_entropy_trains() -> Result<()> {
    // per-node features -> a row of scores per node -> Sinkhorn; the regulariser sharpens it
    let (b, n) = (3, 5);
    let feats = uniform(&mut rng(31), &[b, n, 3])?;
    let mask = Tensor::new(
        &[[1u8, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]],
        feats.device(),
    )?;
    let score = Lin::new(&mut rng(32), 3, n)?;
    // mean over rows of the largest entry: 1 for hard permutations, 1/n for the flat matrix
    let peak = |score: &Lin| -> Result<f32> {
        let p = sinkhorn(&score.forward(&feats)?, 10)?;
        p.max(D::Minus1)?.mean_all()?.to_scalar::<f32>()
    };
    let before = peak(&score)?;
    let losses = train("lps", &score.vars(), STEPS, 0.05, || {
        let logits = score.forward(&feats)?; // (B, n, n)
        let p = sinkhorn(&logits, 10)?;
        permutation_entropy(&p, Some(&mask))
    })?;
    assert_falls("lps", losses, 0.2);
    // the trained soft permutations are sharper
    let after = peak(&score)?;
    println!("lps: mean largest entry per row {before:.3} -> {after:.3}");
    assert!(
        after > before + 0.1,
        "rows not sharper: {before} -> {after}"
    );
    Ok(())
}
