//! The ContextSSL world model: Gupta et al., "In-Context Symmetries: Self-Supervised Learning
//! through Contextual World Models" (arXiv 2405.18193), and its reference
//! `gptmodel.py` (`Sharut/In-Context-Symmetries`); notes in `papers/contextssl.md`.
//!
//! A small GPT over (state, action, next state) tokens `s_k = [h(x_k); a_k]`,
//! `t_k = [h(x+_k); 0]`, laid out `s_1, t_1, s_2, t_2, ...`:
//! read-in `Linear(in_dim -> n_embd)`, `n_layer` pre-LN blocks
//! (`x += attn(ln_1(x)); x += mlp(ln_2(x))`, MLP `n_embd -> mlp_ratio n_embd -> n_embd` with exact
//! GELU), a final LayerNorm and a read-out `Linear(n_embd -> out_dim)`. **No positional
//! embedding**: the attention mask is the only structure.
//!
//! Names follow the reference, so its state dict loads unchanged: `_read_in`, `_read_out`,
//! `transformer.h.{i}.ln_1`, `.attn.c_attn`, `.attn.c_proj`, `.ln_2`, `.mlp.c_fc`, `.mlp.c_proj`,
//! `transformer.ln_f`. With `bias = false` the projections inside the blocks have no bias and the
//! LayerNorms keep their weight but lose their bias (the reference's `LayerNorm(ndim, bias)`);
//! `_read_in` / `_read_out` always have one.
//!
//! Masks ([`pair_mask`], [`random_context_mask`]) are `(T, T)` `u8`, 1 = may attend, and come from
//! a [`MaskSource`] once per layer call: the pair mask in evaluation, the pair mask AND a fresh
//! random context mask per layer in training ([`ContextMask`]). Evaluation with a context uses a
//! [`KvCache`]: [`ContextTransformer::encode_context`] runs the context once under the pair mask
//! and keeps every layer's keys and values; [`ContextTransformer::forward_with_cache`] lets each
//! query token attend to the first `c` context tokens and to itself only.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use noether_models::{ContextTransformer, ContextTransformerConfig, PairMask, ParamStore};
//! let cfg = ContextTransformerConfig {
//!     in_dim: 6, n_embd: 8, n_layer: 1, n_head: 2, mlp_ratio: 4, out_dim: 4,
//!     ln_eps: 1e-5, bias: true,
//! };
//! let store = ParamStore::seeded(0);
//! let model = ContextTransformer::new(&cfg, store.var_builder(DType::F32, &Device::Cpu))?;
//! let context = Tensor::zeros((1, 8, 6), DType::F32, &Device::Cpu)?; // 4 pairs
//! let y = model.forward(&context, &mut PairMask)?; // (1, 8, 4)
//! let cache = model.encode_context(&context)?;
//! let queries = Tensor::ones((3, 1, 6), DType::F32, &Device::Cpu)?;
//! let q = model.forward_with_cache(&queries, &cache, 6)?; // each sees the first 6 tokens
//! assert_eq!((y.dims(), q.dims()), (&[1, 8, 4][..], &[3, 1, 4][..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::layers::Linear;
use candle_core::{Device, Module, Tensor};
use candle_nn::{Init, VarBuilder};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::attention::{KeyValue, MultiHeadAttention};
use crate::error::{ModelError, Result};
use crate::layers::linear_normal;

/// Hyperparameters of a [`ContextTransformer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextTransformerConfig {
    /// Token width (paper: 518 = 512-d feature + 6-d action).
    pub in_dim: usize,
    /// Model width.
    pub n_embd: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Attention heads; divides `n_embd`.
    pub n_head: usize,
    /// MLP hidden width as a multiple of `n_embd` (4).
    pub mlp_ratio: usize,
    /// Output width (paper: 512).
    pub out_dim: usize,
    /// LayerNorm epsilon (1e-5).
    pub ln_eps: f64,
    /// Biases in the block projections and LayerNorms (reference default: true).
    pub bias: bool,
}

impl ContextTransformerConfig {
    /// The paper's model: 518 -> 2048 wide, 3 blocks of 4 heads, MLP 4x, out 512, bias
    /// (153,190,912 parameters; the paper's "about 151M").
    pub fn paper() -> ContextTransformerConfig {
        ContextTransformerConfig {
            in_dim: 518,
            n_embd: 2048,
            n_layer: 3,
            n_head: 4,
            mlp_ratio: 4,
            out_dim: 512,
            ln_eps: 1e-5,
            bias: true,
        }
    }

    /// Number of parameters the model will have (all trainable).
    pub fn num_params(&self) -> usize {
        let (d, b) = (self.n_embd, usize::from(self.bias));
        let h = self.mlp_ratio * d;
        let ln = d + b * d;
        let block =
            2 * ln + (d * 3 * d + b * 3 * d) + (d * d + b * d) + (d * h + b * h) + (h * d + b * d);
        (self.in_dim * d + d) + self.n_layer * block + ln + (d * self.out_dim + self.out_dim)
    }

    /// Checks every field; the error names the first bad one.
    pub fn check(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(ModelError::Config { field, reason });
        for (field, v) in [
            ("in_dim", self.in_dim),
            ("n_layer", self.n_layer),
            ("mlp_ratio", self.mlp_ratio),
            ("out_dim", self.out_dim),
        ] {
            if v == 0 {
                return bad(field, "must be positive".into());
            }
        }
        if self.n_head == 0 || self.n_embd == 0 || !self.n_embd.is_multiple_of(self.n_head) {
            return bad(
                "n_head",
                format!(
                    "{} must be positive and divide n_embd {}",
                    self.n_head, self.n_embd
                ),
            );
        }
        if !(self.ln_eps > 0.0 && self.ln_eps.is_finite()) {
            return bad("ln_eps", format!("{} must be positive", self.ln_eps));
        }
        Ok(())
    }
}

/// The token sequence of a batch of pairs: `s_k = [h_k ; a_k]`, `t_k = [h+_k ; 0]`, interleaved as
/// `s_1, t_1, s_2, t_2, ...` (the reference's `_combine`). `sources (N, d)`, `actions (N, a)`,
/// `targets (N, d)` -> `(2N, d + a)`; reshape to `(B, T, d + a)` sequences of `T` tokens
/// (`T` even) for [`ContextTransformer::forward`].
pub fn pair_tokens(
    sources: &Tensor,
    actions: &Tensor,
    targets: &Tensor,
) -> candle_core::Result<Tensor> {
    let (n, d) = sources.dims2()?;
    let (na, a) = actions.dims2()?;
    if targets.dims2()? != (n, d) || na != n {
        candle_core::bail!(
            "pair tokens: sources {:?}, actions {:?}, targets {:?} do not pair up",
            sources.dims(),
            actions.dims(),
            targets.dims()
        );
    }
    let s = Tensor::cat(&[sources, actions], 1)?;
    let t = Tensor::cat(&[targets, &actions.zeros_like()?], 1)?;
    Tensor::stack(&[&s, &t], 1)?.reshape((2 * n, d + a))
}

/// The pair mask over `t` tokens `s_1, t_1, s_2, t_2, ...`: causal, and for every target position
/// `i` (odd) the entry `(i, i - 1)` removed. A target sees the earlier pairs and itself but not its
/// own source; a source sees the earlier pairs and itself (`get_pair_attention_mask`). Shape
/// `(t, t)`, `u8`.
pub fn pair_mask(t: usize, device: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_vec(pair_mask_data(t), (t, t), device)
}

fn pair_mask_data(t: usize) -> Vec<u8> {
    let mut m = vec![0u8; t * t];
    for i in 0..t {
        for j in 0..=i {
            m[i * t + j] = 1;
        }
        if i % 2 == 1 {
            m[i * t + i - 1] = 0;
        }
    }
    m
}

/// The random context mask over `t` tokens (training only; AND it with [`pair_mask`]): for each
/// query row and each pair of columns `(2k, 2k + 1)` (both columns together) keep with probability
/// `keep_prob` (the paper: 0.1, i.e. `mask_prob` 0.9); the diagonal is always kept. As in the
/// reference, every (row, pair) is drawn, later pairs included (the AND removes those); draws are
/// row-major from `rng`, `keep iff u < keep_prob` with `u` uniform in `[0, 1)`. For odd `t` the
/// last column forms a pair of its own. Shape `(t, t)`, `u8`.
pub fn random_context_mask<R: Rng + ?Sized>(
    t: usize,
    keep_prob: f64,
    rng: &mut R,
    device: &Device,
) -> candle_core::Result<Tensor> {
    Tensor::from_vec(random_context_mask_data(t, keep_prob, rng), (t, t), device)
}

fn random_context_mask_data<R: Rng + ?Sized>(t: usize, keep_prob: f64, rng: &mut R) -> Vec<u8> {
    let pairs = t.div_ceil(2);
    let mut m = vec![0u8; t * t];
    for i in 0..t {
        for k in 0..pairs {
            let keep = u8::from(rng.random::<f64>() < keep_prob);
            for j in [2 * k, 2 * k + 1] {
                if j < t {
                    m[i * t + j] = keep;
                }
            }
        }
        m[i * t + i] = 1;
    }
    m
}

/// The training mask: [`pair_mask`] AND [`random_context_mask`], `(t, t)` `u8`.
pub fn training_mask<R: Rng + ?Sized>(
    t: usize,
    keep_prob: f64,
    rng: &mut R,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let pair = pair_mask_data(t);
    let random = random_context_mask_data(t, keep_prob, rng);
    let m = pair.iter().zip(&random).map(|(a, b)| a & b).collect();
    Tensor::from_vec(m, (t, t), device)
}

/// Supplies the attention mask of each layer call of [`ContextTransformer::forward`].
pub trait MaskSource {
    /// The `u8` mask for block `layer` over a sequence of `t` tokens: `(t, t)`, `(B or 1, t, t)` or
    /// `(B or 1, H or 1, t, t)`.
    fn mask(&mut self, layer: usize, t: usize, device: &Device) -> candle_core::Result<Tensor>;
}

/// The pair mask in every layer: evaluation.
#[derive(Debug, Clone, Copy, Default)]
pub struct PairMask;

impl MaskSource for PairMask {
    fn mask(&mut self, _layer: usize, t: usize, device: &Device) -> candle_core::Result<Tensor> {
        pair_mask(t, device)
    }
}

/// The same given mask in every layer.
#[derive(Debug, Clone)]
pub struct FixedMask(pub Tensor);

impl MaskSource for FixedMask {
    fn mask(&mut self, _layer: usize, _t: usize, _device: &Device) -> candle_core::Result<Tensor> {
        Ok(self.0.clone())
    }
}

/// Training: the pair mask AND a fresh [`random_context_mask`] in every layer call, drawn from
/// `rng` (shared across batch and heads, as in the reference).
#[derive(Debug)]
pub struct ContextMask<R> {
    /// Probability of keeping each earlier pair (paper: 0.1).
    pub keep_prob: f64,
    /// The generator of the masks (one stream of the run's seed).
    pub rng: R,
}

impl<R: Rng> MaskSource for ContextMask<R> {
    fn mask(&mut self, _layer: usize, t: usize, device: &Device) -> candle_core::Result<Tensor> {
        training_mask(t, self.keep_prob, &mut self.rng, device)
    }
}

impl<F> MaskSource for F
where
    F: FnMut(usize, usize, &Device) -> candle_core::Result<Tensor>,
{
    fn mask(&mut self, layer: usize, t: usize, device: &Device) -> candle_core::Result<Tensor> {
        self(layer, t, device)
    }
}

/// LayerNorm with a weight and an optional bias (the reference's `LayerNorm(ndim, bias)`).
#[derive(Debug, Clone)]
struct GptLayerNorm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f64,
}

impl GptLayerNorm {
    fn new(d: usize, bias: bool, eps: f64, vb: VarBuilder) -> candle_core::Result<GptLayerNorm> {
        let weight = vb.get_with_hints(d, "weight", Init::Const(1.0))?;
        let bias = if bias {
            Some(vb.get_with_hints(d, "bias", Init::Const(0.0))?)
        } else {
            None
        };
        Ok(GptLayerNorm { weight, bias, eps })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        noether_ops::layer_norm(x, Some(&self.weight), self.bias.as_ref(), self.eps)
    }
}

#[derive(Debug, Clone)]
struct GptBlock {
    ln_1: GptLayerNorm,
    attn: MultiHeadAttention,
    ln_2: GptLayerNorm,
    c_fc: Linear,
    c_proj: Linear,
}

impl GptBlock {
    fn new(cfg: &ContextTransformerConfig, vb: VarBuilder) -> candle_core::Result<GptBlock> {
        let (d, b) = (cfg.n_embd, cfg.bias);
        let resid_std = 0.02 / ((2 * cfg.n_layer) as f64).sqrt();
        Ok(GptBlock {
            ln_1: GptLayerNorm::new(d, b, cfg.ln_eps, vb.pp("ln_1"))?,
            attn: MultiHeadAttention::new(
                linear_normal(d, 3 * d, b, 0.02, vb.pp("attn.c_attn"))?,
                linear_normal(d, d, b, resid_std, vb.pp("attn.c_proj"))?,
                cfg.n_head,
            )?,
            ln_2: GptLayerNorm::new(d, b, cfg.ln_eps, vb.pp("ln_2"))?,
            c_fc: linear_normal(d, cfg.mlp_ratio * d, b, 0.02, vb.pp("mlp.c_fc"))?,
            c_proj: linear_normal(cfg.mlp_ratio * d, d, b, resid_std, vb.pp("mlp.c_proj"))?,
        })
    }

    /// `x (B, T, D)` with cached `past` and a mask over `(T, Tp + T)` -> the new `x` and the keys
    /// and values of `[past ++ x]`.
    fn forward(
        &self,
        x: &Tensor,
        past: Option<&KeyValue>,
        mask: &Tensor,
    ) -> candle_core::Result<(Tensor, KeyValue)> {
        let (a, present) = self
            .attn
            .forward_with_past(&self.ln_1.forward(x)?, past, Some(mask))?;
        let x = (x + a)?;
        let h = noether_ops::gelu(&self.c_fc.forward(&self.ln_2.forward(&x)?)?)?;
        let x = (&x + self.c_proj.forward(&h)?)?;
        Ok((x, present))
    }
}

/// Every layer's keys and values of an encoded context, `(B or 1, H, C, d_head)` each.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<KeyValue>,
}

impl KvCache {
    /// Number of context tokens `C`.
    pub fn len(&self) -> usize {
        self.layers.first().map(KeyValue::len).unwrap_or(0)
    }

    /// Whether the context is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Batch size of the cached context (1 is broadcast over any query batch).
    pub fn batch(&self) -> usize {
        self.layers
            .first()
            .and_then(|kv| kv.keys.dims().first().copied())
            .unwrap_or(0)
    }

    /// The keys and values of block `layer`.
    pub fn layer(&self, layer: usize) -> Option<&KeyValue> {
        self.layers.get(layer)
    }
}

/// The ContextSSL transformer (see the module docs).
#[derive(Debug, Clone)]
pub struct ContextTransformer {
    read_in: Linear,
    blocks: Vec<GptBlock>,
    ln_f: GptLayerNorm,
    read_out: Linear,
    config: ContextTransformerConfig,
}

impl ContextTransformer {
    /// Builds the model under `vb`: linear weights `N(0, 0.02^2)`, the residual projections
    /// (`c_proj`) `N(0, (0.02 / sqrt(2 n_layer))^2)`, biases 0, LayerNorm weights 1.
    pub fn new(config: &ContextTransformerConfig, vb: VarBuilder) -> Result<ContextTransformer> {
        config.check()?;
        let d = config.n_embd;
        let read_in = linear_normal(config.in_dim, d, true, 0.02, vb.pp("_read_in"))?;
        let read_out = linear_normal(d, config.out_dim, true, 0.02, vb.pp("_read_out"))?;
        let blocks = (0..config.n_layer)
            .map(|i| GptBlock::new(config, vb.pp(format!("transformer.h.{i}"))))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let ln_f = GptLayerNorm::new(d, config.bias, config.ln_eps, vb.pp("transformer.ln_f"))?;
        Ok(ContextTransformer {
            read_in,
            blocks,
            ln_f,
            read_out,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ContextTransformerConfig {
        &self.config
    }

    fn check_tokens(&self, tokens: &Tensor, what: &str) -> candle_core::Result<(usize, usize)> {
        let (b, t, d) = tokens.dims3()?;
        if d != self.config.in_dim {
            candle_core::bail!(
                "context transformer: {what} {:?}, expected (B, T, {})",
                tokens.dims(),
                self.config.in_dim
            );
        }
        Ok((b, t))
    }

    /// Tokens `(B, T, in_dim)` -> outputs `(B, T, out_dim)`; block `l` attends under
    /// `masks.mask(l, T)`: [`PairMask`] for evaluation, [`ContextMask`] for training.
    pub fn forward(
        &self,
        tokens: &Tensor,
        masks: &mut dyn MaskSource,
    ) -> candle_core::Result<Tensor> {
        let (_, t) = self.check_tokens(tokens, "tokens")?;
        let mut x = self.read_in.forward(tokens)?;
        for (l, block) in self.blocks.iter().enumerate() {
            let mask = masks.mask(l, t, tokens.device())?;
            x = block.forward(&x, None, &mask)?.0;
        }
        self.read_out.forward(&self.ln_f.forward(&x)?)
    }

    /// Runs a context `(B or 1, C, in_dim)` once under the pair mask (no random mask) and keeps
    /// every block's keys and values.
    pub fn encode_context(&self, context: &Tensor) -> candle_core::Result<KvCache> {
        let (_, c) = self.check_tokens(context, "context")?;
        let mask = pair_mask(c, context.device())?;
        let mut x = self.read_in.forward(context)?;
        let mut layers = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (y, kv) = block.forward(&x, None, &mask)?;
            layers.push(kv);
            x = y;
        }
        Ok(KvCache { layers })
    }

    /// Query tokens `(B, Q, in_dim)` -> outputs `(B, Q, out_dim)`: each query attends to the first
    /// `c` tokens of the cached context (`c <= cache.len()`; a cached batch of 1 is shared by all
    /// `B`) and to itself, never to the other queries. `c = 0` gives the context-free output.
    pub fn forward_with_cache(
        &self,
        queries: &Tensor,
        cache: &KvCache,
        c: usize,
    ) -> candle_core::Result<Tensor> {
        let (b, q) = self.check_tokens(queries, "queries")?;
        if c > cache.len() {
            candle_core::bail!(
                "context transformer: c = {c} exceeds the cached {} tokens",
                cache.len()
            );
        }
        if cache.layers.len() != self.blocks.len() {
            candle_core::bail!(
                "context transformer: cache of {} layers for a model of {}",
                cache.layers.len(),
                self.blocks.len()
            );
        }
        if c > 0 && cache.batch() != 1 && cache.batch() != b {
            candle_core::bail!(
                "context transformer: cached batch {} for {b} query sequences",
                cache.batch()
            );
        }
        let mask = query_mask(q, c, queries.device())?;
        let mut x = self.read_in.forward(queries)?;
        for (block, kv) in self.blocks.iter().zip(&cache.layers) {
            let past = if c > 0 { Some(kv.prefix(c)?) } else { None };
            x = block.forward(&x, past.as_ref(), &mask)?.0;
        }
        self.read_out.forward(&self.ln_f.forward(&x)?)
    }
}

/// `(q, c + q)`: query `j` sees the `c` context columns and column `c + j`.
fn query_mask(q: usize, c: usize, device: &Device) -> candle_core::Result<Tensor> {
    let w = c + q;
    let mut m = vec![0u8; q * w];
    for j in 0..q {
        m[j * w..j * w + c].fill(1);
        m[j * w + c + j] = 1;
    }
    Tensor::from_vec(m, (q, w), device)
}
