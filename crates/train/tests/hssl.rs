//! Homomorphic SSL and its augmentation-SSL counterpart: the identity the method rests on (with
//! an exact C4 homomorphism the two give the same loss for the same group elements; without
//! structure they do not), the positives' group-distance distribution, gradients for every
//! parameter in both modes, and the one-view batch source.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use common::metrics;
use noether_data::Split;
use noether_data::render::Mini3dieConfig;
use noether_models::{GCnn, GCnnConfig, ParamStore, Structure};
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

fn method(mode: HsslMode, structure: Structure, n: usize, dtype: DType) -> Result<Hssl<GCnn>> {
    let store = ParamStore::seeded(2);
    let cfg = GCnnConfig {
        structure,
        ..GCnnConfig::new(3, vec![4, 6, 8], n)
    };
    let backbone = GCnn::new(&cfg, store.var_builder(dtype, &Device::Cpu).pp("backbone"))?;
    let config = HsslConfig {
        mode,
        proj_hidden: 16,
        proj_out: 8,
        ..HsslConfig::default()
    };
    Hssl::new(store, backbone, &config, dtype, &Device::Cpu)
}

fn images(b: usize, size: usize, dtype: DType) -> Result<Images> {
    // a fixed, irregular batch
    let idx = Tensor::arange(0f64, (b * 3 * size * size) as f64, &Device::Cpu)?;
    let x = ((&idx * 0.37)?.sin()? + (idx * 1.91)?.cos()?)?.reshape((b, 3, size, size))?;
    Ok(Images {
        x: x.to_dtype(dtype)?,
    })
}

fn loss_of(m: &mut Hssl<GCnn>, batch: &Images, step: u64) -> Result<f64> {
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
fn positives_follow_the_distance_distribution() {
    let cyclic = |a: usize, b: usize, n: usize| {
        let d = (a + n - b) % n;
        d.min(n - d)
    };
    // default: b uniform among the elements other than a
    let (a, b) = sample_elements(4, &[], 4000, &ctx(0));
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
    let (a, b) = sample_elements(8, &[2], 1000, &ctx(1));
    assert!(a.iter().zip(&b).all(|(&x, &y)| cyclic(x, y, 8) == 2));
    let offsets: BTreeSet<usize> = a.iter().zip(&b).map(|(x, y)| (y + 8 - x) % 8).collect();
    assert_eq!(offsets, BTreeSet::from([2, 6]));
    let (a, b) = sample_elements(8, &[1, 4], 1000, &ctx(1));
    let ds: BTreeSet<usize> = a.iter().zip(&b).map(|(&x, &y)| cyclic(x, y, 8)).collect();
    assert_eq!(ds, BTreeSet::from([1, 4]));
    // a function of (seed, step)
    assert_eq!(
        sample_elements(8, &[], 50, &ctx(3)),
        sample_elements(8, &[], 50, &ctx(3))
    );
    assert_ne!(
        sample_elements(8, &[], 50, &ctx(3)),
        sample_elements(8, &[], 50, &ctx(4))
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
    let e = Hssl::new(store, backbone, &config, DType::F32, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("hssl.distances"), "{e}");
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
