use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::Classifier;
use crate::data::{Examples, image_shape};
use crate::error::{Result, ensure};

/// Configuration of the [`Mlp`] of DatasetCondensation's `networks.py`: flatten, two hidden
/// layers of `hidden` units with ReLU, then a linear classifier.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let net = MlpConfig::new(10, 1, [28, 28]).init(&dev);
/// let x = burn::tensor::Tensor::<4>::zeros([2, 1, 28, 28], &dev);
/// assert_eq!(net.forward(x.clone()).dims(), [2, 10]);
/// assert_eq!(net.features(x).dims(), [2, 128]);
/// ```
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Number of classes.
    pub num_classes: usize,
    /// Input channels.
    pub channels: usize,
    /// Input height and width.
    pub image_size: [usize; 2],
    /// Units of each hidden layer (128 in the reference).
    #[config(default = 128)]
    pub hidden: usize,
}

impl MlpConfig {
    /// The MLP sized for `data`.
    pub fn for_set<S: Examples<Input = Tensor<4>> + ?Sized>(data: &S) -> Self {
        let [c, h, w] = image_shape(data);
        Self::new(data.num_classes(), c, [h, w])
    }

    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "MlpConfig";
        ensure(self.num_classes > 0, M, "num_classes", || {
            "must be at least 1".into()
        })?;
        ensure(self.channels > 0, M, "channels", || {
            "must be at least 1".into()
        })?;
        ensure(
            self.image_size[0] * self.image_size[1] > 0,
            M,
            "image_size",
            || format!("must be positive, got {:?}", self.image_size),
        )?;
        ensure(self.hidden > 0, M, "hidden", || "must be at least 1".into())
    }

    /// Builds the network with fresh random weights on `device`.
    pub fn init(&self, device: &Device) -> Mlp {
        let input = self.channels * self.image_size[0] * self.image_size[1];
        Mlp {
            fc1: LinearConfig::new(input, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.hidden).init(device),
            fc3: LinearConfig::new(self.hidden, self.num_classes).init(device),
        }
    }
}

/// A two-hidden-layer perceptron; build it with [`MlpConfig`].
#[derive(Module, Debug)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl Classifier for Mlp {
    type Input = Tensor<4>;

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.fc3.forward(self.features(images))
    }

    /// The second hidden layer's activations.
    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = images.flatten(1, 3);
        relu(self.fc2.forward(relu(self.fc1.forward(x))))
    }
}
