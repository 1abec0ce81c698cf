//! The meta-gradient engine: networks whose backward pass is written in tracked tensor ops.
//!
//! # Why
//! Burn's autodiff is first order: `loss.backward()` returns gradients that are plain values,
//! and nothing flows back through an optimizer step. Gradient matching (DC, DSA, CAFE's
//! successors), trajectory matching (MTT) and soft-label distillation differentiate a function
//! *of a gradient* (or of weights after SGD steps) with respect to the synthetic images.
//!
//! # Design
//! A [`MetaArch`] is a functional network: a list of [`Layer`]s and a [`Params`] value (one
//! flat tensor per learnable array, in the order of the Burn module it mirrors). Its forward
//! pass keeps a [`Tape`] of caches; its [`MetaArch::backward`] computes every parameter gradient
//! with the explicit backward of each op ([`ops`]): conv via transposed convolution and an
//! axis-swapped convolution, instance norm in closed form, ReLU as a mask multiply, average
//! pooling as nearest up-sampling / 4, linear layers as matrix products, softmax
//! cross-entropy as `(softmax - targets) / n`. All of it is ordinary Burn tensor ops, so when
//! the images (or the parameters) are autodiff tensors the computed gradient `g(S, theta)` is
//! itself in the graph, and Burn's first-order `backward()` of any loss built from it gives the
//! exact meta-gradient: `d match(g_syn(S), g_real) / dS` for gradient matching, or
//! `d L(theta_K(S, lr)) / dS, dlr` through `theta_{k+1} = theta_k - lr * g(theta_k, S)` for
//! unrolled SGD ([`Params::sgd_step`], [`Params::sgd_step_tensor`]). No host round trip is
//! involved, so the same code runs on the CPU (`flex`) and on CUDA.
//!
//! Parameters convert from and to the crate's Burn [`ConvNet`] ([`MetaArch::params_from`],
//! [`MetaArch::to_convnet`]), so a fresh network for distillation is initialised exactly as a
//! network for evaluation, and a distilled-on network can be scored with `fit`/`accuracy`.
//!
//! Supported: the ConvNet family (depth 1 to 4, any width, instance norm or none, average
//! pooling or none) and MLPs. Batch norm, group norm and max pooling are refused with an
//! [`Error::InvalidConfig`].
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

pub mod ops;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::LinearConfig;
use burn::tensor::{Device, Gradients, Tensor};

use crate::error::{Error, Result};
use crate::models::{ConvNet, ConvNetConfig, Mlp, MlpConfig, NormKind, PoolKind};
use ops::{
    AvgPool2Op, Conv2dOp, ConvCache, InstanceNormOp, LinearCache, LinearOp, NormCache, ReluOp,
    SoftmaxCrossEntropyOp,
};

/// One layer of a [`MetaArch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Layer {
    /// 3x3 convolution, stride 1, zero padding, with bias.
    Conv {
        /// Input channels.
        c_in: usize,
        /// Output channels.
        c_out: usize,
        /// Zero padding on each side.
        padding: usize,
    },
    /// Instance normalisation with affine parameters.
    InstanceNorm {
        /// Channels.
        channels: usize,
    },
    /// ReLU.
    Relu,
    /// 2x2 average pooling, stride 2.
    AvgPool2,
    /// `[n, c, h, w]` to `[n, c*h*w]`: the embedding of DM/CAFE is taken here.
    Flatten,
    /// Fully connected layer.
    Linear {
        /// Input width.
        d_in: usize,
        /// Output width.
        d_out: usize,
    },
}

/// What a parameter tensor is, for distances that treat layers differently (DC's
/// `distance_wb` compares weights per output unit and ignores biases and norm parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Conv kernel `[c_out, c_in, k, k]`.
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
    pub fn new(values: Vec<Tensor<1>>, shapes: Vec<Vec<usize>>, kinds: Vec<ParamKind>) -> Self {
        assert!(values.len() == shapes.len() && shapes.len() == kinds.len());
        Params {
            values,
            shapes,
            kinds,
        }
    }

    /// Number of parameter tensors.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there is no tensor.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total number of scalars.
    pub fn num_elements(&self) -> usize {
        self.shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum()
    }

    /// The flat tensors.
    pub fn values(&self) -> &[Tensor<1>] {
        &self.values
    }

    /// The shape of tensor `i`.
    pub fn shape(&self, i: usize) -> &[usize] {
        &self.shapes[i]
    }

    /// The kind of tensor `i`.
    pub fn kind(&self, i: usize) -> ParamKind {
        self.kinds[i]
    }

    /// Tensor `i` reshaped to its rank-`D` shape.
    pub fn get<const D: usize>(&self, i: usize) -> Tensor<D> {
        let shape: [usize; D] = self.shapes[i]
            .clone()
            .try_into()
            .expect("parameter rank matches its layer");
        self.values[i].clone().reshape(shape)
    }

    /// The same structure with `f` applied to every flat tensor.
    pub fn map(&self, f: impl Fn(Tensor<1>) -> Tensor<1>) -> Params {
        Params {
            values: self.values.iter().cloned().map(f).collect(),
            shapes: self.shapes.clone(),
            kinds: self.kinds.clone(),
        }
    }

    /// The same structure with `f(self_i, other_i)`.
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
    pub fn sgd_step(&self, grads: &Params, lr: f64) -> Params {
        self.zip_map(grads, |p, g| p.sub(g.mul_scalar(lr)))
    }

    /// One SGD step with a learnable step size `lr` (a `[1]` tensor, e.g. MTT's `syn_lr`):
    /// `theta - lr * grads`, differentiable in `theta`, `grads` and `lr`.
    pub fn sgd_step_tensor(&self, grads: &Params, lr: &Tensor<1>) -> Params {
        self.zip_map(grads, |p, g| p.sub(g.mul(lr.clone())))
    }

    /// Every tensor detached from the graph (a new leaf).
    pub fn detach(&self) -> Params {
        self.map(|t| t.detach())
    }

    /// Every tensor on the autodiff backend, requiring its gradient.
    pub fn require_grad(&self) -> Params {
        self.map(|t| t.autodiff().require_grad())
    }

    /// Every tensor on the autodiff backend (tracked only through what it is combined with).
    pub fn autodiff(&self) -> Params {
        self.map(|t| t.autodiff())
    }

    /// Every tensor off the autodiff backend.
    pub fn inner(&self) -> Params {
        self.map(|t| t.inner())
    }

    /// All tensors concatenated into one vector (MTT's `flat_param`).
    pub fn flat(&self) -> Tensor<1> {
        Tensor::cat(self.values.clone(), 0)
    }

    /// The gradients Burn's autodiff found for these (leaf, `require_grad`) tensors; zeros where
    /// a tensor got none.
    pub fn grads_from(&self, grads: &Gradients) -> Params {
        self.map(|t| {
            t.grad(grads)
                .unwrap_or_else(|| Tensor::zeros_like(&t.clone().inner()))
        })
    }

    /// Sum of squares of all entries, `[1]`.
    pub fn squared_norm(&self) -> Tensor<1> {
        let parts: Vec<Tensor<1>> = self
            .values
            .iter()
            .map(|t| t.clone().square().sum())
            .collect();
        Tensor::cat(parts, 0).sum()
    }
}

/// Which Burn network a [`MetaArch`] mirrors.
#[derive(Debug, Clone)]
enum Source {
    ConvNet(ConvNetConfig),
    Mlp(Option<MlpConfig>),
}

/// A functional network: layers plus the input shape and the number of classes; its
/// parameters are passed to every call as [`Params`].
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
    layers: Vec<Layer>,
    input: [usize; 3],
    classes: usize,
    feature_dim: usize,
    source: Source,
}

/// Activations flowing through the layers.
#[derive(Debug, Clone)]
enum Act {
    Map(Tensor<4>),
    Vec(Tensor<2>),
}

impl Act {
    fn map(self) -> Tensor<4> {
        match self {
            Act::Map(t) => t,
            Act::Vec(_) => panic!("a spatial layer got a flat input: invalid MetaArch"),
        }
    }
    fn vec(self) -> Tensor<2> {
        match self {
            Act::Vec(t) => t,
            Act::Map(_) => panic!("a dense layer got a spatial input: invalid MetaArch"),
        }
    }
}

/// Per-layer cache of a forward pass.
#[derive(Debug, Clone)]
enum Saved {
    Conv(ConvCache),
    Norm(Box<NormCache>),
    Relu4(Tensor<4>),
    Relu2(Tensor<2>),
    Pool([usize; 2]),
    Flatten([usize; 4]),
    Linear(LinearCache),
}

/// A forward pass's caches, consumed by [`MetaArch::backward`], plus the activations that
/// feature-matching methods read.
#[derive(Debug, Clone)]
pub struct Tape {
    saved: Vec<Saved>,
    /// Output of every ReLU, in order (CAFE's layer-wise statistics).
    pub relu_outputs: Vec<Tensor<4>>,
    /// The flattened embedding fed to the classifier (DM's and CAFE's embedding).
    pub features: Option<Tensor<2>>,
}

impl MetaArch {
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
        crate::error::ensure(config.depth >= 1 && config.width >= 1, M, "depth", || {
            "depth and width must be at least 1".into()
        })?;
        let mut layers = Vec::new();
        let [mut h, mut w] = config.image_size;
        for d in 0..config.depth {
            let c_in = if d == 0 {
                config.channels
            } else {
                config.width
            };
            layers.push(Layer::Conv {
                c_in,
                c_out: config.width,
                padding: 1,
            });
            if config.norm == NormKind::Instance {
                layers.push(Layer::InstanceNorm {
                    channels: config.width,
                });
            }
            layers.push(Layer::Relu);
            if config.pool == PoolKind::Avg {
                layers.push(Layer::AvgPool2);
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
        layers.push(Layer::Flatten);
        let feature_dim = config.width * h * w;
        layers.push(Layer::Linear {
            d_in: feature_dim,
            d_out: config.num_classes,
        });
        Ok(MetaArch {
            layers,
            input: [config.channels, config.image_size[0], config.image_size[1]],
            classes: config.num_classes,
            feature_dim,
            source: Source::ConvNet(config.clone()),
        })
    }

    /// An MLP: flatten, then `hidden` widths with ReLU, then the classifier (the reference
    /// code's MLP is `hidden = [128, 128]`). Its embedding is the last hidden layer's output.
    pub fn mlp(input: [usize; 3], hidden: &[usize], classes: usize) -> Self {
        let mut layers = vec![Layer::Flatten];
        let mut d = input.iter().product::<usize>();
        for &h in hidden {
            layers.push(Layer::Linear { d_in: d, d_out: h });
            layers.push(Layer::Relu);
            d = h;
        }
        layers.push(Layer::Linear {
            d_in: d,
            d_out: classes,
        });
        MetaArch {
            layers,
            input,
            classes,
            feature_dim: d,
            source: Source::Mlp(None),
        }
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
    pub fn to_mlp(&self, params: &Params, device: &Device) -> Result<Mlp> {
        let Source::Mlp(Some(cfg)) = &self.source else {
            return Err(Error::config(
                "MetaArch",
                "source",
                "to_mlp needs an arch built by MetaArch::mlp_for",
            ));
        };
        let mut put = Put {
            values: params.inner().values.clone(),
            next: 0,
        };
        Ok(cfg.init(device).map(&mut put))
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Input `[channels, height, width]`.
    pub fn input_shape(&self) -> [usize; 3] {
        self.input
    }

    /// Width of the embedding ([`Tape::features`]).
    pub fn feature_dim(&self) -> usize {
        self.feature_dim
    }

    /// Shapes and kinds of the parameters, in order.
    fn param_layout(&self) -> Vec<(Vec<usize>, ParamKind)> {
        let mut out = Vec::new();
        for l in &self.layers {
            match *l {
                Layer::Conv { c_in, c_out, .. } => {
                    out.push((vec![c_out, c_in, 3, 3], ParamKind::ConvWeight));
                    out.push((vec![c_out], ParamKind::Vector));
                }
                Layer::InstanceNorm { channels } => {
                    out.push((vec![channels], ParamKind::Vector));
                    out.push((vec![channels], ParamKind::Vector));
                }
                Layer::Linear { d_in, d_out } => {
                    out.push((vec![d_in, d_out], ParamKind::LinearWeight));
                    out.push((vec![d_out], ParamKind::Vector));
                }
                Layer::Relu | Layer::AvgPool2 | Layer::Flatten => {}
            }
        }
        out
    }

    /// Fresh parameters, initialised exactly as the mirrored Burn network (`ConvNetConfig::init`,
    /// or Burn's `Linear` for an MLP), from the device's random state (`device.seed(..)` first for
    /// reproducible runs).
    pub fn init(&self, device: &Device) -> Params {
        match &self.source {
            Source::ConvNet(cfg) => self
                .params_from(&cfg.init(device))
                .expect("a ConvNet built from this arch's config has its layout"),
            Source::Mlp(Some(cfg)) => self
                .params_from(&cfg.init(device))
                .expect("an Mlp built from this arch's config has its layout"),
            Source::Mlp(None) => {
                let mut values = Vec::new();
                for l in &self.layers {
                    if let Layer::Linear { d_in, d_out } = *l {
                        let lin = LinearConfig::new(d_in, d_out).init(device);
                        values.push(lin.weight.val().reshape([d_in * d_out]));
                        let b = lin
                            .bias
                            .map(|b| b.val())
                            .unwrap_or_else(|| Tensor::zeros([d_out], device));
                        values.push(b);
                    }
                }
                let (shapes, kinds) = self.param_layout().into_iter().unzip();
                Params::new(values, shapes, kinds)
            }
        }
    }

    /// The parameters of a Burn module with this arch's layout (its float parameters in
    /// declaration order), e.g. a [`ConvNet`] from the same config.
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
    pub fn to_convnet(&self, params: &Params, device: &Device) -> Result<ConvNet> {
        let Source::ConvNet(cfg) = &self.source else {
            return Err(Error::config(
                "MetaArch",
                "source",
                "to_convnet needs an arch built by MetaArch::convnet",
            ));
        };
        let mut put = Put {
            values: params.inner().values.clone(),
            next: 0,
        };
        Ok(cfg.init(device).map(&mut put))
    }

    /// Forward pass: logits `[n, classes]` and the tape for [`MetaArch::backward`].
    pub fn forward(&self, params: &Params, x: Tensor<4>) -> (Tensor<2>, Tape) {
        self.run(params, x, true)
    }

    /// The embedding only (no tape kept, the classifier not applied).
    pub fn features(&self, params: &Params, x: Tensor<4>) -> Tensor<2> {
        let (_, tape) = self.run_until(params, x, false, true);
        tape.features.expect("every arch has a Flatten layer")
    }

    /// Forward pass keeping every ReLU output and the embedding, without backward caches
    /// (feature-matching methods).
    pub fn forward_taps(&self, params: &Params, x: Tensor<4>) -> (Tensor<2>, Tape) {
        self.run(params, x, false)
    }

    fn run(&self, params: &Params, x: Tensor<4>, keep: bool) -> (Tensor<2>, Tape) {
        let (out, tape) = self.run_until(params, x, keep, false);
        (out.vec(), tape)
    }

    fn run_until(
        &self,
        params: &Params,
        x: Tensor<4>,
        keep: bool,
        stop_at_features: bool,
    ) -> (Act, Tape) {
        let mut tape = Tape {
            saved: Vec::new(),
            relu_outputs: Vec::new(),
            features: None,
        };
        let mut a = Act::Map(x);
        let mut p = 0;
        for l in &self.layers {
            a = match *l {
                Layer::Conv { padding, .. } => {
                    let (y, c) =
                        Conv2dOp { padding }.forward(a.map(), params.get(p), params.get(p + 1));
                    p += 2;
                    if keep {
                        tape.saved.push(Saved::Conv(c));
                    }
                    Act::Map(y)
                }
                Layer::InstanceNorm { .. } => {
                    let (y, c) = InstanceNormOp { epsilon: 1e-5 }.forward(
                        a.map(),
                        params.get(p),
                        params.get(p + 1),
                    );
                    p += 2;
                    if keep {
                        tape.saved.push(Saved::Norm(Box::new(c)));
                    }
                    Act::Map(y)
                }
                Layer::Relu => match a {
                    Act::Map(x) => {
                        let (y, m) = ReluOp.forward(x);
                        if keep {
                            tape.saved.push(Saved::Relu4(m));
                        }
                        tape.relu_outputs.push(y.clone());
                        Act::Map(y)
                    }
                    Act::Vec(x) => {
                        let (y, m) = ReluOp.forward(x);
                        if keep {
                            tape.saved.push(Saved::Relu2(m));
                        }
                        let [n, d] = y.dims();
                        tape.relu_outputs.push(y.clone().reshape([n, d, 1, 1]));
                        Act::Vec(y)
                    }
                },
                Layer::AvgPool2 => {
                    let (y, hw) = AvgPool2Op.forward(a.map());
                    if keep {
                        tape.saved.push(Saved::Pool(hw));
                    }
                    Act::Map(y)
                }
                Layer::Flatten => {
                    let x = a.map();
                    let dims = x.dims();
                    if keep {
                        tape.saved.push(Saved::Flatten(dims));
                    }
                    let f: Tensor<2> = x.flatten(1, 3);
                    if matches!(self.source, Source::ConvNet(_)) {
                        tape.features = Some(f.clone());
                        if stop_at_features {
                            return (Act::Vec(f), tape);
                        }
                    }
                    Act::Vec(f)
                }
                Layer::Linear { .. } => {
                    let is_last = p + 2 == params.len();
                    if is_last && matches!(self.source, Source::Mlp(_)) {
                        tape.features = Some(a.clone().vec());
                        if stop_at_features {
                            return (a, tape);
                        }
                    }
                    let (y, c) = LinearOp.forward(a.vec(), params.get(p), params.get(p + 1));
                    p += 2;
                    if keep {
                        tape.saved.push(Saved::Linear(c));
                    }
                    Act::Vec(y)
                }
            };
        }
        (a, tape)
    }

    /// Parameter gradients for the upstream gradient `dlogits`, by the explicit backward of
    /// every op (tracked when the forward was); also the input gradient when `need_dx`.
    pub fn backward(
        &self,
        params: &Params,
        tape: &Tape,
        dlogits: Tensor<2>,
        need_dx: bool,
    ) -> (Params, Option<Tensor<4>>) {
        let mut grads: Vec<Option<Tensor<1>>> = vec![None; params.len()];
        let mut p = params.len();
        let mut d = Some(Act::Vec(dlogits));
        let first_param_layer = self
            .layers
            .iter()
            .position(|l| matches!(l, Layer::Conv { .. } | Layer::Linear { .. }));
        for (i, (l, saved)) in self.layers.iter().zip(&tape.saved).enumerate().rev() {
            let first = Some(i) == first_param_layer && !need_dx;
            let cur = d.take().expect("an upstream gradient");
            d = match (*l, saved) {
                (Layer::Conv { padding, .. }, Saved::Conv(c)) => {
                    p -= 2;
                    let (dx, dw, db) =
                        Conv2dOp { padding }.backward(c, &params.get(p), cur.map(), !first);
                    grads[p] = Some(flat(dw));
                    grads[p + 1] = Some(db);
                    dx.map(Act::Map)
                }
                (Layer::InstanceNorm { .. }, Saved::Norm(c)) => {
                    p -= 2;
                    let (dx, dg, db) =
                        InstanceNormOp { epsilon: 1e-5 }.backward(c, &params.get(p), cur.map());
                    grads[p] = Some(dg);
                    grads[p + 1] = Some(db);
                    Some(Act::Map(dx))
                }
                (Layer::Relu, Saved::Relu4(m)) => Some(Act::Map(ReluOp.backward(m, cur.map()))),
                (Layer::Relu, Saved::Relu2(m)) => Some(Act::Vec(ReluOp.backward(m, cur.vec()))),
                (Layer::AvgPool2, Saved::Pool(hw)) => {
                    Some(Act::Map(AvgPool2Op.backward(*hw, cur.map())))
                }
                (Layer::Flatten, Saved::Flatten(dims)) => Some(Act::Map(cur.vec().reshape(*dims))),
                (Layer::Linear { .. }, Saved::Linear(c)) => {
                    p -= 2;
                    let (dx, dw, db) = LinearOp.backward(c, &params.get(p), cur.vec(), !first);
                    grads[p] = Some(flat(dw));
                    grads[p + 1] = Some(db);
                    dx.map(Act::Vec)
                }
                _ => panic!("tape does not match the layers: use the tape of this arch's forward"),
            };
            if d.is_none() {
                break;
            }
        }
        let values = grads
            .into_iter()
            .map(|g| g.expect("every parameter gets a gradient"))
            .collect();
        let dx = if need_dx { d.map(Act::map) } else { None };
        (
            Params::new(values, params.shapes.clone(), params.kinds.clone()),
            dx,
        )
    }

    /// Mean softmax cross-entropy of `x` against `targets` (one-hot or soft rows) and its
    /// parameter gradients by the explicit backward: differentiable with respect to `x` and
    /// `params` when they are tracked.
    pub fn loss_and_grads(
        &self,
        params: &Params,
        x: Tensor<4>,
        targets: &Tensor<2>,
    ) -> (Tensor<1>, Params) {
        let (logits, tape) = self.forward(params, x);
        let (loss, probs) = SoftmaxCrossEntropyOp.forward(logits, targets.clone());
        let dlogits = SoftmaxCrossEntropyOp.backward(&probs, targets);
        let (grads, _) = self.backward(params, &tape, dlogits, false);
        (loss, grads)
    }
}

fn flat<const D: usize>(t: Tensor<D>) -> Tensor<1> {
    let n = t.dims().iter().product::<usize>();
    t.reshape([n])
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
