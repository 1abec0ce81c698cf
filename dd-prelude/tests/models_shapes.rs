//! Every architecture builds for one-channel 28x28 and three-channel 32x32 images, returns
//! logits and penultimate features of the right shapes, and trains through the one loop.

use burn::tensor::Tensor;
use dd_prelude::*;

fn blank(c: usize, side: usize, classes: usize) -> ImageSet {
    let n = 2;
    ImageSet::from_pixels(
        "blank",
        [c, side, side],
        (0..n * c * side * side)
            .map(|i| (i % 7) as f32 / 7.0)
            .collect(),
        (0..n).map(|i| i % classes).collect(),
        (0..classes).map(|k| k.to_string()).collect(),
    )
    .unwrap()
}

#[test]
fn every_architecture_has_the_reference_feature_sizes() {
    let dev = device();
    // (name, features for 1x28x28, features for 3x32x32) as DatasetCondensation's networks.py
    let cases = [
        ("MLP", 128, 128),
        ("LeNet", 84, 84),
        ("AlexNet", 192 * 4 * 4, 192 * 4 * 4),
        ("VGG11W8", 64, 64),
        ("VGG11BNW8", 64, 64),
        ("ResNet18W8", 64, 64),
        ("ResNet18INW8", 64, 64),
        ("ConvNetW16", 16 * 3 * 3, 16 * 4 * 4),
    ];
    for (name, f28, f32_) in cases {
        let arch: Arch = name.parse().unwrap();
        for (set, expect) in [(blank(1, 28, 10), f28), (blank(3, 32, 10), f32_)] {
            arch.check_for(&set).unwrap();
            let net = arch.init(&set, &dev);
            let (x, _) = set.batch(&[0, 1], &dev);
            assert_eq!(net.forward(x.clone()).dims(), [2, 10], "{name}");
            assert_eq!(
                net.features(x).dims(),
                [2, expect],
                "{name} on {:?}",
                set.image_shape()
            );
        }
    }
}

#[test]
fn other_sizes_work_or_are_refused_with_a_reason() {
    let dev = device();
    // 64x64 colour: ResNet pools globally, VGG keeps a 2x2 map
    let big = blank(3, 64, 5);
    let vgg = Arch::Vgg11 {
        width: 8,
        norm: NormKind::Instance,
    }
    .init(&big, &dev);
    let (x, _) = big.batch(&[0, 1], &dev);
    assert_eq!(vgg.features(x.clone()).dims(), [2, 64 * 2 * 2]);
    let resnet = Arch::ResNet18 {
        width: 8,
        norm: NormKind::Batch,
    }
    .init(&big, &dev);
    assert_eq!(resnet.forward(x).dims(), [2, 5]);
    // 8x8 is too small for VGG-11's five poolings and for LeNet
    let small = blank(1, 8, 2);
    let err = Arch::vgg11().check_for(&small).unwrap_err().to_string();
    assert!(err.contains("too small"), "{err}");
    assert!(Arch::LeNet.check_for(&small).is_err());
    assert!(Arch::Mlp.check_for(&small).is_ok());
}

#[test]
fn names_parse_and_print_back() {
    for name in [
        "ConvNet",
        "ConvNetW64",
        "ConvNetD2",
        "ConvNetBN",
        "ConvNetMP",
        "ConvNetW32D4GNNP",
        "MLP",
        "LeNet",
        "AlexNet",
        "VGG11",
        "VGG11BN",
        "ResNet18",
        "ResNet18IN",
        "ResNet18W16",
    ] {
        let arch: Arch = name.parse().unwrap();
        assert_eq!(arch.to_string(), name);
        assert_eq!(arch.to_string().parse::<Arch>().unwrap(), arch);
    }
    assert_eq!("resnet-18".parse::<Arch>().unwrap(), Arch::resnet18());
    for bad in ["ResNet50", "ConvNetXX", "VGG11D2", "", "ConvNetW"] {
        let err = bad.parse::<Arch>().unwrap_err().to_string();
        assert!(
            err.contains("valid names") && err.contains("AlexNet"),
            "{bad}: {err}"
        );
    }
    assert_eq!(Arch::dc_pool().len(), 6);
}

#[test]
fn batch_norm_networks_train_and_switch_to_running_statistics() {
    let dev = device();
    dev.seed(3);
    let fm = FashionMnist::load_default().expect("run scripts/setup.sh to install Fashion-MNIST");
    let train = fm.train.subset(&fm.train.stratified(256, 1));
    let net = Arch::ResNet18 {
        width: 4,
        norm: NormKind::Batch,
    }
    .init(&train, &dev);
    let cfg = FitConfig::new()
        .with_epochs(2)
        .with_batch_size(64)
        .with_lr(0.05)
        .with_progress(false);
    let trained = fit(net, &train, &cfg, &dev).unwrap();
    let h = trained.history.records();
    assert!(h[1].loss < h[0].loss, "loss {} -> {}", h[0].loss, h[1].loss);
    // validation mode: one image's logits do not depend on the rest of the batch
    let (x, _) = train.batch(&[0, 1, 2, 3], &dev);
    let all: Vec<f32> = trained
        .model
        .forward(x.clone())
        .into_data()
        .try_into_vec()
        .unwrap();
    let first: Tensor<4> = x.slice_dim(0, 0..1);
    let one: Vec<f32> = trained
        .model
        .forward(first)
        .into_data()
        .try_into_vec()
        .unwrap();
    for (a, b) in all[..10].iter().zip(&one) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn lenet_and_mlp_learn_real_fashion_mnist() {
    let dev = device();
    let fm = FashionMnist::load_default().unwrap();
    let train = fm.train.subset(&fm.train.stratified(1000, 2));
    let test = fm.test.subset(&fm.test.stratified(500, 2));
    for arch in [Arch::LeNet, Arch::Mlp] {
        dev.seed(0);
        let net = arch.init(&train, &dev);
        let cfg = FitConfig::new()
            .with_epochs(3)
            .with_batch_size(32)
            .with_lr(0.05)
            .with_progress(false);
        let trained = fit(net, &train, &cfg, &dev).unwrap();
        let acc = accuracy(&trained.model, &test, &dev);
        assert!(acc > 0.55, "{arch}: {acc}");
    }
}
