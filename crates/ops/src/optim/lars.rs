//! LARS (You, Gitman & Ginsburg 2017) exactly as the EquiMod reference code applies it
//! (`src/lars.py`, `LARSW` with `lars_weight` 1 for adapted groups, 0 otherwise; see
//! `papers/baselines.md`, "LARS (as used by EquiMod)").
//!
//! For a variable of a group with `lars_adapt`: `g <- g + wd w`, then the trust ratio
//! `local = eta |w| / |g|` (1 when either norm is 0) and the scaled step `s = lr local g`. In a
//! group without it: no decay, no trust ratio, `s = lr g`. The **learning rate is inside the
//! momentum buffer**, as in the reference: `b <- s` on the first update, then
//! `b <- momentum b + s`; and `w <- w - b`. (torch's SGD keeps `lr` outside the buffer; the two
//! differ whenever the learning rate changes.)

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor};

use super::fused::{self, Buf, HostElem, SliceKernel, chunk_sum, sum_sq};
use super::slots::{Slot, Slots};
use super::{Optimizer, ParamGroup, check_min};

/// Hyperparameters of [`Lars`] (the learning rate is passed to each step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LarsConfig {
    /// Momentum factor, >= 0.
    pub momentum: f64,
    /// Trust coefficient, >= 0.
    pub eta: f64,
}

impl Default for LarsConfig {
    /// EquiMod's settings: momentum 0.9, eta 1e-3.
    fn default() -> Self {
        Self {
            momentum: 0.9,
            eta: 1e-3,
        }
    }
}

impl LarsConfig {
    /// Checks the ranges; errors name the field.
    pub fn check(&self) -> Result<()> {
        check_min("LarsConfig.momentum", self.momentum, 0.0)?;
        check_min("LarsConfig.eta", self.eta, 0.0)
    }
}

/// LARS with momentum (see the module docs).
#[derive(Debug)]
pub struct Lars {
    slots: Slots,
    cfg: LarsConfig,
}

impl Lars {
    /// LARS over `groups`; fails on an invalid config or group (negative weight decay, a
    /// variable in two groups).
    pub fn new(groups: Vec<ParamGroup>, cfg: LarsConfig) -> Result<Lars> {
        cfg.check()?;
        Ok(Lars {
            slots: Slots::new("Lars", groups, &["momentum_buffer"])?,
            cfg,
        })
    }

    /// Turns the fused CPU path on (the default) or off (candle tensor ops; for tests).
    pub fn with_fused(mut self, on: bool) -> Result<Self> {
        self.slots.set_fused(on)?;
        Ok(self)
    }
}

/// The trust ratio `eta |w| / |g|`, 1 when either squared norm is 0.
fn trust(eta: f64, w_sq: f64, g_sq: f64) -> f64 {
    if w_sq > 0.0 && g_sq > 0.0 {
        eta * w_sq.sqrt() / g_sq.sqrt()
    } else {
        1.0
    }
}

/// The fused LARS update of one variable: a norm pass (adapted groups), then the update pass.
struct Kernel<'a> {
    buf: &'a mut Buf,
    first: bool,
    lr: f64,
    wd: f64,
    adapt: bool,
    cfg: LarsConfig,
}

impl SliceKernel for Kernel<'_> {
    fn run<T: HostElem>(&mut self, w: &mut [T], g: &[T]) -> Result<()> {
        let wd = T::cast(self.wd);
        let scale = if self.adapt {
            let (w_sq, g_sq) = chunk_sum(w, g, |w, g| {
                let mut acc = (0.0, 0.0);
                for (&w, &g) in w.iter().zip(g) {
                    let d = (g + wd * w).wide();
                    acc.0 += w.wide() * w.wide();
                    acc.1 += d * d;
                }
                Pair(acc.0, acc.1)
            })
            .into();
            self.lr * trust(self.cfg.eta, w_sq, g_sq)
        } else {
            self.lr
        };
        let (scale, mom, first) = (T::cast(scale), T::cast(self.cfg.momentum), self.first);
        fused::zip3(w, g, T::host(self.buf)?, |w, g, b| {
            for ((w, &g), b) in w.iter_mut().zip(g).zip(b) {
                let s = scale * (g + wd * *w);
                *b = if first { s } else { mom * *b + s };
                *w -= *b;
            }
        });
        Ok(())
    }
}

/// A pair of `f64` sums.
#[derive(Default)]
struct Pair(f64, f64);

impl std::ops::Add for Pair {
    type Output = Pair;
    fn add(self, o: Pair) -> Pair {
        Pair(self.0 + o.0, self.1 + o.1)
    }
}

impl From<Pair> for (f64, f64) {
    fn from(p: Pair) -> (f64, f64) {
        (p.0, p.1)
    }
}

impl Lars {
    fn update(
        cfg: LarsConfig,
        slot: &mut Slot,
        g: &Tensor,
        fused: bool,
        lr: f64,
        wd: f64,
        adapt: bool,
    ) -> Result<()> {
        let wd = if adapt { wd } else { 0.0 };
        let first = slot.t == 1;
        let Some(buf) = slot.bufs.first_mut() else {
            candle_core::bail!("Lars: expected a momentum buffer")
        };
        if fused {
            let kernel = Kernel {
                buf,
                first,
                lr,
                wd,
                adapt,
                cfg,
            };
            fused::apply("lars", &slot.var, g, kernel)?;
            return Ok(());
        }
        let w = slot.var.as_tensor();
        let d = (g + w.affine(wd, 0.0)?)?;
        let scale = if adapt {
            lr * trust(cfg.eta, sum_sq(w)?, sum_sq(&d)?)
        } else {
            lr
        };
        let s = d.affine(scale, 0.0)?;
        let b = match (&*buf, first) {
            (Buf::Dev(b), false) => (b.affine(cfg.momentum, 0.0)? + s)?,
            _ => s,
        };
        *buf = Buf::Dev(b.clone());
        slot.var.set(&(w - b)?)
    }
}

impl Optimizer for Lars {
    fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        let cfg = self.cfg;
        self.slots
            .step("Lars", grads, lr, |slot, g, fused, wd, adapt| {
                Self::update(cfg, slot, g, fused, lr, wd, adapt)
            })
    }

    fn steps(&self) -> u64 {
        self.slots.steps
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        self.slots.state()
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        self.slots.load_state("Lars", state)
    }
}
