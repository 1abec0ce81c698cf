//! Iterations per second of DM, DC and MTT in dd-prelude and in a PyTorch script of the same
//! algorithm and configuration (`bench/distill_reference.py`), on this machine, in this run,
//! and their ratio; plus the meta-gradient engine's cost against a plain training step.
//!
//! ```text
//! nice cargo run --release -p dd-prelude --example bench_distill
//! BENCH_WIDTH=128 BENCH_DM_ITERS=5 BENCH_DC_ITERS=5 DD_BENCH_PYTHON=.venv-bench/bin/python ...
//! BENCH_MTT_IPC=10 BENCH_MTT_STEPS=20 BENCH_MTT_ITERS=3 ...
//! BENCH_DM_SCALING=64,128,256,512,1024 ...   # DM only, at each real batch per class
//! ```
//! MTT: one iteration is the gradient of the trajectory loss through `syn_steps` SGD steps (all
//! synthetic images in each step's batch, DSA on each) and one step of the images and the step
//! size, from a start point and a target one SGD step away (no expert buffer needed); both
//! dd-prelude's constant-memory gradient and its plain unroll are timed. The PyTorch reference
//! is MTT's `distill.py` unroll (`create_graph=True` through every step).
//!
//! ```text
//! ```

use std::process::Command;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::Tensor;
use dd_prelude::distill::engine::MetaArch;
use dd_prelude::distill::engine::ops::one_hot;
use dd_prelude::distill::{
    DcConfig, DiffAugConfig, Distiller, DmConfig, MatchDistance, Unroll, match_loss,
    trajectory_loss,
};
use dd_prelude::*;

mod common;
use rand::SeedableRng;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Seconds per call of `f` over `n` calls after one warm-up call.
fn time(n: usize, f: impl FnMut()) -> f64 {
    time_and_peak(n, f).secs
}

/// What [`time_and_peak`] measures of the timed calls.
struct Timed {
    /// Seconds per call.
    secs: f64,
    /// Peak resident MiB above what the process held before.
    mib: f64,
    /// GFLOP per call of the CPU convolution kernels ([`dd_prelude::models::conv_flops`]).
    conv_gflop: f64,
}

/// [`time`], the peak resident MiB of the timed calls above what the process held before, and
/// the convolutions' GFLOP per call.
fn time_and_peak(n: usize, mut f: impl FnMut()) -> Timed {
    f();
    let watch = PeakMemory::start();
    let flops = dd_prelude::models::conv_flops();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let secs = t.elapsed().as_secs_f64() / n as f64;
    let conv_gflop = (dd_prelude::models::conv_flops() - flops) as f64 / n as f64 / 1e9;
    Timed {
        secs,
        mib: watch.peak_mib(),
        conv_gflop,
    }
}

/// The PyTorch reference script's command (arguments still to add), and the interpreter's name.
fn reference() -> (String, Command) {
    let python =
        std::env::var("DD_BENCH_PYTHON").unwrap_or_else(|_| ".venv-bench/bin/python".into());
    let mut cmd = Command::new(&python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bench/distill_reference.py"
    ))
    .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    (python, cmd)
}

/// A DM iteration at each real batch per class in `list`, here and in the PyTorch reference:
/// seconds per iteration, per real image, and peak memory.
fn dm_scaling(
    list: &str,
    data: &ImageSet,
    width: usize,
    ipc: usize,
    iters: usize,
    dev: &burn::tensor::Device,
) -> anyhow::Result<()> {
    let reals: Vec<usize> = list
        .split(',')
        .map(|r| r.trim().parse())
        .collect::<Result<_, _>>()?;
    let mut ours = Vec::new();
    for &real in &reals {
        let dm = DmConfig::new(ipc)
            .with_width(width)
            .with_batch_real(real)
            .with_progress(false);
        let mut run = dm.start(data, dev)?;
        ours.push(time_and_peak(iters, || {
            run.steps(1).expect("DM step");
        }));
    }
    let (_, mut reference) = reference();
    let out = reference
        .args(["--width", &width.to_string(), "--dm-ipc", &ipc.to_string()])
        .args(["--dm-iters", &iters.to_string(), "--dm-scaling", list])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "PyTorch reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or("{}"))?;
    println!(
        "DM ipc {ipc}, {iters} iterations each; reference PyTorch {} ({} threads)",
        v["torch"], v["threads"]
    );
    let peak = common::matmul_gflops(dev);
    println!("practical peak: {peak:.0} GFLOP/s (2048x2048 f32 matmul in Burn)");
    println!(
        "| real per class | dd-prelude s/it | ms per real image | PyTorch s/it | ms per real image | ratio dd-prelude / PyTorch (it/s) | dd-prelude peak MiB | PyTorch peak MiB | conv GFLOP/it | dd-prelude % of peak | PyTorch % of peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (i, (&real, t)) in reals.iter().zip(ours).enumerate() {
        let row = &v["dm_scaling"][i];
        let theirs = 1.0 / row["it_per_s"].as_f64().unwrap_or(f64::NAN);
        let images = (real * data.num_classes()) as f64;
        println!(
            "| {real} | {:.3} | {:.3} | {theirs:.3} | {:.3} | {:.2} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} |",
            t.secs,
            1e3 * t.secs / images,
            1e3 * theirs / images,
            theirs / t.secs,
            t.mib,
            row["peak_mib"].as_f64().unwrap_or(f64::NAN),
            t.conv_gflop,
            100.0 * t.conv_gflop / t.secs / peak,
            100.0 * t.conv_gflop / theirs / peak
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let width = env("BENCH_WIDTH", 128);
    let dm_ipc = env("BENCH_DM_IPC", 10);
    let dm_iters = env("BENCH_DM_ITERS", 5);
    let dc_ipc = env("BENCH_DC_IPC", 1);
    let dc_iters = env("BENCH_DC_ITERS", 5);
    let mtt_ipc = env("BENCH_MTT_IPC", 10);
    let mtt_steps = env("BENCH_MTT_STEPS", 20);
    let mtt_iters = env("BENCH_MTT_ITERS", 3);
    let dev = device();
    let fm = FashionMnist::load_default()?;
    let data = &fm.train;
    println!(
        "bench_distill: Fashion-MNIST train ({} images), ConvNet width {width} depth 3; {}",
        data.len(),
        common::cpu_model()
    );
    if let Ok(list) = std::env::var("BENCH_DM_SCALING") {
        return dm_scaling(&list, data, width, dm_ipc, dm_iters, &dev);
    }

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
    let dm_t = time_and_peak(dm_iters, || {
        run.steps(1).expect("DM step");
    });
    let dc = DcConfig::new(dc_ipc).with_width(width).with_progress(false);
    let mut run = dc.start(data, &dev)?;
    let dc_t = time_and_peak(dc_iters, || {
        run.steps(1).expect("DC step");
    });
    // MTT: start and target one SGD step apart on a real batch of 10 per class.
    let real_idx: Vec<usize> = (0..10)
        .flat_map(|c| data.class_indices(c).into_iter().take(10))
        .collect();
    let (real10, _) = data.batch(&real_idx, &dev);
    let real_labels: Vec<usize> = real_idx.iter().map(|&i| data.labels()[i]).collect();
    let start = arch.init(&dev);
    let (_, g) = arch.loss_and_grads(&start, real10, &one_hot(&real_labels, 10, &dev));
    let target = start.sgd_step(&g, 0.05);
    let syn_idx: Vec<usize> = (0..10)
        .flat_map(|c| data.class_indices(c).into_iter().skip(10).take(mtt_ipc))
        .collect();
    let (mut syn, _) = data.batch(&syn_idx, &dev);
    let syn_labels: Vec<usize> = syn_idx.iter().map(|&i| data.labels()[i]).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut lr = 0.01;
    let mtt_cm_t = time_and_peak(mtt_iters, || {
        let unroll = Unroll::new(
            syn_labels.clone(),
            10,
            syn_labels.len(),
            mtt_steps,
            Some(DiffAugConfig::new()),
            &mut rng,
        );
        let (_, di, dl) = unroll.grads_constant_memory(&arch, &start, &target, &syn, lr);
        syn = syn.clone().sub(di.mul_scalar(1000.0));
        lr -= 1e-5 * dl;
    });
    let mtt_plain_t = time_and_peak(mtt_iters, || {
        let unroll = Unroll::new(
            syn_labels.clone(),
            10,
            syn_labels.len(),
            mtt_steps,
            Some(DiffAugConfig::new()),
            &mut rng,
        );
        let images = syn.clone().autodiff().require_grad();
        let lr_leaf = Tensor::<1>::from_floats([lr as f32], &dev)
            .autodiff()
            .require_grad();
        let theta = unroll.run_tracked(&arch, &start, images.clone(), lr_leaf.clone());
        let grads = trajectory_loss(&theta, &start, &target).backward();
        let di = images.grad(&grads).expect("images require grad");
        let dl = lr_leaf
            .grad(&grads)
            .expect("lr requires grad")
            .into_scalar::<f64>();
        syn = syn.clone().sub(di.mul_scalar(1000.0));
        lr -= 1e-5 * dl;
    });
    println!(
        "dd-prelude: DM ipc {dm_ipc}: {:.3} it/s; DC ipc {dc_ipc}: {:.3} it/s; MTT ipc {mtt_ipc} x {mtt_steps} steps: {:.3} it/s constant memory, {:.3} it/s plain unroll",
        1.0 / dm_t.secs,
        1.0 / dc_t.secs,
        1.0 / mtt_cm_t.secs,
        1.0 / mtt_plain_t.secs
    );

    // --- the PyTorch reference, same run ---
    let (python, mut reference) = reference();
    let out = reference
        .args([
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
        .args([
            "--mtt-ipc",
            &mtt_ipc.to_string(),
            "--mtt-steps",
            &mtt_steps.to_string(),
            "--mtt-iters",
            &mtt_iters.to_string(),
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let line = String::from_utf8_lossy(&o.stdout);
            let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or("{}"))?;
            let (pdm, pdc, pmtt) = (
                v["dm_it_per_s"].as_f64().unwrap_or(f64::NAN),
                v["dc_it_per_s"].as_f64().unwrap_or(f64::NAN),
                v["mtt_it_per_s"].as_f64().unwrap_or(f64::NAN),
            );
            println!(
                "PyTorch {} ({} threads): DM ipc {dm_ipc}: {pdm:.3} it/s; DC ipc {dc_ipc}: {pdc:.3} it/s",
                v["torch"], v["threads"]
            );
            let mib = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            let peak = common::matmul_gflops(&dev);
            println!(
                "practical peak: {peak:.0} GFLOP/s (2048x2048 f32 matmul in Burn); % of peak: the convolution FLOPs dd-prelude's kernels ran per iteration over each side's time (the same algorithm runs the same convolutions)"
            );
            println!(
                "| method | dd-prelude it/s | PyTorch it/s | ratio dd-prelude / PyTorch | dd-prelude peak MiB | PyTorch peak MiB | conv GFLOP/it | dd-prelude % of peak | PyTorch % of peak |"
            );
            println!("|---|---|---|---|---|---|---|---|---|");
            for (name, t, theirs, theirs_mib) in [
                (format!("DM ipc {dm_ipc}"), &dm_t, pdm, mib("dm_peak_mib")),
                (format!("DC ipc {dc_ipc}"), &dc_t, pdc, mib("dc_peak_mib")),
                (
                    format!("MTT ipc {mtt_ipc}, {mtt_steps} steps, constant memory"),
                    &mtt_cm_t,
                    pmtt,
                    mib("mtt_peak_mib"),
                ),
                (
                    format!("MTT ipc {mtt_ipc}, {mtt_steps} steps, plain unroll"),
                    &mtt_plain_t,
                    pmtt,
                    mib("mtt_peak_mib"),
                ),
            ] {
                println!(
                    "| {name} | {:.3} | {theirs:.3} | {:.2} | {:.0} | {theirs_mib:.0} | {:.1} | {:.1} | {:.1} |",
                    1.0 / t.secs,
                    (1.0 / t.secs) / theirs,
                    t.mib,
                    t.conv_gflop,
                    100.0 * t.conv_gflop / t.secs / peak,
                    100.0 * t.conv_gflop * theirs / peak
                );
            }
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
