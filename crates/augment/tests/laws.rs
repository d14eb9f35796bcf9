//! The laws of augmentations: replay reproduces pixels, inverse after apply is the identity on
//! the valid mask, rotations compose, sampled parameters stay in range, views of one batch
//! differ, and batches do not depend on the thread count.

use noether_augment::act::ImageAction;
use noether_augment::geometry::AffineParams;
use noether_augment::ops::{
    ColorJitter, Dihedral4, GaussianBlur, HorizontalFlip, KernelSize, QuarterTurn, RandomAffine,
    RandomResizedCrop, Rotate, Scale, Translate, VerticalFlip,
};
use noether_augment::resample::warp_affine;
use noether_augment::{
    DynOp, Image, Interpolation, Invert, Op, Pipeline, Preset, Shape, Standardizer, ViewRecord,
    make_views,
};
use noether_groups::{Cyclic, Dihedral, DihedralElement, FiniteGroup, Group, LinearGroup, SO2};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A noisy image (every pixel independent): exact ops must move every value exactly.
fn noise(c: usize, h: usize, w: usize, seed: u64) -> Image {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Image::from_fn(c, h, w, |_, _, _| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32) / (1u64 << 24) as f32
    })
}

/// A smooth image (low frequencies only): interpolation errors stay small.
fn smooth(h: usize, w: usize, phase: f32) -> Image {
    Image::from_fn(3, h, w, |c, y, x| {
        let (fy, fx) = (y as f32 / h as f32, x as f32 / w as f32);
        0.5 + 0.4 * ((fx * 3.0 + phase + c as f32).sin() * (fy * 2.5 - phase).cos())
    })
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn presets() -> Vec<Preset> {
    Preset::ALL.iter().map(|(_, p)| *p).collect()
}

#[test]
fn replay_gives_identical_pixels_and_survives_json() {
    let a = smooth(64, 80, 0.3);
    let b = noise(3, 64, 80, 9);
    for preset in presets() {
        for pipe in preset.pipelines().expect("preset") {
            for seed in 0..6 {
                let (view, rec) = pipe.run(&a, &mut rng(seed)).expect("run");
                assert_eq!(
                    pipe.replay(&a, &rec).expect("replay"),
                    view,
                    "{}",
                    pipe.name()
                );
                let json = serde_json::to_string(&rec).expect("to json");
                let back: ViewRecord = serde_json::from_str(&json).expect("from json");
                assert_eq!(back, rec);
                // the same record on another image is what running with the same RNG gives
                let (view_b, rec_b) = pipe.run(&b, &mut rng(seed)).expect("run");
                assert_eq!(rec_b.steps, rec.steps);
                assert_eq!(pipe.replay(&b, &back).expect("replay"), view_b);
            }
        }
    }
}

fn assert_exact_inverse<O: Invert>(op: &O, img: &Image, seed: u64) {
    let p = op.sample(img.shape(), &mut rng(seed));
    let out = op.apply(img, &p).expect("apply");
    let (back, mask) = op.inverse(&out, &p, img.shape()).expect("inverse");
    assert!(mask.count() > 0, "{}: empty mask", op.name());
    assert_eq!(
        back.max_abs_diff(img, Some(&mask)),
        Some(0.0),
        "{} with {p:?}",
        op.name()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn exact_ops_invert_exactly(seed in any::<u64>(), h in 1usize..20, w in 1usize..20) {
        let img = noise(3, h, w, seed);
        assert_exact_inverse(&QuarterTurn, &img, seed);
        assert_exact_inverse(&Dihedral4, &img, seed);
        assert_exact_inverse(&HorizontalFlip, &img, seed);
        assert_exact_inverse(&VerticalFlip, &img, seed);
        assert_exact_inverse(&Translate { max: [0.5, 0.5], whole_pixels: true }, &img, seed);
    }

    #[test]
    fn sampled_parameters_decode_and_stay_in_range(seed in any::<u64>(), h in 8usize..300, w in 8usize..300) {
        let shape = Shape::new(3, h, w);
        let rrc = RandomResizedCrop::new(32, [0.08, 1.0]);
        let bx = rrc.sample(shape, &mut rng(seed));
        prop_assert!(bx.top + bx.height <= h && bx.left + bx.width <= w && bx.height > 0 && bx.width > 0);
        let jitter = ColorJitter::new(0.8, 0.8, 0.8, 0.2);
        let j = jitter.sample(shape, &mut rng(seed));
        let mut order = j.order;
        order.sort_unstable();
        prop_assert_eq!(order, [0, 1, 2, 3]);
        prop_assert!((0.2..=1.8).contains(&j.brightness) && (0.2..=1.8).contains(&j.contrast));
        prop_assert!((0.2..=1.8).contains(&j.saturation) && (-0.2..=0.2).contains(&j.hue));
        let ops: Vec<Box<dyn DynOp>> = vec![
            Box::new(rrc),
            Box::new(jitter),
            Box::new(GaussianBlur { sigma: [0.1, 2.0], kernel: KernelSize::Fixed(23) }),
            Box::new(Rotate::new([-45.0, 45.0])),
            Box::new(Scale { range: [0.5, 1.5], interpolation: Interpolation::Bilinear }),
            Box::new(Translate { max: [0.2, 0.1], whole_pixels: false }),
            Box::new(RandomAffine {
                degrees: [-10.0, 10.0],
                translate: [0.1, 0.1],
                scale: [0.9, 1.1],
                shear: [-5.0, 5.0, -5.0, 5.0],
                interpolation: Interpolation::Bilinear,
            }),
            Box::new(QuarterTurn),
            Box::new(Dihedral4),
        ];
        for op in &ops {
            let v = op.sample_vec(shape, &mut rng(seed ^ 7));
            prop_assert_eq!(v.len(), op.layout().len(), "{}", op.name());
            // decoding validates every slot against the documented range
            prop_assert!(op.output_shape_vec(shape, &v).is_ok(), "{} sampled {:?}", op.name(), v);
        }
    }
}

#[test]
fn crop_areas_follow_the_scale_range() {
    let rrc = RandomResizedCrop::new(32, [0.2, 1.0]);
    let shape = Shape::new(3, 200, 200);
    let mut r = rng(3);
    for _ in 0..2000 {
        let b = rrc.sample(shape, &mut r);
        let frac = (b.height * b.width) as f64 / 40000.0;
        // rounding each side moves the area by at most ~2 pixels of side
        assert!((0.19..=1.0).contains(&frac), "{b:?}");
        let ratio = b.width as f64 / b.height as f64;
        assert!((0.74..=1.35).contains(&ratio), "{b:?}");
    }
}

#[test]
fn rotation_inverse_is_identity_within_interpolation_error_on_the_mask() {
    let img = smooth(48, 48, 0.7);
    let op = Rotate::new([-180.0, 180.0]);
    for angle in [17.0f32, -63.5, 120.0, 179.0] {
        let out = op.apply(&img, &angle).expect("rotate");
        let (back, mask) = op.inverse(&out, &angle, img.shape()).expect("inverse");
        assert!(
            mask.count() > 48 * 48 / 2,
            "mask of {} pixels",
            mask.count()
        );
        let err = back.max_abs_diff(&img, Some(&mask)).expect("shape");
        assert!(err < 0.02, "angle {angle}: {err}");
    }
}

#[test]
fn rotations_compose_on_the_mask() {
    let img = smooth(40, 40, 1.1);
    for (a, b) in [(20.0, 35.0), (-50.0, 80.0), (133.0, -71.0)] {
        let interp = Interpolation::Bilinear;
        let r = |x: &Image, t: f64, m| {
            warp_affine(
                x,
                m,
                &AffineParams::rotation(t).inverse_matrix(),
                40,
                40,
                interp,
            )
        };
        let (ra, ma) = r(&img, a, None);
        let (rab, mab) = r(&ra, b, Some(&ma));
        let (direct, _) = r(&img, a + b, None);
        assert!(mab.count() > 400);
        let err = rab.max_abs_diff(&direct, Some(&mab)).expect("shape");
        assert!(err < 0.02, "({a}, {b}): {err}");
    }
    // quarter turns by bilinear rotation equal the exact ones
    let img = noise(3, 9, 9, 5);
    for k in 1..4 {
        let (bil, _) = warp_affine(
            &img,
            None,
            &AffineParams::rotation(90.0 * k as f64).inverse_matrix(),
            9,
            9,
            Interpolation::Bilinear,
        );
        let exact = noether_augment::geometry::rot90(&img, k);
        assert!(
            bil.max_abs_diff(&exact, None).expect("shape") < 1e-5,
            "k = {k}"
        );
    }
}

#[test]
fn pipeline_geometry_inverts_on_the_mask() {
    let img = smooth(64, 64, 0.2);
    let pipe = Pipeline::new("geo")
        .then(RandomResizedCrop::new(64, [0.5, 1.0]), 1.0)
        .and_then(|p| p.then(HorizontalFlip, 0.5))
        .and_then(|p| p.then(QuarterTurn, 1.0))
        .expect("pipeline");
    for seed in 0..8 {
        let (view, rec) = pipe.run(&img, &mut rng(seed)).expect("run");
        let (back, mask) = pipe.invert_geometry(&view, &rec).expect("invert");
        assert!(mask.count() > 0);
        let err = back.max_abs_diff(&img, Some(&mask)).expect("shape");
        assert!(err < 0.03, "seed {seed}: {err}");
    }
}

#[test]
fn views_of_one_batch_differ_and_do_not_depend_on_threads() {
    let img = smooth(48, 48, 0.0);
    let images = vec![img; 16];
    let pipes = Preset::SimclrCifar.pipelines().expect("preset");
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(|| make_views(&pipes, &images, 2, 42).expect("views"))
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one, two);
    for i in 0..one.len() {
        for j in 0..i {
            assert_ne!(one[i].record, one[j].record, "views {i} and {j}");
        }
    }
    assert_ne!(
        make_views(&pipes, &images[..1], 1, 43).expect("views")[0],
        one[0]
    );
}

#[test]
fn equimod_vectors_have_the_paper_lengths_and_standardise() {
    for (preset, n) in [
        (Preset::SimclrCifar, 15),
        (Preset::SimclrImagenet, 17),
        (Preset::ByolImagenet, 18),
    ] {
        let layout = preset.equimod_layout().expect("layout");
        assert_eq!(layout.len(), n);
        assert_eq!(layout.layout().len(), n);
        let pipes = preset.pipelines().expect("pipelines");
        let input = Shape::new(3, 256, 256);
        let st = Standardizer::estimate(layout, &pipes, input, 4000, 1).expect("estimate");
        // fresh draws, another seed: standardised slots have mean ~0 and std ~1 (or are constant)
        let mut r = rng(99);
        let draws = 4000;
        let mut sum = vec![0.0f64; n];
        let mut sq = vec![0.0f64; n];
        for k in 0..draws {
            let rec = pipes[k % pipes.len()]
                .sample(input, &mut r)
                .expect("sample");
            let t = st
                .apply(&layout.vector(&rec).expect("vector"))
                .expect("apply");
            for i in 0..n {
                sum[i] += f64::from(t[i]);
                sq[i] += f64::from(t[i]).powi(2);
            }
        }
        for i in 0..n {
            let m = sum[i] / draws as f64;
            let sd = (sq[i] / draws as f64 - m * m).sqrt();
            assert!(m.abs() < 0.1, "{:?} slot {i}: mean {m}", preset);
            assert!(
                sd < 1e-6 || (sd - 1.0).abs() < 0.1,
                "{:?} slot {i}: std {sd}",
                preset
            );
        }
    }
}

#[test]
fn group_elements_act_on_images_as_on_the_plane() {
    // a bright pixel at centred position p (y up) moves to g . p
    let (h, w) = (9usize, 9usize);
    let at = |px: f64, py: f64| {
        let (x, y) = ((px + 4.0) as usize, (4.0 - py) as usize);
        Image::from_fn(
            1,
            h,
            w,
            |_, yy, xx| if (yy, xx) == (y, x) { 1.0 } else { 0.0 },
        )
    };
    let argmax = |img: &Image| {
        let (i, _) = img
            .data()
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
        ((i % w) as f64 - 4.0, 4.0 - (i / w) as f64)
    };
    let d4 = Dihedral::new(4).expect("D4");
    for g in d4.elements() {
        let m = d4.matrix(&g);
        let p = (2.0, 1.0);
        let want = (m[0] * p.0 + m[1] * p.1, m[2] * p.0 + m[3] * p.1);
        let (out, mask) = d4.act_image(&g, &at(p.0, p.1)).expect("act");
        assert_eq!(mask.count(), h * w);
        let got = argmax(&out);
        assert!(
            (got.0 - want.0).abs() < 1e-9 && (got.1 - want.1).abs() < 1e-9,
            "{g:?}"
        );
    }
    // compose: act(ab) = act(a) act(b), exactly for D4
    let img = noise(3, 7, 7, 1);
    for a in d4.elements() {
        for b in d4.elements() {
            let ab = d4.act_image(&d4.compose(&a, &b), &img).expect("act").0;
            let step = d4
                .act_image(&a, &d4.act_image(&b, &img).expect("act").0)
                .expect("act")
                .0;
            assert_eq!(ab, step, "{a:?} {b:?}");
        }
    }
    // SO(2) by a quarter turn equals C4's generator, up to interpolation round-off
    let c4 = Cyclic::new(4).expect("C4");
    let (q, _) = c4.act_image(&1, &img).expect("act");
    let (r, _) = SO2
        .act_image(&std::f64::consts::FRAC_PI_2, &img)
        .expect("act");
    assert!(q.max_abs_diff(&r, None).expect("shape") < 1e-5);
    let d8 = Dihedral::new(8).expect("D8");
    let (_, mask) = d8
        .act_image(
            &DihedralElement {
                k: 1,
                reflect: true,
            },
            &smooth(16, 16, 0.0),
        )
        .expect("act");
    assert!(
        mask.count() < 16 * 16,
        "an eighth turn leaves corners empty"
    );
}
