//! The training step that `cargo xtask bench` and the criterion bench `step` time: one SimCLR
//! step as a user runs it (the [`Trainer`](crate::Trainer)'s loop body without the logging) on a
//! fixed batch of image pairs.
//!
//! A step is: both views concatenated into one batch of `2 N` images, the backbone and the
//! SimCLR projector (`feature -> 2048 -> 2048 -> 128`, batch norm) in one forward pass, NT-Xent
//! (`T = 0.5`), backward, AdamW (`lr` 1e-3, weight decay 1e-4 on weights). The workloads are the
//! ones of the issue that set the CPU targets, with PyTorch's twin in `scripts/bench_torch.py`:
//!
//! - [`StepModel::Resnet18`]: ResNet-18 with the CIFAR stem (3x3 stride-1 first convolution, no
//!   max pool), 512-d features;
//! - [`StepModel::Vit`]: ViT-Tiny for 32x32 images (patch 4, width 192, depth 6, 3 heads, MLP
//!   ratio 4), class-token features.
//!
//! ```no_run
//! use noether_train::bench::{StepBench, StepModel};
//! let mut bench = StepBench::new(StepModel::Resnet18, 64, 32, 0)?;
//! let loss = bench.step()?; // one forward, backward and AdamW update
//! assert!(loss.is_finite());
//! # Ok::<(), noether_train::TrainError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use noether_models::{Backbone, ParamStore, ResNet, ResNetConfig, Vit, VitConfig};
use noether_ops::optim::Optimizer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::OptimizerConfig;
use crate::error::{Result, TrainError};
use crate::method::{Method, StepContext};
use crate::methods::{SimClr, SimClrConfig, ViewPair};

/// The backbone of a benchmarked step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepModel {
    /// ResNet-18, CIFAR stem.
    Resnet18,
    /// ViT-Tiny, patch 4, depth 6.
    Vit,
}

impl StepModel {
    /// Both workloads, in report order.
    pub const ALL: [StepModel; 2] = [StepModel::Resnet18, StepModel::Vit];

    /// The name used on the command line and in reports (`resnet18`, `vit`).
    pub fn name(self) -> &'static str {
        match self {
            StepModel::Resnet18 => "resnet18",
            StepModel::Vit => "vit",
        }
    }

    /// A one-line description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            StepModel::Resnet18 => "ResNet-18 (CIFAR stem)",
            StepModel::Vit => "ViT (patch 4, width 192, depth 6, 3 heads)",
        }
    }
}

impl fmt::Display for StepModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StepModel {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<StepModel> {
        StepModel::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                TrainError::config("workload", format!("unknown {s:?} (resnet18 or vit)"))
            })
    }
}

/// The SimCLR method on one of the two backbones.
enum Net {
    Resnet(SimClr<ResNet>),
    Vit(SimClr<Vit>),
}

/// SimCLR with `cfg` on `backbone`, its parameters in `store`, on the CPU.
fn simclr<B: Backbone>(store: &ParamStore, cfg: &SimClrConfig, backbone: B) -> Result<SimClr<B>> {
    SimClr::new(store.clone(), backbone, cfg, DType::F32, &Device::Cpu)
}

/// A model, its optimizer and a fixed batch: [`StepBench::step`] runs one training step.
pub struct StepBench {
    net: Net,
    optimizer: Box<dyn Optimizer>,
    batch: ViewPair,
    step: u64,
}

impl fmt::Debug for StepBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepBench")
            .field("x1", &self.batch.x1.dims())
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl StepBench {
    /// The SimCLR step of `model` on `pairs` pairs of `size x size` RGB images (uniform noise
    /// in `[-1, 1)` drawn from `seed`; the parameters are drawn from `seed` too), on the CPU in
    /// `f32`, with SimCLR's CIFAR settings. The ViT needs `size` 32.
    pub fn new(model: StepModel, pairs: usize, size: usize, seed: u64) -> Result<StepBench> {
        let cfg = SimClrConfig::default();
        match model {
            StepModel::Resnet18 => {
                StepBench::resnet(&ResNetConfig::resnet18_cifar(), &cfg, pairs, size, seed)
            }
            StepModel::Vit => StepBench::build(pairs, size, seed, |store, vb| {
                let vit = VitConfig {
                    image_size: size,
                    ..VitConfig::vit_tiny_cifar()
                };
                Ok(Net::Vit(simclr(store, &cfg, Vit::new(&vit, vb)?)?))
            }),
        }
    }

    /// The same step with any ResNet and SimCLR settings (a narrow one for tests).
    pub fn resnet(
        resnet: &ResNetConfig,
        cfg: &SimClrConfig,
        pairs: usize,
        size: usize,
        seed: u64,
    ) -> Result<StepBench> {
        StepBench::build(pairs, size, seed, |store, vb| {
            Ok(Net::Resnet(simclr(store, cfg, ResNet::new(resnet, vb)?)?))
        })
    }

    /// The parameters, the optimizer and the batch around the network `net` builds from the
    /// seeded store and its `backbone` builder.
    fn build(
        pairs: usize,
        size: usize,
        seed: u64,
        net: impl FnOnce(&ParamStore, VarBuilder) -> Result<Net>,
    ) -> Result<StepBench> {
        if pairs < 2 {
            return Err(TrainError::config("pairs", "needs at least 2 pairs"));
        }
        let device = Device::Cpu;
        let store = ParamStore::seeded(seed);
        let net = net(
            &store,
            store.var_builder(DType::F32, &device).pp("backbone"),
        )?;
        let optimizer = OptimizerConfig::Adamw {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 1e-4,
        }
        .build(&[&store])?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_da7a);
        let mut view = || -> Result<Tensor> {
            let n = pairs * 3 * size * size;
            let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            Ok(Tensor::from_vec(v, (pairs, 3, size, size), &device)?)
        };
        let batch = ViewPair {
            x1: view()?,
            x2: view()?,
        };
        Ok(StepBench {
            net,
            optimizer,
            batch,
            step: 0,
        })
    }

    /// Images per step: both views of every pair.
    pub fn images_per_step(&self) -> usize {
        2 * self.batch.x1.dims()[0]
    }

    /// One training step (forward, backward, AdamW update); returns the loss before the update.
    pub fn step(&mut self) -> Result<f64> {
        let ctx = StepContext {
            step: self.step,
            total_steps: u64::MAX,
            lr: 1e-3,
            seed: 0,
        };
        let losses = match &mut self.net {
            Net::Resnet(m) => m.losses(&self.batch, &ctx)?,
            Net::Vit(m) => m.losses(&self.batch, &ctx)?,
        };
        let loss = losses.total.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let grads = losses.total.backward()?;
        self.optimizer.step(&grads, ctx.lr)?;
        self.step += 1;
        Ok(loss)
    }
}
