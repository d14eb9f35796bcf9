//! The ContextSSL transformer: mask builders against hand-written matrices, the random mask's
//! determinism, outputs and names against a replica of the reference GPT
//! (`fixtures/transformer_make_fixture.py` -> `fixtures/transformer_reference.json`), the KV cache
//! against the full sequence, and training.

use crate::support;

use candle_core::{DType, Device, IndexOp, Tensor};
use noether_models::transformer::{
    FixedMask, pair_mask, pair_tokens, random_context_mask, training_mask,
};
use noether_models::{ContextMask, ContextTransformer, ContextTransformerConfig, PairMask};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::{
    TestResult, assert_config_error, build, fixture, fixture_tensor, max_abs_diff, sin_state_dict,
    sin_tensor, train, usize_of,
};

fn matrix(m: &Tensor) -> candle_core::Result<Vec<Vec<u8>>> {
    m.to_vec2::<u8>()
}

fn tiny() -> ContextTransformerConfig {
    ContextTransformerConfig {
        in_dim: 6,
        n_embd: 16,
        n_layer: 2,
        n_head: 2,
        mlp_ratio: 4,
        out_dim: 5,
        ln_eps: 1e-5,
        bias: true,
    }
}

/// Uniform draws given in advance: `random::<f64>()` of rand 0.9 reads the top 53 bits of a `u64`.
struct Scripted {
    draws: Vec<f64>,
    next: usize,
}

impl RngCore for Scripted {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        let u = self.draws[self.next % self.draws.len()];
        self.next += 1;
        ((u * (1u64 << 53) as f64) as u64) << 11
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[test]
fn pair_mask_of_six_tokens() -> TestResult {
    let expect: Vec<Vec<u8>> = vec![
        vec![1, 0, 0, 0, 0, 0], // s1 sees itself
        vec![0, 1, 0, 0, 0, 0], // t1 sees itself, not s1
        vec![1, 1, 1, 0, 0, 0], // s2 sees pair 1 and itself
        vec![1, 1, 0, 1, 0, 0], // t2 sees pair 1 and itself, not s2
        vec![1, 1, 1, 1, 1, 0],
        vec![1, 1, 1, 1, 0, 1],
    ];
    assert_eq!(matrix(&pair_mask(6, &Device::Cpu)?)?, expect);
    Ok(())
}

#[test]
fn random_context_mask_of_six_tokens_from_scripted_draws() -> TestResult {
    // 6 rows x 3 pairs, row-major; keep iff u < 0.5
    let k = 0.1;
    let d = 0.9;
    let draws = vec![
        d, k, k, // row 0: pair 0 dropped (diagonal kept), pairs 1, 2 kept
        k, d, d, // row 1
        d, d, k, // row 2: pair 1 dropped but (2, 2) kept
        k, k, d, // row 3
        d, k, d, // row 4
        k, d, k, // row 5: pair 2 kept
    ];
    let mut rng = Scripted { draws, next: 0 };
    let m = random_context_mask(6, 0.5, &mut rng, &Device::Cpu)?;
    let expect: Vec<Vec<u8>> = vec![
        vec![1, 0, 1, 1, 1, 1],
        vec![1, 1, 0, 0, 0, 0],
        vec![0, 0, 1, 0, 1, 1],
        vec![1, 1, 1, 1, 0, 0],
        vec![0, 0, 1, 1, 1, 0],
        vec![1, 1, 0, 0, 1, 1],
    ];
    assert_eq!(matrix(&m)?, expect);
    assert_eq!(rng.next, 18);
    // the training mask is that AND the pair mask
    let mut rng = Scripted {
        draws: rng.draws.clone(),
        next: 0,
    };
    let t = training_mask(6, 0.5, &mut rng, &Device::Cpu)?;
    let expect_and: Vec<Vec<u8>> = vec![
        vec![1, 0, 0, 0, 0, 0],
        vec![0, 1, 0, 0, 0, 0],
        vec![0, 0, 1, 0, 0, 0],
        vec![1, 1, 0, 1, 0, 0],
        vec![0, 0, 1, 1, 1, 0],
        vec![1, 1, 0, 0, 0, 1],
    ];
    assert_eq!(matrix(&t)?, expect_and);
    Ok(())
}

#[test]
fn random_context_mask_is_seeded_and_keeps_pairs_together() -> TestResult {
    let dev = Device::Cpu;
    let draw = |seed: u64, keep: f64| -> candle_core::Result<Vec<Vec<u8>>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        matrix(&random_context_mask(64, keep, &mut rng, &dev)?)
    };
    let a = draw(7, 0.1)?;
    assert_eq!(a, draw(7, 0.1)?);
    assert_ne!(a, draw(8, 0.1)?);
    let mut kept = 0usize;
    let mut total = 0usize;
    for (i, row) in a.iter().enumerate() {
        assert_eq!(row[i], 1, "diagonal");
        for p in 0..32 {
            let (j0, j1) = (2 * p, 2 * p + 1);
            if j0 != i && j1 != i {
                assert_eq!(row[j0], row[j1], "row {i} pair {p} split");
                kept += usize::from(row[j0]);
                total += 1;
            }
        }
    }
    let share = kept as f64 / total as f64;
    assert!((share - 0.1).abs() < 0.03, "kept share {share}");
    // keep_prob 0: only the diagonal; 1: everything
    let eye = draw(1, 0.0)?;
    let ones = draw(1, 1.0)?;
    for i in 0..64 {
        for j in 0..64 {
            assert_eq!(eye[i][j], u8::from(i == j));
            assert_eq!(ones[i][j], 1);
        }
    }
    // odd length: the last column is a pair of its own
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(random_context_mask(5, 0.5, &mut rng, &dev)?.dims(), &[5, 5]);
    Ok(())
}

#[test]
fn pairs_interleave_into_tokens_and_a_target_never_sees_its_source() -> TestResult {
    let dev = Device::Cpu;
    let src = Tensor::new(&[[1f32, 2.], [3., 4.]], &dev)?;
    let act = Tensor::new(&[[9f32], [8.]], &dev)?;
    let tgt = Tensor::new(&[[5f32, 6.], [7., 0.5]], &dev)?;
    let tokens = pair_tokens(&src, &act, &tgt)?;
    assert_eq!(
        tokens.to_vec2::<f32>()?,
        vec![
            vec![1., 2., 9.],
            vec![5., 6., 0.],
            vec![3., 4., 8.],
            vec![7., 0.5, 0.]
        ]
    );
    assert!(pair_tokens(&src, &act, &act).is_err());
    // under the pair mask, changing source k changes neither t_k nor anything before it, but
    // changes every later token
    let cfg = tiny();
    let (model, _) = build(9, |vb| ContextTransformer::new(&cfg, vb))?;
    let x = sin_tensor((1, 6, cfg.in_dim), 0.3, 0.002, 0.0, &dev)?;
    let bump = sin_tensor((1, 1, cfg.in_dim), 0.9, 0.0, 1.0, &dev)?;
    let x2 = Tensor::cat(
        &[
            &x.narrow(1, 0, 2)?,
            &(x.narrow(1, 2, 1)? + bump)?,
            &x.narrow(1, 3, 3)?,
        ],
        1,
    )?;
    let (y, y2) = (
        model.forward(&x, &mut PairMask)?,
        model.forward(&x2, &mut PairMask)?,
    );
    for t in 0..6 {
        let d = max_abs_diff(&y.i((.., t, ..))?, &y2.i((.., t, ..))?)?;
        match t {
            0 | 1 | 3 => assert_eq!(d, 0.0, "token {t} saw source 2"),
            _ => assert!(d > 1e-4, "token {t} did not see source 2"),
        }
    }
    Ok(())
}

#[test]
fn outputs_and_names_match_the_reference_gpt() -> TestResult {
    let fx = fixture("transformer_reference.json");
    let dev = Device::Cpu;
    assert_eq!(
        ContextTransformerConfig::paper().num_params(),
        usize_of(&fx["paper_num_params"])
    );
    for case in fx["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let c = &case["config"];
        let cfg = ContextTransformerConfig {
            in_dim: usize_of(&c["in_dim"]),
            n_embd: usize_of(&c["n_embd"]),
            n_layer: usize_of(&c["n_layer"]),
            n_head: usize_of(&c["n_head"]),
            mlp_ratio: 4,
            out_dim: usize_of(&c["out_dim"]),
            ln_eps: 1e-5,
            bias: c["bias"].as_bool().expect("bias"),
        };
        let (model, store) = build(0, |vb| ContextTransformer::new(&cfg, vb))?;
        assert_eq!(
            store.num_trainable()?,
            usize_of(&case["num_params"]),
            "{name}"
        );
        assert_eq!(cfg.num_params(), usize_of(&case["num_params"]), "{name}");
        store.load_state_dict(&sin_state_dict(&case["keys"], &dev)?, true)?;
        let tokens = sin_tensor((2, 6, cfg.in_dim), 0.13, 0.0007, 0.2, &dev)?;
        let y = model.forward(&tokens, &mut PairMask)?;
        let expect = fixture_tensor(&case["output"], &dev)?;
        assert_eq!(expect.dims(), &[2, 6, cfg.out_dim], "{name}");
        let diff = max_abs_diff(&y, &expect)?;
        assert!(diff < 1e-4, "{name}: max |ours - torch| = {diff}");
    }
    Ok(())
}

/// The mask of the full sequence `[context (C) ++ queries (Q)]` equivalent to a KV cache of the
/// first `c` context tokens: the pair mask over the context, and query `j` sees columns `0..c` and
/// itself.
fn full_mask(cn: usize, q: usize, c: usize) -> candle_core::Result<Tensor> {
    let t = cn + q;
    let pair = matrix(&pair_mask(cn, &Device::Cpu)?)?;
    let mut m = vec![0u8; t * t];
    for i in 0..cn {
        for j in 0..cn {
            m[i * t + j] = pair[i][j];
        }
    }
    for jq in 0..q {
        let row = cn + jq;
        m[row * t..row * t + c].fill(1);
        m[row * t + row] = 1;
    }
    Tensor::from_vec(m, (t, t), &Device::Cpu)
}

#[test]
fn the_kv_cache_equals_the_full_sequence_with_the_corresponding_mask() -> TestResult {
    let dev = Device::Cpu;
    let cfg = tiny();
    let (model, _) = build(11, |vb| ContextTransformer::new(&cfg, vb))?;
    let (cn, q, b) = (8, 3, 2);
    for ctx_batch in [1, b] {
        let context = sin_tensor((ctx_batch, cn, cfg.in_dim), 0.31, 0.0017, 0.4, &dev)?;
        let queries = sin_tensor((b, q, cfg.in_dim), 0.23, 0.0029, 1.1, &dev)?;
        let cache = model.encode_context(&context)?;
        assert_eq!((cache.len(), cache.batch()), (cn, ctx_batch));
        for c in [0, 1, 2, 5, 8] {
            let cached = model.forward_with_cache(&queries, &cache, c)?;
            assert_eq!(cached.dims(), &[b, q, cfg.out_dim]);
            let ctx_b = context.broadcast_as((b, cn, cfg.in_dim))?;
            let full_in = Tensor::cat(&[&ctx_b, &queries], 1)?;
            let full = model.forward(&full_in, &mut FixedMask(full_mask(cn, q, c)?))?;
            let diff = max_abs_diff(&cached, &full.i((.., cn.., ..))?)?;
            assert!(diff < 1e-5, "batch {ctx_batch}, c = {c}: {diff}");
            // the context matters: c > 0 differs from the context-free output
            if c > 0 {
                let free = model.forward_with_cache(&queries, &cache, 0)?;
                assert!(max_abs_diff(&cached, &free)? > 1e-4, "c = {c}");
            }
        }
        assert!(model.forward_with_cache(&queries, &cache, cn + 1).is_err());
    }
    // a query alone (c = 0) is the one-token sequence under the pair mask
    let one = sin_tensor((1, 1, cfg.in_dim), 0.5, 0.0, 0.0, &dev)?;
    let cache = model.encode_context(&Tensor::zeros((1, 2, cfg.in_dim), DType::F32, &dev)?)?;
    let diff = max_abs_diff(
        &model.forward_with_cache(&one, &cache, 0)?,
        &model.forward(&one, &mut PairMask)?,
    )?;
    assert!(diff < 1e-6, "{diff}");
    Ok(())
}

#[test]
fn training_masks_are_fresh_per_layer_and_seeded() -> TestResult {
    let dev = Device::Cpu;
    let cfg = tiny();
    let (model, _) = build(12, |vb| ContextTransformer::new(&cfg, vb))?;
    let tokens = sin_tensor((2, 16, cfg.in_dim), 0.19, 0.001, 0.0, &dev)?;
    let run = |seed: u64| -> candle_core::Result<Tensor> {
        let mut masks = ContextMask {
            keep_prob: 0.3,
            rng: ChaCha8Rng::seed_from_u64(seed),
        };
        model.forward(&tokens, &mut masks)
    };
    assert_eq!(max_abs_diff(&run(1)?, &run(1)?)?, 0.0);
    assert!(max_abs_diff(&run(1)?, &run(2)?)? > 1e-5);
    // one mask per layer call, each drawn afresh
    let mut seen = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut record = |layer: usize, t: usize, d: &Device| -> candle_core::Result<Tensor> {
        let m = training_mask(t, 0.3, &mut rng, d)?;
        seen.push((layer, matrix(&m)?));
        Ok(m)
    };
    model.forward(&tokens, &mut record)?;
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[0].0, seen[1].0), (0, 1));
    assert_ne!(seen[0].1, seen[1].1);
    // config errors name the field
    let bad = ContextTransformerConfig {
        n_head: 3,
        ..tiny()
    };
    assert_config_error(bad.check(), "n_head");
    assert!(
        model
            .forward(&tokens.narrow(2, 0, 5)?, &mut PairMask)
            .is_err()
    );
    Ok(())
}

#[test]
fn context_transformer_trains() -> TestResult {
    let dev = Device::Cpu;
    let cfg = tiny();
    let (model, store) = build(13, |vb| ContextTransformer::new(&cfg, vb))?;
    let (b, t) = (2, 8);
    let tokens = sin_tensor((b, t, cfg.in_dim), 0.41, 0.0021, 0.7, &dev)?;
    // a per-token target (learnable whatever the mask): a fixed affine map of the token
    let target = tokens.narrow(2, 0, cfg.out_dim)?.affine(2.0, -0.3)?;
    let eval_loss = || -> candle_core::Result<f32> {
        (model.forward(&tokens, &mut PairMask)? - &target)?
            .sqr()?
            .mean_all()?
            .to_scalar::<f32>()
    };
    let mut masks = ContextMask {
        keep_prob: 0.5,
        rng: ChaCha8Rng::seed_from_u64(4),
    };
    let before = eval_loss()?;
    // train under fresh random masks, judge under the pair mask
    train(&store, 30, 1e-2, &[], || {
        (model.forward(&tokens, &mut masks)? - &target)?
            .sqr()?
            .mean_all()
    })?;
    let after = eval_loss()?;
    assert!(after < 0.5 * before, "eval loss {before} -> {after}");
    Ok(())
}
