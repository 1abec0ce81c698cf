use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

use super::Classifier;
use crate::data::Examples;
use crate::error::{Result, ensure};

/// Configuration of [`TextAttention`]: a small attention classifier over embedded sentences
/// (additive attention pooling, as in Yang et al.'s hierarchical attention networks, NAACL
/// 2016): each word vector is projected to `hidden` with `tanh`, scored by a learned context
/// vector, the scores turned into weights by a softmax over the sentence's words (padding
/// positions, all-zero vectors, left out), and the weighted mean of the projections fed to a
/// linear classifier.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let net = TextAttentionConfig::new(3, 8).with_hidden(6).init(&dev);
/// let x = burn::tensor::Tensor::<3>::ones([4, 10, 8], &dev);
/// assert_eq!(net.forward(x.clone()).dims(), [4, 3]);
/// assert_eq!(net.features(x).dims(), [4, 6]);
/// assert!(TextAttentionConfig::new(3, 0).check().is_err());
/// ```
#[derive(Config, Debug)]
pub struct TextAttentionConfig {
    /// Number of classes.
    pub num_classes: usize,
    /// Width of a word vector.
    pub dims: usize,
    /// Width of the projection and of the embedding.
    #[config(default = 64)]
    pub hidden: usize,
}

impl TextAttentionConfig {
    /// The classifier sized for an embedded sentence set (`[length, dims]` examples).
    ///
    /// # Errors
    /// When the set's examples are not `[length, dims]` matrices.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// let set = WordVectors::new("toy", 3, vec!["a".into()], vec![1.0; 3])?
    ///     .embed_set(&SentenceSet::new("s", vec!["a".into()], vec![0], vec!["c".into()])?, 5);
    /// assert_eq!(TextAttentionConfig::for_set(&set)?.dims, 3);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn for_set<S: Examples>(data: &S) -> Result<Self> {
        match data.example_shape()[..] {
            [_, dims] => Ok(Self::new(data.num_classes(), dims)),
            ref other => Err(crate::Error::ShapeMismatch {
                context: format!("TextAttentionConfig::for_set({})", data.name()),
                expected: "examples of shape [length, dims]".into(),
                got: format!("{other:?}"),
            }),
        }
    }

    /// Checks every field.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// assert!(TextAttentionConfig::new(2, 8).check().is_ok());
    /// assert!(TextAttentionConfig::new(2, 8).with_hidden(0).check().is_err());
    /// ```
    pub fn check(&self) -> Result<()> {
        const M: &str = "TextAttentionConfig";
        ensure(self.num_classes > 0, M, "num_classes", || {
            "must be at least 1".into()
        })?;
        ensure(self.dims > 0, M, "dims", || "must be at least 1".into())?;
        ensure(self.hidden > 0, M, "hidden", || "must be at least 1".into())
    }

    /// Builds the classifier with Burn's default initialisation.
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// let net = TextAttentionConfig::new(2, 4).with_hidden(3).init(&device());
    /// assert_eq!(net.forward(burn::tensor::Tensor::ones([1, 6, 4], &device())).dims(), [1, 2]);
    /// ```
    pub fn init(&self, device: &Device) -> TextAttention {
        TextAttention {
            project: LinearConfig::new(self.dims, self.hidden).init(device),
            context: LinearConfig::new(self.hidden, 1)
                .with_bias(false)
                .init(device),
            classifier: LinearConfig::new(self.hidden, self.num_classes).init(device),
        }
    }
}

/// Attention pooling over embedded sentences `[batch, length, dims]`; build it with
/// [`TextAttentionConfig`].
///
/// # Example
/// ```
/// # use dd_prelude::*;
/// let dev = device();
/// let net = TextAttentionConfig::new(2, 4).with_hidden(3).init(&dev);
/// assert_eq!(net.features(burn::tensor::Tensor::ones([5, 6, 4], &dev)).dims(), [5, 3]);
/// ```
#[derive(Module, Debug)]
pub struct TextAttention {
    project: Linear,
    context: Linear,
    classifier: Linear,
}

impl Classifier for TextAttention {
    type Input = Tensor<3>;

    fn forward(&self, sentences: Tensor<3>) -> Tensor<2> {
        self.classifier.forward(self.features(sentences))
    }

    fn features(&self, sentences: Tensor<3>) -> Tensor<2> {
        let n = sentences.dims()[0];
        // 1 where the position holds a word, 0 for padding.
        let present = sentences
            .clone()
            .abs()
            .sum_dim(2)
            .greater_elem(0.0)
            .float()
            .detach();
        let h = self.project.forward(sentences).tanh();
        let hidden = h.dims()[2];
        let scores = self.context.forward(h.clone());
        // Padding gets a large negative score; a sentence of padding only weighs all equally.
        let scores = scores.add(present.sub_scalar(1.0).mul_scalar(1e4));
        let weights = softmax(scores, 1);
        h.mul(weights).sum_dim(1).reshape([n, hidden])
    }
}
