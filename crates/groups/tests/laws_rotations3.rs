//! Group laws, actions, encodings and Haar sampling of SO(3) and O(3).

use crate::common;

use std::f64::consts::PI;

use noether_groups::laws::{
    check_group_laws, check_point_action, check_round_trip, check_vector_action,
};
use noether_groups::{Group, O3, O3Element, Points, Rotation3, SO3};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Tolerance for laws that go through the `f32` encoding (a rotation angle of a few 1e-7).
const ROUND_TRIP_TOL: f64 = 1e-6;
/// Tolerance for laws computed in `f64`.
const F64_TOL: f64 = 1e-12;

fn random_points(rng: &mut ChaCha8Rng, rows: usize) -> Points<f64> {
    let data = (0..rows * 3).map(|_| rng.random_range(-3.0..3.0)).collect();
    Points::new(rows, 3, data).expect("rows * 3 values")
}

fn random_vector(rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..3).map(|_| rng.random_range(-3.0..3.0)).collect()
}

proptest! {
    #[test]
    fn so3_laws(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = SO3;
        let (a, b, c) = (g.sample(&mut rng), g.sample(&mut rng), g.sample(&mut rng));
        prop_assert!(check_group_laws(&g, &a, &b, &c, ROUND_TRIP_TOL).is_ok(),
            "{:?}", check_group_laws(&g, &a, &b, &c, ROUND_TRIP_TOL));
        let x = random_vector(&mut rng);
        let r = check_vector_action(&g, &a, &b, &x, F64_TOL);
        prop_assert!(r.is_ok(), "{:?}", r);
        let p = random_points(&mut rng, 5);
        let r = check_point_action(&g, &a, &b, &p, F64_TOL);
        prop_assert!(r.is_ok(), "{:?}", r);
        let r = check_round_trip(&g, &a.relative_to(&b), ROUND_TRIP_TOL);
        prop_assert!(r.is_ok(), "{:?}", r);
        // Encoding keeps scipy's sign, and the norm is 1.
        let e = g.encode(&a);
        let q = a.as_quat();
        prop_assert!(e.iter().zip(&q).all(|(x, y)| (f64::from(*x) - y).abs() < 1e-7));
        prop_assert!((q.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-14);
        // Distance is the angle of the relative rotation, symmetric and in [0, pi].
        let d = g.distance(&a, &b).expect("SO(3) has a distance");
        prop_assert!((0.0..=PI).contains(&d));
        prop_assert!((d - a.relative_to(&b).angle()).abs() < 1e-12);
        prop_assert!((d - g.distance(&b, &a).expect("distance")).abs() < 1e-12);
    }

    #[test]
    fn o3_laws(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = O3;
        let (a, b, c) = (g.sample(&mut rng), g.sample(&mut rng), g.sample(&mut rng));
        let r = check_group_laws(&g, &a, &b, &c, ROUND_TRIP_TOL);
        prop_assert!(r.is_ok(), "{:?}", r);
        let x = random_vector(&mut rng);
        let r = check_vector_action(&g, &a, &b, &x, F64_TOL);
        prop_assert!(r.is_ok(), "{:?}", r);
        let p = random_points(&mut rng, 4);
        let r = check_point_action(&g, &a, &b, &p, F64_TOL);
        prop_assert!(r.is_ok(), "{:?}", r);
        let back = O3Element::from_matrix(a.as_matrix()).expect("orthogonal");
        prop_assert!(g.approx_eq(&back, &a, 1e-12));
        let d = g.distance(&a, &b).expect("O(3) has a distance");
        prop_assert!(d >= 0.0 && d <= 2.0 * 6f64.sqrt() + 1e-12);
    }
}

#[test]
fn laws_hold_on_test_elements() {
    let so3 = SO3;
    let els = so3.test_elements();
    let x = [0.5, -1.0, 2.0];
    let p = Points::new(2, 3, vec![1.0, 0.0, 0.0, 0.3, -0.2, 0.9]).expect("2 x 3");
    for a in &els {
        for b in &els {
            check_group_laws(&so3, a, b, &els[5], ROUND_TRIP_TOL).expect("SO(3) laws");
            check_vector_action(&so3, a, b, &x, F64_TOL).expect("SO(3) vector action");
            check_point_action(&so3, a, b, &p, F64_TOL).expect("SO(3) point action");
        }
    }
    let o3 = O3;
    let els = o3.test_elements();
    for a in &els {
        for b in &els {
            check_group_laws(&o3, a, b, &els[els.len() - 1], ROUND_TRIP_TOL).expect("O(3) laws");
            check_vector_action(&o3, a, b, &x, F64_TOL).expect("O(3) vector action");
            check_point_action(&o3, a, b, &p, F64_TOL).expect("O(3) point action");
        }
    }
}

#[test]
fn q_and_minus_q_are_the_same_element() {
    let r = Rotation3::from_euler_xyz([0.4, 1.0, -0.2]);
    let neg = Rotation3::from_quat(r.as_quat().map(|v| -v)).expect("unit");
    assert_ne!(r, neg);
    assert!(SO3.approx_eq(&r, &neg, 1e-15));
    assert_eq!(SO3.distance(&r, &neg), Some(0.0));
}

const N: usize = 20_000;

fn so3_samples(seed: u64) -> Vec<Rotation3> {
    let mut rng = common::rng(seed);
    (0..N).map(|_| SO3.sample(&mut rng)).collect()
}

#[test]
fn so3_haar_rotation_angle_has_density_one_minus_cos_over_pi() {
    let angles: Vec<f64> = so3_samples(31).iter().map(Rotation3::angle).collect();
    assert!(angles.iter().all(|t| (0.0..=PI).contains(t)));
    common::assert_ks("SO(3) Haar rotation angle", &angles, |t| (t - t.sin()) / PI);
}

#[test]
fn so3_haar_rotation_axis_is_uniform() {
    let samples = so3_samples(32);
    // The axis of the canonical (w >= 0) quaternion; each coordinate of a uniform unit vector
    // is uniform on [-1, 1] (Archimedes).
    for coord in 0..3 {
        let zs: Vec<f64> = samples
            .iter()
            .map(|r| {
                let q = r.as_quat_canonical();
                let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt();
                q[coord] / n
            })
            .collect();
        common::assert_ks(&format!("SO(3) Haar axis coordinate {coord}"), &zs, |z| {
            ((z + 1.0) / 2.0).clamp(0.0, 1.0)
        });
    }
}

#[test]
fn so3_haar_is_left_invariant() {
    // g h for fixed g and Haar h is Haar again: same angle law.
    let g = Rotation3::from_euler_xyz([1.0, -0.5, 2.0]);
    let angles: Vec<f64> = so3_samples(33)
        .iter()
        .map(|h| g.compose(h).angle())
        .collect();
    common::assert_ks("SO(3) Haar, left-translated", &angles, |t| {
        (t - t.sin()) / PI
    });
}

#[test]
fn sampling_is_deterministic_per_seed() {
    let a: Vec<Rotation3> = so3_samples(5).into_iter().take(10).collect();
    let b: Vec<Rotation3> = so3_samples(5).into_iter().take(10).collect();
    assert_eq!(a, b);
    let c: Vec<Rotation3> = so3_samples(6).into_iter().take(10).collect();
    assert_ne!(a, c);
    let mut r1 = common::rng(9);
    let mut r2 = common::rng(9);
    let x: Vec<O3Element> = (0..10).map(|_| O3.sample(&mut r1)).collect();
    let y: Vec<O3Element> = (0..10).map(|_| O3.sample(&mut r2)).collect();
    assert_eq!(x, y);
}

#[test]
fn o3_haar_det_is_fair_and_rotation_part_is_haar() {
    let mut rng = common::rng(34);
    let samples: Vec<O3Element> = (0..N).map(|_| O3.sample(&mut rng)).collect();
    assert!(samples.iter().all(|g| g.det == 1 || g.det == -1));
    let negative = samples.iter().filter(|g| g.det == -1).count() as f64;
    // Binomial(N, 1/2): the standard deviation is sqrt(N) / 2; allow 4 of them.
    let z = (negative - N as f64 / 2.0) / ((N as f64).sqrt() / 2.0);
    assert!(z.abs() < 4.0, "{negative} of {N} have det -1 (z = {z:.2})");
    let angles: Vec<f64> = samples.iter().map(|g| g.rotation.angle()).collect();
    common::assert_ks("O(3) Haar rotation angle", &angles, |t| (t - t.sin()) / PI);
    for det in [1, -1] {
        let part: Vec<f64> = samples
            .iter()
            .filter(|g| g.det == det)
            .map(|g| g.rotation.angle())
            .collect();
        common::assert_ks(&format!("O(3) det {det} angle"), &part, |t| {
            (t - t.sin()) / PI
        });
    }
}

#[test]
fn bad_parameter_vectors_are_errors_not_panics() {
    let cases: [(&[f32], &str); 5] = [
        (&[0.0, 0.0, 1.0], "got 3 floats"),
        (&[0.0, 0.0, 0.0, 0.5], "non-unit quaternion"),
        (&[0.0, 0.0, 0.0, 0.0], "non-unit quaternion"),
        (&[f32::NAN, 0.0, 0.0, 1.0], "NaN"),
        (&[0.0, f32::INFINITY, 0.0, 1.0], "inf"),
    ];
    for (params, reason) in cases {
        let err = SO3.decode(params).expect_err("invalid").to_string();
        assert!(
            err.contains("SO(3)") && err.contains("so3.quat_xyzw v1"),
            "{err}"
        );
        assert!(err.contains(reason), "{err}");
    }
    let cases: [(&[f32], &str); 6] = [
        (&[0.0, 0.0, 1.0], "got 3 floats"),
        (&[0.0, 0.0, 0.0, 1.0], "got 4 floats"),
        (&[0.0, 0.0, 0.0, 1.0, 0.5], "expected +1 or -1"),
        (&[0.0, 0.0, 0.0, 1.0, 0.0], "expected +1 or -1"),
        (&[0.0, 0.0, 0.0, 3.0, 1.0], "non-unit quaternion"),
        (&[0.0, 0.0, 0.0, 1.0, f32::NAN], "NaN"),
    ];
    for (params, reason) in cases {
        let err = O3.decode(params).expect_err("invalid").to_string();
        assert!(
            err.contains("O(3)") && err.contains("o3.quat_xyzw_det v1"),
            "{err}"
        );
        assert!(err.contains(reason), "{err}");
    }
}

#[test]
fn actions_reject_wrong_dimensions() {
    use noether_groups::{PointAction, VectorAction};
    let r = Rotation3::from_euler_xyz([0.1, 0.2, 0.3]);
    assert!(SO3.act_vector(&r, &[1.0f32, 2.0]).is_err());
    let p = Points::new(1, 2, vec![1.0f64, 2.0]).expect("1 x 2");
    assert!(SO3.act_points(&r, &p).is_err());
    let g = O3Element::rotoreflection(r);
    assert!(O3.act_vector(&g, &[1.0f64; 4]).is_err());
    // f32 input is rotated in f32.
    let v = SO3.act_vector(&r, &[1.0f32, 0.0, 0.0]).expect("length 3");
    let w = r.apply([1.0, 0.0, 0.0]);
    assert!(
        v.iter()
            .zip(&w)
            .all(|(a, b)| (f64::from(*a) - b).abs() < 1e-6)
    );
}
