use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, GroupNorm, GroupNormConfig, InstanceNorm, InstanceNormConfig,
    PaddingConfig2d,
};
use burn::tensor::{Device, Tensor};

use super::NormKind;

/// The normalisation layer a [`NormKind`] names, for the models that let it vary
/// (VGG, ResNet). Instance norm has affine parameters, as DatasetCondensation's
/// `GroupNorm(C, C, affine=True)`.
///
/// # Example
/// ```
/// use dd_prelude::models::Norm2d;
/// use dd_prelude::*;
/// let dev = device();
/// let norm = Norm2d::new(NormKind::Batch, 4, &dev);
/// let x = burn::tensor::Tensor::<4>::ones([2, 4, 3, 3], &dev);
/// assert_eq!(norm.forward(x).dims(), [2, 4, 3, 3]);
/// ```
#[derive(Module, Debug)]
pub struct Norm2d {
    instance: Option<InstanceNorm>,
    batch: Option<BatchNorm>,
    group: Option<GroupNorm>,
}

impl Norm2d {
    /// A `kind` normalisation over `channels` channels (group norm: 4 groups, or 1 when
    /// `channels` is not divisible by 4).
    pub fn new(kind: NormKind, channels: usize, device: &Device) -> Self {
        let groups = if channels.is_multiple_of(4) { 4 } else { 1 };
        Norm2d {
            instance: (kind == NormKind::Instance)
                .then(|| InstanceNormConfig::new(channels).init(device)),
            batch: (kind == NormKind::Batch).then(|| BatchNormConfig::new(channels).init(device)),
            group: (kind == NormKind::Group)
                .then(|| GroupNormConfig::new(groups, channels).init(device)),
        }
    }

    /// Normalises `x` `[batch, channels, height, width]` (identity for [`NormKind::None`]).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if let Some(n) = &self.instance {
            return n.forward(x);
        }
        if let Some(n) = &self.batch {
            return n.forward(x);
        }
        if let Some(n) = &self.group {
            return n.forward(x);
        }
        x
    }
}

/// A `k x k` convolution with symmetric `padding` and `stride`.
pub(crate) fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    padding: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_bias(bias)
        .init(device)
}

/// Output size of a convolution or pooling along one axis (`None` when nothing is left).
pub(crate) fn out_len(len: usize, k: usize, stride: usize, padding: usize) -> Option<usize> {
    let padded = len + 2 * padding;
    (padded >= k).then(|| (padded - k) / stride + 1)
}
