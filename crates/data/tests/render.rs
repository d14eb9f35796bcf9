//! mini3die: determinism, latent ranges, split, identifiers, recoverable poses, floor and spot
//! light colours, config errors. Small images and few objects keep it fast.

use std::f32::consts::{FRAC_PI_2, FRAC_PI_4, PI, TAU};

use noether_augment::Image;
use noether_augment::color::rgb_to_hsv;
use noether_data::render::{
    CLASSES, Latent, Mini3die, Mini3dieConfig, NUM_CLASSES, ObjectSpec, Split, render_view,
    sample_latent, sheet,
};
use noether_groups::Rotation3;

fn small(objects_per_class: usize, views: usize, size: usize) -> Mini3die {
    Mini3die::new(Mini3dieConfig {
        objects_per_class,
        views,
        size,
        ..Mini3dieConfig::default()
    })
    .expect("valid config")
}

fn bits(img: &Image) -> Vec<u32> {
    img.data().iter().map(|v| v.to_bits()).collect()
}

/// Share of pixels where some channel differs by more than 0.1.
fn changed(a: &Image, b: &Image) -> f32 {
    let n = a.height() * a.width();
    let (da, db) = (a.data(), b.data());
    let count = (0..n)
        .filter(|&i| (0..3).any(|c| (da[c * n + i] - db[c * n + i]).abs() > 0.1))
        .count();
    count as f32 / n as f32
}

fn pixel(img: &Image, y: usize, x: usize) -> [f32; 3] {
    [img.get(0, y, x), img.get(1, y, x), img.get(2, y, x)]
}

fn hue_dist(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(1.0);
    d.min(1.0 - d)
}

/// A latent with the given rotation, floor and spot settings.
fn latent_of(rot: &Rotation3, floor_hue: f32, theta: f32, phi: f32, spot_hue: f32) -> Latent {
    let [x, y, z] = rot.as_euler_xyz();
    Latent::new(
        [x as f32, y as f32, z as f32],
        floor_hue,
        theta,
        phi,
        spot_hue,
    )
}

#[test]
fn default_config_is_valid_and_has_ten_classes() {
    let cfg = Mini3dieConfig::default();
    cfg.validate().expect("default is valid");
    assert_eq!(cfg.classes, 10);
    assert_eq!(NUM_CLASSES, 10);
    assert_eq!((cfg.size, cfg.views, cfg.seed), (64, 50, 0));
    assert_eq!(cfg.num_images(), 10 * cfg.objects_per_class * 50);
}

#[test]
fn config_errors_name_the_field() {
    let base = Mini3dieConfig::default();
    let cases: Vec<(Mini3dieConfig, &str)> = vec![
        (
            Mini3dieConfig {
                size: 4,
                ..base.clone()
            },
            "mini3die.size",
        ),
        (
            Mini3dieConfig {
                size: 257,
                ..base.clone()
            },
            "mini3die.size",
        ),
        (
            Mini3dieConfig {
                classes: 0,
                ..base.clone()
            },
            "mini3die.classes",
        ),
        (
            Mini3dieConfig {
                classes: 11,
                ..base.clone()
            },
            "mini3die.classes",
        ),
        (
            Mini3dieConfig {
                views: 0,
                ..base.clone()
            },
            "mini3die.views",
        ),
        (
            Mini3dieConfig {
                objects_per_class: 0,
                ..base.clone()
            },
            "mini3die.objects_per_class",
        ),
        (
            Mini3dieConfig {
                val_fraction: -0.1,
                ..base.clone()
            },
            "mini3die.val_fraction",
        ),
        (
            Mini3dieConfig {
                val_fraction: 1.5,
                ..base.clone()
            },
            "mini3die.val_fraction",
        ),
        (
            Mini3dieConfig {
                val_fraction: f64::NAN,
                ..base.clone()
            },
            "mini3die.val_fraction",
        ),
    ];
    for (cfg, field) in cases {
        let err = cfg.validate().expect_err("invalid config");
        assert!(
            err.to_string().contains(field),
            "{err} does not name {field}"
        );
        let err = Mini3die::new(cfg).expect_err("invalid config");
        assert!(
            err.to_string().contains(field),
            "{err} does not name {field}"
        );
    }
    for size in [8, 256] {
        Mini3dieConfig {
            size,
            ..base.clone()
        }
        .validate()
        .expect("edge size is valid");
    }
}

#[test]
fn out_of_range_requests_are_errors() {
    let data = small(2, 3, 16);
    let n = data.num_objects();
    assert!(
        data.render(n, 0)
            .expect_err("object")
            .to_string()
            .contains("mini3die.object")
    );
    assert!(
        data.render(0, 3)
            .expect_err("view")
            .to_string()
            .contains("mini3die.view")
    );
    assert!(data.latent(n, 0).is_err());
    assert!(data.split(n).is_err());
    let spec = &data.objects()[0];
    let l = sample_latent(0, 0, 0);
    assert!(
        render_view(spec, &l, 4)
            .expect_err("size")
            .to_string()
            .contains("mini3die.size")
    );
    let mut bad = l;
    bad.0[5] = f32::NAN;
    assert!(render_view(spec, &bad, 16).is_err());
    assert!(ObjectSpec::new(0, NUM_CLASSES, 0).is_err());
    assert!(sheet(&data, &[], &[0]).is_err());
}

#[test]
fn latents_lie_in_their_documented_ranges_and_cover_them() {
    let ranges = [
        (-FRAC_PI_2, FRAC_PI_2),
        (-FRAC_PI_2, FRAC_PI_2),
        (-FRAC_PI_2, FRAC_PI_2),
        (0.0, 1.0),
        (0.0, FRAC_PI_4),
        (0.0, TAU),
        (0.0, 1.0),
    ];
    let mut lo = [f32::INFINITY; 7];
    let mut hi = [f32::NEG_INFINITY; 7];
    let mut mean = [0.0_f64; 7];
    let n = 4000;
    for o in 0..40 {
        for v in 0..100 {
            let l = sample_latent(3, o, v);
            for k in 0..7 {
                let (a, b) = ranges[k];
                assert!(
                    l.0[k] >= a && l.0[k] <= b,
                    "slot {k} = {} outside [{a}, {b}]",
                    l.0[k]
                );
                lo[k] = lo[k].min(l.0[k]);
                hi[k] = hi[k].max(l.0[k]);
                mean[k] += f64::from(l.0[k]) / n as f64;
            }
        }
    }
    for k in 0..7 {
        let (a, b) = ranges[k];
        let w = b - a;
        assert!(
            lo[k] < a + 0.01 * w && hi[k] > b - 0.01 * w,
            "slot {k} does not cover its range"
        );
        let mid = f64::from(a + b) / 2.0;
        assert!(
            (mean[k] - mid).abs() < 0.03 * f64::from(w),
            "slot {k} mean {} not uniform",
            mean[k]
        );
    }
}

#[test]
fn latents_are_a_function_of_seed_object_and_view() {
    assert_eq!(sample_latent(1, 2, 3), sample_latent(1, 2, 3));
    assert_ne!(sample_latent(1, 2, 3), sample_latent(2, 2, 3));
    assert_ne!(sample_latent(1, 2, 3), sample_latent(1, 3, 3));
    assert_ne!(sample_latent(1, 2, 3), sample_latent(1, 2, 4));
    let data = small(2, 4, 16);
    assert_eq!(data.latent(3, 2).expect("latent"), sample_latent(0, 3, 2));
    // The rotation is scipy's extrinsic xyz of the stored angles.
    let l = sample_latent(0, 1, 1);
    let [x, y, z] = l.angles();
    let r = Rotation3::from_euler_xyz([f64::from(x), f64::from(y), f64::from(z)]);
    assert_eq!(l.rotation().as_quat(), r.as_quat());
}

#[test]
fn images_are_identical_whatever_the_thread_count_or_order() {
    let data = Mini3die::new(Mini3dieConfig {
        classes: 4,
        objects_per_class: 2,
        views: 3,
        size: 24,
        ..Mini3dieConfig::default()
    })
    .expect("config");
    let items: Vec<(usize, usize)> = (0..data.num_objects())
        .flat_map(|o| (0..3).map(move |v| (o, v)))
        .collect();
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("pool")
    };
    let one = pool(1)
        .install(|| data.render_many(&items))
        .expect("render");
    let mut reversed: Vec<(usize, usize)> = items.clone();
    reversed.reverse();
    let two = pool(2)
        .install(|| data.render_many(&reversed))
        .expect("render");
    for (k, img) in one.iter().enumerate() {
        assert_eq!(
            bits(img),
            bits(&two[items.len() - 1 - k]),
            "item {:?}",
            items[k]
        );
    }
    // A fresh dataset from the same config gives the same objects and bytes.
    let again = Mini3die::new(data.config().clone()).expect("config");
    assert_eq!(again.objects(), data.objects());
    assert_eq!(
        bits(&again.render(5, 2).expect("render")),
        bits(&one[5 * 3 + 2])
    );
    // Shapes do not depend on how many objects per class there are.
    let bigger = small(5, 1, 16);
    let smaller = small(2, 1, 16);
    // Class 1, index 1 in both.
    assert_eq!(bigger.objects()[5 + 1], smaller.objects()[2 + 1]);
}

#[test]
fn images_have_the_right_shape_and_range() {
    let data = small(1, 2, 20);
    for o in 0..data.num_objects() {
        let img = data.render(o, 1).expect("render");
        assert_eq!((img.channels(), img.height(), img.width()), (3, 20, 20));
        assert!(img.data().iter().all(|v| (0.0..=1.0).contains(v)));
    }
    let all = data.render_object(3).expect("render");
    assert_eq!(all.len(), 2);
    assert_eq!(bits(&all[1]), bits(&data.render(3, 1).expect("render")));
}

#[test]
fn split_is_by_object_deterministic_and_stratified() {
    let data = small(10, 1, 16);
    let again = small(10, 1, 16);
    let val = data.objects_in(Split::Val);
    assert_eq!(val, again.objects_in(Split::Val));
    assert_eq!(val.len(), 10 * 2);
    for class in 0..10 {
        let in_class = val.iter().filter(|&&o| o / 10 == class).count();
        assert_eq!(in_class, 2, "class {class}");
    }
    assert_eq!(data.objects_in(Split::Train).len(), 80);
    for o in 0..data.num_objects() {
        assert_eq!(
            data.split(o).expect("split") == Split::Val,
            val.contains(&o)
        );
    }
    let other = Mini3die::new(Mini3dieConfig {
        objects_per_class: 10,
        views: 1,
        size: 16,
        seed: 9,
        ..Mini3dieConfig::default()
    })
    .expect("config");
    assert_ne!(
        other.objects_in(Split::Val),
        val,
        "the split ignores the seed"
    );
}

#[test]
fn identifiers_look_like_shapenet() {
    let data = small(3, 1, 16);
    let mut ids: Vec<&str> = data.objects().iter().map(|o| o.model_id.as_str()).collect();
    for (o, spec) in data.objects().iter().enumerate() {
        assert_eq!((spec.class, spec.index), (o / 3, o % 3));
        assert_eq!(spec.synset, CLASSES[spec.class].synset);
        assert_eq!(spec.class_name(), CLASSES[spec.class].name);
        assert!(spec.synset.len() == 8 && spec.synset.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(spec.model_id.len(), 32);
        assert!(
            spec.model_id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), data.num_objects());
    let synsets: std::collections::HashSet<&str> = CLASSES.iter().map(|c| c.synset).collect();
    assert_eq!(synsets.len(), NUM_CLASSES);
    assert_eq!(data.class_names()[0], "chair");
    assert_eq!(data.class_names().len(), 10);
    assert_ne!(
        ObjectSpec::new(1, 0, 0).expect("spec").model_id,
        data.objects()[0].model_id
    );
}

#[test]
fn objects_of_a_class_differ() {
    let data = small(3, 1, 32);
    let l = latent_of(
        &Rotation3::from_euler_xyz([0.3, -0.2, 0.5]),
        0.3,
        0.2,
        1.0,
        0.6,
    );
    for (class, info) in CLASSES.iter().enumerate() {
        let imgs: Vec<Image> = (0..3)
            .map(|i| render_view(&data.objects()[class * 3 + i], &l, 32).expect("render"))
            .collect();
        for i in 0..3 {
            for j in i + 1..3 {
                let c = changed(&imgs[i], &imgs[j]);
                assert!(
                    c > 0.02,
                    "{} objects {i} and {j} differ in {c} of pixels",
                    info.name
                );
            }
        }
    }
}

/// The pose is recoverable: for every class, turning the object by a candidate symmetry (half
/// turns about its three axes, quarter and third turns about its vertical axis) changes the
/// image clearly, as do random rotations.
#[test]
fn no_class_looks_the_same_under_other_rotations() {
    let data = small(2, 1, 48);
    let base = Rotation3::from_euler_xyz([0.35, -0.25, 0.6]);
    let candidates = [
        ([1.0, 0.0, 0.0], PI),
        ([0.0, 1.0, 0.0], PI),
        ([0.0, 0.0, 1.0], PI),
        ([0.0, 0.0, 1.0], FRAC_PI_2),
        ([0.0, 0.0, 1.0], -FRAC_PI_2),
        ([0.0, 0.0, 1.0], TAU / 3.0),
        ([1.0, 0.0, 0.0], FRAC_PI_2),
        ([0.0, 1.0, 0.0], FRAC_PI_2),
    ];
    let render = |spec: &ObjectSpec, rot: &Rotation3| {
        render_view(spec, &latent_of(rot, 0.1, 0.3, 2.0, 0.15), 48).expect("render")
    };
    let mut worst = f32::INFINITY;
    for spec in data.objects() {
        let name = spec.class_name();
        let reference = render(spec, &base);
        // Control: a full turn is the identity, and the measure sees (almost) no change, so a
        // true symmetry would fail the checks below.
        let full =
            Rotation3::from_axis_angle([0.0, 0.0, 1.0], std::f64::consts::TAU).expect("axis");
        let same = changed(&reference, &render(spec, &base.compose(&full)));
        assert!(same < 0.003, "{name}: a full turn changes {same} of pixels");
        for (axis, angle) in candidates {
            let turn = Rotation3::from_axis_angle(axis, f64::from(angle)).expect("axis");
            // The turn acts in the object's own frame, before the base pose.
            let img = render(spec, &base.compose(&turn));
            let c = changed(&reference, &img);
            worst = worst.min(c);
            assert!(
                c > 0.02,
                "{name} {}: turn {angle} about {axis:?} changes {c} of pixels",
                spec.index
            );
        }
        let poses: Vec<Image> = (0..5)
            .map(|v| {
                let l = sample_latent(11, spec.class, v);
                let rot = l.rotation();
                render(spec, &rot)
            })
            .collect();
        for i in 0..poses.len() {
            for j in i + 1..poses.len() {
                let c = changed(&poses[i], &poses[j]);
                assert!(
                    c > 0.03,
                    "{name}: random poses {i} and {j} differ in {c} of pixels"
                );
            }
        }
    }
    assert!(worst.is_finite());
}

#[test]
fn floor_takes_the_hue_of_the_latent() {
    let data = small(1, 1, 32);
    let rot = Rotation3::from_euler_xyz([0.2, 0.4, -0.3]);
    for (k, spec) in data.objects().iter().enumerate() {
        let hue = (k as f32 * 0.097 + 0.03) % 1.0;
        // Spot straight above: its cone does not reach the far corners of the frame.
        let img = render_view(spec, &latent_of(&rot, hue, 0.0, 0.0, 0.5), 32).expect("render");
        for (y, x) in [(0, 0), (0, 31)] {
            let [r, g, b] = pixel(&img, y, x);
            let [h, s, v] = rgb_to_hsv(r, g, b);
            assert!(
                hue_dist(h, hue) < 0.01,
                "floor hue {h} for latent hue {hue}"
            );
            assert!((s - 0.6).abs() < 0.02, "floor saturation {s}");
            assert!(v > 0.3 && v < 0.75, "floor value {v}");
        }
    }
}

#[test]
fn spot_light_brightens_the_floor_inside_its_cone() {
    let data = small(1, 1, 32);
    let rot = Rotation3::from_euler_xyz([0.1, -0.3, 0.2]);
    let lum = |p: [f32; 3]| p[0] + p[1] + p[2];
    for spec in data.objects() {
        let hue = 0.55;
        // Spot straight above: the near floor (bottom corners) is in the cone, the far floor
        // (top corners) is not.
        let img = render_view(spec, &latent_of(&rot, hue, 0.0, 0.0, hue), 32).expect("render");
        let inside = lum(pixel(&img, 31, 0)).min(lum(pixel(&img, 31, 31)));
        let outside = lum(pixel(&img, 0, 0)).max(lum(pixel(&img, 0, 31)));
        assert!(
            inside > outside + 0.3,
            "{}: inside {inside} outside {outside}",
            spec.class_name()
        );
        // The cone follows the light: from the camera's side it reaches the far floor (upper
        // left edge of the frame), from the far side only the near floor (lower left edge).
        let near_side = render_view(spec, &latent_of(&rot, hue, FRAC_PI_4, FRAC_PI_2, hue), 32)
            .expect("render");
        let far_side = render_view(
            spec,
            &latent_of(&rot, hue, FRAC_PI_4, 3.0 * FRAC_PI_2, hue),
            32,
        )
        .expect("render");
        let upper = |img: &Image| (8..12).map(|y| lum(pixel(img, y, 0))).sum::<f32>() / 4.0;
        assert!(
            upper(&near_side) > upper(&far_side) + 0.15,
            "{}",
            spec.class_name()
        );
        assert!(
            lum(pixel(&far_side, 31, 0)) > upper(&far_side) + 0.3,
            "{}",
            spec.class_name()
        );
        // The light's colour shows: a red spot on a grey-ish (cyan-free) comparison.
        let red = render_view(spec, &latent_of(&rot, 0.0, 0.0, 0.0, 0.0), 32).expect("render");
        let blue = render_view(spec, &latent_of(&rot, 0.0, 0.0, 0.0, 0.66), 32).expect("render");
        let [r1, _, b1] = pixel(&red, 31, 0);
        let [r2, _, b2] = pixel(&blue, 31, 0);
        assert!(r1 > r2 + 0.1 && b2 >= b1, "spot hue does not show");
    }
}

#[test]
fn sheet_has_one_cell_per_object_and_view() {
    let data = small(1, 3, 16);
    let img = sheet(&data, &[0, 1], &[0, 1, 2]).expect("sheet");
    assert_eq!(img.channels(), 3);
    // 4-pixel gaps around 16-pixel cells.
    assert_eq!((img.height(), img.width()), (4 + 2 * 20, 4 + 3 * 20));
}
