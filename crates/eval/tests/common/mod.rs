//! Seeded synthetic data shared by the trained-evaluation tests.

#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Standard normal samples (Box-Muller) from a seeded generator.
pub fn normals(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = rng.random_range(f64::EPSILON..1.0);
            let u2: f64 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

/// `n` points of `classes` Gaussian blobs in `d` dimensions (centres `N(0, spread^2)`, unit
/// noise): features `(n, d)` and labels.
pub fn blobs(seed: u64, n: usize, d: usize, classes: usize, spread: f32) -> (Tensor, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<f32> = normals(&mut rng, classes * d)
        .iter()
        .map(|x| x * spread)
        .collect();
    let labels: Vec<i64> = (0..n).map(|i| (i % classes) as i64).collect();
    let noise = normals(&mut rng, n * d);
    let x: Vec<f32> = (0..n * d)
        .map(|i| centres[labels[i / d] as usize * d + i % d] + noise[i])
        .collect();
    (Tensor::from_vec(x, (n, d), &Device::Cpu).unwrap(), labels)
}

/// A `(rows, cols)` standard normal matrix.
pub fn gaussian(seed: u64, rows: usize, cols: usize) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Tensor::from_vec(normals(&mut rng, rows * cols), (rows, cols), &Device::Cpu).unwrap()
}

/// Uniform random labels in `0..classes`.
pub fn random_labels(seed: u64, n: usize, classes: usize) -> Vec<i64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| rng.random_range(0..classes as i64))
        .collect()
}
