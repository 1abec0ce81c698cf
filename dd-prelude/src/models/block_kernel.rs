//! Instance norm, ReLU and 2x2 average pooling fused into one CPU kernel, forward and backward.
//!
//! Composed of tensor ops, a ConvNet block's normalisation is about ten passes over the
//! convolution's output (mean, centring, square, variance, square root, division, scale,
//! shift), then one for the ReLU and two for the pooling, each writing a new activation (51 MB
//! for the first layer of a width-128 ConvNet at batch 128), and autodiff's backward as many
//! again. Every `(image, channel)` plane is independent, and small enough for the L1 cache
//! (28x28 floats: 3 KB), so [`block_norm_relu_pool`] reads each plane once, computes its
//! statistics, and writes only the pooled output; the backward pass reads the plane and the
//! pooled gradient once and writes the input gradient, recomputing the statistics instead of
//! keeping the normalised activation. Planes are split between the cores.
//!
//! Per plane of `p` pixels, with `xhat = (x - mean) / sqrt(var + eps)` (biased variance, as
//! Burn's `InstanceNorm` and PyTorch's `GroupNorm(C, C)`), `u = gamma xhat + beta`,
//! `r = max(u, 0)`, `z = avgpool2x2(r)`; backward, with `g = dr * [u > 0]`:
//! `dbeta = sum g`, `dgamma = sum g xhat`,
//! `dx = gamma / sqrt(var + eps) * (g - mean(g) - xhat mean(g xhat))`.
//!
//! First order only (it is a training kernel): the meta-gradient engine keeps its own
//! instance norm, written in tracked tensor ops.
//!
//! # Example
//! ```
//! use dd_prelude::models::block_norm_relu_pool;
//! use burn::tensor::Tensor;
//! let dev = dd_prelude::device();
//! let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &dev);
//! let (gamma, beta) = (Tensor::<1>::ones([1], &dev), Tensor::<1>::zeros([1], &dev));
//! let z = block_norm_relu_pool(x, gamma, beta, 1e-5, true, true);
//! // Normalised: -1.34, -0.45, 0.45, 1.34; after the ReLU two remain, averaged over 4.
//! assert!((z.into_scalar::<f32>() - (0.4472 + 1.3416) / 4.0).abs() < 1e-3);
//! ```

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::tensor::activation;
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;

use super::conv_kernel::{
    Real, contiguous, cpu_kernels, dims4, lane_dot, lane_sum, par_fill, tensor, values,
};

/// A ConvNet block's normalisation, activation and pooling as one Burn backend extension op:
/// `avgpool2x2(relu(instance_norm(x)))` (the pooling when `pool`), implemented for the `flex`
/// CPU backend and for autodiff over it (first order).
///
/// Shapes: `x` `[n, c, h, w]`, `gamma`, `beta` `[c]`; output `[n, c, h / 2, w / 2]` when
/// pooling (an odd last row or column is dropped), else `[n, c, h, w]`.
///
/// # Example
/// ```
/// use dd_prelude::models::NormReluPoolBackend;
/// use burn::backend::Dispatch;
/// use burn::tensor::Tensor;
/// let dev = burn::tensor::Device::flex();
/// let x = Tensor::<4>::ones([2, 3, 4, 4], &dev);
/// let (g, b) = (Tensor::<1>::ones([3], &dev), Tensor::<1>::zeros([3], &dev));
/// let z = Tensor::<4>::from_dispatch(<Dispatch as NormReluPoolBackend>::norm_relu_pool(
///     x.into_dispatch(), g.into_dispatch(), b.into_dispatch(), 1e-5, true, true));
/// assert_eq!(z.dims(), [2, 3, 2, 2]);
/// ```
#[backend_extension(Flex, Autodiff)]
pub trait NormReluPoolBackend: burn::backend::Backend {
    /// `avgpool2x2(relu(gamma * xhat + beta))`, without the ReLU when `relu` is false and
    /// without the pooling when `pool` is false.
    fn norm_relu_pool(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
        pool: bool,
    ) -> FloatTensor<Self>;
}

/// The backward pass of [`NormReluPoolBackend::norm_relu_pool`] on plain (untracked) CPU
/// tensors: `(dx, dgamma, dbeta)` for the output gradient `dz`, in one pass per plane. The
/// meta-gradient engine's instance norm calls it on its untracked passes (the real batch's
/// gradient, the inner training steps).
///
/// # Example
/// ```
/// use dd_prelude::models::NormReluPoolBackwardBackend;
/// use burn::backend::Dispatch;
/// use burn::tensor::Tensor;
/// let dev = burn::tensor::Device::flex();
/// let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &dev);
/// let (g, b) = (Tensor::<1>::ones([1], &dev), Tensor::<1>::zeros([1], &dev));
/// let dz = Tensor::<4>::ones([1, 1, 2, 2], &dev);
/// let (dx, dg, db) = <Dispatch as NormReluPoolBackwardBackend>::norm_relu_pool_backward(
///     x.into_dispatch(), g.into_dispatch(), b.into_dispatch(), dz.into_dispatch(), 1e-5, false, false);
/// // no ReLU, no pooling: a constant upstream gradient does not move a normalised plane
/// assert!(Tensor::<4>::from_dispatch(dx).abs().max().into_scalar::<f32>() < 1e-5);
/// assert_eq!(Tensor::<1>::from_dispatch(db).into_scalar::<f32>(), 4.0);
/// # let _ = dg;
/// ```
#[backend_extension(Flex)]
pub trait NormReluPoolBackwardBackend: burn::backend::Backend {
    /// `(dx, dgamma, dbeta)` of [`NormReluPoolBackend::norm_relu_pool`] for `dz`.
    #[allow(clippy::too_many_arguments)]
    fn norm_relu_pool_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        dz: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
        pool: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl NormReluPoolBackwardBackend for Flex {
    fn norm_relu_pool_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        dz: FlexTensor,
        epsilon: f64,
        relu: bool,
        pool: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        Block::new(&x, epsilon, relu, pool).backward_any(&x, &gamma, &beta, &dz)
    }
}

impl NormReluPoolBackend for Flex {
    fn norm_relu_pool(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
        pool: bool,
    ) -> FlexTensor {
        let block = Block::new(&x, epsilon, relu, pool);
        match x.dtype() {
            DType::F32 => block.forward::<f32>(&x, &gamma, &beta),
            DType::F64 => block.forward::<f64>(&x, &gamma, &beta),
            other => panic!("norm_relu_pool: no CPU kernel for {other:?}; use f32 or f64"),
        }
    }
}

/// Gradients of the fused block for `x`, `gamma` and `beta`, from one pass per plane.
#[derive(Debug)]
struct BlockBackward;

impl Backward<Flex, 3> for BlockBackward {
    type State = (FlexTensor, FlexTensor, FlexTensor, f64, bool, bool);
    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dz = grads.consume::<Flex>(&ops.node);
        let (x, gamma, beta, epsilon, relu, pool) = ops.state;
        let block = Block::new(&x, epsilon, relu, pool);
        let (dx, dgamma, dbeta) = block.backward_any(&x, &gamma, &beta, &dz);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, dgamma);
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, dbeta);
        }
    }
}

impl<C: CheckpointStrategy> NormReluPoolBackend for Autodiff<Flex, C> {
    fn norm_relu_pool(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
        pool: bool,
    ) -> FloatTensor<Self> {
        match BlockBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (xp, gp, bp) = (
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                );
                let z =
                    Flex::norm_relu_pool(xp.clone(), gp.clone(), bp.clone(), epsilon, relu, pool);
                prep.finish((xp, gp, bp, epsilon, relu, pool), z)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::norm_relu_pool(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                epsilon,
                relu,
                pool,
            )),
        }
    }
}

/// `avgpool2x2(relu(instance_norm(x; gamma, beta, epsilon)))` for the activation `x`
/// `[n, c, h, w]` of a ConvNet block, without the ReLU when `relu` is false and without the
/// pooling when `pool` is false: one fused CPU kernel ([`NormReluPoolBackend`]) on the `flex`
/// backend in `f32` or `f64`, Burn's tensor ops elsewhere. Differentiable (first order) in
/// `x`, `gamma` and `beta`.
///
/// # Example
/// ```
/// use dd_prelude::models::block_norm_relu_pool;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let x = Tensor::<4>::ones([1, 2, 5, 5], &dev);
/// let z = block_norm_relu_pool(x, Tensor::ones([2], &dev), Tensor::ones([2], &dev), 1e-5, true, true);
/// assert_eq!(z.dims(), [1, 2, 2, 2]); // a constant plane normalises to 0; beta 1 remains
/// assert_eq!(z.sum().into_scalar::<f32>(), 8.0);
/// ```
pub fn block_norm_relu_pool(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    relu: bool,
    pool: bool,
) -> Tensor<4> {
    if cpu_kernels(&x) {
        return Tensor::from_dispatch(<Dispatch as NormReluPoolBackend>::norm_relu_pool(
            x.into_dispatch(),
            gamma.into_dispatch(),
            beta.into_dispatch(),
            epsilon,
            relu,
            pool,
        ));
    }
    let [n, c, h, w] = x.dims();
    let planes = x.reshape([n, c, h * w]);
    let mean = planes.clone().mean_dim(2);
    let centred = planes - mean;
    let var = centred.clone().square().mean_dim(2);
    let xhat = centred.div(var.add_scalar(epsilon).sqrt());
    let u = xhat
        .mul(gamma.reshape([1, c, 1]))
        .add(beta.reshape([1, c, 1]))
        .reshape([n, c, h, w]);
    let r = if relu { activation::relu(u) } else { u };
    if pool { super::avg_pool_2x2(r) } else { r }
}

/// The backward pass of [`block_norm_relu_pool`] on plain CPU tensors (no autodiff):
/// `(dx, dgamma, dbeta)` for the output gradient `dz`, or `None` where the fused kernel does
/// not apply (another backend or dtype, or tensors on an autodiff device).
///
/// # Example
/// ```
/// use dd_prelude::models::block_norm_relu_pool_backward;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &dev);
/// let (g, b) = (Tensor::<1>::ones([1], &dev), Tensor::<1>::zeros([1], &dev));
/// let dz = Tensor::<4>::ones([1, 1, 2, 2], &dev);
/// let (_, _, dbeta) = block_norm_relu_pool_backward(x, g, b, dz, 1e-5, false, false).unwrap();
/// assert_eq!(dbeta.into_scalar::<f32>(), 4.0);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn block_norm_relu_pool_backward(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    dz: Tensor<4>,
    epsilon: f64,
    relu: bool,
    pool: bool,
) -> Option<(Tensor<4>, Tensor<1>, Tensor<1>)> {
    let plain = |d: burn::tensor::Device| !d.is_autodiff();
    if !(cpu_kernels(&x) && plain(x.device()) && plain(gamma.device()) && plain(dz.device())) {
        return None;
    }
    let (dx, dgamma, dbeta) = <Dispatch as NormReluPoolBackwardBackend>::norm_relu_pool_backward(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        dz.into_dispatch(),
        epsilon,
        relu,
        pool,
    );
    Some((
        Tensor::from_dispatch(dx),
        Tensor::from_dispatch(dgamma),
        Tensor::from_dispatch(dbeta),
    ))
}

/// The geometry and settings of one fused block.
#[derive(Debug, Clone, Copy)]
struct Block {
    c: usize,
    h: usize,
    w: usize,
    epsilon: f64,
    relu: bool,
    pool: bool,
}

impl Block {
    fn new(x: &FlexTensor, epsilon: f64, relu: bool, pool: bool) -> Self {
        let [_, c, h, w] = dims4(x);
        Block {
            c,
            h,
            w,
            epsilon,
            relu,
            pool,
        }
    }

    /// [`Block::backward`] in the tensors' dtype.
    fn backward_any(
        &self,
        x: &FlexTensor,
        gamma: &FlexTensor,
        beta: &FlexTensor,
        dz: &FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        match x.dtype() {
            DType::F32 => self.backward::<f32>(x, gamma, beta, dz),
            DType::F64 => self.backward::<f64>(x, gamma, beta, dz),
            other => panic!("norm_relu_pool: no CPU kernel for {other:?}; use f32 or f64"),
        }
    }

    /// The output plane's height and width.
    fn out_hw(&self) -> (usize, usize) {
        if self.pool {
            (self.h / 2, self.w / 2)
        } else {
            (self.h, self.w)
        }
    }

    /// `(mean, 1 / sqrt(var + eps))` of one plane (two passes).
    fn stats<T: Real>(&self, plane: &[T]) -> (f64, f64) {
        let p = plane.len() as f64;
        let mean = lane_sum(plane, |v| v) / p;
        let m = T::of(mean);
        let var = lane_sum(plane, |v| (v - m) * (v - m)) / p;
        (mean, 1.0 / (var + self.epsilon).sqrt())
    }

    fn forward<T: Real>(
        &self,
        x: &FlexTensor,
        gamma: &FlexTensor,
        beta: &FlexTensor,
    ) -> FlexTensor {
        let n = dims4(x)[0];
        let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
        let (xs, gs, bs) = (values::<T>(&x), values::<T>(&gamma), values::<T>(&beta));
        let (ho, wo) = self.out_hw();
        let (p, q) = (self.h * self.w, ho * wo);
        let zero = T::from(0.0);
        let (z, _) = par_fill(
            n * self.c * q,
            q.max(1),
            true,
            8,
            || vec![zero; p],
            |r, i, zi| {
                let plane = &xs[i * p..(i + 1) * p];
                let ch = i % self.c;
                let (mean, rstd) = self.stats(plane);
                let a = gs[ch].into() * rstd;
                let (a, b) = (T::of(a), T::of(bs[ch].into() - mean * a));
                for (rv, &xv) in r.iter_mut().zip(plane) {
                    let u = a * xv + b;
                    *rv = if self.relu { u.pass_if_positive(u) } else { u };
                }
                if !self.pool {
                    zi.copy_from_slice(r);
                    return;
                }
                pool_plane(r, self.w, zi);
            },
        );
        tensor(z, [n, self.c, ho, wo])
    }

    fn backward<T: Real>(
        &self,
        x: &FlexTensor,
        gamma: &FlexTensor,
        beta: &FlexTensor,
        dz: &FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let n = dims4(x)[0];
        let (x, gamma, beta, dz) = (
            contiguous(x),
            contiguous(gamma),
            contiguous(beta),
            contiguous(dz),
        );
        let (xs, gs, bs, dzs) = (
            values::<T>(&x),
            values::<T>(&gamma),
            values::<T>(&beta),
            values::<T>(&dz),
        );
        let (ho, wo) = self.out_hw();
        let (p, q) = (self.h * self.w, ho * wo);
        let zero = T::from(0.0);
        // per plane: (sum g, sum g xhat), for dbeta and dgamma
        let (dx, sums) = par_fill(
            n * self.c * p,
            p.max(1),
            true,
            8,
            || vec![zero; p],
            |g, i, dxi| {
                let plane = &xs[i * p..(i + 1) * p];
                let dzi = &dzs[i * q..(i + 1) * q];
                let ch = i % self.c;
                let (mean, rstd) = self.stats(plane);
                let a = gs[ch].into() * rstd;
                let (at, bt) = (T::of(a), T::of(bs[ch].into() - mean * a));
                // g = d relu-output, masked where the ReLU was off
                if self.pool {
                    unpool_plane(dzi, self.w, g);
                } else {
                    g.copy_from_slice(dzi);
                }
                if self.relu {
                    for (gv, &xv) in g.iter_mut().zip(plane) {
                        *gv = (at * xv + bt).pass_if_positive(*gv);
                    }
                }
                let m = T::of(mean);
                let sg = lane_sum(g, |v| v);
                let sgx = lane_dot(g, plane, |gv, xv| gv * (xv - m)) * rstd;
                let pf = p as f64;
                // dx = a (g - sg/p - xhat sgx/p), xhat = (x - mean) rstd
                let k1 = T::of(a);
                let k2 = T::of(a * sg / pf);
                let k3 = T::of(a * sgx / pf * rstd);
                for ((d, &gv), &xv) in dxi.iter_mut().zip(g.iter()).zip(plane) {
                    *d = k1 * gv - k2 - k3 * (xv - m);
                }
                (sg, sgx)
            },
        );
        let (mut dgamma, mut dbeta) = (vec![0.0f64; self.c], vec![0.0f64; self.c]);
        for (i, (sg, sgx)) in sums.into_iter().enumerate() {
            dbeta[i % self.c] += sg;
            dgamma[i % self.c] += sgx;
        }
        let cast = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
        (
            tensor(dx, [n, self.c, self.h, self.w]),
            tensor(cast(dgamma), [self.c]),
            tensor(cast(dbeta), [self.c]),
        )
    }
}

/// 2x2 average pooling (an odd last row or column dropped) and its adjoint, the input
/// gradient (each pooled gradient spread over its window, times 1/4; zero on a dropped row or
/// column), as CPU kernels over `(image, channel)` planes: Burn's broadcast of the pooled
/// gradient back to the input's size is a strided copy that perf put at a third of a DC
/// iteration. Each map is linear and the other's adjoint, so each one's autodiff backward is
/// the other: the meta-gradient engine differentiates the pooling's backward again through
/// them. Implemented for the `flex` backend and autodiff over it, `f32` and `f64`.
///
/// # Example
/// ```
/// use dd_prelude::models::AvgPool2Backend;
/// use burn::backend::Dispatch;
/// use burn::tensor::Tensor;
/// let dev = burn::tensor::Device::flex();
/// let dz = Tensor::<4>::ones([1, 1, 1, 1], &dev);
/// let dx = Tensor::<4>::from_dispatch(<Dispatch as AvgPool2Backend>::avg_pool2_grad(dz.into_dispatch(), [3, 3]));
/// assert_eq!(dx.to_data().to_vec::<f32>().unwrap(), vec![0.25, 0.25, 0.0, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0]);
/// ```
#[backend_extension(Flex, Autodiff)]
pub trait AvgPool2Backend: burn::backend::Backend {
    /// `[n, c, h, w]` to `[n, c, h / 2, w / 2]`, each output the mean of its 2x2 window.
    fn avg_pool2(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// The input gradient `[n, c, h, w]` (`input_hw = [h, w]`) of [`Self::avg_pool2`] for the
    /// pooled gradient `dz` `[n, c, h / 2, w / 2]`.
    fn avg_pool2_grad(dz: FloatTensor<Self>, input_hw: [usize; 2]) -> FloatTensor<Self>;
}

impl AvgPool2Backend for Flex {
    fn avg_pool2(x: FlexTensor) -> FlexTensor {
        match x.dtype() {
            DType::F32 => pool_planes::<f32>(&x),
            DType::F64 => pool_planes::<f64>(&x),
            other => panic!("avg_pool2: no CPU kernel for {other:?}; use f32 or f64"),
        }
    }

    fn avg_pool2_grad(dz: FlexTensor, input_hw: [usize; 2]) -> FlexTensor {
        match dz.dtype() {
            DType::F32 => unpool_planes::<f32>(&dz, input_hw),
            DType::F64 => unpool_planes::<f64>(&dz, input_hw),
            other => panic!("avg_pool2_grad: no CPU kernel for {other:?}; use f32 or f64"),
        }
    }
}

/// The backward of [`AvgPool2Backend::avg_pool2`]: the pooling's adjoint.
#[derive(Debug)]
struct PoolBackward;

impl Backward<Flex, 1> for PoolBackward {
    type State = [usize; 2];
    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let g = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            grads.register::<Flex>(node.id, Flex::avg_pool2_grad(g, ops.state));
        }
    }
}

/// The backward of [`AvgPool2Backend::avg_pool2_grad`]: the pooling itself.
#[derive(Debug)]
struct UnpoolBackward;

impl Backward<Flex, 1> for UnpoolBackward {
    type State = ();
    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let g = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            grads.register::<Flex>(node.id, Flex::avg_pool2(g));
        }
    }
}

impl<C: CheckpointStrategy> AvgPool2Backend for Autodiff<Flex, C> {
    fn avg_pool2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let [_, _, h, w] = dims4(x.primitive());
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish([h, w], Flex::avg_pool2(x.into_primitive())),
            OpsKind::UnTracked(prep) => prep.finish(Flex::avg_pool2(x.into_primitive())),
        }
    }

    fn avg_pool2_grad(dz: FloatTensor<Self>, input_hw: [usize; 2]) -> FloatTensor<Self> {
        match UnpoolBackward
            .prepare::<C>([dz.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                prep.finish((), Flex::avg_pool2_grad(dz.into_primitive(), input_hw))
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::avg_pool2_grad(dz.into_primitive(), input_hw))
            }
        }
    }
}

/// Pools one plane `r` `[h, w]` (row length `w`) into `z` `[h / 2, w / 2]`.
fn pool_plane<T: Real>(r: &[T], w: usize, z: &mut [T]) {
    let wo = w / 2;
    if wo == 0 {
        return;
    }
    let quarter = T::from(0.25);
    for (zrow, pair) in z.chunks_exact_mut(wo).zip(r.chunks_exact(2 * w)) {
        let (top, bottom) = pair.split_at(w);
        for ((zv, t), b) in zrow
            .iter_mut()
            .zip(top.chunks_exact(2))
            .zip(bottom.chunks_exact(2))
        {
            *zv = quarter * (t[0] + t[1] + b[0] + b[1]);
        }
    }
}

/// Spreads one pooled gradient plane `dz` `[h / 2, w / 2]` over `g` `[h, w]` (zeroed
/// first), a quarter to each pixel of its window.
fn unpool_plane<T: Real>(dz: &[T], w: usize, g: &mut [T]) {
    g.fill(T::from(0.0));
    let wo = w / 2;
    if wo == 0 {
        return;
    }
    let quarter = T::from(0.25);
    for (drow, pair) in dz.chunks_exact(wo).zip(g.chunks_exact_mut(2 * w)) {
        let (top, bottom) = pair.split_at_mut(w);
        for ((&d, t), b) in drow
            .iter()
            .zip(top.chunks_exact_mut(2))
            .zip(bottom.chunks_exact_mut(2))
        {
            let v = quarter * d;
            t[0] = v;
            t[1] = v;
            b[0] = v;
            b[1] = v;
        }
    }
}

fn pool_planes<T: Real>(x: &FlexTensor) -> FlexTensor {
    let [n, c, h, w] = dims4(x);
    let x = contiguous(x);
    let xs = values::<T>(&x);
    let (ho, wo) = (h / 2, w / 2);
    let (z, _) = par_fill(
        n * c * ho * wo,
        (ho * wo).max(1),
        true,
        8,
        || (),
        |_, i, zi| pool_plane(&xs[i * h * w..(i + 1) * h * w], w, zi),
    );
    tensor(z, [n, c, ho, wo])
}

fn unpool_planes<T: Real>(dz: &FlexTensor, input_hw: [usize; 2]) -> FlexTensor {
    let [n, c, ho, wo] = dims4(dz);
    let [h, w] = input_hw;
    assert_eq!(
        [ho, wo],
        [h / 2, w / 2],
        "a pooled gradient of {ho}x{wo} does not come from a {h}x{w} input"
    );
    let dz = contiguous(dz);
    let ds = values::<T>(&dz);
    let (g, _) = par_fill(
        n * c * h * w,
        (h * w).max(1),
        true,
        8,
        || (),
        |_, i, gi| unpool_plane(&ds[i * ho * wo..(i + 1) * ho * wo], w, gi),
    );
    tensor(g, [n, c, h, w])
}
