//! The symmetric group S_n: permutations of `n` objects, acting on vectors by permuting entries
//! and on point sets by permuting rows.
//!
//! # Convention
//!
//! A permutation `sigma` is stored by its images: `sigma[i]` is `sigma(i)`, the position that
//! `i` goes to.
//! - `compose(s, t)` is `s ∘ t`: `(s t)(i) = s(t(i))`, so `t` acts first, as for every group.
//! - On a vector, `sigma` moves entry `i` to position `sigma(i)`: `(sigma . x)[sigma(i)] = x[i]`,
//!   i.e. `sigma . x = P x` with the permutation matrix `P[sigma(i), i] = 1`
//!   ([`Symmetric::permutation_matrix`]).
//! - On a point set, `sigma` moves row `i` to row `sigma(i)` (`sigma . X = P X`).
//!
//! With this convention `sigma . (tau . x) = (sigma tau) . x`: entry `i` goes first to `tau(i)`,
//! then to `sigma(tau(i))`.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::error::{GroupError, Result};
use crate::group::{FiniteGroup, Group, PointAction, VectorAction, check_dim};
use crate::layout::{ParamLayout, integer_slot};
use crate::points::Points;
use crate::real::Real;

/// A permutation of `0..n`, stored by its images: `images()[i]` is `sigma(i)`.
///
/// The constructor checks that the images are a permutation, so every value of this type is
/// one. Where permutations of different lengths meet (in [`Symmetric`]'s group operations), a
/// permutation of `0..k` is read as the permutation of `0..m`, `m > k`, that fixes `k..m`
/// (the usual embedding of S_k in S_m).
///
/// ```
/// use noether_groups::Permutation;
/// let sigma = Permutation::new(vec![1, 2, 0])?; // 0 -> 1 -> 2 -> 0
/// assert_eq!(sigma.image(2), 0);
/// assert_eq!(sigma.num_cycles(), 1);
/// assert!(Permutation::new(vec![0, 0, 1]).is_err());
/// # Ok::<(), noether_groups::GroupError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Permutation(Vec<usize>);

impl Permutation {
    /// The permutation with images `images` (`i -> images[i]`); errors unless every value of
    /// `0..images.len()` appears exactly once. The error names `S_n`, `n = images.len()`.
    pub fn new(images: Vec<usize>) -> Result<Self> {
        let n = images.len();
        let invalid = |reason: String| GroupError::InvalidParameter {
            group: format!("S{n}"),
            param: "images".into(),
            reason,
        };
        let mut seen = vec![false; n];
        for (i, &v) in images.iter().enumerate() {
            if v >= n {
                return Err(invalid(format!(
                    "image {v} of {i} is not in 0..{n}: {images:?} is not a permutation"
                )));
            }
            if seen[v] {
                return Err(invalid(format!(
                    "{v} appears twice: {images:?} is not a permutation of 0..{n}"
                )));
            }
            seen[v] = true;
        }
        Ok(Self(images))
    }

    /// The identity permutation of `0..n`.
    pub fn identity(n: usize) -> Self {
        Self((0..n).collect())
    }

    /// The images `sigma(0), ..., sigma(n - 1)`.
    pub fn images(&self) -> &[usize] {
        &self.0
    }

    /// Consumes the permutation and returns its images.
    pub fn into_vec(self) -> Vec<usize> {
        self.0
    }

    /// The number `n` of points permuted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the permutation of the empty set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `sigma(i)`; points past the length are fixed (`sigma(i) = i` for `i >= len()`).
    pub fn image(&self, i: usize) -> usize {
        self.0.get(i).copied().unwrap_or(i)
    }

    /// The number of cycles, fixed points included (the identity of `0..n` has `n`).
    pub fn num_cycles(&self) -> usize {
        count_cycles(&self.0)
    }

    /// The cycles, each starting at its smallest element, in order of that element; fixed
    /// points are cycles of length 1.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut seen = vec![false; self.0.len()];
        let mut out = Vec::new();
        for start in 0..self.0.len() {
            if seen[start] {
                continue;
            }
            let mut cycle = Vec::new();
            let mut i = start;
            while !seen[i] {
                seen[i] = true;
                cycle.push(i);
                i = self.0[i];
            }
            out.push(cycle);
        }
        out
    }
}

/// Number of cycles of a valid permutation given by its images.
fn count_cycles(images: &[usize]) -> usize {
    let mut seen = vec![false; images.len()];
    let mut cycles = 0;
    for start in 0..images.len() {
        if seen[start] {
            continue;
        }
        cycles += 1;
        let mut i = start;
        while !seen[i] {
            seen[i] = true;
            i = images[i];
        }
    }
    cycles
}

/// `k!`, or `None` if it does not fit in a `usize`.
fn factorial(k: usize) -> Option<usize> {
    (1..=k).try_fold(1usize, |acc, i| acc.checked_mul(i))
}

/// S_n, the permutations of `n >= 1` objects. Elements are [`Permutation`]s of `0..n`.
///
/// - Convention: `sigma(i)` is where `i` goes; `compose(s, t)` is `s ∘ t`,
///   `(s t)(i) = s(t(i))`; `(sigma . x)[sigma(i)] = x[i]`, i.e. `sigma . x = P x` with
///   `P[sigma(i), i] = 1` ([`Symmetric::permutation_matrix`]); on point sets row `i` moves to
///   row `sigma(i)`. With this convention `sigma . (tau . x) = (sigma tau) . x`: entry `i`
///   goes first to `tau(i)`, then to `sigma(tau(i))`.
/// - Sampling: Haar, the uniform distribution on the `n!` permutations (a Fisher-Yates shuffle
///   of `0..n`).
/// - Layout `symmetric.images` v1: `n` floats `[sigma(0), ..., sigma(n-1)]`, the images as
///   integers. Decoding rejects non-integers, values outside `0..n` and repeated values.
/// - Distance: the Cayley distance, the least number of transpositions taking `a` to `b`,
///   `n - (number of cycles of a^-1 b)` (bi-invariant).
/// - [`FiniteGroup`]: element `k` is the `k`-th permutation in lexicographic order of the
///   images (`k` written in the factorial number system is the Lehmer code), the identity is
///   element 0. Enumerating the group ([`FiniteGroup::elements`],
///   [`FiniteGroup::regular_permutation`]) is only practical for `n <= 10` or so. For `n > 20`,
///   `n!` does not fit in a 64-bit `usize`: [`FiniteGroup::order`] and
///   [`FiniteGroup::index_of`] then saturate at `usize::MAX` (and [`FiniteGroup::element`]
///   still maps distinct indices to distinct permutations); nothing panics.
/// - Acts on vectors of length `n` ([`VectorAction`]) and on point sets with `n` rows and any
///   number of columns ([`PointAction`]). S_n is deliberately not a [`crate::LinearGroup`]:
///   linear groups act on the columns of a point set, S_n on its rows.
///
/// Group operations accept permutations of other lengths by the embedding S_k ⊂ S_m (points
/// past a permutation's length are fixed); actions reject permutations longer than `n`.
///
/// ```
/// use noether_groups::{Group, Symmetric, VectorAction};
/// let s3 = Symmetric::new(3)?;
/// let sigma = s3.permutation(vec![1, 2, 0])?; // 0 -> 1 -> 2 -> 0
/// // Entry i moves to position sigma(i).
/// assert_eq!(s3.act_vector(&sigma, &[10.0f64, 20.0, 30.0])?, vec![30.0, 10.0, 20.0]);
/// assert_eq!(s3.encode(&sigma), vec![1.0, 2.0, 0.0]);
/// # Ok::<(), noether_groups::GroupError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symmetric {
    n: usize,
}

impl Symmetric {
    /// S_n for `n >= 1`.
    pub fn new(n: usize) -> Result<Self> {
        if n == 0 {
            return Err(GroupError::InvalidParameter {
                group: "S_n".into(),
                param: "n".into(),
                reason: "the number of objects must be at least 1".into(),
            });
        }
        Ok(Self { n })
    }

    /// The number n of objects permuted.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The element with images `images`; errors unless it is a permutation of `0..n`.
    pub fn permutation(&self, images: Vec<usize>) -> Result<Permutation> {
        check_dim(&self.name(), "permutation", self.n, images.len())?;
        Permutation::new(images)
    }

    /// The transposition swapping `i` and `j` (the identity if `i == j`); errors unless both
    /// are in `0..n`.
    pub fn transposition(&self, i: usize, j: usize) -> Result<Permutation> {
        if i >= self.n || j >= self.n {
            return Err(GroupError::InvalidParameter {
                group: self.name(),
                param: "transposition".into(),
                reason: format!("({i} {j}) moves a point outside 0..{}", self.n),
            });
        }
        let mut images: Vec<usize> = (0..self.n).collect();
        images.swap(i, j);
        Ok(Permutation(images))
    }

    /// The `n x n` permutation matrix of `g`, row-major, with `P[sigma(i), i] = 1`, so that
    /// `g . x = P x` and `P_{gh} = P_g P_h`. Permutations longer than `n` are cut to `n x n`.
    pub fn permutation_matrix(&self, g: &Permutation) -> Vec<f64> {
        let n = self.n;
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            let si = g.image(i);
            if si < n {
                m[si * n + i] = 1.0;
            }
        }
        m
    }

    /// The images of `g` over `0..max(n, g.len())`.
    fn extended(&self, g: &Permutation) -> Vec<usize> {
        (0..self.n.max(g.len())).map(|i| g.image(i)).collect()
    }

    /// Errors unless `g` permutes at most `0..n` (shorter permutations fix the rest).
    fn check_acts(&self, g: &Permutation) -> Result<()> {
        if g.len() > self.n {
            return check_dim(&self.name(), "permutation", self.n, g.len());
        }
        Ok(())
    }
}

impl Group for Symmetric {
    type Element = Permutation;

    fn name(&self) -> String {
        format!("S{}", self.n)
    }

    fn identity(&self) -> Permutation {
        Permutation::identity(self.n)
    }

    fn compose(&self, a: &Permutation, b: &Permutation) -> Permutation {
        let m = self.n.max(a.len()).max(b.len());
        Permutation((0..m).map(|i| a.image(b.image(i))).collect())
    }

    fn inverse(&self, a: &Permutation) -> Permutation {
        let images = self.extended(a);
        let mut inv = vec![0; images.len()];
        for (i, &v) in images.iter().enumerate() {
            inv[v] = i;
        }
        Permutation(inv)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Permutation {
        let mut images: Vec<usize> = (0..self.n).collect();
        images.shuffle(rng);
        Permutation(images)
    }

    fn sampling(&self) -> String {
        "Haar (uniform over the n! permutations, Fisher-Yates shuffle)".into()
    }

    fn layout(&self) -> ParamLayout {
        ParamLayout::new(
            "symmetric.images",
            1,
            (0..self.n).map(|i| format!("sigma({i})")),
        )
    }

    fn encode(&self, g: &Permutation) -> Vec<f32> {
        (0..self.n).map(|i| g.image(i) as f32).collect()
    }

    fn decode(&self, params: &[f32]) -> Result<Permutation> {
        let (name, layout) = (self.name(), self.layout());
        layout.check(&name, params)?;
        let mut images = Vec::with_capacity(self.n);
        let mut first_at = vec![None; self.n];
        for i in 0..self.n {
            let v = integer_slot(&layout, &name, params, i, self.n)?;
            if let Some(j) = first_at[v] {
                return Err(layout.decode_error(
                    &name,
                    format!(
                        "slots {j} and {i} (`{}`, `{}`) both hold {v}: not a permutation",
                        layout.names[j], layout.names[i]
                    ),
                ));
            }
            first_at[v] = Some(i);
            images.push(v);
        }
        Ok(Permutation(images))
    }

    fn distance(&self, a: &Permutation, b: &Permutation) -> Option<f64> {
        let d = self.compose(&self.inverse(a), b);
        Some((d.len() - d.num_cycles()) as f64)
    }

    fn approx_eq(&self, a: &Permutation, b: &Permutation, _tol: f64) -> bool {
        let m = self.n.max(a.len()).max(b.len());
        (0..m).all(|i| a.image(i) == b.image(i))
    }

    fn test_elements(&self) -> Vec<Permutation> {
        let n = self.n;
        let mut swap01: Vec<usize> = (0..n).collect();
        if n >= 2 {
            swap01.swap(0, 1);
        }
        let candidates = [
            Permutation::identity(n),
            // The transposition (0 1).
            Permutation(swap01),
            // The n-cycle i -> i + 1 mod n.
            Permutation((0..n).map(|i| (i + 1) % n).collect()),
            // The reversal i -> n - 1 - i.
            Permutation((0..n).map(|i| n - 1 - i).collect()),
        ];
        let mut out: Vec<Permutation> = Vec::new();
        for c in candidates {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }
}

impl FiniteGroup for Symmetric {
    /// `n!`, saturating at `usize::MAX` for `n > 20` (on 64-bit targets).
    fn order(&self) -> usize {
        factorial(self.n).unwrap_or(usize::MAX)
    }

    /// The `index`-th permutation in lexicographic order of the images (`index` taken mod
    /// `n!` when `n!` fits in a `usize`).
    fn element(&self, index: usize) -> Permutation {
        let n = self.n;
        let mut rem = factorial(n).map_or(index, |f| index % f);
        let mut available: Vec<usize> = (0..n).collect();
        let mut images = Vec::with_capacity(n);
        for i in 0..n {
            // rem < (n - i)!, so the digit is < n - i = available.len(); a factorial too large
            // for a usize exceeds rem, so its digit is 0.
            let digit = match factorial(n - 1 - i) {
                Some(f) => {
                    let d = rem / f;
                    rem %= f;
                    d
                }
                None => 0,
            };
            images.push(available.remove(digit.min(available.len() - 1)));
        }
        Permutation(images)
    }

    /// The Lehmer index of `g` (inverse of [`FiniteGroup::element`]), saturating at
    /// `usize::MAX` when it does not fit.
    fn index_of(&self, g: &Permutation) -> usize {
        let images = self.extended(g);
        let m = images.len();
        let mut index = Some(0usize);
        for i in 0..m {
            let digit = images[i + 1..].iter().filter(|&&v| v < images[i]).count();
            if digit == 0 {
                continue;
            }
            index = index
                .zip(factorial(m - 1 - i))
                .and_then(|(acc, f)| f.checked_mul(digit).and_then(|t| acc.checked_add(t)));
        }
        index.unwrap_or(usize::MAX)
    }
}

impl VectorAction for Symmetric {
    fn vector_dim(&self) -> Option<usize> {
        Some(self.n)
    }

    /// `(g . x)[g(i)] = x[i]`; errors unless `x` has length `n`.
    fn act_vector<T: Real>(&self, g: &Permutation, x: &[T]) -> Result<Vec<T>> {
        self.check_acts(g)?;
        check_dim(&self.name(), "vector", self.n, x.len())?;
        let mut out = vec![T::zero(); self.n];
        for (i, &v) in x.iter().enumerate() {
            out[g.image(i)] = v;
        }
        Ok(out)
    }
}

impl PointAction for Symmetric {
    /// Row `i` of `X` becomes row `g(i)`; errors unless `X` has `n` rows.
    fn act_points<T: Real>(&self, g: &Permutation, x: &Points<T>) -> Result<Points<T>> {
        self.check_acts(g)?;
        check_dim(&self.name(), "point set rows", self.n, x.rows())?;
        let inv = self.inverse(g);
        let mut data = Vec::with_capacity(x.data().len());
        // Row r of the result is row g^-1(r) of X.
        for r in 0..self.n {
            data.extend_from_slice(x.row(inv.image(r)));
        }
        Points::new(self.n, x.cols(), data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn s(n: usize) -> Symmetric {
        Symmetric::new(n).expect("n >= 1")
    }

    fn p(images: &[usize]) -> Permutation {
        Permutation::new(images.to_vec()).expect("a permutation")
    }

    #[test]
    fn three_cycle_moves_entry_i_to_sigma_i() {
        let s3 = s(3);
        let sigma = p(&[1, 2, 0]);
        // [a, b, c] -> [c, a, b]: a goes to position 1, b to 2, c to 0.
        assert_eq!(
            s3.act_vector(&sigma, &[1.0f64, 2.0, 3.0])
                .expect("length 3"),
            vec![3.0, 1.0, 2.0]
        );
        let x = Points::new(3, 2, vec![0.0f32, 0.5, 1.0, 1.5, 2.0, 2.5]).expect("shape");
        let y = s3.act_points(&sigma, &x).expect("3 rows");
        assert_eq!(y.data(), &[2.0, 2.5, 0.0, 0.5, 1.0, 1.5]);
    }

    #[test]
    fn composition_is_s_after_t_and_matches_the_action() {
        let s3 = s(3);
        let swap01 = p(&[1, 0, 2]);
        let cycle = p(&[1, 2, 0]);
        // (s t)(i) = s(t(i)): cycle first, then swap: 0 -> 1 -> 0, 1 -> 2 -> 2, 2 -> 0 -> 1.
        assert_eq!(s3.compose(&swap01, &cycle), p(&[0, 2, 1]));
        let x = [1.0f64, 2.0, 3.0];
        let two_steps = s3
            .act_vector(&swap01, &s3.act_vector(&cycle, &x).expect("len"))
            .expect("len");
        let one_step = s3
            .act_vector(&s3.compose(&swap01, &cycle), &x)
            .expect("len");
        assert_eq!(two_steps, one_step);
    }

    #[test]
    fn permutation_matrix_is_the_action_and_a_homomorphism() {
        let s3 = s(3);
        let sigma = p(&[1, 2, 0]);
        let m = s3.permutation_matrix(&sigma);
        // P[sigma(i), i] = 1.
        assert_eq!(m, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let x = [10.0f64, 20.0, 30.0];
        let px: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|j| m[i * 3 + j] * x[j]).sum())
            .collect();
        assert_eq!(px, s3.act_vector(&sigma, &x).expect("len"));
        let tau = p(&[2, 1, 0]);
        let (a, b) = (s3.permutation_matrix(&sigma), s3.permutation_matrix(&tau));
        let ab: Vec<f64> = (0..9)
            .map(|k| (0..3).map(|l| a[(k / 3) * 3 + l] * b[l * 3 + k % 3]).sum())
            .collect();
        assert_eq!(ab, s3.permutation_matrix(&s3.compose(&sigma, &tau)));
    }

    #[test]
    fn lehmer_index_is_lexicographic() {
        let s3 = s(3);
        let all: Vec<Vec<usize>> = s3
            .elements()
            .into_iter()
            .map(Permutation::into_vec)
            .collect();
        assert_eq!(
            all,
            vec![
                vec![0, 1, 2],
                vec![0, 2, 1],
                vec![1, 0, 2],
                vec![1, 2, 0],
                vec![2, 0, 1],
                vec![2, 1, 0]
            ]
        );
        assert_eq!(s3.order(), 6);
        assert_eq!(s3.index_of(&p(&[2, 1, 0])), 5);
        assert_eq!(s3.element(6), s3.identity());
    }

    #[test]
    fn large_n_saturates_instead_of_panicking() {
        let s25 = s(25);
        assert_eq!(s25.order(), usize::MAX);
        let reversal = Permutation((0..25).rev().collect());
        assert_eq!(s25.index_of(&reversal), usize::MAX);
        let g = s25.element(123_456_789);
        assert_eq!(s25.index_of(&g), 123_456_789);
        assert_eq!(s(20).order(), 2_432_902_008_176_640_000);
    }

    #[test]
    fn cayley_distance_counts_transpositions() {
        let s4 = s(4);
        let e = s4.identity();
        assert_eq!(s4.distance(&e, &e), Some(0.0));
        assert_eq!(s4.distance(&e, &p(&[1, 0, 2, 3])), Some(1.0));
        assert_eq!(s4.distance(&e, &p(&[1, 2, 3, 0])), Some(3.0));
        assert_eq!(s4.distance(&p(&[1, 2, 3, 0]), &p(&[1, 2, 3, 0])), Some(0.0));
        assert_eq!(p(&[1, 0, 3, 2]).cycles(), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(Symmetric::new(0).is_err());
        let err = Permutation::new(vec![0, 2, 2])
            .expect_err("repeat")
            .to_string();
        assert!(err.contains("S3") && err.contains("twice"), "{err}");
        assert!(Permutation::new(vec![0, 3, 1]).is_err());
        let s3 = s(3);
        let err = s3.decode(&[0.0, 1.0, 1.0]).expect_err("repeat").to_string();
        assert!(
            err.contains("S3") && err.contains("symmetric.images"),
            "{err}"
        );
        assert!(s3.decode(&[0.0, 1.5, 2.0]).is_err());
        assert!(s3.decode(&[0.0, 1.0, 3.0]).is_err());
        assert!(s3.decode(&[0.0, -1.0, 2.0]).is_err());
        assert!(s3.decode(&[0.0, 1.0]).is_err());
        assert!(s3.decode(&[f32::NAN, 1.0, 2.0]).is_err());
        assert!(s3.act_vector(&s3.identity(), &[1.0f32, 2.0]).is_err());
        let x = Points::new(2, 3, vec![0.0f64; 6]).expect("shape");
        let err = s3
            .act_points(&s3.identity(), &x)
            .expect_err("rows")
            .to_string();
        assert!(err.contains("S3") && err.contains("rows"), "{err}");
        assert!(
            s3.act_vector(&Permutation::identity(4), &[1.0f32, 2.0, 3.0])
                .is_err()
        );
        assert!(s3.permutation(vec![0, 1]).is_err());
        assert!(s3.transposition(0, 3).is_err());
    }

    #[test]
    fn shorter_permutations_fix_the_rest() {
        let s4 = s(4);
        let swap = p(&[1, 0]);
        assert_eq!(s4.compose(&swap, &s4.identity()), p(&[1, 0, 2, 3]));
        assert_eq!(
            s4.act_vector(&swap, &[1.0f64, 2.0, 3.0, 4.0]).expect("len"),
            vec![2.0, 1.0, 3.0, 4.0]
        );
        assert!(s4.approx_eq(&swap, &p(&[1, 0, 2, 3]), 0.0));
    }

    #[test]
    fn samples_are_permutations_and_test_elements_are_distinct() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in 1..8 {
            let sn = s(n);
            for _ in 0..10 {
                let g = sn.sample(&mut rng);
                assert!(Permutation::new(g.images().to_vec()).is_ok());
                assert_eq!(sn.decode(&sn.encode(&g)).expect("round trip"), g);
            }
        }
        assert_eq!(s(1).test_elements().len(), 1);
        assert_eq!(s(2).test_elements().len(), 2);
        assert_eq!(s(4).test_elements().len(), 4);
    }
}
