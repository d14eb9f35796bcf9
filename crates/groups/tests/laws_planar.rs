//! Group axioms, action laws and encode / decode round trips for C_n, D_n, SO(2), O(2), O(n)
//! and SO(n), on random elements (proptest seeds) and on each group's test elements.

use crate::common;

use noether_groups::laws::{check_group_laws, check_point_action, check_vector_action};
use noether_groups::{Cyclic, Dihedral, FiniteGroup, Group, O2, Orthogonal, Points, SO2};
use proptest::prelude::*;
use rand::Rng;

/// Checks every law on three sampled elements, every pair of test elements, a random vector
/// and a random point set.
fn check_all<G>(group: &G, seed: u64, tol: f64) -> Result<(), String>
where
    G: Group + noether_groups::VectorAction + noether_groups::PointAction,
{
    let mut rng = common::rng(seed);
    let (a, b, c) = (
        group.sample(&mut rng),
        group.sample(&mut rng),
        group.sample(&mut rng),
    );
    check_group_laws(group, &a, &b, &c, tol)?;
    let dim = group.vector_dim().unwrap_or(3);
    let x: Vec<f64> = (0..dim).map(|_| rng.random_range(-2.0..2.0)).collect();
    check_vector_action(group, &a, &b, &x, tol * 10.0)?;
    let pts: Vec<f64> = (0..5 * dim).map(|_| rng.random_range(-2.0..2.0)).collect();
    let pts = Points::new(5, dim, pts).map_err(|e| e.to_string())?;
    check_point_action(group, &a, &b, &pts, tol * 10.0)?;
    let tests = group.test_elements();
    for g in &tests {
        for h in &tests {
            check_group_laws(group, g, h, &a, tol)?;
            check_vector_action(group, g, h, &x, tol * 10.0)?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cyclic_laws(seed in any::<u64>(), n in 1usize..13) {
        check_all(&Cyclic::new(n).unwrap(), seed, 1e-12).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn dihedral_laws(seed in any::<u64>(), n in 1usize..13) {
        check_all(&Dihedral::new(n).unwrap(), seed, 1e-12).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn so2_laws(seed in any::<u64>()) {
        check_all(&SO2, seed, 1e-6).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn o2_laws(seed in any::<u64>()) {
        check_all(&O2, seed, 1e-6).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn orthogonal_laws(seed in any::<u64>(), n in 1usize..7) {
        check_all(&Orthogonal::new(n).unwrap(), seed, 1e-6).map_err(TestCaseError::fail)?;
        check_all(&Orthogonal::special(n).unwrap(), seed, 1e-6).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn finite_groups_number_their_elements_bijectively() {
    for n in 1..9 {
        let c = Cyclic::new(n).unwrap();
        let d = Dihedral::new(n).unwrap();
        for i in 0..c.order() {
            assert_eq!(c.index_of(&c.element(i)), i);
        }
        for i in 0..d.order() {
            assert_eq!(d.index_of(&d.element(i)), i);
        }
        assert_eq!(d.index_of(&d.identity()), 0);
        // The regular representation is a homomorphism into permutations.
        for g in d.elements() {
            let mut p = d.regular_permutation(&g);
            for h in d.elements() {
                let (pg, ph) = (d.regular_permutation(&g), d.regular_permutation(&h));
                let pgh = d.regular_permutation(&d.compose(&g, &h));
                let composed: Vec<usize> = (0..d.order()).map(|i| pg[ph[i]]).collect();
                assert_eq!(composed, pgh, "D{n}: regular representation of {g:?} {h:?}");
            }
            p.sort_unstable();
            assert_eq!(p, (0..d.order()).collect::<Vec<_>>());
        }
    }
}

#[test]
fn matrices_of_finite_groups_agree_with_the_planar_groups() {
    // C_n and D_n embed in SO(2) and O(2): same matrices for the same rotation / reflection.
    use noether_groups::{DihedralElement, LinearGroup, O2Element};
    let d5 = Dihedral::new(5).unwrap();
    for g in d5.elements() {
        let angle = std::f64::consts::TAU * g.k as f64 / 5.0;
        let o = O2Element {
            angle: noether_groups::wrap_angle(angle),
            reflect: g.reflect,
        };
        let (a, b) = (d5.matrix(&g), O2.matrix(&o));
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12),
            "{g:?}"
        );
    }
    let c5 = Cyclic::new(5).unwrap();
    for k in 0..5 {
        let g = DihedralElement { k, reflect: false };
        assert_eq!(c5.matrix(&k), d5.matrix(&g));
    }
}

#[test]
fn bad_vectors_and_point_sets_are_errors() {
    use noether_groups::{PointAction, VectorAction};
    let so3 = Orthogonal::special(3).unwrap();
    let e = so3.identity();
    let err = so3.act_vector(&e, &[1.0f32, 2.0]).unwrap_err().to_string();
    assert!(err.contains("SO(3)") && err.contains("expected 3"), "{err}");
    let pts = Points::new(2, 2, vec![0.0f64; 4]).unwrap();
    assert!(so3.act_points(&e, &pts).is_err());
    assert!(Points::new(2, 3, vec![0.0f32; 5]).is_err());
    let c4 = Cyclic::new(4).unwrap();
    assert!(c4.act_vector(&1, &[1.0f64, 2.0, 3.0]).is_err());
}
