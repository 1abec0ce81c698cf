use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::Classifier;
use super::norm::{conv, out_len};
use crate::data::{Examples, image_shape};
use crate::error::{Error, Result, ensure};

/// Configuration of [`LeNet`] as in DatasetCondensation's `networks.py`: conv 5x5 (6), ReLU,
/// max-pool, conv 5x5 (16), ReLU, max-pool, then 120 and 84 units and the classifier.
/// The first convolution pads by 2 for one-channel images (28 -> 28) and not at all for colour
/// ones (32 -> 28), as the reference; other sizes work as long as the image stays at least one
/// pixel after the last pooling.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let net = LeNetConfig::new(10, 3, [32, 32]).init(&dev);
/// let x = burn::tensor::Tensor::<4>::zeros([2, 3, 32, 32], &dev);
/// assert_eq!(net.forward(x.clone()).dims(), [2, 10]);
/// assert_eq!(net.features(x).dims(), [2, 84]);
/// ```
#[derive(Config, Debug)]
pub struct LeNetConfig {
    /// Number of classes.
    pub num_classes: usize,
    /// Input channels.
    pub channels: usize,
    /// Input height and width.
    pub image_size: [usize; 2],
}

impl LeNetConfig {
    /// LeNet sized for `data`.
    pub fn for_set<S: Examples<Input = Tensor<4>> + ?Sized>(data: &S) -> Self {
        let [c, h, w] = image_shape(data);
        Self::new(data.num_classes(), c, [h, w])
    }

    fn first_padding(&self) -> usize {
        if self.channels == 1 { 2 } else { 0 }
    }

    /// Spatial size entering the first linear layer.
    fn out_size(&self) -> Option<[usize; 2]> {
        let side = |len: usize| {
            let x = out_len(len, 5, 1, self.first_padding())? / 2;
            Some(out_len(x, 5, 1, 0)? / 2).filter(|&s| s > 0)
        };
        Some([side(self.image_size[0])?, side(self.image_size[1])?])
    }

    /// Checks every field (the image must be large enough for two 5x5 convolutions and pools).
    pub fn check(&self) -> Result<()> {
        const M: &str = "LeNetConfig";
        ensure(self.num_classes > 0, M, "num_classes", || {
            "must be at least 1".into()
        })?;
        ensure(self.channels > 0, M, "channels", || {
            "must be at least 1".into()
        })?;
        self.out_size().map(|_| ()).ok_or_else(|| {
            Error::config(
                M,
                "image_size",
                format!("{:?} is too small for LeNet (at least 12x12 with one channel, 16x16 with more)", self.image_size),
            )
        })
    }

    /// Builds the network with fresh random weights on `device`.
    ///
    /// # Panics
    /// When [`LeNetConfig::check`] fails.
    pub fn init(&self, device: &Device) -> LeNet {
        if let Err(e) = self.check() {
            panic!("{e}");
        }
        let [h, w] = self.out_size().expect("checked");
        LeNet {
            conv1: conv(self.channels, 6, 5, 1, self.first_padding(), true, device),
            conv2: conv(6, 16, 5, 1, 0, true, device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(16 * h * w, 120).init(device),
            fc2: LinearConfig::new(120, 84).init(device),
            fc3: LinearConfig::new(84, self.num_classes).init(device),
        }
    }
}

/// LeNet-5 as in the reference; build it with [`LeNetConfig`].
#[derive(Module, Debug)]
pub struct LeNet {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl Classifier for LeNet {
    type Input = Tensor<4>;

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.fc3.forward(self.features(images))
    }

    /// The 84 activations before the classifier.
    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(images)));
        let x = self.pool.forward(relu(self.conv2.forward(x)));
        let x = relu(self.fc1.forward(x.flatten(1, 3)));
        relu(self.fc2.forward(x))
    }
}
