//! Vision Transformer: Dosovitskiy et al., "An Image is Worth 16x16 Words" (arXiv 2010.11929),
//! eqs. 1-4: patch embedding plus a class token and a learned position embedding,
//! `z'_l = MSA(LN(z_{l-1})) + z_{l-1}`, `z_l = MLP(LN(z'_l)) + z'_l`, `y = LN(z_L^0)`.
//!
//! The structure and the weight names are timm's `VisionTransformer` (default `class_token=True`,
//! `qkv_bias=True`, LayerNorm eps 1e-6, exact-erf GELU, no LayerScale, no q/k norm), so a timm
//! `vit_*` state dict saved as safetensors loads unchanged:
//!
//! | name | shape |
//! |---|---|
//! | `cls_token` | `(1, 1, D)` |
//! | `pos_embed` | `(1, 1 + P, D)` |
//! | `patch_embed.proj.{weight,bias}` | `(D, C, p, p)`, `(D,)` (conv, kernel = stride = p) |
//! | `blocks.{i}.norm1.{weight,bias}` | `(D,)` |
//! | `blocks.{i}.attn.qkv.{weight,bias}` | `(3D, D)`, `(3D,)` |
//! | `blocks.{i}.attn.proj.{weight,bias}` | `(D, D)`, `(D,)` |
//! | `blocks.{i}.norm2.{weight,bias}` | `(D,)` |
//! | `blocks.{i}.mlp.fc1.{weight,bias}` | `(r D, D)`, `(r D,)` |
//! | `blocks.{i}.mlp.fc2.{weight,bias}` | `(D, r D)`, `(D,)` |
//! | `norm.*` ([`VitPool::Cls`]) or `fc_norm.*` ([`VitPool::Mean`]), weight and bias | `(D,)` |
//! | `head.{weight,bias}` (with `num_classes`) | `(K, D)`, `(K,)` |
//!
//! As in timm, class-token pooling applies the final norm to every token (`norm`) and reads token
//! 0; mean pooling averages the patch tokens (the class token excluded) and then normalises
//! (`fc_norm`, with `norm` the identity).
//!
//! Initialisation (timm's default `init_weights`): linear weights and `pos_embed` `N(0, 0.02^2)`
//! (timm truncates at +-2 in absolute value, 100 standard deviations away: the same in practice),
//! `cls_token` `N(0, 1e-12)` (timm: `normal_(std=1e-6)`), linear biases 0, LayerNorm weight 1 and
//! bias 0, the patch convolution torch's default (uniform in `+-1/sqrt(C p^2)`).
//!
//! There is no dropout (timm's default rates are 0), so train and eval mode compute the same
//! function; `forward_t` keeps the `ModuleT` interface of the other backbones.

use crate::layers::Conv2d;
use crate::layers::Linear;
use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{Conv2dConfig, Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::attention::MultiHeadAttention;
use crate::error::{ModelError, Result};
use crate::layers::{Backbone, Classifier, linear_normal};
use crate::norm::LayerNorm;

/// How a [`Vit`] pools its tokens into one vector (timm's `global_pool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VitPool {
    /// The class token after the final norm (timm `global_pool='token'`).
    Cls,
    /// The mean of the patch tokens, then `fc_norm` (timm `global_pool='avg'`).
    Mean,
}

/// Hyperparameters of a [`Vit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitConfig {
    /// Side of the (square) input image in pixels.
    pub image_size: usize,
    /// Side of a (square) patch in pixels; divides `image_size`.
    pub patch_size: usize,
    /// Input channels (3 for RGB).
    pub in_channels: usize,
    /// Token width `D`.
    pub width: usize,
    /// Number of transformer blocks.
    pub depth: usize,
    /// Attention heads; divides `width`.
    pub heads: usize,
    /// MLP hidden width as a multiple of `width` (timm: 4.0).
    pub mlp_ratio: f64,
    /// Classes of a linear head `head`; `None` for a backbone returning the pooled `D` vector.
    pub num_classes: Option<usize>,
    /// Token pooling.
    pub pool: VitPool,
}

impl VitConfig {
    /// ViT-Tiny on 32x32 images (CIFAR): patch 4 (64 patches), width 192, depth 6, 3 heads, MLP
    /// ratio 4, class-token pooling, no head (an SSL backbone with a 192-d representation).
    pub fn vit_tiny_cifar() -> VitConfig {
        VitConfig {
            image_size: 32,
            patch_size: 4,
            in_channels: 3,
            width: 192,
            depth: 6,
            heads: 3,
            mlp_ratio: 4.0,
            num_classes: None,
            pool: VitPool::Cls,
        }
    }

    /// timm's `vit_tiny_patch16_224` with its 1000-class head: 224x224, patch 16, width 192,
    /// depth 12, 3 heads (5,717,416 parameters).
    pub fn vit_tiny_patch16_224() -> VitConfig {
        VitConfig {
            image_size: 224,
            patch_size: 16,
            in_channels: 3,
            width: 192,
            depth: 12,
            heads: 3,
            mlp_ratio: 4.0,
            num_classes: Some(1000),
            pool: VitPool::Cls,
        }
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size.max(1)
    }

    /// Number of patch tokens `P`.
    pub fn num_patches(&self) -> usize {
        self.grid() * self.grid()
    }

    /// MLP hidden width (timm: `int(width * mlp_ratio)`).
    pub fn mlp_hidden(&self) -> usize {
        (self.width as f64 * self.mlp_ratio) as usize
    }

    /// Checks every field; the error names the first bad one.
    pub fn check(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(ModelError::Config { field, reason });
        if self.patch_size == 0
            || self.image_size == 0
            || !self.image_size.is_multiple_of(self.patch_size)
        {
            return bad(
                "patch_size",
                format!(
                    "{} must be positive and divide image_size {}",
                    self.patch_size, self.image_size
                ),
            );
        }
        if self.in_channels == 0 {
            return bad("in_channels", "must be positive".into());
        }
        if self.depth == 0 {
            return bad("depth", "must be positive".into());
        }
        if self.heads == 0 || self.width == 0 || !self.width.is_multiple_of(self.heads) {
            return bad(
                "heads",
                format!(
                    "{} must be positive and divide width {}",
                    self.heads, self.width
                ),
            );
        }
        if !(self.mlp_ratio.is_finite() && self.mlp_hidden() > 0) {
            return bad(
                "mlp_ratio",
                format!("{} gives no hidden units", self.mlp_ratio),
            );
        }
        if self.num_classes == Some(0) {
            return bad("num_classes", "must be positive when given".into());
        }
        Ok(())
    }
}

/// A pre-LN transformer block (timm `Block`): attention and MLP, each with a residual.
#[derive(Debug, Clone)]
struct VitBlock {
    norm1: LayerNorm,
    attn: MultiHeadAttention,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl VitBlock {
    fn new(cfg: &VitConfig, vb: VarBuilder) -> candle_core::Result<VitBlock> {
        let d = cfg.width;
        let h = cfg.mlp_hidden();
        let norm1 = LayerNorm::new(d, 1e-6, true, vb.pp("norm1"))?;
        let attn = MultiHeadAttention::new(
            linear_normal(d, 3 * d, true, 0.02, vb.pp("attn.qkv"))?,
            linear_normal(d, d, true, 0.02, vb.pp("attn.proj"))?,
            cfg.heads,
        )?;
        let norm2 = LayerNorm::new(d, 1e-6, true, vb.pp("norm2"))?;
        let fc1 = linear_normal(d, h, true, 0.02, vb.pp("mlp.fc1"))?;
        let fc2 = linear_normal(h, d, true, 0.02, vb.pp("mlp.fc2"))?;
        Ok(VitBlock {
            norm1,
            attn,
            norm2,
            fc1,
            fc2,
        })
    }

    /// `(B, T, D) -> (B, T, D)`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = (x + self.attn.forward(&self.norm1.forward(x)?, None)?)?;
        let h = noether_ops::gelu(&self.fc1.forward(&self.norm2.forward(&x)?)?)?;
        x + self.fc2.forward(&h)?
    }
}

/// A Vision Transformer with timm's structure and names (see the module docs).
#[derive(Debug, Clone)]
pub struct Vit {
    patch_embed: Conv2d,
    cls_token: Tensor,
    pos_embed: Tensor,
    blocks: Vec<VitBlock>,
    norm: Option<LayerNorm>,
    fc_norm: Option<LayerNorm>,
    head: Classifier,
    config: VitConfig,
}

impl Vit {
    /// Builds the model under `vb` (names relative to it; see the module docs).
    pub fn new(config: &VitConfig, vb: VarBuilder) -> Result<Vit> {
        config.check()?;
        let (c, d, p) = (config.in_channels, config.width, config.patch_size);
        let bound = 1.0 / ((c * p * p) as f64).sqrt();
        let conv_init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let pe = vb.pp("patch_embed.proj");
        let patch_embed = Conv2d::new(
            pe.get_with_hints((d, c, p, p), "weight", conv_init)?,
            Some(pe.get_with_hints(d, "bias", conv_init)?),
            Conv2dConfig {
                padding: 0,
                stride: p,
                dilation: 1,
                groups: 1,
                cudnn_fwd_algo: None,
            },
        );
        let cls_token = vb.get_with_hints(
            (1, 1, d),
            "cls_token",
            Init::Randn {
                mean: 0.0,
                stdev: 1e-6,
            },
        )?;
        let pos_embed = vb.get_with_hints(
            (1, 1 + config.num_patches(), d),
            "pos_embed",
            Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        )?;
        let blocks = (0..config.depth)
            .map(|i| VitBlock::new(config, vb.pp(format!("blocks.{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let (norm, fc_norm) = match config.pool {
            VitPool::Cls => (Some(LayerNorm::new(d, 1e-6, true, vb.pp("norm"))?), None),
            VitPool::Mean => (None, Some(LayerNorm::new(d, 1e-6, true, vb.pp("fc_norm"))?)),
        };
        let head = Classifier::new(config.num_classes, |k| {
            linear_normal(d, k, true, 0.02, vb.pp("head"))
        })?;
        Ok(Vit {
            patch_embed,
            cls_token,
            pos_embed,
            blocks,
            norm,
            fc_norm,
            head,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VitConfig {
        &self.config
    }

    /// Width of [`Vit::embed`]'s output.
    pub fn embed_dim(&self) -> usize {
        self.config.width
    }

    /// Images `(B, C, S, S)` -> tokens `(B, 1 + P, D)` after the last block and, for class-token
    /// pooling, the final norm (timm's `forward_features`).
    pub fn forward_features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let cfg = &self.config;
        let (b, c, h, w) = x.dims4()?;
        if c != cfg.in_channels || h != cfg.image_size || w != cfg.image_size {
            candle_core::bail!(
                "vit: input {:?}, expected (B, {}, {}, {})",
                x.dims(),
                cfg.in_channels,
                cfg.image_size,
                cfg.image_size
            );
        }
        let d = cfg.width;
        let patches = self.patch_embed.forward(x)?; // (B, D, g, g)
        let patches = patches.flatten_from(2)?.transpose(1, 2)?; // (B, P, D)
        let cls = self.cls_token.broadcast_as((b, 1, d))?;
        // (B, 1 + P, D)
        let mut z = Tensor::cat(&[&cls, &patches], 1)?.broadcast_add(&self.pos_embed)?;
        for block in &self.blocks {
            z = block.forward(&z)?;
        }
        match &self.norm {
            Some(n) => n.forward(&z),
            None => Ok(z),
        }
    }

    /// Images `(B, C, S, S)` -> pooled representation `(B, D)` (before the head).
    pub fn embed(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let z = self.forward_features(x)?;
        match self.config.pool {
            VitPool::Cls => z.narrow(1, 0, 1)?.squeeze(1),
            VitPool::Mean => {
                let p = self.config.num_patches();
                let pooled = z.narrow(1, 1, p)?.mean(1)?;
                match &self.fc_norm {
                    Some(n) => n.forward(&pooled),
                    None => Ok(pooled),
                }
            }
        }
    }
}

impl ModuleT for Vit {
    /// Images `(B, C, S, S)` -> logits `(B, K)` with a head, else the representation `(B, D)`.
    /// `train` changes nothing (no dropout, no batch norm).
    fn forward_t(&self, xs: &Tensor, _train: bool) -> candle_core::Result<Tensor> {
        self.head.forward(self.embed(xs)?)
    }
}

impl Backbone for Vit {
    /// [`Vit::embed`]: the pooled representation; `train` changes nothing.
    fn features_t(&self, xs: &Tensor, _train: bool) -> candle_core::Result<Tensor> {
        self.embed(xs)
    }

    fn feature_dim(&self) -> usize {
        self.config.width
    }
}
