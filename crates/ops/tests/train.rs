//! Every op trains: two tiny models built only from this crate's ops (plus candle's `Linear`
//! and matmul) take 20 AdamW steps on a fixed batch; every parameter gets a non-zero gradient
//! and the loss falls.
//!
//! - an attention classifier: causal masked softmax, layer norm, GELU, softmax pooling,
//!   log-softmax + NLL;
//! - a conv-free batch-norm classifier on `(N, C, H, W)`: train-mode batch norm (rank 4 and
//!   rank 2), ReLU, log-softmax + NLL; then eval mode with the running statistics.

use crate::common;

use candle_core::{D, DType, Device, Module, Result, Tensor, Var};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW};
use common::{rand, uniform};

const F: DType = DType::F32;

/// A parameter initialised uniformly in `±scale` from `seed`.
fn param(shape: &[usize], scale: f64, seed: u64) -> Result<Var> {
    Var::from_tensor(&uniform(shape, -scale, scale, seed, F)?)
}

fn linear(w: &Var, b: Option<&Var>) -> Linear {
    Linear::new(w.as_tensor().clone(), b.map(|b| b.as_tensor().clone()))
}

/// Labels `argmax(features @ teacher)` of a fixed random linear teacher: `(N,)` `u32`.
fn teacher_labels(features: &Tensor, classes: usize, seed: u64) -> Result<Tensor> {
    let teacher = rand(&[features.dim(1)?, classes], seed, F)?;
    features.matmul(&teacher)?.argmax(D::Minus1)
}

/// Takes `steps` AdamW steps on `loss_fn`; returns the losses, after checking that every
/// parameter had a non-zero gradient at the first step.
fn fit(
    params: &[(&str, Var)],
    steps: usize,
    loss_fn: impl Fn() -> Result<Tensor>,
) -> Result<Vec<f32>> {
    let vars: Vec<Var> = params.iter().map(|(_, v)| v.clone()).collect();
    let cfg = ParamsAdamW {
        lr: 0.03,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(vars, cfg)?;
    let mut losses = Vec::new();
    for step in 0..steps {
        let loss = loss_fn()?;
        let grads = loss.backward()?;
        if step == 0 {
            for (name, v) in params {
                let g = grads
                    .get(v)
                    .ok_or_else(|| candle_core::Error::Msg(format!("{name}: no gradient")))?;
                let mass = g.abs()?.sum_all()?.to_scalar::<f32>()?;
                assert!(
                    mass > 0.0 && mass.is_finite(),
                    "{name}: gradient mass {mass}"
                );
            }
        }
        losses.push(loss.to_scalar::<f32>()?);
        opt.step(&grads)?;
    }
    Ok(losses)
}

fn assert_falls(losses: &[f32], factor: f32) {
    println!("losses: {losses:?}");
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(
        losses.iter().all(|l| l.is_finite()),
        "non-finite loss: {losses:?}"
    );
    assert!(
        last < factor * first,
        "loss did not fall enough: {losses:?}"
    );
}

#[test]
fn attention_classifier_trains() -> Result<()> {
    let (b, t, d, hidden, classes) = (8, 5, 6, 12, 3);
    let x = rand(&[b, t, d], 1, F)?;
    let labels = teacher_labels(&x.mean(1)?, classes, 2)?;
    let causal = Tensor::tril2(t, DType::U8, &Device::Cpu)?;
    let s = 0.4;
    let params = vec![
        ("wq", param(&[d, d], s, 10)?),
        ("wk", param(&[d, d], s, 11)?),
        ("wv", param(&[d, d], s, 12)?),
        ("ln_w", Var::from_tensor(&uniform(&[d], 0.8, 1.2, 13, F)?)?),
        ("ln_b", param(&[d], 0.1, 14)?),
        ("w1", param(&[hidden, d], s, 15)?),
        ("b1", param(&[hidden], 0.1, 16)?),
        ("pool", param(&[hidden, 1], s, 17)?),
        ("w2", param(&[classes, hidden], s, 18)?),
        ("b2", param(&[classes], 0.1, 19)?),
    ];
    let p = |i: usize| &params[i].1;
    let loss_fn = || -> Result<Tensor> {
        let q = linear(p(0), None).forward(&x)?; // (B, T, D)
        let k = linear(p(1), None).forward(&x)?;
        let v = linear(p(2), None).forward(&x)?;
        let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?; // (B, T, T)
        let attn = noether_ops::masked_softmax_last_dim(&scores, &causal)?;
        let h = (attn.matmul(&v)? + &x)?; // (B, T, D)
        let h = noether_ops::layer_norm(&h, Some(p(3)), Some(p(4)), 1e-5)?;
        let h = noether_ops::gelu(&linear(p(5), Some(p(6))).forward(&h)?)?; // (B, T, H)
        // softmax attention pooling over time
        let w = noether_ops::softmax_last_dim(&h.broadcast_matmul(p(7))?.squeeze(2)?)?; // (B, T)
        let pooled = w.unsqueeze(1)?.matmul(&h)?.squeeze(1)?; // (B, H)
        let logits = linear(p(8), Some(p(9))).forward(&pooled)?; // (B, classes)
        candle_nn::loss::nll(&noether_ops::log_softmax_last_dim(&logits)?, &labels)
    };
    let losses = fit(&params, 20, loss_fn)?;
    assert_falls(&losses, 0.3);
    Ok(())
}

#[test]
fn batch_norm_classifier_trains() -> Result<()> {
    let (n, c, side, hidden, classes) = (16, 3, 4, 8, 3);
    let x = rand(&[n, c, side, side], 3, F)?.affine(1.5, 0.5)?;
    let flat = c * side * side;
    let labels = teacher_labels(&x.flatten_from(1)?, classes, 4)?;
    let params = vec![
        ("bn1_w", Var::from_tensor(&uniform(&[c], 0.8, 1.2, 20, F)?)?),
        ("bn1_b", param(&[c], 0.1, 21)?),
        ("w1", param(&[hidden, flat], 0.2, 22)?),
        ("b1", param(&[hidden], 0.1, 23)?),
        (
            "bn2_w",
            Var::from_tensor(&uniform(&[hidden], 0.8, 1.2, 24, F)?)?,
        ),
        ("bn2_b", param(&[hidden], 0.1, 25)?),
        ("w2", param(&[classes, hidden], 0.4, 26)?),
        ("b2", param(&[classes], 0.1, 27)?),
    ];
    let p = |i: usize| &params[i].1;
    let forward = |train: bool,
                   stats: Option<&[noether_ops::BatchStats; 2]>|
     -> Result<(Tensor, [noether_ops::BatchStats; 2])> {
        let bn =
            |x: &Tensor, w: &Var, b: &Var, k: usize| -> Result<(Tensor, noether_ops::BatchStats)> {
                match (train, stats) {
                    (false, Some(s)) => {
                        let y = noether_ops::batch_norm_eval(
                            x,
                            &s[k].mean,
                            &s[k].unbiased_var()?,
                            Some(w),
                            Some(b),
                            1e-5,
                        )?;
                        Ok((y, s[k].clone()))
                    }
                    _ => noether_ops::batch_norm_train(x, Some(w), Some(b), 1e-5),
                }
            };
        let (h, s1) = bn(&x, p(0), p(1), 0)?; // (N, C, H, W)
        let h = noether_ops::relu(&h)?.flatten_from(1)?; // (N, C*H*W)
        let (h, s2) = bn(&linear(p(2), Some(p(3))).forward(&h)?, p(4), p(5), 1)?; // (N, hidden)
        let logits = linear(p(6), Some(p(7))).forward(&noether_ops::relu(&h)?)?;
        let loss = candle_nn::loss::nll(&noether_ops::log_softmax_last_dim(&logits)?, &labels)?;
        Ok((loss, [s1, s2]))
    };
    let losses = fit(&params, 20, || Ok(forward(true, None)?.0))?;
    assert_falls(&losses, 0.3);
    // eval mode with this batch's statistics reproduces the train-mode loss up to the
    // biased/unbiased variance difference
    let (train_loss, stats) = forward(true, None)?;
    let (eval_loss, _) = forward(false, Some(&stats))?;
    let (a, b) = (
        train_loss.to_scalar::<f32>()?,
        eval_loss.to_scalar::<f32>()?,
    );
    assert!(
        (a - b).abs() < 0.1 * a.abs().max(0.1),
        "train {a} vs eval {b}"
    );
    Ok(())
}
