//! A regular-representation `C_N` G-CNN backbone whose lifted group axis can be read, fiber by
//! fiber: the backbone of Homomorphic SSL (`papers/hssl.md`), and its no-structure ablations.
//!
//! Block `i` is `conv3x3 -> batch norm -> ReLU`, then (except after the last block) a 2x2
//! max-pool with stride 2; the output is the lifted map `(B, C, N, H', W')`, `C = widths.last()`.
//! Three [`Structure`]s give the same output shape:
//!
//! - [`Structure::Equivariant`]: block 0 is a [`LiftingConv`], the others [`GroupConv`]s, with
//!   [`GroupBatchNorm`] (one statistic per channel, shared over the group axis). Then
//!   `f(rotate_g x) = rotate_g(roll(f(x), g, axis 2))`: a homomorphism, exactly for quarter
//!   turns when every pooled map has an even side (the input side divisible by
//!   `2^(blocks - 1)`), approximately for other angles of `C_8`, `C_16` (interpolated filters).
//! - [`Structure::Shuffled`]: the same layers, with the group axis permuted after every block
//!   by a fixed permutation (from the block index). The first layer is still a homomorphism
//!   for a conjugated representation; the composite is not.
//! - [`Structure::Plain`]: an ordinary CNN with `widths[i] * N` channels and batch norm per
//!   channel, whose output channels are reshaped into `(C, N)` "pseudo-fibers": the same shape,
//!   no group action at all.
//!
//! [`GCnn::fibers_t`] is the lifted map; [`pooled_fibers`] pools it over space (the
//! [`FiberBackbone`] fibers); a [`RotationAction`] rotates image batches by elements of `C_N`
//! (quarter turns exactly by [`rot90`], other angles by the bilinear matrix of
//! [`filter_rotation_matrix`], the same interpolation as the filters), and
//! [`fiber_equivariance_error`] measures `|| P f(T_g x) - roll_g P f(x) || / || P f(x) ||` on
//! pooled fibers, the identity that Homomorphic SSL rests on.
//!
//! [`fiber_equivariance_error`]: crate::fibers::fiber_equivariance_error
//!
//! Names: `features.{i}.conv.weight` (`(out, in, k, k)` lifting / plain,
//! `(out, in, N, k, k)` group), `features.{i}.bn.*` (torchvision's `BatchNorm2d` names).
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use noether_models::fibers::{FiberBackbone, fiber_equivariance_error};
//! use noether_models::{GCnn, GCnnConfig, ParamStore};
//! let store = ParamStore::seeded(0);
//! let cfg = GCnnConfig::new(1, vec![4, 8], 4);
//! let net = GCnn::new(&cfg, store.var_builder(DType::F32, &Device::Cpu))?;
//! let x = Tensor::randn(0f32, 1.0, (2, 1, 12, 12), &Device::Cpu)?;
//! assert_eq!(net.fibers_t(&x, false)?.dims(), &[2, 8, 4, 6, 6]);
//! let action = net.action(12, 12, DType::F32, &Device::Cpu)?; // C4 rotations
//! // a quarter turn of the input is a shift of the group axis
//! assert!(fiber_equivariance_error(&net, &action, &x, 1)? < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::layers::Conv2d;
use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::fibers::{FiberBackbone, GroupAction, square_side};
use crate::gconv::{
    GConvConfig, GroupBatchNorm, GroupConv, LiftingConv, filter_rotation_matrix, rot90,
};
use crate::layers::{Backbone, check_block_widths, check_images};
use crate::norm::{BatchNorm, BatchNormConfig};
use crate::resnet::CONV_INIT;

/// Whether the lifted axis of a [`GCnn`] is a true group axis (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Structure {
    /// Lifting and group convolutions: a homomorphism.
    #[default]
    Equivariant,
    /// Group convolutions with the group axis permuted after every block: no homomorphism.
    Shuffled,
    /// A plain CNN with `N` times the channels, reshaped into pseudo-fibers.
    Plain,
}

/// Settings of a [`GCnn`]; only `widths` and `n` are required when deserialising.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GCnnConfig {
    /// Input channels (default 3; 1 for digits).
    #[serde(default = "three")]
    pub in_channels: usize,
    /// Channels per group element of each block (one block per entry).
    pub widths: Vec<usize>,
    /// Order `N` of the rotation group `C_N`.
    pub n: usize,
    /// Side of the square kernels (default 3).
    #[serde(default = "three")]
    pub kernel_size: usize,
    /// The structure of the lifted axis (default equivariant).
    #[serde(default)]
    pub structure: Structure,
}

fn three() -> usize {
    3
}

impl GCnnConfig {
    /// An equivariant `C_n` network with 3x3 kernels.
    pub fn new(in_channels: usize, widths: Vec<usize>, n: usize) -> GCnnConfig {
        GCnnConfig {
            in_channels,
            widths,
            n,
            kernel_size: 3,
            structure: Structure::Equivariant,
        }
    }

    /// Checks the sizes; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let err = |field: &'static str, reason: String| Err(ModelError::Config { field, reason });
        check_block_widths(self.in_channels, &self.widths)?;
        if self.n < 2 {
            return err(
                "n",
                format!("the group order must be at least 2 (got {})", self.n),
            );
        }
        if self.kernel_size.is_multiple_of(2) {
            return err(
                "kernel_size",
                format!("must be odd (got {})", self.kernel_size),
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Conv {
    Lift(LiftingConv),
    Group(GroupConv),
    Plain(Conv2d),
}

impl Module for Conv {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Conv::Lift(c) => c.forward(xs),
            Conv::Group(c) => c.forward(xs),
            Conv::Plain(c) => c.forward(xs),
        }
    }
}

#[derive(Debug, Clone)]
enum Norm {
    Group(GroupBatchNorm),
    Plain(BatchNorm),
}

impl ModuleT for Norm {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        match self {
            Norm::Group(bn) => bn.forward_t(xs, train),
            Norm::Plain(bn) => bn.forward_t(xs, train),
        }
    }
}

/// The G-CNN of the module docs.
#[derive(Debug, Clone)]
pub struct GCnn {
    config: GCnnConfig,
    blocks: Vec<(Conv, Norm)>,
    /// Per block, the group-axis permutation applied after it ([`Structure::Shuffled`]).
    shuffles: Vec<Option<Tensor>>,
}

impl GCnn {
    /// Builds the network under `vb`; an invalid config is an error.
    pub fn new(config: &GCnnConfig, vb: VarBuilder) -> Result<GCnn> {
        config.validate()?;
        let (n, k) = (config.n, config.kernel_size);
        let mut blocks = Vec::with_capacity(config.widths.len());
        let mut shuffles = Vec::with_capacity(config.widths.len());
        let mut c_in = config.in_channels;
        for (i, &width) in config.widths.iter().enumerate() {
            let vb_block = vb.pp("features").pp(i);
            let gcfg = GConvConfig {
                bias: false,
                ..GConvConfig::new(c_in, width, k, n)
            };
            let (conv, norm) = match config.structure {
                Structure::Plain => {
                    let c_prev = if i == 0 { c_in } else { c_in * n };
                    let weight = vb_block.pp("conv").get_with_hints(
                        (width * n, c_prev, k, k),
                        "weight",
                        CONV_INIT,
                    )?;
                    let conv_cfg = Conv2dConfig {
                        padding: k / 2,
                        ..Conv2dConfig::default()
                    };
                    let bn =
                        BatchNorm::new(width * n, BatchNormConfig::default(), vb_block.pp("bn"))?;
                    (
                        Conv::Plain(Conv2d::new(weight, None, conv_cfg)),
                        Norm::Plain(bn),
                    )
                }
                _ => {
                    let conv = if i == 0 {
                        Conv::Lift(LiftingConv::new(&gcfg, vb_block.pp("conv"))?)
                    } else {
                        Conv::Group(GroupConv::new(&gcfg, vb_block.pp("conv"))?)
                    };
                    let bn =
                        GroupBatchNorm::new(width, BatchNormConfig::default(), vb_block.pp("bn"))?;
                    (conv, Norm::Group(bn))
                }
            };
            let shuffle = if config.structure == Structure::Shuffled {
                Some(shuffle_index(i, n, vb.device())?)
            } else {
                None
            };
            blocks.push((conv, norm));
            shuffles.push(shuffle);
            c_in = width;
        }
        Ok(GCnn {
            config: config.clone(),
            blocks,
            shuffles,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GCnnConfig {
        &self.config
    }
}

/// The fixed permutation of the group axis after block `block` (a derangement-free shuffle
/// from `ChaCha8(block)`; the identity is drawn again so that every block does permute).
fn shuffle_index(block: usize, n: usize, device: &Device) -> candle_core::Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0000 + block as u64);
    let mut p: Vec<u32> = (0..n as u32).collect();
    while p.iter().enumerate().all(|(i, &v)| i as u32 == v) {
        p.shuffle(&mut rng);
    }
    Tensor::new(p.as_slice(), device)
}

impl GCnn {
    /// The lifted map `(B, fiber_dim, N, H', W')`.
    pub fn fibers_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        check_images("GCnn", xs, self.config.in_channels)?;
        let n = self.config.n;
        let last = self.blocks.len() - 1;
        let mut h = xs.clone();
        for (i, ((conv, norm), shuffle)) in self.blocks.iter().zip(&self.shuffles).enumerate() {
            // plain: (B, C N, H, W); otherwise (B, C, N, H, W)
            h = noether_ops::relu(&norm.forward_t(&conv.forward(&h)?, train)?)?;
            if let Some(p) = shuffle {
                h = h.index_select(p, 2)?;
            }
            if i < last {
                let dims = h.dims().to_vec();
                let (hh, ww) = (dims[dims.len() - 2], dims[dims.len() - 1]);
                if hh < 2 || ww < 2 {
                    candle_core::bail!(
                        "GCnn block {i}: a {hh}x{ww} map is too small for the 2x2 max-pool \
                         (input {:?}); use fewer blocks or a larger input",
                        xs.dims()
                    );
                }
                let b = dims[0];
                let c: usize = dims[1..dims.len() - 2].iter().product();
                let pooled = noether_ops::max_pool2d(&h.reshape((b, c, hh, ww))?, 2)?;
                let (_, _, ph, pw) = pooled.dims4()?;
                let mut out_dims = dims.clone();
                let r = out_dims.len();
                out_dims[r - 2] = ph;
                out_dims[r - 1] = pw;
                h = pooled.reshape(out_dims)?;
            }
        }
        if h.rank() == 4 {
            // plain: channels (C N) -> pseudo-fibers (C, N)
            let (b, cn, hh, ww) = h.dims4()?;
            h = h.reshape((b, cn / n, n, hh, ww))?;
        }
        Ok(h)
    }

    /// The order `N` of the group axis.
    pub fn group_order(&self) -> usize {
        self.config.n
    }
}

impl FiberBackbone for GCnn {
    /// The lifted map averaged over space ([`pooled_fibers`]).
    fn pooled_fibers_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        pooled_fibers(&self.fibers_t(xs, train)?)
    }

    fn fiber_dim(&self) -> usize {
        self.config.widths.last().copied().unwrap_or(0)
    }

    /// [`GroupAction::Rotation`] on square images.
    fn action(
        &self,
        height: usize,
        width: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<GroupAction> {
        let side = square_side(height, width, "rotation group")?;
        Ok(GroupAction::Rotation(RotationAction::new(
            self.config.n,
            side,
            dtype,
            device,
        )?))
    }
}

impl ModuleT for GCnn {
    /// The invariant features of [`Backbone::features_t`].
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        Backbone::features_t(self, xs, train)
    }
}

impl Backbone for GCnn {
    /// Pooled fibers, then the maximum over the group axis: `(B, C)`, invariant to the group
    /// for [`Structure::Equivariant`].
    fn features_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.pooled_fibers_t(xs, train)?.max(2)
    }

    fn feature_dim(&self) -> usize {
        self.fiber_dim()
    }
}

/// `(B, C, N, H, W) -> (B, C, N)`: the lifted map averaged over space (a rotation of the input
/// then only shifts the group axis).
pub fn pooled_fibers(map: &Tensor) -> candle_core::Result<Tensor> {
    let _ = map.dims5()?;
    map.mean(4)?.mean(3)
}

/// The action of `C_N` on square images `(B, C, S, S)`: element `r` rotates by `2 pi r / N`
/// counter-clockwise on screen (the convention of [`rot90`] and of the G-CNN layers). Quarter
/// turns are exact permutations; other angles use the bilinear matrix of
/// [`filter_rotation_matrix`] on the `S x S` grid (samples outside are 0), precomputed.
#[derive(Debug, Clone)]
pub struct RotationAction {
    n: usize,
    size: usize,
    /// `(S^2, S^2)` per element that is not a quarter turn.
    matrices: Vec<Option<Tensor>>,
}

impl RotationAction {
    /// The action of `C_n` on `size x size` images of `dtype` on `device`.
    pub fn new(n: usize, size: usize, dtype: DType, device: &Device) -> Result<RotationAction> {
        if n == 0 || size == 0 {
            return Err(ModelError::Config {
                field: "n",
                reason: format!("a rotation action needs n >= 1 and size >= 1 (got {n}, {size})"),
            });
        }
        let mut matrices = Vec::with_capacity(n);
        for r in 0..n {
            if (4 * r).is_multiple_of(n) {
                matrices.push(None);
            } else {
                let angle = std::f64::consts::TAU * r as f64 / n as f64;
                let m = filter_rotation_matrix(size, angle);
                let m = Tensor::from_vec(m, (size * size, size * size), device)?.to_dtype(dtype)?;
                matrices.push(Some(m.t()?.contiguous()?));
            }
        }
        Ok(RotationAction { n, size, matrices })
    }

    /// The group order.
    pub fn order(&self) -> usize {
        self.n
    }

    /// The side of the images it acts on.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The whole batch rotated by element `r` (taken mod `N`).
    pub fn rotate_all(&self, x: &Tensor, r: usize) -> candle_core::Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        if h != self.size || w != self.size {
            candle_core::bail!(
                "RotationAction: images of {h}x{w}, the action was built for {0}x{0}",
                self.size
            );
        }
        let r = r % self.n;
        match &self.matrices[r] {
            None => rot90(x, (4 * r / self.n) as i64),
            Some(mt) => x.reshape((b * c, h * w))?.matmul(mt)?.reshape((b, c, h, w)),
        }
    }

    /// Image `i` rotated by element `elements[i]` (mod `N`).
    pub fn rotate(&self, x: &Tensor, elements: &[usize]) -> candle_core::Result<Tensor> {
        let b = x.dim(0)?;
        if elements.len() != b {
            candle_core::bail!(
                "RotationAction: {} elements for a batch of {b}",
                elements.len()
            );
        }
        let mut used: Vec<usize> = elements.iter().map(|r| r % self.n).collect();
        used.sort_unstable();
        used.dedup();
        if used.len() == 1 {
            return self.rotate_all(x, used[0]);
        }
        // every needed rotation of the whole batch, then image i from its element's copy
        let rotated = used
            .iter()
            .map(|&r| self.rotate_all(x, r))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let all = Tensor::cat(&rotated, 0)?; // (|used| B, C, H, W)
        let ix: Vec<u32> = elements
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let slot = used.binary_search(&(r % self.n)).unwrap_or(0);
                (slot * b + i) as u32
            })
            .collect();
        all.index_select(&Tensor::new(ix.as_slice(), x.device())?, 0)
    }
}
