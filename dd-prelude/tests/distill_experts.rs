//! Expert buffers and MTT end to end: `dd-experts` jobs in separate processes write the same
//! files as one job; a stopped expert resumes to the same bytes; a buffer is refused for other
//! data; MTT runs on a buffer, learns its step size, and resumes from a checkpoint exactly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use dd_prelude::distill::{DistillRun, Distiller, ExpertBuffer, ExpertConfig, MttConfig};
use dd_prelude::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-experts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every file under `dir` (relative path, bytes), sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn cli(dir: &Path, which: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_dd-experts"))
        .args(["--dir", dir.to_str().unwrap()])
        .args(which)
        .args([
            "--epochs", "2", "--width", "4", "--depth", "1", "--images", "120", "--batch", "32",
            "--quiet",
        ])
        .env("DD_SCALE", "smoke")
        .output()
        .expect("dd-experts runs");
    assert!(
        out.status.success(),
        "dd-experts {which:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn expert_jobs_in_separate_processes_write_what_one_job_writes() {
    let split = tmp("split");
    let joint = tmp("joint");
    cli(&split, &["--expert", "1"]);
    cli(&split, &["--expert", "0"]);
    cli(&joint, &["--experts", "2"]);
    let (a, b) = (files(&split), files(&joint));
    assert_eq!(
        a.len(),
        1 + 2 * 3,
        "manifest + 2 experts x 3 epoch files: {:?}",
        a.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs between the split and the joint run");
    }
    // The two experts differ from each other (their own initial networks and batches).
    let e0 = std::fs::read(split.join("expert_0000/epoch_0002.safetensors")).unwrap();
    let e1 = std::fs::read(split.join("expert_0001/epoch_0002.safetensors")).unwrap();
    assert_ne!(e0, e1);
    // A bad option is refused by name.
    let out = Command::new(env!("CARGO_BIN_EXE_dd-experts"))
        .args(["--dir", split.to_str().unwrap(), "--expert", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--expert takes a whole number"));
    let _ = std::fs::remove_dir_all(&split);
    let _ = std::fs::remove_dir_all(&joint);
}

fn toy() -> ImageSet {
    let n = 30;
    let px: Vec<f32> = (0..n * 64)
        .map(|i| (((i * 13 + i / 64 * 7) % 17) as f32) / 17.0)
        .collect();
    ImageSet::from_pixels(
        "toy",
        [1, 8, 8],
        px,
        (0..n).map(|i| i % 3).collect(),
        vec!["a".into(), "b".into(), "c".into()],
    )
    .unwrap()
}

fn expert_cfg() -> ExpertConfig {
    ExpertConfig::new()
        .with_epochs(4)
        .with_width(4)
        .with_depth(1)
        .with_batch_size(10)
        .with_progress(false)
}

#[test]
fn a_stopped_expert_resumes_to_the_same_files_and_other_data_is_refused() {
    let _serial = serial();
    let dev = device();
    let data = toy();
    let dir = tmp("resume");
    let buffer = expert_cfg().train_experts(0..1, &data, &dir, &dev).unwrap();
    let want = files(&dir);
    // The job stops after epoch 2: the last two epoch files are gone.
    for e in [3, 4] {
        std::fs::remove_file(dir.join(format!("expert_0000/epoch_{e:04}.safetensors"))).unwrap();
    }
    assert!(buffer.complete_experts().unwrap().is_empty());
    expert_cfg().train_expert(0, &data, &dir, &dev).unwrap();
    assert!(
        files(&dir) == want,
        "resumed expert differs from the uninterrupted one"
    );
    assert_eq!(buffer.complete_experts().unwrap(), vec![0]);
    // Loading gives the saved parameters; training moved them.
    let (first, last) = (
        buffer.load(0, 0, &dev).unwrap(),
        buffer.load(0, 4, &dev).unwrap(),
    );
    let moved: f32 = first
        .zip_map(&last, |a, b| a.sub(b))
        .squared_norm()
        .into_scalar();
    assert!(moved > 0.0);
    // Other data, or another config into the same folder, are refused by name.
    let other = data.subset(&(0..29).collect::<Vec<_>>()).named("toy");
    let err = buffer.check_data(&other).unwrap_err().to_string();
    assert!(err.contains("trained on toy (30 images)"), "{err}");
    let err = expert_cfg()
        .with_lr(0.5)
        .train_expert(1, &data, &dir, &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("another configuration or data"), "{err}");
    let err = ExpertBuffer::open(tmp("none")).unwrap_err().to_string();
    assert!(err.contains("train experts first"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mtt_runs_on_a_buffer_and_resumes_exactly() {
    let _serial = serial();
    let dev = device();
    let data = toy();
    let dir = tmp("mtt");
    expert_cfg().train_experts(0..2, &data, &dir, &dev).unwrap();
    let buffer = dir.to_string_lossy().into_owned();
    let cfg = |constant_memory: bool| {
        MttConfig::new(2, buffer.clone())
            .with_width(4)
            .with_depth(1)
            .with_syn_steps(3)
            .with_max_start_epoch(2)
            .with_expert_epochs(2)
            .with_lr_images(10.0)
            .with_lr_lr(1e-3)
            .with_constant_memory(constant_memory)
            .with_iterations(4)
            .with_progress(false)
    };
    // The constant-memory and the plain-unroll iteration take the same step (to f32
    // round-off; tests/distill_mtt.rs checks the gradients to 1e-10 in f64).
    let one = |cm: bool| cfg(cm).with_iterations(1).distill(&data, &dev).unwrap();
    let (cm1, plain1) = (one(true), one(false));
    let worst = cm1
        .images
        .iter()
        .zip(&plain1.images)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-4,
        "constant-memory and plain iterations differ by {worst}"
    );
    assert!((cm1.lr.unwrap() - plain1.lr.unwrap()).abs() < 1e-7);
    let cm = cfg(true).distill(&data, &dev).unwrap();
    let lr = cm.lr.expect("MTT learns its step size");
    assert!(lr.is_finite() && lr != 0.01, "learned lr {lr}");
    let moved = cm.images.iter().zip(&cm1.images).any(|(a, b)| a != b);
    assert!(moved, "the images keep moving after the first iteration");
    // Checkpoint after 2 iterations, resume for 2 more: the same set as 4 straight.
    let ckpt = dir.join("mtt.ckpt").to_string_lossy().into_owned();
    let with_ckpt = cfg(true)
        .with_checkpoint(Some(ckpt))
        .with_checkpoint_every(1);
    {
        let mut first: Box<dyn DistillRun> = with_ckpt.start(&data, &dev).unwrap();
        first.steps(2).unwrap();
    }
    let mut resumed = with_ckpt.start(&data, &dev).unwrap();
    assert_eq!(resumed.iterations(), 2);
    let end = resumed.steps(2).unwrap().synthetic();
    assert_eq!(end.images, cm.images);
    assert_eq!(end.lr, cm.lr);
    assert!(
        resumed
            .history()
            .iter()
            .all(|r| r.loss.is_finite() && r.loss > 0.0)
    );
    // A buffer too short for the schedule, or of another width, is refused by name.
    let err = cfg(true)
        .with_max_start_epoch(4)
        .start(&data, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("max_start_epoch"), "{err}");
    let err = cfg(true)
        .with_width(8)
        .start(&data, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("width 4 depth 1"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
