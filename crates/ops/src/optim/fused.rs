//! The fused CPU machinery shared by the optimizers, gradient clipping and EMA: an in-place
//! candle op that hands a kernel the raw slices of a destination tensor (written in place) and a
//! source tensor (read), chunk-parallel drivers over several slices, and sums of squares.
//!
//! Element-wise updates do not depend on how the slices are chunked. Reductions are summed in
//! `f64` per chunk of [`CHUNK`] elements and the chunk sums are added in order, so every result is
//! bitwise the same whatever the thread count.

use std::cell::RefCell;

use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Result, Storage, Tensor, Var, bail};
use rayon::prelude::*;

use crate::kernels::Float;

/// Elements per rayon task; slices up to this length run serially.
pub(crate) const CHUNK: usize = 32 * 1024;

/// Whether `t` can take the fused path: a contiguous `f32`/`f64` tensor on the CPU.
pub(crate) fn fusable(t: &Tensor) -> bool {
    t.device().is_cpu()
        && matches!(t.dtype(), DType::F32 | DType::F64)
        && t.layout().is_contiguous()
}

/// Optimizer state of one tensor: a host vector on the fused path, a tensor otherwise.
#[derive(Debug, Clone)]
pub(crate) enum Buf {
    /// Host `f32` state (fused path, `f32` parameter).
    F32(Vec<f32>),
    /// Host `f64` state (fused path, `f64` parameter).
    F64(Vec<f64>),
    /// A tensor on the parameter's device with its dtype (composite path).
    Dev(Tensor),
}

/// The host vectors a [`Buf`] can hold, by element type.
pub(crate) trait HostElem: Float {
    /// The host vector of `b`, or an error when `b` holds another type.
    fn host(b: &mut Buf) -> Result<&mut Vec<Self>>;
}

impl HostElem for f32 {
    fn host(b: &mut Buf) -> Result<&mut Vec<f32>> {
        match b {
            Buf::F32(v) => Ok(v),
            _ => bail!("optimizer state: expected an f32 host buffer"),
        }
    }
}

impl HostElem for f64 {
    fn host(b: &mut Buf) -> Result<&mut Vec<f64>> {
        match b {
            Buf::F64(v) => Ok(v),
            _ => bail!("optimizer state: expected an f64 host buffer"),
        }
    }
}

impl Buf {
    /// Zeros shaped like `var`: a host vector when `fused`, a tensor otherwise.
    pub(crate) fn zeros_like(var: &Var, fused: bool) -> Result<Buf> {
        let n = var.elem_count();
        Ok(match (fused, var.dtype()) {
            (true, DType::F32) => Buf::F32(vec![0.0; n]),
            (true, DType::F64) => Buf::F64(vec![0.0; n]),
            _ => Buf::Dev(var.zeros_like()?),
        })
    }

    /// The state as a tensor shaped like `var`, on its device (a copy for host buffers).
    pub(crate) fn to_tensor(&self, var: &Var) -> Result<Tensor> {
        match self {
            Buf::F32(v) => Tensor::from_slice(v, var.shape(), var.device()),
            Buf::F64(v) => Tensor::from_slice(v, var.shape(), var.device()),
            Buf::Dev(t) => Ok(t.clone()),
        }
    }

    /// `t` as state for `var`: checked against its shape, converted to its dtype and device, and
    /// held on the host when `fused`. Conversions between the same dtypes are exact.
    pub(crate) fn from_tensor(t: &Tensor, var: &Var, fused: bool, name: &str) -> Result<Buf> {
        if t.dims() != var.dims() {
            bail!(
                "optimizer state `{name}`: shape {:?} does not match the variable's {:?}",
                t.dims(),
                var.dims()
            );
        }
        let t = t.to_dtype(var.dtype())?;
        Ok(match (fused, var.dtype()) {
            (true, DType::F32) => Buf::F32(t.flatten_all()?.to_vec1()?),
            (true, DType::F64) => Buf::F64(t.flatten_all()?.to_vec1()?),
            _ => Buf::Dev(t.to_device(var.device())?.contiguous()?),
        })
    }
}

/// A fused kernel over a destination slice (written in place) and a source slice (read).
pub(crate) trait SliceKernel {
    /// Runs over the two equally long slices.
    fn run<T: HostElem>(&mut self, dst: &mut [T], src: &[T]) -> Result<()>;
}

/// Adapter from a [`SliceKernel`] to candle's [`InplaceOp2`].
struct InPlace<K> {
    name: &'static str,
    kernel: RefCell<K>,
}

impl<K: SliceKernel> InplaceOp2 for InPlace<K> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (Some((a0, a1)), Some((b0, b1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            bail!("{}: operands must be contiguous", self.name)
        };
        if a1 - a0 != b1 - b0 {
            bail!(
                "{}: operands have {} and {} elements",
                self.name,
                a1 - a0,
                b1 - b0
            )
        }
        let mut k = self.kernel.borrow_mut();
        match (s1, s2) {
            (CpuStorage::F32(d), CpuStorage::F32(s)) => k.run(&mut d[a0..a1], &s[b0..b1]),
            (CpuStorage::F64(d), CpuStorage::F64(s)) => k.run(&mut d[a0..a1], &s[b0..b1]),
            _ => bail!("{}: operands must both be f32 or both be f64", self.name),
        }
    }
}

/// Runs `kernel` over the storage of `dst` (in place) and `src` (contiguous copy if needed), on
/// the CPU; returns the kernel (for what it computed). `dst` must be [`fusable`].
pub(crate) fn apply<K: SliceKernel>(
    name: &'static str,
    dst: &Tensor,
    src: &Tensor,
    kernel: K,
) -> Result<K> {
    if src.dtype() != dst.dtype() {
        bail!(
            "{name}: dtype {:?} does not match {:?}",
            src.dtype(),
            dst.dtype()
        )
    }
    if src.dims() != dst.dims() {
        bail!(
            "{name}: shape {:?} does not match {:?}",
            src.dims(),
            dst.dims()
        )
    }
    let src = src.contiguous()?;
    let op = InPlace {
        name,
        kernel: RefCell::new(kernel),
    };
    dst.inplace_op2(&src, &op)?;
    Ok(op.kernel.into_inner())
}

/// `f(dst, src)` over aligned chunks, in parallel above [`CHUNK`] elements.
pub(crate) fn zip2<T, F>(d: &mut [T], s: &[T], f: F)
where
    T: Send + Sync,
    F: Fn(&mut [T], &[T]) + Send + Sync,
{
    if d.len() <= CHUNK {
        f(d, s)
    } else {
        d.par_chunks_mut(CHUNK)
            .zip(s.par_chunks(CHUNK))
            .for_each(|(d, s)| f(d, s))
    }
}

/// `f(dst, src, a)` over aligned chunks, in parallel above [`CHUNK`] elements.
pub(crate) fn zip3<T, F>(d: &mut [T], s: &[T], a: &mut [T], f: F)
where
    T: Send + Sync,
    F: Fn(&mut [T], &[T], &mut [T]) + Send + Sync,
{
    if d.len() <= CHUNK {
        f(d, s, a)
    } else {
        d.par_chunks_mut(CHUNK)
            .zip(s.par_chunks(CHUNK))
            .zip(a.par_chunks_mut(CHUNK))
            .for_each(|((d, s), a)| f(d, s, a))
    }
}

/// `f(dst, src, a, b)` over aligned chunks, in parallel above [`CHUNK`] elements.
pub(crate) fn zip4<T, F>(d: &mut [T], s: &[T], a: &mut [T], b: &mut [T], f: F)
where
    T: Send + Sync,
    F: Fn(&mut [T], &[T], &mut [T], &mut [T]) + Send + Sync,
{
    if d.len() <= CHUNK {
        f(d, s, a, b)
    } else {
        d.par_chunks_mut(CHUNK)
            .zip(s.par_chunks(CHUNK))
            .zip(a.par_chunks_mut(CHUNK))
            .zip(b.par_chunks_mut(CHUNK))
            .for_each(|(((d, s), a), b)| f(d, s, a, b))
    }
}

/// Sums `f(chunk)` over chunks of [`CHUNK`] elements of `x` (and the aligned chunks of `y`), in
/// parallel, adding the chunk results in order.
pub(crate) fn chunk_sum<T, R, F>(x: &[T], y: &[T], f: F) -> R
where
    T: Sync,
    R: Send + Default + std::ops::Add<Output = R>,
    F: Fn(&[T], &[T]) -> R + Send + Sync,
{
    if x.len() <= CHUNK {
        f(x, y)
    } else {
        let parts: Vec<R> = x
            .par_chunks(CHUNK)
            .zip(y.par_chunks(CHUNK))
            .map(|(x, y)| f(x, y))
            .collect();
        parts.into_iter().fold(R::default(), |a, b| a + b)
    }
}

/// `Σ x²` of a slice, accumulated in `f64`.
pub(crate) fn sum_sq_slice<T: Float>(x: &[T]) -> f64 {
    chunk_sum(x, x, |x, _| {
        x.iter().map(|v| v.wide() * v.wide()).sum::<f64>()
    })
}

/// `Σ t²` over all elements, accumulated in `f64`: one pass over the raw slice for CPU
/// `f32`/`f64` tensors, candle ops otherwise.
pub(crate) fn sum_sq(t: &Tensor) -> Result<f64> {
    if fusable(t) {
        let (storage, layout) = t.storage_and_layout();
        if let (Storage::Cpu(cpu), Some((a, b))) = (&*storage, layout.contiguous_offsets()) {
            match cpu {
                CpuStorage::F32(v) => return Ok(sum_sq_slice(&v[a..b])),
                CpuStorage::F64(v) => return Ok(sum_sq_slice(&v[a..b])),
                _ => {}
            }
        }
    }
    t.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()
}
