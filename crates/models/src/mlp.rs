//! MLP heads: SSL projectors, expanders and predictors as stacks of Linear-BN-ReLU.
//!
//! The heads of the methods this workspace implements (`papers/baselines.md`,
//! `papers/equimod.md`, `papers/sie_3diebench.md`) are all one shape: hidden layers
//! `Linear -> BatchNorm1d -> ReLU`, then a last `Linear`, sometimes followed by a batch norm
//! (EquiMod's SimCLR head ends in `BatchNorm1d(affine=False)`):
//!
//! | preset | layers | source |
//! |---|---|---|
//! | [`MlpConfig::simclr_projector`] | `[Linear(no bias)-BN-ReLU] x2 -> Linear(no bias) -> BN(affine=False)` | EquiMod's SimCLR head, 512-2048-2048-128 |
//! | [`MlpConfig::byol_projector`] | `Linear-BN-ReLU -> Linear` (biases on both) | BYOL, 4096-256; also its predictor |
//! | [`MlpConfig::sie_projector`] | `[Linear(no bias)-BN-ReLU] x2 -> Linear(no bias)` | SIE, 256-1024-1024-1024 |
//! | [`MlpConfig::vicreg_expander`] | `[Linear-BN-ReLU] x2 -> Linear(no bias)` | VICReg, 8192-8192-8192 |
//!
//! ## Weight names: `torch.nn.Sequential` indices
//!
//! An [`Mlp`] names its layers as PyTorch names the children of the `nn.Sequential` that lists
//! the same modules in order, so a lightly / solo-learn / VICReg head saved as safetensors loads
//! unchanged (give the `VarBuilder` the head's prefix, e.g. `vb.pp("projector")`). Every module
//! takes one index, parameter-free ones (ReLU) included. With batch norm on the hidden layers,
//! hidden layer `l` (0-based) is `3l` Linear, `3l + 1` BatchNorm1d, `3l + 2` ReLU; the last
//! Linear is `3L` (`L` hidden layers) and a last batch norm is `3L + 1`. For
//! `simclr_projector(512, 2048, 128)`:
//!
//! ```text
//! 0.weight (2048, 512)       1.weight 1.bias 1.running_mean 1.running_var 1.num_batches_tracked
//! 3.weight (2048, 2048)      4.*
//! 6.weight (128, 2048)       7.running_mean 7.running_var 7.num_batches_tracked   (affine=False)
//! ```
//!
//! Without hidden batch norm (`hidden_norm: false`) a hidden layer is `Linear, ReLU` and takes
//! two indices.
//!
//! Linear layers are initialised as `torch.nn.Linear` (see [`crate::layers::torch_linear`]); batch norms with
//! weight 1, bias 0.
//!
//! ```
//! use candle_core::{DType, Device, ModuleT, Tensor};
//! use noether_models::{Mlp, MlpConfig, ParamStore};
//! let store = ParamStore::seeded(0);
//! let vb = store.var_builder(DType::F32, &Device::Cpu);
//! let head = Mlp::new(&MlpConfig::simclr_projector(64, 128, 16), vb.pp("projector"))?;
//! let z = head.forward_t(&Tensor::ones((4, 64), DType::F32, &Device::Cpu)?, true)?;
//! assert_eq!(z.dims(), &[4, 16]);
//! assert!(store.get("projector.3.weight")?.is_some()); // the second Linear
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::layers::Linear;
use candle_core::{Module, ModuleT, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::layers::torch_linear;
use crate::norm::{BatchNorm, BatchNormConfig};

/// What follows the last Linear of an [`Mlp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputNorm {
    /// Nothing: the head ends in a Linear.
    None,
    /// `BatchNorm1d` with a learned scale and shift.
    BatchNorm,
    /// `BatchNorm1d(affine=False)`: standardised outputs, no parameters (EquiMod's SimCLR head).
    BatchNormNoAffine,
}

/// Settings of an [`Mlp`]. Unknown keys are an error when deserialising.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Layer widths `[in, hidden..., out]`: `dims.len() - 1` Linear layers, at least one.
    pub dims: Vec<usize>,
    /// Bias on the hidden Linear layers. Before a train-mode batch norm such a bias has no
    /// effect and a gradient of exactly zero (the batch mean removes it); BYOL and VICReg keep
    /// it, which matters only for loading their checkpoints.
    pub hidden_bias: bool,
    /// A `BatchNorm1d` after each hidden Linear (before the ReLU).
    #[serde(default = "default_true")]
    pub hidden_norm: bool,
    /// Bias on the last Linear.
    pub last_bias: bool,
    /// What follows the last Linear.
    #[serde(default = "default_output_norm")]
    pub last_norm: OutputNorm,
}

fn default_true() -> bool {
    true
}

fn default_output_norm() -> OutputNorm {
    OutputNorm::None
}

impl MlpConfig {
    /// EquiMod's SimCLR projector (and its equivariance head): `[Linear-BN-ReLU] x2 -> Linear
    /// -> BatchNorm1d(affine=False)`, no biases; widths `in -> hidden -> hidden -> out`
    /// (EquiMod: 512 -> 2048 -> 2048 -> 128).
    pub fn simclr_projector(in_dim: usize, hidden: usize, out_dim: usize) -> MlpConfig {
        MlpConfig {
            dims: vec![in_dim, hidden, hidden, out_dim],
            hidden_bias: false,
            hidden_norm: true,
            last_bias: false,
            last_norm: OutputNorm::BatchNormNoAffine,
        }
    }

    /// BYOL's projector and predictor: `Linear-BN-ReLU -> Linear`, biases on both Linear
    /// layers as in the BYOL reference and solo-learn; widths `in -> hidden -> out` (BYOL:
    /// 4096, 256). EquiMod's BYOL branch drops the redundant hidden bias:
    /// `MlpConfig { hidden_bias: false, ..MlpConfig::byol_projector(h, 4096, 256) }`.
    pub fn byol_projector(in_dim: usize, hidden: usize, out_dim: usize) -> MlpConfig {
        MlpConfig {
            dims: vec![in_dim, hidden, out_dim],
            hidden_bias: true,
            hidden_norm: true,
            last_bias: true,
            last_norm: OutputNorm::None,
        }
    }

    /// SIE's projectors (one per representation part): `[Linear-BN-ReLU] x2 -> Linear`, no
    /// biases; widths `in -> hidden -> hidden -> out` (SIE: 256 -> 1024 -> 1024 -> 1024).
    pub fn sie_projector(in_dim: usize, hidden: usize, out_dim: usize) -> MlpConfig {
        MlpConfig {
            dims: vec![in_dim, hidden, hidden, out_dim],
            hidden_bias: false,
            hidden_norm: true,
            last_bias: false,
            last_norm: OutputNorm::None,
        }
    }

    /// VICReg's expander, as its reference `Projector`: `[Linear-BN-ReLU] x2 -> Linear(no
    /// bias)`, hidden Linear layers with bias; widths `in -> hidden -> hidden -> out` (VICReg:
    /// 2048 -> 8192 -> 8192 -> 8192).
    pub fn vicreg_expander(in_dim: usize, hidden: usize, out_dim: usize) -> MlpConfig {
        MlpConfig {
            dims: vec![in_dim, hidden, hidden, out_dim],
            hidden_bias: true,
            hidden_norm: true,
            last_bias: false,
            last_norm: OutputNorm::None,
        }
    }

    /// Checks the widths: at least two, none zero.
    pub fn validate(&self) -> Result<()> {
        if self.dims.len() < 2 {
            return Err(ModelError::Config {
                field: "dims",
                reason: format!("needs at least [in, out], got {:?}", self.dims),
            });
        }
        if self.dims.contains(&0) {
            return Err(ModelError::Config {
                field: "dims",
                reason: format!("widths must be positive, got {:?}", self.dims),
            });
        }
        Ok(())
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.dims.first().copied().unwrap_or(0)
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.dims.last().copied().unwrap_or(0)
    }
}

/// One hidden layer: Linear, optional batch norm, ReLU.
#[derive(Debug, Clone)]
struct Hidden {
    linear: Linear,
    norm: Option<BatchNorm>,
}

/// A multi-layer perceptron head (projector, expander, predictor). See the module docs for the
/// layer layout and the `nn.Sequential` index names.
#[derive(Debug, Clone)]
pub struct Mlp {
    hidden: Vec<Hidden>,
    last: Linear,
    last_norm: Option<BatchNorm>,
    in_dim: usize,
    out_dim: usize,
}

impl Mlp {
    /// Builds the head under `vb` (e.g. `vb.pp("projector")`); an invalid config is an error.
    pub fn new(config: &MlpConfig, vb: VarBuilder) -> Result<Mlp> {
        config.validate()?;
        let dims = &config.dims;
        let mut index = 0usize;
        let mut hidden = Vec::with_capacity(dims.len() - 2);
        for pair in dims[..dims.len() - 1].windows(2) {
            let linear = torch_linear(pair[0], pair[1], config.hidden_bias, vb.pp(index))?;
            index += 1;
            let norm = if config.hidden_norm {
                let bn = BatchNorm::new(pair[1], BatchNormConfig::default(), vb.pp(index))?;
                index += 1;
                Some(bn)
            } else {
                None
            };
            index += 1; // the ReLU
            hidden.push(Hidden { linear, norm });
        }
        let (d_in, d_out) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        let last = torch_linear(d_in, d_out, config.last_bias, vb.pp(index))?;
        index += 1;
        let bn = |affine: bool| {
            let cfg = BatchNormConfig {
                affine,
                ..BatchNormConfig::default()
            };
            BatchNorm::new(d_out, cfg, vb.pp(index))
        };
        let last_norm = match config.last_norm {
            OutputNorm::None => None,
            OutputNorm::BatchNorm => Some(bn(true)?),
            OutputNorm::BatchNormNoAffine => Some(bn(false)?),
        };
        Ok(Mlp {
            hidden,
            last,
            last_norm,
            in_dim: dims[0],
            out_dim: d_out,
        })
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }
}

impl ModuleT for Mlp {
    /// `(N, in_dim) -> (N, out_dim)`. Train mode normalises with batch statistics and updates
    /// the running ones; eval mode uses the running ones.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        match xs.dims() {
            [_, d] if *d == self.in_dim => {}
            dims => candle_core::bail!(
                "Mlp expects input of shape (N, {}), got {dims:?}",
                self.in_dim
            ),
        }
        let mut h = xs.clone();
        for layer in &self.hidden {
            h = layer.linear.forward(&h)?; // (N, hidden)
            h = match &layer.norm {
                Some(bn) => bn.forward_relu_t(&h, train)?,
                None => noether_ops::relu(&h)?,
            };
        }
        h = self.last.forward(&h)?; // (N, out_dim)
        match &self.last_norm {
            Some(bn) => bn.forward_t(&h, train),
            None => Ok(h),
        }
    }
}
