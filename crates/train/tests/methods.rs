//! BYOL, VICReg, SimCLR + EquiMod and BYOL + EquiMod through the trainer on a tiny ConvNet:
//! the loss falls, every trained parameter gets a gradient, BYOL's EMA target moves by exactly
//! the EMA rule and is never optimized, and BYOL + EquiMod resumes bit-identically.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Tensor};
use common::{gradients, metrics};
use noether_models::{ConvNet, ConvNetConfig, ParamStore};
use noether_train::methods::{
    Byol, ByolConfig, Equimod, EquimodBase, EquimodBatch, EquimodConfig, Vicreg, VicregConfig,
    ViewPair,
};
use noether_train::{
    BatchSource, Embed, Method, OptimizerConfig, Result, ScheduleConfig, StepContext, TrainConfig,
    TrainError, Trainer,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 8;
const T_DIM: usize = 2;

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))
}

fn convnet_config() -> ConvNetConfig {
    ConvNetConfig {
        in_channels: 3,
        widths: vec![4, 8],
        convs_per_block: 1,
        num_classes: None,
    }
}

/// A two-block ConvNet (widths 4, 8) under `backbone.` of `store`.
fn make_backbone(store: &ParamStore) -> Result<ConvNet> {
    let vb = store.var_builder(DType::F32, &Device::Cpu);
    Ok(ConvNet::new(&convnet_config(), vb.pp("backbone"))?)
}

/// `N` random 3x8x8 images `x0` and two views `x_t = s x0 + b + noise` with per-image scale
/// `s` in [0.7, 1.3] and shift `b` in [-0.3, 0.3]; `t = [(s - 1) / 0.3, b / 0.3]`.
fn equimod_batch(seed: u64) -> Result<EquimodBatch> {
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let m = 3 * 8 * 8;
    let x0: Vec<f32> = (0..N * m).map(|_| rng.random_range(-1.0..1.0)).collect();
    let view = |rng: &mut ChaCha8Rng| -> Result<(Tensor, Tensor)> {
        let mut x = Vec::with_capacity(N * m);
        let mut t = Vec::with_capacity(N * T_DIM);
        for i in 0..N {
            let s: f32 = rng.random_range(0.7..1.3);
            let b: f32 = rng.random_range(-0.3..0.3);
            for v in &x0[i * m..(i + 1) * m] {
                x.push(s * v + b + 0.1 * rng.random_range(-1.0f32..1.0));
            }
            t.extend([(s - 1.0) / 0.3, b / 0.3]);
        }
        Ok((
            Tensor::from_vec(x, (N, 3, 8, 8), &dev)?,
            Tensor::from_vec(t, (N, T_DIM), &dev)?,
        ))
    };
    let (x1, t1) = view(&mut rng)?;
    let (x2, t2) = view(&mut rng)?;
    Ok(EquimodBatch {
        x0: Tensor::from_vec(x0, (N, 3, 8, 8), &dev)?,
        x0b: None,
        x1,
        x2,
        t1,
        t2,
    })
}

fn view_pair(seed: u64) -> Result<ViewPair> {
    let b = equimod_batch(seed)?;
    Ok(ViewPair { x1: b.x1, x2: b.x2 })
}

/// Cycles through fixed batches; the cursor is the number of batches served.
struct Cycle<T> {
    batches: Vec<T>,
    pos: u64,
    /// Raise this flag when batch `.0 + 1` is asked for: the trainer runs it, then stops.
    stop_at: Option<(u64, Arc<AtomicBool>)>,
}

impl<T> Cycle<T> {
    fn new(batches: Vec<T>) -> Cycle<T> {
        Cycle {
            batches,
            pos: 0,
            stop_at: None,
        }
    }
}

impl<T: Clone> BatchSource for Cycle<T> {
    type Batch = T;
    fn next_batch(&mut self) -> Result<T> {
        if let Some((at, flag)) = &self.stop_at
            && self.pos + 1 == *at
        {
            flag.store(true, Ordering::SeqCst);
        }
        let b = self.batches[self.pos as usize % self.batches.len()].clone();
        self.pos += 1;
        Ok(b)
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
        N
    }
}

fn adam(lr: f64) -> OptimizerConfig {
    OptimizerConfig::Adam {
        lr,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.0,
    }
}

/// Runs `steps` Adam steps on one fixed batch; returns `loss/<term>` of every step.
fn train_losses<M: Method>(
    method: &mut M,
    batch: M::Batch,
    steps: u64,
    lr: f64,
    term: &str,
) -> Result<Vec<f64>>
where
    M::Batch: Clone,
{
    let dir = tempdir()?;
    Trainer::new(TrainConfig::new(steps, 0, adam(lr)), dir.path())?
        .with_progress(false)
        .run(method, &mut Cycle::new(vec![batch]), false)?;
    Ok(metrics(dir.path())
        .iter()
        .map(|l| l[format!("loss/{term}")].as_f64().expect("a logged loss"))
        .collect())
}

/// Every trainable parameter has a gradient, non-zero except for `zero_ok` (hidden Linear
/// biases right before a train-mode batch norm, whose gradient is 0 up to rounding).
fn assert_all_get_gradients(grads: &BTreeMap<String, Option<f64>>, zero_ok: &[&str]) {
    assert!(grads.len() > 10, "{grads:?}");
    for (name, g) in grads {
        let g = g.unwrap_or_else(|| panic!("{name} gets no gradient"));
        assert!(g.is_finite(), "{name}: {g}");
        if !zero_ok.contains(&name.as_str()) {
            assert!(g > 1e-8, "{name} gets a zero gradient ({g})");
        }
    }
}

/// Every variable of the method's stores as `store/name` -> bit patterns.
fn snapshot<M: Method>(m: &M) -> Result<BTreeMap<String, Vec<u32>>> {
    let mut out = BTreeMap::new();
    for s in m.stores() {
        for p in s.store.all()? {
            let v: Vec<f32> = p
                .var
                .as_tensor()
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1()?;
            out.insert(
                format!("{}/{}", s.name, p.name),
                v.iter().map(|x| x.to_bits()).collect(),
            );
        }
    }
    Ok(out)
}

fn values(store: &ParamStore, name: &str) -> Result<Vec<f32>> {
    let v = store
        .get(name)?
        .unwrap_or_else(|| panic!("no variable {name}"));
    Ok(v.as_tensor().flatten_all()?.to_vec1()?)
}

fn store_of<M: Method>(m: &M, name: &str) -> ParamStore {
    m.stores()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no store {name}"))
        .store
}

fn tiny_byol(tau0: f64) -> Result<Byol<ConvNet>> {
    let cfg = ByolConfig {
        proj_hidden: 16,
        proj_out: 8,
        pred_hidden: 16,
        tau0,
    };
    Byol::new(
        ParamStore::seeded(1),
        make_backbone,
        &cfg,
        DType::F32,
        &Device::Cpu,
    )
}

fn tiny_vicreg() -> Result<Vicreg<ConvNet>> {
    let store = ParamStore::seeded(2);
    let backbone = make_backbone(&store)?;
    let cfg = VicregConfig {
        expander_hidden: 16,
        expander_out: 16,
        ..VicregConfig::default()
    };
    Vicreg::new(store, backbone, &cfg, DType::F32, &Device::Cpu)
}

fn tiny_equimod(base: EquimodBase) -> Result<Equimod<ConvNet>> {
    let cfg = EquimodConfig {
        base,
        inv_hidden: 16,
        inv_out: 8,
        eq_hidden: 16,
        y_dim: 8,
        p_dim: 8,
        t_dim: T_DIM,
        temperature_y: 0.2,
        lambda: 1.0,
    };
    Equimod::new(
        ParamStore::seeded(3),
        make_backbone,
        &cfg,
        DType::F32,
        &Device::Cpu,
    )
}

const SIMCLR: EquimodBase = EquimodBase::SimClr { temperature_z: 0.5 };
const BYOL: EquimodBase = EquimodBase::Byol { tau0: 0.99 };

/// The online parameter `name` before and after one step, and the target's before and after:
/// the target starts as a copy and moves to `tau t + (1 - tau) o` with the updated online `o`.
fn check_ema_step<M: Method>(m: &mut M, batch: M::Batch, tau0: f64, names: &[&str]) -> Result<()>
where
    M::Batch: Clone,
{
    let (online, target) = (store_of(m, "online"), store_of(m, "target"));
    let before: Vec<_> = names
        .iter()
        .map(|n| Ok((values(&online, n)?, values(&target, n)?)))
        .collect::<Result<_>>()?;
    for (o, t) in &before {
        assert_eq!(o, t, "the target starts as a copy of the online network");
    }
    let dir = tempdir()?;
    Trainer::new(TrainConfig::new(1, 0, adam(1e-2)), dir.path())?
        .with_progress(false)
        .run(m, &mut Cycle::new(vec![batch]), false)?;
    // one step of one: k = 0, so tau = tau0
    let tau = tau0 as f32;
    for (name, (_, t0)) in names.iter().zip(&before) {
        let (o1, t1) = (values(&online, name)?, values(&target, name)?);
        assert_ne!(&o1, t0, "{name}: the online weights moved");
        for ((a, b), c) in t0.iter().zip(&o1).zip(&t1) {
            let want = tau * a + (1.0 - tau) * b;
            assert!(
                (want - c).abs() <= 1e-6 * (1.0 + want.abs()),
                "{name}: {c} != {want}"
            );
        }
    }
    Ok(())
}

#[test]
fn byol_loss_falls() -> Result<()> {
    let mut m = tiny_byol(0.99)?;
    let l = train_losses(&mut m, view_pair(0)?, 20, 1e-2, "byol")?;
    eprintln!("byol {l:?}");
    // measured: 4.26 at step 1, 0.30 at step 20
    assert!(l[19] < 0.15 * l[0] && l[19] < l[10], "{l:?}");
    Ok(())
}

#[test]
fn byol_every_parameter_gets_a_gradient_and_the_target_none() -> Result<()> {
    let mut m = tiny_byol(0.99)?;
    let g = gradients(&mut m, &view_pair(0)?)?;
    assert!(g.keys().all(|k| k.starts_with("online/")));
    assert!(
        g.contains_key("online/predictor.3.weight"),
        "{:?}",
        g.keys()
    );
    assert_all_get_gradients(&g, &["online/projector.0.bias", "online/predictor.0.bias"]);
    // the target's parameters are not in the graph's gradients
    let grads = {
        let ctx = StepContext {
            step: 0,
            total_steps: 1,
            lr: 0.1,
            seed: 0,
        };
        m.losses(&view_pair(0)?, &ctx)?.total.backward()?
    };
    for p in store_of(&m, "target").trainable()? {
        assert!(
            grads.get(p.var.as_tensor()).is_none(),
            "target {} has a gradient",
            p.name
        );
    }
    Ok(())
}

#[test]
fn byol_target_is_an_ema_of_the_online_network() -> Result<()> {
    let mut m = tiny_byol(0.5)?;
    let names = [
        "backbone.features.0.conv1.weight",
        "projector.3.weight",
        "projector.3.bias",
    ];
    check_ema_step(&mut m, view_pair(0)?, 0.5, &names)
}

#[test]
fn byol_target_gets_no_optimizer_updates() -> Result<()> {
    // tau0 = 1: the EMA keeps the target exactly; any change would be the optimizer's.
    let mut m = tiny_byol(1.0)?;
    let before = snapshot(&m)?;
    train_losses(&mut m, view_pair(0)?, 3, 1e-2, "byol")?;
    let after = snapshot(&m)?;
    let target = store_of(&m, "target");
    for p in target.trainable()? {
        let k = format!("target/{}", p.name);
        assert_eq!(before[&k], after[&k], "{k} changed");
    }
    assert_ne!(
        before["online/projector.0.weight"],
        after["online/projector.0.weight"]
    );
    Ok(())
}

#[test]
fn vicreg_loss_falls_and_reports_its_terms() -> Result<()> {
    let mut m = tiny_vicreg()?;
    let dir = tempdir()?;
    Trainer::new(TrainConfig::new(20, 0, adam(1e-2)), dir.path())?
        .with_progress(false)
        .run(&mut m, &mut Cycle::new(vec![view_pair(0)?]), false)?;
    let lines = metrics(dir.path());
    let get = |i: usize, k: &str| lines[i][format!("loss/{k}")].as_f64().expect(k);
    let total: Vec<f64> = (0..20).map(|i| get(i, "total")).collect();
    eprintln!("vicreg {total:?}");
    for i in [0, 19] {
        let sum = 25.0 * get(i, "invariance") + 25.0 * get(i, "variance") + get(i, "covariance");
        assert!(
            (sum - get(i, "total")).abs() < 1e-4 * sum,
            "the terms add up: {sum}"
        );
    }
    // measured: 19.6 at step 1, 6.64 at step 20
    assert!(
        total[19] < 0.5 * total[0] && total[19] < total[10],
        "{total:?}"
    );
    Ok(())
}

#[test]
fn vicreg_every_parameter_gets_a_gradient() -> Result<()> {
    let mut m = tiny_vicreg()?;
    let g = gradients(&mut m, &view_pair(0)?)?;
    assert!(g.contains_key("model/expander.6.weight"), "{:?}", g.keys());
    assert_all_get_gradients(&g, &["model/expander.0.bias", "model/expander.3.bias"]);
    Ok(())
}

#[test]
fn equimod_simclr_loss_falls() -> Result<()> {
    let mut m = tiny_equimod(SIMCLR)?;
    let dir = tempdir()?;
    Trainer::new(TrainConfig::new(20, 0, adam(1e-2)), dir.path())?
        .with_progress(false)
        .run(&mut m, &mut Cycle::new(vec![equimod_batch(0)?]), false)?;
    let lines = metrics(dir.path());
    let get = |k: &str| -> Vec<f64> {
        lines
            .iter()
            .map(|l| l[format!("loss/{k}")].as_f64().expect(k))
            .collect()
    };
    let (total, inv, equi) = (get("total"), get("inv"), get("equi"));
    eprintln!("equimod simclr total {total:?}\ninv {inv:?}\nequi {equi:?}");
    assert!((total[0] - inv[0] - equi[0]).abs() < 1e-5, "lambda = 1");
    // measured: total 8.53 -> 1.76, inv 3.19 -> 1.04, equi 5.33 -> 0.72
    assert!(
        total[19] < 0.3 * total[0] && total[19] < total[10],
        "{total:?}"
    );
    assert!(
        equi[19] < 0.25 * equi[0] && inv[19] < inv[0],
        "{inv:?} {equi:?}"
    );
    Ok(())
}

#[test]
fn equimod_byol_loss_falls() -> Result<()> {
    let mut m = tiny_equimod(BYOL)?;
    let dir = tempdir()?;
    Trainer::new(TrainConfig::new(20, 0, adam(1e-2)), dir.path())?
        .with_progress(false)
        .run(&mut m, &mut Cycle::new(vec![equimod_batch(0)?]), false)?;
    let lines = metrics(dir.path());
    let get = |k: &str| -> Vec<f64> {
        lines
            .iter()
            .map(|l| l[format!("loss/{k}")].as_f64().expect(k))
            .collect()
    };
    let (total, inv, equi) = (get("total"), get("inv"), get("equi"));
    eprintln!("equimod byol total {total:?}\ninv {inv:?}\nequi {equi:?}");
    // measured: total 9.04 -> 0.90, inv 3.70 -> 0.22, equi 5.33 -> 0.68
    assert!(
        total[19] < 0.2 * total[0] && total[19] < total[10],
        "{total:?}"
    );
    assert!(
        inv[19] < 0.15 * inv[0] && equi[19] < 0.25 * equi[0],
        "{inv:?} {equi:?}"
    );
    assert!((total[0] - inv[0] - equi[0]).abs() < 1e-5, "lambda = 1");
    Ok(())
}

#[test]
fn equimod_every_parameter_gets_a_gradient() -> Result<()> {
    let mut m = tiny_equimod(SIMCLR)?;
    let g = gradients(&mut m, &equimod_batch(0)?)?;
    for k in [
        "model/equimod.proj_head_t.0.weight",
        "model/equimod.proj_head_t.1.weight",
        "model/equimod.predictor_eq.0.weight",
        "model/eq_projector.6.weight",
        "model/projector.6.weight",
    ] {
        assert!(g.contains_key(k), "{k} in {:?}", g.keys());
    }
    assert_all_get_gradients(&g, &[]);

    let mut m = tiny_equimod(BYOL)?;
    let g = gradients(&mut m, &equimod_batch(0)?)?;
    assert!(g.keys().all(|k| k.starts_with("online/")));
    assert!(
        g.contains_key("online/predictor.3.weight"),
        "{:?}",
        g.keys()
    );
    assert_all_get_gradients(&g, &[]);
    Ok(())
}

#[test]
fn equimod_byol_target_is_an_ema_of_the_online_encoder_and_head() -> Result<()> {
    let mut m = tiny_equimod(EquimodBase::Byol { tau0: 0.5 })?;
    let target = store_of(&m, "target");
    assert!(
        target
            .all()?
            .iter()
            .all(|p| { p.name.starts_with("backbone.") || p.name.starts_with("projector.") })
    );
    let names = ["backbone.features.1.conv1.weight", "projector.0.weight"];
    check_ema_step(&mut m, equimod_batch(0)?, 0.5, &names)
}

#[test]
fn equimod_embeddings_and_bad_batches() -> Result<()> {
    let mut m = tiny_equimod(SIMCLR)?;
    let b = equimod_batch(0)?;
    assert_eq!(m.features(&b.x0)?.dims(), [N, 8]);
    assert_eq!(m.equivariant_embedding(&b.x0)?.dims(), [N, 8]);
    assert_eq!(m.embedding(&b.x0)?.dims(), [N, 8]);
    let ctx = StepContext {
        step: 0,
        total_steps: 1,
        lr: 0.1,
        seed: 0,
    };
    let bad_t = EquimodBatch {
        t1: Tensor::zeros((N, T_DIM + 1), DType::F32, &Device::Cpu)?,
        ..b.clone()
    };
    let err = m.losses(&bad_t, &ctx).expect_err("t1 of the wrong width");
    assert!(err.to_string().contains("EquimodBatch.t1"), "{err}");
    let bad_x = EquimodBatch {
        x2: b.x2.narrow(0, 0, N - 1)?,
        ..b.clone()
    };
    let err = m.losses(&bad_x, &ctx).expect_err("x2 of another size");
    assert!(err.to_string().contains("EquimodBatch.x2"), "{err}");
    // object-view pairs: x2's own source x0b is used (the loss changes) and checked
    let plain = m.losses(&b, &ctx)?.total.to_scalar::<f32>()?;
    let paired = EquimodBatch {
        x0b: Some(b.x2.clone()),
        ..b.clone()
    };
    let with_x0b = m.losses(&paired, &ctx)?.total.to_scalar::<f32>()?;
    assert!(with_x0b.is_finite() && (with_x0b - plain).abs() > 1e-6);
    let bad_x0b = EquimodBatch {
        x0b: Some(b.x0.narrow(0, 0, N - 1)?),
        ..b.clone()
    };
    let err = m.losses(&bad_x0b, &ctx).expect_err("x0b of another size");
    assert!(err.to_string().contains("EquimodBatch.x0b"), "{err}");
    let mut cfg = EquimodConfig::simclr_cifar();
    cfg.base = EquimodBase::Byol { tau0: 1.5 };
    let err = cfg.validate().expect_err("tau0 > 1");
    assert!(err.to_string().contains("equimod.base.tau0"), "{err}");
    assert!(EquimodConfig::byol_cifar().validate().is_ok());
    assert!(
        ByolConfig {
            proj_out: 0,
            ..ByolConfig::default()
        }
        .validate()
        .is_err()
    );
    assert!(
        VicregConfig {
            nu: -1.0,
            ..VicregConfig::default()
        }
        .validate()
        .is_err()
    );
    Ok(())
}

/// 12 SGD steps with warmup + cosine over three batches in turn.
fn resume_config() -> TrainConfig {
    let mut c = TrainConfig::new(
        12,
        5,
        OptimizerConfig::Sgd {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
        },
    );
    c.schedule = ScheduleConfig::WarmupCosine {
        warmup_steps: 3,
        start_factor: 0.1,
        final_factor: 0.01,
    };
    c.checkpoint_every = 4;
    c
}

fn batches() -> Result<Vec<EquimodBatch>> {
    (0..3).map(equimod_batch).collect()
}

fn losses_without_timing(dir: &Path) -> Vec<serde_json::Value> {
    metrics(dir)
        .into_iter()
        .map(|mut l| {
            let o = l.as_object_mut().expect("an object");
            o.remove("images_per_second");
            o.remove("elapsed_s");
            l
        })
        .collect()
}

#[test]
fn equimod_byol_resume_is_bit_identical() -> Result<()> {
    let (da, db) = (tempdir()?, tempdir()?);
    let mut full = tiny_equimod(BYOL)?;
    Trainer::new(resume_config(), da.path())?
        .with_progress(false)
        .run(&mut full, &mut Cycle::new(batches()?), false)?;

    let flag = Arc::new(AtomicBool::new(false));
    let mut first = tiny_equimod(BYOL)?;
    let mut source = Cycle::new(batches()?);
    source.stop_at = Some((6, flag.clone()));
    let s = Trainer::new(resume_config(), db.path())?
        .with_progress(false)
        .with_stop_flag(flag)
        .run(&mut first, &mut source, false)?;
    assert!(s.interrupted && s.steps_done == 6, "{s}");
    assert_ne!(snapshot(&first)?, snapshot(&full)?);

    let mut second = tiny_equimod(BYOL)?;
    let s = Trainer::new(resume_config(), db.path())?
        .with_progress(false)
        .run(&mut second, &mut Cycle::new(batches()?), true)?;
    assert_eq!((s.steps_done, s.steps_this_run), (12, 6));
    let (a, b) = (snapshot(&full)?, snapshot(&second)?);
    for k in [
        "online/backbone.features.0.bn1.running_mean",
        "online/equimod.predictor_eq.1.running_var",
        "target/backbone.features.0.bn1.running_var",
        "target/projector.3.weight",
    ] {
        assert!(a.contains_key(k), "{k} is compared: {:?}", a.keys());
    }
    assert_eq!(a.len(), b.len());
    for (k, v) in &a {
        assert_eq!(Some(v), b.get(k), "{k} differs");
    }
    assert_eq!(
        losses_without_timing(da.path()),
        losses_without_timing(db.path())
    );
    Ok(())
}
