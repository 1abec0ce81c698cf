use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::norm::{Norm2d, conv};
use super::{Classifier, NormKind};
use crate::data::{Examples, image_shape};
use crate::error::{Result, ensure};

/// Configuration of [`ResNet`] with basic blocks: ResNet-18 by default, with the CIFAR stem of
/// DatasetCondensation's `networks.py` (and kuangliu/pytorch-cifar): one 3x3 convolution with
/// stride 1 and no max-pool, four stages of `blocks` basic blocks with `width`, 2x, 4x and 8x
/// channels (strides 1, 2, 2, 2), global average pooling, one linear classifier. Batch norm by
/// default (the reference's `ResNet18BN`; its `ResNet18` uses instance norm).
///
/// The reference pools the last 4x4 map with a 4x4 average; a global average is the same for
/// 32x32 and 28x28 inputs and keeps any input size working.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let net = ResNetConfig::new(10, 3, [32, 32]).with_width(8).init(&dev);
/// let x = burn::tensor::Tensor::<4>::zeros([2, 3, 32, 32], &dev);
/// assert_eq!(net.forward(x.clone()).dims(), [2, 10]);
/// assert_eq!(net.features(x).dims(), [2, 8 * 8]);
/// ```
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Number of classes.
    pub num_classes: usize,
    /// Input channels.
    pub channels: usize,
    /// Input height and width.
    pub image_size: [usize; 2],
    /// Basic blocks per stage (`[2, 2, 2, 2]` = ResNet-18, `[3, 4, 6, 3]` = ResNet-34).
    #[config(default = "[2, 2, 2, 2]")]
    pub blocks: [usize; 4],
    /// Channels of the stem and the first stage (64 in ResNet-18).
    #[config(default = 64)]
    pub width: usize,
    /// Normalisation after each convolution.
    #[config(default = "NormKind::Batch")]
    pub norm: NormKind,
}

impl ResNetConfig {
    /// ResNet-18 sized for `data`.
    pub fn for_set<S: Examples<Input = Tensor<4>> + ?Sized>(data: &S) -> Self {
        let [c, h, w] = image_shape(data);
        Self::new(data.num_classes(), c, [h, w])
    }

    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "ResNetConfig";
        ensure(self.num_classes > 0, M, "num_classes", || {
            "must be at least 1".into()
        })?;
        ensure(self.channels > 0, M, "channels", || {
            "must be at least 1".into()
        })?;
        ensure(self.width > 0, M, "width", || "must be at least 1".into())?;
        ensure(
            self.image_size[0] > 0 && self.image_size[1] > 0,
            M,
            "image_size",
            || format!("must be positive, got {:?}", self.image_size),
        )?;
        ensure(self.blocks.iter().all(|&b| b > 0), M, "blocks", || {
            format!(
                "every stage needs at least one block, got {:?}",
                self.blocks
            )
        })
    }

    /// Builds the network with fresh random weights on `device`.
    ///
    /// # Panics
    /// When [`ResNetConfig::check`] fails.
    pub fn init(&self, device: &Device) -> ResNet {
        if let Err(e) = self.check() {
            panic!("{e}");
        }
        let mut blocks = Vec::new();
        let mut cin = self.width;
        for (stage, &count) in self.blocks.iter().enumerate() {
            let cout = self.width << stage;
            for b in 0..count {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(cin, cout, stride, self.norm, device));
                cin = cout;
            }
        }
        ResNet {
            stem: conv(self.channels, self.width, 3, 1, 1, false, device),
            stem_norm: Norm2d::new(self.norm, self.width, device),
            blocks,
            classifier: LinearConfig::new(cin, self.num_classes).init(device),
        }
    }
}

/// Two 3x3 convolutions with a residual connection (a 1x1 projection when the shape changes).
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    norm1: Norm2d,
    conv2: Conv2d,
    norm2: Norm2d,
    shortcut: Option<Shortcut>,
}

/// The projection of a [`BasicBlock`]'s input when its stride or channels change.
#[derive(Module, Debug)]
pub struct Shortcut {
    conv: Conv2d,
    norm: Norm2d,
}

impl BasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, norm: NormKind, device: &Device) -> Self {
        BasicBlock {
            conv1: conv(cin, cout, 3, stride, 1, false, device),
            norm1: Norm2d::new(norm, cout, device),
            conv2: conv(cout, cout, 3, 1, 1, false, device),
            norm2: Norm2d::new(norm, cout, device),
            shortcut: (stride != 1 || cin != cout).then(|| Shortcut {
                conv: conv(cin, cout, 1, stride, 0, false, device),
                norm: Norm2d::new(norm, cout, device),
            }),
        }
    }

    /// `relu(norm(conv(relu(norm(conv(x))))) + shortcut(x))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out = relu(self.norm1.forward(self.conv1.forward(x.clone())));
        let out = self.norm2.forward(self.conv2.forward(out));
        let skip = match &self.shortcut {
            Some(s) => s.norm.forward(s.conv.forward(x)),
            None => x,
        };
        relu(out + skip)
    }
}

/// ResNet with the CIFAR stem; build it with [`ResNetConfig`].
#[derive(Module, Debug)]
pub struct ResNet {
    stem: Conv2d,
    stem_norm: Norm2d,
    blocks: Vec<BasicBlock>,
    classifier: Linear,
}

impl Classifier for ResNet {
    type Input = Tensor<4>;

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(self.features(images))
    }

    /// The globally average-pooled output of the last stage (`8 * width` values).
    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = relu(self.stem_norm.forward(self.stem.forward(images)));
        let x = self.blocks.iter().fold(x, |x, b| b.forward(x));
        x.mean_dims(&[2, 3]).flatten(1, 3)
    }
}
