//! Representations: how a tensor's axes transform under the groups of [`crate::Group`].
//!
//! The batch axis comes first everywhere (`M` = batch times samples). Conventions (LPS,
//! `papers/lps.md`): a permutation is a matrix `P` with `P[i, r] = 1` iff node `i` has rank
//! `r`; an orthogonal element is a matrix `R` acting on column vectors as `v -> R v`, so on the
//! row vectors stored here as `x -> x R^T`.
//!
//! | rep | shape | `S_n` (`P`) | `O(d)` (`R`) | image group |
//! |---|---|---|---|---|
//! | `Invariant` | any | unchanged | unchanged | unchanged |
//! | `Nodes` | `(M, n, c)` | `P X` | unchanged | — |
//! | `Pairs` | `(M, n, n)` or `(M, n, n, c)` | `P A P^T` | unchanged | — |
//! | `Points` | `(M, n, d)` or `(M, n, c, d)` | rows permuted | `X R^T` | — |
//! | `Vectors` | `(M, d)` or `(M, c, d)` | unchanged | `X R^T` | — |
//! | `Image` | `(M, c, h, w)`, `h = w` | — | — | quarter turns / flips of the pixel grid |
//! | `Regular` | `(M, |G|)` | — | — | `y[e] -> y[g^-1 e]` (a finite group's regular rep) |
//!
//! "—" means the group does not act on that representation; wrapping such a pair is an error.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SymError};

/// How a tensor transforms (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rep {
    /// Unchanged by every group: class logits, a graph-level value.
    Invariant,
    /// One feature vector per node, `(M, n, c)`: rows permuted.
    Nodes,
    /// One value (or vector) per ordered node pair, `(M, n, n)` or `(M, n, n, c)`: an
    /// adjacency matrix; rows and columns permuted.
    Pairs,
    /// One point (or `c` vectors) in `R^d` per node, `(M, n, d)` or `(M, n, c, d)`: rows
    /// permuted, coordinates rotated.
    Points,
    /// Node-free vectors in `R^d`, `(M, d)` or `(M, c, d)`: coordinates rotated.
    Vectors,
    /// Images `(M, c, h, w)` with square pixels grids: rotated and reflected exactly.
    Image,
    /// A function on a finite group's elements, `(M, |G|)`: shifted by the regular
    /// representation (what an image interface's logits are).
    Regular,
}

impl Rep {
    /// The rep's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Rep::Invariant => "invariant",
            Rep::Nodes => "nodes",
            Rep::Pairs => "pairs",
            Rep::Points => "points",
            Rep::Vectors => "vectors",
            Rep::Image => "image",
            Rep::Regular => "regular",
        }
    }

    /// The number of nodes of `x` (`None` for node-free reps), after checking that its shape
    /// fits the rep; `what` names the argument in the error.
    pub fn check(self, what: &str, x: &Tensor) -> Result<Option<usize>> {
        let dims = x.dims();
        let bad = |want: &str| {
            Err(SymError::invalid(
                what,
                format!(
                    "a {} tensor must have shape {want}, got {dims:?}",
                    self.name()
                ),
            ))
        };
        if dims.first() == Some(&0) {
            return bad("with a non-empty batch axis");
        }
        match (self, dims) {
            (Rep::Invariant, [_, ..]) => Ok(None),
            (Rep::Nodes, [_, n, _]) => Ok(Some(*n)),
            (Rep::Nodes, _) => bad("(M, n, c)"),
            (Rep::Pairs, [_, n, n2] | [_, n, n2, _]) if n == n2 => Ok(Some(*n)),
            (Rep::Pairs, _) => bad("(M, n, n) or (M, n, n, c)"),
            (Rep::Points, [_, n, _] | [_, n, _, _]) => Ok(Some(*n)),
            (Rep::Points, _) => bad("(M, n, d) or (M, n, c, d)"),
            (Rep::Vectors, [_, _] | [_, _, _]) => Ok(None),
            (Rep::Vectors, _) => bad("(M, d) or (M, c, d)"),
            (Rep::Image, [_, _, h, w]) if h == w => Ok(None),
            (Rep::Image, _) => bad("(M, c, h, w) with h = w"),
            (Rep::Regular, [_, _]) => Ok(None),
            (Rep::Regular, _) => bad("(M, |G|)"),
            (Rep::Invariant, []) => bad("with a batch axis"),
        }
    }

    /// The coordinate dimension `d` of a `Points` / `Vectors` tensor.
    pub(crate) fn coordinate_dim(self, x: &Tensor) -> Option<usize> {
        match self {
            Rep::Points | Rep::Vectors => x.dims().last().copied(),
            _ => None,
        }
    }
}
