//! A resumed run ends bit-identical to an uninterrupted one (weights, batch-norm buffers, the EMA
//! target, the optimizer state, the metrics), after a stop flag, after a non-finite loss, and
//! with a crashed checkpoint write left behind.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::{Synthetic, Toy, adamw, config, lars, metrics, optimizer_state, sgd_nesterov};
use noether_train::{OptimizerConfig, Result, ScheduleConfig, TrainConfig, TrainError, Trainer};

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))
}

/// The metrics lines without the timing fields.
fn losses_of(dir: &Path) -> Vec<serde_json::Value> {
    metrics(dir)
        .into_iter()
        .map(|mut l| {
            let o = l.as_object_mut().expect("an object");
            o.remove("images_per_second");
            o.remove("elapsed_s");
            l
        })
        .collect()
}

/// An uninterrupted 12-step run in `dir`; returns the final snapshot.
fn uninterrupted(cfg: &TrainConfig, dir: &Path) -> Result<Toy> {
    let mut toy = Toy::new(6)?;
    let summary = Trainer::new(cfg.clone(), dir)?.with_progress(false).run(
        &mut toy,
        &mut Synthetic::new(3),
        false,
    )?;
    assert_eq!(summary.steps_done, 12);
    assert!(!summary.interrupted);
    Ok(toy)
}

fn assert_same_run(a: &Path, ta: &Toy, b: &Path, tb: &Toy) -> Result<()> {
    let (sa, sb) = (ta.snapshot()?, tb.snapshot()?);
    assert_eq!(sa.len(), sb.len());
    for (k, v) in &sa {
        assert_eq!(Some(v), sb.get(k), "variable {k} differs");
    }
    for key in [
        "online/bn.running_mean",
        "online/bn.num_batches_tracked",
        "target/fc1.weight",
    ] {
        assert!(sa.contains_key(key), "{key} is compared");
    }
    let ck = |d: &Path| d.join("checkpoints/step-00000012");
    assert_eq!(optimizer_state(&ck(a))?, optimizer_state(&ck(b))?);
    assert_eq!(losses_of(a), losses_of(b));
    Ok(())
}

fn stop_and_resume(cfg: TrainConfig) -> Result<()> {
    let (da, db) = (tempdir()?, tempdir()?);
    let full = uninterrupted(&cfg, da.path())?;

    // Stopped by the flag after step index 5, i.e. after 6 updates.
    let flag = Arc::new(AtomicBool::new(false));
    let mut first = Toy::new(6)?;
    first.stop_after = Some((5, flag.clone()));
    let summary = Trainer::new(cfg.clone(), db.path())?
        .with_progress(false)
        .with_stop_flag(flag)
        .run(&mut first, &mut Synthetic::new(3), false)?;
    assert!(summary.interrupted);
    assert_eq!(summary.steps_done, 6);
    assert!(
        summary.to_string().contains("interrupted at step 6/12"),
        "{summary}"
    );
    assert!(
        db.path()
            .join("checkpoints/step-00000006/state.json")
            .is_file()
    );
    assert_ne!(first.snapshot()?, full.snapshot()?);

    // A new process: fresh method and source, resumed from `latest`.
    let mut second = Toy::new(6)?;
    let summary = Trainer::new(cfg, db.path())?.with_progress(false).run(
        &mut second,
        &mut Synthetic::new(3),
        true,
    )?;
    assert_eq!((summary.steps_done, summary.steps_this_run), (12, 6));
    assert!(!summary.interrupted);
    assert_same_run(da.path(), &full, db.path(), &second)?;
    // keep_checkpoints = 2: steps 8 and 12 remain, `latest` names 12
    let mut left: Vec<String> = std::fs::read_dir(db.path().join("checkpoints"))
        .map_err(|e| TrainError::io("checkpoints", e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["latest", "step-00000008", "step-00000012"]);
    Ok(())
}

#[test]
fn resume_after_stop_is_bit_identical_sgd_nesterov() -> Result<()> {
    stop_and_resume(config(sgd_nesterov()))
}

#[test]
fn resume_after_stop_is_bit_identical_adamw() -> Result<()> {
    stop_and_resume(config(adamw()))
}

#[test]
fn resume_after_stop_is_bit_identical_lars() -> Result<()> {
    stop_and_resume(config(lars()))
}

#[test]
fn resume_after_stop_is_bit_identical_adam_constant_schedule_no_clipping() -> Result<()> {
    let opt = OptimizerConfig::Adam {
        lr: 1e-2,
        betas: [0.8, 0.99],
        eps: 1e-6,
        weight_decay: 1e-3,
    };
    let mut cfg = config(opt);
    cfg.schedule = ScheduleConfig::Constant {};
    cfg.clip_grad_norm = None;
    stop_and_resume(cfg)
}

#[test]
fn non_finite_loss_names_step_and_term_and_the_last_checkpoint_resumes() -> Result<()> {
    let (da, db) = (tempdir()?, tempdir()?);
    let full = uninterrupted(&config(sgd_nesterov()), da.path())?;

    let mut bad = Toy::new(6)?;
    bad.nan_at = Some(9);
    let err = Trainer::new(config(sgd_nesterov()), db.path())?
        .with_progress(false)
        .run(&mut bad, &mut Synthetic::new(3), false)
        .expect_err("a NaN loss is an error");
    match &err {
        TrainError::NonFinite { step, term, value } => {
            assert_eq!((*step, term.as_str()), (9, "mse"));
            assert!(value.is_nan());
        }
        other => panic!("expected NonFinite, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("step 9") && msg.contains("`mse`"), "{msg}");
    // Steps 1..=9 were logged; the committed checkpoint is step 8 and reads cleanly.
    assert_eq!(metrics(db.path()).len(), 9);
    let latest = noether_train::CheckpointDir::new(db.path())
        .latest()?
        .expect("a checkpoint");
    assert!(latest.ends_with("step-00000008"), "{}", latest.display());
    assert_eq!(noether_train::Checkpoint::read(&latest)?.state.step, 8);

    // Resuming (without the fault) drops the log line of step 9 and ends as the full run.
    let mut good = Toy::new(6)?;
    Trainer::new(config(sgd_nesterov()), db.path())?
        .with_progress(false)
        .run(&mut good, &mut Synthetic::new(3), true)?;
    assert_same_run(da.path(), &full, db.path(), &good)
}

#[test]
fn a_crash_mid_write_does_not_affect_resume() -> Result<()> {
    let (da, db) = (tempdir()?, tempdir()?);
    let full = uninterrupted(&config(adamw()), da.path())?;

    let flag = Arc::new(AtomicBool::new(false));
    let mut first = Toy::new(6)?;
    first.stop_after = Some((5, flag.clone()));
    Trainer::new(config(adamw()), db.path())?
        .with_progress(false)
        .with_stop_flag(flag)
        .run(&mut first, &mut Synthetic::new(3), false)?;
    // A crash while writing step 8: a temporary directory with a partial file; and a crash
    // between renaming step 9's directory and committing it: a complete-looking but
    // uncommitted directory holding garbage.
    let ck = db.path().join("checkpoints");
    let io = |e| TrainError::io(&ck, e);
    std::fs::create_dir(ck.join("step-00000008.tmp123")).map_err(io)?;
    std::fs::write(
        ck.join("step-00000008.tmp123/online.safetensors"),
        b"\x10\0\0",
    )
    .map_err(io)?;
    std::fs::create_dir(ck.join("step-00000009")).map_err(io)?;
    std::fs::write(ck.join("step-00000009/state.json"), b"{ partial").map_err(io)?;

    let mut second = Toy::new(6)?;
    Trainer::new(config(adamw()), db.path())?
        .with_progress(false)
        .run(&mut second, &mut Synthetic::new(3), true)?;
    assert_same_run(da.path(), &full, db.path(), &second)?;
    assert!(
        !ck.join("step-00000008.tmp123").exists(),
        "leftovers are removed"
    );
    assert!(
        !ck.join("step-00000009").exists(),
        "uncommitted directories are removed"
    );
    Ok(())
}

#[test]
fn metrics_have_one_parseable_line_per_logged_step() -> Result<()> {
    let d = tempdir()?;
    let mut cfg = config(lars());
    cfg.log_every = 5;
    let mut toy = Toy::new(6)?;
    let summary = Trainer::new(cfg, d.path())?.with_progress(false).run(
        &mut toy,
        &mut Synthetic::new(3),
        false,
    )?;
    let lines = metrics(d.path());
    let steps: Vec<u64> = lines
        .iter()
        .map(|l| l["step"].as_u64().expect("step"))
        .collect();
    assert_eq!(steps, [5, 10, 12], "every 5th step and the last");
    for l in &lines {
        for key in [
            "lr",
            "loss/total",
            "loss/mse",
            "loss/target_mse",
            "grad_norm",
            "images_per_second",
        ] {
            assert!(l[key].as_f64().is_some_and(f64::is_finite), "{key} in {l}");
        }
    }
    let last = &lines[2];
    let final_mse = summary
        .final_losses
        .iter()
        .find(|(k, _)| k == "mse")
        .map(|(_, v)| *v);
    assert_eq!(last["loss/mse"].as_f64(), final_mse);
    // the loss falls over the run
    let first_line = &lines[0];
    assert!(
        last["loss/mse"].as_f64() < first_line["loss/mse"].as_f64(),
        "{lines:?}"
    );
    // the resolved config sits next to the run
    let cfg_json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(d.path().join("config.json"))
            .map_err(|e| TrainError::io("config.json", e))?,
    )
    .map_err(|e| TrainError::io("config.json", e))?;
    assert_eq!(cfg_json["train"]["optimizer"]["kind"], "lars");
    Ok(())
}
