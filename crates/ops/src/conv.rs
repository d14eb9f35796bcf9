//! 2-D convolution (cross-correlation, as `torch.nn.functional.conv2d` and candle's `conv2d`)
//! whose forward, input gradient and weight gradient are all GEMMs on the `gemm` crate that
//! candle's own CPU matmul uses.
//!
//! With `x` of shape `(N, C, H, W)`, `w` of shape `(O, C, KH, KW)`, stride `s` and zero padding
//! `p`, the output is `(N, O, OH, OW)`, `OH = (H + 2p - KH) / s + 1`. Write `K = C KH KW` and
//! `P = OH OW`, and `col(x_n)` for the `(K, P)` im2col matrix of sample `n` (row `(c, i, j)`,
//! column `(oh, ow)` holds `x_n[c, oh s + i - p, ow s + j - p]`, 0 in the padding). Then
//!
//! - forward: `y_n = W col(x_n)`, `W` the `(O, K)` view of `w`;
//! - input gradient: `dx_n = col2im(Wᵀ dy_n)`, `col2im` the adjoint of im2col (a scatter-add);
//! - weight gradient: `dW = Σ_n dy_n col(x_n)ᵀ`.
//!
//! candle 0.11's CPU `conv2d` backward runs a direct `conv_transpose2d` loop for the input
//! gradient (one dot product per output pixel and tap) and builds the weight gradient from a
//! second convolution; this module replaces both.
//!
//! ## Tiles and threads
//!
//! Samples are taken in tiles of `m` consecutive samples, `m` the smallest count whose tile has
//! at least [`TILE_COLS`] output pixels (1 at 32x32, 32 at 4x4), so that the GEMMs of late,
//! small feature maps are not skinny. Tiles run in parallel with single-threaded GEMMs; a lone
//! tile runs its GEMM on the rayon pool instead. The weight gradient sums tiles inside a fixed
//! number of chunks (a function of the shape only) and then the chunks in order, so, as
//! everywhere in this crate, results do not depend on the thread count. The im2col matrix is
//! rebuilt in the backward pass rather than kept from the forward one: it would be `K / C`
//! times the input's size (9x for 3x3 kernels) for every convolution of the network.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, bail};
use gemm::Parallelism;
use rayon::prelude::*;

use crate::kernels::{self, Float, matmul, with_float_slices};
use crate::{reference, use_fused};

/// The least number of output pixels (GEMM columns) in one tile of samples.
const TILE_COLS: usize = 512;

/// The most elements of all the weight-gradient partial sums together (16 MiB of `f32`).
const PARTIAL_BUDGET: usize = 4 << 20;

/// The most partial sums of the weight gradient.
const MAX_CHUNKS: usize = 16;

/// Convolution of `x` `(N, C, H, W)` with `w` `(O, C, KH, KW)`: stride `stride` in both
/// directions, `padding` zeros on every side, no dilation, one group, no bias. The result is
/// `(N, O, OH, OW)` with `OH = (H + 2 padding - KH) / stride + 1`.
///
/// On the CPU with `f32` / `f64` data (and the fast path on, see [`set_fast`](crate::set_fast))
/// it is a custom op whose forward and both gradients are GEMMs (see the module docs); elsewhere
/// it is candle's `Tensor::conv2d` ([`reference::conv2d`]). Errors name the mismatched shape.
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// let x = Var::new(&[[[[1f32, 2., 3.], [4., 5., 6.], [7., 8., 9.]]]], &Device::Cpu)?;
/// let w = Var::new(&[[[[1f32, 0.], [0., -1.]]]], &Device::Cpu)?;
/// let y = noether_ops::conv2d(x.as_tensor(), w.as_tensor(), 0, 1)?; // (1, 1, 2, 2)
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [-4., -4., -4., -4.]);
/// let grads = y.sum_all()?.backward()?;
/// assert_eq!(grads.get(&w).expect("dw").flatten_all()?.to_vec1::<f32>()?, [12., 16., 24., 28.]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn conv2d(x: &Tensor, w: &Tensor, padding: usize, stride: usize) -> Result<Tensor> {
    Geometry::new(x.dims(), w.dims(), padding, stride)?;
    if !use_fused(x) || x.dtype() != w.dtype() || !w.device().same_device(x.device()) {
        return reference::conv2d(x, w, padding, stride);
    }
    x.contiguous()?
        .apply_op2(&w.contiguous()?, Conv2d { padding, stride })
}

/// The shapes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
    oh: usize,
    ow: usize,
}

impl Geometry {
    /// Checks the shapes of `x` and `w` and derives the output size.
    fn new(x: &[usize], w: &[usize], padding: usize, stride: usize) -> Result<Geometry> {
        let (&[n, c, h, wd], &[o, c2, kh, kw]) = (x, w) else {
            bail!("conv2d: x must be (N, C, H, W) and w (O, C, KH, KW), got {x:?} and {w:?}");
        };
        if c != c2 {
            bail!("conv2d: x has {c} channels but w expects {c2} (x {x:?}, w {w:?})");
        }
        if stride == 0 {
            bail!("conv2d: stride must be >= 1");
        }
        if [n, c, h, wd, o, kh, kw].contains(&0) {
            bail!("conv2d: empty tensor (x {x:?}, w {w:?})");
        }
        if h + 2 * padding < kh || wd + 2 * padding < kw {
            bail!(
                "conv2d: the {kh}x{kw} kernel is larger than the padded {h}x{wd} input \
                 (padding {padding})"
            );
        }
        Ok(Geometry {
            n,
            c,
            h,
            w: wd,
            o,
            kh,
            kw,
            stride,
            padding,
            oh: (h + 2 * padding - kh) / stride + 1,
            ow: (wd + 2 * padding - kw) / stride + 1,
        })
    }

    /// Rows of the im2col matrix, `C KH KW`.
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Output pixels per sample, `OH OW`.
    fn p(&self) -> usize {
        self.oh * self.ow
    }

    /// Input elements per sample.
    fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Output elements per sample.
    fn out_len(&self) -> usize {
        self.o * self.p()
    }

    /// Samples per tile.
    fn tile(&self) -> usize {
        TILE_COLS.div_ceil(self.p()).clamp(1, self.n)
    }

    /// The output shape.
    fn out_shape(&self) -> Shape {
        Shape::from((self.n, self.o, self.oh, self.ow))
    }

    /// A 1x1 kernel, stride 1, no padding: the im2col matrix of a sample is the sample itself.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.padding == 0
    }

    /// The output columns `ow` whose input column `ow s + j - p` lies inside the image, as a
    /// range `lo..hi`.
    fn valid_cols(&self, j: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.padding);
        let lo = if j >= p { 0 } else { (p - j).div_ceil(s) }.min(self.ow);
        let hi = if self.w + p > j {
            (self.w + p - j).div_ceil(s)
        } else {
            0
        }
        .clamp(lo, self.ow);
        (lo, hi)
    }

    /// The input row of output row `oh` at kernel row `i`, if inside the image.
    fn in_row(&self, oh: usize, i: usize) -> Option<usize> {
        (oh * self.stride + i)
            .checked_sub(self.padding)
            .filter(|&r| r < self.h)
    }

    /// The `(K, m P)` im2col matrix of the `m` samples `xs`: `xs` itself for one sample under a
    /// pointwise kernel, else written into (the front of) `buf`.
    fn col_matrix<'a, T: Float>(&self, xs: &'a [T], buf: &'a mut [T]) -> &'a [T] {
        let m = xs.len() / self.in_len();
        if m == 1 && self.pointwise() {
            return xs;
        }
        let col = &mut buf[..self.k() * m * self.p()];
        self.im2col(xs, col);
        col
    }

    /// `m` samples of `(O, P)` (`dys`, sample-major) as one `(O, m P)` matrix: `dys` itself for
    /// one sample, else gathered into (the front of) `buf`.
    fn out_matrix<'a, T: Float>(&self, dys: &'a [T], buf: &'a mut [T]) -> &'a [T] {
        let m = dys.len() / self.out_len();
        if m == 1 {
            return dys;
        }
        let wide = &mut buf[..self.o * m * self.p()];
        gather(self, dys, wide);
        wide
    }

    /// Writes the im2col matrix of the samples `xs` (`m` samples of `C H W`) into `col`, a
    /// `(K, m P)` row-major matrix: sample `t`'s pixels are columns `t P .. (t + 1) P`.
    fn im2col<T: Float>(&self, xs: &[T], col: &mut [T]) {
        let (p, m) = (self.p(), xs.len() / self.in_len());
        let cols = m * p;
        for (t, x) in xs.chunks_exact(self.in_len()).enumerate() {
            for (r, row) in col.chunks_exact_mut(cols).enumerate() {
                let (c, i, j) = (r / (self.kh * self.kw), r / self.kw % self.kh, r % self.kw);
                let (lo, hi) = self.valid_cols(j);
                let plane = &x[c * self.h * self.w..(c + 1) * self.h * self.w];
                let dst = &mut row[t * p..(t + 1) * p];
                for (oh, d) in dst.chunks_exact_mut(self.ow).enumerate() {
                    let Some(ih) = self.in_row(oh, i) else {
                        d.fill(T::zero());
                        continue;
                    };
                    let src = &plane[ih * self.w..(ih + 1) * self.w];
                    d[..lo].fill(T::zero());
                    d[hi..].fill(T::zero());
                    if lo == hi {
                        continue;
                    }
                    let first = lo * self.stride + j - self.padding;
                    if self.stride == 1 {
                        d[lo..hi].copy_from_slice(&src[first..first + hi - lo]);
                    } else {
                        for (k, v) in d[lo..hi].iter_mut().enumerate() {
                            *v = src[first + k * self.stride];
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of [`Geometry::im2col`]: adds every entry of `col` (`(K, m P)`) into the input
    /// position it was read from; `dxs` (`m` samples of `C H W`) is overwritten.
    fn col2im<T: Float>(&self, col: &[T], dxs: &mut [T]) {
        let (p, m) = (self.p(), dxs.len() / self.in_len());
        let cols = m * p;
        dxs.fill(T::zero());
        for (t, dx) in dxs.chunks_exact_mut(self.in_len()).enumerate() {
            for (r, row) in col.chunks_exact(cols).enumerate() {
                let (c, i, j) = (r / (self.kh * self.kw), r / self.kw % self.kh, r % self.kw);
                let (lo, hi) = self.valid_cols(j);
                let plane = &mut dx[c * self.h * self.w..(c + 1) * self.h * self.w];
                let src = &row[t * p..(t + 1) * p];
                for (oh, s) in src.chunks_exact(self.ow).enumerate() {
                    let Some(ih) = self.in_row(oh, i) else {
                        continue;
                    };
                    if lo == hi {
                        continue;
                    }
                    let d = &mut plane[ih * self.w..(ih + 1) * self.w];
                    let first = lo * self.stride + j - self.padding;
                    for (k, &v) in s[lo..hi].iter().enumerate() {
                        d[first + k * self.stride] += v;
                    }
                }
            }
        }
    }
}

/// The GEMM parallelism inside a tile: none when tiles run in parallel, the rayon pool for a
/// lone tile.
fn inner_par(parallel_tiles: bool) -> Parallelism {
    if parallel_tiles {
        Parallelism::None
    } else {
        kernels::pool()
    }
}

/// Runs `f(tile_index, chunk)` over consecutive chunks of `chunk_len` elements of `dst`, with a
/// per-task scratch buffer of `scratch` elements; in parallel when there are several chunks.
fn for_tiles<T: Float>(
    dst: &mut [T],
    chunk_len: usize,
    scratch: usize,
    f: impl Fn(usize, &mut [T], &mut Vec<T>, Parallelism) + Sync,
) {
    if dst.len() > chunk_len {
        dst.par_chunks_mut(chunk_len).enumerate().for_each_init(
            || vec![T::zero(); scratch],
            |buf, (i, d)| f(i, d, buf, inner_par(true)),
        );
    } else {
        let mut buf = vec![T::zero(); scratch];
        f(0, dst, &mut buf, inner_par(false));
    }
}

/// Gathers `m` samples of `(O, P)` (`samples`, sample-major) into one `(O, m P)` matrix.
fn gather<T: Float>(g: &Geometry, samples: &[T], wide: &mut [T]) {
    let (p, cols) = (g.p(), wide.len() / g.o);
    for (t, sample) in samples.chunks_exact(g.out_len()).enumerate() {
        for (o, row) in sample.chunks_exact(p).enumerate() {
            wide[o * cols + t * p..o * cols + (t + 1) * p].copy_from_slice(row);
        }
    }
}

/// The inverse of [`gather`]: splits an `(O, m P)` matrix into `m` samples of `(O, P)`.
fn scatter<T: Float>(g: &Geometry, wide: &[T], samples: &mut [T]) {
    let (p, cols) = (g.p(), wide.len() / g.o);
    for (t, sample) in samples.chunks_exact_mut(g.out_len()).enumerate() {
        for (o, row) in sample.chunks_exact_mut(p).enumerate() {
            row.copy_from_slice(&wide[o * cols + t * p..o * cols + (t + 1) * p]);
        }
    }
}

/// `y = conv(x, w)`: per tile, im2col and one `(O, K) x (K, m P)` GEMM.
fn forward<T: Float>(g: &Geometry, x: &[T], w: &[T]) -> Vec<T> {
    let (k, p, m) = (g.k(), g.p(), g.tile());
    let mut y = vec![T::zero(); g.n * g.out_len()];
    let direct = m == 1;
    let scratch = if direct && g.pointwise() {
        0
    } else {
        k * m * p + if direct { 0 } else { g.o * m * p }
    };
    for_tiles(&mut y, m * g.out_len(), scratch, |tile, ys, buf, par| {
        let mt = ys.len() / g.out_len();
        let xs = &x[tile * m * g.in_len()..(tile * m + mt) * g.in_len()];
        let cols = mt * p;
        let (col, wide) = buf.split_at_mut(if direct && g.pointwise() { 0 } else { k * cols });
        let col = g.col_matrix(xs, col);
        if direct {
            matmul((g.o, cols, k), ys, false, (w, k, 1), (col, cols, 1), par);
        } else {
            let wide = &mut wide[..g.o * cols];
            matmul((g.o, cols, k), wide, false, (w, k, 1), (col, cols, 1), par);
            scatter(g, wide, ys);
        }
    });
    y
}

/// `dx = col2im(Wᵀ dy)`: per tile, one `(K, O) x (O, m P)` GEMM and a scatter-add.
fn backward_input<T: Float>(g: &Geometry, w: &[T], dy: &[T]) -> Vec<T> {
    let (k, p, m) = (g.k(), g.p(), g.tile());
    let mut dx = vec![T::zero(); g.n * g.in_len()];
    let direct = m == 1 && g.pointwise();
    let scratch = if direct { 0 } else { k * m * p + g.o * m * p };
    for_tiles(&mut dx, m * g.in_len(), scratch, |tile, dxs, buf, par| {
        let mt = dxs.len() / g.in_len();
        let cols = mt * p;
        let dys = &dy[tile * m * g.out_len()..(tile * m + mt) * g.out_len()];
        if direct {
            // dx_n = Wᵀ dy_n, written in place.
            matmul((k, cols, g.o), dxs, false, (w, 1, k), (dys, cols, 1), par);
            return;
        }
        let (dcol, wide) = buf.split_at_mut(k * cols);
        let dy_mat = g.out_matrix(dys, wide);
        let dcol = &mut dcol[..k * cols];
        matmul(
            (k, cols, g.o),
            dcol,
            false,
            (w, 1, k),
            (dy_mat, cols, 1),
            par,
        );
        g.col2im(dcol, dxs);
    });
    dx
}

/// `dW = Σ_n dy_n col(x_n)ᵀ`: tiles summed inside a fixed number of chunks, then the chunks in
/// order.
fn backward_weight<T: Float>(g: &Geometry, x: &[T], dy: &[T]) -> Vec<T> {
    let (k, p, m) = (g.k(), g.p(), g.tile());
    let wlen = g.o * k;
    let tiles = g.n.div_ceil(m);
    let chunks = tiles.min(MAX_CHUNKS).min((PARTIAL_BUDGET / wlen).max(2));
    let per_chunk = tiles.div_ceil(chunks);
    let chunks = tiles.div_ceil(per_chunk);
    let parallel = chunks > 1;
    let run = |chunk: usize| -> Vec<T> {
        let mut dw = vec![T::zero(); wlen];
        let mut col = vec![T::zero(); k * m * p];
        let mut wide = vec![T::zero(); if m == 1 { 0 } else { g.o * m * p }];
        let par = inner_par(parallel);
        let last = (chunk * per_chunk + per_chunk).min(tiles);
        for (i, tile) in (chunk * per_chunk..last).enumerate() {
            let (s0, s1) = (tile * m, (tile * m + m).min(g.n));
            let cols = (s1 - s0) * p;
            let xs = &x[s0 * g.in_len()..s1 * g.in_len()];
            let dys = &dy[s0 * g.out_len()..s1 * g.out_len()];
            let col = g.col_matrix(xs, &mut col);
            let dy_mat = g.out_matrix(dys, &mut wide);
            // dW (O, K) += dy (O, cols) colᵀ (cols, K).
            matmul(
                (g.o, k, cols),
                &mut dw,
                i > 0,
                (dy_mat, cols, 1),
                (col, 1, cols),
                par,
            );
        }
        dw
    };
    let mut partials: Vec<Vec<T>> = if parallel {
        (0..chunks).into_par_iter().map(run).collect()
    } else {
        vec![run(0)]
    };
    let mut dw = partials.remove(0);
    for part in partials {
        for (a, b) in dw.iter_mut().zip(part) {
            *a += b;
        }
    }
    dw
}

/// The forward custom op, `(x, w) -> y`.
#[derive(Debug, Clone, Copy)]
struct Conv2d {
    padding: usize,
    stride: usize,
}

impl Conv2d {
    fn geometry(&self, x: &Layout, w: &Layout) -> Result<Geometry> {
        Geometry::new(x.dims(), w.dims(), self.padding, self.stride)
    }
}

impl CustomOp2 for Conv2d {
    fn name(&self) -> &'static str {
        "noether-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geometry(l1, l2)?;
        with_float_slices!(self.name(), T; x = (s1, l1), w = (s2, l2) => {
            Ok(kernels::output(forward(&g, x, w), g.out_shape()))
        })
    }

    /// `dx` and `dw` by two GEMM custom ops (not themselves differentiable).
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = Geometry::new(x.dims(), w.dims(), self.padding, self.stride)?;
        let dy = dy.contiguous()?;
        let dx = w.apply_op2_no_bwd(&dy, &ConvGrad { g, of: Wrt::Input })?;
        let dw = x.apply_op2_no_bwd(&dy, &ConvGrad { g, of: Wrt::Weight })?;
        Ok((Some(dx), Some(dw)))
    }
}

/// Which gradient a [`ConvGrad`] computes.
#[derive(Debug, Clone, Copy)]
enum Wrt {
    /// `(w, dy) -> dx`.
    Input,
    /// `(x, dy) -> dw`.
    Weight,
}

/// A gradient of [`Conv2d`].
#[derive(Debug, Clone, Copy)]
struct ConvGrad {
    g: Geometry,
    of: Wrt,
}

impl CustomOp2 for ConvGrad {
    fn name(&self) -> &'static str {
        match self.of {
            Wrt::Input => "noether-conv2d-grad-input",
            Wrt::Weight => "noether-conv2d-grad-weight",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.g;
        if l2.shape() != &g.out_shape() {
            bail!(
                "{}: grad {:?}, expected {:?}",
                self.name(),
                l2.dims(),
                g.out_shape()
            );
        }
        with_float_slices!(self.name(), T; a = (s1, l1), dy = (s2, l2) => {
            Ok(match self.of {
                Wrt::Input => kernels::output(
                    backward_input(g, a, dy),
                    (g.n, g.c, g.h, g.w),
                ),
                Wrt::Weight => kernels::output(
                    backward_weight(g, a, dy),
                    (g.o, g.c, g.kh, g.kw),
                ),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(x: [usize; 4], o: usize, k: usize, padding: usize, stride: usize) -> Geometry {
        Geometry::new(&x, &[o, x[1], k, k], padding, stride).expect("geometry")
    }

    /// im2col and col2im are adjoint: `<col(x), c> = <x, col2im(c)>`.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for (x, k, p, s) in [
            ([2, 3, 7, 6], 3, 1, 1),
            ([3, 2, 9, 9], 3, 0, 2),
            ([2, 1, 5, 8], 1, 0, 2),
            ([1, 2, 6, 6], 4, 2, 3),
            ([2, 2, 2, 2], 7, 3, 1),
        ] {
            let g = geometry(x, 4, k, p, s);
            let xs: Vec<f64> = (0..g.n * g.in_len())
                .map(|i| (i as f64 * 0.7).sin())
                .collect();
            let cs: Vec<f64> = (0..g.k() * g.n * g.p())
                .map(|i| (i as f64 * 0.3).cos())
                .collect();
            let mut col = vec![0.0; cs.len()];
            g.im2col(&xs, &mut col);
            let mut back = vec![0.0; xs.len()];
            g.col2im(&cs, &mut back);
            let lhs: f64 = col.iter().zip(&cs).map(|(a, b)| a * b).sum();
            let rhs: f64 = xs.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0),
                "{x:?} k{k}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn tiles_cover_small_maps() {
        assert_eq!(geometry([64, 3, 32, 32], 8, 3, 1, 1).tile(), 1);
        assert_eq!(geometry([64, 3, 4, 4], 8, 3, 1, 1).tile(), 32);
        assert_eq!(geometry([5, 3, 4, 4], 8, 3, 1, 1).tile(), 5);
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(Geometry::new(&[1, 3, 8, 8], &[4, 2, 3, 3], 1, 1).is_err());
        assert!(Geometry::new(&[1, 3, 8], &[4, 3, 3, 3], 1, 1).is_err());
        assert!(Geometry::new(&[1, 3, 2, 2], &[4, 3, 5, 5], 0, 1).is_err());
        assert!(Geometry::new(&[1, 3, 8, 8], &[4, 3, 3, 3], 1, 0).is_err());
    }
}
