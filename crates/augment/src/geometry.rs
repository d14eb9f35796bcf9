//! Geometric image functions: crops, flips, exact quarter turns, integer shifts, and the affine
//! matrices of rotations, scalings, shears and translations in torchvision's convention.
//!
//! Coordinates: `x` to the right, `y` down, in pixels; an angle is counter-clockwise *as seen on
//! screen* when positive (torchvision's `rotate`). Group elements act on the image through these
//! functions with the plane read `y` up, so that a rotation by a positive angle in
//! `noether-groups` turns the picture counter-clockwise.

use crate::error::{Result, invalid};
use crate::image::{Image, Mask};
use crate::resample::{Affine, Interpolation, warp_affine};

/// A crop box in pixels of the source image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CropBox {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl CropBox {
    /// Checks that the box is non-empty and lies inside an `height x width` image; `op` names
    /// the op in the error.
    pub fn check(&self, op: &str, height: usize, width: usize) -> Result<()> {
        if self.height == 0 || self.width == 0 {
            return Err(invalid(op, format!("empty crop {self:?}")));
        }
        if self.top + self.height > height || self.left + self.width > width {
            return Err(invalid(
                op,
                format!(
                    "crop of {}x{} at (top {}, left {}) does not fit in an image of {height}x{width}",
                    self.height, self.width, self.top, self.left
                ),
            ));
        }
        Ok(())
    }
}

/// The pixels inside `bx`; errors when the box does not fit (a crop larger than the image).
pub fn crop(img: &Image, bx: CropBox) -> Result<Image> {
    bx.check("crop", img.height(), img.width())?;
    Ok(Image::from_fn(
        img.channels(),
        bx.height,
        bx.width,
        |c, y, x| img.get(c, bx.top + y, bx.left + x),
    ))
}

/// Places `patch` at `bx` on a zero canvas of `height x width`; the mask is the box.
pub fn paste(patch: &Image, bx: CropBox, height: usize, width: usize) -> (Image, Mask) {
    let inside = |y: usize, x: usize| {
        y >= bx.top && y < bx.top + bx.height && x >= bx.left && x < bx.left + bx.width
    };
    let img = Image::from_fn(patch.channels(), height, width, |c, y, x| {
        if inside(y, x) {
            patch.get(c, y - bx.top, x - bx.left)
        } else {
            0.0
        }
    });
    (img, Mask::from_fn(height, width, inside))
}

/// Mirror left-right (torchvision `hflip`).
pub fn hflip(img: &Image) -> Image {
    let w = img.width();
    Image::from_fn(img.channels(), img.height(), w, |c, y, x| {
        img.get(c, y, w - 1 - x)
    })
}

/// Mirror top-bottom (torchvision `vflip`).
pub fn vflip(img: &Image) -> Image {
    let h = img.height();
    Image::from_fn(img.channels(), h, img.width(), |c, y, x| {
        img.get(c, h - 1 - y, x)
    })
}

/// Rotates by `k` quarter turns counter-clockwise, exactly (`torch.rot90(img, k, [-2, -1])`);
/// an `h x w` image becomes `w x h` for odd `k`.
pub fn rot90(img: &Image, k: i64) -> Image {
    let (h, w) = (img.height(), img.width());
    match k.rem_euclid(4) {
        0 => img.clone(),
        1 => Image::from_fn(img.channels(), w, h, |c, y, x| img.get(c, x, w - 1 - y)),
        2 => Image::from_fn(img.channels(), h, w, |c, y, x| {
            img.get(c, h - 1 - y, w - 1 - x)
        }),
        _ => Image::from_fn(img.channels(), w, h, |c, y, x| img.get(c, h - 1 - x, y)),
    }
}

/// Rotates a mask by `k` quarter turns counter-clockwise.
pub fn rot90_mask(mask: &Mask, k: i64) -> Mask {
    let (h, w) = (mask.height(), mask.width());
    match k.rem_euclid(4) {
        0 => mask.clone(),
        1 => Mask::from_fn(w, h, |y, x| mask.get(x, w - 1 - y)),
        2 => Mask::from_fn(h, w, |y, x| mask.get(h - 1 - y, w - 1 - x)),
        _ => Mask::from_fn(w, h, |y, x| mask.get(h - 1 - x, y)),
    }
}

/// Shifts the content by whole pixels, `dx` to the right and `dy` down, with zero fill; the
/// mask marks the pixels that came from the image. Exact.
pub fn shift(img: &Image, dx: i64, dy: i64) -> (Image, Mask) {
    let (h, w) = (img.height() as i64, img.width() as i64);
    let inside = |y: usize, x: usize| {
        let (sy, sx) = (y as i64 - dy, x as i64 - dx);
        sy >= 0 && sx >= 0 && sy < h && sx < w
    };
    let out = Image::from_fn(img.channels(), h as usize, w as usize, |c, y, x| {
        if inside(y, x) {
            img.get(c, (y as i64 - dy) as usize, (x as i64 - dx) as usize)
        } else {
            0.0
        }
    });
    (out, Mask::from_fn(h as usize, w as usize, inside))
}

/// The parameters of an affine transformation about the image centre, in the order torchvision's
/// `affine` applies them: shear, then scale and rotation, then translation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AffineParams {
    /// Rotation in degrees, counter-clockwise on screen (torchvision's `affine` takes the
    /// opposite sign: `affine(angle = -a)` is this `a`).
    pub angle: f64,
    /// Translation in pixels, `x` right and `y` down.
    pub translate: [f64; 2],
    /// Isotropic scale, positive.
    pub scale: f64,
    /// Shear in degrees along `x` and `y`.
    pub shear: [f64; 2],
}

impl AffineParams {
    /// The identity.
    pub const IDENTITY: Self = Self {
        angle: 0.0,
        translate: [0.0, 0.0],
        scale: 1.0,
        shear: [0.0, 0.0],
    };

    /// A rotation by `angle` degrees counter-clockwise.
    pub fn rotation(angle: f64) -> Self {
        Self {
            angle,
            ..Self::IDENTITY
        }
    }

    /// Warps `img` (same output size, zero fill), with the mask of pixels that came from inside.
    pub fn warp(&self, img: &Image, interp: Interpolation) -> (Image, Mask) {
        warp_affine(
            img,
            None,
            &self.inverse_matrix(),
            img.height(),
            img.width(),
            interp,
        )
    }

    /// The inverse map (output to input, centred coordinates) that `warp_affine` samples with,
    /// computed exactly as torchvision's `_get_inverse_affine_matrix` with centre 0.
    pub fn inverse_matrix(&self) -> Affine {
        let rot = (-self.angle).to_radians();
        let (sx, sy) = (self.shear[0].to_radians(), self.shear[1].to_radians());
        let [tx, ty] = self.translate;
        let a = (rot - sy).cos() / sy.cos();
        let b = -(rot - sy).cos() * sx.tan() / sy.cos() - rot.sin();
        let c = (rot - sy).sin() / sy.cos();
        let d = -(rot - sy).sin() * sx.tan() / sy.cos() + rot.cos();
        let mut m = [d, -b, 0.0, -c, a, 0.0].map(|v| v / self.scale);
        m[2] += m[0] * (-tx) + m[1] * (-ty);
        m[5] += m[3] * (-tx) + m[4] * (-ty);
        m
    }
}
