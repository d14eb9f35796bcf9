//! Throughput of the preset pipelines in views per second, on the CPU with the thread count of
//! the rayon pool (set `RAYON_NUM_THREADS=2` to compare with the 2-worker torchvision figure of
//! `benches/reference/torchvision_augment.py`).
//!
//! `cargo bench -p noether-augment --bench pipelines`

#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use noether_augment::{Image, Preset, make_views};

/// A deterministic image with edges, gradients and colour, of the given size.
fn test_image(h: usize, w: usize) -> Image {
    Image::from_fn(3, h, w, |c, y, x| {
        let (fy, fx) = (y as f32 / h as f32, x as f32 / w as f32);
        let ring = (((fx - 0.5).powi(2) + (fy - 0.5).powi(2)).sqrt() * 12.0).sin() * 0.5 + 0.5;
        match c {
            0 => 0.6 * fx + 0.4 * ring,
            1 => 0.5 * fy + 0.5 * (1.0 - ring),
            _ => ((x / 8 + y / 8) % 2) as f32 * 0.5 + 0.25 * ring,
        }
    })
}

fn bench_preset(c: &mut Criterion, preset: Preset, side: usize, batch: usize) {
    let pipelines = preset.pipelines().expect("preset builds");
    let images: Vec<Image> = (0..batch).map(|_| test_image(side, side)).collect();
    let mut group = c.benchmark_group("augment");
    group.throughput(Throughput::Elements(batch as u64));
    group.sample_size(10);
    let threads = rayon::current_num_threads();
    group.bench_function(
        format!("{}/{side}px/{threads}threads", preset.name()),
        |b| {
            let mut seed = 0;
            b.iter(|| {
                seed += 1;
                make_views(&pipelines, &images, 1, seed).expect("views")
            })
        },
    );
    group.finish();
}

fn pipelines(c: &mut Criterion) {
    bench_preset(c, Preset::SimclrCifar, 32, 512);
    bench_preset(c, Preset::SimclrImagenet, 224, 32);
}

criterion_group!(benches, pipelines);
criterion_main!(benches);
