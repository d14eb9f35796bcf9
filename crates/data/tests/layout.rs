//! The 3DIEBench layout: writer and reader round trip, `.jpg` datasets without
//! `all_latents`, actions against scipy, pair sampling, caching, and bad input as `Err`s.

use std::fs;
use std::path::Path;

use noether_augment::Image;
use noether_data::layout::{self, LATENT_LEN, Latent};
use noether_data::{ActionKind, DataError, Dataset3die, LayoutWriter, Split, npy};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const VIEWS: usize = 4;

fn image(seed: usize) -> Image {
    Image::from_fn(3, 6, 5, |c, y, x| {
        ((c * 31 + y * 7 + x * 3 + seed * 11) % 256) as f32 / 255.0
    })
}

fn latent(object: usize, view: usize) -> Latent {
    let t = (object * 10 + view) as f32;
    Latent([
        0.1 * t - 1.0,
        0.05 * t,
        -0.03 * t,
        0.01 * t,
        0.2,
        0.3 * t,
        0.99 - 0.01 * t,
    ])
}

/// Two train objects (labels 3, 0) and one val object (label 1), 4 views each.
fn write_dataset(root: &Path) -> Vec<(String, String)> {
    let objects = vec![
        ("02691156".to_string(), "a1".to_string()),
        ("03001627".to_string(), "b2".to_string()),
        ("02691156".to_string(), "c3".to_string()),
    ];
    let w = LayoutWriter::new(root).expect("test fixture");
    for (o, (synset, model)) in objects.iter().enumerate() {
        for v in 0..VIEWS {
            w.write_view(synset, model, v, &image(o * VIEWS + v), &latent(o, v))
                .expect("test fixture");
        }
    }
    let p = |o: usize| layout::object_path(&objects[o].0, &objects[o].1);
    w.finish(&[(p(0), 3), (p(1), 0)], &[(p(2), 1)], VIEWS)
        .expect("test fixture");
    objects
}

#[test]
fn writer_and_reader_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path());

    let train = Dataset3die::open(dir.path(), Split::Train).unwrap();
    assert_eq!((train.len(), train.views()), (2, VIEWS));
    assert_eq!(train.labels(), vec![3, 0]);
    assert_eq!(train.objects()[1].path, "/03001627/b2/");
    assert_eq!(train.objects()[1].synset, "03001627");
    assert_eq!(train.num_classes(), 4);
    for o in 0..2 {
        for v in 0..VIEWS {
            let got = train.image(o, v).unwrap();
            assert!(got.max_abs_diff(&image(o * VIEWS + v), None).unwrap() < 1e-6);
            assert_eq!(train.latent(o, v).unwrap(), latent(o, v));
        }
    }
    let val = Dataset3die::open(dir.path(), Split::Val).unwrap();
    assert_eq!(val.labels(), vec![1]);
    assert_eq!(val.latent(0, 3).unwrap(), latent(2, 3));

    // the files numpy would read: split order, 4 consecutive rows per object
    let all = npy::read_f32(dir.path().join("all_latents_train.npy")).unwrap();
    assert_eq!(all.shape, vec![2 * VIEWS, LATENT_LEN]);
    assert_eq!(all.row(VIEWS + 2, LATENT_LEN).unwrap(), &latent(1, 2).0);
    let names = npy::read_strings(dir.path().join("val_images.npy")).unwrap();
    assert_eq!(names.data, vec!["/02691156/c3/"]);
    let labels = npy::read_i64(dir.path().join("train_labels.npy")).unwrap();
    assert_eq!(labels.data, vec![3, 0]);

    // no temporary file anywhere
    for entry in walk(dir.path()) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "left over: {}", entry.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).expect("test fixture") {
        let p = e.expect("test fixture").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn reads_jpg_layout_without_all_latents_and_ignores_temporary_files() {
    // as the real 3DIEBench: JPEG images, split files, per-view latents only
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("04379243").join("m0");
    fs::create_dir_all(&obj).unwrap();
    for v in 0..3 {
        image(v).save(obj.join(format!("image_{v}.jpg"))).unwrap();
        npy::write_f32(obj.join(format!("latent_{v}.npy")), &[7], &latent(0, v).0).unwrap();
    }
    // a temporary file of an interrupted write is not a view
    fs::write(obj.join(".image_3.99-0.tmp.png"), b"half").unwrap();
    npy::write_strings(dir.path().join("train_images.npy"), &["/04379243/m0/"]).unwrap();
    npy::write_i64(dir.path().join("train_labels.npy"), &[1], &[54]).unwrap();

    let ds = Dataset3die::open(dir.path(), Split::Train).unwrap();
    assert_eq!(ds.views(), 3);
    assert_eq!(ds.image_path(0, 2).unwrap(), obj.join("image_2.jpg"));
    let img = ds.image(0, 1).unwrap();
    assert_eq!((img.channels(), img.height(), img.width()), (3, 6, 5));
    assert_eq!(ds.latent(0, 2).unwrap(), latent(0, 2));

    let given = Dataset3die::open_with_views(dir.path(), Split::Train, 2).unwrap();
    assert_eq!(given.views(), 2);
    assert!(given.image(0, 2).is_err());
}

#[test]
fn actions_match_scipy() {
    // reference: (R.from_euler("xyz", l1[:3]).inv() * R.from_euler("xyz", l2[:3])).as_quat()
    // with l1, l2 float32, computed by scipy 1.x
    let l1 = Latent([0.3, -1.2, 0.7, 0.1, 0.5, 3.0, 0.9]);
    let l2 = Latent([-1.5, 0.4, 1.1, 0.8, 0.2, 1.0, 0.05]);
    let q = layout::rotation_action(&l1, &l2);
    let want = [-0.486_779_3, 0.476_935_77, 0.548_001_05, 0.485_049_5];
    for k in 0..4 {
        assert!((q[k] - want[k]).abs() < 1e-6, "{q:?} vs {want:?}");
    }
    let c = layout::color_action(&l1, &l2);
    assert_eq!(c, [0.8f32 - 0.1, 0.05f32 - 0.9]);
    let a = layout::all_action(&l1, &l2);
    assert_eq!(&a[..4], &q);
    assert_eq!(
        &a[4..],
        &[0.8f32 - 0.1, 0.2f32 - 0.5, 1.0f32 - 3.0, 0.05f32 - 0.9]
    );
    assert_eq!(ActionKind::All.compute(&l1, &l2), a.to_vec());
    assert_eq!(ActionKind::Color.dim(), 2);

    // no sign canonicalisation: scipy gives w < 0 here
    let l1 = Latent([1.5, 1.4, -1.5, 0.0, 0.0, 0.0, 0.0]);
    let l2 = Latent([-1.5, -1.3, 1.5, 0.0, 0.0, 0.0, 0.0]);
    let q = layout::rotation_action(&l1, &l2);
    let want = [-0.018_979_646, -0.069_019_94, 0.996_248_4, -0.048_633_24];
    for k in 0..4 {
        assert!((q[k] - want[k]).abs() < 1e-6, "{q:?} vs {want:?}");
    }
    assert_eq!("colour".parse::<ActionKind>().unwrap(), ActionKind::Color);
    assert!("spin".parse::<ActionKind>().is_err());
}

#[test]
fn pairs_are_distinct_seeded_and_cover_all_views() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path());
    let ds = Dataset3die::open(dir.path(), Split::Train).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..400 {
        let [a, b] = ds.sample_views(&mut rng).unwrap();
        assert_ne!(a, b);
        assert!(a < VIEWS && b < VIEWS);
        seen.insert((a, b));
    }
    assert_eq!(seen.len(), VIEWS * (VIEWS - 1));

    let p = ds
        .sample_pairs(&[1, 0, 1], 9, ActionKind::Rotation)
        .unwrap();
    assert_eq!(
        p,
        ds.sample_pairs(&[1, 0, 1], 9, ActionKind::Rotation)
            .unwrap()
    );
    assert_eq!(p[0].object, 1);
    assert_eq!(p[1].label, 3);
    let [v1, v2] = p[0].views;
    assert_eq!(p[0].latents, [latent(1, v1), latent(1, v2)]);
    assert_eq!(
        p[0].action,
        layout::rotation_action(&latent(1, v1), &latent(1, v2)).to_vec()
    );
    assert!(
        p[0].images[0]
            .max_abs_diff(&image(VIEWS + v1), None)
            .unwrap()
            < 1e-6
    );
}

#[test]
fn cache_keeps_images_after_first_load() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path());
    let ds = Dataset3die::open(dir.path(), Split::Train)
        .unwrap()
        .cached();
    let first = ds.image(1, 2).unwrap();
    fs::remove_file(ds.image_path(1, 2).unwrap()).unwrap();
    assert_eq!(ds.image(1, 2).unwrap(), first);
    // not cached yet: the error names the file
    fs::remove_file(ds.image_path(0, 0).unwrap()).unwrap();
    let e = ds.image(0, 0).unwrap_err();
    assert!(e.to_string().contains("image_0.png"), "{e}");
}

#[test]
fn missing_split_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path());
    fs::remove_file(dir.path().join("val_labels.npy")).unwrap();
    let e = Dataset3die::open(dir.path(), Split::Val).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    assert!(e.to_string().contains("val_labels.npy"), "{e}");
    let e = Dataset3die::open(dir.path(), Split::Test).unwrap_err();
    assert!(matches!(e, DataError::Invalid { .. }), "{e}");
}

#[test]
fn corrupt_image_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path());
    let ds = Dataset3die::open(dir.path(), Split::Train).unwrap();
    let path = ds.image_path(1, 1).unwrap();
    fs::write(&path, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let e = ds.image(1, 1).unwrap_err();
    assert!(e.to_string().contains("image_1.png"), "{e}");
    assert!(ds.pair(1, 0, 1, ActionKind::Color).is_err());
}

#[test]
fn wrong_latents_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let objects = write_dataset(dir.path());
    let obj = dir.path().join(&objects[0].0).join(&objects[0].1);
    // a latent of 6 floats
    npy::write_f32(obj.join("latent_1.npy"), &[6], &[0.0; 6]).unwrap();
    let e = layout::read_latent(obj.join("latent_1.npy")).unwrap_err();
    assert!(matches!(e, DataError::Format { .. }), "{e}");
    assert!(e.to_string().contains("latent_1.npy"), "{e}");
    // finish gathers the latents and refuses it
    let w = LayoutWriter::new(dir.path()).unwrap();
    let e = w
        .finish(&[("/02691156/a1/".into(), 0)], &[], VIEWS)
        .unwrap_err();
    assert!(e.to_string().contains("latent_1.npy"), "{e}");
    // the reader without all_latents reads the per-view file and refuses it too
    fs::remove_file(dir.path().join("all_latents_train.npy")).unwrap();
    let ds = Dataset3die::open(dir.path(), Split::Train).unwrap();
    assert!(ds.latent(0, 1).is_err());
    assert!(ds.latent(0, 0).is_ok());
    // an all_latents table of the wrong shape
    npy::write_f32(
        dir.path().join("all_latents_train.npy"),
        &[3, 7],
        &[0.0; 21],
    )
    .unwrap();
    let e = Dataset3die::open(dir.path(), Split::Train).unwrap_err();
    assert!(e.to_string().contains("all_latents_train.npy"), "{e}");
}

#[test]
fn writer_refuses_bad_names_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::new(dir.path()).unwrap();
    let l = latent(0, 0);
    assert!(w.write_view("../x", "m", 0, &image(0), &l).is_err());
    assert!(w.write_view("s", "", 0, &image(0), &l).is_err());
    w.write_view("s", "m", 0, &image(0), &l).unwrap();
    let e = w
        .finish(&[("/s/m/".into(), 0), ("s/m".into(), 1)], &[], 1)
        .unwrap_err();
    assert!(e.to_string().contains("twice"), "{e}");
    let e = w.finish(&[("/s/m/".into(), 0)], &[], 2).unwrap_err();
    assert!(e.to_string().contains("image_1.png"), "{e}");
    w.finish(&[("s/m".into(), 0)], &[], 1).unwrap();
    let ds = Dataset3die::open(dir.path(), Split::Train).unwrap();
    assert_eq!(ds.objects()[0].path, "/s/m/");
    // val is empty: opening it is an error, not a panic
    assert!(Dataset3die::open(dir.path(), Split::Val).is_err());
}
