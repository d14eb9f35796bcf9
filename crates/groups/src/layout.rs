//! Versioned, documented layouts of the `f32` parameter vectors that encode group elements.
//!
//! Every element of every group encodes to a fixed-length `f32` vector. That vector is what
//! EquiMod, SIE and ContextSSL condition on and what the R² metrics regress, so its layout is
//! part of the public contract: it has an identifier, a version that is bumped whenever the
//! meaning of a slot changes, and one name per slot. The layouts themselves are documented on
//! each group type and collected in `docs/groups.md`.

use crate::error::{GroupError, Result};

/// The layout of a group's parameter vector: identifier, version and one name per float.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamLayout {
    /// Stable identifier of the layout, e.g. `so3.quat_xyzw`.
    pub id: String,
    /// Version of the layout; bumped whenever the meaning of a slot changes.
    pub version: u32,
    /// One name per float, in order, e.g. `["qx", "qy", "qz", "qw"]`.
    pub names: Vec<String>,
}

impl ParamLayout {
    /// A layout from an identifier, a version and the slot names.
    pub fn new<S: Into<String>>(
        id: impl Into<String>,
        version: u32,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            id: id.into(),
            version,
            names: names.into_iter().map(Into::into).collect(),
        }
    }

    /// Number of floats in the vector.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True for the layout of the trivial group (no parameters).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The layout of a direct product: `self`'s slots prefixed `a.`, then `other`'s prefixed `b.`.
    pub fn product(&self, other: &ParamLayout) -> ParamLayout {
        let names = self
            .names
            .iter()
            .map(|n| format!("a.{n}"))
            .chain(other.names.iter().map(|n| format!("b.{n}")))
            .collect::<Vec<_>>();
        ParamLayout {
            id: format!(
                "product({} v{}, {} v{})",
                self.id, self.version, other.id, other.version
            ),
            version: 1,
            names,
        }
    }

    /// A one-line description used in error messages and `cargo xtask groups`:
    /// `4 floats [qx, qy, qz, qw] (layout so3.quat_xyzw v1)`. Long layouts are elided.
    pub fn describe(&self) -> String {
        const SHOWN: usize = 8;
        let names = if self.names.len() <= SHOWN {
            self.names.join(", ")
        } else {
            format!(
                "{}, ..., {}",
                self.names[..SHOWN - 1].join(", "),
                self.names[self.names.len() - 1]
            )
        };
        let plural = if self.len() == 1 { "float" } else { "floats" };
        format!(
            "{} {plural} [{names}] (layout {} v{})",
            self.len(),
            self.id,
            self.version
        )
    }

    /// Checks that `params` has this layout's length and only finite values; the error names
    /// `group` and this layout.
    pub fn check(&self, group: &str, params: &[f32]) -> Result<()> {
        if params.len() != self.len() {
            return Err(self.decode_error(group, format!("got {} floats", params.len())));
        }
        if let Some(i) = params.iter().position(|v| !v.is_finite()) {
            return Err(self.decode_error(
                group,
                format!("slot {i} (`{}`) is {}", self.names[i], params[i]),
            ));
        }
        Ok(())
    }

    /// A [`GroupError::Decode`] for `group` that quotes this layout.
    pub fn decode_error(&self, group: &str, reason: impl Into<String>) -> GroupError {
        GroupError::Decode {
            group: group.to_string(),
            layout: self.describe(),
            reason: reason.into(),
        }
    }
}

/// Reads slot `i` of a checked parameter vector as an integer in `0..n`, or explains why not.
pub(crate) fn integer_slot(
    layout: &ParamLayout,
    group: &str,
    params: &[f32],
    i: usize,
    n: usize,
) -> Result<usize> {
    let v = params[i];
    let r = v.round();
    if (v - r).abs() > 1e-3 || r < 0.0 || r >= n as f32 {
        return Err(layout.decode_error(
            group,
            format!(
                "slot {i} (`{}`) is {v}, expected an integer in 0..{n}",
                layout.names[i]
            ),
        ));
    }
    Ok(r as usize)
}

/// Reads slot `i` of a checked parameter vector as a flag (0 or 1), or explains why not.
pub(crate) fn flag_slot(
    layout: &ParamLayout,
    group: &str,
    params: &[f32],
    i: usize,
) -> Result<bool> {
    integer_slot(layout, group, params, i, 2).map(|v| v == 1)
}
