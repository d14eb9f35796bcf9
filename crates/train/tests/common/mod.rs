//! A toy method and a synthetic source for the trainer tests: a 4 -> 6 linear layer, a batch
//! norm, ReLU, a dropout-like mask drawn from the step's RNG, a 6 -> 2 linear layer, MSE against
//! a noisy linear target; plus an EMA target copy of the network updated after every step.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::Linear;
use noether_models::{BatchNorm, BatchNormConfig, ParamStore};
use noether_ops::optim::{byol_tau, ema_update};
use noether_train::{
    BatchSource, Losses, Method, NamedStore, OptimizerConfig, Result, ScheduleConfig, StepContext,
    TrainConfig, TrainError,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The network: fc1 -> bn -> relu -> mask -> fc2.
struct Net {
    fc1: Linear,
    bn: BatchNorm,
    fc2: Linear,
}

impl Net {
    fn new(store: &ParamStore, hidden: usize) -> Result<Net> {
        let vb = store.var_builder(DType::F32, &Device::Cpu);
        Ok(Net {
            fc1: candle_nn::linear(4, hidden, vb.pp("fc1"))?,
            bn: BatchNorm::new(hidden, BatchNormConfig::default(), vb.pp("bn"))?,
            fc2: candle_nn::linear(hidden, 2, vb.pp("fc2"))?,
        })
    }

    fn forward(&self, x: &Tensor, mask: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let h = self.fc1.forward(x)?; // (N, H)
        let h = self.bn.forward_t(&h, train)?;
        let h = noether_ops::relu(&h)?;
        let h = match mask {
            Some(m) => (h * m)?,
            None => h,
        };
        Ok(self.fc2.forward(&h)?) // (N, 2)
    }
}

/// The toy method.
pub struct Toy {
    pub online: ParamStore,
    pub target: ParamStore,
    net: Net,
    target_net: Net,
    hidden: usize,
    /// Set this flag in `after_step` of step index `.0`.
    pub stop_after: Option<(u64, Arc<AtomicBool>)>,
    /// Make the `mse` term NaN at this step index.
    pub nan_at: Option<u64>,
}

impl Toy {
    pub fn new(hidden: usize) -> Result<Toy> {
        let online = ParamStore::seeded(11);
        let target = ParamStore::seeded(11);
        let net = Net::new(&online, hidden)?;
        let target_net = Net::new(&target, hidden)?;
        Ok(Toy {
            online,
            target,
            net,
            target_net,
            hidden,
            stop_after: None,
            nan_at: None,
        })
    }

    /// Every variable of every store, by `store/name`, as `f64` bit patterns.
    pub fn snapshot(&self) -> Result<HashMap<String, Vec<u64>>> {
        let mut out = HashMap::new();
        for s in self.stores() {
            for p in s.store.all()? {
                let v: Vec<f64> = p
                    .var
                    .as_tensor()
                    .flatten_all()?
                    .to_dtype(DType::F64)?
                    .to_vec1()?;
                out.insert(
                    format!("{}/{}", s.name, p.name),
                    v.iter().map(|x| x.to_bits()).collect(),
                );
            }
        }
        Ok(out)
    }
}

impl Method for Toy {
    type Batch = (Tensor, Tensor);

    fn name(&self) -> &str {
        "toy"
    }

    fn stores(&self) -> Vec<NamedStore> {
        vec![
            NamedStore::trained("online", self.online.clone()),
            NamedStore::frozen("target", self.target.clone()),
        ]
    }

    fn losses(&mut self, batch: &(Tensor, Tensor), ctx: &StepContext) -> Result<Losses> {
        let (x, y) = batch;
        let n = x.dim(0)?;
        let mut rng = ctx.rng(1);
        let keep: Vec<f32> = (0..n * self.hidden)
            .map(|_| if rng.random::<f64>() < 0.8 { 1.25 } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(keep, (n, self.hidden), &Device::Cpu)?;
        let pred = self.net.forward(x, Some(&mask), true)?;
        let mut mse = (pred - y)?.sqr()?.mean_all()?;
        if self.nan_at == Some(ctx.step) {
            mse = (mse * f64::NAN)?;
        }
        let target_pred = self.target_net.forward(x, None, false)?.detach();
        let target_mse = (target_pred - y)?.sqr()?.mean_all()?;
        Losses::new(mse.clone())
            .with_term("mse", &mse)?
            .with_term("target_mse", &target_mse)
    }

    fn after_step(&mut self, ctx: &StepContext) -> Result<()> {
        let t: Vec<_> = self
            .target
            .trainable()?
            .into_iter()
            .map(|p| p.var)
            .collect();
        let o: Vec<_> = self
            .online
            .trainable()?
            .into_iter()
            .map(|p| p.var)
            .collect();
        ema_update(&t, &o, byol_tau(0.9, ctx.step, ctx.total_steps))?;
        if let Some((k, flag)) = &self.stop_after
            && *k == ctx.step
        {
            flag.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Regression batches that are a function of (seed, position).
pub struct Synthetic {
    pub seed: u64,
    pub pos: u64,
}

impl Synthetic {
    pub fn new(seed: u64) -> Synthetic {
        Synthetic { seed, pos: 0 }
    }
}

impl BatchSource for Synthetic {
    type Batch = (Tensor, Tensor);

    fn next_batch(&mut self) -> Result<(Tensor, Tensor)> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_mul(1_000_003) ^ self.pos);
        self.pos += 1;
        let n = 8;
        let x: Vec<f32> = (0..n * 4).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut y = Vec::with_capacity(n * 2);
        for r in 0..n {
            let a = &x[r * 4..r * 4 + 4];
            y.push(a[0] - 0.5 * a[1] + 0.1 * rng.random_range(-1.0f32..1.0));
            y.push(a[2] * a[3] + 0.3);
        }
        Ok((
            Tensor::from_vec(x, (n, 4), &Device::Cpu)?,
            Tensor::from_vec(y, (n, 2), &Device::Cpu)?,
        ))
    }

    fn cursor(&self) -> serde_json::Value {
        serde_json::json!({ "pos": self.pos })
    }

    fn restore(&mut self, cursor: &serde_json::Value) -> Result<()> {
        self.pos = cursor
            .get("pos")
            .and_then(|p| p.as_u64())
            .ok_or_else(|| TrainError::Source(format!("bad cursor {cursor}")))?;
        Ok(())
    }

    fn batch_items(&self) -> usize {
        8
    }
}

pub fn sgd_nesterov() -> OptimizerConfig {
    OptimizerConfig::Sgd {
        lr: 0.05,
        momentum: 0.9,
        nesterov: true,
        weight_decay: 1e-3,
    }
}

pub fn adamw() -> OptimizerConfig {
    OptimizerConfig::Adamw {
        lr: 1e-2,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.05,
    }
}

pub fn lars() -> OptimizerConfig {
    OptimizerConfig::Lars {
        lr: 0.5,
        momentum: 0.9,
        eta: 0.02,
        weight_decay: 1e-4,
    }
}

/// 12 steps, checkpoint every 4, warmup 3 then cosine, clipping at 1.
pub fn config(optimizer: OptimizerConfig) -> TrainConfig {
    let mut c = TrainConfig::new(12, 5, optimizer);
    c.schedule = ScheduleConfig::WarmupCosine {
        warmup_steps: 3,
        start_factor: 0.1,
        final_factor: 0.01,
    };
    c.clip_grad_norm = Some(1.0);
    c.checkpoint_every = 4;
    c
}

/// The parsed lines of `<dir>/metrics.jsonl`.
pub fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .expect("metrics.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The tensors of a checkpoint's optimizer state, as `f64` bit patterns by name.
pub fn optimizer_state(dir: &Path) -> Result<Vec<(String, Vec<u64>)>> {
    let ck = noether_train::Checkpoint::read(dir)?;
    let mut out = Vec::new();
    for (k, t) in ck.optimizer {
        let v: Vec<f64> = t.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
        out.push((k, v.iter().map(|x| x.to_bits()).collect()));
    }
    Ok(out)
}

/// The gradient's sum of |g| for every trainable variable of every trained store, by
/// `store/name` (`None`: no gradient at all), after one `losses()` + `backward()`.
pub fn gradients<M: Method>(
    method: &mut M,
    batch: &M::Batch,
) -> Result<BTreeMap<String, Option<f64>>> {
    let ctx = StepContext {
        step: 0,
        total_steps: 1,
        lr: 0.1,
        seed: 0,
    };
    let grads = method.losses(batch, &ctx)?.total.backward()?;
    let mut out = BTreeMap::new();
    for s in method.stores().into_iter().filter(|s| s.trained) {
        for p in s.store.trainable()? {
            let g = match grads.get(p.var.as_tensor()) {
                Some(g) => Some(
                    g.abs()?
                        .sum_all()?
                        .to_dtype(DType::F64)?
                        .to_scalar::<f64>()?,
                ),
                None => None,
            };
            out.insert(format!("{}/{}", s.name, p.name), g);
        }
    }
    Ok(out)
}
