//! The scene (camera, floor, lights) and the ray tracer that renders one view.
//!
//! World frame: `z` up, the floor is the plane `z = -1`, the object sits at the origin. The
//! camera is at `(0, 2.5 sin 45°, 2.5 cos 45°) = (0, 1.768, 1.768)` looking at the origin, so
//! the whole frame shows floor behind the object. Rays are traced in object space: the camera,
//! the lights and the ray basis are turned by `R^T` once per image.
//!
//! Lighting, in display space (no gamma, so a floor lit only by the white lights keeps the
//! exact hue of its albedo):
//! - a hemispheric ambient term and a white directional "sun" (the fill light; it casts no
//!   shadows);
//! - the coloured spot light at radius 4, direction `(theta, phi)`, aimed at the origin, cone
//!   half-angle `pi/8` whose edge fades over the outer 20% of the angle, inverse-square
//!   falloff normalised to 1 at radius 4, with hard shadows (object onto floor and onto
//!   itself): a shadow ray is cast only where the spot reaches;
//! - Blinn-Phong highlights from both lights on the object.
//!
//! Anti-aliasing is adaptive: one ray per pixel centre; every pixel whose surface id differs
//! from a neighbour's or whose brightness jumps (silhouettes, part boundaries, shadow and cone
//! edges) gets two more rays at opposite points of a 4-rook rotated grid, and, when those see
//! another surface or brightness than the centre, the other two; the pixel is the mean of its
//! rays. Everything is a pure function of the inputs.

use noether_augment::Image;
use noether_augment::color::hsv_to_rgb;

use super::math::{M3, V3, smoothstep, v3};
use super::shapes::Model;
use crate::latent::Latent;

/// Camera position.
const CAM: V3 = v3(0.0, 1.767_767, 1.767_767);
/// Tangent of half the field of view (both axes; square images).
pub(crate) const TAN_HALF_FOV: f32 = 0.40;
/// Radius of the ball the object is scaled into.
pub(crate) const OBJECT_RADIUS: f32 = 0.9;
/// Height of the floor plane.
const FLOOR_Z: f32 = -1.0;
/// Ambient light strength.
const AMBIENT: f32 = 0.34;
/// Sun strength.
const SUN: f32 = 0.62;
/// Distance of the spot light from the origin.
const SPOT_RADIUS: f32 = 4.0;
/// Spot strength at distance [`SPOT_RADIUS`].
const SPOT: f32 = 1.5;
/// Half-angle of the spot cone.
const SPOT_HALF_ANGLE: f32 = std::f32::consts::PI / 8.0;
/// Share of the cone angle over which the edge fades out.
const SPOT_BLEND: f32 = 0.2;
/// Offset of shadow-ray origins along the normal.
const SHADOW_EPS: f32 = 1e-3;
/// Brightness jump between neighbours that triggers supersampling.
const AA_JUMP: f32 = 0.1;
/// Rotated-grid sample offsets within a pixel (pixel units, relative to the corner).
const AA_OFFSETS: [(f32, f32); 4] = [
    (0.375, 0.125),
    (0.875, 0.375),
    (0.625, 0.875),
    (0.125, 0.625),
];

/// The direction towards the sun (unit), from above, in front of and to the camera's left.
fn sun_dir() -> V3 {
    v3(0.45, 0.5, 1.0).normalize()
}

/// Cells per side of a [`Bins`] grid.
const GRID: usize = 16;

/// Which parts can meet a ray from a fixed origin, by the ray's direction: a grid over the
/// tangent plane `(x / z, y / z)` of a frame `(x, y, z)` at the origin, each cell with a bit
/// mask of the parts whose bounding sphere projects into it (conservatively). Primary rays
/// all start at the camera and shadow rays all point at the spot light, so one grid for each
/// cuts most of the per-part tests.
struct Bins {
    masks: [u64; GRID * GRID],
    origin: V3,
    frame: [V3; 3],
    half: f32,
}

impl Bins {
    /// Bins for rays from `origin` whose directions, in `frame = [z, x, y]`, lie within
    /// `[-half, half]^2` of the tangent plane.
    fn new(model: &Model, origin: V3, frame: [V3; 3], half: f32) -> Bins {
        let mut masks = [0_u64; GRID * GRID];
        let cell = |t: f32| ((t + half) / (2.0 * half) * GRID as f32).floor();
        for (k, part) in model.parts.iter().enumerate().take(64) {
            let v = part.bc - origin;
            let r = part.br2.sqrt();
            let (z, x, y) = (v.dot(frame[0]), v.dot(frame[1]), v.dot(frame[2]));
            let full = (0, GRID - 1);
            let range = |c: f32| -> (usize, usize) {
                if z - r <= 1e-3 {
                    return full;
                }
                let lo = if c - r < 0.0 {
                    (c - r) / (z - r)
                } else {
                    (c - r) / (z + r)
                };
                let hi = if c + r > 0.0 {
                    (c + r) / (z - r)
                } else {
                    (c + r) / (z + r)
                };
                let (a, b) = (cell(lo), cell(hi));
                if b < 0.0 || a >= GRID as f32 {
                    return (1, 0);
                }
                (a.max(0.0) as usize, (b as usize).min(GRID - 1))
            };
            let (x0, x1) = range(x);
            let (y0, y1) = range(y);
            for cy in y0..=y1 {
                for cx in x0..=x1 {
                    masks[cy * GRID + cx] |= 1 << k;
                }
            }
        }
        Bins {
            masks,
            origin,
            frame,
            half,
        }
    }

    /// The mask for a ray from the origin through `p`.
    #[inline]
    fn mask_towards(&self, p: V3) -> u64 {
        let w = p - self.origin;
        let z = w.dot(self.frame[0]);
        self.mask_at(w.dot(self.frame[1]) / z, w.dot(self.frame[2]) / z)
    }

    /// The mask for tangent-plane coordinates `(x, y)` (outside the grid: the nearest cell).
    #[inline]
    fn mask_at(&self, x: f32, y: f32) -> u64 {
        let scale = GRID as f32 / (2.0 * self.half);
        let cx = (((x + self.half) * scale) as usize).min(GRID - 1);
        let cy = (((y + self.half) * scale) as usize).min(GRID - 1);
        self.masks[cy * GRID + cx]
    }
}

/// One image's scene: everything in object space that the rays need.
struct Scene<'m> {
    model: &'m Model,
    /// Object-to-world rotation.
    rot: M3,
    cam_obj: V3,
    /// Camera basis in world and object space: forward, right, up.
    basis_world: [V3; 3],
    sun_obj: V3,
    up_obj: V3,
    spot_world: V3,
    spot_obj: V3,
    axis_world: V3,
    axis_obj: V3,
    cos_outer: f32,
    cos_inner: f32,
    floor_rgb: V3,
    spot_rgb: V3,
    /// Parts by direction from the camera (frame: forward, right, up).
    cam_bins: Bins,
    /// Parts by direction from the spot light (frame: its axis and two normals).
    spot_bins: Bins,
}

fn hsv(h: f32, s: f32, v: f32) -> V3 {
    let [r, g, b] = hsv_to_rgb(h.rem_euclid(1.0), s, v);
    v3(r, g, b)
}

impl<'m> Scene<'m> {
    fn new(model: &'m Model, latent: &Latent) -> Self {
        let rot = M3::from_f64(latent.rotation().as_matrix());
        let forward = (-CAM).normalize();
        let right = forward.cross(v3(0.0, 0.0, 1.0)).normalize();
        let up = right.cross(forward);
        let basis_world = [forward, right, up];
        let to_obj = |v: V3| rot.apply_t(v);
        let (theta, phi) = (latent.spot_theta(), latent.spot_phi());
        let spot_world = v3(
            theta.sin() * phi.cos(),
            theta.sin() * phi.sin(),
            theta.cos(),
        ) * SPOT_RADIUS;
        let axis_world = (-spot_world).normalize();
        let cam_obj = to_obj(CAM);
        let basis_obj = basis_world.map(to_obj);
        let spot_obj = to_obj(spot_world);
        let axis_obj = to_obj(axis_world);
        let helper = if axis_obj.x.abs() < 0.9 {
            v3(1.0, 0.0, 0.0)
        } else {
            v3(0.0, 1.0, 0.0)
        };
        let e1 = axis_obj.cross(helper).normalize();
        let e2 = axis_obj.cross(e1);
        // Slightly wider than the cone: shadow rays are only cast inside it.
        let spot_half = (SPOT_HALF_ANGLE * 1.02).tan();
        Scene {
            cam_bins: Bins::new(model, cam_obj, basis_obj, TAN_HALF_FOV),
            spot_bins: Bins::new(model, spot_obj, [axis_obj, e1, e2], spot_half),
            model,
            rot,
            cam_obj,
            basis_world,
            sun_obj: to_obj(sun_dir()),
            up_obj: to_obj(v3(0.0, 0.0, 1.0)),
            spot_world,
            spot_obj,
            axis_world,
            axis_obj,
            cos_outer: SPOT_HALF_ANGLE.cos(),
            cos_inner: (SPOT_HALF_ANGLE * (1.0 - SPOT_BLEND)).cos(),
            floor_rgb: hsv(latent.floor_hue(), 0.6, 0.6),
            spot_rgb: hsv(latent.spot_hue(), 1.0, 0.8),
        }
    }

    /// Spot strength (cone and falloff) at a point `dist` away, seen at `cos` from the axis.
    #[inline]
    fn spot_gain(&self, cos: f32, dist: f32) -> f32 {
        if cos <= self.cos_outer {
            return 0.0;
        }
        let cone = smoothstep(self.cos_outer, self.cos_inner, cos);
        let f = SPOT_RADIUS / dist;
        cone * SPOT * f * f
    }

    /// Colour and surface id (0 floor, `k + 1` part `k`) of the ray through image-plane point
    /// `(sx, sy)` (in units of the half field of view, `y` up).
    #[inline]
    fn sample(&self, sx: f32, sy: f32) -> (V3, u16) {
        let [f, r, u] = self.basis_world;
        let d = (f + r * sx + u * sy).normalize();
        let mask = self.cam_bins.mask_at(sx, sy);
        if mask != 0 {
            let d_obj = self.rot.apply_t(d);
            if let Some((t, k)) = self.model.hit(self.cam_obj, d_obj, f32::INFINITY, mask) {
                let p = self.cam_obj + d_obj * t;
                return (self.shade_object(k, p, d_obj), k as u16 + 1);
            }
        }
        if d.z < 0.0 {
            let t = (FLOOR_Z - CAM.z) / d.z;
            (self.shade_floor(CAM + d * t), 0)
        } else {
            (V3::splat(0.0), 0)
        }
    }

    fn shade_object(&self, k: usize, p: V3, d: V3) -> V3 {
        let part = &self.model.parts[k];
        let mat = &part.mat;
        let mut n = part.prim.normal(p);
        if n.dot(d) > 0.0 {
            n = -n;
        }
        let albedo = mat.colour_at(p);
        let view = -d;
        let hemi = 0.5 + 0.5 * n.dot(self.up_obj);
        let mut diffuse = AMBIENT * (0.55 + 0.45 * hemi);
        let mut white_spec = 0.0;
        let ndl = n.dot(self.sun_obj);
        if ndl > 0.0 {
            diffuse += SUN * ndl;
            let h = (self.sun_obj + view).normalize();
            white_spec = mat.spec * SUN * n.dot(h).max(0.0).powi(mat.shine);
        }
        let mut colour = albedo * diffuse + V3::splat(white_spec);
        let to_spot = self.spot_obj - p;
        let dist = to_spot.len();
        let l = to_spot / dist;
        let ndl = n.dot(l);
        if ndl > 0.0 {
            let gain = self.spot_gain(-l.dot(self.axis_obj), dist);
            if gain > 0.0
                && !self
                    .model
                    .occluded(p + n * SHADOW_EPS, l, dist, self.spot_bins.mask_towards(p))
            {
                let h = (l + view).normalize();
                let spec = mat.spec * gain * n.dot(h).max(0.0).powi(mat.shine);
                colour += albedo.mul(self.spot_rgb) * (gain * ndl) + self.spot_rgb * spec;
            }
        }
        if mat.emit > 0.0 {
            colour = colour.lerp(albedo, mat.emit);
        }
        colour
    }

    fn shade_floor(&self, p: V3) -> V3 {
        let sun = sun_dir();
        let mut colour = self.floor_rgb * (AMBIENT + SUN * sun.z);
        let to_spot = self.spot_world - p;
        let dist = to_spot.len();
        let l = to_spot / dist;
        if l.z > 0.0 {
            let gain = self.spot_gain(-l.dot(self.axis_world), dist);
            if gain > 0.0 {
                let p_obj = self.rot.apply_t(p);
                let l_obj = self.rot.apply_t(l);
                let mask = self.spot_bins.mask_towards(p_obj);
                if !self.model.occluded(p_obj, l_obj, dist, mask) {
                    colour += self.floor_rgb.mul(self.spot_rgb) * (gain * l.z);
                }
            }
        }
        colour
    }
}

/// Brightness used to find edges.
#[inline]
fn luma(c: V3) -> f32 {
    0.3 * c.x + 0.59 * c.y + 0.11 * c.z
}

/// Renders `model` under `latent` as a `3 x size x size` image.
pub(crate) fn render_model(
    model: &Model,
    latent: &Latent,
    size: usize,
) -> noether_augment::Result<Image> {
    let scene = Scene::new(model, latent);
    let n = size * size;
    let scale = 2.0 * TAN_HALF_FOV / size as f32;
    let at = |y: f32, x: f32| (x * scale - TAN_HALF_FOV, TAN_HALF_FOV - y * scale);
    let mut colour = Vec::with_capacity(n);
    let mut id = Vec::with_capacity(n);
    for y in 0..size {
        for x in 0..size {
            let (sx, sy) = at(y as f32 + 0.5, x as f32 + 0.5);
            let (c, k) = scene.sample(sx, sy);
            colour.push(c.min(V3::splat(1.0)));
            id.push(k);
        }
    }
    // Pixels that need more samples: a neighbour shows another surface or jumps in brightness.
    let mut edge = vec![false; n];
    let differs =
        |a: usize, b: usize| id[a] != id[b] || (luma(colour[a]) - luma(colour[b])).abs() > AA_JUMP;
    for y in 0..size {
        for x in 0..size {
            let i = y * size + x;
            if x + 1 < size && differs(i, i + 1) {
                edge[i] = true;
                edge[i + 1] = true;
            }
            if y + 1 < size && differs(i, i + size) {
                edge[i] = true;
                edge[i + size] = true;
            }
        }
    }
    let mut data = vec![0.0_f32; 3 * n];
    for y in 0..size {
        for x in 0..size {
            let i = y * size + x;
            let c = if edge[i] {
                // Two opposite samples of the rotated grid first; if they see the centre's
                // surface at about its brightness the pixel is not mixed, otherwise take the
                // other two as well.
                let at_offset = |(ox, oy): (f32, f32)| {
                    let (sx, sy) = at(y as f32 + oy, x as f32 + ox);
                    let (c, k) = scene.sample(sx, sy);
                    (c.min(V3::splat(1.0)), k)
                };
                let (a, ka) = at_offset(AA_OFFSETS[0]);
                let (b, kb) = at_offset(AA_OFFSETS[2]);
                let centre = colour[i];
                let near = |c: V3| (luma(c) - luma(centre)).abs() <= AA_JUMP * 0.5;
                if ka == id[i] && kb == id[i] && near(a) && near(b) {
                    (centre + a + b) * (1.0 / 3.0)
                } else {
                    let (c1, _) = at_offset(AA_OFFSETS[1]);
                    let (c3, _) = at_offset(AA_OFFSETS[3]);
                    (centre + a + b + c1 + c3) * 0.2
                }
            } else {
                colour[i]
            };
            data[i] = c.x.clamp(0.0, 1.0);
            data[n + i] = c.y.clamp(0.0, 1.0);
            data[2 * n + i] = c.z.clamp(0.0, 1.0);
        }
    }
    Image::new(3, size, size, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::shapes::{Material, Part, Prim};

    fn model(prims: &[Prim]) -> Model {
        Model {
            parts: prims
                .iter()
                .map(|p| Part::new(p.clone(), Material::new(V3::splat(0.8), 0.0, 1)))
                .collect(),
            br2: 1.0,
        }
    }

    /// Spot straight above, white-ish floor and light (hue 0, so the red channel carries it).
    fn overhead() -> Latent {
        Latent::new([0.0; 3], 0.0, 0.0, 0.0, 0.0)
    }

    #[test]
    fn the_object_shadows_the_floor_only_under_it() {
        let m = model(&[Prim::Sphere {
            c: V3::ZERO,
            r: 0.9,
        }]);
        let l = overhead();
        let scene = Scene::new(&m, &l);
        let unlit = scene.floor_rgb * (AMBIENT + SUN * sun_dir().z);
        let under = scene.shade_floor(v3(0.0, 0.0, FLOOR_Z));
        assert!(
            (under - unlit).abs().max_elem() < 1e-6,
            "no shadow under the object"
        );
        let beside = scene.shade_floor(v3(1.4, 0.0, FLOOR_Z));
        assert!(
            beside.x > unlit.x + 0.2,
            "floor beside the shadow is not lit"
        );
        let outside = scene.shade_floor(v3(2.5, 0.0, FLOOR_Z));
        assert!(
            (outside - unlit).abs().max_elem() < 1e-6,
            "floor outside the cone is lit"
        );
    }

    #[test]
    fn parts_shadow_each_other() {
        let small = Prim::Sphere {
            c: v3(0.0, 0.0, -0.7),
            r: 0.15,
        };
        let big = Prim::Sphere {
            c: V3::ZERO,
            r: 0.5,
        };
        let l = overhead();
        let alone = model(std::slice::from_ref(&small));
        let both = model(&[small, big]);
        let top = v3(0.0, 0.0, -0.55);
        let down = v3(0.0, 0.0, -1.0);
        let lit = Scene::new(&alone, &l).shade_object(0, top, down);
        let shadowed = Scene::new(&both, &l).shade_object(0, top, down);
        assert!(
            lit.x > shadowed.x + 0.3,
            "lit {lit:?} vs shadowed {shadowed:?}"
        );
    }

    /// The bins never hide a part: with and without them, rays hit the same part at the
    /// same distance, for every class and several poses and lights.
    #[test]
    fn bins_are_conservative() {
        for class in 0..crate::render::NUM_CLASSES {
            let spec = crate::render::ObjectSpec::new(5, class, 0).expect("spec");
            let model = &spec.model;
            for view in 0..6 {
                let l = crate::render::sample_latent(5, class, view);
                let scene = Scene::new(model, &l);
                let mut shadow_tests = 0;
                for i in 0..48 {
                    for j in 0..48 {
                        let sx = (j as f32 / 47.0 * 2.0 - 1.0) * TAN_HALF_FOV;
                        let sy = (i as f32 / 47.0 * 2.0 - 1.0) * TAN_HALF_FOV;
                        let [f, r, u] = scene.basis_world;
                        let d = scene.rot.apply_t((f + r * sx + u * sy).normalize());
                        let mask = scene.cam_bins.mask_at(sx, sy);
                        let all = model.hit(scene.cam_obj, d, f32::INFINITY, u64::MAX);
                        assert_eq!(model.hit(scene.cam_obj, d, f32::INFINITY, mask), all);
                        // Shadow rays from the visible point (object or floor) to the spot.
                        let p = match all {
                            Some((t, _)) => scene.cam_obj + d * t,
                            None => {
                                let [f, r, u] = scene.basis_world;
                                let dw = (f + r * sx + u * sy).normalize();
                                scene.rot.apply_t(CAM + dw * ((FLOOR_Z - CAM.z) / dw.z))
                            }
                        };
                        let to = scene.spot_obj - p;
                        let dist = to.len();
                        let dir = to / dist;
                        if -dir.dot(scene.axis_obj) > scene.cos_outer {
                            shadow_tests += 1;
                            let o = p + dir * 2e-3;
                            let mask = scene.spot_bins.mask_towards(p);
                            assert_eq!(
                                model.occluded(o, dir, dist, mask),
                                model.occluded(o, dir, dist, u64::MAX)
                            );
                        }
                    }
                }
                assert!(shadow_tests > 100);
            }
        }
    }
}
