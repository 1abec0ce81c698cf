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
//! step size, `side` 1/0 one step size per side (seed 001's) or one shared, `seed`; LoRS's similarity: `sim` rank (turns it on), `ls` its rate, `alpha`.
//! Environment: `PROBE_RANDOM` random draws (default 3); `PROBE_CORESETS=1` also scores the
//! full-data row and the plan's coreset rows; `PROBE_EXPERTS`, `PROBE_EXPERT_EPOCHS`,
//! `PROBE_EXPERT_LR` change the plan's experts; `PROBE_VAL=k` scores on `k` held-out training
//! images instead of the test split; `PROBE_PLAN_LR=0` skips the plan-lr scoring; `PROBE_EMB_DIR` reads the caption embeddings from files
//! (see `common/vl_plan.rs`).

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
    for seed in 0..draws {
        let idx = data.train.pairs().sample(100, seed);
        score(&format!("random draw {seed}"), &data.train.subset(&idx))?;
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
    }
    Ok(())
}
