//! Probes bi-trajectory matching on Twemoji at the `cpu` plan: random pairs (several draws),
//! then distilled sets under settings given on the command line, each scored under the plan's
//! subset protocol with the learned step size and with the plan's.
//!
//! ```text
//! cargo run --release -p dd-prelude --example vl_probe -- it=0 it=80,li=100 it=80,lt=0.1
//! ```
//!
//! Keys: `it` iterations, `li`/`lt`/`llr` outer rates of images / text / step size, `syn`
//! student steps, `ee` expert epochs, `ms` max start epoch, `bs` synthetic batch, `lr0` initial
//! step size, `side` 1/0 one step size per side (seed 001's) or one shared, `unit` 1: texts
//! kept at unit length, `seed`; LoRS's similarity: `sim` rank (turns it on), `ls` its rate, `alpha`.
//! Environment: `PROBE_RANDOM` random draws (default 3); `PROBE_CORESETS=1` also scores the
//! full-data row and the plan's coreset rows; `PROBE_EXPERTS`, `PROBE_EXPERT_EPOCHS`,
//! `PROBE_EXPERT_LR` change the plan's experts; `PROBE_VAL=k` scores on `k` held-out training
//! images instead of the test split; `PROBE_PLAN_LR=0` skips the plan-lr scoring; `PROBE_EMB_DIR` reads the caption embeddings from files
//! (see `common/vl_plan.rs`). Diagnostics: `PROBE_DRAW_LRS=0.01,0.02` also scores each random
//! draw at those step sizes; `PROBE_HYBRID=1` prints how far each distilled set moved from the
//! real pairs it started from and scores its images with the starting texts, the starting
//! images with its texts, and the starting pairs (all at the learned step size);
//! `PROBE_HUB=1` prints, per fresh model, how many test images are some caption's first image,
//! the largest share one image takes, and IR R@1 with each image's mean similarity removed.

#[path = "common/vl_plan.rs"]
mod vl_plan;

use std::time::Instant;

use dd_prelude::vl::*;
use dd_prelude::*;

fn main() -> anyhow::Result<()> {
    let plan = vl_plan::cpu_plan();
    let dev = device();
    let data = vl_plan::data(&plan, &dev)?;
    println!("{}\n{}", plan.summary(), data.summary());
    let enc = plan.encoder(data.train.text_dim());
    let eval = plan.eval.clone().with_progress(false);
    let line = |r: &RetrievalReport, secs: f64| {
        println!(
            "{:<40} TR R@1 {:.1} ± {:.1}  IR R@1 {:.1} ± {:.1}  TR R@5 {:.1} IR R@5 {:.1}  ({:.0} s)",
            format!("{} ({})", r.method, r.pairs),
            r.mean.tr[0],
            r.std.tr[0],
            r.mean.ir[0],
            r.std.ir[0],
            r.mean.tr[1],
            r.mean.ir[1],
            secs
        )
    };
    let draws: u64 = std::env::var("PROBE_RANDOM")
        .unwrap_or("3".into())
        .parse()?;
    // One set under the plan's subset protocol (the plan's step size), printed with its time.
    let score = |method: &str, set: &EmbeddedPairs| -> anyhow::Result<()> {
        let t = Instant::now();
        let r = evaluate_pairs(
            method,
            set,
            &data.test,
            &data.test_captions,
            &enc,
            &eval,
            &dev,
        )?;
        line(&r, t.elapsed().as_secs_f64());
        Ok(())
    };
    let lrs: Vec<f64> = std::env::var("PROBE_DRAW_LRS")
        .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    for seed in 0..draws {
        let idx = data.train.pairs().sample(100, seed);
        let set = data.train.subset(&idx);
        score(&format!("random draw {seed}"), &set)?;
        // The same draw trained at other step sizes (`PROBE_DRAW_LRS=0.01,0.02`).
        for &lr in &lrs {
            let t = Instant::now();
            let r = evaluate_pairs(
                &format!("random draw {seed}, lr {lr}"),
                &set,
                &data.test,
                &data.test_captions,
                &enc,
                &eval.clone().with_lr(lr),
                &dev,
            )?;
            line(&r, t.elapsed().as_secs_f64());
        }
    }
    if vl_plan::env("PROBE_CORESETS").is_some_and(|v| v > 0.0) {
        let t = Instant::now();
        let (full, reference) = plan.full_data(&data, &dev)?;
        line(&full, t.elapsed().as_secs_f64());
        let t = Instant::now();
        for r in plan.coresets(&data, &reference, &dev)? {
            line(&r, t.elapsed().as_secs_f64());
        }
    }
    let t = Instant::now();
    let experts = plan.experts(&data, &dev)?;
    println!("experts: {:.0} s", t.elapsed().as_secs_f64());
    for spec in std::env::args().skip(1) {
        let t = Instant::now();
        let mut bad = None;
        let mut seed = 0;
        let d = plan.distill_with(
            &data,
            &experts,
            100,
            |c| {
                for kv in spec.split(',') {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    let f: f64 = v.parse().unwrap_or(f64::NAN);
                    match k {
                        "it" => c.iterations = f as usize,
                        "li" => c.lr_images = f,
                        "lt" => c.lr_text = f,
                        "llr" => c.lr_lr = f,
                        "syn" => c.syn_steps = f as usize,
                        "ee" => c.expert_epochs = f as usize,
                        "ms" => c.max_start_epoch = f as usize,
                        "bs" => c.batch_syn = f as usize,
                        "lr0" => c.init_lr = f,
                        "side" => c.per_side_lr = f > 0.0,
                        "unit" => c.unit_text = f > 0.0,
                        "seed" => c.seed = f as u64,
                        "sim" => {
                            let cur = c.similarity.unwrap_or(SimilarityConfig {
                                rank: 10,
                                alpha: 3.0,
                                lr: 10.0,
                            });
                            c.similarity = Some(SimilarityConfig {
                                rank: f as usize,
                                ..cur
                            })
                        }
                        "ls" => c.similarity.as_mut().expect("sim= first").lr = f,
                        "alpha" => c.similarity.as_mut().expect("sim= first").alpha = f,
                        _ => bad = Some(k.to_string()),
                    }
                }
                seed = c.seed;
            },
            &dev,
        )?;
        anyhow::ensure!(bad.is_none(), "unknown key {bad:?}");
        let secs = t.elapsed().as_secs_f64();
        let l = &d.losses;
        let head = l.iter().take(10).sum::<f64>() / l.len().clamp(1, 10) as f64;
        let tail = l.iter().rev().take(10).sum::<f64>() / l.len().clamp(1, 10) as f64;
        println!(
            "[{spec}] distill {secs:.0} s, loss first10 {head:.4} last10 {tail:.4}, lr {:.4} (image) {:.4} (text)",
            d.lr, d.lr_text
        );
        let t = Instant::now();
        let r = plan.score_distilled(&format!("{spec} (learned lr)"), &data, &d, &dev)?;
        line(&r, t.elapsed().as_secs_f64());
        if vl_plan::env("PROBE_PLAN_LR") != Some(0.0) {
            score(&format!("{spec} (plan lr)"), &d.set)?;
        }
        // The real pairs the set started from (the distillation's own draw).
        let real = data
            .train
            .subset(&data.train.pairs().sample(d.set.len(), seed));
        if vl_plan::env("PROBE_HUB").is_some_and(|v| v > 0.0) {
            hubs(
                &format!("{spec} distilled"),
                &plan,
                &data,
                &d.set,
                d.lr,
                &dev,
            )?;
            hubs(
                &format!("{spec} start pairs"),
                &plan,
                &data,
                &real,
                d.lr,
                &dev,
            )?;
            hubs(
                &format!("{spec} start pairs, plan lr"),
                &plan,
                &data,
                &real,
                plan.eval.lr,
                &dev,
            )?;
        }
        if vl_plan::env("PROBE_HYBRID").is_some_and(|v| v > 0.0) {
            hybrids(&spec, &plan, &data, &d, &real, &dev)?;
        }
    }
    Ok(())
}

/// How far the distilled set moved from the real pairs it started from (relative change of the
/// images and of the text embeddings, mean cosine of each text with its start), then the
/// distilled images with the starting texts, the starting images with the distilled texts, and
/// the starting pairs, all trained with the learned step size: which side's change does what.
fn hybrids(
    spec: &str,
    plan: &VlPlan,
    data: &VlData,
    d: &DistilledPairs,
    real: &EmbeddedPairs,
    dev: &burn::tensor::Device,
) -> anyhow::Result<()> {
    let n = d.set.len();
    let all: Vec<usize> = (0..n).collect();
    let (x0, t0) = real.inputs(&all, dev);
    let (x1, t1) = d.set.inputs(&all, dev);
    let norm =
        |t: burn::tensor::Tensor<2>| -> f32 { t.powf_scalar(2.0).sum().sqrt().into_scalar() };
    let flat = |t: burn::tensor::Tensor<4>| t.flatten::<2>(1, 3);
    let rel_x = norm(flat(x1.clone()).sub(flat(x0.clone()))) / norm(flat(x0));
    let rel_t = norm(t1.clone().sub(t0.clone())) / norm(t0.clone());
    // each row's length
    let row_norms = |t: &burn::tensor::Tensor<2>| t.clone().powf_scalar(2.0).sum_dim(1).sqrt();
    let cos: f32 = t1
        .clone()
        .mul(t0.clone())
        .sum_dim(1)
        .div(row_norms(&t1).mul(row_norms(&t0)))
        .mean()
        .into_scalar();
    let tn: f32 = row_norms(&t1).mean().into_scalar();
    let tn0: f32 = row_norms(&t0).mean().into_scalar();
    println!(
        "[{spec}] moved: start text norm {tn0:.3}; images {rel_x:.4} (relative), text {rel_t:.4} (relative), text cos with start {cos:.4}, text norm {tn:.3}"
    );
    let text = |t: burn::tensor::Tensor<2>| -> anyhow::Result<Vec<f32>> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    };
    let dim = real.text_dim();
    let enc = plan.encoder(dim);
    let eval = plan.eval.clone().with_progress(false).with_lr(d.lr);
    for (name, set) in [
        (
            "distilled images + start text",
            EmbeddedPairs::new(d.set.pairs().clone(), text(t0)?, dim)?,
        ),
        (
            "start images + distilled text",
            EmbeddedPairs::new(real.pairs().clone(), text(t1)?, dim)?,
        ),
        ("start pairs", real.clone()),
    ] {
        let r = evaluate_pairs(
            name,
            &set,
            &data.test,
            &data.test_captions,
            &enc,
            &eval,
            dev,
        )?;
        println!(
            "[{spec}] {name:<32} (lr {:.4}) TR R@1 {:.1} ± {:.1}  IR R@1 {:.1} ± {:.1}  TR R@5 {:.1} IR R@5 {:.1}",
            d.lr, r.mean.tr[0], r.std.tr[0], r.mean.ir[0], r.std.ir[0], r.mean.tr[1], r.mean.ir[1]
        );
    }
    Ok(())
}

/// Hubness of the models trained on `set` at step size `lr` (the protocol's seeds): per model,
/// how many distinct test images are some caption's first image (IR) and how many distinct
/// captions some image's first caption (TR), the largest number of captions one image takes,
/// and IR R@1 after each image's mean similarity is subtracted (a diagnostic only).
fn hubs(
    name: &str,
    plan: &VlPlan,
    data: &VlData,
    set: &EmbeddedPairs,
    lr: f64,
    dev: &burn::tensor::Device,
) -> anyhow::Result<()> {
    let enc = plan.encoder(set.text_dim());
    let preset = plan.eval.clone().with_progress(false).with_lr(lr);
    let owners = data.test_captions.owners();
    let (ni, nc) = (data.test.len(), owners.len());
    let mut line = String::new();
    for i in 0..preset.models {
        dev.seed(preset.model_seed(i));
        let fit = preset.fit_config(i).with_progress(false);
        let m = dd_prelude::train::fit_with(
            enc.init(dev),
            set,
            &fit,
            &mut dd_prelude::train::SymmetricContrastive,
            dev,
        )?
        .model;
        let sim = similarity(&m, &data.test, &data.test_captions, dev)?;
        let ir_top: Vec<usize> = (0..nc)
            .map(|c| {
                (0..ni)
                    .max_by(|&a, &b| sim[a * nc + c].total_cmp(&sim[b * nc + c]))
                    .unwrap()
            })
            .collect();
        let mut count = vec![0usize; ni];
        for &t in &ir_top {
            count[t] += 1;
        }
        let distinct_ir = count.iter().filter(|&&k| k > 0).count();
        let max_hub = count.iter().max().copied().unwrap_or(0);
        let distinct_tr = (0..ni)
            .map(|r| {
                (0..nc)
                    .max_by(|&a, &b| sim[r * nc + a].total_cmp(&sim[r * nc + b]))
                    .unwrap()
            })
            .collect::<std::collections::HashSet<_>>()
            .len();
        let mut centred = sim.clone();
        for r in 0..ni {
            let mean = sim[r * nc..(r + 1) * nc].iter().sum::<f32>() / nc as f32;
            for c in 0..nc {
                centred[r * nc + c] -= mean;
            }
        }
        let plain = Recall::of_similarity(&sim, ni, owners)?;
        let cen = Recall::of_similarity(&centred, ni, owners)?;
        line += &format!(
            " | IR {:.1} (centred {:.1}), TR {:.1}; distinct IR top {distinct_ir}/{ni}, max hub {max_hub}, distinct TR top {distinct_tr}/{nc}",
            plain.ir[0], cen.ir[0], plain.tr[0]
        );
    }
    println!("[hubs {name}, lr {lr:.4}]{line}");
    Ok(())
}
