//! `O(d)` / `SO(d)`: Gram-Schmidt onto the group, and the PCA frame.
//!
//! **Gram-Schmidt** turns `d` equivariant vectors (the rows of `V`, `(M, d, d)`) into an
//! orthogonal matrix whose columns are the orthonormalised vectors. It commutes with rotations
//! and reflections (`GS(Q V^T) = Q GS(V^T)`), so an equivariant interface gives an equivariant
//! element. For `SO(d)` the first column is multiplied by the determinant, which is unchanged
//! by a rotation. Differentiable throughout (LPS, `papers/lps.md`).
//!
//! **The PCA frame** (Puny et al. 2022): the eigenvectors `U` of the centred points' second
//! moment `X^T X`, sorted by descending eigenvalue, with every sign pattern: `{U S}` for the
//! `2^d` diagonal sign matrices `S` (the `2^(d-1)` with `det = +1` for `SO(d)`). The set is
//! equivariant (`U(X Q^T) = Q U(X)` up to signs) when the eigenvalues are distinct; the solver's
//! own sign choice does not matter because every sign is in the set.

use candle_core::{DType, Tensor};
use nalgebra::DMatrix;

use crate::error::{Result, SymError};

/// Orthonormalises the rows of `v` `(M, d, d)` into the columns of an orthogonal matrix; with
/// `special`, the first column is multiplied by the determinant so the result is in `SO(d)`
/// (`d` = 2 or 3).
pub fn gram_schmidt(v: &Tensor, special: bool) -> Result<Tensor> {
    let d = match v.dims() {
        &[_, d, d2] if d == d2 => d,
        dims => {
            return Err(SymError::invalid(
                "vectors",
                format!("Gram-Schmidt needs (M, d, d), got {dims:?}"),
            ));
        }
    };
    let mut cols: Vec<Tensor> = Vec::with_capacity(d);
    for c in 0..d {
        let mut u = v.narrow(1, c, 1)?.squeeze(1)?; // (M, d)
        for prev in &cols {
            let dot = (&u * prev)?.sum_keepdim(1)?;
            u = (u - prev.broadcast_mul(&dot)?)?;
        }
        let norm = (u.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
        cols.push(u.broadcast_div(&norm)?);
    }
    if special {
        let det = match d {
            2 => {
                let (a, b) = (&cols[0], &cols[1]);
                ((a.narrow(1, 0, 1)? * b.narrow(1, 1, 1)?)?
                    - (a.narrow(1, 1, 1)? * b.narrow(1, 0, 1)?)?)?
            }
            3 => {
                let x = |t: &Tensor, i: usize| t.narrow(1, i, 1);
                let (a, b, c) = (&cols[0], &cols[1], &cols[2]);
                // a . (b x c)
                let cx = ((x(b, 1)? * x(c, 2)?)? - (x(b, 2)? * x(c, 1)?)?)?;
                let cy = ((x(b, 2)? * x(c, 0)?)? - (x(b, 0)? * x(c, 2)?)?)?;
                let cz = ((x(b, 0)? * x(c, 1)?)? - (x(b, 1)? * x(c, 0)?)?)?;
                ((x(a, 0)? * cx)? + (x(a, 1)? * cy)? + (x(a, 2)? * cz)?)?
            }
            _ => {
                return Err(SymError::invalid(
                    "group",
                    format!("SO({d}) Gram-Schmidt supports d = 2 or 3"),
                ));
            }
        };
        cols[0] = cols[0].broadcast_mul(&det)?;
    }
    // columns -> (M, d, d) with R[:, :, c] = cols[c]
    Ok(Tensor::stack(&cols, 2)?)
}

/// The PCA frame of each point set: `(M, F, d, d)` orthogonal matrices, `F = 2^d` (or
/// `2^(d-1)` with `special`). `points` is `(M, n, d)` (already centred), `valid` the real
/// nodes of each row.
pub fn pca_frame(points: &Tensor, valid: &[usize], special: bool) -> Result<Tensor> {
    let (m, n, d) = match points.dims() {
        &[m, n, d] => (m, n, d),
        dims => {
            return Err(SymError::invalid(
                "frame",
                format!("the PCA frame needs (M, n, d) points, got {dims:?}"),
            ));
        }
    };
    let x = points
        .to_dtype(DType::F64)?
        .flatten_from(1)?
        .to_vec2::<f64>()?;
    let signs: Vec<Vec<f64>> = (0..1usize << d)
        .map(|bits| {
            (0..d)
                .map(|i| if bits >> i & 1 == 1 { -1.0 } else { 1.0 })
                .collect()
        })
        .filter(|s: &Vec<f64>| !special || s.iter().product::<f64>() > 0.0)
        .collect();
    let f = signs.len();
    let mut out = Vec::with_capacity(m * f * d * d);
    for (j, row) in x.iter().enumerate() {
        let v = valid.get(j).copied().unwrap_or(n);
        let pts = DMatrix::<f64>::from_row_slice(v, d, &row[..v * d]);
        let cov = pts.transpose() * &pts;
        let eig = cov.symmetric_eigen();
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let mut u = DMatrix::<f64>::zeros(d, d);
        for (c, &k) in order.iter().enumerate() {
            u.set_column(c, &eig.eigenvectors.column(k));
        }
        let flip = if special && u.determinant() < 0.0 {
            -1.0
        } else {
            1.0
        };
        for s in &signs {
            for r in 0..d {
                for c in 0..d {
                    let sc = if c == 0 { s[c] * flip } else { s[c] };
                    out.push(u[(r, c)] * sc);
                }
            }
        }
    }
    Ok(Tensor::from_vec(out, (m, f, d, d), points.device())?.to_dtype(points.dtype())?)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn gram_schmidt_is_orthogonal_with_the_requested_determinant() -> Result<()> {
        let v = Tensor::new(
            &[[[1.0f64, 0.2, 0.1], [0.3, 1.0, -0.2], [0.5, 0.1, -1.0]]],
            &Device::Cpu,
        )?;
        for special in [false, true] {
            let r = gram_schmidt(&v, special)?;
            let rtr = r.transpose(1, 2)?.matmul(&r)?;
            let eye = Tensor::eye(3, DType::F64, &Device::Cpu)?.unsqueeze(0)?;
            let err = (rtr - eye)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert!(err < 1e-10, "{err}");
            let m = DMatrix::from_row_slice(3, 3, &r.flatten_all()?.to_vec1::<f64>()?);
            if special {
                assert!((m.determinant() - 1.0).abs() < 1e-10, "{}", m.determinant());
            }
        }
        Ok(())
    }
}
