//! The fused CPU kernels change speed, not training: 20 SimCLR + AdamW steps of a narrow
//! ResNet-18-CIFAR (base width 8, every kind of convolution, fused batch norm + ReLU, the
//! projector's batch norms) give the same losses with the fast path on and off
//! (`noether_ops::set_fast`; off, every op runs its composite path of candle primitives, with
//! candle's own `conv2d`). Alone in its test binary because the switch is global.

use candle_core::{DType, Device, Result, Tensor};
use noether_models::{ParamStore, ResNet, ResNetConfig};
use noether_train::methods::{SimClr, SimClrConfig, ViewPair};
use noether_train::{Method, OptimizerConfig, StepContext};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const STEPS: u64 = 20;

fn losses(fast: bool) -> anyhow::Result<Vec<f64>> {
    noether_ops::set_fast(fast);
    let store = ParamStore::seeded(3);
    let device = Device::Cpu;
    let vb = store.var_builder(DType::F32, &device).pp("backbone");
    let backbone = ResNet::new(
        &ResNetConfig {
            base_channels: 8,
            ..ResNetConfig::resnet18_cifar()
        },
        vb,
    )?;
    let cfg = SimClrConfig {
        proj_hidden: 64,
        proj_out: 16,
        ..SimClrConfig::default()
    };
    let mut method = SimClr::new(store.clone(), backbone, &cfg, DType::F32, &device)?;
    let mut optimizer = OptimizerConfig::Adamw {
        lr: 1e-3,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 1e-4,
    }
    .build(&[&store])?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut view = || -> Result<Tensor> {
        let v: Vec<f32> = (0..8 * 3 * 16 * 16)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        Tensor::from_vec(v, (8, 3, 16, 16), &device)
    };
    let batch = ViewPair {
        x1: view()?,
        x2: view()?,
    };
    let mut out = Vec::new();
    for step in 0..STEPS {
        let ctx = StepContext {
            step,
            total_steps: STEPS,
            lr: 1e-3,
            seed: 0,
        };
        let l = method.losses(&batch, &ctx)?;
        out.push(l.total.to_scalar::<f32>()? as f64);
        let grads = l.total.backward()?;
        optimizer.step(&grads, ctx.lr)?;
    }
    Ok(out)
}

#[test]
fn twenty_steps_match_with_the_fast_path_on_and_off() -> anyhow::Result<()> {
    let fused = losses(true)?;
    let slow = losses(false)?;
    noether_ops::set_fast(true);
    // the loss must move, or equal curves would prove nothing
    assert!(
        (fused[0] - fused[STEPS as usize - 1]).abs() > 1e-2,
        "{fused:?}"
    );
    for (step, (a, b)) in fused.iter().zip(&slow).enumerate() {
        assert!(
            (a - b).abs() <= 1e-3 * b.abs().max(1.0),
            "step {step}: fused {a} vs composite {b}\n{fused:?}\n{slow:?}"
        );
    }
    Ok(())
}
