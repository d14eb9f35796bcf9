//! Primitives, their analytic ray intersections, and models built from them.
//!
//! Every intersection takes a ray `o + t d` with a unit direction `d` and returns the entry
//! distance `t` when it is above [`T_MIN`] and the ray enters the primitive from outside, else
//! `f32::INFINITY`. A ray that starts inside a primitive does not see it (shadow rays start on
//! surfaces, and surfaces inside another part are never visible). Normals are computed from the
//! hit point alone, so shadow rays never pay for them. Formulas for capsules, capped cylinders
//! and capped cones follow Inigo Quilez's "intersectors" article.

use super::math::{M3, V3, v3};

/// Hits closer than this are ignored (self-intersection guard).
pub(crate) const T_MIN: f32 = 1e-4;

/// One analytic primitive, in object coordinates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Prim {
    /// A sphere.
    Sphere { c: V3, r: f32 },
    /// An ellipsoid with semi-axes `r` along the rows of `axes` (local = axes (p - c)).
    Ellipsoid { c: V3, r: V3, axes: M3 },
    /// A box with half-extents `h` along the rows of `axes` (local = axes (p - c)).
    Cuboid { c: V3, h: V3, axes: M3 },
    /// A capsule: the segment `a`-`b` thickened by `r`.
    Capsule { a: V3, b: V3, r: f32 },
    /// A capped cylinder from `a` to `b` of radius `r`.
    Cylinder { a: V3, b: V3, r: f32 },
    /// A capped cone (frustum) from `a` (radius `ra`) to `b` (radius `rb`).
    Cone { a: V3, b: V3, ra: f32, rb: f32 },
}

/// A region of object space in which a decal colour replaces the albedo.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Region {
    /// An axis-aligned box `lo..hi`.
    Aabb { lo: V3, hi: V3 },
    /// A ball.
    Ball { c: V3, r: f32 },
}

impl Region {
    fn contains(&self, p: V3) -> bool {
        match *self {
            Region::Aabb { lo, hi } => {
                p.x >= lo.x
                    && p.x <= hi.x
                    && p.y >= lo.y
                    && p.y <= hi.y
                    && p.z >= lo.z
                    && p.z <= hi.z
            }
            Region::Ball { c, r } => (p - c).len2() <= r * r,
        }
    }

    fn transformed(&self, s: f32, t: V3) -> Region {
        match *self {
            Region::Aabb { lo, hi } => Region::Aabb {
                lo: lo * s + t,
                hi: hi * s + t,
            },
            Region::Ball { c, r } => Region::Ball {
                c: c * s + t,
                r: r * s,
            },
        }
    }
}

/// Surface appearance of a part.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Material {
    /// Diffuse colour (RGB in `[0, 1]`).
    pub albedo: V3,
    /// Specular strength.
    pub spec: f32,
    /// Blinn-Phong exponent.
    pub shine: i32,
    /// Self-illumination in `[0, 1]` (lamp bulbs, head lights).
    pub emit: f32,
    /// Decals: the first region containing the hit point gives the colour.
    pub decals: Vec<(Region, V3)>,
}

impl Material {
    /// A material with no decals.
    pub fn new(albedo: V3, spec: f32, shine: i32) -> Material {
        Material {
            albedo,
            spec,
            shine,
            emit: 0.0,
            decals: Vec::new(),
        }
    }

    /// The same, self-lit by `emit`.
    pub fn glowing(mut self, emit: f32) -> Material {
        self.emit = emit;
        self
    }

    /// The same with one more decal.
    pub fn decal(mut self, region: Region, colour: V3) -> Material {
        self.decals.push((region, colour));
        self
    }

    /// The albedo at an object-space point.
    #[inline]
    pub fn colour_at(&self, p: V3) -> V3 {
        for (region, colour) in &self.decals {
            if region.contains(p) {
                return *colour;
            }
        }
        self.albedo
    }
}

/// A primitive with its material and bounding sphere.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub prim: Prim,
    pub mat: Material,
    /// Bounding sphere centre.
    pub bc: V3,
    /// Bounding sphere radius squared.
    pub br2: f32,
}

impl Part {
    pub fn new(prim: Prim, mat: Material) -> Part {
        let (bc, br) = prim.bounding_sphere();
        Part {
            prim,
            mat,
            bc,
            br2: br * br,
        }
    }
}

/// Entry distance of a ray into a sphere centred at `c` with squared radius `r2`, or infinity
/// (also when the ray starts inside, or the sphere lies behind).
#[inline(always)]
fn sphere_t(o: V3, d: V3, c: V3, r2: f32) -> f32 {
    let oc = o - c;
    let b = oc.dot(d);
    let cc = oc.len2() - r2;
    let h = b * b - cc;
    if h < 0.0 {
        return f32::INFINITY;
    }
    let t = -b - h.sqrt();
    if t > T_MIN { t } else { f32::INFINITY }
}

/// Whether a ray can meet the sphere `(c, r2)` closer than `tmax` (a cheap reject test: a ray
/// starting inside passes).
#[inline(always)]
pub(crate) fn sphere_reaches(o: V3, d: V3, c: V3, r2: f32, tmax: f32) -> bool {
    let oc = o - c;
    let b = oc.dot(d);
    let cc = oc.len2() - r2;
    if cc > 0.0 && b > 0.0 {
        return false;
    }
    let h = b * b - cc;
    if h < 0.0 {
        return false;
    }
    // Entry `-b - sqrt(h) < tmax`, without the square root.
    let m = -b - tmax;
    m < 0.0 || h > m * m
}

impl Prim {
    /// Entry distance along the ray, or infinity.
    #[inline]
    pub fn hit(&self, o: V3, d: V3) -> f32 {
        let t = match *self {
            Prim::Sphere { c, r } => return sphere_t(o, d, c, r * r),
            Prim::Ellipsoid { c, r, axes } => {
                let lo = axes.apply(o - c);
                let ld = axes.apply(d);
                let lo = v3(lo.x / r.x, lo.y / r.y, lo.z / r.z);
                let ld = v3(ld.x / r.x, ld.y / r.y, ld.z / r.z);
                let a = ld.len2();
                let b = lo.dot(ld);
                let cc = lo.len2() - 1.0;
                let h = b * b - a * cc;
                if h < 0.0 {
                    return f32::INFINITY;
                }
                (-b - h.sqrt()) / a
            }
            Prim::Cuboid { c, h, axes } => {
                let lo = axes.apply(o - c);
                let ld = axes.apply(d);
                let inv = v3(1.0 / ld.x, 1.0 / ld.y, 1.0 / ld.z);
                let t1 = (-h - lo).mul(inv);
                let t2 = (h - lo).mul(inv);
                let tn = t1.min(t2).max_elem();
                let tf = t1.max(t2);
                let tf = tf.x.min(tf.y).min(tf.z);
                if tn > tf || tf < 0.0 {
                    return f32::INFINITY;
                }
                tn
            }
            Prim::Capsule { a, b, r } => capsule(o, d, a, b, r),
            Prim::Cylinder { a, b, r } => cylinder(o, d, a, b, r),
            Prim::Cone { a, b, ra, rb } => cone(o, d, a, b, ra, rb),
        };
        if t > T_MIN { t } else { f32::INFINITY }
    }

    /// Outward unit normal at a surface point `p`.
    pub fn normal(&self, p: V3) -> V3 {
        match *self {
            Prim::Sphere { c, .. } => (p - c).normalize(),
            Prim::Ellipsoid { c, r, axes } => {
                let l = axes.apply(p - c);
                axes.apply_t(v3(l.x / (r.x * r.x), l.y / (r.y * r.y), l.z / (r.z * r.z)))
                    .normalize()
            }
            Prim::Cuboid { c, h, axes } => {
                let l = axes.apply(p - c);
                let q = v3(l.x / h.x, l.y / h.y, l.z / h.z);
                let a = q.abs();
                if a.x >= a.y && a.x >= a.z {
                    axes.rows[0] * q.x.signum()
                } else if a.y >= a.z {
                    axes.rows[1] * q.y.signum()
                } else {
                    axes.rows[2] * q.z.signum()
                }
            }
            Prim::Capsule { a, b, r } => {
                let ba = b - a;
                let pa = p - a;
                let h = (pa.dot(ba) / ba.len2()).clamp(0.0, 1.0);
                (pa - ba * h) / r
            }
            Prim::Cylinder { a, b, r } => axial_normal(p, a, b, r, r),
            Prim::Cone { a, b, ra, rb } => axial_normal(p, a, b, ra, rb),
        }
    }

    /// A bounding sphere (centre, radius).
    pub fn bounding_sphere(&self) -> (V3, f32) {
        match *self {
            Prim::Sphere { c, r } => (c, r),
            Prim::Ellipsoid { c, r, .. } => (c, r.max_elem()),
            Prim::Cuboid { c, h, .. } => (c, h.len()),
            Prim::Capsule { a, b, r } => ((a + b) * 0.5, (b - a).len() * 0.5 + r),
            Prim::Cylinder { a, b, r } => {
                let half = (b - a).len() * 0.5;
                ((a + b) * 0.5, (half * half + r * r).sqrt())
            }
            Prim::Cone { a, b, ra, rb } => {
                let m = (a + b) * 0.5;
                let half = (b - a).len() * 0.5;
                let r = ra.max(rb);
                (m, (half * half + r * r).sqrt())
            }
        }
    }

    /// The axis-aligned bounding box `(lo, hi)`, tight for every primitive.
    pub fn aabb(&self) -> (V3, V3) {
        match *self {
            Prim::Sphere { c, r } => (c - V3::splat(r), c + V3::splat(r)),
            Prim::Ellipsoid { c, r, axes } => {
                // Extent along world axis i: sqrt(sum_j (axes[j][i] r_j)^2).
                let e = |i: usize| {
                    let col = |row: V3| match i {
                        0 => row.x,
                        1 => row.y,
                        _ => row.z,
                    };
                    let [a0, a1, a2] = axes.rows;
                    ((col(a0) * r.x).powi(2) + (col(a1) * r.y).powi(2) + (col(a2) * r.z).powi(2))
                        .sqrt()
                };
                let ext = v3(e(0), e(1), e(2));
                (c - ext, c + ext)
            }
            Prim::Cuboid { c, h, axes } => {
                let [a0, a1, a2] = axes.rows;
                let ext = (a0 * h.x).abs() + (a1 * h.y).abs() + (a2 * h.z).abs();
                (c - ext, c + ext)
            }
            Prim::Capsule { a, b, r } => {
                let rr = V3::splat(r);
                (a.min(b) - rr, a.max(b) + rr)
            }
            Prim::Cylinder { a, b, r } => disc_aabb(a, b, r, r),
            Prim::Cone { a, b, ra, rb } => disc_aabb(a, b, ra, rb),
        }
    }

    /// The largest distance from the origin of a point of the primitive.
    pub fn max_dist(&self) -> f32 {
        match *self {
            Prim::Sphere { c, r } => c.len() + r,
            Prim::Ellipsoid { c, r, .. } => c.len() + r.max_elem(),
            Prim::Cuboid { c, h, axes } => {
                let [a0, a1, a2] = axes.rows;
                let mut m: f32 = 0.0;
                for sx in [-1.0, 1.0] {
                    for sy in [-1.0, 1.0] {
                        for sz in [-1.0, 1.0] {
                            let p = c + a0 * (h.x * sx) + a1 * (h.y * sy) + a2 * (h.z * sz);
                            m = m.max(p.len());
                        }
                    }
                }
                m
            }
            Prim::Capsule { a, b, r } => a.len().max(b.len()) + r,
            Prim::Cylinder { a, b, r } => disc_max_dist(a, b, r).max(disc_max_dist(b, a, r)),
            Prim::Cone { a, b, ra, rb } => disc_max_dist(a, b, ra).max(disc_max_dist(b, a, rb)),
        }
    }

    /// The primitive scaled by `s` about the origin, then moved by `t`.
    pub fn transformed(&self, s: f32, t: V3) -> Prim {
        let p = |v: V3| v * s + t;
        match *self {
            Prim::Sphere { c, r } => Prim::Sphere { c: p(c), r: r * s },
            Prim::Ellipsoid { c, r, axes } => Prim::Ellipsoid {
                c: p(c),
                r: r * s,
                axes,
            },
            Prim::Cuboid { c, h, axes } => Prim::Cuboid {
                c: p(c),
                h: h * s,
                axes,
            },
            Prim::Capsule { a, b, r } => Prim::Capsule {
                a: p(a),
                b: p(b),
                r: r * s,
            },
            Prim::Cylinder { a, b, r } => Prim::Cylinder {
                a: p(a),
                b: p(b),
                r: r * s,
            },
            Prim::Cone { a, b, ra, rb } => Prim::Cone {
                a: p(a),
                b: p(b),
                ra: ra * s,
                rb: rb * s,
            },
        }
    }
}

/// Axis-aligned box of a disc of radius `ra` at `a` and one of radius `rb` at `b`, both
/// perpendicular to `b - a`.
fn disc_aabb(a: V3, b: V3, ra: f32, rb: f32) -> (V3, V3) {
    let w = (b - a).normalize();
    let e = v3(
        (1.0 - w.x * w.x).max(0.0).sqrt(),
        (1.0 - w.y * w.y).max(0.0).sqrt(),
        (1.0 - w.z * w.z).max(0.0).sqrt(),
    );
    let (ea, eb) = (e * ra, e * rb);
    ((a - ea).min(b - eb), (a + ea).max(b + eb))
}

/// Farthest distance from the origin of the disc of radius `r` at `e`, perpendicular to
/// `e - other`.
fn disc_max_dist(e: V3, other: V3, r: f32) -> f32 {
    let w = (e - other).normalize();
    let along = e.dot(w);
    let perp = (e - w * along).len();
    (along * along + (perp + r) * (perp + r)).sqrt()
}

/// Normal of a capped cylinder or cone (radius `ra` at `a`, `rb` at `b`) at a surface point:
/// the nearer of the caps and the side.
fn axial_normal(p: V3, a: V3, b: V3, ra: f32, rb: f32) -> V3 {
    let ba = b - a;
    let len = ba.len();
    let w = ba / len;
    let pa = p - a;
    let h = pa.dot(w);
    let q = pa - w * h;
    let rho = q.len();
    let r_here = ra + (rb - ra) * (h / len).clamp(0.0, 1.0);
    // Distance to the side measured perpendicular to the axis (good enough to pick a face).
    let d_side = (rho - r_here).abs();
    let d_a = h.abs();
    let d_b = (len - h).abs();
    if d_a < d_side && d_a <= d_b {
        -w
    } else if d_b < d_side {
        w
    } else if rho > 0.0 {
        (q * (len / rho) + w * (ra - rb)).normalize()
    } else {
        w
    }
}

fn capsule(o: V3, d: V3, pa: V3, pb: V3, r: f32) -> f32 {
    let ba = pb - pa;
    let oa = o - pa;
    let baba = ba.len2();
    let bard = ba.dot(d);
    let baoa = ba.dot(oa);
    let rdoa = d.dot(oa);
    let oaoa = oa.len2();
    let a = baba - bard * bard;
    let r2 = r * r;
    if a > 1e-7 * baba {
        let b = baba * rdoa - baoa * bard;
        let c = baba * oaoa - baoa * baoa - r2 * baba;
        let h = b * b - a * c;
        if h < 0.0 {
            return f32::INFINITY;
        }
        let t = (-b - h.sqrt()) / a;
        let y = baoa + t * bard;
        if y > 0.0 && y < baba {
            return t;
        }
        let centre = if y <= 0.0 { pa } else { pb };
        return sphere_t(o, d, centre, r2);
    }
    // Parallel to the axis: the nearer end sphere.
    sphere_t(o, d, pa, r2).min(sphere_t(o, d, pb, r2))
}

fn cylinder(o: V3, d: V3, a: V3, b: V3, r: f32) -> f32 {
    let ba = b - a;
    let oc = o - a;
    let baba = ba.len2();
    let bard = ba.dot(d);
    let baoc = ba.dot(oc);
    let k2 = baba - bard * bard;
    let k1 = baba * oc.dot(d) - baoc * bard;
    let k0 = baba * oc.len2() - baoc * baoc - r * r * baba;
    if k2 <= 1e-7 * baba {
        // Parallel to the axis: only a cap can be hit.
        if k0 > 0.0 {
            return f32::INFINITY;
        }
        let t = ((if bard > 0.0 { 0.0 } else { baba }) - baoc) / bard;
        return if t.is_finite() { t } else { f32::INFINITY };
    }
    let h = k1 * k1 - k2 * k0;
    if h < 0.0 {
        return f32::INFINITY;
    }
    let h = h.sqrt();
    let t = (-k1 - h) / k2;
    let y = baoc + t * bard;
    if y > 0.0 && y < baba {
        return t;
    }
    let t = ((if y < 0.0 { 0.0 } else { baba }) - baoc) / bard;
    if (k1 + k2 * t).abs() < h {
        t
    } else {
        f32::INFINITY
    }
}

fn cone(o: V3, d: V3, pa: V3, pb: V3, ra: f32, rb: f32) -> f32 {
    let ba = pb - pa;
    let oa = o - pa;
    let ob = o - pb;
    let m0 = ba.len2();
    let m1 = oa.dot(ba);
    let m2 = d.dot(ba);
    let m3 = d.dot(oa);
    let m5 = oa.len2();
    let m9 = ob.dot(ba);
    // Caps.
    if m1 < 0.0 {
        if (oa * m2 - d * m1).len2() < ra * ra * m2 * m2 {
            return -m1 / m2;
        }
    } else if m9 > 0.0 {
        let t = -m9 / m2;
        if (ob + d * t).len2() < rb * rb {
            return t;
        }
    }
    // Side.
    let rr = ra - rb;
    let hy = m0 + rr * rr;
    let k2 = m0 * m0 - m2 * m2 * hy;
    let k1 = m0 * m0 * m3 - m1 * m2 * hy + m0 * ra * (rr * m2);
    let k0 = m0 * m0 * m5 - m1 * m1 * hy + m0 * ra * (rr * m1 * 2.0 - m0 * ra);
    if k2.abs() < 1e-9 * m0 * m0 {
        return f32::INFINITY;
    }
    let h = k1 * k1 - k2 * k0;
    if h < 0.0 {
        return f32::INFINITY;
    }
    let t = (-k1 - h.sqrt()) / k2;
    let y = m1 + t * m2;
    if y < 0.0 || y > m0 {
        return f32::INFINITY;
    }
    t
}

/// An object: parts in object space, centred and scaled, with an overall bounding sphere.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Model {
    pub parts: Vec<Part>,
    /// Bounding sphere radius squared (centred at the origin).
    pub br2: f32,
}

impl Model {
    /// Centres `parts` on their bounding-box centre and scales them so that every point lies
    /// within `radius` of the origin.
    pub fn normalized(parts: Vec<(Prim, Material)>, radius: f32) -> Model {
        let mut lo = V3::splat(f32::INFINITY);
        let mut hi = V3::splat(f32::NEG_INFINITY);
        for (p, _) in &parts {
            let (a, b) = p.aabb();
            lo = lo.min(a);
            hi = hi.max(b);
        }
        let centre = (lo + hi) * 0.5;
        let moved: Vec<(Prim, Material)> = parts
            .into_iter()
            .map(|(p, mut m)| {
                m.decals = m
                    .decals
                    .iter()
                    .map(|(r, c)| (r.transformed(1.0, -centre), *c))
                    .collect();
                (p.transformed(1.0, -centre), m)
            })
            .collect();
        let far = moved
            .iter()
            .map(|(p, _)| p.max_dist())
            .fold(1e-6_f32, f32::max);
        let s = radius / far;
        let parts = moved
            .into_iter()
            .map(|(p, mut m)| {
                m.decals = m
                    .decals
                    .iter()
                    .map(|(r, c)| (r.transformed(s, V3::ZERO), *c))
                    .collect();
                Part::new(p.transformed(s, V3::ZERO), m)
            })
            .collect();
        Model {
            parts,
            br2: radius * radius * 1.0001,
        }
    }

    /// The nearest hit closer than `tmax`: (distance, part index). Only the parts whose bit
    /// is set in `mask` are tried (bit `k` for part `k`; parts from the 65th on always are).
    #[inline]
    pub fn hit(&self, o: V3, d: V3, tmax: f32, mask: u64) -> Option<(f32, usize)> {
        if !sphere_reaches(o, d, V3::ZERO, self.br2, tmax) {
            return None;
        }
        let mut best = tmax;
        let mut which = None;
        let mut try_part = |k: usize, best: &mut f32| {
            let part = &self.parts[k];
            if sphere_reaches(o, d, part.bc, part.br2, *best) {
                let t = part.prim.hit(o, d);
                if t < *best {
                    *best = t;
                    which = Some(k);
                }
            }
        };
        let mut m = mask;
        while m != 0 {
            let k = m.trailing_zeros() as usize;
            m &= m - 1;
            if k < self.parts.len() {
                try_part(k, &mut best);
            }
        }
        for k in 64..self.parts.len() {
            try_part(k, &mut best);
        }
        which.map(|k| (best, k))
    }

    /// Whether one of the parts in `mask` (as for [`Model::hit`]) lies on the ray closer than
    /// `tmax`.
    #[inline]
    pub fn occluded(&self, o: V3, d: V3, tmax: f32, mask: u64) -> bool {
        if (mask == 0 && self.parts.len() <= 64) || !sphere_reaches(o, d, V3::ZERO, self.br2, tmax)
        {
            return false;
        }
        let blocks = |k: usize| {
            let part = &self.parts[k];
            sphere_reaches(o, d, part.bc, part.br2, tmax) && part.prim.hit(o, d) < tmax
        };
        let mut m = mask;
        while m != 0 {
            let k = m.trailing_zeros() as usize;
            m &= m - 1;
            if k < self.parts.len() && blocks(k) {
                return true;
            }
        }
        (64..self.parts.len()).any(blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rays() -> Vec<(V3, V3)> {
        let mut out = Vec::new();
        for i in 0..20 {
            for j in 0..20 {
                let x = -1.2 + 2.4 * i as f32 / 19.0;
                let y = -1.2 + 2.4 * j as f32 / 19.0;
                out.push((v3(x, y, 5.0), v3(0.03 * x, -0.02 * y, -1.0).normalize()));
            }
        }
        out
    }

    /// Every hit lies on the surface (checked by a signed-distance function) and its normal
    /// points against the ray; with more than one hit per primitive.
    #[test]
    fn hits_lie_on_surfaces() {
        let rot = M3::axis_angle(v3(1.0, 2.0, 0.5), 0.7);
        let prims = [
            Prim::Sphere {
                c: v3(0.1, 0.2, 0.0),
                r: 0.8,
            },
            Prim::Ellipsoid {
                c: v3(0.0, 0.1, 0.2),
                r: v3(0.9, 0.4, 0.6),
                axes: rot,
            },
            Prim::Cuboid {
                c: v3(0.1, 0.0, 0.0),
                h: v3(0.7, 0.3, 0.5),
                axes: rot,
            },
            Prim::Capsule {
                a: v3(-0.5, -0.2, -0.3),
                b: v3(0.6, 0.4, 0.5),
                r: 0.3,
            },
            Prim::Cylinder {
                a: v3(-0.5, -0.2, -0.3),
                b: v3(0.6, 0.4, 0.5),
                r: 0.3,
            },
            Prim::Cone {
                a: v3(-0.5, -0.2, -0.3),
                b: v3(0.6, 0.4, 0.5),
                ra: 0.5,
                rb: 0.1,
            },
        ];
        for prim in &prims {
            let mut hits = 0;
            for (o, d) in rays() {
                let t = prim.hit(o, d);
                if !t.is_finite() {
                    continue;
                }
                hits += 1;
                let p = o + d * t;
                let n = prim.normal(p);
                assert!(n.dot(d) < 1e-3, "{prim:?}: normal faces the ray");
                // Just before the hit the ray is outside, just after inside: probe with the
                // ray itself from a little further back.
                let back = p - d * 1e-3;
                assert!(prim.hit(back, d) < 2e-3, "{prim:?}: hit not reproduced");
                let (lo, hi) = prim.aabb();
                let tol = V3::splat(1e-4);
                assert!(p.min(lo - tol) == lo - tol && p.max(hi + tol) == hi + tol);
                assert!(p.len() <= prim.max_dist() + 1e-4);
            }
            assert!(hits > 20, "{prim:?} hit only {hits} times");
        }
    }
}
