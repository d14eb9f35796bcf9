//! Make any candle network equivariant: group averaging, frame averaging, canonicalization and
//! probabilistic symmetrization (LPS, Kim et al., arXiv 2306.02866), with the equivariance
//! error measured everywhere.
//!
//! `phi(x) = E_{g ~ p(g | x)} [ g . f(g^-1 . x) ]` for a base network `f` and a distribution
//! `p` over a group that is itself equivariant (`p(g | x) = p(h g | h x)`). The four ways to
//! make a network equivariant are four choices of `p` ([`Mode`]):
//!
//! | mode | `p(g | x)` | needs |
//! |---|---|---|
//! | group averaging | Haar | nothing |
//! | frame averaging | uniform on an equivariant frame `F(x)` | a [`Frame`] |
//! | canonicalization | a point mass at `h(x)` | an [`Interface`] `h` |
//! | probabilistic | `post(q(x, eps))`, `eps` invariant noise | an [`Interface`] `q` |
//!
//! Averages are over final outputs (logits, not probabilities), with the `k` samples as a
//! batch axis. Groups ([`Group`]): `S_n` (SoftSort + log-Sinkhorn relaxation and the
//! straight-through estimator, [`sn`]), `O(d)` / `SO(d)` (Gram-Schmidt with the determinant
//! fix, [`o3`]), `S_n x O(d)`, translations by centring, and the exact pixel-grid groups `C4` /
//! `D4`. How each group moves each kind of tensor is [`Rep`] (table in [`rep`]).
//! [`equivariance_error`] measures `|phi(g x) - g phi(x)| / |g phi(x)|` with transported or
//! fresh noise. The interface networks of the paper live in [`interfaces`] (GIN with a virtual
//! node, Vector Neurons, a C4 group-convolution network).
//!
//! Wrap your own candle module in five lines (an MLP on a graph's flattened adjacency matrix,
//! made invariant to node relabelling by averaging over 8 random permutations):
//!
//! ```
//! # fn main() -> Result<(), noether_symmetrize::SymError> {
//! # use candle_core::{DType, Device, Module, Tensor};
//! # use noether_symmetrize::*;
//! # use rand::SeedableRng;
//! # let vb = candle_nn::VarBuilder::zeros(DType::F32, &Device::Cpu);
//! # let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! # let adj = Tensor::zeros((2, 4, 4), DType::F32, &Device::Cpu)?;
//! let mlp = candle_nn::linear(16, 3, vb)?;
//! let f = move |xs: &[Tensor], _train: bool| mlp.forward(&xs[0].flatten_from(1)?);
//! let model = Symmetrized::new(f, Group::Permutations, &[Rep::Pairs], Rep::Invariant)?
//!     .mode(Mode::GroupAveraging { k: 8 });
//! let logits = model.forward(&[adj], None, &mut rng, false)?.output; // (2, 3)
//! # assert_eq!(logits.dims(), &[2, 3]);
//! # Ok(()) }
//! ```

pub mod equivariance;
mod error;
pub mod group;
pub mod interfaces;
pub mod o3;
pub mod rep;
pub mod sn;
pub mod symmetrized;

pub use equivariance::{EquivarianceError, NoiseMode, equivariance_error};
pub use error::{Result, SymError};
pub use group::{Elements, Group};
pub use rep::Rep;
pub use sn::SnConfig;
pub use symmetrized::{
    Base, Draws, Frame, Interface, InterfaceOutput, Mode, NoInterface, NoiseDist, NoiseSpec,
    SymOutput, Symmetrized,
};
