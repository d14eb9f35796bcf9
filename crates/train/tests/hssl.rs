//! Homomorphic SSL and its augmentation-SSL counterpart: the identity the method rests on (with
//! an exact homomorphism, C4 rotations or cyclic translations, the two give the same loss for
//! the same group elements; without structure they do not), the positives' group-distance
//! distribution, gradients for every parameter in both modes, and the one-view batch source.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use common::metrics;
use noether_data::Split;
use noether_data::render::Mini3dieConfig;
use noether_models::{
    FiberBackbone, GCnn, GCnnConfig, GroupAction, ParamStore, RotationAction, Sesn, SesnConfig,
    Structure, TranslationCnn, TranslationCnnConfig,
};
use noether_train::data::{self, OneViewSource, SourceConfig};
use noether_train::methods::hssl::sample_elements;
use noether_train::methods::{Hssl, HsslConfig, HsslMode, Images};
use noether_train::{
    BatchSource, Method, OptimizerConfig, Result, StepContext, TrainConfig, TrainError, Trainer,
};

fn ctx(step: u64) -> StepContext {
    StepContext {
        step,
        total_steps: 10,
        lr: 0.1,
        seed: 5,
    }
}

fn hssl_config(mode: HsslMode) -> HsslConfig {
    HsslConfig {
        mode,
        proj_hidden: 16,
        proj_out: 8,
        ..HsslConfig::default()
    }
}

fn method(mode: HsslMode, structure: Structure, n: usize, dtype: DType) -> Result<Hssl<GCnn>> {
    let store = ParamStore::seeded(2);
    let cfg = GCnnConfig {
        structure,
        ..GCnnConfig::new(3, vec![4, 6, 8], n)
    };
    let backbone = GCnn::new(&cfg, store.var_builder(dtype, &Device::Cpu).pp("backbone"))?;
    Hssl::new(store, backbone, &hssl_config(mode), dtype, &Device::Cpu)
}

/// H-SSL / A-SSL over a translation CNN with `k x k` bundles (16 px: an 8x8 grid, stride 2).
fn shift_method(
    mode: HsslMode,
    structure: Structure,
    bundle: usize,
    dtype: DType,
) -> Result<Hssl<TranslationCnn>> {
    let store = ParamStore::seeded(2);
    let cfg = TranslationCnnConfig {
        structure,
        bundle,
        ..TranslationCnnConfig::new(3, vec![4, 6])
    };
    let vb = store.var_builder(dtype, &Device::Cpu).pp("backbone");
    let backbone = TranslationCnn::new(&cfg, vb)?;
    Hssl::new(store, backbone, &hssl_config(mode), dtype, &Device::Cpu)
}

fn rotations(n: usize) -> GroupAction {
    GroupAction::Rotation(RotationAction::new(n, 4, DType::F32, &Device::Cpu).expect("valid"))
}

fn images(b: usize, size: usize, dtype: DType) -> Result<Images> {
    // a fixed, irregular batch
    let idx = Tensor::arange(0f64, (b * 3 * size * size) as f64, &Device::Cpu)?;
    let x = ((&idx * 0.37)?.sin()? + (idx * 1.91)?.cos()?)?.reshape((b, 3, size, size))?;
    Ok(Images {
        x: x.to_dtype(dtype)?,
    })
}

fn loss_of<B: FiberBackbone>(m: &mut Hssl<B>, batch: &Images, step: u64) -> Result<f64> {
    let l = m.losses(batch, &ctx(step))?.total;
    Ok(l.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

#[test]
fn assl_and_hssl_losses_agree_with_an_exact_homomorphism_only() -> Result<()> {
    // 16 px: maps of 16, 8, 4, all even, so C4 is exact
    let batch = images(6, 16, DType::F64)?;
    for step in 0..3 {
        let mut h = method(HsslMode::Homomorphic, Structure::Equivariant, 4, DType::F64)?;
        let mut a = method(HsslMode::Augmented, Structure::Equivariant, 4, DType::F64)?;
        let (lh, la) = (
            loss_of(&mut h, &batch, step)?,
            loss_of(&mut a, &batch, step)?,
        );
        assert!(
            (lh - la).abs() < 1e-9 * lh.abs(),
            "step {step}: H-SSL {lh} vs A-SSL {la}"
        );
    }
    // the same elements, no homomorphism: the losses differ
    for structure in [Structure::Shuffled, Structure::Plain] {
        let mut h = method(HsslMode::Homomorphic, structure, 4, DType::F64)?;
        let mut a = method(HsslMode::Augmented, structure, 4, DType::F64)?;
        let (lh, la) = (loss_of(&mut h, &batch, 0)?, loss_of(&mut a, &batch, 0)?);
        assert!((lh - la).abs() > 1e-4, "{structure:?}: {lh} vs {la}");
    }
    // C8 with interpolated filters: close, not equal
    let mut h = method(HsslMode::Homomorphic, Structure::Equivariant, 8, DType::F64)?;
    let mut a = method(HsslMode::Augmented, Structure::Equivariant, 8, DType::F64)?;
    let (lh, la) = (loss_of(&mut h, &batch, 0)?, loss_of(&mut a, &batch, 0)?);
    assert!(lh.is_finite() && la.is_finite() && (lh - la).abs() > 1e-9);
    Ok(())
}

#[test]
fn translation_bundles_are_crops_exactly() -> Result<()> {
    // circular padding, shifts by whole cells: exact for single fibers and bundles
    let batch = images(6, 16, DType::F64)?;
    for bundle in [1, 3] {
        for step in 0..2 {
            let mut h = shift_method(
                HsslMode::Homomorphic,
                Structure::Equivariant,
                bundle,
                DType::F64,
            )?;
            let mut a = shift_method(
                HsslMode::Augmented,
                Structure::Equivariant,
                bundle,
                DType::F64,
            )?;
            let (lh, la) = (
                loss_of(&mut h, &batch, step)?,
                loss_of(&mut a, &batch, step)?,
            );
            assert!(
                (lh - la).abs() < 1e-9 * lh.abs(),
                "bundle {bundle}, step {step}: H-SSL {lh} vs A-SSL {la}"
            );
        }
    }
    let mut h = shift_method(HsslMode::Homomorphic, Structure::Shuffled, 1, DType::F64)?;
    let mut a = shift_method(HsslMode::Augmented, Structure::Shuffled, 1, DType::F64)?;
    let (lh, la) = (loss_of(&mut h, &batch, 0)?, loss_of(&mut a, &batch, 0)?);
    assert!((lh - la).abs() > 1e-4, "shuffled: {lh} vs {la}");
    // the bundle size changes the fibers
    let mut k2 = shift_method(HsslMode::Homomorphic, Structure::Equivariant, 2, DType::F64)?;
    let mut k1 = shift_method(HsslMode::Homomorphic, Structure::Equivariant, 1, DType::F64)?;
    assert!((loss_of(&mut k2, &batch, 0)? - loss_of(&mut k1, &batch, 0)?).abs() > 1e-6);
    // the equivariance error is reported, ~0
    let m = shift_method(HsslMode::Homomorphic, Structure::Equivariant, 2, DType::F64)?;
    let extra = noether_train::Embed::extra_metrics(&m, &batch.x)?;
    assert_eq!(extra.len(), 1);
    assert!(extra[0].1 < 1e-10, "{extra:?}");
    Ok(())
}

#[test]
fn scale_fibers_approximate_shrunk_views() -> Result<()> {
    // SESN: 3 scales; A-SSL's view of fiber t is the image shrunk by 1.41^t
    let store = |mode| -> Result<Hssl<Sesn>> {
        let store = ParamStore::seeded(4);
        let vb = store.var_builder(DType::F64, &Device::Cpu).pp("backbone");
        let net = Sesn::new(&SesnConfig::new(3, vec![4, 6]), vb)?;
        Hssl::new(store, net, &hssl_config(mode), DType::F64, &Device::Cpu)
    };
    let batch = images(6, 16, DType::F64)?;
    let (mut h, mut a) = (store(HsslMode::Homomorphic)?, store(HsslMode::Augmented)?);
    let (lh, la) = (loss_of(&mut h, &batch, 0)?, loss_of(&mut a, &batch, 0)?);
    assert!(
        lh.is_finite() && la.is_finite() && (lh - la).abs() > 1e-9,
        "{lh} vs {la}"
    );
    let action = h.backbone().action(16, 16, DType::F64, &Device::Cpu)?;
    assert_eq!((action.order(), action.max_distance()), (3, 2));
    assert_eq!(action.view_element(2), 2);
    let extra = noether_train::Embed::extra_metrics(&h, &batch.x)?;
    assert_eq!(extra[0].0, "fiber_equivariance_error");
    assert!(extra[0].1.is_finite() && extra[0].1 > 0.0, "{extra:?}");
    // pairs: distinct by default, at |a - b| = d when asked
    let (x, y) = sample_elements(&action, &[], 600, &ctx(0));
    assert!(x.iter().zip(&y).all(|(p, q)| p != q && *p < 3 && *q < 3));
    let (x, y) = sample_elements(&action, &[2], 200, &ctx(1));
    let pairs: BTreeSet<(usize, usize)> = x.into_iter().zip(y).collect();
    assert_eq!(pairs, BTreeSet::from([(0, 2), (2, 0)]));
    Ok(())
}

#[test]
fn translation_positives_follow_the_chebyshev_distances() -> Result<()> {
    let net = TranslationCnn::new(
        &TranslationCnnConfig::new(1, vec![2, 2, 2]),
        ParamStore::seeded(0).var_builder(DType::F32, &Device::Cpu),
    )?;
    let action = net.action(32, 32, DType::F32, &Device::Cpu)?; // 8x8 grid, stride 4
    assert_eq!((action.order(), action.max_distance()), (64, 4));
    let torus = |a: usize, b: usize| action.distance(action.compose(action.inverse(a), b));
    let (a, b) = sample_elements(&action, &[], 2000, &ctx(0));
    assert!(a.iter().zip(&b).all(|(x, y)| x != y));
    let (a, b) = sample_elements(&action, &[1, 3], 2000, &ctx(1));
    let ds: BTreeSet<usize> = a.iter().zip(&b).map(|(&x, &y)| torus(x, y)).collect();
    assert_eq!(ds, BTreeSet::from([1, 3]));
    // every one of the 8 neighbours at distance 1 is drawn
    let (a, b) = sample_elements(&action, &[1], 2000, &ctx(2));
    let steps: BTreeSet<usize> = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| action.compose(action.inverse(x), y))
        .collect();
    assert_eq!(steps.len(), 8, "{steps:?}");
    // an input that is not a whole number of cells, a bundle too large: errors naming them
    let e = net
        .action(30, 32, DType::F32, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("multiples of 4"), "{e}");
    let big = TranslationCnn::new(
        &TranslationCnnConfig {
            bundle: 9,
            ..TranslationCnnConfig::new(1, vec![2, 2, 2])
        },
        ParamStore::seeded(0).var_builder(DType::F32, &Device::Cpu),
    )?;
    let e = big
        .action(32, 32, DType::F32, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bundle"), "{e}");
    Ok(())
}

#[test]
fn positives_follow_the_distance_distribution() {
    let cyclic = |a: usize, b: usize, n: usize| {
        let d = (a + n - b) % n;
        d.min(n - d)
    };
    // default: b uniform among the elements other than a
    let (a, b) = sample_elements(&rotations(4), &[], 4000, &ctx(0));
    assert!(a.iter().zip(&b).all(|(x, y)| x != y));
    let mut counts = [0usize; 4];
    for (x, y) in a.iter().zip(&b) {
        counts[(y + 4 - x) % 4] += 1;
    }
    assert_eq!(counts[0], 0);
    for &c in &counts[1..] {
        assert!((1150..1520).contains(&c), "{counts:?}");
    }
    // fixed distances, both signs
    let (a, b) = sample_elements(&rotations(8), &[2], 1000, &ctx(1));
    assert!(a.iter().zip(&b).all(|(&x, &y)| cyclic(x, y, 8) == 2));
    let offsets: BTreeSet<usize> = a.iter().zip(&b).map(|(x, y)| (y + 8 - x) % 8).collect();
    assert_eq!(offsets, BTreeSet::from([2, 6]));
    let (a, b) = sample_elements(&rotations(8), &[1, 4], 1000, &ctx(1));
    let ds: BTreeSet<usize> = a.iter().zip(&b).map(|(&x, &y)| cyclic(x, y, 8)).collect();
    assert_eq!(ds, BTreeSet::from([1, 4]));
    // a function of (seed, step)
    assert_eq!(
        sample_elements(&rotations(8), &[], 50, &ctx(3)),
        sample_elements(&rotations(8), &[], 50, &ctx(3))
    );
    assert_ne!(
        sample_elements(&rotations(8), &[], 50, &ctx(3)),
        sample_elements(&rotations(8), &[], 50, &ctx(4))
    );
}

struct Fixed(Images);

impl BatchSource for Fixed {
    type Batch = Images;
    fn next_batch(&mut self) -> Result<Images> {
        Ok(self.0.clone())
    }
    fn cursor(&self) -> serde_json::Value {
        0.into()
    }
    fn restore(&mut self, _: &serde_json::Value) -> Result<()> {
        Ok(())
    }
    fn batch_items(&self) -> usize {
        8
    }
}

#[test]
fn both_modes_train_every_parameter() -> Result<()> {
    let batch = images(8, 12, DType::F32)?;
    for mode in [HsslMode::Homomorphic, HsslMode::Augmented] {
        let mut m = method(mode, Structure::Equivariant, 4, DType::F32)?;
        // every trainable parameter gets a finite gradient; only the projector's hidden
        // biases (right before a train-mode batch norm) may get exactly zero
        let grads = m.losses(&batch, &ctx(0))?.total.backward()?;
        let store = m.stores()[0].store.clone();
        for p in store.trainable()? {
            let g = grads
                .get(p.var.as_tensor())
                .unwrap_or_else(|| panic!("{mode:?}: {} gets no gradient", p.name));
            let s = g.abs()?.sum_all()?.to_scalar::<f32>()?;
            assert!(s.is_finite(), "{}: {s}", p.name);
            let before_bn = p.name.starts_with("projector.") && p.name.ends_with(".bias");
            if !before_bn {
                assert!(s > 1e-8, "{mode:?}: {} gets a zero gradient", p.name);
            }
        }
        let dir = tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))?;
        let optimizer = OptimizerConfig::Adam {
            lr: 1e-2,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
        };
        Trainer::new(TrainConfig::new(25, 0, optimizer), dir.path())?
            .with_progress(false)
            .run(&mut m, &mut Fixed(batch.clone()), false)?;
        let losses: Vec<f64> = metrics(dir.path())
            .iter()
            .map(|l| l["loss/nt_xent"].as_f64().expect("logged"))
            .collect();
        let (first, last) = (losses[0], losses[losses.len() - 1]);
        assert!(last < 0.8 * first, "{mode:?}: {first} -> {last}");
        assert_eq!(
            m.name(),
            if mode == HsslMode::Homomorphic {
                "hssl"
            } else {
                "assl"
            }
        );
    }
    Ok(())
}

#[test]
fn bad_settings_name_the_field() -> Result<()> {
    let store = ParamStore::seeded(0);
    let backbone = GCnn::new(
        &GCnnConfig::new(3, vec![2], 4),
        store.var_builder(DType::F32, &Device::Cpu).pp("backbone"),
    )?;
    let config = HsslConfig {
        distances: vec![3],
        ..HsslConfig::default()
    };
    // checked against the group when the first batch shows the image size
    let mut m = Hssl::new(store, backbone, &config, DType::F32, &Device::Cpu)?;
    let e = m
        .losses(&images(2, 8, DType::F32)?, &ctx(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("hssl.distances") && e.contains("C4"), "{e}");
    let mut m = method(HsslMode::Homomorphic, Structure::Equivariant, 4, DType::F32)?;
    let flat = Images {
        x: Tensor::zeros((2, 3, 8), DType::F32, &Device::Cpu)?,
    };
    assert!(m.losses(&flat, &ctx(0)).is_err());
    Ok(())
}

#[test]
fn one_view_source_gives_unaugmented_images_and_resumes() -> Result<()> {
    let cache = tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))?;
    let config = Mini3dieConfig {
        classes: 2,
        objects_per_class: 3,
        views: 3,
        size: 16,
        seed: 1,
        val_fraction: 0.34,
    };
    let ds = Arc::new(data::mini3die_default(&config, cache.path(), Split::Train)?);
    let sc = SourceConfig {
        seed: 3,
        ..SourceConfig::new("simclr-cifar", 4)
    };
    let mut s = OneViewSource::new(Arc::clone(&ds), sc.clone(), &Device::Cpu)?;
    assert_eq!(s.size(), 16);
    let first = s.next_batch()?;
    assert_eq!(first.x.dims(), &[4, 3, 16, 16]);
    let cursor = s.cursor();
    let second = s.next_batch()?;
    let mut again = OneViewSource::new(Arc::clone(&ds), sc.clone(), &Device::Cpu)?;
    again.restore(&cursor)?;
    let replay = again.next_batch()?;
    let diff = (second.x - replay.x)?
        .abs()?
        .max_all()?
        .to_scalar::<f32>()?;
    assert_eq!(diff, 0.0);
    // a batch larger than the data is an error naming the field
    let big = SourceConfig::new("simclr-cifar", 10_000);
    let e = OneViewSource::new(ds, big, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch_size"), "{e}");
    Ok(())
}
