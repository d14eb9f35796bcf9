//! Bad input is an `Err` that names the file or the op and the expected layout; nothing panics.

use noether_augment::ops::{ColorJitter, RandomResizedCrop, Rotate};
use noether_augment::{AugmentError, DynOp, Image, Op, Pipeline, Preset, geometry};
use proptest::prelude::*;
use rand::SeedableRng;

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("noether-augment-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

#[test]
fn unreadable_and_truncated_images_name_the_file() {
    let missing = tmp("missing.png");
    let err = Image::load(&missing).expect_err("missing file");
    assert!(err.to_string().contains("missing.png"), "{err}");

    let img = Image::from_fn(3, 16, 16, |c, y, x| ((c + y + x) % 3) as f32 / 2.0);
    let good = tmp("good.png");
    img.save(&good).expect("save");
    let bytes = std::fs::read(&good).expect("read");
    let truncated = tmp("truncated.png");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let err = Image::load(&truncated).expect_err("truncated file");
    assert!(matches!(err, AugmentError::Read { .. }));
    assert!(err.to_string().contains("truncated.png"), "{err}");

    let text = tmp("not-an-image.png");
    std::fs::write(&text, b"hello").expect("write");
    assert!(Image::load(&text).is_err());
    assert_eq!(Image::load(&good).expect("load").shape(), img.shape());
}

#[test]
fn wrong_parameter_vectors_name_the_op_and_the_layout() {
    let rot = Rotate::new([-30.0, 30.0]);
    let err = rot.decode(&[1.0, 2.0]).expect_err("wrong length");
    let msg = err.to_string();
    assert!(
        msg.contains("rotate") && msg.contains("[angle]") && msg.contains("has 2 floats"),
        "{msg}"
    );

    let err = rot.decode(&[45.0]).expect_err("out of range");
    assert!(matches!(err, AugmentError::ParamRange { .. }));
    assert!(err.to_string().contains("angle"), "{err}");
    assert!(rot.decode(&[f32::NAN]).is_err());

    let jitter = ColorJitter::new(0.4, 0.4, 0.4, 0.1);
    let err = jitter
        .decode(&[0.0, 0.0, 1.0, 2.0, 1.0, 1.0, 1.0, 0.0])
        .expect_err("not a permutation");
    assert!(err.to_string().contains("permutation"), "{err}");
    assert!(
        jitter
            .decode(&[0.0, 1.0, 2.0, 3.0, 1.0, 1.0, 1.0, 0.3])
            .is_err()
    );

    let crop = RandomResizedCrop::new(8, [0.5, 1.0]);
    assert!(
        crop.decode(&[0.0, 0.0, 2.5, 3.0]).is_err(),
        "fractional pixels"
    );
    assert!(
        crop.decode(&[-1.0, 0.0, 2.0, 3.0]).is_err(),
        "negative offset"
    );
}

#[test]
fn a_crop_larger_than_the_image_is_an_error() {
    let img = Image::zeros(3, 10, 10);
    let crop = RandomResizedCrop::new(8, [0.5, 1.0]);
    let err = crop
        .apply_vec(&img, &[2.0, 2.0, 9.0, 9.0])
        .expect_err("does not fit");
    let msg = err.to_string();
    assert!(
        msg.contains("random_resized_crop") && msg.contains("10x10"),
        "{msg}"
    );
    assert!(
        geometry::crop(
            &img,
            geometry::CropBox {
                top: 0,
                left: 0,
                height: 11,
                width: 1
            }
        )
        .is_err()
    );
}

#[test]
fn bad_configurations_and_foreign_records_are_errors() {
    assert!(
        Pipeline::new("p")
            .then(Rotate::new([0.0, 1.0]), 1.5)
            .is_err()
    );
    assert!(
        Pipeline::new("p")
            .then(ColorJitter::new(0.4, 0.4, 0.4, 0.7), 1.0)
            .is_err()
    );
    assert!(
        Pipeline::new("p")
            .then(Rotate::new([10.0, -10.0]), 1.0)
            .is_err()
    );
    assert!(Preset::parse("simclr-mnist").is_err());

    let img = Image::from_fn(3, 40, 40, |c, y, x| ((c + y * x) % 5) as f32 / 5.0);
    let cifar = &Preset::SimclrCifar.pipelines().expect("preset")[0];
    let imagenet = &Preset::SimclrImagenet.pipelines().expect("preset")[0];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let (_, rec) = imagenet.run(&img, &mut rng).expect("run");
    let err = cifar.replay(&img, &rec).expect_err("foreign record");
    assert!(matches!(err, AugmentError::Replay { .. }), "{err}");

    let mut rec = cifar.sample(img.shape(), &mut rng).expect("sample");
    rec.steps[0].params.pop();
    let err = cifar.replay(&img, &rec).expect_err("short vector");
    assert!(err.to_string().contains("random_resized_crop"), "{err}");

    // grey images are rejected by colour ops, not mangled
    let grey = Image::zeros(1, 8, 8);
    assert!(noether_augment::color::adjust_hue(&grey, 0.1).is_err());
    assert!(Image::new(3, 2, 2, vec![0.0; 11]).is_err());
}

proptest! {
    #[test]
    fn decoding_random_vectors_never_panics(v in proptest::collection::vec(any::<f32>(), 0..10)) {
        let img = Image::zeros(3, 12, 12);
        for pipe in Preset::ByolImagenet.pipelines().expect("preset") {
            for step in pipe.steps() {
                let _ = step.op.apply_vec(&img, &v);
                let _ = step.op.inverse_vec(&img, &v, img.shape());
            }
        }
    }

    #[test]
    fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Image::decode(&bytes, "random bytes");
    }
}
