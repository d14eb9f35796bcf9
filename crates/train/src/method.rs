//! The [`Method`] trait (a batch in, named loss terms out, plus the networks it owns), the
//! [`StepContext`] the trainer hands it, and [`Losses`].
//!
//! ## Randomness
//!
//! A method never keeps a random generator across steps. Every random choice of step `k` (a
//! dropout mask, a sampled group element, an augmentation drawn on the fly) comes from
//! [`StepContext::rng`]`(stream)`, a ChaCha8 generator keyed by `(run seed, stream, k)`. So the
//! random state of a run at step `k` is a function of the seed and `k` alone: a checkpoint
//! restores "every RNG stream" by recording the seed (in the config) and the step, and a resumed
//! run draws exactly what the uninterrupted one drew. The data order is the batch source's
//! business and is restored from its cursor ([`crate::BatchSource`]).

use candle_core::Tensor;
use noether_models::ParamStore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};

/// Where the trainer is: handed to [`Method::losses`] and [`Method::after_step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepContext {
    /// The step, counting updates from 0 (`step` updates have been applied before it).
    pub step: u64,
    /// Steps of the whole run.
    pub total_steps: u64,
    /// The learning rate of this step.
    pub lr: f64,
    /// The run seed.
    pub seed: u64,
}

impl StepContext {
    /// A ChaCha8 generator for random stream `stream` at this step, keyed by
    /// `(seed, stream, step)`: the same triple always gives the same draws, different triples
    /// independent ones. Use one stream number per purpose (dropout, masks, ...).
    pub fn rng(&self, stream: u64) -> ChaCha8Rng {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&self.seed.to_le_bytes());
        key[8..16].copy_from_slice(&stream.to_le_bytes());
        key[16..24].copy_from_slice(&self.step.to_le_bytes());
        key[24..].copy_from_slice(b"noether\0");
        ChaCha8Rng::from_seed(key)
    }

    /// Fraction of the run done before this step, in `[0, 1]`.
    pub fn progress(&self) -> f64 {
        if self.total_steps == 0 {
            1.0
        } else {
            (self.step as f64 / self.total_steps as f64).min(1.0)
        }
    }
}

/// A parameter store a method owns, by name.
#[derive(Debug, Clone)]
pub struct NamedStore {
    /// Its name: the checkpoint file is `<name>.safetensors`, so ASCII letters, digits, `_`
    /// and `-` only.
    pub name: String,
    /// The store.
    pub store: ParamStore,
    /// Whether the optimizer trains its parameters (`false` for an EMA target: saved and
    /// restored, never optimized).
    pub trained: bool,
}

impl NamedStore {
    /// A store the optimizer trains.
    pub fn trained(name: impl Into<String>, store: ParamStore) -> NamedStore {
        NamedStore {
            name: name.into(),
            store,
            trained: true,
        }
    }

    /// A store that is saved and restored but not optimized (e.g. an EMA target).
    pub fn frozen(name: impl Into<String>, store: ParamStore) -> NamedStore {
        NamedStore {
            name: name.into(),
            store,
            trained: false,
        }
    }
}

/// The losses of one step: the scalar that is differentiated, and named terms for the log.
#[derive(Debug, Clone)]
pub struct Losses {
    /// The scalar loss (rank 0) whose gradient the optimizer follows.
    pub total: Tensor,
    /// Named terms (values only, for the log and the finiteness check), in a fixed order.
    pub terms: Vec<(String, f64)>,
}

impl Losses {
    /// Losses with the total only.
    pub fn new(total: Tensor) -> Losses {
        Losses {
            total,
            terms: Vec::new(),
        }
    }

    /// Adds the term `name` with the value of the scalar tensor `value` (any float dtype).
    pub fn with_term(mut self, name: impl Into<String>, value: &Tensor) -> Result<Losses> {
        let name = name.into();
        if value.rank() != 0 {
            return Err(TrainError::config(
                format!("loss term `{name}`"),
                format!("must be a scalar, got shape {:?}", value.dims()),
            ));
        }
        let v = value
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        self.terms.push((name, v));
        Ok(self)
    }
}

/// A self-supervised method as a recipe: which networks it owns and how a batch becomes losses.
/// Everything else (optimizer, schedule, clipping, checkpoints, resume, logs) is the
/// [`crate::Trainer`]'s, and is the same for every method.
pub trait Method {
    /// What one step consumes (e.g. two views and their augmentation parameters).
    type Batch;

    /// The method's name; recorded in checkpoints and checked on resume.
    fn name(&self) -> &str;

    /// Every parameter store the method owns, in a fixed order. Trained stores go to the
    /// optimizer (their weights, biases and norm parameters; never buffers); all are saved and
    /// restored, buffers included.
    fn stores(&self) -> Vec<NamedStore>;

    /// The losses of one training step on `batch` (networks in train mode). Draw randomness
    /// from `ctx.rng(stream)` only.
    fn losses(&mut self, batch: &Self::Batch, ctx: &StepContext) -> Result<Losses>;

    /// Called after the optimizer step, e.g. to move an EMA target with
    /// [`noether_ops::optim::ema_update`] at rate [`noether_ops::optim::byol_tau`].
    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
}

/// What evaluation reads from a trained [`Method`]: the encoder's features (linear probe, kNN,
/// rotation and colour R²) and the embedding the method's loss acts on (the R² of the
/// augmentation parameters from pairs of embeddings). Both run the networks in eval mode
/// (batch norm with its running statistics) and return detached-free tensors of shape
/// `(N, D)` for an `(N, C, H, W)` batch.
pub trait Embed {
    /// The encoder's pooled features `h = f(x)`: `(N, C, H, W) -> (N, feature_dim)`.
    fn features(&self, xs: &Tensor) -> Result<Tensor>;
    /// The embedding the loss acts on: SimCLR's projection `z = g(f(x))`, BYOL's online
    /// projection, VICReg's expansion, EquiMod's equivariant embedding `y = g'(f(x))`.
    fn embedding(&self, xs: &Tensor) -> Result<Tensor>;
    /// Metrics of the method's own on a batch of held-out images, by name (H-SSL: the
    /// backbone's equivariance error); none by default.
    fn extra_metrics(&self, xs: &Tensor) -> Result<Vec<(String, f64)>> {
        let _ = xs;
        Ok(Vec::new())
    }
}

/// What the retrieval metrics (MRR, H@k; `papers/sie_3diebench.md`, "Metrics") read from a
/// method with an action-conditioned predictor (SIE, SEN): the embedding the gallery lives in
/// and the prediction of view 2's embedding from view 1 and the action. Both run the networks in
/// eval mode.
pub trait PredictAction {
    /// The gallery embedding of images: `(N, C, H, W) -> (N, D)` (SIE: the equivariant
    /// projection `v`).
    fn gallery(&self, xs: &Tensor) -> Result<Tensor>;
    /// The predicted gallery embedding of view 2 from images of view 1 `(N, C, H, W)` and the
    /// actions `(N, 6)` in [`crate::data::ACTION_DIM`]'s layout (quaternion, two hue deltas;
    /// a method uses the columns it was trained on): `(N, D)`.
    fn predict(&self, xs: &Tensor, action: &Tensor) -> Result<Tensor>;
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    #[test]
    fn rng_depends_on_seed_stream_and_step_only() {
        let ctx = StepContext {
            step: 3,
            total_steps: 10,
            lr: 0.1,
            seed: 7,
        };
        let draw = |c: StepContext, s| c.rng(s).random::<u64>();
        assert_eq!(draw(ctx, 0), draw(StepContext { lr: 0.5, ..ctx }, 0));
        assert_ne!(draw(ctx, 0), draw(ctx, 1));
        assert_ne!(draw(ctx, 0), draw(StepContext { step: 4, ..ctx }, 0));
        assert_ne!(draw(ctx, 0), draw(StepContext { seed: 8, ..ctx }, 0));
    }
}
