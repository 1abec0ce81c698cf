//! Looking at distilled sentences: each one as a heat map of its `length x dims` values
//! ([`sentence_heatmap`]) and decoded to the nearest word at each position
//! ([`decode_sentences`]). Soft labels show with [`SyntheticSet::soft_label_table`].

use polars::prelude::{Column, DataFrame};

use crate::data::{EmbeddedSentences, WordVectors};
use crate::distill::SyntheticSet;
use crate::error::{Error, Result};
use crate::show::{Png, Table};

/// Pixels per value along a sentence (rows are words) and across a vector (columns).
const CELL: [usize; 2] = [6, 3];
/// Pixels between two sentences.
const GAP: usize = 6;

/// The first `count` sentences of `set`, one above the other, each a heat map with a row per
/// word position and a column per vector dimension: blue negative, white zero, red positive,
/// scaled by the largest magnitude of the sentences shown.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::text::sentence_heatmap;
/// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
/// let set = SentenceSet::new("s", vec!["good".into(), "bad bad".into()], vec![1, 0],
///                            vec!["neg".into(), "pos".into()])?;
/// let png = sentence_heatmap(&wv.embed_set(&set, 3), 2)?;
/// assert_eq!(png.size(), (2 * 3, 2 * 3 * 6 + 6));
/// # Ok::<(), Error>(())
/// ```
pub fn sentence_heatmap(set: &EmbeddedSentences, count: usize) -> Result<Png> {
    let [n, len, d] = set.shape;
    let count = count.min(n).max(1);
    if n == 0 {
        return Err(Error::Render {
            what: "sentence heat map",
            reason: "the set has no sentence".into(),
        });
    }
    let shown = &set.values[..count * len * d];
    let scale = shown.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let (w, h1) = (d * CELL[1], len * CELL[0]);
    let h = count * h1 + (count - 1) * GAP;
    let mut rgb = vec![255u8; w * h * 3];
    for s in 0..count {
        for t in 0..len {
            for j in 0..d {
                let v = (shown[(s * len + t) * d + j] / scale).clamp(-1.0, 1.0);
                let fade = (255.0 * (1.0 - v.abs())).round() as u8;
                let colour = if v >= 0.0 {
                    [255, fade, fade]
                } else {
                    [fade, fade, 255]
                };
                for dy in 0..CELL[0] {
                    for dx in 0..CELL[1] {
                        let (y, x) = (s * (h1 + GAP) + t * CELL[0] + dy, j * CELL[1] + dx);
                        rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&colour);
                    }
                }
            }
        }
    }
    Png::from_rgb(rgb, w as u32, h as u32)
}

/// The nearest word (cosine) to each position of each sentence, `<pad>` for an all-zero
/// position, searched among `vectors` (a vocabulary's vectors, [`super::Vocab::vectors`],
/// keeps it quick).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::text::nearest_words;
/// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
/// let set = SentenceSet::new("s", vec!["bad good".into()], vec![0], vec!["c".into()])?;
/// assert_eq!(nearest_words(&wv.embed_set(&set, 3), &wv)[0], ["bad", "good", "<pad>"]);
/// # Ok::<(), Error>(())
/// ```
pub fn nearest_words(set: &EmbeddedSentences, vectors: &WordVectors) -> Vec<Vec<String>> {
    let [n, len, d] = set.shape;
    (0..n)
        .map(|i| {
            (0..len)
                .map(|t| {
                    let v = &set.values[(i * len + t) * d..(i * len + t + 1) * d];
                    if v.iter().all(|&x| x == 0.0) {
                        return "<pad>".to_string();
                    }
                    vectors
                        .nearest_to(v, 1, None)
                        .into_iter()
                        .next()
                        .map_or_else(|| "?".into(), |(w, _)| w)
                })
                .collect()
        })
        .collect()
}

/// A distilled set's sentences decoded to their nearest words, one row per sentence: its
/// class, its soft label (the probability of its own class, when learned) and the words
/// (trailing padding dropped).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::SyntheticSet;
/// use dd_prelude::text::decode_sentences;
/// let wv = WordVectors::new("toy", 2, vec!["good".into(), "bad".into()], vec![1.0, 0.5, -1.0, 0.0])?;
/// let syn = SyntheticSet::new("SLDD", "toy", [1, 2, 2], vec![0.9, 0.4, 0.0, 0.0, -1.0, 0.1, 1.0, 0.4],
///                             vec![0, 1], vec!["neg".into(), "pos".into()], vec![0.0], vec![1.0])?;
/// let t = decode_sentences(&syn, &wv)?;
/// assert!(t.to_html().contains("bad good"));
/// # Ok::<(), Error>(())
/// ```
pub fn decode_sentences(set: &SyntheticSet, vectors: &WordVectors) -> Result<Table> {
    let sentences = super::sentences_of(set)?;
    let words = nearest_words(&sentences, vectors);
    let k = set.classes.len();
    let own: Vec<Option<f64>> = (0..set.len())
        .map(|i| {
            set.soft_labels
                .as_ref()
                .map(|s| 100.0 * s[i * k + set.labels[i]] as f64)
        })
        .collect();
    let text: Vec<String> = words
        .iter()
        .map(|w| {
            let end = w.iter().rposition(|x| x != "<pad>").map_or(0, |p| p + 1);
            w[..end].join(" ")
        })
        .collect();
    let frame = DataFrame::new_infer_height(vec![
        Column::new("sentence".into(), (0..set.len() as u32).collect::<Vec<_>>()),
        Column::new(
            "class".into(),
            set.labels
                .iter()
                .map(|&l| set.classes[l].clone())
                .collect::<Vec<_>>(),
        ),
        Column::new("own class %".into(), own),
        Column::new("nearest words".into(), text),
    ])
    .map_err(|e| Error::Render {
        what: "decoded sentences",
        reason: e.to_string(),
    })?;
    Ok(Table::new(
        format!(
            "{} sentences of {}, nearest word per position ({})",
            set.method,
            set.source,
            vectors.name()
        ),
        frame,
    ))
}
