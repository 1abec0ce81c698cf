//! Models: ordinary Burn modules with one extra contract, [`Classifier`].
//!
//! Everything that trains, evaluates, selects or distils takes any `Classifier`, so a new
//! architecture is one new file implementing it.

mod convnet;

mod alexnet;
mod arch;
mod block_kernel;
mod conv;
mod conv_kernel;
mod dual;
mod lenet;
mod mlp;
mod norm;
mod resnet;
mod text;
mod text_attention;
mod vgg;

pub use alexnet::{AlexNet, AlexNetConfig};
pub use arch::{AnyNet, Arch};
pub use block_kernel::{
    AvgPool2Backend, NormReluPoolBackend, NormReluPoolBackwardBackend, block_norm_relu_pool,
    block_norm_relu_pool_backward,
};
pub use conv::{
    UNFOLD_MAX_ROWS, conv2d_unit_stride, conv2d_unit_stride_db, conv2d_unit_stride_dw,
    conv2d_unit_stride_dx, fold_patches, unfold_patches, unfolds,
};
pub use conv_kernel::{UnitConvBackend, conv_flops};
pub use convnet::{ConvBlock, ConvNet, ConvNetConfig, NormKind, PoolKind};
pub(crate) use dual::normalize;
pub use dual::{DualEncoder, DualEncoderConfig};
pub use lenet::{LeNet, LeNetConfig};
pub use mlp::{Mlp, MlpConfig};
pub use norm::{Norm2d, avg_pool_2x2, avg_pool_2x2_grad};
pub use resnet::{BasicBlock, ResNet, ResNetConfig, Shortcut};
pub use text::{TextConvNet, TextConvNetConfig};
pub use text_attention::{TextAttention, TextAttentionConfig};
pub use vgg::{Vgg, VggConfig, VggLayer};

use burn::module::Module;

use crate::data::Batch;
use burn::tensor::Tensor;

/// Draws every parameter of `model` that Burn has not drawn yet, now, in the module's field
/// order. Burn initialises a parameter lazily, when it is first read, from the device's
/// process-wide generator: a network built under a seed and read later (after another
/// network's draws, or on another thread) would otherwise get other weights than its seed
/// promises. The evaluation protocol calls it right after building each network.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// dev.seed(3);
/// let a = ConvNetConfig::new(2, 1, [8, 8]).with_width(4).init(&dev);
/// init_params_now(&a);
/// let _other = ConvNetConfig::new(2, 1, [8, 8]).with_width(4).init(&dev);
/// init_params_now(&_other);
/// dev.seed(3);
/// let b = ConvNetConfig::new(2, 1, [8, 8]).with_width(4).init(&dev);
/// init_params_now(&b);
/// let x = burn::tensor::Tensor::<4>::ones([1, 1, 8, 8], &dev);
/// assert_eq!(a.forward(x.clone()).to_data(), b.forward(x).to_data());
/// ```
pub fn init_params_now<M: Module>(model: &M) {
    struct Draw;
    impl burn::module::ModuleVisitor for Draw {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Draw);
}

/// A classifier: logits for a batch of its [`Classifier::Input`], and the penultimate
/// embedding. The input type ties a model to the sets it can train on: `fit` takes any
/// [`Examples`](crate::data::Examples) set whose `Input` is the model's.
///
/// # Shapes
/// - input: `[batch, channels, height, width]` for the image models (`Tensor<4>`),
///   `[batch, length, dims]` for [`TextConvNet`] (`Tensor<3>`)
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
    /// What a batch is fed as.
    type Input: Batch;
    /// Class logits.
    fn forward(&self, input: Self::Input) -> Tensor<2>;
    /// The embedding fed to the last linear layer.
    fn features(&self, input: Self::Input) -> Tensor<2>;

    /// Whether the prelude holds a compiled training loop for this model on an
    /// [`ImageSet`](crate::data::ImageSet) (true for [`ConvNet`]): [`fit`](crate::train::fit)
    /// then calls it, and a notebook cell that trains the model compiles none of the loop.
    /// Only the prelude's own models set it.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// assert!(ConvNet::PRECOMPILED_FIT && !Mlp::PRECOMPILED_FIT);
    /// ```
    #[doc(hidden)]
    const PRECOMPILED_FIT: bool = false;
}

/// A [`Classifier`] of images (`Tensor<4>` inputs): what the image-only parts (architectures
/// by name, distillation of images) take.
pub trait ImageClassifier: Classifier<Input = Tensor<4>> {}

impl<M: Classifier<Input = Tensor<4>>> ImageClassifier for M {}
