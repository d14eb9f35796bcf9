//! Exponential moving averages of parameters, for BYOL-style target networks (Grill et al.
//! 2020): `target <- tau target + (1 - tau) online`, with BYOL's schedule
//! `tau_k = 1 - (1 - tau_0) (cos(pi k / K) + 1) / 2`.

use candle_core::{Result, Var, bail};

use super::fused::{self, HostElem, SliceKernel, fusable};

/// `target <- tau * target + (1 - tau) * online` for each pair, in place: one fused pass per
/// tensor on the CPU (`f32`/`f64`), candle ops and [`Var::set`] elsewhere. Fails when the lists
/// differ in length, a pair differs in shape or dtype, or `tau` is outside `[0, 1]`.
pub fn ema_update(target: &[Var], online: &[Var], tau: f64) -> Result<()> {
    ema_update_with(target, online, tau, true)
}

/// [`ema_update`] with the fused path switched on or off (off: candle ops everywhere).
pub(crate) fn ema_update_with(target: &[Var], online: &[Var], tau: f64, fused: bool) -> Result<()> {
    if !(0.0..=1.0).contains(&tau) {
        bail!("ema_update: tau must be in [0, 1] (got {tau})")
    }
    if target.len() != online.len() {
        bail!(
            "ema_update: {} target variables but {} online variables",
            target.len(),
            online.len()
        )
    }
    for (i, (t, o)) in target.iter().zip(online).enumerate() {
        if t.dims() != o.dims() || t.dtype() != o.dtype() {
            bail!(
                "ema_update: target[{i}] is {:?} {:?} but online[{i}] is {:?} {:?}",
                t.dims(),
                t.dtype(),
                o.dims(),
                o.dtype()
            )
        }
        if fused && fusable(t) {
            fused::apply("ema", t, o, Kernel { tau })?;
        } else {
            let next = (t.affine(tau, 0.0)? + o.affine(1.0 - tau, 0.0)?)?;
            t.set(&next)?;
        }
    }
    Ok(())
}

/// The fused EMA pass.
struct Kernel {
    tau: f64,
}

impl SliceKernel for Kernel {
    fn run<T: HostElem>(&mut self, t: &mut [T], o: &[T]) -> Result<()> {
        let (a, b) = (T::cast(self.tau), T::cast(1.0 - self.tau));
        fused::zip2(t, o, |t, o| {
            for (t, &o) in t.iter_mut().zip(o) {
                *t = *t * a + o * b;
            }
        });
        Ok(())
    }
}

/// BYOL's EMA rate at step `step` of `total_steps`: `1 - (1 - tau0) (cos(pi k / K) + 1) / 2`
/// with `k / K` clamped to `[0, 1]` (so `tau0` at step 0, 1 from step `K` on; 1 when `K` is 0).
pub fn byol_tau(tau0: f64, step: u64, total_steps: u64) -> f64 {
    let p = if total_steps == 0 {
        1.0
    } else {
        (step as f64 / total_steps as f64).min(1.0)
    };
    1.0 - (1.0 - tau0) * ((std::f64::consts::PI * p).cos() + 1.0) / 2.0
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    #[test]
    fn fused_and_composite_agree_and_match_by_hand() -> Result<()> {
        let n = fused::CHUNK * 2 + 7;
        let a: Vec<f32> = (0..n).map(|i| (i % 13) as f32 * 0.5).collect();
        let b: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
        let mk = |v: &[f32]| Var::from_tensor(&Tensor::from_slice(v, n, &Device::Cpu)?);
        let (t1, t2, o) = (mk(&a)?, mk(&a)?, mk(&b)?);
        ema_update_with(
            std::slice::from_ref(&t1),
            std::slice::from_ref(&o),
            0.9,
            true,
        )?;
        ema_update_with(
            std::slice::from_ref(&t2),
            std::slice::from_ref(&o),
            0.9,
            false,
        )?;
        let (r1, r2) = (t1.to_vec1::<f32>()?, t2.to_vec1::<f32>()?);
        for i in [0, 1, 12, n / 2, n - 1] {
            let want = 0.9 * a[i] + 0.1 * b[i];
            assert!((r1[i] - want).abs() < 1e-6, "{i}: {} vs {want}", r1[i]);
            assert!(
                (r1[i] - r2[i]).abs() < 1e-6,
                "{i}: fused {} composite {}",
                r1[i],
                r2[i]
            );
        }
        assert_eq!(o.to_vec1::<f32>()?, b, "the online variable is left alone");
        Ok(())
    }
}
