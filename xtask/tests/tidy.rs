//! Tidy checks over the workspace itself: the crate graph keeps the layering of
//! `docs/ARCHITECTURE.md`.

use std::path::Path;

use crate::common::root;

fn manifest(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// The `[dependencies]` table of a manifest (not dev-dependencies), as text.
fn dependencies(text: &str) -> String {
    let start = text
        .find("[dependencies]")
        .map_or(text.len(), |i| i + "[dependencies]".len());
    let rest = &text[start..];
    rest[..rest.find("\n[").unwrap_or(rest.len())].to_string()
}

/// Fails when the `[dependencies]` of the crate in `dir` name any of `forbidden`.
fn assert_no_dependency(name: &str, dir: &str, forbidden: &[&str]) {
    let deps = dependencies(&manifest(&format!("{dir}/Cargo.toml")));
    for f in forbidden {
        assert!(!deps.contains(f), "{name} must not depend on {f}:\n{deps}");
    }
}

#[test]
fn groups_is_pure_math() {
    assert_no_dependency(
        "noether-groups",
        "crates/groups",
        &["candle", "noether-", "image", "safetensors", "serde"],
    );
}

#[test]
fn augment_has_no_tensor_library_and_no_dataset() {
    assert_no_dependency(
        "noether-augment",
        "crates/augment",
        &["candle", "noether-data", "noether-models", "noether-train"],
    );
}

#[test]
fn data_has_no_tensor_library_and_no_model() {
    assert_no_dependency(
        "noether-data",
        "crates/data",
        &["candle", "noether-models", "noether-train", "noether-ops"],
    );
}

#[test]
fn ops_sits_on_candle_alone() {
    assert_no_dependency(
        "noether-ops",
        "crates/ops",
        &[
            "noether-models",
            "noether-objectives",
            "noether-data",
            "noether-augment",
            "noether-train",
            "candle-nn",
        ],
    );
}

#[test]
fn models_never_see_data_or_losses() {
    assert_no_dependency(
        "noether-models",
        "crates/models",
        &[
            "noether-data",
            "noether-augment",
            "noether-objectives",
            "noether-train",
        ],
    );
}

#[test]
fn objectives_are_functions_of_tensors_only() {
    assert_no_dependency(
        "noether-objectives",
        "crates/objectives",
        &[
            "noether-models",
            "noether-data",
            "noether-augment",
            "noether-train",
        ],
    );
}

#[test]
fn eval_sees_tensors_not_models_or_data() {
    assert_no_dependency(
        "noether-eval",
        "crates/eval",
        &[
            "noether-models",
            "noether-data",
            "noether-augment",
            "noether-objectives",
            "noether-train",
        ],
    );
}

#[test]
fn symmetrize_wraps_models_without_data_or_training() {
    assert_no_dependency(
        "noether-symmetrize",
        "crates/symmetrize",
        &[
            "noether-data",
            "noether-augment",
            "noether-eval",
            "noether-train",
        ],
    );
}

/// Every library crate's directory under `crates/`, and the CLI's, relative to the root.
fn crate_dirs() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .filter_map(|e| e.ok())
        .map(|e| format!("crates/{}", e.file_name().to_string_lossy()))
        .collect();
    out.sort();
    out.push("xtask".to_string());
    assert!(out.len() >= 8, "expected every crate, found {out:?}");
    out
}

/// Every crate's manifest ([`crate_dirs`]).
fn all_manifests() -> Vec<String> {
    crate_dirs()
        .into_iter()
        .map(|d| format!("{d}/Cargo.toml"))
        .collect()
}

#[test]
fn every_crate_uses_workspace_lints_and_package_metadata() {
    for m in all_manifests() {
        let m = m.as_str();
        let text = manifest(m);
        assert!(
            text.contains("[lints]\nworkspace = true"),
            "{m} must use the workspace lints"
        );
        assert!(
            text.contains("edition.workspace = true"),
            "{m} must inherit the edition"
        );
    }
}

#[test]
fn candle_is_pinned_once_in_the_workspace() {
    let root = manifest("Cargo.toml");
    for c in ["candle-core", "candle-nn", "candle-transformers"] {
        assert!(
            root.contains(&format!("{c} = \"=0.11.")),
            "{c} must be pinned to one 0.11 version"
        );
    }
}

/// candle's fused layer norm, softmax, rms norm and attention return no gradient, its batch
/// norm keeps running statistics as trainable variables, and its `max_pool2d` backward is `k²`
/// times too small. Nothing that trains may call them: `noether-ops` has the versions with a
/// (correct) backward.
#[test]
fn trained_code_never_calls_candles_gradient_less_ops() {
    let root = root();
    let forbidden = [
        "candle_nn::ops::softmax",
        "candle_nn::ops::log_softmax",
        "candle_nn::ops::layer_norm",
        "candle_nn::ops::rms_norm",
        "candle_nn::ops::sdpa",
        "candle_nn::LayerNorm",
        "candle_nn::layer_norm",
        "candle_nn::BatchNorm",
        "candle_nn::batch_norm",
        "candle_nn::RmsNorm",
        "softmax_last_dim(", // only through noether_ops::
        "max_pool2d(",       // only through noether_ops::
    ];
    let through_ops = ["softmax_last_dim(", "max_pool2d("];
    let mut offenders = Vec::new();
    for dir in [
        "crates/models/src",
        "crates/objectives/src",
        "crates/eval/src",
        "crates/symmetrize/src",
        "crates/train/src",
        "xtask/src",
    ] {
        for path in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&path).expect("source file");
            for (i, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                for f in forbidden {
                    let qualified = through_ops.contains(&f) && code.contains("noether_ops::");
                    if code.contains(f) && !qualified {
                        offenders.push(format!("{}:{}: {}", path.display(), i + 1, code));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "gradient-less candle ops:\n{}",
        offenders.join("\n")
    );
}

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Each crate links its integration tests into one binary (`tests/integration.rs`, with
/// `autotests = false`), so a new file of `tests/` runs only once it is named there as a module
/// or in the manifest as its own `[[test]]` (for tests that flip a process-wide switch). This
/// fails when one is named in neither and would silently never run.
#[test]
fn every_test_file_is_linked_into_a_test_binary() {
    let root = root();
    let mut orphans = Vec::new();
    for dir in crate_dirs() {
        let tests = root.join(&dir).join("tests");
        if !tests.is_dir() {
            continue;
        }
        let cargo = manifest(&format!("{dir}/Cargo.toml"));
        assert!(
            cargo.contains("autotests = false"),
            "{dir}/Cargo.toml: set `autotests = false` and name `tests/integration.rs` as a [[test]]"
        );
        let integration = std::fs::read_to_string(tests.join("integration.rs"))
            .unwrap_or_else(|e| panic!("{dir}/tests/integration.rs: {e}"));
        for entry in std::fs::read_dir(&tests).expect("tests dir") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            let Some(module) = name.strip_suffix(".rs") else {
                continue;
            };
            let declaration = format!("mod {module};");
            let linked = name == "integration.rs"
                || integration.lines().any(|l| l.trim() == declaration)
                || cargo.contains(&format!("path = \"tests/{name}\""));
            if !linked {
                orphans.push(format!("{dir}/tests/{name}"));
            }
        }
    }
    assert!(
        orphans.is_empty(),
        "test files in no test binary (add `mod <file>;` to tests/integration.rs):\n{}",
        orphans.join("\n")
    );
}
