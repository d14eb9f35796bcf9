//! Learning-rate schedules as a function of the step: constant, or linear warmup followed by a
//! half-cosine decay (SimCLR / EquiMod / BYOL: `papers/baselines.md`).

use candle_core::{Result, bail};

/// A learning-rate schedule: [`Schedule::lr`] maps a base rate and a step to the rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The base rate at every step.
    Constant,
    /// Linear warmup from `base * start_factor` at step 0 to `base` at step `warmup_steps`,
    /// then `base * (f + (1 - f) (1 + cos(pi p)) / 2)` with `f = final_factor` and
    /// `p = (step - warmup_steps) / (total_steps - warmup_steps)`, reaching `base * final_factor`
    /// at `total_steps` and staying there.
    WarmupCosine {
        /// Steps of linear warmup (0: none).
        warmup_steps: u64,
        /// Steps until the end of the cosine decay (>= `warmup_steps`).
        total_steps: u64,
        /// The rate at step 0 is `base * start_factor`.
        start_factor: f64,
        /// The rate at the end is `base * final_factor`.
        final_factor: f64,
    },
}

impl Schedule {
    /// The learning rate at `step` (counting from 0) for base rate `base_lr`.
    pub fn lr(&self, base_lr: f64, step: u64) -> f64 {
        match *self {
            Schedule::Constant => base_lr,
            Schedule::WarmupCosine {
                warmup_steps,
                total_steps,
                start_factor,
                final_factor,
            } => {
                let factor = if step < warmup_steps {
                    start_factor + (1.0 - start_factor) * step as f64 / warmup_steps as f64
                } else if step >= total_steps {
                    final_factor
                } else {
                    let p = (step - warmup_steps) as f64 / (total_steps - warmup_steps) as f64;
                    final_factor
                        + (1.0 - final_factor) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
                };
                base_lr * factor
            }
        }
    }

    /// Checks the fields (`total_steps >= warmup_steps`, factors finite and >= 0); errors name
    /// the field.
    pub fn check(&self) -> Result<()> {
        if let Schedule::WarmupCosine {
            warmup_steps,
            total_steps,
            start_factor,
            final_factor,
        } = *self
        {
            if total_steps < warmup_steps {
                bail!(
                    "Schedule.total_steps ({total_steps}) must be >= warmup_steps ({warmup_steps})"
                )
            }
            super::check_min("Schedule.start_factor", start_factor, 0.0)?;
            super::check_min("Schedule.final_factor", final_factor, 0.0)?;
        }
        Ok(())
    }
}
