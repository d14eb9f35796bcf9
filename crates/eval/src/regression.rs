//! R² of a regression head on pairs of representations, the protocol of
//! `papers/sie_3diebench.md` ("Metrics": rotation R², colour R²; SIE `eval_angle_prediction.py`
//! and `eval_color_prediction.py`): a head on the concatenated representations of two views
//! of one object regresses the action between them (relative quaternion, colour deltas, or
//! augmentation parameters), trained with MSE and Adam lr 1e-3, batch 256; the score is
//! [`crate::r2_global_mean`] on validation pairs.
//!
//! Heads: [`RegressionHead::Mlp`] `2D -> h -> h -> K` with ReLU (`h = 1024` in the reference;
//! [`noether_ops::relu`]) for rotations, [`RegressionHead::Linear`] (ContextSSL's colour head).
//! The layers are initialised `U(±1/sqrt(fan_in))` from the seed; Adam is torch-Adam (coupled
//! decay, 0 by default); the batch order is a seeded shuffle per epoch.
//!
//! The reference draws fresh random view pairs every epoch; here the pairs are given (the
//! caller builds them, and may call again with new pairs), and the number of epochs is the
//! caller's per profile (reference: 300).

use candle_core::Tensor;
use noether_ops::optim::{Adam, AdamConfig, Optimizer, ParamGroup};

use crate::check;
use crate::error::{EvalError, Result, invalid};
use crate::fit::{self, Linear};
use crate::r2::r2_global_mean;

/// Rows per block when predicting on the validation pairs.
const EVAL_CHUNK: usize = 4096;

/// The regression head.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub enum RegressionHead {
    /// `Linear(in -> K)`.
    Linear,
    /// `Linear(in -> hidden) - ReLU - Linear(hidden -> hidden) - ReLU - Linear(hidden -> K)`.
    Mlp {
        /// Hidden width (>= 1); 1024 in the reference.
        hidden: usize,
    },
}

/// Hyperparameters of the R² regression; [`Default`] is the reference protocol.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressionConfig {
    /// The head. Reference: MLP with hidden width 1024.
    pub head: RegressionHead,
    /// Passes over the training pairs (>= 1). Reference: 300.
    pub epochs: usize,
    /// Mini-batch size (>= 1). Reference: 256.
    pub batch_size: usize,
    /// Adam learning rate (> 0), constant. Reference: 1e-3.
    pub lr: f64,
    /// Coupled L2 weight decay (>= 0). Reference: 0.
    pub weight_decay: f64,
    /// Seed of the initialisation and of the batch order.
    pub seed: u64,
}

impl Default for RegressionConfig {
    fn default() -> Self {
        Self {
            head: RegressionHead::Mlp { hidden: 1024 },
            epochs: 300,
            batch_size: 256,
            lr: 1e-3,
            weight_decay: 0.0,
            seed: 0,
        }
    }
}

impl RegressionConfig {
    /// The reference protocol with `head` and `epochs` chosen by the caller (per profile).
    pub fn scaled(head: RegressionHead, epochs: usize) -> Self {
        Self {
            head,
            epochs,
            ..Self::default()
        }
    }

    /// Checks every field; errors name it (`config.<field>`).
    pub fn check(&self) -> Result<()> {
        let func = "RegressionConfig::check";
        if self.epochs == 0 {
            return Err(invalid(func, "config.epochs", "must be >= 1, got 0"));
        }
        if self.batch_size == 0 {
            return Err(invalid(func, "config.batch_size", "must be >= 1, got 0"));
        }
        if let RegressionHead::Mlp { hidden: 0 } = self.head {
            return Err(invalid(func, "config.head.hidden", "must be >= 1, got 0"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(invalid(
                func,
                "config.lr",
                format!("must be finite and > 0, got {}", self.lr),
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(invalid(
                func,
                "config.weight_decay",
                format!("must be finite and >= 0, got {}", self.weight_decay),
            ));
        }
        Ok(())
    }
}

/// What a regression run reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegressionReport {
    /// [`crate::r2_global_mean`] of the validation predictions.
    pub r2: f64,
    /// Mean squared error on the validation pairs.
    pub val_mse: f64,
    /// Mean training MSE of each epoch (the loss curve), `epochs` entries.
    pub epoch_losses: Vec<f64>,
}

/// Trains the head on `(train_inputs, train_targets)` and reports R² on the validation pairs.
///
/// Shapes: `train_inputs` `(N, 2D)` (each row the two views' representations concatenated),
/// `train_targets` `(N, K)`, `val_inputs` `(M, 2D)`, `val_targets` `(M, K)`; any float dtype,
/// trained in `f32` on the inputs' device. Errors name the argument or `config.<field>`; a
/// `val_targets` without variance has no R² (error); a diverging run is
/// [`EvalError::NonFiniteLoss`].
pub fn regression_r2(
    train_inputs: &Tensor,
    train_targets: &Tensor,
    val_inputs: &Tensor,
    val_targets: &Tensor,
    config: &RegressionConfig,
) -> Result<RegressionReport> {
    let func = "regression_r2";
    config.check()?;
    let (n, d) = check::matrix(func, "train_inputs", train_inputs)?;
    let (n2, k) = check::matrix(func, "train_targets", train_targets)?;
    if n2 != n {
        return Err(invalid(
            func,
            "train_targets",
            format!("has {n2} rows, expected {n} (as `train_inputs`)"),
        ));
    }
    let (m, d2) = check::matrix(func, "val_inputs", val_inputs)?;
    if d2 != d {
        return Err(invalid(
            func,
            "val_inputs",
            format!("has {d2} columns, expected {d} (as `train_inputs`)"),
        ));
    }
    let (m2, k2) = check::matrix(func, "val_targets", val_targets)?;
    if (m2, k2) != (m, k) {
        return Err(invalid(
            func,
            "val_targets",
            format!("has shape ({m2}, {k2}), expected ({m}, {k})"),
        ));
    }
    let device = train_inputs.device();
    let x = fit::frozen_f32(train_inputs)?;
    let y = fit::frozen_f32(train_targets)?.to_device(device)?;
    let val_x = fit::frozen_f32(val_inputs)?.to_device(device)?;
    let val_y = fit::frozen_f32(val_targets)?.to_device(device)?;

    let mut init = fit::rng(config.seed, fit::STREAM_INIT);
    let layers = match config.head {
        RegressionHead::Linear => vec![Linear::new(d, k, &mut init, device)?],
        RegressionHead::Mlp { hidden } => vec![
            Linear::new(d, hidden, &mut init, device)?,
            Linear::new(hidden, hidden, &mut init, device)?,
            Linear::new(hidden, k, &mut init, device)?,
        ],
    };
    let vars = layers.iter().flat_map(Linear::vars).collect();
    let mut opt = Adam::new(
        vec![ParamGroup::new(vars, config.weight_decay)],
        AdamConfig::default(),
    )?;
    let mut order = fit::rng(config.seed, fit::STREAM_ORDER);
    let mut epoch_losses = Vec::with_capacity(config.epochs);
    let mut step = 0usize;
    for epoch in 0..config.epochs {
        let mut sum = 0.0;
        for idx in fit::epoch_batches(n, config.batch_size, &mut order, device)? {
            let pred = forward(&layers, &x.index_select(&idx, 0)?)?; // (B, K)
            let loss = (pred - y.index_select(&idx, 0)?)?.sqr()?.mean_all()?;
            let value = f64::from(loss.to_scalar::<f32>()?);
            if !value.is_finite() {
                return Err(EvalError::NonFiniteLoss {
                    func,
                    epoch,
                    step,
                    loss: value,
                });
            }
            sum += value * idx.dims()[0] as f64;
            opt.step(&loss.backward()?, config.lr)?;
            step += 1;
        }
        epoch_losses.push(sum / n as f64);
    }

    let mut preds = Vec::new();
    let mut start = 0;
    while start < m {
        let len = EVAL_CHUNK.min(m - start);
        preds.push(forward(&layers, &val_x.narrow(0, start, len)?)?.detach());
        start += len;
    }
    let pred = Tensor::cat(&preds, 0)?; // (M, K)
    let val_mse = f64::from((&pred - &val_y)?.sqr()?.mean_all()?.to_scalar::<f32>()?);
    let r2 = r2_global_mean(&val_y, &pred)?;
    Ok(RegressionReport {
        r2,
        val_mse,
        epoch_losses,
    })
}

/// The head: linear layers with ReLU between them. `x` `(B, in)` -> `(B, K)`.
fn forward(layers: &[Linear], x: &Tensor) -> Result<Tensor> {
    let mut h = x.clone();
    for (i, layer) in layers.iter().enumerate() {
        h = layer.forward(&h)?;
        if i + 1 < layers.len() {
            h = noether_ops::relu(&h)?;
        }
    }
    Ok(h)
}
