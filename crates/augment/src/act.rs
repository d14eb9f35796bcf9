//! Group elements of `noether-groups` acting on images.
//!
//! The plane is read with `x` to the right and `y` *up*, origin at the image centre, so that a
//! group's matrix acts on the picture as it acts on vectors: a rotation by a positive angle
//! turns the content counter-clockwise on screen, and the reflection `diag(1, -1)` of `D_n` and
//! `O(2)` flips top and bottom. `(g . f)(p) = f(g^-1 p)`, so `act(compose(a, b)) =
//! act(a) . act(b)`. Quarter turns (C4, D4, and `C_n` / `D_n` with `n` dividing 4) are exact;
//! other angles are bilinear with zero fill and a mask.

use noether_groups::{Cyclic, Dihedral, DihedralElement, Group, O2, O2Element, SO2};

use crate::error::Result;
use crate::geometry::{self, AffineParams};
use crate::image::{Image, Mask};
use crate::resample::Interpolation;

/// A group whose elements act on images.
pub trait ImageAction: Group {
    /// `g . img`, and the mask of pixels that carry content (all of them for exact actions).
    fn act_image(&self, g: &Self::Element, img: &Image) -> Result<(Image, Mask)>;
}

fn full(img: Image) -> (Image, Mask) {
    let m = Mask::filled(img.height(), img.width(), true);
    (img, m)
}

/// Rotation by `turns` of a full turn, counter-clockwise: exact for multiples of a quarter turn.
fn rotate_turns(img: &Image, k: usize, n: usize) -> (Image, Mask) {
    if 4 % n == 0 {
        return full(geometry::rot90(img, (k * (4 / n)) as i64));
    }
    rotate_radians(img, std::f64::consts::TAU * k as f64 / n as f64)
}

fn rotate_radians(img: &Image, angle: f64) -> (Image, Mask) {
    AffineParams::rotation(angle.to_degrees()).warp(img, Interpolation::Bilinear)
}

impl ImageAction for Cyclic {
    fn act_image(&self, k: &usize, img: &Image) -> Result<(Image, Mask)> {
        Ok(rotate_turns(img, k % self.n(), self.n()))
    }
}

impl ImageAction for Dihedral {
    fn act_image(&self, g: &DihedralElement, img: &Image) -> Result<(Image, Mask)> {
        let flipped;
        let src = if g.reflect {
            flipped = geometry::vflip(img);
            &flipped
        } else {
            img
        };
        Ok(rotate_turns(src, g.k % self.n(), self.n()))
    }
}

impl ImageAction for SO2 {
    fn act_image(&self, angle: &f64, img: &Image) -> Result<(Image, Mask)> {
        Ok(rotate_radians(img, *angle))
    }
}

impl ImageAction for O2 {
    fn act_image(&self, g: &O2Element, img: &Image) -> Result<(Image, Mask)> {
        let src = if g.reflect {
            geometry::vflip(img)
        } else {
            img.clone()
        };
        Ok(rotate_radians(&src, g.angle))
    }
}
