//! Helpers shared by the text readers: reading strict UTF-8 text (or with a Latin-1 fallback
//! where a corpus is known to hold Latin-1), bounded decompression, CSV/TSV with a header, and
//! header look-up.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file as text: UTF-8 when it is, else Latin-1 (TREC's files hold a few Latin-1 bytes).
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))?;
    Ok(bytes_to_text(bytes))
}

/// UTF-8 when valid, else Latin-1.
pub(crate) fn bytes_to_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(s),
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    }
}

/// The file as UTF-8 text (a leading byte-order mark dropped); bytes that are not UTF-8 are an
/// error naming the line, not a silent Latin-1 reading.
pub(crate) fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))?;
    utf8_text(path, bytes)
}

/// `bytes` (read from `path`) as UTF-8 text, or an error naming the first bad line.
pub(crate) fn utf8_text(path: &Path, bytes: Vec<u8>) -> Result<String> {
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(s)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
            Err(Error::data(
                path,
                format!(
                    "line {line} (byte {at}): not UTF-8 text (byte 0x{:02x}); convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                    bytes[at]
                ),
            ))
        }
    }
}

/// Everything `reader` (a decompressor over `path`) yields, refused past `limit` bytes: a
/// small compressed file cannot inflate into the whole memory.
pub(crate) fn read_bounded(reader: impl Read, limit: u64, path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::data(path, format!("not a valid compressed stream: {e}")))?;
    if out.len() as u64 > limit {
        return Err(Error::data(
            path,
            format!(
                "inflates to more than {} bytes, more than any data set this reader takes",
                crate::progress::thousands(limit as usize)
            ),
        ));
    }
    Ok(out)
}

/// A delimited file with a header: the header names and the records, each with its line.
pub(crate) struct Delimited {
    pub header: Vec<String>,
    pub rows: Vec<(u64, Vec<String>)>,
}

/// Parses `text` (from `path`) as CSV (`,`) or TSV (`\t`) with a header line. Quoted fields
/// may hold delimiters and newlines. TSV is read without quoting (SST's phrases hold `"`).
pub(crate) fn parse_delimited(path: &Path, text: &str, delimiter: u8) -> Result<Delimited> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(delimiter == b',')
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::data(path, format!("cannot read the header line: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            Error::data(path, format!("line {line}: malformed record: {e}"))
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rec.len() != header.len() {
            return Err(Error::data(
                path,
                format!(
                    "line {line}: {} fields, the header has {} ({})",
                    rec.len(),
                    header.len(),
                    header.join(", ")
                ),
            ));
        }
        rows.push((line, rec.iter().map(str::to_string).collect()));
    }
    Ok(Delimited { header, rows })
}

/// The index of the first header name among `names` (case-insensitive).
pub(crate) fn column(header: &[String], names: &[&str]) -> Option<usize> {
    names
        .iter()
        .find_map(|n| header.iter().position(|h| h.eq_ignore_ascii_case(n)))
}

/// The first of `candidates` under `dir` that is a file.
pub(crate) fn first_file(dir: &Path, candidates: &[String]) -> Option<PathBuf> {
    candidates.iter().map(|c| dir.join(c)).find(|p| p.is_file())
}
