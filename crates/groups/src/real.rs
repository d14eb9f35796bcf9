//! The scalar types that group actions accept.

/// A floating-point scalar that group elements can act on: `f32` or `f64`.
///
/// Group elements are stored in `f64` (so that conversions such as the SO(3) parity with
/// scipy hold to 1e-6 and beyond); actions convert the element once and compute in `T`.
pub trait Real: num_traits::Float + Send + Sync + std::fmt::Debug + 'static {
    /// Converts from `f64` (rounding for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Converts to `f64` (exactly).
    fn as_f64(self) -> f64;
}

impl Real for f32 {
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    fn from_f64(x: f64) -> Self {
        x
    }
    fn as_f64(self) -> f64 {
        self
    }
}
