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
//! use noether_groups::{Group, Rotation3, SO3};
//!
//! // Two views of a 3DIEBench object, rotated by extrinsic XYZ Euler angles (scipy's "xyz").
//! let r1 = Rotation3::from_euler_xyz([0.1, -0.4, 1.2]);
//! let r2 = Rotation3::from_euler_xyz([0.7, 0.3, -0.5]);
//! // The action between them, as a quaternion (x, y, z, w) exactly as scipy writes it.
//! let action = r1.relative_to(&r2).as_quat();
//! let so3 = SO3;
//! assert_eq!(so3.encode(&r1.relative_to(&r2)).len(), 4);
//! assert!(action[3].abs() <= 1.0);
//! ```

mod cyclic;
mod error;
mod group;
pub mod laws;
mod layout;
mod points;
mod real;

pub use cyclic::Cyclic;
pub use error::{GroupError, Result};
pub use group::{FiniteGroup, Group, LinearGroup, PointAction, VectorAction};
pub use layout::ParamLayout;
pub use points::Points;
pub use real::Real;
