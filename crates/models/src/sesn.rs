//! A scale-equivariant steerable CNN (SESN: Sosnovik, Szmaja & Smeulders, "Scale-Equivariant
//! Steerable Networks", ICLR 2020, arXiv 1910.11093) whose lifted scale axis can be read fiber by
//! fiber: the scale backbone of Homomorphic SSL (`papers/hssl.md`).
//!
//! **Basis.** For scales `sigma_0 < .. < sigma_{S-1}` (default `0.9 * 1.41^s`, `S = 3`) and an
//! odd kernel side `k` (default 7), [`hermite_basis`] samples on the integer grid
//! `x, y in -k/2..=k/2` (x the column, y the row) the functions ([`basis_function`])
//!
//! `psi_{n,m,sigma}(x, y) = sigma^-2 He_n(x / sigma) He_m(y / sigma) exp(-r^2 / (2 sigma^2)) w(r / sigma)`
//!
//! - `He` are the probabilists' Hermite polynomials ([`hermite_e`]): without the window these
//!   are the Gaussian derivatives of a Gaussian of standard deviation `sigma`, the functions of
//!   the reference code (`ses_basis.py`, basis "A"). In physicists' terms
//!   `He_n(u) = 2^(-n/2) H_n(u / sqrt 2)`: the `H_n(x / s) H_m(y / s) exp(-(x^2 + y^2) / s^2)`
//!   family at `s = sqrt(2) sigma`, up to a constant per function that the normalisation
//!   removes. `sigma` keeps the reference's meaning (the standard deviation); the physicists'
//!   form at `s = sigma` is this basis at `sigma / sqrt 2`, measured 5 times less equivariant
//!   (lifting error 0.05-0.07 against 0.007-0.011 below).
//! - The `num_funcs = D (D + 1) / 2` functions are the orders `n + m < D`, whole degrees
//!   ([`basis_orders`]; default 6, `D = 3`: the 2-jet). The reference takes the square
//!   `n, m < effective_size` (9 functions for 3, degree up to 4).
//! - `w(u) = cos^2(pi u / (2 u_max))` for `u < u_max`, 0 beyond, with `u_max` from
//!   [`window_radius`]: `(k/2 + 1.5) / sigma_max`, so the top-scale kernel reaches 0 just
//!   past the edge of the grid. The window scales with `sigma`, so the law
//!   `psi_{a sigma}(a p) a^2 = psi_sigma(p)` holds for the windowed functions: the kernel at
//!   `sigma a` on an image matches the kernel at `sigma` on the image shrunk by `a`. The
//!   reference instead crops scale `s` to a centred square of odd side
//!   `floor(k sigma_s / sigma_max)`; the rounding truncates the scales at different multiples of
//!   `sigma` (1.1, 1.6, 1.7 for the defaults), which dominated the error: lifting layer
//!   0.09-0.15 with the crop, 0.007-0.011 with the window; 3-block net 0.12-0.31 against
//!   0.09-0.13.
//! - As in the reference, every function is divided, at every scale, by its L2 norm on the
//!   grid at scale 0, so the `sigma^-2` scaling between scales is kept.
//!
//! **Layers.** Feature maps are `(B, C, S, H, W)`, axis 2 the scale axis.
//! - [`SesLift`] (`Z^2 -> H`, the reference `SESConv_Z2_H`): weight `(out, in, F)`, the kernel
//!   at scale `s` is `sum_f w[.., f] basis[f, s]`; the `S` kernels are stacked along the output
//!   channels of one convolution (stride 1, padding `k / 2`).
//! - [`SesConv`] (`H -> H`, `SESConv_H_H`): weight `(out, in, J, F)`, `J = scale_size`
//!   interscale taps; output scale `s` is `sum_j conv2d(x[:, :, s + j], kernel_s[.., j])`: one
//!   convolution per output scale, over the `J` input scales stacked as channels. Scales beyond
//!   `S - 1` are zeros (as the reference), so with `J > 1` the top output scales miss a term and
//!   are not equivariant: with `S = 3`, `J = 2` the measured pooled error is 0.54-0.83, no
//!   better than a plain CNN. Default `J = 1`: every scale equivariant up to discretisation.
//! - Convolutions run through [`noether_ops::conv2d`]: GEMMs forward and backward on the CPU
//!   (candle's CPU `conv2d` backward goes through a direct `conv_transpose2d` about 15 times
//!   slower than the forward); candle's `conv2d` elsewhere.
//!
//! Neither has a bias (a batch norm follows). Initialisation: `w ~ N(0, std^2)` with
//! `std^2 = 2 / (in J E)`, `E = mean_s sum_f ||basis[f, s]||^2`: the expected squared norm of an
//! effective kernel over its `in J k^2` inputs is 2, He-normal's fan-in law on the effective
//! kernel (the reference draws `N(0, 2 / (out J F))` on the coefficients).
//!
//! **Network.** [`Sesn`]: block 0 a [`SesLift`], the others [`SesConv`]s, each followed by a
//! [`GroupBatchNorm`] (one statistic per channel over `B, S, H, W`) and ReLU, a 2x2 max-pool
//! with stride 2 between blocks; output `(B, C, S, H', W')`. Names `features.{i}.conv.weight`,
//! `features.{i}.bn.*`. [`Backbone::features_t`]: the spatial max, then the max over scales.
//!
//! **Action and error.** [`ScaleAction`] element `t` shrinks an image's content by `a^t` about
//! the centre (bilinear, zero outside, after a Gaussian pre-blur matched to the factor). Then
//! `f(T_t x)[:, :, s] ~ T_t f(x)[:, :, s + t]` for `s + t < S`. The spatial mean of a shrunk map
//! drops by up to `a^(2 t)`, the spatial max does not, so [`scale_pooled_fibers`] pools with a
//! max and [`scale_equivariance_error`] measures
//! `|| P f(T_t x)[s] - P f(x)[s + t] || / || P f(x)[s + t] ||` over `s < S - t`.
//!
//! **Measured** (`tests/sesn.rs`: 3 seeds, random init, eval mode, f64, `t = 1`, `a = 1.41`,
//! 32 px images of Gaussian blobs):
//! - the lifting layer's map error `|| f(T x)[s] - T f(x)[s + 1] || / || T f(x)[s + 1] ||`:
//!   0.007-0.011; without the scale shift 0.07-0.14; a plain 7x7 conv with pseudo-scales 1.48.
//!   The pre-blur does not matter on these smooth images (0.007-0.012 without); on white noise
//!   it lowers the error from 0.49-0.56 to 0.35-0.40.
//! - a 3-block net (widths 4/8/16): pooled-fiber error 0.09-0.13 with the spatial max, 0.37
//!   with the spatial mean; 0.17-0.18 without the scale shift (adjacent scales differ by 1.41
//!   only); a plain CNN of the same shape 0.49-0.55. The 2x2 max-pools are most of the error:
//!   lift + ReLU 0.02-0.03, then a max-pool 0.13, while a second layer without the pool stays
//!   at 0.02-0.03.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use noether_models::sesn::{ScaleAction, Sesn, SesnConfig, scale_equivariance_error};
//! use noether_models::ParamStore;
//! let store = ParamStore::seeded(0);
//! let cfg = SesnConfig::new(1, vec![4, 8]);
//! let net = Sesn::new(&cfg, store.var_builder(DType::F32, &Device::Cpu))?;
//! // a Gaussian blob in the middle of a 24 x 24 image
//! let g: Vec<f32> = (0..24 * 24)
//!     .map(|i| {
//!         let (y, x) = ((i / 24) as f32 - 11.5, (i % 24) as f32 - 11.5);
//!         (-(x * x + y * y) / 18.0).exp()
//!     })
//!     .collect();
//! let x = Tensor::from_vec(g, (1, 1, 24, 24), &Device::Cpu)?;
//! assert_eq!(net.fibers_t(&x, false)?.dims(), &[1, 8, 3, 12, 12]);
//! let action = ScaleAction::new(1.41, 3, 24, DType::F32, &Device::Cpu)?;
//! // shrinking the input by 1.41 moves the pooled fibers one scale down
//! assert!(scale_equivariance_error(&net, &action, &x, 1)? < 0.2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::fibers::{FiberBackbone, GroupAction, square_side};
use crate::gconv::GroupBatchNorm;
use crate::layers::{Backbone, check_block_widths, check_images};
use crate::norm::BatchNormConfig;

/// The default ratio between consecutive scales (the reference's STL-10 models).
pub const DEFAULT_RATIO: f64 = 1.41;

/// `base * ratio^s` for `s = 0..n`.
pub fn geometric_scales(base: f64, ratio: f64, n: usize) -> Vec<f64> {
    (0..n).map(|s| base * ratio.powi(s as i32)).collect()
}

/// The probabilists' Hermite polynomial `He_n(x)` (`He_0 = 1`, `He_1 = x`,
/// `He_{n+1} = x He_n - n He_{n-1}`).
pub fn hermite_e(n: usize, x: f64) -> f64 {
    let (mut prev, mut cur) = (1.0, x);
    if n == 0 {
        return prev;
    }
    for k in 1..n {
        (prev, cur) = (cur, x * cur - k as f64 * prev);
    }
    cur
}

/// `sigma^-2 He_n(x / sigma) He_m(y / sigma) exp(-(x^2 + y^2) / (2 sigma^2))`: the Gaussian
/// derivative of order `(n, m)`, unnormalised, unwindowed.
pub fn hermite_gaussian(n: usize, m: usize, sigma: f64, x: f64, y: f64) -> f64 {
    let (u, v) = (x / sigma, y / sigma);
    hermite_e(n, u) * hermite_e(m, v) * (-(u * u + v * v) / 2.0).exp() / (sigma * sigma)
}

/// The radius, in units of `sigma`, where the window of the basis reaches 0:
/// `(k / 2 + 1.5) / sigma_max` (`k / 2` rounded down), 1.5 pixels beyond the edge of the
/// kernel at the top scale.
pub fn window_radius(kernel_size: usize, top_scale: f64) -> f64 {
    ((kernel_size / 2) as f64 + 1.5) / top_scale
}

/// A basis function before normalisation: [`hermite_gaussian`] times the radial window
/// `cos^2(pi u / (2 u_max))` for `u = sqrt(x^2 + y^2) / sigma < u_max`, 0 beyond. Then
/// `basis_function(n, m, a sigma, u_max, a x, a y) a^2 = basis_function(n, m, sigma, u_max, x, y)`.
pub fn basis_function(n: usize, m: usize, sigma: f64, u_max: f64, x: f64, y: f64) -> f64 {
    let u = (x * x + y * y).sqrt() / sigma;
    if u >= u_max {
        return 0.0;
    }
    let w = (std::f64::consts::FRAC_PI_2 * u / u_max).cos();
    hermite_gaussian(n, m, sigma, x, y) * w * w
}

/// The orders `(n, m)` (x, y) of the first `num_funcs` basis functions: by total degree
/// `n + m`, then by `m`: `(0,0), (1,0), (0,1), (2,0), (1,1), (0,2), ..`.
pub fn basis_orders(num_funcs: usize) -> Vec<(usize, usize)> {
    (0usize..)
        .flat_map(|d| (0..=d).map(move |m| (d - m, m)))
        .take(num_funcs)
        .collect()
}

/// The degree count `D` with `num_funcs = D (D + 1) / 2`, if there is one.
fn whole_degrees(num_funcs: usize) -> Option<usize> {
    (1..=num_funcs).find(|d| d * (d + 1) / 2 == num_funcs)
}

/// The steerable basis `(num_funcs, S, k, k)` of the module docs: entry `[f, s, i, j]` is
/// [`basis_function`] of orders `basis_orders(num_funcs)[f]` at `sigma_s` with the
/// [`window_radius`], at `x = j - k/2`, `y = i - k/2`, divided by the L2 norm of function `f`
/// at scale 0 (f64 math, then `dtype`). A config error (field `kernel_size`, `scales` or
/// `num_funcs`) for an even `k`, scales that are not positive and increasing, a `num_funcs`
/// that is not `D (D + 1) / 2`, or a function that vanishes at the smallest scale.
pub fn hermite_basis(
    kernel_size: usize,
    scales: &[f64],
    num_funcs: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    check_basis(kernel_size, scales, num_funcs)?;
    let (k, ns) = (kernel_size, scales.len());
    let c = (k / 2) as f64;
    let u_max = window_radius(k, scales[ns - 1]);
    let per_func = ns * k * k;
    let mut v = vec![0.0; num_funcs * per_func];
    for (f, &(n, m)) in basis_orders(num_funcs).iter().enumerate() {
        let vf = &mut v[f * per_func..(f + 1) * per_func];
        for (s, &sigma) in scales.iter().enumerate() {
            for i in 0..k {
                for j in 0..k {
                    let (x, y) = (j as f64 - c, i as f64 - c);
                    vf[(s * k + i) * k + j] = basis_function(n, m, sigma, u_max, x, y);
                }
            }
        }
        let norm0 = vf[..k * k].iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm0 < 1e-12 {
            return Err(ModelError::Config {
                field: "num_funcs",
                reason: format!(
                    "function ({n}, {m}) vanishes on the {k}x{k} grid at the smallest scale {}; \
                     use fewer functions or a larger kernel_size",
                    scales[0]
                ),
            });
        }
        vf.iter_mut().for_each(|x| *x /= norm0);
    }
    Ok(Tensor::from_vec(v, (num_funcs, ns, k, k), device)?.to_dtype(dtype)?)
}

fn check_basis(kernel_size: usize, scales: &[f64], num_funcs: usize) -> Result<()> {
    let err = |field: &'static str, reason: String| Err(ModelError::Config { field, reason });
    if kernel_size.is_multiple_of(2) {
        return err("kernel_size", format!("must be odd (got {kernel_size})"));
    }
    let increasing = scales.windows(2).all(|w| w[0] < w[1]);
    if scales.is_empty() || !increasing || !scales.iter().all(|s| s.is_finite() && *s > 0.0) {
        return err(
            "scales",
            format!("need at least one, positive, finite and increasing (got {scales:?})"),
        );
    }
    if whole_degrees(num_funcs).is_none() {
        return err(
            "num_funcs",
            format!("must be D (D + 1) / 2: 1, 3, 6, 10, 15, .. (got {num_funcs})"),
        );
    }
    Ok(())
}

/// `N(0, 2 / (fan_channels E))`, `E = mean_s sum_f ||basis[f, s]||^2` (see the module docs).
fn effective_init(fan_channels: usize, basis: &Tensor) -> Result<Init> {
    let s = basis.dim(1)? as f64;
    let energy = basis
        .to_dtype(DType::F64)?
        .sqr()?
        .sum_all()?
        .to_scalar::<f64>()?
        / s;
    Ok(Init::Randn {
        mean: 0.0,
        stdev: (2.0 / (fan_channels.max(1) as f64 * energy)).sqrt(),
    })
}

/// `w (rows, F) @ basis (F, S k k)` -> `(rows, S, k, k)`.
fn expand(w: &Tensor, basis: &Tensor) -> candle_core::Result<Tensor> {
    let (f, s, k, _) = basis.dims4()?;
    let rows = w.elem_count() / f;
    w.reshape((rows, f))?
        .matmul(&basis.reshape((f, s * k * k))?)?
        .reshape((rows, s, k, k))
}

/// `conv2d(x, kernel)` with stride 1 and padding `k / 2`, through [`noether_ops::conv2d`]
/// (GEMM forward and backward on the CPU).
fn conv_same(x: &Tensor, kernel: &Tensor) -> candle_core::Result<Tensor> {
    let k = kernel.dim(3)?;
    noether_ops::conv2d(x, kernel, k / 2, 1)
}

/// The lifting layer `Z^2 -> H` (see the module docs).
#[derive(Debug, Clone)]
pub struct SesLift {
    weight: Tensor,
    basis: Tensor,
}

impl SesLift {
    /// A lifting layer `in_ch -> out_ch` on `basis (F, S, k, k)` ([`hermite_basis`]), with
    /// `weight (out_ch, in_ch, F)` under `vb`.
    pub fn new(in_ch: usize, out_ch: usize, basis: &Tensor, vb: VarBuilder) -> Result<SesLift> {
        let f = basis.dims4()?.0;
        let weight =
            vb.get_with_hints((out_ch, in_ch, f), "weight", effective_init(in_ch, basis)?)?;
        Ok(SesLift {
            weight,
            basis: basis.to_device(vb.device())?.to_dtype(vb.dtype())?,
        })
    }

    /// The kernels of all scales stacked for one convolution: `(out S, in, k, k)`, row
    /// `o S + s` the kernel of output channel `o` at scale `s`.
    pub fn kernels(&self) -> candle_core::Result<Tensor> {
        let (out, inp, _) = self.weight.dims3()?;
        let (_, s, k, _) = self.basis.dims4()?;
        expand(&self.weight, &self.basis)? // (out in, S, k, k)
            .reshape((out, inp, s, k, k))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((out * s, inp, k, k))
    }
}

impl Module for SesLift {
    /// `(B, in, H, W) -> (B, out, S, H, W)`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (out, inp, _) = self.weight.dims3()?;
        let s = self.basis.dim(1)?;
        let (b, c, _, _) = x.dims4()?;
        if c != inp {
            candle_core::bail!("SesLift: input {:?}, expected (B, {inp}, H, W)", x.dims());
        }
        let y = conv_same(x, &self.kernels()?)?;
        let (_, _, h, w) = y.dims4()?;
        y.reshape((b, out, s, h, w))
    }
}

/// The scale-to-scale layer `H -> H` with `J` interscale taps (see the module docs).
#[derive(Debug, Clone)]
pub struct SesConv {
    weight: Tensor,
    basis: Tensor,
}

impl SesConv {
    /// A layer `in_ch -> out_ch` with `scale_size = J >= 1` taps on `basis (F, S, k, k)`, with
    /// `weight (out_ch, in_ch, J, F)` under `vb`.
    pub fn new(
        in_ch: usize,
        out_ch: usize,
        scale_size: usize,
        basis: &Tensor,
        vb: VarBuilder,
    ) -> Result<SesConv> {
        let f = basis.dims4()?.0;
        if scale_size == 0 {
            return Err(ModelError::Config {
                field: "scale_size",
                reason: "must be positive".into(),
            });
        }
        let init = effective_init(in_ch * scale_size, basis)?;
        let weight = vb.get_with_hints((out_ch, in_ch, scale_size, f), "weight", init)?;
        Ok(SesConv {
            weight,
            basis: basis.to_device(vb.device())?.to_dtype(vb.dtype())?,
        })
    }

    /// The kernels `(out, in, J, S, k, k)`: `[o, c, j, s]` weighs input scale `s + j` for output
    /// scale `s`.
    pub fn kernels(&self) -> candle_core::Result<Tensor> {
        let (out, inp, j, _) = self.weight.dims4()?;
        let (_, s, k, _) = self.basis.dims4()?;
        expand(&self.weight, &self.basis)?.reshape((out, inp, j, s, k, k))
    }
}

impl Module for SesConv {
    /// `(B, in, S, H, W) -> (B, out, S, H, W)`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (out, inp, taps, _) = self.weight.dims4()?;
        let (_, ns, k, _) = self.basis.dims4()?;
        let (b, c, s, h, w) = x.dims5()?;
        if c != inp || s != ns {
            candle_core::bail!(
                "SesConv: input {:?}, expected (B, {inp}, {ns}, H, W)",
                x.dims()
            );
        }
        let kernels = self.kernels()?;
        let x = if taps > 1 {
            x.pad_with_zeros(2, 0, taps - 1)?
        } else {
            x.clone()
        };
        let outs = (0..ns)
            .map(|s| {
                let window = x.narrow(2, s, taps)?.reshape((b, c * taps, h, w))?;
                let kernel = kernels.narrow(3, s, 1)?.reshape((out, inp * taps, k, k))?;
                conv_same(&window, &kernel)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Tensor::stack(&outs, 2)
    }
}

/// Settings of a [`Sesn`]; only `widths` is required when deserialising.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SesnConfig {
    /// Input channels (default 3; 1 for digits).
    #[serde(default = "three")]
    pub in_channels: usize,
    /// Channels per scale of each block (one block per entry).
    pub widths: Vec<usize>,
    /// Side of the square kernels, odd (default 7).
    #[serde(default = "seven")]
    pub kernel_size: usize,
    /// The basis scales `sigma_s`, increasing (default `0.9 * 1.41^s`, `s = 0, 1, 2`).
    #[serde(default = "default_scales")]
    pub scales: Vec<f64>,
    /// Interscale taps `J` of the [`SesConv`] blocks, `1..=S` (default 1).
    #[serde(default = "one")]
    pub scale_size: usize,
    /// Basis functions per kernel, `D (D + 1) / 2` (default 6: Hermite degrees `< 3`).
    #[serde(default = "six")]
    pub num_funcs: usize,
}

fn one() -> usize {
    1
}

fn three() -> usize {
    3
}

fn six() -> usize {
    6
}

fn seven() -> usize {
    7
}

fn default_scales() -> Vec<f64> {
    geometric_scales(0.9, DEFAULT_RATIO, 3)
}

impl SesnConfig {
    /// The defaults: 7x7 kernels, scales `0.9 * 1.41^s` (`S = 3`), one interscale tap, 6 basis
    /// functions.
    pub fn new(in_channels: usize, widths: Vec<usize>) -> SesnConfig {
        SesnConfig {
            in_channels,
            widths,
            kernel_size: 7,
            scales: default_scales(),
            scale_size: 1,
            num_funcs: 6,
        }
    }

    /// Checks the sizes; the error names the field.
    pub fn validate(&self) -> Result<()> {
        check_block_widths(self.in_channels, &self.widths)?;
        check_basis(self.kernel_size, &self.scales, self.num_funcs)?;
        if self.scale_size == 0 || self.scale_size > self.scales.len() {
            return Err(ModelError::Config {
                field: "scale_size",
                reason: format!(
                    "must be in 1..={} (the number of scales), got {}",
                    self.scales.len(),
                    self.scale_size
                ),
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Conv {
    Lift(SesLift),
    Scale(SesConv),
}

/// The SESN backbone of the module docs.
#[derive(Debug, Clone)]
pub struct Sesn {
    config: SesnConfig,
    blocks: Vec<(Conv, GroupBatchNorm)>,
}

impl Sesn {
    /// Builds the network under `vb`; an invalid config is an error.
    pub fn new(config: &SesnConfig, vb: VarBuilder) -> Result<Sesn> {
        config.validate()?;
        let basis = hermite_basis(
            config.kernel_size,
            &config.scales,
            config.num_funcs,
            vb.dtype(),
            vb.device(),
        )?;
        let mut c_in = config.in_channels;
        let mut blocks = Vec::with_capacity(config.widths.len());
        for (i, &width) in config.widths.iter().enumerate() {
            let vb = vb.pp("features").pp(i);
            let conv = if i == 0 {
                Conv::Lift(SesLift::new(c_in, width, &basis, vb.pp("conv"))?)
            } else {
                Conv::Scale(SesConv::new(
                    c_in,
                    width,
                    config.scale_size,
                    &basis,
                    vb.pp("conv"),
                )?)
            };
            let bn = GroupBatchNorm::new(width, BatchNormConfig::default(), vb.pp("bn"))?;
            blocks.push((conv, bn));
            c_in = width;
        }
        Ok(Sesn {
            config: config.clone(),
            blocks,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SesnConfig {
        &self.config
    }

    /// The lifted map `(B, C, S, H', W')`, `C = widths.last()`, `H' = H / 2^(blocks - 1)`
    /// (rounded down at each pool).
    pub fn fibers_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        check_images("Sesn", xs, self.config.in_channels)?;
        let last = self.blocks.len() - 1;
        let mut h = xs.clone();
        for (i, (conv, bn)) in self.blocks.iter().enumerate() {
            let y = match conv {
                Conv::Lift(c) => c.forward(&h)?,
                Conv::Scale(c) => c.forward(&h)?,
            };
            h = noether_ops::relu(&bn.forward_t(&y, train)?)?;
            if i < last {
                let (b, c, s, hh, ww) = h.dims5()?;
                if hh < 2 || ww < 2 {
                    candle_core::bail!(
                        "Sesn block {i}: a {hh}x{ww} map is too small for the 2x2 max-pool \
                         (input {:?}); use fewer blocks or a larger input",
                        xs.dims()
                    );
                }
                let p = noether_ops::max_pool2d(&h.reshape((b, c * s, hh, ww))?, 2)?;
                let (_, _, ph, pw) = p.dims4()?;
                h = p.reshape((b, c, s, ph, pw))?;
            }
        }
        Ok(h)
    }
}

/// A map with a scale axis, `(B, C, H, W) -> (B, C', S, H', W')`: what
/// [`scale_equivariance_error`] measures. A [`Sesn`], or any closure `Fn(&Tensor, bool)` (the
/// flag is `train`), e.g. a plain CNN's output reshaped into pseudo-scales, for a baseline.
pub trait ScaleMap {
    /// The lifted map `(B, C', S, H', W')`.
    fn scale_map_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor>;
}

impl ScaleMap for Sesn {
    fn scale_map_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.fibers_t(xs, train)
    }
}

impl<F: Fn(&Tensor, bool) -> candle_core::Result<Tensor>> ScaleMap for F {
    fn scale_map_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self(xs, train)
    }
}

impl FiberBackbone for Sesn {
    /// The lifted map's spatial maximum ([`scale_pooled_fibers`]).
    fn pooled_fibers_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        scale_pooled_fibers(&self.fibers_t(xs, train)?)
    }

    fn fiber_dim(&self) -> usize {
        self.config.widths.last().copied().unwrap_or(0)
    }

    /// [`GroupAction::Scale`] on square images, with the ratio of the first two basis scales
    /// ([`DEFAULT_RATIO`] for a single scale).
    fn action(
        &self,
        height: usize,
        width: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<GroupAction> {
        let side = square_side(height, width, "scale action")?;
        let s = &self.config.scales;
        let ratio = if s.len() > 1 {
            s[1] / s[0]
        } else {
            DEFAULT_RATIO
        };
        Ok(GroupAction::Scale(ScaleAction::new(
            ratio,
            s.len(),
            side,
            dtype,
            device,
        )?))
    }
}

impl ModuleT for Sesn {
    /// The invariant features of [`Backbone::features_t`].
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        Backbone::features_t(self, xs, train)
    }
}

impl Backbone for Sesn {
    /// [`scale_pooled_fibers`] (spatial max), then the max over scales: `(B, C)`, approximately
    /// invariant to rescaling the content within the range of the scales.
    fn features_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.pooled_fibers_t(xs, train)?.max(2)
    }

    fn feature_dim(&self) -> usize {
        self.fiber_dim()
    }
}

/// `(B, C, S, H, W) -> (B, C, S)`: the maximum over space. A shrunk input shrinks the maps (and
/// shifts the scale axis); their spatial max stays, their mean drops by the area ratio.
pub fn scale_pooled_fibers(map: &Tensor) -> candle_core::Result<Tensor> {
    let _ = map.dims5()?;
    map.max(4)?.max(3)
}

/// The default pre-blur of a [`ScaleAction`]: the pixel blur `sigma_0` assumed of the images.
pub const DEFAULT_BLUR: f64 = 0.5;

/// The action of the scale semigroup on square images: element `t` shrinks the content by
/// `a^t` about the image centre `c = (size - 1) / 2`. Output pixel `p` samples the input at
/// `c + a^t (p - c)` bilinearly (0 outside), after a Gaussian blur of standard deviation
/// `blur sqrt(a^(2t) - 1)` pixels (zero padding): an image with pixel blur `blur` keeps that
/// blur in the new pixels, so the bilinear resampling does not alias. One `(size^2, size^2)`
/// matrix per element `t > 0` (f64, then `dtype`), applied as a matmul.
#[derive(Debug, Clone)]
pub struct ScaleAction {
    ratio: f64,
    size: usize,
    blur: f64,
    /// `M^T (size^2, size^2)` per element; `None` for the identity.
    matrices: Vec<Option<Tensor>>,
}

/// The 1-D Gaussian kernel of `sigma` (normalised, truncated at `4 sigma`), as `(offset, w)`.
fn gaussian_taps(sigma: f64) -> Vec<(isize, f64)> {
    if sigma <= 0.0 {
        return vec![(0, 1.0)];
    }
    let r = (4.0 * sigma).ceil() as isize;
    let taps: Vec<(isize, f64)> = (-r..=r)
        .map(|d| (d, (-((d * d) as f64) / (2.0 * sigma * sigma)).exp()))
        .collect();
    let z: f64 = taps.iter().map(|t| t.1).sum();
    taps.into_iter().map(|(d, w)| (d, w / z)).collect()
}

/// The `(n^2, n^2)` matrix `[out][in]` of blur-then-shrink by `factor` (see [`ScaleAction`]).
fn scale_matrix(n: usize, factor: f64, blur: f64) -> Vec<f64> {
    let c = (n as f64 - 1.0) / 2.0;
    let taps = gaussian_taps(blur * (factor * factor - 1.0).max(0.0).sqrt());
    let mut m = vec![0.0; n * n * n * n];
    let inside = |v: isize| v >= 0 && v < n as isize;
    for y in 0..n {
        for x in 0..n {
            let (xs, ys) = (c + factor * (x as f64 - c), c + factor * (y as f64 - c));
            let (x0, y0) = (xs.floor(), ys.floor());
            let (fx, fy) = (xs - x0, ys - y0);
            let row = &mut m[(y * n + x) * n * n..(y * n + x + 1) * n * n];
            for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
                for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
                    let (xi, yi) = (x0 as isize + dx, y0 as isize + dy);
                    if wx * wy == 0.0 || !inside(xi) || !inside(yi) {
                        continue;
                    }
                    // the blurred value at (yi, xi): separable taps, zero outside
                    for &(ty, gy) in &taps {
                        for &(tx, gx) in &taps {
                            let (u, v) = (xi + tx, yi + ty);
                            if inside(u) && inside(v) {
                                row[v as usize * n + u as usize] += wx * wy * gx * gy;
                            }
                        }
                    }
                }
            }
        }
    }
    m
}

impl ScaleAction {
    /// Elements `0..num_elements` of ratio `ratio > 1` on `size x size` images, with the
    /// [`DEFAULT_BLUR`] pre-blur.
    pub fn new(
        ratio: f64,
        num_elements: usize,
        size: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<ScaleAction> {
        ScaleAction::with_blur(ratio, num_elements, size, DEFAULT_BLUR, dtype, device)
    }

    /// As [`ScaleAction::new`] with pre-blur `blur >= 0` (0: plain bilinear resampling).
    pub fn with_blur(
        ratio: f64,
        num_elements: usize,
        size: usize,
        blur: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<ScaleAction> {
        let err = |field: &'static str, reason: String| Err(ModelError::Config { field, reason });
        if !(ratio.is_finite() && ratio > 1.0) {
            return err("ratio", format!("must be finite and > 1 (got {ratio})"));
        }
        if num_elements == 0 || size == 0 {
            return err(
                "num_elements",
                format!("need num_elements >= 1 and size >= 1 (got {num_elements}, {size})"),
            );
        }
        if !(blur.is_finite() && blur >= 0.0) {
            return err("blur", format!("must be finite and >= 0 (got {blur})"));
        }
        let mut matrices = vec![None];
        for t in 1..num_elements {
            let m = scale_matrix(size, ratio.powi(t as i32), blur);
            let m = Tensor::from_vec(m, (size * size, size * size), device)?.to_dtype(dtype)?;
            matrices.push(Some(m.t()?.contiguous()?));
        }
        Ok(ScaleAction {
            ratio,
            size,
            blur,
            matrices,
        })
    }

    /// The ratio `a` between consecutive elements.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The number of elements.
    pub fn num_elements(&self) -> usize {
        self.matrices.len()
    }

    /// The side of the images it acts on.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The pre-blur `sigma_0`.
    pub fn blur(&self) -> f64 {
        self.blur
    }

    /// Every image of `x (.., size, size)` (any leading axes: image batches or lifted maps)
    /// shrunk by element `t`.
    pub fn scale_all(&self, x: &Tensor, t: usize) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let r = dims.len();
        if r < 2 || dims[r - 2] != self.size || dims[r - 1] != self.size {
            candle_core::bail!(
                "ScaleAction: shape {dims:?}, the action was built for {0}x{0} images",
                self.size
            );
        }
        match self.matrices.get(t) {
            None => candle_core::bail!(
                "ScaleAction: element {t} of {} elements",
                self.matrices.len()
            ),
            Some(None) => Ok(x.clone()),
            Some(Some(mt)) => {
                let n = self.size * self.size;
                x.reshape((x.elem_count() / n, n))?
                    .matmul(mt)?
                    .reshape(dims)
            }
        }
    }

    /// Image `i` of `x (B, C, size, size)` shrunk by element `elements[i]`.
    pub fn scale(&self, x: &Tensor, elements: &[usize]) -> candle_core::Result<Tensor> {
        let b = x.dim(0)?;
        if elements.len() != b {
            candle_core::bail!(
                "ScaleAction: {} elements for a batch of {b}",
                elements.len()
            );
        }
        let mut used = elements.to_vec();
        used.sort_unstable();
        used.dedup();
        if used.len() == 1 {
            return self.scale_all(x, used[0]);
        }
        let moved = used
            .iter()
            .map(|&t| self.scale_all(x, t))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let all = Tensor::cat(&moved, 0)?; // (|used| B, C, H, W)
        let ix: Vec<u32> = elements
            .iter()
            .enumerate()
            .map(|(i, t)| (used.binary_search(t).unwrap_or(0) * b + i) as u32)
            .collect();
        all.index_select(&Tensor::new(ix.as_slice(), x.device())?, 0)
    }
}

/// `|| P f(T_t x)[:, :, s] - P f(x)[:, :, s + t] || / || P f(x)[:, :, s + t] ||` over the scales
/// `s < S - t`, in eval mode, `P` the spatial max of [`scale_pooled_fibers`] and `T_t` element
/// `t` of `action`: 0 for an exact scale homomorphism. An error when `t >= S`.
pub fn scale_equivariance_error<M: ScaleMap + ?Sized>(
    net: &M,
    action: &ScaleAction,
    x: &Tensor,
    t: usize,
) -> candle_core::Result<f64> {
    let base = scale_pooled_fibers(&net.scale_map_t(x, false)?)?;
    let moved = scale_pooled_fibers(&net.scale_map_t(&action.scale_all(x, t)?, false)?)?;
    let s = base.dim(2)?;
    if t >= s {
        candle_core::bail!("scale_equivariance_error: shift {t} of {s} scales");
    }
    let expect = base.narrow(2, t, s - t)?;
    let got = moved.narrow(2, 0, s - t)?;
    let sq = |v: Tensor| -> candle_core::Result<f64> {
        v.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()
    };
    let (num, den) = (sq((got - &expect)?)?, sq(expect)?);
    Ok((num / den.max(f64::MIN_POSITIVE)).sqrt())
}
