//! mini3die written in the 3DIEBench layout reads back through the 3DIEBench loader, and the
//! cache renders a configuration once.

use std::sync::atomic::{AtomicUsize, Ordering};

use noether_data::export::{cache_dir, cached_mini3die, write_mini3die};
use noether_data::render::{Mini3die, Mini3dieConfig};
use noether_data::{ActionKind, Dataset3die, Split};

fn small() -> Mini3dieConfig {
    Mini3dieConfig {
        classes: 3,
        objects_per_class: 3,
        views: 4,
        size: 16,
        seed: 5,
        val_fraction: 0.34,
    }
}

#[test]
fn the_written_layout_reads_back_with_the_same_labels_latents_and_pixels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = Mini3die::new(small()).expect("config");
    let count = AtomicUsize::new(0);
    write_mini3die(&data, dir.path(), &|| {
        count.fetch_add(1, Ordering::Relaxed);
    })
    .expect("write");
    assert_eq!(count.load(Ordering::Relaxed), 36);

    let train = Dataset3die::open(dir.path(), Split::Train).expect("train");
    let val = Dataset3die::open(dir.path(), Split::Val).expect("val");
    assert_eq!(train.len() + val.len(), 9);
    assert_eq!(val.len(), 3, "one validation object per class");
    assert_eq!(train.views(), 4);
    for ds in [&train, &val] {
        for (i, obj) in ds.objects().iter().enumerate() {
            let o = data
                .objects()
                .iter()
                .position(|s| s.model_id == obj.model_id)
                .expect("object written");
            assert_eq!(obj.label, data.objects()[o].class as i64);
            for v in 0..4 {
                assert_eq!(
                    ds.latent(i, v).expect("latent"),
                    data.latent(o, v).expect("latent")
                );
                let want = data.render(o, v).expect("render");
                let got = ds.image(i, v).expect("image");
                // PNG stores 8 bits
                let err = got.max_abs_diff(&want, None).expect("same shape");
                assert!(err <= 0.5 / 255.0 + 1e-6, "{err}");
            }
        }
    }
    let pair = train.pair(0, 0, 1, ActionKind::Rotation).expect("pair");
    assert_eq!(pair.action.len(), 4);
}

#[test]
fn the_cache_renders_once_and_rejects_a_foreign_marker() {
    let root = tempfile::tempdir().expect("temp dir");
    let config = small();
    let count = AtomicUsize::new(0);
    let tick = || {
        count.fetch_add(1, Ordering::Relaxed);
    };
    let dir = cached_mini3die(&config, root.path(), &tick).expect("first");
    assert_eq!(count.load(Ordering::Relaxed), 36);
    let again = cached_mini3die(&config, root.path(), &tick).expect("second");
    assert_eq!(dir, again);
    assert_eq!(
        count.load(Ordering::Relaxed),
        36,
        "a complete cache is not re-rendered"
    );

    let other = Mini3dieConfig {
        seed: 6,
        ..config.clone()
    };
    assert_ne!(cache_dir(&other, root.path()), dir);

    std::fs::write(dir.join("mini3die.json"), "{\"render_version\": 0}").expect("write");
    let err = cached_mini3die(&config, root.path(), &tick).expect_err("foreign marker");
    assert!(err.to_string().contains("mini3die.json"), "{err}");
    let bad = Mini3dieConfig { size: 4, ..config };
    assert!(cached_mini3die(&bad, root.path(), &tick).is_err());
}
