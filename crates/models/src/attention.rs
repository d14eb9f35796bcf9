//! Multi-head self-attention with an optional boolean mask and cached keys and values, shared by
//! the ViT blocks ([`crate::vit`], timm's `Attention`) and the ContextSSL GPT blocks
//! ([`crate::transformer`], nanoGPT's `CausalSelfAttention`).
//!
//! Vaswani et al., "Attention Is All You Need" (arXiv 1706.03762), eq. 1 per head:
//! `Attention(Q, K, V) = softmax(Q K^T / sqrt(d_head)) V`, the heads concatenated and projected.
//!
//! The fused projection `qkv` (timm) / `c_attn` (nanoGPT) maps `D -> 3 D` laid out as
//! `[q | k | v]`, each head-major (`q` of head `h` is columns `h d_head .. (h + 1) d_head`):
//! the layout of both timm (`reshape(B, N, 3, H, d).permute(2, 0, 3, 1, 4)`) and nanoGPT
//! (`split(n_embd)` then `view(B, T, H, d)`), so their state dicts load unchanged.
//!
//! A mask is `u8` with 1 = may attend. The softmax runs through `noether_ops` (never candle's
//! fused softmax or `sdpa`, which have no backward); a row with nothing to attend to yields zeros.

use crate::layers::Linear;
use candle_core::{DType, Result, Tensor};
use candle_nn::Module;

/// Keys and values of the tokens seen so far, per head: each `(B, H, T, d_head)`.
#[derive(Debug, Clone)]
pub struct KeyValue {
    /// Keys, `(B, H, T, d_head)`.
    pub keys: Tensor,
    /// Values, `(B, H, T, d_head)`.
    pub values: Tensor,
}

impl KeyValue {
    /// Number of cached tokens `T`.
    pub fn len(&self) -> usize {
        self.keys.dims().get(2).copied().unwrap_or(0)
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` cached tokens.
    pub fn prefix(&self, n: usize) -> Result<KeyValue> {
        Ok(KeyValue {
            keys: self.keys.narrow(2, 0, n)?,
            values: self.values.narrow(2, 0, n)?,
        })
    }
}

/// Multi-head self-attention: a fused `D -> 3D` projection, scaled dot-product attention per head
/// with an optional `u8` mask, and an output projection `D -> D`.
#[derive(Debug, Clone)]
pub struct MultiHeadAttention {
    qkv: Linear,
    proj: Linear,
    heads: usize,
    head_dim: usize,
}

impl MultiHeadAttention {
    /// Attention from its two projections: `qkv` with weight `(3 D, D)` and `proj` with weight
    /// `(D, D)`, over `heads` heads (`D` divisible by `heads`).
    pub fn new(qkv: Linear, proj: Linear, heads: usize) -> Result<MultiHeadAttention> {
        let (three_d, d) = qkv.weight().dims2()?;
        let (pd_out, pd_in) = proj.weight().dims2()?;
        if heads == 0 || d % heads != 0 || three_d != 3 * d || pd_out != d || pd_in != d {
            candle_core::bail!(
                "attention: qkv weight {:?}, proj weight {:?} and {heads} heads do not fit \
                 (need (3D, D), (D, D), D divisible by heads)",
                qkv.weight().dims(),
                proj.weight().dims()
            );
        }
        Ok(MultiHeadAttention {
            qkv,
            proj,
            heads,
            head_dim: d / heads,
        })
    }

    /// Number of heads.
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// `x (B, T, D) -> (B, T, D)`. `mask`, if any, is `u8` of shape `(T, T)`, `(B or 1, T, T)` or
    /// `(B or 1, H or 1, T, T)`; entry `(i, j)` = 1 lets token `i` attend to token `j`.
    pub fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        Ok(self.forward_with_past(x, None, mask)?.0)
    }

    /// Keys and values of `x (B, T, D)`, each `(B, H, T, d_head)`, without attending.
    pub fn key_values(&self, x: &Tensor) -> Result<KeyValue> {
        let (_, k, v) = self.split_heads(x)?;
        Ok(KeyValue { keys: k, values: v })
    }

    /// Attention of new tokens over `[past ++ new]` keys (a KV cache).
    ///
    /// `x (B, Tq, D)`; `past`, if any, `(B or 1, H, Tp, d_head)` each (a batch of 1 is broadcast);
    /// `mask`, if any, `u8` over `(Tq, Tp + Tq)` in any of the layouts of [`Self::forward`]
    /// (columns `0..Tp` are the cached tokens, then the new ones). Without a mask every new token
    /// sees every key. Returns the output `(B, Tq, D)` and the keys and values of `[past ++ new]`.
    pub fn forward_with_past(
        &self,
        x: &Tensor,
        past: Option<&KeyValue>,
        mask: Option<&Tensor>,
    ) -> Result<(Tensor, KeyValue)> {
        let (b, tq, d) = x.dims3()?;
        let (q, mut k, mut v) = self.split_heads(x)?;
        if let Some(p) = past {
            let (pb, ph, tp, pd) = p.keys.dims4()?;
            if (pb != 1 && pb != b) || ph != self.heads || pd != self.head_dim {
                candle_core::bail!(
                    "attention: cached keys {:?} do not fit a batch of {b}, {} heads of width {}",
                    p.keys.dims(),
                    self.heads,
                    self.head_dim
                );
            }
            let shape = (b, self.heads, tp, self.head_dim);
            let pk = p.keys.broadcast_as(shape)?.contiguous()?;
            let pv = p.values.broadcast_as(shape)?.contiguous()?;
            k = Tensor::cat(&[&pk, &k], 2)?;
            v = Tensor::cat(&[&pv, &v], 2)?;
        }
        let tk = k.dim(2)?;
        // (B, H, Tq, d) x (B, H, d, Tk) -> (B, H, Tq, Tk)
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = noether_ops::batched_matmul(&q, &k.t()?, scale)?;
        let att = match mask {
            Some(m) => {
                let m = normalise_mask(m, b, self.heads, tq, tk)?;
                noether_ops::masked_softmax_last_dim(&scores, &m)?
            }
            None => noether_ops::softmax_last_dim(&scores)?,
        };
        let y = noether_ops::batched_matmul(&att, &v, 1.0)?; // (B, H, Tq, d)
        let y = y.transpose(1, 2)?.contiguous()?.reshape((b, tq, d))?;
        let y = self.proj.forward(&y)?;
        Ok((y, KeyValue { keys: k, values: v }))
    }

    /// `x (B, T, D)` -> `q, k, v`, each `(B, H, T, d_head)`, contiguous.
    fn split_heads(&self, x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, t, d) = x.dims3()?;
        if d != self.heads * self.head_dim {
            candle_core::bail!(
                "attention: input width {d}, the layer expects {}",
                self.heads * self.head_dim
            );
        }
        let qkv = self.qkv.forward(x)?; // (B, T, 3D)
        let qkv = qkv.reshape((b, t, 3, self.heads, self.head_dim))?;
        let part = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i, 1)?
                .squeeze(2)?
                .transpose(1, 2)?
                .contiguous()
        };
        Ok((part(0)?, part(1)?, part(2)?))
    }
}

/// A `u8` mask in one of the accepted layouts as `(B or 1, H or 1, Tq, Tk)`.
fn normalise_mask(mask: &Tensor, b: usize, h: usize, tq: usize, tk: usize) -> Result<Tensor> {
    if mask.dtype() != DType::U8 {
        candle_core::bail!("attention mask: dtype {:?}, expected u8", mask.dtype());
    }
    let m = match mask.rank() {
        2 => mask.unsqueeze(0)?.unsqueeze(0)?,
        3 => mask.unsqueeze(1)?,
        4 => mask.clone(),
        _ => candle_core::bail!(
            "attention mask: shape {:?}, expected rank 2, 3 or 4",
            mask.dims()
        ),
    };
    let dims = m.dims();
    let fits = (dims[0] == 1 || dims[0] == b)
        && (dims[1] == 1 || dims[1] == h)
        && dims[2] == tq
        && dims[3] == tk;
    if !fits {
        candle_core::bail!(
            "attention mask: shape {:?} does not fit batch {b}, {h} heads, {tq} queries, {tk} keys",
            mask.dims()
        );
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use crate::layers::linear_normal;
    use candle_core::{Device, IndexOp};

    fn attn(store: &ParamStore, d: usize, heads: usize) -> Result<MultiHeadAttention> {
        let vb = store.var_builder(DType::F32, &Device::Cpu);
        MultiHeadAttention::new(
            linear_normal(d, 3 * d, true, 0.3, vb.pp("qkv"))?,
            linear_normal(d, d, true, 0.3, vb.pp("proj"))?,
            heads,
        )
    }

    #[test]
    fn a_mask_of_ones_is_no_mask_and_past_is_concatenated() -> Result<()> {
        let store = ParamStore::seeded(3);
        let a = attn(&store, 8, 2)?;
        let v: Vec<f32> = (0..80)
            .map(|i| (0.7 * i as f64 + 0.01 * (i * i) as f64).sin() as f32)
            .collect();
        let x = Tensor::from_vec(v, (2, 5, 8), &Device::Cpu)?;
        let y0 = a.forward(&x, None)?;
        let ones = Tensor::ones((5, 5), DType::U8, &Device::Cpu)?;
        let y1 = a.forward(&x, Some(&ones))?;
        let diff = (y0 - &y1)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "{diff}");
        let ones3 = Tensor::ones((1, 5, 5), DType::U8, &Device::Cpu)?;
        let y3 = a.forward(&x, Some(&ones3))?;
        assert!((&y3 - &y1)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-6);
        // the last token attending over [first 4 cached ++ itself] equals the full run's last row
        let past = a.key_values(&x.narrow(1, 0, 4)?)?;
        let (y2, present) = a.forward_with_past(&x.narrow(1, 4, 1)?, Some(&past), None)?;
        assert_eq!(present.len(), 5);
        let diff = (y2.i((.., 0, ..))? - y1.i((.., 4, ..))?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        // a mask of the wrong size is an error
        let bad = Tensor::ones((4, 5), DType::U8, &Device::Cpu)?;
        assert!(a.forward(&x, Some(&bad)).is_err());
        Ok(())
    }
}
