//! `dd-experts`: trains expert trajectories for trajectory matching (MTT), one expert or many,
//! into one buffer folder. Each expert is an independent job: run `--expert I` for each I as a
//! Slurm array task, a Kubernetes indexed job or one process per core, and the folder ends up
//! with the same files as one `--experts N` run. A stopped job resumes at its last epoch.
//!
//! ```text
//! dd-experts --dir buffers/fmnist --expert 3            # expert 3 only
//! dd-experts --dir buffers/fmnist --experts 5           # experts 0..5, one after another
//! dd-experts --dir b --experts 2 --epochs 3 --width 8 --images 500 --data fashion-mnist
//! ```
//! Sizes default to the `DD_SCALE` plan's (`DistillPlan::expert_config`); every option
//! overrides one of them.

use anyhow::{Context, Result, bail};
use dd_prelude::*;

const USAGE: &str = "usage: dd-experts --dir DIR (--expert I ... | --experts N) [--data fashion-mnist|mnist|svhn|cifar10|cifar100] [--images N|all] [--epochs E] [--width W] [--depth D] [--lr LR] [--batch B] [--seed S] [--quiet]";

fn main() -> Result<()> {
    let plan = DistillPlan::from_env()?;
    let mut cfg = plan.expert_config();
    let mut images = plan.expert_images;
    let (mut dir, mut experts, mut data) = (None, Vec::new(), "fashion-mnist".to_string());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--quiet" {
            cfg = cfg.with_progress(false);
            continue;
        }
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            return Ok(());
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| -> Result<usize> {
            v.parse()
                .with_context(|| format!("{flag} takes a whole number, got `{v}`"))
        };
        match flag.as_str() {
            "--dir" => dir = Some(value),
            "--expert" => experts.push(num(&value)?),
            "--experts" => experts.extend(0..num(&value)?),
            "--data" => data = value,
            "--images" => {
                images = if value == "all" {
                    None
                } else {
                    Some(num(&value)?)
                }
            }
            "--epochs" => cfg = cfg.with_epochs(num(&value)?),
            "--width" => cfg = cfg.with_width(num(&value)?),
            "--depth" => cfg = cfg.with_depth(num(&value)?),
            "--batch" => cfg = cfg.with_batch_size(num(&value)?),
            "--seed" => cfg = cfg.with_seed(num(&value)? as u64),
            "--lr" => {
                cfg = cfg.with_lr(
                    value
                        .parse()
                        .with_context(|| format!("--lr takes a number, got `{value}`"))?,
                )
            }
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
    }
    let dir = dir.with_context(|| format!("--dir is required\n{USAGE}"))?;
    if experts.is_empty() {
        bail!("name the experts to train with --expert I or --experts N\n{USAGE}");
    }
    let splits = match data.as_str() {
        "fashion-mnist" => FashionMnist::load_default()?,
        "mnist" => Mnist::load_default()?,
        "svhn" => Svhn::load_default()?,
        "cifar10" => Cifar10::load_default()?,
        "cifar100" => Cifar100::load_default()?,
        other => bail!("unknown data set `{other}`\n{USAGE}"),
    };
    let mut plan = plan;
    plan.expert_images = images;
    let train = plan.expert_set(&splits.train);
    let dev = device();
    for &i in &experts {
        let folder = cfg.train_expert(i, &train, dir.as_ref(), &dev)?;
        println!("expert {i}: {}", folder.display());
    }
    Ok(())
}
