//! The metrics against numpy / scipy / scikit-learn references (`fixtures/make_metrics.py`
//! wrote `fixtures/metrics.json`; CI has no Python, so both are committed).

#![allow(clippy::unwrap_used)]

use candle_core::{Device, Tensor};
use noether_eval::{
    DEFAULT_HITS_AT, KnnConfig, RetrievalQuery, collapse_std, effective_rank, knn_classify,
    knn_scores, mrr_hits, nearest_neighbours, prediction_rotation_error, r2_global_mean,
    r2_per_output_mean,
};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/metrics.json");
    serde_json::from_str(text).unwrap()
}

/// A JSON list of lists of numbers as an `f32` matrix.
fn matrix(v: &Value) -> Tensor {
    let rows = v.as_array().unwrap();
    let cols = rows[0].as_array().unwrap().len();
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
        })
        .collect();
    Tensor::from_vec(flat, (rows.len(), cols), &Device::Cpu).unwrap()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn r2_matches_numpy_and_sklearn() {
    let f = &fixture()["r2"];
    let (y, yhat) = (matrix(&f["y"]), matrix(&f["yhat"]));
    let global = r2_global_mean(&y, &yhat).unwrap();
    let per_output = r2_per_output_mean(&y, &yhat).unwrap();
    assert!((global - num(&f["global_mean"])).abs() < 1e-9, "{global}");
    assert!(
        (per_output - num(&f["per_output_mean"])).abs() < 1e-9,
        "{per_output}"
    );
    // the two definitions really differ on targets whose columns have different means
    assert!(global - per_output > 0.5);
}

#[test]
fn knn_matches_the_reference_vote() {
    let f = &fixture()["knn"];
    let (train, test) = (matrix(&f["train"]), matrix(&f["test"]));
    let (train_labels, test_labels) = (ints(&f["train_labels"]), ints(&f["test_labels"]));
    let classes = f["num_classes"].as_u64().unwrap() as usize;
    for (key, k) in [("k7", 7), ("k200", 200)] {
        let expect = &f[key];
        let config = KnnConfig {
            k,
            temperature: num(&f["temperature"]),
            chunk_size: 4, // several chunks, the last one partial
        };
        let scores = knn_scores(&train, &train_labels, &test, classes, &config).unwrap();
        let want = expect["scores"].as_array().unwrap();
        assert_eq!(scores.len(), want.len());
        for (got_row, want_row) in scores.iter().zip(want) {
            for (g, w) in got_row.iter().zip(want_row.as_array().unwrap()) {
                let w = num(w);
                assert!(
                    (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                    "{key}: {g} vs {w}"
                );
            }
        }
        let acc =
            knn_classify(&train, &train_labels, &test, &test_labels, classes, &config).unwrap();
        assert_eq!(acc.k_used as u64, expect["k"].as_u64().unwrap());
        assert_eq!(acc.top1, num(&expect["top1"]), "{key}");
        assert_eq!(acc.top5, Some(num(&expect["top5"])), "{key}");
    }
}

#[test]
fn mrr_hits_and_pre_match_the_sie_scripts() {
    let f = &fixture()["retrieval"];
    let (gallery, preds) = (matrix(&f["gallery"]), matrix(&f["predictions"]));
    let views = f["views"].as_u64().unwrap() as usize;
    let n = preds.dims()[0];
    let queries: Vec<RetrievalQuery> = (0..n)
        .map(|i| RetrievalQuery::block(i / views * views, views, i % views))
        .collect();
    let s = mrr_hits(&preds, &gallery, &queries, &DEFAULT_HITS_AT).unwrap();
    let ranks: Vec<usize> = ints(&f["ranks"]).iter().map(|&r| r as usize).collect();
    assert_eq!(s.ranks, ranks);
    assert!((s.mrr - num(&f["mrr"])).abs() < 1e-12);
    for k in DEFAULT_HITS_AT {
        let want = num(&f["hits"][k.to_string().as_str()]);
        assert_eq!(s.hits_at(k), Some(want), "H@{k}");
    }
    let nearest: Vec<usize> = ints(&f["nearest"]).iter().map(|&r| r as usize).collect();
    assert_eq!(nearest_neighbours(&preds, &gallery).unwrap(), nearest);
    let pre = prediction_rotation_error(
        &preds,
        &gallery,
        &matrix(&f["true_quaternions"]),
        &matrix(&f["gallery_quaternions"]),
    )
    .unwrap();
    assert!((pre - num(&f["pre"])).abs() < 1e-6, "{pre}");
}

#[test]
fn collapse_metrics_match_numpy() {
    let f = &fixture()["collapse"];
    let z = matrix(&f["z"]);
    let std = collapse_std(&z).unwrap();
    assert!((std - num(&f["std"])).abs() < 1e-6, "{std}");
    let erank = effective_rank(&z).unwrap();
    assert!((erank - num(&f["effective_rank"])).abs() < 1e-6, "{erank}");
}
