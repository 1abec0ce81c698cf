//! The layers of a [`MetaArch`](super::MetaArch): the open [`MetaLayer`] trait and the
//! built-in layers, each a thin wrapper of an op of [`super::ops`].
//!
//! A layer declares its parameters ([`MetaLayer::params`], [`MetaLayer::init`]), the shape it
//! maps to ([`MetaLayer::output_shape`]), and its forward and explicit backward
//! ([`MetaLayer::forward`], [`MetaLayer::backward`]) in ordinary Burn tensor ops, so that the
//! gradient it computes is itself differentiable. A layer written outside the crate goes into
//! [`MetaArch::new`](super::MetaArch::new) like a built-in one.
//!
//! # Example: a layer of one's own
//! ```
//! use std::sync::Arc;
//! use burn::tensor::{Device, Tensor};
//! use dd_prelude::distill::engine::layers::{
//!     Act, Cache, FlattenLayer, LayerParams, LinearLayer, MetaLayer, cached,
//! };
//! use dd_prelude::distill::engine::MetaArch;
//!
//! /// `y = x^2`, elementwise.
//! #[derive(Debug)]
//! struct Square;
//!
//! impl MetaLayer for Square {
//!     fn output_shape(&self, input: &[usize]) -> dd_prelude::Result<Vec<usize>> {
//!         Ok(input.to_vec())
//!     }
//!     fn forward(&self, _: LayerParams<'_>, x: Act) -> (Act, Cache) {
//!         let x = x.into_flat();
//!         (Act::Flat(x.clone().square()), Arc::new(x))
//!     }
//!     fn backward(&self, _: LayerParams<'_>, cache: &Cache, dy: Act, _: bool) -> (Option<Act>, Vec<Tensor<1>>) {
//!         let x: &Tensor<2> = cached(cache);
//!         (Some(Act::Flat(dy.into_flat().mul(x.clone()).mul_scalar(2.0))), vec![])
//!     }
//! }
//!
//! let arch = MetaArch::new(
//!     [1, 2, 2],
//!     vec![Arc::new(FlattenLayer), Arc::new(Square), Arc::new(LinearLayer::new(4, 3))],
//! )?;
//! assert_eq!((arch.classes(), arch.feature_dim()), (3, 4));
//! # Ok::<(), dd_prelude::Error>(())
//! ```

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use burn::nn::conv::Conv2dConfig;
use burn::nn::{LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

use super::ops::{
    AvgPool2Op, Conv2dRectOp, ConvCache, InstanceNormOp, LayerNormCache, LayerNormOp, LinearCache,
    LinearOp, MaxPoolTimeOp, NormCache, ReluOp, flat,
};
use super::{ParamKind, Params};
use crate::error::{Error, Result};

/// Activations flowing between layers: spatial maps `[n, c, h, w]` or flat rows `[n, d]`.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::Act;
/// let a = Act::Map(burn::tensor::Tensor::zeros([2, 3, 4, 5], &dd_prelude::device()));
/// assert_eq!(a.dims(), vec![2, 3, 4, 5]);
/// assert_eq!(a.into_map().dims(), [2, 3, 4, 5]);
/// ```
#[derive(Debug, Clone)]
pub enum Act {
    /// Feature maps `[n, c, h, w]` (an embedded sentence is `[n, 1, L, d]`).
    Map(Tensor<4>),
    /// Rows `[n, d]`.
    Flat(Tensor<2>),
}

impl Act {
    /// The feature maps.
    ///
    /// # Panics
    /// On flat rows: [`MetaArch::new`](super::MetaArch::new) checks every layer's input shape,
    /// so this is a broken invariant.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::layers::Act;
    /// let t = burn::tensor::Tensor::<4>::zeros([1, 1, 2, 2], &dd_prelude::device());
    /// assert_eq!(Act::Map(t).into_map().dims(), [1, 1, 2, 2]);
    /// ```
    pub fn into_map(self) -> Tensor<4> {
        match self {
            Act::Map(t) => t,
            Act::Flat(_) => panic!("a spatial layer got flat rows: invalid MetaArch"),
        }
    }

    /// The rows.
    ///
    /// # Panics
    /// On feature maps (a broken invariant, as [`Act::into_map`]).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::layers::Act;
    /// let t = burn::tensor::Tensor::<2>::zeros([3, 4], &dd_prelude::device());
    /// assert_eq!(Act::Flat(t).into_flat().dims(), [3, 4]);
    /// ```
    pub fn into_flat(self) -> Tensor<2> {
        match self {
            Act::Flat(t) => t,
            Act::Map(_) => panic!("a dense layer got feature maps: invalid MetaArch"),
        }
    }

    /// The shape, batch axis first.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::layers::Act;
    /// let t = burn::tensor::Tensor::<2>::zeros([3, 4], &dd_prelude::device());
    /// assert_eq!(Act::Flat(t).dims(), vec![3, 4]);
    /// ```
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Act::Map(t) => t.dims().to_vec(),
            Act::Flat(t) => t.dims().to_vec(),
        }
    }
}

/// What a layer's forward keeps for its backward: any value, shared (cheap to clone).
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use dd_prelude::distill::engine::layers::{Cache, cached};
/// let c: Cache = Arc::new(burn::tensor::Tensor::<2>::zeros([2, 2], &dd_prelude::device()));
/// assert_eq!(cached::<burn::tensor::Tensor<2>>(&c).dims(), [2, 2]);
/// ```
pub type Cache = Arc<dyn Any + Send + Sync>;

/// The cache of a layer's forward as the type that layer stored.
///
/// # Panics
/// When the cache holds another type: the tape belongs to another arch's forward.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use dd_prelude::distill::engine::layers::{Cache, cached};
/// let c: Cache = Arc::new([3usize, 4]);
/// assert_eq!(cached::<[usize; 2]>(&c), &[3, 4]);
/// ```
pub fn cached<T: Any>(cache: &Cache) -> &T {
    cache
        .downcast_ref::<T>()
        .expect("the tape does not match the layers: use the tape of this arch's forward")
}

/// The shape and kind of one parameter tensor of a layer.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::{ParamKind, layers::{LinearLayer, MetaLayer, ParamSpec}};
/// let specs = LinearLayer::new(4, 2).params();
/// assert_eq!(specs[0], ParamSpec { shape: vec![4, 2], kind: ParamKind::LinearWeight });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// The tensor's shape (its values are stored flat in [`Params`]).
    pub shape: Vec<usize>,
    /// What it is, for distances that treat weights and vectors differently.
    pub kind: ParamKind,
}

impl ParamSpec {
    /// A spec of `shape` and `kind`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::{ParamKind, layers::ParamSpec};
    /// assert_eq!(ParamSpec::new(&[3], ParamKind::Vector).shape, vec![3]);
    /// ```
    pub fn new(shape: &[usize], kind: ParamKind) -> Self {
        ParamSpec {
            shape: shape.to_vec(),
            kind,
        }
    }
}

/// One layer's view of the parameters of a [`MetaArch`](super::MetaArch): its own tensors,
/// numbered from 0 in the order of [`MetaLayer::params`].
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::{MetaArch, layers::LayerParams};
/// let arch = MetaArch::mlp([1, 2, 2], &[], 3);
/// let params = arch.init(&dd_prelude::device());
/// let view = LayerParams::new(&params, 0, 2); // the classifier's weight and bias
/// assert_eq!(view.get::<2>(0).dims(), [4, 3]);
/// assert_eq!(view.len(), 2);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LayerParams<'a> {
    params: &'a Params,
    start: usize,
    len: usize,
}

impl<'a> LayerParams<'a> {
    /// The `len` tensors of `params` from `start` on.
    ///
    /// # Panics
    /// When they run past the end of `params` (a broken invariant).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::{MetaArch, layers::LayerParams};
    /// let params = MetaArch::mlp([1, 2, 2], &[], 3).init(&dd_prelude::device());
    /// assert!(LayerParams::new(&params, 2, 0).is_empty());
    /// ```
    pub fn new(params: &'a Params, start: usize, len: usize) -> Self {
        assert!(start + len <= params.len(), "layer parameters out of range");
        LayerParams { params, start, len }
    }

    /// The layer's tensor `i` at its rank-`D` shape.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::{MetaArch, layers::LayerParams};
    /// let params = MetaArch::mlp([1, 2, 2], &[], 3).init(&dd_prelude::device());
    /// assert_eq!(LayerParams::new(&params, 0, 2).get::<1>(1).dims(), [3]);
    /// ```
    pub fn get<const D: usize>(&self, i: usize) -> Tensor<D> {
        assert!(i < self.len, "layer parameter {i} of {}", self.len);
        self.params.get(self.start + i)
    }

    /// The `len` tensors of this view from its tensor `start` on: what a layer built of other
    /// layers (the text CNN's parallel branches) hands each of them.
    ///
    /// # Panics
    /// When they run past the end of this view (a broken invariant).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::{MetaArch, layers::LayerParams};
    /// let params = MetaArch::mlp([1, 2, 2], &[3], 3).init(&dd_prelude::device());
    /// let second = LayerParams::new(&params, 0, 4).slice(2, 2); // the classifier
    /// assert_eq!(second.get::<2>(0).dims(), [3, 3]);
    /// ```
    pub fn slice(&self, start: usize, len: usize) -> Self {
        assert!(start + len <= self.len, "layer parameters out of range");
        LayerParams::new(self.params, self.start + start, len)
    }

    /// Number of the layer's tensors.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::{MetaArch, layers::LayerParams};
    /// let params = MetaArch::mlp([1, 2, 2], &[], 3).init(&dd_prelude::device());
    /// assert_eq!(LayerParams::new(&params, 1, 1).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the layer has no tensor.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::{MetaArch, layers::LayerParams};
    /// let params = MetaArch::mlp([1, 2, 2], &[], 3).init(&dd_prelude::device());
    /// assert!(!LayerParams::new(&params, 0, 1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A layer of a [`MetaArch`](super::MetaArch): forward and explicit backward in ordinary
/// (tracked) Burn tensor ops.
///
/// Shapes exclude the batch axis: `[c, h, w]` for feature maps ([`Act::Map`]), `[d]` for
/// rows ([`Act::Flat`]). The defaults suit a layer without parameters. Implement it outside
/// the crate and put the layer in [`MetaArch::new`](super::MetaArch::new); the module example
/// of [`layers`](self) shows one.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::{MetaLayer, Conv2dLayer};
/// let conv = Conv2dLayer::new(1, 8, [3, 100], [1, 0]); // over a 100-d embedded sentence
/// assert_eq!(conv.output_shape(&[1, 20, 100])?, vec![8, 20, 1]);
/// assert_eq!(conv.params().len(), 2);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
pub trait MetaLayer: Debug + Send + Sync {
    /// Shapes and kinds of the parameter tensors, in order (none by default).
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }

    /// Fresh parameters, flat, one per [`MetaLayer::params`] entry, drawn from the device's
    /// random state (none by default).
    fn init(&self, device: &Device) -> Vec<Tensor<1>> {
        let _ = device;
        Vec::new()
    }

    /// The output shape for an input of shape `input`, or an error saying what input the
    /// layer takes.
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>>;

    /// The output and what the backward needs (dropped when no tape is kept).
    fn forward(&self, params: LayerParams<'_>, x: Act) -> (Act, Cache);

    /// The input gradient (only required when `need_dx`; `None` is allowed otherwise) and one
    /// flat gradient per parameter tensor, for the upstream gradient `dy`.
    fn backward(
        &self,
        params: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        need_dx: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>);

    /// Whether the output is an activation that feature-matching methods read
    /// ([`Tape::relu_outputs`](super::Tape::relu_outputs)); false by default.
    fn is_activation(&self) -> bool {
        false
    }

    /// Whether this is [`ReluLayer`], which the layer before it may fuse into its own forward
    /// ([`MetaLayer::forward_relu`]); false by default.
    fn is_relu(&self) -> bool {
        false
    }

    /// This layer's forward followed by a ReLU, in one pass, where the layer has such a form
    /// for these inputs; `None` (the default) runs the two layers one after the other. The
    /// cache must serve [`MetaLayer::backward`] for the gradient at the ReLU's output: the
    /// ReLU's own backward then passes its upstream gradient through.
    fn forward_relu(&self, params: LayerParams<'_>, x: &Act) -> Option<(Act, Cache)> {
        let _ = (params, x);
        None
    }

    /// Whether this is [`AvgPool2Layer`], which the two layers before it may fuse
    /// ([`MetaLayer::forward_relu_pool`]); false by default.
    fn is_avg_pool2(&self) -> bool {
        false
    }

    /// This layer's forward, a ReLU and a 2x2 average pooling in one pass, where the layer has
    /// such a form for these inputs; `None` (the default) runs them one after the other. The
    /// cache must serve [`MetaLayer::backward`] for the gradient at the pooling's output: the
    /// ReLU's and the pooling's own backward then pass their upstream gradient through.
    fn forward_relu_pool(&self, params: LayerParams<'_>, x: &Act) -> Option<(Act, Cache)> {
        let _ = (params, x);
        None
    }
}

/// The cache [`ReluLayer`] keeps when the layer before it ran the ReLU
/// ([`MetaLayer::forward_relu`]): its backward passes the gradient through.
#[derive(Debug, Clone, Copy)]
pub struct FusedRelu;

/// The cache [`AvgPool2Layer`] keeps when the layers before it ran the pooling
/// ([`MetaLayer::forward_relu_pool`]): its backward passes the gradient through.
#[derive(Debug, Clone, Copy)]
pub struct FusedPool;

/// The backward result of a layer without parameters.
fn input_grad_only(dx: Act) -> (Option<Act>, Vec<Tensor<1>>) {
    (Some(dx), Vec::new())
}

/// The error of a layer given an input shape it cannot take.
fn wrong_input(layer: &str, expected: &str, got: &[usize]) -> Error {
    Error::ShapeMismatch {
        context: format!("MetaArch: the input of {layer}"),
        expected: expected.into(),
        got: format!("{got:?}"),
    }
}

/// The shape as `[c, h, w]`, or the error of `layer`.
fn map_shape(layer: &str, input: &[usize]) -> Result<[usize; 3]> {
    input
        .try_into()
        .map_err(|_| wrong_input(layer, "feature maps [c, h, w]", input))
}

/// The shape as `[d]`, or the error of `layer`.
fn flat_shape(layer: &str, input: &[usize]) -> Result<usize> {
    match input {
        [d] => Ok(*d),
        _ => Err(wrong_input(layer, "rows [d]", input)),
    }
}

/// Convolution with any kernel `[kh, kw]`, stride 1, zero padding `[ph, pw]`, and a bias
/// ([`Conv2dRectOp`]); initialised as Burn's `Conv2d`.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::{MetaLayer, Conv2dLayer};
/// assert_eq!(Conv2dLayer::new(3, 4, [3, 3], [1, 1]).output_shape(&[3, 8, 8])?, vec![4, 8, 8]);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dLayer {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel `[rows, columns]`.
    pub kernel: [usize; 2],
    /// Zero padding `[rows, columns]` on both sides.
    pub padding: [usize; 2],
}

impl Conv2dLayer {
    /// A convolution from `c_in` to `c_out` channels.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::layers::Conv2dLayer;
    /// assert_eq!(Conv2dLayer::new(1, 2, [3, 5], [1, 0]).kernel, [3, 5]);
    /// ```
    pub fn new(c_in: usize, c_out: usize, kernel: [usize; 2], padding: [usize; 2]) -> Self {
        Conv2dLayer {
            c_in,
            c_out,
            kernel,
            padding,
        }
    }

    fn op(&self) -> Conv2dRectOp {
        Conv2dRectOp {
            padding: self.padding,
        }
    }
}

impl MetaLayer for Conv2dLayer {
    fn params(&self) -> Vec<ParamSpec> {
        let [kh, kw] = self.kernel;
        vec![
            ParamSpec::new(&[self.c_out, self.c_in, kh, kw], ParamKind::ConvWeight),
            ParamSpec::new(&[self.c_out], ParamKind::Vector),
        ]
    }

    fn init(&self, device: &Device) -> Vec<Tensor<1>> {
        let [ph, pw] = self.padding;
        let conv = Conv2dConfig::new([self.c_in, self.c_out], self.kernel)
            .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
            .init(device);
        // Burn draws a parameter when it is first read: weight first, as Burn's own order.
        let weight = flat(conv.weight.val());
        let bias = conv
            .bias
            .map(|b| b.val())
            .unwrap_or_else(|| Tensor::zeros([self.c_out], device));
        vec![weight, bias]
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let [c, h, w] = map_shape("Conv2dLayer", input)?;
        let ([kh, kw], [ph, pw]) = (self.kernel, self.padding);
        if c != self.c_in || h + 2 * ph < kh || w + 2 * pw < kw {
            return Err(wrong_input(
                "Conv2dLayer",
                &format!("{} channels and at least a {kh}x{kw} padded map", self.c_in),
                input,
            ));
        }
        Ok(vec![self.c_out, h + 2 * ph + 1 - kh, w + 2 * pw + 1 - kw])
    }

    fn forward(&self, params: LayerParams<'_>, x: Act) -> (Act, Cache) {
        let (y, c) = self
            .op()
            .forward(x.into_map(), params.get(0), params.get(1));
        (Act::Map(y), Arc::new(c))
    }

    fn backward(
        &self,
        params: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        need_dx: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>) {
        let (dx, dw, db) = self.op().backward(
            cached::<ConvCache>(cache),
            &params.get(0),
            dy.into_map(),
            need_dx,
        );
        (dx.map(Act::Map), vec![flat(dw), db])
    }
}

/// Instance normalisation with affine parameters ([`InstanceNormOp`], eps 1e-5), initialised
/// to gain 1 and shift 0.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::{MetaLayer, InstanceNormLayer};
/// assert_eq!(InstanceNormLayer { channels: 4 }.output_shape(&[4, 5, 5])?, vec![4, 5, 5]);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceNormLayer {
    /// Channels.
    pub channels: usize,
}

/// The op of [`InstanceNormLayer`], with PyTorch's and Burn's epsilon.
const INSTANCE_NORM: InstanceNormOp = InstanceNormOp { epsilon: 1e-5 };
/// The op of [`LayerNormLayer`], with PyTorch's and Burn's epsilon.
const LAYER_NORM: LayerNormOp = LayerNormOp { epsilon: 1e-5 };

/// Gain 1 and shift 0 for `d` features, as Burn's norms start.
fn unit_affine(d: usize, device: &Device) -> Vec<Tensor<1>> {
    vec![Tensor::ones([d], device), Tensor::zeros([d], device)]
}

/// Gain and shift specs for `d` features.
fn affine_specs(d: usize) -> Vec<ParamSpec> {
    vec![
        ParamSpec::new(&[d], ParamKind::Vector),
        ParamSpec::new(&[d], ParamKind::Vector),
    ]
}

impl MetaLayer for InstanceNormLayer {
    fn params(&self) -> Vec<ParamSpec> {
        affine_specs(self.channels)
    }

    fn init(&self, device: &Device) -> Vec<Tensor<1>> {
        unit_affine(self.channels, device)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let [c, _, _] = map_shape("InstanceNormLayer", input)?;
        if c != self.channels {
            return Err(wrong_input(
                "InstanceNormLayer",
                &format!("{} channels", self.channels),
                input,
            ));
        }
        Ok(input.to_vec())
    }

    fn forward(&self, params: LayerParams<'_>, x: Act) -> (Act, Cache) {
        let op = INSTANCE_NORM;
        let (y, c) = op.forward(x.into_map(), params.get(0), params.get(1));
        (Act::Map(y), Arc::new(c))
    }

    /// Plain passes (the real batch's gradient, the inner training steps) run the norm and the
    /// ReLU as one pass of the fused CPU kernel and keep no mask.
    fn forward_relu(&self, params: LayerParams<'_>, x: &Act) -> Option<(Act, Cache)> {
        let Act::Map(x) = x else { return None };
        let (y, c) = INSTANCE_NORM.forward_relu(x.clone(), params.get(0), params.get(1))?;
        Some((Act::Map(y), Arc::new(c)))
    }

    /// Plain passes whose tape serves only the backward run a whole ConvNet block (norm, ReLU,
    /// 2x2 average pooling) as one pass of the fused CPU kernel.
    fn forward_relu_pool(&self, params: LayerParams<'_>, x: &Act) -> Option<(Act, Cache)> {
        let Act::Map(x) = x else { return None };
        let (y, c) = INSTANCE_NORM.forward_relu_pool(x.clone(), params.get(0), params.get(1))?;
        Some((Act::Map(y), Arc::new(c)))
    }

    fn backward(
        &self,
        params: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        _: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>) {
        let op = INSTANCE_NORM;
        let (dx, dg, db) = op.backward(cached::<NormCache>(cache), &params.get(0), dy.into_map());
        (Some(Act::Map(dx)), vec![dg, db])
    }
}

/// Layer normalisation over the last axis with a learnable gain and bias ([`LayerNormOp`],
/// eps 1e-5), on rows `[d]` or on feature maps (normalising each map's rows, e.g. each word
/// of `[1, L, d]`); initialised to gain 1 and bias 0 as Burn's `LayerNorm`.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::{MetaLayer, LayerNormLayer};
/// assert_eq!(LayerNormLayer { dim: 8 }.output_shape(&[8])?, vec![8]);
/// assert_eq!(LayerNormLayer { dim: 8 }.output_shape(&[1, 5, 8])?, vec![1, 5, 8]);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerNormLayer {
    /// Size of the last axis.
    pub dim: usize,
}

impl MetaLayer for LayerNormLayer {
    fn params(&self) -> Vec<ParamSpec> {
        affine_specs(self.dim)
    }

    fn init(&self, device: &Device) -> Vec<Tensor<1>> {
        unit_affine(self.dim, device)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.last() != Some(&self.dim) || !(input.len() == 1 || input.len() == 3) {
            return Err(wrong_input(
                "LayerNormLayer",
                &format!("rows [{0}] or maps [c, h, {0}]", self.dim),
                input,
            ));
        }
        Ok(input.to_vec())
    }

    fn forward(&self, params: LayerParams<'_>, x: Act) -> (Act, Cache) {
        let op = LAYER_NORM;
        let (g, b) = (params.get(0), params.get(1));
        match x {
            Act::Map(x) => {
                let (y, c) = op.forward(x, g, b);
                (Act::Map(y), Arc::new(c))
            }
            Act::Flat(x) => {
                let (y, c) = op.forward(x, g, b);
                (Act::Flat(y), Arc::new(c))
            }
        }
    }

    fn backward(
        &self,
        params: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        _: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>) {
        let op = LAYER_NORM;
        let (c, g) = (cached::<LayerNormCache>(cache), params.get(0));
        let (dx, dg, db) = match dy {
            Act::Map(dy) => {
                let (dx, dg, db) = op.backward(c, &g, dy);
                (Act::Map(dx), dg, db)
            }
            Act::Flat(dy) => {
                let (dx, dg, db) = op.backward(c, &g, dy);
                (Act::Flat(dx), dg, db)
            }
        };
        (Some(dx), vec![dg, db])
    }
}

/// ReLU on maps or rows ([`ReluOp`]); its outputs are the taps of
/// [`Tape::relu_outputs`](super::Tape::relu_outputs).
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::{MetaLayer, ReluLayer};
/// assert!(ReluLayer.is_activation());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReluLayer;

impl MetaLayer for ReluLayer {
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(input.to_vec())
    }

    fn forward(&self, _: LayerParams<'_>, x: Act) -> (Act, Cache) {
        match x {
            Act::Map(x) => {
                let (y, m) = ReluOp.forward(x);
                (Act::Map(y), Arc::new(Act::Map(m)))
            }
            Act::Flat(x) => {
                let (y, m) = ReluOp.forward(x);
                (Act::Flat(y), Arc::new(Act::Flat(m)))
            }
        }
    }

    fn backward(
        &self,
        _: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        _: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>) {
        if cache.downcast_ref::<FusedRelu>().is_some() {
            return input_grad_only(dy);
        }
        let dx = match cached::<Act>(cache) {
            Act::Map(m) => Act::Map(ReluOp.backward(m, dy.into_map())),
            Act::Flat(m) => Act::Flat(ReluOp.backward(m, dy.into_flat())),
        };
        input_grad_only(dx)
    }

    fn is_activation(&self) -> bool {
        true
    }

    fn is_relu(&self) -> bool {
        true
    }
}

/// 2x2 average pooling with stride 2 ([`AvgPool2Op`]).
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::{MetaLayer, AvgPool2Layer};
/// assert_eq!(AvgPool2Layer.output_shape(&[4, 7, 6])?, vec![4, 3, 3]);
/// assert!(AvgPool2Layer.output_shape(&[4, 1, 6]).is_err());
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2Layer;

impl MetaLayer for AvgPool2Layer {
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let [c, h, w] = map_shape("AvgPool2Layer", input)?;
        if h < 2 || w < 2 {
            return Err(wrong_input("AvgPool2Layer", "maps of at least 2x2", input));
        }
        Ok(vec![c, h / 2, w / 2])
    }

    fn forward(&self, _: LayerParams<'_>, x: Act) -> (Act, Cache) {
        let (y, hw) = AvgPool2Op.forward(x.into_map());
        (Act::Map(y), Arc::new(hw))
    }

    fn is_avg_pool2(&self) -> bool {
        true
    }

    fn backward(
        &self,
        _: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        _: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>) {
        if cache.downcast_ref::<FusedPool>().is_some() {
            return input_grad_only(dy);
        }
        let hw = *cached::<[usize; 2]>(cache);
        input_grad_only(Act::Map(AvgPool2Op.backward(hw, dy.into_map())))
    }
}

/// Max pooling over time ([`MaxPoolTimeOp`]): `[c, L, w]` to `[c, 1, w]`, the maximum over
/// axis 2 (a text CNN's pooling of each filter over the words).
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::{MetaLayer, MaxPoolTimeLayer};
/// assert_eq!(MaxPoolTimeLayer.output_shape(&[8, 20, 1])?, vec![8, 1, 1]);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPoolTimeLayer;

impl MetaLayer for MaxPoolTimeLayer {
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let [c, len, w] = map_shape("MaxPoolTimeLayer", input)?;
        if len == 0 {
            return Err(wrong_input("MaxPoolTimeLayer", "at least one step", input));
        }
        Ok(vec![c, 1, w])
    }

    fn forward(&self, _: LayerParams<'_>, x: Act) -> (Act, Cache) {
        let (y, mask) = MaxPoolTimeOp.forward(x.into_map());
        (Act::Map(y), Arc::new(mask))
    }

    fn backward(
        &self,
        _: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        _: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>) {
        let mask = cached::<Tensor<4>>(cache);
        input_grad_only(Act::Map(MaxPoolTimeOp.backward(mask, dy.into_map())))
    }
}

/// `[n, c, h, w]` to `[n, c*h*w]` (rows pass unchanged).
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::{MetaLayer, FlattenLayer};
/// assert_eq!(FlattenLayer.output_shape(&[8, 3, 3])?, vec![72]);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlattenLayer;

impl MetaLayer for FlattenLayer {
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(vec![input.iter().product()])
    }

    fn forward(&self, _: LayerParams<'_>, x: Act) -> (Act, Cache) {
        match x {
            Act::Map(x) => {
                let dims = x.dims();
                (Act::Flat(x.flatten(1, 3)), Arc::new(Some(dims)))
            }
            rows => (rows, Arc::new(None::<[usize; 4]>)),
        }
    }

    fn backward(
        &self,
        _: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        _: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>) {
        let dx = match cached::<Option<[usize; 4]>>(cache) {
            Some(dims) => Act::Map(dy.into_flat().reshape(*dims)),
            None => dy,
        };
        input_grad_only(dx)
    }
}

/// A fully connected layer on rows `[n, d_in]` ([`LinearOp`], Burn's weight layout
/// `[d_in, d_out]`), initialised as Burn's `Linear`; put a [`FlattenLayer`] before it to use
/// it after feature maps.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::layers::{MetaLayer, LinearLayer};
/// assert_eq!(LinearLayer::new(16, 4).output_shape(&[16])?, vec![4]);
/// assert!(LinearLayer::new(16, 4).output_shape(&[1, 4, 4]).is_err());
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinearLayer {
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
}

impl LinearLayer {
    /// From `d_in` to `d_out` features.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::layers::LinearLayer;
    /// assert_eq!(LinearLayer::new(3, 2).d_out, 2);
    /// ```
    pub fn new(d_in: usize, d_out: usize) -> Self {
        LinearLayer { d_in, d_out }
    }
}

impl MetaLayer for LinearLayer {
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(&[self.d_in, self.d_out], ParamKind::LinearWeight),
            ParamSpec::new(&[self.d_out], ParamKind::Vector),
        ]
    }

    fn init(&self, device: &Device) -> Vec<Tensor<1>> {
        let lin = LinearConfig::new(self.d_in, self.d_out).init(device);
        // Burn draws a parameter when it is first read: weight first, as Burn's own order.
        let weight = flat(lin.weight.val());
        let bias = lin
            .bias
            .map(|b| b.val())
            .unwrap_or_else(|| Tensor::zeros([self.d_out], device));
        vec![weight, bias]
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if flat_shape("LinearLayer", input)? != self.d_in {
            return Err(wrong_input(
                "LinearLayer",
                &format!("rows [{}]", self.d_in),
                input,
            ));
        }
        Ok(vec![self.d_out])
    }

    fn forward(&self, params: LayerParams<'_>, x: Act) -> (Act, Cache) {
        let (y, c) = LinearOp.forward(x.into_flat(), params.get(0), params.get(1));
        (Act::Flat(y), Arc::new(c))
    }

    fn backward(
        &self,
        params: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        need_dx: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>) {
        let (dx, dw, db) = LinearOp.backward(
            cached::<LinearCache>(cache),
            &params.get(0),
            dy.into_flat(),
            need_dx,
        );
        (dx.map(Act::Flat), vec![flat(dw), db])
    }
}
