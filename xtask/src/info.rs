//! `cargo xtask info`: the noether version and the compute device candle uses.

use anyhow::Context;
use candle_core::{Device, Tensor};

/// The best device this build supports: CUDA or Metal when compiled in and present, else CPU.
pub(crate) fn device() -> anyhow::Result<Device> {
    if candle_core::utils::cuda_is_available() {
        return Device::new_cuda(0).context("opening CUDA device 0");
    }
    if candle_core::utils::metal_is_available() {
        return Device::new_metal(0).context("opening Metal device 0");
    }
    Ok(Device::Cpu)
}

/// Prints the version, the compiled-in accelerators and the device in use, and runs a small
/// matrix product on it to show that it works.
pub fn run() -> anyhow::Result<()> {
    println!("noether {}", env!("CARGO_PKG_VERSION"));
    println!(
        "candle accelerators compiled in: cuda {}, metal {}; CPU threads: {}",
        candle_core::utils::cuda_is_available(),
        candle_core::utils::metal_is_available(),
        candle_core::utils::get_num_threads()
    );
    let device = device()?;
    // A 64 x 64 product of ones: every entry must be 64.
    let a = Tensor::ones((64, 64), candle_core::DType::F32, &device)?;
    let sum = a.matmul(&a)?.sum_all()?.to_scalar::<f32>()?;
    anyhow::ensure!(
        sum == 64.0 * 64.0 * 64.0,
        "matmul check on {device:?} gave {sum}"
    );
    println!("device: {device:?} (a 64 x 64 matmul ran and checked)");
    Ok(())
}
