//! ContextSSL (Gupta et al., "In-Context Symmetries: Self-Supervised Learning through
//! Contextual World Models", arXiv 2405.18193; reference `Sharut/In-Context-Symmetries`; notes
//! in `papers/contextssl.md`) as a [`Method`].
//!
//! An encoder `h = f(x)` (any [`Backbone`], projector = identity) and a
//! [`ContextTransformer`] over the tokens of a batch of object-view pairs
//! ([`ActionPairs`]): `s_k = [h(x_k); a_k]`, `t_k = [h(x+_k); 0]`, laid out
//! `s_1, t_1, s_2, t_2, ...` and cut into sequences of `block_pairs` pairs (the reference's block
//! size `2 block_pairs` tokens). One step:
//!
//! 1. draws the environment of the whole batch from the step's RNG: `rot` with probability
//!    `rotation_prob` (colour part of the action zeroed), else `color` (rotation part zeroed);
//! 2. runs the transformer under the pair mask AND a fresh random context mask per layer call
//!    (keep each earlier pair with probability `1 - mask_prob`; [`ContextMask`]);
//! 3. NT-Xent over all `2N` token outputs, the positive of each token being the other token of
//!    its pair ([`contextssl_nt_xent`]), at `temperature`, with the reference's clamp of the
//!    cosine at `1e-7` when `clamp_quirk` is on (negatives then contribute about `exp(0)`);
//! 4. the auxiliary predictor: an MLP `D -> aux_hidden -> aux_hidden -> 6` (ReLU) on the
//!    L2-normalised token outputs regresses view 2's absolute latents for both tokens of a
//!    pair, supervised on the environment's columns only ([`contextssl_aux_loss`]), weight
//!    `aux_weight`.
//!
//! The reference's detached online linear probes are left out: they do not change the encoder
//! or the transformer. Both views go through the encoder as one batch of `2N` images (batch
//! norm over both views, as the other methods here).
//!
//! Evaluation with a context ([`InContext`]): a fixed set of training pairs is encoded once
//! under the pair mask into a KV cache ([`ContextSsl::encode_context`]); each test image is one
//! query token that attends to the first `c` context tokens and itself
//! ([`ContextSsl::contextual`]).

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::{
    Backbone, ContextMask, ContextTransformer, ContextTransformerConfig, KvCache, Mlp, MlpConfig,
    OutputNorm, PairMask, ParamStore, pair_tokens,
};
use noether_objectives::similarity::l2_normalize;
use noether_objectives::{
    CONTEXTSSL_AUX_WEIGHT, CONTEXTSSL_COSINE_CLAMP, ContextEnv, NtXentConfig, contextssl_aux_loss,
    contextssl_nt_xent,
};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::data::{ACTION_DIM, ActionPairs};
use crate::error::{Result, TrainError};
use crate::method::{Embed, Losses, Method, NamedStore, StepContext};
use crate::methods::check::{check_weight, positive};

/// RNG stream of the environment draw.
const STREAM_ENV: u64 = 0x636f_6e74_6578_7401;
/// RNG stream of the random context masks.
const STREAM_MASK: u64 = 0x636f_6e74_6578_7402;
/// Query tokens per transformer call in evaluation.
const QUERY_CHUNK: usize = 1024;

/// ContextSSL's settings. The paper's transformer is 2048 wide; `n_embd` is the knob for small
/// data (the paper's notes suggest 256-512 for small datasets).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSslConfig {
    /// Transformer width (paper: 2048).
    pub n_embd: usize,
    /// Transformer blocks (3).
    pub n_layer: usize,
    /// Attention heads (4); divides `n_embd`.
    pub n_head: usize,
    /// MLP hidden width as a multiple of `n_embd` (4).
    pub mlp_ratio: usize,
    /// Pairs per sequence: the block size is `2 block_pairs` tokens (paper: 64 pairs, 128
    /// tokens). The batch size must be a multiple of it.
    pub block_pairs: usize,
    /// Probability of masking each earlier pair in the random context mask (paper: 0.9).
    pub mask_prob: f64,
    /// NT-Xent temperature (0.1).
    pub temperature: f64,
    /// Clamp the cosine at `1e-7` before dividing by the temperature, as the reference does
    /// (true); false gives plain NT-Xent.
    pub clamp_quirk: bool,
    /// Weight of the auxiliary latent predictor's loss (5.0).
    pub aux_weight: f64,
    /// Hidden width of the auxiliary predictor (1024).
    pub aux_hidden: usize,
    /// Probability that a batch's environment is `rot` (0.5; else `color`).
    pub rotation_prob: f64,
}

impl Default for ContextSslConfig {
    /// The paper's settings.
    fn default() -> Self {
        ContextSslConfig {
            n_embd: 2048,
            n_layer: 3,
            n_head: 4,
            mlp_ratio: 4,
            block_pairs: 64,
            mask_prob: 0.9,
            temperature: 0.1,
            clamp_quirk: true,
            aux_weight: CONTEXTSSL_AUX_WEIGHT,
            aux_hidden: 1024,
            rotation_prob: 0.5,
        }
    }
}

impl ContextSslConfig {
    /// Checks every field; errors name it.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("mlp_ratio", self.mlp_ratio),
            ("block_pairs", self.block_pairs),
            ("aux_hidden", self.aux_hidden),
        ] {
            if v == 0 {
                return Err(TrainError::config(
                    format!("contextssl.{field}"),
                    "must be >= 1",
                ));
            }
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(TrainError::config(
                "contextssl.n_head",
                format!("{} must divide n_embd {}", self.n_head, self.n_embd),
            ));
        }
        for (field, p) in [
            ("mask_prob", self.mask_prob),
            ("rotation_prob", self.rotation_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(TrainError::config(
                    format!("contextssl.{field}"),
                    format!("must be a probability in [0, 1] (got {p})"),
                ));
            }
        }
        positive("contextssl.temperature", self.temperature)?;
        check_weight("contextssl.aux_weight", self.aux_weight)
    }

    /// The block size in tokens, `2 block_pairs`: the longest context evaluation can use.
    pub fn block_tokens(&self) -> usize {
        2 * self.block_pairs
    }

    fn nt_xent(&self) -> NtXentConfig {
        NtXentConfig {
            temperature: self.temperature,
            clamp_min: self.clamp_quirk.then_some(CONTEXTSSL_COSINE_CLAMP),
        }
    }
}

/// Which part of the action a context shows: the environments of training and the context
/// modes of evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextMode {
    /// `rot`: the colour part of every action zeroed.
    Rotation,
    /// `color`: the rotation part of every action zeroed.
    Color,
}

impl ContextMode {
    /// Both modes, rotation first.
    pub const ALL: [ContextMode; 2] = [ContextMode::Rotation, ContextMode::Color];

    /// `rot` / `color`, as the reference names them.
    pub fn name(self) -> &'static str {
        match self {
            ContextMode::Rotation => "rot",
            ContextMode::Color => "color",
        }
    }

    /// The objectives' environment (the supervised columns of the auxiliary loss).
    pub fn env(self) -> ContextEnv {
        match self {
            ContextMode::Rotation => ContextEnv::Rotation,
            ContextMode::Color => ContextEnv::Color,
        }
    }

    /// `action (N, 6)` with the other part zeroed.
    pub fn mask_action(self, action: &Tensor) -> Result<Tensor> {
        let mask = self
            .env()
            .column_mask(action.dtype(), action.device())?
            .reshape((1, ACTION_DIM))?;
        Ok(action.broadcast_mul(&mask)?)
    }
}

/// What the in-context evaluation reads from a model with a context: encode a context once,
/// then embed query tokens that attend to a prefix of it. The encoder features `h` of the tokens
/// are [`Embed::features`].
pub trait InContext: Embed {
    /// The longest context in tokens the model was trained with (its block size).
    fn max_context(&self) -> usize;
    /// Encodes a context of `P` pairs (features of both views `(P, D)` and the actions
    /// `(P, 6)`, already masked for the mode) into a cache of `2P` tokens, pair mask only.
    fn encode_context(&self, h1: &Tensor, h2: &Tensor, action: &Tensor) -> Result<KvCache>;
    /// Query tokens `[h; a]` (or `[h; 0]` when `action` is `None`), `h (N, D)`, each attending
    /// to the first `c` tokens of `cache` and to itself: outputs `(N, D)`.
    fn contextual(
        &self,
        h: &Tensor,
        action: Option<&Tensor>,
        cache: &KvCache,
        c: usize,
    ) -> Result<Tensor>;
}

/// ContextSSL: encoder, transformer and auxiliary predictor in one trained store `model`
/// (`backbone.*`, `transformer.*`, `aux.*`).
#[derive(Debug)]
pub struct ContextSsl<B> {
    store: ParamStore,
    backbone: B,
    transformer: ContextTransformer,
    aux: Mlp,
    config: ContextSslConfig,
}

impl<B: Backbone> ContextSsl<B> {
    /// ContextSSL over `backbone` (built from `store` under `backbone.`); the transformer
    /// (`in_dim = D + 6`, `out_dim = D`, `D` the feature width) and the auxiliary predictor are
    /// created in `store` with `dtype` on `device`.
    pub fn new(
        store: ParamStore,
        backbone: B,
        config: &ContextSslConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<ContextSsl<B>> {
        config.validate()?;
        let d = backbone.feature_dim();
        let vb = store.var_builder(dtype, device);
        let tcfg = ContextTransformerConfig {
            in_dim: d + ACTION_DIM,
            n_embd: config.n_embd,
            n_layer: config.n_layer,
            n_head: config.n_head,
            mlp_ratio: config.mlp_ratio,
            out_dim: d,
            ln_eps: 1e-5,
            bias: true,
        };
        let transformer = ContextTransformer::new(&tcfg, vb.pp("transformer"))?;
        let aux = Mlp::new(
            &MlpConfig {
                dims: vec![d, config.aux_hidden, config.aux_hidden, ACTION_DIM],
                hidden_bias: true,
                hidden_norm: false,
                last_bias: true,
                last_norm: OutputNorm::None,
            },
            vb.pp("aux"),
        )?;
        Ok(ContextSsl {
            store,
            backbone,
            transformer,
            aux,
            config: *config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &ContextSslConfig {
        &self.config
    }

    /// The transformer.
    pub fn transformer(&self) -> &ContextTransformer {
        &self.transformer
    }

    /// The environment of step `ctx`: `rot` with probability `rotation_prob`.
    pub fn environment(&self, ctx: &StepContext) -> ContextMode {
        if ctx.rng(STREAM_ENV).random::<f64>() < self.config.rotation_prob {
            ContextMode::Rotation
        } else {
            ContextMode::Color
        }
    }

    /// The training-mode token outputs `(2N, D)` (interleaved `s_hat_1, t_hat_1, ...`) of a
    /// batch in environment `mode`, with the random context masks drawn from `masks`.
    pub fn token_outputs<R: Rng>(
        &self,
        batch: &ActionPairs,
        mode: ContextMode,
        masks: R,
    ) -> Result<Tensor> {
        let n = check_pairs(batch)?;
        let bp = self.config.block_pairs;
        if !n.is_multiple_of(bp) {
            return Err(TrainError::config(
                "contextssl.block_pairs",
                format!("the batch of {n} pairs is not a multiple of block_pairs {bp}"),
            ));
        }
        let h = self
            .backbone
            .features_t(&Tensor::cat(&[&batch.x1, &batch.x2], 0)?, true)?;
        let (h1, h2) = (h.narrow(0, 0, n)?, h.narrow(0, n, n)?);
        let a = mode.mask_action(&batch.action)?;
        let tokens = pair_tokens(&h1, &a, &h2)?; // (2N, D + 6)
        let width = tokens.dim(1)?;
        let seqs = tokens.reshape((n / bp, 2 * bp, width))?;
        let mut source = ContextMask {
            keep_prob: 1.0 - self.config.mask_prob,
            rng: masks,
        };
        let out = self.transformer.forward(&seqs, &mut source)?; // (B, T, D)
        let d = out.dim(2)?;
        Ok(out.reshape((2 * n, d))?)
    }
}

/// The batch size after checking the shapes of an [`ActionPairs`] batch.
pub(crate) fn check_pairs(batch: &ActionPairs) -> Result<usize> {
    let n = batch.x1.dim(0)?;
    if batch.x1.dims() != batch.x2.dims()
        || batch.x1.rank() != 4
        || batch.action.dims() != [n, ACTION_DIM]
        || batch.latent2.dims() != [n, ACTION_DIM]
    {
        return Err(TrainError::config(
            "ActionPairs",
            format!(
                "x1, x2 must be (N, C, H, W) of one shape and action, latent2 (N, {ACTION_DIM}); \
                 got {:?}, {:?}, {:?}, {:?}",
                batch.x1.dims(),
                batch.x2.dims(),
                batch.action.dims(),
                batch.latent2.dims()
            ),
        ));
    }
    Ok(n)
}

impl<B: Backbone> Method for ContextSsl<B> {
    type Batch = ActionPairs;

    fn name(&self) -> &str {
        "contextssl"
    }

    fn stores(&self) -> Vec<NamedStore> {
        vec![NamedStore::trained("model", self.store.clone())]
    }

    fn losses(&mut self, batch: &ActionPairs, ctx: &StepContext) -> Result<Losses> {
        let mode = self.environment(ctx);
        let out = self.token_outputs(batch, mode, ctx.rng(STREAM_MASK))?;
        let nt = contextssl_nt_xent(&out, &self.config.nt_xent())?;
        let pred = self.aux.forward_t(&l2_normalize(&out, 1e-12)?, true)?; // (2N, 6)
        let n = batch.latent2.dim(0)?;
        let target =
            Tensor::stack(&[&batch.latent2, &batch.latent2], 1)?.reshape((2 * n, ACTION_DIM))?;
        let aux = contextssl_aux_loss(&pred, &target, mode.env())?;
        let total = (&nt + (&aux * self.config.aux_weight)?)?;
        let env = Tensor::new(
            if mode == ContextMode::Rotation {
                1f32
            } else {
                0f32
            },
            out.device(),
        )?
        .to_dtype(out.dtype())?;
        Losses::new(total)
            .with_term("nt_xent", &nt)?
            .with_term("aux", &aux)?
            .with_term("env_rot", &env)
    }
}

impl<B: Backbone> Embed for ContextSsl<B> {
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.backbone.features_t(xs, false)?)
    }

    /// The context-free token output of `[h(x); 0]` (context length 0).
    fn embedding(&self, xs: &Tensor) -> Result<Tensor> {
        let h = self.backbone.features_t(xs, false)?;
        let (n, d) = h.dims2()?;
        let tokens = Tensor::cat(
            &[&h, &Tensor::zeros((n, ACTION_DIM), h.dtype(), h.device())?],
            1,
        )?
        .reshape((n, 1, d + ACTION_DIM))?;
        Ok(self
            .transformer
            .forward(&tokens, &mut PairMask)?
            .reshape((n, d))?)
    }
}

impl<B: Backbone> InContext for ContextSsl<B> {
    fn max_context(&self) -> usize {
        self.config.block_tokens()
    }

    fn encode_context(&self, h1: &Tensor, h2: &Tensor, action: &Tensor) -> Result<KvCache> {
        let tokens = pair_tokens(h1, action, h2)?;
        let (t, w) = tokens.dims2()?;
        Ok(self
            .transformer
            .encode_context(&tokens.reshape((1, t, w))?)?)
    }

    fn contextual(
        &self,
        h: &Tensor,
        action: Option<&Tensor>,
        cache: &KvCache,
        c: usize,
    ) -> Result<Tensor> {
        let (n, d) = h.dims2()?;
        let a = match action {
            Some(a) => a.clone(),
            None => Tensor::zeros((n, ACTION_DIM), h.dtype(), h.device())?,
        };
        let tokens = Tensor::cat(&[h, &a], 1)?;
        let mut out = Vec::with_capacity(n.div_ceil(QUERY_CHUNK));
        let mut start = 0;
        while start < n {
            let len = QUERY_CHUNK.min(n - start);
            let q = tokens
                .narrow(0, start, len)?
                .reshape((len, 1, d + ACTION_DIM))?;
            out.push(
                self.transformer
                    .forward_with_cache(&q, cache, c)?
                    .reshape((len, d))?,
            );
            start += len;
        }
        Ok(Tensor::cat(&out, 0)?)
    }
}
