//! # noether-train
//!
//! The training side of noether: a [`Method`] is a recipe (which networks, how a batch becomes
//! named losses); the [`Trainer`] does everything else the same way for every method:
//!
//! - optimizers ([`OptimizerConfig`]): SGD (momentum, Nesterov, weight decay), Adam with coupled
//!   L2 (torch's `Adam`), AdamW, LARS; each trained store gives a weight-decay group and a group
//!   of biases and norm parameters with no decay (and, for LARS, no trust ratio);
//! - schedules ([`ScheduleConfig`]): constant, warmup + cosine; gradient clipping by global norm;
//!   EMA targets through [`Method::after_step`] and a frozen [`NamedStore`];
//! - checkpoints every N steps, at the end and on a stop flag, written atomically
//!   ([`checkpoint`]); resume that ends bit-identical to an uninterrupted run (on the CPU with
//!   the same thread count): weights and buffers, optimizer state, the step (hence the schedule
//!   position and every RNG stream, see [`StepContext::rng`]), the data cursor
//!   ([`BatchSource`]), checked against the resolved config;
//! - a progress bar (loss, images/s, ETA), a JSONL metrics log and a [`RunSummary`];
//! - errors as values ([`TrainError`]): a non-finite loss names the step and the term and keeps
//!   the last good checkpoint; a truncated, foreign or mismatched checkpoint is refused before
//!   any variable is touched.
//!
//! Recipes live in [`methods`]: [`methods::SimClr`], [`methods::Byol`], [`methods::Vicreg`] and
//! [`methods::Equimod`] (on SimCLR or BYOL). [`data`] turns datasets into batch sources.
//!
//! The library never installs a signal handler: the CLI sets the [`Trainer::with_stop_flag`]
//! flag from its Ctrl-C handler.

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
mod error;
pub mod method;
pub mod methods;
pub mod source;
pub mod trainer;

pub use checkpoint::{Checkpoint, CheckpointDir, CheckpointState, write_atomic};
pub use config::{OptimizerConfig, ScheduleConfig, TrainConfig};
pub use error::{Result, TrainError};
pub use method::{Embed, Losses, Method, NamedStore, PredictAction, StepContext};
pub use source::BatchSource;
pub use trainer::{RunSummary, Trainer};
