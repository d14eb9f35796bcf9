//! The in-context evaluation of ContextSSL and the retrieval scores of the methods with an
//! action-conditioned predictor (`papers/contextssl.md`, "Evaluation with a context";
//! `papers/sie_3diebench.md`, "Metrics").
//!
//! **With a context** ([`context_metrics`]): a fixed set of `context.pairs` training pairs
//! (drawn from the protocol's seed) is encoded once per mode under the pair mask into a KV
//! cache, its actions masked for the mode (`rot`: colour zeroed; `color`: rotation zeroed).
//! For each context length `c` in `context.lengths` (tokens, clipped to the cache and to the
//! model's block size):
//!
//! - `ctx_<mode>_c<c>_rotation_r2`, `..._color_r2`: every image is one query token `[h; 0]`
//!   attending to the first `c` context tokens and itself; its output, L2-normalised, is the
//!   representation; the R² heads of the plain evaluation (same pairs, same MLP head) regress the
//!   relative quaternion / the colour deltas from `[z_a; z_b]`. The paper fits a linear colour
//!   head; here both heads are the plain evaluation's MLP, so the numbers compare with the
//!   baselines' rows.
//! - `ctx_<mode>_c<c>_mrr`, `_h1`, `_h5`: for each held-out object and each of its views `j`,
//!   the query `[h(view 0); a(0 -> j)]` (action masked for the mode) with context `c` ranks the
//!   object's views, embedded as `[h(view j); 0]` with the same context, by cosine; MRR and H@k
//!   of view `j` ([`mrr_hits`]).
//!
//! - `ctx_c<c>_mode_gap`: the mean distance `|z_rot - z_color|` between the L2-normalised
//!   outputs of the same held-out image under the two contexts (0 at `c = 0`, and whenever the
//!   model ignores its context; at most 2).
//!
//! **Without a context** ([`predictor_metrics`], SIE and SEN): `mrr`, `h1`, `h5` the same way
//! with the method's predictor from view 0's gallery embedding and the rotation part of the
//! action (colour zeroed, the rotation retrieval of the papers' tables).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use noether_data::layout::rotation_color_action;
use noether_eval::{RetrievalQuery, mrr_hits, regression_r2};
use noether_objectives::similarity::l2_normalize;
use noether_train::PredictAction;
use noether_train::data::{ACTION_DIM, Dataset, eval_image, images_to_tensor};
use noether_train::methods::{ContextMode, InContext};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::eval::{EvalData, EvalProtocol, SplitFeatures, pair_tensors, view_pairs};

/// The in-context part of the evaluation protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextProtocol {
    /// Training pairs in the context (paper: 64 pairs, 128 tokens).
    pub pairs: usize,
    /// Context lengths in tokens (paper: 0, 2, 6, 14, 30, 126); those longer than the context or
    /// the model's block size are dropped.
    pub lengths: Vec<usize>,
    /// Held-out objects the MRR queries come from (0: all).
    pub mrr_objects: usize,
}

impl ContextProtocol {
    /// The paper's lengths over a 64-pair context, every held-out object.
    pub fn paper() -> Self {
        ContextProtocol {
            pairs: 64,
            lengths: vec![0, 2, 6, 14, 30, 126],
            mrr_objects: 0,
        }
    }

    /// A few lengths over a 4-pair context: plumbing.
    pub fn smoke() -> Self {
        ContextProtocol {
            pairs: 4,
            lengths: vec![0, 2, 6],
            mrr_objects: 4,
        }
    }
}

impl Default for ContextProtocol {
    fn default() -> Self {
        Self::paper()
    }
}

/// The metric key of `what` under context `mode` and length `c`.
pub fn context_key(mode: ContextMode, c: usize, what: &str) -> String {
    format!("ctx_{}_c{c}_{what}", mode.name())
}

/// `h` L2-normalised by rows.
fn normalized(h: &Tensor) -> Result<Tensor> {
    Ok(l2_normalize(h, 1e-12)?)
}

/// Gallery indices of the held-out objects the MRR uses, and the views per object.
fn mrr_objects(val: &Dataset, limit: usize) -> Result<(usize, usize)> {
    let views = val
        .views_3die()
        .context("not in the 3DIEBench layout")?
        .views();
    let objects = val.len() / views;
    let n = if limit == 0 {
        objects
    } else {
        limit.min(objects)
    };
    Ok((n, views))
}

/// The 6-float actions from view 0 to every view of the first `objects` objects of `val`
/// (`objects * views` rows) and the matching queries into a gallery of the split's images.
fn object_queries(
    val: &Dataset,
    objects: usize,
    views: usize,
    device: &Device,
) -> Result<(Vec<u32>, Tensor, Vec<RetrievalQuery>)> {
    let mut anchors = Vec::with_capacity(objects * views);
    let mut actions = Vec::with_capacity(objects * views * ACTION_DIM);
    let mut queries = Vec::with_capacity(objects * views);
    for o in 0..objects {
        let l0 = val.latent(o * views)?.context("no latent")?;
        for j in 0..views {
            let lj = val.latent(o * views + j)?.context("no latent")?;
            anchors.push((o * views) as u32);
            actions.extend(rotation_color_action(&l0, &lj));
            queries.push(RetrievalQuery::block(o * views, views, j));
        }
    }
    let actions = Tensor::from_vec(actions, (objects * views, ACTION_DIM), device)?;
    Ok((anchors, actions, queries))
}

/// Inserts `mrr`, `h1`, `h5` under `key(what)`.
fn insert_retrieval(
    out: &mut BTreeMap<String, f64>,
    predictions: &Tensor,
    gallery: &Tensor,
    queries: &[RetrievalQuery],
    key: impl Fn(&str) -> String,
) -> Result<()> {
    let s = mrr_hits(predictions, gallery, queries, &[1, 5])?;
    out.insert(key("mrr"), s.mrr);
    out.insert(key("h1"), s.hits_at(1).unwrap_or(f64::NAN));
    out.insert(key("h5"), s.hits_at(5).unwrap_or(f64::NAN));
    Ok(())
}

/// The in-context metrics of the module docs, from the encoder features `h` of both splits.
pub fn context_metrics<M: InContext>(
    m: &M,
    h: &SplitFeatures,
    data: &EvalData,
    p: &EvalProtocol,
    device: &Device,
) -> Result<BTreeMap<String, f64>> {
    let cp = &p.context;
    let mut out = BTreeMap::new();
    let (h_train, h_val) = (&h.train, &h.val);
    // the regression pairs of the plain evaluation (same seed, same draws)
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let train_pairs = view_pairs(&data.train, p.pairs_train, &mut rng)?;
    let val_pairs = view_pairs(&data.val, p.pairs_val, &mut rng)?;
    // the context: its own draw
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed ^ 0xc0_47e7);
    let ctx_pairs = view_pairs(&data.train, cp.pairs, &mut rng)?;
    let idx = |f: fn(&(usize, usize)) -> usize| -> Result<Tensor> {
        let v: Vec<u32> = ctx_pairs.iter().map(|q| f(q) as u32).collect();
        Ok(Tensor::from_vec(v, ctx_pairs.len(), device)?)
    };
    let h1 = h_train.index_select(&idx(|q| q.0)?, 0)?;
    let h2 = h_train.index_select(&idx(|q| q.1)?, 0)?;
    let mut a = Vec::with_capacity(ctx_pairs.len() * ACTION_DIM);
    for &(i, j) in &ctx_pairs {
        let (li, lj) = (
            data.train.latent(i)?.context("no latent")?,
            data.train.latent(j)?.context("no latent")?,
        );
        a.extend(rotation_color_action(&li, &lj));
    }
    let ctx_actions = Tensor::from_vec(a, (ctx_pairs.len(), ACTION_DIM), device)?;
    let longest = (2 * ctx_pairs.len()).min(m.max_context());
    let lengths: Vec<usize> = cp
        .lengths
        .iter()
        .copied()
        .filter(|&c| c <= longest)
        .collect();
    let (objects, views) = mrr_objects(&data.val, cp.mrr_objects)?;
    let (anchors, q_actions, queries) = object_queries(&data.val, objects, views, device)?;
    let anchor_h = h_val.index_select(
        &Tensor::from_vec(anchors.clone(), anchors.len(), device)?,
        0,
    )?;
    let mut outputs: BTreeMap<usize, Vec<Tensor>> = BTreeMap::new();
    for mode in ContextMode::ALL {
        let cache = m
            .encode_context(&h1, &h2, &mode.mask_action(&ctx_actions)?)
            .with_context(|| format!("encoding the {} context", mode.name()))?;
        let q_a = mode.mask_action(&q_actions)?;
        for &c in &lengths {
            let key = |what: &str| context_key(mode, c, what);
            let z_train = normalized(&m.contextual(h_train, None, &cache, c)?)?;
            let z_val = normalized(&m.contextual(h_val, None, &cache, c)?)?;
            outputs.entry(c).or_default().push(z_val.clone());
            let (tr_x, tr_rot, tr_col) = pair_tensors(&z_train, &data.train, &train_pairs, device)?;
            let (va_x, va_rot, va_col) = pair_tensors(&z_val, &data.val, &val_pairs, device)?;
            let rot = regression_r2(&tr_x, &tr_rot, &va_x, &va_rot, &p.regression(1))
                .with_context(|| format!("rotation R² at {} c = {c}", mode.name()))?;
            out.insert(key("rotation_r2"), rot.r2);
            let col = regression_r2(&tr_x, &tr_col, &va_x, &va_col, &p.regression(2))
                .with_context(|| format!("colour R² at {} c = {c}", mode.name()))?;
            out.insert(key("color_r2"), col.r2);
            let predictions = m.contextual(&anchor_h, Some(&q_a), &cache, c)?;
            insert_retrieval(&mut out, &predictions, &z_val, &queries, key)
                .with_context(|| format!("MRR at {} c = {c}", mode.name()))?;
        }
    }
    // how much the context changes the representation: mean |z_rot - z_color| over the
    // held-out images (both unit vectors; 0 when the model ignores the context)
    for (c, z) in outputs {
        if let [a, b] = &z[..] {
            let gap = (a - b)?
                .sqr()?
                .sum(1)?
                .sqrt()?
                .mean_all()?
                .to_scalar::<f32>()?;
            out.insert(format!("ctx_c{c}_mode_gap"), f64::from(gap));
        }
    }
    Ok(out)
}

/// `mrr`, `h1`, `h5` of a method's predictor (see the module docs).
pub fn predictor_metrics<M: PredictAction>(
    m: &M,
    data: &EvalData,
    p: &EvalProtocol,
    device: &Device,
) -> Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    let mut gallery = Vec::new();
    for b in
        noether_train::data::image_tensor_batches(&data.val, p.batch_size, data.view_size, device)?
    {
        gallery.push(m.gallery(&b?.0)?);
    }
    let gallery = Tensor::cat(&gallery, 0)?;
    let (objects, views) = mrr_objects(&data.val, p.context.mrr_objects)?;
    let (_, actions, queries) = object_queries(&data.val, objects, views, device)?;
    let actions = ContextMode::Rotation.mask_action(&actions)?;
    // view 0 of each object (loaded one object at a time), predicted towards each of its views
    let norm = data.val.normalization();
    let mut predictions = Vec::with_capacity(objects);
    for o in 0..objects {
        let img = eval_image(&data.val.image(o * views)?, data.view_size)?;
        let x0 = images_to_tensor(&[&img], &norm, device)?;
        let x = x0.repeat((views, 1, 1, 1))?;
        predictions.push(m.predict(&x, &actions.narrow(0, o * views, views)?)?);
    }
    let predictions = Tensor::cat(&predictions, 0)?;
    insert_retrieval(&mut out, &predictions, &gallery, &queries, str::to_string)
        .context("the predictor's MRR")?;
    Ok(out)
}
