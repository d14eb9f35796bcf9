//! Trains ContextSSL's transformer in the synthetic world of
//! `noether_train::methods::context_world` and prints what a lone query keeps under a rotation
//! and under a colour context: the figures of docs/contextssl.md's "synthetic world" table.
//!
//! ```sh
//! cargo run --release -p noether-train --example context_world -- steps=15000 aux=5
//! cargo run --release -p noether-train --example context_world -- steps=3000 mask=0.5 seed=1
//! ```
//!
//! Settings (`key=value`; defaults are `WorldRun::default()`, the CI test's): `steps` [4000],
//! `aux` (the auxiliary weight) [25], `mask` (the random context mask probability) [0.9], `lr`
//! (Adam, warmup 20 + cosine) [1e-3], `seed` (weights and batches) [0], `width` (`n_embd`) [32].

use noether_train::methods::context_world::WorldRun;
use noether_train::{Result, TrainError};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| TrainError::config(key, format!("{value:?}: {e}")))
}

fn run() -> Result<()> {
    let mut r = WorldRun::default();
    for arg in std::env::args().skip(1) {
        let (k, v) = arg
            .split_once('=')
            .ok_or_else(|| TrainError::config(&arg, "expected key=value"))?;
        match k {
            "steps" => r.steps = parse(k, v)?,
            "aux" => r.aux_weight = parse(k, v)?,
            "mask" => r.mask_prob = parse(k, v)?,
            "lr" => r.lr = parse(k, v)?,
            "seed" => r.seed = parse(k, v)?,
            "width" => r.n_embd = parse(k, v)?,
            _ => {
                return Err(TrainError::config(
                    k,
                    "unknown setting (steps, aux, mask, lr, seed, width)",
                ));
            }
        }
    }
    let dir = tempfile::tempdir().map_err(|e| TrainError::io("tempdir", e))?;
    let t0 = std::time::Instant::now();
    let model = r.train(dir.path())?;
    let [rot, col] = r.measure(&model)?;
    println!(
        "steps {} aux {} mask {} lr {} seed {} width {} ({:.0} s)",
        r.steps,
        r.aux_weight,
        r.mask_prob,
        r.lr,
        r.seed,
        r.n_embd,
        t0.elapsed().as_secs_f64()
    );
    println!(
        "  rotation context: rotation {:.3}, colour {:.3}",
        rot.rotation, rot.color
    );
    println!(
        "  colour context:   rotation {:.3}, colour {:.3}",
        col.rotation, col.color
    );
    println!(
        "  rotation kept {:.2}x more under rot. ctx; colour kept {:.2}x more under col. ctx",
        rot.rotation / col.rotation,
        col.color / rot.color
    );
    Ok(())
}
