//! The R² regression protocol on synthetic pair features: a linear target is recovered
//! (R² > 0.9) by both heads, independent random targets give R² <= ~0, runs are seeded, and
//! bad arguments are errors.

#![allow(clippy::unwrap_used)]

use crate::common;

use candle_core::Tensor;
use noether_eval::{RegressionConfig, RegressionHead, regression_r2};

/// Pair features `(n, 16)` and targets `x A + 0.05 noise`, `(n, 3)`, `A` fixed by `seed`.
fn linear_task(seed: u64, n: usize) -> (Tensor, Tensor) {
    let x = common::gaussian(seed, n, 16);
    let a = common::gaussian(99, 16, 3);
    let noise = (common::gaussian(seed + 1, n, 3) * 0.05).unwrap();
    let y = (x.matmul(&a).unwrap() + noise).unwrap();
    (x, y)
}

fn config(head: RegressionHead, seed: u64) -> RegressionConfig {
    RegressionConfig {
        batch_size: 32,
        lr: 1e-2,
        seed,
        ..RegressionConfig::scaled(head, 30)
    }
}

#[test]
fn linear_targets_are_recovered_by_both_heads() {
    let (x, y) = linear_task(1, 512);
    let (vx, vy) = linear_task(2, 256);
    for head in [RegressionHead::Linear, RegressionHead::Mlp { hidden: 64 }] {
        let r = regression_r2(&x, &y, &vx, &vy, &config(head, 0)).unwrap();
        eprintln!("{head:?}: r2 {} val mse {}", r.r2, r.val_mse);
        assert!(r.r2 > 0.9, "{head:?}: R² {}", r.r2);
        assert_eq!(r.epoch_losses.len(), 30);
        assert!(r.epoch_losses[29] < r.epoch_losses[0]);
    }
}

#[test]
fn random_targets_give_no_r2() {
    let (x, _) = linear_task(3, 512);
    let (vx, _) = linear_task(4, 256);
    let y = common::gaussian(5, 512, 3);
    let vy = common::gaussian(6, 256, 3);
    let r = regression_r2(&x, &y, &vx, &vy, &config(RegressionHead::Linear, 0)).unwrap();
    eprintln!("random targets: r2 {}", r.r2);
    assert!(r.r2 < 0.05, "R² {}", r.r2);
}

#[test]
fn seeded_and_checked() {
    let (x, y) = linear_task(7, 64);
    let cfg = RegressionConfig {
        epochs: 2,
        ..config(RegressionHead::Mlp { hidden: 8 }, 3)
    };
    let a = regression_r2(&x, &y, &x, &y, &cfg).unwrap();
    assert_eq!(a, regression_r2(&x, &y, &x, &y, &cfg).unwrap());
    let other = RegressionConfig { seed: 4, ..cfg };
    assert_ne!(a, regression_r2(&x, &y, &x, &y, &other).unwrap());

    let msg = |r: noether_eval::Result<noether_eval::RegressionReport>| r.unwrap_err().to_string();
    let short = y.narrow(0, 0, 10).unwrap();
    assert!(msg(regression_r2(&x, &short, &x, &y, &cfg)).contains("`train_targets`"));
    let narrow = x.narrow(1, 0, 8).unwrap();
    assert!(msg(regression_r2(&x, &y, &narrow, &y, &cfg)).contains("`val_inputs`"));
    let no_hidden = RegressionConfig {
        head: RegressionHead::Mlp { hidden: 0 },
        ..cfg
    };
    assert!(msg(regression_r2(&x, &y, &x, &y, &no_hidden)).contains("config.head.hidden"));
    let d = RegressionConfig::default();
    assert_eq!((d.epochs, d.batch_size, d.lr), (300, 256, 1e-3));
    assert_eq!(d.head, RegressionHead::Mlp { hidden: 1024 });
}
