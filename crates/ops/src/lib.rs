//! # noether-ops
//!
//! The tensor operations a training step needs that candle 0.11 either lacks or ships without a
//! gradient. candle's fused `layer_norm`, `rms_norm`, `softmax_last_dim` and `sdpa` are built with
//! `apply_op*_no_bwd` and silently return **no gradient**; its batch norm keeps running
//! statistics as trainable variables. Every function here has a backward, and a test that
//! compares it with finite differences and with the slow composite path in
//! [`reference`](mod@reference).
//!
//! [`optim`] holds the optimizers (SGD, Adam / AdamW, LARS), learning-rate schedules, gradient
//! clipping and EMA updates, each one fused in-place pass per parameter on the CPU.
//!
//! ## Dispatch
//!
//! Each public function checks its input `x`: when the fused path is on ([`set_fast`], the
//! default), `x` lives on the CPU and its dtype is `f32` or `f64`, it makes `x` contiguous and
//! applies a candle custom op (`CustomOp1/2/3` through `Tensor::apply_op*`, so autograd records
//! it) whose CPU kernel is one fused pass over the raw slice, parallel over blocks of rows with
//! rayon above 32k elements and serial below. On any other device or dtype, or with the fused
//! path off, it runs the composite path in [`reference`](mod@reference), built from candle's
//! differentiable primitives, so CUDA and Metal builds keep working with candle's own kernels.
//! Blocks depend on the shape only and reductions are summed in block order, so results do not
//! depend on the thread count.
//!
//! ## Backward
//!
//! Each op's `bwd` runs a second fused custom op (one pass, or for batch norm one reduction pass
//! and one `dx` pass) applied with `apply_op*_no_bwd`: the gradients are correct but **not
//! themselves differentiable** (no double backward, as with candle's grads, which are detached).
//! Layer norm and batch norm return `dx`, `dweight` and `dbias` from one op as one flat buffer
//! that is split into views.
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

pub mod optim;
pub mod reference;

mod activation;
mod batch_norm;
mod bmm;
mod conv;
mod kernels;
mod layer_norm;
mod linear;
mod pool;
mod sinkhorn;
mod softmax;

pub use activation::{gelu, relu};
pub use batch_norm::{
    BatchStats, batch_norm_eval, batch_norm_relu_eval, batch_norm_relu_train, batch_norm_train,
};
pub use bmm::batched_matmul;
pub use conv::conv2d;
pub use layer_norm::layer_norm;
pub use linear::linear;
pub use pool::max_pool2d;
pub use sinkhorn::log_sinkhorn;
pub use softmax::{log_softmax_last_dim, masked_softmax_last_dim, softmax_last_dim};

static FAST: AtomicBool = AtomicBool::new(true);

/// Turn the fused CPU kernels on (the default) or off. Off, every function runs its composite
/// path from [`reference`](mod@reference); the results agree to float tolerance. Meant for tests
/// and benchmarks.
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
        && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}
