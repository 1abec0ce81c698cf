//! Continues the cpu notebook's DM run at 10 images per class to more iterations and scores it
//! under a longer, DSA-augmented protocol: what the notebook's figure would become with more
//! distillation and the DM paper's evaluation augmentation.
//!
//! ```text
//! cp reports/checkpoints/fashion-mnist-dm-ipc10-cpu.safetensors /tmp/dm10.safetensors
//! cargo run --release -p dd-prelude --example dm_longer -- /tmp/dm10.safetensors 1000 500
//! ```
//!
//! Arguments: a checkpoint to resume (a copy, since it is extended in place), the iterations
//! to reach, the epochs of each of the 5 scoring networks (ConvNet width 32, DSA augmentation).

use dd_prelude::distill::distill_and_evaluate;
use dd_prelude::*;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() == 3,
        "usage: dm_longer <checkpoint> <iterations> <epochs>"
    );
    let dev = device();
    let plan = DistillPlan::for_scale(Scale::Cpu);
    let fm = FashionMnist::load_default()?;
    let test = plan.test_set(&fm.test);
    let dm = plan
        .dm(10)
        .with_iterations(args[1].parse()?)
        .with_checkpoint(Some(args[0].clone()))
        .with_progress(false);
    let preset = plan
        .preset()
        .with_epochs(args[2].parse()?)
        .with_augment(Augment::Dsa)
        .with_progress(false);
    println!(
        "{}",
        distill_and_evaluate("Fashion-MNIST", &dm, &fm.train, &test, &preset, &dev)?
    );
    Ok(())
}
