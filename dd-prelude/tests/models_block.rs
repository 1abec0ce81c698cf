//! The fused instance norm + ReLU + average pooling kernel against the same block in Burn's
//! tensor ops (`InstanceNorm`, `relu`, `avg_pool_2x2`): same values, same gradients. (The
//! ConvNet's use of it is checked in `distill_engine.rs`: its forward pass equals the
//! meta-gradient engine's, whose instance norm, ReLU and pooling are separate tensor ops.)

use burn::nn::InstanceNormConfig;
use burn::tensor::activation;
use burn::tensor::{Distribution, Tensor};
use dd_prelude::models::{
    avg_pool_2x2, avg_pool_2x2_grad, block_norm_relu_pool, block_norm_relu_pool_backward,
};

fn randn<const D: usize>(shape: [usize; D], dev: &burn::tensor::Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), dev)
}

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

#[test]
fn fused_block_equals_burns_ops_values_and_gradients() {
    let dev = dd_prelude::device().autodiff();
    // even and odd planes (an odd last row and column are dropped by the pooling), pooled or
    // not, with the ReLU or without (the engine's instance norm), a batch split between
    // threads and a single image
    for (n, c, h, w, relu, pool) in [
        (5, 3, 6, 8, true, true),
        (1, 2, 7, 5, true, true),
        (3, 4, 5, 6, true, false),
        (4, 3, 5, 4, false, false),
        (2, 2, 6, 6, false, true),
    ] {
        let what = format!("{n}x{c}x{h}x{w} relu {relu} pool {pool}");
        let norm = InstanceNormConfig::new(c).init(&dev);
        let gamma = randn([c], &dev).require_grad();
        let beta = (randn([c], &dev) * 0.5).require_grad();
        let x = (randn([n, c, h, w], &dev) * 3.0 + 1.0).require_grad();
        let fused = block_norm_relu_pool(x.clone(), gamma.clone(), beta.clone(), 1e-5, relu, pool);
        // Burn's InstanceNorm with these gamma and beta: normalise with the unit affine,
        // then apply them
        let xhat = norm.forward(x.clone());
        let u = xhat * gamma.clone().reshape([1, c, 1, 1]) + beta.clone().reshape([1, c, 1, 1]);
        let r = if relu { activation::relu(u) } else { u };
        let reference = if pool { avg_pool_2x2(r) } else { r };
        assert_eq!(fused.dims(), reference.dims(), "{what}");
        let gap = max_abs_diff(fused.clone().detach(), reference.clone().detach());
        assert!(gap < 1e-4, "values differ by {gap} for {what}");
        let weights = randn(fused.dims(), &dev);
        // the plain-tensor backward (the engine's untracked passes) gives the same gradients
        let plain = block_norm_relu_pool_backward(
            x.clone().inner(),
            gamma.clone().inner(),
            beta.clone().inner(),
            weights.clone().inner(),
            1e-5,
            relu,
            pool,
        )
        .expect("plain CPU tensors take the fused kernel");
        let g_fused = (fused * weights.clone()).sum().backward();
        let g_ref = (reference * weights).sum().backward();
        let flat = |t: Option<Tensor<4>>| {
            let t = t.expect("a gradient");
            let len = t.dims().iter().product::<usize>();
            t.reshape([len])
        };
        let vec = |t: Option<Tensor<1>>| t.expect("a gradient");
        for (name, a, b) in [
            ("x", flat(x.grad(&g_fused)), flat(x.grad(&g_ref))),
            ("gamma", vec(gamma.grad(&g_fused)), vec(gamma.grad(&g_ref))),
            ("beta", vec(beta.grad(&g_fused)), vec(beta.grad(&g_ref))),
        ] {
            let scale = b.clone().abs().max().into_scalar::<f32>().max(1.0);
            let gap = max_abs_diff(a, b);
            assert!(gap < 1e-4 * scale, "d{name} differs by {gap} for {what}");
        }
        let (px, pg, pb) = plain;
        let dims = px.dims();
        let len = dims.iter().product::<usize>();
        for (name, a, b) in [
            ("x", px.reshape([len]), flat(x.grad(&g_ref))),
            ("gamma", pg, vec(gamma.grad(&g_ref))),
            ("beta", pb, vec(beta.grad(&g_ref))),
        ] {
            let gap = max_abs_diff(a, b.inner());
            assert!(gap < 1e-3, "plain d{name} differs by {gap} for {what}");
        }
    }
}

/// The pooling kernel against Burn's `AvgPool2d` (values and input gradient, odd sizes
/// included), and its gradient map is its adjoint.
#[test]
fn pooling_kernel_equals_burns_avg_pool_and_its_gradient_is_the_adjoint() {
    use burn::nn::pool::AvgPool2dConfig;
    let dev = dd_prelude::device().autodiff();
    let pool = AvgPool2dConfig::new([2, 2]).init();
    for (n, c, h, w) in [(5, 3, 6, 8), (1, 2, 7, 5), (3, 1, 2, 3)] {
        let x = randn([n, c, h, w], &dev).require_grad();
        let ours = avg_pool_2x2(x.clone());
        let burn = pool.forward(x.clone());
        assert_eq!(ours.dims(), burn.dims());
        assert!(max_abs_diff(ours.clone().detach(), burn.clone().detach()) < 1e-6);
        let weights = randn(ours.dims(), &dev);
        let g_ours = (ours * weights.clone()).sum().backward();
        let g_burn = (burn * weights.clone()).sum().backward();
        let gap = max_abs_diff(x.grad(&g_ours).unwrap(), x.grad(&g_burn).unwrap());
        assert!(gap < 1e-6, "dx differs by {gap} for {n}x{c}x{h}x{w}");
        // <pool(u), dz> = <u, grad(dz)>
        let u = randn([n, c, h, w], &dev).inner();
        let dz = weights.inner();
        let lhs = (avg_pool_2x2(u.clone()) * dz.clone())
            .sum()
            .into_scalar::<f32>();
        let rhs = (u * avg_pool_2x2_grad(dz, [h, w]))
            .sum()
            .into_scalar::<f32>();
        assert!(
            (lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0),
            "{lhs} against {rhs}"
        );
    }
}
