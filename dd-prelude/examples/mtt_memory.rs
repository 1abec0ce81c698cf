//! Peak memory and time of one MTT iteration's gradient against `syn_steps`: the plain unroll
//! (one graph over every step) and the constant-memory walk back (one step's graph at a time).
//!
//! ```text
//! cargo run -p dd-prelude --example mtt_memory                # the table (one process per cell)
//! cargo run -p dd-prelude --example mtt_memory -- plain 20     # one measurement
//! cargo run -p dd-prelude --example mtt_memory -- --in-process # the notebook's table, one process
//! ```
//! Setting: Fashion-MNIST (the embedded default data), 10 synthetic images per class (every
//! image in every step's batch, as MTT's default), DSA on each step, the DC ConvNet of width 32
//! (the cpu plan's) or `--width W`. Peak memory is the resident memory above what the process
//! held before the gradient, at its high-water mark ([`MttConfig::unroll_cost`]); by default
//! each measurement runs in a fresh process, so no allocator cache carries over.

use std::process::Command;

use dd_prelude::distill::MttConfig;
use dd_prelude::*;

fn config(width: usize) -> MttConfig {
    MttConfig::new(10, String::new()).with_width(width)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let width = args
        .iter()
        .position(|a| a == "--width")
        .and_then(|i| args.get(i + 1))
        .and_then(|w| w.parse().ok())
        .unwrap_or(32);
    let steps_list = [10, 20, 40];
    if let [mode, steps, ..] = &args[..]
        && (mode == "plain" || mode == "constant")
    {
        let data = FashionMnist::load_default()?.train;
        let steps = steps.parse().expect("syn_steps is a number");
        let c = config(width).unroll_cost(&data, steps, mode == "constant", &device())?;
        println!(
            "{mode} {steps} {width} {:.1} {:.2} {:.9e}",
            c.peak_mib, c.seconds, c.loss
        );
        return Ok(());
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
        "MTT gradient, one iteration: 100 synthetic Fashion-MNIST images, ConvNet width {width}, DSA; {cpu}, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if args.iter().any(|a| a == "--in-process") {
        let data = FashionMnist::load_default()?.train;
        println!(
            "{}",
            config(width)
                .memory_table(&data, &steps_list, &device())?
                .frame()
        );
        return Ok(());
    }
    println!(
        "| syn_steps | plain unroll: peak MiB | constant memory: peak MiB | plain s | constant s | loss relative difference |"
    );
    println!("|---|---|---|---|---|---|");
    let exe = std::env::current_exe().expect("own path");
    for steps in steps_list {
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
        if p.len() < 6 || c.len() < 6 {
            println!("| {steps} | failed | failed | | | |");
            continue;
        }
        let (lp, lc): (f64, f64) = (
            p[5].parse().unwrap_or(f64::NAN),
            c[5].parse().unwrap_or(f64::NAN),
        );
        println!(
            "| {steps} | {} | {} | {} | {} | {:.1e} |",
            p[3],
            c[3],
            p[4],
            c[4],
            (lp - lc).abs() / lp.abs()
        );
    }
    Ok(())
}
