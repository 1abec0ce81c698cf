use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::Classifier;
use crate::data::Examples;
use crate::error::{Result, ensure};

/// Configuration of the [`TextConvNet`]: Kim's sentence CNN as the soft-label text
/// distillation code uses it (Sucholutsky & Schonlau; Kim, EMNLP 2014). Each sentence is a
/// `length x dims` matrix of word vectors (a one-channel image); one convolution per kernel
/// height spans the whole vector width, then ReLU, max over time, and a linear classifier on
/// the concatenated maxima.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let net = TextConvNetConfig::new(2, 12, 8).with_filters(4).init(&dev);
/// let x = burn::tensor::Tensor::<3>::zeros([5, 12, 8], &dev);
/// assert_eq!(net.forward(x.clone()).dims(), [5, 2]);
/// assert_eq!(net.features(x).dims(), [5, 3 * 4]);
/// ```
#[derive(Config, Debug)]
pub struct TextConvNetConfig {
    /// Number of classes.
    pub num_classes: usize,
    /// Words per sentence (after padding / truncation).
    pub length: usize,
    /// Width of a word vector.
    pub dims: usize,
    /// Kernel heights, in words (3, 4, 5 in Kim's network).
    #[config(default = "vec![3, 4, 5]")]
    pub kernels: Vec<usize>,
    /// Filters per kernel height (100 in Kim's network).
    #[config(default = 100)]
    pub filters: usize,
}

impl TextConvNetConfig {
    /// The network sized for an embedded sentence set (`[length, dims]` examples).
    ///
    /// # Errors
    /// When the set's examples are not `[length, dims]` matrices.
    pub fn for_set<S: Examples>(data: &S) -> Result<Self> {
        match data.example_shape()[..] {
            [length, dims] => Ok(Self::new(data.num_classes(), length, dims)),
            ref other => Err(crate::Error::ShapeMismatch {
                context: format!("TextConvNetConfig::for_set({})", data.name()),
                expected: "examples of shape [length, dims]".into(),
                got: format!("{other:?}"),
            }),
        }
    }

    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "TextConvNetConfig";
        ensure(self.num_classes > 0, M, "num_classes", || {
            "must be at least 1".into()
        })?;
        ensure(self.dims > 0, M, "dims", || "must be at least 1".into())?;
        ensure(self.filters > 0, M, "filters", || {
            "must be at least 1".into()
        })?;
        ensure(!self.kernels.is_empty(), M, "kernels", || {
            "needs at least one kernel height".into()
        })?;
        ensure(
            self.kernels.iter().all(|&k| k > 0 && k <= self.length),
            M,
            "kernels",
            || {
                format!(
                    "every height must be in 1..={} (the sentence length), got {:?}",
                    self.length, self.kernels
                )
            },
        )
    }

    /// Builds the network with Burn's default initialisation (call [`Self::check`] first for
    /// a named error instead of a panic on sizes that cannot work).
    pub fn init(&self, device: &Device) -> TextConvNet {
        let convs = self
            .kernels
            .iter()
            .map(|&k| Conv2dConfig::new([1, self.filters], [k, self.dims]).init(device))
            .collect();
        let feature_dim = self.filters * self.kernels.len();
        TextConvNet {
            convs,
            classifier: LinearConfig::new(feature_dim, self.num_classes).init(device),
        }
    }
}

/// Kim's sentence CNN over embedded sentences `[batch, length, dims]`; build it with
/// [`TextConvNetConfig`].
#[derive(Module, Debug)]
pub struct TextConvNet {
    convs: Vec<Conv2d>,
    classifier: Linear,
}

impl Classifier for TextConvNet {
    type Input = Tensor<3>;

    fn forward(&self, sentences: Tensor<3>) -> Tensor<2> {
        self.classifier.forward(self.features(sentences))
    }

    fn features(&self, sentences: Tensor<3>) -> Tensor<2> {
        let [n, l, d] = sentences.dims();
        let x = sentences.reshape([n, 1, l, d]);
        let pooled = self
            .convs
            .iter()
            .map(|conv| {
                // [n, filters, l - k + 1, 1] -> max over time -> [n, filters]
                let y = relu(conv.forward(x.clone()));
                let [_, f, t, _] = y.dims();
                y.reshape([n, f, t]).max_dim(2).reshape([n, f])
            })
            .collect();
        Tensor::cat(pooled, 1)
    }
}
