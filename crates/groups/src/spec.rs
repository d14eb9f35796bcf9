//! Groups named as text, for experiment files and the command line.

use crate::dynamic::{DynGroup, DynProduct};
use crate::error::{GroupError, Result};
use crate::{
    Cyclic, Dihedral, Euclidean, O2, O3, Orthogonal, SO2, SO3, Scaling, Symmetric, Translations,
};

/// The group families [`parse_group`] understands, one line each: spelling and meaning.
pub const GROUP_SPECS: &[(&str, &str)] = &[
    ("Cn (C4, C8)", "cyclic group of n planar rotations"),
    (
        "Dn (D4)",
        "dihedral group of order 2n: rotations and reflections",
    ),
    (
        "SO(2), O(2)",
        "planar rotations / rotations and reflections, by angle",
    ),
    (
        "SO(3), O(3)",
        "3-D rotations as scipy-compatible quaternions (O(3): and a sign)",
    ),
    (
        "SO(n), O(n)",
        "n x n rotation / orthogonal matrices (n other than 2 and 3)",
    ),
    ("Sn (S5)", "symmetric group: permutations of n items"),
    ("T(n)", "translations of R^n, sampled N(0, I)"),
    (
        "E(n), SE(n)",
        "rigid motions of R^n (O(n) or SO(n) and a translation sampled N(0, I))",
    ),
    (
        "Scale, Scale(a,b)",
        "positive scalings, log-uniform on [a, b] (default [0.5, 2])",
    ),
    ("G x H", "direct product of any two of the above (also `×`)"),
];

/// Parses a group specification such as `"SO(3)"`, `"C4"`, `"D8"`, `"S5 x O(3)"`,
/// `"Scale(0.8, 1.25)"` (case-insensitive; see [`GROUP_SPECS`]). Products nest to the left.
///
/// ```
/// let g = noether_groups::parse_group("S5 x SO(3)")?;
/// assert_eq!(g.name(), "S5 x SO(3)");
/// assert_eq!(g.layout().len(), 5 + 4);
/// assert!(noether_groups::parse_group("SO(-1)").is_err());
/// # Ok::<(), noether_groups::GroupError>(())
/// ```
pub fn parse_group(spec: &str) -> Result<Box<dyn DynGroup>> {
    let normalised = spec.replace('×', " x ");
    let factors: Vec<&str> = normalised.split(" x ").map(str::trim).collect();
    let mut groups = factors.iter().map(|f| parse_factor(spec, f));
    let first = groups
        .next()
        .unwrap_or_else(|| Err(spec_error(spec, "empty specification")))?;
    groups.try_fold(first, |acc, next| {
        Ok(Box::new(DynProduct::new(acc, next?)) as Box<dyn DynGroup>)
    })
}

fn spec_error(spec: &str, reason: impl Into<String>) -> GroupError {
    GroupError::Spec {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

fn parse_factor(spec: &str, factor: &str) -> Result<Box<dyn DynGroup>> {
    let f: String = factor
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    let int = |s: &str| -> Result<usize> {
        s.parse::<usize>()
            .map_err(|_| spec_error(spec, format!("`{factor}`: `{s}` is not a positive integer")))
    };
    let inner = |prefix: &str| -> Option<String> {
        f.strip_prefix(prefix)?
            .strip_suffix(')')
            .map(str::to_string)
    };
    if f.is_empty() {
        return Err(spec_error(spec, "empty factor"));
    }
    if f == "SCALE" {
        return Ok(Box::new(Scaling::new(0.5, 2.0)?));
    }
    if let Some(args) = inner("SCALE(") {
        let range: Vec<f64> = args
            .split(',')
            .map(|v| v.parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| spec_error(spec, format!("`{factor}`: expected Scale(min, max)")))?;
        let [lo, hi] = range[..] else {
            return Err(spec_error(
                spec,
                format!("`{factor}`: expected Scale(min, max)"),
            ));
        };
        return Ok(Box::new(Scaling::new(lo, hi)?));
    }
    if let Some(n) = inner("SO(") {
        return Ok(match int(&n)? {
            2 => Box::new(SO2),
            3 => Box::new(SO3),
            n => Box::new(Orthogonal::special(n)?),
        });
    }
    if let Some(n) = inner("O(") {
        return Ok(match int(&n)? {
            2 => Box::new(O2),
            3 => Box::new(O3),
            n => Box::new(Orthogonal::new(n)?),
        });
    }
    if let Some(n) = inner("SE(") {
        return Ok(Box::new(Euclidean::se(int(&n)?, 1.0)?));
    }
    if let Some(n) = inner("E(") {
        return Ok(Box::new(Euclidean::e(int(&n)?, 1.0)?));
    }
    if let Some(n) = inner("T(") {
        return Ok(Box::new(Translations::new(int(&n)?, 1.0)?));
    }
    let indexed = |prefix: char| -> Option<&str> {
        let rest = f.strip_prefix(prefix)?;
        Some(rest.strip_prefix('_').unwrap_or(rest))
    };
    if let Some(n) = indexed('C') {
        return Ok(Box::new(Cyclic::new(int(n)?)?));
    }
    if let Some(n) = indexed('D') {
        return Ok(Box::new(Dihedral::new(int(n)?)?));
    }
    if let Some(n) = indexed('S') {
        return Ok(Box::new(Symmetric::new(int(n)?)?));
    }
    Err(spec_error(
        spec,
        format!("unknown group `{factor}`; known: {}", known()),
    ))
}

fn known() -> String {
    GROUP_SPECS
        .iter()
        .map(|(s, _)| *s)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_parses_with_the_right_layout_length() {
        let cases = [
            ("C4", 1),
            ("d8", 2),
            ("SO(2)", 2),
            ("O(2)", 3),
            ("SO(3)", 4),
            ("O(3)", 5),
            ("SO(4)", 16),
            ("O(5)", 25),
            ("S5", 5),
            ("S_3", 3),
            ("T(3)", 3),
            ("SE(3)", 12),
            ("E(2)", 6),
            ("Scale", 1),
            ("Scale(0.8, 1.25)", 1),
            ("S5 x O(3)", 10),
            ("C4 × D4 x SO(2)", 5),
        ];
        for (spec, len) in cases {
            let g = parse_group(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(g.layout().len(), len, "{spec}");
        }
    }

    #[test]
    fn bad_specs_are_errors_that_quote_the_input() {
        for spec in [
            "",
            "Q8",
            "SO(x)",
            "C0",
            "Scale(2)",
            "Scale(2, 1)",
            "S5 x",
            "O()",
        ] {
            let err = parse_group(spec)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(!err.is_empty(), "`{spec}` parsed");
        }
        let err = parse_group("Q8")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("Q8") && err.contains("known"), "{err}");
    }
}
