//! TREC question classification (Li and Roth, 2002): `train_5500.label` (5,452 questions)
//! and `TREC_10.label` (500), lines `COARSE:fine question`.

use std::path::Path;

use super::files::default_dir;
use super::sentences::{SentenceSet, SentenceSplits};
use super::text_files::{first_file, read_text};
use crate::error::{Error, Result};

/// The six coarse TREC classes (TREC-6), by label.
pub const TREC_COARSE: [&str; 6] = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"];

/// The fifty fine TREC classes (TREC-50), by label, as `COARSE:fine`.
pub const TREC_FINE: [&str; 50] = [
    "ABBR:abb",
    "ABBR:exp",
    "DESC:def",
    "DESC:desc",
    "DESC:manner",
    "DESC:reason",
    "ENTY:animal",
    "ENTY:body",
    "ENTY:color",
    "ENTY:cremat",
    "ENTY:currency",
    "ENTY:dismed",
    "ENTY:event",
    "ENTY:food",
    "ENTY:instru",
    "ENTY:lang",
    "ENTY:letter",
    "ENTY:other",
    "ENTY:plant",
    "ENTY:product",
    "ENTY:religion",
    "ENTY:sport",
    "ENTY:substance",
    "ENTY:symbol",
    "ENTY:techmeth",
    "ENTY:termeq",
    "ENTY:veh",
    "ENTY:word",
    "HUM:desc",
    "HUM:gr",
    "HUM:ind",
    "HUM:title",
    "LOC:city",
    "LOC:country",
    "LOC:mount",
    "LOC:other",
    "LOC:state",
    "NUM:code",
    "NUM:count",
    "NUM:date",
    "NUM:dist",
    "NUM:money",
    "NUM:ord",
    "NUM:other",
    "NUM:perc",
    "NUM:period",
    "NUM:speed",
    "NUM:temp",
    "NUM:volsize",
    "NUM:weight",
];

/// Which TREC label set to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrecLabels {
    /// The 6 coarse classes (TREC-6).
    Coarse,
    /// The 50 fine classes (TREC-50).
    Fine,
}

/// TREC questions with coarse (TREC-6) or fine (TREC-50) labels.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dir = std::env::temp_dir().join("dd-trec-doc");
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("train_5500.label"), "NUM:dist How far is it from Denver to Aspen ?\n").unwrap();
/// std::fs::write(dir.join("TREC_10.label"), "HUM:ind Who invented the telephone ?\n").unwrap();
/// let trec6 = Trec::load(&dir, TrecLabels::Coarse)?;
/// assert_eq!(trec6.train.classes()[trec6.train.labels()[0]], "NUM");
/// let trec50 = Trec::load(&dir, TrecLabels::Fine)?;
/// assert_eq!(trec50.test.classes()[trec50.test.labels()[0]], "HUM:ind");
/// # Ok::<(), Error>(())
/// ```
pub struct Trec;

impl Trec {
    /// Loads `$DD_DATA/trec`.
    pub fn load_default(labels: TrecLabels) -> Result<SentenceSplits> {
        Self::load(
            default_dir("trec", "put train_5500.label and TREC_10.label in it")?,
            labels,
        )
    }

    /// Loads `train_5500.label` (or `train.label`) and `TREC_10.label` (or `test.label`)
    /// from `dir`.
    pub fn load(dir: impl AsRef<Path>, labels: TrecLabels) -> Result<SentenceSplits> {
        let dir = dir.as_ref();
        let name = match labels {
            TrecLabels::Coarse => "TREC-6",
            TrecLabels::Fine => "TREC-50",
        };
        let train = first_file(dir, &["train_5500.label".into(), "train.label".into()])
            .ok_or_else(|| Error::data(dir, "no train_5500.label (or train.label) here"))?;
        let test = first_file(dir, &["TREC_10.label".into(), "test.label".into()])
            .ok_or_else(|| Error::data(dir, "no TREC_10.label (or test.label) here"))?;
        Ok(SentenceSplits {
            train: Self::read(train, labels)?.named(format!("{name} train")),
            val: SentenceSet::empty(format!("{name} val"), class_names(labels)),
            test: Self::read(test, labels)?.named(format!("{name} test")),
        })
    }

    /// Reads one file of `COARSE:fine question` lines (UTF-8 or Latin-1).
    pub fn read(path: impl AsRef<Path>, labels: TrecLabels) -> Result<SentenceSet> {
        let path = path.as_ref();
        let text = read_text(path)?;
        let mut texts = Vec::new();
        let mut ids = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let fail = |r: String| Error::data(path, format!("line {}: {r}", i + 1));
            let (label, question) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| fail(format!("expected `COARSE:fine question`, found `{line}`")))?;
            let (coarse, _) = label
                .split_once(':')
                .ok_or_else(|| fail(format!("label `{label}` is not of the form COARSE:fine")))?;
            let id =
                match labels {
                    TrecLabels::Coarse => TREC_COARSE
                        .iter()
                        .position(|c| *c == coarse)
                        .ok_or_else(|| {
                            fail(format!(
                                "unknown coarse label `{coarse}` (expected one of {TREC_COARSE:?})"
                            ))
                        })?,
                    TrecLabels::Fine => {
                        TREC_FINE.iter().position(|c| *c == label).ok_or_else(|| {
                            fail(format!(
                                "unknown fine label `{label}` (not among the 50 TREC classes)"
                            ))
                        })?
                    }
                };
            let question = question.trim();
            if question.is_empty() {
                return Err(fail("empty question".into()));
            }
            texts.push(question.to_string());
            ids.push(id);
        }
        if texts.is_empty() {
            return Err(Error::data(path, "no questions"));
        }
        SentenceSet::new("TREC", texts, ids, class_names(labels))
    }
}

fn class_names(labels: TrecLabels) -> Vec<String> {
    match labels {
        TrecLabels::Coarse => TREC_COARSE.iter().map(|s| s.to_string()).collect(),
        TrecLabels::Fine => TREC_FINE.iter().map(|s| s.to_string()).collect(),
    }
}
