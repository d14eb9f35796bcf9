//! # noether-models
//!
//! candle backbones and heads that train correctly: every layer has a real train flag
//! (`ModuleT::forward_t`), every normalisation and activation goes through `noether-ops` so it
//! has a backward, weights are named as in torchvision / timm so PyTorch state dicts saved as
//! safetensors load unchanged, and a [`ParamStore`] builds them from a seed and tells weights,
//! no-decay parameters and buffers apart.

pub mod attention;
pub mod convnet;
pub mod equimod;
mod error;
pub mod fibers;
pub mod gcnn;
pub mod gconv;
pub mod gin;
pub mod layers;
pub mod mlp;
pub mod norm;
pub mod resnet;
pub mod sesn;
pub mod sie;
pub mod store;
pub mod tcnn;
pub mod transformer;
pub mod vit;
pub mod vn;

pub use attention::{KeyValue, MultiHeadAttention};
pub use convnet::{ConvNet, ConvNetConfig};
pub use equimod::{EquimodConfig, EquimodPredictor, TransformationEncoder};
pub use error::{ModelError, Result};
pub use fibers::{FiberBackbone, GroupAction};
pub use gcnn::{GCnn, GCnnConfig, RotationAction, Structure};
pub use gconv::{GConvConfig, GroupBatchNorm, GroupConv, GroupPool, LiftingConv};
pub use gin::{Gin, GinConfig};
pub use layers::{Backbone, Conv2d, Linear, linear_normal, torch_linear, torch_uniform};
pub use mlp::{Mlp, MlpConfig, OutputNorm};
pub use norm::{BatchNorm, BatchNormConfig, LayerNorm};
pub use resnet::{ResNet, ResNetConfig, ResNetDepth, Stem};
pub use sesn::{ScaleAction, SesConv, SesLift, Sesn, SesnConfig};
pub use sie::{HypernetConfig, HypernetPredictor};
pub use store::{LoadReport, Param, ParamKind, ParamStore};
pub use tcnn::{TranslationAction, TranslationCnn, TranslationCnnConfig};
pub use transformer::{
    ContextMask, ContextTransformer, ContextTransformerConfig, KvCache, MaskSource, PairMask,
    pair_tokens,
};
pub use vit::{Vit, VitConfig, VitPool};
pub use vn::{VnConfig, VnNet, VnOutput};
