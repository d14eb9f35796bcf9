//! # noether-ops
//!
//! The tensor operations a training step needs that candle 0.11 either lacks or ships without a
//! gradient. candle's fused `layer_norm`, `rms_norm`, `softmax_last_dim` and `sdpa` are built with
//! `apply_op*_no_bwd` and silently return **no gradient**; its batch norm keeps running
//! statistics as trainable variables. Every function here has a backward, and a test that
//! compares it with finite differences and with the slow composite path in [`reference`].
//!
//! Each public function dispatches: on a CPU device with `f32` or `f64` data it runs a fused
//! custom op (one pass forward, one pass backward, parallel over rows with rayon); on any other
//! device or dtype it runs the composite path built from candle's differentiable primitives,
//! so CUDA and Metal builds keep working with candle's own kernels. [`set_fast`] switches the
//! fused path off for comparisons.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! let x = Var::new(&[[1.0f32, 2.0, 3.0], [0.0, 0.0, 1.0]], &Device::Cpu)?;
//! let y = noether_ops::softmax_last_dim(x.as_tensor())?;
//! let loss = y.narrow(1, 0, 1)?.sum_all()?;
//! let grads = loss.backward()?;
//! assert!(grads.get(&x).is_some()); // candle_nn::ops::softmax_last_dim would give None here
//! # Ok::<(), candle_core::Error>(())
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

pub mod reference;

mod activation;
mod batch_norm;
mod layer_norm;
mod softmax;

pub use activation::{gelu, relu};
pub use batch_norm::{BatchStats, batch_norm_eval, batch_norm_train};
pub use layer_norm::layer_norm;
pub use softmax::{log_softmax_last_dim, masked_softmax_last_dim, softmax_last_dim};

static FAST: AtomicBool = AtomicBool::new(true);

/// Turn the fused CPU kernels on (the default) or off. Off, every function runs its composite
/// path from [`reference`]; the results agree to float tolerance. Meant for tests and benchmarks.
pub fn set_fast(on: bool) {
    FAST.store(on, Ordering::SeqCst);
}

/// Whether the fused CPU kernels are on (see [`set_fast`]).
pub fn fast() -> bool {
    FAST.load(Ordering::SeqCst)
}

/// Whether `x` can take the fused CPU path: fast path on, a CPU device, `f32` or `f64` data.
pub(crate) fn use_fused(x: &candle_core::Tensor) -> bool {
    fast()
        && x.device().is_cpu()
        && matches!(
            x.dtype(),
            candle_core::DType::F32 | candle_core::DType::F64
        )
}
