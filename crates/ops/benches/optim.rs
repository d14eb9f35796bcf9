//! One AdamW step over ResNet-18's parameters (CIFAR stem, 11.2M `f32` values in 62 tensors):
//! the fused in-place update of `noether_ops::optim::Adam` against `candle_nn::AdamW` (about
//! ten temporary tensors per parameter), on the CPU with the rayon pool's thread count.
//! Gradients are computed once, outside the timed loop.
//!
//! `cargo bench -p noether-ops --bench optim`
//! (a short run: add `-- --warm-up-time 1 --measurement-time 3`)

#![allow(missing_docs)]

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::Optimizer as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use noether_ops::optim::{Adam, AdamConfig, Optimizer, ParamGroup};

/// ResNet-18 (CIFAR stem) parameter shapes: convolutions, batch-norm weights and biases, fc.
fn resnet18_shapes() -> Vec<Vec<usize>> {
    let mut s = vec![vec![64, 3, 3, 3], vec![64], vec![64]];
    let mut cin = 64;
    for cout in [64usize, 128, 256, 512] {
        for block in 0..2 {
            let first_in = if block == 0 { cin } else { cout };
            s.extend([vec![cout, first_in, 3, 3], vec![cout], vec![cout]]);
            s.extend([vec![cout, cout, 3, 3], vec![cout], vec![cout]]);
            if block == 0 && cin != cout {
                s.extend([vec![cout, cin, 1, 1], vec![cout], vec![cout]]);
            }
        }
        cin = cout;
    }
    s.extend([vec![10, 512], vec![10]]);
    s
}

/// Seeded values in `[-1, 1)` (a small LCG; candle's CPU RNG is not seedable).
fn data(shape: &[usize], seed: u64) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
}

fn setup() -> Result<(Vec<Var>, candle_core::backprop::GradStore, usize)> {
    let shapes = resnet18_shapes();
    let vars = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| Var::from_tensor(&data(s, i as u64)?))
        .collect::<Result<Vec<_>>>()?;
    let mut loss = Tensor::zeros((), DType::F32, &Device::Cpu)?;
    for (i, v) in vars.iter().enumerate() {
        let g = data(v.dims(), 1000 + i as u64)?;
        loss = (loss + (v.as_tensor() * g)?.sum_all()?)?;
    }
    let n = vars.iter().map(|v| v.elem_count()).sum();
    Ok((vars, loss.backward()?, n))
}

fn bench(c: &mut Criterion) {
    let (vars, grads, n) = setup().expect("bench setup");
    let mut group = c.benchmark_group(format!("adamw_step_resnet18_{n}_params_cpu"));
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);

    let mut fused = Adam::new(
        vec![ParamGroup::new(vars.clone(), 5e-4)],
        AdamConfig::adamw(),
    )
    .expect("noether adam");
    group.bench_function("noether_fused", |b| {
        b.iter(|| fused.step(&grads, 1e-3).expect("fused step"))
    });

    let params = candle_nn::ParamsAdamW {
        lr: 1e-3,
        weight_decay: 5e-4,
        ..Default::default()
    };
    let mut nn = candle_nn::AdamW::new(vars.clone(), params).expect("candle_nn adamw");
    group.bench_function("candle_nn_adamw", |b| {
        b.iter(|| nn.step(&grads).expect("candle_nn step"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
