//! IMDB movie reviews (Maas et al., 2011): the `aclImdb` folder, or the common single CSV
//! (`review,sentiment`, 50,000 rows).

use std::path::{Path, PathBuf};

use super::files::default_dir;
use super::files::{LOUD_ABOVE, sorted_entries};
use super::sentences::{SentenceSet, SentenceSplits};
use super::text_files::{column, parse_delimited, read_utf8};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// The IMDB classes, by label.
pub const IMDB_CLASSES: [&str; 2] = ["negative", "positive"];

/// IMDB reviews, binary sentiment.
///
/// Texts are kept exactly as in the files (with their `<br />` line breaks; [`tokenize`]
/// treats those as spaces).
///
/// [`tokenize`]: crate::data::tokenize
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// let imdb = Imdb::load("/data/aclImdb")?;             // train/{pos,neg}, test/{pos,neg}
/// assert_eq!(imdb.train.len(), 25_000);
/// let kaggle = Imdb::load("/data/IMDB Dataset.csv")?;  // review,sentiment
/// # Ok::<(), Error>(())
/// ```
pub struct Imdb;

impl Imdb {
    /// Loads `$DD_DATA/aclImdb`, or else `$DD_DATA/imdb/IMDB Dataset.csv`.
    pub fn load_default() -> Result<SentenceSplits> {
        let csv = super::files::data_dir()
            .join("imdb")
            .join("IMDB Dataset.csv");
        if csv.is_file() {
            return Self::load(csv);
        }
        Self::load(default_dir(
            "aclImdb",
            "unpack aclImdb_v1.tar.gz in {data} (it creates aclImdb/), or put `IMDB Dataset.csv` in {data}/imdb/",
        )?)
    }

    /// Loads the `aclImdb` folder (or its parent), or a CSV file with `review` and
    /// `sentiment` columns; a CSV, which has no split, is split into halves stratified by
    /// class (seed 0), the sizes of the original 25,000 / 25,000.
    pub fn load(path: impl AsRef<Path>) -> Result<SentenceSplits> {
        let path = path.as_ref();
        if path.is_file() {
            return Self::read_csv(path)?.split(0.5, 0);
        }
        let root = [path.to_path_buf(), path.join("aclImdb")]
            .into_iter()
            .find(|d| d.join("train").join("pos").is_dir())
            .ok_or_else(|| {
                Error::data(
                    path,
                    "not an aclImdb folder: expected train/pos, train/neg, test/pos, test/neg \
                     (or a CSV file with review,sentiment columns)",
                )
            })?;
        Ok(SentenceSplits {
            train: Self::read_split(&root.join("train"), "IMDB train")?,
            val: SentenceSet::empty("IMDB val", classes()),
            test: Self::read_split(&root.join("test"), "IMDB test")?,
        })
    }

    /// Reads one split folder: `neg/*.txt` (label 0), then `pos/*.txt` (label 1), each in the
    /// order of the review ids (`<id>_<rating>.txt`).
    pub fn read_split(dir: &Path, name: &str) -> Result<SentenceSet> {
        let mut files: Vec<(PathBuf, usize)> = Vec::new();
        for (label, sub) in ["neg", "pos"].iter().enumerate() {
            let d = dir.join(sub);
            let mut these: Vec<(u64, PathBuf)> = Vec::new();
            for f in sorted_entries(&d)? {
                if f.extension().is_some_and(|e| e == "txt") {
                    these.push((review_id(&f)?, f));
                }
            }
            these.sort();
            files.extend(these.into_iter().map(|(_, f)| (f, label)));
        }
        if files.is_empty() {
            return Err(Error::data(dir, "no review files in neg/ or pos/"));
        }
        let mut progress = Progress::new(format!("reading {}", dir.display()), files.len())
            .with_print(files.len() >= LOUD_ABOVE);
        let mut texts = Vec::with_capacity(files.len());
        let mut labels = Vec::with_capacity(files.len());
        for (f, label) in files {
            let bytes = std::fs::read(&f)
                .map_err(|e| Error::data(&f, format!("cannot read review: {e}")))?;
            let text = String::from_utf8(bytes)
                .map_err(|e| Error::data(&f, format!("review is not UTF-8 text: {e}")))?;
            texts.push(text.trim().to_string());
            labels.push(label);
            progress.tick(1, || format!("{} reviews", labels.len()));
        }
        SentenceSet::new(name, texts, labels, classes())
    }

    /// Reads a CSV with a `review` (or `text`) and a `sentiment` (or `label`) column; the
    /// sentiment is `positive`/`negative` (or `pos`/`neg`, `1`/`0`).
    pub fn read_csv(path: impl AsRef<Path>) -> Result<SentenceSet> {
        let path = path.as_ref();
        let table = parse_delimited(path, &read_utf8(path)?, b',')?;
        let text_col = column(&table.header, &["review", "text"]);
        let label_col = column(&table.header, &["sentiment", "label"]);
        let (Some(t), Some(l)) = (text_col, label_col) else {
            return Err(Error::data(
                path,
                format!(
                    "expected a header with `review` and `sentiment` columns, found: {}",
                    table.header.join(", ")
                ),
            ));
        };
        let mut texts = Vec::with_capacity(table.rows.len());
        let mut labels = Vec::with_capacity(table.rows.len());
        for (line, row) in &table.rows {
            let label = match row[l].trim().to_ascii_lowercase().as_str() {
                "negative" | "neg" | "0" => 0,
                "positive" | "pos" | "1" => 1,
                other => {
                    return Err(Error::data(
                        path,
                        format!(
                            "line {line}: sentiment `{other}` is neither positive nor negative"
                        ),
                    ));
                }
            };
            texts.push(row[t].trim().to_string());
            labels.push(label);
        }
        if texts.is_empty() {
            return Err(Error::data(path, "no review rows after the header"));
        }
        SentenceSet::new("IMDB", texts, labels, classes())
    }
}

fn classes() -> Vec<String> {
    IMDB_CLASSES.iter().map(|s| s.to_string()).collect()
}

/// The id of `<id>_<rating>.txt`.
fn review_id(path: &Path) -> Result<u64> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    stem.split('_')
        .next()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| {
            Error::data(
                path,
                "review file name is not <id>_<rating>.txt (as in aclImdb)",
            )
        })
}
