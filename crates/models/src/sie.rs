//! SIE's linear hypernetwork predictor: Garrido, Najman & LeCun, "Self-supervised learning of
//! Split Invariant Equivariant representations" (arXiv 2302.10283); notes in
//! `papers/sie_3diebench.md`.
//!
//! The predictor is a matrix that depends linearly on the action `a` (no bias):
//! `W(a) = sum_k a_k A_k`, `yhat = W(a) v`. It is computed as `sum_k a_k (A_k v)`: one matmul of
//! the batch `v (N, v_dim)` with all `A_k` stacked, `(v_dim, a_dim v_dim)`, then an `a`-weighted
//! sum over `k`; no per-sample `(v_dim, v_dim)` matrix is ever formed.
//!
//! The weight is `weight`, shape `(a_dim, v_dim, v_dim)`, `weight[k] = A_k` (`A_k[o, i]` maps input
//! unit `i` to output unit `o`). The reference (`facebookresearch/SIE`, `src/hypernetwork.py`,
//! `--hypernetwork linear`, no bias) stores the same numbers as `net.0.weight` of shape
//! `(v_dim * v_dim, a_dim)`: `A_k[o, i] = net.0.weight[o * v_dim + i, k]`, i.e.
//! `weight = net.0.weight.T.reshape(a_dim, v_dim, v_dim)`. Initialisation is the reference's
//! (torch's default for `nn.Linear(a_dim, v_dim^2)`): uniform in `+-1/sqrt(a_dim)`.

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::layers::require_positive;

/// Sizes of a [`HypernetPredictor`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypernetConfig {
    /// Length of the action vector (4 for a quaternion, 6 or 8 for the other 3DIEBench actions).
    pub a_dim: usize,
    /// Width of the equivariant embedding `v` (SIE: 1024 after the projector).
    pub v_dim: usize,
}

impl HypernetConfig {
    /// Checks every field; the error names the first bad one.
    pub fn check(&self) -> Result<()> {
        require_positive(&[("a_dim", self.a_dim), ("v_dim", self.v_dim)])
    }
}

/// `yhat = W(a) v` with `W(a) = sum_k a_k A_k` (see the module docs).
#[derive(Debug, Clone)]
pub struct HypernetPredictor {
    weight: Tensor,
    config: HypernetConfig,
}

impl HypernetPredictor {
    /// A predictor with its weight `(a_dim, v_dim, v_dim)` named `weight` under `vb`.
    pub fn new(config: &HypernetConfig, vb: VarBuilder) -> Result<HypernetPredictor> {
        config.check()?;
        let bound = 1.0 / (config.a_dim as f64).sqrt();
        let weight = vb.get_with_hints(
            (config.a_dim, config.v_dim, config.v_dim),
            "weight",
            Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?;
        Ok(HypernetPredictor {
            weight,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HypernetConfig {
        &self.config
    }

    /// The stacked matrices `A`, `(a_dim, v_dim, v_dim)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// `v (N, v_dim)`, `a (N, a_dim)` -> `yhat (N, v_dim)`, `yhat_n = sum_k a_nk (A_k v_n)`.
    pub fn forward(&self, v: &Tensor, a: &Tensor) -> candle_core::Result<Tensor> {
        let HypernetConfig { a_dim, v_dim } = self.config;
        let (n, dv) = v.dims2()?;
        let (na, da) = a.dims2()?;
        if dv != v_dim || da != a_dim || n != na {
            candle_core::bail!(
                "hypernet predictor: v {:?} and a {:?}, expected (N, {v_dim}) and (N, {a_dim})",
                v.dims(),
                a.dims()
            );
        }
        // stacked[i, k * v_dim + o] = A_k[o, i]: (a, o, i) -> (i, a, o) -> (v_dim, a_dim v_dim)
        let stacked = self
            .weight
            .permute((2, 0, 1))?
            .contiguous()?
            .reshape((v_dim, a_dim * v_dim))?;
        let av = v.matmul(&stacked)?.reshape((n, a_dim, v_dim))?; // (N, a, v): A_k v_n
        av.broadcast_mul(&a.unsqueeze(2)?)?.sum(1) // sum_k a_nk (A_k v_n)
    }
}
