//! Method recipes: each file is one paper's [`crate::Method`].

pub mod simclr;

pub use simclr::{SimClr, SimClrConfig, ViewPair};
