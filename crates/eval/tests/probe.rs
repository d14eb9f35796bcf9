//! The linear probe on synthetic frozen features: it learns separable blobs, stays at chance
//! on random labels, is deterministic, and rejects bad arguments.

#![allow(clippy::unwrap_used)]

use crate::common;

use noether_eval::{EvalError, LinearProbeConfig, linear_probe};

fn quick(seed: u64) -> LinearProbeConfig {
    LinearProbeConfig {
        batch_size: 64,
        seed,
        ..LinearProbeConfig::scaled(5)
    }
}

#[test]
fn separable_blobs_are_learned_in_a_few_epochs() {
    // one draw of 800 points: train on the first 500, test on the other 300
    let (all, labels) = common::blobs(1, 800, 16, 6, 3.0);
    let (train, test) = (
        all.narrow(0, 0, 500).unwrap(),
        all.narrow(0, 500, 300).unwrap(),
    );
    let r = linear_probe(&train, &labels[..500], &test, &labels[500..], 6, &quick(0)).unwrap();
    eprintln!("blobs: {r:?}");
    assert!(r.top1 > 0.95, "top-1 {}", r.top1);
    assert!(r.train_top1 > 0.95, "train top-1 {}", r.train_top1);
    assert!(r.top5.unwrap() >= r.top1);
    assert_eq!(r.epoch_losses.len(), 5);
    assert!(
        r.epoch_losses[4] < 0.5 * r.epoch_losses[0],
        "{:?}",
        r.epoch_losses
    );
}

#[test]
fn random_labels_stay_near_chance_on_test() {
    let x = common::gaussian(2, 800, 16);
    let y = common::random_labels(3, 800, 4);
    let (train, test) = (x.narrow(0, 0, 400).unwrap(), x.narrow(0, 400, 400).unwrap());
    let r = linear_probe(&train, &y[..400], &test, &y[400..], 4, &quick(0)).unwrap();
    eprintln!("random labels: {r:?}");
    // chance is 0.25; the std of a 400-sample accuracy is about 0.022
    assert!((r.top1 - 0.25).abs() < 0.1, "top-1 {}", r.top1);
    assert!(r.top5.is_none());
}

#[test]
fn same_seed_same_result_other_seed_other_run() {
    let (all, labels) = common::blobs(4, 300, 8, 3, 1.0);
    let (train, test) = (
        all.narrow(0, 0, 200).unwrap(),
        all.narrow(0, 200, 100).unwrap(),
    );
    let run = |seed| {
        linear_probe(
            &train,
            &labels[..200],
            &test,
            &labels[200..],
            3,
            &quick(seed),
        )
        .unwrap()
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a, b);
    assert_ne!(a.epoch_losses, c.epoch_losses);
}

#[test]
fn protocol_defaults_and_errors() {
    let p = LinearProbeConfig::default();
    assert_eq!(
        (p.epochs, p.batch_size, p.lr, p.momentum),
        (90, 256, 0.2, 0.9)
    );
    assert!(p.nesterov && p.weight_decay == 0.0);
    assert!((p.lr * p.final_lr_factor - 1e-4).abs() < 1e-15);

    let (x, y) = common::blobs(5, 20, 4, 2, 1.0);
    let msg = |r: Result<noether_eval::ProbeReport, EvalError>| r.unwrap_err().to_string();
    let e = msg(linear_probe(&x, &y[..19], &x, &y, 2, &quick(0)));
    assert!(e.contains("`train_labels`"), "{e}");
    let e = msg(linear_probe(
        &x,
        &y,
        &x.narrow(1, 0, 3).unwrap(),
        &y,
        2,
        &quick(0),
    ));
    assert!(e.contains("`test_features`"), "{e}");
    let zero = LinearProbeConfig {
        epochs: 0,
        ..quick(0)
    };
    assert!(msg(linear_probe(&x, &y, &x, &y, 2, &zero)).contains("config.epochs"));
    let e = msg(linear_probe(&x, &y, &x, &y, 1, &quick(0)));
    assert!(e.contains("outside 0..1"), "{e}");
}
