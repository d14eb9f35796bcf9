//! Adam (Kingma & Ba 2015) with `torch.optim.Adam` / `torch.optim.AdamW` semantics. At the
//! variable's `t`-th update, with weight decay `wd` from its group:
//!
//! - coupled (Adam, L2): `g <- g + wd w`; decoupled (AdamW): `w <- w (1 - lr wd)`;
//! - `m <- m + (1 - beta1) (g - m)`, `v <- beta2 v + (1 - beta2) g²`;
//! - `w <- w - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, bail};

use super::fused::{self, Buf, HostElem, SliceKernel};
use super::slots::{Slot, Slots};
use super::{Optimizer, ParamGroup, check_min, check_unit};

/// Hyperparameters of [`Adam`] (the learning rate is passed to each step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Decay of the first moment, in `[0, 1)`.
    pub beta1: f64,
    /// Decay of the second moment, in `[0, 1)`.
    pub beta2: f64,
    /// Added to the denominator, >= 0.
    pub eps: f64,
    /// `false`: torch-Adam (coupled L2 decay, `g += wd w` before the moments); `true`: AdamW
    /// (`w -= lr wd w`).
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    /// torch's defaults: betas (0.9, 0.999), eps 1e-8, coupled decay.
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            decoupled_weight_decay: false,
        }
    }
}

impl AdamConfig {
    /// AdamW: the defaults with decoupled weight decay.
    pub fn adamw() -> Self {
        Self {
            decoupled_weight_decay: true,
            ..Self::default()
        }
    }

    /// Checks the ranges; errors name the field.
    pub fn check(&self) -> Result<()> {
        check_unit("AdamConfig.beta1", self.beta1)?;
        check_unit("AdamConfig.beta2", self.beta2)?;
        check_min("AdamConfig.eps", self.eps, 0.0)
    }
}

/// Adam / AdamW (see the module docs).
#[derive(Debug)]
pub struct Adam {
    slots: Slots,
    cfg: AdamConfig,
}

impl Adam {
    /// Adam over `groups`; fails on an invalid config or group (negative weight decay, a
    /// variable in two groups).
    pub fn new(groups: Vec<ParamGroup>, cfg: AdamConfig) -> Result<Adam> {
        cfg.check()?;
        Ok(Adam {
            slots: Slots::new("Adam", groups, &["exp_avg", "exp_avg_sq"])?,
            cfg,
        })
    }

    /// Turns the fused CPU path on (the default) or off (candle tensor ops; for tests).
    pub fn with_fused(mut self, on: bool) -> Result<Self> {
        self.slots.set_fused(on)?;
        Ok(self)
    }
}

/// Scalars of one update: `(decay factor of w, coupled wd, step size, 1 / sqrt(bc2))`.
fn coefficients(cfg: &AdamConfig, t: u64, lr: f64, wd: f64) -> (f64, f64, f64, f64) {
    let t = i32::try_from(t).unwrap_or(i32::MAX);
    let bc1 = 1.0 - cfg.beta1.powi(t);
    let bc2 = 1.0 - cfg.beta2.powi(t);
    let (shrink, coupled) = if cfg.decoupled_weight_decay {
        (1.0 - lr * wd, 0.0)
    } else {
        (1.0, wd)
    };
    (shrink, coupled, lr / bc1, 1.0 / bc2.sqrt())
}

/// The fused Adam update of one variable.
struct Kernel<'a> {
    m: &'a mut Buf,
    v: &'a mut Buf,
    cfg: AdamConfig,
    coef: (f64, f64, f64, f64),
}

impl SliceKernel for Kernel<'_> {
    fn run<T: HostElem>(&mut self, w: &mut [T], g: &[T]) -> Result<()> {
        let (shrink, wd, step, inv_sqrt_bc2) = self.coef;
        let (shrink, wd, step, inv_sqrt_bc2) = (
            T::cast(shrink),
            T::cast(wd),
            T::cast(step),
            T::cast(inv_sqrt_bc2),
        );
        let decoupled = self.cfg.decoupled_weight_decay;
        let (a1, b2, a2) = (
            T::cast(1.0 - self.cfg.beta1),
            T::cast(self.cfg.beta2),
            T::cast(1.0 - self.cfg.beta2),
        );
        let eps = T::cast(self.cfg.eps);
        fused::zip4(w, g, T::host(self.m)?, T::host(self.v)?, |w, g, m, v| {
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
                let g = if decoupled {
                    *w *= shrink;
                    g
                } else {
                    g + wd * *w
                };
                *m = *m + a1 * (g - *m);
                *v = b2 * *v + a2 * g * g;
                *w -= step * (*m / (v.sqrt() * inv_sqrt_bc2 + eps));
            }
        });
        Ok(())
    }
}

impl Adam {
    fn update(
        cfg: AdamConfig,
        slot: &mut Slot,
        g: &Tensor,
        fused: bool,
        lr: f64,
        wd: f64,
    ) -> Result<()> {
        let coef = coefficients(&cfg, slot.t, lr, wd);
        let [m, v] = &mut slot.bufs[..] else {
            bail!("Adam: expected two state buffers")
        };
        if fused {
            let kernel = Kernel { m, v, cfg, coef };
            fused::apply("adam", &slot.var, g, kernel)?;
            return Ok(());
        }
        let (shrink, coupled, step, inv_sqrt_bc2) = coef;
        let (Buf::Dev(m0), Buf::Dev(v0)) = (&*m, &*v) else {
            bail!("Adam: expected tensor state on the composite path")
        };
        let (w, g) = if cfg.decoupled_weight_decay {
            (slot.var.affine(shrink, 0.0)?, g.clone())
        } else {
            let w = slot.var.as_tensor().clone();
            let g = (g + w.affine(coupled, 0.0)?)?;
            (w, g)
        };
        let m1 = (m0 + (&g - m0)?.affine(1.0 - cfg.beta1, 0.0)?)?;
        let v1 = (v0.affine(cfg.beta2, 0.0)? + g.sqr()?.affine(1.0 - cfg.beta2, 0.0)?)?;
        let denom = v1.sqrt()?.affine(inv_sqrt_bc2, cfg.eps)?;
        let w1 = (w - (&m1 / denom)?.affine(step, 0.0)?)?;
        *m = Buf::Dev(m1);
        *v = Buf::Dev(v1);
        slot.var.set(&w1)
    }
}

impl Optimizer for Adam {
    fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        let cfg = self.cfg;
        self.slots.step("Adam", grads, lr, |slot, g, fused, wd, _| {
            Self::update(cfg, slot, g, fused, lr, wd)
        })
    }

    fn steps(&self) -> u64 {
        self.slots.steps
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        self.slots.state()
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        self.slots.load_state("Adam", state)
    }
}
