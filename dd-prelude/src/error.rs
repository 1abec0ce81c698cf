//! One error type for the whole crate.
//!
//! Variants are named after what the user must fix; every message says what was expected,
//! what came, and where (file, record, argument).

use std::path::PathBuf;

/// Everything that can go wrong in `dd-prelude`.
///
/// # Example
/// ```
/// use dd_prelude::{Error, read_idx};
/// let err = read_idx("/no/such/file.idx").unwrap_err();
/// assert!(matches!(err, Error::Data { .. }));
/// assert!(err.to_string().contains("/no/such/file.idx"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data file is missing, unreadable or malformed.
    #[error("{path}: {reason}")]
    Data {
        /// The file (or folder) at fault.
        path: PathBuf,
        /// What is wrong with it, and how to fix it where that is known.
        reason: String,
    },
    /// A configuration value is out of its valid range.
    #[error("invalid {method} config: `{field}` {reason}")]
    InvalidConfig {
        /// The method or call whose config is wrong.
        method: &'static str,
        /// The field at fault.
        field: &'static str,
        /// What was expected and what came.
        reason: String,
    },
    /// Two shapes that must agree do not.
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// Where the shapes met.
        context: String,
        /// The expected shape.
        expected: String,
        /// The shape that came.
        got: String,
    },
    /// Rendering a plot, an image or a table failed.
    #[error("could not render {what}: {reason}")]
    Render {
        /// What was being rendered.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// An I/O error outside data reading (writing a report, a checkpoint).
    #[error("{path}: {source}")]
    Io {
        /// The file being written or read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Data`] for `path` with `reason`.
    pub fn data(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// A [`Error::InvalidConfig`].
    pub fn config(method: &'static str, field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            method,
            field,
            reason: reason.into(),
        }
    }
}

/// Checks one config rule: `Ok(())` when `ok`, else an [`Error::InvalidConfig`].
pub(crate) fn ensure(
    ok: bool,
    method: &'static str,
    field: &'static str,
    reason: impl FnOnce() -> String,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::config(method, field, reason()))
    }
}

/// The machine's physical memory in bytes (Linux's `MemTotal`), if the platform says.
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Checks, before allocating, that `elements` values of 4 bytes (the product of `dims`,
/// overflow included) fit in the machine's memory: a size that is merely large becomes a named
/// error instead of an allocation failure that aborts the process (and the user's kernel).
pub(crate) fn ensure_fits(method: &'static str, field: &'static str, dims: &[usize]) -> Result<()> {
    let elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let bytes = elements.and_then(|e| e.checked_mul(4));
    let limit = physical_memory().unwrap_or(u64::MAX);
    match bytes {
        Some(b) if b <= limit => Ok(()),
        _ => Err(Error::config(
            method,
            field,
            format!(
                "{dims:?} would need {} bytes, more than this machine's {} bytes of memory",
                bytes.map_or("over 2^64".to_string(), |b| b.to_string()),
                limit
            ),
        )),
    }
}
