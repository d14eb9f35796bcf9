//! Supervised training of a symmetrized model (LPS, Kim et al., arXiv 2306.02866; group and
//! frame averaging and canonicalization are the same recipe in other modes): [`Symmetrize`]
//! is the [`Method`], [`SupervisedSource`] the batches, [`evaluate`] the test metric.
//!
//! The loss is the task's (cross-entropy on averaged logits, or MSE on averaged outputs) plus,
//! for `S_n` interfaces, `entropy_weight` (0.1 in the paper) times the permutation entropy of
//! the soft permutations. With `augment`, every batch is first moved by Haar-random group
//! elements (inputs, and targets that are not invariant): the "base with augmentation"
//! baseline. The random draws of a step come from [`StepContext::rng`] (stream 0: the
//! symmetrization's draws; stream 1: the augmentation), so resumed runs match.

use candle_core::{D, DType, Tensor};
use noether_symmetrize::{Base, Interface, Mode, Rep, Symmetrized};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};
use crate::method::{Losses, Method, NamedStore, StepContext};
use crate::source::BatchSource;

/// What a batch is trained to predict.
#[derive(Debug, Clone)]
pub enum Target {
    /// Class indices `(b,)`, `u32`: cross-entropy, accuracy.
    Classes(Tensor),
    /// Values of the output's shape: mean squared error.
    Values(Tensor),
}

/// A labelled batch (or a whole labelled set): one tensor per input representation, the node
/// mask of padded graphs, the target.
#[derive(Debug, Clone)]
pub struct Supervised {
    /// Inputs, batch axis first.
    pub inputs: Vec<Tensor>,
    /// `(b, n)`: real nodes first (padded graphs), or `None`.
    pub mask: Option<Tensor>,
    /// The target.
    pub target: Target,
}

/// A whole labelled set, held in memory.
pub type Examples = Supervised;

impl Supervised {
    /// Examples in the batch.
    pub fn len(&self) -> usize {
        self.inputs.first().map_or(0, |t| t.dims()[0])
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples at `idx`, in that order.
    pub fn select(&self, idx: &[u32]) -> Result<Supervised> {
        let device = self
            .inputs
            .first()
            .map(|t| t.device().clone())
            .ok_or_else(|| TrainError::Source("a supervised set with no inputs".into()))?;
        let idx = Tensor::new(idx, &device)?;
        let pick = |t: &Tensor| t.index_select(&idx, 0);
        Ok(Supervised {
            inputs: self
                .inputs
                .iter()
                .map(pick)
                .collect::<candle_core::Result<_>>()?,
            mask: self.mask.as_ref().map(pick).transpose()?,
            target: match &self.target {
                Target::Classes(t) => Target::Classes(pick(t)?),
                Target::Values(t) => Target::Values(pick(t)?),
            },
        })
    }
}

/// Shuffled batches of an in-memory set: the order of epoch `e` is a function of
/// `(seed, e)`, so the cursor `(epoch, position)` restores it. A last partial batch is dropped.
#[derive(Debug, Clone)]
pub struct SupervisedSource {
    data: Supervised,
    batch: usize,
    seed: u64,
    epoch: u64,
    pos: usize,
    order: Vec<u32>,
}

impl SupervisedSource {
    /// Batches of `batch` examples from `data`, shuffled by `seed`.
    pub fn new(data: Supervised, batch: usize, seed: u64) -> Result<SupervisedSource> {
        if batch == 0 || batch > data.len() {
            return Err(TrainError::config(
                "batch_size",
                format!(
                    "must be in 1..={} (the training set), got {batch}",
                    data.len()
                ),
            ));
        }
        let mut s = SupervisedSource {
            data,
            batch,
            seed,
            epoch: 0,
            pos: 0,
            order: Vec::new(),
        };
        s.order = s.shuffled(0);
        Ok(s)
    }

    fn shuffled(&self, epoch: u64) -> Vec<u32> {
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut order: Vec<u32> = (0..self.data.len() as u32).collect();
        order.shuffle(&mut rng);
        order
    }
}

impl BatchSource for SupervisedSource {
    type Batch = Supervised;

    fn next_batch(&mut self) -> Result<Supervised> {
        if self.pos + self.batch > self.order.len() {
            self.epoch += 1;
            self.pos = 0;
            self.order = self.shuffled(self.epoch);
        }
        let idx = &self.order[self.pos..self.pos + self.batch];
        self.pos += self.batch;
        self.data.select(idx)
    }

    fn cursor(&self) -> serde_json::Value {
        serde_json::json!({ "epoch": self.epoch, "pos": self.pos })
    }

    fn restore(&mut self, cursor: &serde_json::Value) -> Result<()> {
        let get = |k: &str| cursor.get(k).and_then(serde_json::Value::as_u64);
        let (Some(epoch), Some(pos)) = (get("epoch"), get("pos")) else {
            return Err(TrainError::Source(format!(
                "supervised source: malformed cursor {cursor}"
            )));
        };
        if pos as usize > self.data.len() {
            return Err(TrainError::Source(format!(
                "supervised source: cursor position {pos} beyond the {} examples",
                self.data.len()
            )));
        }
        self.epoch = epoch;
        self.pos = pos as usize;
        self.order = self.shuffled(epoch);
        Ok(())
    }

    fn batch_items(&self) -> usize {
        self.batch
    }
}

/// A symmetrized model trained on a supervised task.
#[derive(Debug)]
pub struct Symmetrize<B, I> {
    name: String,
    model: Symmetrized<B, I>,
    stores: Vec<NamedStore>,
    entropy_weight: f64,
    augment: bool,
}

impl<B: Base, I: Interface> Symmetrize<B, I> {
    /// `model` trained with the parameters of `stores` (the base's and the interface's);
    /// `entropy_weight` scales the permutation entropy (0.1 in the paper); `augment` moves each
    /// batch by Haar-random group elements first.
    pub fn new(
        name: impl Into<String>,
        model: Symmetrized<B, I>,
        stores: Vec<NamedStore>,
        entropy_weight: f64,
        augment: bool,
    ) -> Symmetrize<B, I> {
        Symmetrize {
            name: name.into(),
            model,
            stores,
            entropy_weight,
            augment,
        }
    }

    /// The model.
    pub fn model(&self) -> &Symmetrized<B, I> {
        &self.model
    }

    /// The model, to change its mode (e.g. more samples at test time).
    pub fn model_mut(&mut self) -> &mut Symmetrized<B, I> {
        &mut self.model
    }
}

/// Moves inputs and a non-invariant target by Haar-random elements of the model's group.
fn augmented<B: Base, I: Interface>(
    model: &Symmetrized<B, I>,
    batch: &Supervised,
    rng: &mut ChaCha8Rng,
) -> Result<Supervised> {
    let g = model.sample_elements(&batch.inputs, batch.mask.as_ref(), rng)?;
    let inputs = model.act_inputs(&g, &batch.inputs, false)?;
    let target = match &batch.target {
        Target::Values(t) if model.output_rep() != Rep::Invariant => {
            Target::Values(g.act(model.output_rep(), t, false)?)
        }
        t => t.clone(),
    };
    Ok(Supervised {
        inputs,
        mask: batch.mask.clone(),
        target,
    })
}

/// The task loss of `output` against `target` and, for classes, the accuracy.
fn task_loss(output: &Tensor, target: &Target) -> Result<(Tensor, Option<f64>)> {
    match target {
        Target::Classes(y) => {
            let loss = noether_objectives::similarity::cross_entropy_from_logits(output, y)?;
            Ok((loss, Some(accuracy(output, y)?)))
        }
        Target::Values(y) => Ok((mse(output, y)?, None)),
    }
}

/// The mean of the squared error over every entry (outputs of any shape, batch first).
fn mse(output: &Tensor, y: &Tensor) -> Result<Tensor> {
    Ok(noether_objectives::mse(
        &output.flatten_from(1)?,
        &y.flatten_from(1)?,
    )?)
}

fn accuracy(logits: &Tensor, y: &Tensor) -> Result<f64> {
    let pred = logits.argmax(D::Minus1)?.to_dtype(DType::U32)?;
    let hits = pred
        .eq(&y.to_dtype(DType::U32)?)?
        .to_dtype(DType::F64)?
        .mean_all()?;
    Ok(hits.to_scalar::<f64>()?)
}

impl<B: Base, I: Interface> Method for Symmetrize<B, I> {
    type Batch = Supervised;

    fn name(&self) -> &str {
        &self.name
    }

    fn stores(&self) -> Vec<NamedStore> {
        self.stores.clone()
    }

    fn losses(&mut self, batch: &Supervised, ctx: &StepContext) -> Result<Losses> {
        let batch = if self.augment {
            augmented(&self.model, batch, &mut ctx.rng(1))?
        } else {
            batch.clone()
        };
        let out = self
            .model
            .forward(&batch.inputs, batch.mask.as_ref(), &mut ctx.rng(0), true)?;
        let (task, acc) = task_loss(&out.output, &batch.target)?;
        let name = match batch.target {
            Target::Classes(_) => "ce",
            Target::Values(_) => "mse",
        };
        let mut total = task.clone();
        let mut terms = vec![(name.to_string(), task)];
        if let Some(h) = out.entropy {
            total = (total + (&h * self.entropy_weight)?)?;
            terms.push(("entropy".into(), h));
        }
        let mut losses = Losses::new(total);
        for (n, t) in &terms {
            losses = losses.with_term(n.clone(), t)?;
        }
        if let Some(a) = acc {
            losses.terms.push(("accuracy".into(), a));
        }
        Ok(losses)
    }
}

/// The test metric of `model` on `data` in batches of `batch` (eval mode, draws from `seed`):
/// accuracy for classes, MSE for values (mean over every entry).
pub fn evaluate<B: Base, I: Interface>(
    model: &Symmetrized<B, I>,
    data: &Supervised,
    batch: usize,
    seed: u64,
) -> Result<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = data.len();
    if n == 0 || batch == 0 {
        return Err(TrainError::config("evaluate", "an empty test set or batch"));
    }
    let mut sum = 0.0;
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let idx: Vec<u32> = (start as u32..(start + len) as u32).collect();
        let part = data.select(&idx)?;
        let out = model.forward(&part.inputs, part.mask.as_ref(), &mut rng, false)?;
        let v = match &part.target {
            Target::Classes(y) => accuracy(&out.output, y)?,
            Target::Values(y) => mse(&out.output, y)?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?,
        };
        sum += v * len as f64;
        start += len;
    }
    Ok(sum / n as f64)
}

/// Whether a mode draws randomness at test time (and so has a `k`).
pub fn is_sampled(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::GroupAveraging { .. } | Mode::Probabilistic { .. } | Mode::FrameAveraging { .. }
    )
}
