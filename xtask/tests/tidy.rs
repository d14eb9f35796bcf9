//! Tidy checks over the workspace itself: the crate graph keeps the layering of
//! `docs/ARCHITECTURE.md`.

use std::path::Path;

fn manifest(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
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
fn every_crate_uses_workspace_lints_and_package_metadata() {
    for m in [
        "crates/groups/Cargo.toml",
        "crates/augment/Cargo.toml",
        "crates/data/Cargo.toml",
        "xtask/Cargo.toml",
    ] {
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
