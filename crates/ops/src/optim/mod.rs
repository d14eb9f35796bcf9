//! Optimizers, learning-rate schedules, gradient clipping and EMA targets, updating
//! [`candle_core::Var`]s in place.
//!
//! - [`Sgd`]: `torch.optim.SGD` (momentum, dampening, Nesterov, coupled weight decay).
//! - [`Adam`]: `torch.optim.Adam` (coupled L2) or `torch.optim.AdamW` (decoupled decay), as
//!   chosen by [`AdamConfig::decoupled_weight_decay`]; the ContextSSL and SIE reference code use
//!   the coupled form (`papers/baselines.md`, "Torch-Adam vs AdamW").
//! - [`Lars`]: LARS as in the EquiMod reference code (`src/lars.py`, `LARSW`), with the learning
//!   rate inside the momentum buffer.
//! - [`Schedule`]: constant, or linear warmup then cosine decay; [`byol_tau`]: BYOL's EMA rate.
//! - [`clip_grad_norm`]: `torch.nn.utils.clip_grad_norm_`; [`ema_update`]: target networks.
//!
//! ## Fused updates
//!
//! On the CPU with `f32`/`f64` contiguous variables, each variable's update is **one pass** over
//! its raw slices (parameter, gradient, state), written into the variable's own storage through
//! a candle in-place op, in parallel over chunks of 32k elements for large tensors (LARS first
//! takes one reduction pass for its two norms). Optimizer state is then kept as plain host
//! vectors. On other devices or dtypes (or with `with_fused(false)`, meant for tests) the same
//! math runs as candle tensor ops with state kept as tensors, and the new value is written with
//! [`Var::set`]. Results do not depend on the thread count.
//!
//! ## State
//!
//! [`Optimizer::state`] returns named tensors (`steps`, then per variable `{i}.step` and its
//! buffers such as `{i}.exp_avg`, `i` counting variables across groups in order) holding the
//! exact values, so a run restored with [`Optimizer::load_state`] continues bit-identically.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use noether_ops::optim::{Adam, AdamConfig, Optimizer, ParamGroup, Schedule};
//! let w = Var::new(&[1.0f32, -2.0, 3.0], &Device::Cpu)?;
//! let mut opt = Adam::new(vec![ParamGroup::new(vec![w.clone()], 1e-2)], AdamConfig::default())?;
//! let sched = Schedule::WarmupCosine { warmup_steps: 2, total_steps: 10, start_factor: 0.1, final_factor: 0.0 };
//! for step in 0..10 {
//!     let loss = w.as_tensor().sqr()?.sum_all()?;
//!     opt.step(&loss.backward()?, sched.lr(0.1, step))?;
//! }
//! assert_eq!(opt.steps(), 10);
//! assert!(w.as_tensor().sqr()?.sum_all()?.to_scalar::<f32>()? < 14.0);
//! # Ok::<(), candle_core::Error>(())
//! ```

mod adam;
mod clip;
mod ema;
mod fused;
mod lars;
mod schedule;
mod sgd;
mod slots;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

pub use adam::{Adam, AdamConfig};
pub use clip::clip_grad_norm;
pub use ema::{byol_tau, ema_update};
pub use lars::{Lars, LarsConfig};
pub use schedule::Schedule;
pub use sgd::{Sgd, SgdConfig};

/// A group of variables sharing hyperparameters.
#[derive(Debug, Clone)]
pub struct ParamGroup {
    /// The variables of the group.
    pub vars: Vec<Var>,
    /// Weight decay (coupled for [`Sgd`], [`Lars`] and torch-Adam, decoupled for AdamW).
    pub weight_decay: f64,
    /// LARS: apply the trust ratio and the weight decay; `false` for biases and norm parameters
    /// (plain momentum SGD). Ignored by the other optimizers.
    pub lars_adapt: bool,
}

impl ParamGroup {
    /// A group with weight decay `weight_decay` and LARS adaptation on.
    pub fn new(vars: Vec<Var>, weight_decay: f64) -> Self {
        Self {
            vars,
            weight_decay,
            lars_adapt: true,
        }
    }

    /// A group without weight decay or LARS adaptation (biases, norm parameters).
    pub fn no_decay(vars: Vec<Var>) -> Self {
        Self {
            vars,
            weight_decay: 0.0,
            lars_adapt: false,
        }
    }
}

/// An optimizer over groups of variables.
pub trait Optimizer {
    /// One update of every variable that has a gradient in `grads`, at learning rate `lr`.
    /// Variables without a gradient are left alone (their state does not advance).
    fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()>;

    /// Number of steps taken.
    fn steps(&self) -> u64;

    /// The state as named tensors (for a checkpoint): exact copies of the buffers.
    fn state(&self) -> Result<Vec<(String, Tensor)>>;

    /// Restores a state written by [`Optimizer::state`] of an optimizer built over the same
    /// variables (same groups, order and shapes); errors name the missing or mismatched entry.
    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()>;
}

/// Fails unless `v` is finite and at least `min`, naming `field`.
pub(crate) fn check_min(field: &str, v: f64, min: f64) -> Result<()> {
    if !v.is_finite() || v < min {
        candle_core::bail!("{field} must be finite and >= {min} (got {v})")
    }
    Ok(())
}

/// Fails unless `v` lies in `[0, 1)`, naming `field`.
pub(crate) fn check_unit(field: &str, v: f64) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        candle_core::bail!("{field} must be in [0, 1) (got {v})")
    }
    Ok(())
}
