//! One H-SSL training step against one A-SSL step on the same backbone, head and loss: the
//! loss of a batch of 64 and its backward (the optimizer update, the same for both, is left
//! out). H-SSL reads both positives from one forward pass of the batch; A-SSL passes two
//! transformed copies, so its step should cost about twice as much.
//!
//! - `c4`: the C4 G-CNN of the rotated-digits runs (widths 8, 16, 32; 1 x 28 x 28 images);
//! - `translation`: the circular-padded CNN of the mini3die runs (widths 16, 32, 64, 2x2
//!   bundles; 3 x 32 x 32 images);
//! - `scale`: the SESN of the scale runs (widths 6, 12, 24 per scale, 3 scales; 1 x 28 x 28).
//!
//! `cargo bench -p noether-train --bench hssl` (a short run: add
//! `-- --warm-up-time 2 --measurement-time 8`); the ratios are in `docs/hssl.md`.

#![allow(missing_docs)]

use candle_core::{DType, Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use noether_models::{
    FiberBackbone, GCnn, GCnnConfig, ParamStore, Sesn, SesnConfig, TranslationCnn,
    TranslationCnnConfig,
};
use noether_train::methods::{Hssl, HsslConfig, HsslMode, Images};
use noether_train::{Method, StepContext};

const BATCH: usize = 64;

fn config(mode: HsslMode) -> HsslConfig {
    HsslConfig {
        mode,
        proj_hidden: 256,
        proj_out: 64,
        ..HsslConfig::default()
    }
}

fn images(channels: usize, size: usize) -> Images {
    let n = BATCH * channels * size * size;
    let idx = Tensor::arange(0f32, n as f32, &Device::Cpu).expect("arange");
    let x = ((&idx * 0.37).and_then(|t| t.sin()))
        .and_then(|t| t.reshape((BATCH, channels, size, size)))
        .expect("images");
    Images { x }
}

fn c4(mode: HsslMode) -> Hssl<GCnn> {
    let store = ParamStore::seeded(0);
    let vb = store.var_builder(DType::F32, &Device::Cpu).pp("backbone");
    let net = GCnn::new(&GCnnConfig::new(1, vec![8, 16, 32], 4), vb).expect("gcnn");
    Hssl::new(store, net, &config(mode), DType::F32, &Device::Cpu).expect("method")
}

fn translation(mode: HsslMode) -> Hssl<TranslationCnn> {
    let store = ParamStore::seeded(0);
    let vb = store.var_builder(DType::F32, &Device::Cpu).pp("backbone");
    let cfg = TranslationCnnConfig {
        bundle: 2,
        ..TranslationCnnConfig::new(3, vec![16, 32, 64])
    };
    let net = TranslationCnn::new(&cfg, vb).expect("tcnn");
    Hssl::new(store, net, &config(mode), DType::F32, &Device::Cpu).expect("method")
}

fn scale(mode: HsslMode) -> Hssl<Sesn> {
    let store = ParamStore::seeded(0);
    let vb = store.var_builder(DType::F32, &Device::Cpu).pp("backbone");
    let net = Sesn::new(&SesnConfig::new(1, vec![6, 12, 24]), vb).expect("sesn");
    Hssl::new(store, net, &config(mode), DType::F32, &Device::Cpu).expect("method")
}

fn step<B: FiberBackbone>(m: &mut Hssl<B>, batch: &Images, i: u64) {
    let ctx = StepContext {
        step: i,
        total_steps: 1000,
        lr: 1e-3,
        seed: 0,
    };
    let loss = m.losses(batch, &ctx).expect("loss").total;
    std::hint::black_box(loss.backward().expect("backward"));
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("hssl_step");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    let digits = images(1, 28);
    let cifar = images(3, 32);
    for mode in [HsslMode::Homomorphic, HsslMode::Augmented] {
        let name = mode.method_name();
        let mut m = c4(mode);
        let mut i = 0;
        g.bench_function(format!("c4/{name}"), |b| {
            b.iter(|| {
                i += 1;
                step(&mut m, &digits, i)
            })
        });
        let mut m = translation(mode);
        g.bench_function(format!("translation/{name}"), |b| {
            b.iter(|| {
                i += 1;
                step(&mut m, &cifar, i)
            })
        });
        let mut m = scale(mode);
        g.bench_function(format!("scale/{name}"), |b| {
            b.iter(|| {
                i += 1;
                step(&mut m, &digits, i)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
