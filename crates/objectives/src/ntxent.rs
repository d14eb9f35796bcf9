//! NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020,
//! arXiv 2002.05709, eq. (1)), over a set of `M` embeddings with one positive per row:
//!
//! `l_i = -log [ exp(s_{i,p(i)}) / sum_{k != i} exp(s_{i,k}) ]`, `s_{i,k} = cos(z_i, z_k) / T`,
//! `L = mean_i l_i`,
//!
//! i.e. an `(M - 1)`-way classification of each row's positive against every other row, the
//! row itself excluded. The three layouts the project uses are instances of [`nt_xent`]:
//!
//! | layout | rows | positive of row `i` | function |
//! |---|---|---|---|
//! | SimCLR | `[z1; z2]`, `2N` | the other view, `i +- N` | [`simclr_nt_xent`] |
//! | EquiMod `L_equi` (Devillers & Lefort, arXiv 2211.01244) | `[y1; y2; yhat1; yhat2]`, `4N` | its own prediction, `i +- 2N`; everything else (the other view, its prediction) is a negative | [`equimod_nt_xent`] |
//! | ContextSSL (Gupta et al., arXiv 2405.18193) | `s_1, t_1, s_2, t_2, ...`, `2N` | the other token of its pair, `i xor 1` | [`contextssl_nt_xent`] |
//!
//! ContextSSL's reference clamps the cosine at `1e-7` *before* dividing by `T`
//! (`(x @ x.T).clamp(min=1e-7) / t`), so every negative cosine becomes ~0: set
//! [`NtXentConfig::clamp_min`] to reproduce it ([`NtXentConfig::contextssl`]).
//!
//! The reference implementations exclude row `i` from its own softmax by subtracting a large
//! constant (`1e8` EquiMod, `1e5` ContextSSL) from the diagonal logit; here the diagonal logit is
//! replaced by `-1e9`, which gives the same value (its `exp` is exactly 0 in `f32` and `f64`)
//! and no gradient through the diagonal.

use candle_core::{Device, Result, Tensor};

use crate::check;
use crate::similarity::{cosine_similarity_matrix, cross_entropy_from_logits, off_diagonal_mask};

/// The logit that stands for "excluded" on the diagonal: `exp(-1e9 - max)` is 0 in any float.
const EXCLUDED_LOGIT: f64 = -1e9;

/// The cosine clamp of the ContextSSL reference implementation.
pub const CONTEXTSSL_COSINE_CLAMP: f64 = 1e-7;

/// Settings of an NT-Xent loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NtXentConfig {
    /// The temperature `T` (> 0). SimCLR: 0.5 on CIFAR, 0.2 on ImageNet; EquiMod `T_y` = 0.2;
    /// ContextSSL 0.1.
    pub temperature: f64,
    /// Clamp the cosine from below at this value before dividing by `T` (ContextSSL: `1e-7`);
    /// `None` for SimCLR and EquiMod.
    pub clamp_min: Option<f64>,
}

impl NtXentConfig {
    /// Plain NT-Xent at temperature `temperature`, no clamp (SimCLR, EquiMod).
    pub fn new(temperature: f64) -> Self {
        NtXentConfig {
            temperature,
            clamp_min: None,
        }
    }

    /// ContextSSL's settings: `T = 0.1`, cosine clamped at `1e-7`.
    pub fn contextssl() -> Self {
        NtXentConfig {
            temperature: 0.1,
            clamp_min: Some(CONTEXTSSL_COSINE_CLAMP),
        }
    }

    /// EquiMod's `L_equi` settings: `T_y = 0.2`, no clamp.
    pub fn equimod() -> Self {
        NtXentConfig::new(0.2)
    }
}

impl Default for NtXentConfig {
    /// SimCLR on CIFAR: `T = 0.5`, no clamp.
    fn default() -> Self {
        NtXentConfig::new(0.5)
    }
}

/// Positives of the "halves" layout over `2 * half` rows: row `i < half` pairs with
/// `i + half` and back. SimCLR's `[z1; z2]` (`half = N`) and EquiMod's
/// `[y1; y2; yhat1; yhat2]` (`half = 2N`: each embedding with its own prediction).
pub fn halves_positives(half: usize) -> Vec<usize> {
    (0..2 * half)
        .map(|i| if i < half { i + half } else { i - half })
        .collect()
}

/// Positives of the interleaved layout over `2 * pairs` rows: row `2k` pairs with `2k + 1` and
/// back (ContextSSL's token sequence `s_1, t_1, s_2, t_2, ...`).
pub fn interleaved_positives(pairs: usize) -> Vec<usize> {
    (0..2 * pairs).map(|i| i ^ 1).collect()
}

/// The similarity logits of NT-Xent: `cos(z_i, z_k)` (clamped from below when
/// `cfg.clamp_min` is set) divided by `T`, with the diagonal replaced by `-1e9`.
///
/// Shapes: `z` is `(M, d)`; the result is `(M, M)`.
pub fn nt_xent_logits(z: &Tensor, cfg: &NtXentConfig) -> Result<Tensor> {
    let func = "nt_xent";
    let (m, _) = check::matrix(func, "z", z, 2)?;
    check_config(func, cfg)?;
    let mut sim = cosine_similarity_matrix(z, z)?;
    if let Some(c) = cfg.clamp_min {
        sim = sim.maximum(c)?;
    }
    let logits = (sim / cfg.temperature)?;
    let keep = off_diagonal_mask(m, z.device())?;
    let excluded = Tensor::full(EXCLUDED_LOGIT, (m, m), z.device())?.to_dtype(z.dtype())?;
    keep.where_cond(&logits, &excluded)
}

/// NT-Xent over the rows of `z`, the positive of row `i` being row `positives[i]`; the mean
/// over all `M` rows of the cross-entropy of `positives[i]` among the `M - 1` other rows.
///
/// Shapes: `z` is `(M, d)` with `M >= 2`; `positives` has `M` entries, each in `0..M` and not
/// equal to its own index; the result is a scalar.
pub fn nt_xent(z: &Tensor, positives: &[usize], cfg: &NtXentConfig) -> Result<Tensor> {
    let func = "nt_xent";
    let (m, _) = check::matrix(func, "z", z, 2)?;
    if positives.len() != m {
        candle_core::bail!(
            "{func}: `positives` must have one entry per row of `z` ({m}), got {}",
            positives.len()
        );
    }
    if let Some((i, &p)) = positives
        .iter()
        .enumerate()
        .find(|&(i, &p)| p >= m || p == i)
    {
        candle_core::bail!(
            "{func}: `positives[{i}]` = {p} must be another row of `z` (in 0..{m}, not {i})"
        );
    }
    let logits = nt_xent_logits(z, cfg)?;
    let targets = index_tensor(positives, z.device())?;
    cross_entropy_from_logits(&logits, &targets)
}

/// SimCLR's NT-Xent over the two views: `nt_xent([z1; z2], halves_positives(N))`.
///
/// Shapes: `z1` and `z2` are `(N, d)` (row `i` of both is the same image); the result is a
/// scalar.
pub fn simclr_nt_xent(z1: &Tensor, z2: &Tensor, cfg: &NtXentConfig) -> Result<Tensor> {
    let func = "simclr_nt_xent";
    let (n, _) = check::matrix(func, "z1", z1, 1)?;
    check::like(func, "z1", z1, "z2", z2)?;
    nt_xent(&Tensor::cat(&[z1, z2], 0)?, &halves_positives(n), cfg)
}

/// EquiMod's equivariance loss `L_equi`: NT-Xent over the `4N` rows `[y1; y2; yhat1; yhat2]`
/// where the positive of `y_t,i` is its own prediction `yhat_t,i` (and back) and every other
/// row, the other view and its prediction included, is a negative. No stop-gradient.
///
/// Shapes: `y1`, `y2` (equivariant embeddings of the two views) and `yhat1`, `yhat2` (their
/// predictions from the un-augmented image and the augmentation parameters) are `(N, d)`; the
/// result is a scalar.
pub fn equimod_nt_xent(
    y1: &Tensor,
    y2: &Tensor,
    yhat1: &Tensor,
    yhat2: &Tensor,
    cfg: &NtXentConfig,
) -> Result<Tensor> {
    let func = "equimod_nt_xent";
    let (n, _) = check::matrix(func, "y1", y1, 1)?;
    check::like(func, "y1", y1, "y2", y2)?;
    check::like(func, "y1", y1, "yhat1", yhat1)?;
    check::like(func, "y1", y1, "yhat2", yhat2)?;
    let all = Tensor::cat(&[y1, y2, yhat1, yhat2], 0)?;
    nt_xent(&all, &halves_positives(2 * n), cfg)
}

/// ContextSSL's contrastive loss over the transformer outputs of an interleaved token
/// sequence `s_hat_1, t_hat_1, s_hat_2, t_hat_2, ...`: the positive of each token is the other
/// token of its pair. Use [`NtXentConfig::contextssl`] for the reference settings (cosine
/// clamped at `1e-7`, `T = 0.1`).
///
/// Shapes: `tokens` is `(2N, d)`, pairs in consecutive rows; the result is a scalar.
pub fn contextssl_nt_xent(tokens: &Tensor, cfg: &NtXentConfig) -> Result<Tensor> {
    let func = "contextssl_nt_xent";
    let (m, _) = check::matrix(func, "tokens", tokens, 2)?;
    if m % 2 != 0 {
        candle_core::bail!(
            "{func}: `tokens` must have an even number of rows (source, target pairs), got {m}"
        );
    }
    nt_xent(tokens, &interleaved_positives(m / 2), cfg)
}

fn check_config(func: &str, cfg: &NtXentConfig) -> Result<()> {
    check::temperature(func, cfg.temperature)?;
    if let Some(c) = cfg.clamp_min
        && !c.is_finite()
    {
        candle_core::bail!("{func}: `clamp_min` must be finite, got {c}");
    }
    Ok(())
}

/// Row indices as a `u32` tensor on `device`.
pub(crate) fn index_tensor(idx: &[usize], device: &Device) -> Result<Tensor> {
    let v = idx
        .iter()
        .map(|&i| {
            u32::try_from(i)
                .map_err(|_| candle_core::Error::Msg(format!("index {i} overflows u32")))
        })
        .collect::<Result<Vec<u32>>>()?;
    Tensor::from_vec(v, idx.len(), device)
}
