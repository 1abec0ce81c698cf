//! The differentiable ops of the meta-gradient engine, each with its backward pass written
//! out in ordinary (tracked) Burn tensor ops.
//!
//! Every op has `forward(..) -> (output, cache)` and `backward(cache, .., dy) -> (dx, dparams)`.
//! Because `backward` is made of the same differentiable tensor ops as `forward`, a gradient
//! computed with it is itself a node of Burn's autodiff graph: differentiating a function of
//! that gradient (a gradient-matching distance, the weights after an unrolled SGD step) with
//! Burn's ordinary first-order `backward()` gives the exact second-order quantity.
//!
//! Each op is checked against finite differences and against Burn's own first-order gradient in
//! `tests/engine_ops.rs` (and, for the ops of the ConvNet, in `tests/distill_engine.rs`).
//!
//! # Example
//! ```
//! use dd_prelude::distill::engine::ops::LinearOp;
//! use burn::tensor::{Tensor, Distribution};
//! let dev = dd_prelude::device();
//! let x = Tensor::<2>::random([3, 4], Distribution::Normal(0.0, 1.0), &dev);
//! let w = Tensor::<2>::random([4, 2], Distribution::Normal(0.0, 1.0), &dev);
//! let b = Tensor::<1>::zeros([2], &dev);
//! let (y, cache) = LinearOp.forward(x, w.clone(), b);
//! let (dx, dw, db) = LinearOp.backward(&cache, &w, Tensor::ones_like(&y), true);
//! assert_eq!(dx.unwrap().dims(), [3, 4]);
//! assert_eq!(dw.dims(), [4, 2]);
//! assert_eq!(db.dims(), [2]);
//! ```

use burn::tensor::activation::{log_softmax, relu, softmax};
use burn::tensor::{Int, Tensor, TensorData};

use crate::models::{
    block_norm_relu_pool, block_norm_relu_pool_backward, conv2d_unit_stride, conv2d_unit_stride_db,
    conv2d_unit_stride_dw, conv2d_unit_stride_dx,
};

/// A 3x3 (any odd square kernel) convolution with stride 1, zero padding `padding` and a bias,
/// as in the ConvNet of DatasetCondensation: [`Conv2dRectOp`] with the same padding on both
/// axes.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::Conv2dOp;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let x = Tensor::<4>::ones([1, 1, 4, 4], &dev);
/// let (y, _) = Conv2dOp { padding: 1 }.forward(x, Tensor::ones([2, 1, 3, 3], &dev), Tensor::zeros([2], &dev));
/// assert_eq!(y.dims(), [1, 2, 4, 4]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Conv2dOp {
    /// Zero padding on every side.
    pub padding: usize,
}

/// What [`Conv2dOp::backward`] and [`Conv2dRectOp::backward`] need from the forward pass: its
/// input.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::*;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let (_, cache): (_, ConvCache) = Conv2dOp { padding: 0 }.forward(Tensor::ones([1, 1, 3, 3], &dev), Tensor::ones([1, 1, 3, 3], &dev), Tensor::zeros([1], &dev));
/// ```
#[derive(Debug, Clone)]
pub struct ConvCache {
    x: Tensor<4>,
}

impl Conv2dOp {
    fn rect(&self) -> Conv2dRectOp {
        Conv2dRectOp {
            padding: [self.padding, self.padding],
        }
    }

    /// `y = conv(x, weight) + bias`; `x` `[n, c_in, h, w]`, `weight` `[c_out, c_in, k, k]`.
    pub fn forward(
        &self,
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Tensor<1>,
    ) -> (Tensor<4>, ConvCache) {
        self.rect().forward(x, weight, bias)
    }

    /// `(dx, dweight, dbias)` for the upstream gradient `dy`; `dx` only when `need_dx` (the
    /// first layer's input gradient is not needed for parameter gradients).
    pub fn backward(
        &self,
        cache: &ConvCache,
        weight: &Tensor<4>,
        dy: Tensor<4>,
        need_dx: bool,
    ) -> (Option<Tensor<4>>, Tensor<4>, Tensor<1>) {
        self.rect().backward(cache, weight, dy, need_dx)
    }
}

/// A convolution with any kernel shape `kh x kw` (e.g. `3 x 100` across an embedded sentence
/// `[n, 1, L, d]`, the text CNN of Kim 2014), stride 1, zero padding `[ph, pw]` per axis, and
/// a bias.
///
/// Backward: `dx` is the transposed convolution of `dy` with the same kernel
/// ([`conv2d_unit_stride_dx`]), `dW` the correlation of the input with `dy` summed over the
/// batch ([`conv2d_unit_stride_dw`]), `db` sums `dy`. On the CPU all three run the kernels of
/// [`UnitConvBackend`](crate::models::UnitConvBackend) (`dx = fold(W^T dy)`,
/// `dW = sum dy cols^T`, one image's patch matrix at a time), which Burn's autodiff
/// differentiates again for the meta-gradient.
///
/// # Shapes
/// `x` `[n, c_in, h, w]`, `weight` `[c_out, c_in, kh, kw]`, `bias` `[c_out]`, output
/// `[n, c_out, h + 2 ph - kh + 1, w + 2 pw - kw + 1]`.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::Conv2dRectOp;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let sentence = Tensor::<4>::ones([2, 1, 7, 5], &dev); // 7 words of width 5
/// let op = Conv2dRectOp { padding: [1, 0] };
/// let w = Tensor::<4>::ones([4, 1, 3, 5], &dev);
/// let (y, cache) = op.forward(sentence, w.clone(), Tensor::zeros([4], &dev));
/// assert_eq!(y.dims(), [2, 4, 7, 1]);
/// let (dx, dw, db) = op.backward(&cache, &w, Tensor::ones_like(&y), true);
/// assert_eq!((dx.unwrap().dims(), dw.dims(), db.dims()), ([2, 1, 7, 5], [4, 1, 3, 5], [4]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Conv2dRectOp {
    /// Zero padding `[rows, columns]`, on both sides of each axis.
    pub padding: [usize; 2],
}

impl Conv2dRectOp {
    /// `y = conv(x, weight) + bias`.
    pub fn forward(
        &self,
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Tensor<1>,
    ) -> (Tensor<4>, ConvCache) {
        let y = conv2d_unit_stride(x.clone(), weight, Some(bias), self.padding);
        (y, ConvCache { x })
    }

    /// `(dx, dweight, dbias)` for the upstream gradient `dy`; `dx` only when `need_dx`.
    pub fn backward(
        &self,
        cache: &ConvCache,
        weight: &Tensor<4>,
        dy: Tensor<4>,
        need_dx: bool,
    ) -> (Option<Tensor<4>>, Tensor<4>, Tensor<1>) {
        let [_, _, kh, kw] = weight.dims();
        let [_, _, h, w] = cache.x.dims();
        let dx = need_dx
            .then(|| conv2d_unit_stride_dx(dy.clone(), weight.clone(), [h, w], self.padding));
        let dw = conv2d_unit_stride_dw(cache.x.clone(), dy.clone(), [kh, kw], self.padding);
        let db = conv2d_unit_stride_db(dy);
        (dx, dw, db)
    }
}

/// Instance normalisation with affine parameters (`GroupNorm(C, C)` in the reference code,
/// Burn's `InstanceNorm`): per sample and channel, `y = gamma * (x - mean) / sqrt(var + eps) + beta`
/// with the biased variance over the spatial positions.
///
/// Backward (closed form): with `g = dy * gamma`,
/// `dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps)` (means over positions),
/// `dgamma = sum(dy * xhat)`, `dbeta = sum(dy)` (sums over samples and positions).
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::*;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let op = InstanceNormOp { epsilon: 1e-5 };
/// let (gamma, beta) = (Tensor::<1>::ones([2], &dev), Tensor::<1>::zeros([2], &dev));
/// let (y, cache) = op.forward(Tensor::ones([1, 2, 3, 3], &dev), gamma.clone(), beta);
/// let (dx, dgamma, _) = op.backward(&cache, &gamma, y.ones_like());
/// assert_eq!((dx.dims(), dgamma.dims()), ([1, 2, 3, 3], [2]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct InstanceNormOp {
    /// Added to the variance (1e-5 in PyTorch and Burn).
    pub epsilon: f64,
}

/// What [`InstanceNormOp::backward`] needs: the normalised input and `1/sqrt(var + eps)` as tracked
/// tensors, or (an untracked pass on the CPU) the input and the gain for the fused kernel.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::*;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let (_, cache): (_, NormCache) = InstanceNormOp { epsilon: 1e-5 }.forward(Tensor::ones([1, 1, 2, 2], &dev), Tensor::ones([1], &dev), Tensor::zeros([1], &dev));
/// ```
#[derive(Debug, Clone)]
pub struct NormCache {
    kind: NormCacheKind,
    dims: [usize; 4],
}

/// Tracked passes keep the normalised input as a graph; untracked passes on the CPU keep only
/// the input and its gain, for the fused kernel's backward, and the shift when a ReLU was
/// fused after the norm ([`InstanceNormOp::forward_relu`]: its mask depends on the shift).
// One cache per norm layer and pass: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum NormCacheKind {
    Graph {
        xhat: Tensor<3>,
        rstd: Tensor<3>,
    },
    Fused {
        x: Tensor<4>,
        gamma: Tensor<1>,
        relu_beta: Option<Tensor<1>>,
        /// A 2x2 average pooling ran after the ReLU ([`InstanceNormOp::forward_relu_pool`]):
        /// the upstream gradient is the pooled output's.
        pool: bool,
    },
}

impl InstanceNormOp {
    /// Normalises `x` `[n, c, h, w]`; `gamma`, `beta` `[c]`. On plain CPU tensors (no
    /// autodiff: the real batch's gradient, the inner training steps) forward and backward run
    /// the fused kernel of [`block_norm_relu_pool`] (one pass per plane); tracked tensors
    /// take the tensor-op form, which autodiff differentiates again.
    pub fn forward(
        &self,
        x: Tensor<4>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
    ) -> (Tensor<4>, NormCache) {
        let dims = x.dims();
        let [n, c, h, w] = dims;
        if all_plain(&x, &gamma, &beta) {
            let y =
                block_norm_relu_pool(x.clone(), gamma.clone(), beta, self.epsilon, false, false);
            let kind = NormCacheKind::Fused {
                x,
                gamma,
                relu_beta: None,
                pool: false,
            };
            return (y, NormCache { kind, dims });
        }
        let (xhat, rstd) = standardise(x.reshape([n, c, h * w]), self.epsilon);
        let y = xhat
            .clone()
            .mul(gamma.reshape([1, c, 1]))
            .add(beta.reshape([1, c, 1]));
        let kind = NormCacheKind::Graph { xhat, rstd };
        (y.reshape(dims), NormCache { kind, dims })
    }

    /// [`InstanceNormOp::forward`] then a ReLU, in one pass of the fused kernel, on plain
    /// tensors: no ReLU mask is kept (the backward recomputes it from the input). `None` on
    /// tracked tensors, which take the two ops one after the other.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::ops::*;
    /// use burn::tensor::Tensor;
    /// let dev = dd_prelude::device();
    /// let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &dev);
    /// let (g, b) = (Tensor::<1>::ones([1], &dev), Tensor::<1>::zeros([1], &dev));
    /// let op = InstanceNormOp { epsilon: 1e-5 };
    /// let (y, cache) = op.forward_relu(x.clone(), g.clone(), b.clone()).unwrap();
    /// let (z, _) = op.forward(x, g.clone(), b);
    /// assert!(y.equal(ReluOp.forward(z).0).all().into_scalar::<bool>());
    /// let (dx, _, dbeta) = op.backward(&cache, &g, Tensor::ones([1, 1, 2, 2], &dev));
    /// assert_eq!(dbeta.into_scalar::<f32>(), 2.0); // the two positive outputs pass
    /// ```
    pub fn forward_relu(
        &self,
        x: Tensor<4>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
    ) -> Option<(Tensor<4>, NormCache)> {
        self.fused_relu(x, gamma, beta, false)
    }

    /// [`InstanceNormOp::forward_relu`] then a 2x2 average pooling, in one pass per plane of
    /// the fused kernel (a ConvNet block), on plain tensors: the full-size ReLU output is
    /// never written out, nor its gradient in the backward, which takes the pooled output's.
    /// `None` on tracked tensors.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::ops::*;
    /// use burn::tensor::Tensor;
    /// let dev = dd_prelude::device();
    /// let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &dev);
    /// let (g, b) = (Tensor::<1>::ones([1], &dev), Tensor::<1>::zeros([1], &dev));
    /// let op = InstanceNormOp { epsilon: 1e-5 };
    /// let (y, cache) = op.forward_relu_pool(x, g.clone(), b).unwrap();
    /// assert_eq!(y.dims(), [1, 1, 1, 1]);
    /// let (_, _, dbeta) = op.backward(&cache, &g, Tensor::ones([1, 1, 1, 1], &dev));
    /// assert_eq!(dbeta.into_scalar::<f32>(), 0.5); // two of four pixels pass, a quarter each
    /// ```
    pub fn forward_relu_pool(
        &self,
        x: Tensor<4>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
    ) -> Option<(Tensor<4>, NormCache)> {
        self.fused_relu(x, gamma, beta, true)
    }

    fn fused_relu(
        &self,
        x: Tensor<4>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
        pool: bool,
    ) -> Option<(Tensor<4>, NormCache)> {
        if !all_plain(&x, &gamma, &beta) {
            return None;
        }
        let dims = x.dims();
        let y = block_norm_relu_pool(
            x.clone(),
            gamma.clone(),
            beta.clone(),
            self.epsilon,
            true,
            pool,
        );
        let kind = NormCacheKind::Fused {
            x,
            gamma,
            relu_beta: Some(beta),
            pool,
        };
        Some((y, NormCache { kind, dims }))
    }

    /// `(dx, dgamma, dbeta)` for the upstream gradient `dy` (at the ReLU's output when the
    /// cache is [`InstanceNormOp::forward_relu`]'s).
    pub fn backward(
        &self,
        cache: &NormCache,
        gamma: &Tensor<1>,
        dy: Tensor<4>,
    ) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
        let [n, c, h, w] = cache.dims;
        let (xhat, rstd) = match &cache.kind {
            NormCacheKind::Graph { xhat, rstd } => (xhat, rstd),
            NormCacheKind::Fused {
                x,
                gamma: g,
                relu_beta,
                pool,
            } => {
                // beta enters the backward pass only through the ReLU's mask
                let beta = relu_beta.clone().unwrap_or_else(|| g.clone());
                let fused = block_norm_relu_pool_backward(
                    x.clone(),
                    g.clone(),
                    beta.clone(),
                    dy.clone(),
                    self.epsilon,
                    relu_beta.is_some(),
                    *pool,
                );
                if let Some(grads) = fused {
                    return grads;
                }
                // a tracked upstream gradient on a plain forward: the tensor-op form
                let dy = if *pool {
                    AvgPool2Op.backward([h, w], dy)
                } else {
                    dy
                };
                let (xhat, rstd) = standardise(x.clone().reshape([n, c, h * w]), self.epsilon);
                let dy = match relu_beta {
                    Some(b) => {
                        let z = xhat
                            .clone()
                            .mul(g.clone().reshape([1, c, 1]))
                            .add(b.clone().reshape([1, c, 1]));
                        dy.mul(z.greater_elem(0.0).float().reshape(cache.dims))
                    }
                    None => dy,
                };
                return self.backward_graph(&xhat, &rstd, cache.dims, gamma, dy);
            }
        };
        self.backward_graph(xhat, rstd, cache.dims, gamma, dy)
    }

    fn backward_graph(
        &self,
        xhat: &Tensor<3>,
        rstd: &Tensor<3>,
        dims: [usize; 4],
        gamma: &Tensor<1>,
        dy: Tensor<4>,
    ) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
        let [n, c, h, w] = dims;
        let dy = dy.reshape([n, c, h * w]);
        let dgamma = dy.clone().mul(xhat.clone()).sum_dims(&[0, 2]).reshape([c]);
        let dbeta = dy.clone().sum_dims(&[0, 2]).reshape([c]);
        let g = dy.mul(gamma.clone().reshape([1, c, 1]));
        let dx = standardise_backward(g, xhat, rstd);
        (dx.reshape(dims), dgamma, dbeta)
    }
}

/// Whether the norm's input and affine parameters are all plain tensors (no autodiff).
fn all_plain(x: &Tensor<4>, gamma: &Tensor<1>, beta: &Tensor<1>) -> bool {
    !(x.device().is_autodiff() || gamma.device().is_autodiff() || beta.device().is_autodiff())
}

/// `(x - mean) / sqrt(var + eps)` over the last axis, and `1 / sqrt(var + eps)` (biased
/// variance): the core of instance and layer normalisation.
fn standardise(x: Tensor<3>, epsilon: f64) -> (Tensor<3>, Tensor<3>) {
    let mean = x.clone().mean_dim(2);
    let centred = x.sub(mean);
    let var = centred.clone().square().mean_dim(2);
    let rstd = var.add_scalar(epsilon).sqrt().recip();
    (centred.mul(rstd.clone()), rstd)
}

/// Input gradient of [`standardise`] for the upstream gradient `g` (already multiplied by
/// the gain): `(g - mean(g) - xhat * mean(g * xhat)) * rstd`, means over the last axis.
fn standardise_backward(g: Tensor<3>, xhat: &Tensor<3>, rstd: &Tensor<3>) -> Tensor<3> {
    let mean_g = g.clone().mean_dim(2);
    let mean_gx = g.clone().mul(xhat.clone()).mean_dim(2);
    g.sub(mean_g)
        .sub(xhat.clone().mul(mean_gx))
        .mul(rstd.clone())
}

/// Layer normalisation over the last axis with a learnable gain and bias (Burn's and
/// PyTorch's `LayerNorm(d)`): `y = gamma * (x - mean) / sqrt(var + eps) + beta`, mean and
/// biased variance over the last axis of each row.
///
/// Backward: the closed form of [`InstanceNormOp`] with the roles of the axes exchanged:
/// with `g = dy * gamma`, `dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps)`,
/// `dgamma = sum(dy * xhat)`, `dbeta = sum(dy)` (sums over every row).
///
/// # Shapes
/// `x` any rank `[.., d]`, `gamma` and `beta` `[d]`.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::LayerNormOp;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]], &dev);
/// let op = LayerNormOp { epsilon: 1e-5 };
/// let gamma = Tensor::<1>::ones([3], &dev);
/// let (y, cache) = op.forward(x, gamma.clone(), Tensor::zeros([3], &dev));
/// let row_means = y.clone().mean_dim(1).into_data().to_vec::<f32>().unwrap();
/// assert!(row_means.iter().all(|m| m.abs() < 1e-5));
/// let (dx, dgamma, dbeta) = op.backward(&cache, &gamma, Tensor::ones_like(&y));
/// assert_eq!((dx.dims(), dgamma.dims(), dbeta.dims()), ([2, 3], [3], [3]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LayerNormOp {
    /// Added to the variance (1e-5 in PyTorch and Burn).
    pub epsilon: f64,
}

/// What [`LayerNormOp::backward`] needs: the normalised rows and `1/sqrt(var + eps)`.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::*;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let (_, cache): (_, LayerNormCache) = LayerNormOp { epsilon: 1e-5 }.forward(Tensor::<2>::ones([2, 3], &dev), Tensor::ones([3], &dev), Tensor::zeros([3], &dev));
/// ```
#[derive(Debug, Clone)]
pub struct LayerNormCache {
    xhat: Tensor<3>,
    rstd: Tensor<3>,
}

impl LayerNormOp {
    /// Normalises every row (last axis) of `x`; `gamma`, `beta` `[d]`.
    pub fn forward<const D: usize>(
        &self,
        x: Tensor<D>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
    ) -> (Tensor<D>, LayerNormCache) {
        let dims = x.dims();
        let d = dims[D - 1];
        let rows = dims.iter().product::<usize>() / d.max(1);
        let (xhat, rstd) = standardise(x.reshape([rows, 1, d]), self.epsilon);
        let y = xhat
            .clone()
            .mul(gamma.reshape([1, 1, d]))
            .add(beta.reshape([1, 1, d]));
        (y.reshape(dims), LayerNormCache { xhat, rstd })
    }

    /// `(dx, dgamma, dbeta)` for the upstream gradient `dy`.
    pub fn backward<const D: usize>(
        &self,
        cache: &LayerNormCache,
        gamma: &Tensor<1>,
        dy: Tensor<D>,
    ) -> (Tensor<D>, Tensor<1>, Tensor<1>) {
        let dims = dy.dims();
        let [rows, _, d] = cache.xhat.dims();
        let dy = dy.reshape([rows, 1, d]);
        let dgamma = dy
            .clone()
            .mul(cache.xhat.clone())
            .sum_dims(&[0, 1])
            .reshape([d]);
        let dbeta = dy.clone().sum_dims(&[0, 1]).reshape([d]);
        let g = dy.mul(gamma.clone().reshape([1, 1, d]));
        let dx = standardise_backward(g, &cache.xhat, &cache.rstd);
        (dx.reshape(dims), dgamma, dbeta)
    }
}

/// Max pooling over time: the maximum over axis 2 of `[n, c, L, w]`, giving `[n, c, 1, w]`
/// (with `w = 1` for the feature maps of a text CNN, `[n, c, 1, 1]`; flatten for `[n, c]`).
///
/// Backward: the upstream gradient goes to the position of the maximum, zero elsewhere. On a
/// tie one position wins (the one Burn's `argmax` returns). The routing mask is piecewise
/// constant and carries no gradient, as ReLU's.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::MaxPoolTimeOp;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let x = Tensor::<4>::from_floats([[[[1.0], [5.0], [2.0]]]], &dev); // [1, 1, 3, 1]
/// let (y, mask) = MaxPoolTimeOp.forward(x);
/// assert_eq!(y.clone().into_data().to_vec::<f32>().unwrap(), vec![5.0]);
/// let dx = MaxPoolTimeOp.backward(&mask, Tensor::ones_like(&y));
/// assert_eq!(dx.into_data().to_vec::<f32>().unwrap(), vec![0.0, 1.0, 0.0]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MaxPoolTimeOp;

impl MaxPoolTimeOp {
    /// The maxima `[n, c, 1, w]` and the 0/1 mask `[n, c, L, w]` of the winning positions.
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let dims = x.dims();
        let [_, _, len, _] = dims;
        // Built off the graph (a constant, as ReLU's mask), then moved to `x`'s backend.
        let plain = x.clone().inner();
        let winner = plain.clone().argmax(2).expand(dims);
        let positions = Tensor::<1, Int>::arange(0..len as i64, &plain.device())
            .reshape([1, 1, len, 1])
            .expand(dims);
        let mask = on_backend_of(winner.equal(positions).float(), &x);
        (x.mul(mask.clone()).sum_dim(2), mask)
    }

    /// `dy` (`[n, c, 1, w]`) placed at the winning positions.
    pub fn backward(&self, mask: &Tensor<4>, dy: Tensor<4>) -> Tensor<4> {
        mask.clone().mul(dy)
    }
}

/// ReLU; its backward multiplies by the (constant) mask of positive inputs.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::*;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let (y, mask) = ReluOp.forward(Tensor::<1>::from_floats([-1.0, 2.0], &dev));
/// assert_eq!(ReluOp.backward(&mask, y.ones_like()).into_data().to_vec::<f32>().unwrap(), vec![0.0, 1.0]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ReluOp;

impl ReluOp {
    /// `max(x, 0)` and the mask `x > 0` as 0/1 floats.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
        // The mask is piecewise constant: it carries no gradient, which is exact almost everywhere.
        let mask = x.clone().detach().greater_elem(0.0).float();
        (relu(x), mask)
    }

    /// `dy * mask`.
    pub fn backward<const D: usize>(&self, mask: &Tensor<D>, dy: Tensor<D>) -> Tensor<D> {
        dy.mul(mask.clone())
    }
}

/// 2x2 average pooling with stride 2 (an odd last row or column is dropped, as in PyTorch).
///
/// Backward: each upstream value is spread over its 2x2 window divided by 4 (nearest
/// up-sampling), zero on a dropped row or column.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::*;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let (y, hw) = AvgPool2Op.forward(Tensor::ones([1, 1, 5, 4], &dev));
/// assert_eq!(y.dims(), [1, 1, 2, 2]);
/// assert_eq!(AvgPool2Op.backward(hw, y.ones_like()).dims(), [1, 1, 5, 4]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AvgPool2Op;

impl AvgPool2Op {
    /// Pools `x` `[n, c, h, w]` to `[n, c, h/2, w/2]`; the cache is the input's `[h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, [usize; 2]) {
        let [_, _, h, w] = x.dims();
        (crate::models::avg_pool_2x2(x), [h, w])
    }

    /// Gradient with respect to the input of size `input_hw`
    /// ([`avg_pool_2x2_grad`](crate::models::avg_pool_2x2_grad)).
    pub fn backward(&self, input_hw: [usize; 2], dy: Tensor<4>) -> Tensor<4> {
        crate::models::avg_pool_2x2_grad(dy, input_hw)
    }
}

/// A fully connected layer `y = x W + b` with Burn's weight layout `[d_in, d_out]`.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::*;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let w = Tensor::<2>::ones([3, 2], &dev);
/// let (y, cache) = LinearOp.forward(Tensor::ones([4, 3], &dev), w.clone(), Tensor::zeros([2], &dev));
/// let (dx, dw, db) = LinearOp.backward(&cache, &w, y.ones_like(), true);
/// assert_eq!((dx.unwrap().dims(), dw.dims(), db.dims()), ([4, 3], [3, 2], [2]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LinearOp;

/// What [`LinearOp::backward`] needs: the input.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::*;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let (_, cache): (_, LinearCache) = LinearOp.forward(Tensor::ones([1, 2], &dev), Tensor::ones([2, 2], &dev), Tensor::zeros([2], &dev));
/// ```
#[derive(Debug, Clone)]
pub struct LinearCache {
    x: Tensor<2>,
}

impl LinearOp {
    /// `x` `[n, d_in]`, `weight` `[d_in, d_out]`, `bias` `[d_out]`.
    pub fn forward(
        &self,
        x: Tensor<2>,
        weight: Tensor<2>,
        bias: Tensor<1>,
    ) -> (Tensor<2>, LinearCache) {
        let [_, d_out] = weight.dims();
        let y = x.clone().matmul(weight).add(bias.reshape([1, d_out]));
        (y, LinearCache { x })
    }

    /// `(dx, dweight, dbias)`: `dy W^T`, `x^T dy`, column sums of `dy`.
    pub fn backward(
        &self,
        cache: &LinearCache,
        weight: &Tensor<2>,
        dy: Tensor<2>,
        need_dx: bool,
    ) -> (Option<Tensor<2>>, Tensor<2>, Tensor<1>) {
        let dx = need_dx.then(|| dy.clone().matmul(weight.clone().transpose()));
        let dw = cache.x.clone().transpose().matmul(dy.clone());
        let [_, d_out] = dy.dims();
        let db = dy.sum_dim(0).reshape([d_out]);
        (dx, dw, db)
    }
}

/// Softmax cross-entropy against target rows, averaged over the batch:
/// `L = -mean_i sum_k t_ik log softmax(z_i)_k`.
///
/// Targets may be hard (one-hot rows, [`one_hot`]) or soft: any distribution per row, e.g. a
/// teacher's probabilities or learnable soft labels. The gradients hold for any targets, rows
/// that do not sum to one included (a learnt label moves off the simplex between
/// normalisations):
/// - logits ([`SoftmaxCrossEntropyOp::backward`]): `(softmax(z) * sum_k t_k - t) / n`, which is
///   `(softmax(z) - t) / n` for distributions;
/// - targets ([`SoftmaxCrossEntropyOp::targets_backward`]): `-log softmax(z) / n`, for
///   soft-label distillation, which learns the labels.
///
/// Both are tracked tensor ops, so a gradient computed with them can itself be differentiated.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::SoftmaxCrossEntropyOp;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let z = Tensor::<2>::from_floats([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]], &dev);
/// let soft = Tensor::<2>::from_floats([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]], &dev);
/// let (loss, probs) = SoftmaxCrossEntropyOp.forward(z.clone(), soft.clone());
/// assert!(loss.into_scalar::<f32>() > 0.0);
/// let dz = SoftmaxCrossEntropyOp.backward(&probs, &soft);
/// let dt = SoftmaxCrossEntropyOp.targets_backward(z);
/// assert_eq!((dz.dims(), dt.dims()), ([2, 3], [2, 3]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxCrossEntropyOp;

impl SoftmaxCrossEntropyOp {
    /// The mean loss `[1]` and the softmax probabilities (the cache).
    pub fn forward(&self, logits: Tensor<2>, targets: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
        let [n, _] = logits.dims();
        let loss = log_softmax(logits.clone(), 1)
            .mul(targets)
            .sum()
            .div_scalar(-(n as f64));
        (loss, softmax(logits, 1))
    }

    /// Gradient of the mean loss with respect to the logits: `(probs * rowsum(t) - t) / n`
    /// (exactly `(probs - t) / n` for one-hot rows).
    pub fn backward(&self, probs: &Tensor<2>, targets: &Tensor<2>) -> Tensor<2> {
        let [n, _] = probs.dims();
        let mass = targets.clone().sum_dim(1);
        probs
            .clone()
            .mul(mass)
            .sub(targets.clone())
            .div_scalar(n as f64)
    }

    /// Gradient of the mean loss with respect to the targets: `-log softmax(logits) / n`.
    pub fn targets_backward(&self, logits: Tensor<2>) -> Tensor<2> {
        let [n, _] = logits.dims();
        log_softmax(logits, 1).div_scalar(-(n as f64))
    }
}

/// The symmetric contrastive loss of CLIP (InfoNCE in both directions) for `n` matching
/// pairs: image embeddings `a` `[n, d]` and text embeddings `b` `[n, d]`, L2-normalised per
/// row when `normalize`, logits `Z = scale * a b^T` `[n, n]`, and
/// `L = (CE(Z, diag) + CE(Z^T, diag)) / 2` with the mean cross-entropy of
/// [`SoftmaxCrossEntropyOp`] (pair `i` is the right class of row `i` and of column `i`).
///
/// Backward: `dZ = (softmax_rows(Z) + softmax_columns(Z) - 2 I) / 2n`,
/// `da = scale * dZ b`, `db = scale * dZ^T a` (for the normalised rows; through the
/// normalisation `dx = (dxhat - xhat * <dxhat, xhat>) / |x|`).
///
/// Radford et al., "Learning Transferable Visual Models From Natural Language Supervision",
/// ICML 2021.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::ContrastiveOp;
/// use burn::tensor::{Tensor, Distribution};
/// let dev = dd_prelude::device();
/// let a = Tensor::<2>::random([4, 8], Distribution::Normal(0.0, 1.0), &dev);
/// let op = ContrastiveOp { scale: 10.0, normalize: true };
/// // Perfectly aligned pairs score better than shuffled ones.
/// let (aligned, _) = op.forward(a.clone(), a.clone());
/// let (shuffled, cache) = op.forward(a.clone(), a.clone().flip([0]));
/// assert!(aligned.into_scalar::<f32>() < shuffled.into_scalar::<f32>());
/// let (da, db) = op.backward(&cache);
/// assert_eq!((da.dims(), db.dims()), ([4, 8], [4, 8]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ContrastiveOp {
    /// Multiplies the similarities (CLIP's `exp(t)`, the inverse temperature; 1/0.07 at the
    /// start of CLIP's training).
    pub scale: f64,
    /// Divide each embedding by its L2 norm first (CLIP does).
    pub normalize: bool,
}

/// What [`ContrastiveOp::backward`] needs: the (normalised) embeddings, their norms, the
/// logits and the targets.
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::*;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let op = ContrastiveOp { scale: 1.0, normalize: false };
/// let (_, cache): (_, ContrastiveCache) = op.forward(Tensor::ones([2, 3], &dev), Tensor::ones([2, 3], &dev));
/// ```
#[derive(Debug, Clone)]
pub struct ContrastiveCache {
    a: Tensor<2>,
    b: Tensor<2>,
    norms: Option<(Tensor<2>, Tensor<2>)>,
    logits: Tensor<2>,
    targets: Tensor<2>,
}

impl ContrastiveOp {
    /// The loss `[1]` and the cache: the matching pairs are the diagonal.
    pub fn forward(&self, a: Tensor<2>, b: Tensor<2>) -> (Tensor<1>, ContrastiveCache) {
        self.forward_soft(a, b, None)
    }

    /// The loss `[1]` and the cache with soft targets `s` `[n, n]` (LoRS's similarity-weighted
    /// InfoNCE): `-(sum_ij s_ij log softmax_j(z_i.) + sum_ij s_ij log softmax_i(z_.j)) / 2n`;
    /// `None` is the identity (CLIP's loss). `s` may be tracked: the loss and [`backward`]'s
    /// gradients are then differentiable with respect to it.
    ///
    /// [`backward`]: ContrastiveOp::backward
    ///
    /// # Example
    /// ```
    /// use dd_prelude::distill::engine::ops::ContrastiveOp;
    /// use burn::tensor::Tensor;
    /// let dev = dd_prelude::device();
    /// let a = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &dev);
    /// let op = ContrastiveOp { scale: 1.0, normalize: false };
    /// let (hard, _) = op.forward(a.clone(), a.clone());
    /// let (soft, _) = op.forward_soft(a.clone(), a.clone(), Some(Tensor::eye(2, &dev)));
    /// let (h, s): (f32, f32) = (hard.into_scalar(), soft.into_scalar());
    /// assert!((h - s).abs() < 1e-6);
    /// ```
    pub fn forward_soft(
        &self,
        a: Tensor<2>,
        b: Tensor<2>,
        s: Option<Tensor<2>>,
    ) -> (Tensor<1>, ContrastiveCache) {
        let [n, _] = a.dims();
        let (a, b, norms) = if self.normalize {
            let (na, nb) = (row_norm(&a), row_norm(&b));
            (a.div(na.clone()), b.div(nb.clone()), Some((na, nb)))
        } else {
            (a, b, None)
        };
        let logits = a
            .clone()
            .matmul(b.clone().transpose())
            .mul_scalar(self.scale);
        let targets = match s {
            Some(s) if logits.is_autodiff() && !s.is_autodiff() => s.autodiff(),
            Some(s) => s,
            None => identity_like(&logits),
        };
        let rows = log_softmax(logits.clone(), 1);
        let cols = log_softmax(logits.clone(), 0);
        let loss = rows
            .add(cols)
            .mul(targets.clone())
            .sum()
            .div_scalar(-2.0 * n as f64);
        (
            loss,
            ContrastiveCache {
                a,
                b,
                norms,
                logits,
                targets,
            },
        )
    }

    /// `(da, db)`: the gradients with respect to the embeddings given to `forward`.
    pub fn backward(&self, cache: &ContrastiveCache) -> (Tensor<2>, Tensor<2>) {
        let [n, _] = cache.logits.dims();
        let z = cache.logits.clone();
        let s = cache.targets.clone();
        // d/dz of -s_ij log softmax: softmax times the row's (column's) target mass, minus s.
        let dz = softmax(z.clone(), 1)
            .mul(s.clone().sum_dim(1))
            .add(softmax(z, 0).mul(s.clone().sum_dim(0)))
            .sub(s.mul_scalar(2.0))
            .div_scalar(2.0 * n as f64)
            .mul_scalar(self.scale);
        let da = dz.clone().matmul(cache.b.clone());
        let db = dz.transpose().matmul(cache.a.clone());
        match &cache.norms {
            Some((na, nb)) => (
                unnormalise_grad(da, &cache.a, na),
                unnormalise_grad(db, &cache.b, nb),
            ),
            None => (da, db),
        }
    }
}

/// A constant built off the graph, moved onto `like`'s backend (autodiff or plain) so the two
/// combine.
fn on_backend_of<const D: usize, const E: usize>(c: Tensor<D>, like: &Tensor<E>) -> Tensor<D> {
    if like.is_autodiff() { c.autodiff() } else { c }
}

/// The identity matrix of `z`'s (square) size, on `z`'s backend.
fn identity_like(z: &Tensor<2>) -> Tensor<2> {
    let [n, _] = z.dims();
    on_backend_of(Tensor::<2>::eye(n, &z.device()), z)
}

/// `|x_i|` per row, `[n, 1]`.
fn row_norm(x: &Tensor<2>) -> Tensor<2> {
    x.clone().square().sum_dim(1).sqrt()
}

/// The gradient with respect to `x` of a function of `xhat = x / |x|` (rows), from the
/// gradient `g` with respect to `xhat`: `(g - xhat <g, xhat>) / |x|`.
fn unnormalise_grad(g: Tensor<2>, xhat: &Tensor<2>, norm: &Tensor<2>) -> Tensor<2> {
    let along = g.clone().mul(xhat.clone()).sum_dim(1);
    g.sub(xhat.clone().mul(along)).div(norm.clone())
}

/// A tensor of any rank flattened to `[numel]` (the layout of [`super::Params`]).
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::flat;
/// let t = burn::tensor::Tensor::<3>::ones([2, 3, 4], &dd_prelude::device());
/// assert_eq!(flat(t).dims(), [24]);
/// ```
pub fn flat<const D: usize>(t: Tensor<D>) -> Tensor<1> {
    let n = t.dims().iter().product::<usize>();
    t.reshape([n])
}

/// One-hot rows `[labels.len(), classes]` on `device` (built on the host: labels are known
/// there, and the upload is one small copy).
///
/// # Example
/// ```
/// use dd_prelude::distill::engine::ops::*;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let t = one_hot(&[2, 0], 3, &dev);
/// assert_eq!(t.into_data().to_vec::<f32>().unwrap(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
/// ```
pub fn one_hot(labels: &[usize], classes: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let mut v = vec![0f32; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        v[i * classes + l] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), classes]), device)
}
