use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::{Classifier, ConvNet, ConvNetConfig};

/// Configuration of a [`DualEncoder`]: a ConvNet image encoder with a linear projection, and a
/// linear projection of precomputed caption embeddings (a frozen sentence encoder's, as seed
/// 001's text side), both into a shared space of `embed_dim`, L2-normalised; the logits of a
/// batch are `scale x` the cosine similarities of every image with every caption.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let net = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [8, 8]).with_width(4).with_depth(1), 6)
///     .with_embed_dim(5)
///     .init(&dev);
/// let x = burn::tensor::Tensor::<4>::zeros([3, 1, 8, 8], &dev);
/// let t = burn::tensor::Tensor::<2>::ones([3, 6], &dev);
/// assert_eq!(net.forward((x.clone(), t.clone())).dims(), [3, 3]);
/// assert_eq!(net.features((x, t)).dims(), [3, 5]);
/// ```
#[derive(Config, Debug)]
pub struct DualEncoderConfig {
    /// The image encoder (its classifier head is unused; its features are projected).
    pub image: ConvNetConfig,
    /// Width of the caption embeddings.
    pub text_dim: usize,
    /// Width of the shared embedding space.
    #[config(default = 64)]
    pub embed_dim: usize,
    /// Scale of the cosine similarities (CLIP's initial `1 / 0.07`).
    #[config(default = 14.285714285714286)]
    pub scale: f64,
}

impl DualEncoderConfig {
    /// Builds the encoder with Burn's default initialisation.
    pub fn init(&self, device: &Device) -> DualEncoder {
        let image = self.image.init(device);
        let feature_dim = image.feature_dim();
        DualEncoder {
            image_proj: LinearConfig::new(feature_dim, self.embed_dim).init(device),
            text_proj: LinearConfig::new(self.text_dim, self.embed_dim).init(device),
            image,
            scale: self.scale,
        }
    }
}

/// An image encoder and a caption projection into one embedding space; build it with
/// [`DualEncoderConfig`]. Its input is an `(images, caption embeddings)` batch; its logits are
/// the `[n, n]` scaled cosine similarities (row `i`: image `i` against every caption).
#[derive(Module, Debug)]
pub struct DualEncoder {
    image: ConvNet,
    image_proj: Linear,
    text_proj: Linear,
    #[module(skip)]
    scale: f64,
}

/// Rows scaled to unit length.
pub(crate) fn normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).add_scalar(1e-12).sqrt();
    x.div(norm)
}

impl DualEncoder {
    /// The normalised caption embeddings in the shared space, `[n, embed_dim]`.
    pub fn embed_text(&self, text: Tensor<2>) -> Tensor<2> {
        normalize(self.text_proj.forward(text))
    }
}

impl Classifier for DualEncoder {
    type Input = (Tensor<4>, Tensor<2>);

    fn forward(&self, (images, text): (Tensor<4>, Tensor<2>)) -> Tensor<2> {
        let i = self.features((images, text.clone()));
        let t = self.embed_text(text);
        i.matmul(t.transpose()).mul_scalar(self.scale)
    }

    /// The normalised image embeddings in the shared space, `[n, embed_dim]`.
    fn features(&self, (images, _text): (Tensor<4>, Tensor<2>)) -> Tensor<2> {
        normalize(self.image_proj.forward(self.image.features(images)))
    }
}
