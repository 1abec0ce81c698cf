//! Models: ordinary Burn modules with one extra contract, [`Classifier`].
//!
//! Everything that trains, evaluates, selects or distils takes any `Classifier`, so a new
//! architecture is one new file implementing it.

mod convnet;

mod alexnet;
mod arch;
mod lenet;
mod mlp;
mod norm;
mod resnet;
mod vgg;

pub use alexnet::{AlexNet, AlexNetConfig};
pub use arch::{AnyNet, Arch};
pub use convnet::{ConvBlock, ConvNet, ConvNetConfig, NormKind, PoolKind};
pub use lenet::{LeNet, LeNetConfig};
pub use mlp::{Mlp, MlpConfig};
pub use norm::Norm2d;
pub use resnet::{BasicBlock, ResNet, ResNetConfig, Shortcut};
pub use vgg::{Vgg, VggConfig, VggLayer};

use burn::module::Module;
use burn::tensor::Tensor;

/// An image classifier: logits for a batch, and the penultimate embedding.
///
/// # Shapes
/// - input: `[batch, channels, height, width]`
/// - `forward`: `[batch, classes]`
/// - `features`: `[batch, feature_dim]`
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let net = ConvNetConfig::new(10, 1, [28, 28]).with_width(8).init(&dev);
/// let x = burn::tensor::Tensor::<4>::zeros([2, 1, 28, 28], &dev);
/// assert_eq!(net.forward(x.clone()).dims(), [2, 10]);
/// assert_eq!(net.features(x).dims(), [2, 8 * 3 * 3]);
/// ```
pub trait Classifier: Module + 'static {
    /// Class logits.
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;
    /// The embedding fed to the last linear layer.
    fn features(&self, images: Tensor<4>) -> Tensor<2>;
}
