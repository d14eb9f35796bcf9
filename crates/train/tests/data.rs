//! The data side of training: format detection on directories laid out like each format,
//! clear errors for missing or unrecognised directories, and the batch sources on a tiny
//! rendered mini3die (shapes, normalisation, EquiMod vectors, determinism, exact resume).

use std::fs;
use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use noether_augment::{Image, Preset, make_views};
use noether_data::render::Mini3dieConfig;
use noether_data::{Latent, LayoutWriter, Split};
use noether_train::BatchSource;
use noether_train::data::{
    self, ACTION_DIM, ActionPairSource, Dataset, DatasetKind, EquimodSource, Pairing, SourceConfig,
    TwoViewSource, image_tensor_batches, preset_pipelines,
};

fn cifar_record(label: u8, k: usize) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..3072).map(|p| ((k * 7 + p) % 256) as u8));
    r
}

fn idx_images(n: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [2051u32, n as u32, 28, 28] {
        b.extend(w.to_be_bytes());
    }
    b.extend((0..n * 784).map(|i| (i % 251) as u8));
    b
}

fn idx_labels(n: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [2049u32, n as u32] {
        b.extend(w.to_be_bytes());
    }
    b.extend((0..n).map(|i| (i % 10) as u8));
    b
}

fn write_3die(dir: &Path) {
    let w = LayoutWriter::new(dir).expect("test fixture");
    for v in 0..2 {
        let img = Image::from_fn(3, 8, 8, |c, y, x| ((c + y + x + v) % 5) as f32 / 4.0);
        w.write_view("02691156", "abc", v, &img, &Latent([0.1; 7]))
            .expect("test fixture");
    }
    w.finish(&[("/02691156/abc/".into(), 0)], &[], 2)
        .expect("test fixture");
}

fn write_folder(dir: &Path) {
    for (c, class) in ["cat", "dog"].iter().enumerate() {
        fs::create_dir_all(dir.join(class)).expect("test fixture");
        for k in 0..2 {
            let img = Image::from_fn(3, 6, 6, |ch, y, x| ((ch + y * x + k + c) % 4) as f32 / 3.0);
            img.save(dir.join(class).join(format!("{k}.png")))
                .expect("test fixture");
        }
    }
}

#[test]
fn detect_recognises_every_layout_and_opens_it() {
    let t = tempfile::tempdir().unwrap();

    // CIFAR-10: the archive folder, and the batch files themselves
    let c10 = t.path().join("c10");
    let batches = c10.join("cifar-10-batches-bin");
    fs::create_dir_all(&batches).unwrap();
    for b in 1..=5 {
        fs::write(
            batches.join(format!("data_batch_{b}.bin")),
            cifar_record(b, b as usize),
        )
        .unwrap();
    }
    fs::write(batches.join("test_batch.bin"), cifar_record(3, 9)).unwrap();
    assert_eq!(data::detect(&c10).unwrap(), DatasetKind::Cifar10);
    assert_eq!(data::detect(&batches).unwrap(), DatasetKind::Cifar10);
    let train = data::open(DatasetKind::Cifar10, &c10, Split::Train).unwrap();
    assert_eq!((train.len(), train.num_classes()), (5, 10));
    assert_eq!(train.labels(), vec![1, 2, 3, 4, 5]);
    assert!(data::open(DatasetKind::Cifar10, &c10, Split::Val).is_err());

    // CIFAR-100
    let c100 = t.path().join("c100").join("cifar-100-binary");
    fs::create_dir_all(&c100).unwrap();
    let mut rec = vec![1u8, 42];
    rec.extend(vec![7u8; 3072]);
    fs::write(c100.join("train.bin"), &rec).unwrap();
    assert_eq!(
        data::detect(t.path().join("c100")).unwrap(),
        DatasetKind::Cifar100
    );
    let c = data::open(DatasetKind::Cifar100, t.path().join("c100"), Split::Train).unwrap();
    assert_eq!(c.label(0), Some(42));

    // MNIST under raw/, gzip-free names
    let mn = t.path().join("mnist");
    fs::create_dir_all(mn.join("raw")).unwrap();
    fs::write(mn.join("raw/train-images-idx3-ubyte"), idx_images(3)).unwrap();
    fs::write(mn.join("raw/train-labels-idx1-ubyte"), idx_labels(3)).unwrap();
    assert_eq!(data::detect(&mn).unwrap(), DatasetKind::Mnist);
    let m = data::open(DatasetKind::Mnist, &mn, Split::Train).unwrap();
    let s = m.uniform_shape().unwrap();
    assert_eq!((m.len(), s.channels, s.height), (3, 1, 28));

    // 3DIEBench layout (its synset folders must not make it an image folder)
    let ie = t.path().join("3die");
    write_3die(&ie);
    assert_eq!(data::detect(&ie).unwrap(), DatasetKind::ThreeDieBench);
    let d = data::open(DatasetKind::ThreeDieBench, &ie, Split::Train).unwrap();
    assert_eq!(d.len(), 2, "one object x two views");
    assert_eq!(d.latent(1).unwrap(), Some(Latent([0.1; 7])));
    assert!(d.latent(2).is_err());

    // image folder, flat and with a train/ split
    let f = t.path().join("folder");
    write_folder(&f);
    assert_eq!(data::detect(&f).unwrap(), DatasetKind::ImageFolder);
    let fd = data::open(DatasetKind::ImageFolder, &f, Split::Train).unwrap();
    assert_eq!((fd.len(), fd.num_classes()), (4, 2));
    assert!(data::open(DatasetKind::ImageFolder, &f, Split::Test).is_err());
    let fs_ = t.path().join("split");
    write_folder(&fs_.join("train"));
    write_folder(&fs_.join("val"));
    assert_eq!(data::detect(&fs_).unwrap(), DatasetKind::ImageFolder);
    let val = data::open(DatasetKind::ImageFolder, &fs_, Split::Val).unwrap();
    assert_eq!(val.labels(), vec![0, 0, 1, 1]);

    // names
    assert_eq!(
        "cifar-10".parse::<DatasetKind>().unwrap(),
        DatasetKind::Cifar10
    );
    for (name, kind) in DatasetKind::ALL {
        assert_eq!(DatasetKind::parse(name).unwrap(), kind);
    }
    let e = DatasetKind::parse("imagenet").unwrap_err().to_string();
    assert!(e.contains("cifar100") && e.contains("folder"), "{e}");
}

#[test]
fn unrecognised_missing_and_ambiguous_directories_are_clear_errors() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("notes.txt"), "hello").unwrap();
    let e = data::detect(t.path()).unwrap_err().to_string();
    assert!(e.contains(&t.path().display().to_string()), "{e}");
    for needle in [
        "3DIEBench",
        "CIFAR-10",
        "CIFAR-100",
        "MNIST",
        "image folder",
        "--dataset",
    ] {
        assert!(e.contains(needle), "`{needle}` missing from: {e}");
    }

    let missing = t.path().join("nope");
    let e = data::detect(&missing).unwrap_err().to_string();
    assert!(e.contains("nope") && e.contains("does not exist"), "{e}");
    assert!(data::open(DatasetKind::Cifar10, &missing, Split::Train).is_err());
    let e = data::detect(t.path().join("notes.txt"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a directory"), "{e}");

    fs::write(t.path().join("test_batch.bin"), cifar_record(0, 0)).unwrap();
    fs::write(t.path().join("test.bin"), cifar_record(0, 0)).unwrap();
    let e = data::detect(t.path()).unwrap_err().to_string();
    assert!(e.contains("ambiguous"), "{e}");

    // data of the wrong shape: a truncated CIFAR batch names the file and byte offset
    let bad = t.path().join("bad");
    fs::create_dir(&bad).unwrap();
    fs::write(bad.join("test_batch.bin"), vec![0u8; 3000]).unwrap();
    assert_eq!(data::detect(&bad).unwrap(), DatasetKind::Cifar10);
    let e = data::open(DatasetKind::Cifar10, &bad, Split::Test)
        .unwrap_err()
        .to_string();
    assert!(e.contains("test_batch.bin") && e.contains("byte 0"), "{e}");
}

fn tiny_mini3die(cache: &Path) -> Arc<Dataset> {
    let config = Mini3dieConfig {
        classes: 2,
        objects_per_class: 3,
        views: 3,
        size: 16,
        seed: 1,
        val_fraction: 0.34,
    };
    Arc::new(data::mini3die_default(&config, cache, Split::Train).expect("test fixture"))
}

fn config(batch: usize, seed: u64) -> SourceConfig {
    SourceConfig {
        view_size: Some(16),
        seed,
        ..SourceConfig::new("simclr-cifar", batch)
    }
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all()
        .expect("test fixture")
        .to_vec1::<f32>()
        .expect("test fixture")
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn two_view_source_shapes_statistics_determinism_and_exact_resume() {
    let cache = tempfile::tempdir().unwrap();
    let train = tiny_mini3die(cache.path());
    assert_eq!(train.len(), 12, "2 classes x 2 train objects x 3 views");
    let dev = Device::Cpu;

    let mut a = TwoViewSource::new(Arc::clone(&train), config(4, 7), &dev).unwrap();
    assert_eq!(a.batch_items(), 4);
    let first = a.next_batch().unwrap();
    assert_eq!(first.x1.dims(), &[4, 3, 16, 16]);
    assert_eq!(first.x2.dims(), &[4, 3, 16, 16]);
    assert_ne!(bits(&first.x1), bits(&first.x2), "two different views");
    // normalised with 3DIEBench's constants: finite, centred within a few std
    let v = first.x1.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(v.iter().all(|x| x.is_finite()));
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    assert!(mean.abs() < 3.0, "mean {mean}");
    assert!(v.iter().any(|&x| x < -0.5) && v.iter().any(|&x| x > 0.5));

    // same seed, same batches; another seed, other batches
    let mut b = TwoViewSource::new(Arc::clone(&train), config(4, 7), &dev).unwrap();
    let mut c = TwoViewSource::new(Arc::clone(&train), config(4, 8), &dev).unwrap();
    assert_eq!(bits(&b.next_batch().unwrap().x1), bits(&first.x1));
    assert_ne!(bits(&c.next_batch().unwrap().x1), bits(&first.x1));

    // cursor after 2 batches; 5 more (crossing epochs: 3 batches per epoch) from a restored
    // source are bit-identical
    a.next_batch().unwrap();
    let cursor = a.cursor();
    let expect: Vec<_> = (0..5).map(|_| a.next_batch().unwrap()).collect();
    let mut r = TwoViewSource::new(Arc::clone(&train), config(4, 7), &dev).unwrap();
    r.restore(&cursor).unwrap();
    for e in &expect {
        let got = r.next_batch().unwrap();
        assert_eq!(bits(&got.x1), bits(&e.x1));
        assert_eq!(bits(&got.x2), bits(&e.x2));
    }
    // a malformed or foreign cursor is an error that leaves the source as it was
    let before = r.cursor();
    assert!(r.restore(&serde_json::json!({"epoch": 1})).is_err());
    assert!(
        r.restore(&serde_json::json!({"epoch": 0, "position": 0, "seed": 99}))
            .is_err()
    );
    assert_eq!(r.cursor(), before);

    // bad configurations name the field
    let e = TwoViewSource::new(Arc::clone(&train), config(13, 0), &dev).unwrap_err();
    assert!(e.to_string().contains("batch_size"), "{e}");
    let bad = SourceConfig::new("nope", 2);
    let e = TwoViewSource::new(Arc::clone(&train), bad, &dev).unwrap_err();
    assert!(e.to_string().contains("simclr-cifar"), "{e}");
}

#[test]
fn action_pairs_are_two_renders_of_one_object_with_the_action_between_them() {
    use noether_data::layout::{absolute_rotation_color, rotation_color_action};
    let cache = tempfile::tempdir().unwrap();
    let train = tiny_mini3die(cache.path());
    let views = train.views_3die().expect("3die layout").views();
    let dev = Device::Cpu;
    let mut s = ActionPairSource::new(Arc::clone(&train), config(4, 5), &dev).unwrap();
    let rows = |t: &Tensor| t.to_vec2::<f32>().expect("rows");
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    // the un-augmented images of the split, to find each item's two renders
    let all: Vec<Vec<f32>> = image_tensor_batches(&train, 64, Some(16), &dev)
        .unwrap()
        .flat_map(|b| {
            let x = b.unwrap().0;
            (0..x.dim(0).unwrap())
                .map(|i| x.get(i).unwrap().flatten_all().unwrap().to_vec1().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let find = |x: &Tensor| -> usize {
        let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        all.iter()
            .position(|a| close(a, &v))
            .expect("an image of the split")
    };
    for _ in 0..3 {
        let b = s.next_batch().unwrap();
        assert_eq!(b.x1.dims(), &[4, 3, 16, 16]);
        assert_eq!(b.action.dims(), &[4, ACTION_DIM]);
        let (action, latent2) = (rows(&b.action), rows(&b.latent2));
        for k in 0..4 {
            let (i, j) = (find(&b.x1.get(k).unwrap()), find(&b.x2.get(k).unwrap()));
            assert_eq!(i / views, j / views, "one object");
            assert_ne!(i, j, "two renders");
            let (l1, l2) = (
                train.latent(i).unwrap().unwrap(),
                train.latent(j).unwrap().unwrap(),
            );
            assert!(close(&action[k], &rotation_color_action(&l1, &l2)));
            assert!(close(&latent2[k], &absolute_rotation_color(&l2)));
            assert_eq!(b.labels[k], train.label(i).unwrap());
        }
    }
    // exact resume from a cursor
    let cursor = s.cursor();
    let next = s.next_batch().unwrap();
    let mut r = ActionPairSource::new(Arc::clone(&train), config(4, 5), &dev).unwrap();
    r.restore(&cursor).unwrap();
    let again = r.next_batch().unwrap();
    assert_eq!(bits(&next.x2), bits(&again.x2));
    assert_eq!(bits(&next.action), bits(&again.action));
    // a batch larger than the split: the error names the field
    let e = ActionPairSource::new(Arc::clone(&train), config(13, 0), &dev).unwrap_err();
    assert!(e.to_string().contains("batch_size"), "{e}");
}

#[test]
fn equimod_source_gives_the_same_views_and_standardised_vectors() {
    let cache = tempfile::tempdir().unwrap();
    let train = tiny_mini3die(cache.path());
    let dev = Device::Cpu;
    let mut eq = EquimodSource::new(Arc::clone(&train), config(4, 3), &dev).unwrap();
    let mut tv = TwoViewSource::new(Arc::clone(&train), config(4, 3), &dev).unwrap();
    let std = eq.standardizer().clone();
    assert_eq!(std.mean.len(), 15);
    assert_eq!((std.input.height, std.draws), (16, 4096));

    let b = eq.next_batch().unwrap();
    for x in [&b.x0, &b.x1, &b.x2] {
        assert_eq!(x.dims(), &[4, 3, 16, 16]);
    }
    assert_eq!(b.t1.dims(), &[4, 15]);
    assert_eq!(b.t2.dims(), &[4, 15]);
    let t: Vec<f32> = b.t1.flatten_all().unwrap().to_vec1().unwrap();
    assert!(t.iter().all(|v| v.is_finite() && v.abs() < 10.0), "{t:?}");
    // the same views as the two-view source with the same configuration
    let p = tv.next_batch().unwrap();
    assert_eq!(bits(&b.x1), bits(&p.x1));
    assert_eq!(bits(&b.x2), bits(&p.x2));

    // t1 is the standardised vector of view 0 of the batch's first image, recomputed here
    // from the record make_views gives for the batch seed
    let loader_seed = noether_data::loader::batch_seed(3, 0, 0);
    let order = noether_data::loader::epoch_order(train.len(), 3, 0, true);
    let img = train.image(order[0]).unwrap();
    let pipes = preset_pipelines(Preset::SimclrCifar, Some(16)).unwrap();
    let views = make_views(&pipes, std::slice::from_ref(&img), 2, loader_seed).unwrap();
    let raw = Preset::SimclrCifar
        .equimod_layout()
        .unwrap()
        .vector(&views[0].record)
        .unwrap();
    let want = std.apply(&raw).unwrap();
    assert_eq!(&t[..15], want.as_slice());
    // x0 is the normalised un-augmented image
    let x0 =
        b.x0.get(0)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
    let norm = train.normalization();
    let n = noether_augment::color::normalize(&img, &norm.mean, &norm.std).unwrap();
    assert_eq!(x0, n.data());

    // exact resume
    eq.next_batch().unwrap();
    let cursor = eq.cursor();
    let expect = eq.next_batch().unwrap();
    let mut r = EquimodSource::new(Arc::clone(&train), config(4, 3), &dev).unwrap();
    r.restore(&cursor).unwrap();
    let got = r.next_batch().unwrap();
    for (g, e) in [
        (&got.x0, &expect.x0),
        (&got.x1, &expect.x1),
        (&got.x2, &expect.x2),
        (&got.t1, &expect.t1),
        (&got.t2, &expect.t2),
    ] {
        assert_eq!(bits(g), bits(e));
    }

    // multi-crop has no EquiMod vector
    let bad = SourceConfig::new("multi-crop", 2);
    assert!(EquimodSource::new(Arc::clone(&train), bad, &dev).is_err());
}

#[test]
fn resized_presets_draw_the_same_parameters_as_the_presets() {
    let img = Image::from_fn(3, 40, 40, |c, y, x| {
        ((c * 5 + y * 3 + x) % 13) as f32 / 13.0
    });
    for preset in [
        Preset::SimclrCifar,
        Preset::ByolCifar,
        Preset::SimclrImagenet,
    ] {
        let own = preset.pipelines().unwrap();
        // rebuilt at another size then compared on records: only the crop's output differs
        let other = preset_pipelines(preset, Some(24)).unwrap();
        let a = make_views(&own, std::slice::from_ref(&img), 2, 5).unwrap();
        let b = make_views(&other, std::slice::from_ref(&img), 2, 5).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.record, y.record, "{}", preset.name());
            assert_eq!(y.image.height(), 24);
        }
    }
    assert!(preset_pipelines(Preset::MultiCrop, Some(64)).is_err());
}

#[test]
fn eval_batches_are_ordered_unaugmented_and_labelled() {
    let cache = tempfile::tempdir().unwrap();
    let train = tiny_mini3die(cache.path());
    let dev = Device::Cpu;
    let batches: Vec<_> = image_tensor_batches(&train, 5, Some(8), &dev)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[2].0.dims(), &[2, 3, 8, 8]);
    let labels: Vec<i64> = batches.iter().flat_map(|b| b.1.clone()).collect();
    assert_eq!(labels, train.labels());
    let again: Vec<_> = image_tensor_batches(&train, 5, Some(8), &dev)
        .unwrap()
        .map(|b| bits(&b.unwrap().0))
        .collect();
    assert_eq!(again[0], bits(&batches[0].0));
    // at the source size, no resampling: image 0 normalised exactly
    let (x, _) = image_tensor_batches(&train, 1, None, &dev)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let norm = train.normalization();
    let n =
        noether_augment::color::normalize(&train.image(0).unwrap(), &norm.mean, &norm.std).unwrap();
    assert_eq!(x.flatten_all().unwrap().to_vec1::<f32>().unwrap(), n.data());
    assert!(image_tensor_batches(&train, 0, None, &dev).is_err());
}

#[test]
fn object_view_pairs_take_the_second_view_from_another_render_of_the_object() {
    let cache = tempfile::tempdir().unwrap();
    let train = tiny_mini3die(cache.path());
    let dev = Device::Cpu;
    let paired = |batch, seed| SourceConfig {
        pairing: Pairing::ObjectViews,
        ..config(batch, seed)
    };
    let mut eq = EquimodSource::new(Arc::clone(&train), paired(4, 3), &dev).unwrap();
    let mut same = EquimodSource::new(Arc::clone(&train), config(4, 3), &dev).unwrap();
    let b = eq.next_batch().unwrap();
    let s = same.next_batch().unwrap();
    // view 1 and x0 are made exactly as in same-image pairs; view 2 is not
    assert_eq!(bits(&b.x0), bits(&s.x0));
    assert_eq!(bits(&b.x1), bits(&s.x1));
    assert_ne!(bits(&b.x2), bits(&s.x2));
    assert!(s.x0b.is_none());
    let x0b = b.x0b.as_ref().expect("object-view pairs carry x2's source");
    // x0b is another view of the same object as x0
    let views = train.views_3die().unwrap().views();
    let norm = train.normalization();
    let find = |row: Vec<f32>| {
        (0..train.len())
            .find(|&i| {
                let img = train.image(i).unwrap();
                noether_augment::color::normalize(&img, &norm.mean, &norm.std)
                    .unwrap()
                    .data()
                    == row.as_slice()
            })
            .expect("x0 / x0b is an image of the split")
    };
    for k in 0..4 {
        let row = |t: &Tensor| {
            t.get(k)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let (a, o) = (find(row(&b.x0)), find(row(x0b)));
        assert_eq!(a / views, o / views, "item {k}: same object");
        assert_ne!(a % views, o % views, "item {k}: another view");
    }
    // exact resume with pairs
    let cursor = eq.cursor();
    let expect = eq.next_batch().unwrap();
    let mut r = EquimodSource::new(Arc::clone(&train), paired(4, 3), &dev).unwrap();
    r.restore(&cursor).unwrap();
    let got = r.next_batch().unwrap();
    assert_eq!(
        bits(got.x0b.as_ref().unwrap()),
        bits(expect.x0b.as_ref().unwrap())
    );
    assert_eq!(bits(&got.x2), bits(&expect.x2));
    // the two-view source pairs the same way
    let mut tv = TwoViewSource::new(Arc::clone(&train), paired(4, 3), &dev).unwrap();
    let p = tv.next_batch().unwrap();
    assert_eq!(bits(&p.x1), bits(&b.x1));
    assert_eq!(bits(&p.x2), bits(&b.x2));

    // one view per object cannot pair
    let single = Mini3dieConfig {
        classes: 2,
        objects_per_class: 3,
        views: 1,
        size: 16,
        seed: 1,
        val_fraction: 0.34,
    };
    let one = Arc::new(data::mini3die_default(&single, cache.path(), Split::Train).unwrap());
    let e = TwoViewSource::new(one, paired(2, 0), &dev).unwrap_err();
    assert!(e.to_string().contains("pairing"), "{e}");
}
