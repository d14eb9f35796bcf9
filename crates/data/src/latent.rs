//! The per-view latent vector, exactly 3DIEBench's seven floats: what mini3die renders from and
//! what the 3DIEBench layout stores in `latent_{v}.npy`.

use noether_groups::{ParamLayout, Rotation3};

/// Number of floats in a [`Latent`].
pub const LATENT_LEN: usize = 7;

/// Identifier of the latent layout (see [`latent_layout`]).
pub const LATENT_LAYOUT_ID: &str = "mini3die.latent";

/// Version of the latent layout; bumped whenever the meaning of a slot changes.
pub const LATENT_LAYOUT_VERSION: u32 = 1;

/// Slot names of a [`Latent`], in order.
pub const LATENT_NAMES: [&str; LATENT_LEN] = [
    "rot_x",
    "rot_y",
    "rot_z",
    "floor_hue",
    "spot_theta",
    "spot_phi",
    "spot_hue",
];

/// The versioned layout of [`Latent`] (identifier [`LATENT_LAYOUT_ID`], slots
/// [`LATENT_NAMES`]).
pub fn latent_layout() -> ParamLayout {
    ParamLayout::new(LATENT_LAYOUT_ID, LATENT_LAYOUT_VERSION, LATENT_NAMES)
}

/// The latent of one view: 3DIEBench's seven floats, in 3DIEBench's order and ranges.
///
/// | slot | meaning | sampled from |
/// |---|---|---|
/// | 0, 1, 2 | object rotation, extrinsic `xyz` Euler angles (radians), `R = Rz Ry Rx` ([`Rotation3::from_euler_xyz`]) | each `U[-pi/2, pi/2]` |
/// | 3 | floor hue; floor albedo is HSV `(h, 0.6, 0.6)` | `U[0, 1]` |
/// | 4 | spot-light polar angle `theta` from `+z` (radians) | `U[0, pi/4]` |
/// | 5 | spot-light azimuth `phi` (radians) | `U[0, 2 pi]` |
/// | 6 | spot-light hue; light colour is HSV `(h, 1.0, 0.8)` | `U[0, 1]` |
///
/// All seven are drawn independently for every view by
/// [`sample_latent`](crate::render::sample_latent). The renderer
/// accepts any finite values (angles outside the sampled ranges, hues outside `[0, 1]` wrap).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latent(pub [f32; LATENT_LEN]);

impl Latent {
    /// A latent from its parts: Euler angles, floor hue, spot `theta`, spot `phi`, spot hue.
    pub fn new(
        angles: [f32; 3],
        floor_hue: f32,
        spot_theta: f32,
        spot_phi: f32,
        spot_hue: f32,
    ) -> Self {
        Latent([
            angles[0], angles[1], angles[2], floor_hue, spot_theta, spot_phi, spot_hue,
        ])
    }

    /// The Euler angles (slots 0..3).
    pub fn angles(&self) -> [f32; 3] {
        [self.0[0], self.0[1], self.0[2]]
    }

    /// The object rotation `R = Rz Ry Rx` of the angles (computed in `f64` from the stored
    /// `f32` angles, so it is exactly the rotation of the saved latent).
    pub fn rotation(&self) -> Rotation3 {
        let [x, y, z] = self.angles();
        Rotation3::from_euler_xyz([f64::from(x), f64::from(y), f64::from(z)])
    }

    /// Floor hue (slot 3).
    pub fn floor_hue(&self) -> f32 {
        self.0[3]
    }

    /// Spot-light polar angle from `+z` (slot 4).
    pub fn spot_theta(&self) -> f32 {
        self.0[4]
    }

    /// Spot-light azimuth (slot 5).
    pub fn spot_phi(&self) -> f32 {
        self.0[5]
    }

    /// Spot-light hue (slot 6).
    pub fn spot_hue(&self) -> f32 {
        self.0[6]
    }
}

impl From<[f32; LATENT_LEN]> for Latent {
    fn from(v: [f32; LATENT_LEN]) -> Self {
        Latent(v)
    }
}

impl std::ops::Index<usize> for Latent {
    type Output = f32;

    /// Slot `i` (panics for `i >= 7`, like indexing the array).
    fn index(&self, i: usize) -> &f32 {
        &self.0[i]
    }
}
