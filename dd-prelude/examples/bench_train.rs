//! Training throughput of dd-prelude against a PyTorch reference, in one run on one machine.
//!
//! Trains the DC ConvNet (width 128, depth 3, instance norm, average pooling) on the same
//! Fashion-MNIST images with the same optimiser (SGD, momentum 0.9, weight decay 5e-4,
//! constant lr) and batch size, first through `dd_prelude::fit`, then through
//! `bench/train_convnet.py` (CPU PyTorch from `.venv-bench`, see scripts/bench-setup.sh), and
//! prints images per second for both and their ratio.
//!
//! ```text
//! nice cargo run --release --example bench_train -- --images 4096 --epochs 2 --batch 128
//! ```
//! `DD_BENCH_PYTHON` overrides the Python interpreter.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use dd_prelude::*;

struct Args {
    images: usize,
    epochs: usize,
    batch: usize,
    width: usize,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        images: 4096,
        epochs: 2,
        batch: 128,
        width: 128,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value: usize = it
            .next()
            .with_context(|| format!("{flag} needs a value"))?
            .parse()
            .with_context(|| format!("{flag} takes a positive integer"))?;
        match flag.as_str() {
            "--images" => a.images = value,
            "--epochs" => a.epochs = value,
            "--batch" => a.batch = value,
            "--width" => a.width = value,
            other => bail!("unknown flag {other}; flags: --images --epochs --batch --width"),
        }
    }
    Ok(a)
}

/// Writes the set in the layout `train_convnet.py` reads.
fn write_set(set: &ImageSet, path: &Path) -> Result<()> {
    let [c, h, w] = set.image_shape();
    let mut out = Vec::with_capacity(20 + set.images().len() * 4 + set.len() * 4);
    for v in [set.len(), c, h, w, set.num_classes()] {
        out.extend_from_slice(&(v as u32).to_le_bytes());
    }
    for v in set.images() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for &l in set.labels() {
        out.extend_from_slice(&(l as u32).to_le_bytes());
    }
    std::fs::File::create(path)?.write_all(&out)?;
    Ok(())
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("DD_BENCH_PYTHON") {
        return p.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-bench/bin/python")
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let dev = device();
    let fm = FashionMnist::load_default()?;
    let set = fm.train.subset(&fm.train.stratified(args.images, 0));
    let net_cfg = ConvNetConfig::for_set(&set).with_width(args.width);
    let fit_cfg = FitConfig::new()
        .with_epochs(args.epochs)
        .with_batch_size(args.batch)
        .with_schedule(Schedule::Constant)
        .with_progress(false);
    println!(
        "bench: ConvNet width {} on {} Fashion-MNIST images, batch {}, {} epochs, SGD momentum 0.9",
        args.width,
        set.len(),
        args.batch,
        args.epochs
    );

    // warm-up: a few steps, so one-off allocation and kernel set-up are not timed
    dev.seed(0);
    let warm = set.subset(
        &(0..3 * args.batch.min(set.len()))
            .map(|i| i % set.len())
            .collect::<Vec<_>>(),
    );
    fit(
        net_cfg.init(&dev),
        &warm,
        &fit_cfg.clone().with_epochs(1),
        &dev,
    )?;

    dev.seed(0);
    let trained = fit(net_cfg.init(&dev), &set, &fit_cfg, &dev)?;
    let secs: f64 = trained.history.records().iter().map(|r| r.seconds).sum();
    let ours = (set.len() * args.epochs) as f64 / secs;
    println!(
        "dd-prelude (burn 0.22 flex): {:.1} images/s ({} images in {:.1}s, final loss {:.4})",
        ours,
        set.len() * args.epochs,
        secs,
        trained.history.last().map(|r| r.loss).unwrap_or(f64::NAN)
    );

    let data = std::env::temp_dir().join(format!("dd-bench-{}.bin", std::process::id()));
    write_set(&set, &data)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/train_convnet.py");
    let py = python();
    let output = Command::new(&py)
        .arg(&script)
        .args(["--data", data.to_str().context("temp path is not UTF-8")?])
        .args(["--width", &args.width.to_string()])
        .args(["--batch", &args.batch.to_string()])
        .args(["--epochs", &args.epochs.to_string()])
        .output()
        .with_context(|| {
            format!(
                "running {} (set DD_BENCH_PYTHON or run scripts/bench-setup.sh)",
                py.display()
            )
        });
    let _ = std::fs::remove_file(&data);
    let output = output?;
    if !output.status.success() {
        bail!(
            "the PyTorch reference failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .context("the PyTorch reference printed nothing")?;
    let reference: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("reading {line:?}"))?;
    let theirs = reference["images_per_s"]
        .as_f64()
        .context("no images_per_s")?;
    println!(
        "{} ({} threads): {:.1} images/s ({} images in {:.1}s, final loss {:.4})",
        reference["framework"].as_str().unwrap_or("pytorch"),
        reference["threads"],
        theirs,
        reference["images"],
        reference["seconds"].as_f64().unwrap_or(f64::NAN),
        reference["final_loss"].as_f64().unwrap_or(f64::NAN)
    );
    println!("ratio dd-prelude / PyTorch: {:.2}", ours / theirs);
    Ok(())
}
