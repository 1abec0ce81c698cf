//! Shared by the file-based targets: a per-process scratch folder the readers read from.
#![allow(dead_code)]

use std::path::PathBuf;

/// `name` in this process's scratch folder, holding `bytes`.
pub fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

/// `data` cut in two: its first two bytes (little-endian) give the first part's length.
pub fn halves(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 2 {
        return (data, &[]);
    }
    let rest = &data[2..];
    let n = (u16::from_le_bytes([data[0], data[1]]) as usize).min(rest.len());
    rest.split_at(n)
}
