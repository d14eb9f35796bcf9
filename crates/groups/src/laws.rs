//! Checkers for the group axioms and action laws, for use in property tests here and in the
//! crates that define their own groups or actions (augmentations, symmetrized models).
//!
//! Each checker returns `Err` with a message naming the law and the elements that broke it.

use crate::group::{Group, PointAction, VectorAction};
use crate::points::Points;

/// A group law that did not hold, with the elements involved.
pub type LawResult = Result<(), String>;

/// Checks identity, inverse and associativity on `a`, `b`, `c`, and the encode / decode round
/// trip on `a`, up to `tol`.
///
/// ```
/// use noether_groups::{laws::check_group_laws, Cyclic, Group};
/// let c5 = Cyclic::new(5)?;
/// check_group_laws(&c5, &2, &3, &4, 0.0).unwrap();
/// # Ok::<(), noether_groups::GroupError>(())
/// ```
pub fn check_group_laws<G: Group>(
    group: &G,
    a: &G::Element,
    b: &G::Element,
    c: &G::Element,
    tol: f64,
) -> LawResult {
    let name = group.name();
    let e = group.identity();
    let eq = |x: &G::Element, y: &G::Element| group.approx_eq(x, y, tol);
    if !eq(&group.compose(&e, a), a) || !eq(&group.compose(a, &e), a) {
        return Err(format!("{name}: identity law fails for {a:?}"));
    }
    let ai = group.inverse(a);
    if !eq(&group.compose(a, &ai), &e) || !eq(&group.compose(&ai, a), &e) {
        return Err(format!(
            "{name}: inverse law fails for {a:?} (inverse {ai:?})"
        ));
    }
    let left = group.compose(&group.compose(a, b), c);
    let right = group.compose(a, &group.compose(b, c));
    if !eq(&left, &right) {
        return Err(format!(
            "{name}: associativity fails for a = {a:?}, b = {b:?}, c = {c:?}: (ab)c = {left:?}, a(bc) = {right:?}"
        ));
    }
    check_round_trip(group, a, tol)
}

/// Checks that `decode(encode(g))` is `g` and that the encoding has the layout's length.
pub fn check_round_trip<G: Group>(group: &G, g: &G::Element, tol: f64) -> LawResult {
    let name = group.name();
    let params = group.encode(g);
    let layout = group.layout();
    if params.len() != layout.len() {
        return Err(format!(
            "{name}: encoding has {} floats, layout {} says {}",
            params.len(),
            layout.id,
            layout.len()
        ));
    }
    match group.decode(&params) {
        Ok(back) if group.approx_eq(&back, g, tol) => Ok(()),
        Ok(back) => Err(format!(
            "{name}: round trip of {g:?} gave {back:?} (params {params:?})"
        )),
        Err(e) => Err(format!(
            "{name}: decoding the encoding of {g:?} failed: {e}"
        )),
    }
}

/// Checks that `g` and `h` act compatibly on the vector `x`: `g . (h . x) = (g h) . x` and
/// `e . x = x`, up to `tol` in each coordinate.
pub fn check_vector_action<G: VectorAction>(
    group: &G,
    g: &G::Element,
    h: &G::Element,
    x: &[f64],
    tol: f64,
) -> LawResult {
    let name = group.name();
    let act = |k: &G::Element, v: &[f64]| group.act_vector(k, v).map_err(|e| e.to_string());
    let diff = |u: &[f64], v: &[f64]| {
        u.iter()
            .zip(v)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max)
    };
    let ex = act(&group.identity(), x)?;
    if diff(&ex, x) > tol {
        return Err(format!("{name}: the identity moves {x:?} to {ex:?}"));
    }
    let two_steps = act(g, &act(h, x)?)?;
    let one_step = act(&group.compose(g, h), x)?;
    if diff(&two_steps, &one_step) > tol {
        return Err(format!(
            "{name}: g.(h.x) = {two_steps:?} but (gh).x = {one_step:?} for g = {g:?}, h = {h:?}, x = {x:?}"
        ));
    }
    Ok(())
}

/// Checks that `g` and `h` act compatibly on the point set `x`: `g . (h . X) = (g h) . X` and
/// `e . X = X`, up to `tol` in each coordinate.
pub fn check_point_action<G: PointAction>(
    group: &G,
    g: &G::Element,
    h: &G::Element,
    x: &Points<f64>,
    tol: f64,
) -> LawResult {
    let name = group.name();
    let act = |k: &G::Element, p: &Points<f64>| group.act_points(k, p).map_err(|e| e.to_string());
    let ex = act(&group.identity(), x)?;
    if ex.max_abs_diff(x) > tol {
        return Err(format!(
            "{name}: the identity moves the point set {x:?} to {ex:?}"
        ));
    }
    let two_steps = act(g, &act(h, x)?)?;
    let one_step = act(&group.compose(g, h), x)?;
    if two_steps.max_abs_diff(&one_step) > tol {
        return Err(format!(
            "{name}: g.(h.X) != (gh).X for g = {g:?}, h = {h:?}: {two_steps:?} vs {one_step:?}"
        ));
    }
    Ok(())
}
