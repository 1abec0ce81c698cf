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

/// 2x2 average pooling with stride 2, as `AvgPool2d([2, 2])` and PyTorch's `AvgPool2d(2)` (an odd
/// last row or column is dropped). On the CPU backend in `f32`/`f64` it is a kernel over
/// planes ([`AvgPool2Backend`](super::AvgPool2Backend), whose backward is
/// [`avg_pool_2x2_grad`]); elsewhere two reshaped sums, whose gradient is a broadcast. Used by
/// [`ConvNet`] and the meta-gradient engine's `AvgPool2Op`.
///
/// [`ConvNet`]: super::ConvNet
///
/// # Example
/// ```
/// use dd_prelude::models::avg_pool_2x2;
/// let dev = dd_prelude::device();
/// let x = burn::tensor::Tensor::<4>::from_floats([[[[1.0, 2.0, 9.0], [3.0, 4.0, 9.0], [9.0, 9.0, 9.0]]]], &dev);
/// assert_eq!(avg_pool_2x2(x).into_data().to_vec::<f32>().unwrap(), vec![2.5]);
/// ```
pub fn avg_pool_2x2(x: Tensor<4>) -> Tensor<4> {
    if super::conv_kernel::cpu_kernels(&x) {
        return Tensor::from_dispatch(
            <burn::backend::Dispatch as super::AvgPool2Backend>::avg_pool2(x.into_dispatch()),
        );
    }
    let [n, c, h, w] = x.dims();
    let (ho, wo) = (h / 2, w / 2);
    let x = if h != 2 * ho || w != 2 * wo {
        x.slice([0..n, 0..c, 0..2 * ho, 0..2 * wo])
    } else {
        x
    };
    x.reshape([n, c, ho, 2, 2 * wo])
        .sum_dim(3)
        .reshape([n, c, ho, wo, 2])
        .sum_dim(4)
        .reshape([n, c, ho, wo])
        .mul_scalar(0.25)
}

/// The input gradient of [`avg_pool_2x2`] for an input of `input_hw`: each pooled gradient of
/// `dz` `[n, c, h / 2, w / 2]` spread over its 2x2 window, times 1/4 (zero on a dropped odd
/// row or column). A CPU kernel on the `flex` backend (differentiable again: its backward is
/// the pooling), a broadcast elsewhere.
///
/// # Example
/// ```
/// use dd_prelude::models::avg_pool_2x2_grad;
/// let dev = dd_prelude::device();
/// let dz = burn::tensor::Tensor::<4>::ones([1, 1, 1, 1], &dev);
/// assert_eq!(avg_pool_2x2_grad(dz, [2, 3]).into_data().to_vec::<f32>().unwrap(), vec![0.25, 0.25, 0.0, 0.25, 0.25, 0.0]);
/// ```
pub fn avg_pool_2x2_grad(dz: Tensor<4>, input_hw: [usize; 2]) -> Tensor<4> {
    if super::conv_kernel::cpu_kernels(&dz) {
        return Tensor::from_dispatch(
            <burn::backend::Dispatch as super::AvgPool2Backend>::avg_pool2_grad(
                dz.into_dispatch(),
                input_hw,
            ),
        );
    }
    let [n, c, h, w] = dz.dims();
    let up = dz
        .reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .reshape([n, c, 2 * h, 2 * w])
        .mul_scalar(0.25);
    let [hi, wi] = input_hw;
    let pads = [(0, hi - 2 * h), (0, wi - 2 * w)];
    if pads[0].1 + pads[1].1 > 0 {
        up.pad(pads, burn::tensor::ops::PadMode::Constant(0.0))
    } else {
        up
    }
}
