//! # noether-eval
//!
//! How good is a representation: linear probe, kNN, R² with the global mean of the 3DIEBench
//! reference code, MRR / H@k and PRE for predictors, collapse metrics, and the tables that
//! report them. Functions of tensors (features, labels, targets) or of plain slices; no
//! dataset and no model inside (the caller computes and caches the frozen features).
//!
//! | metric | protocol (notes in `papers/`) | function |
//! |---|---|---|
//! | R², scalar global mean (the reference metric) | `sie_3diebench.md`, "Metrics" | [`r2_global_mean`] |
//! | R², per-output mean (sklearn default; comparison only) | — | [`r2_per_output_mean`] |
//! | linear probe top-1 / top-5, frozen features (SGD Nesterov, lr 0.2, cosine, 90 epochs) | `baselines.md`, "Evaluation protocols" | [`linear_probe`], [`LinearProbeConfig`] |
//! | R² of a head on pairs (rotation / colour / augmentation parameters; MLP or linear, Adam 1e-3) | `sie_3diebench.md`, "Metrics" | [`regression_r2`], [`RegressionConfig`] |
//! | kNN top-1 / top-5 (cosine, k = 200, T = 0.1, weighted vote) | `baselines.md`, "Evaluation protocols" | [`knn_classify`], [`knn_scores`] |
//! | collapse level (std of normalised embeddings) | `baselines.md`, lightly's monitor | [`collapse_std`] |
//! | effective rank of the centred embeddings | RankMe / Roy & Vetterli | [`effective_rank`] |
//! | MRR, H@k (k = 1, 2, 5, 10) | `sie_3diebench.md`, "Metrics" | [`mrr_hits`] |
//! | PRE | `sie_3diebench.md`, "Metrics" | [`prediction_rotation_error`] |
//! | results over seeds, markdown and JSON | design brief, "Experiments are data" | [`ResultsTable`] |
//!
//! Errors are [`EvalError`] values naming the function and the argument; nothing panics on
//! user input.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use noether_eval::{collapse_std, r2_global_mean};
//!
//! let dev = Device::Cpu;
//! let y = Tensor::new(&[[0.1f32, 0.9], [0.4, -0.3], [0.7, 0.2]], &dev)?;
//! assert_eq!(r2_global_mean(&y, &y)?, 1.0);
//! // every embedding points the same way: collapsed
//! let z = Tensor::new(&[[1.0f32, 1.0], [2.0, 2.0], [3.0, 3.0]], &dev)?;
//! assert!(collapse_std(&z)? < 1e-6);
//! # Ok::<(), noether_eval::EvalError>(())
//! ```

mod check;
mod collapse;
mod error;
mod fit;
mod knn;
mod probe;
mod r2;
mod regression;
mod retrieval;
mod table;

pub use collapse::{collapse_std, effective_rank};
pub use error::{EvalError, Result};
pub use knn::{KnnAccuracy, KnnConfig, knn_classify, knn_scores};
pub use probe::{LinearProbeConfig, ProbeReport, linear_probe};
pub use r2::{r2_global_mean, r2_per_output_mean};
pub use regression::{RegressionConfig, RegressionHead, RegressionReport, regression_r2};
pub use retrieval::{
    DEFAULT_HITS_AT, RetrievalQuery, RetrievalScores, mrr_hits, nearest_neighbours,
    prediction_rotation_error,
};
pub use table::{DEFAULT_DECIMALS, MetricColumn, ResultRow, ResultsTable, mean_std};
