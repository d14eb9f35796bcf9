//! n-body: determinism, split and thread independence, shapes, the initial state, the reference's
//! sanity baselines, config errors.

use noether_data::nbody::{
    MAX_FORCE, NBody, NBodyConfig, NBodySample, constant_velocity_mse, keep_position_mse, simulate,
};
use noether_data::{DataError, Split};

/// A short, cheap config: 1,000 steps (9 frames), frames 3 -> 5.
fn small(train: usize, val: usize, test: usize, seed: u64) -> NBodyConfig {
    NBodyConfig {
        steps: 1000,
        input_frame: 3,
        target_frame: 5,
        train,
        val,
        test,
        seed,
        ..NBodyConfig::default()
    }
}

fn invalid_field(config: &NBodyConfig) -> String {
    match config.validate() {
        Err(DataError::Invalid { what, .. }) => what,
        other => panic!("expected an invalid-setting error, got {other:?}"),
    }
}

#[test]
fn defaults_match_the_reference_setting() {
    let c = NBodyConfig::default();
    c.validate().expect("the defaults are valid");
    assert_eq!(c.frames(), 49, "steps 100..=4900 of 5000, every 100");
    assert!((c.elapsed_time() - 1.0).abs() < 1e-12);
    assert_eq!((c.train, c.val, c.test, c.seed), (3000, 2000, 2000, 0));
    assert_eq!(c.particles, 5);
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let a = NBody::generate(&small(3, 2, 2, 7)).expect("generate");
    let b = NBody::generate(&small(3, 2, 2, 7)).expect("generate");
    let c = NBody::generate(&small(3, 2, 2, 8)).expect("generate");
    assert_eq!(a, b);
    assert_ne!(a.train, c.train);
    assert_ne!(a.test, c.test);
}

#[test]
fn splits_are_disjoint_and_sizes_do_not_shift_samples() {
    let a = NBody::generate(&small(3, 3, 3, 1)).expect("generate");
    for i in 0..3 {
        assert_ne!(a.train[i], a.val[i]);
        assert_ne!(a.train[i], a.test[i]);
        assert_ne!(a.val[i], a.test[i]);
    }
    // sample i depends on (seed, split, i) only, not on the split sizes
    let b = NBody::generate(&small(1, 0, 2, 1)).expect("generate");
    assert_eq!(b.train[..], a.train[..1]);
    assert!(b.val.is_empty());
    assert_eq!(b.test[..], a.test[..2]);
    assert_eq!(b.split(Split::Test), &a.test[..2]);
}

#[test]
fn thread_count_does_not_matter() {
    let config = small(6, 2, 3, 3);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
            .install(|| NBody::generate(&config).expect("generate"))
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn shapes_and_charges() {
    let config = NBodyConfig {
        particles: 7,
        ..small(2, 1, 1, 0)
    };
    let data = NBody::generate(&config).expect("generate");
    assert_eq!(data.config, config);
    for split in [Split::Train, Split::Val, Split::Test] {
        let samples = data.split(split);
        assert_eq!(samples.len(), config.len(split));
        for s in samples {
            assert_eq!(s.pos.len(), 7);
            assert_eq!(s.vel.len(), 7);
            assert_eq!(s.target.len(), 7);
            assert_eq!(s.charges.len(), 7);
            assert!(s.charges.iter().all(|&q| q == 1.0 || q == -1.0));
            let all = s.pos.iter().chain(&s.vel).chain(&s.target);
            assert!(all.flatten().all(|x| x.is_finite()));
        }
    }
}

#[test]
fn trajectory_matches_the_samples_and_the_initial_state() {
    let config = small(4, 1, 1, 11);
    let data = NBody::generate(&config).expect("generate");
    for i in 0..4 {
        let t = simulate(&config, Split::Train, i).expect("simulate");
        assert_eq!(t.pos.len(), config.frames());
        assert_eq!(t.vel.len(), config.frames());
        let s = &data.train[i];
        let f32s = |rows: &[[f64; 3]]| -> Vec<[f32; 3]> {
            rows.iter().map(|r| r.map(|c| c as f32)).collect()
        };
        assert_eq!(f32s(&t.pos[config.input_frame]), s.pos);
        assert_eq!(f32s(&t.vel[config.input_frame]), s.vel);
        assert_eq!(f32s(&t.pos[config.target_frame]), s.target);
        // before the first force step: every velocity has norm vel_norm (the clamp only flips
        // signs), every position is inside the box
        for (v, x) in t.initial_vel.iter().zip(&t.initial_pos) {
            let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            assert!((norm - config.vel_norm).abs() < 1e-12, "norm {norm}");
            assert!(x.iter().all(|c| c.abs() <= config.box_size));
        }
        // frame 0 is one sample interval after the start: positions have moved, by less than
        // the largest possible change (|v| + t * max_F) * t per coordinate
        let dt_frame = config.sample_every as f64 * config.dt;
        let bound = (config.vel_norm + dt_frame * MAX_FORCE) * dt_frame;
        for (x0, x1) in t.initial_pos.iter().zip(&t.pos[0]) {
            for d in 0..3 {
                assert!((x1[d] - x0[d]).abs() <= bound + 1e-9);
            }
        }
        assert_ne!(t.initial_pos, t.pos[0]);
    }
    assert!(simulate(&config, Split::Val, 1).is_err());
}

#[test]
fn initial_positions_and_velocities_have_the_reference_statistics() {
    // over 400 simulations x 5 particles x 3 coordinates = 6,000 draws: position std 1
    // (standard error of the variance ~ 0.018), velocity norm 0.5 exactly
    let config = small(400, 0, 0, 5);
    let mut sum2 = 0.0;
    let mut count = 0usize;
    let mut charge_sum = 0.0;
    for i in 0..config.train {
        let t = simulate(&config, Split::Train, i).expect("simulate");
        for x in &t.initial_pos {
            sum2 += x.iter().map(|c| c * c).sum::<f64>();
            count += 3;
        }
        charge_sum += t.charges.iter().sum::<f64>();
    }
    let var = sum2 / count as f64;
    assert!((var - 1.0).abs() < 0.08, "position variance {var}");
    // 2,000 fair +-1 charges: the mean is within 4 standard errors (0.022 each) of 0
    let mean_charge = charge_sum / 2000.0;
    assert!(mean_charge.abs() < 0.09, "mean charge {mean_charge}");
}

/// The reference's sanity figures on 200 test simulations of the default setting: keeping
/// the frame-30 positions gives MSE 0.257, constant-velocity extrapolation 0.125. Our RNG
/// differs, so only the statistics can agree. Measured spread of the 200-simulation figures
/// over seeds 0-9: keep-position 0.257 to 0.277 (std ~0.008, ~3%); constant-velocity 0.087 to
/// 0.150 (std ~0.018, ~17%: close encounters fling particles, so the squared errors are
/// heavy-tailed). Over 2,000 simulations: 0.270 and 0.112; a numpy transcription of the
/// reference loop over 2 x 1,000 simulations: 0.272 / 0.273 and 0.125 / 0.118. Hence +-15%
/// for keep-position (about 4 of its standard deviations around 0.257) and +-35% for
/// constant-velocity (about 2.5); the ordering (constant velocity beats standing still) is
/// checked exactly.
#[test]
fn sanity_baselines_on_200_test_simulations() {
    let config = NBodyConfig {
        train: 0,
        val: 0,
        test: 200,
        ..NBodyConfig::default()
    };
    let data = NBody::generate(&config).expect("generate");
    let keep = keep_position_mse(&data.test);
    let constant = constant_velocity_mse(&data.test, config.elapsed_time());
    eprintln!(
        "keep-position MSE {keep:.4} (reference 0.257), constant-velocity MSE {constant:.4} (reference 0.125)"
    );
    assert!(
        (keep / 0.257 - 1.0).abs() < 0.15,
        "keep-position MSE {keep}"
    );
    assert!(
        (constant / 0.125 - 1.0).abs() < 0.35,
        "constant-velocity MSE {constant}"
    );
    assert!(constant < keep);
}

#[test]
fn baselines_by_hand() {
    let s = NBodySample {
        pos: vec![[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
        vel: vec![[1.0, 0.0, 0.0], [0.0, 0.0, -1.0]],
        charges: vec![1.0, -1.0],
        target: vec![[2.0, 0.0, 0.0], [1.0, 1.0, -1.0]],
    };
    // keep: errors 2 and 2 over 6 entries -> (4 + 4) / 6
    assert!((keep_position_mse(std::slice::from_ref(&s)) - 8.0 / 6.0).abs() < 1e-12);
    // constant velocity for 2 time units: exact
    assert!(constant_velocity_mse(std::slice::from_ref(&s), 2.0).abs() < 1e-12);
    // for 1 time unit: errors 1 and 1 -> 2 / 6
    assert!((constant_velocity_mse(&[s], 1.0) - 2.0 / 6.0).abs() < 1e-12);
    assert!(keep_position_mse(&[]).is_nan());
}

#[test]
fn invalid_configs_name_the_field() {
    let base = small(1, 1, 1, 0);
    let cases: Vec<(NBodyConfig, &str)> = vec![
        (
            NBodyConfig {
                particles: 0,
                ..base.clone()
            },
            "nbody.particles",
        ),
        (
            NBodyConfig {
                dt: 0.0,
                ..base.clone()
            },
            "nbody.dt",
        ),
        (
            NBodyConfig {
                dt: f64::NAN,
                ..base.clone()
            },
            "nbody.dt",
        ),
        (
            NBodyConfig {
                steps: 0,
                ..base.clone()
            },
            "nbody.steps",
        ),
        (
            NBodyConfig {
                sample_every: 0,
                ..base.clone()
            },
            "nbody.sample_every",
        ),
        (
            NBodyConfig {
                box_size: -1.0,
                ..base.clone()
            },
            "nbody.box_size",
        ),
        (
            NBodyConfig {
                loc_std: f64::INFINITY,
                ..base.clone()
            },
            "nbody.loc_std",
        ),
        (
            NBodyConfig {
                vel_norm: -0.5,
                ..base.clone()
            },
            "nbody.vel_norm",
        ),
        (
            NBodyConfig {
                interaction_strength: f64::NAN,
                ..base.clone()
            },
            "nbody.interaction_strength",
        ),
        // 1,000 steps every 100: 9 frames, 0..=8
        (
            NBodyConfig {
                target_frame: 9,
                ..base.clone()
            },
            "nbody.target_frame",
        ),
        (
            NBodyConfig {
                input_frame: 5,
                ..base.clone()
            },
            "nbody.input_frame",
        ),
        (
            NBodyConfig {
                input_frame: 6,
                ..base.clone()
            },
            "nbody.input_frame",
        ),
        (
            NBodyConfig {
                steps: 5000,
                sample_every: 100,
                target_frame: 49,
                ..NBodyConfig::default()
            },
            "nbody.target_frame",
        ),
    ];
    for (config, field) in cases {
        assert_eq!(invalid_field(&config), field, "{config:?}");
        assert!(NBody::generate(&config).is_err());
        let message = config.validate().expect_err("invalid").to_string();
        assert!(message.starts_with(field), "{message}");
    }
    NBodyConfig {
        target_frame: 8,
        ..base
    }
    .validate()
    .expect("frame 8 of 9 is valid");
}

#[test]
fn config_serde_round_trip_and_unknown_fields() {
    let config = small(3, 2, 1, 42);
    let json = serde_json::to_string(&config).expect("serialize");
    let back: NBodyConfig = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, config);
    let extra = json.replacen('{', "{\"noise_var\":0.0,", 1);
    let err = serde_json::from_str::<NBodyConfig>(&extra).expect_err("unknown field");
    assert!(err.to_string().contains("noise_var"), "{err}");
}
