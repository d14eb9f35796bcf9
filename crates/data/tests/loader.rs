//! The batch loader: epochs, shuffling, resume from a saved cursor (2.5 epochs, then the
//! rest), augmented batches, clean shutdown, and errors and panics of the batch function
//! reaching the consumer as `Err`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use noether_augment::Shape;
use noether_augment::ops::{ColorJitter, HorizontalFlip, RandomResizedCrop};
use noether_augment::{Pipeline, stack};
use noether_data::{Batch, Cursor, DataError, ImageStore, Loader, LoaderConfig, ViewBatch};

/// 10 items of 8 x 8 RGB, item k filled with a pattern of k, label k % 3.
fn store() -> ImageStore {
    let mut s = ImageStore::new(vec!["a".into(), "b".into(), "c".into()]);
    for k in 0..10usize {
        let px: Vec<u8> = (0..192).map(|p| ((p * 7 + k * 29) % 256) as u8).collect();
        s.push(Shape::new(3, 8, 8), &px, (k % 3) as i64)
            .expect("test fixture");
    }
    s
}

fn pipelines() -> Vec<Pipeline> {
    vec![
        Pipeline::new("test")
            .then(RandomResizedCrop::new(6, [0.3, 1.0]), 1.0)
            .expect("test fixture")
            .then(HorizontalFlip, 0.5)
            .expect("test fixture")
            .then(ColorJitter::new(0.4, 0.4, 0.4, 0.1), 0.8)
            .expect("test fixture"),
    ]
}

fn config() -> LoaderConfig {
    LoaderConfig {
        epochs: Some(5),
        ..LoaderConfig::new(4)
    }
}

/// What a batch is, as comparable numbers: epoch, position, items, labels, view pixels.
fn digest(b: &Batch<ViewBatch>) -> (u64, u64, Vec<usize>, Vec<i64>, Vec<u32>) {
    let (pixels, _) = stack(&b.data.views).expect("test fixture");
    (
        b.epoch,
        b.position,
        b.indices.clone(),
        b.data.labels.clone(),
        pixels.iter().map(|v| v.to_bits()).collect(),
    )
}

#[test]
fn resumed_run_sees_the_same_batches() {
    let source = Arc::new(store());
    let full: Vec<_> = Loader::augmented(
        Arc::clone(&source),
        pipelines(),
        2,
        config(),
        Cursor::new(11),
    )
    .unwrap()
    .map(|b| digest(&b.unwrap()))
    .collect();
    // 10 items, batches of 4: 3 batches (4, 4, 2) per epoch, 5 epochs
    assert_eq!(full.len(), 15);

    // 2.5 epochs: 7 batches (the 7th is the middle one of epoch 2), then save the cursor
    let mut first = Loader::augmented(
        Arc::clone(&source),
        pipelines(),
        2,
        config(),
        Cursor::new(11),
    )
    .unwrap();
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(digest(&first.next().unwrap().unwrap()));
    }
    let saved = serde_json::to_string(&first.cursor()).unwrap();
    drop(first);
    let cursor: Cursor = serde_json::from_str(&saved).unwrap();
    assert_eq!(
        cursor,
        Cursor {
            epoch: 2,
            position: 4,
            seed: 11
        }
    );

    let resumed = Loader::augmented(source, pipelines(), 2, config(), cursor).unwrap();
    seen.extend(resumed.map(|b| digest(&b.unwrap())));
    assert_eq!(seen, full);
}

#[test]
fn epochs_are_permutations_in_fresh_orders() {
    let loader = Loader::new(10, config(), Cursor::new(3), |req| Ok(req.indices.clone())).unwrap();
    assert_eq!(loader.batches_per_epoch(), 3);
    let batches: Vec<_> = loader.map(|b| b.unwrap()).collect();
    let mut orders = Vec::new();
    for epoch in 0..5 {
        let order: Vec<usize> = batches
            .iter()
            .filter(|b| b.epoch == epoch)
            .flat_map(|b| b.data.clone())
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>(), "epoch {epoch}");
        orders.push(order);
    }
    assert_ne!(orders[0], orders[1]);
    assert_eq!(batches[1].position, 4);
    assert_ne!(batches[0].seed, batches[1].seed);

    // drop_last and no shuffle
    let cfg = LoaderConfig {
        shuffle: false,
        drop_last: true,
        epochs: Some(2),
        ..LoaderConfig::new(4)
    };
    let got: Vec<_> = Loader::new(10, cfg, Cursor::new(0), |req| Ok(req.indices.clone()))
        .unwrap()
        .map(|b| b.unwrap().data)
        .collect();
    assert_eq!(
        got,
        vec![
            vec![0, 1, 2, 3],
            vec![4, 5, 6, 7],
            vec![0, 1, 2, 3],
            vec![4, 5, 6, 7]
        ]
    );
}

#[test]
fn augmented_batches_hold_views_and_labels() {
    let source = Arc::new(store());
    let mut loader = Loader::augmented(source, pipelines(), 3, config(), Cursor::new(1)).unwrap();
    let b = loader.next().unwrap().unwrap();
    assert_eq!(b.data.views.len(), 4 * 3);
    assert_eq!(
        b.data.labels,
        b.indices
            .iter()
            .map(|&i| (i % 3) as i64)
            .collect::<Vec<_>>()
    );
    assert_eq!(b.data.views[0].image.shape(), Shape::new(3, 6, 6));
}

#[test]
fn dropping_stops_the_thread() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let cfg = LoaderConfig {
        epochs: None,
        prefetch: 1,
        ..LoaderConfig::new(2)
    };
    let mut loader = Loader::new(10, cfg, Cursor::new(0), move |req| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(req.indices.len())
    })
    .unwrap();
    assert_eq!(loader.next().unwrap().unwrap().data, 2);
    drop(loader); // joins the thread: returns only once it has stopped
    let after = calls.load(Ordering::SeqCst);
    assert!(after <= 4, "the thread ran ahead by {after} batches");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(calls.load(Ordering::SeqCst), after);
}

#[test]
fn errors_and_panics_reach_the_consumer() {
    let mut loader = Loader::new(10, config(), Cursor::new(0), |req| {
        if req.position >= 8 {
            Err(DataError::invalid("test", "batch three fails"))
        } else {
            Ok(())
        }
    })
    .unwrap();
    assert!(loader.next().unwrap().is_ok());
    assert!(loader.next().unwrap().is_ok());
    let e = loader.next().unwrap().unwrap_err();
    assert!(e.to_string().contains("batch three fails"), "{e}");
    assert!(loader.next().is_none());
    assert_eq!(
        loader.cursor(),
        Cursor {
            epoch: 0,
            position: 8,
            seed: 0
        }
    );

    let mut loader = Loader::new(10, config(), Cursor::new(0), |req| {
        if req.position == 4 {
            panic!("boom at {}", req.position);
        }
        Ok(())
    })
    .unwrap();
    assert!(loader.next().unwrap().is_ok());
    let e = loader.next().unwrap().unwrap_err();
    assert!(e.to_string().contains("boom at 4"), "{e}");
    assert!(loader.next().is_none());

    // an image the source cannot give: the error of the source
    let source = Arc::new(store());
    let cfg = LoaderConfig {
        epochs: Some(1),
        ..LoaderConfig::new(4)
    };
    let bad = Loader::new(12, cfg, Cursor::new(0), move |req| {
        req.indices
            .iter()
            .map(|&i| source.image(i))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    let results: Vec<_> = bad.collect();
    assert!(results.iter().any(|r| r.is_err()));
}

#[test]
fn bad_configs_are_errors() {
    let ok = |_: &noether_data::BatchRequest| Ok(());
    assert!(Loader::new(0, config(), Cursor::new(0), ok).is_err());
    assert!(Loader::new(10, LoaderConfig::new(0), Cursor::new(0), ok).is_err());
    let cfg = LoaderConfig {
        drop_last: true,
        ..LoaderConfig::new(11)
    };
    assert!(Loader::new(10, cfg, Cursor::new(0), ok).is_err());
    // a cursor past the last epoch yields nothing, without error
    let done = Cursor {
        epoch: 5,
        position: 0,
        seed: 0,
    };
    assert_eq!(Loader::new(10, config(), done, ok).unwrap().count(), 0);
}

#[test]
fn view_pairs_of_a_3die_split_resume_exactly() {
    use noether_augment::Image;
    use noether_data::{ActionKind, Dataset3die, LayoutWriter, Split, layout};

    let dir = tempfile::tempdir().unwrap();
    let w = LayoutWriter::new(dir.path()).unwrap();
    let mut train = Vec::new();
    for o in 0..5usize {
        let model = format!("m{o}");
        for v in 0..3usize {
            let img = Image::from_fn(3, 4, 4, |c, y, x| ((c + y + x + o + v) % 7) as f32 / 6.0);
            let t = (o * 3 + v) as f32 * 0.1;
            w.write_view(
                "s",
                &model,
                v,
                &img,
                &noether_data::Latent([t, -t, 0.5 * t, t, 0.1, 0.2, 1.0 - t]),
            )
            .unwrap();
        }
        train.push((layout::object_path("s", &model), (o % 2) as i64));
    }
    w.finish(&train, &[], 3).unwrap();
    let ds = Arc::new(
        Dataset3die::open(dir.path(), Split::Train)
            .unwrap()
            .cached(),
    );

    let run = |start: Cursor, take: usize| {
        let ds = Arc::clone(&ds);
        let cfg = LoaderConfig {
            epochs: Some(3),
            ..LoaderConfig::new(2)
        };
        let mut loader = Loader::new(ds.len(), cfg, start, move |req| {
            ds.sample_pairs(&req.indices, req.seed, ActionKind::All)
        })
        .unwrap();
        let got: Vec<_> = loader
            .by_ref()
            .take(take)
            .map(|b| {
                let b = b.unwrap();
                b.data
                    .iter()
                    .map(|p| (p.object, p.views, p.action.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        (got, loader.cursor())
    };
    let (full, _) = run(Cursor::new(4), usize::MAX);
    assert_eq!(full.len(), 9); // 3 batches (2, 2, 1) per epoch
    assert!(
        full.iter()
            .flatten()
            .all(|(_, [a, b], act)| a != b && act.len() == 8)
    );
    let (head, cursor) = run(Cursor::new(4), 4);
    let (tail, _) = run(cursor, usize::MAX);
    assert_eq!([head, tail].concat(), full);
}
