//! Seconds per DC outer iteration on Fashion-MNIST at width 128 (the `bench_distill`
//! configuration), dd-prelude only: a quick check of a kernel change without the PyTorch side.
//!
//! ```text
//! cargo run --release -p dd-prelude --example dc_iteration            # 10 per class, 1 iteration
//! IPC=1 ITERS=3 cargo run --release -p dd-prelude --example dc_iteration
//! ```
use dd_prelude::distill::{DcConfig, Distiller};
use dd_prelude::*;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let (ipc, iters) = (env("IPC", 10), env("ITERS", 1));
    let dev = device();
    let fm = FashionMnist::load_default()?;
    let dc = DcConfig::new(ipc).with_width(128).with_progress(false);
    let mut run = dc.start(&fm.train, &dev)?;
    for i in 0..iters {
        let t = std::time::Instant::now();
        run.steps(1)?;
        println!(
            "DC {ipc} per class, iteration {i}: {:.2} s",
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
