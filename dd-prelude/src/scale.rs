//! One switch that sizes every notebook: the `DD_SCALE` environment variable.
//!
//! Notebooks never hard-code sizes; they ask the [`Scale`] for them, so the same notebook
//! runs in seconds in the tests (`smoke`), in minutes on a laptop CPU (`cpu`, the default)
//! and at the paper's protocol on a GPU (`full`).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// How big a notebook's experiments are.
///
/// # Example
/// ```
/// use dd_prelude::Scale;
/// let s: Scale = "smoke".parse().unwrap();
/// assert_eq!(s, Scale::Smoke);
/// assert_eq!(s.pick(1, 10, 100), 1);
/// assert!("huge".parse::<Scale>().unwrap_err().to_string().contains("smoke, cpu, full"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scale {
    /// Seconds per cell: the notebook tests.
    Smoke,
    /// Minutes on a 2-core CPU: the default.
    Cpu,
    /// The paper's protocol and full data sets, for a GPU.
    Full,
}

impl Scale {
    /// The scale named by `DD_SCALE`, or [`Scale::Cpu`] when it is unset.
    ///
    /// An unknown value is an error rather than a silent default, so a typo in CI cannot
    /// turn a smoke run into an hour-long one.
    ///
    /// # Example
    /// ```
    /// let scale = dd_prelude::Scale::from_env().unwrap();
    /// println!("running at {scale}");
    /// ```
    pub fn from_env() -> Result<Self> {
        match std::env::var("DD_SCALE") {
            Ok(v) if !v.trim().is_empty() => v.parse(),
            _ => Ok(Scale::Cpu),
        }
    }

    /// Picks the value for this scale: `smoke`, `cpu` or `full`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::Scale;
    /// assert_eq!(Scale::Full.pick(64, 10_000, 60_000), 60_000);
    /// ```
    pub fn pick<T>(self, smoke: T, cpu: T, full: T) -> T {
        match self {
            Scale::Smoke => smoke,
            Scale::Cpu => cpu,
            Scale::Full => full,
        }
    }
}

impl FromStr for Scale {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "smoke" => Ok(Scale::Smoke),
            "cpu" => Ok(Scale::Cpu),
            "full" => Ok(Scale::Full),
            other => Err(Error::config(
                "DD_SCALE",
                "value",
                format!("is `{other}`; valid values are smoke, cpu, full"),
            )),
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scale::Smoke => "smoke",
            Scale::Cpu => "cpu",
            Scale::Full => "full",
        })
    }
}
