//! A Vector-Neurons network for point sets: the `S_n x O(3)` interface network of probabilistic
//! symmetrization (LPS) on n-body systems.
//!
//! Vector Neurons: Deng, Litany, Duan, Poulenard, Tagliasacchi & Guibas, "Vector Neurons: A
//! General Framework for SO(3)-Equivariant Networks" (ICCV 2021, arXiv 2104.12229), with the
//! edge convolution of DGCNN (Wang et al. 2019) over a kNN graph. LPS (Kim et al., arXiv
//! 2306.02866, `papers/lps.md`) uses "Vector Neurons (width 64, kNN 4)" to output per-node
//! invariant scores (from which a permutation is sampled) and a node-pooled equivariant `3 x 3`
//! matrix (Gram-Schmidt turns it into a rotation).
//!
//! ## Features and layers
//!
//! A node carries `C` vector channels, a `C x 3` matrix `V` (a rotation `R` acts on the right,
//! `V -> V Rᵀ`, i.e. every channel `v -> R v`), stored channel-last as `(..., 3, C)`.
//!
//! - **VN-Linear** `V' = W V`, `W (C_out, C_in)`, no bias: it mixes channels only, so it
//!   commutes with every `3 x 3` matrix acting on the coordinates.
//! - **VN-LeakyReLU** (Deng et al. sec. 3.3, slope 0.2): a learned direction per output channel
//!   `k = U V` (another VN-Linear of the layer's input), and
//!   `v' = v` if `<v, k> >= 0`, else `v - (1 - slope) <v, k> k / (|k|² + 1e-6)`: the negative
//!   part along `k` is scaled by the slope. `<v, k>` and `|k|` are invariant, so `v'` is
//!   equivariant under `O(3)` (reflections included).
//! - **Edge convolution** over a kNN graph: for node `i` and each of its neighbours `j`, the edge
//!   feature `[V_j - V_i, V_i]` (`2C` channels) goes through VN-Linear and VN-LeakyReLU to the
//!   layer width, and node `i` takes the **mean** over its neighbours. The graph is computed once,
//!   from the first input channel (positions): the `knn` nearest other real nodes by Euclidean
//!   distance (distances are invariant under `O(3)` and the choice is permutation-equivariant).
//!   A real node with no other real node in its set takes the self edge `[0, V_i]` instead, so a
//!   one-point set still has features; a graph of fewer than `knn + 1` real nodes uses them all.
//! - **Scalar head** (per node, `O(3)`-invariant, `S_n`-equivariant): the channel-wise inner
//!   products `<V_c, (U V)_c>` with a VN-Linear `U` (width invariants), concatenated with the
//!   input node scalars, through Linear-ReLU-Linear to `out_scalars`.
//! - **Vector head** (`O(3)`-equivariant, `S_n`-invariant): VN-Linear to `out_vectors` channels,
//!   then the mean over the real nodes: `(B, out_vectors, 3)`.
//!
//! The input node scalars (e.g. charges) enter the scalar head only: the vector features see
//! geometry alone. Translations are not handled here: give centred positions (LPS subtracts the
//! centroid before the interface).
//!
//! ## Equivariance, masks and ties
//!
//! For any orthogonal `R` (`det = ±1`) and permutation `P`:
//! `scalars(P X Rᵀ) = P scalars(X)` and `vectors(P X Rᵀ) = vectors(X) Rᵀ`, up to float rounding.
//! Padding nodes (`mask = 0`) are never anyone's neighbour, their features are zeroed after every
//! layer, their scalar outputs are exactly zero, and they are left out of the vector mean; so
//! their inputs change nothing. The kNN sort breaks distance ties by node index, which keeps it
//! deterministic but is permutation-equivariant only when no two candidate distances tie at the
//! `k`-th place (true almost surely for real-valued positions).
//!
//! ## Weight names
//!
//! `layers.{l}.feat.weight` `(width, 2 C_l)` and `layers.{l}.dir.weight` `(width, 2 C_l)` (the
//! edge VN-Linear and the LeakyReLU directions; `C_0 = in_vectors`, then `width`);
//! `invariant.weight` `(width, width)`; `scalar_head.0.*` `(width, width + in_scalars)`,
//! `scalar_head.2.*` `(out_scalars, width)`; `vector_head.weight` `(out_vectors, width)`. All
//! initialised as `torch.nn.Linear`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use noether_models::{ParamStore, VnConfig, VnNet};
//! let store = ParamStore::seeded(0);
//! let net = VnNet::new(&VnConfig::new(2, 1, 1, 3), store.var_builder(DType::F32, &Device::Cpu))?;
//! let x = Tensor::randn(0f32, 1.0, (4, 5, 2, 3), &Device::Cpu)?; // position and velocity
//! let q = Tensor::ones((4, 5, 1), DType::F32, &Device::Cpu)?;   // charges
//! let out = net.forward(&x, Some(&q), None)?;
//! assert_eq!(out.scalars.dims(), &[4, 5, 1]);
//! assert_eq!(out.vectors.dims(), &[4, 3, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::layers::{Linear, require_positive, torch_linear};

/// The slope of the VN-LeakyReLU's negative part (Deng et al.'s default).
const NEGATIVE_SLOPE: f64 = 0.2;
/// Added to `|k|²` in the VN-LeakyReLU's projection (Deng et al.'s `EPS`).
const DIR_EPS: f64 = 1e-6;

/// Settings of a [`VnNet`]. Unknown keys are an error when deserialising.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VnConfig {
    /// Vector channels per input node (n-body: 2, centred position and velocity); the first is
    /// the position the kNN graph is built from.
    pub in_vectors: usize,
    /// Invariant scalars per input node (n-body: 1, the charge); may be 0.
    pub in_scalars: usize,
    /// Vector channels of every hidden layer (LPS: 64).
    pub width: usize,
    /// Number of edge-convolution layers.
    pub layers: usize,
    /// Neighbours per node in the kNN graph (LPS: 4).
    pub knn: usize,
    /// Invariant scores per node.
    pub out_scalars: usize,
    /// Equivariant vectors of the pooled output (3 for a `3 x 3` frame).
    pub out_vectors: usize,
}

impl VnConfig {
    /// LPS's n-body interface shape: width 64, 2 edge-convolution layers (as the LPS reference
    /// VNN's two kNN convolutions), kNN 4.
    pub fn new(
        in_vectors: usize,
        in_scalars: usize,
        out_scalars: usize,
        out_vectors: usize,
    ) -> VnConfig {
        VnConfig {
            in_vectors,
            in_scalars,
            width: 64,
            layers: 2,
            knn: 4,
            out_scalars,
            out_vectors,
        }
    }

    /// Checks every field; the error ([`crate::ModelError::Config`]) names the first bad one.
    /// Every field but `in_scalars` must be positive.
    pub fn validate(&self) -> Result<()> {
        require_positive(&[
            ("in_vectors", self.in_vectors),
            ("width", self.width),
            ("layers", self.layers),
            ("knn", self.knn),
            ("out_scalars", self.out_scalars),
            ("out_vectors", self.out_vectors),
        ])
    }
}

/// What a [`VnNet`] returns.
#[derive(Debug, Clone)]
pub struct VnOutput {
    /// `(B, N, out_scalars)`: `O(3)`-invariant, permutation-equivariant per-node scores; zero at
    /// padding nodes.
    pub scalars: Tensor,
    /// `(B, out_vectors, 3)`: `O(3)`-equivariant (rows transform as `v -> R v`),
    /// permutation-invariant vectors, the mean over the real nodes.
    pub vectors: Tensor,
}

/// One edge convolution: the VN-Linear of the edge features and its LeakyReLU directions.
#[derive(Debug, Clone)]
struct EdgeConv {
    feat: Linear,
    dir: Linear,
}

/// The kNN graph of a batch as fixed-width neighbour slots.
struct Neighbours {
    /// `(B N S,)` u32 row indices into the flattened `(B N, ...)` node features.
    index: Tensor,
    /// `(B, N, S, 1, 1)`: `1 / degree` for a used slot, 0 for an empty one.
    weight: Tensor,
    /// Slots per node.
    slots: usize,
}

/// A Vector-Neurons network: kNN edge convolutions, an invariant per-node head and an
/// equivariant pooled head (see the module docs).
#[derive(Debug, Clone)]
pub struct VnNet {
    layers: Vec<EdgeConv>,
    invariant: Linear,
    scalar_first: Linear,
    scalar_second: Linear,
    vector_head: Linear,
    config: VnConfig,
}

impl VnNet {
    /// Builds the network under `vb`; an invalid config is an error.
    pub fn new(config: &VnConfig, vb: VarBuilder) -> Result<VnNet> {
        config.validate()?;
        let w = config.width;
        let mut layers = Vec::with_capacity(config.layers);
        for l in 0..config.layers {
            let c_in = 2 * if l == 0 { config.in_vectors } else { w };
            let lv = vb.pp("layers").pp(l);
            layers.push(EdgeConv {
                feat: torch_linear(c_in, w, false, lv.pp("feat"))?,
                dir: torch_linear(c_in, w, false, lv.pp("dir"))?,
            });
        }
        let invariant = torch_linear(w, w, false, vb.pp("invariant"))?;
        let sh = vb.pp("scalar_head");
        let scalar_first = torch_linear(w + config.in_scalars, w, true, sh.pp(0))?;
        let scalar_second = torch_linear(w, config.out_scalars, true, sh.pp(2))?;
        let vector_head = torch_linear(w, config.out_vectors, false, vb.pp("vector_head"))?;
        Ok(VnNet {
            layers,
            invariant,
            scalar_first,
            scalar_second,
            vector_head,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VnConfig {
        &self.config
    }

    /// `vectors (B, N, in_vectors, 3)` (channel 0 the positions, centred by the caller),
    /// `scalars (B, N, in_scalars)` (required when `in_scalars > 0`), `mask (B, N)` (1 = real
    /// node, 0 = padding; all real when `None`) -> [`VnOutput`]. `scalars` and `mask` are cast
    /// to the dtype of `vectors`. A shape mismatch is an error naming `VnNet` and the argument.
    pub fn forward(
        &self,
        vectors: &Tensor,
        scalars: Option<&Tensor>,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<VnOutput> {
        let cfg = &self.config;
        let (b, n) = match vectors.dims() {
            [b, n, c, 3] if *c == cfg.in_vectors => (*b, *n),
            dims => candle_core::bail!(
                "VnNet: vectors must be (B, N, {}, 3), got {dims:?}",
                cfg.in_vectors
            ),
        };
        let scalars = match scalars {
            Some(s) if s.dims() == [b, n, cfg.in_scalars] => Some(s.to_dtype(vectors.dtype())?),
            Some(s) => candle_core::bail!(
                "VnNet: scalars must be (B, N, {}) = ({b}, {n}, {}) to match vectors, got {:?}",
                cfg.in_scalars,
                cfg.in_scalars,
                s.dims()
            ),
            None if cfg.in_scalars > 0 => candle_core::bail!(
                "VnNet: scalars (B, N, {}) are required (in_scalars = {})",
                cfg.in_scalars,
                cfg.in_scalars
            ),
            None => None,
        };
        let dtype = vectors.dtype();
        let dev = vectors.device();
        let mask_values: Vec<f64> = match mask {
            Some(m) if m.dims() == [b, n] => m.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?,
            Some(m) => candle_core::bail!(
                "VnNet: mask must be (B, N) = ({b}, {n}) to match vectors, got {:?}",
                m.dims()
            ),
            None => vec![1.0; b * n],
        };
        let real: Vec<bool> = mask_values.iter().map(|&v| v != 0.0).collect();
        let positions: Vec<f64> = vectors
            .narrow(2, 0, 1)?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1()?;
        let graph = knn_graph(&positions, &real, b, n, cfg.knn, dtype, dev)?;
        let node_mask = Tensor::from_vec(mask_values.clone(), (b, n), dev)?.to_dtype(dtype)?;

        // channel-last node features (B, N, 3, C)
        let mut h = vectors.transpose(2, 3)?.contiguous()?;
        let m4 = node_mask.reshape((b, n, 1, 1))?;
        for layer in &self.layers {
            h = edge_conv(layer, &h, &graph, b, n)?.broadcast_mul(&m4)?;
        }

        // scalar head: channel-wise <V_c, (U V)_c>, then the input scalars, then an MLP
        let u = self.invariant.forward(&h)?;
        let mut inv = (&h * &u)?.sum(2)?; // (B, N, width)
        if let Some(s) = scalars.filter(|_| cfg.in_scalars > 0) {
            inv = Tensor::cat(&[&inv, &s], 2)?;
        }
        let hidden = noether_ops::relu(&self.scalar_first.forward(&inv)?)?;
        let scores = self
            .scalar_second
            .forward(&hidden)?
            .broadcast_mul(&node_mask.unsqueeze(2)?)?;

        // vector head: VN-Linear, then the mean over the real nodes
        let mut pool = mask_values;
        for row in pool.chunks_mut(n.max(1)) {
            let count: f64 = row.iter().filter(|&&v| v != 0.0).count() as f64;
            row.iter_mut()
                .for_each(|v| *v = if *v != 0.0 { 1.0 / count } else { 0.0 });
        }
        let pool = Tensor::from_vec(pool, (b, n, 1, 1), dev)?.to_dtype(dtype)?;
        let pooled = self
            .vector_head
            .forward(&h)? // (B, N, 3, out_vectors)
            .broadcast_mul(&pool)?
            .sum(1)?; // (B, 3, out_vectors)
        Ok(VnOutput {
            scalars: scores,
            vectors: pooled.transpose(1, 2)?.contiguous()?,
        })
    }
}

/// The kNN graph of every set of the batch from the positions `(B, N, 3)` (row-major f64) and the
/// real-node flags: each real node's `knn` nearest other real nodes, ties by index; a real node
/// alone in its set gets its self edge; padding nodes get none.
fn knn_graph(
    positions: &[f64],
    real: &[bool],
    b: usize,
    n: usize,
    knn: usize,
    dtype: DType,
    dev: &candle_core::Device,
) -> candle_core::Result<Neighbours> {
    let slots = knn.min(n.saturating_sub(1)).max(1);
    let mut index = Vec::with_capacity(b * n * slots);
    let mut weight = Vec::with_capacity(b * n * slots);
    let mut candidates: Vec<(f64, usize)> = Vec::with_capacity(n);
    for bi in 0..b {
        let base = bi * n;
        let pos = |i: usize| &positions[3 * (base + i)..3 * (base + i) + 3];
        for i in 0..n {
            let me = (base + i) as u32;
            candidates.clear();
            if real[base + i] {
                let pi = pos(i);
                for j in (0..n).filter(|&j| j != i && real[base + j]) {
                    let d2: f64 = pi.iter().zip(pos(j)).map(|(a, c)| (a - c) * (a - c)).sum();
                    candidates.push((d2, j));
                }
                candidates.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                candidates.truncate(slots);
            }
            let used = candidates.len();
            for s in 0..slots {
                match candidates.get(s) {
                    Some(&(_, j)) => {
                        index.push((base + j) as u32);
                        weight.push(1.0 / used as f64);
                    }
                    None if s == 0 && real[base + i] => {
                        index.push(me); // no other real node: the self edge [0, V_i]
                        weight.push(1.0);
                    }
                    None => {
                        index.push(me);
                        weight.push(0.0);
                    }
                }
            }
        }
    }
    Ok(Neighbours {
        index: Tensor::from_vec(index, b * n * slots, dev)?,
        weight: Tensor::from_vec(weight, (b, n, slots, 1, 1), dev)?.to_dtype(dtype)?,
        slots,
    })
}

/// One edge convolution of the channel-last features `h (B, N, 3, C)` -> `(B, N, 3, width)`:
/// VN-Linear and VN-LeakyReLU of `[h_j - h_i, h_i]` per slot, weighted sum over the slots.
fn edge_conv(
    layer: &EdgeConv,
    h: &Tensor,
    graph: &Neighbours,
    b: usize,
    n: usize,
) -> candle_core::Result<Tensor> {
    let c = h.dim(3)?;
    let s = graph.slots;
    let neighbours = h
        .reshape((b * n, 3 * c))?
        .index_select(&graph.index, 0)?
        .reshape((b, n, s, 3, c))?;
    let own = h.unsqueeze(2)?.broadcast_as((b, n, s, 3, c))?;
    let edges = Tensor::cat(&[&(neighbours - &own)?, &own], 4)?; // (B, N, S, 3, 2C)
    let p = layer.feat.forward(&edges)?;
    let k = layer.dir.forward(&edges)?;
    vn_leaky_relu(&p, &k)?.broadcast_mul(&graph.weight)?.sum(2)
}

/// Deng et al.'s VN-LeakyReLU of `p` with directions `k`, both `(..., 3, C)`: where
/// `<p, k> < 0`, `p - (1 - slope) <p, k> k / (|k|² + eps)`; elsewhere `p`.
fn vn_leaky_relu(p: &Tensor, k: &Tensor) -> candle_core::Result<Tensor> {
    let axis = p.rank() - 2;
    let dot = (p * k)?.sum_keepdim(axis)?; // (..., 1, C), invariant
    let k2 = k.sqr()?.sum_keepdim(axis)?;
    let negative = dot.lt(0.0)?.to_dtype(p.dtype())?; // no gradient: a constant mask
    let coef = ((dot * negative)? / (k2 + DIR_EPS)?)?.affine(1.0 - NEGATIVE_SLOPE, 0.0)?;
    p - coef.broadcast_mul(k)?
}
