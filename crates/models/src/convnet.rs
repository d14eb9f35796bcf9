//! A small convolutional backbone for tiny inputs (28x28 MNIST, 32x32 CIFAR, 64x64 mini3die):
//! the quick-profile encoder, lean enough to train on a laptop CPU.
//!
//! No paper of its own: it is the VGG-style stack ("Very Deep Convolutional Networks",
//! Simonyan & Zisserman, arXiv 1409.1556) cut down to a few blocks, as in the Conv-4 backbones
//! of few-shot learning. Block `i` is `convs_per_block` times `conv3x3 (stride 1, padding 1, no
//! bias) -> BN -> ReLU`, then a 2x2 max-pool (stride 2, floor, as torch's `MaxPool2d(2)`); after
//! the last block a global average pool gives `(N, widths.last())` features, and an optional
//! `fc` gives logits.
//!
//! Names, in the torchvision spirit: block `i` (0-based), conv `j` (1-based) is
//! `features.{i}.conv{j}.weight` with its batch norm `features.{i}.bn{j}.*`; the head is
//! `fc.weight`, `fc.bias`. Initialisation as the ResNet: convs Kaiming normal (fan out, ReLU),
//! BN weight 1 bias 0, `fc` as `torch.nn.Linear`.
//!
//! Each block halves the spatial size, so the input must be at least `2^blocks` pixels on each
//! side (28x28 takes up to 4 blocks: 28 -> 14 -> 7 -> 3 -> 1).
//!
//! ```
//! use candle_core::{DType, Device, ModuleT, Tensor};
//! use noether_models::{ConvNet, ConvNetConfig, ParamStore};
//! let store = ParamStore::seeded(0);
//! let cfg = ConvNetConfig { num_classes: Some(10), ..ConvNetConfig::small(1) }; // MNIST
//! let net = ConvNet::new(&cfg, store.var_builder(DType::F32, &Device::Cpu))?;
//! let logits = net.forward_t(&Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu)?, false)?;
//! assert_eq!(logits.dims(), &[2, 10]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::layers::Conv2d;
use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::layers::{Backbone, Classifier, check_block_widths, check_images, torch_linear};
use crate::norm::{BatchNorm, BatchNormConfig};
use crate::resnet::CONV_INIT;

/// Settings of a [`ConvNet`]. Unknown keys are an error when deserialising; only `widths` is
/// required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvNetConfig {
    /// Input channels (default 3; 1 for MNIST).
    #[serde(default = "default_in_channels")]
    pub in_channels: usize,
    /// Output channels of each block; one block per entry, at least one.
    pub widths: Vec<usize>,
    /// Conv-BN-ReLU layers per block before its max-pool (default 1).
    #[serde(default = "default_convs_per_block")]
    pub convs_per_block: usize,
    /// `Some(k)`: an `fc` layer to `k` logits; `None` (default): the pooled features.
    #[serde(default)]
    pub num_classes: Option<usize>,
}

fn default_in_channels() -> usize {
    3
}

fn default_convs_per_block() -> usize {
    1
}

impl Default for ConvNetConfig {
    /// [`ConvNetConfig::small`] for RGB input.
    fn default() -> Self {
        ConvNetConfig::small(3)
    }
}

impl ConvNetConfig {
    /// The quick-profile backbone: three blocks of widths 32, 64, 128, one conv each, 128-d
    /// features, no `fc` (93,472 parameters for RGB input).
    pub fn small(in_channels: usize) -> ConvNetConfig {
        ConvNetConfig {
            in_channels,
            widths: vec![32, 64, 128],
            convs_per_block: 1,
            num_classes: None,
        }
    }

    /// Checks the sizes: at least one block, positive widths and channels, at least one conv
    /// per block, at least one class when `fc` is present.
    pub fn validate(&self) -> Result<()> {
        let err = |field: &'static str, reason: String| Err(ModelError::Config { field, reason });
        check_block_widths(self.in_channels, &self.widths)?;
        if self.convs_per_block == 0 {
            return err("convs_per_block", "must be at least 1".into());
        }
        if self.num_classes == Some(0) {
            return err("num_classes", "must be at least 1".into());
        }
        Ok(())
    }

    /// Width of the pooled features (the last block's width).
    pub fn feature_dim(&self) -> usize {
        self.widths.last().copied().unwrap_or(0)
    }
}

/// A small VGG-style ConvNet; see the module docs.
#[derive(Debug, Clone)]
pub struct ConvNet {
    blocks: Vec<Vec<(Conv2d, BatchNorm)>>,
    fc: Classifier,
    in_channels: usize,
    feature_dim: usize,
}

impl ConvNet {
    /// Builds the network under `vb`; an invalid config is an error.
    pub fn new(config: &ConvNetConfig, vb: VarBuilder) -> Result<ConvNet> {
        config.validate()?;
        let conv_cfg = Conv2dConfig {
            padding: 1,
            ..Conv2dConfig::default()
        };
        let mut c_in = config.in_channels;
        let mut blocks = Vec::with_capacity(config.widths.len());
        for (i, &width) in config.widths.iter().enumerate() {
            let vb_block = vb.pp("features").pp(i);
            let mut layers = Vec::with_capacity(config.convs_per_block);
            for j in 1..=config.convs_per_block {
                let weight = vb_block.pp(format!("conv{j}")).get_with_hints(
                    (width, c_in, 3, 3),
                    "weight",
                    CONV_INIT,
                )?;
                let bn = BatchNorm::new(
                    width,
                    BatchNormConfig::default(),
                    vb_block.pp(format!("bn{j}")),
                )?;
                layers.push((Conv2d::new(weight, None, conv_cfg), bn));
                c_in = width;
            }
            blocks.push(layers);
        }
        let feature_dim = config.feature_dim();
        let fc = Classifier::new(config.num_classes, |k| {
            torch_linear(feature_dim, k, true, vb.pp("fc"))
        })?;
        Ok(ConvNet {
            blocks,
            fc,
            in_channels: config.in_channels,
            feature_dim,
        })
    }

    /// Width of the pooled features (the input of `fc`).
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// Width of [`ModuleT::forward_t`]'s output: the number of classes with `fc`, otherwise
    /// [`ConvNet::feature_dim`].
    pub fn out_dim(&self) -> usize {
        self.fc.out_dim(self.feature_dim)
    }

    /// The pooled features, skipping `fc` if present: `(N, C, H, W) -> (N, feature_dim)`.
    /// A map too small for a block's 2x2 max-pool is an error naming the block.
    pub fn features_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        check_images("ConvNet", xs, self.in_channels)?;
        let mut h = xs.clone();
        for (i, block) in self.blocks.iter().enumerate() {
            for (conv, bn) in block {
                h = bn.forward_relu_t(&conv.forward(&h)?, train)?; // (N, width, H, W)
            }
            let (_, _, hh, ww) = h.dims4()?;
            if hh < 2 || ww < 2 {
                candle_core::bail!(
                    "ConvNet block {i}: a {hh}x{ww} map is too small for the 2x2 max-pool \
                     (input {:?}); use fewer blocks or a larger input",
                    xs.dims()
                );
            }
            h = noether_ops::max_pool2d(&h, 2)?; // (N, width, H / 2, W / 2)
        }
        h.mean(3)?.mean(2) // (N, feature_dim)
    }
}

impl ModuleT for ConvNet {
    /// `(N, C, H, W) -> (N, num_classes)` with `fc`, `(N, feature_dim)` without. Train mode
    /// normalises with batch statistics and updates the running ones; eval mode uses the
    /// running ones.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.fc.forward(self.features_t(xs, train)?)
    }
}

impl Backbone for ConvNet {
    fn features_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        ConvNet::features_t(self, xs, train)
    }

    fn feature_dim(&self) -> usize {
        self.feature_dim
    }
}
