//! Group convolutions for the cyclic rotation group `C_N` in the regular representation: Cohen &
//! Welling, "Group Equivariant Convolutional Networks" (arXiv 1602.07576), eqs. 10-11, with
//! interpolated filter rotations for `N != 4` as in Weiler, Hamprecht & Storath (arXiv 1711.07289)
//! and Bekkers et al. (arXiv 1804.04656). Homomorphic SSL (`papers/hssl.md`) reads fibers along
//! the group axis of such a network.
//!
//! **Convention.** Rotation `r` of `C_N` is the angle `theta_r = 2 pi r / N`, counter-clockwise as
//! seen on screen (x to the right, y down), the direction of `torch.rot90(x, 1, [-2, -1])`, of
//! [`rot90`] and of `noether-augment`'s `geometry::rot90`. `rotate_r(f)` moves the content of `f`
//! about the centre of its grid: `rotate_r(f)(p) = f(R_r^-1 p)`. Feature maps of the group layers
//! are `(B, C, N, H, W)`: axis 2 is the group axis.
//!
//! - [`LiftingConv`] (eq. 10): `out[o, r] = x * rotate_r(w[o])` (a correlation, as `conv2d`).
//! - [`GroupConv`] (eq. 11): the filter of output rotation `r` is
//!   `psi_r[o, c, s] = rotate_r(w[o, c, (s - r) mod N])`, the input group axis cyclically shifted.
//!
//! Both satisfy `f(rotate_g x) = rotate_g(roll(f(x), g, axis 2))` (the group axis shifted so that
//! `out'[r] = out[r - g]`), exactly when `rotate_g` is a multiple of a quarter turn and the map is
//! rotation-symmetric (odd-size input with `padding = kernel_size / 2`, stride 1; with a stride,
//! `(H + 2 padding - kernel_size)` divisible by it).
//!
//! **Filter rotation.** For `N = 4` filters are rotated by [`rot90`] (transpose + flip, exact). For
//! other `N`, by bilinear interpolation on the `k x k` kernel grid about its centre, samples that
//! fall outside the grid taken as 0: one `(k^2, k^2)` matrix per rotation, precomputed, applied as
//! a matmul to the flattened filters (so gradients flow). Sample positions within `1e-9` of a grid
//! point are snapped to it, so a rotation by a multiple of 90 degrees is an exact permutation (the
//! same as [`rot90`]): for `N` divisible by 4, equivariance to quarter turns (group shift `N / 4`)
//! is exact. Other angles are approximate: interpolation blurs the filter and the corners of the
//! grid lose mass.
//!
//! Weights: [`LiftingConv`] `weight (out, in, k, k)`, [`GroupConv`] `weight (out, in, N, k, k)`,
//! both with an optional `bias (out,)` shared over the group axis (needed for equivariance);
//! He-normal initialisation (`std = sqrt(2 / fan_in)`, `fan_in = in k^2` resp. `in N k^2`), zero
//! bias. [`GroupBatchNorm`] normalises each channel over batch, group axis and space
//! (torchvision names).
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use noether_models::gconv::{GConvConfig, LiftingConv, rot90};
//! use noether_models::ParamStore;
//! let store = ParamStore::seeded(0);
//! let vb = store.var_builder(DType::F64, &Device::Cpu);
//! let lift = LiftingConv::new(&GConvConfig::new(1, 2, 3, 4), vb)?;
//! let x = Tensor::arange(0f64, 25.0, &Device::Cpu)?.sin()?.reshape((1, 1, 5, 5))?;
//! let y = lift.forward(&x)?; // (1, 2, 4, 5, 5)
//! // rotating the input rotates the maps and shifts the group axis by one
//! let y_rot = lift.forward(&rot90(&x, 1)?)?;
//! let expect = rot90(&y.roll(1, 2)?, 1)?;
//! assert!((y_rot - expect)?.abs()?.max_all()?.to_scalar::<f64>()? < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::layers::require_positive;
use crate::norm::{BatchNorm, BatchNormConfig};

/// Rotates the last two axes of `x` by `k` quarter turns counter-clockwise on screen (y down), as
/// `torch.rot90(x, k, [-2, -1])`: for `k = 1`, `out[.., y, x] = in[.., x, W - 1 - y]`. `(.., H, W)
/// -> (.., W, H)` for odd `k`. Built from transpose and `index_select` flips, so it has a backward.
pub fn rot90(x: &Tensor, k: i64) -> candle_core::Result<Tensor> {
    let r = x.rank();
    if r < 2 {
        candle_core::bail!(
            "rot90: tensor of shape {:?} has no two spatial axes",
            x.dims()
        );
    }
    let (h, w) = (r - 2, r - 1);
    // `flip` is an `index_select`, which needs contiguous input
    match k.rem_euclid(4) {
        0 => Ok(x.clone()),
        1 => x.transpose(h, w)?.contiguous()?.flip(&[h]),
        2 => x.contiguous()?.flip(&[h, w]),
        _ => x.transpose(h, w)?.contiguous()?.flip(&[w]),
    }
}

/// The bilinear interpolation matrix `M` (`k^2 x k^2`, row-major `[out_pixel][in_pixel]`) rotating
/// a `k x k` filter by `angle` radians counter-clockwise on screen about the grid centre:
/// `rotated = M f` for a flattened filter `f`. Samples outside the grid are 0; positions within
/// `1e-9` of a grid point are snapped, so quarter turns give the permutation of [`rot90`].
pub fn filter_rotation_matrix(k: usize, angle: f64) -> Vec<f64> {
    let c = (k as f64 - 1.0) / 2.0;
    let (s, co) = angle.sin_cos();
    let snap = |z: f64| {
        let r = z.round();
        if (z - r).abs() < 1e-9 { r } else { z }
    };
    let mut m = vec![0.0; k * k * k * k];
    for y in 0..k {
        for x in 0..k {
            let (u, v) = (x as f64 - c, y as f64 - c);
            // source of output pixel (u, v): R^-1 (u, v); on screen (y down) a counter-clockwise
            // turn by theta sends (u, v) to (cos u + sin v, -sin u + cos v), so its inverse is:
            let xs = snap(c + co * u - s * v);
            let ys = snap(c + s * u + co * v);
            let (x0, y0) = (xs.floor(), ys.floor());
            let (fx, fy) = (xs - x0, ys - y0);
            let row = (y * k + x) * k * k;
            for (dy, wy) in [(0.0, 1.0 - fy), (1.0, fy)] {
                for (dx, wx) in [(0.0, 1.0 - fx), (1.0, fx)] {
                    let (xi, yi) = (x0 + dx, y0 + dy);
                    let wgt = wx * wy;
                    if wgt != 0.0 && xi >= 0.0 && yi >= 0.0 && xi < k as f64 && yi < k as f64 {
                        m[row + yi as usize * k + xi as usize] += wgt;
                    }
                }
            }
        }
    }
    m
}

/// Settings of a [`LiftingConv`] or a [`GroupConv`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GConvConfig {
    /// Input channels (per group element for a [`GroupConv`]).
    pub in_ch: usize,
    /// Output channels (per group element).
    pub out_ch: usize,
    /// Side of the square kernel.
    pub kernel_size: usize,
    /// Order `N` of the rotation group `C_N`.
    pub n: usize,
    /// Zero padding on every side (`kernel_size / 2` keeps the size).
    pub padding: usize,
    /// Stride (1 for exact equivariance on any odd-size input).
    pub stride: usize,
    /// A bias per output channel, shared over the group axis.
    pub bias: bool,
}

impl GConvConfig {
    /// A stride-1, size-preserving (`padding = kernel_size / 2`) layer with bias.
    pub fn new(in_ch: usize, out_ch: usize, kernel_size: usize, n: usize) -> GConvConfig {
        GConvConfig {
            in_ch,
            out_ch,
            kernel_size,
            n,
            padding: kernel_size / 2,
            stride: 1,
            bias: true,
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn check(&self) -> Result<()> {
        require_positive(&[
            ("in_ch", self.in_ch),
            ("out_ch", self.out_ch),
            ("kernel_size", self.kernel_size),
            ("n", self.n),
            ("stride", self.stride),
        ])
    }
}

/// How filters are rotated: exactly by quarter turns, or by precomputed interpolation matrices.
#[derive(Debug, Clone)]
enum Rotator {
    QuarterTurns,
    /// `(N k^2, k^2)`: the stacked matrices of the `N` rotations.
    Matrices(Tensor),
}

impl Rotator {
    fn new(n: usize, k: usize, dtype: DType, device: &Device) -> candle_core::Result<Rotator> {
        if n == 4 {
            return Ok(Rotator::QuarterTurns);
        }
        let kk = k * k;
        let mut all = Vec::with_capacity(n * kk * kk);
        for r in 0..n {
            let angle = std::f64::consts::TAU * r as f64 / n as f64;
            all.extend(filter_rotation_matrix(k, angle));
        }
        Ok(Rotator::Matrices(
            Tensor::from_vec(all, (n * kk, kk), device)?.to_dtype(dtype)?,
        ))
    }

    /// Filters `(P, k, k)` -> every rotation `(P, N, k, k)`, `[:, r] = rotate_r`.
    fn rotations(&self, w: &Tensor, n: usize) -> candle_core::Result<Tensor> {
        let (p, k, _) = w.dims3()?;
        match self {
            Rotator::QuarterTurns => {
                let rs = (0..n as i64)
                    .map(|r| rot90(w, r))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::stack(&rs, 1)
            }
            Rotator::Matrices(m) => w
                .reshape((p, k * k))?
                .matmul(&m.t()?)?
                .reshape((p, n, k, k)),
        }
    }
}

fn he_init(fan_in: usize) -> Init {
    Init::Randn {
        mean: 0.0,
        stdev: (2.0 / fan_in.max(1) as f64).sqrt(),
    }
}

fn conv_output(
    x: &Tensor,
    filters: &Tensor,
    bias: Option<&Tensor>,
    cfg: &GConvConfig,
) -> candle_core::Result<Tensor> {
    let y = noether_ops::conv2d(x, filters, cfg.padding, cfg.stride)?; // (B, out N, H', W')
    let (b, _, h, w) = y.dims4()?;
    let y = y.reshape((b, cfg.out_ch, cfg.n, h, w))?;
    match bias {
        Some(bias) => y.broadcast_add(&bias.reshape((1, cfg.out_ch, 1, 1, 1))?),
        None => Ok(y),
    }
}

/// The lifting layer `Z^2 -> C_N x Z^2` (see the module docs).
#[derive(Debug, Clone)]
pub struct LiftingConv {
    weight: Tensor,
    bias: Option<Tensor>,
    rotator: Rotator,
    config: GConvConfig,
}

impl LiftingConv {
    /// A lifting convolution with `weight (out_ch, in_ch, k, k)` and `bias (out_ch,)` under `vb`.
    pub fn new(config: &GConvConfig, vb: VarBuilder) -> Result<LiftingConv> {
        config.check()?;
        let GConvConfig {
            in_ch,
            out_ch,
            kernel_size: k,
            n,
            ..
        } = *config;
        let weight = vb.get_with_hints((out_ch, in_ch, k, k), "weight", he_init(in_ch * k * k))?;
        let bias = if config.bias {
            Some(vb.get_with_hints(out_ch, "bias", Init::Const(0.0))?)
        } else {
            None
        };
        Ok(LiftingConv {
            weight,
            bias,
            rotator: Rotator::new(n, k, vb.dtype(), vb.device())?,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GConvConfig {
        &self.config
    }

    /// The `N` rotated filters stacked for one convolution: `(out N, in, k, k)`, row `o N + r`
    /// holding `rotate_r(w[o])`.
    pub fn filters(&self) -> candle_core::Result<Tensor> {
        let GConvConfig {
            in_ch,
            out_ch,
            kernel_size: k,
            n,
            ..
        } = self.config;
        let rot = self
            .rotator
            .rotations(&self.weight.reshape((out_ch * in_ch, k, k))?, n)?; // (out in, N, k, k)
        rot.reshape((out_ch, in_ch, n, k, k))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((out_ch * n, in_ch, k, k))
    }
}

impl Module for LiftingConv {
    /// `x (B, in_ch, H, W)` -> `(B, out_ch, N, H', W')`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, c, _, _) = x.dims4()?;
        if c != self.config.in_ch {
            candle_core::bail!(
                "lifting conv: input {:?}, expected (B, {}, H, W)",
                x.dims(),
                self.config.in_ch
            );
        }
        conv_output(x, &self.filters()?, self.bias.as_ref(), &self.config)
    }
}

/// The group-to-group layer `C_N x Z^2 -> C_N x Z^2` (see the module docs).
#[derive(Debug, Clone)]
pub struct GroupConv {
    weight: Tensor,
    bias: Option<Tensor>,
    rotator: Rotator,
    /// `index[r N + s] = ((s - r) mod N) N + r`: picks `rotate_r(w[.., (s - r) mod N])`.
    shift_index: Tensor,
    config: GConvConfig,
}

impl GroupConv {
    /// A group convolution with `weight (out_ch, in_ch, N, k, k)` and `bias (out_ch,)` under `vb`.
    pub fn new(config: &GConvConfig, vb: VarBuilder) -> Result<GroupConv> {
        config.check()?;
        let GConvConfig {
            in_ch,
            out_ch,
            kernel_size: k,
            n,
            ..
        } = *config;
        let weight = vb.get_with_hints(
            (out_ch, in_ch, n, k, k),
            "weight",
            he_init(in_ch * n * k * k),
        )?;
        let bias = if config.bias {
            Some(vb.get_with_hints(out_ch, "bias", Init::Const(0.0))?)
        } else {
            None
        };
        let index: Vec<u32> = (0..n)
            .flat_map(|r| (0..n).map(move |s| (((s + n - r) % n) * n + r) as u32))
            .collect();
        Ok(GroupConv {
            weight,
            bias,
            rotator: Rotator::new(n, k, vb.dtype(), vb.device())?,
            shift_index: Tensor::from_vec(index, n * n, vb.device())?,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GConvConfig {
        &self.config
    }

    /// The stacked filters for one convolution: `(out N, in N, k, k)`, entry
    /// `[o N + r, c N + s] = rotate_r(w[o, c, (s - r) mod N])`.
    pub fn filters(&self) -> candle_core::Result<Tensor> {
        let GConvConfig {
            in_ch,
            out_ch,
            kernel_size: k,
            n,
            ..
        } = self.config;
        // rot[o, c, s', r] = rotate_r(w[o, c, s'])
        let rot = self
            .rotator
            .rotations(&self.weight.reshape((out_ch * in_ch * n, k, k))?, n)?
            .reshape((out_ch, in_ch, n * n, k, k))?;
        // psi[o, c, r, s] = rot[o, c, (s - r) mod N, r]
        let psi = rot
            .index_select(&self.shift_index, 2)?
            .reshape((out_ch, in_ch, n, n, k, k))?;
        psi.permute((0, 2, 1, 3, 4, 5))?
            .contiguous()?
            .reshape((out_ch * n, in_ch * n, k, k))
    }
}

impl Module for GroupConv {
    /// `x (B, in_ch, N, H, W)` -> `(B, out_ch, N, H', W')`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, n, h, w) = x.dims5()?;
        if c != self.config.in_ch || n != self.config.n {
            candle_core::bail!(
                "group conv: input {:?}, expected (B, {}, {}, H, W)",
                x.dims(),
                self.config.in_ch,
                self.config.n
            );
        }
        let x = x.reshape((b, c * n, h, w))?;
        conv_output(&x, &self.filters()?, self.bias.as_ref(), &self.config)
    }
}

/// Pooling over the group axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupPool {
    /// The maximum over the `N` rotations.
    Max,
    /// The mean over the `N` rotations.
    Mean,
}

/// `x (B, C, N, H, W)` -> `(B, C, H, W)`, pooled over the group axis: rotation-invariant along the
/// group, so a rotated input gives the rotated map (and, pooled over space too, the same vector).
pub fn group_pool(x: &Tensor, pool: GroupPool) -> candle_core::Result<Tensor> {
    let _ = x.dims5()?;
    match pool {
        GroupPool::Max => x.max(2),
        GroupPool::Mean => x.mean(2),
    }
}

/// Batch norm for `(B, C, N, H, W)` group feature maps: one mean, variance, scale and shift per
/// channel `C`, shared over the group axis (which keeps equivariance); names as torchvision's
/// `BatchNorm2d` (`weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`).
#[derive(Debug, Clone)]
pub struct GroupBatchNorm {
    bn: BatchNorm,
}

impl GroupBatchNorm {
    /// A group batch norm over `channels` channels.
    pub fn new(channels: usize, config: BatchNormConfig, vb: VarBuilder) -> Result<GroupBatchNorm> {
        Ok(GroupBatchNorm {
            bn: BatchNorm::new(channels, config, vb)?,
        })
    }

    /// The underlying batch norm (running statistics).
    pub fn batch_norm(&self) -> &BatchNorm {
        &self.bn
    }
}

impl ModuleT for GroupBatchNorm {
    /// `(B, C, N, H, W) -> (B, C, N, H, W)`, statistics over `B`, `N`, `H`, `W`.
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let (b, c, n, h, w) = xs.dims5()?;
        let y = self.bn.forward_t(&xs.reshape((b, c, n * h, w))?, train)?;
        y.reshape((b, c, n, h, w))
    }
}
