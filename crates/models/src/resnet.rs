//! ResNet-18 / 34 / 50 (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition",
//! CVPR 2016, arXiv 1512.03385), built exactly as torchvision builds them, so a torchvision
//! `state_dict` saved as safetensors loads without renaming and gives the same outputs.
//!
//! - Blocks: `BasicBlock` (two 3x3 convs, ResNet-18/34) and `Bottleneck` (1x1, 3x3, 1x1 with
//!   expansion 4, ResNet-50). The stride of a down-sampling bottleneck sits on its 3x3 conv
//!   ("ResNet v1.5", torchvision's choice). A block has a `downsample` shortcut (1x1 conv with
//!   the block's stride, then BN) when its stride is not 1 or its channel count changes.
//!   `y = relu(F(x) + shortcut(x))` (paper eq. 1).
//! - Stems: [`Stem::ImageNet`] is `conv1` 7x7 stride 2 padding 3, BN, ReLU, 3x3 max-pool stride
//!   2 padding 1; [`Stem::Cifar`] is `conv1` 3x3 stride 1 padding 1, BN, ReLU and no max-pool
//!   (SimCLR's CIFAR variant, used by EquiMod, SIE and most SSL code on 32x32 images). Both
//!   keep the names `conv1`, `bn1`.
//! - Head: global average pool to `(N, feature_dim)`, then `fc` when `num_classes` is set.
//! - Names: `conv1`, `bn1`, `layer{1..4}.{i}.conv{1,2,3}`, `.bn{1,2,3}`, `.downsample.0` (conv),
//!   `.downsample.1` (BN), `fc`; variables are created in torchvision's `state_dict` order.
//! - Initialisation as torchvision: convs `kaiming_normal_(mode="fan_out",
//!   nonlinearity="relu")` with no bias; BN weight 1, bias 0; with `zero_init_residual` the last
//!   BN of every block (`bn2` of a basic block, `bn3` of a bottleneck) starts at weight 0, so
//!   each block starts as the identity (Goyal et al. 2017); `fc` as `torch.nn.Linear`.
//!
//! Width: [`ResNetConfig::base_channels`] is the channel count of the stem and of `layer1`
//! (torchvision: 64); stage `s` has `base_channels * 2^(s-1)` channels (times 4 at a
//! bottleneck's output). Changing it multiplies *every* channel count by `base_channels / 64`,
//! which is not torchvision's `wide_resnet` (that widens only a bottleneck's inner convs).
//!
//! ```
//! use candle_core::{DType, Device, ModuleT, Tensor};
//! use noether_models::{ParamStore, ResNet, ResNetConfig};
//! let store = ParamStore::seeded(0);
//! // ResNet-18 with the CIFAR stem at 1/8 width (channels 8, 16, 32, 64), features only
//! let cfg = ResNetConfig { base_channels: 8, ..ResNetConfig::resnet18_cifar() };
//! let net = ResNet::new(&cfg, store.var_builder(DType::F32, &Device::Cpu))?;
//! let x = Tensor::zeros((2, 3, 16, 16), DType::F32, &Device::Cpu)?;
//! assert_eq!(net.forward_t(&x, true)?.dims(), &[2, net.feature_dim()]);
//! assert_eq!(net.feature_dim(), 64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::layers::Conv2d;
use candle_core::{Module, ModuleT, Tensor};
use candle_nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use candle_nn::{Conv2dConfig, Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::layers::{Backbone, Classifier, check_images, torch_linear};
use crate::norm::{BatchNorm, BatchNormConfig};

/// torchvision's conv initialisation: `kaiming_normal_(mode="fan_out", nonlinearity="relu")`.
pub(crate) const CONV_INIT: Init = Init::Kaiming {
    dist: NormalOrUniform::Normal,
    fan: FanInOut::FanOut,
    non_linearity: NonLinearity::ReLU,
};

/// Depth of a [`ResNet`]. Serialised as the number (`18`, `34`, `50`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub enum ResNetDepth {
    /// ResNet-18: basic blocks `[2, 2, 2, 2]`.
    R18,
    /// ResNet-34: basic blocks `[3, 4, 6, 3]`.
    R34,
    /// ResNet-50: bottleneck blocks `[3, 4, 6, 3]`.
    R50,
}

impl ResNetDepth {
    /// Blocks per stage.
    pub fn blocks(self) -> [usize; 4] {
        match self {
            ResNetDepth::R18 => [2, 2, 2, 2],
            ResNetDepth::R34 | ResNetDepth::R50 => [3, 4, 6, 3],
        }
    }

    /// Whether the blocks are bottlenecks (1x1, 3x3, 1x1) rather than basic blocks.
    pub fn bottleneck(self) -> bool {
        self == ResNetDepth::R50
    }

    /// Output channels of a block over its stage width (torchvision's `expansion`: 1 or 4).
    pub fn expansion(self) -> usize {
        if self.bottleneck() { 4 } else { 1 }
    }
}

impl TryFrom<u32> for ResNetDepth {
    type Error = String;

    fn try_from(depth: u32) -> std::result::Result<Self, Self::Error> {
        match depth {
            18 => Ok(ResNetDepth::R18),
            34 => Ok(ResNetDepth::R34),
            50 => Ok(ResNetDepth::R50),
            other => Err(format!(
                "unsupported ResNet depth {other}; expected 18, 34 or 50"
            )),
        }
    }
}

impl From<ResNetDepth> for u32 {
    fn from(depth: ResNetDepth) -> u32 {
        match depth {
            ResNetDepth::R18 => 18,
            ResNetDepth::R34 => 34,
            ResNetDepth::R50 => 50,
        }
    }
}

/// The first layers of a [`ResNet`], before `layer1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stem {
    /// torchvision's: 7x7 conv stride 2 padding 3, BN, ReLU, 3x3 max-pool stride 2 padding 1
    /// (a 4x downsampling). Serialised as `"imagenet"`.
    #[serde(rename = "imagenet")]
    ImageNet,
    /// For 32x32 images: 3x3 conv stride 1 padding 1, BN, ReLU, no max-pool. Serialised as
    /// `"cifar"`.
    #[serde(rename = "cifar")]
    Cifar,
}

/// Settings of a [`ResNet`]. Unknown keys are an error when deserialising; only `depth` is
/// required (the rest default to torchvision's values, without `fc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNetConfig {
    /// 18, 34 or 50.
    pub depth: ResNetDepth,
    /// The stem (default [`Stem::ImageNet`]).
    #[serde(default = "default_stem")]
    pub stem: Stem,
    /// Channels of the stem and `layer1` (default 64, torchvision's); every channel count
    /// scales with it (see the module docs).
    #[serde(default = "default_base_channels")]
    pub base_channels: usize,
    /// `Some(k)`: an `fc` layer to `k` logits; `None` (default): the pooled features.
    #[serde(default)]
    pub num_classes: Option<usize>,
    /// Start the last BN of every block at weight 0 (default false, as torchvision).
    #[serde(default)]
    pub zero_init_residual: bool,
    /// Input channels (default 3).
    #[serde(default = "default_in_channels")]
    pub in_channels: usize,
}

fn default_stem() -> Stem {
    Stem::ImageNet
}

fn default_base_channels() -> usize {
    64
}

fn default_in_channels() -> usize {
    3
}

impl ResNetConfig {
    /// A ResNet of `depth` with `stem`, torchvision's widths, 3 input channels, no `fc` and no
    /// zero-init.
    pub fn new(depth: ResNetDepth, stem: Stem) -> ResNetConfig {
        ResNetConfig {
            depth,
            stem,
            base_channels: default_base_channels(),
            num_classes: None,
            zero_init_residual: false,
            in_channels: default_in_channels(),
        }
    }

    /// `torchvision.models.resnet18()`: ImageNet stem, 1000-class `fc` (11,689,512 parameters).
    pub fn resnet18() -> ResNetConfig {
        ResNetConfig {
            num_classes: Some(1000),
            ..ResNetConfig::new(ResNetDepth::R18, Stem::ImageNet)
        }
    }

    /// `torchvision.models.resnet34()`: ImageNet stem, 1000-class `fc` (21,797,672 parameters).
    pub fn resnet34() -> ResNetConfig {
        ResNetConfig {
            num_classes: Some(1000),
            ..ResNetConfig::new(ResNetDepth::R34, Stem::ImageNet)
        }
    }

    /// `torchvision.models.resnet50()`: ImageNet stem, 1000-class `fc` (25,557,032 parameters).
    pub fn resnet50() -> ResNetConfig {
        ResNetConfig {
            num_classes: Some(1000),
            ..ResNetConfig::new(ResNetDepth::R50, Stem::ImageNet)
        }
    }

    /// The SSL backbone for 32x32 images: ResNet-18 with the CIFAR stem, 512-d features, no
    /// `fc` (11,168,832 parameters).
    pub fn resnet18_cifar() -> ResNetConfig {
        ResNetConfig::new(ResNetDepth::R18, Stem::Cifar)
    }

    /// ResNet-50 with the CIFAR stem, 2048-d features, no `fc`.
    pub fn resnet50_cifar() -> ResNetConfig {
        ResNetConfig::new(ResNetDepth::R50, Stem::Cifar)
    }

    /// Checks the sizes: positive channel counts, at least one class when `fc` is present.
    pub fn validate(&self) -> Result<()> {
        let positive = |field: &'static str, v: usize| {
            if v == 0 {
                Err(ModelError::Config {
                    field,
                    reason: "must be at least 1".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("base_channels", self.base_channels)?;
        positive("in_channels", self.in_channels)?;
        if let Some(k) = self.num_classes {
            positive("num_classes", k)?;
        }
        Ok(())
    }

    /// Width of the pooled features: `8 * base_channels * expansion` (512 for ResNet-18/34,
    /// 2048 for ResNet-50 at base 64).
    pub fn feature_dim(&self) -> usize {
        8 * self.base_channels * self.depth.expansion()
    }
}

/// A bias-free conv with torchvision's initialisation, named `weight` under `vb`.
fn conv(
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    let weight = vb.get_with_hints((c_out, c_in, kernel, kernel), "weight", CONV_INIT)?;
    let cfg = Conv2dConfig {
        padding,
        stride,
        ..Conv2dConfig::default()
    };
    Ok(Conv2d::new(weight, None, cfg))
}

fn batch_norm(channels: usize, zero_init: bool, vb: VarBuilder) -> candle_core::Result<BatchNorm> {
    let cfg = BatchNormConfig {
        init_weight: if zero_init { 0.0 } else { 1.0 },
        ..BatchNormConfig::default()
    };
    BatchNorm::new(channels, cfg, vb)
}

/// The residual function `F` of a block: (conv, BN) pairs with a ReLU between them.
#[derive(Debug, Clone)]
struct Block {
    layers: Vec<(Conv2d, BatchNorm)>,
    downsample: Option<(Conv2d, BatchNorm)>,
}

impl Block {
    /// torchvision's `BasicBlock(c_in, planes, stride)`.
    fn basic(
        c_in: usize,
        planes: usize,
        stride: usize,
        zero_init: bool,
        vb: VarBuilder,
    ) -> candle_core::Result<Block> {
        let layers = vec![
            (
                conv(c_in, planes, 3, stride, 1, vb.pp("conv1"))?,
                batch_norm(planes, false, vb.pp("bn1"))?,
            ),
            (
                conv(planes, planes, 3, 1, 1, vb.pp("conv2"))?,
                batch_norm(planes, zero_init, vb.pp("bn2"))?,
            ),
        ];
        let downsample = Block::shortcut(c_in, planes, stride, vb)?;
        Ok(Block { layers, downsample })
    }

    /// torchvision's `Bottleneck(c_in, planes, stride)`: output `4 * planes` channels, stride
    /// on the 3x3 conv.
    fn bottleneck(
        c_in: usize,
        planes: usize,
        stride: usize,
        zero_init: bool,
        vb: VarBuilder,
    ) -> candle_core::Result<Block> {
        let c_out = 4 * planes;
        let layers = vec![
            (
                conv(c_in, planes, 1, 1, 0, vb.pp("conv1"))?,
                batch_norm(planes, false, vb.pp("bn1"))?,
            ),
            (
                conv(planes, planes, 3, stride, 1, vb.pp("conv2"))?,
                batch_norm(planes, false, vb.pp("bn2"))?,
            ),
            (
                conv(planes, c_out, 1, 1, 0, vb.pp("conv3"))?,
                batch_norm(c_out, zero_init, vb.pp("bn3"))?,
            ),
        ];
        let downsample = Block::shortcut(c_in, c_out, stride, vb)?;
        Ok(Block { layers, downsample })
    }

    /// The projection shortcut `downsample.0` (1x1 conv), `downsample.1` (BN), when needed.
    fn shortcut(
        c_in: usize,
        c_out: usize,
        stride: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Option<(Conv2d, BatchNorm)>> {
        if stride == 1 && c_in == c_out {
            return Ok(None);
        }
        let vb = vb.pp("downsample");
        Ok(Some((
            conv(c_in, c_out, 1, stride, 0, vb.pp("0"))?,
            batch_norm(c_out, false, vb.pp("1"))?,
        )))
    }

    /// `(N, C_in, H, W) -> (N, C_out, H / stride, W / stride)`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let shortcut = match &self.downsample {
            Some((c, bn)) => bn.forward_t(&c.forward(xs)?, train)?,
            None => xs.clone(),
        };
        let mut h = xs.clone();
        let last = self.layers.len() - 1;
        for (i, (c, bn)) in self.layers.iter().enumerate() {
            let z = c.forward(&h)?;
            h = match i < last {
                true => bn.forward_relu_t(&z, train)?,
                false => bn.forward_t(&z, train)?,
            };
        }
        noether_ops::relu(&(h + shortcut)?)
    }
}

/// torchvision's `MaxPool2d(kernel_size=3, stride=2, padding=1)` on a non-negative input
/// `(N, C, H, W) -> (N, C, floor((H - 1) / 2) + 1, floor((W - 1) / 2) + 1)`.
///
/// candle's `max_pool2d` has neither padding nor a backward for a stride unlike the kernel, so
/// this is the max of shifted stride-2 slices, taken separably (rows, then columns), whose
/// backward is candle's `maximum`. torch pads with -inf; zero padding gives the same result
/// here because the input follows a ReLU (every value is >= 0) and every window holds at least
/// one real value.
fn max_pool_3x3_s2_p1(xs: &Tensor) -> candle_core::Result<Tensor> {
    let pooled = pool_axis(xs, 2)?;
    pool_axis(&pooled, 3)
}

/// Max over windows of 3 with stride 2 and padding 1 along `axis` (2 or 3) of a 4-d tensor.
fn pool_axis(xs: &Tensor, axis: usize) -> candle_core::Result<Tensor> {
    let len = xs.dim(axis)?;
    let out = (len - 1) / 2 + 1;
    // Pad to 2 * out + 2: one zero in front, the rest behind; index 2k + j of the padded axis
    // becomes [k, j] after the reshape, and window k covers [k, 0], [k, 1], [k + 1, 0].
    let padded = xs.pad_with_zeros(axis, 1, 2 * out + 1 - len)?;
    let mut dims = padded.dims().to_vec();
    dims[axis] = out + 1;
    dims.insert(axis + 1, 2);
    let pairs = padded.reshape(dims)?;
    let even = pairs.narrow(axis + 1, 0, 1)?.squeeze(axis + 1)?; // (.., out + 1, ..)
    let odd = pairs.narrow(axis + 1, 1, 1)?.squeeze(axis + 1)?;
    let left = even.narrow(axis, 0, out)?;
    let mid = odd.narrow(axis, 0, out)?;
    let right = even.narrow(axis, 1, out)?;
    left.maximum(&mid)?.maximum(&right)
}

/// A ResNet-18 / 34 / 50 with torchvision's names and initialisation; see the module docs.
#[derive(Debug, Clone)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    stem: Stem,
    stages: Vec<Vec<Block>>,
    fc: Classifier,
    in_channels: usize,
    feature_dim: usize,
}

impl ResNet {
    /// Builds the network under `vb` (variables in torchvision's `state_dict` order); an
    /// invalid config is an error.
    pub fn new(config: &ResNetConfig, vb: VarBuilder) -> Result<ResNet> {
        config.validate()?;
        let base = config.base_channels;
        let conv1 = match config.stem {
            Stem::ImageNet => conv(config.in_channels, base, 7, 2, 3, vb.pp("conv1"))?,
            Stem::Cifar => conv(config.in_channels, base, 3, 1, 1, vb.pp("conv1"))?,
        };
        let bn1 = batch_norm(base, false, vb.pp("bn1"))?;
        let depth = config.depth;
        let mut c_in = base;
        let mut stages = Vec::with_capacity(4);
        for (s, &n_blocks) in depth.blocks().iter().enumerate() {
            let planes = base << s;
            let vb_stage = vb.pp(format!("layer{}", s + 1));
            let mut blocks = Vec::with_capacity(n_blocks);
            for i in 0..n_blocks {
                let stride = if s > 0 && i == 0 { 2 } else { 1 };
                let vb_block = vb_stage.pp(i);
                let block = if depth.bottleneck() {
                    Block::bottleneck(c_in, planes, stride, config.zero_init_residual, vb_block)?
                } else {
                    Block::basic(c_in, planes, stride, config.zero_init_residual, vb_block)?
                };
                blocks.push(block);
                c_in = planes * depth.expansion();
            }
            stages.push(blocks);
        }
        let feature_dim = config.feature_dim();
        let fc = Classifier::new(config.num_classes, |k| {
            torch_linear(feature_dim, k, true, vb.pp("fc"))
        })?;
        Ok(ResNet {
            conv1,
            bn1,
            stem: config.stem,
            stages,
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
    /// [`ResNet::feature_dim`].
    pub fn out_dim(&self) -> usize {
        self.fc.out_dim(self.feature_dim)
    }

    /// The pooled features, skipping `fc` if present: `(N, C, H, W) -> (N, feature_dim)`.
    pub fn features_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        check_images("ResNet", xs, self.in_channels)?;
        let h = self.conv1.forward(xs)?;
        let mut h = self.bn1.forward_relu_t(&h, train)?;
        if self.stem == Stem::ImageNet {
            h = max_pool_3x3_s2_p1(&h)?; // (N, base, H / 4, W / 4)
        }
        for stage in &self.stages {
            for block in stage {
                h = block.forward_t(&h, train)?;
            }
        }
        h.mean(3)?.mean(2) // adaptive average pool to 1x1, flattened: (N, feature_dim)
    }
}

impl ModuleT for ResNet {
    /// `(N, C, H, W) -> (N, num_classes)` with `fc`, `(N, feature_dim)` without. Train mode
    /// normalises with batch statistics and updates the running ones; eval mode uses the
    /// running ones.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.fc.forward(self.features_t(xs, train)?)
    }
}

impl Backbone for ResNet {
    fn features_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        ResNet::features_t(self, xs, train)
    }

    fn feature_dim(&self) -> usize {
        self.feature_dim
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// torch's max-pool (kernel 3, stride 2, padding 1, -inf padding), written as loops.
    fn naive_pool(x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (ho, wo) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
        let mut out = Vec::new();
        for i in 0..ho {
            for j in 0..wo {
                let mut m = f32::NEG_INFINITY;
                for di in 0..3 {
                    for dj in 0..3 {
                        let (r, c) = ((2 * i + di) as isize - 1, (2 * j + dj) as isize - 1);
                        if r >= 0 && c >= 0 && (r as usize) < h && (c as usize) < w {
                            m = m.max(x[r as usize * w + c as usize]);
                        }
                    }
                }
                out.push(m);
            }
        }
        out
    }

    #[test]
    fn max_pool_matches_torch_semantics_and_routes_gradients() -> candle_core::Result<()> {
        for (h, w) in [(1, 1), (2, 3), (5, 6), (7, 7), (8, 9)] {
            // distinct non-negative values, so every window has one maximum
            let x: Vec<f32> = (0..h * w)
                .map(|i| ((i * 37) % (h * w)) as f32 + 0.5)
                .collect();
            let xv = Var::from_tensor(&Tensor::from_vec(x.clone(), (1, 1, h, w), &Device::Cpu)?)?;
            let y = max_pool_3x3_s2_p1(xv.as_tensor())?;
            let expect = naive_pool(&x, h, w);
            assert_eq!(y.dims(), &[1, 1, (h - 1) / 2 + 1, (w - 1) / 2 + 1]);
            assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, expect);
            // the gradient of sum(y) counts how many windows pick each input
            let grads = y.sum_all()?.backward()?;
            let g = grads.get(&xv).map(|g| g.flatten_all()).transpose()?;
            let g = g
                .map(|g| g.to_vec1::<f32>())
                .transpose()?
                .unwrap_or_default();
            let mut counts = vec![0f32; h * w];
            for m in &expect {
                let at = x.iter().position(|v| v == m).unwrap_or(0);
                counts[at] += 1.0;
            }
            assert_eq!(g, counts, "{h}x{w}");
        }
        Ok(())
    }
}
