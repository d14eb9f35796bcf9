//! Image folders: sorted classes, recursive sorted files, grey and RGB, mixed sizes, and
//! corrupt or empty folders as `Err`s naming the path.

use std::fs;
use std::path::Path;

use noether_augment::Image;
use noether_data::folder::{self, FolderOptions};
use noether_data::{DataError, ImageSource};

fn rgb(h: usize, w: usize, k: usize) -> Image {
    Image::from_fn(3, h, w, |c, y, x| {
        ((c * 40 + y * 9 + x * 5 + k * 17) % 256) as f32 / 255.0
    })
}

fn write_folder(root: &Path) {
    // classes "zebra", "Ant", "cat" sort (byte order) to "Ant", "cat", "zebra"
    for class in ["zebra", "Ant", "cat"] {
        fs::create_dir_all(root.join(class)).expect("test fixture");
    }
    rgb(4, 6, 0)
        .save(root.join("zebra/b.png"))
        .expect("test fixture");
    rgb(4, 6, 1)
        .save(root.join("zebra/a.png"))
        .expect("test fixture");
    rgb(5, 3, 2)
        .save(root.join("Ant/x.PNG"))
        .expect("test fixture");
    fs::create_dir_all(root.join("cat/sub")).expect("test fixture");
    rgb(2, 2, 3)
        .save(root.join("cat/sub/deep.png"))
        .expect("test fixture");
    // a grey PNG
    image::GrayImage::from_fn(3, 3, |x, y| image::Luma([(y * 3 + x) as u8 * 30]))
        .save(root.join("cat/grey.png"))
        .expect("test fixture");
    // ignored: other extensions, hidden files, files at the top level
    fs::write(root.join("cat/notes.txt"), b"not an image").expect("test fixture");
    fs::write(root.join("cat/.hidden.png"), b"junk").expect("test fixture");
    fs::write(root.join("README"), b"top level file").expect("test fixture");
}

#[test]
fn classes_sorted_files_sorted_shapes_kept() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let store = folder::load(dir.path(), &FolderOptions::default()).unwrap();
    assert_eq!(store.classes(), &["Ant", "cat", "zebra"]);
    // Ant/x.PNG; cat/grey.png, cat/sub/deep.png; zebra/a.png, zebra/b.png
    assert_eq!(store.labels(), &[0, 1, 1, 2, 2]);
    assert_eq!(store.len(), 5);
    assert!(store.uniform_shape().is_none());
    assert!(
        store
            .image(0)
            .unwrap()
            .max_abs_diff(&rgb(5, 3, 2), None)
            .unwrap()
            < 1e-6
    );
    assert!(
        store
            .image(2)
            .unwrap()
            .max_abs_diff(&rgb(2, 2, 3), None)
            .unwrap()
            < 1e-6
    );
    assert!(
        store
            .image(3)
            .unwrap()
            .max_abs_diff(&rgb(4, 6, 1), None)
            .unwrap()
            < 1e-6
    );
    // grey made RGB by default
    let g = store.image(1).unwrap();
    assert_eq!(g.channels(), 3);
    assert_eq!(g.get(2, 1, 2), 150.0 / 255.0);
    // the trait view the loader uses
    assert_eq!(ImageSource::len(&store), 5);
    assert_eq!(ImageSource::label(&store, 4), Some(2));

    let keep_grey = FolderOptions {
        rgb: false,
        ..FolderOptions::default()
    };
    let store = folder::load(dir.path(), &keep_grey).unwrap();
    assert_eq!(store.shape(1).unwrap().channels, 1);
    assert_eq!(store.pixels(1).unwrap()[5], 150);

    let scan = folder::scan(dir.path(), &FolderOptions::default()).unwrap();
    assert_eq!(scan.classes.len(), 3);
    assert!(scan.files[2].0.ends_with("cat/sub/deep.png"));
}

#[test]
fn corrupt_image_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    fs::write(
        dir.path().join("zebra/c.jpg"),
        b"\xff\xd8\xff\xe0 truncated jpeg",
    )
    .unwrap();
    let e = folder::load(dir.path(), &FolderOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::Format { .. }), "{e}");
    assert!(e.to_string().contains("zebra/c.jpg"), "{e}");
}

#[test]
fn empty_class_or_root_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = folder::load(dir.path(), &FolderOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no class subfolder"), "{e}");
    fs::create_dir(dir.path().join("empty")).unwrap();
    let e = folder::load(dir.path(), &FolderOptions::default()).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let e = folder::load(dir.path().join("missing"), &FolderOptions::default()).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
}
