use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::norm::{Norm2d, conv, out_len};
use super::{Classifier, NormKind};
use crate::data::{Examples, image_shape};
use crate::error::{Error, Result, ensure};

/// VGG-11's layers in units of `width`: a number is a 3x3 convolution of that many widths, 0 a
/// 2x2 max-pool (`[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M]` at width 64).
const VGG11: [usize; 13] = [1, 0, 2, 0, 4, 4, 0, 8, 8, 0, 8, 8, 0];

/// Configuration of [`Vgg`] (VGG-11) as in DatasetCondensation's `networks.py`: eight 3x3
/// convolutions, each followed by a normalisation and ReLU, five max-pools, then one linear
/// classifier. The reference's `VGG11` uses instance norm (the default here) and `VGG11BN`
/// batch norm. The first convolution pads by 3 for one-channel images (28 -> 32) and by 1 for
/// colour ones, as the reference; the image must be at least 32 pixels after that padding.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let net = VggConfig::new(10, 1, [28, 28]).with_width(8).init(&dev);
/// let x = burn::tensor::Tensor::<4>::zeros([2, 1, 28, 28], &dev);
/// assert_eq!(net.forward(x.clone()).dims(), [2, 10]);
/// assert_eq!(net.features(x).dims(), [2, 8 * 8]);
/// ```
#[derive(Config, Debug)]
pub struct VggConfig {
    /// Number of classes.
    pub num_classes: usize,
    /// Input channels.
    pub channels: usize,
    /// Input height and width.
    pub image_size: [usize; 2],
    /// Channels of the first convolution (64 in VGG-11; later ones are 2x, 4x and 8x).
    #[config(default = 64)]
    pub width: usize,
    /// Normalisation after each convolution.
    #[config(default = "NormKind::Instance")]
    pub norm: NormKind,
}

impl VggConfig {
    /// VGG-11 sized for `data`.
    pub fn for_set<S: Examples<Input = Tensor<4>> + ?Sized>(data: &S) -> Self {
        let [c, h, w] = image_shape(data);
        Self::new(data.num_classes(), c, [h, w])
    }

    fn first_padding(&self) -> usize {
        if self.channels == 1 { 3 } else { 1 }
    }

    fn out_size(&self) -> Option<[usize; 2]> {
        let side =
            |len: usize| Some(out_len(len, 3, 1, self.first_padding())? / 32).filter(|&s| s > 0);
        Some([side(self.image_size[0])?, side(self.image_size[1])?])
    }

    /// Checks every field (the image must survive five 2x2 poolings).
    pub fn check(&self) -> Result<()> {
        const M: &str = "VggConfig";
        ensure(self.num_classes > 0, M, "num_classes", || {
            "must be at least 1".into()
        })?;
        ensure(self.channels > 0, M, "channels", || {
            "must be at least 1".into()
        })?;
        ensure(self.width > 0, M, "width", || "must be at least 1".into())?;
        self.out_size().map(|_| ()).ok_or_else(|| {
            Error::config(
                M,
                "image_size",
                format!("{:?} is too small for VGG-11 (at least 28x28 with one channel, 32x32 with more)", self.image_size),
            )
        })
    }

    /// Builds the network with fresh random weights on `device`.
    ///
    /// # Panics
    /// When [`VggConfig::check`] fails.
    pub fn init(&self, device: &Device) -> Vgg {
        if let Err(e) = self.check() {
            panic!("{e}");
        }
        let [h, w] = self.out_size().expect("checked");
        let mut layers = Vec::new();
        let mut cin = self.channels;
        for (i, &units) in VGG11.iter().enumerate() {
            if units == 0 {
                continue;
            }
            let cout = units * self.width;
            let padding = if i == 0 { self.first_padding() } else { 1 };
            let pool = VGG11.get(i + 1) == Some(&0);
            layers.push(VggLayer {
                conv: conv(cin, cout, 3, 1, padding, true, device),
                norm: Norm2d::new(self.norm, cout, device),
                pool,
            });
            cin = cout;
        }
        Vgg {
            layers,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            classifier: LinearConfig::new(cin * h * w, self.num_classes).init(device),
        }
    }
}

/// A convolution, its normalisation and ReLU, and whether a max-pool follows.
#[derive(Module, Debug)]
pub struct VggLayer {
    conv: Conv2d,
    norm: Norm2d,
    #[module(skip)]
    pool: bool,
}

/// VGG-11 of the reference; build it with [`VggConfig`].
#[derive(Module, Debug)]
pub struct Vgg {
    layers: Vec<VggLayer>,
    pool: MaxPool2d,
    classifier: Linear,
}

impl Classifier for Vgg {
    type Input = Tensor<4>;

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(self.features(images))
    }

    /// The flattened output of the last pooling (the reference's `embed`).
    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for layer in &self.layers {
            x = relu(layer.norm.forward(layer.conv.forward(x)));
            if layer.pool {
                x = self.pool.forward(x);
            }
        }
        x.flatten(1, 3)
    }
}
