//! The fused CPU kernels change speed, not training: 20 SimCLR + AdamW steps of a narrow
//! ResNet-18-CIFAR (base width 8, every kind of convolution, fused batch norm + ReLU, the
//! projector's batch norms) give the same losses with the fast path on and off
//! (`noether_ops::set_fast`; off, every op runs its composite path of candle primitives, with
//! candle's own `conv2d`). The step is `noether_train::bench::StepBench`'s, the one the
//! benchmarks time. Alone in its test binary because the switch is global.

use noether_models::ResNetConfig;
use noether_train::bench::StepBench;
use noether_train::methods::SimClrConfig;

const STEPS: usize = 20;

fn losses(fast: bool) -> noether_train::Result<Vec<f64>> {
    noether_ops::set_fast(fast);
    let resnet = ResNetConfig {
        base_channels: 8,
        ..ResNetConfig::resnet18_cifar()
    };
    let simclr = SimClrConfig {
        proj_hidden: 64,
        proj_out: 16,
        ..SimClrConfig::default()
    };
    // 8 pairs of 16x16 images
    let mut bench = StepBench::resnet(&resnet, &simclr, 8, 16, 3)?;
    (0..STEPS).map(|_| bench.step()).collect()
}

#[test]
fn twenty_steps_match_with_the_fast_path_on_and_off() -> noether_train::Result<()> {
    let fused = losses(true)?;
    let slow = losses(false)?;
    noether_ops::set_fast(true);
    // the loss must move, or equal curves would prove nothing
    assert!((fused[0] - fused[STEPS - 1]).abs() > 1e-2, "{fused:?}");
    for (step, (a, b)) in fused.iter().zip(&slow).enumerate() {
        assert!(
            (a - b).abs() <= 1e-3 * b.abs().max(1.0),
            "step {step}: fused {a} vs composite {b}\n{fused:?}\n{slow:?}"
        );
    }
    Ok(())
}
