use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, GroupNorm, GroupNormConfig, InstanceNorm, InstanceNormConfig,
    Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::Classifier;
use crate::data::{Examples, image_shape};
use crate::error::{Result, ensure, ensure_fits};

/// Normalisation after each convolution of a [`ConvNet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NormKind {
    /// Per-sample, per-channel normalisation with affine parameters
    /// (DatasetCondensation's default; `GroupNorm(C, C)` in its code).
    Instance,
    /// Batch normalisation.
    Batch,
    /// Group normalisation with 4 groups.
    Group,
    /// None.
    None,
}

/// Pooling after each block of a [`ConvNet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolKind {
    /// 2x2 average pooling (the default).
    Avg,
    /// 2x2 max pooling.
    Max,
    /// No pooling.
    None,
}

/// Configuration of the [`ConvNet`] of the DatasetCondensation family
/// (Zhao et al., ICLR 2021): `depth` blocks of conv 3x3 (`width` channels, padding 1),
/// normalisation, ReLU and pooling, then one linear layer.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let net = ConvNetConfig::new(10, 3, [32, 32]).with_depth(2).with_norm(NormKind::Batch).init(&device());
/// assert_eq!(net.feature_dim(), 128 * 8 * 8);
/// ```
#[derive(Config, Debug)]
pub struct ConvNetConfig {
    /// Number of classes.
    pub num_classes: usize,
    /// Input channels (1 grey, 3 colour).
    pub channels: usize,
    /// Input height and width.
    pub image_size: [usize; 2],
    /// Channels of every convolution.
    #[config(default = 128)]
    pub width: usize,
    /// Number of conv blocks (1 to 4 in the DC family).
    #[config(default = 3)]
    pub depth: usize,
    /// Normalisation after each convolution.
    #[config(default = "NormKind::Instance")]
    pub norm: NormKind,
    /// Pooling after each block.
    #[config(default = "PoolKind::Avg")]
    pub pool: PoolKind,
}

impl ConvNetConfig {
    /// The DC ConvNet sized for `data` (its channels, image size and classes).
    ///
    /// # Example
    /// ```
    /// # use dd_prelude::*;
    /// # let set = ImageSet::from_pixels("t", [1, 28, 28], vec![0.0; 784], vec![0], vec!["a".into()]).unwrap();
    /// let net = ConvNetConfig::for_set(&set).init(&device());
    /// ```
    pub fn for_set<S: Examples<Input = Tensor<4>> + ?Sized>(data: &S) -> Self {
        let [c, h, w] = image_shape(data);
        Self::new(data.num_classes(), c, [h, w])
    }

    /// Spatial size after the blocks.
    fn out_size(&self) -> [usize; 2] {
        let mut s = self.image_size;
        if self.pool != PoolKind::None {
            for _ in 0..self.depth {
                s = [s[0] / 2, s[1] / 2];
            }
        }
        s
    }

    /// Floating-point operations (multiply and add counted apart) of the convolutions and the
    /// linear layer for one image: `(forward, training step)`. A training step is the forward
    /// plus, for every layer, the weight gradient (same cost as its forward) and, for every
    /// layer but the first (whose input needs none), the input gradient. Normalisation, ReLU
    /// and pooling are left out (a few operations per activation); benchmarks divide these by
    /// the measured time for the FLOP rate the matrix products reach.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// let (fwd, train) = ConvNetConfig::new(10, 1, [28, 28]).with_depth(1).with_width(4).flops_per_image();
    /// // one 3x3 conv 1 -> 4 at 28x28, then a linear layer 4*14*14 -> 10
    /// assert_eq!(fwd, (2 * 4 * 9 * 28 * 28 + 2 * 784 * 10) as f64);
    /// assert_eq!(train, 2.0 * fwd + (2 * 784 * 10) as f64);
    /// ```
    pub fn flops_per_image(&self) -> (f64, f64) {
        let [mut h, mut w] = self.image_size;
        let (mut forward, mut input_grads) = (0.0, 0.0);
        for i in 0..self.depth {
            let cin = if i == 0 { self.channels } else { self.width };
            let layer = 2.0 * (self.width * cin * 9 * h * w) as f64;
            forward += layer;
            if i > 0 {
                input_grads += layer;
            }
            if self.pool != PoolKind::None {
                (h, w) = (h / 2, w / 2);
            }
        }
        let linear = 2.0 * (self.width * h * w * self.num_classes) as f64;
        forward += linear;
        input_grads += linear;
        (forward, 2.0 * forward + input_grads)
    }

    /// Checks every field: at least one class, channel, width and block; images large enough
    /// for the blocks' pooling; weights and one image's activations that fit in memory.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// assert!(ConvNetConfig::new(10, 1, [28, 28]).check().is_ok());
    /// assert!(ConvNetConfig::new(10, 1, [4, 4]).check().is_err()); // depth 3 pools to nothing
    /// assert!(ConvNetConfig::new(10, 1, [1 << 30, 1 << 30]).check().is_err());
    /// ```
    pub fn check(&self) -> Result<()> {
        const M: &str = "ConvNetConfig";
        for (ok, field) in [
            (self.num_classes >= 1, "num_classes"),
            (self.channels >= 1, "channels"),
            (self.width >= 1, "width"),
            (self.depth >= 1, "depth"),
        ] {
            ensure(ok, M, field, || "must be at least 1".into())?;
        }
        let [h, w] = self.image_size;
        let least = if self.pool == PoolKind::None {
            1
        } else {
            1usize << self.depth.min(62)
        };
        ensure(
            self.depth <= 16 && h >= least && w >= least,
            M,
            "image_size",
            || {
                format!(
                    "{h}x{w} is too small for {} blocks that each halve it (at least {least}x{least})",
                    self.depth
                )
            },
        )?;
        ensure_fits(M, "image_size", &[self.width.max(self.channels), h, w])?;
        let [oh, ow] = self.out_size();
        ensure_fits(M, "image_size", &[self.width, oh, ow, self.num_classes])?;
        ensure_fits(M, "width", &[self.width, self.width, 9, self.depth])
    }

    /// [`ConvNetConfig::init`] after [`ConvNetConfig::check`]: an error instead of a panic (or
    /// an allocation that aborts) for a config that cannot be built.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// assert!(ConvNetConfig::new(10, 1, [2, 2]).try_init(&device()).is_err());
    /// ```
    pub fn try_init(&self, device: &Device) -> Result<ConvNet> {
        self.check()?;
        Ok(self.init(device))
    }

    /// Builds the network with fresh random weights on `device`.
    ///
    /// # Panics
    /// When [`ConvNetConfig::check`] refuses the config ([`ConvNetConfig::try_init`] returns
    /// the error instead).
    pub fn init(&self, device: &Device) -> ConvNet {
        if let Err(e) = self.check() {
            panic!("{e}");
        }
        let blocks = (0..self.depth)
            .map(|i| {
                let cin = if i == 0 { self.channels } else { self.width };
                ConvBlock::new(cin, self.width, self.norm, self.pool, device)
            })
            .collect();
        let [h, w] = self.out_size();
        let feature_dim = self.width * h * w;
        ConvNet {
            blocks,
            classifier: LinearConfig::new(feature_dim, self.num_classes).init(device),
            feature_dim,
        }
    }
}

/// One conv, norm, ReLU, pool block.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    instance: Option<InstanceNorm>,
    batch: Option<BatchNorm>,
    group: Option<GroupNorm>,
    avg: Option<AvgPool2d>,
    max: Option<MaxPool2d>,
}

impl ConvBlock {
    fn new(cin: usize, cout: usize, norm: NormKind, pool: PoolKind, device: &Device) -> Self {
        let conv = Conv2dConfig::new([cin, cout], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(device);
        ConvBlock {
            conv,
            instance: (norm == NormKind::Instance)
                .then(|| InstanceNormConfig::new(cout).init(device)),
            batch: (norm == NormKind::Batch).then(|| BatchNormConfig::new(cout).init(device)),
            group: (norm == NormKind::Group).then(|| GroupNormConfig::new(4, cout).init(device)),
            avg: (pool == PoolKind::Avg).then(|| AvgPool2dConfig::new([2, 2]).init()),
            max: (pool == PoolKind::Max).then(|| MaxPool2dConfig::new([2, 2]).init()),
        }
    }

    /// conv -> norm -> ReLU -> pool.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        // stride 1, padding 1 (see `new`); unfolded when the input has few channels
        let bias = self.conv.bias.as_ref().map(|b| b.val());
        let mut x = super::conv2d_unit_stride(x, self.conv.weight.val(), bias, [1, 1]);
        if let Some(n) = &self.instance
            && let (Some(gamma), Some(beta)) = (&n.gamma, &n.beta)
            && self.max.is_none()
        {
            // instance norm, ReLU and average pooling (or none) as one fused kernel
            return super::block_norm_relu_pool(
                x,
                gamma.val(),
                beta.val(),
                n.epsilon,
                true,
                self.avg.is_some(),
            );
        }
        if let Some(n) = &self.instance {
            x = n.forward(x);
        }
        if let Some(n) = &self.batch {
            x = n.forward(x);
        }
        if let Some(n) = &self.group {
            x = n.forward(x);
        }
        x = relu(x);
        if self.avg.is_some() {
            // the field marks the pooling kind (and keeps saved records' layout)
            x = super::avg_pool_2x2(x);
        }
        if let Some(p) = &self.max {
            x = p.forward(x);
        }
        x
    }
}

/// The ConvNet of DatasetCondensation; build it with [`ConvNetConfig`].
#[derive(Module, Debug)]
pub struct ConvNet {
    blocks: Vec<ConvBlock>,
    classifier: Linear,
    #[module(skip)]
    feature_dim: usize,
}

impl ConvNet {
    /// Size of the embedding returned by [`Classifier::features`].
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }
}

impl Classifier for ConvNet {
    type Input = Tensor<4>;
    const PRECOMPILED_FIT: bool = true;

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.classifier.forward(self.features(images))
    }

    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.blocks.iter().fold(images, |x, b| b.forward(x));
        x.flatten(1, 3)
    }
}
