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

/// Configuration of [`AlexNet`] as in DatasetCondensation's `networks.py` (the CIFAR-sized
/// AlexNet): conv 5x5 (128), pool, conv 5x5 (192), pool, conv 3x3 (256, 192, 192), pool, then
/// one linear classifier. The first convolution pads by 4 for one-channel images (28 -> 32)
/// and by 2 for colour ones, as the reference.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let net = AlexNetConfig::new(10, 1, [28, 28]).init(&dev);
/// let x = burn::tensor::Tensor::<4>::zeros([1, 1, 28, 28], &dev);
/// assert_eq!(net.features(x).dims(), [1, 192 * 4 * 4]);
/// ```
#[derive(Config, Debug)]
pub struct AlexNetConfig {
    /// Number of classes.
    pub num_classes: usize,
    /// Input channels.
    pub channels: usize,
    /// Input height and width.
    pub image_size: [usize; 2],
}

impl AlexNetConfig {
    /// AlexNet sized for `data`.
    pub fn for_set<S: Examples<Input = Tensor<4>> + ?Sized>(data: &S) -> Self {
        let [c, h, w] = image_shape(data);
        Self::new(data.num_classes(), c, [h, w])
    }

    fn first_padding(&self) -> usize {
        if self.channels == 1 { 4 } else { 2 }
    }

    fn out_size(&self) -> Option<[usize; 2]> {
        let side =
            |len: usize| Some(out_len(len, 5, 1, self.first_padding())? / 8).filter(|&s| s > 0);
        Some([side(self.image_size[0])?, side(self.image_size[1])?])
    }

    /// Checks every field (the image must survive three 2x2 poolings).
    pub fn check(&self) -> Result<()> {
        const M: &str = "AlexNetConfig";
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
                format!(
                    "{:?} is too small for AlexNet (at least 8x8)",
                    self.image_size
                ),
            )
        })
    }

    /// Builds the network with fresh random weights on `device`.
    ///
    /// # Panics
    /// When [`AlexNetConfig::check`] fails.
    pub fn init(&self, device: &Device) -> AlexNet {
        if let Err(e) = self.check() {
            panic!("{e}");
        }
        let [h, w] = self.out_size().expect("checked");
        AlexNet {
            convs: vec![
                conv(self.channels, 128, 5, 1, self.first_padding(), true, device),
                conv(128, 192, 5, 1, 2, true, device),
                conv(192, 256, 3, 1, 1, true, device),
                conv(256, 192, 3, 1, 1, true, device),
                conv(192, 192, 3, 1, 1, true, device),
            ],
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc: LinearConfig::new(192 * h * w, self.num_classes).init(device),
        }
    }
}

/// The CIFAR-sized AlexNet of the reference; build it with [`AlexNetConfig`].
#[derive(Module, Debug)]
pub struct AlexNet {
    convs: Vec<Conv2d>,
    pool: MaxPool2d,
    fc: Linear,
}

impl Classifier for AlexNet {
    type Input = Tensor<4>;

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.features(images))
    }

    /// The flattened output of the last pooling (the reference's `embed`).
    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for (i, c) in self.convs.iter().enumerate() {
            x = relu(c.forward(x));
            // pools after the first, the second and the last convolution
            if i == 0 || i == 1 || i == 4 {
                x = self.pool.forward(x);
            }
        }
        x.flatten(1, 3)
    }
}
