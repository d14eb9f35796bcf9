//! The bookkeeping every optimizer shares: variables with their group, per-variable step counts
//! and state buffers, validation of the groups, and saving / restoring the state by name.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var, bail};

use super::fused::{Buf, fusable};
use super::{ParamGroup, check_min};

/// One variable and its optimizer state.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The variable.
    pub var: Var,
    /// Index of its group.
    pub group: usize,
    /// Updates applied to it so far (torch's per-parameter `step`).
    pub t: u64,
    /// Its state buffers, in the optimizer's order; empty before its first update.
    pub bufs: Vec<Buf>,
}

/// Every variable of an optimizer, its groups' hyperparameters and the step count.
#[derive(Debug)]
pub(crate) struct Slots {
    /// `(weight_decay, lars_adapt)` per group.
    pub groups: Vec<(f64, bool)>,
    /// Variables across groups, in order.
    pub slots: Vec<Slot>,
    /// Steps taken.
    pub steps: u64,
    /// Whether the fused CPU path may be used.
    pub fused: bool,
    /// Names of the state buffers of one variable.
    names: &'static [&'static str],
}

impl Slots {
    /// Validates `groups` (weight decay finite and >= 0, no variable twice) for optimizer `what`.
    pub fn new(
        what: &str,
        groups: Vec<ParamGroup>,
        names: &'static [&'static str],
    ) -> Result<Self> {
        let mut seen = std::collections::HashSet::new();
        let mut hyper = Vec::with_capacity(groups.len());
        let mut slots = Vec::new();
        for (gi, g) in groups.into_iter().enumerate() {
            check_min(
                &format!("{what}: groups[{gi}].weight_decay"),
                g.weight_decay,
                0.0,
            )?;
            hyper.push((g.weight_decay, g.lars_adapt));
            for (vi, var) in g.vars.into_iter().enumerate() {
                if !seen.insert(var.id()) {
                    bail!("{what}: groups[{gi}].vars[{vi}] appears more than once")
                }
                slots.push(Slot {
                    var,
                    group: gi,
                    t: 0,
                    bufs: Vec::new(),
                });
            }
        }
        Ok(Self {
            groups: hyper,
            slots,
            steps: 0,
            fused: true,
            names,
        })
    }

    /// Turns the fused CPU path on or off, converting any existing state.
    pub fn set_fused(&mut self, on: bool) -> Result<()> {
        self.fused = on;
        for s in &mut self.slots {
            let f = on && fusable(&s.var);
            for b in &mut s.bufs {
                *b = Buf::from_tensor(&b.to_tensor(&s.var)?, &s.var, f, "buffer")?;
            }
        }
        Ok(())
    }

    /// Runs `update(slot, grad, fused, weight_decay, lars_adapt)` for every variable with a
    /// gradient, after creating its zeroed buffers on its first update and counting the update.
    pub fn step<F>(&mut self, what: &str, grads: &GradStore, lr: f64, mut update: F) -> Result<()>
    where
        F: FnMut(&mut Slot, &Tensor, bool, f64, bool) -> Result<()>,
    {
        check_min(&format!("{what}: lr"), lr, 0.0)?;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            if g.dims() != slot.var.dims() {
                bail!(
                    "{what}: gradient of variable {i} has shape {:?}, the variable {:?}",
                    g.dims(),
                    slot.var.dims()
                )
            }
            let fused = self.fused && fusable(&slot.var);
            if slot.t == 0 {
                slot.bufs = self
                    .names
                    .iter()
                    .map(|_| Buf::zeros_like(&slot.var, fused))
                    .collect::<Result<_>>()?;
            }
            slot.t += 1;
            let (wd, adapt) = self.groups[slot.group];
            update(slot, g, fused, wd, adapt)?;
        }
        self.steps += 1;
        Ok(())
    }

    /// The state as named tensors (see the module docs for the names).
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![("steps".to_string(), count(self.steps)?)];
        for (i, s) in self.slots.iter().enumerate() {
            out.push((format!("{i}.step"), count(s.t)?));
            for (name, b) in self.names.iter().zip(&s.bufs) {
                out.push((format!("{i}.{name}"), b.to_tensor(&s.var)?));
            }
        }
        Ok(out)
    }

    /// Restores a state from [`Slots::state`]; on error nothing is changed.
    pub fn load_state(&mut self, what: &str, state: &[(String, Tensor)]) -> Result<()> {
        let map: HashMap<&str, &Tensor> = state.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let get = |k: &str| match map.get(k) {
            Some(t) => Ok(*t),
            None => bail!("{what}: state has no entry `{k}`"),
        };
        let steps = read_count(get("steps")?, "steps")?;
        let mut loaded = Vec::with_capacity(self.slots.len());
        for (i, s) in self.slots.iter().enumerate() {
            let key = format!("{i}.step");
            let t = read_count(get(&key)?, &key)?;
            let fused = self.fused && fusable(&s.var);
            let mut bufs = Vec::new();
            if t > 0 {
                for name in self.names {
                    let key = format!("{i}.{name}");
                    bufs.push(Buf::from_tensor(get(&key)?, &s.var, fused, &key)?);
                }
            }
            loaded.push((t, bufs));
        }
        if map.len() != state.len() {
            bail!("{what}: state has duplicate entries")
        }
        self.steps = steps;
        for (s, (t, bufs)) in self.slots.iter_mut().zip(loaded) {
            s.t = t;
            s.bufs = bufs;
        }
        Ok(())
    }
}

/// A step count as an `i64` scalar tensor.
fn count(n: u64) -> Result<Tensor> {
    let n = i64::try_from(n)
        .map_err(|_| candle_core::Error::Msg(format!("step count {n} overflows i64")))?;
    Tensor::new(n, &Device::Cpu)
}

/// The step count in `t`, which must be a non-negative integer scalar.
fn read_count(t: &Tensor, name: &str) -> Result<u64> {
    if t.rank() != 0 {
        bail!(
            "optimizer state `{name}`: expected a scalar, got shape {:?}",
            t.dims()
        )
    }
    let v = t.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    if !(v >= 0.0 && v.fract() == 0.0 && v < 9.0e15) {
        bail!("optimizer state `{name}`: expected a non-negative integer, got {v}")
    }
    Ok(v as u64)
}
