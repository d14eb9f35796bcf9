//! # noether-groups
//!
//! Groups, their elements and actions, Haar sampling and versioned parameter encodings: the
//! mathematical layer of noether. Pure math: no tensors, no I/O, no candle.
//!
//! Every transformation noether uses is an element of a [`Group`]. A group knows its identity,
//! composition, inverse, how to sample (Haar for compact groups, a stated distribution
//! otherwise, always from an explicit RNG), and how to encode an element as a fixed-length
//! `f32` vector with a documented, versioned [`ParamLayout`]. That vector is what equivariant
//! SSL methods condition on and what the R² metrics regress.
//!
//! ```
//! use noether_groups::{Group, Orthogonal, VectorAction};
//! use rand::SeedableRng;
//!
//! let so3 = Orthogonal::special(3)?;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let g = so3.sample(&mut rng); // Haar
//! let params = so3.encode(&g); // 9 floats, layout `special_orthogonal.matrix` v1
//! let back = so3.decode(&params)?;
//! let x = so3.act_vector(&back, &[1.0f32, 0.0, 0.0])?;
//! assert!((x.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-5);
//! # Ok::<(), noether_groups::GroupError>(())
//! ```
//!
//! The rotation action between two views of a 3DIEBench object, exactly as scipy computes it:
//!
//! ```
//! use noether_groups::{Group, Rotation3, SO3};
//!
//! // Latents 0..3 of two views: extrinsic XYZ Euler angles (scipy's "xyz", Blender's R = Rz Ry Rx).
//! let r1 = Rotation3::from_euler_xyz([0.1, -0.4, 1.2]);
//! let r2 = Rotation3::from_euler_xyz([0.7, 0.3, -0.5]);
//! // scipy: (R.from_euler("xyz", a1).inv() * R.from_euler("xyz", a2)).as_quat()
//! let action = SO3.encode(&r1.relative_to(&r2)); // [qx, qy, qz, qw], sign as scipy's
//! assert_eq!(action.len(), 4);
//! assert!(r1.compose(&r1.relative_to(&r2)).angle_to(&r2) < 1e-12);
//! ```

mod cyclic;
mod dihedral;
mod dynamic;
mod error;
mod euclidean;
mod group;
pub mod laws;
mod layout;
mod o3;
mod orthogonal;
mod points;
mod product;
mod real;
mod scaling;
mod so2;
mod so3;
mod spec;
mod symmetric;
mod translation;

pub use cyclic::Cyclic;
pub use dihedral::{Dihedral, DihedralElement};
pub use dynamic::{DynGroup, DynProduct};
pub use error::{GroupError, Result};
pub use euclidean::{Euclidean, EuclideanGroup, RigidMotion};
pub use group::{FiniteGroup, Group, LinearGroup, PointAction, VectorAction};
pub use layout::ParamLayout;
pub use o3::{O3, O3Element};
pub use orthogonal::Orthogonal;
pub use points::Points;
pub use product::Product;
pub use real::Real;
pub use scaling::Scaling;
pub use so2::{O2, O2Element, SO2, wrap_angle};
pub use so3::{Rotation3, SO3};
pub use spec::{GROUP_SPECS, parse_group};
pub use symmetric::{Permutation, Symmetric};
pub use translation::Translations;
