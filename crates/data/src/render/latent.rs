//! The sampler of per-view latents: a function of `(seed, object, view)` only.

use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::latent::Latent;

/// Bit that marks view streams (shape and split streams keep it clear).
const VIEW_STREAM: u64 = 1 << 63;

/// The RNG of view `view` of object `object`: `ChaCha8Rng::seed_from_u64(seed)` on stream
/// `2^63 + object * 2^24 + view` (objects below `2^39`, views below `2^24`).
pub fn view_rng(seed: u64, object: usize, view: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(VIEW_STREAM | ((object as u64) << 24) | (view as u64 & 0xff_ffff));
    rng
}

/// The latent of view `view` of object `object` (the object's index in the dataset, class
/// major): a function of `(seed, object, view)` only, drawn from [`view_rng`] in slot order.
pub fn sample_latent(seed: u64, object: usize, view: usize) -> Latent {
    let mut rng = view_rng(seed, object, view);
    let mut u = |lo: f64, hi: f64| rng.random_range(lo..hi) as f32;
    let x = u(-FRAC_PI_2, FRAC_PI_2);
    let y = u(-FRAC_PI_2, FRAC_PI_2);
    let z = u(-FRAC_PI_2, FRAC_PI_2);
    let floor_hue = u(0.0, 1.0);
    let theta = u(0.0, FRAC_PI_4);
    let phi = u(0.0, 2.0 * PI);
    let spot_hue = u(0.0, 1.0);
    Latent([x, y, z, floor_hue, theta, phi, spot_hue])
}
