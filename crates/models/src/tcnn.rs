//! An ordinary CNN read as a translation-equivariant fiber backbone: the translation case of
//! Homomorphic SSL (`papers/hssl.md`), where the lifted axis is the spatial grid and a fiber
//! bundle (a `k x k` window of the feature map) plays the role of a crop.
//!
//! Block `i` is `conv k x k` (circular padding `k / 2`, no bias) `-> batch norm -> ReLU`, then
//! (except after the last block) a 2x2 max-pool with stride 2, as [`GCnn`](crate::GCnn). The
//! lifted map is the last block's `(B, C, H', W')`; the total stride is `s = 2^(blocks - 1)`.
//! With circular padding, every layer commutes with cyclic shifts (by even amounts for the
//! pools), so shifting the input by `(u s, v s)` pixels rolls the map by `(u, v)` exactly: a
//! homomorphism for the group `Z_{H'} x Z_{W'}` when `H` and `W` are multiples of `s`. Zero
//! padding would break it at the borders; circular padding is ours, for exactness.
//!
//! Fibers: element `g = u W' + v` of the grid is the bundle `[u, u + k) x [v, v + k)` (cyclic),
//! averaged: [`FiberBackbone::pooled_fibers_t`] gives `(B, C, H' W')`. The bundle size `k`
//! ([`TranslationCnnConfig::bundle`]) is the crop size of feature space: a `k x k` bundle sees
//! a `(k - 1) s + r` pixel window of the input, `r` the receptive field of one fiber.
//!
//! [`Structure::Shuffled`] is the no-structure ablation: the spatial positions are permuted
//! after every block by a fixed permutation (from the block index and the map size), so the
//! output has the same shape and no translation acts on it. [`Structure::Plain`] is an error
//! (an ordinary CNN is this network's equivariant structure).
//!
//! Names: `features.{i}.conv.weight` `(out, in, k, k)`, `features.{i}.bn.*`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use noether_models::fibers::{FiberBackbone, fiber_equivariance_error};
//! use noether_models::{ParamStore, TranslationCnn, TranslationCnnConfig};
//! let store = ParamStore::seeded(0);
//! let cfg = TranslationCnnConfig { bundle: 2, ..TranslationCnnConfig::new(3, vec![4, 8]) };
//! let net = TranslationCnn::new(&cfg, store.var_builder(DType::F32, &Device::Cpu))?;
//! let x = Tensor::randn(0f32, 1.0, (2, 3, 16, 16), &Device::Cpu)?;
//! assert_eq!(net.pooled_fibers_t(&x, false)?.dims(), &[2, 8, 64]); // an 8x8 grid
//! let action = net.action(16, 16, DType::F32, &Device::Cpu)?;
//! // a shift of the input by (2, 2) pixels rolls the grid by (1, 1)
//! assert!(fiber_equivariance_error(&net, &action, &x, 9)? < 1e-5);
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
use crate::fibers::{FiberBackbone, GroupAction, size_error};
use crate::gcnn::Structure;
use crate::layers::{Backbone, check_block_widths, check_images};
use crate::norm::{BatchNorm, BatchNormConfig};
use crate::resnet::CONV_INIT;

/// Settings of a [`TranslationCnn`]. Unknown keys are an error when deserialising.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslationCnnConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels of each block; one block per entry.
    pub widths: Vec<usize>,
    /// Side of the square kernels (odd; default 3).
    #[serde(default = "three")]
    pub kernel_size: usize,
    /// Side `k` of a fiber bundle on the feature grid (default 1: single fibers).
    #[serde(default = "one")]
    pub bundle: usize,
    /// Equivariant, or the shuffled ablation.
    #[serde(default)]
    pub structure: Structure,
}

fn three() -> usize {
    3
}

fn one() -> usize {
    1
}

impl TranslationCnnConfig {
    /// Equivariant, `3 x 3` kernels, single fibers.
    pub fn new(in_channels: usize, widths: Vec<usize>) -> TranslationCnnConfig {
        TranslationCnnConfig {
            in_channels,
            widths,
            kernel_size: 3,
            bundle: 1,
            structure: Structure::Equivariant,
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let err = |field: &'static str, reason: String| Err(ModelError::Config { field, reason });
        check_block_widths(self.in_channels, &self.widths)?;
        if self.kernel_size.is_multiple_of(2) {
            return err(
                "kernel_size",
                format!("must be odd (got {})", self.kernel_size),
            );
        }
        if self.bundle == 0 {
            return err("bundle", "must be at least 1".into());
        }
        if self.structure == Structure::Plain {
            return err(
                "structure",
                "\"plain\" is the G-CNN's ablation; a translation CNN is already plain \
                 (use \"equivariant\" or \"shuffled\")"
                    .into(),
            );
        }
        Ok(())
    }

    /// The total stride `2^(blocks - 1)` from input pixels to feature-grid cells.
    pub fn stride(&self) -> usize {
        1 << self.widths.len().saturating_sub(1)
    }
}

/// The CNN of the module docs.
#[derive(Debug, Clone)]
pub struct TranslationCnn {
    config: TranslationCnnConfig,
    blocks: Vec<(Conv2d, BatchNorm)>,
}

impl TranslationCnn {
    /// Builds the network under `vb`; an invalid config is an error.
    pub fn new(config: &TranslationCnnConfig, vb: VarBuilder) -> Result<TranslationCnn> {
        config.validate()?;
        let k = config.kernel_size;
        let mut c_in = config.in_channels;
        let mut blocks = Vec::with_capacity(config.widths.len());
        for (i, &width) in config.widths.iter().enumerate() {
            let vb_block = vb.pp("features").pp(i);
            let weight =
                vb_block
                    .pp("conv")
                    .get_with_hints((width, c_in, k, k), "weight", CONV_INIT)?;
            let bn = BatchNorm::new(width, BatchNormConfig::default(), vb_block.pp("bn"))?;
            blocks.push((Conv2d::new(weight, None, Conv2dConfig::default()), bn));
            c_in = width;
        }
        Ok(TranslationCnn {
            config: config.clone(),
            blocks,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TranslationCnnConfig {
        &self.config
    }

    /// The lifted map `(B, C, H', W')`: the last block's output.
    pub fn map_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        check_images("TranslationCnn", xs, self.config.in_channels)?;
        let last = self.blocks.len() - 1;
        let pad = self.config.kernel_size / 2;
        let mut h = xs.clone();
        for (i, (conv, bn)) in self.blocks.iter().enumerate() {
            h = conv.forward(&pad_circular(&h, pad)?)?;
            h = bn.forward_relu_t(&h, train)?;
            if self.config.structure == Structure::Shuffled {
                h = shuffle_positions(&h, i)?;
            }
            if i < last {
                let (_, _, hh, ww) = h.dims4()?;
                if hh < 2 || ww < 2 {
                    candle_core::bail!(
                        "TranslationCnn block {i}: a {hh}x{ww} map is too small for the 2x2 \
                         max-pool (input {:?}); use fewer blocks or a larger input",
                        xs.dims()
                    );
                }
                h = noether_ops::max_pool2d(&h, 2)?;
            }
        }
        Ok(h)
    }
}

/// `(B, C, H, W) -> (B, C, H + 2p, W + 2p)`, wrapping around (torch's `padding_mode =
/// "circular"`).
pub fn pad_circular(x: &Tensor, p: usize) -> candle_core::Result<Tensor> {
    if p == 0 {
        return Ok(x.clone());
    }
    let (_, _, h, w) = x.dims4()?;
    if p > h || p > w {
        candle_core::bail!("pad_circular: padding {p} is larger than the {h}x{w} map");
    }
    let x = Tensor::cat(&[&x.narrow(3, w - p, p)?, x, &x.narrow(3, 0, p)?], 3)?;
    Tensor::cat(&[&x.narrow(2, h - p, p)?, &x, &x.narrow(2, 0, p)?], 2)
}

/// The map with its `H W` positions permuted by block `block`'s fixed permutation (never the
/// identity).
fn shuffle_positions(h: &Tensor, block: usize) -> candle_core::Result<Tensor> {
    let (b, c, hh, ww) = h.dims4()?;
    let n = hh * ww;
    if n < 2 {
        return Ok(h.clone());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_1000 + block as u64);
    let mut p: Vec<u32> = (0..n as u32).collect();
    while p.iter().enumerate().all(|(i, &v)| i as u32 == v) {
        p.shuffle(&mut rng);
    }
    let ix = Tensor::new(p.as_slice(), h.device())?;
    h.reshape((b, c, n))?
        .index_select(&ix, 2)?
        .reshape((b, c, hh, ww))
}

/// `(B, C, H, W)` -> the cyclic `k x k` window means anchored at every position,
/// `(B, C, H, W)`.
fn bundle_means(map: &Tensor, k: usize) -> candle_core::Result<Tensor> {
    if k == 1 {
        return Ok(map.clone());
    }
    let (_, _, h, w) = map.dims4()?;
    if k > h || k > w {
        candle_core::bail!("TranslationCnn: a {k}x{k} bundle does not fit the {h}x{w} grid");
    }
    let window = |t: &Tensor, dim: usize, n: usize| -> candle_core::Result<Tensor> {
        let mut s = t.clone();
        for i in 1..k {
            s = (s + t.roll(-((i % n) as i32), dim)?)?;
        }
        Ok(s)
    };
    window(&window(map, 2, h)?, 3, w)? / (k * k) as f64
}

impl FiberBackbone for TranslationCnn {
    fn pooled_fibers_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let map = bundle_means(&self.map_t(xs, train)?, self.config.bundle)?;
        let (b, c, h, w) = map.dims4()?;
        map.reshape((b, c, h * w))
    }

    fn fiber_dim(&self) -> usize {
        self.config.widths.last().copied().unwrap_or(0)
    }

    fn action(
        &self,
        height: usize,
        width: usize,
        _dtype: DType,
        _device: &Device,
    ) -> Result<GroupAction> {
        let s = self.config.stride();
        if !(height.is_multiple_of(s) && width.is_multiple_of(s)) || height == 0 || width == 0 {
            return Err(size_error(format!(
                "a {height}x{width} input is not a whole number of feature cells: the \
                 translation CNN's stride is {s}, so both sides must be positive multiples of {s}"
            )));
        }
        let grid = (height / s, width / s);
        let k = self.config.bundle;
        if k > grid.0 || k > grid.1 {
            return Err(ModelError::Config {
                field: "bundle",
                reason: format!(
                    "a {k}x{k} bundle does not fit the {}x{} feature grid of a {height}x{width} \
                     input",
                    grid.0, grid.1
                ),
            });
        }
        Ok(GroupAction::Translation(TranslationAction::new(
            grid,
            s,
            (height, width),
        )?))
    }
}

impl ModuleT for TranslationCnn {
    /// The invariant features of [`Backbone::features_t`].
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        Backbone::features_t(self, xs, train)
    }
}

impl Backbone for TranslationCnn {
    /// The lifted map averaged over the grid: `(B, C)`, invariant to the cyclic shifts.
    fn features_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.map_t(xs, train)?.mean(3)?.mean(2)
    }

    fn feature_dim(&self) -> usize {
        self.fiber_dim()
    }
}

/// Cyclic translations of images by whole feature cells: element `g = u W' + v` of the
/// `H' x W'` grid shifts image content by `(u s, v s)` pixels down and right (wrapping
/// around), as `torch.roll`.
#[derive(Debug, Clone)]
pub struct TranslationAction {
    grid: (usize, usize),
    stride: usize,
    size: (usize, usize),
}

impl TranslationAction {
    /// The action of the `grid` translations with `stride` pixels per cell on images of
    /// `size = (height, width)`.
    pub fn new(
        grid: (usize, usize),
        stride: usize,
        size: (usize, usize),
    ) -> Result<TranslationAction> {
        if grid.0 == 0 || grid.1 == 0 || stride == 0 {
            return Err(size_error(format!(
                "a translation action needs a non-empty grid and stride >= 1 (got {grid:?}, \
                 stride {stride})"
            )));
        }
        Ok(TranslationAction { grid, stride, size })
    }

    /// The group order `H' W'`.
    pub fn order(&self) -> usize {
        self.grid.0 * self.grid.1
    }

    /// The grid `(H', W')`.
    pub fn grid(&self) -> (usize, usize) {
        self.grid
    }

    /// Pixels per grid cell.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The `(height, width)` of the images it acts on.
    pub fn image_size(&self) -> (usize, usize) {
        self.size
    }

    /// The pixel shift `(dy, dx)` of element `g` (mod the order).
    pub fn shift(&self, g: usize) -> (usize, usize) {
        let g = g % self.order();
        (
            (g / self.grid.1) * self.stride,
            (g % self.grid.1) * self.stride,
        )
    }

    fn check(&self, x: &Tensor) -> candle_core::Result<(usize, usize, usize, usize)> {
        let (b, c, h, w) = x.dims4()?;
        if (h, w) != self.size {
            candle_core::bail!(
                "TranslationAction: images of {h}x{w}, the action was built for {}x{}",
                self.size.0,
                self.size.1
            );
        }
        Ok((b, c, h, w))
    }

    /// The whole batch shifted by element `g`.
    pub fn translate_all(&self, x: &Tensor, g: usize) -> candle_core::Result<Tensor> {
        self.check(x)?;
        let (dy, dx) = self.shift(g);
        x.roll(dy as i32, 2)?.roll(dx as i32, 3)
    }

    /// Image `i` shifted by element `elements[i]` (one gather).
    pub fn translate(&self, x: &Tensor, elements: &[usize]) -> candle_core::Result<Tensor> {
        let (b, c, h, w) = self.check(x)?;
        if elements.len() != b {
            candle_core::bail!(
                "TranslationAction: {} elements for a batch of {b}",
                elements.len()
            );
        }
        let mut ix = Vec::with_capacity(b * h * w);
        for &g in elements {
            let (dy, dx) = self.shift(g);
            for y in 0..h {
                let sy = (y + h - dy % h) % h;
                ix.extend((0..w).map(|x| (sy * w + (x + w - dx % w) % w) as u32));
            }
        }
        let ix = Tensor::from_vec(ix, (b, 1, h * w), x.device())?
            .broadcast_as((b, c, h * w))?
            .contiguous()?;
        x.reshape((b, c, h * w))?
            .gather(&ix, 2)?
            .reshape((b, c, h, w))
    }
}
