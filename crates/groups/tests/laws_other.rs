//! Group axioms, action laws and encode / decode round trips for S_n, T(d), the scaling group,
//! the Euclidean groups and direct products, on random (seeded) and hand-picked elements; and
//! errors, not panics, on bad input.

use crate::common;

use noether_groups::laws::{
    LawResult, check_group_laws, check_point_action, check_round_trip, check_vector_action,
};
use noether_groups::{
    Cyclic, Euclidean, FiniteGroup, Group, Orthogonal, Permutation, PointAction, Points, Product,
    RigidMotion, Scaling, Symmetric, Translations, VectorAction,
};
use proptest::prelude::*;
use rand::Rng;

/// The group's test elements followed by `k` samples from a generator seeded by `seed`.
fn elements<G: Group>(group: &G, seed: u64, k: usize) -> Vec<G::Element> {
    let mut rng = common::rng(seed);
    let mut out = group.test_elements();
    out.extend((0..k).map(|_| group.sample(&mut rng)));
    out
}

/// Group axioms and round trips on all pairs of elements, with a random third element.
fn group_laws<G: Group>(group: &G, seed: u64, tol: f64) -> LawResult {
    let els = elements(group, seed, 4);
    let mut rng = common::rng(seed.wrapping_add(1));
    for a in &els {
        check_round_trip(group, a, tol)?;
        for b in &els {
            let c = group.sample(&mut rng);
            check_group_laws(group, a, b, &c, tol)?;
        }
    }
    Ok(())
}

/// A random vector of length `len` with entries in [-3, 3].
fn random_vector(seed: u64, len: usize) -> Vec<f64> {
    let mut rng = common::rng(seed.wrapping_add(2));
    (0..len).map(|_| rng.random_range(-3.0..3.0)).collect()
}

/// `g . (h . x) = (g h) . x` and `e . x = x` on all pairs of elements.
fn vector_laws<G: VectorAction>(group: &G, seed: u64, len: usize, tol: f64) -> LawResult {
    let els = elements(group, seed, 3);
    let x = random_vector(seed, len);
    for g in &els {
        for h in &els {
            check_vector_action(group, g, h, &x, tol)?;
        }
    }
    Ok(())
}

/// `g . (h . X) = (g h) . X` and `e . X = X` on all pairs of elements.
fn point_laws<G: PointAction>(
    group: &G,
    seed: u64,
    rows: usize,
    cols: usize,
    tol: f64,
) -> LawResult {
    let els = elements(group, seed, 3);
    let x = Points::new(rows, cols, random_vector(seed, rows * cols)).map_err(|e| e.to_string())?;
    for g in &els {
        for h in &els {
            check_point_action(group, g, h, &x, tol)?;
        }
    }
    Ok(())
}

fn ok(r: LawResult) -> Result<(), TestCaseError> {
    r.map_err(TestCaseError::fail)
}

fn sym(n: usize) -> Symmetric {
    Symmetric::new(n).expect("n >= 1")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn symmetric_laws(seed in any::<u64>(), n in 1usize..8, cols in 1usize..4) {
        let g = sym(n);
        ok(group_laws(&g, seed, 0.0))?;
        ok(vector_laws(&g, seed, n, 0.0))?;
        ok(point_laws(&g, seed, n, cols, 0.0))?;
    }

    #[test]
    fn symmetric_samples_and_regular_representation(seed in any::<u64>(), n in 1usize..5) {
        let g = sym(n);
        let order = g.order();
        for a in elements(&g, seed, 3) {
            prop_assert!(Permutation::new(a.images().to_vec()).is_ok(), "{a:?}");
            let perm = g.regular_permutation(&a);
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..order).collect::<Vec<_>>());
            // A homomorphism: the regular permutation of a b is that of a after that of b.
            let b = g.sample(&mut common::rng(seed.wrapping_add(3)));
            let (pa, pb) = (perm, g.regular_permutation(&b));
            let pab = g.regular_permutation(&g.compose(&a, &b));
            prop_assert_eq!(pab, (0..order).map(|h| pa[pb[h]]).collect::<Vec<_>>());
        }
    }

    #[test]
    fn symmetric_distance_is_invariant(seed in any::<u64>(), n in 1usize..8) {
        let g = sym(n);
        let mut rng = common::rng(seed);
        let (a, b, c) = (g.sample(&mut rng), g.sample(&mut rng), g.sample(&mut rng));
        let d = g.distance(&a, &b).expect("Cayley distance");
        prop_assert!(d <= (n - 1) as f64);
        prop_assert_eq!(g.distance(&g.compose(&c, &a), &g.compose(&c, &b)), Some(d));
        prop_assert_eq!(g.distance(&g.compose(&a, &c), &g.compose(&b, &c)), Some(d));
        prop_assert_eq!(g.distance(&b, &a), Some(d));
    }

    #[test]
    fn translation_laws(seed in any::<u64>(), d in 1usize..5, rows in 0usize..5) {
        let g = Translations::new(d, 2.0).expect("valid");
        ok(group_laws(&g, seed, 1e-5))?;
        ok(vector_laws(&g, seed, d, 1e-12))?;
        ok(point_laws(&g, seed, rows, d, 1e-12))?;
    }

    #[test]
    fn scaling_laws(seed in any::<u64>(), len in 0usize..6, cols in 1usize..4) {
        let g = Scaling::new(0.25, 4.0).expect("valid");
        ok(group_laws(&g, seed, 1e-6))?;
        ok(vector_laws(&g, seed, len, 1e-9))?;
        ok(point_laws(&g, seed, len, cols, 1e-9))?;
        for s in elements(&g, seed, 8).into_iter().skip(g.test_elements().len()) {
            prop_assert!((g.log_min()..=g.log_max()).contains(&s));
        }
    }

    #[test]
    fn euclidean_laws(seed in any::<u64>(), rows in 0usize..5) {
        let e2 = Euclidean::e(2, 1.5).expect("valid");
        ok(group_laws(&e2, seed, 1e-5))?;
        ok(vector_laws(&e2, seed, 2, 1e-9))?;
        ok(point_laws(&e2, seed, rows, 2, 1e-9))?;
        let se3 = Euclidean::se(3, 1.5).expect("valid");
        ok(group_laws(&se3, seed, 1e-5))?;
        ok(vector_laws(&se3, seed, 3, 1e-9))?;
        ok(point_laws(&se3, seed, rows, 3, 1e-9))?;
        let c6 = Euclidean::new(Cyclic::new(6).expect("n"), 1.0).expect("valid");
        ok(group_laws(&c6, seed, 1e-5))?;
        ok(vector_laws(&c6, seed, 2, 1e-9))?;
        ok(point_laws(&c6, seed, rows, 2, 1e-9))?;
    }

    #[test]
    fn euclidean_distance_is_left_invariant(seed in any::<u64>()) {
        let se3 = Euclidean::se(3, 1.5).expect("valid");
        let mut rng = common::rng(seed);
        let (a, b, c) = (se3.sample(&mut rng), se3.sample(&mut rng), se3.sample(&mut rng));
        let d = se3.distance(&a, &b).expect("distance");
        let dc = se3.distance(&se3.compose(&c, &a), &se3.compose(&c, &b)).expect("distance");
        prop_assert!((d - dc).abs() < 1e-9, "{d} vs {dc}");
    }

    #[test]
    fn product_laws_on_point_sets(seed in any::<u64>(), n in 1usize..6) {
        // S_n moves rows, SO(2) / O(3) act on columns: the actions commute.
        let g = Product(sym(n), Orthogonal::special(2).expect("n"));
        ok(group_laws(&g, seed, 1e-5))?;
        ok(point_laws(&g, seed, n, 2, 1e-9))?;
        let g = Product(sym(n), Orthogonal::new(3).expect("n"));
        ok(group_laws(&g, seed, 1e-5))?;
        ok(point_laws(&g, seed, n, 3, 1e-9))?;
        // Scaling commutes with permutations, on vectors and point sets.
        let g = Product(sym(n), Scaling::new(0.5, 2.0).expect("valid"));
        ok(group_laws(&g, seed, 1e-6))?;
        ok(vector_laws(&g, seed, n, 1e-9))?;
        ok(point_laws(&g, seed, n, 3, 1e-9))?;
        // And with rotations.
        let g = Product(Scaling::new(0.5, 2.0).expect("valid"), Orthogonal::special(3).expect("n"));
        ok(vector_laws(&g, seed, 3, 1e-9))?;
    }

    #[test]
    fn finite_product_indices(seed in any::<u64>(), n in 1usize..5, m in 1usize..6) {
        let g = Product(sym(n), Cyclic::new(m).expect("n"));
        ok(group_laws(&g, seed, 0.0))?;
        for a in elements(&g, seed, 3) {
            prop_assert_eq!(g.element(g.index_of(&a)), a);
        }
    }

    #[test]
    fn decode_never_panics(
        params in proptest::collection::vec(
            prop_oneof![any::<f32>(), (-2i32..8).prop_map(|v| v as f32)],
            0..10,
        ),
    ) {
        fn try_decode<G: Group>(g: &G, params: &[f32]) -> Result<(), TestCaseError> {
            if let Ok(a) = g.decode(params) {
                // Whatever decodes must re-encode to something that decodes.
                prop_assert!(g.decode(&g.encode(&a)).is_ok());
            }
            Ok(())
        }
        for n in 1..6 {
            try_decode(&sym(n), &params)?;
        }
        try_decode(&Translations::new(3, 1.0).expect("valid"), &params)?;
        try_decode(&Scaling::new(0.5, 2.0).expect("valid"), &params)?;
        try_decode(&Euclidean::new(Cyclic::new(4).expect("n"), 1.0).expect("valid"), &params)?;
        try_decode(&Euclidean::se(2, 1.0).expect("valid"), &params)?;
        try_decode(&Product(sym(2), Cyclic::new(3).expect("n")), &params)?;
    }

    #[test]
    fn actions_on_any_length_never_panic(seed in any::<u64>(), len in 0usize..8) {
        let x = random_vector(seed, len);
        let s4 = sym(4);
        prop_assert_eq!(s4.act_vector(&s4.sample(&mut common::rng(seed)), &x).is_ok(), len == 4);
        let t3 = Translations::new(3, 1.0).expect("valid");
        prop_assert_eq!(t3.act_vector(&t3.identity(), &x).is_ok(), len == 3);
        let e2 = Euclidean::e(2, 1.0).expect("valid");
        prop_assert_eq!(e2.act_vector(&e2.identity(), &x).is_ok(), len == 2);
        let points = Points::new(1, len, x.clone()).expect("shape");
        prop_assert_eq!(s4.act_points(&s4.identity(), &points).is_ok(), false);
        prop_assert_eq!(t3.act_points(&t3.identity(), &points).is_ok(), len == 3);
        prop_assert_eq!(e2.act_points(&e2.identity(), &points).is_ok(), len == 2);
    }
}

#[test]
fn lehmer_index_round_trips_over_all_of_s1_to_s6() {
    for n in 1..=6usize {
        let g = sym(n);
        let order = g.order();
        assert_eq!(order, (1..=n).product::<usize>());
        assert_eq!(g.element(0), g.identity());
        let mut seen = std::collections::HashSet::new();
        for i in 0..order {
            let p = g.element(i);
            assert!(Permutation::new(p.images().to_vec()).is_ok(), "{p:?}");
            assert_eq!(g.index_of(&p), i, "S{n}: {p:?}");
            assert!(seen.insert(p), "S{n}: element {i} repeats");
        }
        // Lexicographic: element i's images come before element i + 1's.
        let all = g.elements();
        assert!(all.windows(2).all(|w| w[0].images() < w[1].images()));
    }
}

#[test]
fn a_three_cycle_acts_by_hand() {
    let s3 = sym(3);
    let sigma = s3.permutation(vec![1, 2, 0]).expect("perm");
    // [a, b, c] -> [c, a, b].
    assert_eq!(
        s3.act_vector(&sigma, &[1.0f32, 2.0, 3.0]).expect("len"),
        vec![3.0, 1.0, 2.0]
    );
    // Applying it three times is the identity.
    let cube = s3.compose(&sigma, &s3.compose(&sigma, &sigma));
    assert_eq!(cube, s3.identity());
    assert_eq!(s3.inverse(&sigma).images(), &[2, 0, 1]);
}

#[test]
fn rigid_motion_by_hand() {
    let e2 = Euclidean::e(2, 1.0).expect("valid");
    // Reflection across the x axis, then a shift by (0, 1).
    let g = RigidMotion {
        linear: vec![1.0, 0.0, 0.0, -1.0],
        translation: vec![0.0, 1.0],
    };
    assert_eq!(
        e2.act_vector(&g, &[2.0f64, 3.0]).expect("len"),
        vec![2.0, -2.0]
    );
    let gi = e2.inverse(&g);
    assert!(e2.approx_eq(
        &gi,
        &RigidMotion {
            linear: g.linear.clone(),
            translation: vec![0.0, 1.0]
        },
        1e-12
    ));
    assert_eq!(e2.layout().id, "euclidean(orthogonal.matrix v1)");
    assert_eq!(
        e2.layout().names,
        vec!["m00", "m01", "m10", "m11", "t0", "t1"]
    );
}

#[test]
fn bad_input_is_an_error_naming_the_group() {
    let s4 = sym(4);
    let cases: Vec<(String, &str)> = vec![
        (
            s4.decode(&[0.0, 1.0, 2.0]).expect_err("short").to_string(),
            "S4",
        ),
        (
            s4.decode(&[0.0, 1.0, 2.0, 2.0])
                .expect_err("repeat")
                .to_string(),
            "S4",
        ),
        (
            s4.decode(&[0.0, 1.0, 2.0, 4.0])
                .expect_err("range")
                .to_string(),
            "S4",
        ),
        (
            s4.decode(&[0.0, 1.0, 2.5, 3.0])
                .expect_err("fraction")
                .to_string(),
            "S4",
        ),
        (
            s4.decode(&[0.0, 1.0, f32::NAN, 3.0])
                .expect_err("nan")
                .to_string(),
            "S4",
        ),
        (
            Permutation::new(vec![1, 1, 0, 2])
                .expect_err("repeat")
                .to_string(),
            "S4",
        ),
        (
            Permutation::new(vec![1, 4, 0, 2])
                .expect_err("range")
                .to_string(),
            "S4",
        ),
        (
            s4.permutation(vec![1, 0]).expect_err("length").to_string(),
            "S4",
        ),
        (
            s4.act_vector(&s4.identity(), &[1.0f64; 3])
                .expect_err("len")
                .to_string(),
            "S4",
        ),
        (
            s4.act_points(
                &s4.identity(),
                &Points::new(3, 2, vec![0.0f64; 6]).expect("shape"),
            )
            .expect_err("rows")
            .to_string(),
            "S4",
        ),
        (Symmetric::new(0).expect_err("n = 0").to_string(), "S_n"),
    ];
    let t2 = Translations::new(2, 1.0).expect("valid");
    let scaling = Scaling::new(0.5, 2.0).expect("valid");
    let se2 = Euclidean::se(2, 1.0).expect("valid");
    let product = Product(sym(3), Orthogonal::special(2).expect("n"));
    let more: Vec<(String, &str)> = vec![
        (
            t2.decode(&[1.0, 2.0, 3.0]).expect_err("long").to_string(),
            "T(2)",
        ),
        (
            t2.decode(&[1.0, f32::NAN]).expect_err("nan").to_string(),
            "T(2)",
        ),
        (
            t2.act_vector(&t2.identity(), &[1.0f32])
                .expect_err("len")
                .to_string(),
            "T(2)",
        ),
        (
            Translations::new(2, -0.5).expect_err("std").to_string(),
            "T(2)",
        ),
        (
            Translations::new(2, f64::NAN).expect_err("std").to_string(),
            "T(2)",
        ),
        (
            scaling
                .decode(&[f32::INFINITY])
                .expect_err("inf")
                .to_string(),
            "Scaling",
        ),
        (
            Scaling::new(2.0, 1.0).expect_err("range").to_string(),
            "Scaling",
        ),
        (
            Scaling::new(f64::NAN, 1.0).expect_err("range").to_string(),
            "Scaling",
        ),
        (
            se2.decode(&[1.0, 0.0, 0.0, 1.0, 0.0])
                .expect_err("short")
                .to_string(),
            "SE(2)",
        ),
        (
            se2.decode(&[1.0, 0.0, 0.0, -1.0, 0.0, 0.0])
                .expect_err("det")
                .to_string(),
            "SE(2)",
        ),
        (
            se2.act_vector(&se2.identity(), &[1.0f64; 3])
                .expect_err("len")
                .to_string(),
            "SE(2)",
        ),
        (
            Euclidean::se(2, -1.0).expect_err("std").to_string(),
            "SE(2)",
        ),
        (
            product
                .act_points(
                    &product.identity(),
                    &Points::new(3, 3, vec![0.0f64; 9]).expect("shape"),
                )
                .expect_err("cols")
                .to_string(),
            "SO(2)",
        ),
        (
            product
                .act_points(
                    &product.identity(),
                    &Points::new(2, 2, vec![0.0f64; 4]).expect("shape"),
                )
                .expect_err("rows")
                .to_string(),
            "S3",
        ),
        (
            product
                .decode(&[0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0])
                .expect_err("repeat")
                .to_string(),
            "S3 x SO(2)",
        ),
    ];
    for (err, group) in cases.into_iter().chain(more) {
        assert!(err.contains(group), "error `{err}` does not name {group}");
    }
}
