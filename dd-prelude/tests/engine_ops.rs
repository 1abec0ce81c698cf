//! Every op of the meta-gradient engine, old and new, in f64: its explicit backward against
//! central finite differences (every input, parameters included) and against Burn's own
//! autodiff of its forward. Then networks of the open layer trait: a text CNN, soft-label
//! meta-gradients, and a layer written here, outside the crate.
//!
//! Each op is checked on `L = sum(y * dy)` for a fixed random `dy` (the loss heads on their
//! loss times a random scalar): the explicit backward of `dy` must be the gradient of `L`.
//! With `h = 1e-6` in f64 the central difference is good to about 1e-9 (truncation
//! `h^2 f'''` and round-off `eps |L| / h`); ReLU and max pooling have kinks, but at random
//! normal inputs none lies within `h` of a probe (probability about 1e-6 per entry).

mod distill_common;

use std::sync::{Arc, Once};

use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use dd_prelude::distill::engine::layers::{
    Act, Cache, Conv2dLayer, FlattenLayer, LayerNormLayer, LayerParams, LinearLayer,
    MaxPoolTimeLayer, MetaLayer, ParamSpec, ReluLayer, cached,
};
use dd_prelude::distill::engine::ops::{
    AvgPool2Op, ContrastiveOp, Conv2dOp, Conv2dRectOp, InstanceNormOp, LayerNormOp, LinearOp,
    MaxPoolTimeOp, ReluOp, SoftmaxCrossEntropyOp, flat, one_hot,
};
use dd_prelude::distill::engine::{MetaArch, ParamKind, Params};
use dd_prelude::models::{conv2d_unit_stride_dw, conv2d_unit_stride_dx};
use distill_common::{assert_close, randn, seeded, values};

/// Explicit backward against Burn's autodiff: both are exact, so they agree to round-off,
/// save one loss of precision in Burn: the autodiff backward of `div_scalar` multiplies by an
/// f32 reciprocal (burn-autodiff 0.22.1, `float_div_scalar`: `1.0 / state.elem::<f32>()`),
/// so a mean over 5 or 6 rows is differentiated to about 3e-8 relative even in f64
/// (measured: 5e-9 absolute on the logits gradient of a 6-row cross-entropy; exact for 4 rows).
const PARITY: f64 = 1e-7;
/// Explicit backward against a central difference at `H` (see the module doc).
const FD_TOL: f64 = 1e-6;
const H: f64 = 1e-6;

/// Configures the flex device for f64 once, before the first tensor of this process.
fn f64_device() -> Device {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut dev = Device::flex();
        dev.configure(FloatDType::F64)
            .expect("f64 before any tensor");
    });
    let dev = dd_prelude::device();
    assert_eq!(dev.settings().float_dtype, FloatDType::F64);
    dev
}

/// A flat input of `dims`' size, standard normal.
fn input(dims: &[usize], dev: &Device) -> Tensor<1> {
    randn([dims.iter().product::<usize>()], dev)
}

/// A flat tensor at a shape.
fn shaped<const D: usize>(t: &Tensor<1>, dims: [usize; D]) -> Tensor<D> {
    t.clone().reshape(dims)
}

/// `sum(y * dy)` as a number.
fn dot<const D: usize>(y: Tensor<D>, dy: &Tensor<D>) -> f64 {
    values(&y.mul(dy.clone()).sum())[0]
}

/// Checks `grad`, the explicit gradient of `f` at `point`, against central differences on
/// every coordinate (or 64 spread over a larger tensor).
fn fd_check(what: &str, point: &Tensor<1>, grad: &Tensor<1>, f: impl Fn(Tensor<1>) -> f64) {
    let (x, g) = (values(point), values(grad));
    assert_eq!(x.len(), g.len(), "{what}: gradient size");
    let dev = point.device();
    let gmax = g.iter().fold(0f64, |m, v| m.max(v.abs()));
    assert!(gmax > 0.0, "{what}: zero gradient, nothing to check");
    let n = x.len();
    let coords: Vec<usize> = if n <= 64 {
        (0..n).collect()
    } else {
        (0..64).map(|k| k * n / 64).collect()
    };
    let at = |i: usize, s: f64| {
        let mut v = x.clone();
        v[i] += s;
        f(Tensor::<1>::from_data(TensorData::new(v, [n]), &dev).cast(point.dtype()))
    };
    for i in coords {
        let num = (at(i, H) - at(i, -H)) / (2.0 * H);
        assert!(
            (num - g[i]).abs() <= FD_TOL * gmax.max(1.0),
            "{what}: coordinate {i}: explicit {:e}, finite difference {num:e}",
            g[i]
        );
    }
}

/// Checks an op given as `forward` (from flat inputs to an output) and `backward` (from flat
/// inputs and the upstream gradient to one flat gradient per input): against finite
/// differences of `sum(y * dy)` and against Burn's autodiff of `forward`.
fn check_op<const D: usize>(
    what: &str,
    inputs: &[Tensor<1>],
    forward: impl Fn(&[Tensor<1>]) -> Tensor<D>,
    backward: impl Fn(&[Tensor<1>], Tensor<D>) -> Vec<Tensor<1>>,
) {
    let y = forward(inputs);
    let dy = randn(y.dims(), &y.device());
    let explicit = backward(inputs, dy.clone());
    assert_eq!(
        explicit.len(),
        inputs.len(),
        "{what}: one gradient per input"
    );
    for (i, g) in explicit.iter().enumerate() {
        fd_check(&format!("{what}: input {i}"), &inputs[i], g, |xi| {
            let mut moved = inputs.to_vec();
            moved[i] = xi;
            dot(forward(&moved), &dy)
        });
    }
    let leaves: Vec<Tensor<1>> = inputs
        .iter()
        .map(|t| t.clone().autodiff().require_grad())
        .collect();
    let grads = forward(&leaves).mul(dy.clone().autodiff()).sum().backward();
    for (i, (leaf, g)) in leaves.iter().zip(&explicit).enumerate() {
        let auto = leaf
            .grad(&grads)
            .expect("the output depends on every input");
        assert_close(&format!("{what}: input {i} vs autodiff"), g, &auto, PARITY);
    }
    // The explicit backward is made of tracked ops: on tracked inputs it is the same value,
    // and a loss of it can be differentiated.
    let tracked = backward(&leaves, dy.autodiff());
    for (i, (t, g)) in tracked.iter().zip(&explicit).enumerate() {
        assert!(
            t.is_autodiff(),
            "{what}: tracked gradient {i} left the graph"
        );
        assert_close(
            &format!("{what}: tracked {i}"),
            &t.clone().inner(),
            g,
            PARITY,
        );
    }
}

/// Checks an op `y = f(x, W, b)` of input shape `xd`, weight shape `wd` and `bias` outputs,
/// with backward `(dx, dW, db)`: a convolution or a linear layer.
fn check_weighted<const D: usize, C>(
    what: &str,
    (xd, wd, bias): ([usize; D], [usize; D], usize),
    forward: impl Fn(Tensor<D>, Tensor<D>, Tensor<1>) -> (Tensor<D>, C),
    backward: impl Fn(&C, &Tensor<D>, Tensor<D>) -> (Option<Tensor<D>>, Tensor<D>, Tensor<1>),
) {
    let dev = dd_prelude::device();
    check_op(
        what,
        &[input(&xd, &dev), input(&wd, &dev), input(&[bias], &dev)],
        |v| forward(shaped(&v[0], xd), shaped(&v[1], wd), v[2].clone()).0,
        |v, dy| {
            let (_, cache) = forward(shaped(&v[0], xd), shaped(&v[1], wd), v[2].clone());
            let (dx, dw, db) = backward(&cache, &shaped(&v[1], wd), dy);
            vec![flat(dx.expect("the input gradient")), flat(dw), db]
        },
    );
}

/// Checks a normalisation `y = f(x, gamma, beta)` with backward `(dx, dgamma, dbeta)`, the
/// affine parameters of size `d`.
fn check_affine<const D: usize, C>(
    what: &str,
    xd: [usize; D],
    d: usize,
    forward: impl Fn(Tensor<D>, Tensor<1>, Tensor<1>) -> (Tensor<D>, C),
    backward: impl Fn(&C, &Tensor<1>, Tensor<D>) -> (Tensor<D>, Tensor<1>, Tensor<1>),
) {
    let dev = dd_prelude::device();
    check_op(
        what,
        &[input(&xd, &dev), input(&[d], &dev), input(&[d], &dev)],
        |v| forward(shaped(&v[0], xd), v[1].clone(), v[2].clone()).0,
        |v, dy| {
            let (_, cache) = forward(shaped(&v[0], xd), v[1].clone(), v[2].clone());
            let (dx, dg, db) = backward(&cache, &v[1], dy);
            vec![flat(dx), dg, db]
        },
    );
}

/// A scalar `dy` `[1]` as a number, for the loss heads.
fn scalar(dy: &Tensor<1>) -> f64 {
    values(dy)[0]
}

#[test]
fn conv2d_any_kernel_and_padding() {
    let dev = f64_device();
    let _serial = seeded(&dev, 101);
    // The CPU kernels: one image at a time with every core on each product (2 images), and
    // images split between the cores (5 images).
    for (n, c_in, kernel, padding) in [
        (2, 2, [3, 3], [1, 1]),
        (2, 2, [3, 5], [1, 0]),
        (2, 2, [2, 5], [0, 2]),
        (5, 8, [3, 3], [1, 1]),
    ] {
        let op = Conv2dRectOp { padding };
        check_weighted(
            &format!("conv {n} x {c_in} channels {kernel:?} pad {padding:?}"),
            ([n, c_in, 6, 5], [3, c_in, kernel[0], kernel[1]], 3),
            |x, w, b| op.forward(x, w, b),
            |c, w, dy| op.backward(c, w, dy, true),
        );
    }
}

/// The gradients of the gradient maps (what the meta-gradient engine back-propagates through)
/// against central finite differences in double precision.
#[test]
fn gradients_of_the_gradient_maps_match_finite_differences() {
    let dev = f64_device();
    let _serial = seeded(&dev, 103);
    let dev = dev.autodiff();
    let (n, c_in, c_out, h, w, kernel, padding) = (5, 3, 4, 5, 4, [3, 3], [1, 1]);
    let x = randn([n, c_in, h, w], &dev);
    let wt = randn([c_out, c_in, kernel[0], kernel[1]], &dev);
    let dy = randn([n, c_out, h, w], &dev);
    let (u, v) = (randn([n, c_in, h, w], &dev), randn(wt.dims(), &dev));
    // L(x, W, dy) = <dx(dy, W), U> + <dW(x, dy), V>
    let loss = |x: Tensor<4>, wt: Tensor<4>, dy: Tensor<4>| {
        (conv2d_unit_stride_dx(dy.clone(), wt, [h, w], padding) * u.clone()).sum()
            + (conv2d_unit_stride_dw(x, dy, kernel, padding) * v.clone()).sum()
    };
    let (xg, wg, dyg) = (
        x.clone().require_grad(),
        wt.clone().require_grad(),
        dy.clone().require_grad(),
    );
    let grads = loss(xg.clone(), wg.clone(), dyg.clone()).backward();
    let value = |x: Tensor<4>, wt: Tensor<4>, dy: Tensor<4>| loss(x, wt, dy).into_scalar::<f64>();
    let eps = 1e-5;
    for (name, which, grad) in [
        ("x", 0, xg.grad(&grads).unwrap()),
        ("W", 1, wg.grad(&grads).unwrap()),
        ("dy", 2, dyg.grad(&grads).unwrap()),
    ] {
        let point = [&x, &wt, &dy][which].clone();
        let dims = point.dims();
        let flat = values(&point.reshape([-1]));
        let g = values(&grad.reshape([-1]));
        for i in (0..flat.len()).step_by(flat.len() / 7 + 1) {
            let shifted = |d: f64| {
                let mut f = flat.clone();
                f[i] += d;
                let t =
                    Tensor::<1>::from_data(TensorData::new(f, [flat.len()]), &dev).reshape(dims);
                let mut args = [x.clone(), wt.clone(), dy.clone()];
                args[which] = t;
                let [a, b, c] = args;
                value(a, b, c)
            };
            let fd = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
            assert!(
                (fd - g[i]).abs() <= 1e-6 * fd.abs().max(1.0),
                "d/d{name}[{i}]: autodiff {} against finite differences {fd}",
                g[i]
            );
        }
    }
}

#[test]
fn conv2d_square_op_is_the_rectangular_op_with_equal_padding() {
    let dev = f64_device();
    let _serial = seeded(&dev, 102);
    let op = Conv2dOp { padding: 1 };
    check_weighted(
        "conv 3x3",
        ([2, 2, 5, 5], [3, 2, 3, 3], 3),
        |x, w, b| op.forward(x, w, b),
        |c, w, dy| op.backward(c, w, dy, true),
    );
    // A text CNN's kernel spans the embedding: [n, 1, L, d] to [n, c, L, 1].
    let x = randn([2, 1, 9, 6], &dev);
    let (y, _) =
        Conv2dRectOp { padding: [1, 0] }.forward(x, randn([4, 1, 3, 6], &dev), randn([4], &dev));
    assert_eq!(y.dims(), [2, 4, 9, 1]);
}

#[test]
fn instance_norm() {
    let dev = f64_device();
    let _serial = seeded(&dev, 103);
    let op = InstanceNormOp { epsilon: 1e-5 };
    check_affine(
        "instance norm",
        [3, 4, 3, 5],
        4,
        |x, g, b| op.forward(x, g, b),
        |c, g, dy| op.backward(c, g, dy),
    );
}

#[test]
fn layer_norm_on_rows_and_maps() {
    let dev = f64_device();
    let _serial = seeded(&dev, 104);
    let op = LayerNormOp { epsilon: 1e-5 };
    check_affine(
        "layer norm rows",
        [5, 6],
        6,
        |x, g, b| op.forward(x, g, b),
        |c, g, dy| op.backward(c, g, dy),
    );
    check_affine(
        "layer norm maps",
        [2, 1, 4, 6],
        6,
        |x, g, b| op.forward(x, g, b),
        |c, g, dy| op.backward(c, g, dy),
    );
    // Same forward as Burn's LayerNorm module (gain 1, bias 0 at init).
    let x = randn([3, 6], &dev);
    let burn_norm = burn::nn::LayerNormConfig::new(6).init(&dev);
    let (ours, _) = op.forward(x.clone(), Tensor::ones([6], &dev), Tensor::zeros([6], &dev));
    assert_close("layer norm vs Burn", &ours, &burn_norm.forward(x), 1e-9);
}

#[test]
fn relu_on_maps_and_rows() {
    let dev = f64_device();
    let _serial = seeded(&dev, 105);
    let maps = [2, 3, 4, 4];
    check_op(
        "relu maps",
        &[input(&maps, &dev)],
        |v| ReluOp.forward(shaped(&v[0], maps)).0,
        |v, dy| {
            let (_, mask) = ReluOp.forward(shaped(&v[0], maps));
            vec![flat(ReluOp.backward(&mask, dy))]
        },
    );
    let rows = [4, 7];
    check_op(
        "relu rows",
        &[input(&rows, &dev)],
        |v| ReluOp.forward(shaped(&v[0], rows)).0,
        |v, dy| {
            let (_, mask) = ReluOp.forward(shaped(&v[0], rows));
            vec![flat(ReluOp.backward(&mask, dy))]
        },
    );
}

#[test]
fn avg_pool_on_even_and_odd_sizes() {
    let dev = f64_device();
    let _serial = seeded(&dev, 106);
    for xd in [[2, 2, 6, 6], [2, 3, 7, 5]] {
        check_op(
            &format!("avg pool {xd:?}"),
            &[input(&xd, &dev)],
            |v| AvgPool2Op.forward(shaped(&v[0], xd)).0,
            |v, dy| {
                let (_, hw) = AvgPool2Op.forward(shaped(&v[0], xd));
                vec![flat(AvgPool2Op.backward(hw, dy))]
            },
        );
    }
}

#[test]
fn max_pool_over_time() {
    let dev = f64_device();
    let _serial = seeded(&dev, 107);
    for xd in [[2, 3, 7, 1], [2, 2, 5, 3]] {
        check_op(
            &format!("max pool over time {xd:?}"),
            &[input(&xd, &dev)],
            |v| MaxPoolTimeOp.forward(shaped(&v[0], xd)).0,
            |v, dy| {
                let (_, mask) = MaxPoolTimeOp.forward(shaped(&v[0], xd));
                vec![flat(MaxPoolTimeOp.backward(&mask, dy))]
            },
        );
    }
    // A tie: one position wins and takes the whole gradient.
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![1.0f64, 3.0, 0.5, 3.0, 2.0], [1, 1, 5, 1]),
        &dev,
    );
    let (y, mask) = MaxPoolTimeOp.forward(x);
    assert_eq!(values(&y), vec![3.0]);
    let dx = values(&MaxPoolTimeOp.backward(&mask, Tensor::ones([1, 1, 1, 1], &dev)));
    assert_eq!(dx.iter().filter(|&&v| v != 0.0).count(), 1, "{dx:?}");
    assert_eq!(dx.iter().sum::<f64>(), 1.0);
    assert!(dx[1] == 1.0 || dx[3] == 1.0, "{dx:?}");
}

#[test]
fn linear() {
    let dev = f64_device();
    let _serial = seeded(&dev, 108);
    check_weighted(
        "linear",
        ([5, 7], [7, 3], 3),
        |x, w, b| LinearOp.forward(x, w, b),
        |c, w, dy| LinearOp.backward(c, w, dy, true),
    );
}

#[test]
fn flatten_layer() {
    let dev = f64_device();
    let _serial = seeded(&dev, 109);
    let none = Params::new(Vec::new(), Vec::new(), Vec::new());
    let xd = [2, 3, 2, 4];
    check_op(
        "flatten",
        &[input(&xd, &dev)],
        |v| {
            let (y, _) =
                FlattenLayer.forward(LayerParams::new(&none, 0, 0), Act::Map(shaped(&v[0], xd)));
            y.into_flat()
        },
        |v, dy| {
            let p = LayerParams::new(&none, 0, 0);
            let (_, cache) = FlattenLayer.forward(p, Act::Map(shaped(&v[0], xd)));
            let (dx, grads) = FlattenLayer.backward(p, &cache, Act::Flat(dy), true);
            assert!(grads.is_empty());
            vec![flat(dx.unwrap().into_map())]
        },
    );
}

/// Softmax cross-entropy for `targets`: gradients with respect to the logits and the targets.
fn check_cross_entropy(what: &str, logits: Tensor<1>, targets: Tensor<1>, dims: [usize; 2]) {
    check_op(
        what,
        &[logits, targets],
        |v| {
            SoftmaxCrossEntropyOp
                .forward(shaped(&v[0], dims), shaped(&v[1], dims))
                .0
        },
        |v, dy| {
            let (z, t) = (shaped(&v[0], dims), shaped(&v[1], dims));
            let (_, probs) = SoftmaxCrossEntropyOp.forward(z.clone(), t.clone());
            let s = scalar(&dy);
            vec![
                flat(SoftmaxCrossEntropyOp.backward(&probs, &t)).mul_scalar(s),
                flat(SoftmaxCrossEntropyOp.targets_backward(z)).mul_scalar(s),
            ]
        },
    );
}

#[test]
fn softmax_cross_entropy_hard_soft_and_unnormalised_targets() {
    let dev = f64_device();
    let _serial = seeded(&dev, 110);
    let dims = [6, 4];
    let logits = || input(&dims, &dev).mul_scalar(2.0);
    let hard = flat(one_hot(&[0, 1, 2, 3, 1, 1], 4, &dev));
    check_cross_entropy("ce hard", logits(), hard, dims);
    let soft = flat(burn::tensor::activation::softmax(randn(dims, &dev), 1));
    check_cross_entropy("ce soft", logits(), soft, dims);
    // A learnt label between normalisations: positive rows that do not sum to one.
    let loose = input(&dims, &dev).abs().add_scalar(0.1);
    check_cross_entropy("ce unnormalised", logits(), loose, dims);
    // Soft targets: the loss is -mean sum p log softmax(z), by hand.
    let z = Tensor::<2>::from_data(TensorData::new(vec![1.0f64, 0.0, 0.0, 2.0], [2, 2]), &dev);
    let p = Tensor::<2>::from_data(TensorData::new(vec![0.25f64, 0.75, 0.5, 0.5], [2, 2]), &dev);
    let (loss, _) = SoftmaxCrossEntropyOp.forward(z, p);
    let ls = |a: f64, b: f64| a - (a.exp() + b.exp()).ln();
    let by_hand =
        -(0.25 * ls(1.0, 0.0) + 0.75 * ls(0.0, 1.0) + 0.5 * ls(0.0, 2.0) + 0.5 * ls(2.0, 0.0))
            / 2.0;
    assert!((values(&loss)[0] - by_hand).abs() < 1e-12);
}

#[test]
fn contrastive_loss_normalised_and_raw() {
    let dev = f64_device();
    let _serial = seeded(&dev, 111);
    let dims = [5, 4];
    for op in [
        ContrastiveOp {
            scale: 3.0,
            normalize: true,
        },
        ContrastiveOp {
            scale: 0.7,
            normalize: false,
        },
    ] {
        check_op(
            &format!("{op:?}"),
            &[input(&dims, &dev), input(&dims, &dev)],
            |v| op.forward(shaped(&v[0], dims), shaped(&v[1], dims)).0,
            |v, dy| {
                let (_, cache) = op.forward(shaped(&v[0], dims), shaped(&v[1], dims));
                let (da, db) = op.backward(&cache);
                let s = scalar(&dy);
                vec![flat(da).mul_scalar(s), flat(db).mul_scalar(s)]
            },
        );
    }
    // The loss is the mean of the two cross-entropies against the diagonal.
    let (a, b) = (randn(dims, &dev), randn(dims, &dev));
    let op = ContrastiveOp {
        scale: 2.0,
        normalize: false,
    };
    let (loss, _) = op.forward(a.clone(), b.clone());
    let z = a.matmul(b.transpose()).mul_scalar(2.0);
    let eye = one_hot(&[0, 1, 2, 3, 4], 5, &dev);
    let rows = SoftmaxCrossEntropyOp.forward(z.clone(), eye.clone()).0;
    let cols = SoftmaxCrossEntropyOp.forward(z.transpose(), eye).0;
    let expected = (values(&rows)[0] + values(&cols)[0]) / 2.0;
    assert!((values(&loss)[0] - expected).abs() < 1e-12);
}

/// Every parameter gradient of `arch` at `params` for `x` and `targets`, by the explicit
/// backward (`loss_and_grads`): against finite differences of the loss and against Burn's
/// autodiff of the functional forward.
fn check_arch(what: &str, arch: &MetaArch, params: &Params, x: &Tensor<4>, targets: &Tensor<2>) {
    let (_, ours) = arch.loss_and_grads(params, x.clone(), targets);
    let loss_at = |p: &Params| {
        let (logits, _) = arch.forward(p, x.clone());
        values(&SoftmaxCrossEntropyOp.forward(logits, targets.clone()).0)[0]
    };
    for i in 0..params.len() {
        fd_check(
            &format!("{what}: param {i}"),
            &params.values()[i],
            &ours.values()[i],
            |pi| {
                let mut moved = params.values().to_vec();
                moved[i] = pi;
                let shapes = (0..params.len())
                    .map(|k| params.shape(k).to_vec())
                    .collect();
                let kinds = (0..params.len()).map(|k| params.kind(k)).collect();
                loss_at(&Params::new(moved, shapes, kinds))
            },
        );
    }
    let tracked = params.require_grad();
    let (logits, _) = arch.forward(&tracked, x.clone());
    let (loss, _) = SoftmaxCrossEntropyOp.forward(logits, targets.clone().autodiff());
    let auto = tracked.grads_from(&loss.backward());
    for i in 0..params.len() {
        assert_close(
            &format!("{what}: param {i} vs autodiff"),
            &ours.values()[i],
            &auto.values()[i],
            PARITY,
        );
    }
}

/// A text CNN: a `3 x d` convolution over an embedded sentence, ReLU, max pooling over time,
/// flatten, layer norm, a hidden linear layer, ReLU, the classifier.
fn text_cnn(words: usize, width: usize) -> MetaArch {
    MetaArch::new(
        [1, words, width],
        vec![
            Arc::new(Conv2dLayer::new(1, 4, [3, width], [1, 0])),
            Arc::new(ReluLayer),
            Arc::new(MaxPoolTimeLayer),
            Arc::new(FlattenLayer),
            Arc::new(LayerNormLayer { dim: 4 }),
            Arc::new(LinearLayer::new(4, 5)),
            Arc::new(ReluLayer),
            Arc::new(LinearLayer::new(5, 3)),
        ],
    )
    .expect("the text CNN's layers fit")
}

#[test]
fn text_cnn_gradients_with_soft_targets() {
    let dev = f64_device();
    let _serial = seeded(&dev, 112);
    let arch = text_cnn(7, 6);
    assert_eq!((arch.classes(), arch.feature_dim()), (3, 5));
    assert_eq!(arch.layers().len(), 8);
    let params = arch.init(&dev);
    // Layer norm starts at gain 1, bias 0.
    assert_eq!(values(&params.values()[2]), vec![1.0; 4]);
    assert_eq!(params.kind(0), ParamKind::ConvWeight);
    assert_eq!(params.shape(0), &[4, 1, 3, 6]);
    // Move the norm off its start so its gain and bias gradients are generic.
    let params = params.map(|t| {
        let n = t.dims()[0];
        t.add(randn([n], &dev).mul_scalar(0.3))
    });
    let x = randn([4, 1, 7, 6], &dev);
    let soft = burn::tensor::activation::softmax(randn([4, 3], &dev), 1);
    check_arch("text CNN", &arch, &params, &x, &soft);
    // Its features are the classifier's input.
    assert_eq!(arch.features(&params, x.clone()).dims(), [4, 5]);
    // Shapes that do not fit are refused.
    assert!(
        MetaArch::new(
            [1, 7, 6],
            vec![Arc::new(MaxPoolTimeLayer), Arc::new(LinearLayer::new(6, 2))]
        )
        .is_err()
    );
}

#[test]
fn soft_label_meta_gradient_through_the_explicit_gradient() {
    let dev = f64_device();
    let _serial = seeded(&dev, 113);
    let arch = text_cnn(6, 5);
    let params = arch.init(&dev).autodiff();
    let x = randn([4, 1, 6, 5], &dev).autodiff();
    let target_dims = [4, 3];
    // A gradient-matching-like loss of learnable soft labels: |g(labels)|^2.
    let f = |t: Tensor<1>| {
        let t = shaped(&t, target_dims).autodiff();
        arch.loss_and_grads(&params, x.clone(), &t).1.squared_norm()
    };
    let labels = flat(burn::tensor::activation::softmax(
        randn(target_dims, &dev),
        1,
    ));
    let leaf = labels.clone().autodiff().require_grad();
    let grad = leaf
        .grad(&f(leaf.clone()).backward())
        .expect("the labels are in the graph");
    fd_check("soft labels", &labels, &grad, |t| values(&f(t))[0]);
}

/// A layer written outside the crate: `y = s * tanh(x)` per feature with a learnable `s`.
#[derive(Debug)]
struct ScaledTanh {
    dim: usize,
}

impl MetaLayer for ScaledTanh {
    fn params(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::new(&[self.dim], ParamKind::Vector)]
    }

    fn init(&self, device: &Device) -> Vec<Tensor<1>> {
        vec![randn([self.dim], device).add_scalar(1.0)]
    }

    fn output_shape(&self, input: &[usize]) -> dd_prelude::Result<Vec<usize>> {
        if input != [self.dim] {
            return Err(dd_prelude::Error::ShapeMismatch {
                context: "ScaledTanh".into(),
                expected: format!("[{}]", self.dim),
                got: format!("{input:?}"),
            });
        }
        Ok(input.to_vec())
    }

    fn forward(&self, params: LayerParams<'_>, x: Act) -> (Act, Cache) {
        let t = x.into_flat().tanh();
        let s: Tensor<1> = params.get(0);
        let y = t.clone().mul(s.reshape([1, self.dim]));
        (Act::Flat(y), Arc::new(t))
    }

    fn backward(
        &self,
        params: LayerParams<'_>,
        cache: &Cache,
        dy: Act,
        _: bool,
    ) -> (Option<Act>, Vec<Tensor<1>>) {
        let t: &Tensor<2> = cached(cache);
        let dy = dy.into_flat();
        let s: Tensor<1> = params.get(0);
        let ds = dy.clone().mul(t.clone()).sum_dim(0).reshape([self.dim]);
        let slope = t.clone().square().neg().add_scalar(1.0);
        let dx = dy.mul(s.reshape([1, self.dim])).mul(slope);
        (Some(Act::Flat(dx)), vec![ds])
    }
}

#[test]
fn a_layer_from_outside_the_crate_in_a_meta_arch() {
    let dev = f64_device();
    let _serial = seeded(&dev, 114);
    let arch = MetaArch::new(
        [1, 3, 3],
        vec![
            Arc::new(FlattenLayer),
            Arc::new(LinearLayer::new(9, 6)),
            Arc::new(ScaledTanh { dim: 6 }),
            Arc::new(LinearLayer::new(6, 3)),
        ],
    )
    .expect("the layers fit");
    let params = arch.init(&dev);
    assert_eq!(params.len(), 5);
    assert_eq!(params.shape(2), &[6]);
    let x = randn([5, 1, 3, 3], &dev);
    let targets = one_hot(&[0, 1, 2, 1, 0], 3, &dev);
    check_arch("custom layer", &arch, &params, &x, &targets);
    // A custom layer that does not fit is refused with its own error.
    assert!(
        MetaArch::new(
            [1, 3, 3],
            vec![Arc::new(FlattenLayer), Arc::new(ScaledTanh { dim: 4 })]
        )
        .is_err()
    );
}

/// An arch of built-in layers draws its parameters as the Burn layers it stands for, in
/// order (Burn draws a parameter when it is first read: weight, then bias).
#[test]
fn init_draws_as_the_burn_layers() {
    let dev = f64_device();
    let _serial = seeded(&dev, 115);
    let arch = MetaArch::mlp([1, 2, 3], &[4], 2);
    let ours = arch.init(&dev);
    dev.seed(115 + distill_common::SEED_OFFSET.load(std::sync::atomic::Ordering::SeqCst));
    let mut burn = Vec::new();
    for (d_in, d_out) in [(6, 4), (4, 2)] {
        let lin = burn::nn::LinearConfig::new(d_in, d_out).init(&dev);
        burn.push(flat(lin.weight.val()));
        burn.push(lin.bias.expect("Burn's Linear has a bias").val());
    }
    assert_eq!(ours.len(), burn.len());
    for (i, (a, b)) in ours.values().iter().zip(&burn).enumerate() {
        assert_eq!(values(a), values(b), "tensor {i}");
    }
}
