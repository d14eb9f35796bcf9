//! ResNet against torchvision: parameter counts, `state_dict` names / shapes / dtypes / order,
//! eval-mode logits of torchvision models whose weights follow a closed-form rule (fixture made
//! by `fixtures/make_torchvision_names.py`), bit-exact safetensors round trips, and training.

use crate::support;

use candle_core::{DType, Device, ModuleT, Result, Tensor};
use noether_models::{ParamKind, ParamStore, ResNet, ResNetConfig, ResNetDepth, Stem};
use support::{
    assert_config_error, assert_err_contains, build_in, check_train_flag, cross_entropy, dims,
    fixture, flat_f32, keys, layout, max_rel_diff, rule_input, rule_state_dict, signed_unit, train,
    unit, values, var,
};

fn build(cfg: &ResNetConfig, seed: u64) -> Result<(ResNet, ParamStore)> {
    support::build(seed, |vb| ResNet::new(cfg, vb))
}

/// Builds torchvision's `name()` and checks its parameter count and full `state_dict` layout.
fn check_architecture(name: &str, cfg: &ResNetConfig, expect_params: usize) -> Result<()> {
    let fx = fixture("torchvision_resnet.json");
    let arch = &fx["architectures"][name];
    assert_eq!(
        arch["num_params"].as_u64(),
        Some(expect_params as u64),
        "fixture {name}"
    );
    let (model, store) = build(cfg, 0)?;
    assert_eq!(
        store.num_trainable().map_err(candle_core::Error::wrap)?,
        expect_params,
        "{name}"
    );
    // every key, shape and dtype, in torchvision's state_dict order
    assert_eq!(layout(&store)?, keys(&arch["keys"]), "{name}");
    assert_eq!(model.out_dim(), 1000);
    // buffers are never trainable; conv / fc weights take weight decay, the rest does not
    for p in store.all().map_err(candle_core::Error::wrap)? {
        let leaf = p.name.rsplit('.').next().unwrap_or("");
        let expect = match leaf {
            "running_mean" | "running_var" | "num_batches_tracked" => ParamKind::Buffer,
            "weight" if p.var.rank() >= 2 => ParamKind::Decay,
            _ => ParamKind::NoDecay,
        };
        assert_eq!(p.kind, expect, "{}", p.name);
    }
    Ok(())
}

#[test]
fn resnet18_matches_torchvision_parameter_count_and_names() -> Result<()> {
    check_architecture("resnet18", &ResNetConfig::resnet18(), 11_689_512)?;
    // the CIFAR stem without fc: conv1 is 3x3 (1,728 instead of 9,408 weights), no fc
    let (model, store) = build(&ResNetConfig::resnet18_cifar(), 0)?;
    assert_eq!(
        store.num_trainable().map_err(candle_core::Error::wrap)?,
        11_168_832
    );
    assert_eq!((model.feature_dim(), model.out_dim()), (512, 512));
    assert!(
        store
            .get("fc.weight")
            .map_err(candle_core::Error::wrap)?
            .is_none()
    );
    Ok(())
}

#[test]
fn resnet34_matches_torchvision_parameter_count_and_names() -> Result<()> {
    check_architecture("resnet34", &ResNetConfig::resnet34(), 21_797_672)
}

#[test]
fn resnet50_matches_torchvision_parameter_count_and_names() -> Result<()> {
    check_architecture("resnet50", &ResNetConfig::resnet50(), 25_557_032)
}

/// Loads the rule weights of fixture model `name` (`cfg` with a 10-class `fc`) as a torchvision
/// safetensors file and compares the eval-mode logits with torchvision's; with `round_trip`,
/// then saves and reloads bit-exactly.
fn check_rule_logits(name: &str, cfg: ResNetConfig, round_trip: bool) -> Result<()> {
    let cfg = &ResNetConfig {
        num_classes: Some(10),
        ..cfg
    };
    let dev = Device::Cpu;
    let fx = fixture("torchvision_resnet.json");
    let case = &fx["rule_logits"][name];
    let torch_keys = keys(&case["keys"]);
    let dir = tempfile::tempdir()?;
    // a PyTorch state dict, torchvision's names, num_batches_tracked as int64 scalars
    let torch_file = dir.path().join("torchvision.safetensors");
    candle_core::safetensors::save(&rule_state_dict(&torch_keys, &dev)?, &torch_file)?;

    let (model, store) = build(cfg, 1)?;
    assert_eq!(layout(&store)?, torch_keys, "{name}: layout");
    let report = store
        .load(&torch_file, true)
        .map_err(candle_core::Error::wrap)?;
    assert_eq!(report.loaded.len(), torch_keys.len());
    assert!(report.missing.is_empty() && report.unexpected.is_empty());

    let input_shape = dims(&case["input_shape"]);
    let x = rule_input(&input_shape, &dev)?;
    let logits = model.forward_t(&x, false)?;
    assert_eq!(logits.dims(), &[input_shape[0], 10]);
    let got = values(&logits)?;
    let expect = flat_f32(&case["logits"]);
    let err = max_rel_diff(&got, &expect);
    assert!(
        err < 1e-4,
        "{name}: max |ours - torchvision| / (1 + |torchvision|) = {err:e}"
    );
    if !round_trip {
        return Ok(());
    }

    // save -> load into a model of another seed: every tensor and the output bit-exact
    let ours = dir.path().join("ours.safetensors");
    store.save(&ours).map_err(candle_core::Error::wrap)?;
    let (model2, store2) = build(cfg, 2)?;
    store2.load(&ours, true).map_err(candle_core::Error::wrap)?;
    let (a, b) = (
        store.state_dict().map_err(candle_core::Error::wrap)?,
        store2.state_dict().map_err(candle_core::Error::wrap)?,
    );
    assert_eq!(a.len(), b.len());
    for (key, t) in &a {
        let u = &b[key];
        assert_eq!(t.dtype(), u.dtype(), "{key}");
        if t.dtype() == DType::I64 {
            assert_eq!(t.to_scalar::<i64>()?, u.to_scalar::<i64>()?, "{key}");
        } else {
            let bits = |t: &Tensor| -> Result<Vec<u32>> {
                Ok(values(t)?.iter().map(|v| v.to_bits()).collect())
            };
            assert_eq!(bits(t)?, bits(u)?, "{key}");
        }
    }
    assert_eq!(
        values(&model2.forward_t(&x, false)?)?,
        got,
        "{name}: reloaded output"
    );
    Ok(())
}

#[test]
fn resnet18_imagenet_stem_reproduces_torchvision_logits_and_round_trips() -> Result<()> {
    check_rule_logits("resnet18_imagenet", ResNetConfig::resnet18(), true)
}

#[test]
fn resnet18_cifar_stem_reproduces_torch_logits_and_round_trips() -> Result<()> {
    check_rule_logits("resnet18_cifar", ResNetConfig::resnet18_cifar(), true)
}

#[test]
fn resnet50_reproduces_torchvision_logits() -> Result<()> {
    // the save / load round trip is the same code as for ResNet-18; skipped to keep this quick
    check_rule_logits("resnet50_imagenet", ResNetConfig::resnet50(), false)
}

/// A batch of 4 seeded random images `(4, 3, size, size)` and labels.
fn batch(size: usize) -> Result<(Tensor, Vec<usize>)> {
    Ok((
        signed_unit(7, (4, 3, size, size), &Device::Cpu)?,
        vec![0, 1, 2, 1],
    ))
}

/// A narrow ResNet with `fc` trains: the loss falls over a few AdamW steps and every trainable
/// parameter gets a non-zero gradient; the train flag drives the batch-norm statistics.
fn check_trains(cfg: &ResNetConfig, size: usize, lr: f64) -> Result<()> {
    let (model, store) = build(cfg, 3)?;
    let (x, labels) = batch(size)?;
    check_train_flag(
        &model,
        &store,
        &x,
        "layer2.0.bn1.running_mean",
        "bn1.num_batches_tracked",
    )?;
    train(&store, 4, lr, &[], || {
        cross_entropy(&model.forward_t(&x, true)?, &labels)
    })?
    .assert_fell(0.5, "resnet");
    Ok(())
}

#[test]
fn narrow_resnet18_cifar_stem_trains() -> Result<()> {
    // width 1/8: channels 8, 16, 32, 64
    let cfg = ResNetConfig {
        base_channels: 8,
        num_classes: Some(3),
        ..ResNetConfig::resnet18_cifar()
    };
    check_trains(&cfg, 16, 1e-2)
}

#[test]
fn narrow_resnet50_imagenet_stem_trains() -> Result<()> {
    // bottlenecks, the 7x7 stem and the padded max-pool (and its backward); channels 8 .. 256.
    // 48x48 keeps layer4 at 2x2: at 1x1 a batch of 4 gives each BN channel 4 values and the
    // loss surface gets too rough for a 4-step test.
    let cfg = ResNetConfig {
        base_channels: 8,
        num_classes: Some(3),
        ..ResNetConfig::resnet50()
    };
    check_trains(&cfg, 48, 3e-3)
}

/// `d/dt loss(theta + t d)` from the backward pass against a central difference, in f64, for a
/// random direction `d` over all trainable parameters at once and over single tensors.
#[test]
fn gradients_match_finite_differences() -> Result<()> {
    let dev = Device::Cpu;
    let cfg = ResNetConfig {
        base_channels: 4,
        num_classes: Some(3),
        ..ResNetConfig::resnet50()
    };
    let (model, store) = build_in(DType::F64, 3, |vb| ResNet::new(&cfg, vb))?;
    let (x, labels) = batch(21)?; // odd sizes: 21 -> 11 -> 6 -> 6 -> 3 -> 2 -> 1
    let x = x.to_dtype(DType::F64)?;
    let loss_at = || -> Result<f64> {
        cross_entropy(&model.forward_t(&x, true)?, &labels)?.to_scalar::<f64>()
    };
    let params = store.trainable().map_err(candle_core::Error::wrap)?;
    let grads = cross_entropy(&model.forward_t(&x, true)?, &labels)?.backward()?;
    let mut dirs = Vec::with_capacity(params.len());
    for (j, p) in params.iter().enumerate() {
        let d: Vec<f64> = (0..p.var.elem_count())
            .map(|i| 2.0 * unit(100 + j as u64, i as u64) - 1.0)
            .collect();
        dirs.push(Tensor::from_vec(d, p.var.shape(), &dev)?);
    }
    let origin: Vec<Tensor> = params
        .iter()
        .map(|p| p.var.as_tensor().copy())
        .collect::<Result<_>>()?;
    // moves the parameters selected by `pick` to origin + t d, returns the loss there
    let loss_along = |pick: &dyn Fn(usize) -> bool, t: f64| -> Result<f64> {
        for (j, p) in params.iter().enumerate() {
            if pick(j) {
                p.var.set(&(&origin[j] + (&dirs[j] * t)?)?)?;
            }
        }
        let loss = loss_at()?;
        for (j, p) in params.iter().enumerate() {
            p.var.set(&origin[j])?;
        }
        Ok(loss)
    };
    let eps = 1e-7;
    let check = |what: &str, pick: &dyn Fn(usize) -> bool| -> Result<()> {
        let mut analytic = 0.0;
        for (j, p) in params.iter().enumerate().filter(|(j, _)| pick(*j)) {
            let g = grads.get(&p.var).expect("a gradient");
            analytic += (g * &dirs[j])?.sum_all()?.to_scalar::<f64>()?;
        }
        let numeric = (loss_along(pick, eps)? - loss_along(pick, -eps)?) / (2.0 * eps);
        let err = (analytic - numeric).abs() / (1.0 + analytic.abs());
        assert!(err < 1e-4, "{what}: analytic {analytic}, numeric {numeric}");
        Ok(())
    };
    check("all parameters", &|_| true)?;
    for name in [
        "conv1.weight",
        "layer1.0.downsample.0.weight",
        "layer2.0.conv2.weight",
        "layer4.2.bn3.bias",
        "fc.weight",
    ] {
        let j = params
            .iter()
            .position(|p| p.name == name)
            .expect("a parameter");
        check(name, &|i| i == j)?;
    }
    Ok(())
}

#[test]
fn zero_init_residual_zeroes_the_last_bn_of_every_block_and_still_trains() -> Result<()> {
    for (depth, last_bn, blocks) in [(ResNetDepth::R18, "bn2", 8), (ResNetDepth::R50, "bn3", 16)] {
        let cfg = ResNetConfig {
            base_channels: 4,
            zero_init_residual: true,
            ..ResNetConfig::new(depth, Stem::Cifar)
        };
        let (model, store) = build(&cfg, 4)?;
        let mut zeroed = 0;
        for p in store.all().map_err(candle_core::Error::wrap)? {
            let parts: Vec<&str> = p.name.split('.').collect();
            if parts.len() == 4
                && parts[0].starts_with("layer")
                && parts[3] == "weight"
                && parts[2].starts_with("bn")
            {
                let v = values(p.var.as_tensor())?;
                if parts[2] == last_bn {
                    assert!(v.iter().all(|&w| w == 0.0), "{}", p.name);
                    zeroed += 1;
                } else {
                    assert!(v.iter().all(|&w| w == 1.0), "{}", p.name);
                }
            }
        }
        assert_eq!(zeroed, blocks, "{depth:?}");
        // the zeroed scales themselves get a gradient, so training moves them off zero
        let x = batch(8)?.0;
        let y = model.forward_t(&x, true)?;
        let grads = y.sqr()?.sum_all()?.backward()?;
        let scale = var(&store, &format!("layer1.0.{last_bn}.weight"))?;
        let g = grads.get(&scale).expect("a gradient");
        assert!(values(&g.abs()?)?.iter().any(|&v| v > 0.0));
    }
    Ok(())
}

#[test]
fn configs_serialise_reject_unknown_keys_and_bad_values() -> Result<()> {
    let cfg = ResNetConfig {
        zero_init_residual: true,
        ..ResNetConfig::resnet18_cifar()
    };
    let json = serde_json::to_string(&cfg).map_err(candle_core::Error::wrap)?;
    assert!(
        json.contains("\"depth\":18") && json.contains("\"stem\":\"cifar\""),
        "{json}"
    );
    let back: ResNetConfig = serde_json::from_str(&json).map_err(candle_core::Error::wrap)?;
    assert_eq!(back, cfg);
    // only depth is required; the rest are torchvision's defaults
    let minimal: ResNetConfig =
        serde_json::from_str(r#"{"depth": 50}"#).map_err(candle_core::Error::wrap)?;
    assert_eq!(minimal, ResNetConfig::new(ResNetDepth::R50, Stem::ImageNet));
    assert_err_contains(
        serde_json::from_str::<ResNetConfig>(r#"{"depth": 18, "widht": 2}"#),
        "widht",
    );
    assert_err_contains(
        serde_json::from_str::<ResNetConfig>(r#"{"depth": 101}"#),
        "101",
    );
    assert!(serde_json::from_str::<ResNetConfig>(r#"{"depth": 18, "stem": "tiny"}"#).is_err());

    // bad sizes are config errors naming the field, not panics
    let vb = ParamStore::seeded(0).var_builder(DType::F32, &Device::Cpu);
    for (cfg, field) in [
        (
            ResNetConfig {
                base_channels: 0,
                ..ResNetConfig::resnet18_cifar()
            },
            "base_channels",
        ),
        (
            ResNetConfig {
                in_channels: 0,
                ..ResNetConfig::resnet18_cifar()
            },
            "in_channels",
        ),
        (
            ResNetConfig {
                num_classes: Some(0),
                ..ResNetConfig::resnet18_cifar()
            },
            "num_classes",
        ),
    ] {
        assert_config_error(ResNet::new(&cfg, vb.clone()), field);
    }
    // input of the wrong rank or channel count is an error naming the expected shape
    let cfg = ResNetConfig {
        base_channels: 4,
        in_channels: 1,
        ..ResNetConfig::resnet18_cifar()
    };
    let (model, _) = build(&cfg, 0)?;
    let x = Tensor::zeros((2, 3, 8, 8), DType::F32, &Device::Cpu)?;
    assert_err_contains(model.forward_t(&x, false), "(N, 1, H, W)");
    assert!(
        model
            .forward_t(&Tensor::zeros((1, 8, 8), DType::F32, &Device::Cpu)?, false)
            .is_err()
    );
    Ok(())
}
