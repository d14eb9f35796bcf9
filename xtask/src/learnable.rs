//! The supervised learnability check of mini3die (`cargo xtask render --check`).
//!
//! A small CNN is trained with labels on mini3die pixels, on the CPU with candle:
//!
//! - **classification**: trunk (three blocks conv 3x3 pad 1, ReLU, max-pool 2) -> flatten ->
//!   linear 128 -> ReLU -> linear `classes`; cross-entropy, AdamW; top-1 accuracy on every view
//!   of every validation object (chance is `1 / classes`).
//! - **pairs**: the same kind of trunk on both views of one object (shared weights), the two
//!   feature vectors concatenated -> MLP -> 6 outputs: the relative quaternion (4, as
//!   [`rotation_action`]) and the colour deltas (2, as [`color_action`]); MSE, AdamW, fresh
//!   random pairs of two distinct views of a training object every epoch; R² on a fixed set of
//!   validation pairs, rotation and colour apart, each with the scalar-mean definition of the
//!   3DIEBench notes: `1 - sum (Y - Yhat)^2 / sum (Y - ybar)^2`, `ybar` the mean of all
//!   entries of `Y`.
//!
//! The figures are the supervised ceiling the self-supervised methods are compared against.
//! Pair sampling, shuffling and the weight initialisation are drawn from seeded
//! [`ChaCha8Rng`]s. candle's own CPU generator cannot be seeded (`Device::Cpu.set_seed` is an
//! error in candle 0.11), so the weights are not made by a [`candle_nn::VarMap`] but by
//! `noether_models::ParamStore`, a variable backend that samples each layer's requested initialisation
//! (the same Kaiming-normal / uniform rules) from a seeded generator. What is left of run to
//! run variation comes from the order of floating-point sums in the multi-threaded kernels.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use candle_core::backprop::GradStore;
use candle_core::{D, DType, Device, Module, Tensor, Var};
use candle_nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use candle_nn::{
    AdamW, Conv2d, Conv2dConfig, Init, Linear, Optimizer, ParamsAdamW, VarBuilder, conv2d, linear,
};
use noether_data::Split;
use noether_data::layout::{color_action, rotation_action};
use noether_data::render::{Mini3die, Mini3dieConfig};
use noether_models::ParamStore;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Stream tags of the check's generators (one seed, independent streams).
const STREAM_CLASS_INIT: u64 = 1;
const STREAM_CLASS_SHUFFLE: u64 = 2;
const STREAM_PAIR_INIT: u64 = 3;
const STREAM_PAIR_SAMPLE: u64 = 4;
const STREAM_VAL_PAIRS: u64 = 5;

/// Channels of the trunk's three conv blocks.
const TRUNK_WIDTHS: [usize; 3] = [16, 32, 64];
/// Hidden width of the classifier head.
const CLASS_HIDDEN: usize = 128;
/// Hidden width of the pair head.
const PAIR_HIDDEN: usize = 256;
/// Outputs of the pair head: quaternion (4) then colour deltas (2).
const PAIR_OUT: usize = 6;

/// Settings of one run of the check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckConfig {
    /// Number of classes.
    pub classes: usize,
    /// Objects per class.
    pub objects_per_class: usize,
    /// Views per object.
    pub views: usize,
    /// Image side in pixels.
    pub size: usize,
    /// Seed of the dataset, the weights, the shuffles and the pairs.
    pub seed: u64,
    /// Share of each class's objects in the validation split.
    pub val_fraction: f64,
    /// Epochs of the classifier (one epoch: every view of every training object once).
    pub class_epochs: usize,
    /// Epochs of the pair regressor (one epoch: `pairs_per_object` fresh pairs per training
    /// object).
    pub pair_epochs: usize,
    /// Random view pairs per training object and epoch.
    pub pairs_per_object: usize,
    /// Fixed validation pairs per validation object.
    pub val_pairs_per_object: usize,
    /// Mini-batch size (images for the classifier, pairs for the regressor).
    pub batch: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// The tiny configuration for tests: no pass/fail verdict.
    pub smoke: bool,
}

impl CheckConfig {
    /// The default check: 10 classes x 48 objects x 12 views at 32 px, a quarter of the
    /// objects for validation, 4 epochs each; about three minutes on two CPU cores. (More
    /// objects with fewer epochs beat fewer objects with more epochs at the same cost: the
    /// small trunk overfits 180 training objects within a few epochs.)
    pub fn full(seed: u64) -> Self {
        CheckConfig {
            classes: 10,
            objects_per_class: 48,
            views: 12,
            size: 32,
            seed,
            val_fraction: 0.25,
            class_epochs: 4,
            pair_epochs: 4,
            pairs_per_object: 12,
            val_pairs_per_object: 12,
            batch: 64,
            lr: 1e-3,
            smoke: false,
        }
    }

    /// A tiny check for tests: 3 classes x 4 objects x 4 views at 16 px, one epoch; seconds.
    pub fn smoke(seed: u64) -> Self {
        CheckConfig {
            classes: 3,
            objects_per_class: 4,
            views: 4,
            size: 16,
            class_epochs: 1,
            pair_epochs: 1,
            pairs_per_object: 2,
            val_pairs_per_object: 4,
            batch: 16,
            smoke: true,
            ..CheckConfig::full(seed)
        }
    }

    /// Sets both epoch counts.
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.class_epochs = epochs;
        self.pair_epochs = epochs;
        self
    }

    fn validate(&self) -> Result<()> {
        ensure!(
            self.size >= 8,
            "check.size: {} px; the trunk's three 2x2 poolings need at least 8",
            self.size
        );
        ensure!(self.views >= 2, "check.views: pairs need at least 2 views");
        ensure!(self.batch >= 1, "check.batch: at least 1");
        ensure!(
            self.class_epochs >= 1 && self.pair_epochs >= 1,
            "check.epochs: at least 1"
        );
        Ok(())
    }
}

/// The figures of one run (printed as a table, written as JSON with `--check-json`).
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The settings.
    pub config: CheckConfig,
    /// Number of training objects.
    pub train_objects: usize,
    /// Number of validation objects.
    pub val_objects: usize,
    /// Top-1 accuracy of the classifier on every view of every validation object.
    pub class_top1: f64,
    /// Chance level, `1 / classes`.
    pub chance: f64,
    /// R² (scalar mean) of the relative quaternion on the validation pairs.
    pub rotation_r2: f64,
    /// R² (scalar mean) of the colour deltas on the validation pairs.
    pub color_r2: f64,
    /// Number of validation pairs.
    pub val_pairs: usize,
    /// Mean training loss (cross-entropy) per classifier epoch.
    pub class_losses: Vec<f64>,
    /// Mean training loss (MSE over the 6 outputs) per pair epoch.
    pub pair_losses: Vec<f64>,
    /// Seconds spent rendering.
    pub render_s: f64,
    /// Seconds spent on the classifier.
    pub class_s: f64,
    /// Seconds spent on the pair regressor.
    pub pair_s: f64,
    /// Seconds in all.
    pub wall_s: f64,
    /// The verdict: top-1 at least twice chance, both R² positive, both losses decreased.
    /// `None` for the smoke configuration, whose single epoch proves nothing.
    pub passed: Option<bool>,
}

/// Runs the check, prints the per-epoch losses and the table, writes `json` if given, and
/// fails when the verdict is negative.
pub fn run(config: CheckConfig, json: Option<PathBuf>) -> Result<()> {
    let report = check(config)?;
    print_table(&report);
    if let Some(path) = &json {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
        println!("json: {}", path.display());
    }
    if report.passed == Some(false) {
        bail!(
            "mini3die is not learnable at these settings: top-1 {:.3} (chance {:.3}), rotation R² {:.3}, colour R² {:.3}",
            report.class_top1,
            report.chance,
            report.rotation_r2,
            report.color_r2
        );
    }
    Ok(())
}

/// Renders the dataset, trains both models and measures them.
pub fn check(config: CheckConfig) -> Result<CheckReport> {
    config.validate()?;
    let start = Instant::now();
    let data = Mini3die::new(Mini3dieConfig {
        classes: config.classes,
        objects_per_class: config.objects_per_class,
        views: config.views,
        size: config.size,
        seed: config.seed,
        val_fraction: config.val_fraction,
    })?;
    let train = data.objects_in(Split::Train);
    let val = data.objects_in(Split::Val);
    ensure!(
        !train.is_empty() && !val.is_empty(),
        "check: {} training and {} validation objects; both splits need objects (raise --objects-per-class)",
        train.len(),
        val.len()
    );
    println!(
        "rendering mini3die: {} classes x {} objects x {} views at {} px ({} train / {} val objects)",
        config.classes,
        config.objects_per_class,
        config.views,
        config.size,
        train.len(),
        val.len()
    );
    let images = Images::render(&data, &train)?;
    let render_s = start.elapsed().as_secs_f64();
    println!("  rendered {} images in {render_s:.1} s", images.count);
    let dev = Device::Cpu;

    let t = Instant::now();
    let (class_top1, class_losses) = classification(&config, &data, &images, &train, &val, &dev)?;
    let class_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let pairs = pair_regression(&config, &images, &train, &val, &dev)?;
    let pair_s = t.elapsed().as_secs_f64();

    let chance = 1.0 / config.classes as f64;
    let passed = (!config.smoke).then(|| {
        class_top1 >= 2.0 * chance
            && pairs.rotation_r2 > 0.0
            && pairs.color_r2 > 0.0
            && decreased(&class_losses)
            && decreased(&pairs.losses)
    });
    Ok(CheckReport {
        train_objects: train.len(),
        val_objects: val.len(),
        class_top1,
        chance,
        rotation_r2: pairs.rotation_r2,
        color_r2: pairs.color_r2,
        val_pairs: pairs.val_pairs,
        class_losses,
        pair_losses: pairs.losses,
        render_s,
        class_s,
        pair_s,
        wall_s: start.elapsed().as_secs_f64(),
        passed,
        config,
    })
}

/// Whether the last epoch's loss is below the first's (trivially true for one epoch).
fn decreased(losses: &[f64]) -> bool {
    match (losses.first(), losses.last()) {
        (Some(first), Some(last)) => losses.len() < 2 || last < first,
        _ => false,
    }
}

fn print_table(r: &CheckReport) {
    let c = &r.config;
    let verdict = match r.passed {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "n/a (smoke)",
    };
    println!();
    println!("mini3die supervised check");
    println!("  metric               value");
    println!(
        "  class top-1          {:.3}   (chance {:.3}; {} val images)",
        r.class_top1,
        r.chance,
        r.val_objects * c.views
    );
    println!(
        "  rotation R²          {:.3}   (relative quaternion, {} val pairs)",
        r.rotation_r2, r.val_pairs
    );
    println!(
        "  colour R²            {:.3}   (floor and spot hue deltas)",
        r.color_r2
    );
    println!(
        "  config               {} classes x {} objects x {} views at {} px, seed {}, val {} ({} train / {} val objects)",
        c.classes,
        c.objects_per_class,
        c.views,
        c.size,
        c.seed,
        c.val_fraction,
        r.train_objects,
        r.val_objects
    );
    println!(
        "  training             class {} epochs, pairs {} epochs x {} pairs/object, batch {}, AdamW lr {}",
        c.class_epochs, c.pair_epochs, c.pairs_per_object, c.batch, c.lr
    );
    println!(
        "  wall time            {:.1} s (render {:.1}, class {:.1}, pairs {:.1})",
        r.wall_s, r.render_s, r.class_s, r.pair_s
    );
    println!("  verdict              {verdict}");
}

/// Every view of every object, normalised per channel with the training images' statistics,
/// with the latents.
struct Images {
    /// `count x 3 x size x size`, image `object * views + view`.
    pixels: Vec<f32>,
    latents: Vec<noether_data::Latent>,
    count: usize,
    views: usize,
    size: usize,
}

impl Images {
    fn render(data: &Mini3die, train: &[usize]) -> Result<Self> {
        let views = data.views();
        let size = data.config().size;
        let items: Vec<(usize, usize)> = (0..data.num_objects())
            .flat_map(|o| (0..views).map(move |v| (o, v)))
            .collect();
        let rendered = data.render_many(&items)?;
        let plane = size * size;
        let mut pixels = Vec::with_capacity(items.len() * 3 * plane);
        for image in &rendered {
            ensure!(
                image.data().len() == 3 * plane,
                "mini3die rendered {} values, expected 3 x {size} x {size}",
                image.data().len()
            );
            pixels.extend_from_slice(image.data());
        }
        let latents = items
            .iter()
            .map(|&(o, v)| data.latent(o, v))
            .collect::<noether_data::Result<Vec<_>>>()?;
        // Per-channel mean and std over the training images.
        let mut sum = [0.0f64; 3];
        let mut sq = [0.0f64; 3];
        for &o in train {
            for v in 0..views {
                let img = &pixels[(o * views + v) * 3 * plane..][..3 * plane];
                for (c, ch) in img.chunks_exact(plane).enumerate() {
                    for &x in ch {
                        sum[c] += f64::from(x);
                        sq[c] += f64::from(x) * f64::from(x);
                    }
                }
            }
        }
        let n = (train.len() * views * plane) as f64;
        let mean = sum.map(|s| s / n);
        let std: Vec<f64> = (0..3)
            .map(|c| (sq[c] / n - mean[c] * mean[c]).max(1e-8).sqrt())
            .collect();
        for img in pixels.chunks_exact_mut(3 * plane) {
            for (c, ch) in img.chunks_exact_mut(plane).enumerate() {
                for x in ch {
                    *x = ((f64::from(*x) - mean[c]) / std[c]) as f32;
                }
            }
        }
        Ok(Images {
            pixels,
            latents,
            count: items.len(),
            views,
            size,
        })
    }

    fn index(&self, object: usize, view: usize) -> usize {
        object * self.views + view
    }

    /// The images with these indices as a `n x 3 x size x size` tensor.
    fn batch(&self, indices: &[usize], dev: &Device) -> Result<Tensor> {
        let len = 3 * self.size * self.size;
        let mut buf = Vec::with_capacity(indices.len() * len);
        for &i in indices {
            buf.extend_from_slice(&self.pixels[i * len..][..len]);
        }
        Ok(Tensor::from_vec(
            buf,
            (indices.len(), 3, self.size, self.size),
            dev,
        )?)
    }

    /// The regression target of the pair `a -> b`: quaternion then colour deltas.
    fn target(&self, a: usize, b: usize) -> [f32; PAIR_OUT] {
        let (la, lb) = (&self.latents[a], &self.latents[b]);
        let q = rotation_action(la, lb);
        let c = color_action(la, lb);
        [q[0], q[1], q[2], q[3], c[0], c[1]]
    }
}

/// A builder of seeded variables with the stream `stream` of `seed`.
fn seeded_builder(seed: u64, stream: u64, dev: &Device) -> (ParamStore, VarBuilder<'static>) {
    let store = ParamStore::from_rng(stream_rng(seed, stream));
    let vb = store.var_builder(DType::F32, dev);
    (store, vb)
}

/// The named variables of `store`, in creation order, for [`Fit`].
fn named_vars(store: &ParamStore) -> Result<Vec<(String, Var)>> {
    Ok(store.all()?.into_iter().map(|p| (p.name, p.var)).collect())
}

fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Three blocks conv 3x3 pad 1 -> ReLU -> max-pool 2, then flatten.
struct Trunk {
    convs: Vec<Conv2d>,
    out_dim: usize,
}

impl Trunk {
    fn new(size: usize, vb: VarBuilder) -> Result<Self> {
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let mut convs = Vec::new();
        let mut c_in = 3;
        let mut side = size;
        for (i, &c_out) in TRUNK_WIDTHS.iter().enumerate() {
            convs.push(conv2d(c_in, c_out, 3, cfg, vb.pp(format!("conv{i}")))?);
            c_in = c_out;
            side /= 2;
        }
        Ok(Trunk {
            convs,
            out_dim: c_in * side * side,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for conv in &self.convs {
            x = noether_ops::max_pool2d(&conv.forward(&x)?.relu()?, 2)?;
        }
        Ok(x.flatten_from(1)?)
    }
}

/// Checks that every variable got a non-zero gradient.
fn check_gradients(vars: &[(String, Var)], grads: &GradStore) -> Result<()> {
    for (name, var) in vars {
        let g = grads
            .get(var.as_tensor())
            .with_context(|| format!("no gradient reaches {name}"))?;
        let norm = g.sqr()?.sum_all()?.to_scalar::<f32>()?;
        ensure!(
            norm.is_finite() && norm > 0.0,
            "gradient of {name} is {norm} (squared norm)"
        );
    }
    Ok(())
}

/// The classifier.
struct Classifier {
    trunk: Trunk,
    hidden: Linear,
    out: Linear,
}

impl Classifier {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.hidden.forward(&self.trunk.forward(x)?)?.relu()?;
        Ok(self.out.forward(&h)?)
    }
}

/// Trains the classifier and returns the validation top-1 and the per-epoch losses.
fn classification(
    config: &CheckConfig,
    data: &Mini3die,
    images: &Images,
    train: &[usize],
    val: &[usize],
    dev: &Device,
) -> Result<(f64, Vec<f64>)> {
    println!("classification: {} epochs", config.class_epochs);
    let (init, vb) = seeded_builder(config.seed, STREAM_CLASS_INIT, dev);
    let trunk = Trunk::new(config.size, vb.pp("trunk"))?;
    let hidden = linear(trunk.out_dim, CLASS_HIDDEN, vb.pp("hidden"))?;
    let out = linear(CLASS_HIDDEN, config.classes, vb.pp("out"))?;
    let model = Classifier { trunk, hidden, out };
    let mut fit = Fit::new(named_vars(&init)?, config.lr)?;
    let label = |i: usize| data.objects()[i / images.views].class as u32;
    let mut order: Vec<usize> = train
        .iter()
        .flat_map(|&o| (0..images.views).map(move |v| images.index(o, v)))
        .collect();
    let mut rng = stream_rng(config.seed, STREAM_CLASS_SHUFFLE);
    let mut losses = Vec::new();
    for epoch in 0..config.class_epochs {
        let t = Instant::now();
        order.shuffle(&mut rng);
        let mean = fit.epoch(&order, config.batch, "classification", |chunk| {
            let x = images.batch(chunk, dev)?;
            let y = Tensor::from_vec(
                chunk.iter().map(|&i| label(i)).collect::<Vec<u32>>(),
                chunk.len(),
                dev,
            )?;
            Ok(candle_nn::loss::cross_entropy(&model.forward(&x)?, &y)?)
        })?;
        println!(
            "  epoch {:>2}  cross-entropy {mean:.4}  ({:.1} s)",
            epoch + 1,
            t.elapsed().as_secs_f64()
        );
        losses.push(mean);
    }
    let val_images: Vec<usize> = val
        .iter()
        .flat_map(|&o| (0..images.views).map(move |v| images.index(o, v)))
        .collect();
    let mut correct = 0usize;
    for chunk in val_images.chunks(256) {
        let pred = model
            .forward(&images.batch(chunk, dev)?)?
            .argmax(D::Minus1)?
            .to_vec1::<u32>()?;
        correct += chunk
            .iter()
            .zip(&pred)
            .filter(|&(&i, &p)| p == label(i))
            .count();
    }
    Ok((correct as f64 / val_images.len() as f64, losses))
}

/// A linear layer with weights ten times smaller than [`linear()`]'s (Kaiming normal, gain
/// 0.1) and zero bias: the regression head starts near zero instead of at an MSE many times
/// the targets' variance.
fn small_linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let init = Init::Kaiming {
        dist: NormalOrUniform::Normal,
        fan: FanInOut::FanIn,
        non_linearity: NonLinearity::ExplicitGain(0.1),
    };
    let w = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
    let b = vb.get_with_hints(out_dim, "bias", Init::Const(0.0))?;
    Ok(Linear::new(w, Some(b)))
}

/// The pair regressor.
struct PairNet {
    trunk: Trunk,
    hidden1: Linear,
    hidden2: Linear,
    out: Linear,
}

impl PairNet {
    /// Predictions for the pairs `(a[n], b[n])`: both views go through the trunk in one batch.
    fn forward(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let n = a.dim(0)?;
        let f = self.trunk.forward(&Tensor::cat(&[a, b], 0)?)?;
        let z = Tensor::cat(&[f.narrow(0, 0, n)?, f.narrow(0, n, n)?], 1)?;
        let h = self.hidden1.forward(&z)?.relu()?;
        let h = self.hidden2.forward(&h)?.relu()?;
        Ok(self.out.forward(&h)?)
    }
}

struct PairResult {
    rotation_r2: f64,
    color_r2: f64,
    val_pairs: usize,
    losses: Vec<f64>,
}

/// Two distinct views of one object.
fn two_views(rng: &mut ChaCha8Rng, views: usize) -> (usize, usize) {
    let a = rng.random_range(0..views);
    let b = (a + rng.random_range(1..views)) % views;
    (a, b)
}

/// Trains the pair regressor and measures it on fixed validation pairs.
fn pair_regression(
    config: &CheckConfig,
    images: &Images,
    train: &[usize],
    val: &[usize],
    dev: &Device,
) -> Result<PairResult> {
    println!(
        "pairs (relative quaternion + colour deltas): {} epochs",
        config.pair_epochs
    );
    let (init, vb) = seeded_builder(config.seed, STREAM_PAIR_INIT, dev);
    let trunk = Trunk::new(config.size, vb.pp("trunk"))?;
    let hidden1 = linear(2 * trunk.out_dim, PAIR_HIDDEN, vb.pp("hidden1"))?;
    let hidden2 = linear(PAIR_HIDDEN, PAIR_HIDDEN, vb.pp("hidden2"))?;
    let out = small_linear(PAIR_HIDDEN, PAIR_OUT, vb.pp("out"))?;
    let model = PairNet {
        trunk,
        hidden1,
        hidden2,
        out,
    };
    let mut fit = Fit::new(named_vars(&init)?, config.lr)?;
    let views = images.views;
    let mut rng = stream_rng(config.seed, STREAM_PAIR_SAMPLE);
    let mut losses = Vec::new();
    for epoch in 0..config.pair_epochs {
        let t = Instant::now();
        let mut objects: Vec<usize> = train
            .iter()
            .flat_map(|&o| std::iter::repeat_n(o, config.pairs_per_object))
            .collect();
        objects.shuffle(&mut rng);
        let pairs: Vec<(usize, usize)> = objects
            .iter()
            .map(|&o| {
                let (a, b) = two_views(&mut rng, views);
                (images.index(o, a), images.index(o, b))
            })
            .collect();
        let mean = fit.epoch(&pairs, config.batch, "pair", |chunk| {
            let (x1, x2, y) = pair_batch(images, chunk, dev)?;
            Ok(candle_nn::loss::mse(&model.forward(&x1, &x2)?, &y)?)
        })?;
        println!(
            "  epoch {:>2}  mse {mean:.5}  ({:.1} s)",
            epoch + 1,
            t.elapsed().as_secs_f64()
        );
        losses.push(mean);
    }
    // Fixed validation pairs from their own stream.
    let mut rng = stream_rng(config.seed, STREAM_VAL_PAIRS);
    let val_pairs: Vec<(usize, usize)> = val
        .iter()
        .flat_map(|&o| std::iter::repeat_n(o, config.val_pairs_per_object))
        .map(|o| {
            let (a, b) = two_views(&mut rng, views);
            (images.index(o, a), images.index(o, b))
        })
        .collect();
    let (mut rot_y, mut rot_p, mut col_y, mut col_p) = (vec![], vec![], vec![], vec![]);
    for chunk in val_pairs.chunks(256) {
        let (x1, x2, y) = pair_batch(images, chunk, dev)?;
        let p = model.forward(&x1, &x2)?.to_vec2::<f32>()?;
        let y = y.to_vec2::<f32>()?;
        for (yr, pr) in y.iter().zip(&p) {
            rot_y.extend_from_slice(&yr[..4]);
            rot_p.extend_from_slice(&pr[..4]);
            col_y.extend_from_slice(&yr[4..]);
            col_p.extend_from_slice(&pr[4..]);
        }
    }
    Ok(PairResult {
        rotation_r2: r2_scalar_mean(&rot_y, &rot_p)?,
        color_r2: r2_scalar_mean(&col_y, &col_p)?,
        val_pairs: val_pairs.len(),
        losses,
    })
}

/// The views and targets of a batch of pairs (image indices).
fn pair_batch(
    images: &Images,
    pairs: &[(usize, usize)],
    dev: &Device,
) -> Result<(Tensor, Tensor, Tensor)> {
    let a: Vec<usize> = pairs.iter().map(|p| p.0).collect();
    let b: Vec<usize> = pairs.iter().map(|p| p.1).collect();
    let y: Vec<f32> = pairs
        .iter()
        .flat_map(|&(i, j)| images.target(i, j))
        .collect();
    Ok((
        images.batch(&a, dev)?,
        images.batch(&b, dev)?,
        Tensor::from_vec(y, (pairs.len(), PAIR_OUT), dev)?,
    ))
}

/// R² with the scalar mean of the 3DIEBench notes: `1 - sum (y - p)^2 / sum (y - ybar)^2`,
/// `ybar` the mean of all entries of `y` (not sklearn's per-output average). `y` and `p` hold
/// the same entries in the same order (any layout of pairs x outputs).
pub fn r2_scalar_mean(y: &[f32], p: &[f32]) -> Result<f64> {
    ensure!(
        y.len() == p.len() && !y.is_empty(),
        "R²: {} targets and {} predictions",
        y.len(),
        p.len()
    );
    let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / y.len() as f64;
    let (mut res, mut tot) = (0.0f64, 0.0f64);
    for (&t, &q) in y.iter().zip(p) {
        res += (f64::from(t) - f64::from(q)).powi(2);
        tot += (f64::from(t) - mean).powi(2);
    }
    ensure!(tot > 0.0, "R²: the targets are constant");
    Ok(1.0 - res / tot)
}

/// An AdamW optimiser over a model's variables, run epoch by epoch. The first step also
/// checks that every variable received a finite, non-zero gradient.
struct Fit {
    opt: AdamW,
    vars: Vec<(String, Var)>,
    checked: bool,
}

impl Fit {
    fn new(vars: Vec<(String, Var)>, lr: f64) -> Result<Self> {
        let opt = AdamW::new(
            vars.iter().map(|(_, v)| v.clone()).collect(),
            ParamsAdamW {
                lr,
                ..Default::default()
            },
        )?;
        Ok(Self {
            opt,
            vars,
            checked: false,
        })
    }

    /// One pass over `items` in batches of `batch`, one optimiser step per batch on the loss
    /// `loss(chunk)`; returns the mean loss over the items (an error when it is not finite).
    fn epoch<T>(
        &mut self,
        items: &[T],
        batch: usize,
        what: &str,
        mut loss: impl FnMut(&[T]) -> Result<Tensor>,
    ) -> Result<f64> {
        let (mut sum, mut n) = (0.0f64, 0usize);
        for chunk in items.chunks(batch) {
            let l = loss(chunk)?;
            let grads = l.backward()?;
            if !self.checked {
                check_gradients(&self.vars, &grads)?;
                self.checked = true;
            }
            self.opt.step(&grads)?;
            sum += f64::from(l.to_scalar::<f32>()?) * chunk.len() as f64;
            n += chunk.len();
        }
        let mean = sum / n as f64;
        ensure!(mean.is_finite(), "{what} loss is {mean}");
        Ok(mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r2_uses_the_scalar_mean() {
        // Two outputs with different means: the scalar mean makes predicting each column's
        // own mean score above 0, unlike sklearn's per-output average (which gives 0).
        let y = [0.0, 10.0, 2.0, 12.0];
        let p = [1.0, 11.0, 1.0, 11.0];
        let r2 = r2_scalar_mean(&y, &p).expect("r2");
        // ybar = 6: sum (y - ybar)^2 = 36 + 16 + 16 + 36 = 104; sum (y - p)^2 = 4.
        assert!((r2 - (1.0 - 4.0 / 104.0)).abs() < 1e-12);
        assert_eq!(r2_scalar_mean(&y, &y).expect("r2"), 1.0);
    }

    #[test]
    fn seeded_init_is_deterministic() {
        let make = || {
            let (init, vb) = seeded_builder(7, STREAM_CLASS_INIT, &Device::Cpu);
            let _ = Trunk::new(16, vb).expect("trunk");
            named_vars(&init)
                .expect("vars")
                .into_iter()
                .map(|(n, v)| {
                    let s = v.as_tensor().sum_all().and_then(|t| t.to_scalar::<f32>());
                    (n, s.expect("sum"))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(make(), make());
    }
}
