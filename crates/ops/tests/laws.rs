//! Laws of the fused ops on random shapes and values (proptest, `f64`): softmax rows are
//! non-negative and sum to 1, log-softmax exponentiates to softmax, layer norm rows and batch
//! norm channels have zero mean and unit (biased) variance, and ReLU/GELU bracket their input.

use candle_core::{D, Device, Result, Tensor};
use proptest::prelude::*;

/// A `(rows, d)` tensor from proptest values.
fn tensor(v: &[f64], rows: usize, d: usize) -> Result<Tensor> {
    Tensor::from_vec(v.to_vec(), (rows, d), &Device::Cpu)
}

/// Shapes `(rows, d)` with their values in `[-scale, scale]`.
fn matrix(scale: f64) -> impl Strategy<Value = (usize, usize, Vec<f64>)> {
    (1usize..6, 2usize..12).prop_flat_map(move |(r, d)| {
        (
            Just(r),
            Just(d),
            proptest::collection::vec(-scale..scale, r * d),
        )
    })
}

/// Per-row (mean, biased variance) of a `(rows, d)` tensor.
fn row_moments(t: &Tensor) -> Result<Vec<(f64, f64)>> {
    t.to_vec2::<f64>()?
        .iter()
        .map(|r| {
            let m = r.iter().sum::<f64>() / r.len() as f64;
            Ok((
                m,
                r.iter().map(|v| (v - m).powi(2)).sum::<f64>() / r.len() as f64,
            ))
        })
        .collect()
}

proptest! {
    #[test]
    fn softmax_rows_are_distributions((rows, d, v) in matrix(30.0)) {
        let x = tensor(&v, rows, d)?;
        let y = noether_ops::softmax_last_dim(&x)?;
        for row in y.to_vec2::<f64>()? {
            prop_assert!(row.iter().all(|&p| (0.0..=1.0).contains(&p)));
            prop_assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        let from_log = noether_ops::log_softmax_last_dim(&x)?.exp()?;
        let diff = (from_log - &y)?.abs()?.max_keepdim(D::Minus1)?.max(0)?.to_vec1::<f64>()?[0];
        prop_assert!(diff < 1e-12);
    }

    #[test]
    fn layer_norm_rows_are_standardised((rows, d, v) in matrix(50.0), shift in -1e3f64..1e3) {
        // rows with a spread well above eps, shifted far from 0 (a one-pass variance would lose
        // digits here)
        let x = (tensor(&v, rows, d)? + shift)?;
        prop_assume!(row_moments(&x)?.iter().all(|&(_, var)| var > 1e-2));
        let y = noether_ops::layer_norm(&x, None, None, 1e-12)?;
        for (m, var) in row_moments(&y)? {
            prop_assert!(m.abs() < 1e-9, "mean {}", m);
            prop_assert!((var - 1.0).abs() < 1e-8, "var {}", var);
        }
    }

    #[test]
    fn batch_norm_channels_are_standardised((rows, d, v) in matrix(50.0), shift in -1e3f64..1e3) {
        prop_assume!(rows >= 2);
        let x = (tensor(&v, rows, d)? + shift)?;
        let xt = x.t()?.contiguous()?;
        prop_assume!(row_moments(&xt)?.iter().all(|&(_, var)| var > 1e-2));
        let (y, stats) = noether_ops::batch_norm_train(&x, None, None, 1e-12)?;
        for (m, var) in row_moments(&y.t()?.contiguous()?)? {
            prop_assert!(m.abs() < 1e-9, "mean {}", m);
            prop_assert!((var - 1.0).abs() < 1e-8, "var {}", var);
        }
        let expected: Vec<f64> = row_moments(&xt)?.iter().map(|&(m, _)| m).collect();
        for (a, b) in stats.mean.to_vec1::<f64>()?.iter().zip(&expected) {
            prop_assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()));
        }
    }

    #[test]
    fn activations_bracket_their_input((rows, d, v) in matrix(10.0)) {
        let x = tensor(&v, rows, d)?;
        let r = noether_ops::relu(&x)?.flatten_all()?.to_vec1::<f64>()?;
        let g = noether_ops::gelu(&x)?.flatten_all()?.to_vec1::<f64>()?;
        for ((&x, &r), &g) in v.iter().zip(&r).zip(&g) {
            prop_assert_eq!(r, x.max(0.0));
            // x Φ(x) lies between min(x, 0) - 0.17 and max(x, 0)
            prop_assert!(g <= r + 1e-15 && g >= x.min(0.0) - 0.17, "gelu({}) = {}", x, g);
        }
    }
}
