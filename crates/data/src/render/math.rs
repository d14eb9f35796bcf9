//! A small `f32` 3-vector and 3x3 matrix, all the renderer needs.

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// A 3-vector of `f32`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct V3 {
    pub x: f32,
    pub y: f32,
    pub z: f32,
}

/// Shorthand constructor.
#[inline(always)]
pub(crate) const fn v3(x: f32, y: f32, z: f32) -> V3 {
    V3 { x, y, z }
}

impl V3 {
    pub const ZERO: V3 = v3(0.0, 0.0, 0.0);

    #[inline(always)]
    pub fn splat(a: f32) -> V3 {
        v3(a, a, a)
    }

    #[inline(always)]
    pub fn dot(self, o: V3) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    #[inline(always)]
    pub fn cross(self, o: V3) -> V3 {
        v3(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }

    #[inline(always)]
    pub fn len2(self) -> f32 {
        self.dot(self)
    }

    #[inline(always)]
    pub fn len(self) -> f32 {
        self.len2().sqrt()
    }

    #[inline(always)]
    pub fn normalize(self) -> V3 {
        let l = self.len();
        if l > 0.0 { self * (1.0 / l) } else { self }
    }

    /// Component-wise product.
    #[inline(always)]
    pub fn mul(self, o: V3) -> V3 {
        v3(self.x * o.x, self.y * o.y, self.z * o.z)
    }

    #[inline(always)]
    pub fn min(self, o: V3) -> V3 {
        v3(self.x.min(o.x), self.y.min(o.y), self.z.min(o.z))
    }

    #[inline(always)]
    pub fn max(self, o: V3) -> V3 {
        v3(self.x.max(o.x), self.y.max(o.y), self.z.max(o.z))
    }

    #[inline(always)]
    pub fn abs(self) -> V3 {
        v3(self.x.abs(), self.y.abs(), self.z.abs())
    }

    #[inline(always)]
    pub fn max_elem(self) -> f32 {
        self.x.max(self.y).max(self.z)
    }

    /// Linear interpolation `self + (o - self) t`.
    #[inline(always)]
    pub fn lerp(self, o: V3, t: f32) -> V3 {
        self + (o - self) * t
    }
}

impl Add for V3 {
    type Output = V3;
    #[inline(always)]
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl AddAssign for V3 {
    #[inline(always)]
    fn add_assign(&mut self, o: V3) {
        *self = *self + o;
    }
}

impl Sub for V3 {
    type Output = V3;
    #[inline(always)]
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Mul<f32> for V3 {
    type Output = V3;
    #[inline(always)]
    fn mul(self, a: f32) -> V3 {
        v3(self.x * a, self.y * a, self.z * a)
    }
}

impl Div<f32> for V3 {
    type Output = V3;
    #[inline(always)]
    fn div(self, a: f32) -> V3 {
        self * (1.0 / a)
    }
}

impl Neg for V3 {
    type Output = V3;
    #[inline(always)]
    fn neg(self) -> V3 {
        v3(-self.x, -self.y, -self.z)
    }
}

/// A 3x3 matrix stored as rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct M3 {
    pub rows: [V3; 3],
}

impl M3 {
    pub const IDENTITY: M3 = M3 {
        rows: [v3(1.0, 0.0, 0.0), v3(0.0, 1.0, 0.0), v3(0.0, 0.0, 1.0)],
    };

    /// From a row-major `f64` matrix.
    pub fn from_f64(m: [[f64; 3]; 3]) -> M3 {
        let r = |i: usize| v3(m[i][0] as f32, m[i][1] as f32, m[i][2] as f32);
        M3 {
            rows: [r(0), r(1), r(2)],
        }
    }

    /// Rotation by `angle` radians about the unit `axis` (Rodrigues).
    pub fn axis_angle(axis: V3, angle: f32) -> M3 {
        let a = axis.normalize();
        let (s, c) = angle.sin_cos();
        let t = 1.0 - c;
        M3 {
            rows: [
                v3(
                    t * a.x * a.x + c,
                    t * a.x * a.y - s * a.z,
                    t * a.x * a.z + s * a.y,
                ),
                v3(
                    t * a.x * a.y + s * a.z,
                    t * a.y * a.y + c,
                    t * a.y * a.z - s * a.x,
                ),
                v3(
                    t * a.x * a.z - s * a.y,
                    t * a.y * a.z + s * a.x,
                    t * a.z * a.z + c,
                ),
            ],
        }
    }

    /// `M v`.
    #[inline(always)]
    pub fn apply(&self, v: V3) -> V3 {
        v3(
            self.rows[0].dot(v),
            self.rows[1].dot(v),
            self.rows[2].dot(v),
        )
    }

    /// `M^T v`.
    #[inline(always)]
    pub fn apply_t(&self, v: V3) -> V3 {
        self.rows[0] * v.x + self.rows[1] * v.y + self.rows[2] * v.z
    }

    /// The transpose.
    pub fn transpose(&self) -> M3 {
        let [a, b, c] = self.rows;
        M3 {
            rows: [v3(a.x, b.x, c.x), v3(a.y, b.y, c.y), v3(a.z, b.z, c.z)],
        }
    }
}

/// Smooth Hermite step from 0 at `e0` to 1 at `e1`.
#[inline(always)]
pub(crate) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}
