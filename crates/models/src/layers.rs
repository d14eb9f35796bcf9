//! Small builders shared by every model: linear layers with torch's and GPT/timm's
//! initialisations, the image-backbone interface with its optional classifier, and the
//! positive-field check of the configs.

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{Conv2dConfig, Init, VarBuilder};

use crate::error::{ModelError, Result};

/// A linear layer `y = x Wᵀ + b` (weight `(out, in)`, optional bias `(out,)`) over the last
/// dimension of any input, as `candle_nn::Linear` but run through [`noether_ops::linear`]: on
/// the CPU its forward and gradients are GEMMs with the bias fused in (candle's bias gradient is
/// a single-threaded reduction); elsewhere candle's matmul and broadcast add.
///
/// ```
/// use candle_core::{Device, Module, Tensor};
/// let w = Tensor::ones((4, 3), candle_core::DType::F32, &Device::Cpu)?;
/// let layer = noether_models::Linear::new(w, None);
/// let y = layer.forward(&Tensor::ones((2, 5, 3), candle_core::DType::F32, &Device::Cpu)?)?;
/// assert_eq!(y.dims(), [2, 5, 4]);
/// # Ok::<(), candle_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer with the given weight `(out, in)` and bias `(out,)`.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Linear {
        Linear { weight, bias }
    }

    /// The weight `(out, in)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias `(out,)`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        noether_ops::linear(x, &self.weight, self.bias.as_ref())
    }
}

/// A 2-D convolution layer (weight `(O, C / groups, KH, KW)`, optional bias `(O,)`), built as
/// `candle_nn::Conv2d` is but run through [`noether_ops::conv2d`]: on the CPU its forward and
/// both gradients are GEMMs (candle's own CPU backward runs a direct loop several times slower);
/// on CUDA / Metal, and for dilated or grouped convolutions, it is candle's `conv2d`.
///
/// ```
/// use candle_core::{Device, Module, Tensor};
/// use candle_nn::Conv2dConfig;
/// let w = Tensor::ones((4, 3, 3, 3), candle_core::DType::F32, &Device::Cpu)?;
/// let conv = noether_models::Conv2d::new(w, None, Conv2dConfig { padding: 1, ..Default::default() });
/// let y = conv.forward(&Tensor::zeros((2, 3, 8, 8), candle_core::DType::F32, &Device::Cpu)?)?;
/// assert_eq!(y.dims(), [2, 4, 8, 8]);
/// # Ok::<(), candle_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: Conv2dConfig,
}

impl Conv2d {
    /// A convolution with the given weight, bias and configuration.
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: Conv2dConfig) -> Conv2d {
        Conv2d {
            weight,
            bias,
            config,
        }
    }

    /// The weight `(O, C / groups, KH, KW)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias `(O,)`, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Padding, stride, dilation and groups.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let c = &self.config;
        let y = if c.dilation == 1 && c.groups == 1 {
            noether_ops::conv2d(x, &self.weight, c.padding, c.stride)?
        } else {
            x.conv2d(&self.weight, c.padding, c.stride, c.dilation, c.groups)?
        };
        match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?),
            None => Ok(y),
        }
    }
}

/// `torch.nn.Linear`'s default initialisation law for a layer with `fan_in` inputs
/// (`kaiming_uniform_(a = sqrt(5))`): `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, used for the weight
/// and the bias alike. Also `torch.nn.Conv2d`'s, with `fan_in = c_in * k * k`.
pub fn torch_uniform(fan_in: usize) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// A linear layer `y = x W^T + b` with weight `(out_dim, in_dim)` initialised as
/// `torch.nn.Linear` does ([`torch_uniform`] for weight and bias). (candle's `linear` draws a
/// Kaiming-normal weight instead.) Names `weight`, `bias`.
pub fn torch_linear(
    in_dim: usize,
    out_dim: usize,
    bias: bool,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    let init = torch_uniform(in_dim);
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
    let bias = match bias {
        true => Some(vb.get_with_hints(out_dim, "bias", init)?),
        false => None,
    };
    Ok(Linear::new(weight, bias))
}

/// A linear layer (weight `(out_dim, in_dim)`) with weight `N(0, std^2)` and zero bias, the
/// GPT-2 / timm initialisation (timm's `trunc_normal_(std=.02)` truncates at +-2 in absolute
/// value, 100 standard deviations: the same distribution in practice). Names `weight`, `bias`.
pub fn linear_normal(
    in_dim: usize,
    out_dim: usize,
    bias: bool,
    std: f64,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    let init = Init::Randn {
        mean: 0.0,
        stdev: std,
    };
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
    let bias = match bias {
        true => Some(vb.get_with_hints(out_dim, "bias", Init::Const(0.0))?),
        false => None,
    };
    Ok(Linear::new(weight, bias))
}

/// An image encoder: images in, one pooled feature vector per image out. ResNet, ConvNet and
/// ViT implement it, so a training method can take any of them.
pub trait Backbone: ModuleT + Send + Sync {
    /// The pooled features before any classifier: `(N, C, H, W) -> (N, feature_dim)`.
    fn features_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor>;
    /// Width of [`Backbone::features_t`]'s output.
    fn feature_dim(&self) -> usize;
}

/// The optional classifier on top of a backbone's pooled features (torchvision's `fc`, timm's
/// `head`).
#[derive(Debug, Clone)]
pub(crate) struct Classifier(Option<Linear>);

impl Classifier {
    /// `Linear(feature_dim, k)` when `num_classes` is `Some(k)`, built by `make`.
    pub(crate) fn new(
        num_classes: Option<usize>,
        make: impl FnOnce(usize) -> candle_core::Result<Linear>,
    ) -> candle_core::Result<Classifier> {
        Ok(Classifier(num_classes.map(make).transpose()?))
    }

    /// The output width: the number of classes, or `feature_dim` without a classifier.
    pub(crate) fn out_dim(&self, feature_dim: usize) -> usize {
        match &self.0 {
            Some(fc) => fc.weight().dims()[0],
            None => feature_dim,
        }
    }

    /// `(N, feature_dim) -> (N, out_dim)`.
    pub(crate) fn forward(&self, features: Tensor) -> candle_core::Result<Tensor> {
        match &self.0 {
            Some(fc) => fc.forward(&features),
            None => Ok(features),
        }
    }
}

/// Checks that an image batch is `(N, in_channels, H, W)`; the error names the model.
pub(crate) fn check_images(
    model: &str,
    xs: &Tensor,
    in_channels: usize,
) -> candle_core::Result<()> {
    match xs.dims() {
        [_, c, _, _] if *c == in_channels => Ok(()),
        dims => candle_core::bail!(
            "{model} expects input of shape (N, {in_channels}, H, W), got {dims:?}"
        ),
    }
}

/// A config error (`in_channels` or `widths`) unless there is at least one input channel and at
/// least one block, each of positive width: the stacks of [`crate::ConvNet`] and
/// [`crate::GCnn`].
pub(crate) fn check_block_widths(in_channels: usize, widths: &[usize]) -> Result<()> {
    if in_channels == 0 {
        return Err(ModelError::Config {
            field: "in_channels",
            reason: "must be at least 1".into(),
        });
    }
    if widths.is_empty() || widths.contains(&0) {
        return Err(ModelError::Config {
            field: "widths",
            reason: format!("needs at least one block, each of positive width; got {widths:?}"),
        });
    }
    Ok(())
}

/// A config error for the first of `fields` that is zero.
pub(crate) fn require_positive(fields: &[(&'static str, usize)]) -> Result<()> {
    match fields.iter().find(|(_, v)| *v == 0) {
        Some(&(field, _)) => Err(ModelError::Config {
            field,
            reason: "must be positive".into(),
        }),
        None => Ok(()),
    }
}
