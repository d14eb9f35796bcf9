//! n-body: the charged-particle simulator of Kipf et al.'s NRI (`ChargedParticlesSim`), in the
//! form EGNN (Satorras et al. 2021, `n_body_system/dataset/synthetic_sim.py`) and LPS (Kim et
//! al. 2023, `src_synthetic/nbody/dataset/nbody/synthetic_sim.py`) use it: 5 particles in 3D
//! with charges +-1, predict where they are 1.0 time unit later.
//!
//! What this module follows is the reference code itself (read from both repositories), step
//! for step; only the random number generator differs:
//!
//! - charges `q_i` are -1 or +1 with probability 1/2 each;
//! - positions are `N(0, loc_std^2)` per coordinate; velocities `N(0, 1)` per coordinate,
//!   then each particle's velocity is rescaled to norm `vel_norm`;
//! - the initial state is clamped to the box once (the reference's `_clamp`): a coordinate
//!   above `box_size` becomes `2 box_size - x` and its velocity component `-|v|`; one below
//!   `-box_size` becomes `-2 box_size - x` and its velocity component `|v|` (a single
//!   reflection, as in the reference; the walls play no part afterwards);
//! - the force on `i` is `F_i = interaction_strength * sum_{j != i} q_i q_j (x_i - x_j) /
//!   |x_i - x_j|^3` (like charges repel), each component clipped to `+-max_F` with `max_F =
//!   0.1 / 0.001 = 100` (the reference derives it from its fixed `dt = 0.001`; this module keeps
//!   the constant 100 whatever `dt` is). Two particles at exactly the same place exert no force
//!   on each other (the reference would produce NaN);
//! - the integrator is the reference's leapfrog: `v += dt F(x_0)`, then for `i` in
//!   `1..steps`: `x += dt v`; if `i % sample_every == 0` record `(x, v)`; `v += dt F(x)`.
//!
//! **Frames.** The reference allocates `steps / sample_every - 1` frames and writes the
//! clamped initial state into frame 0, but its loop then starts recording at frame 0 again, so
//! the initial state is overwritten: frame `k` is the state after step `(k + 1) *
//! sample_every`, and there are `(steps - 1) / sample_every` frames (49 for the defaults:
//! steps 100, 200, ..., 4900). This module keeps exactly that indexing, so `input_frame = 30`
//! and `target_frame = 40` are steps 3100 and 4100, 1.0 time unit apart, as in EGNN's
//! `nbody_small` and LPS. The initial state is not a frame; [`simulate`] returns it separately
//! ([`Trajectory::initial_pos`], [`Trajectory::initial_vel`]).
//!
//! A sample is the positions and velocities at `input_frame`, the charges, and the positions at
//! `target_frame` (EGNN's `loc[frame_0], vel[frame_0], charges, loc[frame_T]`).
//!
//! **Randomness.** Simulation `index` of a split draws from its own `ChaCha8` stream keyed by
//! `(seed, split, index)`, so the splits are disjoint, any subset can be regenerated alone, and
//! the data do not depend on the order or the number of threads. Normal draws are Box-Muller
//! pairs. The reference's figures (keep-position MSE 0.257, constant-velocity MSE 0.125 on 200
//! test simulations) therefore hold only statistically, not to the digit.
//!
//! ```
//! use noether_data::Split;
//! use noether_data::nbody::{NBody, NBodyConfig, keep_position_mse};
//!
//! let config = NBodyConfig {
//!     train: 2,
//!     val: 1,
//!     test: 1,
//!     steps: 1000,
//!     input_frame: 3,
//!     target_frame: 5,
//!     ..NBodyConfig::default()
//! };
//! let data = NBody::generate(&config)?;
//! assert_eq!(data.split(Split::Train).len(), 2);
//! assert_eq!(data.train[0].pos.len(), 5);
//! assert!(keep_position_mse(&data.train) >= 0.0);
//! # Ok::<(), noether_data::DataError>(())
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::split::Split;

/// Spatial dimension of the simulation.
pub const DIM: usize = 3;

/// The bound every force component is clipped to (the reference's `max_F = 0.1 / 0.001`).
pub const MAX_FORCE: f64 = 100.0;

/// Most simulations per split (an index must fit the RNG stream layout).
pub const MAX_SIMULATIONS: usize = 1 << 32;

/// Most particles per simulation.
pub const MAX_PARTICLES: usize = 1 << 16;

/// Settings of an n-body data set. The defaults are the LPS / EGNN `nbody_small` setting with
/// the 3,000 training simulations LPS trains on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NBodyConfig {
    /// Particles per simulation (1 to [`MAX_PARTICLES`]).
    pub particles: usize,
    /// Integration time step (finite, positive).
    pub dt: f64,
    /// Integration steps, counting the initial half step (at least 1).
    pub steps: usize,
    /// A frame is recorded every `sample_every` steps (at least 1).
    pub sample_every: usize,
    /// Half the side of the box the initial positions are reflected into (finite, positive).
    pub box_size: f64,
    /// Standard deviation of the initial positions (finite, positive).
    pub loc_std: f64,
    /// Norm of every particle's initial velocity (finite, non-negative).
    pub vel_norm: f64,
    /// Factor of the Coulomb force (finite).
    pub interaction_strength: f64,
    /// Frame of the input positions and velocities (below `target_frame`).
    pub input_frame: usize,
    /// Frame of the target positions (below [`frames`](NBodyConfig::frames)).
    pub target_frame: usize,
    /// Training simulations (0 to [`MAX_SIMULATIONS`]).
    pub train: usize,
    /// Validation simulations (0 to [`MAX_SIMULATIONS`]).
    pub val: usize,
    /// Test simulations (0 to [`MAX_SIMULATIONS`]).
    pub test: usize,
    /// Seed of every simulation.
    pub seed: u64,
}

impl Default for NBodyConfig {
    /// 5 particles, `dt` 0.001, 5,000 steps sampled every 100 (49 frames), box 5, position
    /// std 1, velocity norm 0.5, strength 1, input frame 30, target frame 40; 3,000 / 2,000 /
    /// 2,000 simulations; seed 0.
    fn default() -> Self {
        NBodyConfig {
            particles: 5,
            dt: 0.001,
            steps: 5000,
            sample_every: 100,
            box_size: 5.0,
            loc_std: 1.0,
            vel_norm: 0.5,
            interaction_strength: 1.0,
            input_frame: 30,
            target_frame: 40,
            train: 3000,
            val: 2000,
            test: 2000,
            seed: 0,
        }
    }
}

impl NBodyConfig {
    /// Checks every field; the error names the field (`nbody.particles`, `nbody.dt`,
    /// `nbody.steps`, `nbody.sample_every`, `nbody.box_size`, `nbody.loc_std`,
    /// `nbody.vel_norm`, `nbody.interaction_strength`, `nbody.input_frame`,
    /// `nbody.target_frame`, `nbody.train`, `nbody.val`, `nbody.test`).
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_PARTICLES).contains(&self.particles) {
            return Err(DataError::invalid(
                "nbody.particles",
                format!("{}; must be 1 to {MAX_PARTICLES}", self.particles),
            ));
        }
        let positive = [
            ("nbody.dt", self.dt),
            ("nbody.box_size", self.box_size),
            ("nbody.loc_std", self.loc_std),
        ];
        for (what, x) in positive {
            if !(x.is_finite() && x > 0.0) {
                return Err(DataError::invalid(
                    what,
                    format!("{x}; must be finite and positive"),
                ));
            }
        }
        if !(self.vel_norm.is_finite() && self.vel_norm >= 0.0) {
            return Err(DataError::invalid(
                "nbody.vel_norm",
                format!("{}; must be finite and non-negative", self.vel_norm),
            ));
        }
        if !self.interaction_strength.is_finite() {
            return Err(DataError::invalid(
                "nbody.interaction_strength",
                format!("{}; must be finite", self.interaction_strength),
            ));
        }
        if self.steps == 0 {
            return Err(DataError::invalid("nbody.steps", "0; must be at least 1"));
        }
        if self.sample_every == 0 {
            return Err(DataError::invalid(
                "nbody.sample_every",
                "0; must be at least 1",
            ));
        }
        let frames = self.frames();
        if self.target_frame >= frames {
            return Err(DataError::invalid(
                "nbody.target_frame",
                format!(
                    "{}; must be below the {frames} frames of {} steps sampled every {} \
                     (frame k is step (k + 1) * sample_every)",
                    self.target_frame, self.steps, self.sample_every
                ),
            ));
        }
        if self.input_frame >= self.target_frame {
            return Err(DataError::invalid(
                "nbody.input_frame",
                format!(
                    "{}; must be below nbody.target_frame ({})",
                    self.input_frame, self.target_frame
                ),
            ));
        }
        for (what, n) in [
            ("nbody.train", self.train),
            ("nbody.val", self.val),
            ("nbody.test", self.test),
        ] {
            if n > MAX_SIMULATIONS {
                return Err(DataError::invalid(
                    what,
                    format!("{n} simulations; must be at most {MAX_SIMULATIONS}"),
                ));
            }
        }
        Ok(())
    }

    /// Number of recorded frames, `(steps - 1) / sample_every` (49 for the defaults): frame `k`
    /// is the state after step `(k + 1) * sample_every`. 0 when `sample_every` is 0.
    pub fn frames(&self) -> usize {
        self.steps
            .saturating_sub(1)
            .checked_div(self.sample_every)
            .unwrap_or(0)
    }

    /// Time from the input frame to the target frame, `(target_frame - input_frame) *
    /// sample_every * dt` (1.0 for the defaults): the horizon of
    /// [`constant_velocity_mse`].
    pub fn elapsed_time(&self) -> f64 {
        self.target_frame.saturating_sub(self.input_frame) as f64
            * self.sample_every as f64
            * self.dt
    }

    /// Number of simulations in `split`.
    pub fn len(&self, split: Split) -> usize {
        match split {
            Split::Train => self.train,
            Split::Val => self.val,
            Split::Test => self.test,
        }
    }

    /// Whether all three splits are empty.
    pub fn is_empty(&self) -> bool {
        self.train == 0 && self.val == 0 && self.test == 0
    }
}

/// One simulation reduced to a learning example: the state at the input frame and the
/// positions at the target frame, each `particles` long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NBodySample {
    /// Positions at the input frame.
    pub pos: Vec<[f32; 3]>,
    /// Velocities at the input frame.
    pub vel: Vec<[f32; 3]>,
    /// Charges, -1 or +1.
    pub charges: Vec<f32>,
    /// Positions at the target frame.
    pub target: Vec<[f32; 3]>,
}

/// A whole simulation in `f64`: the charges, the clamped initial state and every recorded
/// frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Charges, -1 or +1.
    pub charges: Vec<f64>,
    /// Positions after the initial clamp, before any step.
    pub initial_pos: Vec<[f64; 3]>,
    /// Velocities after the initial clamp, before the first force step (each of norm
    /// `vel_norm`).
    pub initial_vel: Vec<[f64; 3]>,
    /// `pos[k][i]`: position of particle `i` at frame `k` (after step `(k + 1) *
    /// sample_every`).
    pub pos: Vec<Vec<[f64; 3]>>,
    /// `vel[k][i]`: velocity of particle `i` at frame `k`, as the reference records it (after
    /// the position update of that step, before its force update).
    pub vel: Vec<Vec<[f64; 3]>>,
}

/// The three splits of an n-body data set.
#[derive(Debug, Clone, PartialEq)]
pub struct NBody {
    /// The settings the data were generated with.
    pub config: NBodyConfig,
    /// `config.train` training samples.
    pub train: Vec<NBodySample>,
    /// `config.val` validation samples.
    pub val: Vec<NBodySample>,
    /// `config.test` test samples.
    pub test: Vec<NBodySample>,
}

impl NBody {
    /// Simulates every split (in parallel with rayon). Sample `i` of a split is a pure function
    /// of `(config, split, i)`: the same numbers for any thread count. Errors when the config
    /// does not [`validate`](NBodyConfig::validate).
    pub fn generate(config: &NBodyConfig) -> Result<NBody> {
        config.validate()?;
        let split = |s: Split| -> Vec<NBodySample> {
            (0..config.len(s))
                .into_par_iter()
                .map(|i| to_sample(config, &run(config, s, i)))
                .collect()
        };
        Ok(NBody {
            config: config.clone(),
            train: split(Split::Train),
            val: split(Split::Val),
            test: split(Split::Test),
        })
    }

    /// The samples of `split`.
    pub fn split(&self, split: Split) -> &[NBodySample] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
            Split::Test => &self.test,
        }
    }
}

/// The whole trajectory of simulation `index` of `split` (the one [`NBody::generate`] reduces
/// to its sample `index`). Errors when the config does not
/// [`validate`](NBodyConfig::validate) or `index` is not below the split's size.
pub fn simulate(config: &NBodyConfig, split: Split, index: usize) -> Result<Trajectory> {
    config.validate()?;
    let n = config.len(split);
    if index >= n {
        return Err(DataError::invalid(
            "nbody.index",
            format!("simulation {index} of split {split}, which has {n}"),
        ));
    }
    Ok(run(config, split, index))
}

/// Mean squared error of predicting that nothing moves (`target = pos`): the mean over
/// samples, particles and coordinates. NaN when there are no samples.
pub fn keep_position_mse(samples: &[NBodySample]) -> f64 {
    constant_velocity_mse(samples, 0.0)
}

/// Mean squared error of constant-velocity extrapolation, `target = pos + vel *
/// elapsed_time` (use [`NBodyConfig::elapsed_time`]): the mean over samples, particles and
/// coordinates. NaN when there are no samples.
pub fn constant_velocity_mse(samples: &[NBodySample], elapsed_time: f64) -> f64 {
    let mut sum = 0.0f64;
    let mut count = 0usize;
    for s in samples {
        for ((p, v), t) in s.pos.iter().zip(&s.vel).zip(&s.target) {
            for d in 0..DIM {
                let guess = f64::from(p[d]) + f64::from(v[d]) * elapsed_time;
                let e = guess - f64::from(t[d]);
                sum += e * e;
                count += 1;
            }
        }
    }
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

/// 0 for train, 1 for val, 2 for test.
fn split_tag(split: Split) -> u64 {
    match split {
        Split::Train => 0,
        Split::Val => 1,
        Split::Test => 2,
    }
}

/// The RNG of simulation `index` of `split`: `ChaCha8Rng::seed_from_u64(seed)` on stream
/// `split_tag * 2^32 + index` (`split_tag` 0 train, 1 val, 2 test).
fn sim_rng(seed: u64, split: Split, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((split_tag(split) << 32) | index as u64);
    rng
}

/// Standard normal draws by the Box-Muller transform, both values of each pair used.
struct Normal {
    spare: Option<f64>,
}

impl Normal {
    fn new() -> Self {
        Normal { spare: None }
    }

    fn sample(&mut self, rng: &mut ChaCha8Rng) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // u1 in (0, 1] so the logarithm is finite
        let u1 = 1.0 - rng.random::<f64>();
        let u2 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

/// The reference's `_clamp`: one reflection into `[-box, box]` per coordinate, the velocity
/// component turned to point inwards.
fn clamp(pos: &mut [[f64; 3]], vel: &mut [[f64; 3]], box_size: f64) {
    for (x, v) in pos.iter_mut().zip(vel.iter_mut()) {
        for d in 0..DIM {
            if x[d] > box_size {
                x[d] = 2.0 * box_size - x[d];
                v[d] = -v[d].abs();
            }
            if x[d] < -box_size {
                x[d] = -2.0 * box_size - x[d];
                v[d] = v[d].abs();
            }
        }
    }
}

/// Coulomb forces `k sum_{j != i} q_i q_j (x_i - x_j) / |x_i - x_j|^3`, each component
/// clipped to `+-MAX_FORCE`, written into `force`.
fn forces(pos: &[[f64; 3]], charges: &[f64], strength: f64, force: &mut [[f64; 3]]) {
    for (i, (xi, fi)) in pos.iter().zip(force.iter_mut()).enumerate() {
        let mut f = [0.0f64; 3];
        for (j, xj) in pos.iter().enumerate() {
            if i == j {
                continue;
            }
            let r = [xi[0] - xj[0], xi[1] - xj[1], xi[2] - xj[2]];
            let r2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
            if r2 == 0.0 {
                continue;
            }
            let size = strength * charges[i] * charges[j] / (r2 * r2.sqrt());
            for d in 0..DIM {
                f[d] += size * r[d];
            }
        }
        for d in 0..DIM {
            fi[d] = f[d].clamp(-MAX_FORCE, MAX_FORCE);
        }
    }
}

/// Runs simulation `index` of `split`; the config is valid.
fn run(config: &NBodyConfig, split: Split, index: usize) -> Trajectory {
    let n = config.particles;
    let dt = config.dt;
    let mut rng = sim_rng(config.seed, split, index);
    let charges: Vec<f64> = (0..n)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect();
    let mut normal = Normal::new();
    let mut pos: Vec<[f64; 3]> = (0..n)
        .map(|_| std::array::from_fn(|_| normal.sample(&mut rng) * config.loc_std))
        .collect();
    let mut vel: Vec<[f64; 3]> = (0..n)
        .map(|_| {
            let v: [f64; 3] = std::array::from_fn(|_| normal.sample(&mut rng));
            let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            let scale = if norm > 0.0 {
                config.vel_norm / norm
            } else {
                0.0
            };
            v.map(|c| c * scale)
        })
        .collect();
    clamp(&mut pos, &mut vel, config.box_size);
    let (initial_pos, initial_vel) = (pos.clone(), vel.clone());

    let frames = config.frames();
    let mut out_pos = Vec::with_capacity(frames);
    let mut out_vel = Vec::with_capacity(frames);
    let mut force = vec![[0.0f64; 3]; n];
    let kick = |vel: &mut [[f64; 3]], force: &[[f64; 3]]| {
        for (v, f) in vel.iter_mut().zip(force) {
            for d in 0..DIM {
                v[d] += dt * f[d];
            }
        }
    };
    forces(&pos, &charges, config.interaction_strength, &mut force);
    kick(&mut vel, &force);
    for i in 1..config.steps {
        for (x, v) in pos.iter_mut().zip(&vel) {
            for d in 0..DIM {
                x[d] += dt * v[d];
            }
        }
        if i % config.sample_every == 0 {
            out_pos.push(pos.clone());
            out_vel.push(vel.clone());
        }
        forces(&pos, &charges, config.interaction_strength, &mut force);
        kick(&mut vel, &force);
    }
    Trajectory {
        charges,
        initial_pos,
        initial_vel,
        pos: out_pos,
        vel: out_vel,
    }
}

/// `[f64; 3]` rows as `[f32; 3]` rows.
fn to_f32(rows: &[[f64; 3]]) -> Vec<[f32; 3]> {
    rows.iter().map(|r| r.map(|c| c as f32)).collect()
}

/// The sample of a trajectory: input and target frames of the config.
fn to_sample(config: &NBodyConfig, t: &Trajectory) -> NBodySample {
    NBodySample {
        pos: to_f32(&t.pos[config.input_frame]),
        vel: to_f32(&t.vel[config.input_frame]),
        charges: t.charges.iter().map(|&q| q as f32).collect(),
        target: to_f32(&t.pos[config.target_frame]),
    }
}
