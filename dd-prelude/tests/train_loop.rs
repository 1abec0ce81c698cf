//! The training loop on a small real subset of Fashion-MNIST (installed by scripts/setup.sh).

use dd_prelude::*;

#[test]
fn loss_goes_down_and_beats_chance_on_real_fashion_mnist() {
    let fm = FashionMnist::load_default().expect("run scripts/setup.sh to install Fashion-MNIST");
    assert_eq!(fm.train.len(), 60_000);
    assert_eq!(fm.test.len(), 10_000);
    let dev = device();
    dev.seed(1);
    let train = fm.train.subset(&fm.train.stratified(640, 0));
    let test = fm.test.subset(&fm.test.stratified(500, 0));
    let net = ConvNetConfig::for_set(&train).with_width(16).init(&dev);
    let cfg = FitConfig::new()
        .with_epochs(4)
        .with_batch_size(32)
        .with_schedule(Schedule::Constant)
        .with_progress(false);
    let mut hook = TestEachEpoch::new(&test);
    let trained = fit_with(net, &train, &cfg, &mut hook, &dev).unwrap();
    let h = trained.history.records();
    assert_eq!(h.len(), 4);
    assert_eq!(trained.history.steps().len(), 4 * 20);
    assert_eq!(trained.history.steps().last().unwrap().0, 4.0);
    assert!(
        h[3].loss < 0.8 * h[0].loss,
        "loss {} -> {}",
        h[0].loss,
        h[3].loss
    );
    let acc = h[3].test_accuracy.unwrap();
    assert!(
        acc > 0.6,
        "test accuracy {acc} after 4 epochs on 640 images"
    );
    assert_eq!(accuracy(&trained.model, &test, &dev), acc);
    let df = trained.history.frame().unwrap();
    assert_eq!(df.height(), 4);
}

#[test]
fn augmentation_and_adam_train_too() {
    let fm = FashionMnist::load_default().unwrap();
    let dev = device();
    dev.seed(2);
    let train = fm.train.subset(&fm.train.stratified(256, 3));
    let net = ConvNetConfig::for_set(&train)
        .with_width(8)
        .with_depth(2)
        .init(&dev);
    let cfg = FitConfig::new()
        .with_epochs(3)
        .with_batch_size(32)
        .with_lr(0.003)
        .with_optimizer(OptimizerKind::Adam)
        .with_augment(Augment::CropFlip { pad: 2 })
        .with_progress(false);
    let trained = fit(net, &train, &cfg, &dev).unwrap();
    let h = trained.history.records();
    assert!(h[2].loss < h[0].loss, "loss {} -> {}", h[0].loss, h[2].loss);
}

#[test]
fn invalid_configs_are_refused_before_training() {
    let set =
        ImageSet::from_pixels("t", [1, 2, 2], vec![0.0; 4], vec![0], vec!["a".into()]).unwrap();
    let dev = device();
    let net = ConvNetConfig::for_set(&set)
        .with_width(2)
        .with_depth(1)
        .init(&dev);
    let err = fit(net, &set, &FitConfig::new().with_epochs(0), &dev).unwrap_err();
    assert!(
        err.to_string().contains("`epochs` must be at least 1"),
        "{err}"
    );
    for (cfg, field) in [
        (FitConfig::new().with_batch_size(0), "batch_size"),
        (FitConfig::new().with_lr(0.0), "lr"),
        (FitConfig::new().with_momentum(1.0), "momentum"),
        (FitConfig::new().with_weight_decay(-1.0), "weight_decay"),
    ] {
        let msg = cfg.check().unwrap_err().to_string();
        assert!(msg.contains(field), "{msg}");
    }
}

#[test]
fn scale_reads_dd_scale_values() {
    assert_eq!("smoke".parse::<Scale>().unwrap(), Scale::Smoke);
    assert_eq!(" CPU ".parse::<Scale>().unwrap(), Scale::Cpu);
    assert_eq!("full".parse::<Scale>().unwrap(), Scale::Full);
    assert!("fast".parse::<Scale>().is_err());
    assert_eq!(TourPlan::for_scale(Scale::Cpu).train_images, 10_000);
}

#[test]
fn dsa_augmentation_keeps_labels_and_shape_and_is_seeded() {
    use rand::SeedableRng;
    let px: Vec<f32> = (0..4 * 64).map(|i| ((i * 37) % 17) as f32 / 17.0).collect();
    let set = ImageSet::from_pixels(
        "t",
        [1, 8, 8],
        px,
        vec![0, 1, 2, 1],
        vec!["a".into(), "b".into(), "c".into()],
    )
    .unwrap();
    let dev = device();
    let idx = [3, 0, 2];
    let plain = set
        .augmented(
            &idx,
            &Augment::None,
            &mut rand::rngs::StdRng::seed_from_u64(0),
            &dev,
        )
        .unwrap();
    let plain = plain.into_data().try_to_vec::<f32>().unwrap();
    let draw = |seed| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let x = set.augmented(&idx, &Augment::Dsa, &mut rng, &dev).unwrap();
        assert_eq!(x.dims(), [3, 1, 8, 8]);
        x.into_data().try_to_vec::<f32>().unwrap()
    };
    assert_eq!(draw(5), draw(5), "same seed, same augmentation");
    let changed = (0..10).filter(|&s| draw(s) != plain).count();
    assert!(
        changed >= 8,
        "only {changed} of 10 draws changed the images"
    );
    assert!((0..10).all(|s| draw(s).iter().all(|v| v.is_finite())));
}

#[test]
fn fit_through_the_prelude_compiled_loop_equals_the_generic_loop() {
    // `fit` on a ConvNet and an ImageSet runs the loop compiled in the prelude (so a notebook
    // cell compiles none of it); it must train exactly as the generic loop does.
    const { assert!(ConvNet::PRECOMPILED_FIT && <ImageSet as Examples>::PRECOMPILED_FIT) };
    let fm = FashionMnist::load_default().unwrap();
    let dev = device();
    dev.seed(3);
    let train = fm.train.subset(&fm.train.stratified(128, 5));
    let net = ConvNetConfig::for_set(&train)
        .with_width(8)
        .with_depth(2)
        .init(&dev);
    dd_prelude::models::init_params_now(&net);
    let cfg = FitConfig::new()
        .with_epochs(2)
        .with_batch_size(32)
        .with_progress(false);
    let a = fit(net.clone(), &train, &cfg, &dev).unwrap();
    let b = fit_with(net, &train, &cfg, &mut NoHook, &dev).unwrap();
    assert_eq!(a.history.steps().len(), 8);
    assert_eq!(a.history.steps(), b.history.steps());
    assert_eq!(
        logits(&a.model, &train, &dev),
        logits(&b.model, &train, &dev)
    );
}
