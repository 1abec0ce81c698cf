//! Peak memory and time of one MTT iteration's gradient against `syn_steps`: the plain unroll
//! (one graph over every step) and the constant-memory walk back (one step's graph at a time).
//!
//! ```text
//! cargo run -p dd-prelude --example mtt_memory                # the table (one process per cell)
//! cargo run -p dd-prelude --example mtt_memory -- plain 20     # one measurement
//! ```
//! Setting: Fashion-MNIST-shaped images (1x28x28, 10 classes), 10 synthetic images per class
//! (every image in every step's batch, as MTT's default), DSA on each step, the DC ConvNet of
//! width 32 (the cpu plan's) or `--width W`. Peak memory is the process's high-water mark of
//! resident memory (`VmHWM`), so each measurement runs in a fresh process.

use std::process::Command;
use std::time::Instant;

use burn::tensor::{Distribution, Tensor};
use dd_prelude::distill::engine::MetaArch;
use dd_prelude::distill::engine::ops::one_hot;
use dd_prelude::distill::{DiffAugConfig, Unroll, trajectory_loss};
use dd_prelude::*;
use rand::SeedableRng;

fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn measure(mode: &str, steps: usize, width: usize) {
    let dev = device();
    dev.seed(0);
    let arch = MetaArch::convnet(&ConvNetConfig::new(10, 1, [28, 28]).with_width(width)).unwrap();
    let start = arch.init(&dev);
    let real = Tensor::<4>::random([100, 1, 28, 28], Distribution::Normal(0.0, 1.0), &dev);
    let labels: Vec<usize> = (0..100).map(|i| i / 10).collect();
    let (_, g) = arch.loss_and_grads(&start, real, &one_hot(&labels, 10, &dev));
    let target = start.sgd_step(&g, 0.05);
    let syn = Tensor::<4>::random([100, 1, 28, 28], Distribution::Normal(0.0, 1.0), &dev);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let unroll = Unroll::new(labels, 10, 100, steps, Some(DiffAugConfig::new()), &mut rng);
    let before = peak_mib();
    let started = Instant::now();
    let loss = match mode {
        "plain" => {
            let images = syn.clone().autodiff().require_grad();
            let lr = Tensor::<1>::from_floats([0.01], &dev)
                .autodiff()
                .require_grad();
            let theta = unroll.run_tracked(&arch, &start, images.clone(), lr.clone());
            let l = trajectory_loss(&theta, &start, &target);
            let value = l.clone().into_scalar::<f64>();
            let grads = l.backward();
            let _ = (images.grad(&grads), lr.grad(&grads));
            value
        }
        _ => {
            unroll
                .grads_constant_memory(&arch, &start, &target, &syn, 0.01)
                .0
        }
    };
    println!(
        "{mode} {steps} {width} {:.1} {:.1} {:.2} {loss:.9e}",
        peak_mib(),
        before,
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let width = args
        .iter()
        .position(|a| a == "--width")
        .and_then(|i| args.get(i + 1))
        .and_then(|w| w.parse().ok())
        .unwrap_or(32);
    if let [mode, steps, ..] = &args[..]
        && mode != "--width"
    {
        measure(mode, steps.parse().expect("syn_steps is a number"), width);
        return;
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "MTT gradient, one iteration: 100 synthetic 1x28x28 images, ConvNet width {width}, DSA; {cpu}, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| syn_steps | plain unroll: peak MiB | constant memory: peak MiB | plain s | constant s | same loss |"
    );
    println!("|---|---|---|---|---|---|");
    let exe = std::env::current_exe().expect("own path");
    for steps in [10, 20, 40] {
        let run = |mode: &str| -> Vec<String> {
            let out = Command::new(&exe)
                .args([mode, &steps.to_string(), "--width", &width.to_string()])
                .output()
                .expect("runs itself");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or("")
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        let (p, c) = (run("plain"), run("constant"));
        if p.len() < 7 || c.len() < 7 {
            println!("| {steps} | failed | failed | | | |");
            continue;
        }
        let (lp, lc): (f64, f64) = (
            p[6].parse().unwrap_or(f64::NAN),
            c[6].parse().unwrap_or(f64::NAN),
        );
        println!(
            "| {steps} | {} | {} | {} | {} | {:.1e} |",
            p[3],
            c[3],
            p[5],
            c[5],
            (lp - lc).abs() / lp.abs()
        );
    }
}
