//! The groups a network is symmetrized over, batches of their elements as tensors, and their
//! actions on each [`Rep`].
//!
//! Elements come as matrices so that one batched matmul acts with all of them: a permutation is
//! `P` (`(M, n, n)`, `P[i, r] = 1` iff node `i` has rank `r`), an orthogonal element is `R`
//! (`(M, d, d)`, `v -> R v`), an image element is a row of weights over the group's `|G|`
//! elements (one-hot in the forward pass; a straight-through estimator may give it a
//! gradient). Haar samples come from `noether-groups` ([`noether_groups::Symmetric`],
//! [`noether_groups::Orthogonal`]).

use candle_core::{D, DType, Device, Tensor};
use noether_groups::{Group as _, Orthogonal, Symmetric};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SymError};
use crate::rep::Rep;

/// A group to symmetrize over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// `S_n`, the permutations of a graph's or point set's nodes (`n` from the input).
    Permutations,
    /// `O(d)` or, with `special`, `SO(d)` acting on coordinates.
    Orthogonal {
        /// The dimension `d`.
        dim: usize,
        /// `SO(d)` instead of `O(d)`.
        special: bool,
    },
    /// `S_n x O(d)` (or `S_n x SO(d)`): nodes permuted and coordinates rotated together, the
    /// n-body group (translations are handled by centring, see
    /// [`crate::Symmetrized::with_centring`]).
    PermutationsOrthogonal {
        /// The dimension `d`.
        dim: usize,
        /// `SO(d)` instead of `O(d)`.
        special: bool,
    },
    /// `C_4` (quarter turns) or, with `reflections`, `D_4` (quarter turns and mirror images)
    /// acting exactly on square pixel grids.
    ImageRotations {
        /// `D_4` instead of `C_4`.
        reflections: bool,
    },
}

impl Group {
    /// The group's name (`S_n`, `O(3)`, `S_n x SO(3)`, `C4`, `D4`).
    pub fn name(&self) -> String {
        let o = |dim: usize, special: bool| format!("{}O({dim})", if special { "S" } else { "" });
        match *self {
            Group::Permutations => "S_n".into(),
            Group::Orthogonal { dim, special } => o(dim, special),
            Group::PermutationsOrthogonal { dim, special } => format!("S_n x {}", o(dim, special)),
            Group::ImageRotations { reflections } => if reflections { "D4" } else { "C4" }.into(),
        }
    }

    /// Whether it permutes nodes.
    pub fn permutes(&self) -> bool {
        matches!(
            self,
            Group::Permutations | Group::PermutationsOrthogonal { .. }
        )
    }

    /// `Some((d, special))` when it rotates coordinates.
    pub fn orthogonal(&self) -> Option<(usize, bool)> {
        match *self {
            Group::Orthogonal { dim, special } | Group::PermutationsOrthogonal { dim, special } => {
                Some((dim, special))
            }
            _ => None,
        }
    }

    /// The order of an image group (4 or 8), `None` for the others.
    pub fn image_order(&self) -> Option<usize> {
        match *self {
            Group::ImageRotations { reflections } => Some(if reflections { 8 } else { 4 }),
            _ => None,
        }
    }

    /// An error unless the group acts on `rep` (see the table in [`crate::rep`]); `what` names
    /// the argument.
    pub fn check_acts(&self, rep: Rep, what: &str) -> Result<()> {
        let image = self.image_order().is_some();
        let ok = match rep {
            Rep::Invariant => true,
            Rep::Nodes | Rep::Pairs | Rep::Points | Rep::Vectors => !image,
            Rep::Image | Rep::Regular => image,
        };
        if ok {
            Ok(())
        } else {
            Err(SymError::invalid(
                what,
                format!(
                    "the group {} does not act on a {} representation",
                    self.name(),
                    rep.name()
                ),
            ))
        }
    }

    /// Checks `d` of a points / vectors tensor against the group's dimension.
    pub(crate) fn check_dim(&self, rep: Rep, x: &Tensor, what: &str) -> Result<()> {
        if let (Some((dim, _)), Some(d)) = (self.orthogonal(), rep.coordinate_dim(x))
            && d != dim
        {
            {
                return Err(SymError::invalid(
                    what,
                    format!(
                        "{} acts on {dim}-vectors but the last axis has size {d}",
                        self.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `m` Haar-random elements on inputs with `n` nodes (`valid[j]` of them real, padding at
    /// the end stays in place), as tensors of `dtype` on `device`.
    pub fn sample_haar<R: Rng + ?Sized>(
        &self,
        m: usize,
        n: Option<usize>,
        valid: &[usize],
        dtype: DType,
        device: &Device,
        rng: &mut R,
    ) -> Result<Elements> {
        let perm = if self.permutes() {
            let n = n.ok_or_else(|| {
                SymError::invalid(
                    "inputs",
                    format!("{} needs an input with nodes", self.name()),
                )
            })?;
            let mut ranks = Vec::with_capacity(m);
            for j in 0..m {
                let v = valid.get(j).copied().unwrap_or(n);
                let p = Symmetric::new(v.max(1))?.sample(rng);
                // node i has rank p(i) among the real nodes; padding keeps its place
                let mut rank: Vec<usize> = (0..n).collect();
                for (i, r) in rank.iter_mut().enumerate().take(v) {
                    *r = p.image(i);
                }
                ranks.push(rank);
            }
            Some(permutation_matrices(&ranks, dtype, device)?)
        } else {
            None
        };
        let orth = match self.orthogonal() {
            Some((dim, special)) => {
                let g = if special {
                    Orthogonal::special(dim)?
                } else {
                    Orthogonal::new(dim)?
                };
                let mut data = Vec::with_capacity(m * dim * dim);
                for _ in 0..m {
                    data.extend(g.sample(rng));
                }
                Some(Tensor::from_vec(data, (m, dim, dim), device)?.to_dtype(dtype)?)
            }
            None => None,
        };
        let image = match self.image_order() {
            Some(order) => {
                let idx: Vec<usize> = (0..m).map(|_| rng.random_range(0..order)).collect();
                Some(one_hot(&idx, order, dtype, device)?)
            }
            None => None,
        };
        Ok(Elements {
            group: *self,
            perm,
            orth,
            image,
        })
    }
}

/// `(M, n, n)` permutation matrices with `P[j, i, rank[j][i]] = 1`.
pub fn permutation_matrices(ranks: &[Vec<usize>], dtype: DType, device: &Device) -> Result<Tensor> {
    let m = ranks.len();
    let n = ranks.first().map_or(0, Vec::len);
    let mut data = vec![0f32; m * n * n];
    for (j, rank) in ranks.iter().enumerate() {
        for (i, &r) in rank.iter().enumerate() {
            data[(j * n + i) * n + r] = 1.0;
        }
    }
    Ok(Tensor::from_vec(data, (m, n, n), device)?.to_dtype(dtype)?)
}

/// `(M, order)` one-hot rows.
pub(crate) fn one_hot(
    idx: &[usize],
    order: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let mut data = vec![0f32; idx.len() * order];
    for (j, &e) in idx.iter().enumerate() {
        data[j * order + e] = 1.0;
    }
    Ok(Tensor::from_vec(data, (idx.len(), order), device)?.to_dtype(dtype)?)
}

/// A batch of `M` group elements (one per row of the inputs they act on).
#[derive(Debug, Clone)]
pub struct Elements {
    /// The group.
    pub group: Group,
    /// `(M, n, n)` permutation matrices (possibly straight-through: hard values, soft
    /// gradient).
    pub perm: Option<Tensor>,
    /// `(M, d, d)` orthogonal matrices.
    pub orth: Option<Tensor>,
    /// `(M, |G|)` weights over an image group's elements (one-hot values).
    pub image: Option<Tensor>,
}

impl Elements {
    /// The number of elements `M`.
    pub fn len(&self) -> usize {
        [&self.perm, &self.orth, &self.image]
            .into_iter()
            .flatten()
            .next()
            .map_or(0, |t| t.dims()[0])
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each element repeated `k` times in a row (`[g0, g0, .., g1, g1, ..]`), to act on inputs
    /// replicated for `k` samples.
    pub fn repeat_interleave(&self, k: usize) -> Result<Elements> {
        let rep = |t: &Option<Tensor>| -> Result<Option<Tensor>> {
            t.as_ref().map(|t| repeat_interleave(t, k)).transpose()
        };
        Ok(Elements {
            group: self.group,
            perm: rep(&self.perm)?,
            orth: rep(&self.orth)?,
            image: rep(&self.image)?,
        })
    }

    /// The products `self[j] * other[j]` (`other` acts first).
    pub fn compose(&self, other: &Elements) -> Result<Elements> {
        let mm = |a: &Option<Tensor>, b: &Option<Tensor>| -> Result<Option<Tensor>> {
            match (a, b) {
                (Some(a), Some(b)) => Ok(Some(a.matmul(b)?)),
                _ => Ok(None),
            }
        };
        let image = match (&self.image, &other.image) {
            (Some(a), Some(b)) => {
                let order = a.dims()[1];
                let (ia, ib) = (argmax_rows(a)?, argmax_rows(b)?);
                let idx: Vec<usize> = ia
                    .iter()
                    .zip(&ib)
                    .map(|(&x, &y)| image_compose(order, x, y))
                    .collect();
                Some(one_hot(&idx, order, a.dtype(), a.device())?)
            }
            _ => None,
        };
        Ok(Elements {
            group: self.group,
            perm: mm(&self.perm, &other.perm)?,
            orth: mm(&self.orth, &other.orth)?,
            image,
        })
    }

    /// `g . x` (`inverse = false`) or `g^-1 . x` for a tensor of representation `rep`.
    pub fn act(&self, rep: Rep, x: &Tensor, inverse: bool) -> Result<Tensor> {
        let mut y = x.clone();
        if let Some(p) = &self.perm {
            let pt = p.transpose(1, 2)?.contiguous()?;
            let (fwd, back) = if inverse { (&pt, p) } else { (p, &pt) };
            y = match rep {
                Rep::Nodes | Rep::Points => left_multiply(fwd, &y)?,
                Rep::Pairs => permute_pairs(fwd, back, &y)?,
                _ => y,
            };
        }
        if let Some(r) = &self.orth {
            // rows: g x = x R^T, g^-1 x = x R
            let m = if inverse {
                r.clone()
            } else {
                r.transpose(1, 2)?.contiguous()?
            };
            y = match rep {
                Rep::Points | Rep::Vectors => right_multiply(&y, &m)?,
                _ => y,
            };
        }
        if let Some(w) = &self.image {
            y = match rep {
                Rep::Image => act_image(w, &y, inverse)?,
                Rep::Regular => act_regular(w, &y, inverse)?,
                _ => y,
            };
        }
        Ok(y)
    }
}

/// Each row of `t` repeated `k` times in a row.
pub fn repeat_interleave(t: &Tensor, k: usize) -> Result<Tensor> {
    if k == 1 {
        return Ok(t.clone());
    }
    let dims = t.dims().to_vec();
    let mut expanded = dims.clone();
    expanded.insert(1, k);
    let mut flat = dims;
    flat[0] *= k;
    Ok(t.unsqueeze(1)?
        .broadcast_as(expanded)?
        .contiguous()?
        .reshape(flat)?)
}

/// `(M, k, ..)` means over the samples of `(M * k, ..)`.
pub fn mean_over_samples(t: &Tensor, k: usize) -> Result<Tensor> {
    if k == 1 {
        return Ok(t.clone());
    }
    let mut dims = t.dims().to_vec();
    if !dims[0].is_multiple_of(k) {
        return Err(SymError::invalid(
            "output",
            format!("batch axis {} is not a multiple of k = {k}", dims[0]),
        ));
    }
    dims[0] /= k;
    dims.insert(1, k);
    Ok(t.reshape(dims)?.mean(1)?)
}

fn argmax_rows(w: &Tensor) -> Result<Vec<usize>> {
    Ok(w.argmax(D::Minus1)?
        .to_dtype(DType::U32)?
        .to_vec1::<u32>()?
        .into_iter()
        .map(|v| v as usize)
        .collect())
}

/// `P (M, n, n) @ X (M, n, ..)`, flattening trailing axes.
fn left_multiply(p: &Tensor, x: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (m, n) = (dims[0], dims[1]);
    let rest: usize = dims[2..].iter().product();
    let y = p.matmul(&x.contiguous()?.reshape((m, n, rest))?)?;
    Ok(y.reshape(dims)?)
}

/// `X (M, .., d) @ R (M, d, d)`, flattening leading axes.
fn right_multiply(x: &Tensor, r: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let m = dims[0];
    let d = dims[dims.len() - 1];
    let rows: usize = dims[1..dims.len() - 1].iter().product();
    let y = x.contiguous()?.reshape((m, rows, d))?.matmul(r)?;
    Ok(y.reshape(dims)?)
}

/// `A P^T-style`: `left @ A @ right` on the two node axes of `(M, n, n)` or `(M, n, n, c)`.
fn permute_pairs(left: &Tensor, right: &Tensor, a: &Tensor) -> Result<Tensor> {
    match a.dims() {
        [_, _, _] => Ok(left.matmul(&a.contiguous()?)?.matmul(right)?),
        &[m, n, _, c] => {
            let a = a
                .permute((0, 3, 1, 2))?
                .contiguous()?
                .reshape((m * c, n, n))?;
            let l = repeat_interleave(left, c)?;
            let r = repeat_interleave(right, c)?;
            let y = l.matmul(&a)?.matmul(&r)?;
            Ok(y.reshape((m, c, n, n))?
                .permute((0, 2, 3, 1))?
                .contiguous()?)
        }
        d => Err(SymError::invalid("pairs", format!("shape {d:?}"))),
    }
}

/// Element `e` of C4 / D4 is `(r, f) = (e % 4, e / 4)`: flip the columns if `f`, then turn
/// by `r` quarter turns ([`noether_models::gconv::rot90`]'s direction). Returns `a b`.
pub(crate) fn image_compose(order: usize, a: usize, b: usize) -> usize {
    let (ra, fa) = (a % 4, a / 4);
    let (rb, fb) = (b % 4, b / 4);
    // R^ra F^fa R^rb F^fb = R^(ra + (-1)^fa rb) F^(fa xor fb), as F R F = R^-1
    let r = if fa == 1 { ra + 4 - rb } else { ra + rb } % 4;
    let f = (fa ^ fb) % (order / 4);
    r + 4 * f
}

/// The inverse of element `e`.
pub(crate) fn image_inverse(e: usize) -> usize {
    let (r, f) = (e % 4, e / 4);
    if f == 1 { e } else { (4 - r) % 4 }
}

/// `g_e . x` for one element.
pub(crate) fn image_apply(e: usize, x: &Tensor) -> Result<Tensor> {
    let (r, f) = (e % 4, e / 4);
    let x = if f == 1 {
        let w = x.rank() - 1;
        x.contiguous()?.flip(&[w])?
    } else {
        x.clone()
    };
    Ok(noether_models::gconv::rot90(&x, r as i64)?)
}

/// `sum_e w[:, e] (g_e or g_e^-1) . x`: exact for one-hot `w`, straight-through otherwise.
fn act_image(w: &Tensor, x: &Tensor, inverse: bool) -> Result<Tensor> {
    let order = w.dims()[1];
    let mut acc: Option<Tensor> = None;
    for e in 0..order {
        let g = if inverse { image_inverse(e) } else { e };
        let we = w.narrow(1, e, 1)?.reshape((w.dims()[0], 1, 1, 1))?;
        let term = image_apply(g, x)?.broadcast_mul(&we)?;
        acc = Some(match acc {
            None => term,
            Some(a) => (a + term)?,
        });
    }
    acc.ok_or_else(|| SymError::invalid("image group", "no elements"))
}

/// The regular representation: `(g . y)[h] = y[g^-1 h]`.
fn act_regular(w: &Tensor, y: &Tensor, inverse: bool) -> Result<Tensor> {
    let order = w.dims()[1];
    if y.dims()[1] != order {
        return Err(SymError::invalid(
            "regular",
            format!("last axis {} is not the group order {order}", y.dims()[1]),
        ));
    }
    let idx = argmax_rows(w)?;
    let mut rows = Vec::with_capacity(idx.len());
    for (j, &e) in idx.iter().enumerate() {
        let g = if inverse { image_inverse(e) } else { e };
        let gi = image_inverse(g);
        let perm: Vec<u32> = (0..order)
            .map(|h| image_compose(order, gi, h) as u32)
            .collect();
        let perm = Tensor::from_vec(perm, order, y.device())?;
        rows.push(y.narrow(0, j, 1)?.index_select(&perm, 1)?);
    }
    Ok(Tensor::cat(&rows, 0)?)
}
