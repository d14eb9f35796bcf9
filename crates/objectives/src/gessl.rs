//! The GeSSL outer loss (Qiang et al., "On the Universality of Self-Supervised Representation
//! Learning", arXiv 2405.01053, v4): a KL divergence between the similarity distributions of
//! two models on one task.
//!
//! A task is a mini-batch of `N` images seen as an `N`-way classification: view `z_i` must
//! find its partner among the other views `z'_j`. A model's classifier on the task is
//!
//! ```text
//! p_theta(j | i) = softmax_j( cos(z_i, z'_j) / T )
//! ```
//!
//! ([`task_log_probs`]), and the outer loss compares a look-ahead target `theta~` (a few more
//! SSL steps) with the task-specific model `theta` ([`task_kl_divergence`]):
//!
//! ```text
//! l = mean_i KL( p_theta~(. | i) || p_theta(. | i) )
//!   = mean_i sum_j p_theta~(j | i) [ log p_theta~(j | i) - log p_theta(j | i) ]
//! ```
//!
//! **Reconstructed, not confirmed.** No code was released and the paper body was not
//! available; `papers/gessl.md` reconstructs the loss from the abstract and the method's
//! ancestors (BMSSL, arXiv 2308.14267, and Bootstrapped Meta-Gradients, arXiv 2109.04504).
//! Decisions made here, each a documented choice:
//! - **Direction: target first**, `KL(p_target || p_model)`, as in BMG, whose matching loss
//!   puts the bootstrapped target first. Its gradient in the model is that of the
//!   cross-entropy with soft labels `p_target` (distillation into the future self); the
//!   forward KL is mass-covering: the model pays wherever the target puts mass it lacks.
//! - **Stop-gradient on the target is the caller's choice**: this function differentiates
//!   through both arguments. For GeSSL's outer step pass `.detach()`ed target embeddings (the
//!   look-ahead target is held constant); for the sigma-measurement nothing is trained.
//! - Computed stably from log-probabilities: both distributions come from
//!   [`noether_ops::log_softmax_last_dim`] and `p` is `exp(log p)`, so no `log(0)` appears.

use candle_core::{D, Result, Tensor};

use crate::check;
use crate::similarity::cosine_similarity_matrix;

/// The log of a model's task classifier, `log p(j | i) = log softmax_j(cos(z_i, z'_j) / T)`.
///
/// Shapes: `z` (first views) and `z_prime` (second views) are `(N, d)`, row `i` of both from
/// image `i`; the result is `(N, N)`, each row a log-distribution over `j`.
pub fn task_log_probs(z: &Tensor, z_prime: &Tensor, temperature: f64) -> Result<Tensor> {
    let func = "task_log_probs";
    check::temperature(func, temperature)?;
    check::matrix(func, "z", z, 1)?;
    check::like(func, "z", z, "z_prime", z_prime)?;
    let logits = (cosine_similarity_matrix(z, z_prime)? / temperature)?;
    noether_ops::log_softmax_last_dim(&logits)
}

/// `mean_i KL(p_i || q_i) = mean_i sum_j exp(log_p_ij) (log_p_ij - log_q_ij)` for row-wise
/// log-distributions.
///
/// Shapes: `log_p` and `log_q` are `(N, C)`, each row a normalised log-distribution; the
/// result is a scalar (>= 0).
pub fn kl_divergence_rows(log_p: &Tensor, log_q: &Tensor) -> Result<Tensor> {
    let func = "kl_divergence_rows";
    check::matrix(func, "log_p", log_p, 1)?;
    check::like(func, "log_p", log_p, "log_q", log_q)?;
    let kl = (log_p.exp()? * (log_p - log_q)?)?.sum(D::Minus1)?; // (N,)
    kl.mean_all()
}

/// GeSSL's outer loss on one task: `mean_i KL(p_target(. | i) || p_model(. | i))` with both
/// distributions from [`task_log_probs`] at temperature `temperature`.
///
/// Shapes: `target_z`, `target_z_prime` (the look-ahead target's embeddings of the task's two
/// views) are `(N, d_t)`; `z`, `z_prime` (the model's) are `(N, d)`; the result is a scalar.
/// Detach the target embeddings to hold the target constant.
pub fn task_kl_divergence(
    target_z: &Tensor,
    target_z_prime: &Tensor,
    z: &Tensor,
    z_prime: &Tensor,
    temperature: f64,
) -> Result<Tensor> {
    let func = "task_kl_divergence";
    check::temperature(func, temperature)?;
    let (n, _) = check::matrix(func, "z", z, 1)?;
    check::like(func, "z", z, "z_prime", z_prime)?;
    let (nt, _) = check::matrix(func, "target_z", target_z, 1)?;
    check::like(func, "target_z", target_z, "target_z_prime", target_z_prime)?;
    if nt != n {
        candle_core::bail!(
            "{func}: `target_z` must have {n} rows like `z` (the same task), got {nt}"
        );
    }
    check::same_kind(func, "z", z, "target_z", target_z)?;
    let log_target = task_log_probs(target_z, target_z_prime, temperature)?;
    let log_model = task_log_probs(z, z_prime, temperature)?;
    kl_divergence_rows(&log_target, &log_model)
}
