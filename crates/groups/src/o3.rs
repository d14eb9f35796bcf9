//! The orthogonal group O(3): rotations and rotoreflections of 3-D space, as a rotation and a
//! determinant sign.

use rand::Rng;

use crate::error::{GroupError, Result};
use crate::group::{Group, LinearGroup, impl_linear_actions};
use crate::layout::ParamLayout;
use crate::so3::{Rotation3, decode_quat, encode_quat, row_major, special_rotations};

/// How far the `det` slot may be from `±1` before decoding rejects it.
const DET_TOL: f32 = 1e-3;

/// An element of O(3): the matrix `det * R`, with `R` a rotation and `det = ±1`. Since `-I`
/// has determinant -1 in 3-D, every orthogonal matrix is uniquely of this form (O(3) is
/// SO(3) x {I, -I}).
///
/// `det` should be `+1` or `-1`; any negative value is read as `-1` and anything else as `+1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct O3Element {
    /// The rotation part `R` (the element's matrix is `det * R`).
    pub rotation: Rotation3,
    /// The determinant, `+1` (a rotation) or `-1` (a rotoreflection, `-R`).
    pub det: i8,
}

impl O3Element {
    /// The rotation `R` as an element of O(3) (`det = +1`).
    pub fn from_rotation(rotation: Rotation3) -> Self {
        Self { rotation, det: 1 }
    }

    /// The element `-R` (`det = -1`), e.g. `-I` for the identity rotation (the point
    /// reflection) or the mirror `diag(1, 1, -1)` for the half turn about z.
    pub fn rotoreflection(rotation: Rotation3) -> Self {
        Self { rotation, det: -1 }
    }

    /// The determinant as a float, `+1.0` or `-1.0`.
    pub fn det_sign(&self) -> f64 {
        if self.det < 0 { -1.0 } else { 1.0 }
    }

    /// The matrix `det * R` (`m[row][col]`, acting on column vectors).
    pub fn as_matrix(&self) -> [[f64; 3]; 3] {
        let s = self.det_sign();
        self.rotation.as_matrix().map(|row| row.map(|v| s * v))
    }

    /// The element of an orthogonal matrix: `det` is the sign of `det(M)` and `R =
    /// det * M` is converted by [`Rotation3::from_matrix`] (scipy's conventions and
    /// tolerances). Errors for non-finite, singular or non-orthogonal matrices, naming O(3).
    pub fn from_matrix(m: [[f64; 3]; 3]) -> Result<Self> {
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        let sign: i8 = if det < 0.0 { -1 } else { 1 };
        let s = f64::from(sign);
        Rotation3::from_matrix(m.map(|row| row.map(|v| s * v)))
            .map(|rotation| Self {
                rotation,
                det: sign,
            })
            .map_err(|e| match e {
                GroupError::InvalidParameter { param, reason, .. } => {
                    GroupError::InvalidParameter {
                        group: "O(3)".into(),
                        param,
                        reason,
                    }
                }
                other => other,
            })
    }

    /// Applies the element to a vector: `det * R v`.
    pub fn apply(&self, v: [f64; 3]) -> [f64; 3] {
        let s = self.det_sign();
        self.rotation.apply(v).map(|x| s * x)
    }
}

/// O(3), the orthogonal transformations of 3-D space. Elements are [`O3Element`]
/// `det * R`.
///
/// - Composition: `(d1 R1)(d2 R2) = (d1 d2)(R1 R2)` (scipy's rotation product, `R2` first);
///   the inverse is `d R^-1`.
/// - Sampling: Haar (a Haar rotation as for [`crate::SO3`], times `-1` with probability 1/2).
/// - Layout `o3.quat_xyzw_det` v1: 5 floats `[qx, qy, qz, qw, det]`, the rotation's
///   quaternion (scalar last, sign as scipy's `as_quat`) and `det` = `+1` or `-1`. Decoding
///   rejects quaternions whose norm is off 1 by more than 1e-3 and `det` off `±1` by more
///   than 1e-3.
/// - Distance: chordal, the Frobenius norm `||A - B||_F` of the matrices, like
///   [`crate::O2`] and [`crate::Orthogonal`] (bi-invariant, defined across the two
///   components; `2 sqrt(2) sin(t / 2)` for rotation angle `t` of `A^-1 B` when the
///   determinants agree).
/// - Acts on `R^3` by its matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct O3;

impl Group for O3 {
    type Element = O3Element;

    fn name(&self) -> String {
        "O(3)".into()
    }

    fn identity(&self) -> O3Element {
        O3Element::from_rotation(Rotation3::identity())
    }

    fn compose(&self, a: &O3Element, b: &O3Element) -> O3Element {
        let det = if (a.det < 0) != (b.det < 0) { -1 } else { 1 };
        O3Element {
            rotation: a.rotation.compose(&b.rotation),
            det,
        }
    }

    fn inverse(&self, a: &O3Element) -> O3Element {
        O3Element {
            rotation: a.rotation.inv(),
            det: if a.det < 0 { -1 } else { 1 },
        }
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> O3Element {
        let rotation = Rotation3::random(rng);
        O3Element {
            rotation,
            det: if rng.random_bool(0.5) { -1 } else { 1 },
        }
    }

    fn sampling(&self) -> String {
        "Haar (Haar rotation as SO(3), determinant -1 with probability 1/2)".into()
    }

    fn layout(&self) -> ParamLayout {
        ParamLayout::new("o3.quat_xyzw_det", 1, ["qx", "qy", "qz", "qw", "det"])
    }

    fn encode(&self, g: &O3Element) -> Vec<f32> {
        let mut v = encode_quat(&g.rotation).to_vec();
        v.push(g.det_sign() as f32);
        v
    }

    fn decode(&self, params: &[f32]) -> Result<O3Element> {
        let (name, layout) = (self.name(), self.layout());
        layout.check(&name, params)?;
        let d = params[4];
        let det = if (d - 1.0).abs() <= DET_TOL {
            1
        } else if (d + 1.0).abs() <= DET_TOL {
            -1
        } else {
            return Err(
                layout.decode_error(&name, format!("slot 4 (`det`) is {d}, expected +1 or -1"))
            );
        };
        let rotation = decode_quat(&layout, &name, &params[..4])?;
        Ok(O3Element { rotation, det })
    }

    fn distance(&self, a: &O3Element, b: &O3Element) -> Option<f64> {
        let (ma, mb) = (a.as_matrix(), b.as_matrix());
        let sq: f64 = ma
            .iter()
            .flatten()
            .zip(mb.iter().flatten())
            .map(|(x, y)| (x - y).powi(2))
            .sum();
        Some(sq.sqrt())
    }

    fn approx_eq(&self, a: &O3Element, b: &O3Element, tol: f64) -> bool {
        (a.det < 0) == (b.det < 0) && a.rotation.angle_to(&b.rotation) <= tol
    }

    fn test_elements(&self) -> Vec<O3Element> {
        let mut v: Vec<O3Element> = special_rotations()
            .into_iter()
            .map(O3Element::from_rotation)
            .collect();
        // -I, the mirror diag(1, 1, -1) (= -Rz(pi)) and a generic rotoreflection.
        v.push(O3Element::rotoreflection(Rotation3::identity()));
        v.push(O3Element::rotoreflection(Rotation3::from_euler_xyz([
            0.0,
            0.0,
            std::f64::consts::PI,
        ])));
        v.push(O3Element::rotoreflection(Rotation3::from_euler_xyz([
            -0.4, 0.9, 2.0,
        ])));
        v
    }
}

impl LinearGroup for O3 {
    fn dim(&self) -> usize {
        3
    }

    fn matrix(&self, g: &O3Element) -> Vec<f64> {
        row_major(&g.as_matrix())
    }
}

impl_linear_actions!(O3);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::VectorAction;

    #[test]
    fn point_reflection_negates_and_mirror_flips_z() {
        let minus_i = O3Element::rotoreflection(Rotation3::identity());
        assert_eq!(
            O3.act_vector(&minus_i, &[1.0f64, -2.0, 3.0])
                .expect("len 3"),
            vec![-1.0, 2.0, -3.0]
        );
        let mirror =
            O3Element::rotoreflection(Rotation3::from_euler_xyz([0.0, 0.0, std::f64::consts::PI]));
        let v = mirror.apply([1.0, -2.0, 3.0]);
        assert!(
            (v[0] - 1.0).abs() < 1e-15 && (v[1] + 2.0).abs() < 1e-15 && (v[2] + 3.0).abs() < 1e-15
        );
    }

    #[test]
    fn from_matrix_recovers_det_and_rotation() {
        for g in O3.test_elements() {
            let back = O3Element::from_matrix(g.as_matrix()).expect("orthogonal");
            assert!(O3.approx_eq(&back, &g, 1e-12), "{g:?} -> {back:?}");
        }
        let singular = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]];
        let err = O3Element::from_matrix(singular)
            .expect_err("singular")
            .to_string();
        assert!(err.contains("O(3)"), "{err}");
    }

    #[test]
    fn composition_multiplies_determinants() {
        let r = O3Element::rotoreflection(Rotation3::from_euler_xyz([0.1, 0.2, 0.3]));
        let e = O3.compose(&r, &O3.inverse(&r));
        assert!(O3.approx_eq(&e, &O3.identity(), 1e-15));
        assert_eq!(O3.compose(&r, &r).det, 1);
    }

    #[test]
    fn decode_rejects_bad_det() {
        let err = O3
            .decode(&[0.0, 0.0, 0.0, 1.0, 0.5])
            .expect_err("det 0.5")
            .to_string();
        assert!(
            err.contains("O(3)") && err.contains("o3.quat_xyzw_det"),
            "{err}"
        );
        assert!(O3.decode(&[0.0, 0.0, 0.0, 2.0, 1.0]).is_err());
        assert_eq!(
            O3.decode(&[0.0, 0.0, 0.0, 1.0, -1.0]).expect("valid").det,
            -1
        );
    }
}
