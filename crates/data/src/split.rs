//! [`Split`]: which part of a data set to read.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// A part of a data set. 3DIEBench has `train` and `val`; CIFAR and MNIST have `train` and
/// `test`; each loader says which it accepts and errors for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training part.
    Train,
    /// The validation part (3DIEBench).
    Val,
    /// The test part (CIFAR, MNIST).
    Test,
}

impl Split {
    /// The lower-case name used in file names: `train`, `val`, `test`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            _ => Err(DataError::invalid(
                "split",
                format!("unknown split {s:?}; expected train, val or test"),
            )),
        }
    }
}
