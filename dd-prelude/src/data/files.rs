//! Where data lives and how folders are read: the data directory, a data set's default folder,
//! folder listings. Shared by every reader.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The data directory: `$DD_DATA` when set, else `.cache/data` under the current directory's
/// project root (the folder holding `Cargo.lock`), else `./.cache/data`.
///
/// # Example
/// ```
/// let dir = dd_prelude::data_dir();
/// assert!(dir.ends_with("data") || std::env::var("DD_DATA").is_ok());
/// ```
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DD_DATA") {
        return PathBuf::from(d);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let root = cwd
        .ancestors()
        .find(|p| p.join("Cargo.lock").is_file())
        .unwrap_or(&cwd)
        .to_path_buf();
    root.join(".cache").join("data")
}

/// The folder `sub` of the data directory, or an error saying how to put the data there:
/// `how` completes "not found; ..." (`{data}` stands for the data directory).
pub(crate) fn default_dir(sub: &str, how: &str) -> Result<PathBuf> {
    let data = data_dir();
    let dir = data.join(sub);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(Error::data(
            &dir,
            format!(
                "not found; {}, or set DD_DATA to a data directory that has it, or pass the \
                 folder to `load`",
                how.replace("{data}", &data.display().to_string())
            ),
        ))
    }
}

/// `root` joined with `parts` (relative paths a data file names, e.g. a caption file's image
/// file name), or an error naming `source` (the data file) and `what` (its record) when a part
/// would leave `root`: an absolute path, a `..` component, a drive prefix. The check is on the
/// names as written; links inside the folder are the user's own.
pub(crate) fn confined(root: &Path, parts: &[&str], source: &Path, what: &str) -> Result<PathBuf> {
    use std::path::Component;
    let mut out = root.to_path_buf();
    for part in parts {
        let rel = Path::new(part);
        if part.is_empty()
            || !rel
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(Error::data(
                source,
                format!(
                    "{what}: `{part}` is not a file name inside the image folder {} (absolute paths and `..` are refused)",
                    root.display()
                ),
            ));
        }
        out.push(rel);
    }
    Ok(out)
}

/// Reads of more files than this print progress lines.
pub(crate) const LOUD_ABOVE: usize = 2_000;

/// Entries of `dir`, hidden ones left out, in name order.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read =
        std::fs::read_dir(dir).map_err(|e| Error::data(dir, format!("cannot list folder: {e}")))?;
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::data(dir, format!("cannot list folder: {e}")))?;
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with('.') {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
