//! How many outer iterations the `cpu` plan's gradient-matching methods need to beat random
//! real images of the same size, on Fashion-MNIST and on another real image set (Twemoji by
//! category): distils with the cpu plan's settings at the given iteration count, scores every
//! set with the plan's protocol, and prints each row with its distillation time.
//!
//! ```text
//! cargo run --release -p dd-prelude --example gm_budget -- twemoji 10 30 random,dc,dsa,cafe
//! ```
//!
//! Arguments: the data (`fashion-mnist` or `twemoji`: the emoji's nine categories at 28x28),
//! images per class, outer iterations, the rows (`random`, `dc`, `dsa`, `cafe`, `dm`), and
//! optionally the random draws' seeds (`0,1,2`, default `0`).

use dd_prelude::distill::{distill_and_evaluate, random_real};
use dd_prelude::*;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        (4..=5).contains(&args.len()),
        "usage: gm_budget <fashion-mnist|twemoji> <ipc> <iterations> <rows> [random seeds]"
    );
    let dev = device();
    let mut plan = DistillPlan::for_scale(Scale::Cpu);
    plan.checkpoint_dir = None;
    let (name, data) = match args[0].as_str() {
        "fashion-mnist" => ("Fashion-MNIST", FashionMnist::load_default()?),
        "twemoji" => (
            "Twemoji categories",
            Twemoji::new(Twemoji::default_dir())
                .with_image_size(28)
                .load_categories()?,
        ),
        other => anyhow::bail!("unknown data `{other}`"),
    };
    let ipc: usize = args[1].parse()?;
    // every method at exactly `iterations`, whatever the size (CAFE's milestones follow)
    let iterations: usize = args[2].parse()?;
    plan.iterations_gm = iterations;
    plan.iterations_cafe = iterations;
    plan.iterations_dm = iterations;
    plan.ipc1_factor = 1;
    let seeds: Vec<u64> = match args.get(4) {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![0],
    };
    let test = plan.test_set(&data.test);
    let preset = plan.preset().with_progress(false);
    println!(
        "{name}: {} train, {} test images; {plan}",
        data.train.len(),
        test.len()
    );
    for row in args[3].split(',') {
        let start = std::time::Instant::now();
        let outcomes = match row {
            "random" => seeds
                .iter()
                .map(|&s| random_real(name, ipc, s, &data.train, &test, &preset, &dev))
                .collect::<Result<Vec<_>>>()?,
            method => {
                let m: Box<dyn Distiller> = match method {
                    "dc" => Box::new(plan.dc(ipc)),
                    "dsa" => Box::new(plan.dsa(ipc)),
                    "cafe" => Box::new(plan.cafe(ipc)),
                    "dm" => Box::new(plan.dm(ipc)),
                    other => anyhow::bail!("unknown row `{other}`"),
                };
                vec![distill_and_evaluate(
                    name,
                    m.as_ref(),
                    &data.train,
                    &test,
                    &preset,
                    &dev,
                )?]
            }
        };
        for o in outcomes {
            println!("{o}  [distil {:.0} s]", o.synthetic.seconds);
        }
        println!("  row {row}: {:.0} s in all", start.elapsed().as_secs_f64());
    }
    Ok(())
}
