//! The Haar measure of S_n is uniform: chi-square tests on seeded samples (deterministic).

use crate::common;

use common::{chi_square_critical_999, chi_square_uniform};
use noether_groups::{FiniteGroup, Group, Symmetric};

#[test]
fn each_position_of_s5_is_uniform() {
    let s5 = Symmetric::new(5).expect("n >= 1");
    let mut rng = common::rng(5);
    let samples: Vec<_> = (0..20_000).map(|_| s5.sample(&mut rng)).collect();
    let critical = chi_square_critical_999(4);
    for i in 0..5 {
        let mut counts = [0usize; 5];
        for g in &samples {
            counts[g.image(i)] += 1;
        }
        let chi2 = chi_square_uniform(&counts);
        assert!(
            chi2 < critical,
            "sigma({i}): chi2 {chi2:.2} >= {critical:.2}, counts {counts:?}"
        );
    }
}

#[test]
fn all_24_elements_of_s4_are_equally_likely() {
    let s4 = Symmetric::new(4).expect("n >= 1");
    let mut rng = common::rng(4);
    let mut counts = vec![0usize; s4.order()];
    for _ in 0..24_000 {
        counts[s4.index_of(&s4.sample(&mut rng))] += 1;
    }
    assert_eq!(counts.len(), 24);
    let chi2 = chi_square_uniform(&counts);
    let critical = chi_square_critical_999(23);
    assert!(
        chi2 < critical,
        "chi2 {chi2:.2} >= {critical:.2}, counts {counts:?}"
    );
}

#[test]
fn all_120_elements_of_s5_are_equally_likely() {
    let s5 = Symmetric::new(5).expect("n >= 1");
    let mut rng = common::rng(55);
    let mut counts = vec![0usize; s5.order()];
    for _ in 0..60_000 {
        counts[s5.index_of(&s5.sample(&mut rng))] += 1;
    }
    let chi2 = chi_square_uniform(&counts);
    let critical = chi_square_critical_999(119);
    assert!(chi2 < critical, "chi2 {chi2:.2} >= {critical:.2}");
}

#[test]
fn same_seed_same_samples() {
    let s6 = Symmetric::new(6).expect("n >= 1");
    let draw = |seed| {
        let mut rng = common::rng(seed);
        (0..100).map(|_| s6.sample(&mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
}
