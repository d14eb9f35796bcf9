//! The crate's integration tests, one module per file of `tests/`, linked into one test
//! binary: one link and one executable instead of one per file (the workspace's test build
//! is mostly linking, and its disk is mostly test executables). `xtask/tests/tidy.rs` fails
//! when a file of `tests/` is not named here or as its own `[[test]]`.

mod common;
mod haar_planar;
mod haar_symmetric;
mod laws_other;
mod laws_planar;
mod laws_rotations3;
mod so3_scipy;
