//! The distillers on a small real subset of Fashion-MNIST: config rules, run invariants,
//! determinism, checkpoint / resume, the artefact (and its loading by PyTorch when a Python
//! with torch and safetensors is at `.venv-bench/bin/python`), and the augmentations.

mod distill_common;

use std::path::PathBuf;

use burn::tensor::{Tensor, TensorData};
use dd_prelude::distill::engine::MetaArch;
use dd_prelude::distill::{
    AugOp, CafeConfig, DcConfig, DiffAugConfig, DistillRun, Distiller, DmConfig, DsaConfig, Init,
    ResampleMap, SyntheticSet,
};
use dd_prelude::*;
use distill_common::{assert_close, randn, values};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// 30 real images per class: enough for real batches of 8 (loaded once per test binary).
fn small_fmnist() -> ImageSet {
    static SET: std::sync::OnceLock<ImageSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let fm =
            FashionMnist::load_default().expect("run scripts/setup.sh to install Fashion-MNIST");
        fm.train.subset(&fm.train.sample_per_class(30, 0))
    })
    .clone()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-distill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn field(err: dd_prelude::Error) -> &'static str {
    match err {
        Error::InvalidConfig { field, .. } => field,
        other => panic!("expected InvalidConfig, got {other}"),
    }
}

#[test]
fn every_config_rule_rejects_its_bad_value() {
    assert_eq!(field(DcConfig::new(0).check().unwrap_err()), "ipc");
    assert_eq!(
        field(DcConfig::new(1).with_iterations(0).check().unwrap_err()),
        "iterations"
    );
    assert_eq!(
        field(DcConfig::new(1).with_lr_images(0.0).check().unwrap_err()),
        "lr_images"
    );
    assert_eq!(
        field(DcConfig::new(1).with_momentum(1.0).check().unwrap_err()),
        "momentum"
    );
    assert_eq!(
        field(DcConfig::new(1).with_width(0).check().unwrap_err()),
        "width"
    );
    assert_eq!(
        field(DcConfig::new(1).with_depth(5).check().unwrap_err()),
        "depth"
    );
    assert_eq!(
        field(
            DcConfig::new(1)
                .with_checkpoint_every(0)
                .check()
                .unwrap_err()
        ),
        "checkpoint_every"
    );
    assert_eq!(
        field(DcConfig::new(1).with_lr_net(-1.0).check().unwrap_err()),
        "lr_net"
    );
    assert_eq!(
        field(DcConfig::new(1).with_batch_real(0).check().unwrap_err()),
        "batch_real"
    );
    assert_eq!(
        field(DcConfig::new(1).with_batch_train(0).check().unwrap_err()),
        "batch_train"
    );
    assert_eq!(field(DcConfig::new(7).check().unwrap_err()), "outer_loop");
    assert!(
        DcConfig::new(7)
            .with_outer_loop(Some(3))
            .with_inner_loop(Some(5))
            .check()
            .is_ok()
    );
    assert_eq!(
        field(
            DsaConfig::new(1)
                .with_augment(DiffAugConfig::new().with_strategy(vec![]))
                .check()
                .unwrap_err()
        ),
        "strategy"
    );
    assert_eq!(
        field(
            DiffAugConfig::new()
                .with_prob_flip(1.5)
                .check()
                .unwrap_err()
        ),
        "prob_flip"
    );
    assert_eq!(
        field(
            DiffAugConfig::new()
                .with_ratio_scale(0.5)
                .check()
                .unwrap_err()
        ),
        "ratio_scale"
    );
    assert_eq!(
        field(
            DiffAugConfig::new()
                .with_ratio_rotate(-1.0)
                .check()
                .unwrap_err()
        ),
        "ratio_rotate"
    );
    assert_eq!(
        field(
            DiffAugConfig::new()
                .with_ratio_crop_pad(0.6)
                .check()
                .unwrap_err()
        ),
        "ratio_crop_pad"
    );
    assert_eq!(
        field(
            DiffAugConfig::new()
                .with_ratio_cutout(2.0)
                .check()
                .unwrap_err()
        ),
        "ratio_cutout"
    );
    assert_eq!(
        field(
            DiffAugConfig::new()
                .with_saturation(-1.0)
                .check()
                .unwrap_err()
        ),
        "saturation"
    );
    assert_eq!(
        field(DmConfig::new(1).with_batch_real(0).check().unwrap_err()),
        "batch_real"
    );
    assert_eq!(
        field(
            CafeConfig::new(1)
                .with_layer_weights(vec![])
                .check()
                .unwrap_err()
        ),
        "layer_weights"
    );
    assert_eq!(
        field(
            CafeConfig::new(1)
                .with_layer_weights(vec![-1.0])
                .check()
                .unwrap_err()
        ),
        "layer_weights"
    );
    assert_eq!(
        field(
            CafeConfig::new(1)
                .with_inner_weight(-1.0)
                .check()
                .unwrap_err()
        ),
        "inner_weight"
    );
    let bn = ConvNetConfig::new(10, 1, [28, 28]).with_norm(NormKind::Batch);
    assert_eq!(field(MetaArch::convnet(&bn).unwrap_err()), "norm");
    let mp = ConvNetConfig::new(10, 1, [28, 28]).with_pool(PoolKind::Max);
    assert_eq!(field(MetaArch::convnet(&mp).unwrap_err()), "pool");
    // The verb checks too, so a bad config never starts.
    let data = small_fmnist();
    assert!(DmConfig::new(0).start(&data, &device()).is_err());
}

fn tiny<D: Distiller>(d: &D) -> Box<dyn DistillRun> {
    d.start(&small_fmnist(), &device()).unwrap()
}

/// Every method: two iterations change the images, keep them finite, keep the layout.
#[test]
fn every_method_runs_and_moves_the_images() {
    let _serial = distill_common::serial();
    let methods: Vec<Box<dyn Distiller>> = vec![
        Box::new(
            DcConfig::new(2)
                .with_outer_loop(Some(2))
                .with_inner_loop(Some(1))
                .with_width(8)
                .with_depth(2)
                .with_batch_real(8)
                .with_progress(false),
        ),
        Box::new(
            DsaConfig::new(1)
                .with_width(8)
                .with_depth(2)
                .with_batch_real(8)
                .with_progress(false),
        ),
        Box::new(
            DmConfig::new(2)
                .with_width(8)
                .with_depth(2)
                .with_batch_real(8)
                .with_progress(false),
        ),
        Box::new(
            CafeConfig::new(2)
                .with_outer_loop(Some(2))
                .with_inner_loop(Some(1))
                .with_width(8)
                .with_depth(2)
                .with_batch_real(8)
                .with_progress(false),
        ),
        Box::new(
            DmConfig::new(1)
                .with_init(Init::Noise)
                .with_augment(None)
                .with_width(8)
                .with_depth(1)
                .with_batch_real(8)
                .with_progress(false),
        ),
    ];
    let data = small_fmnist();
    for m in methods {
        let mut run = m.start(&data, &device()).unwrap();
        let before = run.synthetic();
        let after = run.steps(2).unwrap().synthetic();
        let ipc = after.images_per_class();
        assert_eq!(after.len(), 10 * ipc, "{}", m.name());
        assert_eq!(
            after.labels,
            (0..10).flat_map(|c| vec![c; ipc]).collect::<Vec<_>>()
        );
        assert_eq!(after.shape, [1, 28, 28]);
        assert!(
            after.images.iter().all(|v| v.is_finite()),
            "{}: non-finite pixels",
            m.name()
        );
        assert_ne!(
            before.images,
            after.images,
            "{}: images did not move",
            m.name()
        );
        assert_eq!(run.iterations(), 2);
        assert_eq!(run.history().len(), 2);
        assert!(
            run.history()
                .iter()
                .all(|r| r.loss.is_finite() && r.loss >= 0.0),
            "{}",
            m.name()
        );
        assert_eq!(after.method, m.name());
        assert!(after.to_image_set().is_ok());
        assert!(run.loss_plot().render().is_ok());
        assert!(after.show_grid(ipc).is_ok());
    }
}

/// Init from real images starts at real images of the right classes.
#[test]
fn real_init_starts_from_real_images_of_each_class() {
    let _serial = distill_common::serial();
    let data = small_fmnist();
    let run = tiny(
        &DmConfig::new(3)
            .with_width(4)
            .with_depth(1)
            .with_progress(false),
    );
    let syn = run.synthetic();
    for (i, &c) in syn.labels.iter().enumerate() {
        let img = &syn.images[i * 784..(i + 1) * 784];
        let found = data
            .class_indices(c)
            .into_iter()
            .any(|j| data.image(j) == img);
        assert!(
            found,
            "synthetic image {i} is not a real image of class {c}"
        );
    }
}

/// The same seed gives the same run; an interrupted run resumed from its checkpoint ends
/// exactly where the uninterrupted run does.
#[test]
fn a_resumed_run_equals_the_uninterrupted_one() {
    let _serial = distill_common::serial();
    let ckpt = tmp("dsa-resume.safetensors");
    std::fs::remove_file(&ckpt).ok();
    let cfg = DsaConfig::new(1)
        .with_width(6)
        .with_depth(2)
        .with_batch_real(8)
        .with_progress(false)
        .with_seed(3);
    let data = small_fmnist();
    let dev = device();
    let straight = cfg
        .start(&data, &dev)
        .unwrap()
        .steps(4)
        .unwrap()
        .synthetic();
    let again = cfg
        .start(&data, &dev)
        .unwrap()
        .steps(4)
        .unwrap()
        .synthetic();
    assert_eq!(straight.images, again.images, "same seed, same run");
    let with_ckpt = cfg
        .clone()
        .with_checkpoint(Some(ckpt.to_string_lossy().into_owned()))
        .with_checkpoint_every(1);
    {
        let mut first = with_ckpt.start(&data, &dev).unwrap();
        first.steps(2).unwrap();
        // the cell is interrupted here: the run is dropped
    }
    let mut resumed = with_ckpt.start(&data, &dev).unwrap();
    assert_eq!(resumed.iterations(), 2);
    let end = resumed.steps(2).unwrap().synthetic();
    assert_eq!(
        end.images, straight.images,
        "resumed run differs from the uninterrupted one"
    );
    assert_eq!(resumed.history().len(), 4);
    // `distill` runs only what is left.
    let done = with_ckpt
        .clone()
        .with_iterations(4)
        .distill(&data, &dev)
        .unwrap();
    assert_eq!(done.iterations, 4);
    // A copy of the checkpoint elsewhere, written every 5 iterations instead, still resumes.
    let moved = tmp("dsa-resume-moved.safetensors");
    std::fs::copy(&ckpt, &moved).unwrap();
    let elsewhere = with_ckpt
        .clone()
        .with_checkpoint(Some(moved.to_string_lossy().into_owned()))
        .with_checkpoint_every(5);
    assert_eq!(elsewhere.start(&data, &dev).unwrap().iterations(), 4);
    std::fs::remove_file(&moved).ok();
    // Another config refuses the checkpoint.
    let other = with_ckpt.with_lr_images(0.5);
    assert_eq!(field(other.start(&data, &dev).err().unwrap()), "checkpoint");
    std::fs::remove_file(&ckpt).ok();
}

#[test]
fn the_artefact_round_trips_and_loads_in_pytorch() {
    let _serial = distill_common::serial();
    let mut run = tiny(
        &DmConfig::new(2)
            .with_width(4)
            .with_depth(1)
            .with_batch_real(8)
            .with_progress(false)
            .with_seed(9),
    );
    let mut syn = run.steps(1).unwrap().synthetic();
    syn.lr = Some(0.0125);
    let syn = syn.with_accuracy(dd_prelude::distill::Accuracy {
        mean: 0.5,
        std: 0.01,
        models: 2,
        protocol: "smoke".into(),
    });
    let path = tmp("dm-artefact");
    let file = syn.save(&path).unwrap();
    assert!(file.ends_with("dm-artefact.safetensors"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
    assert_eq!(manifest["method"], "DM");
    assert_eq!(manifest["config"]["common"]["seed"], 9);
    assert_eq!(manifest["config"]["ipc"], 2);
    assert_eq!(manifest["accuracy"]["models"], 2);
    assert_eq!(manifest["source"], syn.source.as_str());
    let back = SyntheticSet::load(&file).unwrap();
    assert_eq!(back, syn);
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-bench/bin/python");
    let probe = std::process::Command::new(&python)
        .args(["-c", "import torch, safetensors.torch"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "skipping the PyTorch check: no torch + safetensors at {}",
            python.display()
        );
        return;
    }
    let script = format!(
        "import safetensors.torch as st\nd = st.load_file({:?})\nprint(tuple(d['images'].shape), d['images'].dtype, tuple(d['labels'].shape), d['labels'].dtype, float(d['images'].double().sum()), d['labels'].tolist(), float(d['lr'][0]))",
        file.to_string_lossy()
    );
    let out = std::process::Command::new(&python)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let sum: f64 = syn.images.iter().map(|&v| v as f64).sum();
    assert!(
        text.starts_with("(20, 1, 28, 28) torch.float32 (20,) torch.int64"),
        "{text}"
    );
    let torch_sum: f64 = text
        .split_whitespace()
        .nth(7)
        .unwrap()
        .trim_end_matches(',')
        .parse()
        .unwrap();
    assert!(
        (torch_sum - sum).abs() < 1e-3 * sum.abs().max(1.0),
        "{text} vs {sum}"
    );
    assert!(text.contains("[0, 0, 1, 1, 2, 2"), "{text}");
    let lr: f64 = text.split_whitespace().last().unwrap().parse().unwrap();
    assert!((lr - 0.0125).abs() < 1e-7, "{text}");
}

/// The resampling maps: identity cases, flip twice, a one-pixel shift, and agreement with
/// PyTorch's `affine_grid` + `grid_sample` when torch is available.
#[test]
fn augmentation_maps_behave() {
    let _serial = distill_common::serial();
    let dev = device();
    dev.seed(31);
    let x = randn([2, 3, 7, 6], &dev);
    assert_close(
        "scale 1",
        &ResampleMap::affine([7, 6], [1.0, 0.0, 0.0, 1.0]).apply(x.clone()),
        &x,
        1e-6,
    );
    let flip = ResampleMap::flip([7, 6]);
    assert_close("flip twice", &flip.apply(flip.apply(x.clone())), &x, 1e-6);
    let shifted = values(&ResampleMap::shift([7, 6], 1, 0).apply(x.clone()));
    let orig = values(&x);
    assert_eq!(shifted[0], orig[6], "row 0 reads row 1");
    assert_eq!(shifted[6 * 6], 0.0, "the last row is zero fill");
    // Siamese: one sampled augmentation acts on each image independently of the batch.
    let mut rng = StdRng::seed_from_u64(2);
    let dsa = DiffAugConfig::new();
    for op in [
        AugOp::Color,
        AugOp::Crop,
        AugOp::Cutout,
        AugOp::Flip,
        AugOp::Scale,
        AugOp::Rotate,
    ] {
        let aug = dsa.sample_op(op, [7, 6], &mut rng);
        let whole = aug.apply(x.clone());
        let first = aug.apply(x.clone().narrow(0, 0, 1));
        assert_close(
            &format!("{op:?} per image"),
            &whole.narrow(0, 0, 1),
            &first,
            1e-5,
        );
    }
    let per = dsa.augment_batch(x.clone(), &mut rng);
    assert_eq!(per.dims(), [2, 3, 7, 6]);
    // Against PyTorch's bilinear resampling, where available.
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-bench/bin/python");
    let probe = std::process::Command::new(&python)
        .args(["-c", "import torch"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "skipping the grid_sample comparison: no torch at {}",
            python.display()
        );
        return;
    }
    let theta = [1.1, -0.2, 0.25, 0.9];
    let ours = values(&ResampleMap::affine([7, 6], theta).apply(x.clone()));
    let script = format!(
        "import torch, torch.nn.functional as F\nx = torch.tensor({:?}, dtype=torch.float32).reshape(2, 3, 7, 6)\ntheta = torch.tensor([[{}, {}, 0.0], [{}, {}, 0.0]]).expand(2, 2, 3)\ng = F.affine_grid(theta, x.shape, align_corners=False)\nprint(' '.join(repr(float(v)) for v in F.grid_sample(x, g, align_corners=False).flatten()))",
        orig, theta[0], theta[1], theta[2], theta[3]
    );
    let out = std::process::Command::new(&python)
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let torch: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(torch.len(), ours.len());
    let worst = torch
        .iter()
        .zip(&ours)
        .map(|(a, b)| (a - b).abs())
        .fold(0f64, f64::max);
    assert!(worst < 1e-5, "grid_sample differs by {worst}");
    let _ = Tensor::<1>::from_data(TensorData::new(vec![0f32], [1]), &dev);
}
