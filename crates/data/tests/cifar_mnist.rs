//! CIFAR-10/100 binary batches and MNIST IDX files (raw and gzipped), written by the tests,
//! read back; truncated and mislabelled files are `Err`s naming the file and offset.

use std::fs;
use std::io::Write;
use std::path::Path;

use noether_data::cifar::{self, Cifar};
use noether_data::{DataError, Split, mnist};

/// A CIFAR record: label byte(s) then 3072 pixel bytes that encode (record, channel, pixel).
fn cifar_record(labels: &[u8], k: usize) -> Vec<u8> {
    let mut r = labels.to_vec();
    for c in 0..3 {
        for p in 0..1024 {
            r.push(((k * 7 + c * 50 + p) % 256) as u8);
        }
    }
    r
}

fn write_cifar10(dir: &Path) {
    // batch b holds records with labels b, b+1 (mod 10)
    for b in 1..=5 {
        let mut bytes = Vec::new();
        for j in 0..2 {
            bytes.extend(cifar_record(&[((b + j) % 10) as u8], b * 2 + j));
        }
        fs::write(dir.join(format!("data_batch_{b}.bin")), bytes).expect("test fixture");
    }
    fs::write(dir.join("test_batch.bin"), cifar_record(&[9], 99)).expect("test fixture");
}

#[test]
fn cifar10_train_and_test() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("cifar-10-batches-bin");
    fs::create_dir(&sub).unwrap();
    write_cifar10(&sub);

    // the parent folder is accepted too
    let train = cifar::load_cifar10(dir.path(), Split::Train).unwrap();
    assert_eq!(train.len(), 10);
    assert_eq!(train.labels(), &[1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    assert_eq!(train.classes()[3], "cat");
    assert_eq!(train.num_classes(), 10);
    assert!(train.coarse_labels().is_none());
    let s = train.uniform_shape().unwrap();
    assert_eq!((s.channels, s.height, s.width), (3, 32, 32));
    // record 3 (batch 2, second record, k = 5): channel 1, row 2, column 3 -> p = 67
    let img = train.image(3).unwrap();
    assert_eq!(img.get(1, 2, 3), (5 * 7 + 50 + 67) as f32 / 255.0);
    assert_eq!(
        train.pixels(3).expect("test fixture"),
        &cifar_record(&[0], 5)[1..]
    );

    let test = cifar::load(&sub, Cifar::Ten, Split::Test).unwrap();
    assert_eq!((test.len(), test.label(0)), (1, Some(9)));
    assert!(cifar::load(&sub, Cifar::Ten, Split::Val).is_err());
}

#[test]
fn cifar10_names_file_is_used() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let names: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    fs::write(
        dir.path().join("batches.meta.txt"),
        names.join("\n") + "\n\n",
    )
    .unwrap();
    let test = cifar::load_cifar10(dir.path(), Split::Test).unwrap();
    assert_eq!(test.classes(), names.as_slice());
}

#[test]
fn cifar100_fine_and_coarse_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for (k, (coarse, fine)) in [(19u8, 99u8), (0, 5), (7, 42)].into_iter().enumerate() {
        bytes.extend(cifar_record(&[coarse, fine], k));
    }
    fs::write(dir.path().join("train.bin"), &bytes).unwrap();
    fs::write(dir.path().join("test.bin"), cifar_record(&[1, 2], 3)).unwrap();
    let train = cifar::load_cifar100(dir.path(), Split::Train).unwrap();
    assert_eq!(train.labels(), &[99, 5, 42]);
    assert_eq!(train.coarse_labels().unwrap(), &[19, 0, 7]);
    assert_eq!(train.num_classes(), 100);
    assert_eq!(train.pixels(2).unwrap(), &cifar_record(&[], 2)[..]);
    let test = cifar::load_cifar100(dir.path(), Split::Test).unwrap();
    assert_eq!(test.coarse_labels().unwrap(), &[1]);
}

#[test]
fn truncated_cifar_batch_names_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let path = dir.path().join("data_batch_3.bin");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..3073 + 1000]).unwrap();
    let e = cifar::load_cifar10(dir.path(), Split::Train).unwrap_err();
    match &e {
        DataError::Format {
            path: p, offset, ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(*offset, Some(3073));
        }
        other => panic!("{other}"),
    }
    assert!(
        e.to_string().contains("data_batch_3.bin at byte 3073"),
        "{e}"
    );

    // a CIFAR-10 batch read as CIFAR-100 is caught by the record length
    let e = cifar::read_batch(dir.path().join("data_batch_1.bin"), Cifar::Hundred).unwrap_err();
    assert!(matches!(e, DataError::Format { .. }), "{e}");
    // a missing batch names the file
    fs::write(&path, &bytes).unwrap();
    fs::remove_file(dir.path().join("data_batch_5.bin")).unwrap();
    let e = cifar::load_cifar10(dir.path(), Split::Train).unwrap_err();
    assert!(e.to_string().contains("data_batch_5.bin"), "{e}");
}

#[test]
fn cifar_label_out_of_range_is_an_error() {
    let mut bytes = cifar_record(&[3], 0);
    bytes.extend(cifar_record(&[10], 1));
    let e = cifar::parse_batch(&bytes, Path::new("b.bin"), Cifar::Ten).unwrap_err();
    match e {
        DataError::Format { offset, .. } => assert_eq!(offset, Some(3073)),
        other => panic!("{other}"),
    }
    let e = cifar::parse_batch(
        &cifar_record(&[20, 1], 0),
        Path::new("c.bin"),
        Cifar::Hundred,
    );
    assert!(e.is_err());
    assert!(cifar::parse_batch(&[], Path::new("e.bin"), Cifar::Ten).is_err());
}

fn idx_images(n: usize, h: usize, w: usize) -> Vec<u8> {
    let mut b = 2051u32.to_be_bytes().to_vec();
    for d in [n, h, w] {
        b.extend((d as u32).to_be_bytes());
    }
    b.extend((0..n * h * w).map(|k| (k * 13 % 256) as u8));
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = 2049u32.to_be_bytes().to_vec();
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

#[test]
fn mnist_raw_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    // train: raw, in raw/; test: gzipped, dotted names (Kaggle style), in the folder itself
    let raw = dir.path().join("raw");
    fs::create_dir(&raw).unwrap();
    fs::write(raw.join("train-images-idx3-ubyte"), idx_images(3, 4, 5)).unwrap();
    fs::write(raw.join("train-labels-idx1-ubyte"), idx_labels(&[7, 0, 9])).unwrap();
    fs::write(
        dir.path().join("t10k-images.idx3-ubyte.gz"),
        gz(&idx_images(2, 4, 5)),
    )
    .unwrap();
    fs::write(
        dir.path().join("t10k-labels.idx1-ubyte.gz"),
        gz(&idx_labels(&[1, 2])),
    )
    .unwrap();

    let train = mnist::load(dir.path(), Split::Train).unwrap();
    assert_eq!(train.len(), 3);
    assert_eq!(train.labels(), &[7, 0, 9]);
    assert_eq!(train.num_classes(), 10);
    let img = train.image(1).unwrap();
    assert_eq!((img.channels(), img.height(), img.width()), (1, 4, 5));
    // image 1, row 2, column 3: byte 20 + 13 = 33 -> 33 * 13 % 256
    assert_eq!(img.get(0, 2, 3), ((33 * 13) % 256) as f32 / 255.0);

    let test = mnist::load(dir.path(), Split::Test).unwrap();
    assert_eq!(test.labels(), &[1, 2]);
    assert_eq!(test.pixels(1).unwrap(), &idx_images(2, 4, 5)[16 + 20..]);
    assert!(mnist::load(dir.path(), Split::Val).is_err());
}

#[test]
fn idx_wrong_magic_truncation_and_count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    // labels file where the images file should be: wrong magic
    fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        idx_labels(&[1, 2]),
    )
    .unwrap();
    fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx_labels(&[1, 2]),
    )
    .unwrap();
    let e = mnist::load(dir.path(), Split::Train).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::Format {
                offset: Some(0),
                ..
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("train-images-idx3-ubyte") && msg.contains("2049") && msg.contains("2051"),
        "{msg}"
    );

    // truncated images (gzipped: the offset is in the decompressed bytes)
    let mut imgs = idx_images(2, 4, 5);
    imgs.truncate(imgs.len() - 3);
    fs::write(dir.path().join("train-images-idx3-ubyte"), gz(&imgs)).unwrap();
    let e = mnist::load(dir.path(), Split::Train).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");

    // 2 images, 3 labels
    fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        idx_images(2, 4, 5),
    )
    .unwrap();
    fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx_labels(&[1, 2, 3]),
    )
    .unwrap();
    let e = mnist::load(dir.path(), Split::Train).unwrap_err();
    assert!(e.to_string().contains("3 labels for 2 images"), "{e}");

    // a broken gzip stream
    let mut bad = gz(&idx_images(2, 4, 5));
    let n = bad.len();
    bad.truncate(n / 2);
    fs::write(dir.path().join("train-images-idx3-ubyte"), bad).unwrap();
    let e = mnist::load(dir.path(), Split::Train).unwrap_err();
    assert!(e.to_string().contains("gzip"), "{e}");

    // missing files name what was looked for
    let e = mnist::load(dir.path(), Split::Test).unwrap_err();
    assert!(e.to_string().contains("t10k-images-idx3-ubyte"), "{e}");
}
