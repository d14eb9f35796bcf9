//! Stochastic gradient descent with momentum, `torch.optim.SGD` semantics: with `d = g + wd w`
//! (coupled weight decay from the group), the momentum buffer starts at `b = d` and then follows
//! `b <- momentum b + (1 - dampening) d`; the step is `w <- w - lr u` with `u = d + momentum b`
//! (Nesterov) or `u = b`. With momentum 0 there is no buffer and `u = d`.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, bail};

use super::fused::{self, Buf, HostElem, SliceKernel};
use super::slots::{Slot, Slots};
use super::{Optimizer, ParamGroup, check_min};

/// Hyperparameters of [`Sgd`] (the learning rate is passed to each step).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Momentum factor, >= 0 (0: plain SGD).
    pub momentum: f64,
    /// Dampening of the gradient added to the momentum buffer, in `[0, 1]`.
    pub dampening: f64,
    /// Nesterov momentum (needs momentum > 0 and dampening 0, as in torch).
    pub nesterov: bool,
}

impl Default for SgdConfig {
    /// torch's defaults: no momentum, no dampening, no Nesterov.
    fn default() -> Self {
        Self {
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
        }
    }
}

impl SgdConfig {
    /// Checks the ranges; errors name the field.
    pub fn check(&self) -> Result<()> {
        check_min("SgdConfig.momentum", self.momentum, 0.0)?;
        if !(0.0..=1.0).contains(&self.dampening) {
            bail!(
                "SgdConfig.dampening must be in [0, 1] (got {})",
                self.dampening
            )
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            bail!("SgdConfig.nesterov needs momentum > 0 and dampening 0")
        }
        Ok(())
    }
}

/// SGD with momentum (see the module docs).
#[derive(Debug)]
pub struct Sgd {
    slots: Slots,
    cfg: SgdConfig,
}

const WITH_MOMENTUM: &[&str] = &["momentum_buffer"];

impl Sgd {
    /// SGD over `groups`; fails on an invalid config or group (negative weight decay, a variable
    /// in two groups).
    pub fn new(groups: Vec<ParamGroup>, cfg: SgdConfig) -> Result<Sgd> {
        cfg.check()?;
        let names = if cfg.momentum > 0.0 {
            WITH_MOMENTUM
        } else {
            &[]
        };
        Ok(Sgd {
            slots: Slots::new("Sgd", groups, names)?,
            cfg,
        })
    }

    /// Turns the fused CPU path on (the default) or off (candle tensor ops; for tests).
    pub fn with_fused(mut self, on: bool) -> Result<Self> {
        self.slots.set_fused(on)?;
        Ok(self)
    }
}

/// The fused SGD update of one variable.
struct Kernel<'a> {
    buf: Option<&'a mut Buf>,
    first: bool,
    lr: f64,
    wd: f64,
    cfg: SgdConfig,
}

impl SliceKernel for Kernel<'_> {
    fn run<T: HostElem>(&mut self, w: &mut [T], g: &[T]) -> Result<()> {
        let (lr, wd) = (T::cast(self.lr), T::cast(self.wd));
        let (mom, damp) = (
            T::cast(self.cfg.momentum),
            T::cast(1.0 - self.cfg.dampening),
        );
        let (first, nesterov) = (self.first, self.cfg.nesterov);
        match self.buf.as_deref_mut() {
            None => fused::zip2(w, g, |w, g| {
                for (w, &g) in w.iter_mut().zip(g) {
                    *w = *w - lr * (g + wd * *w);
                }
            }),
            Some(buf) => fused::zip3(w, g, T::host(buf)?, |w, g, b| {
                for ((w, &g), b) in w.iter_mut().zip(g).zip(b) {
                    let d = g + wd * *w;
                    *b = if first { d } else { mom * *b + damp * d };
                    let u = if nesterov { d + mom * *b } else { *b };
                    *w -= lr * u;
                }
            }),
        }
        Ok(())
    }
}

impl Sgd {
    fn update(
        cfg: SgdConfig,
        slot: &mut Slot,
        g: &Tensor,
        fused: bool,
        lr: f64,
        wd: f64,
    ) -> Result<()> {
        let first = slot.t == 1;
        if fused {
            let kernel = Kernel {
                buf: slot.bufs.first_mut(),
                first,
                lr,
                wd,
                cfg,
            };
            fused::apply("sgd", &slot.var, g, kernel)?;
            return Ok(());
        }
        let w = slot.var.as_tensor();
        let d = (g + w.affine(wd, 0.0)?)?;
        let u = match slot.bufs.first_mut() {
            None => d,
            Some(buf) => {
                let b = match (&*buf, first) {
                    (Buf::Dev(b), false) => {
                        (b.affine(cfg.momentum, 0.0)? + d.affine(1.0 - cfg.dampening, 0.0)?)?
                    }
                    _ => d.clone(),
                };
                *buf = Buf::Dev(b.clone());
                if cfg.nesterov {
                    (d + b.affine(cfg.momentum, 0.0)?)?
                } else {
                    b
                }
            }
        };
        slot.var.set(&(w - u.affine(lr, 0.0)?)?)
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        let cfg = self.cfg;
        self.slots.step("Sgd", grads, lr, |slot, g, fused, wd, _| {
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
        self.slots.load_state("Sgd", state)
    }
}
