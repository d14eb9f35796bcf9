//! Normalisation layers that train: [`BatchNorm`] (1d and 2d) and [`LayerNorm`].
//!
//! Both run through `noether-ops`, so they have a backward on every path. `BatchNorm` keeps
//! torchvision's names (`weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`);
//! the running statistics are buffers of the [`crate::ParamStore`], never handed to an optimizer,
//! and are updated in train mode exactly as `torch.nn.BatchNorm2d` does (momentum 0.1, unbiased
//! batch variance).

use candle_core::{DType, Module, ModuleT, Result, Tensor, Var};
use candle_nn::{Init, VarBuilder};

/// Settings of a [`BatchNorm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance (torch: 1e-5).
    pub eps: f64,
    /// Weight of the new batch in the running average (torch: 0.1).
    pub momentum: f64,
    /// Learn a per-channel scale and shift.
    pub affine: bool,
    /// Initial scale when `affine` (1; 0 for the zero-init of the last BN in a residual block).
    pub init_weight: f64,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: 0.1,
            affine: true,
            init_weight: 1.0,
        }
    }
}

/// Batch normalisation over axis 1 of `(N, C)` or `(N, C, H, W)` input.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    running_mean: Var,
    running_var: Var,
    num_batches_tracked: Var,
    config: BatchNormConfig,
}

/// A variable of the store behind `vb` (the backend returns the variable's own tensor).
fn store_var(
    vb: &VarBuilder,
    shape: &[usize],
    name: &str,
    init: Init,
    dtype: DType,
) -> Result<Var> {
    let t = vb.get_with_hints_dtype(shape, name, init, dtype)?;
    // The ParamStore hands out the variable's tensor itself; wrapping it keeps the same storage.
    Var::from_tensor(&t)
}

impl BatchNorm {
    /// A batch norm over `channels` channels.
    pub fn new(channels: usize, config: BatchNormConfig, vb: VarBuilder) -> Result<BatchNorm> {
        let (weight, bias) = if config.affine {
            (
                Some(vb.get_with_hints(channels, "weight", Init::Const(config.init_weight))?),
                Some(vb.get_with_hints(channels, "bias", Init::Const(0.0))?),
            )
        } else {
            (None, None)
        };
        let dtype = vb.dtype();
        Ok(BatchNorm {
            weight,
            bias,
            running_mean: store_var(&vb, &[channels], "running_mean", Init::Const(0.0), dtype)?,
            running_var: store_var(&vb, &[channels], "running_var", Init::Const(1.0), dtype)?,
            num_batches_tracked: store_var(
                &vb,
                &[],
                "num_batches_tracked",
                Init::Const(0.0),
                DType::I64,
            )?,
            config,
        })
    }

    /// The running mean (shape `(C,)`).
    pub fn running_mean(&self) -> &Tensor {
        self.running_mean.as_tensor()
    }

    /// The running variance (shape `(C,)`).
    pub fn running_var(&self) -> &Tensor {
        self.running_var.as_tensor()
    }

    /// How many train-mode batches have updated the running statistics.
    pub fn num_batches_tracked(&self) -> Result<i64> {
        self.num_batches_tracked.as_tensor().to_scalar::<i64>()
    }
}

impl BatchNorm {
    /// `relu(self.forward_t(xs, train))` as one fused op ([`noether_ops::batch_norm_relu_train`]):
    /// the same values and running-statistics update, one pass less each way, and the
    /// normalised pre-activation is not kept for the backward pass.
    pub fn forward_relu_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.run(xs, train, true)
    }

    fn run(&self, xs: &Tensor, train: bool, relu: bool) -> Result<Tensor> {
        let (w, b, eps) = (self.weight.as_ref(), self.bias.as_ref(), self.config.eps);
        if !train {
            let (rm, rv) = (self.running_mean.as_tensor(), self.running_var.as_tensor());
            return match relu {
                true => noether_ops::batch_norm_relu_eval(xs, rm, rv, w, b, eps),
                false => noether_ops::batch_norm_eval(xs, rm, rv, w, b, eps),
            };
        }
        let (y, stats) = match relu {
            true => noether_ops::batch_norm_relu_train(xs, w, b, eps)?,
            false => noether_ops::batch_norm_train(xs, w, b, eps)?,
        };
        let m = self.config.momentum;
        let rm = self.running_mean.as_tensor();
        let rv = self.running_var.as_tensor();
        let new_mean = ((rm * (1.0 - m))? + (stats.mean.to_dtype(rm.dtype())? * m)?)?;
        let new_var = ((rv * (1.0 - m))? + (stats.unbiased_var()?.to_dtype(rv.dtype())? * m)?)?;
        self.running_mean.set(&new_mean.detach())?;
        self.running_var.set(&new_var.detach())?;
        let n = self.num_batches_tracked.as_tensor();
        self.num_batches_tracked.set(&(n + 1.0)?)?;
        Ok(y)
    }
}

impl ModuleT for BatchNorm {
    /// `(N, C[, H, W]) -> same shape`. Train mode normalises with the batch statistics and
    /// updates the running ones; eval mode uses the running ones.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.run(xs, train, false)
    }
}

/// Layer normalisation over the last dimension (timm / torch names `weight`, `bias`).
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    eps: f64,
}

impl LayerNorm {
    /// A layer norm over a last dimension of size `dim`, with learned scale and shift when
    /// `affine`. timm's ViT uses `eps = 1e-6`, torch's default is `1e-5`.
    pub fn new(dim: usize, eps: f64, affine: bool, vb: VarBuilder) -> Result<LayerNorm> {
        let (weight, bias) = if affine {
            (
                Some(vb.get_with_hints(dim, "weight", Init::Const(1.0))?),
                Some(vb.get_with_hints(dim, "bias", Init::Const(0.0))?),
            )
        } else {
            (None, None)
        };
        Ok(LayerNorm { weight, bias, eps })
    }
}

impl Module for LayerNorm {
    /// `(..., dim) -> (..., dim)`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        noether_ops::layer_norm(xs, self.weight.as_ref(), self.bias.as_ref(), self.eps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use candle_core::Device;

    #[test]
    fn running_stats_follow_torch_and_are_buffers() -> Result<()> {
        let store = ParamStore::seeded(0);
        let vb = store.var_builder(DType::F32, &Device::Cpu);
        let bn = BatchNorm::new(2, BatchNormConfig::default(), vb.pp("bn"))?;
        // channel 0: values 1, 3 (mean 2, unbiased var 2); channel 1: 0, 0
        let x = Tensor::new(&[[1f32, 0.0], [3.0, 0.0]], &Device::Cpu)?;
        let y = bn.forward_t(&x, true)?;
        let y0 = y.to_vec2::<f32>()?;
        assert!((y0[0][0] + 1.0).abs() < 1e-4 && (y0[1][0] - 1.0).abs() < 1e-4);
        let rm = bn.running_mean().to_vec1::<f32>()?;
        let rv = bn.running_var().to_vec1::<f32>()?;
        assert!((rm[0] - 0.2).abs() < 1e-6 && rm[1].abs() < 1e-6);
        assert!((rv[0] - (0.9 + 0.1 * 2.0)).abs() < 1e-6 && (rv[1] - 0.9).abs() < 1e-6);
        assert_eq!(bn.num_batches_tracked()?, 1);
        // the store sees the running statistics, the optimizer view does not
        let all: Vec<String> = store
            .all()
            .map_err(candle_core::Error::wrap)?
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert!(all.contains(&"bn.running_var".to_string()));
        let trainable = store.trainable().map_err(candle_core::Error::wrap)?;
        assert_eq!(trainable.len(), 2);
        // eval mode uses the running statistics
        let ye = bn.forward_t(&x, false)?.to_vec2::<f32>()?;
        let expect = (1.0 - 0.2) / (1.1f32 + 1e-5).sqrt();
        assert!((ye[0][0] - expect).abs() < 1e-4, "{} vs {expect}", ye[0][0]);
        Ok(())
    }
}
