//! The meta-gradient engine: every op's explicit backward against Burn's own first-order
//! autodiff, and whole networks against Burn's `ConvNet` and `Mlp`. (The meta-gradients,
//! unrolled SGD included, are checked against finite differences in `distill_gradients*.rs`.)

mod distill_common;

use burn::tensor::Tensor;
use dd_prelude::distill::engine::MetaArch;
use dd_prelude::distill::engine::ops::{
    AvgPool2Op, Conv2dOp, InstanceNormOp, LinearOp, ReluOp, SoftmaxCrossEntropyOp, one_hot,
};
use dd_prelude::*;
use distill_common::{assert_close, randn, seeded};

/// `sum(y * dy)` for a constant random `dy`: its autodiff gradient is the vector-Jacobian
/// product the explicit backward must reproduce.
fn probe<const D: usize>(y: Tensor<D>, dy: &Tensor<D>) -> Tensor<1> {
    y.mul(dy.clone().autodiff()).sum()
}

#[test]
fn conv2d_backward_equals_autodiff() {
    let dev = device();
    let _serial = seeded(&dev, 11);
    for padding in [1, 0] {
        let x = randn([2, 3, 6, 5], &dev).autodiff().require_grad();
        let w = randn([4, 3, 3, 3], &dev).autodiff().require_grad();
        let b = randn([4], &dev).autodiff().require_grad();
        let op = Conv2dOp { padding };
        let (y, cache) = op.forward(x.clone(), w.clone(), b.clone());
        let dy = randn(y.dims(), &dev);
        let g = probe(y, &dy).backward();
        let (dx, dw, db) = op.backward(&cache, &w, dy.autodiff(), true);
        assert_close("conv dx", &dx.unwrap().inner(), &x.grad(&g).unwrap(), 1e-5);
        assert_close("conv dw", &dw.inner(), &w.grad(&g).unwrap(), 1e-5);
        assert_close("conv db", &db.inner(), &b.grad(&g).unwrap(), 1e-5);
    }
}

#[test]
fn instance_norm_backward_equals_autodiff() {
    let dev = device();
    let _serial = seeded(&dev, 12);
    let x = randn([3, 4, 5, 5], &dev)
        .mul_scalar(2.0)
        .add_scalar(0.5)
        .autodiff()
        .require_grad();
    let gamma = randn([4], &dev).autodiff().require_grad();
    let beta = randn([4], &dev).autodiff().require_grad();
    let op = InstanceNormOp { epsilon: 1e-5 };
    let (y, cache) = op.forward(x.clone(), gamma.clone(), beta.clone());
    // Same forward as Burn's InstanceNorm module.
    let burn_norm = burn::nn::InstanceNormConfig::new(4).init(&dev);
    let reference = burn_norm
        .forward(x.clone().inner())
        .mul(gamma.clone().inner().reshape([1, 4, 1, 1]))
        .add(beta.clone().inner().reshape([1, 4, 1, 1]));
    assert_close("norm forward", &y.clone().inner(), &reference, 1e-5);
    let dy = randn(y.dims(), &dev);
    let g = probe(y, &dy).backward();
    let (dx, dg, db) = op.backward(&cache, &gamma, dy.autodiff());
    assert_close("norm dx", &dx.inner(), &x.grad(&g).unwrap(), 1e-4);
    assert_close("norm dgamma", &dg.inner(), &gamma.grad(&g).unwrap(), 1e-5);
    assert_close("norm dbeta", &db.inner(), &beta.grad(&g).unwrap(), 1e-5);
}

#[test]
fn relu_backward_equals_autodiff() {
    let dev = device();
    let _serial = seeded(&dev, 13);
    let x = randn([2, 3, 4, 4], &dev).autodiff().require_grad();
    let (y, mask) = ReluOp.forward(x.clone());
    let dy = randn(y.dims(), &dev);
    let g = probe(y, &dy).backward();
    let dx = ReluOp.backward(&mask, dy.autodiff());
    assert_close("relu dx", &dx.inner(), &x.grad(&g).unwrap(), 1e-6);
}

#[test]
fn avg_pool_backward_equals_autodiff_for_even_and_odd_sizes() {
    let dev = device();
    let _serial = seeded(&dev, 14);
    for size in [[6, 6], [7, 5]] {
        let x = randn([2, 3, size[0], size[1]], &dev)
            .autodiff()
            .require_grad();
        let (y, hw) = AvgPool2Op.forward(x.clone());
        assert_eq!(y.dims(), [2, 3, size[0] / 2, size[1] / 2]);
        let dy = randn(y.dims(), &dev);
        let g = probe(y, &dy).backward();
        let dx = AvgPool2Op.backward(hw, dy.autodiff());
        assert_close("pool dx", &dx.inner(), &x.grad(&g).unwrap(), 1e-6);
    }
}

#[test]
fn linear_backward_equals_autodiff() {
    let dev = device();
    let _serial = seeded(&dev, 15);
    let x = randn([5, 7], &dev).autodiff().require_grad();
    let w = randn([7, 3], &dev).autodiff().require_grad();
    let b = randn([3], &dev).autodiff().require_grad();
    let (y, cache) = LinearOp.forward(x.clone(), w.clone(), b.clone());
    let dy = randn(y.dims(), &dev);
    let g = probe(y, &dy).backward();
    let (dx, dw, db) = LinearOp.backward(&cache, &w, dy.autodiff(), true);
    assert_close(
        "linear dx",
        &dx.unwrap().inner(),
        &x.grad(&g).unwrap(),
        1e-5,
    );
    assert_close("linear dw", &dw.inner(), &w.grad(&g).unwrap(), 1e-5);
    assert_close("linear db", &db.inner(), &b.grad(&g).unwrap(), 1e-5);
}

#[test]
fn softmax_cross_entropy_backward_equals_autodiff() {
    let dev = device();
    let _serial = seeded(&dev, 16);
    let z = randn([6, 4], &dev)
        .mul_scalar(3.0)
        .autodiff()
        .require_grad();
    let t = one_hot(&[0, 1, 2, 3, 1, 1], 4, &dev);
    let (loss, probs) = SoftmaxCrossEntropyOp.forward(z.clone(), t.clone().autodiff());
    let labels = burn::tensor::Tensor::<1, burn::tensor::Int>::from_ints([0, 1, 2, 3, 1, 1], &dev);
    let burn_loss: f32 = cross_entropy(z.clone().inner(), labels).into_scalar();
    let ours: f32 = loss.clone().inner().into_scalar();
    assert!(
        (ours - burn_loss).abs() < 1e-5,
        "loss {ours} vs crate cross_entropy {burn_loss}"
    );
    let g = loss.backward();
    let dz = SoftmaxCrossEntropyOp.backward(&probs.inner(), &t);
    assert_close("ce dlogits", &dz, &z.grad(&g).unwrap(), 1e-6);
}

/// Collects the gradient of every float parameter of a Burn module, flattened, in order.
struct ModuleGrads {
    grads: burn::tensor::Gradients,
    out: Vec<Tensor<1>>,
}

impl burn::module::ModuleVisitor for ModuleGrads {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let g = param
            .val()
            .grad(&self.grads)
            .expect("a trained parameter has a gradient");
        let n = g.dims().iter().product::<usize>();
        self.out.push(g.reshape([n]));
    }
}

/// The whole explicit backward of a network equals Burn's autodiff of the Burn module it
/// mirrors: same init, same forward, same parameter gradients.
#[test]
fn network_backward_equals_autodiff_of_the_burn_convnet_and_mlp() {
    let dev = device();
    let _serial = seeded(&dev, 17);
    let configs = [
        ConvNetConfig::new(3, 2, [8, 8]).with_width(5).with_depth(2),
        ConvNetConfig::new(3, 1, [7, 7])
            .with_width(4)
            .with_depth(1)
            .with_norm(NormKind::None),
        ConvNetConfig::new(3, 1, [8, 8])
            .with_width(4)
            .with_depth(2)
            .with_pool(PoolKind::None),
    ];
    for cfg in configs {
        let net = cfg.init(&dev);
        let arch = MetaArch::convnet(&cfg).unwrap();
        let params = arch.params_from(&net).unwrap();
        let [c, h, w] = arch.input_shape();
        let x = randn([4, c, h, w], &dev);
        let labels = [0usize, 2, 1, 2];
        let t = one_hot(&labels, 3, &dev);
        // Forward equals the Burn module's.
        let (logits, _) = arch.forward(&params, x.clone());
        assert_close("logits", &logits, &net.forward(x.clone()), 1e-5);
        // Explicit gradients equal Burn's autodiff of the functional forward.
        let tracked = params.require_grad();
        let (logits, _) = arch.forward(&tracked, x.clone());
        let (loss, _) = SoftmaxCrossEntropyOp.forward(logits, t.clone().autodiff());
        let auto = tracked.grads_from(&loss.backward());
        let (_, ours) = arch.loss_and_grads(&params, x.clone(), &t);
        for i in 0..params.len() {
            assert_close(
                &format!("param {i} of {:?}", arch.layers()),
                &ours.values()[i],
                &auto.values()[i],
                1e-4,
            );
        }
        // Round trip to a Burn ConvNet keeps the parameters.
        let back = arch.to_convnet(&params, &dev).unwrap();
        assert_close(
            "round trip",
            &back.forward(x.clone()),
            &net.forward(x),
            1e-6,
        );
    }
    // The crate's Mlp: same forward, and the explicit gradients equal Burn's autodiff of the
    // module itself.
    let mcfg = MlpConfig::new(3, 1, [4, 4]).with_hidden(6);
    let arch = MetaArch::mlp_for(&mcfg);
    let net = mcfg.init(&dev);
    let params = arch.params_from(&net).unwrap();
    let x = randn([4, 1, 4, 4], &dev);
    let (logits, _) = arch.forward(&params, x.clone());
    assert_close("mlp logits", &logits, &net.forward(x.clone()), 1e-5);
    let labels = burn::tensor::Tensor::<1, burn::tensor::Int>::from_ints([0, 1, 2, 0], &dev);
    let tracked = burn::module::Module::train(net.clone());
    let loss = cross_entropy(tracked.forward(x.clone().autodiff()), labels);
    let mut visitor = ModuleGrads {
        grads: loss.backward(),
        out: Vec::new(),
    };
    burn::module::Module::visit(&tracked, &mut visitor);
    let (_, ours) = arch.loss_and_grads(&params, x.clone(), &one_hot(&[0, 1, 2, 0], 3, &dev));
    assert_eq!(visitor.out.len(), params.len());
    for (i, auto) in visitor.out.iter().enumerate() {
        assert_close(
            &format!("Mlp module param {i}"),
            &ours.values()[i],
            auto,
            1e-5,
        );
    }
    assert_close(
        "mlp round trip",
        &arch.to_mlp(&params, &dev).unwrap().forward(x.clone()),
        &net.forward(x),
        1e-6,
    );
    let arch = MetaArch::mlp([1, 4, 4], &[6, 5], 3);
    let params = arch.init(&dev);
    let x = randn([4, 1, 4, 4], &dev);
    let t = one_hot(&[0, 1, 2, 0], 3, &dev);
    let tracked = params.require_grad();
    let (logits, _) = arch.forward(&tracked, x.clone());
    let (loss, _) = SoftmaxCrossEntropyOp.forward(logits, t.clone().autodiff());
    let auto = tracked.grads_from(&loss.backward());
    let (_, ours) = arch.loss_and_grads(&params, x, &t);
    for i in 0..params.len() {
        assert_close(
            &format!("mlp param {i}"),
            &ours.values()[i],
            &auto.values()[i],
            1e-5,
        );
    }
}

/// A plain pass runs instance norm and ReLU as one fused pass ([`MetaLayer::forward_relu`]),
/// and `loss_and_grads` the whole block with the pooling ([`MetaLayer::forward_relu_pool`]):
/// the ReLU taps and gradients equal the tracked pass's, which runs the layers apart, and a
/// tracked upstream gradient on either plain tape (the fused cache's tensor-op fallback)
/// gives the same gradients again.
#[test]
fn fused_norm_relu_equals_the_two_layers() {
    let dev = device();
    let _serial = seeded(&dev, 23);
    let cfg = ConvNetConfig::new(3, 2, [8, 8]).with_width(6).with_depth(2);
    let arch = MetaArch::convnet(&cfg).unwrap();
    let params = arch.init(&dev);
    let [c, h, w] = arch.input_shape();
    let x = randn([5, c, h, w], &dev);
    let t = one_hot(&[0, 1, 2, 0, 1], arch.classes(), &dev);
    let (_, plain) = arch.forward_taps(&params, x.clone());
    let (_, tracked) = arch.forward_taps(&params.require_grad(), x.clone());
    assert_eq!(plain.relu_outputs.len(), 2);
    for (a, b) in plain.relu_outputs.iter().zip(&tracked.relu_outputs) {
        assert_close("relu tap", a, b, 1e-5);
    }
    let (_, fused) = arch.loss_and_grads(&params, x.clone(), &t);
    let (logits, tape) = arch.forward(&params, x.clone());
    let (_, probs) = SoftmaxCrossEntropyOp.forward(logits, t.clone());
    let dlogits = SoftmaxCrossEntropyOp.backward(&probs, &t);
    let (fallback, _) = arch.backward(
        &params,
        &tape,
        dlogits.clone().autodiff().require_grad(),
        false,
    );
    let (_, block_tape) = arch.forward_for_backward(&params, x.clone());
    assert!(block_tape.relu_outputs.is_empty(), "both blocks ran fused");
    let (block_fallback, _) = arch.backward(
        &params,
        &block_tape,
        dlogits.autodiff().require_grad(),
        false,
    );
    let tracked = params.require_grad();
    let (logits, _) = arch.forward(&tracked, x);
    let (loss, _) = SoftmaxCrossEntropyOp.forward(logits, t.autodiff());
    let auto = tracked.grads_from(&loss.backward());
    for i in 0..params.len() {
        assert_close(
            &format!("param {i}"),
            &fused.values()[i],
            &auto.values()[i],
            1e-4,
        );
        assert_close(
            &format!("param {i}, tracked upstream gradient"),
            &fallback.values()[i],
            &auto.values()[i],
            1e-4,
        );
        assert_close(
            &format!("param {i}, tracked upstream gradient on the fused blocks"),
            &block_fallback.values()[i],
            &auto.values()[i],
            1e-4,
        );
    }
}
