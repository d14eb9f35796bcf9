//! Batched matrix products `scale · A_i B_i` for attention: many small GEMMs (a ViT-Tiny step
//! has 384 heads' worth of `65 x 64 x 65` products per layer), run in parallel over the batch
//! with one single-threaded GEMM each.
//!
//! candle's CPU matmul loops over the batch and gives every small product the whole thread pool,
//! paying a rayon dispatch per head. Here the operands may be contiguous or have their last two
//! dimensions transposed (`k.t()` needs no copy), the scale of `Q Kᵀ / √d` is folded into the
//! GEMM, and the backward is two more batched GEMMs: `dA = scale · G Bᵀ`, `dB = scale · Aᵀ G`.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, bail};
use gemm::Parallelism;
use rayon::prelude::*;

use crate::kernels::{Float, matmul_scaled, output, pool, with_float};
use crate::use_fused;

/// `scale · a b` over the last two dimensions of `a` `(..., M, K)` and `b` `(..., K, N)`, whose
/// leading dimensions must be equal (no broadcasting); the result is `(..., M, N)`. Fused on the
/// CPU as everywhere in this crate; elsewhere `(a * scale).matmul(b)`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// let a = Tensor::new(&[[[1f32, 2.], [3., 4.]]], &Device::Cpu)?; // (1, 2, 2)
/// let y = noether_ops::batched_matmul(&a, &a.t()?, 0.5)?;          // a aᵀ / 2
/// assert_eq!(y.to_vec3::<f32>()?, [[[2.5, 5.5], [5.5, 12.5]]]);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn batched_matmul(a: &Tensor, b: &Tensor, scale: f64) -> Result<Tensor> {
    let (ad, bd) = (a.dims(), b.dims());
    let r = ad.len();
    if r < 2 || bd.len() != r || ad[..r - 2] != bd[..r - 2] || ad[r - 1] != bd[r - 2] {
        bail!("batched_matmul: shapes {ad:?} and {bd:?} do not multiply (..., M, K) x (..., K, N)");
    }
    let same = b.dtype() == a.dtype() && b.device().same_device(a.device());
    if !use_fused(a) || !same {
        return (a * scale)?.matmul(b);
    }
    let prep = |t: &Tensor| -> Result<Tensor> {
        match Operand::of(t.layout()) {
            Some(_) => Ok(t.clone()),
            None => t.contiguous(),
        }
    };
    prep(a)?.apply_op2(&prep(b)?, Bmm { scale })
}

/// One operand: a batch of matrices at `offset + i * batch_stride`, each with row stride `rs`
/// and column stride `cs` (row-major, or transposed row-major).
#[derive(Debug, Clone, Copy)]
struct Operand {
    offset: usize,
    batch: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl Operand {
    /// The operand view of `l`, if its batch is contiguous and each matrix row-major or
    /// transposed.
    fn of(l: &Layout) -> Option<Operand> {
        let (dims, strides) = (l.dims(), l.stride());
        let r = dims.len();
        if r < 2 {
            return None;
        }
        let (rows, cols) = (dims[r - 2], dims[r - 1]);
        let (sr, sc) = (strides[r - 2], strides[r - 1]);
        let (rs, cs) = if (sr == cols || rows == 1) && (sc == 1 || cols == 1) {
            (cols, 1)
        } else if (sr == 1 || rows == 1) && (sc == rows || cols == 1) {
            (1, rows)
        } else {
            return None;
        };
        // batch dimensions row-major over whole matrices
        let mut expect = rows * cols;
        for i in (0..r - 2).rev() {
            if dims[i] != 1 && strides[i] != expect {
                return None;
            }
            expect *= dims[i];
        }
        Some(Operand {
            offset: l.start_offset(),
            batch: dims[..r - 2].iter().product(),
            rows,
            cols,
            rs,
            cs,
        })
    }

    /// The same matrices transposed (no copy).
    fn t(self) -> Operand {
        Operand {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Matrix `i` of `data` with its strides.
    fn at<'a, T>(&self, data: &'a [T], i: usize) -> (&'a [T], usize, usize) {
        let start = self.offset + i * self.rows * self.cols;
        (
            &data[start..start + self.rows * self.cols],
            self.rs,
            self.cs,
        )
    }
}

/// `out_i = scale · a_i b_i` for every `i`, `out` contiguous `(batch, a.rows, b.cols)`.
fn batched<T: Float>(a: Operand, ad: &[T], b: Operand, bd: &[T], scale: T) -> Vec<T> {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let mut out = vec![T::zero(); a.batch * m * n];
    if m == 0 || n == 0 {
        return out;
    }
    let one = |i: usize, dst: &mut [T], par: Parallelism| {
        if k == 0 {
            return;
        }
        matmul_scaled((m, n, k), dst, false, a.at(ad, i), b.at(bd, i), scale, par);
    };
    if a.batch > 1 {
        out.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(i, dst)| one(i, dst, Parallelism::None));
    } else {
        one(0, &mut out, pool());
    }
    out
}

/// The forward op.
#[derive(Debug, Clone, Copy)]
struct Bmm {
    scale: f64,
}

/// Which product a [`Bmm`]-family op computes from its two inputs `(p, q)`.
#[derive(Debug, Clone, Copy)]
enum Product {
    /// `p q` (the forward).
    Forward,
    /// `(g, b) -> g bᵀ` (`dA`).
    GradA,
    /// `(a, g) -> aᵀ g` (`dB`).
    GradB,
}

/// A batched product with the operand layouts checked.
fn run(
    name: &str,
    product: Product,
    scale: f64,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let (Some(p), Some(q)) = (Operand::of(l1), Operand::of(l2)) else {
        bail!("{name}: operands must be contiguous or transposed matrices");
    };
    let (p, q) = match product {
        Product::Forward => (p, q),
        Product::GradA => (p, q.t()),
        Product::GradB => (p.t(), q),
    };
    if p.batch != q.batch || p.cols != q.rows {
        bail!("{name}: {:?} x {:?} do not multiply", l1.dims(), l2.dims());
    }
    let mut dims = l1.dims()[..l1.dims().len() - 2].to_vec();
    dims.extend([p.rows, q.cols]);
    with_float!(crate::kernels::dtype(s1), name, T => {
        let (d1, d2) = (s1.as_slice::<T>()?, s2.as_slice::<T>()?);
        Ok(output(batched(p, d1, q, d2, T::cast(scale)), dims))
    })
}

impl CustomOp2 for Bmm {
    fn name(&self) -> &'static str {
        "noether-batched-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        run(
            self.name(),
            Product::Forward,
            self.scale,
            (s1, l1),
            (s2, l2),
        )
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        let da = g.apply_op2_no_bwd(b, &BmmGrad(Product::GradA, self.scale))?;
        let db = a.apply_op2_no_bwd(&g, &BmmGrad(Product::GradB, self.scale))?;
        Ok((Some(da), Some(db)))
    }
}

/// A gradient of [`Bmm`] (not itself differentiable).
struct BmmGrad(Product, f64);

impl CustomOp2 for BmmGrad {
    fn name(&self) -> &'static str {
        "noether-batched-matmul-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        run(self.name(), self.0, self.1, (s1, l1), (s2, l2))
    }
}
