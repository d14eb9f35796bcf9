//! Method recipes: each file is one paper's [`crate::Method`].

pub mod augself;
pub mod byol;
mod check;
pub mod context_world;
pub mod contextssl;
pub mod equimod;
pub mod equimod_actions;
pub mod gessl;
pub mod hssl;
pub mod lps;
pub mod sen;
pub mod sie;
pub mod simclr;
pub mod vicreg;

pub use augself::{AugSelfConfig, SimClrAugSelf};
pub use byol::{Byol, ByolConfig};
pub use contextssl::{ContextMode, ContextSsl, ContextSslConfig, InContext};
pub use equimod::{Equimod, EquimodBase, EquimodBatch, EquimodConfig};
pub use equimod_actions::{EquimodActions, EquimodActionsConfig};
pub use gessl::{
    DEFAULT_TASK_TEMPERATURE, Gessl, GesslConfig, MetaGradient, SigmaConfig, TaskClassifier, Tasks,
    gessl_name, sigma, task_temperature,
};
pub use hssl::{Hssl, HsslConfig, HsslMode, Images};
pub use lps::{Examples, Supervised, SupervisedSource, Symmetrize, Target, evaluate};
pub use sen::{Sen, SenConfig};
pub use sie::{ActionColumns, Sie, SieConfig};
pub use simclr::{SimClr, SimClrConfig, ViewPair};
pub use vicreg::{Vicreg, VicregConfig};
