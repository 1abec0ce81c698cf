//! The IDX format of MNIST and Fashion-MNIST, raw or gzipped.
//!
//! Layout: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, then
//! one big-endian u32 per dimension, then the values in row-major order.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// An IDX array of unsigned bytes.
///
/// # Example
/// ```
/// use dd_prelude::{IdxArray, write_idx};
/// let dir = std::env::temp_dir().join("dd-idx-doc");
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("labels.idx");
/// write_idx(&path, &[3], &[1, 2, 3]).unwrap();
/// let arr = dd_prelude::read_idx(&path).unwrap();
/// assert_eq!(arr, IdxArray { dims: vec![3], data: vec![1, 2, 3] });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The size of each dimension (`[n, 28, 28]` for images, `[n]` for labels).
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes; a name ending in `.gz` is decompressed.
///
/// Errors name the file and what is wrong: missing file, wrong magic, an element type other
/// than unsigned byte, or fewer bytes than the header announces.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let raw =
        std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read IDX file: {e}")))?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        inflate_idx(&raw).map_err(|reason| Error::data(path, reason))?
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|reason| Error::data(path, reason))
}

/// Inflates a gzipped IDX file no further than its header says the data needs (plus one byte,
/// so trailing data is still reported), and refuses a header that claims more than deflate can
/// produce from the file (at most 1,032 bytes per compressed byte): a small file cannot
/// inflate into the whole memory.
fn inflate_idx(raw: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut decoder = flate2::read::GzDecoder::new(raw);
    let mut out = Vec::new();
    let mut more = |out: &mut Vec<u8>, n: u64| {
        (&mut decoder)
            .take(n)
            .read_to_end(out)
            .map_err(|e| format!("not a valid gzip stream: {e}"))
    };
    more(&mut out, 4)?;
    if out.len() < 4 {
        return parse_idx(&out).map(|_| out);
    }
    let head = 4 * u64::from(out[3]);
    more(&mut out, head)?;
    let announced = idx_size(&out)?;
    let limit = (raw.len() as u64).saturating_mul(1032);
    if announced > limit {
        return Err(format!(
            "the IDX header announces {announced} bytes, more than a {}-byte gzip file can hold",
            raw.len()
        ));
    }
    let rest = (announced + 1).saturating_sub(out.len() as u64);
    more(&mut out, rest)?;
    if out.len() as u64 > announced {
        return Err(format!(
            "inflates past the {announced} bytes its IDX header announces (trailing data, or not an IDX file)"
        ));
    }
    Ok(out)
}

/// The total size (header and data) an IDX header announces, from at least its first
/// `4 + 4 * ndim` bytes (fewer: what is there, so the parser names the truncation).
fn idx_size(head: &[u8]) -> std::result::Result<u64, String> {
    let ndim = head[3] as usize;
    if head.len() < 4 + 4 * ndim {
        return Ok(head.len() as u64);
    }
    let mut count = 1u64;
    for i in 0..ndim {
        let o = 4 + 4 * i;
        let d = u32::from_be_bytes([head[o], head[o + 1], head[o + 2], head[o + 3]]);
        count = count
            .checked_mul(u64::from(d))
            .ok_or_else(|| "IDX dimensions overflow".to_string())?;
    }
    count
        .checked_add(4 + 4 * ndim as u64)
        .ok_or_else(|| "IDX dimensions overflow".to_string())
}

/// Parses IDX bytes; the error is a reason without the path.
pub(crate) fn parse_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "truncated IDX header: {} bytes, need at least 4",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "wrong IDX magic: first bytes are {:#04x} {:#04x}, expected 0x00 0x00 (is this an IDX file?)",
            bytes[0], bytes[1]
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format!(
            "IDX element type {:#04x} is not supported; expected 0x08 (unsigned byte)",
            bytes[2]
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err("IDX header declares 0 dimensions".into());
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(format!(
            "truncated IDX header: {} bytes, the {ndim} dimensions need {header}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("IDX dimensions {dims:?} overflow"))?;
    let body = &bytes[header..];
    if body.len() < count {
        return Err(format!(
            "truncated IDX data: dimensions {dims:?} need {count} bytes, file has {}",
            body.len()
        ));
    }
    if body.len() > count {
        return Err(format!(
            "IDX data has {} trailing bytes beyond dimensions {dims:?}",
            body.len() - count
        ));
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}

/// Writes an IDX file of unsigned bytes (gzipped when the name ends in `.gz`).
///
/// Used by tests and to export subsets in the format MNIST tools read.
pub fn write_idx(path: impl AsRef<Path>, dims: &[usize], data: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let mut bytes = vec![0u8, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(data);
    let out = if path.extension().is_some_and(|e| e == "gz") {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&bytes)
            .and_then(|_| enc.finish())
            .map_err(|source| Error::Io {
                path: path.into(),
                source,
            })?
    } else {
        bytes
    };
    std::fs::write(path, out).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })
}
