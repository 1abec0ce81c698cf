//! MTT's meta-gradient in f64: the plain unroll's autodiff gradient with respect to the
//! images and the step size against central finite differences through 3 SGD steps (with DSA
//! augmentation on every step), and the constant-memory gradient against the plain unroll's.

mod distill_common;

use std::sync::Once;

use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use dd_prelude::distill::engine::{MetaArch, Params};
use dd_prelude::distill::{DiffAugConfig, Unroll, trajectory_loss};
use dd_prelude::*;
use distill_common::{
    Fd, assert_close, check_meta_gradient, first_trusted_difference, randn, roundoff, seeded,
    values,
};
use rand::SeedableRng;

fn f64_device() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut dev = Device::flex();
        dev.configure(FloatDType::F64)
            .expect("f64 before any tensor");
    });
}

struct Case {
    arch: MetaArch,
    start: Params,
    target: Params,
    syn: Tensor<4>,
    unroll: Unroll,
}

/// A ConvNet of width 4 on 8x8 images, 3 classes; the "expert" takes 3 steps on other data;
/// 6 synthetic images, batches of 4, 3 steps, DSA on each.
fn case(seed: u64, augment: bool) -> Case {
    let dev = device();
    let arch =
        MetaArch::convnet(&ConvNetConfig::new(3, 1, [8, 8]).with_width(4).with_depth(1)).unwrap();
    let start = arch.init(&dev);
    let expert = randn([6, 1, 8, 8], &dev);
    let t = dd_prelude::distill::engine::ops::one_hot(&[0, 1, 2, 0, 1, 2], 3, &dev);
    let mut target = start.clone();
    for _ in 0..3 {
        let (_, g) = arch.loss_and_grads(&target, expert.clone(), &t);
        target = target.sgd_step(&g, 0.1);
    }
    let syn = randn([6, 1, 8, 8], &dev);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let aug = augment.then(DiffAugConfig::new);
    let unroll = Unroll::new(vec![0, 0, 1, 1, 2, 2], 3, 4, 3, aug, &mut rng);
    Case {
        arch,
        start,
        target,
        syn,
        unroll,
    }
}

fn plain_loss(c: &Case, images: Tensor<4>, lr: Tensor<1>) -> Tensor<1> {
    let theta = c.unroll.run_tracked(&c.arch, &c.start, images, lr);
    trajectory_loss(&theta, &c.start, &c.target)
}

fn lr_tensor(v: f64) -> Tensor<1> {
    Tensor::<1>::from_data(TensorData::new(vec![v], [1]), &device())
}

#[test]
fn mtt_gradient_matches_finite_differences_f64() {
    f64_device();
    let dev = device();
    let _serial = seeded(&dev, 41);
    for augment in [false, true] {
        let c = case(7, augment);
        let what = if augment {
            "MTT with DSA (images)"
        } else {
            "MTT (images)"
        };
        check_meta_gradient(
            what,
            &c.syn,
            |s| plain_loss(&c, s, lr_tensor(0.05).autodiff()),
            Fd::F64,
        );
        // d J / d lr at a few step sizes (ReLU kinks move with lr: at least 3 of 5 clear).
        let mut checked = 0;
        for lr in [0.05, 0.04, 0.06, 0.045, 0.055] {
            let leaf = lr_tensor(lr).autodiff().require_grad();
            let l = plain_loss(&c, c.syn.clone().autodiff(), leaf.clone());
            let l0 = values(&l)[0];
            let analytic = values(&leaf.grad(&l.backward()).unwrap())[0];
            let f = |v: f64| values(&plain_loss(&c, c.syn.clone(), lr_tensor(lr + v)))[0];
            let Some((num, tol)) = first_trusted_difference(f, l0, &[1e-6, 2.5e-7], |h| {
                1e-5 * analytic.abs() + roundoff(l0, c.syn.dtype(), h)
            }) else {
                continue;
            };
            assert!(
                (num - analytic).abs() <= tol,
                "{what}: d J / d lr at {lr}: autodiff {analytic}, finite difference {num}"
            );
            checked += 1;
        }
        assert!(
            checked >= 3,
            "{what}: d J / d lr: only {checked} of 5 step sizes kink-free"
        );
    }
}

#[test]
fn constant_memory_gradient_equals_the_plain_unroll_f64() {
    f64_device();
    let dev = device();
    let _serial = seeded(&dev, 43);
    for augment in [false, true] {
        let c = case(11, augment);
        let lr = 0.05;
        let images = c.syn.clone().autodiff().require_grad();
        let lr_leaf = lr_tensor(lr).autodiff().require_grad();
        let l = plain_loss(&c, images.clone(), lr_leaf.clone());
        let plain_value = values(&l)[0];
        let grads = l.backward();
        let d_images = images.grad(&grads).unwrap();
        let d_lr = values(&lr_leaf.grad(&grads).unwrap())[0];
        let (value, cm_images, cm_lr) = c
            .unroll
            .grads_constant_memory(&c.arch, &c.start, &c.target, &c.syn, lr);
        assert!(
            (value - plain_value).abs() <= 1e-12 * plain_value.abs(),
            "{value} vs {plain_value}"
        );
        assert_close("d J / d images", &cm_images, &d_images, 1e-10);
        assert!(
            (cm_lr - d_lr).abs() <= 1e-10 * d_lr.abs().max(1.0),
            "d J / d lr {cm_lr} vs {d_lr}"
        );
    }
}
