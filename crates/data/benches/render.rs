//! mini3die rendering throughput in images per second (all classes, random views), on the CPU
//! with the thread count of the rayon pool. The target is 1,000 images/s at 64x64 on
//! 2 cores:
//!
//! `RAYON_NUM_THREADS=2 cargo bench -p noether-data --bench render`

#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use noether_data::render::{Mini3die, Mini3dieConfig};

fn bench_size(c: &mut Criterion, size: usize) {
    let data = Mini3die::new(Mini3dieConfig {
        objects_per_class: 4,
        views: 50,
        size,
        ..Mini3dieConfig::default()
    })
    .expect("config");
    // 40 objects x 8 views: every class, varied poses and lights.
    let items: Vec<(usize, usize)> = (0..data.num_objects())
        .flat_map(|o| (0..8).map(move |v| (o, (v * 7 + o) % 50)))
        .collect();
    let mut group = c.benchmark_group("mini3die");
    group.throughput(Throughput::Elements(items.len() as u64));
    group.sample_size(10);
    let threads = rayon::current_num_threads();
    group.bench_function(format!("render/{size}px/{threads}threads"), |b| {
        b.iter(|| data.render_many(&items).expect("render"))
    });
    group.finish();
}

fn render(c: &mut Criterion) {
    bench_size(c, 64);
    bench_size(c, 128);
}

criterion_group!(benches, render);
criterion_main!(benches);
