//! SIE, SEN, EquiMod on actions and SimCLR + AugSelf through the trainer on a tiny ConvNet and seeded synthetic
//! object-view pairs: the loss falls, every trained parameter gets a gradient, SIE's terms add up
//! to its total, the predictors are the hypernetwork applied to the gallery embedding, and bad
//! configs and batches are errors naming the field.

use crate::common;

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use common::{gradients, metrics};
use noether_models::{ConvNet, ConvNetConfig, ParamStore};
use noether_train::data::ActionPairs;
use noether_train::methods::{
    ActionColumns, AugSelfConfig, EquimodActions, EquimodActionsConfig, Sen, SenConfig, Sie,
    SieConfig, SimClrAugSelf,
};
use noether_train::{
    BatchSource, Embed, Method, OptimizerConfig, PredictAction, Result, StepContext, TrainConfig,
    TrainError, Trainer,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 8;

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))
}

/// A two-block ConvNet (widths `widths`) under `backbone.` of `store`.
fn make_backbone(store: &ParamStore, widths: Vec<usize>) -> Result<ConvNet> {
    let cfg = ConvNetConfig {
        in_channels: 3,
        widths,
        convs_per_block: 1,
        num_classes: None,
    };
    let vb = store.var_builder(DType::F32, &Device::Cpu);
    Ok(ConvNet::new(&cfg, vb.pp("backbone"))?)
}

fn ctx() -> StepContext {
    StepContext {
        step: 0,
        total_steps: 1,
        lr: 0.1,
        seed: 0,
    }
}

/// `N` pairs of random 3x8x8 images: a random unit quaternion `q` and hue deltas `d` per pair,
/// `x1` uniform noise and `x2 = x1` with its channels shifted by functions of `q` and `d` plus
/// noise, so the action is visible in the pair.
fn action_pairs(seed: u64) -> Result<ActionPairs> {
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let m = 8 * 8;
    let mut x1 = Vec::with_capacity(N * 3 * m);
    let mut x2 = Vec::with_capacity(N * 3 * m);
    let mut action = Vec::with_capacity(N * 6);
    let mut latent2 = Vec::with_capacity(N * 6);
    for _ in 0..N {
        let mut q: [f32; 4] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        let norm = q.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-3);
        q.iter_mut().for_each(|v| *v /= norm);
        let d: [f32; 2] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        let shift = [q[0] + 0.5 * d[0], q[1] - q[3], q[2] + 0.5 * d[1]];
        for s in shift {
            for _ in 0..m {
                let v: f32 = rng.random_range(-1.0..1.0);
                x1.push(v);
                x2.push(v + s + 0.1 * rng.random_range(-1.0f32..1.0));
            }
        }
        action.extend(q);
        action.extend(d);
        latent2.extend(q);
        latent2.extend(d);
    }
    Ok(ActionPairs {
        x1: Tensor::from_vec(x1, (N, 3, 8, 8), &dev)?,
        x2: Tensor::from_vec(x2, (N, 3, 8, 8), &dev)?,
        action: Tensor::from_vec(action, (N, 6), &dev)?,
        latent2: Tensor::from_vec(latent2, (N, 6), &dev)?,
        labels: vec![0; N],
    })
}

/// Serves the same batch forever.
struct Repeat(ActionPairs, u64);

impl BatchSource for Repeat {
    type Batch = ActionPairs;
    fn next_batch(&mut self) -> Result<ActionPairs> {
        self.1 += 1;
        Ok(self.0.clone())
    }
    fn cursor(&self) -> serde_json::Value {
        self.1.into()
    }
    fn restore(&mut self, c: &serde_json::Value) -> Result<()> {
        self.1 = c
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

/// Runs `steps` Adam steps on one fixed batch; returns the logged `loss/<term>` of every step
/// for every term in `terms`.
fn train<M: Method<Batch = ActionPairs>>(
    method: &mut M,
    steps: u64,
    terms: &[&str],
) -> Result<BTreeMap<String, Vec<f64>>> {
    let dir = tempdir()?;
    Trainer::new(TrainConfig::new(steps, 0, adam(1e-2)), dir.path())?
        .with_progress(false)
        .run(method, &mut Repeat(action_pairs(0)?, 0), false)?;
    let lines = metrics(dir.path());
    assert_eq!(lines.len() as u64, steps);
    Ok(terms
        .iter()
        .map(|t| {
            let v = lines
                .iter()
                .map(|l| l[format!("loss/{t}")].as_f64().expect("a logged loss"))
                .collect();
            (t.to_string(), v)
        })
        .collect())
}

/// Every parameter in `expected` exists, and every trainable parameter has a finite, non-zero
/// gradient.
fn assert_all_get_gradients(grads: &BTreeMap<String, Option<f64>>, expected: &[&str]) {
    for k in expected {
        assert!(grads.contains_key(*k), "{k} in {:?}", grads.keys());
    }
    for (name, g) in grads {
        let g = g.unwrap_or_else(|| panic!("{name} gets no gradient"));
        assert!(g.is_finite(), "{name}: {g}");
        assert!(g > 1e-8, "{name} gets a zero gradient ({g})");
    }
}

fn sie_config(action: ActionColumns) -> SieConfig {
    SieConfig {
        proj_hidden: 16,
        proj_out: 8,
        action,
        ..SieConfig::default()
    }
}

fn tiny_sie(action: ActionColumns) -> Result<Sie<ConvNet>> {
    let store = ParamStore::seeded(1);
    let backbone = make_backbone(&store, vec![4, 8])?;
    Sie::new(
        store,
        backbone,
        &sie_config(action),
        DType::F32,
        &Device::Cpu,
    )
}

fn sen_config(action: ActionColumns) -> SenConfig {
    SenConfig {
        proj_hidden: 16,
        proj_out: 8,
        action,
        temperature: 0.1,
    }
}

fn tiny_sen(action: ActionColumns) -> Result<Sen<ConvNet>> {
    let store = ParamStore::seeded(2);
    let backbone = make_backbone(&store, vec![4, 8])?;
    Sen::new(
        store,
        backbone,
        &sen_config(action),
        DType::F32,
        &Device::Cpu,
    )
}

fn augself_config() -> AugSelfConfig {
    AugSelfConfig {
        proj_hidden: 16,
        proj_out: 8,
        temperature: 0.1,
        head_hidden: 16,
        augself_weight: 1.0,
    }
}

fn tiny_augself() -> Result<SimClrAugSelf<ConvNet>> {
    let store = ParamStore::seeded(3);
    let backbone = make_backbone(&store, vec![4, 8])?;
    SimClrAugSelf::new(store, backbone, &augself_config(), DType::F32, &Device::Cpu)
}

/// `sum_k a_nk sum_i A_k[o, i] v_ni` with plain loops over the predictor's weight.
fn hypernet_by_hand(weight: &Tensor, v: &Tensor, a: &[[f32; 6]], a_dim: usize) -> Result<Tensor> {
    let (ka, vd, vd2) = weight.dims3()?;
    assert_eq!((ka, vd), (a_dim, vd2));
    let w: Vec<f32> = weight.flatten_all()?.to_vec1()?;
    let v: Vec<Vec<f32>> = v.to_vec2()?;
    let mut out = Vec::with_capacity(v.len() * vd);
    for (n, vn) in v.iter().enumerate() {
        for o in 0..vd {
            let mut s = 0.0f64;
            for (k, &ak) in a[n][..a_dim].iter().enumerate() {
                for (i, &vi) in vn.iter().enumerate() {
                    s += ak as f64 * w[(k * vd + o) * vd + i] as f64 * vi as f64;
                }
            }
            out.push(s as f32);
        }
    }
    Ok(Tensor::from_vec(out, (v.len(), vd), &Device::Cpu)?)
}

/// Hand-picked actions: the identity, quarter turns about x and z, a general rotation, with
/// hue deltas, repeated over the batch.
fn hand_actions() -> Vec<[f32; 6]> {
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let rows = [
        [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        [h, 0.0, 0.0, h, 0.25, -0.5],
        [0.0, 0.0, h, h, -0.75, 0.1],
        [0.5, -0.5, 0.5, 0.5, 0.3, 0.9],
    ];
    (0..N).map(|i| rows[i % rows.len()]).collect()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?)
}

#[test]
fn sie_loss_falls_and_its_terms_add_up() -> Result<()> {
    let mut m = tiny_sie(ActionColumns::Rotation)?;
    assert_eq!(m.name(), "sie");
    let names = [
        "total",
        "invariance",
        "equivariance",
        "variance",
        "prediction_variance",
        "covariance",
    ];
    let l = train(&mut m, 20, &names)?;
    eprintln!("sie {l:?}");
    let w = SieConfig::default();
    for i in [0, 10, 19] {
        let sum = w.invariance * l["invariance"][i]
            + w.equivariance * l["equivariance"][i]
            + w.variance * l["variance"][i]
            + w.prediction_variance * l["prediction_variance"][i]
            + w.covariance * l["covariance"][i];
        let total = l["total"][i];
        assert!(
            (sum - total).abs() <= 1e-5 * (1.0 + total.abs()),
            "step {i}: the weighted terms add up to {sum}, total {total}"
        );
    }
    let total = &l["total"];
    assert!(total.iter().all(|v| v.is_finite()), "{total:?}");
    // measured: 12.36 at step 1, 4.01 at step 20
    assert!(
        total[19] < 0.5 * total[0] && total[19] < total[10],
        "{total:?}"
    );
    Ok(())
}

#[test]
fn sie_total_is_the_weighted_sum_with_other_weights() -> Result<()> {
    // Weights that differ from each other, so a term with the wrong weight shows.
    let cfg = SieConfig {
        invariance: 1.0,
        equivariance: 2.0,
        variance: 3.0,
        prediction_variance: 5.0,
        covariance: 7.0,
        ..sie_config(ActionColumns::RotationColor)
    };
    let store = ParamStore::seeded(4);
    let backbone = make_backbone(&store, vec![4, 8])?;
    let mut m = Sie::new(store, backbone, &cfg, DType::F32, &Device::Cpu)?;
    let losses = m.losses(&action_pairs(1)?, &ctx())?;
    let t: BTreeMap<&str, f64> = losses.terms.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(t.len(), 5, "{t:?}");
    let sum = t["invariance"]
        + 2.0 * t["equivariance"]
        + 3.0 * t["variance"]
        + 5.0 * t["prediction_variance"]
        + 7.0 * t["covariance"];
    let total = losses.total.to_scalar::<f32>()? as f64;
    assert!(
        (sum - total).abs() <= 1e-5 * (1.0 + total),
        "{sum} != {total}"
    );
    assert!(t.values().all(|v| v.is_finite() && *v >= 0.0), "{t:?}");
    Ok(())
}

#[test]
fn sie_every_parameter_gets_a_gradient() -> Result<()> {
    for action in [ActionColumns::Rotation, ActionColumns::RotationColor] {
        let mut m = tiny_sie(action)?;
        let g = gradients(&mut m, &action_pairs(0)?)?;
        assert!(g.keys().all(|k| k.starts_with("model/")));
        assert_all_get_gradients(
            &g,
            &[
                "model/backbone.features.0.conv1.weight",
                "model/inv_projector.0.weight",
                "model/inv_projector.1.weight",
                "model/inv_projector.6.weight",
                "model/equi_projector.0.weight",
                "model/equi_projector.4.bias",
                "model/equi_projector.6.weight",
                "model/predictor.weight",
            ],
        );
    }
    Ok(())
}

#[test]
fn sie_predict_is_the_hypernetwork_on_the_gallery_embedding() -> Result<()> {
    for action in [ActionColumns::Rotation, ActionColumns::RotationColor] {
        let mut m = tiny_sie(action)?;
        // a training step first, so the running statistics are not the initial ones
        m.losses(&action_pairs(0)?, &ctx())?;
        let b = action_pairs(5)?;
        let rows = hand_actions();
        let a = Tensor::from_vec(rows.concat(), (N, 6), &Device::Cpu)?;
        let v = m.gallery(&b.x1)?;
        assert_eq!(v.dims(), [N, 8]);
        let want = hypernet_by_hand(m.predictor().weight(), &v, &rows, action.a_dim())?;
        let got = m.predict(&b.x1, &a)?;
        assert_eq!(got.dims(), [N, 8]);
        let diff = max_abs_diff(&got, &want)?;
        assert!(
            diff < 1e-4,
            "{action:?}: predict differs from by-hand by {diff}"
        );
        // the identity rotation with no hue change maps v to sum_k a_k A_k v = A_3 v only
        let a3 = m.predictor().weight().get(3)?; // (v_dim, v_dim)
        let id = v.get(0)?.unsqueeze(0)?.matmul(&a3.t()?)?; // (1, v_dim)
        let d0 = max_abs_diff(&got.get(0)?.unsqueeze(0)?, &id)?;
        assert!(d0 < 1e-4, "{d0}");
        // embedding = [u | v], features = the whole representation
        let e = m.embedding(&b.x1)?;
        assert_eq!(e.dims(), [N, 16]);
        assert!(max_abs_diff(&e.narrow(1, 8, 8)?, &v)? < 1e-6);
        assert_eq!(m.features(&b.x1)?.dims(), [N, 8]);
        // a wrong action shape is an error naming it
        let err = m
            .predict(&b.x1, &a.narrow(1, 0, 4)?)
            .expect_err("a 4-column action");
        assert!(err.to_string().contains("predict.action"), "{err}");
    }
    Ok(())
}

#[test]
fn sie_config_errors_name_the_field() -> Result<()> {
    // odd feature dim
    let store = ParamStore::seeded(5);
    let backbone = make_backbone(&store, vec![4, 7])?;
    let err = Sie::new(
        store,
        backbone,
        &sie_config(ActionColumns::Rotation),
        DType::F32,
        &Device::Cpu,
    )
    .expect_err("an odd feature dim");
    assert!(err.to_string().contains("backbone.feature_dim"), "{err}");
    // zero widths, bad weights
    for (cfg, field) in [
        (
            SieConfig {
                proj_hidden: 0,
                ..SieConfig::default()
            },
            "sie.proj_hidden",
        ),
        (
            SieConfig {
                proj_out: 0,
                ..SieConfig::default()
            },
            "sie.proj_out",
        ),
        (
            SieConfig {
                covariance: -1.0,
                ..SieConfig::default()
            },
            "sie.covariance",
        ),
        (
            SieConfig {
                equivariance: f64::NAN,
                ..SieConfig::default()
            },
            "sie.equivariance",
        ),
    ] {
        let err = cfg.validate().expect_err(field);
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    assert!(SieConfig::default().validate().is_ok());
    // serde: kebab-case actions, unknown keys refused
    let cfg: SieConfig = serde_json::from_value(serde_json::json!({
        "proj_hidden": 4, "proj_out": 4, "action": "rotation-color",
        "invariance": 10.0, "equivariance": 4.5, "variance": 10.0,
        "prediction_variance": 10.0, "covariance": 1.0
    }))
    .expect("a valid config");
    assert_eq!(cfg.action, ActionColumns::RotationColor);
    assert_eq!(cfg.action.columns(), 0..6);
    assert_eq!(ActionColumns::Rotation.a_dim(), 4);
    let mut v = serde_json::to_value(SieConfig::default()).expect("serialises");
    assert_eq!(v["action"], "rotation");
    v["weight_decay"] = 1.0.into();
    assert!(serde_json::from_value::<SieConfig>(v).is_err());
    // a bad batch names the field
    let mut m = tiny_sie(ActionColumns::Rotation)?;
    let b = action_pairs(0)?;
    let bad = ActionPairs {
        action: b.action.narrow(1, 0, 4)?,
        ..b.clone()
    };
    let err = m.losses(&bad, &ctx()).expect_err("a 4-column action");
    assert!(err.to_string().contains("ActionPairs.action"), "{err}");
    let bad = ActionPairs {
        x2: b.x2.narrow(0, 0, N - 1)?,
        ..b
    };
    let err = m.losses(&bad, &ctx()).expect_err("x2 of another size");
    assert!(err.to_string().contains("ActionPairs"), "{err}");
    Ok(())
}

#[test]
fn sen_loss_falls_and_every_parameter_gets_a_gradient() -> Result<()> {
    let mut m = tiny_sen(ActionColumns::Rotation)?;
    assert_eq!(m.name(), "sen");
    let l = train(&mut m, 20, &["total", "info_nce"])?;
    let total = &l["total"];
    eprintln!("sen {total:?}");
    assert_eq!(total, &l["info_nce"]);
    assert!(total.iter().all(|v| v.is_finite()), "{total:?}");
    // measured: 7.67 at step 1, 0.021 at step 20
    assert!(
        total[19] < 0.5 * total[0] && total[19] < total[10],
        "{total:?}"
    );
    for action in [ActionColumns::Rotation, ActionColumns::RotationColor] {
        let mut m = tiny_sen(action)?;
        let g = gradients(&mut m, &action_pairs(0)?)?;
        assert_all_get_gradients(
            &g,
            &[
                "model/backbone.features.1.conv1.weight",
                "model/projector.0.weight",
                "model/projector.4.weight",
                "model/projector.6.weight",
                "model/predictor.weight",
            ],
        );
        assert_eq!(
            m.predictor().weight().dims(),
            [action.a_dim(), 8, 8],
            "{action:?}"
        );
    }
    Ok(())
}

#[test]
fn sen_predict_gallery_and_config() -> Result<()> {
    let mut m = tiny_sen(ActionColumns::RotationColor)?;
    m.losses(&action_pairs(0)?, &ctx())?;
    let b = action_pairs(6)?;
    let rows = hand_actions();
    let a = Tensor::from_vec(rows.concat(), (N, 6), &Device::Cpu)?;
    let y = m.gallery(&b.x1)?;
    assert!(max_abs_diff(&y, &m.embedding(&b.x1)?)? < 1e-6);
    let want = hypernet_by_hand(m.predictor().weight(), &y, &rows, 6)?;
    let diff = max_abs_diff(&m.predict(&b.x1, &a)?, &want)?;
    assert!(diff < 1e-4, "{diff}");
    assert_eq!(m.features(&b.x1)?.dims(), [N, 8]);
    for (cfg, field) in [
        (
            SenConfig {
                temperature: 0.0,
                ..SenConfig::default()
            },
            "sen.temperature",
        ),
        (
            SenConfig {
                temperature: f64::INFINITY,
                ..SenConfig::default()
            },
            "sen.temperature",
        ),
        (
            SenConfig {
                proj_hidden: 0,
                ..SenConfig::default()
            },
            "sen.proj_hidden",
        ),
        (
            SenConfig {
                proj_out: 0,
                ..SenConfig::default()
            },
            "sen.proj_out",
        ),
    ] {
        let err = cfg.validate().expect_err(field);
        assert!(err.to_string().contains(field), "{field}: {err}");
        let store = ParamStore::seeded(7);
        let backbone = make_backbone(&store, vec![4, 8])?;
        let err = Sen::new(store, backbone, &cfg, DType::F32, &Device::Cpu)
            .expect_err("new validates the config");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    assert!(SenConfig::default().validate().is_ok());
    Ok(())
}

fn tiny_equimod(action: ActionColumns, equi_factor: f64) -> Result<EquimodActions<ConvNet>> {
    let store = ParamStore::seeded(2);
    let backbone = make_backbone(&store, vec![4, 8])?;
    let sen = sen_config(action);
    let cfg = EquimodActionsConfig {
        proj_hidden: sen.proj_hidden,
        proj_out: sen.proj_out,
        action,
        temperature: sen.temperature,
        equi_factor,
    };
    EquimodActions::new(store, backbone, &cfg, DType::F32, &Device::Cpu)
}

#[test]
fn equimod_actions_loss_falls_and_its_terms_add_up() -> Result<()> {
    let mut m = tiny_equimod(ActionColumns::Rotation, 4.5)?;
    assert_eq!(m.name(), "equimod-actions");
    let l = train(&mut m, 20, &["total", "inv", "equi"])?;
    eprintln!("equimod-actions {l:?}");
    for (i, ((t, inv), eq)) in l["total"].iter().zip(&l["inv"]).zip(&l["equi"]).enumerate() {
        assert!(
            (inv + 4.5 * eq - t).abs() < 1e-4,
            "step {i}: {t} vs {inv} + 4.5 {eq}"
        );
    }
    let total = &l["total"];
    assert!(total.iter().all(|v| v.is_finite()), "{total:?}");
    assert!(
        total[19] < 0.5 * total[0] && total[19] < total[10],
        "{total:?}"
    );
    assert!(l["inv"][19] < l["inv"][0], "{:?}", l["inv"]);
    Ok(())
}

#[test]
fn equimod_actions_is_sen_plus_an_invariant_simclr_term() -> Result<()> {
    // Same store seed, so the shared parameters (backbone, projector, predictor) start equal:
    // the `equi` term must be SEN's loss, and the weight must count.
    let b = action_pairs(3)?;
    for action in [ActionColumns::Rotation, ActionColumns::RotationColor] {
        let mut sen = tiny_sen(action)?;
        let want = sen.losses(&b, &ctx())?.total.to_scalar::<f32>()?;
        for w in [0.0, 1.0, 4.5] {
            let l = tiny_equimod(action, w)?.losses(&b, &ctx())?;
            let t: BTreeMap<&str, f64> = l.terms.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            assert!(
                (t["equi"] - want as f64).abs() < 1e-5,
                "{action:?}: {t:?} vs {want}"
            );
            let total = l.total.to_scalar::<f32>()? as f64;
            assert!(
                (t["inv"] + w * t["equi"] - total).abs() < 1e-5,
                "{t:?} {total}"
            );
        }
        let mut m = tiny_equimod(action, 1.0)?;
        let g = gradients(&mut m, &b)?;
        assert_all_get_gradients(
            &g,
            &[
                "model/backbone.features.1.conv1.weight",
                "model/projector.0.weight",
                "model/projector.6.weight",
                "model/predictor.weight",
                "model/inv_projector.0.weight",
                "model/inv_projector.4.weight",
                "model/inv_projector.6.weight",
            ],
        );
        // the predictor and gallery are SEN's; the embedding is [g_inv(h); g(h)]
        let a = Tensor::from_vec(hand_actions().concat(), (N, 6), &Device::Cpu)?;
        let sen = m.equivariant();
        assert!(max_abs_diff(&m.predict(&b.x1, &a)?, &sen.predict(&b.x1, &a)?)? < 1e-6);
        let y = m.gallery(&b.x1)?;
        let e = m.embedding(&b.x1)?;
        assert_eq!(e.dims(), [N, 16]);
        assert!(max_abs_diff(&e.narrow(1, 8, 8)?, &y)? < 1e-6);
    }
    // weight 0: the predictor gets no (or a zero) gradient
    let mut m0 = tiny_equimod(ActionColumns::Rotation, 0.0)?;
    let g = gradients(&mut m0, &b)?;
    let p = g["model/predictor.weight"];
    assert!(matches!(p, None | Some(0.0)), "{p:?}");
    Ok(())
}

#[test]
fn equimod_actions_config_errors_name_the_field() -> Result<()> {
    let base = EquimodActionsConfig::default();
    assert!(base.validate().is_ok());
    assert_eq!(base.sen(), SenConfig::default());
    for (cfg, field) in [
        (
            EquimodActionsConfig {
                temperature: 0.0,
                ..base
            },
            "equimod_actions.temperature",
        ),
        (
            EquimodActionsConfig {
                proj_hidden: 0,
                ..base
            },
            "equimod_actions.proj_hidden",
        ),
        (
            EquimodActionsConfig {
                proj_out: 0,
                ..base
            },
            "equimod_actions.proj_out",
        ),
        (
            EquimodActionsConfig {
                equi_factor: -1.0,
                ..base
            },
            "equimod_actions.equi_factor",
        ),
        (
            EquimodActionsConfig {
                equi_factor: f64::NAN,
                ..base
            },
            "equimod_actions.equi_factor",
        ),
    ] {
        let store = ParamStore::seeded(7);
        let backbone = make_backbone(&store, vec![4, 8])?;
        let err = EquimodActions::new(store, backbone, &cfg, DType::F32, &Device::Cpu)
            .expect_err("new validates the config");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    Ok(())
}

#[test]
fn augself_loss_falls_and_its_terms_add_up() -> Result<()> {
    let mut m = tiny_augself()?;
    assert_eq!(m.name(), "simclr-augself");
    let l = train(&mut m, 20, &["total", "nt_xent", "augself"])?;
    eprintln!("simclr-augself {l:?}");
    for (i, ((t, x), a)) in l["total"]
        .iter()
        .zip(&l["nt_xent"])
        .zip(&l["augself"])
        .enumerate()
    {
        assert!((x + a - t).abs() < 1e-5, "step {i}: weight 1");
    }
    let (total, aug) = (&l["total"], &l["augself"]);
    assert!(total.iter().all(|v| v.is_finite()), "{total:?}");
    // measured: total 5.70 -> 0.124, augself 0.288 -> 0.117
    assert!(
        total[19] < 0.5 * total[0] && total[19] < total[10],
        "{total:?}"
    );
    assert!(aug[19] < 0.5 * aug[0], "{aug:?}");
    Ok(())
}

#[test]
fn augself_every_parameter_gets_a_gradient_and_the_weight_counts() -> Result<()> {
    let mut m = tiny_augself()?;
    let g = gradients(&mut m, &action_pairs(0)?)?;
    assert_all_get_gradients(
        &g,
        &[
            "model/backbone.features.0.conv1.weight",
            "model/projector.0.weight",
            "model/projector.6.weight",
            "model/predictor.0.weight",
            "model/predictor.0.bias",
            "model/predictor.2.weight",
            "model/predictor.4.weight",
            "model/predictor.4.bias",
        ],
    );
    // the head is Linear-ReLU-Linear-ReLU-Linear on [h1; h2]: 2 x 8 -> 16 -> 16 -> 4
    let store = &m.stores()[0].store;
    let shape = |n: &str| -> Result<Vec<usize>> {
        Ok(store
            .get(n)?
            .unwrap_or_else(|| panic!("no {n}"))
            .as_tensor()
            .dims()
            .to_vec())
    };
    assert_eq!(shape("predictor.0.weight")?, [16, 16]);
    assert_eq!(shape("predictor.2.weight")?, [16, 16]);
    assert_eq!(shape("predictor.4.weight")?, [4, 16]);
    // weight 0: the head gets no (or a zero) gradient; weight 3: total = nt_xent + 3 augself
    let with = |w: f64| -> Result<SimClrAugSelf<ConvNet>> {
        let store = ParamStore::seeded(3);
        let backbone = make_backbone(&store, vec![4, 8])?;
        let cfg = AugSelfConfig {
            augself_weight: w,
            ..augself_config()
        };
        SimClrAugSelf::new(store, backbone, &cfg, DType::F32, &Device::Cpu)
    };
    let l = with(3.0)?.losses(&action_pairs(0)?, &ctx())?;
    let t: BTreeMap<&str, f64> = l.terms.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let total = l.total.to_scalar::<f32>()? as f64;
    assert!((t["nt_xent"] + 3.0 * t["augself"] - total).abs() < 1e-5);
    let mut m0 = with(0.0)?;
    let g = gradients(&mut m0, &action_pairs(0)?)?;
    let head = g["model/predictor.4.weight"];
    assert!(matches!(head, None | Some(0.0)), "{head:?}");
    // embeddings
    let b = action_pairs(2)?;
    assert_eq!(m.embedding(&b.x1)?.dims(), [N, 8]);
    assert_eq!(m.features(&b.x1)?.dims(), [N, 8]);
    Ok(())
}

#[test]
fn augself_config_errors_name_the_field() -> Result<()> {
    for (cfg, field) in [
        (
            AugSelfConfig {
                temperature: -0.1,
                ..AugSelfConfig::default()
            },
            "augself.temperature",
        ),
        (
            AugSelfConfig {
                proj_hidden: 0,
                ..AugSelfConfig::default()
            },
            "augself.proj_hidden",
        ),
        (
            AugSelfConfig {
                proj_out: 0,
                ..AugSelfConfig::default()
            },
            "augself.proj_out",
        ),
        (
            AugSelfConfig {
                head_hidden: 0,
                ..AugSelfConfig::default()
            },
            "augself.head_hidden",
        ),
        (
            AugSelfConfig {
                augself_weight: -1.0,
                ..AugSelfConfig::default()
            },
            "augself.augself_weight",
        ),
    ] {
        let err = cfg.validate().expect_err(field);
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    assert!(AugSelfConfig::default().validate().is_ok());
    let mut v = serde_json::to_value(AugSelfConfig::default()).expect("serialises");
    v["action"] = "rotation".into();
    assert!(serde_json::from_value::<AugSelfConfig>(v).is_err());
    let mut m = tiny_augself()?;
    let b = action_pairs(0)?;
    let bad = ActionPairs {
        action: b.action.narrow(0, 0, N - 1)?,
        ..b
    };
    let err = m.losses(&bad, &ctx()).expect_err("an action of N - 1 rows");
    assert!(err.to_string().contains("ActionPairs.action"), "{err}");
    Ok(())
}
