//! The meta-gradient engine: networks whose backward pass is written in tracked tensor ops.
//!
//! # Why
//! Burn's autodiff is first order: `loss.backward()` returns gradients that are plain values,
//! and nothing flows back through an optimizer step. Gradient matching (DC, DSA, CAFE's
//! successors), trajectory matching (MTT) and soft-label distillation differentiate a function
//! *of a gradient* (or of weights after SGD steps) with respect to the synthetic images.
//!
//! # Design
//! A [`MetaArch`] is a functional network: a list of layers and a [`Params`] value (one flat
//! tensor per learnable array, in the order of the Burn module it mirrors). Its forward pass
//! keeps a [`Tape`] of caches; its [`MetaArch::backward`] computes every parameter gradient
//! with the explicit backward of each op ([`ops`]): conv via transposed convolution and an
//! axis-swapped convolution, instance and layer norm in closed form, ReLU and max pooling as
//! mask multiplies, average pooling as nearest up-sampling / 4, linear layers as matrix
//! products, softmax cross-entropy as `(softmax - targets) / n`. All of it is ordinary Burn
//! tensor ops, so when the images (or the parameters, or soft labels) are autodiff tensors the
//! computed gradient `g(S, theta)` is itself in the graph, and Burn's first-order `backward()`
//! of any loss built from it gives the exact meta-gradient: `d match(g_syn(S), g_real) / dS`
//! for gradient matching, or `d L(theta_K(S, lr)) / dS, dlr` through
//! `theta_{k+1} = theta_k - lr * g(theta_k, S)` for unrolled SGD ([`Params::sgd_step`],
//! [`Params::sgd_step_tensor`]). No host round trip is involved, so the same code runs on the
//! CPU (`flex`) and on CUDA.
//!
//! The layers are open: a layer is any type implementing [`layers::MetaLayer`], held as
//! `Arc<dyn MetaLayer>`. Per layer the trait gives
//! - its parameters: [`params`](layers::MetaLayer::params) (shapes and [`ParamKind`]s) and
//!   [`init`](layers::MetaLayer::init);
//! - [`output_shape`](layers::MetaLayer::output_shape) for an input shape (checked once, by
//!   [`MetaArch::new`]);
//! - [`forward`](layers::MetaLayer::forward), returning the output and a cache
//!   ([`layers::Cache`], any value), which the arch keeps only when a tape is asked for;
//! - [`backward`](layers::MetaLayer::backward): the input gradient and one gradient per
//!   parameter, in tracked tensor ops.
//!
//! Activations between layers are [`layers::Act`]: maps `[n, c, h, w]` or rows `[n, d]`.
//!
//! To add an op: write its forward and backward (in [`ops`] when it belongs to the crate),
//! wrap it in a type implementing [`layers::MetaLayer`], and list it in [`MetaArch::new`];
//! nothing in the arch changes. A layer from outside the crate (a notebook cell) goes in the
//! same way (see the example of [`layers`]). Check its backward against finite differences
//! and against Burn's autodiff of its forward, as `tests/engine_ops.rs` does for every op.
//!
//! Parameters convert from and to the crate's Burn [`ConvNet`] ([`MetaArch::params_from`],
//! [`MetaArch::to_convnet`]), so a fresh network for distillation is initialised exactly as a
//! network for evaluation, and a distilled-on network can be scored with `fit`/`accuracy`.
//!
//! Supported layers ([`layers`]): convolution with any kernel shape, stride 1 and padding per
//! axis ([`layers::Conv2dLayer`]: 3x3 for images, `3 x d` across an embedded sentence),
//! instance norm, layer norm over the last axis, ReLU, 2x2 average pooling, max pooling over
//! time, flatten, linear. Built-in networks: the ConvNet family (depth 1 to 4, any width,
//! instance norm or none, average pooling or none) and MLPs; batch norm, group norm and 2-D
//! max pooling are refused with an [`Error::InvalidConfig`]. Loss heads ([`ops`]): softmax
//! cross-entropy against hard or soft targets, with its gradient with respect to the logits
//! and to the targets, and the symmetric contrastive loss of CLIP ([`ops::ContrastiveOp`])
//! with its gradients with respect to both embeddings.
//!
//! # Cost
//! Time: a parameter gradient by the explicit backward costs what Burn's own backward costs
//! (the same convolutions: forward, transposed convolution for `dx`, axis-swapped convolution
//! for `dW`); on plain tensors (the real batch of gradient matching, network training between
//! matchings) no tape is kept at all. The meta-gradient of a matching loss runs the forward and
//! the explicit backward as a recorded graph and back-propagates through both: about 2-3x a
//! training step on the synthetic batch. Measured with `examples/bench_distill.rs`
//! (2026-11-22, 2 cores, no GPU, shared with other jobs; ConvNet width 128, 28x28):
//!
//! | call | seconds | ratio |
//! |---|---|---|
//! | Burn training step (forward, autodiff backward, SGD), 256 images | 16.36 | 1 |
//! | explicit-backward gradient, 256 images, no tape | 13.90 | 0.85 |
//! | Burn training step, 10 images | 0.48 | 1 |
//! | DC meta-gradient (explicit gradient as a graph, matching loss, backward), 10 images | 1.17 | 2.42 |
//!
//! Memory: the synthetic forward's caches plus the backward's intermediates are held until the
//! meta-backward, about 2-3x a training step's activations for the synthetic batch (small:
//! `ipc` images per class). Unrolling `K` SGD steps holds `K` such graphs.
//!
//! Precision: the engine is dtype-agnostic; configure the device for f64
//! (`device.configure(FloatDType::F64)` before any tensor) and it runs in double precision,
//! which `tests/distill_gradients_f64.rs` uses to check every meta-gradient to 1e-5.
//! In f32 (`tests/distill_gradients.rs`) the same checks hold to 3 % plus round-off, at
//! probes free of ReLU kinks: a loss that contains a gradient contains ReLU masks, so it has
//! kinks within a finite-difference step of most points of a small network; the checker
//! detects them and skips those probes. Every case is also run at 50 other seeds by an
//! ignored test (`-- --ignored`; 2026-11-22: no disagreement in f32 or f64, and 3 of 300
//! f32 runs short of kink-free probes).
//!
//! # Example
//! ```
//! use dd_prelude::*;
//! use dd_prelude::distill::engine::MetaArch;
//! use burn::tensor::{Tensor, Distribution};
//! let dev = device();
//! let arch = MetaArch::convnet(&ConvNetConfig::new(3, 1, [8, 8]).with_width(4).with_depth(2))?;
//! let params = arch.init(&dev);
//! let x = Tensor::<4>::random([5, 1, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
//! let targets = dd_prelude::distill::engine::ops::one_hot(&[0, 1, 2, 0, 1], 3, &dev);
//! let (loss, grads) = arch.loss_and_grads(&params, x, &targets);
//! assert_eq!(grads.len(), params.len());
//! assert!(loss.into_scalar::<f32>() > 0.0);
//! # Ok::<(), Error>(())
//! ```

pub mod layers;
pub mod ops;

use std::sync::Arc;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Gradients, Tensor};

use crate::error::{Error, Result};
use crate::models::{ConvNet, ConvNetConfig, Mlp, MlpConfig, NormKind, PoolKind};
use layers::{
    Act, AvgPool2Layer, Cache, Conv2dLayer, FlattenLayer, FusedPool, FusedRelu, InstanceNormLayer,
    LayerParams, LinearLayer, MetaLayer, ParamSpec, ReluLayer,
};
use ops::{SoftmaxCrossEntropyOp, flat};

/// What a parameter tensor is, for distances that treat layers differently (DC's
/// `distance_wb` compares weights per output unit and ignores biases and norm parameters).
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::{MetaArch, ParamKind};
/// let p = MetaArch::mlp([1, 2, 2], &[], 2).init(&dd_prelude::device());
/// assert_eq!((p.kind(0), p.kind(1)), (ParamKind::LinearWeight, ParamKind::Vector));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Conv kernel `[c_out, c_in, kh, kw]`.
    ConvWeight,
    /// Linear weight, Burn layout `[d_in, d_out]`.
    LinearWeight,
    /// A bias, or a norm's scale or shift.
    Vector,
}

/// The parameters (or the gradients) of a [`MetaArch`]: one flat tensor per learnable array.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::engine::MetaArch;
/// let arch = MetaArch::mlp([1, 4, 4], &[8], 3);
/// let p = arch.init(&device());
/// let q = p.sgd_step(&p, 0.5);            // p - 0.5 p
/// assert_eq!(q.num_elements(), 16 * 8 + 8 + 8 * 3 + 3);
/// ```
#[derive(Debug, Clone)]
pub struct Params {
    values: Vec<Tensor<1>>,
    shapes: Vec<Vec<usize>>,
    kinds: Vec<ParamKind>,
}

impl Params {
    /// Builds from flat tensors, their shapes and kinds.
    ///
    /// # Panics
    /// When the three lists differ in length (an internal invariant).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::{ParamKind, Params};
    /// let b = burn::tensor::Tensor::<1>::zeros([3], &dd_prelude::device());
    /// assert_eq!(Params::new(vec![b], vec![vec![3]], vec![ParamKind::Vector]).len(), 1);
    /// ```
    pub fn new(values: Vec<Tensor<1>>, shapes: Vec<Vec<usize>>, kinds: Vec<ParamKind>) -> Self {
        assert!(values.len() == shapes.len() && shapes.len() == kinds.len());
        Params {
            values,
            shapes,
            kinds,
        }
    }

    /// Number of parameter tensors.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(p.len(), 4);
    /// ```
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there is no tensor.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert!(!p.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total number of scalars.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(p.num_elements(), 4 * 3 + 3 + 3 * 2 + 2);
    /// ```
    pub fn num_elements(&self) -> usize {
        self.shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum()
    }

    /// The flat tensors.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(p.values()[0].dims(), [12]);
    /// ```
    pub fn values(&self) -> &[Tensor<1>] {
        &self.values
    }

    /// The shape of tensor `i`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(p.shape(0), &[4, 3]);
    /// ```
    pub fn shape(&self, i: usize) -> &[usize] {
        &self.shapes[i]
    }

    /// The kind of tensor `i`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(p.kind(3), dd_prelude::distill::engine::ParamKind::Vector);
    /// ```
    pub fn kind(&self, i: usize) -> ParamKind {
        self.kinds[i]
    }

    /// Tensor `i` reshaped to its rank-`D` shape.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(p.get::<2>(2).dims(), [3, 2]);
    /// ```
    pub fn get<const D: usize>(&self, i: usize) -> Tensor<D> {
        let shape: [usize; D] = self.shapes[i]
            .clone()
            .try_into()
            .expect("parameter rank matches its layer");
        self.values[i].clone().reshape(shape)
    }

    /// The same structure with `f` applied to every flat tensor.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// let zero = p.map(|t| t.mul_scalar(0.0));
    /// assert_eq!(zero.squared_norm().into_scalar::<f32>(), 0.0);
    /// ```
    pub fn map(&self, f: impl Fn(Tensor<1>) -> Tensor<1>) -> Params {
        Params {
            values: self.values.iter().cloned().map(f).collect(),
            shapes: self.shapes.clone(),
            kinds: self.kinds.clone(),
        }
    }

    /// The same structure with `f(self_i, other_i)`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// let zero = p.zip_map(&p, |a, b| a.sub(b));
    /// assert_eq!(zero.squared_norm().into_scalar::<f32>(), 0.0);
    /// ```
    pub fn zip_map(&self, other: &Params, f: impl Fn(Tensor<1>, Tensor<1>) -> Tensor<1>) -> Params {
        Params {
            values: self
                .values
                .iter()
                .zip(&other.values)
                .map(|(a, b)| f(a.clone(), b.clone()))
                .collect(),
            shapes: self.shapes.clone(),
            kinds: self.kinds.clone(),
        }
    }

    /// One plain SGD step `theta - lr * grads`, differentiable in both.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// let zero = p.sgd_step(&p, 1.0);
    /// assert_eq!(zero.squared_norm().into_scalar::<f32>(), 0.0);
    /// ```
    pub fn sgd_step(&self, grads: &Params, lr: f64) -> Params {
        self.zip_map(grads, |p, g| p.sub(g.mul_scalar(lr)))
    }

    /// One SGD step with a learnable step size `lr` (a `[1]` tensor, e.g. MTT's `syn_lr`):
    /// `theta - lr * grads`, differentiable in `theta`, `grads` and `lr`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// let lr = burn::tensor::Tensor::<1>::ones([1], &dev).autodiff().require_grad();
    /// let q = p.autodiff().sgd_step_tensor(&p.autodiff(), &lr);
    /// assert!(lr.grad(&q.squared_norm().backward()).is_some());
    /// ```
    pub fn sgd_step_tensor(&self, grads: &Params, lr: &Tensor<1>) -> Params {
        self.zip_map(grads, |p, g| p.sub(g.mul(lr.clone())))
    }

    /// Every tensor detached from the graph (a new leaf).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(p.require_grad().detach().len(), p.len());
    /// ```
    pub fn detach(&self) -> Params {
        self.map(|t| t.detach())
    }

    /// Every tensor on the autodiff backend, requiring its gradient.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// let q = p.require_grad();
    /// let g = q.grads_from(&q.squared_norm().backward());
    /// assert_eq!(g.len(), p.len());
    /// ```
    pub fn require_grad(&self) -> Params {
        self.map(|t| t.autodiff().require_grad())
    }

    /// Every tensor on the autodiff backend (tracked only through what it is combined with).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert!(p.autodiff().values()[0].is_autodiff());
    /// ```
    pub fn autodiff(&self) -> Params {
        self.map(|t| t.autodiff())
    }

    /// Every tensor off the autodiff backend.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert!(!p.autodiff().inner().values()[0].is_autodiff());
    /// ```
    pub fn inner(&self) -> Params {
        self.map(|t| t.inner())
    }

    /// All tensors concatenated into one vector (MTT's `flat_param`).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(p.flat().dims(), [p.num_elements()]);
    /// ```
    pub fn flat(&self) -> Tensor<1> {
        Tensor::cat(self.values.clone(), 0)
    }

    /// The gradients Burn's autodiff found for these (leaf, `require_grad`) tensors; zeros where
    /// a tensor got none.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// let q = p.require_grad();
    /// let g = q.grads_from(&q.squared_norm().backward()); // 2 p
    /// assert_eq!(g.shape(0), p.shape(0));
    /// ```
    pub fn grads_from(&self, grads: &Gradients) -> Params {
        self.map(|t| {
            t.grad(grads)
                .unwrap_or_else(|| Tensor::zeros_like(&t.clone().inner()))
        })
    }

    /// Sum of squares of all entries, `[1]`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert!(p.squared_norm().into_scalar::<f32>() > 0.0);
    /// ```
    pub fn squared_norm(&self) -> Tensor<1> {
        let parts: Vec<Tensor<1>> = self
            .values
            .iter()
            .map(|t| t.clone().square().sum())
            .collect();
        Tensor::cat(parts, 0).sum()
    }
}

/// Which Burn network a [`MetaArch`] mirrors, if any.
#[derive(Debug, Clone)]
enum Source {
    ConvNet(ConvNetConfig),
    Mlp(Option<MlpConfig>),
    /// Layers given to [`MetaArch::new`].
    Layers,
}

/// A functional network: layers plus the input shape and the number of classes; its
/// parameters are passed to every call as [`Params`].
///
/// Its layers are [`MetaLayer`] trait objects: the built-in ones of [`layers`] or any type a
/// user implements the trait for ([`MetaArch::new`]). The embedding ([`Tape::features`],
/// [`MetaArch::features`]) is the input of the last layer, the classifier.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::engine::MetaArch;
/// let arch = MetaArch::convnet(&ConvNetConfig::new(10, 1, [28, 28]).with_width(8))?;
/// assert_eq!(arch.feature_dim(), 8 * 3 * 3);
/// assert!(MetaArch::convnet(&ConvNetConfig::new(10, 1, [28, 28]).with_norm(NormKind::Batch)).is_err());
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MetaArch {
    layers: Vec<Arc<dyn MetaLayer>>,
    /// `(first, count)` of each layer's tensors in [`Params`].
    ranges: Vec<(usize, usize)>,
    specs: Vec<ParamSpec>,
    input: [usize; 3],
    classes: usize,
    feature_dim: usize,
    source: Source,
}

/// A forward pass's caches, consumed by [`MetaArch::backward`], plus the activations that
/// feature-matching methods read.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::engine::MetaArch;
/// let dev = device();
/// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
/// let p = arch.init(&dev);
/// let x = burn::tensor::Tensor::<4>::ones([3, 1, 2, 2], &dev);
/// let (_, tape) = arch.forward_taps(&p, x);
/// assert_eq!(tape.relu_outputs[0].dims(), [3, 3, 1, 1]);
/// assert_eq!(tape.features.unwrap().dims(), [3, 3]);
/// ```
#[derive(Clone)]
pub struct Tape {
    saved: Vec<Cache>,
    /// Output of every activation layer ([`MetaLayer::is_activation`]: ReLU), in order, rows
    /// as `[n, d, 1, 1]` (CAFE's layer-wise statistics).
    pub relu_outputs: Vec<Tensor<4>>,
    /// The input of the last layer, the classifier (DM's and CAFE's embedding).
    pub features: Option<Tensor<2>>,
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tape")
            .field("saved", &self.saved.len())
            .field("relu_outputs", &self.relu_outputs)
            .field("features", &self.features)
            .finish()
    }
}

impl MetaArch {
    /// A network of `layers` for inputs `[channels, height, width]` (an embedded sentence is
    /// `[1, words, width]`), initialised by each layer's [`MetaLayer::init`]. The last layer
    /// must take rows `[d]` (the embedding) and give rows `[classes]`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when a layer cannot take its input's shape, or the network
    /// does not end in rows.
    ///
    /// # Example
    /// A text CNN over sentences of 12 words embedded in 6 dimensions:
    /// ```
    /// use std::sync::Arc;
    /// use dd_prelude::distill::engine::MetaArch;
    /// use dd_prelude::distill::engine::layers::*;
    /// let arch = MetaArch::new(
    ///     [1, 12, 6],
    ///     vec![
    ///         Arc::new(Conv2dLayer::new(1, 4, [3, 6], [1, 0])),
    ///         Arc::new(ReluLayer),
    ///         Arc::new(MaxPoolTimeLayer),
    ///         Arc::new(FlattenLayer),
    ///         Arc::new(LayerNormLayer { dim: 4 }),
    ///         Arc::new(LinearLayer::new(4, 2)),
    ///     ],
    /// )?;
    /// assert_eq!((arch.feature_dim(), arch.classes()), (4, 2));
    /// assert!(MetaArch::new([1, 12, 6], vec![Arc::new(LinearLayer::new(72, 2))]).is_err());
    /// # Ok::<(), dd_prelude::Error>(())
    /// ```
    pub fn new(input: [usize; 3], layers: Vec<Arc<dyn MetaLayer>>) -> Result<Self> {
        Self::build(input, layers, Source::Layers)
    }

    fn build(input: [usize; 3], layers: Vec<Arc<dyn MetaLayer>>, source: Source) -> Result<Self> {
        let mut shape = input.to_vec();
        let mut last_input = Vec::new();
        let (mut ranges, mut specs) = (Vec::new(), Vec::new());
        for layer in &layers {
            last_input = shape.clone();
            shape = layer.output_shape(&shape)?;
            let own = layer.params();
            ranges.push((specs.len(), own.len()));
            specs.extend(own);
        }
        let rows = |s: &[usize], what: &str| match s {
            [d] => Ok(*d),
            _ => Err(Error::ShapeMismatch {
                context: format!("MetaArch::new: the {what}"),
                expected: "rows [d]".into(),
                got: format!("{s:?}"),
            }),
        };
        let feature_dim = rows(&last_input, "input of the last layer (the embedding)")?;
        let classes = rows(&shape, "output of the last layer (the logits)")?;
        Ok(MetaArch {
            layers,
            ranges,
            specs,
            input,
            classes,
            feature_dim,
            source,
        })
    }

    /// Mirrors the crate's [`ConvNet`] built from `config` (instance norm or none, average
    /// pooling or none).
    pub fn convnet(config: &ConvNetConfig) -> Result<Self> {
        const M: &str = "MetaArch";
        crate::error::ensure(
            matches!(config.norm, NormKind::Instance | NormKind::None),
            M,
            "norm",
            || {
                format!(
                    "{:?} is not supported by the meta-gradient engine; use Instance or None",
                    config.norm
                )
            },
        )?;
        crate::error::ensure(
            matches!(config.pool, PoolKind::Avg | PoolKind::None),
            M,
            "pool",
            || {
                format!(
                    "{:?} is not supported by the meta-gradient engine; use Avg or None",
                    config.pool
                )
            },
        )?;
        config.check()?;
        let mut layers: Vec<Arc<dyn MetaLayer>> = Vec::new();
        let [mut h, mut w] = config.image_size;
        for d in 0..config.depth {
            let c_in = if d == 0 {
                config.channels
            } else {
                config.width
            };
            layers.push(Arc::new(Conv2dLayer::new(
                c_in,
                config.width,
                [3, 3],
                [1, 1],
            )));
            if config.norm == NormKind::Instance {
                layers.push(Arc::new(InstanceNormLayer {
                    channels: config.width,
                }));
            }
            layers.push(Arc::new(ReluLayer));
            if config.pool == PoolKind::Avg {
                layers.push(Arc::new(AvgPool2Layer));
                h /= 2;
                w /= 2;
            }
        }
        crate::error::ensure(h >= 1 && w >= 1, M, "image_size", || {
            format!(
                "{}x{} images vanish after {} poolings; use a smaller depth or PoolKind::None",
                config.image_size[0], config.image_size[1], config.depth
            )
        })?;
        layers.push(Arc::new(FlattenLayer));
        layers.push(Arc::new(LinearLayer::new(
            config.width * h * w,
            config.num_classes,
        )));
        Self::build(
            [config.channels, config.image_size[0], config.image_size[1]],
            layers,
            Source::ConvNet(config.clone()),
        )
    }

    /// An MLP: flatten, then `hidden` widths with ReLU, then the classifier (the reference
    /// code's MLP is `hidden = [128, 128]`). Its embedding is the last hidden layer's output.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!((arch.feature_dim(), arch.classes()), (3, 2));
    /// ```
    pub fn mlp(input: [usize; 3], hidden: &[usize], classes: usize) -> Self {
        let mut layers: Vec<Arc<dyn MetaLayer>> = vec![Arc::new(FlattenLayer)];
        let mut d = input.iter().product::<usize>();
        for &h in hidden {
            layers.push(Arc::new(LinearLayer::new(d, h)));
            layers.push(Arc::new(ReluLayer));
            d = h;
        }
        layers.push(Arc::new(LinearLayer::new(d, classes)));
        Self::build(input, layers, Source::Mlp(None)).expect("an MLP's layers fit each other")
    }

    /// Mirrors the crate's [`Mlp`] built from `config` (two hidden layers of `config.hidden`).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let cfg = MlpConfig::new(10, 1, [28, 28]).with_hidden(32);
    /// let arch = MetaArch::mlp_for(&cfg);
    /// let net = cfg.init(&device());
    /// assert_eq!(arch.params_from(&net).unwrap().num_elements(), 784 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10);
    /// ```
    pub fn mlp_for(config: &MlpConfig) -> Self {
        let input = [config.channels, config.image_size[0], config.image_size[1]];
        let mut arch = Self::mlp(input, &[config.hidden, config.hidden], config.num_classes);
        arch.source = Source::Mlp(Some(config.clone()));
        arch
    }

    /// A Burn [`Mlp`] holding `params` (for an arch built by [`MetaArch::mlp_for`]).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let arch = MetaArch::mlp_for(&MlpConfig::new(2, 1, [2, 2]).with_hidden(3));
    /// let net = arch.to_mlp(&arch.init(&device()), &device())?;
    /// assert!(MetaArch::mlp([1, 2, 2], &[3], 2).to_mlp(&arch.init(&device()), &device()).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn to_mlp(&self, params: &Params, device: &Device) -> Result<Mlp> {
        let Source::Mlp(Some(cfg)) = &self.source else {
            return Err(Error::config(
                "MetaArch",
                "source",
                "to_mlp needs an arch built by MetaArch::mlp_for",
            ));
        };
        Ok(cfg.init(device).map(&mut Put::new(params)))
    }

    /// The layers, in order.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(format!("{:?}", arch.layers()[0]), "FlattenLayer");
    /// ```
    pub fn layers(&self) -> &[Arc<dyn MetaLayer>] {
        &self.layers
    }

    /// Number of classes.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(arch.classes(), 2);
    /// ```
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Input `[channels, height, width]`.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(arch.input_shape(), [1, 2, 2]);
    /// ```
    pub fn input_shape(&self) -> [usize; 3] {
        self.input
    }

    /// Width of the embedding ([`Tape::features`]).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(arch.feature_dim(), 3);
    /// ```
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// Shapes and kinds of the parameters, in order.
    fn param_layout(&self) -> Vec<(Vec<usize>, ParamKind)> {
        self.specs
            .iter()
            .map(|s| (s.shape.clone(), s.kind))
            .collect()
    }

    /// Layer `i`'s view of `params`.
    fn view<'a>(&self, params: &'a Params, i: usize) -> LayerParams<'a> {
        let (start, len) = self.ranges[i];
        LayerParams::new(params, start, len)
    }

    /// Fresh parameters, initialised exactly as the mirrored Burn network (`ConvNetConfig::init`,
    /// or Burn's `Linear` for an MLP), or by each layer's [`MetaLayer::init`] for an arch of
    /// [`MetaArch::new`], from the device's random state (`device.seed(..)` first for
    /// reproducible runs).
    ///
    /// # Panics
    /// When a layer's `init` does not give the tensors its `params` declares.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// dev.seed(1);
    /// let a = arch.init(&dev);
    /// dev.seed(1);
    /// assert_eq!(a.flat().into_data(), arch.init(&dev).flat().into_data());
    /// ```
    pub fn init(&self, device: &Device) -> Params {
        match &self.source {
            Source::ConvNet(cfg) => self
                .params_from(&cfg.init(device))
                .expect("a ConvNet built from this arch's config has its layout"),
            Source::Mlp(Some(cfg)) => self
                .params_from(&cfg.init(device))
                .expect("an Mlp built from this arch's config has its layout"),
            Source::Mlp(None) | Source::Layers => {
                let mut values = Vec::new();
                for (layer, &(start, len)) in self.layers.iter().zip(&self.ranges) {
                    let own = layer.init(device);
                    assert_eq!(own.len(), len, "{layer:?}: init gives one tensor per param");
                    for (k, t) in own.iter().enumerate() {
                        let want = self.specs[start + k].shape.iter().product::<usize>();
                        assert_eq!(t.dims(), [want], "{layer:?}: init of tensor {k}");
                    }
                    values.extend(own);
                }
                let (shapes, kinds) = self.param_layout().into_iter().unzip();
                Params::new(values, shapes, kinds)
            }
        }
    }

    /// Shapes of the parameter tensors, in the order of [`Params`].
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::MetaArch;
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// assert_eq!(arch.param_shapes(), vec![vec![4, 3], vec![3], vec![3, 2], vec![2]]);
    /// ```
    pub fn param_shapes(&self) -> Vec<Vec<usize>> {
        self.param_layout().into_iter().map(|(s, _)| s).collect()
    }

    /// [`Params`] of this architecture from flat values, one per parameter tensor in order
    /// (checked against [`MetaArch::param_shapes`]).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&device());
    /// let again = arch.params_with(p.values().to_vec())?;
    /// assert_eq!(again.len(), 4);
    /// assert!(arch.params_with(p.values()[..3].to_vec()).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn params_with(&self, values: Vec<Tensor<1>>) -> Result<Params> {
        let layout = self.param_layout();
        let sizes: Vec<usize> = values.iter().map(|t| t.dims()[0]).collect();
        let want: Vec<usize> = layout.iter().map(|(s, _)| s.iter().product()).collect();
        if sizes != want {
            return Err(Error::ShapeMismatch {
                context: "MetaArch::params_with: parameter sizes".into(),
                expected: format!("{want:?}"),
                got: format!("{sizes:?}"),
            });
        }
        let (shapes, kinds) = layout.into_iter().unzip();
        Ok(Params::new(values, shapes, kinds))
    }

    /// The parameters of a Burn module with this arch's layout (its float parameters in
    /// declaration order), e.g. a [`ConvNet`] from the same config.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let cfg = ConvNetConfig::new(3, 1, [8, 8]).with_width(4).with_depth(1);
    /// let p = MetaArch::convnet(&cfg)?.params_from(&cfg.init(&device()))?;
    /// assert_eq!(p.shape(0), &[4, 1, 3, 3]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn params_from<M: Module>(&self, module: &M) -> Result<Params> {
        let mut collect = Collect::default();
        module.visit(&mut collect);
        let layout = self.param_layout();
        if collect.shapes.len() != layout.len()
            || collect.shapes.iter().zip(&layout).any(|(s, (l, _))| s != l)
        {
            return Err(Error::ShapeMismatch {
                context: "MetaArch::params_from: parameters of the module".into(),
                expected: format!("{:?}", layout.iter().map(|(s, _)| s).collect::<Vec<_>>()),
                got: format!("{:?}", collect.shapes),
            });
        }
        let (shapes, kinds) = layout.into_iter().unzip();
        Ok(Params::new(collect.values, shapes, kinds))
    }

    /// A Burn [`ConvNet`] holding `params` (for `fit`, `accuracy`, the evaluation protocol).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let arch = MetaArch::convnet(&ConvNetConfig::new(3, 1, [8, 8]).with_width(4).with_depth(1))?;
    /// let net = arch.to_convnet(&arch.init(&device()), &device())?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn to_convnet(&self, params: &Params, device: &Device) -> Result<ConvNet> {
        let Source::ConvNet(cfg) = &self.source else {
            return Err(Error::config(
                "MetaArch",
                "source",
                "to_convnet needs an arch built by MetaArch::convnet",
            ));
        };
        Ok(cfg.init(device).map(&mut Put::new(params)))
    }

    /// Any Burn module whose float parameters follow this arch's layout (in declaration
    /// order), holding `params` (off the autodiff graph): how an arch of [`MetaArch::new`]
    /// hands a trained network to `fit` and `accuracy` (the text CNN of `dd_prelude::text`).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the module's parameters are not this arch's.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let cfg = ConvNetConfig::new(3, 1, [8, 8]).with_width(4).with_depth(1);
    /// let arch = MetaArch::convnet(&cfg)?;
    /// let p = arch.init(&device());
    /// let net = arch.load_into(cfg.init(&device()), &p)?;
    /// assert_eq!(arch.params_from(&net)?.flat().into_data(), p.flat().into_data());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn load_into<M: Module>(&self, module: M, params: &Params) -> Result<M> {
        self.params_from(&module)?;
        Ok(module.map(&mut Put::new(params)))
    }

    /// Forward pass: logits `[n, classes]` and the tape for [`MetaArch::backward`].
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// let (logits, _tape) = arch.forward(&p, burn::tensor::Tensor::ones([5, 1, 2, 2], &dev));
    /// assert_eq!(logits.dims(), [5, 2]);
    /// ```
    pub fn forward(&self, params: &Params, x: Tensor<4>) -> (Tensor<2>, Tape) {
        self.run(params, x, true)
    }

    /// The embedding only (no tape kept, the classifier not applied).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// assert_eq!(arch.features(&p, burn::tensor::Tensor::ones([5, 1, 2, 2], &dev)).dims(), [5, 3]);
    /// ```
    pub fn features(&self, params: &Params, x: Tensor<4>) -> Tensor<2> {
        let (_, tape) = self.run_until(params, x, false, true, false);
        tape.features
            .expect("MetaArch::new checks that the last layer takes rows")
    }

    /// Forward pass keeping every ReLU output and the embedding, without backward caches
    /// (feature-matching methods).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// let (_, tape) = arch.forward_taps(&p, burn::tensor::Tensor::ones([5, 1, 2, 2], &dev));
    /// assert_eq!(tape.relu_outputs.len(), 1);
    /// ```
    pub fn forward_taps(&self, params: &Params, x: Tensor<4>) -> (Tensor<2>, Tape) {
        self.run(params, x, false)
    }

    fn run(&self, params: &Params, x: Tensor<4>, keep: bool) -> (Tensor<2>, Tape) {
        let (out, tape) = self.run_until(params, x, keep, false, false);
        (out.into_flat(), tape)
    }

    /// [`MetaArch::forward`] for a tape that only [`MetaArch::backward`] reads (as in
    /// [`MetaArch::loss_and_grads`]): on plain tensors a norm, ReLU and 2x2 average pooling run
    /// as one fused block ([`MetaLayer::forward_relu_pool`]), whose ReLU output is then left
    /// out of [`Tape::relu_outputs`]. The logits and gradients are [`MetaArch::forward`]'s.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::convnet(&ConvNetConfig::new(1, 2, [8, 8]).with_width(4).with_depth(2))?;
    /// let p = arch.init(&dev);
    /// let [c, h, w] = arch.input_shape();
    /// let x = burn::tensor::Tensor::<4>::ones([3, c, h, w], &dev);
    /// let (logits, tape) = arch.forward_for_backward(&p, x);
    /// assert!(tape.relu_outputs.is_empty()); // both blocks ran fused
    /// let (grads, _) = arch.backward(&p, &tape, logits.ones_like(), false);
    /// assert_eq!(grads.len(), p.len());
    /// # Ok::<(), dd_prelude::Error>(())
    /// ```
    pub fn forward_for_backward(&self, params: &Params, x: Tensor<4>) -> (Tensor<2>, Tape) {
        let (out, tape) = self.run_until(params, x, true, false, true);
        (out.into_flat(), tape)
    }

    fn run_until(
        &self,
        params: &Params,
        x: Tensor<4>,
        keep: bool,
        stop_at_features: bool,
        fuse_pool: bool,
    ) -> (Act, Tape) {
        let mut tape = Tape {
            saved: Vec::new(),
            relu_outputs: Vec::new(),
            features: None,
        };
        let mut a = Act::Map(x);
        let last = self.layers.len() - 1;
        let mut fused_relu = false;
        let mut fused_pool = false;
        for (i, layer) in self.layers.iter().enumerate() {
            if std::mem::take(&mut fused_relu) {
                // the layer before ran this ReLU (`MetaLayer::forward_relu`, or
                // `forward_relu_pool` with the pooling after it)
                if keep {
                    tape.saved.push(Arc::new(FusedRelu));
                }
                if !fused_pool {
                    tape.relu_outputs.push(activation_tap(&a));
                }
                continue;
            }
            if std::mem::take(&mut fused_pool) {
                // the layers before ran this pooling (`MetaLayer::forward_relu_pool`)
                if keep {
                    tape.saved.push(Arc::new(FusedPool));
                }
                continue;
            }
            let block = fuse_pool
                && i + 2 < last
                && self.layers[i + 1].is_relu()
                && self.layers[i + 2].is_avg_pool2();
            if let Some((y, cache)) = block
                .then(|| layer.forward_relu_pool(self.view(params, i), &a))
                .flatten()
            {
                (fused_relu, fused_pool) = (true, true);
                if keep {
                    tape.saved.push(cache);
                }
                a = y;
                continue;
            }
            if i == last {
                if let Act::Flat(f) = &a {
                    tape.features = Some(f.clone());
                }
                if stop_at_features {
                    return (a, tape);
                }
            }
            let fused = (i + 1 < last && self.layers[i + 1].is_relu())
                .then(|| layer.forward_relu(self.view(params, i), &a))
                .flatten();
            let (y, cache) = match fused {
                Some(out) => {
                    fused_relu = true;
                    out
                }
                None => layer.forward(self.view(params, i), a),
            };
            if keep {
                tape.saved.push(cache);
            }
            if layer.is_activation() {
                tape.relu_outputs.push(activation_tap(&y));
            }
            a = y;
        }
        (a, tape)
    }

    /// Parameter gradients for the upstream gradient `dlogits`, by the explicit backward of
    /// every layer (tracked when the forward was); also the input gradient when `need_dx`.
    ///
    /// # Panics
    /// When `tape` is not from [`MetaArch::forward`] of this arch (e.g. from
    /// [`MetaArch::forward_taps`], which keeps no caches).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// let x = burn::tensor::Tensor::<4>::ones([5, 1, 2, 2], &dev);
    /// let (logits, tape) = arch.forward(&p, x);
    /// let (grads, dx) = arch.backward(&p, &tape, logits.ones_like(), true);
    /// assert_eq!((grads.len(), dx.unwrap().dims()), (4, [5, 1, 2, 2]));
    /// ```
    pub fn backward(
        &self,
        params: &Params,
        tape: &Tape,
        dlogits: Tensor<2>,
        need_dx: bool,
    ) -> (Params, Option<Tensor<4>>) {
        assert_eq!(
            tape.saved.len(),
            self.layers.len(),
            "the tape does not match the layers: use the tape of this arch's forward"
        );
        let mut grads: Vec<Option<Tensor<1>>> = vec![None; params.len()];
        // Below the first layer with parameters only the input gradient is left to compute.
        let first_param_layer = self.ranges.iter().position(|&(_, len)| len > 0);
        let mut d = Act::Flat(dlogits);
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let want_dx = need_dx || Some(i) != first_param_layer;
            let (dx, own) = layer.backward(self.view(params, i), &tape.saved[i], d, want_dx);
            let (start, len) = self.ranges[i];
            assert_eq!(own.len(), len, "{layer:?}: one gradient per parameter");
            for (k, g) in own.into_iter().enumerate() {
                grads[start + k] = Some(g);
            }
            if !need_dx && first_param_layer.is_none_or(|f| i <= f) {
                let values = grads
                    .into_iter()
                    .map(|g| g.expect("every parameter gets a gradient"))
                    .collect();
                return (
                    Params::new(values, params.shapes.clone(), params.kinds.clone()),
                    None,
                );
            }
            d = dx.unwrap_or_else(|| panic!("{layer:?} gave no input gradient"));
        }
        let values = grads
            .into_iter()
            .map(|g| g.expect("every parameter gets a gradient"))
            .collect();
        (
            Params::new(values, params.shapes.clone(), params.kinds.clone()),
            Some(d.into_map()),
        )
    }

    /// Mean softmax cross-entropy of `x` against `targets` (one-hot or soft rows, see
    /// [`SoftmaxCrossEntropyOp`]) and its parameter gradients by the explicit backward:
    /// differentiable with respect to `x`, `params` and `targets` when they are tracked (soft
    /// labels learnt through a matching loss).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::MetaArch;
    /// let dev = device();
    /// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
    /// let p = arch.init(&dev);
    /// let soft = burn::tensor::Tensor::<2>::from_floats([[0.8, 0.2], [0.5, 0.5]], &dev);
    /// let (loss, grads) = arch.loss_and_grads(&p, burn::tensor::Tensor::ones([2, 1, 2, 2], &dev), &soft);
    /// assert_eq!(grads.len(), p.len());
    /// assert!(loss.into_scalar::<f32>() > 0.0);
    /// ```
    pub fn loss_and_grads(
        &self,
        params: &Params,
        x: Tensor<4>,
        targets: &Tensor<2>,
    ) -> (Tensor<1>, Params) {
        let (logits, tape) = self.forward_for_backward(params, x);
        let (loss, probs) = SoftmaxCrossEntropyOp.forward(logits, targets.clone());
        let dlogits = SoftmaxCrossEntropyOp.backward(&probs, targets);
        let (grads, _) = self.backward(params, &tape, dlogits, false);
        (loss, grads)
    }
}

/// An activation as [`Tape::relu_outputs`] keeps it: maps as they are, rows as `[n, d, 1, 1]`.
fn activation_tap(a: &Act) -> Tensor<4> {
    match a {
        Act::Map(t) => t.clone(),
        Act::Flat(t) => {
            let [n, d] = t.dims();
            t.clone().reshape([n, d, 1, 1])
        }
    }
}

/// Collects a module's float parameters, flattened, in visiting order.
#[derive(Default)]
struct Collect {
    values: Vec<Tensor<1>>,
    shapes: Vec<Vec<usize>>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        self.shapes.push(t.dims().to_vec());
        self.values.push(flat(t));
    }
}

/// Replaces a module's float parameters, in visiting order.
struct Put {
    values: Vec<Tensor<1>>,
    next: usize,
}

impl Put {
    /// Puts `params`, off the autodiff graph.
    fn new(params: &Params) -> Self {
        Put {
            values: params.inner().values.clone(),
            next: 0,
        }
    }
}

impl ModuleMapper for Put {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let v = self.values[self.next].clone();
        self.next += 1;
        param.map(|t| {
            let shape: [usize; D] = t.dims();
            v.reshape(shape).to_device(&t.device())
        })
    }
}
