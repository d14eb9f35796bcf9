//! One SimCLR training step (forward, backward, AdamW) of ResNet-18-CIFAR and of the 6-block
//! ViT-Tiny, 64 pairs of 32x32 images, with noether's fused CPU kernels on and off
//! ([`noether_ops::set_fast`]; off, every op takes its composite path of candle primitives).
//! Throughput is in images per second (128 per step). `cargo xtask bench` measures the same
//! step against PyTorch and writes `docs/results/bench.md`.
//!
//! `cargo bench -p noether-train --bench step` (a short run: add
//! `-- --warm-up-time 5 --measurement-time 30`)

#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use noether_train::bench::{StepBench, StepModel};

fn steps(c: &mut Criterion) {
    let threads = rayon::current_num_threads();
    for model in StepModel::ALL {
        let mut group = c.benchmark_group(format!("simclr step {model} 64 pairs 32x32"));
        group.sample_size(10);
        for fast in [true, false] {
            noether_ops::set_fast(fast);
            let mut bench = StepBench::new(model, 64, 32, 0).expect("bench");
            group.throughput(Throughput::Elements(bench.images_per_step() as u64));
            let label = if fast { "fused" } else { "reference" };
            group.bench_function(format!("{label}/{threads}threads"), |b| {
                b.iter(|| bench.step().expect("step"))
            });
        }
        noether_ops::set_fast(true);
        group.finish();
    }
}

criterion_group!(benches, steps);
criterion_main!(benches);
