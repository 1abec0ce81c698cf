//! [`EmbeddedPairs`]: image-caption pairs whose captions are embedded as vectors, the
//! [`Examples`] form of a [`PairSet`] for contrastive training.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::examples::{Examples, Targets};
use super::pairs::PairSet;
use crate::error::{Error, Result};

/// Image-caption pairs with one caption embedding per image (from a sentence encoder, or any
/// text embedding): an [`Examples`] set whose batches are `(images [n, C, H, W], text [n, d])`.
///
/// Pairs have no classes: the target of a batch is each pair's position in it (the `i`-th
/// image matches the `i`-th caption), which is what a dual encoder's `[n, n]` similarity
/// logits are trained towards by the symmetric contrastive loss
/// ([`SymmetricContrastive`](crate::train::SymmetricContrastive)). `labels()` are all 0 (one
/// class, `pair`), so class-balanced selection treats the set as one group; `flat()` gives
/// the images' pixels.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let pairs = PairSet::from_pixels("toy", [1, 1, 2], vec![0.0, 1.0, 1.0, 0.0],
///     vec![vec!["left".into()], vec!["right".into()]], vec!["a".into(), "b".into()])?;
/// let set = EmbeddedPairs::new(pairs, vec![1.0, 0.0, 0.0, 1.0], 2)?;
/// let (x, t) = set.inputs(&[1, 0], &device());
/// assert_eq!((x.dims(), t.dims()), ([2, 1, 1, 2], [2, 2]));
/// assert_eq!(set.example_shape(), vec![1, 1, 2, 2]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct EmbeddedPairs {
    pairs: PairSet,
    text: Vec<f32>,
    dim: usize,
    labels: Vec<usize>,
    classes: Vec<String>,
}

impl EmbeddedPairs {
    /// Pairs the images of `pairs` with `text`, one embedding of `dim` values per image
    /// (`pairs.len() x dim`, row-major, all finite).
    pub fn new(pairs: PairSet, text: Vec<f32>, dim: usize) -> Result<Self> {
        if dim == 0 || text.len() != pairs.len() * dim {
            return Err(Error::ShapeMismatch {
                context: format!("{}: caption embeddings", pairs.name()),
                expected: format!(
                    "{} values ({} images x {dim} dimensions, dim >= 1)",
                    pairs.len() * dim,
                    pairs.len()
                ),
                got: format!("{} values", text.len()),
            });
        }
        if let Some(i) = text.iter().position(|v| !v.is_finite()) {
            return Err(Error::config(
                "EmbeddedPairs",
                "text",
                format!("value {i} (caption {}) is not finite", i / dim),
            ));
        }
        let labels = vec![0; pairs.len()];
        Ok(EmbeddedPairs {
            pairs,
            text,
            dim,
            labels,
            classes: vec!["pair".into()],
        })
    }

    /// The image-caption pairs.
    pub fn pairs(&self) -> &PairSet {
        &self.pairs
    }

    /// Width of a caption embedding.
    pub fn text_dim(&self) -> usize {
        self.dim
    }
}

impl Examples for EmbeddedPairs {
    type Input = (Tensor<4>, Tensor<2>);

    fn name(&self) -> &str {
        self.pairs.name()
    }
    fn len(&self) -> usize {
        self.pairs.len()
    }
    fn classes(&self) -> &[String] {
        &self.classes
    }
    fn labels(&self) -> &[usize] {
        &self.labels
    }
    /// `[C, H, W, d]`: the image's shape, then the caption embedding's width.
    fn example_shape(&self) -> Vec<usize> {
        let [c, h, w] = self.pairs.image_shape();
        vec![c, h, w, self.dim]
    }
    fn flat(&self) -> (&[f32], usize) {
        let [c, h, w] = self.pairs.image_shape();
        (self.pairs.images(), c * h * w)
    }
    fn inputs(&self, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<2>) {
        let mut text = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            text.extend_from_slice(&self.text[i * self.dim..(i + 1) * self.dim]);
        }
        (
            self.pairs.batch_images(indices, device),
            Tensor::from_data(TensorData::new(text, [indices.len(), self.dim]), device),
        )
    }
    /// Each pair's position in the batch: row `i` of the similarity logits should pick
    /// column `i`.
    fn targets(&self, indices: &[usize], device: &Device) -> Targets {
        let n = indices.len();
        let positions: Vec<i64> = (0..n as i64).collect();
        Targets::Hard(Tensor::<1, Int>::from_data(
            TensorData::new(positions, [n]),
            device,
        ))
    }
    fn subset(&self, indices: &[usize]) -> Self {
        let mut text = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            text.extend_from_slice(&self.text[i * self.dim..(i + 1) * self.dim]);
        }
        EmbeddedPairs {
            pairs: self.pairs.subset(indices),
            text,
            dim: self.dim,
            labels: vec![0; indices.len()],
            classes: self.classes.clone(),
        }
    }
    fn renamed(self, name: String) -> Self {
        EmbeddedPairs {
            pairs: self.pairs.named(name),
            ..self
        }
    }
}
