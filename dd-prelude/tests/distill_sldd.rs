//! SLDD (soft-label dataset distillation with a learnable step size): its meta-gradient with
//! respect to the images, the label logits and the raw step size against finite differences
//! through four unrolled steps (f32 here, f64 in a child process configured for f64), Adam's
//! numerics, checkpoint + resume, every config rule, and on Fashion-MNIST one image per class
//! beating random real images under SLDD's own scoring.

mod distill_common;

use std::sync::atomic::Ordering;
use std::time::Instant;

use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use dd_prelude::distill::engine::MetaArch;
use dd_prelude::distill::engine::ops::one_hot;
use dd_prelude::distill::{
    Distiller, Init, RealPool, SlddConfig, SlddParams, SynOptim, SynState, SyntheticSet,
    sldd_evaluate, sldd_loss,
};
use dd_prelude::*;
use distill_common::{
    Fd, SEED_OFFSET, check_meta_gradient, check_scalar_meta_gradient, randn, run_child_test,
    seeded, values,
};

/// Three classes, two images each, split into two batches, two epochs: four unrolled steps.
const CLASSES: usize = 3;
const IPC: usize = 2;
const STEPS: usize = 2;
const EPOCHS: usize = 2;

/// The finite-difference checks of SLDD's meta-loss on a ConvNet of width 4 (instance norm,
/// ReLU, average pooling) at 8x8.
fn sldd_gradients(fd: Fd) {
    let dev = device();
    let _serial = seeded(&dev, 31);
    let arch = MetaArch::convnet(
        &ConvNetConfig::new(CLASSES, 1, [8, 8])
            .with_width(4)
            .with_depth(2),
    )
    .unwrap();
    let init = arch.init(&dev);
    let n = CLASSES * IPC;
    let images = randn([n, 1, 8, 8], &dev);
    // Label logits away from one-hot so every entry matters.
    let logits = randn([n, CLASSES], &dev);
    let raw0 = (0.1f64).exp_m1().ln();
    let raw_at = |v: f64| {
        Tensor::<1>::from_data(TensorData::new(vec![raw0 + v], [1]), &dev).cast(images.dtype())
    };
    let real = randn([9, 1, 8, 8], &dev);
    let real_t = one_hot(&[0, 1, 2, 0, 1, 2, 0, 1, 2], CLASSES, &dev);
    let loss = |x: Tensor<4>, l: Tensor<2>, r: Tensor<1>| {
        let syn = SlddParams {
            images: x,
            label_logits: l,
            raw_lr: r,
        };
        sldd_loss(&arch, &init, &syn, STEPS, EPOCHS, real.clone(), &real_t)
    };
    check_meta_gradient(
        "SLDD images",
        &images,
        |x| loss(x, logits.clone().autodiff(), raw_at(0.0).autodiff()),
        fd,
    );
    // The label logits as a [n, classes, 1, 1] point of the shared checker.
    check_meta_gradient(
        "SLDD label logits",
        &logits.clone().reshape([n, CLASSES, 1, 1]),
        |l| {
            loss(
                images.clone().autodiff(),
                l.reshape([n, CLASSES]),
                raw_at(0.0).autodiff(),
            )
        },
        fd,
    );
    check_scalar_meta_gradient(
        "d loss / d raw_lr",
        raw0,
        images.dtype(),
        &dev,
        |r, tracked| {
            if tracked {
                loss(images.clone().autodiff(), logits.clone().autodiff(), r)
            } else {
                loss(images.clone(), logits.clone(), r)
            }
        },
        fd,
    );
}

#[test]
fn sldd_meta_gradient_matches_finite_differences_f32() {
    sldd_gradients(Fd::F32);
}

/// The f32 check at 30 other seeds (slow; judges the f32 tolerances): no disagreement, and
/// at most 5 % of the runs short of kink-free probes.
#[test]
#[ignore]
fn sldd_meta_gradient_at_other_seeds_f32() {
    let (mut wrong, mut short) = (Vec::new(), 0);
    for offset in 1..=30u64 {
        SEED_OFFSET.store(offset * 1000, Ordering::SeqCst);
        if let Err(e) = std::panic::catch_unwind(|| sldd_gradients(Fd::F32)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            println!("offset {}: {msg}", offset * 1000);
            if msg.contains("free of kinks") {
                short += 1;
            } else {
                wrong.push(msg);
            }
        }
    }
    SEED_OFFSET.store(0, Ordering::SeqCst);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        short * 20 <= 30,
        "{short} of 30 runs short of kink-free probes"
    );
}

/// The f64 checks need the device configured for f64 before any tensor exists, which this
/// process (shared with the f32 tests) cannot promise: run the ignored child test below in a
/// fresh process of this binary.
#[test]
fn sldd_meta_gradient_matches_finite_differences_f64() {
    run_child_test("f64_child", "DD_SLDD_F64_CHILD");
}

/// Runs only as the child of `sldd_meta_gradient_matches_finite_differences_f64`.
#[test]
#[ignore]
fn f64_child() {
    if std::env::var("DD_SLDD_F64_CHILD").is_err() {
        return;
    }
    let mut dev = Device::flex();
    dev.configure(FloatDType::F64)
        .expect("f64 before any tensor");
    assert_eq!(device().settings().float_dtype, FloatDType::F64);
    sldd_gradients(Fd::F64);
}

/// `SynOptim::Adam` against PyTorch's update written out on the host, for three steps of a
/// learnable tensor and of the images.
#[test]
fn adam_matches_pytorch_update() {
    let dev = device();
    let _serial = seeded(&dev, 32);
    let data = toy();
    let real = RealPool::new(&data, &dev).unwrap();
    let mut state = SynState::init(&real, 1, Init::Real, 0.5, 0);
    let (b1, b2, eps, lr) = (0.5, 0.999, 1e-8, 0.1);
    let adam = SynOptim::Adam {
        beta1: b1,
        beta2: b2,
        eps,
    };
    state.set_images_optim(adam).unwrap();
    state
        .add_with("w", Tensor::<1>::from_floats([1.0, -2.0], &dev), lr, adam)
        .unwrap();
    let x0 = values(&state.images());
    let grads = [[0.5, -3.0], [0.1, 2.0], [-1.0, 0.25]];
    let (mut w, mut m, mut v) = ([1.0f64, -2.0], [0.0f64; 2], [0.0f64; 2]);
    let mut xs = x0.clone();
    let (mut mx, mut vx) = (vec![0.0; xs.len()], vec![0.0; xs.len()]);
    for (t, g) in grads.iter().enumerate() {
        let t = t as i32 + 1;
        let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for i in 0..2 {
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            w[i] -= lr / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + eps);
        }
        // The images get gradient g[0] * x0 elementwise, with lr 0.01.
        for i in 0..xs.len() {
            let gi = g[0] * x0[i];
            mx[i] = b1 * mx[i] + (1.0 - b1) * gi;
            vx[i] = b2 * vx[i] + (1.0 - b2) * gi * gi;
            xs[i] -= 0.01 / bc1 * mx[i] / (vx[i].sqrt() / bc2.sqrt() + eps);
        }
        state.step_named(
            "w",
            Tensor::<1>::from_floats([g[0] as f32, g[1] as f32], &dev),
        );
        let gx = Tensor::<4>::from_data(
            TensorData::new(
                x0.iter().map(|x| (g[0] * x) as f32).collect(),
                state.images().dims(),
            ),
            &dev,
        );
        state.step(gx, 0.01);
    }
    for (a, b) in values(&state.get::<1>("w")).iter().zip(w) {
        assert!((a - b).abs() < 1e-5, "w: {a} vs {b}");
    }
    for (a, b) in values(&state.images()).iter().zip(&xs) {
        assert!((a - b).abs() < 1e-5, "images: {a} vs {b}");
    }
    assert!(
        state
            .add_with("w.second", Tensor::<1>::zeros([1], &dev), 0.1, adam)
            .is_err()
    );
    let bad = SynOptim::Adam {
        beta1: 1.0,
        beta2: b2,
        eps,
    };
    assert!(
        state
            .add_with("u", Tensor::<1>::zeros([1], &dev), 0.1, bad)
            .is_err()
    );
}

/// Four classes of 4x4 images, 8 each.
fn toy() -> ImageSet {
    let n = 32;
    let px: Vec<f32> = (0..n * 16)
        .map(|i| ((i * 7 + i / 16 * 3) % 13) as f32 / 13.0)
        .collect();
    ImageSet::from_pixels(
        "toy",
        [1, 4, 4],
        px,
        (0..n).map(|i| i % 4).collect(),
        (0..4).map(|c| format!("c{c}")).collect(),
    )
    .unwrap()
}

fn tiny(ckpt: Option<String>) -> SlddConfig {
    SlddConfig::new(2)
        .with_steps(2)
        .with_epochs(2)
        .with_nets(2)
        .with_batch_real(3)
        .with_width(4)
        .with_depth(1)
        .with_seed(7)
        .with_checkpoint(ckpt)
        .with_checkpoint_every(1)
        .with_progress(false)
}

#[test]
fn checkpoint_and_resume_continue_bit_exactly() {
    let dev = device();
    let _serial = seeded(&dev, 33);
    let data = toy();
    let dir = std::env::temp_dir().join(format!("dd-sldd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let mut straight = tiny(None).start(&data, &dev).unwrap();
    straight.steps(6).unwrap();
    let want = straight.synthetic();

    let ckpt = dir.join("sldd.ckpt").to_string_lossy().into_owned();
    tiny(Some(ckpt.clone()))
        .start(&data, &dev)
        .unwrap()
        .steps(4)
        .unwrap();
    let mut resumed = tiny(Some(ckpt.clone())).start(&data, &dev).unwrap();
    assert_eq!(resumed.iterations(), 4);
    resumed.steps(2).unwrap();
    let got = resumed.synthetic();
    assert_eq!(got.images, want.images, "images continue exactly");
    assert_eq!(
        got.soft_labels, want.soft_labels,
        "soft labels continue exactly"
    );
    assert_eq!(got.lr, want.lr, "the step size continues exactly");
    // All three moved from where they started, so each optimizer's state mattered.
    let fresh = tiny(None).start(&data, &dev).unwrap().synthetic();
    assert_ne!(got.images, fresh.images);
    assert_ne!(got.soft_labels, fresh.soft_labels);
    assert_ne!(got.lr, fresh.lr);
    let soft = got.soft_labels.clone().unwrap();
    for row in soft.chunks(4) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
    }

    // The saved set scores the same as the set in memory, from its manifest alone.
    let back = SyntheticSet::load(got.save(dir.join("set")).unwrap()).unwrap();
    // (field by field: `seconds` may lose its last bit in the manifest's JSON)
    assert_eq!(
        (
            &back.images,
            &back.labels,
            &back.soft_labels,
            back.lr,
            &back.config
        ),
        (
            &got.images,
            &got.labels,
            &got.soft_labels,
            got.lr,
            &got.config
        )
    );
    let a = sldd_evaluate(&got, &data, 2, &dev).unwrap();
    let b = sldd_evaluate(&back, &data, 2, &dev).unwrap();
    assert_eq!(a.accuracies, b.accuracies);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_config_rule_names_its_field() {
    let ok = SlddConfig::new(2).with_steps(2);
    assert!(ok.check().is_ok());
    let cases: Vec<(&str, SlddConfig)> = vec![
        ("ipc", SlddConfig::new(0)),
        ("iterations", SlddConfig::new(1).with_iterations(0)),
        ("steps", SlddConfig::new(3).with_steps(2)),
        ("steps", SlddConfig::new(1).with_steps(0)),
        ("epochs", SlddConfig::new(1).with_epochs(0)),
        ("nets", SlddConfig::new(1).with_nets(0)),
        ("batch_real", SlddConfig::new(1).with_batch_real(0)),
        ("lr_images", SlddConfig::new(1).with_lr_images(0.0)),
        ("lr_labels", SlddConfig::new(1).with_lr_labels(-1.0)),
        (
            "lr_step_size",
            SlddConfig::new(1).with_lr_step_size(f64::NAN),
        ),
        ("step_size", SlddConfig::new(1).with_step_size(0.0)),
        ("label_init", SlddConfig::new(1).with_label_init(1.0)),
        ("beta1", SlddConfig::new(1).with_beta1(1.0)),
        ("width", SlddConfig::new(1).with_width(0)),
        ("depth", SlddConfig::new(1).with_depth(5)),
        (
            "checkpoint_every",
            SlddConfig::new(1).with_checkpoint_every(0),
        ),
    ];
    for (field, config) in cases {
        let err = config.check().expect_err(field).to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
    // Scoring refuses a set of another size, and a set without an SLDD config (the run
    // draws from the device's generator: hold the lock the other tests hold).
    let dev = device();
    let _serial = seeded(&dev, 35);
    let data = toy();
    let set = tiny(None).with_iterations(1).distill(&data, &dev).unwrap();
    assert!(SlddConfig::new(1).evaluate(&set, &data, 1, &dev).is_err());
    assert!(tiny(None).evaluate(&set, &data, 0, &dev).is_err());
    let mut other = set.clone();
    other.config = serde_json::json!({ "method": "DM" });
    assert!(sldd_evaluate(&other, &data, 1, &dev).is_err());
}

/// On Fashion-MNIST (a class-balanced subset), SLDD with one image per class beats one
/// random real image per class under SLDD's scoring: the same fresh networks, the same
/// three steps. The random images get the best of several step sizes (chosen on the test
/// set, in their favour); the distilled set uses the step size it learned.
#[test]
fn one_image_per_class_beats_random_real_on_fashion_mnist() {
    let started = Instant::now();
    let dev = device();
    let _serial = seeded(&dev, 34);
    let fmnist = FashionMnist::load_default().expect("Fashion-MNIST (dataset-fashion-mnist)");
    let train = fmnist.train.subset(&fmnist.train.sample_per_class(300, 1));
    let test = fmnist.test.subset(&fmnist.test.sample_per_class(100, 2));
    let sldd = SlddConfig::new(1)
        .with_iterations(80)
        .with_nets(2)
        .with_batch_real(20)
        .with_width(16)
        .with_depth(3)
        .with_init(Init::Real)
        .with_lr_images(0.1)
        .with_lr_labels(0.05)
        .with_lr_step_size(0.03)
        .with_step_size(0.2)
        .with_seed(3)
        .with_progress(false);
    let set = sldd.distill(&train, &dev).unwrap();
    let distilled = sldd.evaluate(&set, &test, 8, &dev).unwrap();

    let pick = train.subset(&train.sample_per_class(1, 5));
    let mut random = SyntheticSet::new(
        "Random real",
        train.name(),
        pick.image_shape(),
        pick.images().to_vec(),
        pick.labels().to_vec(),
        pick.classes().to_vec(),
        pick.mean().to_vec(),
        pick.std().to_vec(),
    )
    .unwrap();
    let baseline = [0.03f32, 0.1, 0.3, 1.0]
        .into_iter()
        .map(|lr| {
            random.lr = Some(lr);
            sldd.evaluate(&random, &test, 8, &dev).unwrap()
        })
        .max_by(|a, b| a.mean.total_cmp(&b.mean))
        .unwrap();
    println!(
        "SLDD 1/class: {distilled} (learned lr {:.4}); random real: {baseline}; {:.1} s",
        set.lr.unwrap(),
        started.elapsed().as_secs_f64()
    );
    let margin = distilled.mean - baseline.mean;
    assert!(
        margin > distilled.std.max(baseline.std),
        "SLDD {:.2}% ± {:.2} vs random real {:.2}% ± {:.2}",
        distilled.mean_pct(),
        distilled.std_pct(),
        baseline.mean_pct(),
        baseline.std_pct()
    );
    // The soft labels and the step size were learned, not left at their start.
    assert_ne!(set.lr.unwrap(), 0.2);
    let soft = set.soft_labels.as_ref().unwrap();
    assert!(
        soft.chunks(10)
            .any(|row| (row.iter().cloned().fold(0f32, f32::max) - 0.9).abs() > 1e-3)
    );
}
