//! [`SentenceSet`]: labelled sentences (text classification), and its splits.

use std::collections::BTreeMap;

use super::sampling;
use crate::error::{Error, Result};
use crate::progress::thousands;
use crate::show::Table;

/// Labelled sentences: texts, one label per text, class names.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let set = SentenceSet::new("toy", vec!["a fine film".into(), "dull".into(), "superb".into()],
///                            vec![1, 0, 1], vec!["negative".into(), "positive".into()])?;
/// assert_eq!(set.counts_per_class(), vec![1, 2]);
/// assert_eq!(set.subset(&[1]).text(0), "dull");
/// assert!(set.summary().contains("3 sentences"));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct SentenceSet {
    name: String,
    texts: Vec<String>,
    labels: Vec<usize>,
    classes: Vec<String>,
}

/// The train, validation and test [`SentenceSet`] of one data set (`val` may be empty).
#[derive(Clone)]
pub struct SentenceSplits {
    /// The training split.
    pub train: SentenceSet,
    /// The validation split (SST's dev set); empty when the data set has none.
    pub val: SentenceSet,
    /// The test split.
    pub test: SentenceSet,
}

impl SentenceSet {
    /// A set of `texts` with `labels` (each below `classes.len()`).
    pub fn new(
        name: impl Into<String>,
        texts: Vec<String>,
        labels: Vec<usize>,
        classes: Vec<String>,
    ) -> Result<Self> {
        let name = name.into();
        if texts.len() != labels.len() {
            return Err(Error::ShapeMismatch {
                context: format!("{name}: texts vs labels"),
                expected: format!("{} labels (one per text)", texts.len()),
                got: labels.len().to_string(),
            });
        }
        if let Some((i, &l)) = labels
            .iter()
            .enumerate()
            .find(|(_, l)| **l >= classes.len())
        {
            return Err(Error::ShapeMismatch {
                context: format!("{name}: label of sentence {i}"),
                expected: format!("a label below {} (the number of classes)", classes.len()),
                got: l.to_string(),
            });
        }
        Ok(SentenceSet {
            name,
            texts,
            labels,
            classes,
        })
    }

    /// An empty set with these classes.
    pub fn empty(name: impl Into<String>, classes: Vec<String>) -> Self {
        SentenceSet {
            name: name.into(),
            texts: Vec::new(),
            labels: Vec::new(),
            classes,
        }
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the set (returns it, for chaining).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Number of sentences.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether the set holds no sentence.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// All texts.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// Text `i`.
    ///
    /// # Panics
    /// When `i >= len()`.
    pub fn text(&self, i: usize) -> &str {
        &self.texts[i]
    }

    /// The labels, one per text.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Class names, indexed by label.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of sentences per class, indexed by label.
    pub fn counts_per_class(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// Counts per class name.
    pub fn class_counts(&self) -> BTreeMap<String, usize> {
        self.classes
            .iter()
            .cloned()
            .zip(self.counts_per_class())
            .collect()
    }

    /// Indices of the sentences of class `class`, in order.
    pub fn class_indices(&self, class: usize) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.labels[i] == class)
            .collect()
    }

    /// The sentences at `indices`, in that order (indices may repeat).
    ///
    /// # Panics
    /// On an index out of range: indices come from this set's own samplers.
    pub fn subset(&self, indices: &[usize]) -> SentenceSet {
        SentenceSet {
            name: format!("{} (subset of {})", self.name, indices.len()),
            texts: indices.iter().map(|&i| self.texts[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
        }
    }

    /// `per_class` random sentences of every class, grouped by class; deterministic under
    /// `seed`.
    pub fn sample_per_class(&self, per_class: usize, seed: u64) -> Vec<usize> {
        sampling::per_class(&self.labels, self.num_classes(), per_class, seed)
    }

    /// A class-stratified random subset of about `n` sentences, deterministic under `seed`.
    pub fn stratified(&self, n: usize, seed: u64) -> Vec<usize> {
        sampling::stratified(&self.labels, self.num_classes(), n, seed)
    }

    /// Splits off `test_fraction` of every class as a test split (train and test keep the
    /// original order); deterministic under `seed`.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// let set = SentenceSet::new("t", (0..10).map(|i| i.to_string()).collect(),
    ///                            vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1], vec!["a".into(), "b".into()])?;
    /// let splits = set.split(0.2, 0)?;
    /// assert_eq!((splits.train.len(), splits.test.len()), (8, 2));
    /// assert_eq!(splits.test.counts_per_class(), vec![1, 1]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<SentenceSplits> {
        crate::error::ensure(
            (0.0..=1.0).contains(&test_fraction),
            "SentenceSet::split",
            "test_fraction",
            || format!("must be in [0, 1], got {test_fraction}"),
        )?;
        let (train, test) = sampling::split(&self.labels, self.num_classes(), test_fraction, seed);
        Ok(SentenceSplits {
            train: self.subset(&train).named(format!("{} train", self.name)),
            val: SentenceSet::empty(format!("{} val", self.name), self.classes.clone()),
            test: self.subset(&test).named(format!("{} test", self.name)),
        })
    }

    /// One line: name, size, classes with their counts, mean length in words.
    pub fn summary(&self) -> String {
        let words: usize = self
            .texts
            .iter()
            .map(|t| t.split_whitespace().count())
            .sum();
        let counts = self.counts_per_class();
        let per_class = if self.num_classes() <= 10 {
            self.classes
                .iter()
                .zip(&counts)
                .map(|(c, n)| format!("{c} {}", thousands(*n)))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            let lo = counts.iter().min().copied().unwrap_or(0);
            let hi = counts.iter().max().copied().unwrap_or(0);
            format!("{lo}-{hi} per class")
        };
        format!(
            "{}: {} sentences, {} classes ({per_class}), {:.1} words on average",
            self.name,
            thousands(self.len()),
            self.num_classes(),
            words as f64 / self.len().max(1) as f64
        )
    }

    /// The first `n` sentences as a table (index, label, text) under the summary.
    pub fn table(&self, n: usize) -> Result<Table> {
        let n = n.min(self.len());
        let frame = polars::df!(
            "#" => (0..n as u64).collect::<Vec<_>>(),
            "label" => self.labels[..n].iter().map(|&l| self.classes[l].clone()).collect::<Vec<_>>(),
            "text" => self.texts[..n].to_vec()
        )
        .map_err(|e| Error::Render {
            what: "sentence table",
            reason: e.to_string(),
        })?;
        Ok(Table::new(self.summary(), frame))
    }

    /// Shows the summary and the first 10 sentences as a table in a notebook cell.
    pub fn evcxr_display(&self) {
        match self.table(10) {
            Ok(t) => t.evcxr_display(),
            Err(e) => println!("{}\n({e})", self.summary()),
        }
    }
}

impl SentenceSplits {
    /// One line per split.
    pub fn summary(&self) -> String {
        [&self.train, &self.val, &self.test]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.summary())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

super::fmt_as_summary!(SentenceSet, SentenceSplits);
