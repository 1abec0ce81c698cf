//! Stride-1 convolution and its two gradients, routed to the fastest form for the device.
//!
//! - On the CPU backend (`flex`, f32 or f64): the kernels of
//!   [`UnitConvBackend`](super::UnitConvBackend), one image's patch matrix at a time in cache,
//!   differentiable twice over ([`conv2d_unit_stride`], [`conv2d_unit_stride_dx`],
//!   [`conv2d_unit_stride_dw`]).
//! - Elsewhere, for an input with few channels (the first layer of an image network: 1 or 3),
//!   the input unfolded into its `c_in * kh * kw` patch rows (im2col): the convolution becomes
//!   `W [c_out, c_in kh kw] x cols`, the weight gradient `dy x cols^T` and the input gradient
//!   `W^T x dy` folded back, three large products in ordinary tensor ops that autodiff
//!   differentiates on every backend. The unfolded input is `kh * kw` times the size of the
//!   input, so this applies only when `c_in * kh * kw <= UNFOLD_MAX_ROWS`; wider inputs go to
//!   Burn's convolution and its transposed and axis-swapped forms.
//!
//! # Example
//! ```
//! use dd_prelude::models::{conv2d_unit_stride, unfold_patches};
//! use burn::tensor::{Distribution, Tensor};
//! let dev = dd_prelude::device();
//! let x = Tensor::<4>::random([2, 3, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
//! let w = Tensor::<4>::random([16, 3, 3, 3], Distribution::Normal(0.0, 0.1), &dev);
//! let y = conv2d_unit_stride(x.clone(), w, None, [1, 1]);
//! assert_eq!(y.dims(), [2, 16, 8, 8]);
//! assert_eq!(unfold_patches(x, [3, 3], [1, 1]).dims(), [2, 27, 64]);
//! ```

use burn::backend::Dispatch;
use burn::tensor::Tensor;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, PadMode};

use super::conv_kernel::{UnitConvBackend, cpu_kernels};

/// Largest patch length `c_in * kh * kw` that [`conv2d_unit_stride`] unfolds (27 for an RGB
/// input and a 3x3 kernel; 1,152 for a 128-channel hidden layer, which stays with Burn's
/// convolution).
///
/// # Example
/// ```
/// assert!(3 * 3 * 3 <= dd_prelude::models::UNFOLD_MAX_ROWS);
/// ```
pub const UNFOLD_MAX_ROWS: usize = 64;

/// Whether [`conv2d_unit_stride`] unfolds an input of `c_in` channels for a `kernel` (the rule
/// of [`UNFOLD_MAX_ROWS`]).
///
/// # Example
/// ```
/// use dd_prelude::models::unfolds;
/// assert!(unfolds(3, [3, 3]));
/// assert!(!unfolds(128, [3, 3]));
/// ```
pub fn unfolds(c_in: usize, kernel: [usize; 2]) -> bool {
    c_in * kernel[0] * kernel[1] <= UNFOLD_MAX_ROWS
}

/// The patches of `x` `[n, c, h, w]` under a `kernel` with stride 1 and zero `padding`
/// `[ph, pw]`: `[n, c * kh * kw, ho * wo]`, row `(c, a, b)` holding `x_pad[n, c, i + a, j + b]`
/// at column `i * wo + j` (the row order of a `[c_out, c, kh, kw]` weight flattened).
///
/// # Example
/// ```
/// use dd_prelude::models::unfold_patches;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &dev);
/// // 2x2 kernel, no padding: one patch, the whole image.
/// let cols = unfold_patches(x, [2, 2], [0, 0]);
/// assert_eq!(cols.to_data().to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
/// ```
pub fn unfold_patches(x: Tensor<4>, kernel: [usize; 2], padding: [usize; 2]) -> Tensor<3> {
    let [n, c, h, w] = x.dims();
    let [kh, kw] = kernel;
    let [ph, pw] = padding;
    let (ho, wo) = out_size([h, w], kernel, padding);
    let xp = if ph + pw > 0 {
        x.pad([(ph, ph), (pw, pw)], PadMode::Constant(0.0))
    } else {
        x
    };
    let taps: Vec<Tensor<4>> = (0..kh)
        .flat_map(|a| (0..kw).map(move |b| (a, b)))
        .map(|(a, b)| {
            xp.clone()
                .slice([0..n, 0..c, a..a + ho, b..b + wo])
                .reshape([n, c, 1, ho * wo])
        })
        .collect();
    Tensor::cat(taps, 2).reshape([n, c * kh * kw, ho * wo])
}

/// The adjoint of [`unfold_patches`] (col2im): adds each patch row of `cols`
/// `[n, c * kh * kw, ho * wo]` back at its place in an `[n, c, h, w]` image (`dims`), so
/// that `<unfold(x), cols> = <x, fold(cols)>`. The input gradient of a convolution is the fold
/// of `W^T dy`.
///
/// # Example
/// ```
/// use dd_prelude::models::{fold_patches, unfold_patches};
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// // Each pixel of a 3x3 image lies in as many 3x3 zero-padded patches as it has neighbours.
/// let counts = fold_patches(unfold_patches(Tensor::<4>::ones([1, 1, 3, 3], &dev), [3, 3], [1, 1]), [1, 1, 3, 3], [3, 3], [1, 1]);
/// assert_eq!(counts.to_data().to_vec::<f32>().unwrap(), vec![4.0, 6.0, 4.0, 6.0, 9.0, 6.0, 4.0, 6.0, 4.0]);
/// ```
pub fn fold_patches(
    cols: Tensor<3>,
    dims: [usize; 4],
    kernel: [usize; 2],
    padding: [usize; 2],
) -> Tensor<4> {
    let [n, c, h, w] = dims;
    let [kh, kw] = kernel;
    let [ph, pw] = padding;
    let (ho, wo) = out_size([h, w], kernel, padding);
    let (hp, wp) = (h + 2 * ph, w + 2 * pw);
    let cols = cols.reshape([n, c, kh * kw, ho, wo]);
    let mut sum: Option<Tensor<4>> = None;
    for a in 0..kh {
        for b in 0..kw {
            let k = a * kw + b;
            let tap = cols
                .clone()
                .slice([0..n, 0..c, k..k + 1, 0..ho, 0..wo])
                .reshape([n, c, ho, wo])
                .pad([(a, hp - a - ho), (b, wp - b - wo)], PadMode::Constant(0.0));
            sum = Some(match sum {
                Some(s) => s + tap,
                None => tap,
            });
        }
    }
    let sum = sum.expect("a kernel has at least one tap");
    if ph + pw > 0 {
        sum.slice([0..n, 0..c, ph..ph + h, pw..pw + w])
    } else {
        sum
    }
}

/// A convolution with stride 1, dilation 1, zero `padding` `[ph, pw]` and an optional bias:
/// `x` `[n, c_in, h, w]`, `weight` `[c_out, c_in, kh, kw]`, output
/// `[n, c_out, h + 2 ph - kh + 1, w + 2 pw - kw + 1]`. On the CPU backend in `f32` or `f64`
/// it runs the kernels of [`UnitConvBackend`] (one image's patch matrix at a time, in cache);
/// elsewhere it unfolds the input and runs one batched matrix product when [`unfolds`] says
/// so, otherwise Burn's `conv2d`. All give the same values up to round-off, and all are
/// differentiable (the CPU kernels twice over, through [`conv2d_unit_stride_dx`] and
/// [`conv2d_unit_stride_dw`]).
///
/// # Example
/// ```
/// use dd_prelude::models::conv2d_unit_stride;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let y = conv2d_unit_stride(Tensor::<4>::ones([1, 1, 3, 3], &dev), Tensor::ones([1, 1, 3, 3], &dev), Some(Tensor::ones([1], &dev)), [1, 1]);
/// assert_eq!(y.to_data().to_vec::<f32>().unwrap()[4], 10.0); // 9 ones + bias
/// ```
pub fn conv2d_unit_stride(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    padding: [usize; 2],
) -> Tensor<4> {
    if cpu_kernels(&x) {
        let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
        return Tensor::from_dispatch(<Dispatch as UnitConvBackend>::unit_conv(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            padding,
        ));
    }
    let [c_out, c_in, kh, kw] = weight.dims();
    if !unfolds(c_in, [kh, kw]) {
        return conv2d(
            x,
            weight,
            bias,
            ConvOptions::new([1, 1], padding, [1, 1], 1),
        );
    }
    let [n, _, h, w] = x.dims();
    let (ho, wo) = out_size([h, w], [kh, kw], padding);
    let cols = unfold_patches(x, [kh, kw], padding);
    let y = weight.reshape([1, c_out, c_in * kh * kw]).matmul(cols);
    let y = match bias {
        Some(b) => y + b.reshape([1, c_out, 1]),
        None => y,
    };
    y.reshape([n, c_out, ho, wo])
}

/// The input gradient of [`conv2d_unit_stride`]: `dx` `[n, c_in, h, w]` (`input_hw = [h, w]`)
/// for the output gradient `dy` `[n, c_out, ho, wo]`, a transposed convolution with `weight`
/// `[c_out, c_in, kh, kw]`. Differentiable in `dy` and `weight`.
///
/// # Example
/// ```
/// use dd_prelude::models::conv2d_unit_stride_dx;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// // One output pixel spreads its gradient over the 3x3 window it saw.
/// let dx = conv2d_unit_stride_dx(Tensor::<4>::ones([1, 1, 1, 1], &dev), Tensor::ones([1, 1, 3, 3], &dev), [3, 3], [0, 0]);
/// assert_eq!(dx.sum().into_scalar::<f32>(), 9.0);
/// ```
pub fn conv2d_unit_stride_dx(
    dy: Tensor<4>,
    weight: Tensor<4>,
    input_hw: [usize; 2],
    padding: [usize; 2],
) -> Tensor<4> {
    if cpu_kernels(&dy) {
        return Tensor::from_dispatch(<Dispatch as UnitConvBackend>::unit_conv_dx(
            dy.into_dispatch(),
            weight.into_dispatch(),
            input_hw,
            padding,
        ));
    }
    let [c_out, c_in, kh, kw] = weight.dims();
    let [n, _, ho, wo] = dy.dims();
    if unfolds(c_in, [kh, kw]) {
        let w_t = weight.reshape([1, c_out, c_in * kh * kw]).swap_dims(1, 2);
        let cols = w_t.matmul(dy.reshape([n, c_out, ho * wo]));
        return fold_patches(cols, [n, c_in, input_hw[0], input_hw[1]], [kh, kw], padding);
    }
    // The transposed convolution's output is ho + kh - 1 - 2 ph rows: pad up to the input's.
    let extra = [
        input_hw[0] + 2 * padding[0] + 1 - kh - ho,
        input_hw[1] + 2 * padding[1] + 1 - kw - wo,
    ];
    conv_transpose2d(
        dy,
        weight,
        None,
        ConvTransposeOptions::new([1, 1], padding, extra, [1, 1], 1),
    )
}

/// The weight gradient of [`conv2d_unit_stride`]: `dW` `[c_out, c_in, kh, kw]`
/// (`kernel = [kh, kw]`) of the convolution of `x` `[n, c_in, h, w]` for the output gradient
/// `dy` `[n, c_out, ho, wo]`, summed over the batch. Differentiable in `x` and `dy`.
///
/// # Example
/// ```
/// use dd_prelude::models::conv2d_unit_stride_dw;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// // A 2x2 kernel over a 3x3 image of ones: each weight saw 4 ones.
/// let dw = conv2d_unit_stride_dw(Tensor::<4>::ones([1, 1, 3, 3], &dev), Tensor::ones([1, 1, 2, 2], &dev), [2, 2], [0, 0]);
/// assert_eq!(dw.to_data().to_vec::<f32>().unwrap(), vec![4.0; 4]);
/// ```
pub fn conv2d_unit_stride_dw(
    x: Tensor<4>,
    dy: Tensor<4>,
    kernel: [usize; 2],
    padding: [usize; 2],
) -> Tensor<4> {
    if cpu_kernels(&x) {
        return Tensor::from_dispatch(<Dispatch as UnitConvBackend>::unit_conv_dw(
            x.into_dispatch(),
            dy.into_dispatch(),
            kernel,
            padding,
        ));
    }
    let [_, c_in, _, _] = x.dims();
    let [n, c_out, ho, wo] = dy.dims();
    let [kh, kw] = kernel;
    if unfolds(c_in, kernel) {
        let cols = unfold_patches(x, kernel, padding);
        return dy
            .reshape([n, c_out, ho * wo])
            .matmul(cols.swap_dims(1, 2))
            .sum_dim(0)
            .reshape([c_out, c_in, kh, kw]);
    }
    // dW[o, i, a, b] = sum_{n, y, x} dy[n, o, y, x] * x_pad[n, i, y + a, x + b]: a convolution
    // of x^T [c_in, n, h, w] with dy^T [c_out, n, ho, wo] as the kernel.
    conv2d(
        x.swap_dims(0, 1),
        dy.swap_dims(0, 1),
        None,
        ConvOptions::new([1, 1], padding, [1, 1], 1),
    )
    .swap_dims(0, 1)
}

/// The bias gradient of [`conv2d_unit_stride`]: the output gradient `dy` `[n, c_out, ho, wo]`
/// summed over the batch and the pixels, `[c_out]`; on the CPU backend, plane sums on all
/// cores. Differentiable in `dy`.
///
/// # Example
/// ```
/// use dd_prelude::models::conv2d_unit_stride_db;
/// use burn::tensor::Tensor;
/// let dev = dd_prelude::device();
/// let db = conv2d_unit_stride_db(Tensor::<4>::ones([2, 3, 4, 5], &dev));
/// assert_eq!(db.to_data().to_vec::<f32>().unwrap(), vec![40.0; 3]);
/// ```
pub fn conv2d_unit_stride_db(dy: Tensor<4>) -> Tensor<1> {
    if cpu_kernels(&dy) {
        return Tensor::from_dispatch(<Dispatch as UnitConvBackend>::unit_conv_db(
            dy.into_dispatch(),
        ));
    }
    let c_out = dy.dims()[1];
    dy.sum_dims(&[0, 2, 3]).reshape([c_out])
}

fn out_size(hw: [usize; 2], kernel: [usize; 2], padding: [usize; 2]) -> (usize, usize) {
    let ho = hw[0] + 2 * padding[0];
    let wo = hw[1] + 2 * padding[1];
    assert!(
        ho >= kernel[0] && wo >= kernel[1],
        "a {}x{} kernel does not fit a {}x{} input padded by {:?}",
        kernel[0],
        kernel[1],
        hw[0],
        hw[1],
        padding
    );
    (ho - kernel[0] + 1, wo - kernel[1] + 1)
}
