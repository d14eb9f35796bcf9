//! Max pooling with a correct gradient.
//!
//! candle 0.11's `Tensor::max_pool2d` backward scales the upstream gradient by the *fraction*
//! of maxima in each window (`grad * avg_pool(mask)`) where it meant to divide by their count:
//! with one maximum per `k x k` window (the generic case) every input gradient is `k^2` times
//! too small, so a network with `d` pooling layers after a parameter gets that parameter's
//! gradient scaled by `k^(-2d)`. Adam and LARS are nearly invariant to a constant factor per
//! tensor, which hides the bug in training curves; plain SGD, Hessian-vector products and
//! anything that compares gradients across layers are not.
//!
//! [`max_pool2d`] keeps candle's fast forward and replaces the gradient: each window's
//! upstream gradient goes to its maximal entries, split evenly among ties (the subgradient
//! candle intended; PyTorch routes it all to the first maximum, which agrees wherever the
//! maximum is unique).

use candle_core::{Result, Tensor};

/// `k x k` max pooling with stride `k` (no padding; a trailing row or column that does not fill
/// a window is dropped, as in candle and PyTorch), with the gradient of the module docs.
///
/// Shapes: `xs` is `(N, C, H, W)`, the result `(N, C, H / k, W / k)`.
///
/// The forward value is candle's `max_pool2d` bit for bit. When `xs` is not tracked by autograd
/// nothing else is computed; otherwise the gradient comes from a straight-through term
/// `s - stopgrad(s)` (exactly zero) with `s = sum over the window of x * w`, `w` the detached
/// tie-split mask, built from candle primitives so it runs on every device.
pub fn max_pool2d(xs: &Tensor, k: usize) -> Result<Tensor> {
    let (_, _, h, w) = xs.dims4()?;
    if k == 0 || k > h || k > w {
        candle_core::bail!("max_pool2d: window {k} does not fit a {h}x{w} input");
    }
    let y = xs.max_pool2d(k)?;
    if !xs.track_op() {
        return Ok(y);
    }
    let (hk, wk) = ((h / k) * k, (w / k) * k);
    let x = if (hk, wk) == (h, w) {
        xs.clone()
    } else {
        xs.narrow(2, 0, hk)?.narrow(3, 0, wk)?
    };
    let yd = y.detach();
    let area = (k * k) as f64;
    let mask = x
        .detach()
        .eq(&yd.upsample_nearest2d(hk, wk)?)?
        .to_dtype(x.dtype())?; // 1 at each window's maxima
    let count = (mask.avg_pool2d(k)? * area)?; // maxima per window, >= 1
    let weights = mask.div(&count.upsample_nearest2d(hk, wk)?)?; // detached tie split
    let s = ((x * weights)?.avg_pool2d(k)? * area)?;
    yd + (&s - s.detach())?
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Var};

    use super::*;

    /// Deterministic values in [-1, 1) without ties (a fixed hash of the index).
    fn values(n: usize, salt: u64) -> Vec<f64> {
        (0..n as u64)
            .map(|i| {
                let h = (i ^ salt)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .rotate_left(29);
                (h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            })
            .collect()
    }

    fn grad(x: &Var, up: &Tensor, pool: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
        let y = pool(x.as_tensor())?;
        let loss = (y * up)?.sum_all()?;
        Ok(loss
            .backward()?
            .get(x.as_tensor())
            .expect("a gradient")
            .clone())
    }

    #[test]
    fn forward_is_candles_and_gradient_matches_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_vec(values(2 * 3 * 6 * 7, 1), (2, 3, 6, 7), &dev)?;
        let up = Tensor::from_vec(values(2 * 3 * 3 * 3, 2), (2, 3, 3, 3), &dev)?;
        let ours = max_pool2d(x.as_tensor(), 2)?;
        let theirs = x.as_tensor().max_pool2d(2)?;
        assert_eq!(
            ours.flatten_all()?.to_vec1::<f64>()?,
            theirs.flatten_all()?.to_vec1::<f64>()?
        );
        let g = grad(&x, &up, |t| max_pool2d(t, 2))?
            .flatten_all()?
            .to_vec1::<f64>()?;
        let base = x.as_tensor().detach().copy()?;
        let flat = base.flatten_all()?.to_vec1::<f64>()?;
        let f = |v: &[f64]| -> Result<f64> {
            let t = Tensor::from_vec(v.to_vec(), base.shape(), &dev)?;
            (t.max_pool2d(2)? * &up)?.sum_all()?.to_scalar::<f64>()
        };
        let eps = 1e-6;
        for i in (0..flat.len()).step_by(5) {
            let mut v = flat.clone();
            v[i] += eps;
            let fp = f(&v)?;
            v[i] -= 2.0 * eps;
            let fd = (fp - f(&v)?) / (2.0 * eps);
            assert!((fd - g[i]).abs() < 1e-6, "element {i}: fd {fd} vs {}", g[i]);
        }
        // candle's own backward is k^2 = 4 times too small where the maximum is unique (an
        // even-sized input: with a dropped column its upsampling also misplaces gradients).
        let x = Var::from_vec(values(2 * 3 * 6 * 6, 3), (2, 3, 6, 6), &dev)?;
        let ours = grad(&x, &up, |t| max_pool2d(t, 2))?
            .flatten_all()?
            .to_vec1::<f64>()?;
        let candle = grad(&x, &up, |t| t.max_pool2d(2))?
            .flatten_all()?
            .to_vec1::<f64>()?;
        assert!(ours.iter().any(|o| o.abs() > 1e-3));
        for (o, c) in ours.iter().zip(&candle) {
            assert!((o - 4.0 * c).abs() < 1e-12, "ours {o} vs candle {c}");
        }
        Ok(())
    }

    #[test]
    fn ties_split_the_window_gradient() -> Result<()> {
        let dev = Device::Cpu;
        // One 2x2 window with two tied maxima, one with four.
        let x = Var::new(&[[[[1f32, 3., 0., 0.], [3., 2., 0., 0.]]]], &dev)?;
        let up = Tensor::new(&[[[[2f32, 4.]]]], &dev)?;
        let g = grad(&x, &up, |t| max_pool2d(t, 2))?;
        assert_eq!(
            g.flatten_all()?.to_vec1::<f32>()?,
            vec![0., 1., 1., 1., 1., 0., 1., 1.]
        );
        Ok(())
    }

    #[test]
    fn untracked_input_is_plain_max_pool_and_odd_sizes_drop_the_tail() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::from_vec(values(50, 4), (1, 2, 5, 5), &dev)?.to_dtype(DType::F32)?;
        assert_eq!(
            max_pool2d(&x, 2)?.flatten_all()?.to_vec1::<f32>()?,
            x.max_pool2d(2)?.flatten_all()?.to_vec1::<f32>()?
        );
        let v = Var::from_tensor(&x.to_dtype(DType::F64)?)?;
        let y = max_pool2d(v.as_tensor(), 2)?;
        assert_eq!(y.dims(), &[1, 2, 2, 2]);
        let g = y.sum_all()?.backward()?;
        let g = g.get(v.as_tensor()).expect("gradient");
        assert_eq!(g.dims(), &[1, 2, 5, 5]);
        assert_eq!(g.sum_all()?.to_scalar::<f64>()?, 8.0); // one unit per window
        assert!(max_pool2d(&x, 6).is_err());
        Ok(())
    }
}
