//! The CLI end to end: every listed subcommand runs, and bad input exits non-zero with a
//! message that names what was wrong.

use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("xtask runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn groups_list_shows_every_family() {
    let o = xtask(&["groups", "list"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for name in ["SO(3)", "so3.quat_xyzw", "D4", "S5 x O(3)", "Haar"] {
        assert!(out.contains(name), "missing {name} in\n{out}");
    }
}

#[test]
fn groups_sample_is_deterministic_and_has_the_layout_width() {
    let a = xtask(&[
        "groups", "sample", "SO(3)", "-n", "5", "--seed", "3", "--format", "csv",
    ]);
    let b = xtask(&[
        "groups", "sample", "SO(3)", "-n", "5", "--seed", "3", "--format", "csv",
    ]);
    assert!(a.status.success());
    assert_eq!(stdout(&a), stdout(&b));
    let out = stdout(&a);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "qx,qy,qz,qw");
    assert_eq!(lines.len(), 6);
    for line in &lines[1..] {
        let q: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let norm: f64 = q.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{line}");
    }
    let c = xtask(&[
        "groups", "sample", "SO(3)", "-n", "5", "--seed", "4", "--format", "csv",
    ]);
    assert_ne!(stdout(&a), stdout(&c));
}

#[test]
fn groups_check_passes_on_every_family() {
    for spec in [
        "C6",
        "D4",
        "SO(2)",
        "O(2)",
        "SO(3)",
        "O(3)",
        "SO(5)",
        "S6",
        "T(2)",
        "E(3)",
        "Scale",
        "S4 x O(3)",
    ] {
        let o = xtask(&["groups", "check", spec, "--samples", "50"]);
        assert!(
            o.status.success(),
            "{spec}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout(&o).contains("hold"), "{spec}");
    }
}

#[test]
fn unknown_group_is_a_clear_error() {
    let o = xtask(&["groups", "sample", "Q8"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Q8") && err.contains("known"), "{err}");
}

#[test]
fn info_reports_a_working_device() {
    let o = xtask(&["info"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("matmul ran and checked"));
}

fn augment_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("noether-xtask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn augment_writes_views_params_and_sheet_and_replays() {
    let dir = augment_dir("augment");
    std::fs::create_dir_all(&dir).expect("dir");
    let input = dir.join("input.png");
    let img = noether_augment::Image::from_fn(3, 40, 48, |c, y, x| {
        ((c * 5 + y * 3 + x * 7) % 13) as f32 / 13.0
    });
    img.save(&input).expect("save");
    let out = dir.join("views");
    let o = xtask(&[
        "augment",
        "--input",
        input.to_str().unwrap(),
        "--preset",
        "simclr-cifar",
        "--views",
        "4",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["view_00.png", "view_03.png", "params.json", "sheet.png"] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let params: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("params.json")).unwrap()).unwrap();
    assert_eq!(params["views"].as_array().unwrap().len(), 4);
    assert_eq!(
        params["views"][0]["equimod_raw"].as_array().unwrap().len(),
        15
    );

    // replaying the records on the same image gives the same pixels
    let again = dir.join("replayed");
    let o = xtask(&[
        "augment",
        "--input",
        input.to_str().unwrap(),
        "--replay",
        out.join("params.json").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["view_00.png", "view_03.png"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap()
        );
    }

    // bad input: a missing image, an unknown preset, a corrupt params file
    let o = xtask(&[
        "augment",
        "--input",
        "nope.png",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.png"));
    let o = xtask(&[
        "augment",
        "--input",
        input.to_str().unwrap(),
        "--preset",
        "simclr-mnist",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("simclr-mnist"));
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"preset\": 3}").unwrap();
    let o = xtask(&[
        "augment",
        "--input",
        input.to_str().unwrap(),
        "--replay",
        bad.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.json"));
}

#[test]
fn render_writes_the_3diebench_layout_and_a_sheet() {
    let dir = augment_dir("render");
    let out = dir.join("mini3die");
    let sheet = dir.join("sheet.png");
    let o = xtask(&[
        "render",
        "--out",
        out.to_str().unwrap(),
        "--classes",
        "2",
        "--objects-per-class",
        "2",
        "--views",
        "3",
        "--size",
        "16",
        "--seed",
        "1",
        "--sheet",
        sheet.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(sheet.exists());
    for f in [
        "train_images.npy",
        "val_images.npy",
        "train_labels.npy",
        "all_latents_train.npy",
    ] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let o = xtask(&["render", "--out", out.to_str().unwrap(), "--size", "4"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("mini3die.size"));
}

#[test]
fn render_check_smoke_reports_finite_figures() {
    let dir = augment_dir("check");
    let json = dir.join("learnable.json");
    let o = xtask(&[
        "render",
        "--check",
        "--smoke",
        "--check-json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    for name in ["class top-1", "rotation R²", "colour R²", "chance"] {
        assert!(out.contains(name), "missing {name} in\n{out}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in ["class_top1", "chance", "rotation_r2", "color_r2", "wall_s"] {
        let v = report[key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite(), "{key} = {v} in {report}");
    }
    let top1 = report["class_top1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&top1));
    assert_eq!(report["config"]["smoke"], true);
    // --check writes no dataset and takes no --out.
    let o = xtask(&["render", "--check", "--out", dir.to_str().unwrap()]);
    assert!(!o.status.success());
}
