//! `S_n`: from per-node scores to a permutation (LPS, `papers/lps.md`), and the Laplacian
//! frame.
//!
//! **Scores to a permutation.** Tie-break noise (added by the caller, `U(0, 1e-6)`), padding
//! masked, scores L2-normalised over the real nodes; the hard permutation is the descending
//! argsort (`P[i, r] = 1` iff node `i` has rank `r`; padding keeps its place at the end); the
//! soft one is SoftSort, `L[i, r] = -|s_i - s_(r)| / tau`, followed by log-domain Sinkhorn
//! (rows then columns, 20 times; padded pairs forced to `-inf` except the padded diagonal);
//! the straight-through estimator `P = P_soft + sg(P_hard - P_soft)` uses the exact
//! permutation forward and the soft one's gradient backward. The entropy of `P_soft`
//! ([`noether_objectives::permutation_entropy`]) is the regulariser that drives it towards
//! `P_hard`.
//!
//! **The Laplacian frame** (Puny et al. 2022, made basis-free): a node's key is the diagonal of
//! the projector onto each eigenspace of the graph Laplacian `L = D - A` (eigenspaces in
//! ascending eigenvalue order, eigenvalues within `1e-6` merged), a list that permutes with the
//! nodes and does not depend on the eigen-solver's choice of basis or signs. The frame is the
//! set of permutations that sort the keys (descending, lexicographically); nodes with equal keys
//! (to `1e-6`) are ties, and the frame holds every order of them. A uniform frame element is a
//! sort with ties broken by random keys. On vertex-transitive graphs (CSL) every key is equal
//! and the frame is all of `S_n`: frame averaging is group averaging there.

use candle_core::{D, DType, Tensor};
use nalgebra::DMatrix;

use crate::error::{Result, SymError};
use crate::group::permutation_matrices;

/// The `S_n` post-processing settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnConfig {
    /// SoftSort temperature (0.01 for graphs, 0.1 for n-body in the paper).
    pub tau: f64,
    /// Log-domain Sinkhorn iterations (20).
    pub sinkhorn_iters: usize,
    /// The tie-break noise's upper bound, `U(0, tie_noise)` (1e-6).
    pub tie_noise: f64,
}

impl Default for SnConfig {
    fn default() -> SnConfig {
        SnConfig {
            tau: 0.01,
            sinkhorn_iters: 20,
            tie_noise: 1e-6,
        }
    }
}

/// A permutation from scores: the exact matrix, the relaxed one and the straight-through one.
#[derive(Debug, Clone)]
pub struct SampledPermutation {
    /// `(M, n, n)` hard permutation matrices.
    pub hard: Tensor,
    /// `(M, n, n)` doubly-stochastic Sinkhorn output.
    pub soft: Tensor,
    /// `hard` forward, `soft`'s gradient backward.
    pub straight_through: Tensor,
}

/// A large negative logit standing for `-inf` (finite, so no `NaN` appears in log-sum-exp).
const NEG: f64 = -1e4;

/// The ranks of one row of scores: real nodes sorted by descending score (ties by index),
/// padding (`valid..n`) kept in place.
pub fn descending_ranks(scores: &[f64], valid: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..valid).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut rank: Vec<usize> = (0..scores.len()).collect();
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    rank
}

/// Real-node counts from a `(M, n)` mask whose real nodes come first; an error otherwise.
pub fn valid_counts(mask: Option<&Tensor>, m: usize, n: usize) -> Result<Vec<usize>> {
    let Some(mask) = mask else {
        return Ok(vec![n; m]);
    };
    if mask.dims() != [m, n] {
        return Err(SymError::invalid(
            "mask",
            format!("must have shape ({m}, {n}), got {:?}", mask.dims()),
        ));
    }
    let rows = mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    rows.iter()
        .enumerate()
        .map(|(j, row)| {
            let v = row.iter().take_while(|&&x| x != 0.0).count();
            if row[v..].iter().any(|&x| x != 0.0) {
                return Err(SymError::invalid(
                    "mask",
                    format!("row {j}: real nodes must come first, padding last"),
                ));
            }
            Ok(v)
        })
        .collect()
}

/// Scores `(M, n)` (tie-break noise already added) to a permutation; `mask` `(M, n)` marks real
/// nodes (first) with non-zero entries.
pub fn scores_to_permutation(
    scores: &Tensor,
    mask: Option<&Tensor>,
    config: &SnConfig,
) -> Result<SampledPermutation> {
    let (m, n) = match scores.dims() {
        &[m, n] => (m, n),
        d => {
            return Err(SymError::invalid(
                "scores",
                format!("must have shape (M, n), got {d:?}"),
            ));
        }
    };
    if config.tau <= 0.0 || config.tau.is_nan() {
        return Err(SymError::invalid(
            "sn.tau",
            format!("must be positive, got {}", config.tau),
        ));
    }
    let valid = valid_counts(mask, m, n)?;
    let (dtype, device) = (scores.dtype(), scores.device());
    let mut mvals = vec![0f32; m * n];
    for (j, &v) in valid.iter().enumerate() {
        mvals[j * n..j * n + v].fill(1.0);
    }
    let mk = Tensor::from_vec(mvals, (m, n), device)?.to_dtype(dtype)?;
    // L2-normalise over the real nodes
    let s = (scores * &mk)?;
    let norm = (s.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
    let s = s.broadcast_div(&norm)?;
    // hard: descending argsort
    let rows = s.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let ranks: Vec<Vec<usize>> = rows
        .iter()
        .zip(&valid)
        .map(|(r, &v)| descending_ranks(r, v))
        .collect();
    let hard = permutation_matrices(&ranks, dtype, device)?;
    // soft: SoftSort against the sorted scores, s_(r) = (s^T P)[r]
    let sorted = s.unsqueeze(1)?.matmul(&hard)?; // (M, 1, n)
    let diff = s.unsqueeze(2)?.broadcast_sub(&sorted)?.abs()?; // (M, n, n): |s_i - s_(r)|
    let logits = (diff * (-1.0 / config.tau))?;
    let pair = mk.unsqueeze(2)?.broadcast_mul(&mk.unsqueeze(1)?)?; // real x real
    let eye = Tensor::eye(n, dtype, device)?.unsqueeze(0)?;
    let pad_diag = (1.0 - &mk)?.unsqueeze(2)?.broadcast_mul(&eye)?;
    let l = ((logits * &pair)? + ((1.0 - &pair)? * NEG)?)?;
    let l = (l - (pad_diag * NEG)?)?;
    let soft = noether_ops::log_sinkhorn(&l, config.sinkhorn_iters)?;
    let straight_through = (&soft + (&hard - &soft)?.detach())?;
    Ok(SampledPermutation {
        hard,
        soft,
        straight_through,
    })
}

/// Tolerance below which eigenvalues (and node keys) count as equal.
const FRAME_TOL: f64 = 1e-6;

/// The Laplacian-frame keys of one graph, reduced to dense ranks: nodes with equal keys get the
/// same number, a larger number sorts first. `adj` is row-major `n x n` (0 / non-zero), `valid`
/// the real nodes.
pub fn laplacian_frame_keys(adj: &[f64], n: usize, valid: usize) -> Vec<f64> {
    let mut l = DMatrix::<f64>::zeros(valid, valid);
    for i in 0..valid {
        for j in 0..valid {
            if i != j && adj[i * n + j] != 0.0 {
                l[(i, j)] = -1.0;
                l[(i, i)] += 1.0;
            }
        }
    }
    let eig = l.symmetric_eigen();
    let mut order: Vec<usize> = (0..valid).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    // group eigenvalues into eigenspaces; key[i] = diag of each eigenspace's projector
    let mut keys: Vec<Vec<f64>> = vec![Vec::new(); valid];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len()
            && (eig.eigenvalues[order[end]] - eig.eigenvalues[order[start]]).abs() < FRAME_TOL
        {
            end += 1;
        }
        for (i, key) in keys.iter_mut().enumerate() {
            let d: f64 = order[start..end]
                .iter()
                .map(|&c| eig.eigenvectors[(i, c)].powi(2))
                .sum();
            // quantise so that equal keys compare equal despite rounding
            key.push((d / FRAME_TOL).round() * FRAME_TOL);
        }
        start = end;
    }
    let mut idx: Vec<usize> = (0..valid).collect();
    idx.sort_by(|&a, &b| {
        keys[a]
            .iter()
            .zip(&keys[b])
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut dense = vec![0.0; n];
    let mut level = 0.0;
    for w in 0..idx.len() {
        if w > 0 && keys[idx[w]] != keys[idx[w - 1]] {
            level += 1.0;
        }
        dense[idx[w]] = level;
    }
    dense
}

/// `(M, n, n)` permutations, one uniform element of each graph's Laplacian frame: sort by
/// [`laplacian_frame_keys`] with ties broken by `tie` (`(M, n)`, any i.i.d. continuous noise in
/// `[0, 1)`). Equivariant in distribution, and exactly when `tie` is transported with the
/// nodes.
pub fn laplacian_frame(adj: &Tensor, tie: &Tensor, valid: &[usize]) -> Result<Tensor> {
    let (m, n) = match adj.dims() {
        &[m, n, n2] if n == n2 => (m, n),
        d => {
            return Err(SymError::invalid(
                "frame",
                format!("the Laplacian frame needs a (M, n, n) adjacency input, got {d:?}"),
            ));
        }
    };
    let a = adj
        .to_dtype(DType::F64)?
        .flatten_from(1)?
        .to_vec2::<f64>()?;
    let t = tie.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let mut ranks = Vec::with_capacity(m);
    for j in 0..m {
        let keys = laplacian_frame_keys(&a[j], n, valid[j]);
        let s: Vec<f64> = keys.iter().zip(&t[j]).map(|(k, t)| k + 0.5 * t).collect();
        ranks.push(descending_ranks(&s, valid[j]));
    }
    permutation_matrices(&ranks, adj.dtype(), adj.device())
}

/// Row sums and column sums of `p` `(M, n, n)` minus one, the largest absolute value: how far
/// from doubly stochastic.
pub fn doubly_stochastic_gap(p: &Tensor) -> Result<f64> {
    let r = (p.sum(D::Minus1)? - 1.0)?.abs()?.max_all()?;
    let c = (p.sum(1)? - 1.0)?.abs()?.max_all()?;
    let f = |t: Tensor| -> Result<f64> { Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?) };
    Ok(f(r)?.max(f(c)?))
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn hard_is_the_descending_argsort_and_soft_is_close() -> Result<()> {
        let s = Tensor::new(&[[0.1f64, 0.9, -0.3, 0.5]], &Device::Cpu)?;
        let p = scores_to_permutation(&s, None, &SnConfig::default())?;
        let hard = p.hard.to_vec3::<f64>()?;
        // node 1 has rank 0, node 3 rank 1, node 0 rank 2, node 2 rank 3
        assert_eq!(hard[0][1][0], 1.0);
        assert_eq!(hard[0][3][1], 1.0);
        assert_eq!(hard[0][0][2], 1.0);
        assert_eq!(hard[0][2][3], 1.0);
        let gap = (&p.soft - &p.hard)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(gap < 1e-3, "soft far from hard: {gap}");
        assert!(doubly_stochastic_gap(&p.soft)? < 1e-6);
        Ok(())
    }

    #[test]
    fn padding_stays_in_place() -> Result<()> {
        let s = Tensor::new(&[[0.1f64, 0.9, 7.0, 7.0]], &Device::Cpu)?;
        let mask = Tensor::new(&[[1f64, 1.0, 0.0, 0.0]], &Device::Cpu)?;
        let p = scores_to_permutation(&s, Some(&mask), &SnConfig::default())?;
        let hard = p.hard.to_vec3::<f64>()?;
        assert_eq!(hard[0][1][0], 1.0);
        assert_eq!(hard[0][0][1], 1.0);
        assert_eq!(hard[0][2][2], 1.0);
        assert_eq!(hard[0][3][3], 1.0);
        let soft = p.soft.to_vec3::<f64>()?;
        assert!((soft[0][2][2] - 1.0).abs() < 1e-9 && soft[0][0][2] < 1e-9);
        let bad = Tensor::new(&[[0f64, 1.0, 1.0, 0.0]], &Device::Cpu)?;
        assert!(scores_to_permutation(&s, Some(&bad), &SnConfig::default()).is_err());
        Ok(())
    }

    #[test]
    fn laplacian_keys_separate_a_path_and_tie_a_cycle() {
        // path 0-1-2: the ends tie, the middle differs
        let path = [0., 1., 0., 1., 0., 1., 0., 1., 0.];
        let k = laplacian_frame_keys(&path, 3, 3);
        assert_eq!(k[0], k[2]);
        assert_ne!(k[0], k[1]);
        // a 5-cycle is vertex-transitive: all keys tie
        let mut cyc = vec![0.0; 25];
        for i in 0..5 {
            cyc[i * 5 + (i + 1) % 5] = 1.0;
            cyc[((i + 1) % 5) * 5 + i] = 1.0;
        }
        let k = laplacian_frame_keys(&cyc, 5, 5);
        assert!(k.iter().all(|&x| x == k[0]));
    }
}
