//! # noether-objectives
//!
//! Self-supervised losses as pure functions of tensors: no dataset, model or optimizer inside.
//! Every loss takes candle tensors (`f32` or `f64`, any device), validates their shapes
//! (a wrong shape is an `Err` naming the argument, never a panic) and returns a scalar tensor,
//! or a small struct of named scalar tensors for losses with several terms. Everything
//! softmax-like runs through [`noether_ops`], so every loss has a gradient.
//!
//! | loss | paper | equation | function |
//! |---|---|---|---|
//! | NT-Xent, SimCLR `2N` layout | Chen et al. 2020, arXiv 2002.05709 | eq. (1): `-log exp(s_ip) / sum_{k != i} exp(s_ik)`, `s = cos / T` | [`simclr_nt_xent`], general [`nt_xent`] |
//! | NT-Xent, EquiMod `4N` layout | Devillers & Lefort, arXiv 2211.01244 | `L_equi`: NT-Xent on `[y1; y2; yhat1; yhat2]`, positive = own prediction | [`equimod_nt_xent`] |
//! | NT-Xent, ContextSSL pairs, cosine clamped at `1e-7` | Gupta et al., arXiv 2405.18193 | positives `(s_hat_k, t_hat_k)`, `max(cos, 1e-7) / T` | [`contextssl_nt_xent`] |
//! | InfoNCE between two sets | van den Oord et al., arXiv 1807.03748 | `-log exp(cos(q_i, k_i)/T) / sum_j exp(cos(q_i, k_j)/T)` | [`info_nce`] |
//! | BYOL | Grill et al. 2020, arXiv 2006.07733 | eq. (2): `2 - 2 cos(p, sg(z))`, symmetrised | [`byol_loss`], [`byol_loss_symmetric`] |
//! | VICReg | Bardes et al. 2022, arXiv 2105.04906 | `lambda s + mu v + nu c`, terms separate | [`vicreg_loss`] |
//! | SIE | Garrido et al. 2023, arXiv 2302.10283 | `10 MSE(u,u') + 4.5 MSE(yhat,v') + 10 V + 10 V_pred + C` | [`sie_loss`] |
//! | AugSelf | Lee et al. 2021, arXiv 2111.09613 | `sum_aug MSE(phi(f(x1), f(x2)), omega_1 - omega_2)` | [`augself_loss`], [`augself_loss_grouped`] |
//! | ContextSSL auxiliary predictor | Gupta et al., arXiv 2405.18193 | MSE on the environment's columns (masked MSE) | [`contextssl_aux_loss`], [`masked_mse`] |
//! | GeSSL task KL (reconstructed) | Qiang et al., arXiv 2405.01053 | `mean_i KL(p_target ‖ p_model)` of the rows `p(j given i) = softmax_j(cos(z_i, z'_j) / T)` | [`task_kl_divergence`] |
//! | LPS permutation entropy | Kim et al. 2023, arXiv 2306.02866 | row + column entropy of `P_soft`, mean over valid nodes | [`permutation_entropy`] |
//!
//! Each module's documentation gives the exact form, the reference code it matches, and the
//! decisions where paper and code differ (VICReg's variance halving, the ContextSSL clamp,
//! the GeSSL KL direction).
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use noether_objectives::{NtXentConfig, VicRegWeights, simclr_nt_xent, vicreg_loss};
//!
//! let dev = Device::Cpu;
//! // two views of 4 images, 3-d embeddings
//! let a = [[1.0f32, 0.0, 0.2], [0.0, 1.0, 0.1], [0.3, 0.3, 1.0], [1.0, 1.0, 0.0]];
//! let b = [[0.9f32, 0.1, 0.2], [0.1, 0.8, 0.0], [0.2, 0.4, 0.9], [0.9, 1.1, 0.1]];
//! let z1 = Var::new(&a, &dev)?;
//! let z2 = Tensor::new(&b, &dev)?;
//!
//! let loss = simclr_nt_xent(z1.as_tensor(), &z2, &NtXentConfig::new(0.5))?;
//! let grads = loss.backward()?;
//! assert!(grads.get(&z1).is_some());
//!
//! // multi-term losses return each term unweighted, plus the weighted total
//! let terms = vicreg_loss(z1.as_tensor(), &z2, &VicRegWeights::default())?;
//! let (inv, var, cov) = (
//!     terms.invariance.to_scalar::<f32>()?,
//!     terms.variance.to_scalar::<f32>()?,
//!     terms.covariance.to_scalar::<f32>()?,
//! );
//! let total = terms.total.to_scalar::<f32>()?;
//! assert!((total - (25.0 * inv + 25.0 * var + cov)).abs() < 1e-4);
//! # Ok::<(), candle_core::Error>(())
//! ```

mod augself;
mod byol;
mod check;
mod contextssl;
mod gessl;
mod infonce;
mod lps;
mod ntxent;
mod regression;
mod sie;
pub mod similarity;
mod vicreg;

pub use augself::{augself_loss, augself_loss_grouped};
pub use byol::{byol_loss, byol_loss_symmetric};
pub use contextssl::{
    CONTEXTSSL_ACTION_DIM, CONTEXTSSL_AUX_WEIGHT, CONTEXTSSL_COLOR_COLUMNS,
    CONTEXTSSL_ROTATION_COLUMNS, ContextEnv, contextssl_aux_loss,
};
pub use gessl::{kl_divergence_rows, task_kl_divergence, task_log_probs};
pub use infonce::{InfoNceConfig, info_nce};
pub use lps::{LPS_ENTROPY_EPS, permutation_entropy};
pub use ntxent::{
    CONTEXTSSL_COSINE_CLAMP, NtXentConfig, contextssl_nt_xent, equimod_nt_xent, halves_positives,
    interleaved_positives, nt_xent, nt_xent_logits, simclr_nt_xent,
};
pub use regression::{grouped_mse, masked_mse, mse};
pub use sie::{SieTerms, SieWeights, sie_loss};
pub use vicreg::{
    VARIANCE_EPS, VicRegTerms, VicRegWeights, covariance_term, variance_term, vicreg_loss,
};
