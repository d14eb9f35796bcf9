//! Linear probe on frozen features, the EquiMod protocol of `papers/baselines.md`
//! ("Evaluation protocols"): `Linear(D -> C)` trained with SGD, Nesterov momentum 0.9,
//! lr 0.2, weight decay 0, batch 256, 90 epochs, cosine decay from 0.2 to 1e-4 (a final factor
//! of 5e-4), cross-entropy; top-1 and top-5 accuracy on the test features.
//!
//! This is the **frozen-feature variant**: the features are computed once by the caller (the
//! frozen encoder in eval mode) and cached, so the random-resized-crop + flip augmentation of
//! the protocol's training set is not applied here; a caller that wants it must re-embed
//! augmented images itself. [`LinearProbeConfig::scaled`] keeps every hyperparameter and
//! changes the number of epochs (the profiles' budget).
//!
//! Details: the schedule is per optimizer step (cosine over `epochs * ceil(N / batch)` steps,
//! no warmup; [`noether_ops::optim::Schedule::WarmupCosine`]); the batch order is a seeded
//! shuffle per epoch (the last batch may be smaller); the layer is initialised
//! `U(±1/sqrt(D))` from the same seed; cross-entropy through
//! [`noether_ops::log_softmax_last_dim`]. Optional per-dimension standardisation with the train
//! mean and std (off by default, not part of the protocol). Ties in the test ranking break
//! towards the lower class index.

use candle_core::{DType, Tensor};
use noether_ops::optim::{Optimizer, ParamGroup, Schedule, Sgd, SgdConfig};

use crate::check;
use crate::error::{EvalError, Result, invalid};
use crate::fit::{self, Linear};
use crate::knn::rank_of;

/// Rows per block when computing test logits.
const EVAL_CHUNK: usize = 4096;

/// Hyperparameters of the linear probe; [`Default`] is the protocol of `baselines.md`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearProbeConfig {
    /// Passes over the training features (>= 1). Protocol: 90.
    pub epochs: usize,
    /// Mini-batch size (>= 1). Protocol: 256.
    pub batch_size: usize,
    /// Base learning rate (> 0). Protocol: 0.2.
    pub lr: f64,
    /// SGD momentum in `[0, 1)`. Protocol: 0.9.
    pub momentum: f64,
    /// Nesterov momentum. Protocol: true.
    pub nesterov: bool,
    /// Coupled L2 weight decay on the weight and bias (>= 0). Protocol: 0.
    pub weight_decay: f64,
    /// The rate ends at `lr * final_lr_factor` (in `[0, 1]`). Protocol: 5e-4 (0.2 -> 1e-4).
    pub final_lr_factor: f64,
    /// Seed of the initialisation and of the batch order.
    pub seed: u64,
    /// Standardise each feature with the train mean and std first (not in the protocol).
    pub standardize: bool,
}

impl Default for LinearProbeConfig {
    fn default() -> Self {
        Self {
            epochs: 90,
            batch_size: 256,
            lr: 0.2,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.0,
            final_lr_factor: 5e-4,
            seed: 0,
            standardize: false,
        }
    }
}

impl LinearProbeConfig {
    /// The protocol with `epochs` epochs instead of 90 (profiles `smoke` / `quick`).
    pub fn scaled(epochs: usize) -> Self {
        Self {
            epochs,
            ..Self::default()
        }
    }

    /// Checks every field; errors name it (`config.<field>`).
    pub fn check(&self) -> Result<()> {
        let func = "LinearProbeConfig::check";
        if self.epochs == 0 {
            return Err(invalid(func, "config.epochs", "must be >= 1, got 0"));
        }
        if self.batch_size == 0 {
            return Err(invalid(func, "config.batch_size", "must be >= 1, got 0"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(invalid(
                func,
                "config.lr",
                format!("must be finite and > 0, got {}", self.lr),
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(invalid(
                func,
                "config.momentum",
                format!("must be in [0, 1), got {}", self.momentum),
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(invalid(
                func,
                "config.weight_decay",
                format!("must be finite and >= 0, got {}", self.weight_decay),
            ));
        }
        if !(0.0..=1.0).contains(&self.final_lr_factor) {
            return Err(invalid(
                func,
                "config.final_lr_factor",
                format!("must be in [0, 1], got {}", self.final_lr_factor),
            ));
        }
        Ok(())
    }
}

/// What a probe run reports. Accuracies are fractions in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeReport {
    /// Top-1 accuracy on the test features.
    pub top1: f64,
    /// Top-5 accuracy on the test features; `None` with fewer than 5 classes.
    pub top5: Option<f64>,
    /// Top-1 accuracy on the training features after training.
    pub train_top1: f64,
    /// Mean training cross-entropy of each epoch (the loss curve), `epochs` entries.
    pub epoch_losses: Vec<f64>,
}

/// Trains `Linear(D -> num_classes)` on frozen train features and evaluates it on the test
/// features (see the module docs for the protocol).
///
/// Shapes: `train_features` `(N, D)` with `train_labels` (`N` labels in `0..num_classes`),
/// `test_features` `(M, D)` with `test_labels` (`M` labels); any float dtype, any device (the
/// probe trains in `f32` there). Errors name the argument or `config.<field>`; a diverging run
/// is [`EvalError::NonFiniteLoss`].
pub fn linear_probe(
    train_features: &Tensor,
    train_labels: &[i64],
    test_features: &Tensor,
    test_labels: &[i64],
    num_classes: usize,
    config: &LinearProbeConfig,
) -> Result<ProbeReport> {
    let func = "linear_probe";
    config.check()?;
    if num_classes == 0 {
        return Err(invalid(func, "num_classes", "must be >= 1, got 0"));
    }
    let (n, d) = check::matrix(func, "train_features", train_features)?;
    let (m, d2) = check::matrix(func, "test_features", test_features)?;
    if d2 != d {
        return Err(invalid(
            func,
            "test_features",
            format!("has {d2} columns, expected {d} (as `train_features`)"),
        ));
    }
    let train_y = check::labels(func, "train_labels", train_labels, n, num_classes)?;
    let test_y = check::labels(func, "test_labels", test_labels, m, num_classes)?;
    let device = train_features.device();

    let mut train_x = fit::frozen_f32(train_features)?;
    let mut test_x = fit::frozen_f32(test_features)?.to_device(device)?;
    if config.standardize {
        let mean = train_x.mean_keepdim(0)?;
        let std = train_x
            .broadcast_sub(&mean)?
            .sqr()?
            .mean_keepdim(0)?
            .sqrt()?
            .maximum(1e-6)?;
        train_x = train_x.broadcast_sub(&mean)?.broadcast_div(&std)?;
        test_x = test_x.broadcast_sub(&mean)?.broadcast_div(&std)?;
    }
    // one-hot targets (N, C), built once
    let mut onehot = vec![0f32; n * num_classes];
    for (i, &c) in train_y.iter().enumerate() {
        onehot[i * num_classes + c] = 1.0;
    }
    let onehot = Tensor::from_vec(onehot, (n, num_classes), device)?;

    let layer = Linear::new(
        d,
        num_classes,
        &mut fit::rng(config.seed, fit::STREAM_INIT),
        device,
    )?;
    let mut opt = Sgd::new(
        vec![ParamGroup::new(layer.vars(), config.weight_decay)],
        SgdConfig {
            momentum: config.momentum,
            dampening: 0.0,
            nesterov: config.nesterov,
        },
    )?;
    let per_epoch = fit::batches_per_epoch(n, config.batch_size);
    let schedule = Schedule::WarmupCosine {
        warmup_steps: 0,
        total_steps: (config.epochs * per_epoch) as u64,
        start_factor: 1.0,
        final_factor: config.final_lr_factor,
    };
    let mut order_rng = fit::rng(config.seed, fit::STREAM_ORDER);
    let mut epoch_losses = Vec::with_capacity(config.epochs);
    let mut step = 0u64;
    for epoch in 0..config.epochs {
        let mut sum = 0.0;
        for idx in fit::epoch_batches(n, config.batch_size, &mut order_rng, device)? {
            let x = train_x.index_select(&idx, 0)?; // (B, D)
            let t = onehot.index_select(&idx, 0)?; // (B, C)
            let logp = noether_ops::log_softmax_last_dim(&layer.forward(&x)?)?; // (B, C)
            let loss = (logp * t)?
                .sum_all()?
                .affine(-1.0 / idx.dims()[0] as f64, 0.0)?;
            let value = f64::from(loss.to_scalar::<f32>()?);
            if !value.is_finite() {
                return Err(EvalError::NonFiniteLoss {
                    func,
                    epoch,
                    step: step as usize,
                    loss: value,
                });
            }
            sum += value * idx.dims()[0] as f64;
            opt.step(&loss.backward()?, schedule.lr(config.lr, step))?;
            step += 1;
        }
        epoch_losses.push(sum / n as f64);
    }

    let (top1, top5) = accuracy(&layer, &test_x, &test_y, num_classes)?;
    let (train_top1, _) = accuracy(&layer, &train_x, &train_y, num_classes)?;
    Ok(ProbeReport {
        top1,
        top5: (num_classes >= 5).then_some(top5),
        train_top1,
        epoch_losses,
    })
}

/// Top-1 and top-5 accuracy of `layer` on `(x, y)`, in blocks of rows.
fn accuracy(layer: &Linear, x: &Tensor, y: &[usize], classes: usize) -> Result<(f64, f64)> {
    let (mut top1, mut top5) = (0usize, 0usize);
    let n = y.len();
    let mut start = 0;
    while start < n {
        let len = EVAL_CHUNK.min(n - start);
        let logits = layer
            .forward(&x.narrow(0, start, len)?)?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        for (row, &c) in logits.chunks_exact(classes).zip(&y[start..start + len]) {
            let rank = rank_of(row, c);
            top1 += usize::from(rank <= 1);
            top5 += usize::from(rank <= 5);
        }
        start += len;
    }
    Ok((top1 as f64 / n as f64, top5 as f64 / n as f64))
}
