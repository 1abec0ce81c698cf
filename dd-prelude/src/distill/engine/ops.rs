//! The differentiable ops of the meta-gradient engine, each with its backward pass written
//! out in ordinary (tracked) Burn tensor ops.
//!
//! Every op has `forward(..) -> (output, cache)` and `backward(cache, .., dy) -> (dx, dparams)`.
//! Because `backward` is made of the same differentiable tensor ops as `forward`, a gradient
//! computed with it is itself a node of Burn's autodiff graph: differentiating a function of
//! that gradient (a gradient-matching distance, the weights after an unrolled SGD step) with
//! Burn's ordinary first-order `backward()` gives the exact second-order quantity.
//!
//! Each op is checked against Burn's own first-order gradient in `tests/distill_engine.rs`.
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
use burn::tensor::module::{avg_pool2d, conv_transpose2d, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, ConvTransposeOptions};
use burn::tensor::{Tensor, TensorData};

/// A 3x3 (any odd square kernel) convolution with stride 1, zero padding `padding` and a bias,
/// as in the ConvNet of DatasetCondensation.
///
/// Backward: `dx` is the transposed convolution of `dy` with the same kernel; `dW` is a
/// convolution of the input with `dy` after swapping the batch and channel axes (each output
/// channel of `dy` becomes a kernel sliding over the input channels); `db` sums `dy`.
#[derive(Debug, Clone, Copy)]
pub struct Conv2dOp {
    /// Zero padding on every side.
    pub padding: usize,
}

/// What [`Conv2dOp::backward`] needs from the forward pass: its input.
#[derive(Debug, Clone)]
pub struct ConvCache {
    x: Tensor<4>,
}

impl Conv2dOp {
    /// `y = conv(x, weight) + bias`; `x` `[n, c_in, h, w]`, `weight` `[c_out, c_in, k, k]`.
    pub fn forward(
        &self,
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Tensor<1>,
    ) -> (Tensor<4>, ConvCache) {
        let p = self.padding;
        let y = conv2d(
            x.clone(),
            weight,
            Some(bias),
            ConvOptions::new([1, 1], [p, p], [1, 1], 1),
        );
        (y, ConvCache { x })
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
        let p = self.padding;
        let dx = need_dx.then(|| {
            conv_transpose2d(
                dy.clone(),
                weight.clone(),
                None,
                ConvTransposeOptions::new([1, 1], [p, p], [0, 0], [1, 1], 1),
            )
        });
        // dW[o, i, a, b] = sum_{n, y, x} dy[n, o, y, x] * x_pad[n, i, y + a, x + b]:
        // a convolution of x^T [c_in, n, h, w] with dy^T [c_out, n, h', w'] as the kernel.
        let dw = conv2d(
            cache.x.clone().swap_dims(0, 1),
            dy.clone().swap_dims(0, 1),
            None,
            ConvOptions::new([1, 1], [p, p], [1, 1], 1),
        )
        .swap_dims(0, 1);
        let [_, c_out, _, _] = dy.dims();
        let db = dy.sum_dims(&[0, 2, 3]).reshape([c_out]);
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
#[derive(Debug, Clone, Copy)]
pub struct InstanceNormOp {
    /// Added to the variance (1e-5 in PyTorch and Burn).
    pub epsilon: f64,
}

/// What [`InstanceNormOp::backward`] needs: the normalised input and `1/sqrt(var + eps)`.
#[derive(Debug, Clone)]
pub struct NormCache {
    xhat: Tensor<3>,
    rstd: Tensor<3>,
    dims: [usize; 4],
}

impl InstanceNormOp {
    /// Normalises `x` `[n, c, h, w]`; `gamma`, `beta` `[c]`.
    pub fn forward(
        &self,
        x: Tensor<4>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
    ) -> (Tensor<4>, NormCache) {
        let dims = x.dims();
        let [n, c, h, w] = dims;
        let x = x.reshape([n, c, h * w]);
        let mean = x.clone().mean_dim(2);
        let centred = x.sub(mean);
        let var = centred.clone().square().mean_dim(2);
        let rstd = var.add_scalar(self.epsilon).sqrt().recip();
        let xhat = centred.mul(rstd.clone());
        let y = xhat
            .clone()
            .mul(gamma.reshape([1, c, 1]))
            .add(beta.reshape([1, c, 1]));
        (y.reshape(dims), NormCache { xhat, rstd, dims })
    }

    /// `(dx, dgamma, dbeta)` for the upstream gradient `dy`.
    pub fn backward(
        &self,
        cache: &NormCache,
        gamma: &Tensor<1>,
        dy: Tensor<4>,
    ) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
        let [n, c, h, w] = cache.dims;
        let dy = dy.reshape([n, c, h * w]);
        let dgamma = dy
            .clone()
            .mul(cache.xhat.clone())
            .sum_dims(&[0, 2])
            .reshape([c]);
        let dbeta = dy.clone().sum_dims(&[0, 2]).reshape([c]);
        let g = dy.mul(gamma.clone().reshape([1, c, 1]));
        let mean_g = g.clone().mean_dim(2);
        let mean_gx = g.clone().mul(cache.xhat.clone()).mean_dim(2);
        let dx = g
            .sub(mean_g)
            .sub(cache.xhat.clone().mul(mean_gx))
            .mul(cache.rstd.clone());
        (dx.reshape(cache.dims), dgamma, dbeta)
    }
}

/// ReLU; its backward multiplies by the (constant) mask of positive inputs.
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
#[derive(Debug, Clone, Copy)]
pub struct AvgPool2Op;

impl AvgPool2Op {
    /// Pools `x` `[n, c, h, w]` to `[n, c, h/2, w/2]`; the cache is the input's `[h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, [usize; 2]) {
        let [_, _, h, w] = x.dims();
        (avg_pool2d(x, AvgPoolOptions::new([2, 2])), [h, w])
    }

    /// Gradient with respect to the input of size `input_hw`.
    pub fn backward(&self, input_hw: [usize; 2], dy: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = dy.dims();
        let up = dy
            .reshape([n, c, h, 1, w, 1])
            .expand([n, c, h, 2, w, 2])
            .reshape([n, c, 2 * h, 2 * w])
            .mul_scalar(0.25);
        let [hi, wi] = input_hw;
        let dev = up.device();
        let up = if hi > 2 * h {
            Tensor::cat(vec![up, Tensor::zeros([n, c, hi - 2 * h, 2 * w], &dev)], 2)
        } else {
            up
        };
        if wi > 2 * w {
            Tensor::cat(vec![up, Tensor::zeros([n, c, hi, wi - 2 * w], &dev)], 3)
        } else {
            up
        }
    }
}

/// A fully connected layer `y = x W + b` with Burn's weight layout `[d_in, d_out]`.
#[derive(Debug, Clone, Copy)]
pub struct LinearOp;

/// What [`LinearOp::backward`] needs: the input.
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

/// Softmax cross-entropy against target distributions (one-hot for hard labels), averaged
/// over the batch: `L = -mean_i sum_k t_ik log softmax(z_i)_k`; backward `(softmax(z) - t) / n`.
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

    /// Gradient of the mean loss with respect to the logits.
    pub fn backward(&self, probs: &Tensor<2>, targets: &Tensor<2>) -> Tensor<2> {
        let [n, _] = probs.dims();
        probs.clone().sub(targets.clone()).div_scalar(n as f64)
    }
}

/// One-hot rows `[labels.len(), classes]` on `device` (built on the host: labels are known
/// there, and the upload is one small copy).
pub fn one_hot(labels: &[usize], classes: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let mut v = vec![0f32; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        v[i * classes + l] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), classes]), device)
}
