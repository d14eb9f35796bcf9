//! The crate's integration tests, one module per file of `tests/`, linked into one test
//! binary: one link and one executable instead of one per file (the workspace's test build
//! is mostly linking, and its disk is mostly test executables). `xtask/tests/tidy.rs` fails
//! when a file of `tests/` is not named here or as its own `[[test]]`.

mod common;
mod fused_vs_reference;
mod gradcheck;
mod laws;
mod optim;
mod optim_state;
mod semantics;
mod torch_parity;
mod train;
