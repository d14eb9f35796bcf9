//! A synthetic world for in-context learners: can a model learn to read its context at all,
//! when nothing else has to be learnt?
//!
//! Every factor is linearly visible in fixed features, so the encoder is the identity
//! ([`FeatureBackbone`]) and only the transformer (and the auxiliary head) learn. A view of
//! object `k` has features `h = [o_k (8); s cos θ, s sin θ; s c_1, s c_2]` (`o_k` the object's
//! random identity of norm 2, `θ` uniform, `c` uniform in `[-1, 1]^2`, `s = 1.5`); a pair is two
//! views of one object with the action `[cos Δθ, sin Δθ, 0, 0, Δc_1, Δc_2]` (rotation in the
//! first four columns and colour in the last two, as 3DIEBench's quaternion and hue deltas) and
//! view 2's absolute latents `[cos θ_2, sin θ_2, 0, 0, c_2]` as the auxiliary target.
//!
//! [`sensitivity`] measures what a lone `[h; 0]` query keeps under a context: the mean distance
//! between the unit outputs of a view and of the same view with its rotation (or its colour)
//! redrawn. ContextSSL's claim in this world: under a rotation context the output moves with
//! the rotation and not with the colour; under a colour context the reverse. A model that
//! ignores its context gives the same two numbers under both.
//!
//! [`WorldRun`] holds the settings of one training run in the world (ContextSSL with a narrow
//! transformer, the paper's masks and temperature) and [`WorldRun::measure`] its protocol; the
//! test `tests/contextssl_world.rs` and the example `context_world` use them.
//!
//! ```
//! use noether_train::methods::context_world::WorldRun;
//! let run = WorldRun { steps: 20, ..WorldRun::default() };
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let model = run.train(dir.path())?;
//! let [rot, col] = run.measure(&model)?; // under a rotation and under a colour context
//! assert!(rot.rotation > 0.0 && col.color > 0.0);
//! # Ok::<(), noether_train::TrainError>(())
//! ```

use std::path::Path;

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::{Backbone, ParamStore};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{OptimizerConfig, ScheduleConfig, TrainConfig};
use crate::data::{ACTION_DIM, ActionPairs};
use crate::error::{Result, TrainError};
use crate::methods::contextssl::{ContextMode, ContextSsl, ContextSslConfig, InContext};
use crate::source::BatchSource;
use crate::trainer::Trainer;

/// Objects in the world.
pub const OBJECTS: usize = 64;
/// Width of an object's identity.
const ID_DIM: usize = 8;
/// Width of a view's features: identity, rotation (2), colour (2).
pub const FEATURE_DIM: usize = ID_DIM + 4;
/// Scale of the rotation and colour features.
const SCALE: f32 = 1.5;

/// The fixed encoder of the world: an "image" is its feature vector, `(N, D, 1, 1) -> (N, D)`.
/// It has no parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeatureBackbone;

impl ModuleT for FeatureBackbone {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> candle_core::Result<Tensor> {
        xs.flatten_from(1)
    }
}

impl Backbone for FeatureBackbone {
    fn features_t(&self, xs: &Tensor, _train: bool) -> candle_core::Result<Tensor> {
        xs.flatten_from(1)
    }

    fn feature_dim(&self) -> usize {
        FEATURE_DIM
    }
}

/// One view's latents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// The object, `0..OBJECTS`.
    pub object: usize,
    /// The rotation angle in radians.
    pub theta: f32,
    /// The two colour channels, each in `[-1, 1]`.
    pub color: [f32; 2],
}

/// The world: the objects' identities, drawn from a seed.
#[derive(Debug, Clone)]
pub struct ContextWorld {
    ids: Vec<[f32; ID_DIM]>,
}

impl ContextWorld {
    /// A world whose object identities come from `seed`.
    pub fn new(seed: u64) -> ContextWorld {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ids = (0..OBJECTS)
            .map(|_| {
                let v: [f32; ID_DIM] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.map(|x| 2.0 * x / norm)
            })
            .collect();
        ContextWorld { ids }
    }

    /// A random view of `object`.
    pub fn view<R: Rng>(&self, object: usize, rng: &mut R) -> View {
        View {
            object,
            theta: rng.random_range(0.0..std::f32::consts::TAU),
            color: std::array::from_fn(|_| rng.random_range(-1.0..1.0)),
        }
    }

    /// A view of a random object.
    pub fn random_view<R: Rng>(&self, rng: &mut R) -> View {
        let object = rng.random_range(0..OBJECTS);
        self.view(object, rng)
    }

    /// The features of `views` as images for [`FeatureBackbone`]: `(N, FEATURE_DIM, 1, 1)`.
    /// An error names the view whose object is not in the world.
    pub fn images(&self, views: &[View]) -> Result<Tensor> {
        let mut v = Vec::with_capacity(views.len() * FEATURE_DIM);
        for (i, view) in views.iter().enumerate() {
            let id = self.ids.get(view.object).ok_or_else(|| {
                TrainError::config(
                    "View.object",
                    format!(
                        "view {i}: object {} is not in the world of {OBJECTS}",
                        view.object
                    ),
                )
            })?;
            v.extend_from_slice(id);
            v.extend(
                [
                    view.theta.cos(),
                    view.theta.sin(),
                    view.color[0],
                    view.color[1],
                ]
                .map(|x| SCALE * x),
            );
        }
        Ok(Tensor::from_vec(
            v,
            (views.len(), FEATURE_DIM, 1, 1),
            &Device::Cpu,
        )?)
    }

    /// `n` pairs of two views of random objects, with their actions and view 2's latents.
    pub fn pairs<R: Rng>(&self, n: usize, rng: &mut R) -> Result<ActionPairs> {
        let mut first = Vec::with_capacity(n);
        let mut second = Vec::with_capacity(n);
        let mut action = Vec::with_capacity(n * ACTION_DIM);
        let mut latent2 = Vec::with_capacity(n * ACTION_DIM);
        for _ in 0..n {
            let v1 = self.random_view(rng);
            let v2 = self.view(v1.object, rng);
            let d = v2.theta - v1.theta;
            action.extend([
                d.cos(),
                d.sin(),
                0.0,
                0.0,
                v2.color[0] - v1.color[0],
                v2.color[1] - v1.color[1],
            ]);
            latent2.extend([
                v2.theta.cos(),
                v2.theta.sin(),
                0.0,
                0.0,
                v2.color[0],
                v2.color[1],
            ]);
            first.push(v1);
            second.push(v2);
        }
        Ok(ActionPairs {
            x1: self.images(&first)?,
            x2: self.images(&second)?,
            action: Tensor::from_vec(action, (n, ACTION_DIM), &Device::Cpu)?,
            latent2: Tensor::from_vec(latent2, (n, ACTION_DIM), &Device::Cpu)?,
            labels: first.iter().map(|v| v.object as i64).collect(),
        })
    }
}

/// Fresh pairs of a [`ContextWorld`] every step; batch `i` is drawn from `(seed, i)`, so the
/// cursor (the number of batches served) restores the stream exactly.
#[derive(Debug, Clone)]
pub struct WorldSource {
    world: ContextWorld,
    seed: u64,
    pairs: usize,
    served: u64,
}

impl WorldSource {
    /// Batches of `pairs` pairs of `world`, from `seed`.
    pub fn new(world: ContextWorld, pairs: usize, seed: u64) -> WorldSource {
        WorldSource {
            world,
            seed,
            pairs,
            served: 0,
        }
    }
}

impl BatchSource for WorldSource {
    type Batch = ActionPairs;

    fn next_batch(&mut self) -> Result<ActionPairs> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_mul(1_000_003) ^ self.served);
        self.served += 1;
        self.world.pairs(self.pairs, &mut rng)
    }

    fn cursor(&self) -> serde_json::Value {
        self.served.into()
    }

    fn restore(&mut self, cursor: &serde_json::Value) -> Result<()> {
        self.served = cursor.as_u64().ok_or_else(|| {
            TrainError::Source(format!("world cursor must be a count, got {cursor}"))
        })?;
        Ok(())
    }

    fn batch_items(&self) -> usize {
        self.pairs
    }
}

/// How much a lone query's unit output moves when one factor of its view is redrawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sensitivity {
    /// Mean distance when the rotation is redrawn.
    pub rotation: f32,
    /// Mean distance when the colour is redrawn.
    pub color: f32,
}

/// The [`Sensitivity`] of `model`'s `[h; 0]` queries (`queries` random views) that attend to
/// a context of `context_pairs` fresh pairs (actions masked for `mode`), all of it but the last
/// pair (`c = 2 P - 2` tokens, as the paper's 126 of 128). Everything random comes from `seed`.
pub fn sensitivity<M: InContext>(
    model: &M,
    world: &ContextWorld,
    mode: ContextMode,
    context_pairs: usize,
    queries: usize,
    seed: u64,
) -> Result<Sensitivity> {
    if context_pairs < 2 || 2 * context_pairs > model.max_context() {
        return Err(TrainError::config(
            "context_pairs",
            format!(
                "must be 2 to {} (the model's context of {} tokens), got {context_pairs}",
                model.max_context() / 2,
                model.max_context()
            ),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ctx = world.pairs(context_pairs, &mut rng)?;
    let cache = model.encode_context(
        &model.features(&ctx.x1)?,
        &model.features(&ctx.x2)?,
        &mode.mask_action(&ctx.action)?,
    )?;
    let c = 2 * context_pairs - 2;
    let views: Vec<View> = (0..queries).map(|_| world.random_view(&mut rng)).collect();
    let rotated: Vec<View> = views
        .iter()
        .map(|v| View {
            theta: rng.random_range(0.0..std::f32::consts::TAU),
            ..*v
        })
        .collect();
    let recolored: Vec<View> = views
        .iter()
        .map(|v| View {
            color: std::array::from_fn(|_| rng.random_range(-1.0..1.0)),
            ..*v
        })
        .collect();
    let unit = |vs: &[View]| -> Result<Tensor> {
        let z = model.contextual(&model.features(&world.images(vs)?)?, None, &cache, c)?;
        Ok(z.broadcast_div(&z.sqr()?.sum_keepdim(1)?.sqrt()?)?)
    };
    let z = unit(&views)?;
    let moved = |vs: &[View]| -> Result<f32> {
        Ok((&z - unit(vs)?)?
            .sqr()?
            .sum(1)?
            .sqrt()?
            .mean_all()?
            .to_scalar::<f32>()?)
    };
    Ok(Sensitivity {
        rotation: moved(&rotated)?,
        color: moved(&recolored)?,
    })
}

/// One training run of ContextSSL in a [`ContextWorld`]: a 2-block transformer of width
/// `n_embd` (2 heads, MLP 2x), contexts of 32 pairs, batches of 64 pairs, the paper's random
/// context mask and temperature, Adam with 20 warmup steps and a cosine to 0. The defaults are
/// the CI test's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorldRun {
    /// Training steps (4000).
    pub steps: u64,
    /// Weight of the auxiliary latent loss (25; the paper's 5 needs about 10,000 steps here).
    pub aux_weight: f64,
    /// Probability of masking each earlier pair in training (0.9, the paper's).
    pub mask_prob: f64,
    /// Adam's learning rate (1e-3).
    pub lr: f64,
    /// Seed of the weights and the batches (0).
    pub seed: u64,
    /// Seed of the world's object identities (5).
    pub world_seed: u64,
    /// Width of the transformer (32).
    pub n_embd: usize,
}

impl Default for WorldRun {
    fn default() -> Self {
        WorldRun {
            steps: 4000,
            aux_weight: 25.0,
            mask_prob: 0.9,
            lr: 1e-3,
            seed: 0,
            world_seed: 5,
            n_embd: 32,
        }
    }
}

impl WorldRun {
    /// Contexts (and training sequences) of this many pairs.
    pub const BLOCK_PAIRS: usize = 32;
    /// Pairs per training batch.
    pub const BATCH_PAIRS: usize = 64;

    /// The method's settings.
    pub fn config(&self) -> ContextSslConfig {
        ContextSslConfig {
            n_embd: self.n_embd,
            n_layer: 2,
            n_head: 2,
            mlp_ratio: 2,
            block_pairs: Self::BLOCK_PAIRS,
            aux_hidden: 32,
            aux_weight: self.aux_weight,
            mask_prob: self.mask_prob,
            ..ContextSslConfig::default()
        }
    }

    /// The untrained model (weights from `seed`).
    pub fn model(&self) -> Result<ContextSsl<FeatureBackbone>> {
        ContextSsl::new(
            ParamStore::seeded(11 + self.seed),
            FeatureBackbone,
            &self.config(),
            DType::F32,
            &Device::Cpu,
        )
    }

    /// The world.
    pub fn world(&self) -> ContextWorld {
        ContextWorld::new(self.world_seed)
    }

    /// Trains [`WorldRun::model`] for `steps` steps, writing the run (metrics, last checkpoint)
    /// to `run_dir`.
    pub fn train(&self, run_dir: &Path) -> Result<ContextSsl<FeatureBackbone>> {
        let mut model = self.model()?;
        let mut train = TrainConfig::new(
            self.steps,
            self.seed,
            OptimizerConfig::Adam {
                lr: self.lr,
                betas: [0.9, 0.999],
                eps: 1e-8,
                weight_decay: 0.0,
            },
        );
        train.schedule = ScheduleConfig::WarmupCosine {
            warmup_steps: 20.min(self.steps),
            start_factor: 0.0,
            final_factor: 0.0,
        };
        train.checkpoint_every = self.steps.max(1);
        Trainer::new(train, run_dir)?.with_progress(false).run(
            &mut model,
            &mut WorldSource::new(self.world(), Self::BATCH_PAIRS, self.seed),
            false,
        )?;
        Ok(model)
    }

    /// The protocol: [`sensitivity`] of 256 queries under a context of
    /// [`WorldRun::BLOCK_PAIRS`] pairs, `[rotation context, colour context]`, from a fixed seed.
    pub fn measure<M: InContext>(&self, model: &M) -> Result<[Sensitivity; 2]> {
        let world = self.world();
        let at = |mode| sensitivity(model, &world, mode, Self::BLOCK_PAIRS, 256, 99);
        Ok([at(ContextMode::Rotation)?, at(ContextMode::Color)?])
    }
}
