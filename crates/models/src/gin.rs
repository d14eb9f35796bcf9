//! A Graph Isomorphism Network with a virtual node: the graph interface network of
//! probabilistic symmetrization (LPS).
//!
//! GIN: Xu, Hu, Leskovec & Jegelka, "How Powerful are Graph Neural Networks?" (ICLR 2019,
//! arXiv 1810.00826), eq. 4.1; the virtual node as in Gilmer et al. (2017) and the OGB
//! reference GNNs (`snap-stanford/ogb`, `gnn.py` / `conv.py`, `virtual_node=True`). LPS (Kim et
//! al., arXiv 2306.02866, `papers/lps.md`) uses "GIN (3 layers, hidden 64, sum aggregation,
//! learnable eps, a learnable virtual node linked to all nodes)" to output one score per node,
//! from which a permutation is sampled.
//!
//! ## The map
//!
//! Dense batches: node features `x (B, N, in_dim)`, a 0/1 adjacency `A (B, N, N)` and a node mask
//! `m (B, N)` (1 = real node, 0 = padding). With `h ⊙ m` the row-wise product by the mask:
//!
//! ```text
//! h⁰      = (x W_in + b_in) ⊙ m                                  input projection to `hidden`
//! for l = 0 .. L-1:
//!     h   = (h + vn_l) ⊙ m                                       virtual node -> every real node
//!     z_v = (1 + eps_l) h_v + Σ_u A[v, u] h_u                    sum aggregation, learnable eps_l
//!     h'  = MLP_l(z)  (Linear-ReLU-Linear), then ReLU unless l = L-1, then ⊙ m
//!     vn_{l+1} = MLP_vn_l(vn_l + Σ_{v real} h_v)   (l < L-1)     Linear-ReLU-Linear-ReLU
//!     h   = h'
//! y       = (h W_out + b_out) ⊙ m                                 (B, N, out_dim)
//! ```
//!
//! `vn_0` is a learned embedding of width `hidden` (initialised to zero, as OGB); the virtual
//! node's update pools the features that entered layer `l` (after the virtual node was added to
//! them), as OGB does. Without the virtual node the two virtual-node steps are skipped. There is
//! no batch norm (its statistics would couple the graphs of a batch). Padding nodes are zeroed
//! after every step, so they never enter a sum, whatever their inputs and adjacency rows hold,
//! and their outputs are exactly zero.
//!
//! Every step is node-wise or a sum over nodes, so for any permutation matrix `P`:
//! `Gin(P x, P A Pᵀ, P m) = P Gin(x, A, m)`. The virtual node gives every node a global
//! summary of its graph: two nodes with identical neighbourhoods in graphs of different sizes
//! get different outputs only with it.
//!
//! ## Weight names
//!
//! `input.{weight,bias}`; `layers.{l}.eps` `(1,)`, `layers.{l}.mlp.0.*` and `layers.{l}.mlp.2.*`
//! (the two Linear layers, `nn.Sequential` indices); `virtual_node.embedding` `(hidden,)` and
//! `virtual_node.mlps.{l}.0.*`, `virtual_node.mlps.{l}.2.*` for `l < L-1`;
//! `output.{weight,bias}`. Linear layers are initialised as `torch.nn.Linear`, `eps` at 0.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use noether_models::{Gin, GinConfig, ParamStore};
//! let store = ParamStore::seeded(0);
//! let gin = Gin::new(&GinConfig::new(4, 1), store.var_builder(DType::F32, &Device::Cpu))?;
//! let x = Tensor::ones((2, 5, 4), DType::F32, &Device::Cpu)?;
//! let adj = Tensor::zeros((2, 5, 5), DType::F32, &Device::Cpu)?;
//! let mask = Tensor::ones((2, 5), DType::F32, &Device::Cpu)?;
//! assert_eq!(gin.forward(&x, &adj, &mask)?.dims(), &[2, 5, 1]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{Module, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::layers::{Linear, require_positive, torch_linear};

/// Settings of a [`Gin`]. Unknown keys are an error when deserialising.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GinConfig {
    /// Width of the input node features.
    pub in_dim: usize,
    /// Width of every hidden layer (LPS: 64).
    pub hidden: usize,
    /// Number of GIN layers (LPS: 3).
    pub layers: usize,
    /// Width of the per-node output (1 for LPS's node scores).
    pub out_dim: usize,
    /// A learnable virtual node linked to every real node (LPS: yes).
    pub virtual_node: bool,
}

impl GinConfig {
    /// LPS's interface: hidden 64, 3 layers, with the virtual node.
    pub fn new(in_dim: usize, out_dim: usize) -> GinConfig {
        GinConfig {
            in_dim,
            hidden: 64,
            layers: 3,
            out_dim,
            virtual_node: true,
        }
    }

    /// Checks every field; the error ([`crate::ModelError::Config`]) names the first bad one.
    pub fn validate(&self) -> Result<()> {
        require_positive(&[
            ("in_dim", self.in_dim),
            ("hidden", self.hidden),
            ("layers", self.layers),
            ("out_dim", self.out_dim),
        ])
    }
}

/// Linear-ReLU-Linear.
#[derive(Debug, Clone)]
struct TwoLayer {
    first: Linear,
    second: Linear,
}

impl TwoLayer {
    fn new(width: usize, vb: VarBuilder) -> candle_core::Result<TwoLayer> {
        Ok(TwoLayer {
            first: torch_linear(width, width, true, vb.pp(0))?,
            second: torch_linear(width, width, true, vb.pp(2))?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.second
            .forward(&noether_ops::relu(&self.first.forward(x)?)?)
    }
}

/// One GIN layer: its `eps` and its MLP.
#[derive(Debug, Clone)]
struct GinLayer {
    eps: Tensor,
    mlp: TwoLayer,
}

/// The virtual node: its initial embedding and one update MLP per layer but the last.
#[derive(Debug, Clone)]
struct VirtualNode {
    embedding: Tensor,
    mlps: Vec<TwoLayer>,
}

/// A GIN with an optional virtual node over dense, padded graph batches (see the module docs).
#[derive(Debug, Clone)]
pub struct Gin {
    input: Linear,
    layers: Vec<GinLayer>,
    virtual_node: Option<VirtualNode>,
    output: Linear,
    config: GinConfig,
}

impl Gin {
    /// Builds the network under `vb`; an invalid config is an error.
    pub fn new(config: &GinConfig, vb: VarBuilder) -> Result<Gin> {
        config.validate()?;
        let h = config.hidden;
        let input = torch_linear(config.in_dim, h, true, vb.pp("input"))?;
        let mut layers = Vec::with_capacity(config.layers);
        for l in 0..config.layers {
            let lv = vb.pp("layers").pp(l);
            let eps = lv.get_with_hints(1, "eps", Init::Const(0.0))?;
            let mlp = TwoLayer::new(h, lv.pp("mlp"))?;
            layers.push(GinLayer { eps, mlp });
        }
        let virtual_node = if config.virtual_node {
            let vv = vb.pp("virtual_node");
            let embedding = vv.get_with_hints(h, "embedding", Init::Const(0.0))?;
            let mlps = (0..config.layers - 1)
                .map(|l| TwoLayer::new(h, vv.pp("mlps").pp(l)))
                .collect::<candle_core::Result<Vec<_>>>()?;
            Some(VirtualNode { embedding, mlps })
        } else {
            None
        };
        let output = torch_linear(h, config.out_dim, true, vb.pp("output"))?;
        Ok(Gin {
            input,
            layers,
            virtual_node,
            output,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GinConfig {
        &self.config
    }

    /// `x (B, N, in_dim)`, `adj (B, N, N)` (0/1, `adj[b, v, u] = 1` when `u` sends to `v`;
    /// symmetric for undirected graphs), `mask (B, N)` (1 = real node, 0 = padding) ->
    /// `(B, N, out_dim)`, zero at padding nodes. `adj` and `mask` are cast to `x`'s dtype. A
    /// shape mismatch is an error naming `Gin` and the argument.
    pub fn forward(&self, x: &Tensor, adj: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (b, n) = match x.dims() {
            [b, n, d] if *d == self.config.in_dim => (*b, *n),
            dims => candle_core::bail!(
                "Gin: x must be (B, N, {}), got {dims:?}",
                self.config.in_dim
            ),
        };
        if adj.dims() != [b, n, n] {
            candle_core::bail!(
                "Gin: adj must be (B, N, N) = ({b}, {n}, {n}) to match x, got {:?}",
                adj.dims()
            );
        }
        if mask.dims() != [b, n] {
            candle_core::bail!(
                "Gin: mask must be (B, N) = ({b}, {n}) to match x, got {:?}",
                mask.dims()
            );
        }
        let dtype = x.dtype();
        let adj = adj.to_dtype(dtype)?;
        let m = mask.to_dtype(dtype)?.unsqueeze(2)?; // (B, N, 1)
        let mut h = self.input.forward(x)?.broadcast_mul(&m)?; // (B, N, H)
        let mut vn = self
            .virtual_node
            .as_ref()
            .map(|v| v.embedding.unsqueeze(0)?.unsqueeze(0)) // (1, 1, H)
            .transpose()?;
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            if let Some(v) = &vn {
                h = h.broadcast_add(v)?.broadcast_mul(&m)?;
            }
            let agg = noether_ops::batched_matmul(&adj, &h, 1.0)?; // Σ_u A[v, u] h_u
            let self_term = h.broadcast_mul(&(layer.eps.affine(1.0, 1.0)?))?;
            let mut out = layer.mlp.forward(&(self_term + agg)?)?;
            if l < last {
                out = noether_ops::relu(&out)?;
            }
            out = out.broadcast_mul(&m)?;
            if l < last
                && let (Some(v), Some(node)) = (&vn, &self.virtual_node)
            {
                let pooled = h.sum_keepdim(1)?.broadcast_add(v)?; // (B, 1, H)
                vn = Some(noether_ops::relu(&node.mlps[l].forward(&pooled)?)?);
            }
            h = out;
        }
        self.output.forward(&h)?.broadcast_mul(&m)
    }
}
