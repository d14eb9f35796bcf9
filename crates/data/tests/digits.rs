//! digits: determinism, shapes, labels, config errors, rotation, separable and learnable
//! classes.

use std::time::Instant;

use noether_augment::Image;
use noether_augment::sheet::contact_sheet;
use noether_data::digits::{self, DigitsConfig, NUM_CLASSES, Rotation, generate};
use noether_data::{DataError, ImageStore, Split};

fn config(train: usize, test: usize, rotate: Rotation, seed: u64) -> DigitsConfig {
    DigitsConfig {
        train,
        test,
        size: 28,
        rotate,
        seed,
    }
}

fn all_bytes(store: &ImageStore) -> Vec<u8> {
    (0..store.len())
        .flat_map(|i| store.pixels(i).expect("in range").to_vec())
        .collect()
}

/// The mean image of each class, as `f32` in `[0, 1]`.
fn class_means(store: &ImageStore) -> Vec<Vec<f32>> {
    let n = store.pixels(0).expect("non-empty").len();
    let mut sums = vec![vec![0.0f32; n]; NUM_CLASSES];
    let mut counts = [0usize; NUM_CLASSES];
    for i in 0..store.len() {
        let k = store.label(i).expect("in range") as usize;
        counts[k] += 1;
        for (s, &p) in sums[k].iter_mut().zip(store.pixels(i).expect("in range")) {
            *s += f32::from(p) / 255.0;
        }
    }
    for (s, c) in sums.iter_mut().zip(counts) {
        s.iter_mut().for_each(|v| *v /= c.max(1) as f32);
    }
    sums
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

#[test]
fn same_config_same_bytes_and_seed_matters() {
    let c = config(200, 50, Rotation::Uniform, 3);
    let a = generate(&c, Split::Train).unwrap();
    let b = generate(&c, Split::Train).unwrap();
    assert_eq!(a, b);
    // Image i does not depend on how many images come after it.
    let longer = generate(&config(300, 50, Rotation::Uniform, 3), Split::Train).unwrap();
    for i in 0..200 {
        if a.label(i) == longer.label(i) {
            assert_eq!(a.pixels(i), longer.pixels(i));
        }
    }
    let other = generate(&config(200, 50, Rotation::Uniform, 4), Split::Train).unwrap();
    assert_ne!(all_bytes(&a), all_bytes(&other));
    // Train and test are different images.
    let test = generate(&c, Split::Test).unwrap();
    assert_ne!(a.pixels(0), test.pixels(0));
}

#[test]
fn same_bytes_for_any_thread_count() {
    let c = config(120, 10, Rotation::Uniform, 9);
    let many = generate(&c, Split::Train).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| generate(&c, Split::Train).unwrap());
    assert_eq!(many, one);
}

#[test]
fn shapes_labels_and_classes() {
    let c = config(1003, 101, Rotation::Uniform, 0);
    let train = generate(&c, Split::Train).unwrap();
    let test = generate(&c, Split::Test).unwrap();
    let val = generate(&c, Split::Val).unwrap();
    assert_eq!(train.len(), 1003);
    assert_eq!(test.len(), 101);
    assert_eq!(val, test, "val reads the test images");
    for store in [&train, &test] {
        assert_eq!(
            store.uniform_shape(),
            Some(noether_augment::Shape::new(1, 28, 28))
        );
        assert_eq!(store.num_classes(), 10);
        let names: Vec<String> = (0..10).map(|k| k.to_string()).collect();
        assert_eq!(store.classes(), &names[..]);
        let mut counts = [0usize; 10];
        for &l in store.labels() {
            assert!((0..10).contains(&l), "label {l}");
            counts[l as usize] += 1;
        }
        let n = store.len();
        for (k, &c) in counts.iter().enumerate() {
            assert!(
                c == n / 10 || c == n / 10 + 1,
                "class {k}: {c} of {n} images"
            );
        }
        // Labels are shuffled, not 0, 1, 2, ...
        assert!(
            store
                .labels()
                .iter()
                .enumerate()
                .any(|(i, &l)| l != (i % 10) as i64)
        );
        // Every image has ink and a black border (the digit stays inside the frame).
        for i in 0..n {
            let img = store.image(i).unwrap();
            let ink: f32 = img.data().iter().sum();
            assert!(ink > 20.0, "image {i} has {ink} ink");
            for k in 0..28 {
                for (y, x) in [(0, k), (27, k), (k, 0), (k, 27)] {
                    assert_eq!(img.get(0, y, x), 0.0, "image {i} touches the border");
                }
            }
        }
    }
    // Other sizes.
    let big = generate(
        &DigitsConfig {
            size: 64,
            ..config(10, 10, Rotation::Uniform, 0)
        },
        Split::Train,
    )
    .unwrap();
    assert_eq!(big.pixels(0).unwrap().len(), 64 * 64);
    let tiny = generate(
        &DigitsConfig {
            size: 8,
            ..config(10, 10, Rotation::Uniform, 0)
        },
        Split::Test,
    )
    .unwrap();
    assert_eq!(tiny.len(), 10);
}

#[test]
fn validation_names_the_field() {
    let field = |c: DigitsConfig| match c.validate() {
        Err(DataError::Invalid { what, .. }) => what,
        other => panic!("expected an invalid setting, got {other:?}"),
    };
    let ok = DigitsConfig::default();
    ok.validate().unwrap();
    assert_eq!(
        field(DigitsConfig {
            size: 7,
            ..ok.clone()
        }),
        "digits.size"
    );
    assert_eq!(
        field(DigitsConfig {
            size: 100_000,
            ..ok.clone()
        }),
        "digits.size"
    );
    assert_eq!(
        field(DigitsConfig {
            train: 0,
            ..ok.clone()
        }),
        "digits.train"
    );
    assert_eq!(
        field(DigitsConfig {
            test: 0,
            ..ok.clone()
        }),
        "digits.test"
    );
    // generate checks too.
    let err = generate(
        &DigitsConfig {
            size: 4,
            ..ok.clone()
        },
        Split::Train,
    )
    .unwrap_err();
    assert!(err.to_string().contains("digits.size"), "{err}");
}

#[test]
fn config_serde() {
    let c = DigitsConfig::default();
    assert_eq!(
        (c.train, c.test, c.size, c.rotate, c.seed),
        (6000, 2000, 28, Rotation::Uniform, 0)
    );
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains("\"uniform\""), "{json}");
    let back: DigitsConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    let none: DigitsConfig =
        serde_json::from_str(r#"{"train": 5, "test": 5, "size": 28, "rotate": "none", "seed": 1}"#)
            .unwrap();
    assert_eq!(none.rotate, Rotation::None);
    let unknown = serde_json::from_str::<DigitsConfig>(
        r#"{"train": 5, "test": 5, "size": 28, "rotate": "none", "seed": 1, "colour": 2}"#,
    );
    assert!(unknown.is_err());
}

#[test]
fn rotation_none_and_uniform_differ() {
    let upright = generate(&config(100, 10, Rotation::None, 5), Split::Train).unwrap();
    let turned = generate(&config(100, 10, Rotation::Uniform, 5), Split::Train).unwrap();
    assert_eq!(upright.labels(), turned.labels());
    let differ = (0..100)
        .filter(|&i| upright.pixels(i) != turned.pixels(i))
        .count();
    assert!(differ > 95, "{differ} of 100 images differ");
    // The angles: zero upright, spread over [0, 2 pi) when turned.
    let zero = digits::angles(&config(100, 10, Rotation::None, 5), Split::Train).unwrap();
    assert!(zero.iter().all(|&a| a == 0.0));
    let a = digits::angles(&config(1000, 10, Rotation::Uniform, 5), Split::Train).unwrap();
    assert_eq!(a.len(), 1000);
    assert!(a.iter().all(|&v| (0.0..std::f32::consts::TAU).contains(&v)));
    let mut bins = [0usize; 4];
    for &v in &a {
        bins[(v / std::f32::consts::FRAC_PI_2) as usize] += 1;
    }
    assert!(bins.iter().all(|&b| b > 200), "quadrants {bins:?}");
    // Upright class means are far less blurred than rotated ones: the rotated mean of a
    // class is close to rotation invariant, so its centre-vs-ring contrast differs.
    let m_up = class_means(&generate(&config(2000, 10, Rotation::None, 5), Split::Train).unwrap());
    let m_rot =
        class_means(&generate(&config(2000, 10, Rotation::Uniform, 5), Split::Train).unwrap());
    for k in 0..10 {
        assert!(l2(&m_up[k], &m_rot[k]) > 1.0, "class {k}");
    }
}

#[test]
fn class_means_are_pairwise_distinct() {
    let store = generate(&config(3000, 10, Rotation::None, 1), Split::Train).unwrap();
    let means = class_means(&store);
    let mut closest = f32::INFINITY;
    for a in 0..10 {
        for b in a + 1..10 {
            let d = l2(&means[a], &means[b]);
            closest = closest.min(d);
            assert!(d > 1.5, "classes {a} and {b}: mean images {d} apart");
        }
    }
    eprintln!("closest class means: {closest:.2}");
}

#[test]
fn nearest_class_mean_learns_upright_digits() {
    let c = config(3000, 1000, Rotation::None, 2);
    let means = class_means(&generate(&c, Split::Train).unwrap());
    let test = generate(&c, Split::Test).unwrap();
    let correct = (0..test.len())
        .filter(|&i| {
            let x: Vec<f32> = test
                .pixels(i)
                .unwrap()
                .iter()
                .map(|&p| f32::from(p) / 255.0)
                .collect();
            let best = (0..10)
                .min_by(|&a, &b| l2(&x, &means[a]).total_cmp(&l2(&x, &means[b])))
                .unwrap();
            best as i64 == test.label(i).unwrap()
        })
        .count();
    let acc = correct as f32 / test.len() as f32;
    eprintln!("nearest class mean, upright test top-1: {acc:.3}");
    assert!(acc > 0.5, "top-1 {acc}");
}

#[test]
fn ten_thousand_images_quickly() {
    let c = config(10_000, 10, Rotation::Uniform, 0);
    let start = Instant::now();
    let store = generate(&c, Split::Train).unwrap();
    let secs = start.elapsed().as_secs_f64();
    eprintln!("10,000 digits at 28 px in {secs:.3} s");
    assert_eq!(store.len(), 10_000);
    // Generous: about 0.1 s on 2 cores in release; unoptimised test builds are slower.
    assert!(secs < 10.0, "{secs} s");
}

/// Writes `digits-upright.png` and `digits-rotated.png` (ten columns, one per class, in
/// order) to the temp directory, to look at:
/// `cargo test -p noether-data --test integration -- --ignored digits::sheet --nocapture`.
#[test]
#[ignore]
fn sheet() {
    for (rotate, name) in [
        (Rotation::None, "digits-upright.png"),
        (Rotation::Uniform, "digits-rotated.png"),
    ] {
        let store = generate(&config(400, 10, rotate, 0), Split::Train).unwrap();
        let mut images: Vec<Image> = Vec::new();
        for row in 0..8 {
            for k in 0..10 {
                let i = (0..store.len())
                    .filter(|&i| store.label(i) == Some(k))
                    .nth(row)
                    .unwrap();
                images.push(store.image(i).unwrap());
            }
        }
        let path = std::env::temp_dir().join(name);
        contact_sheet(&images, 10, 56).unwrap().save(&path).unwrap();
        eprintln!("wrote {}", path.display());
    }
}
