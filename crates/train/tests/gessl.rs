//! GeSSL's meta-gradients against exact ones, its batch-norm rule, the sigma-measurement and a
//! run through the trainer.
//!
//! The exact meta-gradient test uses a toy base method whose loss has a Hessian known in
//! closed form, `L(w) = 1/2 w^T A w + beta sum_i cos(w_i)` (`H = A - beta diag(cos w)`), and a
//! linear task classifier `z = X1 W`, `z' = X2 W` (`W` = `w` as a matrix). The meta-gradient
//! `prod_k (I - alpha H_k) grad l(theta^K)` is formed with explicit matrices in plain f64 and
//! compared with the finite-difference Hessian-vector product path of [`Gessl`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Tensor, Var};
use noether_models::{ConvNet, ConvNetConfig, ParamStore};
use noether_objectives::{kl_divergence_rows, task_log_probs};
use noether_train::methods::{
    Gessl, GesslConfig, MetaGradient, SigmaConfig, SimClr, SimClrConfig, TaskClassifier, Tasks,
    Vicreg, VicregConfig, ViewPair, sigma,
};
use noether_train::{
    BatchSource, Losses, Method, NamedStore, OptimizerConfig, Result, StepContext, TrainConfig,
    TrainError, Trainer,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const D_IN: usize = 3;
const E: usize = 2;
const P: usize = D_IN * E;
const N: usize = 4;
const BETA: f64 = 0.7;
const ALPHA: f64 = 0.3;

/// The toy base method (f64).
#[derive(Debug)]
struct Toy {
    store: ParamStore,
    w: Var,
    a: Vec<f64>, // P x P, symmetric positive definite
    x1: Tensor,  // (N, D_IN)
    x2: Tensor,
}

impl Toy {
    fn new(seed: u64) -> Result<Toy> {
        let dev = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let store = ParamStore::seeded(seed);
        let vb = store.var_builder(DType::F64, &dev);
        let w0 = vb.get_with_hints(
            P,
            "w",
            candle_nn::Init::Randn {
                mean: 0.0,
                stdev: 0.8,
            },
        )?;
        let w = store.get("w")?.expect("w was just created");
        assert_eq!(w.as_tensor().dims(), w0.dims());
        // A = B B^T / P + 0.5 I
        let b: Vec<f64> = (0..P * P).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut a = vec![0.0; P * P];
        for i in 0..P {
            for j in 0..P {
                a[i * P + j] = (0..P).map(|k| b[i * P + k] * b[j * P + k]).sum::<f64>() / P as f64
                    + if i == j { 0.5 } else { 0.0 };
            }
        }
        let x = |rng: &mut ChaCha8Rng| -> Result<Tensor> {
            let v: Vec<f64> = (0..N * D_IN).map(|_| rng.random_range(-1.0..1.0)).collect();
            Ok(Tensor::from_vec(v, (N, D_IN), &dev)?)
        };
        let (x1, x2) = (x(&mut rng)?, x(&mut rng)?);
        Ok(Toy {
            store,
            w,
            a,
            x1,
            x2,
        })
    }

    fn a_tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_vec(self.a.clone(), (P, P), &Device::Cpu)?)
    }

    fn w_now(&self) -> Result<Vec<f64>> {
        Ok(self.w.as_tensor().to_vec1::<f64>()?)
    }

    /// `grad L(w) = A w - beta sin w`.
    fn grad(&self, w: &[f64]) -> Vec<f64> {
        (0..P)
            .map(|i| (0..P).map(|j| self.a[i * P + j] * w[j]).sum::<f64>() - BETA * w[i].sin())
            .collect()
    }

    /// `H(w) = A - beta diag(cos w)`.
    fn hessian(&self, w: &[f64]) -> Vec<f64> {
        let mut h = self.a.clone();
        for i in 0..P {
            h[i * P + i] -= BETA * w[i].cos();
        }
        h
    }

    fn sgd(&self, w: &[f64]) -> Vec<f64> {
        let g = self.grad(w);
        w.iter().zip(&g).map(|(w, g)| w - ALPHA * g).collect()
    }

    /// The task log-probabilities at `w` and, unless `detach`, the graph to `self.w`'s value.
    fn log_probs_at(&self, w: &[f64], temperature: f64) -> Result<Tensor> {
        let wt = Tensor::from_vec(w.to_vec(), (D_IN, E), &Device::Cpu)?;
        let (z, zp) = (self.x1.matmul(&wt)?, self.x2.matmul(&wt)?);
        Ok(task_log_probs(&z, &zp, temperature)?)
    }
}

impl Method for Toy {
    type Batch = ();
    fn name(&self) -> &str {
        "toy"
    }
    fn stores(&self) -> Vec<NamedStore> {
        vec![NamedStore::trained("model", self.store.clone())]
    }
    fn losses(&mut self, _: &(), _: &StepContext) -> Result<Losses> {
        let w = self.w.as_tensor();
        let quad = (w
            .unsqueeze(0)?
            .matmul(&self.a_tensor()?.matmul(&w.unsqueeze(1)?)?)?
            * 0.5)?
            .sum_all()?;
        let loss = (quad + (w.cos()?.sum_all()? * BETA)?)?;
        Ok(Losses::new(loss))
    }
}

impl TaskClassifier for Toy {
    fn task_embeddings(&mut self, _: &()) -> Result<(Tensor, Tensor)> {
        let wt = self.w.as_tensor().reshape((D_IN, E))?;
        Ok((self.x1.matmul(&wt)?, self.x2.matmul(&wt)?))
    }
    fn task_temperature(&self) -> f64 {
        0.5
    }
}

fn ctx() -> StepContext {
    StepContext {
        step: 0,
        total_steps: 1,
        lr: 1e-3,
        seed: 0,
    }
}

fn config(k: usize, lookahead: usize, mode: MetaGradient) -> GesslConfig {
    GesslConfig {
        tasks: 1,
        inner_steps: k,
        lookahead,
        inner_lr: ALPHA,
        meta_gradient: mode,
        hvp_radius: 1e-4,
        temperature: None,
    }
}

/// The exact meta-gradient of the toy in closed form: inner SGD in f64, the look-ahead
/// target, `grad l(theta^K)` by autograd of the KL at `theta^K`, then the product of
/// `(I - alpha H_k)` with explicit Hessians. Returns `(exact, grad l(theta^K))`.
fn exact_meta(toy: &Toy, k: usize, lookahead: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let t = toy.task_temperature();
    let mut thetas = vec![toy.w_now()?];
    for _ in 0..k {
        let next = toy.sgd(thetas.last().expect("theta^0 is in"));
        thetas.push(next);
    }
    let theta_k = thetas.pop().expect("theta^K is in");
    let mut target = theta_k.clone();
    for _ in 0..lookahead {
        target = toy.sgd(&target);
    }
    let log_target = toy.log_probs_at(&target, t)?;
    let wk = Var::from_vec(theta_k.clone(), P, &Device::Cpu)?;
    let wt = wk.as_tensor().reshape((D_IN, E))?;
    let log_model = task_log_probs(&toy.x1.matmul(&wt)?, &toy.x2.matmul(&wt)?, t)?;
    let kl = kl_divergence_rows(&log_target, &log_model)?;
    let g_k = kl
        .backward()?
        .get(wk.as_tensor())
        .expect("the KL depends on w")
        .to_vec1::<f64>()?;
    let mut v = g_k.clone();
    for theta in thetas.iter().rev() {
        let h = toy.hessian(theta);
        v = (0..P)
            .map(|i| v[i] - ALPHA * (0..P).map(|j| h[i * P + j] * v[j]).sum::<f64>())
            .collect();
    }
    Ok((v, g_k))
}

fn to_vec(meta: &[Tensor]) -> Result<Vec<f64>> {
    assert_eq!(meta.len(), 1, "the toy has one variable");
    Ok(meta[0].to_vec1::<f64>()?)
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn len(a: &[f64]) -> f64 {
    dist(a, &vec![0.0; a.len()])
}

#[test]
fn hvp_meta_gradient_matches_the_exact_one_and_first_order_differs_by_the_curvature() -> Result<()>
{
    for k in [1, 2, 3] {
        let mut hvp = Gessl::new(Toy::new(5)?, &config(k, 2, MetaGradient::Hvp))?;
        let theta = hvp.base().w_now()?;
        let (exact, g_k) = exact_meta(hvp.base(), k, 2)?;
        let (meta, kl, _) = hvp.meta_gradient(&[()], &ctx())?;
        let meta = to_vec(&meta)?;
        assert!(
            kl > 1e-6,
            "K = {k}: the look-ahead must move the target (KL {kl})"
        );
        assert_eq!(hvp.base().w_now()?, theta, "the parameters are restored");
        let rel = dist(&meta, &exact) / len(&exact);
        assert!(
            rel < 1e-7,
            "K = {k}: HVP meta-gradient off the exact one by {rel:e}"
        );

        let mut fo = Gessl::new(Toy::new(5)?, &config(k, 2, MetaGradient::FirstOrder))?;
        let (meta_fo, _, _) = fo.meta_gradient(&[()], &ctx())?;
        let meta_fo = to_vec(&meta_fo)?;
        // First order is grad l(theta^K) itself ...
        assert!(dist(&meta_fo, &g_k) / len(&g_k) < 1e-10, "K = {k}: FOMAML");
        // ... and misses exactly the curvature term prod(I - alpha H) g - g, which is large.
        let curvature: Vec<f64> = exact.iter().zip(&g_k).map(|(e, g)| e - g).collect();
        let missed: Vec<f64> = exact.iter().zip(&meta_fo).map(|(e, f)| e - f).collect();
        assert!(
            len(&curvature) > 0.1 * len(&exact),
            "K = {k}: the test needs a visible curvature term"
        );
        assert!(
            dist(&missed, &curvature) / len(&curvature) < 1e-8,
            "K = {k}"
        );
    }
    Ok(())
}

#[test]
fn k0_meta_gradient_is_the_exact_gradient_in_both_modes() -> Result<()> {
    for mode in [MetaGradient::FirstOrder, MetaGradient::Hvp] {
        let mut g = Gessl::new(Toy::new(2)?, &config(0, 3, mode))?;
        let (exact, g_k) = exact_meta(g.base(), 0, 3)?;
        assert_eq!(exact, g_k);
        let (meta, _, _) = g.meta_gradient(&[()], &ctx())?;
        assert!(dist(&to_vec(&meta)?, &exact) / len(&exact) < 1e-10);
    }
    Ok(())
}

#[test]
fn losses_hand_the_meta_gradient_to_the_optimizer_with_the_kl_as_value() -> Result<()> {
    let mut g = Gessl::new(Toy::new(9)?, &config(1, 1, MetaGradient::Hvp))?;
    let (meta, kl, _) = g.meta_gradient(&[(), ()], &ctx())?;
    let losses = g.losses(&vec![(), ()], &ctx())?;
    let total = losses.total.to_scalar::<f64>()?;
    assert!((total - kl).abs() < 1e-15, "total {total} vs kl {kl}");
    let w = g.base().w.clone();
    let grad = losses.total.backward()?.get(w.as_tensor()).cloned();
    let grad = grad
        .expect("the surrogate reaches the parameter")
        .to_vec1::<f64>()?;
    assert!(dist(&grad, &to_vec(&meta)?) < 1e-12);
    Ok(())
}

#[test]
fn bad_configs_are_refused_naming_the_field() -> Result<()> {
    let bad = [
        (
            GesslConfig {
                tasks: 0,
                ..GesslConfig::default()
            },
            "gessl.tasks",
        ),
        (
            GesslConfig {
                lookahead: 0,
                ..GesslConfig::default()
            },
            "gessl.lookahead",
        ),
        (
            GesslConfig {
                inner_lr: -1.0,
                ..GesslConfig::default()
            },
            "gessl.inner_lr",
        ),
        (
            GesslConfig {
                inner_lr: f64::NAN,
                ..GesslConfig::default()
            },
            "gessl.inner_lr",
        ),
        (
            GesslConfig {
                hvp_radius: 0.0,
                ..GesslConfig::default()
            },
            "gessl.hvp_radius",
        ),
        (
            GesslConfig {
                temperature: Some(0.0),
                ..GesslConfig::default()
            },
            "gessl.temperature",
        ),
        (
            GesslConfig {
                inner_steps: 1000,
                ..GesslConfig::default()
            },
            "gessl.inner_steps",
        ),
    ];
    for (c, field) in bad {
        let e = Gessl::new(Toy::new(0)?, &c).expect_err("a bad config");
        assert!(e.to_string().contains(field), "{e} should name {field}");
    }
    Ok(())
}

// ---- real networks: SimCLR and VICReg over a tiny ConvNet with batch norm ----

fn tiny_convnet(store: &ParamStore, dtype: DType) -> Result<ConvNet> {
    let cfg = ConvNetConfig {
        in_channels: 3,
        widths: vec![4, 8],
        convs_per_block: 1,
        num_classes: None,
    };
    Ok(ConvNet::new(
        &cfg,
        store.var_builder(dtype, &Device::Cpu).pp("backbone"),
    )?)
}

fn tiny_simclr(dtype: DType) -> Result<SimClr<ConvNet>> {
    let store = ParamStore::seeded(3);
    let backbone = tiny_convnet(&store, dtype)?;
    let cfg = SimClrConfig {
        proj_hidden: 16,
        proj_out: 8,
        temperature: 0.5,
    };
    SimClr::new(store, backbone, &cfg, dtype, &Device::Cpu)
}

fn views(seed: u64, dtype: DType) -> Result<ViewPair> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let m = 6 * 3 * 8 * 8;
    let x: Vec<f64> = (0..m).map(|_| rng.random_range(-1.0..1.0)).collect();
    let noise: Vec<f64> = (0..m).map(|_| 0.2 * rng.random_range(-1.0..1.0)).collect();
    let x1 = Tensor::from_vec(x, (6, 3, 8, 8), &Device::Cpu)?;
    let x2 = (&x1 + Tensor::from_vec(noise, (6, 3, 8, 8), &Device::Cpu)?)?;
    Ok(ViewPair {
        x1: x1.to_dtype(dtype)?,
        x2: x2.to_dtype(dtype)?,
    })
}

fn values(store: &ParamStore, buffers: bool) -> Result<Vec<Vec<f64>>> {
    store
        .all()?
        .into_iter()
        .filter(|p| (p.kind == noether_models::ParamKind::Buffer) == buffers)
        .map(|p| {
            Ok(p.var
                .as_tensor()
                .flatten_all()?
                .to_dtype(DType::F64)?
                .to_vec1()?)
        })
        .collect()
}

#[test]
fn inner_copies_leave_theta_and_keep_one_running_stat_update_per_task() -> Result<()> {
    for k in [0, 1, 2] {
        let tasks = [views(1, DType::F32)?, views(2, DType::F32)?];
        let mut g = Gessl::new(
            tiny_simclr(DType::F32)?,
            &GesslConfig {
                inner_steps: k,
                lookahead: 2,
                meta_gradient: MetaGradient::Hvp,
                ..GesslConfig::default()
            },
        )?;
        let store = g.base().stores()[0].store.clone();
        let params = values(&store, false)?;
        g.meta_gradient(&tasks, &ctx())?;
        assert_eq!(values(&store, false)?, params, "K = {k}: theta restored");
        let after = values(&store, true)?;

        // The base method's own two steps' forward passes, from the same start.
        let mut base = tiny_simclr(DType::F32)?;
        for t in &tasks {
            base.losses(t, &ctx())?;
        }
        let expected = values(&base.stores()[0].store, true)?;
        assert_eq!(
            after, expected,
            "K = {k}: running statistics of one pass per task"
        );
    }
    Ok(())
}

/// `l(theta) = KL(target || p_{theta^K(theta)})` with the target held fixed, for the finite
/// difference: K SGD steps of the base loss from the current parameters, then the KL.
fn outer_objective(
    m: &mut SimClr<ConvNet>,
    task: &ViewPair,
    k: usize,
    lr: f64,
    target: &Tensor,
) -> Result<f64> {
    let params: Vec<Var> = m.stores()[0]
        .store
        .trainable()?
        .into_iter()
        .map(|p| p.var)
        .collect();
    let saved: Vec<Tensor> = params
        .iter()
        .map(|p| p.as_tensor().detach().copy())
        .collect::<candle_core::Result<_>>()?;
    for _ in 0..k {
        let loss = m.losses(task, &ctx())?.total;
        let grads = loss.backward()?;
        for p in &params {
            let g = grads
                .get(p.as_tensor())
                .expect("every parameter has a gradient");
            p.set(&(p.as_tensor().detach() - (g * lr)?)?)?;
        }
    }
    let (z, zp) = m.task_embeddings(task)?;
    let l = kl_divergence_rows(target, &task_log_probs(&z, &zp, 0.5)?)?.to_scalar::<f64>()?;
    for (p, s) in params.iter().zip(&saved) {
        p.set(s)?;
    }
    Ok(l)
}

#[test]
fn hvp_meta_gradient_of_a_real_network_matches_finite_differences() -> Result<()> {
    // f64, batch norm in train mode: the meta-gradient along a random direction u against
    // (F(theta + e u) - F(theta - e u)) / 2e, the look-ahead target held fixed.
    let (k, lr) = (2, 0.1);
    let task = views(4, DType::F64)?;
    let cfg = GesslConfig {
        tasks: 1,
        inner_steps: k,
        lookahead: 1,
        inner_lr: lr,
        meta_gradient: MetaGradient::Hvp,
        hvp_radius: 1e-5,
        temperature: None,
    };
    let mut g = Gessl::new(tiny_simclr(DType::F64)?, &cfg)?;
    let (meta, _, _) = g.meta_gradient(std::slice::from_ref(&task), &ctx())?;
    let mut fo = Gessl::new(
        tiny_simclr(DType::F64)?,
        &GesslConfig {
            meta_gradient: MetaGradient::FirstOrder,
            ..cfg
        },
    )?;
    let (meta_fo, _, _) = fo.meta_gradient(std::slice::from_ref(&task), &ctx())?;

    // The target: theta^K then one more step, computed by the same SGD.
    let mut m = g.into_inner();
    let params: Vec<Var> = m.stores()[0]
        .store
        .trainable()?
        .into_iter()
        .map(|p| p.var)
        .collect();
    let theta: Vec<Tensor> = params
        .iter()
        .map(|p| p.as_tensor().detach().copy())
        .collect::<candle_core::Result<_>>()?;
    for _ in 0..=k {
        let grads = m.losses(&task, &ctx())?.total.backward()?;
        for p in &params {
            let gr = grads.get(p.as_tensor()).expect("gradient");
            p.set(&(p.as_tensor().detach() - (gr * lr)?)?)?;
        }
    }
    let (zt, zpt) = m.task_embeddings(&task)?;
    let target = task_log_probs(&zt, &zpt, 0.5)?.detach();
    for (p, s) in params.iter().zip(&theta) {
        p.set(s)?;
    }

    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let u: Vec<Tensor> = theta
        .iter()
        .map(|t| {
            let v: Vec<f64> = (0..t.elem_count())
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            Tensor::from_vec(v, t.shape(), &Device::Cpu)
        })
        .collect::<candle_core::Result<_>>()?;
    let dot = |a: &[Tensor]| -> Result<f64> {
        let mut s = 0.0;
        for (x, y) in a.iter().zip(&u) {
            s += (x * y)?.sum_all()?.to_scalar::<f64>()?;
        }
        Ok(s)
    };
    let eps = 1e-5;
    let mut at = |sign: f64| -> Result<f64> {
        for ((p, t), d) in params.iter().zip(&theta).zip(&u) {
            p.set(&(t + (d * (sign * eps))?)?)?;
        }
        outer_objective(&mut m, &task, k, lr, &target)
    };
    let fd = (at(1.0)? - at(-1.0)?) / (2.0 * eps);
    let (exact, first) = (dot(&meta)?, dot(&meta_fo)?);
    assert!(
        (exact - fd).abs() < 1e-4 * fd.abs().max(1e-3),
        "HVP meta-gradient {exact} vs finite difference {fd}"
    );
    assert!(
        (first - fd).abs() > 10.0 * (exact - fd).abs(),
        "first order {first} should be visibly worse than HVP {exact} (fd {fd})"
    );
    Ok(())
}

#[test]
fn sigma_is_the_kl_to_the_adapted_model_and_leaves_the_model_alone() -> Result<()> {
    // The toy: theta* = 3 SGD steps in closed form, KL(p_theta* || p_theta) by hand.
    let mut toy = Toy::new(4)?;
    let theta = toy.w_now()?;
    let mut star = theta.clone();
    for _ in 0..3 {
        star = toy.sgd(&star);
    }
    let t = toy.task_temperature();
    let want = kl_divergence_rows(&toy.log_probs_at(&star, t)?, &toy.log_probs_at(&theta, t)?)?
        .to_scalar::<f64>()?;
    let got = sigma(
        &mut toy,
        &[(), ()],
        &SigmaConfig {
            steps: 3,
            lr: ALPHA,
        },
        t,
    )?;
    assert!(
        want > 1e-4 && (got - want).abs() < 1e-12,
        "sigma {got} vs {want}"
    );
    assert_eq!(toy.w_now()?, theta);

    // A real network: parameters and running statistics untouched.
    let mut m = tiny_simclr(DType::F32)?;
    let tasks = [views(1, DType::F32)?, views(2, DType::F32)?];
    let store = m.stores()[0].store.clone();
    let (p0, b0) = (values(&store, false)?, values(&store, true)?);
    let s = sigma(&mut m, &tasks, &SigmaConfig { steps: 5, lr: 0.01 }, 0.5)?;
    assert!(s.is_finite() && s > 0.0, "{s}");
    assert_eq!(values(&store, false)?, p0);
    assert_eq!(values(&store, true)?, b0);
    let e = sigma(&mut m, &tasks, &SigmaConfig { steps: 0, lr: 0.05 }, 0.5).expect_err("0 steps");
    assert!(e.to_string().contains("sigma"));
    Ok(())
}

/// An endless source of tiny view pairs that raises `stop` once it has drawn `stop_at`.
struct Pairs {
    drawn: u64,
    stop_at: u64,
    stop: Arc<AtomicBool>,
}

impl Pairs {
    fn new(stop_at: u64, stop: &Arc<AtomicBool>) -> Pairs {
        Pairs {
            drawn: 0,
            stop_at,
            stop: stop.clone(),
        }
    }
}

impl BatchSource for Pairs {
    type Batch = ViewPair;
    fn next_batch(&mut self) -> Result<ViewPair> {
        self.drawn += 1;
        if self.drawn == self.stop_at {
            self.stop.store(true, Ordering::SeqCst);
        }
        views(self.drawn, DType::F32)
    }
    fn cursor(&self) -> serde_json::Value {
        self.drawn.into()
    }
    fn restore(&mut self, c: &serde_json::Value) -> Result<()> {
        self.drawn = c.as_u64().ok_or(TrainError::Source("bad cursor".into()))?;
        Ok(())
    }
    fn batch_items(&self) -> usize {
        6
    }
}

#[test]
fn gessl_over_vicreg_trains_through_the_trainer_and_resumes() -> Result<()> {
    let make = || -> Result<Gessl<Vicreg<ConvNet>>> {
        let store = ParamStore::seeded(1);
        let backbone = tiny_convnet(&store, DType::F32)?;
        let cfg = VicregConfig {
            expander_hidden: 16,
            expander_out: 16,
            ..VicregConfig::default()
        };
        let v = Vicreg::new(store, backbone, &cfg, DType::F32, &Device::Cpu)?;
        Gessl::new(v, &GesslConfig::default())
    };
    let cfg = TrainConfig::new(
        4,
        0,
        OptimizerConfig::Adamw {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
        },
    );
    let dir = tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))?;
    let never = Arc::new(AtomicBool::new(false));
    let straight = dir.path().join("straight");
    let mut g = make()?;
    let s = Trainer::new(cfg.clone(), &straight)?
        .with_progress(false)
        .run(&mut g, &mut Tasks::new(Pairs::new(0, &never), 2)?, false)?;
    assert_eq!(s.method, "gessl_vicreg");
    assert_eq!(s.steps_done, 4);
    let kl = s
        .final_losses
        .iter()
        .find(|(k, _)| k == "kl")
        .expect("kl term")
        .1;
    assert!(kl.is_finite() && kl >= 0.0);

    // Stopped after two outer steps (four tasks drawn), resumed in a new method: the same
    // weights bit for bit.
    let split = dir.path().join("split");
    let stop = Arc::new(AtomicBool::new(false));
    let mut first = make()?;
    let s = Trainer::new(cfg.clone(), &split)?
        .with_progress(false)
        .with_stop_flag(stop.clone())
        .run(&mut first, &mut Tasks::new(Pairs::new(4, &stop), 2)?, false)?;
    assert!(s.interrupted && s.steps_done == 2, "{s}");
    let mut second = make()?;
    Trainer::new(cfg, &split)?.with_progress(false).run(
        &mut second,
        &mut Tasks::new(Pairs::new(0, &never), 2)?,
        true,
    )?;
    let a = values(&g.base().stores()[0].store, false)?;
    let b = values(&second.base().stores()[0].store, false)?;
    assert_eq!(a, b, "resumed GeSSL run differs from the uninterrupted one");
    Ok(())
}
