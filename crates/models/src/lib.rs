//! # noether-models
//!
//! candle backbones and heads that train correctly: every layer has a real train flag
//! (`ModuleT::forward_t`), every normalisation and activation goes through `noether-ops` so it
//! has a backward, weights are named as in torchvision / timm so PyTorch state dicts saved as
//! safetensors load unchanged, and a [`ParamStore`] builds them from a seed and tells weights,
//! no-decay parameters and buffers apart.

mod error;
pub mod norm;
pub mod store;

pub use error::{ModelError, Result};
pub use norm::{BatchNorm, BatchNormConfig, LayerNorm};
pub use store::{LoadReport, Param, ParamKind, ParamStore};
