//! SST-5, the Stanford Sentiment Treebank's five-way sentence labels (Socher et al., 2013),
//! in the forms it is commonly shared in.

use std::path::{Path, PathBuf};

use super::files::default_dir;
use super::sentences::{SentenceSet, SentenceSplits};
use super::text_files::{column, first_file, parse_delimited, read_utf8};
use crate::error::{Error, Result};

/// The SST-5 classes, by label 0-4.
pub const SST5_CLASSES: [&str; 5] = [
    "very negative",
    "negative",
    "neutral",
    "positive",
    "very positive",
];

/// SST-5 sentences with labels 0 (very negative) to 4 (very positive).
///
/// Each split file may be any of the common forms:
/// - CSV or TSV with a header naming a label column (`label`, `sentiment`, `fine_label`) and
///   a text column (`sentence`, `text`, `phrase`), labels 0-4;
/// - lines `<label> <sentence>` with labels 0-4 (`stsa.fine.train` of Kim's CNN repository);
/// - lines `<sentence>\t<label>` without header;
/// - fastText lines `__label__<k> <sentence>` with k = 1-5;
/// - JSON lines with `text` (or `sentence`) and `label` 0-4 (`.jsonl`).
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// // a folder holding train/dev/test files, e.g. train.tsv, dev.tsv, test.tsv
/// let sst = Sst5::load("/data/sst5")?;
/// println!("{sst}");
/// # Ok::<(), Error>(())
/// ```
pub struct Sst5;

impl Sst5 {
    /// Loads `$DD_DATA/sst5`.
    pub fn load_default() -> Result<SentenceSplits> {
        Self::load(default_dir(
            "sst5",
            "put the SST-5 train, dev and test files in it",
        )?)
    }

    /// Loads the train, dev (optional) and test files from `dir`. Recognised names:
    /// `train`, `dev` / `validation` / `val`, `test`, bare or prefixed `sst_`, `sst5_`,
    /// `stsa.fine.`, with extension `.tsv`, `.csv`, `.txt`, `.jsonl` or none.
    pub fn load(dir: impl AsRef<Path>) -> Result<SentenceSplits> {
        let dir = dir.as_ref();
        let find = |splits: &[&str]| -> Option<PathBuf> {
            let mut names = Vec::new();
            for s in splits {
                for prefix in ["", "sst_", "sst5_", "sst-5_", "stsa.fine."] {
                    for ext in ["", ".tsv", ".csv", ".txt", ".jsonl"] {
                        names.push(format!("{prefix}{s}{ext}"));
                    }
                }
            }
            first_file(dir, &names)
        };
        let train = find(&["train"]).ok_or_else(|| {
            Error::data(
                dir,
                "no SST-5 training file (train.tsv, sst_train.txt, stsa.fine.train...)",
            )
        })?;
        let test = find(&["test"]).ok_or_else(|| {
            Error::data(
                dir,
                "no SST-5 test file (test.tsv, sst_test.txt, stsa.fine.test...)",
            )
        })?;
        let val = match find(&["dev", "validation", "val"]) {
            Some(p) => Self::read(p)?.named("SST-5 val"),
            None => SentenceSet::empty("SST-5 val", classes()),
        };
        Ok(SentenceSplits {
            train: Self::read(train)?.named("SST-5 train"),
            val,
            test: Self::read(test)?.named("SST-5 test"),
        })
    }

    /// Reads one SST-5 file in any of the forms listed on [`Sst5`].
    pub fn read(path: impl AsRef<Path>) -> Result<SentenceSet> {
        let path = path.as_ref();
        let text = read_utf8(path)?;
        let pairs = if path.extension().is_some_and(|e| e == "jsonl") {
            read_jsonl(path, &text)?
        } else {
            read_lines(path, &text)?
        };
        if pairs.is_empty() {
            return Err(Error::data(path, "no sentences"));
        }
        let (texts, labels) = pairs.into_iter().unzip();
        let name = path
            .file_name()
            .map(|n| format!("SST-5 {}", n.to_string_lossy()))
            .unwrap_or_else(|| "SST-5".into());
        SentenceSet::new(name, texts, labels, classes())
    }
}

fn classes() -> Vec<String> {
    SST5_CLASSES.iter().map(|s| s.to_string()).collect()
}

/// A label 0-4 from `s`, or a reason.
fn label_0_4(s: &str) -> std::result::Result<usize, String> {
    match s.trim().parse::<i64>() {
        Ok(v @ 0..=4) => Ok(v as usize),
        Ok(v) => Err(format!("label {v} is out of range 0..=4")),
        Err(_) => Err(format!("label `{}` is not a number 0-4", s.trim())),
    }
}

fn read_lines(path: &Path, text: &str) -> Result<Vec<(String, usize)>> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let delimiter = if first.contains('\t') { b'\t' } else { b',' };
    let header: Vec<String> = first
        .split(delimiter as char)
        .map(|h| h.trim().to_string())
        .collect();
    let label_col = column(&header, &["label", "sentiment", "fine_label", "class"]);
    let text_col = column(&header, &["sentence", "text", "phrase", "review"]);
    if let (Some(l), Some(t)) = (label_col, text_col) {
        let table = parse_delimited(path, text, delimiter)?;
        return table
            .rows
            .iter()
            .map(|(line, row)| {
                let label = label_0_4(&row[l])
                    .map_err(|r| Error::data(path, format!("line {line}: {r}")))?;
                Ok((row[t].trim().to_string(), label))
            })
            .collect();
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fail = |r: String| Error::data(path, format!("line {line_no}: {r}"));
        let pair = if let Some(rest) = line.strip_prefix("__label__") {
            let (k, sentence) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
            let k: i64 = k
                .parse()
                .map_err(|_| fail(format!("fastText label `__label__{k}` is not a number 1-5")))?;
            if !(1..=5).contains(&k) {
                return Err(fail(format!(
                    "fastText label __label__{k} is out of range 1..=5"
                )));
            }
            (sentence.trim().to_string(), (k - 1) as usize)
        } else if let Some((sentence, label)) = line.rsplit_once('\t') {
            if let Ok(l) = label_0_4(label) {
                (sentence.trim().to_string(), l)
            } else {
                let (label, sentence) = line.split_once('\t').unwrap_or((line, ""));
                (sentence.trim().to_string(), label_0_4(label).map_err(fail)?)
            }
        } else {
            let (label, sentence) = line.split_once(' ').ok_or_else(|| {
                fail(format!(
                    "expected `<label 0-4> <sentence>`, `<sentence>\\t<label>`, `__label__<1-5> \
                     <sentence>` or a header with label and sentence columns; found `{}`",
                    line.chars().take(60).collect::<String>()
                ))
            })?;
            (sentence.trim().to_string(), label_0_4(label).map_err(fail)?)
        };
        if pair.0.is_empty() {
            return Err(fail("empty sentence".into()));
        }
        out.push(pair);
    }
    Ok(out)
}

fn read_jsonl(path: &Path, text: &str) -> Result<Vec<(String, usize)>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fail = |r: String| Error::data(path, format!("line {}: {r}", i + 1));
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| fail(format!("not JSON: {e}")))?;
        let sentence = v
            .get("text")
            .or_else(|| v.get("sentence"))
            .and_then(|s| s.as_str())
            .ok_or_else(|| fail("no string field `text` or `sentence`".into()))?;
        let label = match v.get("label") {
            Some(serde_json::Value::Number(n)) => label_0_4(&n.to_string()).map_err(fail)?,
            Some(serde_json::Value::String(s)) => label_0_4(s).map_err(fail)?,
            _ => return Err(fail("no numeric field `label`".into())),
        };
        out.push((sentence.trim().to_string(), label));
    }
    Ok(out)
}
