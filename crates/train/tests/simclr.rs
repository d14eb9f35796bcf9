//! SimCLR through the trainer on a tiny ConvNet: the NT-Xent loss falls on a fixed synthetic
//! batch of two noisy views.

use candle_core::{DType, Device, Tensor};
use noether_models::{ConvNet, ConvNetConfig, ParamStore};
use noether_train::methods::{SimClr, SimClrConfig, ViewPair};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use noether_train::{
    BatchSource, OptimizerConfig, Result, ScheduleConfig, TrainConfig, TrainError, Trainer,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The same 8 images every step, with two fixed noisy views.
struct Fixed {
    views: ViewPair,
    pos: u64,
}

impl BatchSource for Fixed {
    type Batch = ViewPair;
    fn next_batch(&mut self) -> Result<ViewPair> {
        self.pos += 1;
        Ok(self.views.clone())
    }
    fn cursor(&self) -> serde_json::Value {
        self.pos.into()
    }
    fn restore(&mut self, c: &serde_json::Value) -> Result<()> {
        self.pos = c
            .as_u64()
            .ok_or_else(|| TrainError::Source("bad cursor".into()))?;
        Ok(())
    }
    fn batch_items(&self) -> usize {
        16
    }
}

/// Two fixed noisy views of 8 random 3x8x8 images.
fn views() -> Result<ViewPair> {
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = 8 * 3 * 8 * 8;
    let base: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let view = |rng: &mut ChaCha8Rng| -> Result<Tensor> {
        let v: Vec<f32> = base
            .iter()
            .map(|x| x + 0.3 * rng.random_range(-1.0f32..1.0))
            .collect();
        Ok(Tensor::from_vec(v, (8, 3, 8, 8), &dev)?)
    };
    Ok(ViewPair {
        x1: view(&mut rng)?,
        x2: view(&mut rng)?,
    })
}

/// SimCLR on a two-block ConvNet (widths 4, 8) with a 8 -> 16 -> 16 -> 8 projector.
fn tiny_simclr() -> Result<SimClr<ConvNet>> {
    let dev = Device::Cpu;
    let store = ParamStore::seeded(1);
    let cfg = ConvNetConfig {
        in_channels: 3,
        widths: vec![4, 8],
        convs_per_block: 1,
        num_classes: None,
    };
    let backbone = ConvNet::new(&cfg, store.var_builder(DType::F32, &dev).pp("backbone"))?;
    let sc = SimClrConfig {
        proj_hidden: 16,
        proj_out: 8,
        temperature: 0.5,
    };
    SimClr::new(store, backbone, &sc, DType::F32, &dev)
}

/// Every variable of the method's stores as bit patterns.
fn snapshot(m: &SimClr<ConvNet>) -> Result<Vec<(String, Vec<u64>)>> {
    let mut out = Vec::new();
    for s in noether_train::Method::stores(m) {
        for p in s.store.all()? {
            let v: Vec<f64> = p
                .var
                .as_tensor()
                .flatten_all()?
                .to_dtype(DType::F64)?
                .to_vec1()?;
            out.push((p.name, v.iter().map(|x| x.to_bits()).collect()));
        }
    }
    Ok(out)
}

#[test]
fn simclr_resume_is_bit_identical() -> Result<()> {
    let mut cfg = TrainConfig::new(
        8,
        4,
        OptimizerConfig::Lars {
            lr: 0.5,
            momentum: 0.9,
            eta: 1e-3,
            weight_decay: 1e-6,
        },
    );
    cfg.schedule = ScheduleConfig::WarmupCosine {
        warmup_steps: 2,
        start_factor: 0.0,
        final_factor: 0.0,
    };
    let (da, db) = (tempdir()?, tempdir()?);
    let mut full = tiny_simclr()?;
    Trainer::new(cfg.clone(), da.path())?
        .with_progress(false)
        .run(
            &mut full,
            &mut Fixed {
                views: views()?,
                pos: 0,
            },
            false,
        )?;
    // stopped before step index 3 starts (flag already set by then), resumed in a new method
    let flag = Arc::new(AtomicBool::new(false));
    let mut first = tiny_simclr()?;
    let mut source = Fixed {
        views: views()?,
        pos: 0,
    };
    let mut stop_cfg = cfg.clone();
    stop_cfg.checkpoint_every = 3;
    // the flag is raised once the checkpoint at step 3 exists: run 3 steps, then set it
    let s = Trainer::new(stop_cfg, db.path())?
        .with_progress(false)
        .with_stop_flag(flag.clone())
        .run(
            &mut first,
            &mut StopAt {
                inner: &mut source,
                at: 3,
                flag,
            },
            false,
        )?;
    assert!(s.interrupted && s.steps_done == 3, "{s}");
    let mut second = tiny_simclr()?;
    Trainer::new(cfg, db.path())?.with_progress(false).run(
        &mut second,
        &mut Fixed {
            views: views()?,
            pos: 0,
        },
        true,
    )?;
    let (a, b) = (snapshot(&full)?, snapshot(&second)?);
    assert!(a.iter().any(|(k, _)| k.ends_with("running_var")));
    assert_eq!(a, b);
    Ok(())
}

/// A source that raises `flag` when asked for batch `at + 1` (after `at` batches), before
/// returning it: the trainer runs that step, then stops.
struct StopAt<'a> {
    inner: &'a mut Fixed,
    at: u64,
    flag: Arc<AtomicBool>,
}

impl BatchSource for StopAt<'_> {
    type Batch = ViewPair;
    fn next_batch(&mut self) -> Result<ViewPair> {
        if self.inner.pos + 1 == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
        self.inner.next_batch()
    }
    fn cursor(&self) -> serde_json::Value {
        self.inner.cursor()
    }
    fn restore(&mut self, c: &serde_json::Value) -> Result<()> {
        self.inner.restore(c)
    }
    fn batch_items(&self) -> usize {
        self.inner.batch_items()
    }
}

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))
}

#[test]
fn simclr_loss_falls_on_a_tiny_batch() -> Result<()> {
    let dev = Device::Cpu;
    let views = views()?;
    let mut method = tiny_simclr()?;
    let dir = tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))?;
    let opt = OptimizerConfig::Adam {
        lr: 1e-2,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let summary = Trainer::new(TrainConfig::new(20, 0, opt), dir.path())?
        .with_progress(false)
        .run(&mut method, &mut Fixed { views, pos: 0 }, false)?;
    let text = std::fs::read_to_string(dir.path().join("metrics.jsonl"))
        .map_err(|e| TrainError::io("metrics.jsonl", e))?;
    let losses: Vec<f64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["loss/nt_xent"]
                .as_f64()
                .expect("nt_xent")
        })
        .collect();
    assert_eq!(losses.len(), 20);
    // measured: 1.76 at step 1, 0.95 at step 20 (the two views start partly aligned)
    assert!(losses[0] > 1.0, "{losses:?}");
    assert!(
        losses[19] < 0.65 * losses[0] && losses[19] < losses[10],
        "loss must fall: {losses:?}\n{summary}"
    );
    // a mismatched pair is an error naming the batch
    let bad = ViewPair {
        x1: Tensor::zeros((2, 3, 8, 8), DType::F32, &dev)?,
        x2: Tensor::zeros((3, 3, 8, 8), DType::F32, &dev)?,
    };
    let ctx = noether_train::StepContext {
        step: 0,
        total_steps: 1,
        lr: 0.1,
        seed: 0,
    };
    let err = noether_train::Method::losses(&mut method, &bad, &ctx).expect_err("mismatched views");
    assert!(err.to_string().contains("ViewPair"), "{err}");
    Ok(())
}
