//! Iterations per second of DM and DC in dd-prelude and in a PyTorch script of the same
//! algorithm and configuration (`bench/distill_reference.py`), on this machine, in this run,
//! and their ratio; plus the meta-gradient engine's cost against a plain training step.
//!
//! ```text
//! nice cargo run --release -p dd-prelude --example bench_distill
//! BENCH_WIDTH=128 BENCH_DM_ITERS=5 BENCH_DC_ITERS=5 DD_BENCH_PYTHON=.venv-bench/bin/python ...
//! ```

use std::process::Command;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::Tensor;
use dd_prelude::distill::engine::MetaArch;
use dd_prelude::distill::engine::ops::one_hot;
use dd_prelude::distill::{DcConfig, Distiller, DmConfig, MatchDistance, match_loss};
use dd_prelude::*;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seconds per call of `f` over `n` calls after one warm-up call.
fn time(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() / n as f64
}

fn main() -> anyhow::Result<()> {
    let width = env("BENCH_WIDTH", 128);
    let dm_ipc = env("BENCH_DM_IPC", 10);
    let dm_iters = env("BENCH_DM_ITERS", 5);
    let dc_ipc = env("BENCH_DC_IPC", 1);
    let dc_iters = env("BENCH_DC_ITERS", 5);
    let dev = device();
    let fm = FashionMnist::load_default()?;
    let data = &fm.train;
    println!(
        "bench_distill: Fashion-MNIST train ({} images), ConvNet width {width} depth 3",
        data.len()
    );

    // --- the engine against a plain training step (batch 256, one class) ---
    let cfg = ConvNetConfig::for_set(data).with_width(width);
    let arch = MetaArch::convnet(&cfg)?;
    let params = arch.init(&dev);
    let idx: Vec<usize> = data.class_indices(0).into_iter().take(256).collect();
    let (real, labels) = data.batch(&idx, &dev);
    let t_real = one_hot(&vec![0; 256], 10, &dev);
    let mut net = cfg.init(&dev).train();
    let mut opt = SgdConfig::new().init();
    let plain_step = time(3, || {
        let loss = cross_entropy(net.forward(real.clone().autodiff()), labels.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(0.01, net.clone(), grads);
    });
    let explicit = time(3, || {
        let (l, _) = arch.loss_and_grads(&params, real.clone(), &t_real);
        let _ = l.into_scalar::<f32>();
    });
    let syn_idx: Vec<usize> = data
        .class_indices(0)
        .into_iter()
        .skip(256)
        .take(10)
        .collect();
    let (syn, _) = data.batch(&syn_idx, &dev);
    let (_, g_real) = arch.loss_and_grads(&params, real.clone(), &t_real);
    let t_syn = one_hot(&[0; 10], 10, &dev).autodiff();
    let meta = time(3, || {
        let leaf = syn.clone().autodiff().require_grad();
        let (_, g_syn) = arch.loss_and_grads(&params.autodiff(), leaf.clone(), &t_syn);
        let loss = match_loss(&g_syn, &g_real, MatchDistance::PerLayer);
        let _: Tensor<4> = leaf.grad(&loss.backward()).unwrap();
    });
    let plain_syn = time(3, || {
        let (sx, sl) = data.batch(&syn_idx, &dev);
        let loss = cross_entropy(net.forward(sx.autodiff()), sl);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = opt.step(0.01, net.clone(), grads);
    });
    println!("engine cost (seconds per call):");
    println!("  plain Burn training step, 256 real images      {plain_step:.4}");
    println!(
        "  explicit-backward gradient, 256 real images    {explicit:.4}  ({:.2}x the training step)",
        explicit / plain_step
    );
    println!("  plain Burn training step, 10 synthetic images  {plain_syn:.4}");
    println!(
        "  meta-gradient of the DC matching, 10 images    {meta:.4}  ({:.2}x the training step on them)",
        meta / plain_syn
    );

    // --- whole iterations ---
    let dm = DmConfig::new(dm_ipc).with_width(width).with_progress(false);
    let mut run = dm.start(data, &dev)?;
    let dm_s = time(dm_iters, || {
        run.steps(1).expect("DM step");
    });
    let dc = DcConfig::new(dc_ipc).with_width(width).with_progress(false);
    let mut run = dc.start(data, &dev)?;
    let dc_s = time(dc_iters, || {
        run.steps(1).expect("DC step");
    });
    println!(
        "dd-prelude: DM ipc {dm_ipc}: {:.3} it/s; DC ipc {dc_ipc}: {:.3} it/s",
        1.0 / dm_s,
        1.0 / dc_s
    );

    // --- the PyTorch reference, same run ---
    let python =
        std::env::var("DD_BENCH_PYTHON").unwrap_or_else(|_| ".venv-bench/bin/python".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/distill_reference.py");
    let out = Command::new(&python)
        .args([
            script,
            "--width",
            &width.to_string(),
            "--dm-ipc",
            &dm_ipc.to_string(),
            "--dm-iters",
            &dm_iters.to_string(),
        ])
        .args([
            "--dc-ipc",
            &dc_ipc.to_string(),
            "--dc-iters",
            &dc_iters.to_string(),
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let line = String::from_utf8_lossy(&o.stdout);
            let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or("{}"))?;
            let (pdm, pdc) = (
                v["dm_it_per_s"].as_f64().unwrap_or(f64::NAN),
                v["dc_it_per_s"].as_f64().unwrap_or(f64::NAN),
            );
            println!(
                "PyTorch {} ({} threads): DM ipc {dm_ipc}: {pdm:.3} it/s; DC ipc {dc_ipc}: {pdc:.3} it/s",
                v["torch"], v["threads"]
            );
            println!("| method | dd-prelude it/s | PyTorch it/s | ratio dd-prelude / PyTorch |");
            println!("|---|---|---|---|");
            println!(
                "| DM ipc {dm_ipc} | {:.3} | {pdm:.3} | {:.2} |",
                1.0 / dm_s,
                (1.0 / dm_s) / pdm
            );
            println!(
                "| DC ipc {dc_ipc} | {:.3} | {pdc:.3} | {:.2} |",
                1.0 / dc_s,
                (1.0 / dc_s) / pdc
            );
        }
        Ok(o) => println!(
            "PyTorch reference failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            println!("PyTorch reference not run ({python}: {e}); install torch in .venv-bench")
        }
    }
    Ok(())
}
