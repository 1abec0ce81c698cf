//! The finite-difference cases, shared by the f32 and the f64 test binaries.

use burn::tensor::{Tensor, TensorData};
use dd_prelude::distill::engine::ops::one_hot;
use dd_prelude::distill::engine::{MetaArch, Params};
use dd_prelude::distill::{AugOp, CafeLoss, DiffAugConfig, MatchDistance, dm_loss, match_loss};
use dd_prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Fd, check_meta_gradient, first_trusted_difference, randn, roundoff, seeded, values};

fn tiny_arch(depth: usize) -> MetaArch {
    MetaArch::convnet(
        &ConvNetConfig::new(3, 1, [8, 8])
            .with_width(4)
            .with_depth(depth),
    )
    .unwrap()
}

/// DC: `match_loss(g_syn(S), g_real)` with the per-layer distance (and the two others), the
/// synthetic gradient differentiated through the explicit backward.
pub fn dc(fd: Fd) {
    let dev = device();
    let _serial = seeded(&dev, 21);
    let arch = tiny_arch(2);
    let params = arch.init(&dev);
    let real = randn([6, 1, 8, 8], &dev);
    let (_, g_real) = arch.loss_and_grads(&params, real, &one_hot(&[1; 6], 3, &dev));
    let syn = randn([2, 1, 8, 8], &dev);
    let t = one_hot(&[1, 1], 3, &dev);
    for distance in [
        MatchDistance::PerLayer,
        MatchDistance::Mse,
        MatchDistance::Cosine,
    ] {
        let loss = |s: Tensor<4>| {
            let (_, g_syn) = arch.loss_and_grads(&params.autodiff(), s, &t.clone().autodiff());
            match_loss(&g_syn, &g_real, distance)
        };
        check_meta_gradient(&format!("DC {distance:?}"), &syn, loss, fd);
    }
}

/// DC on an MLP and a one-block ConvNet without norm (other layer mixes).
pub fn dc_other_archs(fd: Fd) {
    let dev = device();
    let _serial = seeded(&dev, 22);
    let archs = [
        MetaArch::mlp([1, 8, 8], &[16, 12], 3),
        MetaArch::convnet(
            &ConvNetConfig::new(3, 1, [8, 8])
                .with_width(3)
                .with_depth(1)
                .with_norm(NormKind::None),
        )
        .unwrap(),
    ];
    for arch in archs {
        let params = arch.init(&dev);
        let real = randn([6, 1, 8, 8], &dev);
        let (_, g_real) = arch.loss_and_grads(&params, real, &one_hot(&[0; 6], 3, &dev));
        let syn = randn([2, 1, 8, 8], &dev);
        let t = one_hot(&[0, 0], 3, &dev);
        let loss = |s: Tensor<4>| {
            let (_, g_syn) = arch.loss_and_grads(&params.autodiff(), s, &t.clone().autodiff());
            match_loss(&g_syn, &g_real, MatchDistance::PerLayer)
        };
        check_meta_gradient(&format!("DC on {:?}", arch.layers()), &syn, loss, fd);
    }
}

/// DSA: the same matching after one fixed augmentation of each family, applied to both
/// batches (colour images, so saturation is not the identity).
pub fn dsa(fd: Fd) {
    let dev = device();
    let _serial = seeded(&dev, 23);
    let arch =
        MetaArch::convnet(&ConvNetConfig::new(3, 3, [8, 8]).with_width(4).with_depth(2)).unwrap();
    let params = arch.init(&dev);
    let real = randn([5, 3, 8, 8], &dev);
    let syn = randn([2, 3, 8, 8], &dev);
    let t = one_hot(&[2, 2], 3, &dev);
    let dsa = DiffAugConfig::new();
    let mut rng = StdRng::seed_from_u64(5);
    for op in [
        AugOp::Color,
        AugOp::Crop,
        AugOp::Cutout,
        AugOp::Flip,
        AugOp::Scale,
        AugOp::Rotate,
    ] {
        let aug = dsa.sample_op(op, [8, 8], &mut rng);
        let (_, g_real) =
            arch.loss_and_grads(&params, aug.apply(real.clone()), &one_hot(&[2; 5], 3, &dev));
        let loss = |s: Tensor<4>| {
            let (_, g_syn) =
                arch.loss_and_grads(&params.autodiff(), aug.apply(s), &t.clone().autodiff());
            match_loss(&g_syn, &g_real, MatchDistance::PerLayer)
        };
        check_meta_gradient(&format!("DSA {op:?}"), &syn, loss, fd);
    }
}

/// DM: mean-embedding distance under a random network, with a rotation.
pub fn dm(fd: Fd) {
    let dev = device();
    let _serial = seeded(&dev, 24);
    let arch = tiny_arch(2);
    let params = arch.init(&dev);
    let real = randn([6, 1, 8, 8], &dev);
    let syn = randn([3, 1, 8, 8], &dev);
    let mut rng = StdRng::seed_from_u64(6);
    let aug = DiffAugConfig::new().sample_op(AugOp::Rotate, [8, 8], &mut rng);
    let loss = |s: Tensor<4>| {
        dm_loss(
            &arch,
            &params.autodiff(),
            aug.apply(real.clone()),
            aug.apply(s),
        )
    };
    check_meta_gradient("DM", &syn, loss, fd);
}

/// CAFE: layer-wise statistics plus the discriminative term, all classes at once.
pub fn cafe(fd: Fd) {
    let dev = device();
    let _serial = seeded(&dev, 25);
    let arch = tiny_arch(2);
    let params = arch.init(&dev);
    let cafe = CafeLoss {
        arch: &arch,
        layer_weights: &[0.1, 1.0, 1.0],
        inner_weight: 0.5,
    };
    let real: Vec<Tensor<4>> = (0..3).map(|_| randn([5, 1, 8, 8], &dev)).collect();
    let stats = cafe.real_stats(&params, real);
    let syn = randn([6, 1, 8, 8], &dev);
    let loss = |s: Tensor<4>| cafe.loss(&params.autodiff(), &stats, s, 2);
    check_meta_gradient("CAFE", &syn, loss, fd);
}

/// Three unrolled SGD steps on the synthetic images with a learnable step size, then MTT's
/// normalised parameter distance to a target reached by three steps on other images (an
/// "expert"): the gradient with respect to the images, and to the step size (a
/// one-dimensional central difference at `h` and `h/2`).
pub fn unrolled_sgd(fd: Fd) {
    let dev = device();
    let _serial = seeded(&dev, 18);
    let arch = tiny_arch(2);
    let theta0 = arch.init(&dev);
    let syn = randn([3, 1, 8, 8], &dev);
    let t = one_hot(&[0, 1, 2], 3, &dev);
    let lr0 = 0.05;
    let expert = randn([3, 1, 8, 8], &dev);
    let mut target = theta0.clone();
    for _ in 0..3 {
        let (_, g) = arch.loss_and_grads(&target, expert.clone(), &t);
        target = target.sgd_step(&g, lr0);
    }
    let loss = |images: Tensor<4>, lr: Tensor<1>| -> Tensor<1> {
        let mut theta: Params = theta0.autodiff();
        for _ in 0..3 {
            let (_, g) = arch.loss_and_grads(&theta, images.clone(), &t.clone().autodiff());
            theta = theta.sgd_step_tensor(&g, &lr);
        }
        let num = theta.zip_map(&target, |a, b| a.sub(b)).squared_norm();
        let den = theta0.zip_map(&target, |a, b| a.sub(b)).squared_norm();
        num.div(den)
    };
    let lr_t = Tensor::<1>::from_floats([lr0], &dev);
    check_meta_gradient(
        "unrolled SGD (images)",
        &syn,
        |s| loss(s, lr_t.clone().autodiff()),
        fd,
    );
    // The step size moves every parameter of every step, so the loss meets a kink in it
    // often: check the derivative at five step sizes around lr0, at least three of them.
    let mut checked = 0;
    for lr in [1.0, 0.8, 1.2, 0.9, 1.1].map(|s| lr0 * s) {
        // Built from f64 data in the device's float type, the same way at every probe (an
        // f32 literal would move lr by 1e-9, which the second differences would see).
        let lr_at = |v: f64| {
            Tensor::<1>::from_data(TensorData::new(vec![lr + v], [1]), &dev).cast(syn.dtype())
        };
        let lr_leaf = lr_at(0.0).autodiff().require_grad();
        let l = loss(syn.clone().autodiff(), lr_leaf.clone());
        let l0 = values(&l)[0];
        let analytic = values(&lr_leaf.grad(&l.backward()).unwrap())[0];
        let f = |v: f64| values(&loss(syn.clone(), lr_at(v)))[0];
        // Kinks lie about every 1e-3 along lr here, but the derivative is large next to the
        // loss, so steps far below the images' can bear the round-off.
        let Some((num, tol)) =
            first_trusted_difference(f, l0, &[fd.h / 100.0, fd.h / 400.0], |h| {
                fd.rtol * analytic.abs() + roundoff(l0, syn.dtype(), h)
            })
        else {
            continue;
        };
        assert!(
            (num - analytic).abs() <= tol,
            "d loss / d lr at {lr}: autodiff {analytic}, finite difference {num}"
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "d loss / d lr: only {checked} of 5 step sizes free of kinks"
    );
}
