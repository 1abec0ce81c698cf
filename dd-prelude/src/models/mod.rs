//! Models.
mod convnet;
use burn::module::Module;
use burn::tensor::Tensor;
pub use convnet::{ConvBlock, ConvNet, ConvNetConfig, NormKind, PoolKind};
/// An image classifier.
pub trait Classifier: Module + 'static {
    /// Class logits.
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;
    /// The embedding fed to the last linear layer.
    fn features(&self, images: Tensor<4>) -> Tensor<2>;
}
