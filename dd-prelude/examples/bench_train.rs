//! Training throughput of dd-prelude against a PyTorch reference, in one run on one machine.
//!
//! Trains the DC ConvNet (depth 3, instance norm, average pooling) on the same Fashion-MNIST
//! images with the same optimiser (SGD, momentum 0.9, weight decay 5e-4, constant lr) and batch
//! size, first through `dd_prelude::fit`, then through `bench/train_convnet.py` (CPU PyTorch
//! from `.venv-bench`, see scripts/bench-setup.sh), for every width and batch size asked for,
//! and prints one table row per pair: images per second of both, their ratio, the peak memory
//! of each training (above what the process held before it), and the FLOP rate of the
//! convolutions and the linear layer ([`ConvNetConfig::flops_per_image`]) as a fraction of the
//! machine's practical peak: the faster of Burn's and PyTorch's 2048x2048 f32 matrix product.
//!
//! ```text
//! cargo run --release -p dd-prelude --example bench_train -- --images 4096 --epochs 2 --batch 128
//! cargo run --release -p dd-prelude --example bench_train -- --images 1024 --epochs 1 --batch 16,64,256 --width 32,128
//! ```
//! `DD_BENCH_PYTHON` overrides the Python interpreter.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use dd_prelude::*;

mod common;
use common::cpu_model;

struct Args {
    images: usize,
    epochs: usize,
    batches: Vec<usize>,
    widths: Vec<usize>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        images: 4096,
        epochs: 2,
        batches: vec![128],
        widths: vec![128],
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let raw = it.next().with_context(|| format!("{flag} needs a value"))?;
        let values = raw
            .split(',')
            .map(|v| v.trim().parse::<usize>().ok().filter(|&v| v > 0))
            .collect::<Option<Vec<usize>>>()
            .with_context(|| format!("{flag} takes positive integers (comma-separated)"))?;
        match flag.as_str() {
            "--images" => a.images = values[0],
            "--epochs" => a.epochs = values[0],
            "--batch" => a.batches = values,
            "--width" => a.widths = values,
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

struct Ours {
    images_per_s: f64,
    peak_mib: f64,
    loss: f64,
}

fn train_ours(
    set: &ImageSet,
    width: usize,
    batch: usize,
    epochs: usize,
    dev: &Device,
) -> Result<Ours> {
    let net_cfg = ConvNetConfig::for_set(set).with_width(width);
    let fit_cfg = FitConfig::new()
        .with_epochs(epochs)
        .with_batch_size(batch)
        .with_schedule(Schedule::Constant)
        .with_progress(false);
    // warm-up: a few steps, so one-off allocation and kernel set-up are not timed
    dev.seed(0);
    let warm = set.subset(&(0..3 * batch).map(|i| i % set.len()).collect::<Vec<_>>());
    fit(
        net_cfg.init(dev),
        &warm,
        &fit_cfg.clone().with_epochs(1),
        dev,
    )?;
    dev.seed(0);
    let watch = PeakMemory::start();
    let trained = fit(net_cfg.init(dev), set, &fit_cfg, dev)?;
    let peak_mib = watch.peak_mib();
    let secs: f64 = trained.history.records().iter().map(|r| r.seconds).sum();
    Ok(Ours {
        images_per_s: (set.len() * epochs) as f64 / secs,
        peak_mib,
        loss: trained.history.last().map(|r| r.loss).unwrap_or(f64::NAN),
    })
}

fn train_reference(
    data: &Path,
    width: usize,
    batch: usize,
    epochs: usize,
) -> Result<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/train_convnet.py");
    let py = python();
    let output = Command::new(&py)
        .arg(&script)
        .args(["--data", data.to_str().context("temp path is not UTF-8")?])
        .args(["--width", &width.to_string()])
        .args(["--batch", &batch.to_string()])
        .args(["--epochs", &epochs.to_string()])
        .output()
        .with_context(|| {
            format!(
                "running {} (set DD_BENCH_PYTHON or run scripts/bench-setup.sh)",
                py.display()
            )
        })?;
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
    serde_json::from_str(line).with_context(|| format!("reading {line:?}"))
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let dev = device();
    let fm = FashionMnist::load_default()?;
    let set = fm.train.subset(&fm.train.stratified(args.images, 0));
    let data = std::env::temp_dir().join(format!("dd-bench-{}.bin", std::process::id()));
    write_set(&set, &data)?;
    let ours_peak = common::matmul_gflops(&dev);
    println!(
        "bench: DC ConvNet (depth 3) on {} Fashion-MNIST images, {} epochs, SGD momentum 0.9; {}",
        set.len(),
        args.epochs,
        cpu_model()
    );
    let mut rows = Vec::new();
    let mut framework = String::from("PyTorch");
    let mut peak = ours_peak;
    for &width in &args.widths {
        for &batch in &args.batches {
            let ours = train_ours(&set, width, batch, args.epochs, &dev)?;
            let theirs = match train_reference(&data, width, batch, args.epochs) {
                Ok(v) => v,
                Err(e) => {
                    let _ = std::fs::remove_file(&data);
                    return Err(e);
                }
            };
            let f = |k: &str| theirs[k].as_f64().unwrap_or(f64::NAN);
            framework = format!(
                "{} ({} threads)",
                theirs["framework"].as_str().unwrap_or("pytorch"),
                theirs["threads"]
            );
            peak = peak.max(f("matmul_gflops"));
            let (_, flops) = ConvNetConfig::for_set(&set)
                .with_width(width)
                .flops_per_image();
            println!(
                "width {width} batch {batch}: dd-prelude {:.1} images/s (loss {:.4}), PyTorch {:.1} images/s (loss {:.4})",
                ours.images_per_s,
                ours.loss,
                f("images_per_s"),
                f("final_loss")
            );
            rows.push((width, batch, ours, f("images_per_s"), f("peak_mib"), flops));
        }
    }
    let _ = std::fs::remove_file(&data);
    println!(
        "practical peak: {peak:.0} GFLOP/s (2048x2048 f32 matmul; Burn {ours_peak:.0}); reference {framework}"
    );
    println!(
        "| width | batch | dd-prelude images/s | PyTorch images/s | ratio | dd-prelude peak MiB | PyTorch peak MiB | dd-prelude % of peak | PyTorch % of peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (width, batch, ours, theirs, their_mib, flops) in rows {
        println!(
            "| {width} | {batch} | {:.1} | {:.1} | {:.2} | {:.0} | {:.0} | {:.1} | {:.1} |",
            ours.images_per_s,
            theirs,
            ours.images_per_s / theirs,
            ours.peak_mib,
            their_mib,
            100.0 * ours.images_per_s * flops / 1e9 / peak,
            100.0 * theirs * flops / 1e9 / peak
        );
    }
    Ok(())
}
