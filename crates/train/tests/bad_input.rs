//! Bad checkpoints and misuse: truncated or corrupted files, a missing `state.json`, another
//! config, another model, nothing to resume, a fresh run over an existing one. Each is an `Err`
//! naming the file or field, and no variable is touched.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::{Synthetic, Toy, config, sgd_nesterov};
use noether_train::{OptimizerConfig, Result, TrainConfig, TrainError, Trainer};

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))
}

/// A run in `dir` stopped after 4 steps; returns its checkpoint directory.
fn stopped_run(dir: &Path) -> Result<PathBuf> {
    let flag = Arc::new(AtomicBool::new(false));
    let mut toy = Toy::new(6)?;
    toy.stop_after = Some((3, flag.clone()));
    let s = Trainer::new(config(sgd_nesterov()), dir)?
        .with_progress(false)
        .with_stop_flag(flag)
        .run(&mut toy, &mut Synthetic::new(3), false)?;
    assert_eq!(s.steps_done, 4);
    Ok(dir.join("checkpoints/step-00000004"))
}

/// Resumes a fresh toy (hidden width `hidden`) under `cfg`; returns the error message and checks
/// that no variable changed.
fn resume_err(dir: &Path, cfg: TrainConfig, hidden: usize) -> Result<(TrainError, String)> {
    let mut toy = Toy::new(hidden)?;
    let before = toy.snapshot()?;
    let mut source = Synthetic::new(3);
    let err = Trainer::new(cfg, dir)?
        .with_progress(false)
        .run(&mut toy, &mut source, true)
        .expect_err("resume must fail");
    assert_eq!(
        toy.snapshot()?,
        before,
        "variables untouched by a failed resume"
    );
    let msg = err.to_string();
    Ok((err, msg))
}

fn io(e: std::io::Error) -> TrainError {
    TrainError::io("test", e)
}

#[test]
fn truncated_store_file_is_refused() -> Result<()> {
    let d = tempdir()?;
    let ck = stopped_run(d.path())?;
    let f = ck.join("online.safetensors");
    let bytes = fs::read(&f).map_err(io)?;
    fs::write(&f, &bytes[..bytes.len() / 2]).map_err(io)?;
    let (err, msg) = resume_err(d.path(), config(sgd_nesterov()), 6)?;
    assert!(matches!(err, TrainError::Checkpoint { .. }), "{err:?}");
    assert!(
        msg.contains("online.safetensors") && msg.contains("truncated"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn corrupted_optimizer_file_is_refused() -> Result<()> {
    let d = tempdir()?;
    let ck = stopped_run(d.path())?;
    let f = ck.join("optimizer.safetensors");
    let mut bytes = fs::read(&f).map_err(io)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    fs::write(&f, &bytes).map_err(io)?;
    let (_, msg) = resume_err(d.path(), config(sgd_nesterov()), 6)?;
    assert!(
        msg.contains("optimizer.safetensors") && msg.contains("corrupted"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn missing_or_truncated_state_json_is_refused() -> Result<()> {
    let d = tempdir()?;
    let ck = stopped_run(d.path())?;
    let state = ck.join("state.json");
    let text = fs::read(&state).map_err(io)?;
    fs::write(&state, &text[..text.len() / 3]).map_err(io)?;
    let (_, msg) = resume_err(d.path(), config(sgd_nesterov()), 6)?;
    assert!(
        msg.contains("state.json") && msg.contains("malformed"),
        "{msg}"
    );
    fs::remove_file(&state).map_err(io)?;
    let (_, msg) = resume_err(d.path(), config(sgd_nesterov()), 6)?;
    assert!(msg.contains("state.json"), "{msg}");
    Ok(())
}

#[test]
fn checkpoint_of_another_config_is_refused_naming_the_field() -> Result<()> {
    let d = tempdir()?;
    stopped_run(d.path())?;
    let other = config(OptimizerConfig::Sgd {
        lr: 0.07,
        momentum: 0.9,
        nesterov: true,
        weight_decay: 1e-3,
    });
    let (err, msg) = resume_err(d.path(), other, 6)?;
    match err {
        TrainError::ConfigMismatch { differences, .. } => {
            assert_eq!(differences, ["train.optimizer.lr: 0.05 -> 0.07"]);
        }
        other => panic!("expected ConfigMismatch, got {other}"),
    }
    assert!(
        msg.contains("another config") && msg.contains("optimizer.lr"),
        "{msg}"
    );
    // the caller's run config is covered too
    let mut toy = Toy::new(6)?;
    let err = Trainer::new(config(sgd_nesterov()), d.path())?
        .with_progress(false)
        .with_run_config(serde_json::json!({"model": "resnet18"}))
        .run(&mut toy, &mut Synthetic::new(3), true)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("run.model"), "{err}");
    // fields that do not change the numbers may differ
    let mut cadence = config(sgd_nesterov());
    cadence.checkpoint_every = 5;
    cadence.log_every = 2;
    let mut toy = Toy::new(6)?;
    let s = Trainer::new(cadence, d.path())?.with_progress(false).run(
        &mut toy,
        &mut Synthetic::new(3),
        true,
    )?;
    assert_eq!((s.steps_done, s.steps_this_run), (12, 8));
    Ok(())
}

#[test]
fn checkpoint_of_another_model_is_refused_naming_the_tensor() -> Result<()> {
    let d = tempdir()?;
    stopped_run(d.path())?;
    let (_, msg) = resume_err(d.path(), config(sgd_nesterov()), 5)?;
    assert!(
        msg.contains("fc1.weight") && msg.contains("online.safetensors"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn nothing_to_resume_and_a_bad_latest_are_errors() -> Result<()> {
    let d = tempdir()?;
    let (err, _) = resume_err(d.path(), config(sgd_nesterov()), 6)?;
    assert!(matches!(err, TrainError::NoCheckpoint { .. }), "{err:?}");
    stopped_run(d.path())?;
    fs::write(d.path().join("checkpoints/latest"), "step-00000099\n").map_err(io)?;
    let (_, msg) = resume_err(d.path(), config(sgd_nesterov()), 6)?;
    assert!(
        msg.contains("latest") && msg.contains("step-00000099"),
        "{msg}"
    );
    fs::write(d.path().join("checkpoints/latest"), "../../etc\n").map_err(io)?;
    let (_, msg) = resume_err(d.path(), config(sgd_nesterov()), 6)?;
    assert!(msg.contains("latest"), "{msg}");
    Ok(())
}

#[test]
fn a_fresh_run_never_overwrites_an_existing_one() -> Result<()> {
    let d = tempdir()?;
    let ck = stopped_run(d.path())?;
    let before = fs::read(ck.join("online.safetensors")).map_err(io)?;
    let mut toy = Toy::new(6)?;
    let err = Trainer::new(config(sgd_nesterov()), d.path())?
        .with_progress(false)
        .run(&mut toy, &mut Synthetic::new(3), false)
        .expect_err("a fresh run over a checkpoint is refused");
    assert!(matches!(err, TrainError::RunExists { .. }), "{err:?}");
    assert_eq!(fs::read(ck.join("online.safetensors")).map_err(io)?, before);
    assert_eq!(
        fs::read_to_string(d.path().join("checkpoints/latest")).map_err(io)?,
        "step-00000004\n"
    );
    Ok(())
}
