//! The paper's interface networks as [`Interface`]s: [`GinInterface`] for graphs (`S_n`),
//! [`VnInterface`] for point sets (`O(3)`, `S_n x O(3)`), [`C4Interface`] for images.
//!
//! Each wraps a network of `noether-models` and says which input it reads and how the noise
//! enters. In canonicalization the noise slot is filled with zeros (the same network, no noise),
//! so one trained interface serves both modes.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use noether_models::{GCnn, GCnnConfig, Gin, GinConfig, Linear, VnConfig, VnNet, torch_linear};

use crate::error::{Result, SymError};
use crate::rep::Rep;
use crate::symmetrized::{Interface, InterfaceOutput, NoiseDist, NoiseSpec};

/// GIN with a virtual node on the first `Pairs` input (the adjacency, `(M, n, n)`), reading
/// `U(0, 1)` noise per node and channel as its node features (LPS: 3 layers, hidden 64),
/// concatenated after the first `Nodes` input's features when there is one. One score per node.
#[derive(Debug, Clone)]
pub struct GinInterface {
    gin: Gin,
    noise_channels: usize,
    adjacency: usize,
    features: Option<usize>,
}

impl GinInterface {
    /// A GIN interface for inputs of representations `inputs`, with `noise_channels` noise
    /// channels, `feature_dim` features per node from the first `Nodes` input (0 if none),
    /// `hidden` width and `layers` layers.
    pub fn new(
        inputs: &[Rep],
        feature_dim: usize,
        noise_channels: usize,
        hidden: usize,
        layers: usize,
        vb: VarBuilder,
    ) -> Result<GinInterface> {
        let adjacency = inputs
            .iter()
            .position(|r| *r == Rep::Pairs)
            .ok_or_else(|| SymError::invalid("interface", "GIN needs a Pairs (adjacency) input"))?;
        let features = inputs.iter().position(|r| *r == Rep::Nodes);
        if features.is_none() && feature_dim > 0 {
            return Err(SymError::invalid(
                "interface",
                "feature_dim > 0 but no Nodes input",
            ));
        }
        let in_dim = feature_dim + noise_channels;
        if in_dim == 0 {
            return Err(SymError::invalid(
                "interface",
                "GIN needs node features or noise channels",
            ));
        }
        let cfg = GinConfig {
            in_dim,
            hidden,
            layers,
            out_dim: 1,
            virtual_node: true,
        };
        Ok(GinInterface {
            gin: Gin::new(&cfg, vb)?,
            noise_channels,
            adjacency,
            features,
        })
    }
}

impl Interface for GinInterface {
    fn noise(&self) -> Option<NoiseSpec> {
        (self.noise_channels > 0).then_some(NoiseSpec {
            rep: Rep::Nodes,
            channels: self.noise_channels,
            dist: NoiseDist::Uniform,
        })
    }

    fn forward(
        &self,
        inputs: &[Tensor],
        noise: Option<&Tensor>,
        mask: Option<&Tensor>,
        _train: bool,
    ) -> candle_core::Result<InterfaceOutput> {
        let adj = &inputs[self.adjacency];
        let adj = if adj.rank() == 4 {
            adj.narrow(3, 0, 1)?.squeeze(3)?
        } else {
            adj.clone()
        };
        let (m, n, _) = adj.dims3()?;
        let mut parts = Vec::new();
        if let Some(i) = self.features {
            parts.push(inputs[i].clone());
        }
        if self.noise_channels > 0 {
            parts.push(match noise {
                Some(e) => e.clone(),
                None => Tensor::zeros((m, n, self.noise_channels), adj.dtype(), adj.device())?,
            });
        }
        let x = Tensor::cat(&parts, 2)?;
        let mask = match mask {
            Some(mk) => mk.to_dtype(adj.dtype())?,
            None => Tensor::ones((m, n), adj.dtype(), adj.device())?,
        };
        let s = self.gin.forward(&x, &adj, &mask)?.squeeze(2)?;
        Ok(InterfaceOutput {
            scores: Some(s),
            ..InterfaceOutput::default()
        })
    }
}

/// Vector Neurons (kNN message passing) on the first `Points` input (`(M, n, c, 3)` or
/// `(M, n, 3)`: e.g. centred positions and velocities), with the first `Nodes` input as
/// invariant scalars (charges) when there is one, and `N(0, 1)` noise per node and coordinate
/// as extra vector channels. Outputs three equivariant vectors and, for `S_n x O(3)`, one
/// invariant score per node (LPS: width 64, kNN 4).
#[derive(Debug, Clone)]
pub struct VnInterface {
    net: VnNet,
    noise_channels: usize,
    points: usize,
    scalars: Option<usize>,
    scores: bool,
}

impl VnInterface {
    /// A VN interface for inputs `inputs` with `vector_channels` channels in the `Points`
    /// input, `scalar_dim` scalars per node from the `Nodes` input (0: none), `noise_channels`
    /// noise vectors per node, `width`, `layers`, `knn`; `scores` adds the per-node scores of
    /// `S_n x O(3)`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inputs: &[Rep],
        vector_channels: usize,
        scalar_dim: usize,
        noise_channels: usize,
        width: usize,
        layers: usize,
        knn: usize,
        scores: bool,
        vb: VarBuilder,
    ) -> Result<VnInterface> {
        let points = inputs
            .iter()
            .position(|r| *r == Rep::Points)
            .ok_or_else(|| SymError::invalid("interface", "Vector Neurons need a Points input"))?;
        let scalars = (scalar_dim > 0)
            .then(|| inputs.iter().position(|r| *r == Rep::Nodes))
            .flatten();
        if scalar_dim > 0 && scalars.is_none() {
            return Err(SymError::invalid(
                "interface",
                "scalar_dim > 0 but no Nodes input",
            ));
        }
        let cfg = VnConfig {
            in_vectors: vector_channels + noise_channels,
            in_scalars: scalar_dim,
            width,
            layers,
            knn,
            out_scalars: 1,
            out_vectors: 3,
        };
        Ok(VnInterface {
            net: VnNet::new(&cfg, vb)?,
            noise_channels,
            points,
            scalars,
            scores,
        })
    }
}

impl Interface for VnInterface {
    fn noise(&self) -> Option<NoiseSpec> {
        (self.noise_channels > 0).then_some(NoiseSpec {
            rep: Rep::Points,
            channels: self.noise_channels,
            dist: NoiseDist::Gaussian,
        })
    }

    fn forward(
        &self,
        inputs: &[Tensor],
        noise: Option<&Tensor>,
        mask: Option<&Tensor>,
        _train: bool,
    ) -> candle_core::Result<InterfaceOutput> {
        let x = &inputs[self.points];
        let x = if x.rank() == 3 {
            x.unsqueeze(2)?
        } else {
            x.clone()
        };
        let (m, n, _, d) = x.dims4()?;
        let x = if self.noise_channels > 0 {
            let e = match noise {
                Some(e) => e.clone(),
                None => Tensor::zeros((m, n, self.noise_channels, d), x.dtype(), x.device())?,
            };
            Tensor::cat(&[x, e], 2)?
        } else {
            x
        };
        let s = self.scalars.map(|i| inputs[i].clone());
        let out = self.net.forward(&x, s.as_ref(), mask)?;
        Ok(InterfaceOutput {
            scores: if self.scores {
                Some(out.scalars.squeeze(2)?)
            } else {
                None
            },
            vectors: Some(out.vectors),
            logits: None,
        })
    }
}

/// A C4 group-convolution network on the first `Image` input: its pooled fibers `(M, C, 4)`
/// through one linear map of the channels give one logit per rotation, in the regular
/// representation (`logits(rot_j x)[r] = logits(x)[r - j]`).
#[derive(Debug, Clone)]
pub struct C4Interface {
    net: GCnn,
    head: Linear,
    image: usize,
}

impl C4Interface {
    /// A C4 interface with `in_channels` image channels and the G-CNN `widths` per block.
    pub fn new(
        inputs: &[Rep],
        in_channels: usize,
        widths: Vec<usize>,
        vb: VarBuilder,
    ) -> Result<C4Interface> {
        let image = inputs
            .iter()
            .position(|r| *r == Rep::Image)
            .ok_or_else(|| {
                SymError::invalid("interface", "the C4 interface needs an Image input")
            })?;
        let c = widths.last().copied().unwrap_or(0);
        let cfg = GCnnConfig::new(in_channels, widths, 4);
        Ok(C4Interface {
            net: GCnn::new(&cfg, vb.pp("gcnn"))?,
            head: torch_linear(c, 1, false, vb.pp("head"))?,
            image,
        })
    }
}

impl Interface for C4Interface {
    fn noise(&self) -> Option<NoiseSpec> {
        None
    }

    fn forward(
        &self,
        inputs: &[Tensor],
        _noise: Option<&Tensor>,
        _mask: Option<&Tensor>,
        train: bool,
    ) -> candle_core::Result<InterfaceOutput> {
        use noether_models::FiberBackbone;
        let f = self.net.pooled_fibers_t(&inputs[self.image], train)?; // (M, C, 4)
        let logits = self
            .head
            .forward(&f.transpose(1, 2)?.contiguous()?)?
            .squeeze(2)?; // (M, 4)
        // the G-CNN's fibers shift like the regular representation: logit r is fiber r
        Ok(InterfaceOutput {
            logits: Some(logits),
            ..InterfaceOutput::default()
        })
    }
}
