//! Haar sampling of the planar and orthogonal groups: deterministic statistical tests with
//! fixed seeds (Kolmogorov-Smirnov and chi-square at level 0.001).

use crate::common;

use std::f64::consts::PI;

use noether_groups::{Cyclic, Dihedral, FiniteGroup, Group, O2, Orthogonal, SO2};

const N: usize = 20_000;

#[test]
fn so2_angles_are_uniform() {
    let mut rng = common::rng(11);
    let angles: Vec<f64> = (0..N).map(|_| SO2.sample(&mut rng)).collect();
    common::assert_ks("SO(2) angle", &angles, |t| {
        ((t + PI) / (2.0 * PI)).clamp(0.0, 1.0)
    });
}

#[test]
fn o2_angles_are_uniform_and_reflections_fair() {
    let mut rng = common::rng(12);
    let samples: Vec<_> = (0..N).map(|_| O2.sample(&mut rng)).collect();
    let angles: Vec<f64> = samples.iter().map(|g| g.angle).collect();
    common::assert_ks("O(2) angle", &angles, |t| {
        ((t + PI) / (2.0 * PI)).clamp(0.0, 1.0)
    });
    let reflected = samples.iter().filter(|g| g.reflect).count();
    let chi = common::chi_square_uniform(&[reflected, N - reflected]);
    assert!(chi < 10.83, "O(2) reflection frequency {reflected} / {N}");
}

#[test]
fn finite_groups_sample_every_element_equally() {
    let mut rng = common::rng(13);
    let c7 = Cyclic::new(7).unwrap();
    let d5 = Dihedral::new(5).unwrap();
    let mut counts_c = vec![0; c7.order()];
    let mut counts_d = vec![0; d5.order()];
    for _ in 0..N {
        counts_c[c7.index_of(&c7.sample(&mut rng))] += 1;
        counts_d[d5.index_of(&d5.sample(&mut rng))] += 1;
    }
    let (chi_c, chi_d) = (
        common::chi_square_uniform(&counts_c),
        common::chi_square_uniform(&counts_d),
    );
    assert!(
        chi_c < common::chi_square_critical_999(6),
        "C7 counts {counts_c:?}"
    );
    assert!(
        chi_d < common::chi_square_critical_999(9),
        "D5 counts {counts_d:?}"
    );
}

/// The rotation angle of an SO(2) matrix sampled through QR must be uniform, and the rotation
/// angle t of an SO(3) matrix must have density (1 - cos t) / pi. Both fail without the
/// Mezzadri sign fix.
#[test]
fn orthogonal_qr_samples_are_haar_in_two_and_three_dimensions() {
    let mut rng = common::rng(14);
    let so2 = Orthogonal::special(2).unwrap();
    let angles: Vec<f64> = (0..N)
        .map(|_| {
            let m = so2.sample(&mut rng);
            m[2].atan2(m[0])
        })
        .collect();
    common::assert_ks("SO(2) via QR, angle", &angles, |t| {
        ((t + PI) / (2.0 * PI)).clamp(0.0, 1.0)
    });

    let so3 = Orthogonal::special(3).unwrap();
    let angles: Vec<f64> = (0..N)
        .map(|_| {
            let m = so3.sample(&mut rng);
            ((m[0] + m[4] + m[8] - 1.0) / 2.0).clamp(-1.0, 1.0).acos()
        })
        .collect();
    common::assert_ks("SO(3) via QR, rotation angle", &angles, |t| {
        (t - t.sin()) / PI
    });

    // O(3): the (0, 0) entry of a Haar orthogonal matrix is uniform on [-1, 1] (the first
    // column is uniform on the sphere; Archimedes).
    let o3 = Orthogonal::new(3).unwrap();
    let entries: Vec<f64> = (0..N).map(|_| o3.sample(&mut rng)[0]).collect();
    common::assert_ks("O(3) entry (0, 0)", &entries, |x| {
        ((x + 1.0) / 2.0).clamp(0.0, 1.0)
    });
}

/// In higher dimensions: every entry of a Haar O(n) matrix has mean 0 and variance 1 / n, and
/// the determinant is +1 or -1 with probability 1/2 each.
#[test]
fn orthogonal_moments_in_five_dimensions() {
    let n = 5;
    let o5 = Orthogonal::new(n).unwrap();
    let mut rng = common::rng(15);
    let mut sum = vec![0.0; n * n];
    let mut sum_sq = vec![0.0; n * n];
    let samples = 8_000;
    for _ in 0..samples {
        let m = o5.sample(&mut rng);
        for (i, v) in m.iter().enumerate() {
            sum[i] += v;
            sum_sq[i] += v * v;
        }
    }
    let var = 1.0 / n as f64;
    // Standard error of the mean of an entry: sqrt(var / samples); allow 4.5 of them.
    let mean_bound = 4.5 * (var / samples as f64).sqrt();
    for i in 0..n * n {
        let mean = sum[i] / samples as f64;
        let second = sum_sq[i] / samples as f64;
        assert!(
            mean.abs() < mean_bound,
            "entry {i}: mean {mean} (bound {mean_bound})"
        );
        assert!(
            (second - var).abs() < 0.02,
            "entry {i}: second moment {second}, expected {var}"
        );
    }
}

#[test]
fn same_seed_same_samples() {
    let so5 = Orthogonal::special(5).unwrap();
    let a: Vec<_> = (0..3).map(|_| so5.sample(&mut common::rng(7))).collect();
    let b: Vec<_> = (0..3).map(|_| so5.sample(&mut common::rng(7))).collect();
    assert_eq!(a, b);
    let mut r1 = common::rng(8);
    let mut r2 = common::rng(8);
    let x: Vec<f64> = (0..10).map(|_| SO2.sample(&mut r1)).collect();
    let y: Vec<f64> = (0..10).map(|_| SO2.sample(&mut r2)).collect();
    assert_eq!(x, y);
}
