//! The MTT and SLDD rows of `20-image-distillation` at a scale of the plan (`DD_SCALE`, `cpu`
//! by default), without rerunning DC, DSA, DM and CAFE: the full-data row, experts, MTT at
//! every size scored with the plan's protocol beside random real images, then SLDD at every
//! size under its own scoring beside random real images (soft-label sets scored with hard
//! labels too, for DD-Ranking's HLR). Prints each row as it is measured and both tables.
//!
//! ```text
//! cargo run --release -p dd-prelude --example mtt_sldd_cpu
//! ```

use std::time::Instant;

use dd_prelude::*;

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let plan = DistillPlan::from_env()?;
    let dev = device();
    let fmnist = FashionMnist::load_default()?;
    let test = plan.test_set(&fmnist.test);
    let preset = plan.preset();
    println!("{plan}");
    println!(
        "MTT: {} experts x {} epochs on {:?} images, {} iterations, syn_steps {}, start below {}, target {} epochs on; SLDD: {} iterations, {} networks each",
        plan.experts,
        plan.expert_epochs_total,
        plan.expert_images,
        plan.iterations_mtt,
        plan.syn_steps,
        plan.max_start_epoch,
        plan.expert_epochs,
        plan.iterations_sldd,
        plan.sldd_nets
    );
    let full = plan.full_data("Fashion-MNIST", &fmnist.train, &test, &dev)?;
    println!("{full} ({:.0} s so far)", started.elapsed().as_secs_f64());
    let expert_train = plan.expert_set(&fmnist.train);
    let buffer = plan.expert_config().train_experts(
        0..plan.experts,
        &expert_train,
        plan.buffer_dir(),
        &dev,
    )?;
    println!(
        "experts: {} complete in {} ({:.0} s so far)",
        buffer.complete_experts()?.len(),
        plan.buffer_dir(),
        started.elapsed().as_secs_f64()
    );
    let mut mtt = vec![full.clone()];
    for &ipc in &plan.ipcs {
        let base = random_real("Fashion-MNIST", ipc, 0, &fmnist.train, &test, &preset, &dev)?;
        println!("{base}");
        mtt.push(base);
        let r = distill_and_evaluate(
            "Fashion-MNIST",
            &plan.mtt(ipc),
            &expert_train,
            &test,
            &preset,
            &dev,
        )?;
        println!("{r} ({:.0} s so far)", started.elapsed().as_secs_f64());
        mtt.push(r);
    }
    println!(
        "{}",
        comparison_table("MTT beside random real images", &mtt)?
    );
    let mut sldd = plan.sldd_sweep("Fashion-MNIST", &fmnist.train, &test, &dev)?;
    sldd.push(full);
    println!("{}", comparison_table("SLDD under its own scoring", &sldd)?);
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
