//! Gradient clipping by global norm, `torch.nn.utils.clip_grad_norm_`: with
//! `n = sqrt(Σ_vars Σ g²)`, every gradient is scaled by `min(1, max_norm / (n + 1e-6))`.

use candle_core::backprop::GradStore;
use candle_core::{Result, Var};

use super::check_min;
use super::fused::sum_sq;

/// Scales all gradients of `vars` in `grads` so their global L2 norm is at most `max_norm`
/// (`torch.nn.utils.clip_grad_norm_`, coefficient `max_norm / (norm + 1e-6)` when below 1);
/// returns the norm before clipping. Variables without a gradient are skipped. The norm is
/// accumulated in `f64`, one pass over each gradient on the CPU.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    check_min("clip_grad_norm: max_norm", max_norm, 0.0)?;
    let mut total = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            total += sum_sq(g)?;
        }
    }
    let norm = total.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for v in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let scaled = g.affine(coef, 0.0)?;
                grads.insert(v.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}
