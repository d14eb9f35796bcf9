//! Retrieval metrics of a trained predictor on 3DIEBench: MRR, H@k and PRE, as the SIE
//! reference code computes them (Garrido et al. 2023, arXiv 2302.10283; `facebookresearch/SIE`
//! `eval_MRR_Hk.py` and `eval_prediction_errors.py`; notes: `papers/sie_3diebench.md`,
//! "Metrics").
//!
//! - **MRR / H@k** ([`mrr_hits`]): each query is a predicted embedding together with the
//!   gallery indices of its object's views (`candidates`, the 50 views of the object in the
//!   reference) and the index of the view it should retrieve (`correct`). The candidates are
//!   ranked by cosine similarity to the prediction; `rank` is the 1-based position of the
//!   correct view. `MRR = mean(1 / rank)`, `H@k = share of queries with rank <= k`
//!   (`k` in [`DEFAULT_HITS_AT`] = `[1, 2, 5, 10]` by default).
//! - **PRE** ([`prediction_rotation_error`]): the nearest neighbour (cosine) of each prediction
//!   over the whole gallery, and `PRE = mean(1 - <q_true, q_nn>^2)` with `q_true` the absolute
//!   rotation quaternion the prediction should have and `q_nn` the absolute quaternion of the
//!   retrieved gallery image (lower is better; 0 when the retrieved rotation is the true one,
//!   whatever the quaternion's sign).
//!
//! As in the reference, gallery embeddings are normalised as `g / (|g| + 1e-8)`; the
//! prediction's scale does not change any ranking. Ties: the reference uses `torch.argsort`
//! (unstable, ties unspecified) for MRR and `torch.argmax` (first maximum) for PRE. Here both
//! break ties towards the lower index — candidate position for MRR
//! (`rank = 1 + #{strictly more similar} + #{equally similar listed before}`, a stable
//! descending sort), gallery index for PRE (as `torch.argmax`).

use candle_core::{DType, Tensor};

use crate::check;
use crate::error::{Result, invalid};

/// The `k` of H@k reported by the reference: 1, 2, 5, 10.
pub const DEFAULT_HITS_AT: [usize; 4] = [1, 2, 5, 10];

/// Query rows per similarity block in [`nearest_neighbours`].
const CHUNK: usize = 256;

/// One MRR query: which gallery rows compete, and which one is right.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetrievalQuery {
    /// Gallery indices of the object's views, ranked against each other (non-empty).
    pub candidates: Vec<usize>,
    /// Gallery index of the correct view; must be one of `candidates`.
    pub correct: usize,
}

impl RetrievalQuery {
    /// The 3DIEBench layout: an object's `views` images are the consecutive gallery rows
    /// `start .. start + views`, and the correct one is `start + view`.
    pub fn block(start: usize, views: usize, view: usize) -> Self {
        Self {
            candidates: (start..start + views).collect(),
            correct: start + view,
        }
    }
}

/// MRR and H@k over a set of queries.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetrievalScores {
    /// Mean reciprocal rank, in `(0, 1]`.
    pub mrr: f64,
    /// `(k, H@k)` for each requested `k`, in the order asked.
    pub hits: Vec<(usize, f64)>,
    /// The 1-based rank of every query's correct view.
    pub ranks: Vec<usize>,
}

impl RetrievalScores {
    /// H@k for one `k`, if it was requested.
    pub fn hits_at(&self, k: usize) -> Option<f64> {
        self.hits.iter().find(|(kk, _)| *kk == k).map(|(_, h)| *h)
    }
}

/// MRR and H@k (see the module docs).
///
/// Shapes: `predictions` `(Q, D)`, `gallery` `(G, D)`, `queries` `Q` entries whose indices
/// are `< G`; `ks` non-empty, each `>= 1` (use [`DEFAULT_HITS_AT`]).
///
/// ```
/// use candle_core::{Device, Tensor};
/// use noether_eval::{DEFAULT_HITS_AT, RetrievalQuery, mrr_hits};
///
/// let dev = Device::Cpu;
/// let gallery = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0], [-1.0, 0.0]], &dev)?;
/// let predictions = Tensor::new(&[[0.1f32, 2.0]], &dev)?; // closest to view 1
/// let scores = mrr_hits(&predictions, &gallery, &[RetrievalQuery::block(0, 3, 1)], &DEFAULT_HITS_AT)?;
/// assert_eq!(scores.mrr, 1.0);
/// assert_eq!(scores.hits_at(1), Some(1.0));
/// # Ok::<(), noether_eval::EvalError>(())
/// ```
pub fn mrr_hits(
    predictions: &Tensor,
    gallery: &Tensor,
    queries: &[RetrievalQuery],
    ks: &[usize],
) -> Result<RetrievalScores> {
    let func = "mrr_hits";
    let (q, d) = check::matrix(func, "predictions", predictions)?;
    let (g, gallery) = normalized_gallery(func, gallery, d)?;
    if queries.len() != q {
        return Err(invalid(
            func,
            "queries",
            format!(
                "has {} entries, expected {q} (one per prediction row)",
                queries.len()
            ),
        ));
    }
    if ks.is_empty() {
        return Err(invalid(func, "ks", "is empty"));
    }
    if ks.contains(&0) {
        return Err(invalid(func, "ks", "contains k = 0; every k must be >= 1"));
    }
    for (i, query) in queries.iter().enumerate() {
        if query.candidates.is_empty() {
            return Err(invalid(
                func,
                "queries",
                format!("entry {i} has no candidates"),
            ));
        }
        if let Some(&bad) = query.candidates.iter().find(|&&c| c >= g) {
            return Err(invalid(
                func,
                "queries",
                format!("entry {i} has candidate {bad}, outside the gallery 0..{g}"),
            ));
        }
        if !query.candidates.contains(&query.correct) {
            return Err(invalid(
                func,
                "queries",
                format!(
                    "entry {i}: correct index {} is not among its candidates",
                    query.correct
                ),
            ));
        }
    }
    let preds = predictions
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let dot = |p: &[f32], j: usize| -> f32 {
        p.iter()
            .zip(&gallery[j * d..(j + 1) * d])
            .map(|(a, b)| a * b)
            .sum()
    };
    let ranks: Vec<usize> = queries
        .iter()
        .enumerate()
        .map(|(i, query)| {
            let p = &preds[i * d..(i + 1) * d];
            let sims: Vec<f32> = query.candidates.iter().map(|&j| dot(p, j)).collect();
            let pos = query
                .candidates
                .iter()
                .position(|&c| c == query.correct)
                .unwrap_or(0); // validated above
            let s = sims[pos];
            1 + sims
                .iter()
                .enumerate()
                .filter(|&(m, &x)| x > s || (x == s && m < pos))
                .count()
        })
        .collect();
    let mrr = ranks.iter().map(|&r| 1.0 / r as f64).sum::<f64>() / q as f64;
    let hits = ks
        .iter()
        .map(|&k| {
            (
                k,
                ranks.iter().filter(|&&r| r <= k).count() as f64 / q as f64,
            )
        })
        .collect();
    Ok(RetrievalScores { mrr, hits, ranks })
}

/// Index of the most cosine-similar gallery row for every prediction (first maximum on ties).
///
/// Shapes: `predictions` `(Q, D)`, `gallery` `(G, D)`; returns `Q` indices in `0..G`.
/// Processed in blocks of 256 predictions (memory `O(256 * G)`).
pub fn nearest_neighbours(predictions: &Tensor, gallery: &Tensor) -> Result<Vec<usize>> {
    nearest("nearest_neighbours", predictions, gallery)
}

fn nearest(func: &'static str, predictions: &Tensor, gallery: &Tensor) -> Result<Vec<usize>> {
    let (q, d) = check::matrix(func, "predictions", predictions)?;
    let (g, _) = check::matrix(func, "gallery", gallery)?;
    if gallery.dims()[1] != d {
        return Err(invalid(
            func,
            "gallery",
            format!(
                "has {} columns, expected {d} (as `predictions`)",
                gallery.dims()[1]
            ),
        ));
    }
    let gallery = gallery.to_dtype(DType::F32)?;
    let norm = (gallery.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-8)?;
    let bank_t = gallery.broadcast_div(&norm)?.t()?.contiguous()?; // (D, G)
    let predictions = predictions.to_dtype(DType::F32)?;
    let mut out = Vec::with_capacity(q);
    let mut start = 0;
    while start < q {
        let len = CHUNK.min(q - start);
        let sims = predictions
            .narrow(0, start, len)?
            .matmul(&bank_t)? // (len, G)
            .flatten_all()?
            .to_vec1::<f32>()?;
        for row in sims.chunks_exact(g) {
            let mut best = 0;
            for (j, &s) in row.iter().enumerate() {
                if s > row[best] {
                    best = j;
                }
            }
            out.push(best);
        }
        start += len;
    }
    Ok(out)
}

/// PRE = `mean(1 - <q_true, q_nn>^2)` with `q_nn` the quaternion of each prediction's
/// nearest gallery embedding (see the module docs).
///
/// Shapes: `predictions` `(Q, D)`, `gallery` `(G, D)`, `true_quaternions` `(Q, 4)`,
/// `gallery_quaternions` `(G, 4)`; quaternions are unit, in any component order as long as
/// both use the same (scipy's `(x, y, z, w)` in the reference). Returns a value in `[0, 1]`.
pub fn prediction_rotation_error(
    predictions: &Tensor,
    gallery: &Tensor,
    true_quaternions: &Tensor,
    gallery_quaternions: &Tensor,
) -> Result<f64> {
    let func = "prediction_rotation_error";
    let (q, _) = check::matrix(func, "predictions", predictions)?;
    let (g, _) = check::matrix(func, "gallery", gallery)?;
    let (qt, q1, c1) = check::host_f64(func, "true_quaternions", true_quaternions)?;
    if (q1, c1) != (q, 4) {
        return Err(invalid(
            func,
            "true_quaternions",
            format!("has shape ({q1}, {c1}), expected ({q}, 4)"),
        ));
    }
    let (qg, g1, c2) = check::host_f64(func, "gallery_quaternions", gallery_quaternions)?;
    if (g1, c2) != (g, 4) {
        return Err(invalid(
            func,
            "gallery_quaternions",
            format!("has shape ({g1}, {c2}), expected ({g}, 4)"),
        ));
    }
    let nn = nearest(func, predictions, gallery)?;
    let total: f64 = nn
        .iter()
        .enumerate()
        .map(|(i, &j)| {
            let dot: f64 = (0..4).map(|c| qt[i * 4 + c] * qg[j * 4 + c]).sum();
            1.0 - dot * dot
        })
        .sum();
    Ok(total / q as f64)
}

/// Gallery rows on the host as `g / (|g| + 1e-8)`, checked to have `d` columns.
fn normalized_gallery(func: &'static str, gallery: &Tensor, d: usize) -> Result<(usize, Vec<f32>)> {
    let (g, dg) = check::matrix(func, "gallery", gallery)?;
    if dg != d {
        return Err(invalid(
            func,
            "gallery",
            format!("has {dg} columns, expected {d} (as `predictions`)"),
        ));
    }
    let gallery = gallery.to_dtype(DType::F32)?;
    let norm = (gallery.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-8)?;
    let v = gallery
        .broadcast_div(&norm)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok((g, v))
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn correct_view_most_similar_gives_mrr_one_and_ties_break_by_position() {
        let dev = Device::Cpu;
        let gallery =
            Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0], [0.0, 1.0], [-1.0, 0.0]], &dev).unwrap();
        let preds = Tensor::new(&[[3.0f32, 0.0], [0.0, 1.0], [0.0, 1.0]], &dev).unwrap();
        let queries = [
            RetrievalQuery::block(0, 4, 0),
            RetrievalQuery::block(0, 4, 1), // tied with view 2, listed first: rank 1
            RetrievalQuery::block(0, 4, 2), // tied with view 1, listed after: rank 2
        ];
        let s = mrr_hits(&preds, &gallery, &queries, &DEFAULT_HITS_AT).unwrap();
        assert_eq!(s.ranks, vec![1, 1, 2]);
        assert!((s.mrr - (1.0 + 1.0 + 0.5) / 3.0).abs() < 1e-12);
        assert_eq!(s.hits_at(1), Some(2.0 / 3.0));
        assert_eq!(s.hits_at(2), Some(1.0));
        assert_eq!(nearest_neighbours(&preds, &gallery).unwrap(), vec![0, 1, 1]);
    }

    #[test]
    fn bad_queries_are_errors() {
        let dev = Device::Cpu;
        let gallery = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &dev).unwrap();
        let preds = Tensor::new(&[[1.0f32, 0.0]], &dev).unwrap();
        let msg = |qs: &[RetrievalQuery], ks: &[usize]| {
            mrr_hits(&preds, &gallery, qs, ks)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let ok = [RetrievalQuery::block(0, 2, 0)];
        assert!(msg(&ok, &[]).contains("`ks`"));
        assert!(msg(&ok, &[0, 1]).contains("`ks`"));
        assert!(msg(&[RetrievalQuery::block(0, 3, 0)], &[1]).contains("outside"));
        let wrong = RetrievalQuery {
            candidates: vec![0],
            correct: 1,
        };
        assert!(msg(&[wrong], &[1]).contains("not among"));
        assert!(msg(&[], &[1]).contains("`queries`"));
        let q4 = Tensor::new(&[[0.0f32, 0.0, 0.0, 1.0]], &dev).unwrap();
        let e = prediction_rotation_error(&preds, &gallery, &q4, &q4)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`gallery_quaternions`"), "{e}");
    }
}
