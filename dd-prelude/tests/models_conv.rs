//! The stride-1 convolution (the CPU kernels, and the unfolded tensor-op form for other
//! backends) against Burn's: same values, same gradients; its gradient maps are its adjoints,
//! and their own gradients (the meta-gradient engine's) match finite differences.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor};
use dd_prelude::models::{
    conv2d_unit_stride, conv2d_unit_stride_dw, conv2d_unit_stride_dx, fold_patches, unfold_patches,
    unfolds,
};

fn randn<const D: usize>(shape: [usize; D], dev: &burn::tensor::Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), dev)
}

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

const CASES: [(usize, [usize; 2], [usize; 2]); 4] = [
    (3, [3, 3], [1, 1]),
    (1, [3, 3], [0, 0]),
    (2, [3, 5], [1, 0]),
    (3, [2, 4], [0, 2]),
];

#[test]
fn unfolded_convolution_equals_burns_values_and_gradients() {
    let dev = dd_prelude::device().autodiff();
    for (c_in, [kh, kw], padding) in CASES {
        assert!(unfolds(c_in, [kh, kw]));
        let x = randn([3, c_in, 7, 6], &dev).require_grad();
        let w = randn([5, c_in, kh, kw], &dev).require_grad();
        let b = randn([5], &dev).require_grad();
        let ours = conv2d_unit_stride(x.clone(), w.clone(), Some(b.clone()), padding);
        let burn = conv2d(
            x.clone(),
            w.clone(),
            Some(b.clone()),
            ConvOptions::new([1, 1], padding, [1, 1], 1),
        );
        assert_eq!(ours.dims(), burn.dims(), "{c_in} {kh}x{kw} {padding:?}");
        let gap = max_abs_diff(ours.clone().detach(), burn.clone().detach());
        assert!(gap < 1e-4, "values differ by {gap} for {c_in} {kh}x{kw}");
        // the same weighted loss through both: every gradient must agree
        let weights = randn(ours.dims(), &dev);
        let g_ours = (ours * weights.clone()).sum().backward();
        let g_burn = (burn * weights).sum().backward();
        for (name, a, b) in [
            ("x", x.grad(&g_ours), x.grad(&g_burn)),
            ("w", w.grad(&g_ours), w.grad(&g_burn)),
        ] {
            let gap = max_abs_diff(a.expect("grad"), b.expect("grad"));
            assert!(gap < 1e-3, "d{name} differs by {gap} for {c_in} {kh}x{kw}");
        }
        let gap = max_abs_diff(b.grad(&g_ours).unwrap(), b.grad(&g_burn).unwrap());
        assert!(gap < 1e-3, "db differs by {gap}");
    }
}

#[test]
fn fold_is_the_adjoint_of_unfold() {
    let dev = dd_prelude::device();
    for (c_in, kernel, padding) in CASES {
        let dims = [2, c_in, 7, 6];
        let x = randn(dims, &dev);
        let cols_shape = unfold_patches(x.clone(), kernel, padding).dims();
        let c = randn(cols_shape, &dev);
        let lhs = (unfold_patches(x.clone(), kernel, padding) * c.clone())
            .sum()
            .into_scalar::<f32>();
        let rhs = (x * fold_patches(c, dims, kernel, padding))
            .sum()
            .into_scalar::<f32>();
        assert!(
            (lhs - rhs).abs() <= 1e-3 * lhs.abs().max(1.0),
            "<unfold x, c> = {lhs} but <x, fold c> = {rhs} for {kernel:?} {padding:?}"
        );
    }
}

/// The CPU kernels (`UnitConvBackend`) on wide inputs, on a batch split between threads (5
/// images, and 20 or 37 images in groups side by side in each product) and on a single image
/// (products on every core), with a bias and without: same values and gradients as Burn's
/// convolution.
#[test]
fn wide_inputs_match_burns_convolution_values_and_gradients() {
    let dev = dd_prelude::device().autodiff();
    assert!(!unfolds(16, [3, 3]));
    for (n, [kh, kw], padding, bias) in [
        (5, [3, 3], [1, 1], true),
        (1, [3, 3], [1, 1], false),
        (4, [1, 1], [0, 0], true),
        (2, [3, 2], [2, 0], false),
        // output the input's size: patch rows as shifted copies of the plane
        (3, [5, 3], [2, 1], true),
        // batches large enough for several images per product, the last group short
        (37, [3, 3], [1, 1], true),
        (20, [3, 2], [2, 0], false),
    ] {
        let what = format!("n {n} {kh}x{kw} pad {padding:?} bias {bias}");
        let x = randn([n, 16, 6, 5], &dev).require_grad();
        let w = randn([7, 16, kh, kw], &dev).require_grad();
        let b = bias.then(|| randn([7], &dev).require_grad());
        let ours = conv2d_unit_stride(x.clone(), w.clone(), b.clone(), padding);
        let burn = conv2d(
            x.clone(),
            w.clone(),
            b.clone(),
            ConvOptions::new([1, 1], padding, [1, 1], 1),
        );
        assert_eq!(ours.dims(), burn.dims(), "{what}");
        let gap = max_abs_diff(ours.clone().detach(), burn.clone().detach());
        assert!(gap < 1e-4, "values differ by {gap} for {what}");
        let weights = randn(ours.dims(), &dev);
        let g_ours = (ours * weights.clone()).sum().backward();
        let g_burn = (burn * weights).sum().backward();
        let gap = max_abs_diff(x.grad(&g_ours).unwrap(), x.grad(&g_burn).unwrap());
        assert!(gap < 1e-3, "dx differs by {gap} for {what}");
        let gap = max_abs_diff(w.grad(&g_ours).unwrap(), w.grad(&g_burn).unwrap());
        assert!(gap < 1e-3, "dw differs by {gap} for {what}");
        if let Some(b) = b {
            let gap = max_abs_diff(b.grad(&g_ours).unwrap(), b.grad(&g_burn).unwrap());
            assert!(gap < 1e-3, "db differs by {gap} for {what}");
        }
    }
}

/// The input and weight gradients of the convolution are its adjoints:
/// `<conv(u, W), dy> = <dx(dy, W), u> = <dW(u, dy), W>`.
#[test]
fn input_and_weight_gradients_are_the_convolutions_adjoints() {
    let dev = dd_prelude::device();
    for (n, c_in, kernel, padding) in [(5, 16, [3, 3], [1, 1]), (1, 3, [2, 4], [0, 2])] {
        let u = randn([n, c_in, 7, 6], &dev);
        let w = randn([4, c_in, kernel[0], kernel[1]], &dev);
        let y = conv2d_unit_stride(u.clone(), w.clone(), None, padding);
        let dy = randn(y.dims(), &dev);
        let forward = (y * dy.clone()).sum().into_scalar::<f32>();
        let via_dx = (conv2d_unit_stride_dx(dy.clone(), w.clone(), [7, 6], padding) * u.clone())
            .sum()
            .into_scalar::<f32>();
        let via_dw = (conv2d_unit_stride_dw(u, dy, kernel, padding) * w)
            .sum()
            .into_scalar::<f32>();
        for (name, v) in [("dx", via_dx), ("dW", via_dw)] {
            assert!(
                (v - forward).abs() <= 1e-3 * forward.abs().max(1.0),
                "<conv(u, W), dy> = {forward} but through {name} {v} ({kernel:?} {padding:?})"
            );
        }
    }
}

/// Views that are not plain contiguous buffers (an offset slice, a transposed input) give the
/// same convolution as their contiguous copies.
#[test]
fn strided_and_offset_views_convolve_as_their_copies() {
    let dev = dd_prelude::device();
    let w = randn([4, 16, 3, 3], &dev);
    let big = randn([6, 16, 5, 7], &dev);
    let offset = big.clone().slice([2..6, 0..16, 0..5, 0..7]);
    let transposed = randn([4, 16, 7, 5], &dev).swap_dims(2, 3);
    for (what, view) in [("offset", offset), ("transposed", transposed)] {
        let copy = Tensor::<4>::from_data(view.to_data(), &dev);
        let gap = max_abs_diff(
            conv2d_unit_stride(view.clone(), w.clone(), None, [1, 1]),
            conv2d_unit_stride(copy.clone(), w.clone(), None, [1, 1]),
        );
        assert!(gap < 1e-5, "{what}: forward differs by {gap}");
        let dy = randn([4, 4, 5, 7], &dev);
        let gap = max_abs_diff(
            conv2d_unit_stride_dw(view, dy.clone(), [3, 3], [1, 1]),
            conv2d_unit_stride_dw(copy, dy, [3, 3], [1, 1]),
        );
        assert!(gap < 1e-4, "{what}: weight gradient differs by {gap}");
    }
}
