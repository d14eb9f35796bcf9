//! Weighted k-nearest-neighbour classifier on frozen features, the kNN monitor of solo-learn
//! and of the ContextSSL code (notes: `papers/baselines.md`, "Evaluation protocols"):
//!
//! 1. L2-normalise train and test features (`x / max(|x|, 1e-12)`, as `F.normalize`);
//! 2. for each test feature, the cosine similarities `s` to all train features; keep the
//!    `k` largest (`k = 200` by default, `min(k, N_train)`);
//! 3. class score `score_c = sum_{neighbours with label c} exp(s / T)`, `T = 0.1`;
//! 4. rank the classes by score: top-1 is correct when the true class ranks first, top-5 when
//!    it ranks in the first five.
//!
//! Ties (equal similarities at the `k`-th place, equal class scores) break towards the lower
//! train index / class index, as a stable descending sort does; the reference's
//! `torch.topk` / `argsort` leave them unspecified. Test features are processed in chunks of
//! `chunk_size` rows, so memory is `O(chunk_size * N_train)`. Similarities are computed by
//! candle on the features' device in `f32`; selection and voting run on the host in `f64`.

use candle_core::{DType, Tensor};

use crate::check;
use crate::error::{Result, invalid};

/// Hyperparameters of the kNN classifier.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnnConfig {
    /// Number of neighbours (used as `min(k, N_train)`); must be `>= 1`. Default 200.
    pub k: usize,
    /// Temperature `T` of the vote weights `exp(s / T)`; must be `> 0`. Default 0.1.
    pub temperature: f64,
    /// Test rows per similarity block; must be `>= 1`. Default 256.
    pub chunk_size: usize,
}

impl Default for KnnConfig {
    fn default() -> Self {
        Self {
            k: 200,
            temperature: 0.1,
            chunk_size: 256,
        }
    }
}

/// kNN accuracies as fractions in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KnnAccuracy {
    /// Share of test rows whose true class has the highest score.
    pub top1: f64,
    /// Share whose true class is among the five highest; `None` with fewer than 5 classes.
    pub top5: Option<f64>,
    /// The number of neighbours actually used, `min(k, N_train)`.
    pub k_used: usize,
}

/// Class scores `score_c = sum_{top-k neighbours of label c} exp(s / T)` for every query.
///
/// Shapes: `train_features` `(N, D)`, `train_labels` `N` labels in `0..num_classes`,
/// `queries` `(Q, D)`; returns `Q` rows of `num_classes` scores.
pub fn knn_scores(
    train_features: &Tensor,
    train_labels: &[i64],
    queries: &Tensor,
    num_classes: usize,
    config: &KnnConfig,
) -> Result<Vec<Vec<f64>>> {
    let func = "knn_scores";
    let prepared = Prepared::new(func, train_features, train_labels, num_classes, config)?;
    let (_, d) = check::matrix(func, "queries", queries)?;
    if d != prepared.dim {
        return Err(invalid(
            func,
            "queries",
            format!(
                "has {d} columns, expected {} (as `train_features`)",
                prepared.dim
            ),
        ));
    }
    let mut out = Vec::new();
    prepared.for_each_query(queries, |scores| {
        out.push(scores.to_vec());
    })?;
    Ok(out)
}

/// Top-1 (and top-5 with at least 5 classes) accuracy of the weighted kNN classifier.
///
/// Shapes: `train_features` `(N, D)` with `train_labels` (`N` labels), `test_features`
/// `(M, D)` with `test_labels` (`M` labels); labels in `0..num_classes`. Errors name the
/// argument: shape or length mismatch, empty input, label out of range, `k = 0`,
/// `temperature <= 0`, `chunk_size = 0`, `num_classes = 0`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use noether_eval::{KnnConfig, knn_classify};
///
/// let dev = Device::Cpu;
/// let train = Tensor::new(&[[1.0f32, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], &dev)?;
/// let test = Tensor::new(&[[1.0f32, 0.2], [0.2, 1.0]], &dev)?;
/// let acc = knn_classify(&train, &[0, 0, 1, 1], &test, &[0, 1], 2, &KnnConfig::default())?;
/// assert_eq!(acc.top1, 1.0);
/// assert_eq!(acc.k_used, 4);
/// assert!(acc.top5.is_none());
/// # Ok::<(), noether_eval::EvalError>(())
/// ```
pub fn knn_classify(
    train_features: &Tensor,
    train_labels: &[i64],
    test_features: &Tensor,
    test_labels: &[i64],
    num_classes: usize,
    config: &KnnConfig,
) -> Result<KnnAccuracy> {
    let func = "knn_classify";
    let prepared = Prepared::new(func, train_features, train_labels, num_classes, config)?;
    let (m, d) = check::matrix(func, "test_features", test_features)?;
    if d != prepared.dim {
        return Err(invalid(
            func,
            "test_features",
            format!(
                "has {d} columns, expected {} (as `train_features`)",
                prepared.dim
            ),
        ));
    }
    let truth = check::labels(func, "test_labels", test_labels, m, num_classes)?;
    let (mut top1, mut top5, mut row) = (0usize, 0usize, 0usize);
    prepared.for_each_query(test_features, |scores| {
        let rank = rank_of(scores, truth[row]);
        top1 += usize::from(rank <= 1);
        top5 += usize::from(rank <= 5);
        row += 1;
    })?;
    Ok(KnnAccuracy {
        top1: top1 as f64 / m as f64,
        top5: (num_classes >= 5).then(|| top5 as f64 / m as f64),
        k_used: prepared.k,
    })
}

/// 1-based rank of class `c` when sorting `scores` descending, ties towards the lower index.
pub(crate) fn rank_of(scores: &[f64], c: usize) -> usize {
    let s = scores[c];
    1 + scores
        .iter()
        .enumerate()
        .filter(|&(j, &x)| x > s || (x == s && j < c))
        .count()
}

/// Validated, normalised train side of the classifier.
struct Prepared {
    bank_t: Tensor,
    labels: Vec<usize>,
    num_classes: usize,
    k: usize,
    dim: usize,
    temperature: f64,
    chunk: usize,
}

impl Prepared {
    fn new(
        func: &'static str,
        train_features: &Tensor,
        train_labels: &[i64],
        num_classes: usize,
        config: &KnnConfig,
    ) -> Result<Self> {
        if config.k == 0 {
            return Err(invalid(func, "config.k", "must be >= 1, got 0"));
        }
        if !(config.temperature > 0.0 && config.temperature.is_finite()) {
            return Err(invalid(
                func,
                "config.temperature",
                format!("must be a finite number > 0, got {}", config.temperature),
            ));
        }
        if config.chunk_size == 0 {
            return Err(invalid(func, "config.chunk_size", "must be >= 1, got 0"));
        }
        if num_classes == 0 {
            return Err(invalid(func, "num_classes", "must be >= 1, got 0"));
        }
        let (n, dim) = check::matrix(func, "train_features", train_features)?;
        let labels = check::labels(func, "train_labels", train_labels, n, num_classes)?;
        let bank_t = l2_normalize(train_features)?.t()?.contiguous()?; // (D, N)
        Ok(Self {
            bank_t,
            labels,
            num_classes,
            k: config.k.min(n),
            dim,
            temperature: config.temperature,
            chunk: config.chunk_size,
        })
    }

    /// Calls `f` with the class scores of every query row, in order.
    fn for_each_query(&self, queries: &Tensor, mut f: impl FnMut(&[f64])) -> Result<()> {
        let q = queries.dims()[0];
        let n = self.labels.len();
        let queries = l2_normalize(queries)?;
        let mut order: Vec<usize> = Vec::with_capacity(n);
        let mut scores = vec![0.0f64; self.num_classes];
        let mut start = 0;
        while start < q {
            let len = self.chunk.min(q - start);
            let sims = queries
                .narrow(0, start, len)?
                .matmul(&self.bank_t)? // (len, N)
                .flatten_all()?
                .to_vec1::<f32>()?;
            for row in sims.chunks_exact(n) {
                order.clear();
                order.extend(0..n);
                // descending similarity, ties towards the lower train index
                let by = |a: &usize, b: &usize| row[*b].total_cmp(&row[*a]).then(a.cmp(b));
                if self.k < n {
                    order.select_nth_unstable_by(self.k - 1, by);
                }
                scores.iter_mut().for_each(|s| *s = 0.0);
                for &j in &order[..self.k] {
                    scores[self.labels[j]] += (f64::from(row[j]) / self.temperature).exp();
                }
                f(&scores);
            }
            start += len;
        }
        Ok(())
    }
}

/// Rows divided by `max(|row|, 1e-12)`, in `f32` (as `torch.nn.functional.normalize`).
pub(crate) fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let x = x.to_dtype(DType::F32)?;
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
    Ok(x.broadcast_div(&norm)?)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn rank_breaks_ties_towards_lower_index() {
        assert_eq!(rank_of(&[1.0, 3.0, 3.0, 0.0], 1), 1);
        assert_eq!(rank_of(&[1.0, 3.0, 3.0, 0.0], 2), 2);
        assert_eq!(rank_of(&[1.0, 3.0, 3.0, 0.0], 3), 4);
    }

    #[test]
    fn errors_name_the_argument() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &dev).unwrap();
        let msg = |r: Result<KnnAccuracy>| r.map(|_| ()).unwrap_err().to_string();
        let zero_k = KnnConfig {
            k: 0,
            ..KnnConfig::default()
        };
        assert!(msg(knn_classify(&x, &[0, 1], &x, &[0, 1], 2, &zero_k)).contains("config.k"));
        let e = msg(knn_classify(
            &x,
            &[0],
            &x,
            &[0, 1],
            2,
            &KnnConfig::default(),
        ));
        assert!(e.contains("`train_labels`"), "{e}");
        let e = msg(knn_classify(
            &x,
            &[0, 2],
            &x,
            &[0, 1],
            2,
            &KnnConfig::default(),
        ));
        assert!(e.contains("`train_labels`") && e.contains("outside"), "{e}");
        let wide = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
        let e = msg(knn_classify(
            &x,
            &[0, 1],
            &wide,
            &[0, 1],
            2,
            &KnnConfig::default(),
        ));
        assert!(e.contains("`test_features`"), "{e}");
        let empty = Tensor::zeros((0, 2), DType::F32, &dev).unwrap();
        let e = msg(knn_classify(
            &x,
            &[0, 1],
            &empty,
            &[],
            2,
            &KnnConfig::default(),
        ));
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn chunking_does_not_change_scores() {
        let dev = Device::Cpu;
        let train = Tensor::new(
            &[
                [1.0f32, 0.1],
                [0.2, 1.0],
                [-1.0, 0.3],
                [0.5, -0.7],
                [0.9, 0.9],
            ],
            &dev,
        )
        .unwrap();
        let labels = [0, 1, 2, 1, 0];
        let q = Tensor::new(&[[0.3f32, 0.4], [-0.2, 0.9], [1.0, -1.0]], &dev).unwrap();
        let a = KnnConfig {
            k: 3,
            chunk_size: 1,
            ..KnnConfig::default()
        };
        let b = KnnConfig {
            chunk_size: 64,
            ..a
        };
        assert_eq!(
            knn_scores(&train, &labels, &q, 3, &a).unwrap(),
            knn_scores(&train, &labels, &q, 3, &b).unwrap()
        );
    }
}
