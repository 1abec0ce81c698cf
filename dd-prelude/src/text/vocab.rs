//! From text to embedded sentences: the training vocabulary ([`Vocab`]: token ids, padding and
//! truncation to a length, counts) and the embedding with GloVe ([`EmbedConfig`]: a length,
//! and what to do with tokens GloVe does not know, [`Oov`]). Tokens come from the data layer's
//! [`tokenize`] (lower case, punctuation split, clitics split as GloVe's tokenizer does).

use std::collections::HashMap;

use burn::config::Config;
use serde::{Deserialize, Serialize};

use crate::data::{EmbeddedSentences, SentenceSet, WordVectors, tokenize};
use crate::error::{Result, ensure};

/// Id of the padding token in a [`Vocab`].
///
/// # Example
/// ```
/// assert_eq!(dd_prelude::text::PAD, 0);
/// ```
pub const PAD: usize = 0;
/// Id of the unknown token in a [`Vocab`].
///
/// # Example
/// ```
/// assert_eq!(dd_prelude::text::UNK, 1);
/// ```
pub const UNK: usize = 1;

/// The tokens of a sentence set with their counts, most frequent first, behind `<pad>` (id
/// [`PAD`]) and `<unk>` (id [`UNK`]): sentences as fixed-length id sequences, and the words
/// a distilled sentence is decoded into.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::text::{Vocab, PAD, UNK};
/// let set = SentenceSet::new("s", vec!["A good film.".into(), "a bad, bad film".into()],
///                            vec![1, 0], vec!["neg".into(), "pos".into()])?;
/// let vocab = Vocab::build(&set, 1);
/// assert_eq!(vocab.words()[2], "a"); // 2 occurrences, first alphabetically among ties
/// assert_eq!(vocab.count("bad"), 2);
/// let ids = vocab.encode("Bad film, unseen", 6);
/// assert_eq!(ids.len(), 6);
/// assert_eq!((ids[3], ids[4], ids[5]), (UNK, PAD, PAD));
/// assert_eq!(vocab.decode(&ids), ["bad", "film", ",", "<unk>"]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Vocab {
    words: Vec<String>,
    counts: Vec<usize>,
    index: HashMap<String, usize>,
}

impl Vocab {
    /// The tokens of `set` seen at least `min_count` times, by count then alphabetically.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let set = SentenceSet::new("s", vec!["A good film.".into(), "a bad, bad film".into()], vec![1, 0],
    /// #                            vec!["neg".into(), "pos".into()])?;
    /// # let vocab = Vocab::build(&set, 1);
    /// assert_eq!(Vocab::build(&set, 2).words(), ["<pad>", "<unk>", "a", "bad", "film"]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn build(set: &SentenceSet, min_count: usize) -> Self {
        Self::from_texts(set.texts().iter().map(String::as_str), min_count)
    }

    /// The tokens of any texts (captions, for one) seen at least `min_count` times, by count
    /// then alphabetically, as [`Vocab::build`].
    ///
    /// # Example
    /// ```
    /// use dd_prelude::text::Vocab;
    /// let vocab = Vocab::from_texts(["a red apple", "a green apple"], 2);
    /// assert_eq!(vocab.words(), ["<pad>", "<unk>", "a", "apple"]);
    /// ```
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>, min_count: usize) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for tok in tokenize(text) {
                *counts.entry(tok).or_default() += 1;
            }
        }
        let mut by_count: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(_, c)| *c >= min_count.max(1))
            .collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut words = vec!["<pad>".to_string(), "<unk>".to_string()];
        let mut c = vec![0, 0];
        for (w, n) in by_count {
            words.push(w);
            c.push(n);
        }
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i))
            .collect();
        Vocab {
            words,
            counts: c,
            index,
        }
    }

    /// Number of ids, `<pad>` and `<unk>` included.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let set = SentenceSet::new("s", vec!["A good film.".into(), "a bad, bad film".into()], vec![1, 0],
    /// #                            vec!["neg".into(), "pos".into()])?;
    /// # let vocab = Vocab::build(&set, 1);
    /// assert_eq!(vocab.len(), 2 + 6);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether only `<pad>` and `<unk>` are known.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let set = SentenceSet::new("s", vec!["A good film.".into(), "a bad, bad film".into()], vec![1, 0],
    /// #                            vec!["neg".into(), "pos".into()])?;
    /// # let vocab = Vocab::build(&set, 1);
    /// assert!(!vocab.is_empty());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.words.len() <= 2
    }

    /// The words by id.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let set = SentenceSet::new("s", vec!["A good film.".into(), "a bad, bad film".into()], vec![1, 0],
    /// #                            vec!["neg".into(), "pos".into()])?;
    /// # let vocab = Vocab::build(&set, 1);
    /// assert_eq!(vocab.words()[1], "<unk>");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The id of `token`, [`UNK`] when unknown.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let set = SentenceSet::new("s", vec!["A good film.".into(), "a bad, bad film".into()], vec![1, 0],
    /// #                            vec!["neg".into(), "pos".into()])?;
    /// # let vocab = Vocab::build(&set, 1);
    /// assert_eq!((vocab.id("a"), vocab.id("zzz")), (2, UNK));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn id(&self, token: &str) -> usize {
        self.index.get(token).copied().unwrap_or(UNK)
    }

    /// How often `token` occurs in the set the vocabulary was built from (0 when unknown).
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let set = SentenceSet::new("s", vec!["A good film.".into(), "a bad, bad film".into()], vec![1, 0],
    /// #                            vec!["neg".into(), "pos".into()])?;
    /// # let vocab = Vocab::build(&set, 1);
    /// assert_eq!((vocab.count("bad"), vocab.count("zzz")), (2, 0));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn count(&self, token: &str) -> usize {
        self.index.get(token).map_or(0, |&i| self.counts[i])
    }

    /// The ids of `text`'s first `len` tokens, padded with [`PAD`] to exactly `len`.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let set = SentenceSet::new("s", vec!["A good film.".into(), "a bad, bad film".into()], vec![1, 0],
    /// #                            vec!["neg".into(), "pos".into()])?;
    /// # let vocab = Vocab::build(&set, 1);
    /// assert_eq!(vocab.encode("bad film", 3)[2], PAD);
    /// assert_eq!(vocab.encode("bad bad bad bad", 2).len(), 2);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn encode(&self, text: &str, len: usize) -> Vec<usize> {
        let mut ids: Vec<usize> = tokenize(text)
            .iter()
            .take(len)
            .map(|t| self.id(t))
            .collect();
        ids.resize(len, PAD);
        ids
    }

    /// The words of `ids`, padding left out.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let set = SentenceSet::new("s", vec!["A good film.".into(), "a bad, bad film".into()], vec![1, 0],
    /// #                            vec!["neg".into(), "pos".into()])?;
    /// # let vocab = Vocab::build(&set, 1);
    /// assert_eq!(vocab.decode(&[vocab.id("good"), UNK, PAD]), ["good", "<unk>"]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn decode(&self, ids: &[usize]) -> Vec<String> {
        ids.iter()
            .filter(|&&i| i != PAD)
            .map(|&i| self.words.get(i).cloned().unwrap_or_else(|| "<unk>".into()))
            .collect()
    }

    /// The share of the set's token occurrences that `vectors` knows, and the `n` most
    /// frequent tokens it does not know (with their counts).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::text::Vocab;
    /// let wv = WordVectors::new("toy", 1, vec!["good".into()], vec![1.0])?;
    /// let set = SentenceSet::new("s", vec!["good zzz good".into()], vec![0], vec!["c".into()])?;
    /// let (share, missing) = Vocab::build(&set, 1).coverage(&wv, 5);
    /// assert!((share - 2.0 / 3.0).abs() < 1e-9);
    /// assert_eq!(missing, vec![("zzz".to_string(), 1)]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn coverage(&self, vectors: &WordVectors, n: usize) -> (f64, Vec<(String, usize)>) {
        let (mut known, mut total) = (0usize, 0usize);
        let mut missing = Vec::new();
        for (w, &c) in self.words.iter().zip(&self.counts).skip(2) {
            total += c;
            if vectors.index_of(w).is_some() {
                known += c;
            } else if missing.len() < n {
                missing.push((w.clone(), c));
            }
        }
        (known as f64 / total.max(1) as f64, missing)
    }

    /// The word vectors of the vocabulary's words that `vectors` knows (the candidates a
    /// distilled sentence is decoded into: nearest-word search over tens of thousands of words
    /// instead of GloVe's 341,479).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::text::Vocab;
    /// let wv = WordVectors::new("toy", 1, vec!["good".into(), "other".into()], vec![1.0, 2.0])?;
    /// let set = SentenceSet::new("s", vec!["good zzz".into()], vec![0], vec!["c".into()])?;
    /// let small = Vocab::build(&set, 1).vectors(&wv)?;
    /// assert_eq!(small.words(), ["good"]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn vectors(&self, vectors: &WordVectors) -> Result<WordVectors> {
        let mut words = Vec::new();
        let mut values = Vec::new();
        for w in self.words.iter().skip(2) {
            if let Some(v) = vectors.vector(w) {
                words.push(w.clone());
                values.extend_from_slice(v);
            }
        }
        WordVectors::new(
            format!("{} (vocabulary of {} words)", vectors.name(), words.len()),
            vectors.dims(),
            words,
            values,
        )
    }
}

/// What the embedding does with a token the word vectors do not know.
///
/// # Example
/// ```
/// use dd_prelude::text::Oov;
/// assert_ne!(Oov::Skip, Oov::Zero);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Oov {
    /// Leave it out, so the sentence keeps more known words within its length.
    Skip,
    /// A zero vector in its place (what padding is too).
    Zero,
}

/// How sentences become `[length, dims]` matrices of word vectors: the first `max_len` tokens
/// (after [`Oov`] handling), padded with zero vectors. The result is an
/// [`EmbeddedSentences`] set, which `fit`, `evaluate_model`, `accuracy` and the selectors take
/// as it is.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::text::{EmbedConfig, Oov};
/// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.0, -1.0, 0.0])?;
/// let set = SentenceSet::new("s", vec!["zzz good!".into(), "bad".into()], vec![1, 0],
///                            vec!["neg".into(), "pos".into()])?;
/// let skip = EmbedConfig::new(2).embed(&set, &wv)?;
/// assert_eq!(skip.shape, [2, 2, 2]);
/// assert_eq!(&skip.values[..4], &[1.0, 0.0, 0.0, 0.0]); // "zzz" and "!" left out
/// let zero = EmbedConfig::new(2).with_oov(Oov::Zero).embed(&set, &wv)?;
/// assert_eq!(&zero.values[..4], &[0.0, 0.0, 1.0, 0.0]);
/// assert!(EmbedConfig::new(0).check().is_err());
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct EmbedConfig {
    /// Tokens per sentence: longer sentences are truncated, shorter ones padded.
    pub max_len: usize,
    /// Unknown tokens: left out (default) or zero vectors.
    #[config(default = "Oov::Skip")]
    pub oov: Oov,
}

impl EmbedConfig {
    /// Checks every field.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::text::EmbedConfig;
    /// assert!(EmbedConfig::new(8).check().is_ok());
    /// assert!(EmbedConfig::new(0).check().is_err());
    /// ```
    pub fn check(&self) -> Result<()> {
        ensure(self.max_len >= 1, "EmbedConfig", "max_len", || {
            "must be at least 1 token".into()
        })
    }

    /// The tokens of `text` that are embedded, in order (at most `max_len`; unknown ones
    /// left out under [`Oov::Skip`]).
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # use dd_prelude::text::*;
    /// # let wv = WordVectors::new("toy", 1, vec!["good".into()], vec![1.0])?;
    /// assert_eq!(EmbedConfig::new(2).tokens("so GOOD, good", &wv), ["good", "good"]);
    /// assert_eq!(EmbedConfig::new(2).with_oov(Oov::Zero).tokens("so GOOD", &wv), ["so", "good"]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn tokens(&self, text: &str, vectors: &WordVectors) -> Vec<String> {
        tokenize(text)
            .into_iter()
            .filter(|t| self.oov == Oov::Zero || vectors.index_of(t).is_some())
            .take(self.max_len)
            .collect()
    }

    /// Every sentence of `set` as a `[max_len, dims]` matrix; `coverage` is the share of the
    /// set's tokens the vectors know.
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
    /// let e = EmbedConfig::new(4).embed(&set, &wv)?;
    /// assert_eq!((e.shape, e.coverage), ([4, 4, 2], 1.0));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn embed(&self, set: &SentenceSet, vectors: &WordVectors) -> Result<EmbeddedSentences> {
        self.check()?;
        if self.oov == Oov::Zero {
            return Ok(vectors.embed_set(set, self.max_len));
        }
        let d = vectors.dims();
        let mut values = vec![0f32; set.len() * self.max_len * d];
        let (mut known, mut total) = (0usize, 0usize);
        for (i, text) in set.texts().iter().enumerate() {
            let all = tokenize(text);
            total += all.len();
            known += all.iter().filter(|t| vectors.index_of(t).is_some()).count();
            let toks = self.tokens(text, vectors);
            for (t, tok) in toks.iter().enumerate() {
                let v = vectors.vector(tok).expect("kept tokens are known");
                let at = (i * self.max_len + t) * d;
                values[at..at + d].copy_from_slice(v);
            }
        }
        Ok(EmbeddedSentences {
            name: format!("{} ({} embedding)", set.name(), vectors.name()),
            values,
            shape: [set.len(), self.max_len, d],
            labels: set.labels().to_vec(),
            classes: set.classes().to_vec(),
            coverage: known as f32 / total.max(1) as f32,
        })
    }
}
