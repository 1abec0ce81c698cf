//! Captions as token ids ([`CaptionTokenizer`], a [`Vocab`] of the training captions plus an
//! end token) and image-caption pairs as an [`Examples`] set ([`CaptionSet`]).

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};

use crate::data::{Examples, PairSet, tokenize};
use crate::error::{Result, ensure};
use crate::text::{PAD, Vocab};

/// Captions as fixed-length id sequences: the words (the data layer's [`tokenize`]) of a
/// [`Vocab`] built from the training captions, at most `max_words` of them, then the end token
/// (id `vocab.len()`, GPT-2's `<|endoftext|>`), then padding ([`PAD`]) up to `max_words + 1`.
///
/// # Example
/// ```
/// use dd_prelude::caption::CaptionTokenizer;
/// use dd_prelude::text::PAD;
/// let tok = CaptionTokenizer::build(["a red apple", "a green apple"], 1, 4)?;
/// let ids = tok.encode("A red pear");
/// assert_eq!(ids.len(), 5);
/// assert_eq!((ids[3], ids[4]), (tok.end(), PAD));
/// assert_eq!(tok.decode(&ids), "a red <unk>");
/// assert_eq!(tok.vocab_size(), tok.vocab().len() + 1);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CaptionTokenizer {
    vocab: Vocab,
    max_words: usize,
}

impl CaptionTokenizer {
    /// The vocabulary of `captions` (tokens seen at least `min_count` times) and captions cut
    /// to `max_words` words.
    ///
    /// # Errors
    /// When `max_words` is 0.
    pub fn build<'a>(
        captions: impl IntoIterator<Item = &'a str>,
        min_count: usize,
        max_words: usize,
    ) -> Result<Self> {
        ensure(max_words > 0, "CaptionTokenizer", "max_words", || {
            "must be at least 1".into()
        })?;
        Ok(CaptionTokenizer {
            vocab: Vocab::from_texts(captions, min_count),
            max_words,
        })
    }

    /// The word vocabulary (`<pad>`, `<unk>`, then the words).
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Id of the end token.
    pub fn end(&self) -> usize {
        self.vocab.len()
    }

    /// Number of ids: the vocabulary and the end token.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len() + 1
    }

    /// Length of an encoded caption: `max_words + 1`.
    pub fn seq_len(&self) -> usize {
        self.max_words + 1
    }

    /// The ids of `caption`: words, end token, padding (`seq_len` ids).
    pub fn encode(&self, caption: &str) -> Vec<usize> {
        let mut ids: Vec<usize> = tokenize(caption)
            .iter()
            .take(self.max_words)
            .map(|w| self.vocab.id(w))
            .collect();
        ids.push(self.end());
        ids.resize(self.seq_len(), PAD);
        ids
    }

    /// The words of `ids` up to the first end token, padding left out, joined by spaces.
    pub fn decode(&self, ids: &[usize]) -> String {
        let end = ids
            .iter()
            .position(|&i| i == self.end())
            .unwrap_or(ids.len());
        self.vocab.decode(&ids[..end]).join(" ")
    }
}

/// Image-caption pairs as a training set: one example per (image, caption) pair of a
/// [`PairSet`], its caption encoded by a [`CaptionTokenizer`]. A batch is `(images, token ids
/// as floats [n, seq_len])`, what a [`Captioner`](super::Captioner) takes; every example has
/// the one class `caption` (selection ranks the whole set, as Algorithm 1).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::caption::{CaptionSet, CaptionTokenizer};
/// let pairs = PairSet::from_pixels("toy", [1, 2, 2], vec![0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0],
///     vec![vec!["a checkerboard".into()], vec!["a bar".into(), "two stripes".into()]],
///     vec!["a.png".into(), "b.png".into()])?;
/// let tok = CaptionTokenizer::build(pairs.all_captions().iter().flatten().map(String::as_str), 1, 3)?;
/// let set = CaptionSet::new(&pairs, &tok);
/// assert_eq!(set.len(), 3);
/// assert_eq!(set.caption(2), "two stripes");
/// let (x, t) = set.inputs(&[2, 0], &device());
/// assert_eq!((x.dims(), t.dims()), ([2, 1, 2, 2], [2, 4]));
/// assert_eq!(set.subset(&[2]).references(0), &["a bar".to_string(), "two stripes".into()]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct CaptionSet {
    name: String,
    pairs: Arc<PairSet>,
    image_of: Vec<usize>,
    captions: Vec<String>,
    tokens: Vec<f32>,
    seq_len: usize,
    labels: Vec<usize>,
    classes: Vec<String>,
}

impl CaptionSet {
    /// Every (image, caption) pair of `pairs`, encoded by `tokenizer`.
    pub fn new(pairs: &PairSet, tokenizer: &CaptionTokenizer) -> Self {
        let mut image_of = Vec::new();
        let mut captions = Vec::new();
        let mut tokens = Vec::new();
        for (i, c) in pairs.caption_pairs() {
            image_of.push(i);
            captions.push(c.to_string());
            tokens.extend(tokenizer.encode(c).into_iter().map(|t| t as f32));
        }
        CaptionSet {
            name: pairs.name().to_string(),
            labels: vec![0; image_of.len()],
            pairs: Arc::new(pairs.clone()),
            image_of,
            captions,
            tokens,
            seq_len: tokenizer.seq_len(),
            classes: vec!["caption".into()],
        }
    }

    /// The underlying pairs (every image, also those no example of a subset uses).
    pub fn pairs(&self) -> &PairSet {
        &self.pairs
    }

    /// Position in [`CaptionSet::pairs`] of example `i`'s image.
    pub fn image_of(&self, i: usize) -> usize {
        self.image_of[i]
    }

    /// The caption of example `i`, as written.
    pub fn caption(&self, i: usize) -> &str {
        &self.captions[i]
    }

    /// Every caption of example `i`'s image (the references a generated caption is scored
    /// against).
    pub fn references(&self, i: usize) -> &[String] {
        self.pairs.captions(self.image_of[i])
    }

    /// The distinct images of the set, in order of first use, each as its first example.
    pub fn first_of_each_image(&self) -> Vec<usize> {
        let mut seen = std::collections::HashSet::new();
        (0..self.len())
            .filter(|&i| seen.insert(self.image_of[i]))
            .collect()
    }

    /// Length of an encoded caption.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// The images of the examples at `indices` `[n, C, H, W]`.
    pub fn images(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let which: Vec<usize> = indices.iter().map(|&i| self.image_of[i]).collect();
        self.pairs.batch_images(&which, device)
    }
}

impl Examples for CaptionSet {
    type Input = (Tensor<4>, Tensor<2>);

    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.image_of.len()
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn labels(&self) -> &[usize] {
        &self.labels
    }
    /// `[C, H, W, seq_len]`: the image's shape, then the caption's length.
    fn example_shape(&self) -> Vec<usize> {
        let [c, h, w] = self.pairs.image_shape();
        vec![c, h, w, self.seq_len]
    }
    /// Each example's token ids (as floats), `seq_len` wide.
    fn flat(&self) -> (&[f32], usize) {
        (&self.tokens, self.seq_len)
    }
    fn inputs(&self, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<2>) {
        let mut ids = Vec::with_capacity(indices.len() * self.seq_len);
        for &i in indices {
            ids.extend_from_slice(&self.tokens[i * self.seq_len..(i + 1) * self.seq_len]);
        }
        (
            self.images(indices, device),
            Tensor::from_data(TensorData::new(ids, [indices.len(), self.seq_len]), device),
        )
    }
    fn subset(&self, indices: &[usize]) -> Self {
        let mut tokens = Vec::with_capacity(indices.len() * self.seq_len);
        for &i in indices {
            tokens.extend_from_slice(&self.tokens[i * self.seq_len..(i + 1) * self.seq_len]);
        }
        CaptionSet {
            name: self.name.clone(),
            pairs: Arc::clone(&self.pairs),
            image_of: indices.iter().map(|&i| self.image_of[i]).collect(),
            captions: indices.iter().map(|&i| self.captions[i].clone()).collect(),
            tokens,
            seq_len: self.seq_len,
            labels: vec![0; indices.len()],
            classes: self.classes.clone(),
        }
    }
    fn renamed(self, name: String) -> Self {
        CaptionSet { name, ..self }
    }
}
