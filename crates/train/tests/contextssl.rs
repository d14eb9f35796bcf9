//! ContextSSL as a method: every parameter gets a gradient in both environments, the
//! environment masks the action and picks the auxiliary columns, a step is a function of the
//! seed and the step, the KV-cache query path equals a full forward pass, and bad settings
//! name their field.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use noether_models::{ConvNet, ConvNetConfig, PairMask, ParamStore};
use noether_train::data::{ACTION_DIM, ActionPairs};
use noether_train::methods::{ContextMode, ContextSsl, ContextSslConfig, InContext};
use noether_train::{Embed, Method, Result, StepContext};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 8;

fn config() -> ContextSslConfig {
    ContextSslConfig {
        n_embd: 16,
        n_layer: 2,
        n_head: 2,
        mlp_ratio: 2,
        block_pairs: 4,
        aux_hidden: 8,
        ..ContextSslConfig::default()
    }
}

fn model(cfg: &ContextSslConfig) -> Result<ContextSsl<ConvNet>> {
    let store = ParamStore::seeded(3);
    let vb = store.var_builder(DType::F32, &Device::Cpu);
    let backbone = ConvNet::new(
        &ConvNetConfig {
            in_channels: 3,
            widths: vec![4, 8],
            convs_per_block: 1,
            num_classes: None,
        },
        vb.pp("backbone"),
    )?;
    ContextSsl::new(store, backbone, cfg, DType::F32, &Device::Cpu)
}

/// `N` seeded pairs of 3x8x8 images with unit quaternions and hue deltas.
fn batch(seed: u64) -> Result<ActionPairs> {
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut img = || -> Result<Tensor> {
        let v: Vec<f32> = (0..N * 3 * 64)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        Ok(Tensor::from_vec(v, (N, 3, 8, 8), &dev)?)
    };
    let (x1, x2) = (img()?, img()?);
    let rows = |rng: &mut ChaCha8Rng| -> Result<Tensor> {
        let mut v = Vec::with_capacity(N * ACTION_DIM);
        for _ in 0..N {
            let q: Vec<f32> = (0..4).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.extend(q.iter().map(|x| x / norm));
            v.extend([
                rng.random_range(-1.0f32..1.0),
                rng.random_range(-1.0f32..1.0),
            ]);
        }
        Ok(Tensor::from_vec(v, (N, ACTION_DIM), &dev)?)
    };
    let mut rng2 = ChaCha8Rng::seed_from_u64(seed + 100);
    Ok(ActionPairs {
        x1,
        x2,
        action: rows(&mut rng2)?,
        latent2: rows(&mut rng2)?,
        labels: vec![0; N],
    })
}

fn ctx(step: u64) -> StepContext {
    StepContext {
        step,
        total_steps: 100,
        lr: 0.1,
        seed: 0,
    }
}

/// The first step whose environment is `mode`.
fn step_in(m: &ContextSsl<ConvNet>, mode: ContextMode) -> u64 {
    (0..100)
        .find(|&s| m.environment(&ctx(s)) == mode)
        .expect("both environments within 100 steps")
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

#[test]
fn every_parameter_gets_a_gradient_in_both_environments() -> Result<()> {
    let mut m = model(&config())?;
    let b = batch(0)?;
    for mode in ContextMode::ALL {
        let step = step_in(&m, mode);
        let losses = m.losses(&b, &ctx(step))?;
        let grads = losses.total.backward()?;
        let mut seen = BTreeMap::new();
        for s in m.stores() {
            for p in s.store.trainable()? {
                let g = grads
                    .get(p.var.as_tensor())
                    .unwrap_or_else(|| panic!("{mode:?}: {} gets no gradient", p.name));
                seen.insert(p.name.clone(), scalar(&g.abs()?.sum_all()?)?);
            }
        }
        assert!(seen.len() > 20, "{seen:?}");
        for (name, g) in &seen {
            // hidden conv biases feed a train-mode batch norm: their gradient is 0 up to rounding
            if name.starts_with("backbone.") && name.ends_with(".bias") {
                continue;
            }
            assert!(*g > 1e-9 && g.is_finite(), "{mode:?}: {name} gets {g}");
        }
    }
    Ok(())
}

#[test]
fn the_environment_masks_the_action_and_picks_the_supervised_columns() -> Result<()> {
    let mut m = model(&config())?;
    let b = batch(1)?;
    let loss = |m: &mut ContextSsl<ConvNet>, b: &ActionPairs, step: u64| -> Result<f64> {
        scalar(&m.losses(b, &ctx(step))?.total)
    };
    let ones = |cols: std::ops::Range<usize>| -> Result<Tensor> {
        let v: Vec<f32> = (0..N * ACTION_DIM)
            .map(|k| f32::from(u8::from(cols.contains(&(k % ACTION_DIM)))))
            .collect();
        Ok(Tensor::from_vec(v, (N, ACTION_DIM), &Device::Cpu)?)
    };
    let shifted = |b: &ActionPairs, action: bool, cols| -> Result<ActionPairs> {
        let mut c = b.clone();
        if action {
            c.action = (&c.action + (ones(cols)? * 0.7)?)?;
        } else {
            c.latent2 = (&c.latent2 + (ones(cols)? * 0.7)?)?;
        }
        Ok(c)
    };
    let rot = step_in(&m, ContextMode::Rotation);
    let col = step_in(&m, ContextMode::Color);
    let (base_rot, base_col) = (loss(&mut m, &b, rot)?, loss(&mut m, &b, col)?);
    // rot: the colour part of the action and of the target are invisible, the rotation part is not
    assert_eq!(loss(&mut m, &shifted(&b, true, 4..6)?, rot)?, base_rot);
    assert_eq!(loss(&mut m, &shifted(&b, false, 4..6)?, rot)?, base_rot);
    assert_ne!(loss(&mut m, &shifted(&b, true, 0..4)?, rot)?, base_rot);
    assert_ne!(loss(&mut m, &shifted(&b, false, 0..4)?, rot)?, base_rot);
    // color: the reverse
    assert_eq!(loss(&mut m, &shifted(&b, true, 0..4)?, col)?, base_col);
    assert_eq!(loss(&mut m, &shifted(&b, false, 0..4)?, col)?, base_col);
    assert_ne!(loss(&mut m, &shifted(&b, true, 4..6)?, col)?, base_col);
    assert_ne!(loss(&mut m, &shifted(&b, false, 4..6)?, col)?, base_col);
    // a step is a function of (seed, step): the same context gives the same loss, another
    // step in the same environment draws other context masks
    assert_eq!(loss(&mut m, &b, rot)?, base_rot);
    let other = (rot + 1..200)
        .find(|&s| m.environment(&ctx(s)) == ContextMode::Rotation)
        .expect("another rot step");
    assert_ne!(loss(&mut m, &b, other)?, base_rot);
    Ok(())
}

#[test]
fn a_cached_context_query_equals_the_full_forward_pass() -> Result<()> {
    let m = model(&config())?;
    let b = batch(2)?;
    let (h1, h2) = (m.features(&b.x1)?, m.features(&b.x2)?);
    let a = ContextMode::Rotation.mask_action(&b.action)?;
    let cache = m.encode_context(&h1, &h2, &a)?;
    assert_eq!(cache.len(), 2 * N);
    let q = m.features(&b.x2)?;
    let d = q.dim(1)?;
    for c in [0usize, 2, 6, 2 * N] {
        let got = m.contextual(&q, Some(&a), &cache, c)?;
        // reference: for each query, the sequence [context tokens 0..c ; query] under the pair
        // mask (c even: the query sits at a source position, which sees everything before it)
        let tokens = noether_models::pair_tokens(&h1, &a, &h2)?.narrow(0, 0, c)?;
        for i in [0, N - 1] {
            let qi = Tensor::cat(&[q.get(i)?, a.get(i)?], 0)?.unsqueeze(0)?;
            let seq = Tensor::cat(&[&tokens, &qi], 0)?.unsqueeze(0)?;
            let full = m.transformer().forward(&seq, &mut PairMask)?;
            let want = full.get(0)?.get(c)?;
            let diff = scalar(&(got.get(i)? - &want)?.abs()?.max(0)?)?;
            assert!(diff < 1e-5, "c = {c}, query {i}: {diff}");
        }
        assert_eq!(got.dims(), &[N, d]);
    }
    // c = 0 without an action is the context-free embedding
    let free = m.contextual(&q, None, &cache, 0)?;
    let emb = m.embedding(&b.x2)?;
    let diff = scalar(&(free - emb)?.abs()?.max_keepdim(0)?.max(1)?.squeeze(0)?)?;
    assert!(diff < 1e-5, "{diff}");
    // a longer context than cached is an error, not a panic
    assert!(m.contextual(&q, None, &cache, 2 * N + 2).is_err());
    Ok(())
}

#[test]
fn bad_settings_and_batches_name_their_field() -> Result<()> {
    let e = |c: ContextSslConfig| model(&c).expect_err("a bad setting").to_string();
    assert!(
        e(ContextSslConfig {
            n_head: 3,
            ..config()
        })
        .contains("n_head")
    );
    assert!(
        e(ContextSslConfig {
            block_pairs: 0,
            ..config()
        })
        .contains("block_pairs")
    );
    assert!(
        e(ContextSslConfig {
            mask_prob: 1.5,
            ..config()
        })
        .contains("mask_prob")
    );
    assert!(
        e(ContextSslConfig {
            temperature: 0.0,
            ..config()
        })
        .contains("temperature")
    );
    let mut m = model(&ContextSslConfig {
        block_pairs: 3,
        ..config()
    })?;
    let err = m
        .losses(&batch(0)?, &ctx(0))
        .expect_err("8 pairs in blocks of 3");
    assert!(err.to_string().contains("block_pairs"), "{err}");
    let mut b = batch(0)?;
    b.action = b.action.narrow(1, 0, 4)?;
    let err = model(&config())?
        .losses(&b, &ctx(0))
        .expect_err("a 4-column action");
    assert!(err.to_string().contains("ActionPairs"), "{err}");
    Ok(())
}
