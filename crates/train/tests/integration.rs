//! The crate's integration tests, one module per file of `tests/`, linked into one test
//! binary: one link and one executable instead of one per file (the workspace's test build
//! is mostly linking, and its disk is mostly test executables). `xtask/tests/tidy.rs` fails
//! when a file of `tests/` is not named here or as its own `[[test]]`.

mod action_methods;
mod bad_input;
mod common;
mod contextssl;
mod contextssl_world;
mod data;
mod gessl;
mod hssl;
mod methods;
mod resume;
mod simclr;
