//! The rotation group SO(3), with conversions that reproduce `scipy.spatial.transform.Rotation`
//! (scipy 1.17) operation by operation.
//!
//! A [`Rotation3`] stores a unit quaternion in scipy's scalar-last order `(x, y, z, w)` and,
//! like scipy, never canonicalises its sign: `q` and `-q` are the same rotation, and whichever
//! sign an operation produces is kept, so that `as_quat` gives exactly what scipy's `as_quat`
//! gives for the same sequence of operations. The floating-point operations follow scipy's
//! Cython backend (`_rotation_cy.pyx`) in order, so results agree with scipy to a few ulps.

use std::f64::consts::PI;

use rand::Rng;
use rand_distr::StandardNormal;

use crate::error::{GroupError, Result};
use crate::group::{Group, LinearGroup, impl_linear_actions};
use crate::layout::ParamLayout;

/// How far a decoded quaternion's norm may be from 1 before decoding rejects it.
pub(crate) const UNIT_TOL: f64 = 1e-3;

/// How far `M M^T` may be from the identity (largest entry) before `from_matrix` rejects `M`.
const ORTHOGONAL_TOL: f64 = 1e-4;

/// A rotation of 3-D space, stored as a unit quaternion `(x, y, z, w)` (scalar last, as scipy).
///
/// The sign of the quaternion is never canonicalised (scipy does not either), so the derived
/// `PartialEq` compares quaternions, not rotations: use [`Rotation3::angle_to`] (or
/// [`Group::approx_eq`] on [`SO3`]) to compare rotations.
///
/// ```
/// use noether_groups::Rotation3;
///
/// // scipy: R.from_euler("xyz", [0, 0, np.pi / 2]).apply([1, 0, 0]) == [0, 1, 0]
/// let r = Rotation3::from_euler_xyz([0.0, 0.0, std::f64::consts::FRAC_PI_2]);
/// let v = r.apply([1.0, 0.0, 0.0]);
/// assert!((v[0]).abs() < 1e-15 && (v[1] - 1.0).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rotation3 {
    /// `(x, y, z, w)`, unit norm (up to rounding).
    quat: [f64; 4],
}

/// An [`GroupError::InvalidParameter`] naming SO(3).
fn invalid(param: &str, reason: impl Into<String>) -> GroupError {
    GroupError::InvalidParameter {
        group: "SO(3)".into(),
        param: param.into(),
        reason: reason.into(),
    }
}

/// scipy's `_dot3`: `a0 b0 + a1 b1 + a2 b2`, summed left to right.
fn dot3(a: &[f64], b: &[f64]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// scipy's `_norm3`: the Euclidean norm of the first three entries.
fn norm3(a: &[f64]) -> f64 {
    dot3(a, a).sqrt()
}

/// scipy's `_normalize4`: divides by the norm; `None` if the norm is zero or not finite.
fn normalize4(q: [f64; 4]) -> Option<[f64; 4]> {
    let norm = (dot3(&q, &q) + q[3] * q[3]).sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return None;
    }
    Some([q[0] / norm, q[1] / norm, q[2] / norm, q[3] / norm])
}

/// scipy's `_compose_quat_single`: the Hamilton product `p q` (scalar last).
fn compose_quat(p: &[f64; 4], q: &[f64; 4]) -> [f64; 4] {
    let cross = [
        p[1] * q[2] - p[2] * q[1],
        p[2] * q[0] - p[0] * q[2],
        p[0] * q[1] - p[1] * q[0],
    ];
    [
        p[3] * q[0] + q[3] * p[0] + cross[0],
        p[3] * q[1] + q[3] * p[1] + cross[1],
        p[3] * q[2] + q[3] * p[2] + cross[2],
        p[3] * q[3] - p[0] * q[0] - p[1] * q[1] - p[2] * q[2],
    ]
}

/// scipy's `_quat_canonical_single`: the sign with `w > 0` (ties broken on x, then y, then z).
fn canonical(q: [f64; 4]) -> [f64; 4] {
    let flip = q[3] < 0.0
        || (q[3] == 0.0 && q[0] < 0.0)
        || (q[3] == 0.0 && q[0] == 0.0 && q[1] < 0.0)
        || (q[3] == 0.0 && q[0] == 0.0 && q[1] == 0.0 && q[2] < 0.0);
    if flip {
        [-q[0], -q[1], -q[2], -q[3]]
    } else {
        q
    }
}

/// scipy's `_make_elementary_quat`: the rotation by `angle` about basis axis `axis`.
fn elementary_quat(axis: usize, angle: f64) -> [f64; 4] {
    let mut q = [0.0; 4];
    q[3] = (angle / 2.0).cos();
    q[axis] = (angle / 2.0).sin();
    q
}

/// A parsed Euler sequence: three basis-axis indices and whether it is intrinsic.
struct EulerSeq {
    axes: [usize; 3],
    intrinsic: bool,
}

/// Parses an Euler sequence with scipy's rules: exactly three letters, all from `xyz`
/// (extrinsic) or all from `XYZ` (intrinsic), no two consecutive axes equal.
fn parse_seq(seq: &str) -> Result<EulerSeq> {
    let bytes = seq.as_bytes();
    if bytes.len() != 3 {
        return Err(invalid(
            "seq",
            format!("Euler sequence `{seq}` must have exactly 3 axes (three angles are given)"),
        ));
    }
    let extrinsic = bytes.iter().all(|b| matches!(b, b'x' | b'y' | b'z'));
    let intrinsic = bytes.iter().all(|b| matches!(b, b'X' | b'Y' | b'Z'));
    if !(extrinsic || intrinsic) {
        return Err(invalid(
            "seq",
            format!(
                "Euler sequence `{seq}` must use only `xyz` (extrinsic) or only `XYZ` \
                 (intrinsic)"
            ),
        ));
    }
    if bytes[0] == bytes[1] || bytes[1] == bytes[2] {
        return Err(invalid(
            "seq",
            format!("Euler sequence `{seq}` has two equal consecutive axes"),
        ));
    }
    let index = |b: u8| usize::from(b.to_ascii_lowercase() - b'x');
    Ok(EulerSeq {
        axes: [index(bytes[0]), index(bytes[1]), index(bytes[2])],
        intrinsic,
    })
}

/// scipy's `_elementary_quat_compose` (no normalisation, as in scipy).
fn euler_quat(seq: &EulerSeq, angles: [f64; 3]) -> [f64; 4] {
    let mut q = elementary_quat(seq.axes[0], angles[0]);
    for (&axis, &angle) in seq.axes.iter().zip(&angles).skip(1) {
        let e = elementary_quat(axis, angle);
        q = if seq.intrinsic {
            compose_quat(&q, &e)
        } else {
            compose_quat(&e, &q)
        };
    }
    q
}

/// scipy's `_get_angles` (Bernardes and Viollet 2022), gimbal lock included.
#[allow(clippy::too_many_arguments)]
fn get_angles(
    extrinsic: bool,
    symmetric: bool,
    sign: f64,
    lamb: f64,
    a: f64,
    b: f64,
    c: f64,
    d: f64,
) -> [f64; 3] {
    let (first, third) = if extrinsic { (0, 2) } else { (2, 0) };
    let mut angles = [0.0; 3];
    angles[1] = 2.0 * c.hypot(d).atan2(a.hypot(b));
    let case = if angles[1].abs() <= 1e-7 {
        1
    } else if (angles[1] - PI).abs() <= 1e-7 {
        2
    } else {
        0
    };
    let half_sum = b.atan2(a);
    let half_diff = d.atan2(c);
    if case == 0 {
        angles[first] = half_sum - half_diff;
        angles[third] = half_sum + half_diff;
    } else {
        angles[2] = 0.0;
        angles[0] = if case == 1 {
            2.0 * half_sum
        } else {
            2.0 * half_diff * if extrinsic { -1.0 } else { 1.0 }
        };
    }
    if !symmetric {
        angles[third] *= sign;
        angles[1] -= lamb;
    }
    for angle in &mut angles {
        if *angle < -PI {
            *angle += 2.0 * PI;
        } else if *angle > PI {
            *angle -= 2.0 * PI;
        }
    }
    angles
}

/// scipy's `_compute_euler_from_quat` for one quaternion.
fn quat_to_euler(q: &[f64; 4], seq: &EulerSeq) -> [f64; 3] {
    let extrinsic = !seq.intrinsic;
    let [i, j, k0] = if extrinsic {
        seq.axes
    } else {
        [seq.axes[2], seq.axes[1], seq.axes[0]]
    };
    let symmetric = i == k0;
    let k = if symmetric { 3 - i - j } else { k0 };
    // +1 for an even permutation of (0, 1, 2), -1 for an odd one.
    let (ii, jj, kk) = (i as i64, j as i64, k as i64);
    let sign = ((ii - jj) * (jj - kk) * (kk - ii)).div_euclid(2) as f64;
    let (a, b, c, d) = if symmetric {
        (q[3], q[i], q[j], q[k] * sign)
    } else {
        (
            q[3] - q[j],
            q[i] + q[k] * sign,
            q[j] + q[3],
            q[k] * sign - q[i],
        )
    };
    get_angles(extrinsic, symmetric, sign, PI / 2.0, a, b, c, d)
}

/// Determinant of a 3 x 3 matrix.
fn det3(m: &[[f64; 3]; 3]) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// `M M^T`.
fn gram(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut g = [[0.0; 3]; 3];
    for (i, row) in g.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = dot3(&m[i], &m[j]);
        }
    }
    g
}

/// The orthogonal polar factor of a non-singular `M` (what scipy computes as `U @ Vt` from the
/// SVD), by Newton's iteration `X <- (X + X^-T) / 2`, which converges quadratically.
fn orthogonal_polar_factor(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut x = *m;
    for _ in 0..60 {
        let det = det3(&x);
        // X^-T = cofactor(X) / det.
        let cof = |r: usize, c: usize| {
            let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
            let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
            x[r1][c1] * x[r2][c2] - x[r1][c2] * x[r2][c1]
        };
        let mut next = [[0.0; 3]; 3];
        let mut change: f64 = 0.0;
        for (r, row) in next.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = 0.5 * (x[r][c] + cof(r, c) / det);
                change = change.max((*v - x[r][c]).abs());
            }
        }
        x = next;
        if change <= 1e-16 {
            break;
        }
    }
    x
}

impl Default for Rotation3 {
    fn default() -> Self {
        Self::identity()
    }
}

impl Rotation3 {
    /// The identity rotation, quaternion `(0, 0, 0, 1)` (scipy `Rotation.identity()`).
    pub fn identity() -> Self {
        Self {
            quat: [0.0, 0.0, 0.0, 1.0],
        }
    }

    /// A rotation from a quaternion `(x, y, z, w)` of any non-zero norm, divided by its norm
    /// as scipy `Rotation.from_quat(q)` does (the sign is kept). Errors for a zero or
    /// non-finite quaternion.
    pub fn from_quat(q: [f64; 4]) -> Result<Self> {
        if q.iter().any(|v| !v.is_finite()) {
            return Err(invalid("quat", format!("quaternion {q:?} is not finite")));
        }
        normalize4(q)
            .map(|quat| Self { quat })
            .ok_or_else(|| invalid("quat", "zero-norm quaternion"))
    }

    /// The quaternion `(x, y, z, w)`, sign as produced (scipy `as_quat()`).
    pub fn as_quat(&self) -> [f64; 4] {
        self.quat
    }

    /// The quaternion with the sign that makes `w > 0` (ties broken on x, then y, then z), as
    /// scipy `as_quat(canonical=True)`.
    pub fn as_quat_canonical(&self) -> [f64; 4] {
        canonical(self.quat)
    }

    /// A rotation from three Euler angles (radians) about the axes of `seq`, with scipy's
    /// rules (scipy `Rotation.from_euler(seq, angles)`): lower case `xyz` letters are
    /// extrinsic (fixed-frame) rotations, upper case `XYZ` intrinsic (body-frame) ones; no
    /// mixing, exactly three letters, no two consecutive axes equal. Extrinsic `"xyz"` is
    /// `q = q_z(c) q_y(b) q_x(a)`; intrinsic `"XYZ"` is `q = q_x(a) q_y(b) q_z(c)`. As in
    /// scipy, the product is not renormalised. Errors for an invalid sequence or non-finite
    /// angles.
    pub fn from_euler(seq: &str, angles: [f64; 3]) -> Result<Self> {
        let seq = parse_seq(seq)?;
        if angles.iter().any(|a| !a.is_finite()) {
            return Err(invalid(
                "angles",
                format!("Euler angles {angles:?} are not finite"),
            ));
        }
        Ok(Self {
            quat: euler_quat(&seq, angles),
        })
    }

    /// Extrinsic `xyz` Euler angles `[a, b, c]` (radians): `R = Rz(c) Ry(b) Rx(a)`, i.e.
    /// scipy `Rotation.from_euler("xyz", angles)` and Blender's `rotation_euler` in `XYZ`
    /// mode. This is how 3DIEBench stores object rotations. Non-finite angles give a NaN
    /// quaternion, as in scipy.
    pub fn from_euler_xyz(angles: [f64; 3]) -> Self {
        let seq = EulerSeq {
            axes: [0, 1, 2],
            intrinsic: false,
        };
        Self {
            quat: euler_quat(&seq, angles),
        }
    }

    /// Euler angles (radians) for the sequence `seq` (rules as in [`Rotation3::from_euler`]),
    /// computed as scipy `as_euler(seq)` does. The first and third angles are in `[-pi, pi]`;
    /// the second is in `[-pi/2, pi/2]` for Tait-Bryan sequences (`xyz`, ...) and in `[0, pi]`
    /// for proper Euler sequences (`zxz`, ...). At gimbal lock (the second angle within 1e-7
    /// rad of its singular values) the third angle is set to 0 and the first carries the
    /// whole remaining rotation, as scipy does (scipy also warns; this does not).
    pub fn as_euler(&self, seq: &str) -> Result<[f64; 3]> {
        Ok(quat_to_euler(&self.quat, &parse_seq(seq)?))
    }

    /// Extrinsic `xyz` Euler angles `[a, b, c]` with `R = Rz(c) Ry(b) Rx(a)`, as scipy
    /// `as_euler("xyz")`: `a, c` in `[-pi, pi]`, `b` in `[-pi/2, pi/2]`. Angles in
    /// `[-pi/2, pi/2]^3` (the 3DIEBench range) come back unchanged. Gimbal lock (`b` within
    /// 1e-7 rad of `±pi/2`): `c` is set to 0 and `a` carries the rest of the rotation about
    /// the (then aligned) x and z axes, exactly as scipy.
    pub fn as_euler_xyz(&self) -> [f64; 3] {
        quat_to_euler(
            &self.quat,
            &EulerSeq {
                axes: [0, 1, 2],
                intrinsic: false,
            },
        )
    }

    /// The rotation matrix (`m[row][col]`), acting on column vectors (scipy `as_matrix()`).
    pub fn as_matrix(&self) -> [[f64; 3]; 3] {
        let [x, y, z, w] = self.quat;
        let (x2, y2, z2, w2) = (x * x, y * y, z * z, w * w);
        let (xy, zw, xz, yw, yz, xw) = (x * y, z * w, x * z, y * w, y * z, x * w);
        [
            [x2 - y2 - z2 + w2, 2.0 * (xy - zw), 2.0 * (xz + yw)],
            [2.0 * (xy + zw), -x2 + y2 - z2 + w2, 2.0 * (yz - xw)],
            [2.0 * (xz - yw), 2.0 * (yz + xw), -x2 - y2 + z2 + w2],
        ]
    }

    /// A rotation from a rotation matrix (`m[row][col]`), as scipy
    /// `Rotation.from_matrix(m)`, including the sign of the quaternion: a matrix that is not
    /// orthogonal to scipy's tolerance (`|M M^T - I| <= 1e-12 + 1e-5 I`) is first replaced by
    /// its nearest rotation (the orthogonal polar factor, scipy's `U @ Vt`), then the
    /// quaternion is built from the largest of `m00, m11, m22, trace` (first one on ties), so
    /// `w >= 0` when the trace wins and the largest diagonal slot is positive otherwise.
    /// Errors for non-finite entries, `det(M) <= 0`, or `M M^T` further than 1e-4 from `I`.
    pub fn from_matrix(m: [[f64; 3]; 3]) -> Result<Self> {
        if m.iter().flatten().any(|v| !v.is_finite()) {
            return Err(invalid("matrix", format!("matrix {m:?} is not finite")));
        }
        let det = det3(&m);
        if det <= 0.0 {
            return Err(invalid(
                "matrix",
                format!("matrix {m:?} has determinant {det} <= 0: not a rotation"),
            ));
        }
        let g = gram(&m);
        let mut worst: f64 = 0.0;
        let mut scipy_orthogonal = true;
        for (i, row) in g.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let eye = if i == j { 1.0 } else { 0.0 };
                worst = worst.max((v - eye).abs());
                // numpy.isclose(gram, eye, atol=1e-12) with its default rtol = 1e-5.
                scipy_orthogonal &= (v - eye).abs() <= 1e-12 + 1e-5 * eye;
            }
        }
        if worst > ORTHOGONAL_TOL {
            return Err(invalid(
                "matrix",
                format!(
                    "matrix {m:?} is not orthogonal: M M^T differs from I by {worst:e} \
                     (tolerance {ORTHOGONAL_TOL:e})"
                ),
            ));
        }
        let m = if scipy_orthogonal {
            m
        } else {
            orthogonal_polar_factor(&m)
        };
        Self::from_orthogonal_matrix(&m)
    }

    /// scipy's `_from_matrix_orthogonal`.
    fn from_orthogonal_matrix(m: &[[f64; 3]; 3]) -> Result<Self> {
        let trace = m[0][0] + m[1][1] + m[2][2];
        let decision = [m[0][0], m[1][1], m[2][2], trace];
        let mut choice = 0;
        for (idx, v) in decision.iter().enumerate().skip(1) {
            if *v > decision[choice] {
                choice = idx;
            }
        }
        let mut q = [0.0; 4];
        if choice != 3 {
            let i = choice;
            let j = (i + 1) % 3;
            let k = (j + 1) % 3;
            q[i] = 1.0 - trace + 2.0 * m[i][i];
            q[j] = m[j][i] + m[i][j];
            q[k] = m[k][i] + m[i][k];
            q[3] = m[k][j] - m[j][k];
        } else {
            q[0] = m[2][1] - m[1][2];
            q[1] = m[0][2] - m[2][0];
            q[2] = m[1][0] - m[0][1];
            q[3] = 1.0 + trace;
        }
        normalize4(q)
            .map(|quat| Self { quat })
            .ok_or_else(|| invalid("matrix", format!("matrix {m:?} is not a rotation")))
    }

    /// A rotation from a rotation vector (axis times angle in radians), as scipy
    /// `Rotation.from_rotvec(v)`: `q = (sin(t/2) v / t, cos(t/2))` with `t = |v|`, using the
    /// same Taylor series as scipy for `t <= 1e-3` and no renormalisation. Non-finite input
    /// gives a NaN quaternion, as in scipy.
    pub fn from_rotvec(v: [f64; 3]) -> Self {
        let angle = norm3(&v);
        let scale = if angle <= 1e-3 {
            let angle2 = angle * angle;
            0.5 - angle2 / 48.0 + angle2 * angle2 / 3840.0
        } else {
            (angle / 2.0).sin() / angle
        };
        Self {
            quat: [
                scale * v[0],
                scale * v[1],
                scale * v[2],
                (angle / 2.0).cos(),
            ],
        }
    }

    /// The rotation vector (axis times angle, angle in `[0, pi]`), as scipy `as_rotvec()`:
    /// the quaternion is first given the sign with `w >= 0`, and angles `<= 1e-3` use scipy's
    /// Taylor series.
    pub fn as_rotvec(&self) -> [f64; 3] {
        let q = canonical(self.quat);
        let angle = 2.0 * norm3(&q).atan2(q[3]);
        let scale = if angle <= 1e-3 {
            let angle2 = angle * angle;
            2.0 + angle2 / 12.0 + 7.0 * angle2 * angle2 / 2880.0
        } else {
            angle / (angle / 2.0).sin()
        };
        [scale * q[0], scale * q[1], scale * q[2]]
    }

    /// The rotation by `angle` radians (right-handed) about `axis` (any non-zero length),
    /// i.e. scipy `Rotation.from_rotvec(angle * axis / |axis|)`. Errors for a zero or
    /// non-finite axis or a non-finite angle.
    pub fn from_axis_angle(axis: [f64; 3], angle: f64) -> Result<Self> {
        let norm = norm3(&axis);
        if !norm.is_finite() || !angle.is_finite() {
            return Err(invalid(
                "axis",
                format!("axis {axis:?} or angle {angle} is not finite"),
            ));
        }
        if norm == 0.0 {
            return Err(invalid("axis", "the rotation axis is the zero vector"));
        }
        Ok(Self::from_rotvec([
            angle * axis[0] / norm,
            angle * axis[1] / norm,
            angle * axis[2] / norm,
        ]))
    }

    /// The rotation angle in `[0, pi]` (scipy `magnitude()`: `2 atan2(|xyz|, |w|)`).
    pub fn angle(&self) -> f64 {
        2.0 * norm3(&self.quat).atan2(self.quat[3].abs())
    }

    /// The geodesic distance to `other`: the angle of `self^-1 other`, in `[0, pi]`
    /// (scipy `(self.inv() * other).magnitude()`). Zero for `q` and `-q`.
    pub fn angle_to(&self, other: &Rotation3) -> f64 {
        let q = compose_quat(&self.inv().quat, &other.quat);
        2.0 * norm3(&q).atan2(q[3].abs())
    }

    /// The product `self other` (`other` acts first), as scipy `self * other`: the Hamilton
    /// product `q_self q_other`, divided by its norm as scipy does, sign kept.
    pub fn compose(&self, other: &Rotation3) -> Self {
        let q = compose_quat(&self.quat, &other.quat);
        // The product of two unit quaternions has norm 1 up to rounding, never 0.
        Self {
            quat: normalize4(q).unwrap_or(q),
        }
    }

    /// The inverse rotation, the conjugate quaternion `(-x, -y, -z, w)` (scipy `inv()`).
    pub fn inv(&self) -> Self {
        let [x, y, z, w] = self.quat;
        Self {
            quat: [-x, -y, -z, w],
        }
    }

    /// The rotation from view `self` to view `other` in `self`'s body frame,
    /// `self^-1 other` (so `self.compose(&self.relative_to(&other)) == other`): scipy
    /// `r1.inv() * r2`. This is the "rotation action" between two views of an object in
    /// 3DIEBench and ContextSSL.
    pub fn relative_to(&self, other: &Rotation3) -> Self {
        self.inv().compose(other)
    }

    /// Rotates a vector: `R v` with `R = as_matrix()` (scipy `apply(v)`).
    pub fn apply(&self, v: [f64; 3]) -> [f64; 3] {
        let m = self.as_matrix();
        [dot3(&m[0], &v), dot3(&m[1], &v), dot3(&m[2], &v)]
    }

    /// A Haar-random rotation: a 4-D standard Gaussian, normalised (scipy
    /// `Rotation.random()`).
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        loop {
            let q: [f64; 4] = std::array::from_fn(|_| rng.sample(StandardNormal));
            if let Some(quat) = normalize4(q) {
                return Self { quat };
            }
        }
    }
}

impl std::ops::Mul for Rotation3 {
    type Output = Rotation3;

    /// `a * b` is [`Rotation3::compose`], as scipy's `*`.
    fn mul(self, rhs: Rotation3) -> Rotation3 {
        self.compose(&rhs)
    }
}

/// Decodes four checked slots as a quaternion, rejecting norms off 1 by more than 1e-3.
pub(crate) fn decode_quat(layout: &ParamLayout, group: &str, params: &[f32]) -> Result<Rotation3> {
    let q: [f64; 4] = std::array::from_fn(|i| f64::from(params[i]));
    let norm = (dot3(&q, &q) + q[3] * q[3]).sqrt();
    if (norm - 1.0).abs() > UNIT_TOL {
        return Err(layout.decode_error(
            group,
            format!("non-unit quaternion (norm {norm:.6}, allowed 1 ± {UNIT_TOL})"),
        ));
    }
    normalize4(q)
        .map(|quat| Rotation3 { quat })
        .ok_or_else(|| layout.decode_error(group, "zero quaternion"))
}

/// Encodes a rotation as its quaternion `(x, y, z, w)` in `f32`, sign as stored.
pub(crate) fn encode_quat(r: &Rotation3) -> [f32; 4] {
    r.quat.map(|v| v as f32)
}

/// The rows of a matrix, concatenated.
pub(crate) fn row_major(m: &[[f64; 3]; 3]) -> Vec<f64> {
    m.iter().flatten().copied().collect()
}

/// A few rotations for tests: identity, quarter turns about x, y, z, a half turn about a
/// diagonal axis and a generic rotation.
pub(crate) fn special_rotations() -> Vec<Rotation3> {
    let h = std::f64::consts::FRAC_1_SQRT_2;
    vec![
        Rotation3::identity(),
        Rotation3 {
            quat: [h, 0.0, 0.0, h],
        },
        Rotation3 {
            quat: [0.0, h, 0.0, h],
        },
        Rotation3 {
            quat: [0.0, 0.0, h, h],
        },
        Rotation3 {
            quat: [h, h, 0.0, 0.0],
        },
        Rotation3::from_euler_xyz([0.3, -0.7, 1.1]),
    ]
}

/// SO(3), the rotations of 3-D space. Elements are [`Rotation3`] (unit quaternions, scipy
/// conventions).
///
/// - Composition is scipy's `a * b` (`b` acts first); the inverse is the conjugate.
/// - Sampling: Haar (normalised 4-D standard Gaussian, as scipy `Rotation.random`).
/// - Layout `so3.quat_xyzw` v1: 4 floats `[qx, qy, qz, qw]`, scalar last, the sign exactly
///   as scipy's `as_quat()` would give it (not canonicalised: `q` and `-q` are the same
///   rotation; canonicalise with [`Rotation3::as_quat_canonical`] before regressing if the
///   sign matters). Decoding rejects quaternions whose norm is off 1 by more than 1e-3 and
///   renormalises the others.
/// - Distance: geodesic, the rotation angle of `a^-1 b`, in `[0, pi]`.
/// - Acts on `R^3` by its rotation matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SO3;

impl Group for SO3 {
    type Element = Rotation3;

    fn name(&self) -> String {
        "SO(3)".into()
    }

    fn identity(&self) -> Rotation3 {
        Rotation3::identity()
    }

    fn compose(&self, a: &Rotation3, b: &Rotation3) -> Rotation3 {
        a.compose(b)
    }

    fn inverse(&self, a: &Rotation3) -> Rotation3 {
        a.inv()
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Rotation3 {
        Rotation3::random(rng)
    }

    fn sampling(&self) -> String {
        "Haar (normalised 4-D standard Gaussian quaternion, as scipy Rotation.random)".into()
    }

    fn layout(&self) -> ParamLayout {
        ParamLayout::new("so3.quat_xyzw", 1, ["qx", "qy", "qz", "qw"])
    }

    fn encode(&self, g: &Rotation3) -> Vec<f32> {
        encode_quat(g).to_vec()
    }

    fn decode(&self, params: &[f32]) -> Result<Rotation3> {
        let (name, layout) = (self.name(), self.layout());
        layout.check(&name, params)?;
        decode_quat(&layout, &name, params)
    }

    fn distance(&self, a: &Rotation3, b: &Rotation3) -> Option<f64> {
        Some(a.angle_to(b))
    }

    fn approx_eq(&self, a: &Rotation3, b: &Rotation3, tol: f64) -> bool {
        a.angle_to(b) <= tol
    }

    fn test_elements(&self) -> Vec<Rotation3> {
        special_rotations()
    }
}

impl LinearGroup for SO3 {
    fn dim(&self) -> usize {
        3
    }

    fn matrix(&self, g: &Rotation3) -> Vec<f64> {
        row_major(&g.as_matrix())
    }
}

impl_linear_actions!(SO3);

#[cfg(test)]
mod tests {
    use std::f64::consts::{FRAC_1_SQRT_2 as H, FRAC_PI_2};

    use super::*;
    use crate::group::VectorAction;

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn quarter_turn_about_z_maps_x_to_y() {
        let r = Rotation3::from_euler_xyz([0.0, 0.0, FRAC_PI_2]);
        assert!(close(&r.as_quat(), &[0.0, 0.0, H, H], 1e-15), "{r:?}");
        assert!(close(&r.apply([1.0, 0.0, 0.0]), &[0.0, 1.0, 0.0], 1e-15));
        let m = SO3.act_vector(&r, &[0.0f32, 1.0, 0.0]).expect("length 3");
        assert!(close(
            &m.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
            &[-1.0, 0.0, 0.0],
            1e-7
        ));
    }

    #[test]
    fn extrinsic_xyz_applies_x_first() {
        // Rx(pi/2) then Rz(pi/2): y -> z -> z; x -> x -> y.
        let r = Rotation3::from_euler_xyz([FRAC_PI_2, 0.0, FRAC_PI_2]);
        assert!(close(&r.apply([0.0, 1.0, 0.0]), &[0.0, 0.0, 1.0], 1e-15));
        assert!(close(&r.apply([1.0, 0.0, 0.0]), &[0.0, 1.0, 0.0], 1e-15));
        // The intrinsic sequence reverses the order: Rx(pi/2) Rz(pi/2), so x -> y -> z.
        let r = Rotation3::from_euler("XYZ", [FRAC_PI_2, 0.0, FRAC_PI_2]).expect("valid");
        assert!(close(&r.apply([1.0, 0.0, 0.0]), &[0.0, 0.0, 1.0], 1e-15));
    }

    #[test]
    fn compose_applies_right_factor_first_and_relative_undoes() {
        let a = Rotation3::from_euler_xyz([0.2, 0.5, -0.3]);
        let b = Rotation3::from_euler_xyz([-0.7, 0.1, 1.0]);
        let v = [0.3, -1.0, 2.0];
        assert!(close(&a.compose(&b).apply(v), &a.apply(b.apply(v)), 1e-14));
        assert!(a.compose(&a.relative_to(&b)).angle_to(&b) < 1e-14);
        assert!(a.compose(&a.inv()).angle() < 1e-15);
        assert_eq!(a.inv().as_quat()[3], a.as_quat()[3]);
    }

    #[test]
    fn rotvec_and_axis_angle_agree() {
        let r = Rotation3::from_axis_angle([0.0, 0.0, 2.0], 1.0).expect("non-zero axis");
        assert!(close(&r.as_rotvec(), &[0.0, 0.0, 1.0], 1e-15));
        assert!((r.angle() - 1.0).abs() < 1e-15);
        // The small-angle series path.
        let r = Rotation3::from_rotvec([1e-4, 0.0, 0.0]);
        assert!(close(&r.as_rotvec(), &[1e-4, 0.0, 0.0], 1e-18));
        // as_rotvec takes w >= 0: q and -q give the same vector.
        let q = r.as_quat();
        let neg = Rotation3::from_quat(q.map(|v| -v)).expect("unit");
        assert_eq!(neg.as_rotvec(), r.as_rotvec());
        assert!(Rotation3::from_axis_angle([0.0; 3], 1.0).is_err());
        assert!(Rotation3::from_axis_angle([1.0, 0.0, 0.0], f64::NAN).is_err());
    }

    #[test]
    fn from_matrix_inverts_as_matrix_with_scipy_sign() {
        for r in special_rotations() {
            let back = Rotation3::from_matrix(r.as_matrix()).expect("rotation");
            assert!(back.angle_to(&r) < 1e-15, "{r:?} -> {back:?}");
        }
        // Identity: the trace wins, w = +1.
        let e = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert_eq!(
            Rotation3::from_matrix(e).expect("rotation").as_quat(),
            [0.0, 0.0, 0.0, 1.0]
        );
        // Half turn about z: m22 wins, z = +1.
        let hz = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
        assert_eq!(
            Rotation3::from_matrix(hz).expect("rotation").as_quat(),
            [0.0, 0.0, 1.0, 0.0]
        );
    }

    #[test]
    fn from_matrix_rejects_non_rotations() {
        let reflection = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]];
        let err = Rotation3::from_matrix(reflection)
            .expect_err("det -1")
            .to_string();
        assert!(
            err.contains("SO(3)") && err.contains("determinant"),
            "{err}"
        );
        let scaled = [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]];
        assert!(Rotation3::from_matrix(scaled).is_err());
        let nan = [[f64::NAN, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(Rotation3::from_matrix(nan).is_err());
    }

    #[test]
    fn from_matrix_projects_slightly_non_orthogonal_input() {
        let r = Rotation3::from_euler_xyz([0.4, -0.2, 0.9]);
        let mut m = r.as_matrix();
        m[0][1] += 1e-6;
        let back = Rotation3::from_matrix(m).expect("nearly a rotation");
        assert!(back.angle_to(&r) < 2e-6);
        let g = gram(&back.as_matrix());
        assert!((g[0][0] - 1.0).abs() < 1e-15 && g[0][1].abs() < 1e-15);
    }

    #[test]
    fn euler_sequences_are_validated() {
        for bad in ["xy", "xyzx", "xYz", "xxy", "xyy", "abc", ""] {
            let err = Rotation3::from_euler(bad, [0.0; 3])
                .expect_err(bad)
                .to_string();
            assert!(err.contains("SO(3)"), "{err}");
            assert!(Rotation3::identity().as_euler(bad).is_err());
        }
        assert!(Rotation3::from_euler("zxz", [0.1, 0.2, 0.3]).is_ok());
        assert!(Rotation3::from_euler("xyz", [f64::NAN, 0.0, 0.0]).is_err());
    }

    #[test]
    fn euler_round_trips_and_gimbal_lock() {
        let angles = [0.3, -1.2, 0.8];
        let got = Rotation3::from_euler_xyz(angles).as_euler_xyz();
        assert!(close(&got, &angles, 1e-14), "{got:?}");
        for seq in ["zyx", "XYZ", "ZXZ", "yzy"] {
            let a = [0.3, 1.2, -0.8];
            let r = Rotation3::from_euler(seq, a).expect("valid");
            assert!(close(&r.as_euler(seq).expect("valid"), &a, 1e-14), "{seq}");
        }
        // Gimbal lock: the third angle is zeroed, the first takes a - c (b = +pi/2).
        let got = Rotation3::from_euler_xyz([0.3, FRAC_PI_2, 0.2]).as_euler_xyz();
        assert!(close(&got, &[0.1, FRAC_PI_2, 0.0], 1e-12), "{got:?}");
    }

    #[test]
    fn from_quat_normalises_and_rejects_zero() {
        let r = Rotation3::from_quat([0.0, 0.0, 0.0, -2.0]).expect("non-zero");
        assert_eq!(r.as_quat(), [0.0, 0.0, 0.0, -1.0]);
        assert_eq!(r.as_quat_canonical(), [0.0, 0.0, 0.0, 1.0]);
        assert!(r.angle_to(&Rotation3::identity()) == 0.0);
        assert!(Rotation3::from_quat([0.0; 4]).is_err());
        assert!(Rotation3::from_quat([f64::INFINITY, 0.0, 0.0, 1.0]).is_err());
    }

    #[test]
    fn decode_rejects_bad_vectors() {
        let err = SO3
            .decode(&[0.0, 0.0, 0.0, 0.5])
            .expect_err("non-unit")
            .to_string();
        assert!(
            err.contains("SO(3)") && err.contains("so3.quat_xyzw"),
            "{err}"
        );
        assert!(err.contains("non-unit quaternion"), "{err}");
        assert!(SO3.decode(&[0.0, 0.0, 1.0]).is_err());
        assert!(SO3.decode(&[f32::NAN, 0.0, 0.0, 1.0]).is_err());
        let r = SO3
            .decode(&[0.0, 0.0, 0.0, -1.0005])
            .expect("close enough to unit");
        assert_eq!(r.as_quat(), [0.0, 0.0, 0.0, -1.0]);
    }
}
