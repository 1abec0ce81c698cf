//! The evaluation protocol: mean and std over fresh networks, presets, determinism.

use dd_prelude::*;
use std::sync::Mutex;

/// The device's generator is process-wide: tests that seed it and draw networks take turns.
static SEEDING: Mutex<()> = Mutex::new(());

/// Two classes that any network separates: all-dark and all-light images (with a little
/// per-image variation so normalisation is well defined).
fn dark_and_light(n_per_class: usize) -> ImageSet {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for class in 0..2 {
        for i in 0..n_per_class {
            let base = if class == 0 { 0.1 } else { 0.9 };
            pixels.extend((0..256).map(|j| base + 0.02 * (((i + j) % 5) as f32 - 2.0)));
            labels.push(class);
        }
    }
    ImageSet::from_pixels(
        "dark/light",
        [1, 16, 16],
        pixels,
        labels,
        vec!["dark".into(), "light".into()],
    )
    .unwrap()
}

#[test]
fn mean_and_std_of_a_controlled_case() {
    let r = EvalReport::from_accuracies("x", "ConvNet", "custom", 4, vec![0.2, 0.4, 0.6, 0.8], 0.0);
    assert!((r.mean - 0.5).abs() < 1e-12);
    // population std: sqrt(((0.3^2 + 0.1^2) * 2) / 4) = sqrt(0.05)
    assert!((r.std - 0.05f64.sqrt()).abs() < 1e-12);
    let one = EvalReport::from_accuracies("x", "ConvNet", "custom", 4, vec![0.7], 0.0);
    assert_eq!((one.mean, one.std), (0.7, 0.0));
}

#[test]
fn separable_set_scores_every_network_perfectly() {
    let dev = device();
    let data = dark_and_light(8);
    let preset = EvalPreset::smoke()
        .with_models(3)
        .with_epochs(15)
        .with_batch_size(16)
        .with_progress(false);
    let cfg = MlpConfig::for_set(&data).with_hidden(16);
    let report = evaluate_model(|d| cfg.init(d), &data, &data, &preset, &dev).unwrap();
    assert_eq!(report.accuracies.len(), 3);
    assert_eq!(report.accuracies, vec![1.0, 1.0, 1.0], "{report}");
    assert_eq!((report.mean, report.std), (1.0, 0.0));
    assert_eq!(report.train_size, 16);
    assert_eq!(report.arch, "Mlp");
}

#[test]
fn mean_and_std_match_the_per_network_accuracies_on_real_data() {
    let _turn = SEEDING.lock().unwrap_or_else(|e| e.into_inner());
    let fm = FashionMnist::load_default().expect("run scripts/setup.sh to install Fashion-MNIST");
    let dev = device();
    let train = fm.train.subset(&fm.train.sample_per_class(5, 0));
    let test = fm.test.subset(&fm.test.stratified(300, 0));
    let preset = EvalPreset::smoke()
        .with_models(3)
        .with_epochs(10)
        .with_batch_size(10)
        .with_progress(false);
    let cfg = ConvNetConfig::for_set(&train).with_width(8);
    let report = evaluate_model(|d| cfg.init(d), &train, &test, &preset, &dev).unwrap();
    let n = report.accuracies.len() as f64;
    let mean = report.accuracies.iter().sum::<f64>() / n;
    let std = (report
        .accuracies
        .iter()
        .map(|a| (a - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    assert!((report.mean - mean).abs() < 1e-12 && (report.std - std).abs() < 1e-12);
    assert!(report.mean > 0.3, "50 real images beat chance: {report}");
    // different seeds give different networks
    assert!(report.std > 0.0, "{report}");
    // the same preset gives the same accuracies
    let again = evaluate_model(|d| cfg.init(d), &train, &test, &preset, &dev).unwrap();
    assert_eq!(report.accuracies, again.accuracies);
}

#[test]
fn networks_trained_side_by_side_score_as_one_after_another() {
    let _turn = SEEDING.lock().unwrap_or_else(|e| e.into_inner());
    let fm = FashionMnist::load_default().expect("run scripts/setup.sh to install Fashion-MNIST");
    let dev = device();
    let train = fm.train.subset(&fm.train.sample_per_class(4, 1));
    let test = fm.test.subset(&fm.test.stratified(200, 1));
    let cfg = ConvNetConfig::for_set(&train).with_width(8);
    // DSA draws an augmentation per batch: each network from its own seeded generator
    let preset = EvalPreset::smoke()
        .with_models(3)
        .with_epochs(6)
        .with_batch_size(16)
        .with_augment(Augment::Dsa)
        .with_seed(7)
        .with_progress(false);
    let with_workers = |workers: usize| {
        let preset = preset.clone().with_workers(workers);
        assert_eq!(preset.worker_count(), workers);
        evaluate_model(|d| cfg.init(d), &train, &test, &preset, &dev).unwrap()
    };
    let one_by_one = with_workers(1);
    let side_by_side = with_workers(2);
    assert_eq!(one_by_one.accuracies, side_by_side.accuracies);
    assert!(
        one_by_one.std > 0.0,
        "three different networks: {one_by_one}"
    );
}

#[test]
fn presets_follow_the_reference_protocols() {
    let dc = EvalPreset::dc();
    assert_eq!(
        (
            dc.models,
            dc.epochs,
            dc.batch_size,
            dc.lr,
            dc.momentum,
            dc.weight_decay
        ),
        (20, 300, 256, 0.01, 0.9, 5e-4)
    );
    assert_eq!(dc.schedule, Schedule::StepAtHalf);
    assert_eq!(dc.augment, Augment::None);
    assert_eq!(EvalPreset::dsa().epochs, 1000);
    assert_eq!(EvalPreset::dsa().augment, Augment::Dsa);
    assert_eq!(EvalPreset::dm().models, 20);
    assert_eq!(EvalPreset::quick().models, 5);
    let f = EvalPreset::quick().with_seed(3).fit_config(2);
    assert_eq!((f.epochs, f.batch_size), (100, 256));
    assert_ne!(
        EvalPreset::quick().fit_config(0).seed,
        EvalPreset::quick().fit_config(1).seed
    );
    assert_eq!(EvalPreset::for_scale(Scale::Full).name, "dc");
}

#[test]
fn invalid_presets_and_mismatched_sets_are_refused() {
    for (p, field) in [
        (EvalPreset::quick().with_models(0), "models"),
        (EvalPreset::quick().with_epochs(0), "epochs"),
        (EvalPreset::quick().with_batch_size(0), "batch_size"),
        (EvalPreset::quick().with_lr(-0.1), "lr"),
        (EvalPreset::quick().with_momentum(1.0), "momentum"),
        (EvalPreset::quick().with_weight_decay(-1.0), "weight_decay"),
    ] {
        let msg = p.check().unwrap_err().to_string();
        assert!(msg.contains(field), "{msg}");
    }
    let dev = device();
    let data = dark_and_light(2);
    let other = ImageSet::from_pixels(
        "other",
        [1, 4, 4],
        vec![0.0; 16],
        vec![0],
        vec!["a".into(), "b".into()],
    )
    .unwrap();
    let err = evaluate(&data, &other, &EvalPreset::smoke(), &dev).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
    // 4x4 images cannot go through the DC ConvNet's three poolings: an error, not a panic
    let tiny =
        ImageSet::from_pixels("tiny", [1, 4, 4], vec![0.5; 16], vec![0], vec!["a".into()]).unwrap();
    let err = evaluate(&tiny, &tiny, &EvalPreset::smoke(), &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("too small"), "{err}");
    let err = evaluate_cross_arch(&data, &data, &[], &EvalPreset::smoke(), &dev).unwrap_err();
    assert!(err.to_string().contains("ResNet18"), "{err}");
}

#[test]
fn cross_architecture_table_has_a_row_per_architecture() {
    let dev = device();
    let data = dark_and_light(4);
    let archs: Vec<Arch> = ["MLP", "LeNet", "ConvNetW8D1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let preset = EvalPreset::smoke().with_models(1).with_progress(false);
    let table = evaluate_cross_arch(&data, &data, &archs, &preset, &dev).unwrap();
    let frame = table.frame();
    assert_eq!(frame.height(), 3);
    let names: Vec<String> = frame
        .column("architecture")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["MLP", "LeNet", "ConvNetW8D1"]);
    assert!(table.to_html().contains("test accuracy %"));
}
