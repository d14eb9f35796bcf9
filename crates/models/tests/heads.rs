//! MLP heads against the `torch.nn.Sequential` heads of the reference code (names, train- and
//! eval-mode outputs, running statistics; fixture made by `fixtures/make_torch_heads.py`), and
//! the small ConvNet: shapes, names, errors, and that every model trains.

use crate::support;

use std::collections::HashMap;

use candle_core::{DType, Device, ModuleT, Result, Tensor};
use noether_models::{ConvNet, ConvNetConfig, Mlp, MlpConfig, OutputNorm, ParamStore};
use support::{
    assert_config_error, assert_err_contains, build, check_train_flag, cross_entropy, dims,
    fixture, flat_f32, keys, layout, max_rel_diff, names, rule_input, rule_state_dict, signed_unit,
    train, values, var,
};

fn presets(i: usize, h: usize, o: usize) -> Vec<(&'static str, MlpConfig)> {
    vec![
        ("simclr_projector", MlpConfig::simclr_projector(i, h, o)),
        ("byol_projector", MlpConfig::byol_projector(i, h, o)),
        ("sie_projector", MlpConfig::sie_projector(i, h, o)),
        ("vicreg_expander", MlpConfig::vicreg_expander(i, h, o)),
    ]
}

fn build_mlp(cfg: &MlpConfig, seed: u64) -> Result<(Mlp, ParamStore)> {
    build(seed, |vb| Mlp::new(cfg, vb))
}

#[test]
fn mlp_presets_match_the_torch_sequential_heads() -> Result<()> {
    let dev = Device::Cpu;
    let fx = fixture("torch_heads.json");
    let x = rule_input(&dims(&fx["input_shape"]), &dev)?;
    for (name, cfg) in presets(6, 8, 5) {
        let case = &fx["heads"][name];
        let torch_keys = keys(&case["keys"]);
        let (model, store) = build_mlp(&cfg, 0)?;
        // the same keys, shapes, dtypes and order as torch's state_dict
        assert_eq!(layout(&store)?, torch_keys, "{name}");
        store
            .load_state_dict(&rule_state_dict(&torch_keys, &dev)?, true)
            .map_err(candle_core::Error::wrap)?;

        let y = model.forward_t(&x, true)?;
        let err = max_rel_diff(&values(&y)?, &flat_f32(&case["train_output"]));
        assert!(err < 1e-5, "{name}: train-mode output off by {err:e}");
        let buffers = case["buffers_after_train"].as_object().expect("buffers");
        for (key, expect) in buffers {
            let err = max_rel_diff(&values(var(&store, key)?.as_tensor())?, &flat_f32(expect));
            assert!(err < 1e-5, "{name} {key}: off by {err:e}");
        }
        let y = model.forward_t(&x, false)?;
        let err = max_rel_diff(&values(&y)?, &flat_f32(&case["eval_output"]));
        assert!(err < 1e-5, "{name}: eval-mode output off by {err:e}");
    }
    Ok(())
}

#[test]
fn mlp_names_follow_sequential_indices_and_shapes_are_documented() -> Result<()> {
    // EquiMod's SimCLR head at full size: 512 -> 2048 -> 2048 -> 128, last BN without affine
    let (model, store) = build_mlp(&MlpConfig::simclr_projector(512, 2048, 128), 0)?;
    assert_eq!(
        store.num_trainable().map_err(candle_core::Error::wrap)?,
        512 * 2048 + 2 * 2048 + 2048 * 2048 + 2 * 2048 + 2048 * 128
    );
    let all = names(&store)?;
    assert!(all.contains(&"7.running_var".to_string()) && !all.contains(&"7.weight".to_string()));
    let y = model.forward_t(&Tensor::ones((3, 512), DType::F32, &Device::Cpu)?, false)?;
    assert_eq!(y.dims(), &[3, 128]);

    // without hidden batch norm a hidden layer is Linear, ReLU: indices 0, 2, 4
    let cfg = MlpConfig {
        hidden_norm: false,
        last_norm: OutputNorm::BatchNorm,
        ..MlpConfig::byol_projector(4, 6, 3)
    };
    let (model, store) = build_mlp(&cfg, 0)?;
    assert_eq!(
        names(&store)?,
        [
            "0.weight",
            "0.bias",
            "2.weight",
            "2.bias",
            "3.weight",
            "3.bias",
            "3.running_mean",
            "3.running_var",
            "3.num_batches_tracked",
        ]
    );
    assert_eq!((model.in_dim(), model.out_dim()), (4, 3));
    for (name, cfg) in presets(5, 7, 3) {
        let (model, _) = build_mlp(&cfg, 1)?;
        let y = model.forward_t(&Tensor::ones((2, 5), DType::F32, &Device::Cpu)?, true)?;
        assert_eq!(y.dims(), &[2, 3], "{name}");
    }
    // a single Linear is a valid head
    let cfg = MlpConfig {
        dims: vec![4, 2],
        ..MlpConfig::sie_projector(0, 0, 0)
    };
    let (_, store) = build_mlp(&cfg, 0)?;
    assert_eq!(names(&store)?, ["0.weight"]);
    Ok(())
}

#[test]
fn every_mlp_preset_trains() -> Result<()> {
    let dev = Device::Cpu;
    let (n, i, o) = (8, 12, 6);
    let x = signed_unit(11, (n, i), &dev)?;
    let target = signed_unit(12, (n, o), &dev)?;
    for (name, cfg) in presets(i, 16, o) {
        let (model, store) = build_mlp(&cfg, 5)?;
        check_train_flag(
            &model,
            &store,
            &x,
            "1.running_mean",
            "1.num_batches_tracked",
        )?;
        // a bias in front of a train-mode batch norm has a gradient of exactly zero
        let zero_grad: &[&str] = match name {
            "byol_projector" => &["0.bias"],
            "vicreg_expander" => &["0.bias", "3.bias"],
            _ => &[],
        };
        train(&store, 5, 1e-2, zero_grad, || {
            (model.forward_t(&x, true)? - &target)?.sqr()?.mean_all()
        })?
        .assert_fell(0.9, name);
    }
    Ok(())
}

#[test]
fn mlp_configs_serialise_and_bad_ones_are_errors() -> Result<()> {
    let cfg = MlpConfig::simclr_projector(512, 2048, 128);
    let json = serde_json::to_string(&cfg).map_err(candle_core::Error::wrap)?;
    assert!(
        json.contains("\"last_norm\":\"batch_norm_no_affine\""),
        "{json}"
    );
    assert_eq!(
        serde_json::from_str::<MlpConfig>(&json).map_err(candle_core::Error::wrap)?,
        cfg
    );
    let partial: MlpConfig =
        serde_json::from_str(r#"{"dims": [4, 2], "hidden_bias": false, "last_bias": true}"#)
            .map_err(candle_core::Error::wrap)?;
    assert!(partial.hidden_norm && partial.last_norm == OutputNorm::None);
    assert!(
        serde_json::from_str::<MlpConfig>(
            r#"{"dims": [4, 2], "hidden_bias": false, "last_bias": true, "dropout": 0.1}"#
        )
        .is_err()
    );

    let vb = ParamStore::seeded(0).var_builder(DType::F32, &Device::Cpu);
    for dims in [vec![4], vec![4, 0, 2], vec![]] {
        let cfg = MlpConfig {
            dims,
            ..MlpConfig::sie_projector(0, 0, 0)
        };
        assert_config_error(Mlp::new(&cfg, vb.clone()), "dims");
    }
    let (model, _) = build_mlp(&MlpConfig::byol_projector(4, 6, 3), 0)?;
    let x = Tensor::ones((2, 5), DType::F32, &Device::Cpu)?;
    assert_err_contains(model.forward_t(&x, false), "(N, 4)");
    Ok(())
}

fn build_convnet(cfg: &ConvNetConfig, seed: u64) -> Result<(ConvNet, ParamStore)> {
    build(seed, |vb| ConvNet::new(cfg, vb))
}

#[test]
fn convnet_shapes_names_and_parameter_count() -> Result<()> {
    let (model, store) = build_convnet(&ConvNetConfig::default(), 0)?;
    // convs 3*32*9 + 32*64*9 + 64*128*9, BN scales and shifts 2 * (32 + 64 + 128)
    assert_eq!(
        store.num_trainable().map_err(candle_core::Error::wrap)?,
        93_472
    );
    assert_eq!(
        names(&store)?[..7],
        [
            "features.0.conv1.weight",
            "features.0.bn1.weight",
            "features.0.bn1.bias",
            "features.0.bn1.running_mean",
            "features.0.bn1.running_var",
            "features.0.bn1.num_batches_tracked",
            "features.1.conv1.weight",
        ]
    );
    assert_eq!((model.feature_dim(), model.out_dim()), (128, 128));
    for size in [32, 64] {
        let y = model.forward_t(
            &Tensor::ones((2, 3, size, size), DType::F32, &Device::Cpu)?,
            false,
        )?;
        assert_eq!(y.dims(), &[2, 128]);
    }
    // MNIST: one channel, 28x28, two convs per block, four blocks (28 -> 14 -> 7 -> 3 -> 1), fc
    let cfg = ConvNetConfig {
        in_channels: 1,
        widths: vec![8, 8, 16, 16],
        convs_per_block: 2,
        num_classes: Some(10),
    };
    let (model, store) = build_convnet(&cfg, 0)?;
    let all = names(&store)?;
    for name in [
        "features.3.conv2.weight",
        "features.3.bn2.running_var",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(all.iter().any(|n| n == name), "{name} missing from {all:?}");
    }
    let y = model.forward_t(
        &Tensor::ones((3, 1, 28, 28), DType::F32, &Device::Cpu)?,
        true,
    )?;
    assert_eq!(y.dims(), &[3, 10]);
    // too small for the fifth pool: an error naming the block
    let cfg = ConvNetConfig {
        widths: vec![4; 5],
        ..cfg
    };
    let (model, _) = build_convnet(&cfg, 0)?;
    let x = Tensor::ones((1, 1, 28, 28), DType::F32, &Device::Cpu)?;
    assert_err_contains(model.forward_t(&x, false), "block 4");
    Ok(())
}

#[test]
fn convnet_trains() -> Result<()> {
    let cfg = ConvNetConfig {
        widths: vec![8, 16],
        convs_per_block: 2,
        num_classes: Some(3),
        ..ConvNetConfig::default()
    };
    let (model, store) = build_convnet(&cfg, 6)?;
    let x = signed_unit(13, (4, 3, 16, 16), &Device::Cpu)?;
    check_train_flag(
        &model,
        &store,
        &x,
        "features.1.bn2.running_mean",
        "features.0.bn1.num_batches_tracked",
    )?;
    let labels = [0, 1, 2, 0];
    train(&store, 5, 2e-2, &[], || {
        cross_entropy(&model.forward_t(&x, true)?, &labels)
    })?
    .assert_fell(0.7, "convnet");
    Ok(())
}

#[test]
fn convnet_configs_serialise_and_bad_ones_are_errors() -> Result<()> {
    let cfg: ConvNetConfig =
        serde_json::from_str(r#"{"widths": [32, 64, 128]}"#).map_err(candle_core::Error::wrap)?;
    assert_eq!(cfg, ConvNetConfig::default());
    let json = serde_json::to_string(&cfg).map_err(candle_core::Error::wrap)?;
    assert_eq!(
        serde_json::from_str::<ConvNetConfig>(&json).map_err(candle_core::Error::wrap)?,
        cfg
    );
    assert!(serde_json::from_str::<ConvNetConfig>(r#"{"widths": [8], "depth": 3}"#).is_err());
    let vb = ParamStore::seeded(0).var_builder(DType::F32, &Device::Cpu);
    let bad: HashMap<&str, ConvNetConfig> = HashMap::from([
        (
            "widths",
            ConvNetConfig {
                widths: vec![],
                ..ConvNetConfig::default()
            },
        ),
        (
            "in_channels",
            ConvNetConfig {
                in_channels: 0,
                ..ConvNetConfig::default()
            },
        ),
        (
            "convs_per_block",
            ConvNetConfig {
                convs_per_block: 0,
                ..ConvNetConfig::default()
            },
        ),
        (
            "num_classes",
            ConvNetConfig {
                num_classes: Some(0),
                ..ConvNetConfig::default()
            },
        ),
    ]);
    for (field, cfg) in bad {
        assert_config_error(ConvNet::new(&cfg, vb.clone()), field);
    }
    let (model, _) = build_convnet(&ConvNetConfig::small(1), 0)?;
    assert!(
        model
            .forward_t(
                &Tensor::ones((1, 3, 8, 8), DType::F32, &Device::Cpu)?,
                false
            )
            .is_err()
    );
    Ok(())
}
