//! Helpers shared by the integration tests: seeded RNGs and small goodness-of-fit tests.
#![allow(dead_code)]

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A deterministic RNG for a test.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// The Kolmogorov-Smirnov statistic D = sup |F_n(x) - F(x)| of `samples` against the CDF `cdf`.
pub fn ks_statistic(samples: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut xs = samples.to_vec();
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    xs.iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

/// Asserts that `samples` follow `cdf` by a Kolmogorov-Smirnov test at level 0.001
/// (critical value 1.95 / sqrt(n)). With a fixed seed the outcome is deterministic.
pub fn assert_ks(what: &str, samples: &[f64], cdf: impl Fn(f64) -> f64) {
    let d = ks_statistic(samples, cdf);
    let critical = 1.95 / (samples.len() as f64).sqrt();
    assert!(
        d < critical,
        "{what}: KS statistic {d:.4} >= critical {critical:.4} (n = {})",
        samples.len()
    );
}

/// Pearson's chi-square statistic of observed counts against equal expected counts.
pub fn chi_square_uniform(counts: &[usize]) -> f64 {
    let total: usize = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// The 0.999 quantile of the chi-square distribution with `df` degrees of freedom
/// (Wilson-Hilferty approximation, accurate to a few percent for df >= 3).
pub fn chi_square_critical_999(df: usize) -> f64 {
    let k = df as f64;
    let z = 3.090_232; // standard normal 0.999 quantile
    k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
}
