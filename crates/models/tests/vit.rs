//! The ViT against timm: parameter count of `vit_tiny_patch16_224`, key names and shapes, and eval
//! logits of a small model with rule-set weights against a plain-torch replica of timm's
//! `VisionTransformer` (`fixtures/vit_make_fixture.py` -> `fixtures/vit_reference.json`); save and
//! load; it trains.

use crate::support;

use candle_core::{DType, Device, ModuleT, Tensor};
use noether_models::{ParamKind, ParamStore, Vit, VitConfig, VitPool};
use serde_json::Value;
use support::{
    TestResult, assert_config_error, build, cross_entropy, fixture, fixture_tensor, max_abs_diff,
    sin_state_dict, sin_tensor, train, usize_of,
};

fn small_config(case: &Value) -> VitConfig {
    let c = &case["config"];
    let num_classes = usize_of(&c["num_classes"]);
    VitConfig {
        image_size: usize_of(&c["img"]),
        patch_size: usize_of(&c["patch"]),
        in_channels: usize_of(&c["cin"]),
        width: usize_of(&c["dim"]),
        depth: usize_of(&c["depth"]),
        heads: usize_of(&c["heads"]),
        mlp_ratio: c["mlp_ratio"].as_f64().expect("mlp_ratio"),
        num_classes: (num_classes > 0).then_some(num_classes),
        pool: match c["global_pool"].as_str() {
            Some("avg") => VitPool::Mean,
            _ => VitPool::Cls,
        },
    }
}

/// A one-block ViT on 8x8 images with three classes.
fn tiny(mlp_ratio: f64, pool: VitPool) -> VitConfig {
    VitConfig {
        image_size: 8,
        patch_size: 4,
        in_channels: 3,
        width: 16,
        depth: 1,
        heads: 2,
        mlp_ratio,
        num_classes: Some(3),
        pool,
    }
}

#[test]
fn vit_tiny_patch16_224_has_timms_parameter_count() -> TestResult {
    let fx = fixture("vit_reference.json");
    let (_, store) = build(0, |vb| Vit::new(&VitConfig::vit_tiny_patch16_224(), vb))?;
    assert_eq!(store.num_trainable()?, 5_717_416);
    assert_eq!(usize_of(&fx["vit_tiny_patch16_224_num_params"]), 5_717_416);
    Ok(())
}

#[test]
fn names_shapes_and_logits_match_the_timm_replica() -> TestResult {
    let fx = fixture("vit_reference.json");
    let dev = Device::Cpu;
    for case in fx["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let cfg = small_config(case);
        let (vit, store) = build(1, |vb| Vit::new(&cfg, vb))?;
        assert_eq!(
            store.num_trainable()?,
            usize_of(&case["num_params"]),
            "{name}"
        );
        // every tensor by the rule, in the fixture's (state_dict) order; a strict load checks
        // that names and shapes match both ways
        let tensors = sin_state_dict(&case["keys"], &dev)?;
        let report = store.load_state_dict(&tensors, true)?;
        assert_eq!(report.loaded.len(), tensors.len(), "{name}");
        let (c, s) = (cfg.in_channels, cfg.image_size);
        let x = sin_tensor((2, c, s, s), 0.11, 0.0007, 0.5, &dev)?;
        let y = vit.forward_t(&x, false)?;
        let expect = fixture_tensor(&case["output"], &dev)?;
        assert_eq!(y.dims(), expect.dims(), "{name}");
        let diff = max_abs_diff(&y, &expect)?;
        assert!(diff < 1e-4, "{name}: max |ours - torch| = {diff}");
        // train mode computes the same function (no dropout)
        assert_eq!(max_abs_diff(&vit.forward_t(&x, true)?, &y)?, 0.0);
    }
    Ok(())
}

#[test]
fn cifar_preset_shapes_and_config_errors() -> TestResult {
    let dev = Device::Cpu;
    let cfg = VitConfig::vit_tiny_cifar();
    assert_eq!((cfg.num_patches(), cfg.mlp_hidden()), (64, 768));
    let (vit, _) = build(2, |vb| Vit::new(&cfg, vb))?;
    let x = sin_tensor((2, 3, 32, 32), 0.3, 0.0, 0.0, &dev)?;
    assert_eq!(vit.forward_features(&x)?.dims(), &[2, 65, 192]);
    assert_eq!(vit.forward_t(&x, true)?.dims(), &[2, 192]);
    // a wrong image size is an error, not a panic
    let bad = Tensor::zeros((2, 3, 16, 16), DType::F32, &dev)?;
    assert!(vit.forward_t(&bad, false).is_err());
    // config errors name the field
    let vb = ParamStore::seeded(0).var_builder(DType::F32, &dev);
    let patch_5 = VitConfig {
        patch_size: 5,
        ..cfg.clone()
    };
    assert_config_error(Vit::new(&patch_5, vb), "patch_size");
    assert_config_error(VitConfig { heads: 5, ..cfg }.check(), "heads");
    Ok(())
}

#[test]
fn save_and_load_reproduce_the_outputs() -> TestResult {
    let dev = Device::Cpu;
    let cfg = tiny(2.0, VitPool::Mean);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("vit.safetensors");
    let (va, a) = build(3, |vb| Vit::new(&cfg, vb))?;
    a.save(&path)?;
    let (vb, b) = build(4, |vb| Vit::new(&cfg, vb))?;
    let x = sin_tensor((2, 3, 8, 8), 0.21, 0.001, 0.3, &dev)?;
    assert!(max_abs_diff(&va.forward_t(&x, false)?, &vb.forward_t(&x, false)?)? > 1e-4);
    b.load(&path, true)?;
    assert_eq!(
        max_abs_diff(&va.forward_t(&x, false)?, &vb.forward_t(&x, false)?)?,
        0.0
    );
    // cls_token and pos_embed take no weight decay
    let (decay, no_decay) = b.decay_groups()?;
    assert_eq!(decay.len(), 6); // patch conv, qkv, proj, fc1, fc2, head weights
    let names: Vec<String> = b
        .trainable()?
        .into_iter()
        .map(|p| (p.name, p.kind))
        .filter(|(_, k)| *k != ParamKind::Decay)
        .map(|(n, _)| n)
        .collect();
    assert!(names.contains(&"cls_token".to_string()) && names.contains(&"pos_embed".to_string()));
    assert_eq!(decay.len() + no_decay.len(), b.trainable()?.len());
    Ok(())
}

#[test]
fn vit_trains() -> TestResult {
    let dev = Device::Cpu;
    let cfg = tiny(4.0, VitPool::Cls);
    let (vit, store) = build(5, |vb| Vit::new(&cfg, vb))?;
    let n = 6;
    let x = sin_tensor((n, 3, 8, 8), 0.17, 0.0013, 0.1, &dev)?;
    let labels = [0, 1, 2, 0, 1, 2];
    train(&store, 25, 1e-2, &[], || {
        cross_entropy(&vit.forward_t(&x, true)?, &labels)
    })?
    .assert_fell(0.5, "vit");
    Ok(())
}
