//! The crate's integration tests, one module per file of `tests/`, linked into one test
//! binary: one link and one executable instead of one per file (the workspace's test build
//! is mostly linking, and its disk is mostly test executables). `xtask/tests/tidy.rs` fails
//! when a file of `tests/` is not named here or as its own `[[test]]`.

mod equivariant_heads;
mod gcnn;
mod gconv;
mod heads;
mod interface_nets;
mod resnet;
mod sesn;
mod support;
mod tcnn;
mod transformer;
mod vit;
