//! # noether-data
//!
//! mini3die, noether's embedded look-alike of 3DIEBench, rendered on the CPU from a seed; and
//! loaders for the 3DIEBench layout, CIFAR-10/100, MNIST and image folders.

mod error;
pub mod latent;
pub use error::{DataError, Result};
pub use latent::Latent;

// --- renderer (src/render/) ---
pub mod export;
pub mod render;

// --- loaders ---
pub mod cifar;
pub mod digits;
pub mod folder;
mod fsio;
pub mod graphs;
pub mod layout;
pub mod loader;
pub mod mnist;
pub mod nbody;
pub mod npy;
mod split;
mod store;

pub use digits::{DigitsConfig, Rotation};
pub use graphs::{Graph, csl, parse_graph6_line, read_graph6, write_graph6};
pub use layout::{ActionKind, Dataset3die, LayoutWriter, Object3die, Pair};
pub use loader::{Batch, BatchRequest, Cursor, ImageSource, Loader, LoaderConfig, ViewBatch};
pub use nbody::{NBody, NBodyConfig, NBodySample};
pub use npy::NpyArray;
pub use split::Split;
pub use store::ImageStore;
