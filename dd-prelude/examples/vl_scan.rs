//! Diagnoses bi-trajectory matching on Twemoji at the `cpu` plan without any outer step: for
//! random real pairs as the synthetic set, each expert and start epoch, unrolls the student
//! with a range of step sizes and prints each side's normalised distance to the expert's
//! target (1.0: the student did not move; MTT's loss is their sum).
//!
//! ```text
//! cargo run --release -p dd-prelude --example vl_scan -- [syn steps] [batch] [expert epochs]
//! ```

#[path = "common/vl_plan.rs"]
mod vl_plan;

use dd_prelude::data::EmbeddedPairs;
use dd_prelude::distill::trajectory_loss;
use dd_prelude::vl::*;
use dd_prelude::*;

fn main() -> anyhow::Result<()> {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let arg = |i: usize, d: f64| *args.get(i).unwrap_or(&d);
    let (syn, batch, ee) = (
        arg(0, 5.0) as usize,
        arg(1, 50.0) as usize,
        arg(2, 2.0) as usize,
    );
    // Outer fit on one segment: iterations, step size, image rate, text rate (0: scan only).
    let (fit_its, fit_lr, li, lt) = (
        arg(3, 0.0) as usize,
        arg(4, 0.02),
        arg(5, 10.0),
        arg(6, 0.01),
    );
    let plan = vl_plan::cpu_plan();
    let dev = device();
    let data = vl_plan::data(&plan, &dev)?;
    let arch = BiArch::new(&plan.encoder(data.train.text_dim()))?;
    let experts = plan.experts(&data, &dev)?;
    let idx = data.train.pairs().sample(100, 0);
    let (x, t) = data.train.inputs(&idx, &dev);
    println!("syn_steps {syn}, batch {batch}, expert epochs {ee}");
    cosines(
        &arch,
        &data.train,
        &experts[0],
        ee,
        plan.expert_lr,
        (&x, &t),
        &dev,
    );
    if fit_its > 0 {
        let batches: Vec<Vec<usize>> = (0..syn)
            .map(|k| (0..batch).map(|j| (k * batch + j) % 100).collect())
            .collect();
        for (e, s) in [(0usize, 0usize), (1, 2)] {
            let (start, target) = (&experts[e][s], &experts[e][s + ee]);
            let (mut xi, mut ti) = (x.clone(), t.clone());
            let mut losses = Vec::new();
            let t0 = std::time::Instant::now();
            for _ in 0..fit_its {
                let m = BiTrajectoryConfig::meta_grads(
                    &arch,
                    start,
                    target,
                    &xi,
                    &ti,
                    [fit_lr; 2],
                    None,
                    &batches,
                );
                losses.push(m.loss);
                xi = xi.sub(m.images.inner().mul_scalar(li));
                ti = ti.sub(m.text.inner().mul_scalar(lt));
            }
            // The other expert's segment at the same start: does the fit carry over?
            let (o_start, o_target) = (&experts[2][s], &experts[2][s + ee]);
            let other = |xx: &burn::tensor::Tensor<4>, tt: &burn::tensor::Tensor<2>| -> f64 {
                BiTrajectoryConfig::meta_grads(
                    &arch,
                    o_start,
                    o_target,
                    xx,
                    tt,
                    [fit_lr; 2],
                    None,
                    &batches,
                )
                .loss
            };
            println!(
                "fit expert {e} start {s}: {:.0} s; loss {:?}; expert 2 same start before {:.3} after {:.3}",
                t0.elapsed().as_secs_f64(),
                losses
                    .iter()
                    .step_by((fit_its / 8).max(1))
                    .map(|l| (l * 1000.0).round() / 1000.0)
                    .collect::<Vec<_>>(),
                other(&x, &t),
                other(&xi, &ti)
            );
        }
        return Ok(());
    }
    println!("expert start  lr      image   text   (sum)");
    for (e, traj) in experts.iter().enumerate() {
        for s in [0, 2, 5, 10, 20] {
            if s + ee >= traj.len() {
                continue;
            }
            let (start, target) = (&traj[s], &traj[s + ee]);
            for lr in [0.002, 0.005, 0.01, 0.02, 0.05, 0.1] {
                let mut theta = start.clone();
                for k in 0..syn {
                    let b: Vec<usize> = (0..batch).map(|j| (k * batch + j) % 100).collect();
                    let bi = burn::tensor::Tensor::<1, burn::tensor::Int>::from_data(
                        burn::tensor::TensorData::new(
                            b.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                            [b.len()],
                        ),
                        &dev,
                    );
                    let (_, g) = arch.loss_and_grads(
                        &theta,
                        x.clone().select(0, bi.clone()),
                        t.clone().select(0, bi),
                    );
                    theta = theta.sgd_step(&g, lr);
                }
                let li: f64 =
                    trajectory_loss(&theta.image, &start.image, &target.image).into_scalar::<f64>();
                let lt: f64 =
                    trajectory_loss(&theta.text, &start.text, &target.text).into_scalar::<f64>();
                println!(
                    "{e:>6} {s:>5}  {lr:<6}  {li:.3}   {lt:.3}  ({:.3})",
                    li + lt
                );
            }
        }
    }
    Ok(())
}

/// Cosine of two directions of both sides, per side.
fn cos(a: &BiParams, b: &BiParams) -> (f64, f64) {
    let one = |a: &dd_prelude::distill::engine::Params, b: &dd_prelude::distill::engine::Params| {
        let na: f64 = a.squared_norm().into_scalar::<f64>();
        let nb: f64 = b.squared_norm().into_scalar::<f64>();
        let nd: f64 = a
            .zip_map(b, |p, q| p.sub(q))
            .squared_norm()
            .into_scalar::<f64>();
        (na + nb - nd) / 2.0 / (na * nb).sqrt()
    };
    (one(&a.image, &b.image), one(&a.text, &b.text))
}

fn diff(a: &BiParams, b: &BiParams) -> BiParams {
    BiParams {
        image: a.image.zip_map(&b.image, |p, q| p.sub(q)),
        text: a.text.zip_map(&b.text, |p, q| p.sub(q)),
    }
}

/// Expert drift against the full-data mean gradient, a re-run of the same segment with
/// another batch order, and the 100 pairs' gradient.
fn cosines(
    arch: &BiArch,
    train: &EmbeddedPairs,
    expert: &[BiParams],
    ee: usize,
    expert_lr: f64,
    (x, t): (&burn::tensor::Tensor<4>, &burn::tensor::Tensor<2>),
    dev: &burn::tensor::Device,
) {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    println!(
        "start  cos(drift, -g_full)  cos(drift, rerun)  cos(-g_100, -g_full)  cos(drift, -g_100)   [image, text]"
    );
    for s in [0usize, 2, 5, 10, 20] {
        if s + ee >= expert.len() {
            continue;
        }
        let theta = &expert[s];
        let drift = diff(&expert[s + ee], theta);
        let n = train.len();
        let all: Vec<usize> = (0..n).collect();
        let mut g_full: Option<BiParams> = None;
        for c in all.chunks(128) {
            let (xb, tb) = train.inputs(c, dev);
            let (_, g) = arch.loss_and_grads(theta, xb, tb);
            g_full = Some(match g_full {
                None => g,
                Some(a) => BiParams {
                    image: a.image.zip_map(&g.image, |p, q| p.add(q)),
                    text: a.text.zip_map(&g.text, |p, q| p.add(q)),
                },
            });
        }
        let neg = |g: BiParams| g.sgd_step(&g, 2.0); // g - 2g = -g
        let g_full = neg(g_full.expect("pairs"));
        let mut rerun = theta.clone();
        let mut rng = rand::rngs::StdRng::seed_from_u64(99 + s as u64);
        let mut order = all.clone();
        for _ in 0..ee {
            order.shuffle(&mut rng);
            for c in order.chunks(128).filter(|c| c.len() >= 2) {
                let (xb, tb) = train.inputs(c, dev);
                let (_, g) = arch.loss_and_grads(&rerun, xb, tb);
                rerun = rerun.sgd_step(&g, expert_lr);
            }
        }
        let d_rerun = diff(&rerun, theta);
        let (_, g100) = arch.loss_and_grads(theta, x.clone(), t.clone());
        let g100 = neg(g100);
        let f = |(a, b): (f64, f64)| format!("{a:.2}, {b:.2}");
        println!(
            "{s:>5}  {:<20}  {:<17}  {:<20}  {}",
            f(cos(&drift, &g_full)),
            f(cos(&drift, &d_rerun)),
            f(cos(&g100, &g_full)),
            f(cos(&drift, &g100))
        );
    }
}
