//! The planar rotation group SO(2) and the planar orthogonal group O(2), by angle.

use std::f64::consts::{PI, TAU};

use rand::Rng;

use crate::error::Result;
use crate::group::{Group, LinearGroup, impl_linear_actions};
use crate::layout::{ParamLayout, flag_slot};

/// How far `(cos, sin)` may be from the unit circle before decoding rejects it.
const UNIT_TOL: f64 = 1e-3;

/// Wraps an angle to `(-pi, pi]`.
pub fn wrap_angle(t: f64) -> f64 {
    let r = (t + PI).rem_euclid(TAU) - PI;
    if r <= -PI { r + TAU } else { r }
}

/// Reads a `(cos, sin)` pair from the first two (checked) slots as an angle, or explains why
/// the pair is not on the unit circle.
fn decode_angle(layout: &ParamLayout, group: &str, params: &[f32]) -> Result<f64> {
    let (c, s) = (f64::from(params[0]), f64::from(params[1]));
    let norm = c.hypot(s);
    if (norm - 1.0).abs() > UNIT_TOL {
        return Err(layout.decode_error(group, format!("(cos, sin) has norm {norm:.4}, not 1")));
    }
    Ok(s.atan2(c))
}

/// SO(2), the rotations of the plane. Elements are angles in `(-pi, pi]` (radians,
/// counter-clockwise).
///
/// - Sampling: Haar (angle uniform on `[-pi, pi)`).
/// - Layout `so2.cos_sin` v1: 2 floats `[cos, sin]` (continuous, unlike the angle, so that
///   regressing it has no wrap-around); decoding rejects pairs off the unit circle by more
///   than 1e-3.
/// - Distance: geodesic, `|wrap(a - b)|` in `[0, pi]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SO2;

impl Group for SO2 {
    type Element = f64;

    fn name(&self) -> String {
        "SO(2)".into()
    }

    fn identity(&self) -> f64 {
        0.0
    }

    fn compose(&self, a: &f64, b: &f64) -> f64 {
        wrap_angle(a + b)
    }

    fn inverse(&self, a: &f64) -> f64 {
        wrap_angle(-a)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        rng.random_range(-PI..PI)
    }

    fn sampling(&self) -> String {
        "Haar (angle uniform on [-pi, pi))".into()
    }

    fn layout(&self) -> ParamLayout {
        ParamLayout::new("so2.cos_sin", 1, ["cos", "sin"])
    }

    fn encode(&self, g: &f64) -> Vec<f32> {
        vec![g.cos() as f32, g.sin() as f32]
    }

    fn decode(&self, params: &[f32]) -> Result<f64> {
        let layout = self.layout();
        layout.check(&self.name(), params)?;
        decode_angle(&layout, &self.name(), params)
    }

    fn distance(&self, a: &f64, b: &f64) -> Option<f64> {
        Some(wrap_angle(a - b).abs())
    }

    fn approx_eq(&self, a: &f64, b: &f64, tol: f64) -> bool {
        wrap_angle(a - b).abs() <= tol
    }

    fn test_elements(&self) -> Vec<f64> {
        vec![0.0, PI / 2.0, PI, -PI / 3.0, 1.0]
    }
}

impl LinearGroup for SO2 {
    fn dim(&self) -> usize {
        2
    }

    fn matrix(&self, g: &f64) -> Vec<f64> {
        let (s, c) = g.sin_cos();
        vec![c, -s, s, c]
    }
}

impl_linear_actions!(SO2);

/// An element of O(2): `R(angle) F^reflect`, with `F = diag(1, -1)` the reflection across the
/// x-axis (so the reflection acts first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct O2Element {
    /// Rotation angle in `(-pi, pi]`.
    pub angle: f64,
    /// Whether the reflection across the x-axis is applied (before the rotation).
    pub reflect: bool,
}

/// O(2), the rotations and reflections of the plane.
///
/// - Elements [`O2Element`] `R(t) F^f`; composition uses `F R(t) = R(-t) F`.
/// - Sampling: Haar (angle uniform, reflection with probability 1/2).
/// - Layout `o2.cos_sin_reflect` v1: 3 floats `[cos, sin, reflect]`, `reflect` 0 or 1.
/// - Distance: chordal, the Frobenius norm of the difference of the matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct O2;

impl Group for O2 {
    type Element = O2Element;

    fn name(&self) -> String {
        "O(2)".into()
    }

    fn identity(&self) -> O2Element {
        O2Element {
            angle: 0.0,
            reflect: false,
        }
    }

    fn compose(&self, a: &O2Element, b: &O2Element) -> O2Element {
        let turn = if a.reflect { -b.angle } else { b.angle };
        O2Element {
            angle: wrap_angle(a.angle + turn),
            reflect: a.reflect != b.reflect,
        }
    }

    fn inverse(&self, a: &O2Element) -> O2Element {
        if a.reflect {
            *a
        } else {
            O2Element {
                angle: wrap_angle(-a.angle),
                reflect: false,
            }
        }
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> O2Element {
        O2Element {
            angle: rng.random_range(-PI..PI),
            reflect: rng.random_bool(0.5),
        }
    }

    fn sampling(&self) -> String {
        "Haar (angle uniform on [-pi, pi), reflection with probability 1/2)".into()
    }

    fn layout(&self) -> ParamLayout {
        ParamLayout::new("o2.cos_sin_reflect", 1, ["cos", "sin", "reflect"])
    }

    fn encode(&self, g: &O2Element) -> Vec<f32> {
        vec![
            g.angle.cos() as f32,
            g.angle.sin() as f32,
            f32::from(u8::from(g.reflect)),
        ]
    }

    fn decode(&self, params: &[f32]) -> Result<O2Element> {
        let (name, layout) = (self.name(), self.layout());
        layout.check(&name, params)?;
        let angle = decode_angle(&layout, &name, params)?;
        let reflect = flag_slot(&layout, &name, params, 2)?;
        Ok(O2Element { angle, reflect })
    }

    fn distance(&self, a: &O2Element, b: &O2Element) -> Option<f64> {
        let (ma, mb) = (self.matrix(a), self.matrix(b));
        Some(
            ma.iter()
                .zip(&mb)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
                .sqrt(),
        )
    }

    fn approx_eq(&self, a: &O2Element, b: &O2Element, tol: f64) -> bool {
        a.reflect == b.reflect && wrap_angle(a.angle - b.angle).abs() <= tol
    }

    fn test_elements(&self) -> Vec<O2Element> {
        let e = |angle, reflect| O2Element { angle, reflect };
        vec![
            e(0.0, false),
            e(PI / 2.0, false),
            e(0.0, true),
            e(PI / 2.0, true),
            e(-1.0, true),
        ]
    }
}

impl LinearGroup for O2 {
    fn dim(&self) -> usize {
        2
    }

    fn matrix(&self, g: &O2Element) -> Vec<f64> {
        let (s, c) = g.angle.sin_cos();
        // R(t) diag(1, -1) negates the second column.
        let f = if g.reflect { -1.0 } else { 1.0 };
        vec![c, -s * f, s, c * f]
    }
}

impl_linear_actions!(O2);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::VectorAction;

    #[test]
    fn wrap_angle_lands_in_half_open_interval() {
        assert_eq!(wrap_angle(PI), PI);
        assert_eq!(wrap_angle(-PI), PI);
        assert!((wrap_angle(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((wrap_angle(7.0) - (7.0 - TAU)).abs() < 1e-12);
    }

    #[test]
    fn o2_reflection_flips_y() {
        let g = O2Element {
            angle: 0.0,
            reflect: true,
        };
        assert_eq!(O2.act_vector(&g, &[1.0f64, 2.0]).unwrap(), vec![1.0, -2.0]);
    }

    #[test]
    fn off_circle_and_bad_flag_are_errors() {
        let err = SO2.decode(&[0.5, 0.5]).unwrap_err().to_string();
        assert!(
            err.contains("SO(2)") && err.contains("so2.cos_sin"),
            "{err}"
        );
        assert!(O2.decode(&[1.0, 0.0, 0.5]).is_err());
        assert!(O2.decode(&[1.0, 0.0]).is_err());
    }
}
