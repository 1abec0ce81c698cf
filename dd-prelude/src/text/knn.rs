//! k-nearest-neighbour accuracy on embedded sentences, the non-neural baseline of seed 002's
//! text results (Fig. 7): each sentence as the mean of its word vectors (padding left out),
//! cosine similarity, a majority vote of the `k` nearest training sentences.

use std::time::Instant;

use burn::config::Config;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::data::{EmbeddedSentences, Examples};
use crate::error::{Result, ensure};
use crate::eval::EvalReport;

/// Each sentence as the unit-length mean of its non-zero word vectors (an all-padding
/// sentence stays zero).
fn mean_vectors(set: &EmbeddedSentences) -> Vec<Vec<f32>> {
    let [n, len, d] = set.shape;
    (0..n)
        .map(|i| {
            let mut m = vec![0f32; d];
            let mut count = 0;
            for t in 0..len {
                let v = &set.values[(i * len + t) * d..(i * len + t + 1) * d];
                if v.iter().any(|&x| x != 0.0) {
                    m.iter_mut().zip(v).for_each(|(a, b)| *a += b);
                    count += 1;
                }
            }
            let norm = m.iter().map(|x| x * x).sum::<f32>().sqrt();
            if count > 0 && norm > 0.0 {
                m.iter_mut().for_each(|x| *x /= norm);
            }
            m
        })
        .collect()
}

/// The accuracy on `test` of the `k`-nearest-neighbour vote over `train` (cosine of mean word
/// vectors; ties broken towards the class of the nearest sentence among them).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::text::knn_accuracy;
/// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.2, -1.0, 0.1])?;
/// let set = SentenceSet::new("s", vec!["good".into(), "bad".into()], vec![1, 0],
///                            vec!["neg".into(), "pos".into()])?;
/// let test = SentenceSet::new("t", vec!["good good".into(), "bad good bad".into()], vec![1, 0],
///                             vec!["neg".into(), "pos".into()])?;
/// assert_eq!(knn_accuracy(&wv.embed_set(&set, 3), &wv.embed_set(&test, 3), 1), 1.0);
/// # Ok::<(), Error>(())
/// ```
pub fn knn_accuracy(train: &EmbeddedSentences, test: &EmbeddedSentences, k: usize) -> f64 {
    let (a, b) = (mean_vectors(train), mean_vectors(test));
    let classes = train.classes.len();
    let k = k.clamp(1, a.len().max(1));
    let mut correct = 0usize;
    for (q, &label) in b.iter().zip(&test.labels) {
        let mut sims: Vec<(f32, usize)> = a
            .iter()
            .zip(&train.labels)
            .map(|(v, &l)| (v.iter().zip(q).map(|(x, y)| x * y).sum(), l))
            .collect();
        sims.sort_by(|x, y| y.0.total_cmp(&x.0));
        let mut votes = vec![0usize; classes];
        for &(_, l) in sims.iter().take(k) {
            votes[l] += 1;
        }
        let best = votes.iter().copied().max().unwrap_or(0);
        let pick = sims
            .iter()
            .take(k)
            .find(|(_, l)| votes[*l] == best)
            .map_or(0, |&(_, l)| l);
        correct += usize::from(pick == label);
    }
    correct as f64 / b.len().max(1) as f64
}

/// k-NN with a budget: `draws` random draws of `per_class` training sentences of each class
/// (the same budget as a distilled set), each scored by [`knn_accuracy`] on the test set, or
/// the whole training set once when `per_class` is `None`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::text::KnnConfig;
/// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.2, -1.0, 0.1])?;
/// let set = SentenceSet::new("s", vec!["good".into(), "bad".into(), "good good".into(), "bad".into()],
///                            vec![1, 0, 1, 0], vec!["neg".into(), "pos".into()])?;
/// let emb = wv.embed_set(&set, 3);
/// let r = KnnConfig::new().with_per_class(Some(1)).with_draws(3).evaluate(&emb, &emb)?;
/// assert_eq!((r.accuracies.len(), r.train_size), (3, 2));
/// assert!(KnnConfig::new().with_k(0).evaluate(&emb, &emb).is_err());
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct KnnConfig {
    /// Neighbours that vote (at most the budget).
    #[config(default = 1)]
    pub k: usize,
    /// Training sentences per class drawn each time; `None` for the whole set.
    #[config(default = "None")]
    pub per_class: Option<usize>,
    /// Random draws (ignored for the whole set).
    #[config(default = 5)]
    pub draws: usize,
    /// Seed of the draws.
    #[config(default = 0)]
    pub seed: u64,
}

impl KnnConfig {
    /// Checks every field.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::text::KnnConfig;
    /// assert!(KnnConfig::new().check().is_ok());
    /// assert!(KnnConfig::new().with_k(0).check().is_err());
    /// ```
    pub fn check(&self) -> Result<()> {
        const M: &str = "KnnConfig";
        ensure(self.k >= 1, M, "k", || "must be at least 1".into())?;
        ensure(self.per_class != Some(0), M, "per_class", || {
            "must be at least 1 (or None for the whole set)".into()
        })?;
        ensure(self.draws >= 1, M, "draws", || "must be at least 1".into())
    }

    /// The accuracies of every draw as a report (mean and std over draws).
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let dev = device();
    /// # let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
    /// # let set = SentenceSet::new("s", vec!["good good".into(), "bad".into(), "good".into(), "bad bad".into()],
    /// #                            vec![1, 0, 1, 0], vec!["neg".into(), "pos".into()])?;
    /// # let emb = wv.embed_set(&set, 3);
    /// let r = KnnConfig::new().evaluate(&emb, &emb)?; // the whole set, k = 1
    /// assert_eq!((r.accuracies, r.train_size), (vec![1.0], 4));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn evaluate(
        &self,
        train: &EmbeddedSentences,
        test: &EmbeddedSentences,
    ) -> Result<EvalReport> {
        self.check()?;
        let started = Instant::now();
        let (accuracies, examples, what) = match self.per_class {
            None => (
                vec![knn_accuracy(train, test, self.k)],
                Examples::len(train),
                "all training sentences".to_string(),
            ),
            Some(per) => {
                let mut rng = StdRng::seed_from_u64(self.seed);
                let classes = train.classes.len();
                let mut accs = Vec::with_capacity(self.draws);
                let mut size = 0;
                for _ in 0..self.draws {
                    let mut pick = Vec::with_capacity(per * classes);
                    for c in 0..classes {
                        let mut idx: Vec<usize> = (0..train.labels.len())
                            .filter(|&i| train.labels[i] == c)
                            .collect();
                        idx.shuffle(&mut rng);
                        pick.extend(idx.into_iter().take(per));
                    }
                    size = pick.len();
                    accs.push(knn_accuracy(&train.subset(&pick), test, self.k));
                }
                (accs, size, format!("{per} random sentences per class"))
            }
        };
        Ok(EvalReport::from_accuracies(
            format!("k-NN ({what})"),
            format!("{}-NN, cosine of mean word vectors", self.k),
            "k-NN".to_string(),
            examples,
            accuracies,
            started.elapsed().as_secs_f64(),
        ))
    }
}
