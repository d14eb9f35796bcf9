//! Point sets: `n x d` arrays stored row-major, one point per row.

use crate::error::{GroupError, Result};
use crate::real::Real;

/// A set of `rows` points in `cols` dimensions, stored row-major (`data[i * cols + j]` is
/// coordinate `j` of point `i`).
///
/// Groups act on point sets as LPS and n-body models expect: permutations (S_n) move rows,
/// linear groups (O(d), SO(3), ...) act on every row's coordinates, translations (T(d)) shift
/// every row, products compose the two actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Points<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T: Real> Points<T> {
    /// A point set from its shape and row-major buffer; errors if the lengths disagree.
    ///
    /// ```
    /// use noether_groups::Points;
    /// let p = Points::new(2, 3, vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0])?;
    /// assert_eq!(p.row(1), &[3.0, 4.0, 5.0]);
    /// # Ok::<(), noether_groups::GroupError>(())
    /// ```
    pub fn new(rows: usize, cols: usize, data: Vec<T>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(GroupError::Shape {
                rows,
                cols,
                len: data.len(),
            });
        }
        Ok(Self { rows, cols, data })
    }

    /// Number of points.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of coordinates per point.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major buffer.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// Consumes the set and returns its row-major buffer.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }

    /// Point `i` (panics if `i >= rows`, like slice indexing).
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Applies `f` to every row, producing rows of the same length.
    pub(crate) fn map_rows(&self, mut f: impl FnMut(&[T]) -> Vec<T>) -> Self {
        let mut data = Vec::with_capacity(self.data.len());
        for i in 0..self.rows {
            data.extend(f(self.row(i)));
        }
        Self {
            rows: self.rows,
            cols: self.cols,
            data,
        }
    }

    /// Largest absolute coordinate difference to `other` (infinite if the shapes differ).
    pub fn max_abs_diff(&self, other: &Self) -> f64 {
        if self.rows != other.rows || self.cols != other.cols {
            return f64::INFINITY;
        }
        self.data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| (a.as_f64() - b.as_f64()).abs())
            .fold(0.0, f64::max)
    }
}
