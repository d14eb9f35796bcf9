//! The object classes: one procedural template per class, built from primitives.
//!
//! Template frame: `z` up, the object's front faces `+y` (towards the camera at the identity
//! rotation), `x` runs across. Units are arbitrary: every model is afterwards centred on its
//! bounding-box centre and scaled into a ball (see `Model::normalized`). Each template draws
//! its proportions, optional parts and colours from the object's RNG, so instances differ.
//!
//! No class may look the same under a non-trivial rotation (the pose must be recoverable from
//! the image); what breaks each class's symmetries is listed in [`CLASSES`].

use std::f32::consts::{PI, TAU};

use noether_augment::color::hsv_to_rgb;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::math::{M3, V3, v3};
use super::shapes::{Material, Prim, Region};

/// One class: name, ShapeNet synset id and what breaks its symmetries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassInfo {
    /// Class name, e.g. `"chair"`.
    pub name: &'static str,
    /// The ShapeNetCore v2 synset id of the category (8 digits), e.g. `"03001627"`.
    pub synset: &'static str,
    /// What makes every rotation of the object look different (no rotational symmetry,
    /// colours included).
    pub symmetry_breaker: &'static str,
}

/// The classes, in label order (label = index).
pub const CLASSES: [ClassInfo; 10] = [
    ClassInfo {
        name: "chair",
        synset: "03001627",
        symmetry_breaker: "backrest on one side only; seat cushion in a contrasting colour on \
                           top; legs below",
    },
    ClassInfo {
        name: "table",
        synset: "04379243",
        symmetry_breaker: "a coloured drawer with a knob under one long side, off-centre; a \
                           coloured runner stripe across the top, off-centre; a stretcher \
                           between the legs of one end only",
    },
    ClassInfo {
        name: "mug",
        synset: "03797390",
        symmetry_breaker: "handle on one side; a round logo at 90 degrees from the handle; dark \
                           inside showing at the open top",
    },
    ClassInfo {
        name: "lamp",
        synset: "03636649",
        symmetry_breaker: "arm offset to one side carrying a tilted shade with a glowing bulb \
                           underneath; a button on the front of the base",
    },
    ClassInfo {
        name: "airplane",
        synset: "02691156",
        symmetry_breaker: "nose cone and tail fin in an accent colour, tail fin on top only; \
                           dark cockpit canopy at the front; red (left) and green (right) wing \
                           tip lights",
    },
    ClassInfo {
        name: "car",
        synset: "02958343",
        symmetry_breaker: "cabin set towards the back; white head lights at the front, red tail \
                           lights at the back; wheels below",
    },
    ClassInfo {
        name: "bottle",
        synset: "02876657",
        symmetry_breaker: "neck and coloured cap at the top; a label with a coloured stripe \
                           wrapping a third of the front; a small back label of another colour",
    },
    ClassInfo {
        name: "sofa",
        synset: "04256520",
        symmetry_breaker: "backrest at the back; a throw pillow in an accent colour in one \
                           corner",
    },
    ClassInfo {
        name: "bench",
        synset: "02828884",
        symmetry_breaker: "tilted backrest at the back; a brass plaque off-centre on the top \
                           back slat",
    },
    ClassInfo {
        name: "rocket",
        synset: "04099429",
        symmetry_breaker: "three or four fins each in a distinct colour; a V-2 style roll \
                           pattern (one dark quadrant above the middle, the opposite one below); \
                           one round window; nose cone on top, nozzle below",
    },
];

/// Parts of one object before normalisation.
type Parts = Vec<(Prim, Material)>;

/// Builds the parts of an instance of class `class` (an index into [`CLASSES`]).
pub(crate) fn build(class: usize, rng: &mut ChaCha8Rng) -> Parts {
    let mut b = Builder {
        parts: Vec::new(),
        rng,
    };
    match class {
        0 => chair(&mut b),
        1 => table(&mut b),
        2 => mug(&mut b),
        3 => lamp(&mut b),
        4 => airplane(&mut b),
        5 => car(&mut b),
        6 => bottle(&mut b),
        7 => sofa(&mut b),
        8 => bench(&mut b),
        _ => rocket(&mut b),
    }
    b.parts
}

struct Builder<'r> {
    parts: Parts,
    rng: &'r mut ChaCha8Rng,
}

fn hsv(h: f32, s: f32, v: f32) -> V3 {
    let [r, g, b] = hsv_to_rgb(h.rem_euclid(1.0), s.clamp(0.0, 1.0), v.clamp(0.0, 1.0));
    v3(r, g, b)
}

/// Rows of the local frame of a part whose local axes are the columns of `q`.
fn axes_of(q: M3) -> M3 {
    q.transpose()
}

/// Rotation about `x` by `a` (local `z` tips towards `-y` for positive `a`).
fn tilt_x(a: f32) -> M3 {
    M3::axis_angle(v3(1.0, 0.0, 0.0), a)
}

impl Builder<'_> {
    fn u(&mut self, lo: f32, hi: f32) -> f32 {
        self.rng.random_range(lo..hi)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn sign(&mut self) -> f32 {
        if self.chance(0.5) { 1.0 } else { -1.0 }
    }

    fn int(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        self.rng.random_range(lo..=hi_inclusive)
    }

    // --- palettes ---

    /// A colour with hue, saturation and value drawn uniformly from the given ranges.
    fn colour(&mut self, h: [f32; 2], s: [f32; 2], v: [f32; 2]) -> V3 {
        let (h, s, v) = (self.u(h[0], h[1]), self.u(s[0], s[1]), self.u(v[0], v[1]));
        hsv(h, s, v)
    }

    fn wood(&mut self) -> V3 {
        self.colour([0.05, 0.11], [0.45, 0.75], [0.3, 0.7])
    }

    fn dark_metal(&mut self) -> V3 {
        self.colour([0.0, 1.0], [0.0, 0.2], [0.1, 0.3])
    }

    fn paint(&mut self) -> V3 {
        self.colour([0.0, 1.0], [0.55, 0.9], [0.55, 0.9])
    }

    fn fabric(&mut self) -> V3 {
        self.colour([0.0, 1.0], [0.3, 0.7], [0.35, 0.75])
    }

    fn light(&mut self) -> V3 {
        self.colour([0.0, 1.0], [0.0, 0.12], [0.8, 0.95])
    }

    /// A paint colour whose hue is at least a quarter turn from `hue_of(c)`.
    fn accent(&mut self, c: V3) -> V3 {
        let [h, _, _] = noether_augment::color::rgb_to_hsv(c.x, c.y, c.z);
        let h = h + self.u(0.25, 0.75);
        let (s, v) = (self.u(0.65, 0.95), self.u(0.6, 0.95));
        hsv(h, s, v)
    }

    // --- parts ---

    fn add(&mut self, prim: Prim, mat: &Material) {
        self.parts.push((prim, mat.clone()));
    }

    fn cuboid(&mut self, c: V3, h: V3, mat: &Material) {
        self.add(
            Prim::Cuboid {
                c,
                h,
                axes: M3::IDENTITY,
            },
            mat,
        );
    }

    /// A box spanning `lo..hi`.
    fn span(&mut self, lo: V3, hi: V3, mat: &Material) {
        self.cuboid((lo + hi) * 0.5, (hi - lo) * 0.5, mat);
    }

    /// A box with local axes the columns of `q`.
    fn cuboid_rot(&mut self, c: V3, h: V3, q: M3, mat: &Material) {
        self.add(
            Prim::Cuboid {
                c,
                h,
                axes: axes_of(q),
            },
            mat,
        );
    }

    fn cyl(&mut self, a: V3, b: V3, r: f32, mat: &Material) {
        self.add(Prim::Cylinder { a, b, r }, mat);
    }

    fn cone(&mut self, a: V3, b: V3, ra: f32, rb: f32, mat: &Material) {
        self.add(Prim::Cone { a, b, ra, rb }, mat);
    }

    fn capsule(&mut self, a: V3, b: V3, r: f32, mat: &Material) {
        self.add(Prim::Capsule { a, b, r }, mat);
    }

    fn sphere(&mut self, c: V3, r: f32, mat: &Material) {
        self.add(Prim::Sphere { c, r }, mat);
    }

    fn ellipsoid(&mut self, c: V3, r: V3, q: M3, mat: &Material) {
        self.add(
            Prim::Ellipsoid {
                c,
                r,
                axes: axes_of(q),
            },
            mat,
        );
    }
}

const CORNERS: [(f32, f32); 4] = [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)];

fn chair(b: &mut Builder) {
    let w = b.u(0.42, 0.56);
    let d = b.u(0.4, 0.52);
    let sh = b.u(0.4, 0.5);
    let st = b.u(0.035, 0.06);
    let bh = b.u(0.35, 0.6);
    let lr = b.u(0.018, 0.032);
    let frame_c = if b.chance(0.6) {
        b.wood()
    } else {
        b.dark_metal()
    };
    let frame = Material::new(frame_c, 0.25, 16);
    let seat_c = b.accent(frame_c);
    let seat = Material::new(seat_c, 0.1, 8);
    let splay = b.u(0.0, 0.05);
    for (sx, sy) in CORNERS {
        let top = v3(
            sx * (w / 2.0 - lr * 1.5),
            sy * (d / 2.0 - lr * 1.5),
            sh - st,
        );
        let bottom = v3(top.x + sx * splay, top.y + sy * splay, 0.0);
        b.cyl(bottom, top, lr, &frame);
    }
    b.cuboid(
        v3(0.0, 0.0, sh - st / 2.0),
        v3(w / 2.0, d / 2.0, st / 2.0),
        &frame,
    );
    let ct = b.u(0.02, 0.05);
    b.cuboid(
        v3(0.0, 0.01, sh + ct / 2.0),
        v3(w / 2.0 - 0.02, d / 2.0 - 0.03, ct / 2.0),
        &seat,
    );
    // Backrest, leaning back by `tilt`.
    let tilt = b.u(0.05, 0.25);
    let q = tilt_x(tilt);
    let up = q.apply(v3(0.0, 0.0, 1.0));
    let base = v3(0.0, -d / 2.0 + 0.03, sh);
    if b.chance(0.5) {
        let bt = b.u(0.03, 0.06);
        b.cuboid_rot(
            base + up * (bh / 2.0),
            v3(w / 2.0, bt / 2.0, bh / 2.0),
            q,
            &seat,
        );
    } else {
        for sx in [-1.0, 1.0] {
            let foot = v3(sx * (w / 2.0 - lr * 1.5), base.y, sh - st);
            b.cyl(foot, foot + up * (bh + st), lr, &frame);
        }
        let rail = b.u(0.04, 0.09);
        b.cuboid_rot(
            base + up * (bh - rail / 2.0),
            v3(w / 2.0, 0.02, rail / 2.0),
            q,
            &seat,
        );
        let n = b.int(2, 4);
        for k in 0..n {
            let x = (k as f32 + 0.5) / n as f32 * (w - 4.0 * lr) - (w / 2.0 - 2.0 * lr);
            let len = bh - rail;
            b.cuboid_rot(
                base + up * (len / 2.0) + v3(x, 0.0, 0.0),
                v3(0.015, 0.012, len / 2.0),
                q,
                &frame,
            );
        }
    }
    if b.chance(0.35) {
        let ah = b.u(0.17, 0.25);
        for sx in [-1.0, 1.0] {
            let x = sx * (w / 2.0 + 0.01);
            b.cuboid(v3(x, 0.0, sh + ah), v3(0.03, d / 2.0, 0.015), &frame);
            b.cyl(
                v3(x, d / 2.0 - 0.05, sh),
                v3(x, d / 2.0 - 0.05, sh + ah),
                lr * 0.8,
                &frame,
            );
        }
    }
}

fn table(b: &mut Builder) {
    let tw = b.u(0.9, 1.4);
    let td = b.u(0.5, 0.8);
    let th = b.u(0.5, 0.75);
    let tt = b.u(0.03, 0.06);
    let lr = b.u(0.025, 0.045);
    let inset = lr + b.u(0.02, 0.08);
    let top_c = b.wood();
    let leg_c = if b.chance(0.5) { top_c } else { b.dark_metal() };
    let runner_c = b.accent(top_c);
    let side = b.sign();
    let rx = side * b.u(0.1, 0.3) * tw;
    let rw = b.u(0.05, 0.1);
    let top = Material::new(top_c, 0.3, 16).decal(
        Region::Aabb {
            lo: v3(rx - rw, -td, th - tt * 0.3),
            hi: v3(rx + rw, td, th + 0.1),
        },
        runner_c,
    );
    b.cuboid(
        v3(0.0, 0.0, th - tt / 2.0),
        v3(tw / 2.0, td / 2.0, tt / 2.0),
        &top,
    );
    let legs = Material::new(leg_c, 0.25, 16);
    let round = b.chance(0.5);
    for (sx, sy) in CORNERS {
        let (x, y) = (sx * (tw / 2.0 - inset), sy * (td / 2.0 - inset));
        if round {
            b.cyl(v3(x, y, 0.0), v3(x, y, th - tt), lr, &legs);
        } else {
            b.span(v3(x - lr, y - lr, 0.0), v3(x + lr, y + lr, th - tt), &legs);
        }
    }
    // Drawer on the front, off-centre to `-side`, with a brass knob.
    let drawer_c = b.paint();
    let drawer = Material::new(drawer_c, 0.3, 16);
    let dx = -side * b.u(0.12, 0.22) * tw;
    let dw = b.u(0.22, 0.32) * tw;
    let dh = b.u(0.07, 0.11);
    let front = td / 2.0 - inset * 0.5;
    b.span(
        v3(dx - dw / 2.0, front - td * 0.6, th - tt - dh),
        v3(dx + dw / 2.0, front, th - tt),
        &drawer,
    );
    let brass = Material::new(hsv(0.12, 0.7, 0.85), 0.7, 32);
    b.sphere(v3(dx, front + 0.012, th - tt - dh / 2.0), 0.02, &brass);
    // A stretcher between the legs of the `side` end.
    let x = side * (tw / 2.0 - inset);
    let z = th * b.u(0.15, 0.35);
    b.span(
        v3(x - 0.015, -(td / 2.0 - inset), z - 0.02),
        v3(x + 0.015, td / 2.0 - inset, z + 0.02),
        &legs,
    );
}

fn mug(b: &mut Builder) {
    let r = b.u(0.3, 0.42);
    let h = r * b.u(2.0, 2.8);
    let body_c = if b.chance(0.3) { b.light() } else { b.paint() };
    let logo_c = b.accent(body_c);
    let mut body = Material::new(body_c, 0.5, 32);
    let logo_r = h * b.u(0.14, 0.2);
    body = body.decal(
        Region::Ball {
            c: v3(0.0, r, h * b.u(0.45, 0.6)),
            r: logo_r,
        },
        logo_c,
    );
    if b.chance(0.4) {
        let band_c = b.accent(body_c);
        body = body.decal(
            Region::Aabb {
                lo: v3(-1.0, -1.0, h * 0.82),
                hi: v3(1.0, 1.0, h * 0.9),
            },
            band_c,
        );
    }
    b.cyl(v3(0.0, 0.0, 0.0), v3(0.0, 0.0, h), r, &body);
    let inside = Material::new(hsv(0.07, 0.6, b.u(0.12, 0.25)), 0.6, 32);
    b.cyl(
        v3(0.0, 0.0, h * 0.8),
        v3(0.0, 0.0, h + 0.002),
        r * 0.86,
        &inside,
    );
    let handle = if b.chance(0.6) {
        Material::new(body_c, 0.5, 32)
    } else {
        Material::new(logo_c, 0.5, 32)
    };
    let t = r * b.u(0.12, 0.18);
    let reach = r * b.u(0.45, 0.7);
    let (zt, zb) = (h * b.u(0.7, 0.82), h * b.u(0.18, 0.3));
    let p0 = v3(r * 0.85, 0.0, zt);
    let p1 = v3(r + reach, 0.0, zt - 0.06 * h);
    let p2 = v3(r + reach, 0.0, zb + 0.06 * h);
    let p3 = v3(r * 0.85, 0.0, zb);
    b.capsule(p0, p1, t, &handle);
    b.capsule(p1, p2, t, &handle);
    b.capsule(p2, p3, t, &handle);
}

fn lamp(b: &mut Builder) {
    let br = b.u(0.18, 0.26);
    let bh = b.u(0.04, 0.07);
    let base_c = if b.chance(0.5) {
        b.dark_metal()
    } else {
        b.paint()
    };
    let base = Material::new(base_c, 0.4, 32);
    if b.chance(0.6) {
        b.cyl(v3(0.0, 0.0, 0.0), v3(0.0, 0.0, bh), br, &base);
    } else {
        b.cuboid(v3(0.0, 0.0, bh / 2.0), v3(br, br * 0.8, bh / 2.0), &base);
    }
    let metal = Material::new(hsv(0.0, 0.0, b.u(0.55, 0.8)), 0.8, 64);
    let ph = b.u(0.7, 1.1);
    let pr = b.u(0.025, 0.04);
    b.cyl(v3(0.0, 0.0, bh), v3(0.0, 0.0, ph), pr, &metal);
    b.sphere(v3(0.0, 0.0, ph), pr * 1.6, &metal);
    let end = v3(b.u(0.3, 0.5), 0.0, ph + b.u(-0.05, 0.15));
    b.capsule(v3(0.0, 0.0, ph), end, pr * 0.8, &metal);
    let tilt = b.u(0.1, 0.6);
    let dir = v3(tilt.sin(), 0.0, -tilt.cos());
    let sl = b.u(0.18, 0.28);
    let (rt, rb) = (b.u(0.04, 0.07), b.u(0.13, 0.2));
    let shade_c = b.paint();
    let shade = Material::new(shade_c, 0.3, 16);
    let mouth = end + dir * sl;
    b.cone(end, mouth, rt, rb, &shade);
    let bulb = Material::new(hsv(0.13, 0.25, 1.0), 0.0, 1).glowing(0.85);
    b.cyl(mouth - dir * 0.01, mouth + dir * 0.004, rb * 0.9, &bulb);
    let button_c = b.accent(base_c);
    b.cuboid(
        v3(0.0, br * 0.6, bh + 0.01),
        v3(0.03, 0.02, 0.012),
        &Material::new(button_c, 0.4, 16),
    );
}

fn airplane(b: &mut Builder) {
    let fl = b.u(0.55, 0.7);
    let fr = b.u(0.065, 0.1);
    let body_c = if b.chance(0.6) { b.light() } else { b.paint() };
    let accent_c = b.accent(body_c);
    let body = Material::new(body_c, 0.5, 32).decal(
        Region::Aabb {
            lo: v3(-1.0, fl * 0.8, -1.0),
            hi: v3(1.0, 2.0, 1.0),
        },
        accent_c,
    );
    let fz = fr * b.u(1.0, 1.2);
    b.ellipsoid(v3(0.0, 0.0, 0.0), v3(fr, fl, fz), M3::IDENTITY, &body);
    let glass = Material::new(hsv(0.6, 0.5, 0.18), 0.9, 64);
    b.ellipsoid(
        v3(0.0, fl * 0.6, fz * 0.45),
        v3(fr * 0.65, fl * 0.15, fz * 0.6),
        M3::IDENTITY,
        &glass,
    );
    let wings = Material::new(body_c, 0.5, 32);
    let span = b.u(0.55, 0.85);
    let chord = b.u(0.12, 0.2);
    let sweep = b.u(0.0, 0.5);
    let root = v3(0.0, b.u(-0.1, 0.1), -fz * b.u(0.0, 0.5));
    let engines = b.chance(0.6);
    let grey = Material::new(hsv(0.0, 0.0, 0.45), 0.5, 32);
    for side in [-1.0_f32, 1.0] {
        let q = M3::axis_angle(v3(0.0, 0.0, 1.0), -side * sweep);
        let out = q.apply(v3(side, 0.0, 0.0));
        b.cuboid_rot(
            root + out * (span / 2.0),
            v3(span / 2.0, chord / 2.0, 0.012),
            q,
            &wings,
        );
        // Port (left, -x) red, starboard (right, +x) green.
        let tip_c = if side < 0.0 {
            hsv(0.0, 0.9, 0.9)
        } else {
            hsv(0.35, 0.9, 0.8)
        };
        b.sphere(
            root + out * span,
            0.025,
            &Material::new(tip_c, 0.3, 16).glowing(0.6),
        );
        if engines {
            let c = root + out * (span * 0.4) + v3(0.0, 0.0, -0.05);
            b.cyl(c + v3(0.0, 0.09, 0.0), c - v3(0.0, 0.09, 0.0), 0.04, &grey);
        }
        // Horizontal tail.
        let ts = span * b.u(0.3, 0.4);
        let q = M3::axis_angle(v3(0.0, 0.0, 1.0), -side * sweep * 1.2);
        let out = q.apply(v3(side, 0.0, 0.0));
        b.cuboid_rot(
            v3(0.0, -fl * 0.85, fz * 0.2) + out * (ts / 2.0),
            v3(ts / 2.0, chord * 0.35, 0.01),
            q,
            &wings,
        );
    }
    let fh = b.u(0.15, 0.25);
    let q = tilt_x(0.45);
    let up = q.apply(v3(0.0, 0.0, 1.0));
    b.cuboid_rot(
        v3(0.0, -fl * 0.8, fz * 0.6) + up * (fh / 2.0),
        v3(0.012, chord * 0.4, fh / 2.0),
        q,
        &Material::new(accent_c, 0.4, 32),
    );
}

fn car(b: &mut Builder) {
    let l = b.u(0.95, 1.25);
    let w = b.u(0.42, 0.52);
    let bh = b.u(0.16, 0.24);
    let cl = b.u(0.06, 0.09);
    let wr = b.u(0.09, 0.12);
    let paint_c = b.paint();
    let glass_c = hsv(0.6, 0.4, 0.15);
    let cabin_l = l * b.u(0.4, 0.55);
    let cabin_y = -l * b.u(0.04, 0.14);
    let ch = b.u(0.13, 0.2);
    let top = cl + bh;
    let paint = Material::new(paint_c, 0.6, 32);
    b.cuboid(
        v3(0.0, 0.0, cl + bh / 2.0),
        v3(w / 2.0, l / 2.0, bh / 2.0),
        &paint,
    );
    let cabin = Material::new(paint_c, 0.6, 32).decal(
        Region::Aabb {
            lo: v3(-1.0, -2.0, top + ch * 0.15),
            hi: v3(1.0, 2.0, top + ch * 0.85),
        },
        glass_c,
    );
    b.cuboid(
        v3(0.0, cabin_y, top + ch / 2.0),
        v3(w / 2.0 * 0.88, cabin_l / 2.0, ch / 2.0),
        &cabin,
    );
    let tyre = Material::new(hsv(0.0, 0.0, 0.06), 0.1, 8);
    let hub = Material::new(hsv(0.0, 0.0, 0.7), 0.8, 32);
    for (sx, sy) in CORNERS {
        let y = sy * l * 0.32;
        b.cyl(
            v3(sx * (w / 2.0 - 0.07), y, wr),
            v3(sx * (w / 2.0 + 0.015), y, wr),
            wr,
            &tyre,
        );
        b.cyl(
            v3(sx * (w / 2.0 + 0.01), y, wr),
            v3(sx * (w / 2.0 + 0.022), y, wr),
            wr * 0.55,
            &hub,
        );
    }
    let head = Material::new(hsv(0.14, 0.2, 1.0), 0.5, 32).glowing(0.7);
    let tail = Material::new(hsv(0.0, 0.95, 0.85), 0.5, 32).glowing(0.5);
    for sx in [-1.0, 1.0] {
        b.cuboid(
            v3(sx * w * 0.3, l / 2.0, cl + bh * 0.65),
            v3(0.055, 0.01, 0.025),
            &head,
        );
        b.cuboid(
            v3(sx * w * 0.3, -l / 2.0, cl + bh * 0.65),
            v3(0.065, 0.01, 0.022),
            &tail,
        );
    }
    if b.chance(0.3) {
        let sz = top + b.u(0.05, 0.08);
        b.cuboid(
            v3(0.0, -l / 2.0 + 0.05, sz),
            v3(w / 2.0 * 0.9, 0.045, 0.008),
            &paint,
        );
        for sx in [-1.0, 1.0] {
            b.span(
                v3(sx * w * 0.3 - 0.01, -l / 2.0 + 0.04, top),
                v3(sx * w * 0.3 + 0.01, -l / 2.0 + 0.06, sz),
                &paint,
            );
        }
    }
}

fn bottle(b: &mut Builder) {
    let r = b.u(0.12, 0.18);
    let bh = b.u(0.45, 0.7);
    let sh = b.u(0.1, 0.2);
    let nr = b.u(0.035, 0.055);
    let nh = b.u(0.08, 0.16);
    let caph = b.u(0.04, 0.07);
    let hue = [0.3, 0.08, 0.58, 0.0][b.int(0, 3)];
    let glass_c = hsv(hue + b.u(-0.03, 0.03), b.u(0.5, 0.8), b.u(0.3, 0.6));
    let label_c = b.light();
    let stripe_c = b.paint();
    let (z0, z1) = (bh * b.u(0.2, 0.3), bh * b.u(0.65, 0.8));
    let zm = (z0 + z1) / 2.0;
    let y0 = r * b.u(0.25, 0.45);
    let back_c = b.accent(label_c);
    let glass = Material::new(glass_c, 0.8, 64)
        .decal(
            Region::Aabb {
                lo: v3(-1.0, -1.0, z0),
                hi: v3(1.0, -r * 0.6, z0 + (z1 - z0) * 0.5),
            },
            back_c,
        )
        .decal(
            Region::Aabb {
                lo: v3(-1.0, y0, zm - 0.03),
                hi: v3(1.0, 1.0, zm + 0.03),
            },
            stripe_c,
        )
        .decal(
            Region::Aabb {
                lo: v3(-1.0, y0, z0),
                hi: v3(1.0, 1.0, z1),
            },
            label_c,
        );
    b.cyl(v3(0.0, 0.0, 0.0), v3(0.0, 0.0, bh), r, &glass);
    let plain = Material::new(glass_c, 0.8, 64);
    b.cone(v3(0.0, 0.0, bh), v3(0.0, 0.0, bh + sh), r, nr, &plain);
    b.cyl(
        v3(0.0, 0.0, bh + sh - 0.01),
        v3(0.0, 0.0, bh + sh + nh),
        nr,
        &plain,
    );
    let cap_c = b.paint();
    b.cyl(
        v3(0.0, 0.0, bh + sh + nh - 0.01),
        v3(0.0, 0.0, bh + sh + nh + caph),
        nr * 1.2,
        &Material::new(cap_c, 0.4, 32),
    );
}

fn sofa(b: &mut Builder) {
    let w = b.u(1.3, 1.9);
    let d = b.u(0.6, 0.75);
    let legh = b.u(0.04, 0.08);
    let sh = b.u(0.35, 0.45);
    let bkh = b.u(0.3, 0.45);
    let aw = b.u(0.1, 0.18);
    let ah = b.u(0.1, 0.22);
    let bt = b.u(0.12, 0.18);
    let ct = b.u(0.08, 0.12);
    let fabric_c = b.fabric();
    let cushion_c = fabric_c * 1.15;
    let fabric = Material::new(fabric_c, 0.05, 8);
    let cushion = Material::new(cushion_c.min(V3::splat(1.0)), 0.05, 8);
    let x_in = w / 2.0 - aw;
    b.span(
        v3(-x_in, -d / 2.0, legh),
        v3(x_in, d / 2.0, sh - ct),
        &fabric,
    );
    b.span(
        v3(-x_in, -d / 2.0, legh),
        v3(x_in, -d / 2.0 + bt, sh + bkh),
        &fabric,
    );
    let rolled = b.chance(0.5);
    for sx in [-1.0, 1.0] {
        let (xa, xb) = (sx * x_in, sx * w / 2.0);
        b.span(
            v3(xa.min(xb), -d / 2.0, legh),
            v3(xa.max(xb), d / 2.0, sh + ah),
            &fabric,
        );
        if rolled {
            let x = sx * (w / 2.0 - aw / 2.0);
            b.cyl(
                v3(x, -d / 2.0, sh + ah),
                v3(x, d / 2.0, sh + ah),
                aw * 0.55,
                &fabric,
            );
        }
    }
    let n = b.int(2, 3);
    let cw = 2.0 * x_in / n as f32;
    let back_cushions = b.chance(0.5);
    for k in 0..n {
        let xa = -x_in + k as f32 * cw + 0.008;
        let xb = xa + cw - 0.016;
        b.span(
            v3(xa, -d / 2.0 + bt, sh - ct),
            v3(xb, d / 2.0, sh),
            &cushion,
        );
        if back_cushions {
            b.span(
                v3(xa, -d / 2.0 + bt, sh),
                v3(xb, -d / 2.0 + bt + 0.1, sh + bkh * 0.85),
                &cushion,
            );
        }
    }
    let pillow_c = b.accent(fabric_c);
    let side = b.sign();
    let depth = if back_cushions { 0.15 } else { 0.06 };
    b.ellipsoid(
        v3(side * (x_in - 0.17), -d / 2.0 + bt + depth, sh + 0.13),
        v3(0.14, 0.05, 0.12),
        tilt_x(0.3),
        &Material::new(pillow_c, 0.1, 8),
    );
    let leg = Material::new(b.wood() * 0.6, 0.3, 16);
    for (sx, sy) in CORNERS {
        let (x, y) = (sx * (w / 2.0 - 0.06), sy * (d / 2.0 - 0.06));
        b.cone(v3(x, y, 0.0), v3(x, y, legh + 0.01), 0.02, 0.03, &leg);
    }
}

fn bench(b: &mut Builder) {
    let l = b.u(1.2, 1.8);
    let d = b.u(0.38, 0.48);
    let sh = b.u(0.4, 0.48);
    let n = b.int(3, 5);
    let tilt = b.u(0.15, 0.3);
    let bkh = b.u(0.3, 0.45);
    let m = b.int(2, 3);
    let wood_c = b.wood();
    let wood = Material::new(wood_c, 0.2, 16);
    let frame_c = if b.chance(0.7) {
        let (h, s, v) = (b.u(0.0, 1.0), b.u(0.0, 0.6), b.u(0.1, 0.35));
        hsv(h, s, v)
    } else {
        wood_c * 0.7
    };
    let frame = Material::new(frame_c, 0.5, 32);
    let fx = l / 2.0 - b.u(0.08, 0.15);
    let q = tilt_x(tilt);
    let up = q.apply(v3(0.0, 0.0, 1.0));
    let post_base = v3(0.0, -d / 2.0 + 0.04, sh);
    let arms = b.chance(0.5);
    let ah = b.u(0.18, 0.25);
    for sx in [-1.0, 1.0] {
        let x = sx * fx;
        b.span(
            v3(x - 0.025, d / 2.0 - 0.09, 0.0),
            v3(x + 0.025, d / 2.0 - 0.04, sh - 0.03),
            &frame,
        );
        b.span(
            v3(x - 0.025, -d / 2.0 + 0.015, 0.0),
            v3(x + 0.025, -d / 2.0 + 0.065, sh - 0.03),
            &frame,
        );
        b.span(
            v3(x - 0.025, -d / 2.0 + 0.01, sh - 0.07),
            v3(x + 0.025, d / 2.0 - 0.01, sh - 0.03),
            &frame,
        );
        b.cuboid_rot(
            post_base + v3(x, 0.0, 0.0) + up * (bkh / 2.0 - 0.03),
            v3(0.025, 0.025, bkh / 2.0 + 0.03),
            q,
            &frame,
        );
        if arms {
            b.span(
                v3(x - 0.03, -d / 2.0 + 0.02, sh + ah - 0.02),
                v3(x + 0.03, d / 2.0 + 0.03, sh + ah),
                &frame,
            );
            b.span(
                v3(x - 0.015, d / 2.0 - 0.03, sh),
                v3(x + 0.015, d / 2.0, sh + ah - 0.02),
                &frame,
            );
        }
    }
    let pitch = (d - 0.02) / n as f32;
    for k in 0..n {
        let y0 = -d / 2.0 + 0.01 + k as f32 * pitch;
        b.span(
            v3(-l / 2.0, y0 + pitch * 0.1, sh - 0.03),
            v3(l / 2.0, y0 + pitch * 0.9, sh),
            &wood,
        );
    }
    let slat_h = bkh / m as f32 * 0.7;
    let side = b.sign();
    let plaque_x = side * l * b.u(0.15, 0.35);
    for k in 0..m {
        let s = bkh - (k as f32 + 0.5) * (bkh / m as f32);
        let c = post_base + up * s + q.apply(v3(0.0, 0.04, 0.0));
        let mut mat = wood.clone();
        if k == 0 {
            mat = mat.decal(
                Region::Ball {
                    c: c + q.apply(v3(plaque_x, 0.012, 0.0)),
                    r: slat_h * 0.45,
                },
                hsv(0.12, 0.7, 0.85),
            );
        }
        b.cuboid_rot(c, v3(l / 2.0, 0.012, slat_h / 2.0), q, &mat);
    }
}

fn rocket(b: &mut Builder) {
    let h = b.u(0.9, 1.3);
    let r = b.u(0.12, 0.17);
    let nh = b.u(0.2, 0.4);
    let n = b.int(3, 4);
    let f0 = b.u(0.0, TAU);
    let body_c = b.light();
    let roll_c = hsv(b.u(0.0, 1.0), b.u(0.0, 0.5), b.u(0.1, 0.3));
    let window_a = f0 + PI / n as f32;
    // A V-2 style roll pattern: one dark quadrant above the middle, the opposite one below.
    let zm = h * b.u(0.45, 0.55);
    let mut body = Material::new(body_c, 0.6, 32)
        .decal(
            Region::Ball {
                c: v3(r * window_a.cos(), r * window_a.sin(), h * b.u(0.75, 0.85)),
                r: r * 0.45,
            },
            hsv(0.6, 0.6, 0.25),
        )
        .decal(
            Region::Aabb {
                lo: v3(0.0, 0.0, zm),
                hi: v3(1.0, 1.0, h * 0.7),
            },
            roll_c,
        )
        .decal(
            Region::Aabb {
                lo: v3(-1.0, -1.0, h * 0.3),
                hi: v3(0.0, 0.0, zm),
            },
            roll_c,
        );
    if b.chance(0.5) {
        let ring_c = b.paint();
        body = body.decal(
            Region::Aabb {
                lo: v3(-1.0, -1.0, h * 0.2),
                hi: v3(1.0, 1.0, h * 0.26),
            },
            ring_c,
        );
    }
    b.cyl(v3(0.0, 0.0, 0.0), v3(0.0, 0.0, h), r, &body);
    let nose_c = b.paint();
    b.cone(
        v3(0.0, 0.0, h),
        v3(0.0, 0.0, h + nh),
        r,
        0.0,
        &Material::new(nose_c, 0.5, 32),
    );
    b.cone(
        v3(0.0, 0.0, 0.0),
        v3(0.0, 0.0, -0.1),
        r * 0.55,
        r * 0.8,
        &Material::new(hsv(0.0, 0.0, 0.25), 0.7, 32),
    );
    let fw = b.u(0.15, 0.25);
    let fh = b.u(0.22, 0.35);
    let hue0 = b.u(0.0, 1.0);
    for k in 0..n {
        let a = f0 + k as f32 * TAU / n as f32;
        let q = M3::axis_angle(v3(0.0, 0.0, 1.0), a);
        let out = q.apply(v3(1.0, 0.0, 0.0));
        let c = out * (r + fw / 2.0 - 0.01) + v3(0.0, 0.0, fh / 2.0);
        let colour = hsv(hue0 + k as f32 / n as f32, 0.85, 0.85);
        b.cuboid_rot(
            c,
            v3(fw / 2.0, 0.015, fh / 2.0),
            q,
            &Material::new(colour, 0.4, 32),
        );
    }
}
