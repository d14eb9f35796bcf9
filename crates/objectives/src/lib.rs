//! # noether-objectives
//!
//! Self-supervised losses as pure functions of tensors: no dataset, model or optimizer inside.
