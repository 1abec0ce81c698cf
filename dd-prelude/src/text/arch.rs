//! [`TextConvNet`] in the meta-gradient engine: [`TextConvLayer`] (one convolution per kernel
//! height across the whole vector width, ReLU, max over time, the branches concatenated) and
//! [`text_arch`], so SLDD and DM unroll and differentiate the same network that `fit` trains.

use std::sync::Arc;

use burn::tensor::{Device, Tensor};

use crate::distill::engine::layers::{
    Act, Cache, Conv2dLayer, LayerParams, LinearLayer, MaxPoolTimeLayer, MetaLayer, ParamSpec,
    ReluLayer, cached,
};
use crate::distill::engine::{MetaArch, Params};
use crate::error::{Error, Result};
use crate::models::{TextConvNet, TextConvNetConfig};

/// Kim's parallel convolutions over an embedded sentence `[1, length, dims]`: for each kernel
/// height `k`, `filters` convolutions of shape `k x dims` (no padding), ReLU, then the maximum
/// over time; the branches' maxima concatenated as rows `[filters * kernels.len()]`. Each
/// branch is the engine's own [`Conv2dLayer`], [`ReluLayer`] and [`MaxPoolTimeLayer`]; the
/// parameters are those of [`TextConvNet`]'s convolutions, in the same order (weight, bias per
/// height), initialised as Burn's `Conv2d`.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::MetaLayer;
/// use dd_prelude::text::TextConvLayer;
/// let layer = TextConvLayer { dims: 6, kernels: vec![2, 3], filters: 4 };
/// assert_eq!(layer.output_shape(&[1, 10, 6])?, vec![8]);
/// assert!(layer.output_shape(&[1, 10, 5]).is_err());
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextConvLayer {
    /// Width of a word vector.
    pub dims: usize,
    /// Kernel heights, in words.
    pub kernels: Vec<usize>,
    /// Filters per kernel height.
    pub filters: usize,
}

impl TextConvLayer {
    /// Branch `i`: the convolution of kernel height `kernels[i]` across the vector width, ReLU
    /// and max over time, as the engine's own layers.
    fn branch(&self, i: usize) -> [Box<dyn MetaLayer>; 3] {
        let conv = Conv2dLayer::new(1, self.filters, [self.kernels[i], self.dims], [0, 0]);
        [
            Box::new(conv),
            Box::new(ReluLayer),
            Box::new(MaxPoolTimeLayer),
        ]
    }
}

/// Each branch has the convolution's two tensors (weight, bias).
const PER_BRANCH: usize = 2;

impl MetaLayer for TextConvLayer {
    fn params(&self) -> Vec<ParamSpec> {
        (0..self.kernels.len())
            .flat_map(|i| self.branch(i)[0].params())
            .collect()
    }

    fn init(&self, device: &Device) -> Vec<Tensor<1>> {
        (0..self.kernels.len())
            .flat_map(|i| self.branch(i)[0].init(device))
            .collect()
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        match input {
            [1, len, d] if *d == self.dims && self.kernels.iter().all(|&k| k >= 1 && k <= *len) => {
                Ok(vec![self.filters * self.kernels.len()])
            }
            _ => Err(Error::ShapeMismatch {
                context: "MetaArch: the input of TextConvLayer".into(),
                expected: format!(
                    "an embedded sentence [1, length, {}] with length >= every kernel height {:?}",
                    self.dims, self.kernels
                ),
                got: format!("{input:?}"),
            }),
        }
    }

    fn forward(&self, params: LayerParams<'_>, x: Act) -> (Act, Cache) {
        let n = x.dims()[0];
        let mut pooled = Vec::with_capacity(self.kernels.len());
        let mut caches: Vec<[Cache; 3]> = Vec::with_capacity(self.kernels.len());
        for i in 0..self.kernels.len() {
            let [conv, relu, pool] = self.branch(i);
            let (y, c0) = conv.forward(params.slice(PER_BRANCH * i, PER_BRANCH), x.clone());
            let (y, c1) = relu.forward(params.slice(0, 0), y);
            let (y, c2) = pool.forward(params.slice(0, 0), y);
            pooled.push(y.into_map().reshape([n, self.filters]));
            caches.push([c0, c1, c2]);
        }
        (Act::Flat(Tensor::cat(pooled, 1)), Arc::new(caches))
    }

    fn backward(
        &self,
        params: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        need_dx: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>) {
        let dy = dy.into_flat();
        let n = dy.dims()[0];
        let caches = cached::<Vec<[Cache; 3]>>(cache);
        let mut dx: Option<Tensor<4>> = None;
        let mut grads = Vec::with_capacity(PER_BRANCH * self.kernels.len());
        for (i, [c0, c1, c2]) in caches.iter().enumerate() {
            let [conv, relu, pool] = self.branch(i);
            let d = dy
                .clone()
                .narrow(1, i * self.filters, self.filters)
                .reshape([n, self.filters, 1, 1]);
            let none = params.slice(0, 0);
            let (d, _) = pool.backward(none, c2, Act::Map(d), true);
            let (d, _) = relu.backward(none, c1, d.expect("max over time gives dx"), true);
            let own = params.slice(PER_BRANCH * i, PER_BRANCH);
            let (dxi, g) = conv.backward(own, c0, d.expect("ReLU gives dx"), need_dx);
            dx = match (dx, dxi.map(Act::into_map)) {
                (Some(a), Some(b)) => Some(a.add(b)),
                (a, b) => a.or(b),
            };
            grads.extend(g);
        }
        (dx.map(Act::Map), grads)
    }
}

/// [`TextConvNet`] of `config` as an engine network over `[1, length, dims]` inputs: a
/// [`TextConvLayer`] then the linear classifier. Its parameters convert both ways with a
/// Burn `TextConvNet` ([`MetaArch::params_from`], [`text_convnet`]).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::text::text_arch;
/// let cfg = TextConvNetConfig::new(2, 12, 8).with_filters(4);
/// let arch = text_arch(&cfg)?;
/// assert_eq!((arch.feature_dim(), arch.classes()), (12, 2));
/// let net = cfg.init(&device());
/// assert_eq!(arch.params_from(&net)?.len(), 8);
/// # Ok::<(), Error>(())
/// ```
pub fn text_arch(config: &TextConvNetConfig) -> Result<MetaArch> {
    config.check()?;
    let features = config.filters * config.kernels.len();
    MetaArch::new(
        [1, config.length, config.dims],
        vec![
            Arc::new(TextConvLayer {
                dims: config.dims,
                kernels: config.kernels.clone(),
                filters: config.filters,
            }),
            Arc::new(LinearLayer::new(features, config.num_classes)),
        ],
    )
}

/// A Burn [`TextConvNet`] of `config` holding `params` of [`text_arch`] (for `accuracy`,
/// `fit`, the selectors).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::text::{text_arch, text_convnet};
/// let dev = device();
/// let cfg = TextConvNetConfig::new(2, 6, 4).with_filters(3);
/// let arch = text_arch(&cfg)?;
/// let net = text_convnet(&cfg, &arch.init(&dev), &dev)?;
/// assert_eq!(net.forward(burn::tensor::Tensor::zeros([1, 6, 4], &dev)).dims(), [1, 2]);
/// # Ok::<(), Error>(())
/// ```
pub fn text_convnet(
    config: &TextConvNetConfig,
    params: &Params,
    device: &Device,
) -> Result<TextConvNet> {
    text_arch(config)?.load_into(config.init(device), params)
}
