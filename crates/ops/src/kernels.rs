//! Shared pieces of the fused CPU kernels: the float trait they are generic over, access to a
//! custom op's raw input slices and its input checks, the row-parallel driver, and the
//! weight-and-bias plumbing of the two norm ops.
//!
//! Every kernel writes its output through [`blocks_mut`] (or [`rows_mut`], [`map`], [`zip_map`]
//! on top of it) and reduces through [`map_ranges`]: serial below [`PAR_MIN`] elements (tiny
//! tensors do not pay for rayon), otherwise parallel over blocks of whole rows whose size depends
//! on the shape only. Partial results are combined in block order, so results are bitwise the
//! same whatever the thread count.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, WithDType, bail};
use gemm::Parallelism;
use rayon::prelude::*;

/// Tensors with fewer elements than this run serially.
pub(crate) const PAR_MIN: usize = 32 * 1024;

/// Elements per rayon task (a block of whole rows at least this large, when rows are short).
const GRAIN: usize = 8 * 1024;

/// The element types of the fused path (`f32`, `f64`).
pub(crate) trait Float: num_traits::Float + WithDType + Send + Sync {
    /// The error function (libm, as candle's own `erf`).
    fn erf(self) -> Self;

    /// `e^self`, branch-free for `f32` so that loops over it vectorise (libm for `f64`).
    fn fast_exp(self) -> Self;

    /// `v` converted to `Self`.
    fn cast(v: f64) -> Self {
        <Self as WithDType>::from_f64(v)
    }

    /// `self` converted to `f64`.
    fn wide(self) -> f64 {
        <Self as WithDType>::to_f64(self)
    }
}

impl Float for f32 {
    /// Cephes' `expf`: `x = k ln 2 + r` with `|r| <= ln 2 / 2` (Cody-Waite split of `ln 2`), a
    /// degree-5 polynomial for `e^r`, `2^k` from the exponent bits; below `-87.3` the result is
    /// 0 and above `88.7` it is clamped there (max relative error 2e-7 against libm on
    /// `[-87, 88]`, tested). Branch-free, so loops over it vectorise.
    #[inline]
    fn fast_exp(self) -> Self {
        let x = self.clamp(-87.336_55, 88.722_83);
        // round to nearest by the 1.5 * 2^23 trick: `round` is a libm call on baseline x86-64
        const SHIFTER: f32 = 12_582_912.0;
        let k = (x * std::f32::consts::LOG2_E + SHIFTER) - SHIFTER;
        let r = x - k * 0.693_359_4 + k * 2.121_944_4e-4;
        let mut p = 1.987_569_1e-4_f32;
        p = p * r + 1.398_199_9e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 0.166_666_66;
        p = p * r + 0.5;
        let e = p * r * r + r + 1.0;
        let bits = ((k as i32 + 127).max(0) as u32) << 23;
        let y = e * f32::from_bits(bits);
        if self < -87.336_55 { 0.0 } else { y }
    }

    /// A branch-free rational approximation (Eigen's `generic_fast_erf_float`: odd degree-13
    /// numerator over even degree-8 denominator, input clamped to `[-4, 4]`), max absolute error
    /// 4.2e-7 against the exact erf (a few ulp; libm's `erff` is exact to an ulp but scalar, and
    /// was 5% of a ViT step). The loops over it vectorise.
    #[inline]
    fn erf(self) -> Self {
        let x = self.clamp(-4.0, 4.0);
        let x2 = x * x;
        let mut p = -2.726_142_3e-10_f32;
        p = p * x2 + 2.770_681_4e-8;
        p = p * x2 - 2.101_024e-6;
        p = p * x2 - 5.692_506_4e-5;
        p = p * x2 - 7.349_906_3e-4;
        p = p * x2 - 2.954_6e-3;
        p = p * x2 - 1.609_603_3e-2;
        let mut q = -1.456_607_2e-5_f32;
        q = q * x2 - 2.133_740_6e-4;
        q = q * x2 - 1.682_827e-3;
        q = q * x2 - 7.373_329e-3;
        q = q * x2 - 1.426_474e-2;
        x * p / q
    }
}

impl Float for f64 {
    fn erf(self) -> Self {
        candle_core::cpu::erf::erf_f64(self)
    }

    fn fast_exp(self) -> Self {
        self.exp()
    }
}

/// Runs `$body` with `$t` bound to the element type of `$dtype` (`f32` or `f64`); any other
/// dtype is an error naming `$op`.
macro_rules! with_float {
    ($dtype:expr, $op:expr, $t:ident => $body:expr) => {
        match $dtype {
            candle_core::DType::F32 => {
                type $t = f32;
                $body
            }
            candle_core::DType::F64 => {
                type $t = f64;
                $body
            }
            dt => candle_core::bail!("{}: unsupported dtype {dt:?} (f32 or f64 only)", $op),
        }
    };
}
pub(crate) use with_float;

/// Runs `$body` with `$t` bound to the element type of the first input (as [`with_float!`]) and
/// each `$x` bound to the contiguous `&[$t]` of its input `($s, $l)` (see [`slice`]); errors name
/// `$op`. A macro because the body is generic over `$t`, which a closure cannot be.
macro_rules! with_float_slices {
    (
        $op:expr, $t:ident;
        $x0:ident = ($s0:expr, $l0:expr) $(, $x:ident = ($s:expr, $l:expr))*
        => $body:expr
    ) => {
        $crate::kernels::with_float!($crate::kernels::dtype($s0), $op, $t => {
            let $x0 = $crate::kernels::slice::<$t>($s0, $l0, $op)?;
            $(let $x = $crate::kernels::slice::<$t>($s, $l, $op)?;)*
            $body
        })
    };
}
pub(crate) use with_float_slices;

/// The contiguous element slice of a custom op's input (the dispatchers make inputs contiguous;
/// a strided layout here is an error, not a silent misread).
pub(crate) fn slice<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<&'a [T]> {
    let data = storage.as_slice::<T>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!(
            "{op}: input must be contiguous, got strides {:?}",
            layout.stride()
        ),
    }
}

/// The dtype of a custom op's input.
pub(crate) fn dtype(storage: &CpuStorage) -> DType {
    storage.dtype()
}

/// A custom op's result: `data` with `shape`.
pub(crate) fn output<T: WithDType>(data: Vec<T>, shape: impl Into<Shape>) -> (CpuStorage, Shape) {
    (T::to_cpu_storage_owned(data), shape.into())
}

/// Checks that the inputs `a` and `b` of a binary op (named `a_name` and `b_name` in the error)
/// have the same shape.
pub(crate) fn check_same_shape(
    op: &str,
    (a_name, a): (&str, &Layout),
    (b_name, b): (&str, &Layout),
) -> Result<()> {
    if a.shape() != b.shape() {
        bail!(
            "{op}: {a_name} {:?} and {b_name} {:?} differ",
            a.shape(),
            b.shape()
        );
    }
    Ok(())
}

/// The size of the last dimension (an error for a rank-0 input).
pub(crate) fn last_dim(l: &Layout, op: &str) -> Result<usize> {
    match l.dims().last() {
        Some(&d) => Ok(d),
        None => bail!("{op}: needs rank ≥ 1, got a scalar"),
    }
}

/// Calls `f(first_row, block)` on consecutive blocks of whole rows of `dst` (rows of `d`
/// elements, the last one possibly shorter) and collects the results in order: one block for a
/// small `dst`, else blocks of about [`GRAIN`] elements in parallel. The blocks depend only on
/// the shape, so reductions over the results are independent of the thread count.
pub(crate) fn blocks_mut<U, R, F>(dst: &mut [U], d: usize, f: F) -> Vec<R>
where
    U: Send,
    R: Send,
    F: Fn(usize, &mut [U]) -> R + Sync,
{
    if d == 0 || dst.is_empty() {
        return Vec::new();
    }
    if dst.len() < PAR_MIN {
        return vec![f(0, dst)];
    }
    let rows_per_task = GRAIN.div_ceil(d).max(1);
    dst.par_chunks_mut(rows_per_task * d)
        .enumerate()
        .map(|(task, block)| f(task * rows_per_task, block))
        .collect()
}

/// Calls `f(r, row)` for every row `r` of `dst` (rows of `d` elements, the last one possibly
/// shorter), serially for small `dst`, else in parallel over blocks of whole rows.
pub(crate) fn rows_mut<U, F>(dst: &mut [U], d: usize, f: F)
where
    U: Send,
    F: Fn(usize, &mut [U]) + Sync,
{
    blocks_mut(dst, d, |first, block| {
        for (i, row) in block.chunks_mut(d).enumerate() {
            f(first + i, row)
        }
    });
}

/// A new vector of `len` elements (rows of `d`) whose every row `r` is written by `f(r, row)`,
/// through [`rows_mut`].
pub(crate) fn fill_rows<T, F>(len: usize, d: usize, f: F) -> Vec<T>
where
    T: Float,
    F: Fn(usize, &mut [T]) + Sync,
{
    let mut out = vec![T::zero(); len];
    rows_mut(&mut out, d, f);
    out
}

/// `f` applied to every element of `x`.
pub(crate) fn map<T: Float, F: Fn(T) -> T + Sync>(x: &[T], f: F) -> Vec<T> {
    fill_rows(x.len(), GRAIN, |r, chunk| {
        let src = &x[r * GRAIN..r * GRAIN + chunk.len()];
        for (o, &v) in chunk.iter_mut().zip(src) {
            *o = f(v);
        }
    })
}

/// `f` applied to every pair of elements of `a` and `b` (of equal length).
pub(crate) fn zip_map<T: Float, F: Fn(T, T) -> T + Sync>(a: &[T], b: &[T], f: F) -> Vec<T> {
    fill_rows(a.len().min(b.len()), GRAIN, |r, chunk| {
        let start = r * GRAIN;
        let (sa, sb) = (
            &a[start..start + chunk.len()],
            &b[start..start + chunk.len()],
        );
        for ((o, &u), &v) in chunk.iter_mut().zip(sa).zip(sb) {
            *o = f(u, v);
        }
    })
}

/// `f(start, end)` for consecutive ranges covering `0..n`, each about [`GRAIN`] elements of
/// `len_per_item` each, collected in order (parallel when `n * len_per_item` is large). Used for
/// reductions: summing the per-range results in order makes them independent of the thread
/// count.
pub(crate) fn map_ranges<R, F>(n: usize, len_per_item: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize, usize) -> R + Sync,
{
    let per = GRAIN.div_ceil(len_per_item.max(1)).max(1);
    let starts: Vec<usize> = (0..n).step_by(per).collect();
    let run = |&s: &usize| f(s, (s + per).min(n));
    if n * len_per_item < PAR_MIN {
        starts.iter().map(run).collect()
    } else {
        starts.par_iter().map(run).collect()
    }
}

/// Checks that `t` is a vector of `n` elements (a per-feature or per-channel parameter).
pub(crate) fn check_vector(t: &Tensor, n: usize, what: &str) -> Result<()> {
    if t.dims() != [n] {
        bail!("{what}: expected shape ({n},), got {:?}", t.dims());
    }
    Ok(())
}

/// Applies the norm op `op` to contiguous `x` with its per-feature `weight` and `bias`, each
/// checked to be `(n,)` and made contiguous; a missing one is passed as ones / zeros in `x`'s
/// dtype. Errors name `what` (`"layer_norm"`, `"batch_norm"`).
pub(crate) fn apply_affine<C: 'static + CustomOp3 + Send + Sync>(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    n: usize,
    what: &str,
    op: C,
) -> Result<Tensor> {
    let param = |p: Option<&Tensor>, fill: f64, name: &str| -> Result<Tensor> {
        match p {
            Some(p) => {
                check_vector(p, n, &format!("{what} {name}"))?;
                p.contiguous()
            }
            None => Tensor::full(fill, n, x.device())?.to_dtype(x.dtype()),
        }
    };
    let w = param(weight, 1.0, "weight")?;
    let b = param(bias, 0.0, "bias")?;
    x.apply_op3(&w, &b, op)
}

/// Splits the flat `[dx | dw | db]` that a norm op's backward returns into `dx` (the shape of
/// `x`) and, where the op was given a weight / bias, `dw` / `db` (the length of `w`).
pub(crate) fn split_affine_grads(
    packed: &Tensor,
    x: &Tensor,
    w: &Tensor,
    has_weight: bool,
    has_bias: bool,
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let (n, d) = (x.elem_count(), w.elem_count());
    let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
    let dw = has_weight.then(|| packed.narrow(0, n, d)).transpose()?;
    let db = has_bias.then(|| packed.narrow(0, n + d, d)).transpose()?;
    Ok((Some(dx), dw, db))
}

/// `dst (m x n, row-major, contiguous) = a b` (or `+=` with `accumulate`), `a` an `m x k` and
/// `b` a `k x n` matrix given by their slices and `(row, column)` strides.
///
/// The workspace denies `unsafe`; this is its one exception in noether-ops: `gemm::gemm` takes
/// raw pointers and strides, and the asserts of [`matmul_scaled`] keep every access inside the
/// slices.
pub(crate) fn matmul<T: Float>(
    mnk: (usize, usize, usize),
    dst: &mut [T],
    accumulate: bool,
    a: (&[T], usize, usize),
    b: (&[T], usize, usize),
    par: Parallelism,
) {
    matmul_scaled(mnk, dst, accumulate, a, b, T::one(), par)
}

/// The rayon pool's threads for one GEMM (a large lone product; several small ones run in
/// parallel with [`Parallelism::None`] each).
pub(crate) fn pool() -> Parallelism {
    Parallelism::Rayon(rayon::current_num_threads())
}

/// [`matmul`] with the product scaled: `dst = scale a b` (or `+=`).
#[allow(unsafe_code, clippy::too_many_arguments)]
pub(crate) fn matmul_scaled<T: Float>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    accumulate: bool,
    (a, a_rs, a_cs): (&[T], usize, usize),
    (b, b_rs, b_cs): (&[T], usize, usize),
    scale: T,
    par: Parallelism,
) {
    // The bounds that make the raw-pointer call below sound.
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(m > 0 && n > 0 && k > 0, "matmul: empty operand");
    assert!(dst.len() >= m * n, "matmul: dst too short");
    assert!(last(m, k, a_rs, a_cs) < a.len(), "matmul: lhs too short");
    assert!(last(k, n, b_rs, b_cs) < b.len(), "matmul: rhs too short");
    // SAFETY: every index the GEMM reads or writes is inside its slice (checked above); `dst`
    // is a unique borrow that neither input aliases.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            T::one(),
            scale,
            false,
            false,
            false,
            par,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Float;

    /// The f32 erf against libm's f64 erf on a fine grid over `[-6, 6]`: absolute error below
    /// 5e-7 (measured 4.2e-7), odd, 1 within 2e-7 in the tails.
    #[test]
    fn fast_f32_erf_is_accurate() {
        let mut worst = 0f64;
        for i in -60_000..=60_000 {
            let x = i as f32 * 1e-4;
            let exact = candle_core::cpu::erf::erf_f64(x as f64);
            worst = worst.max((Float::erf(x) as f64 - exact).abs());
        }
        assert!(worst < 5e-7, "max error {worst}");
        assert!((Float::erf(10f32) - 1.0).abs() < 2e-7);
        for x in [0.3f32, 1.7, 10.0] {
            assert_eq!(Float::erf(-x), -Float::erf(x), "odd at {x}");
        }
        assert_eq!(Float::erf(0f32), 0.0);
    }

    #[test]
    fn fast_exp_matches_libm() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 175.0 * i as f32 / 200_000.0;
            let exact = (x as f64).exp();
            worst = worst.max(((Float::fast_exp(x) as f64) - exact).abs() / exact);
        }
        assert!(worst < 5e-7, "max relative error {worst}");
        assert_eq!(Float::fast_exp(-1e4f32), 0.0);
        assert_eq!(Float::fast_exp(0f32), 1.0);
    }
}
