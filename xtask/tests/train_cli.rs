//! `cargo xtask train` end to end: the smoke experiment trains and writes checkpoints and
//! metrics, a finished run is not resumed, every experiments/*.toml builds and runs two steps
//! on a tiny mini3die, and bad run files and data directories are clear errors.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::{root, s, text, xtask};

#[test]
fn smoke_experiment_trains_and_a_finished_run_is_not_resumed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("run");
    let config = "experiments/simclr_mini3die_smoke.toml";
    let args = [
        "train",
        "--config",
        config,
        "--out",
        s(&out),
        "--no-progress",
    ];
    let o = xtask(&cache, &args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("finished at step 3/3"), "{stdout}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).expect("metrics");
    assert_eq!(metrics.lines().count(), 3, "{metrics}");
    for line in metrics.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        let loss = v["loss/total"].as_f64().expect("loss/total");
        assert!(loss.is_finite() && loss > 0.0, "{line}");
    }
    assert!(out.join("checkpoints/step-00000002").is_dir());
    assert!(out.join("checkpoints/step-00000003").is_dir());
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).expect("config"))
            .expect("config json");
    assert_eq!(cfg["run"]["run"]["method"], "simclr");
    assert_eq!(cfg["run"]["method"]["proj_hidden"], 16);
    assert_eq!(
        cfg["run"]["method"]["temperature"], 0.5,
        "defaults filled in"
    );
    assert_eq!(cfg["run"]["data"]["mini3die"]["classes"], 2);

    // --resume of a finished run: a no-op that says so.
    let mut resume = args.to_vec();
    resume.push("--resume");
    let o = xtask(&cache, &resume);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("already finished"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("metrics.jsonl")).expect("metrics"),
        metrics
    );

    // Without --resume the run directory is not overwritten.
    let o = xtask(&cache, &args);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).starts_with("error: "),
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stderr).contains("checkpoints"),
        "{}",
        text(&o.stderr)
    );

    // A longer run resumes from step 3 under the same file, but not under a changed one.
    let mut longer = resume.clone();
    longer.extend(["--steps", "5"]);
    let o = xtask(&cache, &longer);
    assert!(!o.status.success(), "steps is part of the config hash");
}

#[cfg(unix)]
#[test]
fn ctrl_c_writes_a_checkpoint_and_says_how_to_resume() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "train",
            "--config",
            "experiments/simclr_mini3die_smoke.toml",
            "--out",
            s(&out),
            "--no-progress",
            "--steps",
            "1000000",
        ])
        .env("NOETHER_CACHE", tmp.path().join("cache"))
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let metrics = out.join("metrics.jsonl");
    for _ in 0..600 {
        if std::fs::read_to_string(&metrics).is_ok_and(|m| m.lines().count() >= 2) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-INT", &pid]).status();
    assert!(killed.expect("kill runs").success());
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(stdout.contains("--resume"), "{stdout}");
    assert!(out.join("checkpoints/latest").exists());
}

#[test]
fn every_experiment_builds_and_runs_two_steps_on_a_tiny_mini3die() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let data = tmp.path().join("mini3die");
    let o = xtask(
        &cache,
        &[
            "render",
            "--out",
            s(&data),
            "--classes",
            "2",
            "--objects-per-class",
            "4",
            "--views",
            "4",
            "--size",
            "16",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("experiments"))
        .expect("experiments/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    // the 3DIEBench paper files at 128 / 256 px (a 153M-parameter transformer) are GPU-sized: a
    // minute and 5 GB each even in release; `paper_run_files_resolve` (xtask/src/train.rs)
    // checks that they resolve
    let gpu_sized = ["contextssl_paper.toml", "sie_paper.toml"];
    files.retain(|f| !gpu_sized.iter().any(|g| f.ends_with(g)));
    for (i, f) in files.iter().enumerate() {
        let out = tmp.path().join(format!("run{i}"));
        // the paper's files name CIFAR-10; --dataset auto lets them read the tiny mini3die
        let o = xtask(
            &cache,
            &[
                "train",
                "--config",
                s(f),
                "--out",
                s(&out),
                "--no-progress",
                "--steps",
                "2",
                "--batch-size",
                "8",
                "--data-dir",
                s(&data),
                "--dataset",
                "auto",
            ],
        );
        assert!(o.status.success(), "{}: {}", f.display(), text(&o.stderr));
        assert!(
            text(&o.stdout).contains("finished at step 2/2"),
            "{}",
            f.display()
        );
    }
}

#[test]
fn unknown_key_names_the_key_and_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let smoke = std::fs::read_to_string(root().join("experiments/simclr_mini3die_smoke.toml"))
        .expect("smoke file");
    let ctx = std::fs::read_to_string(root().join("experiments/contextssl_mini3die_quick.toml"))
        .expect("contextssl file");
    for (name, text_in, key) in [
        (
            "ctx_block.toml",
            ctx.replace("block_pairs = 64", "block_pairs = 48"),
            "contextssl.block_pairs",
        ),
        (
            "ctx_gessl.toml",
            format!("{ctx}\n[gessl]\ntasks = 2\n"),
            "contextssl",
        ),
        (
            "ctx_key.toml",
            ctx.replace("n_layer = 3", "n_layers = 3"),
            "n_layers",
        ),
        ("top.toml", format!("{smoke}\n[extra]\nx = 1\n"), "extra"),
        (
            "model.toml",
            smoke.replace("widths = [4, 8]", "widths = [4, 8]\nwidht = 3"),
            "widht",
        ),
        (
            "method.toml",
            smoke.replace("proj_out = 8", "proj_out = 8\ntemprature = 0.1"),
            "temprature",
        ),
        (
            "train.toml",
            smoke.replace("steps = 3", "steps = 3\nstpes = 4"),
            "stpes",
        ),
        (
            "gessl.toml",
            format!("{smoke}\n[gessl]\nlookahed = 2\n"),
            "lookahed",
        ),
        (
            "gessl_value.toml",
            format!("{smoke}\n[gessl]\nlookahead = 0\n"),
            "gessl.lookahead",
        ),
    ] {
        let path = tmp.path().join(name);
        std::fs::write(&path, text_in).expect("write");
        let o = xtask(
            &tmp.path().join("cache"),
            &[
                "train",
                "--config",
                s(&path),
                "--out",
                s(&tmp.path().join("r")),
            ],
        );
        assert!(!o.status.success(), "{name}");
        let err = text(&o.stderr);
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains(key), "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
    }
}

#[test]
fn bad_data_dirs_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let config = "experiments/simclr_mini3die_smoke.toml";
    let missing = tmp.path().join("no-such-data");
    let o = xtask(
        &cache,
        &[
            "train",
            "--config",
            config,
            "--out",
            s(&tmp.path().join("a")),
            "--data-dir",
            s(&missing),
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("no-such-data"),
        "{}",
        text(&o.stderr)
    );

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let o = xtask(
        &cache,
        &[
            "train",
            "--config",
            config,
            "--out",
            s(&tmp.path().join("b")),
            "--data-dir",
            s(&empty),
        ],
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("looked for"), "{err}");
    for what in ["3DIEBench", "CIFAR-10", "MNIST", "image folder"] {
        assert!(err.contains(what), "{what} missing in {err}");
    }
    assert!(!tmp.path().join("a").exists() && !tmp.path().join("b").exists());
}
