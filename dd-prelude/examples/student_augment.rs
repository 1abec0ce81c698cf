//! Seed 000's question on Fashion-MNIST: does augmentation help a student trained on a 10 %
//! coreset? Trains the cpu plan's student (`CoresetKdPlan`, ConvNet width 64) on a random
//! 100-per-class coreset of the 10,000-image pool, with each augmentation and epoch count
//! given, under two seeds, and prints the test accuracy on 2,000 test images.
//!
//! ```text
//! cargo run --release -p dd-prelude --example student_augment -- none:30,flip:30,crop3:30,none:60,flip:60
//! ```
//!
//! `none` = no augmentation, `flip` = horizontal flip only, `cropN` = random crop with N px
//! of zero padding + flip (the notebook's student uses `crop3`), `dsa` = DSA's augmentation
//! (`Augment`'s `FromStr`).

use dd_prelude::*;

fn main() -> anyhow::Result<()> {
    let variants = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "none:30,flip:30,crop3:30".into());
    let dev = device();
    let plan = CoresetKdPlan::for_scale(Scale::Cpu);
    let data = plan.load_data()?;
    let pool = plan.take(&data.train, plan.pool_images, 0);
    let test = plan.take(&data.test, plan.test_images, 0);
    let coreset = RandomConfig::new(plan.budget())
        .with_seed(0)
        .select(&pool, &dev)?
        .subset(&pool);
    for variant in variants.split(',') {
        let (name, epochs) = variant
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("`{variant}`: expected name:epochs"))?;
        let cfg = plan
            .student_fit(false)
            .with_epochs(epochs.parse()?)
            .with_augment(name.parse()?)
            .with_progress(false);
        for seed in [1u64, 2] {
            dev.seed(seed);
            let started = std::time::Instant::now();
            let net = plan.student.init(&coreset, &dev);
            let trained = fit(net, &coreset, &cfg.clone().with_seed(seed), &dev)?;
            println!(
                "{variant} seed {seed}: {:.2} % ({:.0} s)",
                100.0 * accuracy(&trained.model, &test, &dev),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
