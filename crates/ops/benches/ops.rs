//! Fused custom ops against the composite reference path, forward + backward (the loss is
//! `sum(op(x))`, so backward starts from a broadcast gradient as in a real step), `f32` on the
//! CPU with the rayon pool's thread count. Throughput is in elements of `x` per second.
//!
//! `cargo bench -p noether-ops --bench ops`
//! (a short run: add `-- --warm-up-time 1 --measurement-time 3`)

#![allow(missing_docs)]

use candle_core::{DType, Device, Result, Tensor, Var};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use noether_ops::{BatchStats, reference};

type Op = fn(&[Tensor]) -> Result<Tensor>;

/// Seeded `U(-2, 2)` data (candle's CPU RNG is not seedable; a small LCG is enough here).
fn data(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).expect("bench data")
}

fn step(op: Op, vars: &[Var]) -> Result<()> {
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = op(&ts)?.sum_all()?.backward()?;
    std::hint::black_box(grads);
    Ok(())
}

fn bench_pair(c: &mut Criterion, name: &str, inputs: Vec<Tensor>, fused: Op, slow: Op) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).expect("var"))
        .collect();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(inputs[0].elem_count() as u64));
    group.sample_size(10);
    let threads = rayon::current_num_threads();
    group.bench_function(format!("fused/{threads}threads"), |b| {
        b.iter(|| step(fused, &vars).expect("fused step"))
    });
    group.bench_function(format!("reference/{threads}threads"), |b| {
        b.iter(|| step(slow, &vars).expect("reference step"))
    });
    group.finish();
}

fn bn(y: Result<(Tensor, BatchStats)>) -> Result<Tensor> {
    Ok(y?.0)
}

fn ops(c: &mut Criterion) {
    let ones = |n: usize| Tensor::ones(n, DType::F32, &Device::Cpu).expect("ones");
    let zeros = |n: usize| Tensor::zeros(n, DType::F32, &Device::Cpu).expect("zeros");
    bench_pair(
        c,
        "layer_norm 64x65x192",
        vec![data(&[64, 65, 192], 1), ones(192), zeros(192)],
        |t| noether_ops::layer_norm(&t[0], Some(&t[1]), Some(&t[2]), 1e-5),
        |t| reference::layer_norm(&t[0], Some(&t[1]), Some(&t[2]), 1e-5),
    );
    bench_pair(
        c,
        "softmax 64x3x65x65",
        vec![data(&[64, 3, 65, 65], 2)],
        |t| noether_ops::softmax_last_dim(&t[0]),
        |t| reference::softmax_last_dim(&t[0]),
    );
    bench_pair(
        c,
        "masked_softmax causal 64x3x65x65",
        vec![data(&[64, 3, 65, 65], 3)],
        |t| {
            let causal = Tensor::tril2(65, DType::U8, &Device::Cpu)?;
            noether_ops::masked_softmax_last_dim(&t[0], &causal)
        },
        |t| {
            let causal = Tensor::tril2(65, DType::U8, &Device::Cpu)?;
            reference::masked_softmax_last_dim(&t[0], &causal)
        },
    );
    bench_pair(
        c,
        "gelu 64x65x768",
        vec![data(&[64, 65, 768], 4)],
        |t| noether_ops::gelu(&t[0]),
        |t| reference::gelu(&t[0]),
    );
    bench_pair(
        c,
        "relu 64x65x768",
        vec![data(&[64, 65, 768], 5)],
        |t| noether_ops::relu(&t[0]),
        |t| reference::relu(&t[0]),
    );
    bench_pair(
        c,
        "batch_norm_train 64x64x32x32",
        vec![data(&[64, 64, 32, 32], 6), ones(64), zeros(64)],
        |t| {
            bn(noether_ops::batch_norm_train(
                &t[0],
                Some(&t[1]),
                Some(&t[2]),
                1e-5,
            ))
        },
        |t| {
            bn(reference::batch_norm_train(
                &t[0],
                Some(&t[1]),
                Some(&t[2]),
                1e-5,
            ))
        },
    );
}

criterion_group!(benches, ops);
criterion_main!(benches);
