//! The unfolded (im2col) convolution against Burn's: same values, same gradients, and the fold
//! is the unfold's adjoint.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor};
use dd_prelude::models::{conv2d_unit_stride, fold_patches, unfold_patches, unfolds};

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

#[test]
fn wide_inputs_go_to_burns_convolution_with_the_same_result() {
    let dev = dd_prelude::device();
    assert!(!unfolds(16, [3, 3]));
    let x = randn([2, 16, 5, 5], &dev);
    let w = randn([4, 16, 3, 3], &dev);
    let ours = conv2d_unit_stride(x.clone(), w.clone(), None, [1, 1]);
    let burn = conv2d(x, w, None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
    assert_eq!(max_abs_diff(ours, burn), 0.0);
}
