//! A distiller written outside the crate's `distill` module, as a notebook cell would write
//! one, runs through the one outer loop: learnable images plus its own learnable tensors (soft
//! labels, a step size), checkpoint and resume, and a saved set that keeps its soft labels.

use std::sync::Mutex;

use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};
use dd_prelude::distill::{Ctx, DistillCommon, Method, RealPool, SynState, SyntheticSet, run};
use dd_prelude::*;

static SERIAL: Mutex<()> = Mutex::new(());

/// Pulls each class's synthetic images towards the mean of a real batch of that class, and
/// learns soft-label logits (towards a fixed 90/10 split) and a positive step size, each with
/// its own optimizer settings.
struct MeanMatch {
    batch: usize,
}

impl Method for MeanMatch {
    fn name(&self) -> &'static str {
        "MeanMatch"
    }

    fn config_json(&self) -> serde_json::Value {
        serde_json::json!({ "batch": self.batch })
    }

    fn lr_images(&self, it: usize) -> f64 {
        if it < 2 { 0.2 } else { 0.1 }
    }

    fn init_state(&self, state: &mut SynState, real: &RealPool) -> dd_prelude::Result<()> {
        let n = state.classes * state.ipc;
        let dev = state.images().device();
        let logits = Tensor::<2>::zeros([n, real.num_classes()], &dev);
        state.add("label_logits", logits, 0.5, 0.9)?;
        state.add("lr", Tensor::<1>::from_floats([0.01], &dev), 1e-3, 0.0)
    }

    fn iteration(&mut self, ctx: &mut Ctx<'_>) -> dd_prelude::Result<f64> {
        let classes = ctx.real.num_classes();
        let mut grads = Vec::new();
        let mut loss_sum = 0.0;
        for c in 0..classes {
            let real = ctx.real.batch(c, self.batch, &mut ctx.rng).mean_dim(0);
            let syn = ctx.syn.class_leaf(c);
            let loss = (syn.clone() - real).square().sum();
            loss_sum += loss.clone().into_scalar::<f32>() as f64;
            grads.push(syn.grad(&loss.backward()).expect("images require grad"));
        }
        let lr = ctx.lr;
        ctx.syn.step(Tensor::cat(grads, 0), lr);
        // Soft labels: cross-entropy of softmax(logits) against 0.9 on the own class.
        let logits = ctx.syn.leaf_of::<2>("label_logits");
        let n = ctx.syn.classes * ctx.syn.ipc;
        let target: Vec<f32> = ctx
            .syn
            .labels()
            .iter()
            .flat_map(|&l| {
                (0..classes).map(move |k| {
                    if k == l {
                        0.9
                    } else {
                        0.1 / (classes - 1) as f32
                    }
                })
            })
            .collect();
        let target = Tensor::<2>::from_data(TensorData::new(target, [n, classes]), ctx.device);
        let ce = soft_cross_entropy(logits.clone(), target);
        let g = logits.grad(&ce.backward()).expect("logits require grad");
        ctx.syn.step_named("label_logits", g);
        // Step size: minimise (lr - 0.05)^2.
        let step = ctx.syn.leaf_of::<1>("lr");
        let l = (step.clone() - 0.05).square().sum();
        let g = step.grad(&l.backward()).expect("lr requires grad");
        ctx.syn.step_named("lr", g);
        Ok(loss_sum / classes as f64)
    }

    fn soft_labels(&self, state: &SynState) -> Option<Tensor<2>> {
        Some(softmax(state.get::<2>("label_logits"), 1))
    }

    fn learned_lr(&self, state: &SynState) -> Option<f64> {
        Some(state.get::<1>("lr").into_scalar::<f32>() as f64)
    }
}

fn data() -> ImageSet {
    let n = 24;
    let px: Vec<f32> = (0..n * 16)
        .map(|i| ((i * 7 + i / 16) % 13) as f32 / 13.0)
        .collect();
    let labels = (0..n).map(|i| i % 3).collect();
    ImageSet::from_pixels(
        "toy",
        [1, 4, 4],
        px,
        labels,
        vec!["a".into(), "b".into(), "c".into()],
    )
    .unwrap()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

#[test]
fn outside_method_runs_checkpoints_and_resumes_exactly() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dev = device();
    let data = data();
    let dir = std::env::temp_dir().join(format!("dd-plugin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = |ckpt: Option<String>| {
        DistillCommon::new()
            .with_seed(11)
            .with_checkpoint(ckpt)
            .with_checkpoint_every(1)
            .with_progress(false)
    };

    // Uninterrupted: 6 iterations.
    let mut straight = run(MeanMatch { batch: 4 }, 2, &settings(None), &data, &dev).unwrap();
    straight.steps(6).unwrap();
    let want = straight.synthetic();

    // Interrupted: 4 iterations with a checkpoint, a fresh run resumes for 2 more.
    let ckpt = dir.join("meanmatch.ckpt").to_string_lossy().into_owned();
    {
        let mut first = run(
            MeanMatch { batch: 4 },
            2,
            &settings(Some(ckpt.clone())),
            &data,
            &dev,
        )
        .unwrap();
        first.steps(4).unwrap();
    }
    let mut resumed = run(
        MeanMatch { batch: 4 },
        2,
        &settings(Some(ckpt.clone())),
        &data,
        &dev,
    )
    .unwrap();
    assert_eq!(
        resumed.iterations(),
        4,
        "resumed at the checkpoint's iteration"
    );
    resumed.steps(2).unwrap();
    let got = resumed.synthetic();
    assert_eq!(got.images, want.images, "images continue exactly");
    assert_eq!(
        got.soft_labels, want.soft_labels,
        "soft labels continue exactly"
    );
    assert_eq!(got.lr, want.lr, "the step size continues exactly");
    let losses = |r: &dyn dd_prelude::distill::DistillRun| {
        r.history().iter().map(|h| h.loss).collect::<Vec<_>>()
    };
    // (the history before the checkpoint went through JSON: equal to the last digit or two)
    for (a, b) in losses(&*resumed).iter().zip(losses(&*straight)) {
        assert!((a - b).abs() <= 1e-12 * b.abs(), "{a} vs {b}");
    }

    // What the extra tensors learned: soft labels near 0.9 on the own class, lr towards 0.05.
    let soft = got.soft_labels.clone().unwrap();
    assert_eq!(soft.len(), 6 * 3);
    for (row, &l) in soft.chunks(3).zip(&got.labels) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(row[l] > 0.6, "own class {row:?}");
    }
    let lr = got.lr.unwrap();
    assert!(lr > 0.01 && lr < 0.05, "lr {lr}");
    // The images moved towards the class means: the loss fell.
    let h = straight.history();
    assert!(h[5].loss < h[0].loss, "{} -> {}", h[0].loss, h[5].loss);

    // A checkpoint of another configuration is refused by name.
    let err = match run(
        MeanMatch { batch: 5 },
        2,
        &settings(Some(ckpt.clone())),
        &data,
        &dev,
    ) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("resumed a checkpoint of another configuration"),
    };
    assert!(err.contains("another method or configuration"), "{err}");

    // The saved set keeps its soft labels and step size, and scores on them.
    let file = got.save(dir.join("set")).unwrap();
    let back = SyntheticSet::load(&file).unwrap();
    assert_eq!(back, got);
    let soft_set = back.to_soft_set().unwrap();
    assert_eq!(soft_set.soft_targets().unwrap(), &soft[..]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn state_refuses_taken_names_and_bad_settings() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dev = device();
    let data = data();
    let real = RealPool::new(&data, &dev).unwrap();
    let mut state = SynState::init(&real, 1, dd_prelude::distill::Init::Real, 0.5, 0);
    let t = Tensor::<1>::zeros([2], &dev);
    assert!(state.add("images", t.clone(), 0.1, 0.0).is_err());
    state.add("x", t.clone(), 0.1, 0.0).unwrap();
    assert!(state.add("x", t.clone(), 0.1, 0.0).is_err());
    assert!(state.add("y", t.clone(), f64::NAN, 0.0).is_err());
    assert!(state.add("z", t, 0.1, 1.0).is_err());
    assert_eq!(state.names(), vec!["x".to_string()]);
    assert_eq!(values(state.get::<1>("x")), vec![0.0, 0.0]);
    assert!(DistillCommon::new().with_momentum(1.5).check("M").is_err());
}

/// Rewrites the checkpoint at `path` with one metadata entry replaced.
fn tamper(path: &std::path::Path, key: &str, value: &str) {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    meta.insert(key.to_string(), value.to_string());
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let out = safetensors::tensor::serialize(st.tensors(), Some(meta)).unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn checkpoints_refuse_other_data_and_impossible_iterations() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dev = device();
    let data = data();
    let dir = std::env::temp_dir().join(format!("dd-plugin-ckpt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ckpt = dir.join("run.ckpt");
    let settings = DistillCommon::new()
        .with_checkpoint(Some(ckpt.to_string_lossy().into_owned()))
        .with_progress(false);
    run(MeanMatch { batch: 4 }, 2, &settings, &data, &dev)
        .unwrap()
        .steps(2)
        .unwrap();
    // The same name, shape and classes, other pixels: not the data the run was made on.
    let mut px: Vec<f32> = (0..24 * 16).map(|i| ((i * 5) % 11) as f32 / 11.0).collect();
    px[0] = 0.5;
    let other = ImageSet::from_pixels(
        "toy",
        [1, 4, 4],
        px,
        (0..24).map(|i| i % 3).collect(),
        vec!["a".into(), "b".into(), "c".into()],
    )
    .unwrap();
    let err = match run(MeanMatch { batch: 4 }, 2, &settings, &other, &dev) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("resumed on other data"),
    };
    assert!(err.contains("made on other data"), "{err}");
    // A checkpoint that claims more iterations than it records is refused, not trusted.
    tamper(&ckpt, "iteration", "1000000000000");
    let err = match run(MeanMatch { batch: 4 }, 2, &settings, &data, &dev) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("trusted an impossible iteration count"),
    };
    assert!(
        err.contains("claims 1000000000000 iterations but records 2"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
