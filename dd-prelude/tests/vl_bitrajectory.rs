//! Bi-trajectory matching's meta-gradients (synthetic images, synthetic text embeddings,
//! step size, and LoRS's learned similarity) against finite differences.

mod distill_common;

use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use dd_prelude::distill::trajectory_loss;
use dd_prelude::vl::{
    BiArch, BiParams, LowRankSimilarity, unrolled_bi_loss, unrolled_bi_loss_with,
};
use dd_prelude::*;
use distill_common::{
    Fd, check_meta_gradient, check_scalar_meta_gradient, randn, run_child_test, seeded, serial,
};

fn setup(dev: &burn::tensor::Device) -> (BiArch, BiParams, BiParams) {
    let cfg = DualEncoderConfig::new(
        ConvNetConfig::new(1, 1, [8, 8]).with_width(4).with_depth(1),
        6,
    )
    .with_embed_dim(5);
    let arch = BiArch::new(&cfg).unwrap();
    let start = arch.init(dev);
    // The expert's target: three SGD steps on other pairs.
    let (rx, rt) = (randn([6, 1, 8, 8], dev), randn([6, 6], dev));
    let mut target = start.clone();
    for _ in 0..3 {
        let (_, g) = arch.loss_and_grads(&target, rx.clone(), rt.clone());
        target = target.sgd_step(&g, 0.2);
    }
    (arch, start, target)
}

const BATCHES: [&[usize]; 3] = [&[0, 1, 2, 3], &[2, 0], &[1, 3, 0]];

fn batches() -> Vec<Vec<usize>> {
    BATCHES.iter().map(|b| b.to_vec()).collect()
}

/// The f64 checks need the device configured for f64 before any tensor exists: run the
/// ignored child test below in a fresh process of this binary.
#[test]
fn bi_trajectory_meta_gradients_match_finite_differences_f64() {
    run_child_test("f64_child", "DD_VL_F64_CHILD");
}

/// Runs only as the child of `bi_trajectory_meta_gradients_match_finite_differences_f64`.
#[test]
#[ignore]
fn f64_child() {
    if std::env::var("DD_VL_F64_CHILD").is_err() {
        return;
    }
    let mut dev = Device::flex();
    dev.configure(FloatDType::F64)
        .expect("f64 before any tensor");
    assert_eq!(device().settings().float_dtype, FloatDType::F64);
    bi_gradients(Fd::F64);
    similarity_gradients(Fd::F64);
}

fn bi_gradients(fd: Fd) {
    let dev = device();
    let _serial = seeded(&dev, 41);
    let (arch, start, target) = setup(&dev);
    let (sx, st) = (randn([4, 1, 8, 8], &dev), randn([4, 6], &dev));
    let lr = || Tensor::<1>::from_data(TensorData::new(vec![0.1f64], [1]), &dev).cast(sx.dtype());
    check_meta_gradient(
        "bi-trajectory (images)",
        &sx,
        |x| unrolled_bi_loss(&arch, &start, &target, x, st.clone(), lr(), &batches()),
        fd,
    );
    // The text embeddings go through the same checker as a [4, 1, 1, 6] point.
    let st4 = st.clone().reshape([4, 1, 1, 6]);
    check_meta_gradient(
        "bi-trajectory (text embeddings)",
        &st4,
        |t| {
            unrolled_bi_loss(
                &arch,
                &start,
                &target,
                sx.clone(),
                t.reshape([4, 6]),
                lr(),
                &batches(),
            )
        },
        fd,
    );
    // The loss at step size(s) `lr`: `[1]` shared by both sides, `[2]` = (image, text).
    let loss_at = |lr: Tensor<1>| {
        unrolled_bi_loss(
            &arch,
            &start,
            &target,
            sx.clone(),
            st.clone(),
            lr,
            &batches(),
        )
    };
    check_scalar_meta_gradient(
        "bi-trajectory (step size)",
        0.1,
        sx.dtype(),
        &dev,
        |lr, _| loss_at(lr),
        fd,
    );
    // Seed 001's two step sizes: each against finite differences with the other held, and
    // equal values reproduce the shared step size.
    let pair = |a: f64, b: f64| {
        Tensor::<1>::from_data(TensorData::new(vec![a, b], [2]), &dev).cast(sx.dtype())
    };
    let (shared, split): (f64, f64) = (
        loss_at(lr()).into_scalar(),
        loss_at(pair(0.1, 0.1)).into_scalar(),
    );
    assert!(
        (shared - split).abs() < 1e-9 * shared.abs().max(1.0),
        "equal step sizes per side: {split} vs one shared {shared}"
    );
    for (side, what) in [(0, "image"), (1, "text")] {
        // The other side's step size is held at a value of its own, so a swapped slot shows.
        let held = if side == 0 { 0.05 } else { 0.15 };
        check_scalar_meta_gradient(
            &format!("bi-trajectory ({what} side's step size)"),
            0.1,
            sx.dtype(),
            &dev,
            |lr, tracked| {
                let other = pair(held, held).narrow(0, 0, 1);
                let other = if tracked { other.autodiff() } else { other };
                let both = if side == 0 {
                    Tensor::cat(vec![lr, other], 0)
                } else {
                    Tensor::cat(vec![other, lr], 0)
                };
                loss_at(both)
            },
            fd,
        );
    }
    // Each slot steps its own side: with one side's step size 0 that side stays at the start
    // (its normalised distance exactly 1) and the other follows a plain SGD unroll of its
    // parameters alone.
    for side in [0, 1] {
        let mut theta = start.clone();
        for b in batches() {
            let idx = Tensor::<1, burn::tensor::Int>::from_data(
                TensorData::new(b.iter().map(|&i| i as i64).collect::<Vec<_>>(), [b.len()]),
                &dev,
            );
            let (_, g) = arch.loss_and_grads(
                &theta,
                sx.clone().select(0, idx.clone()),
                st.clone().select(0, idx),
            );
            theta = if side == 0 {
                BiParams {
                    image: theta.image.sgd_step(&g.image, 0.1),
                    text: theta.text,
                }
            } else {
                BiParams {
                    image: theta.image,
                    text: theta.text.sgd_step(&g.text, 0.1),
                }
            };
        }
        let expected: f64 = if side == 0 {
            trajectory_loss(&theta.image, &start.image, &target.image)
        } else {
            trajectory_loss(&theta.text, &start.text, &target.text)
        }
        .into_scalar::<f64>()
            + 1.0;
        let got: f64 = loss_at(if side == 0 {
            pair(0.1, 0.0)
        } else {
            pair(0.0, 0.1)
        })
        .into_scalar();
        assert!(
            (got - expected).abs() < 1e-9 * expected,
            "side {side} alone: {got} vs {expected}"
        );
    }
    // The meta-gradients of the two step sizes are the shared one's, split: they add up to it.
    let leaf = pair(0.1, 0.1).autodiff().require_grad();
    let per_side = leaf.grad(&loss_at(leaf.clone()).backward()).unwrap();
    let one = lr().autodiff().require_grad();
    let g_one: f64 = one
        .grad(&loss_at(one.clone()).backward())
        .unwrap()
        .into_scalar();
    let g: Vec<f64> = per_side
        .into_data()
        .convert::<f64>()
        .try_into_vec()
        .unwrap();
    assert!(
        g[0] != 0.0 && g[1] != 0.0 && (g[0] + g[1] - g_one).abs() < 1e-6 * g_one.abs().max(1e-3),
        "per-side step-size gradients {g:?} against the shared one's {g_one}"
    );
}

/// LoRS's learned similarity: the identity reproduces seed 001's loss, and the meta-gradients
/// of its three parameters (through the soft-target contrastive loss of every student step)
/// match finite differences.
fn similarity_gradients(fd: Fd) {
    let dev = device();
    let _serial = seeded(&dev, 43);
    let (arch, start, target) = setup(&dev);
    let (sx, st) = (randn([4, 1, 8, 8], &dev), randn([4, 6], &dev));
    let lr = || Tensor::<1>::from_data(TensorData::new(vec![0.1f64], [1]), &dev).cast(sx.dtype());
    let loss = |sim: Option<&LowRankSimilarity>| {
        unrolled_bi_loss_with(
            &arch,
            &start,
            &target,
            sx.clone(),
            st.clone(),
            lr(),
            sim,
            &batches(),
        )
    };
    let identity = LowRankSimilarity::new(4, 2, 3.0, &dev);
    let (a, b): (f64, f64) = (
        loss(Some(&identity)).into_scalar(),
        unrolled_bi_loss(
            &arch,
            &start,
            &target,
            sx.clone(),
            st.clone(),
            lr(),
            &batches(),
        )
        .into_scalar(),
    );
    assert!(
        (a - b).abs() < 1e-9 * b.abs().max(1.0),
        "identity similarity: {a} vs {b}"
    );
    let sim = LowRankSimilarity {
        diag: randn([4], &dev).mul_scalar(0.2).add_scalar(1.0),
        left: randn([4, 2], &dev),
        right: randn([4, 2], &dev).mul_scalar(0.5),
        scale: 1.5,
    };
    check_meta_gradient(
        "LoRS similarity (diagonal)",
        &sim.diag.clone().reshape([4, 1, 1, 1]),
        |d| {
            loss(Some(&LowRankSimilarity {
                diag: d.reshape([4]),
                ..sim.clone()
            }))
        },
        fd,
    );
    check_meta_gradient(
        "LoRS similarity (left factor)",
        &sim.left.clone().reshape([4, 1, 1, 2]),
        |l| {
            loss(Some(&LowRankSimilarity {
                left: l.reshape([4, 2]),
                ..sim.clone()
            }))
        },
        fd,
    );
    check_meta_gradient(
        "LoRS similarity (right factor)",
        &sim.right.clone().reshape([4, 1, 1, 2]),
        |r| {
            loss(Some(&LowRankSimilarity {
                right: r.reshape([4, 2]),
                ..sim.clone()
            }))
        },
        fd,
    );
}

/// The contrastive op's written-out backward against soft targets equals autodiff's gradient
/// of its forward loss (the student's steps are the loss's true gradient, not only a
/// differentiable rule).
#[test]
fn soft_contrastive_backward_matches_autodiff() {
    use dd_prelude::distill::engine::ops::ContrastiveOp;
    let dev = device();
    let _serial = seeded(&dev, 44);
    let (a, b) = (randn([5, 4], &dev), randn([5, 4], &dev));
    let s = randn([5, 5], &dev).abs().add(Tensor::eye(5, &dev));
    let op = ContrastiveOp {
        scale: 3.0,
        normalize: true,
    };
    let (_, cache) = op.forward_soft(a.clone(), b.clone(), Some(s.clone()));
    let (da, db) = op.backward(&cache);
    let (la, lb) = (
        a.clone().autodiff().require_grad(),
        b.clone().autodiff().require_grad(),
    );
    let (loss, _) = op.forward_soft(la.clone(), lb.clone(), Some(s));
    let g = loss.backward();
    let (ga, gb) = (la.grad(&g).unwrap(), lb.grad(&g).unwrap());
    let gap = |x: Tensor<2>, y: Tensor<2>| -> f32 { x.sub(y).abs().max().into_scalar() };
    assert!(gap(da, ga) < 1e-5, "images' side");
    assert!(gap(db, gb) < 1e-5, "texts' side");
}

/// `unit_text` rescales every synthetic text embedding to unit length after each outer step
/// (and at a noise start); without it the same outer steps move the lengths off 1.
#[test]
fn unit_text_keeps_synthetic_texts_at_unit_length() {
    use dd_prelude::vl::{BiTrajectoryConfig, CaptionEmbeddings, train_bi_expert};
    let dev = device();
    let _serial = serial();
    let pixels = (0..6 * 64).map(|i| ((i * 7) % 11) as f32 / 11.0).collect();
    let pairs = PairSet::from_pixels(
        "t",
        [1, 8, 8],
        pixels,
        (0..6).map(|i| vec![format!("c{i}")]).collect(),
        (0..6).map(|i| i.to_string()).collect(),
    )
    .unwrap();
    // Unit-length caption embeddings, as the sentence encoder's.
    let raw: Vec<f32> = (0..36).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
    let values: Vec<f32> = raw
        .chunks(6)
        .flat_map(|r| {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
            r.iter().map(move |v| v / n).collect::<Vec<_>>()
        })
        .collect();
    let caps = CaptionEmbeddings::new(values, 6, (0..6).collect()).unwrap();
    let set = caps.training_pairs(&pairs).unwrap();
    let (arch, _, _) = setup(&dev);
    let experts = vec![train_bi_expert(&arch, &set, 2, 0.2, 3, 0, &dev).unwrap()];
    let lengths = |unit_text: bool, real_init: bool| -> Vec<f32> {
        let cfg = BiTrajectoryConfig {
            syn_steps: 2,
            expert_epochs: 1,
            max_start_epoch: 1,
            batch_syn: 4,
            iterations: 3,
            lr_text: 10.0,
            unit_text,
            real_init,
            ..BiTrajectoryConfig::new(4)
        };
        let d = cfg.distill(&arch, &set, &caps, &experts, &dev).unwrap();
        let (_, t) = d.set.inputs(&[0, 1, 2, 3], &dev);
        let t: Vec<f32> = t.into_data().convert::<f32>().try_into_vec().unwrap();
        t.chunks(6)
            .map(|r| r.iter().map(|v| v * v).sum::<f32>().sqrt())
            .collect()
    };
    for real_init in [true, false] {
        let unit = lengths(true, real_init);
        assert!(
            unit.iter().all(|l| (l - 1.0).abs() < 1e-4),
            "unit_text, real_init {real_init}: lengths {unit:?}"
        );
    }
    let free = lengths(false, true);
    assert!(
        free.iter().any(|l| (l - 1.0).abs() > 1e-3),
        "without unit_text the lengths should move: {free:?}"
    );
}
