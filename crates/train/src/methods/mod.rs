//! Method recipes: each file is one paper's [`crate::Method`].

pub mod byol;
pub mod equimod;
pub mod gessl;
pub mod hssl;
pub mod simclr;
pub mod vicreg;

pub use byol::{Byol, ByolConfig};
pub use equimod::{Equimod, EquimodBase, EquimodBatch, EquimodConfig};
pub use gessl::{
    DEFAULT_TASK_TEMPERATURE, Gessl, GesslConfig, MetaGradient, SigmaConfig, TaskClassifier, Tasks,
    gessl_name, sigma, task_temperature,
};
pub use hssl::{Hssl, HsslConfig, HsslMode, Images};
pub use simclr::{SimClr, SimClrConfig, ViewPair};
pub use vicreg::{Vicreg, VicregConfig};
