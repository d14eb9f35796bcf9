//! Fused custom ops against the composite reference path, forward + backward (the loss is
//! `sum(op(x))`, so backward starts from a broadcast gradient as in a real step), `f32` on the
//! CPU with the rayon pool's thread count. Throughput is in elements of `x` per second, for the
//! convolutions in floating-point operations per second.
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
    let elements = Throughput::Elements(inputs[0].elem_count() as u64);
    bench_pair_with(c, name, inputs, elements, fused, slow);
}

/// [`bench_pair`] with its throughput given (convolutions count floating-point operations).
fn bench_pair_with(
    c: &mut Criterion,
    name: &str,
    inputs: Vec<Tensor>,
    throughput: Throughput,
    fused: Op,
    slow: Op,
) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).expect("var"))
        .collect();
    let mut group = c.benchmark_group(name);
    group.throughput(throughput);
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
        "log_sinkhorn 20 iters 250x41x41",
        vec![data(&[250, 41, 41], 5)],
        |t| noether_ops::log_sinkhorn(&t[0], 20),
        |t| reference::log_sinkhorn(&t[0], 20),
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

/// One convolution (stride 1, padding 1): forward alone, then forward + backward, each against
/// candle's `conv2d`. The throughput is in floating-point operations (`2 N O C K² OH OW` for the
/// forward pass, three times that with both gradients), so criterion's "elem/s" reads FLOP/s.
fn conv(c: &mut Criterion, n: usize, ch: usize, size: usize, k: usize) {
    let inputs = vec![data(&[n, ch, size, size], 7), data(&[ch, ch, k, k], 8)];
    let flops = (2 * n * ch * ch * k * k * size * size) as u64;
    let pad = k / 2;
    let name = format!("conv2d {n}x{ch}x{size}x{size} k{k}");
    let (x, w) = (&inputs[0], &inputs[1]);
    let mut group = c.benchmark_group(format!("{name} forward"));
    group.throughput(Throughput::Elements(flops));
    group.sample_size(10);
    group.bench_function("fused", |b| {
        b.iter(|| noether_ops::conv2d(x, w, pad, 1).expect("forward"))
    });
    group.bench_function("reference", |b| {
        b.iter(|| reference::conv2d(x, w, pad, 1).expect("forward"))
    });
    group.finish();
    bench_pair_with(
        c,
        &format!("{name} forward+backward"),
        inputs,
        Throughput::Elements(3 * flops),
        |t| noether_ops::conv2d(&t[0], &t[1], t[1].dim(3)? / 2, 1),
        |t| reference::conv2d(&t[0], &t[1], t[1].dim(3)? / 2, 1),
    );
}

/// The convolutions of a ResNet-18-CIFAR step (batch 128 = 64 pairs): the first stage's 3x3
/// convolution and the last stage's.
fn convs(c: &mut Criterion) {
    conv(c, 64, 64, 32, 3);
    conv(c, 128, 512, 4, 3);
}

criterion_group!(benches, ops, convs);
criterion_main!(benches);
