//! Gradient matching, shared by [`super::Dc`] and [`super::Dsa`]: the matching distance and
//! the outer/inner loop of the DatasetCondensation reference code (`main.py`).

use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::engine::ops::one_hot;
use super::engine::{MetaArch, ParamKind, Params};
use super::outer::{Ctx, Method};
use crate::augment::DiffAugConfig;
use crate::error::{Result, ensure};

/// How real and synthetic gradients are compared (`--dis_metric` of the reference code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchDistance {
    /// The DC paper's distance (`'ours'`, `distance_wb`): for every conv and linear weight,
    /// `sum over output units of (1 - cosine)` between the real and synthetic gradient rows;
    /// biases and norm parameters are ignored.
    PerLayer,
    /// Squared Euclidean distance of all gradients concatenated (`'mse'`).
    Mse,
    /// `1 - cosine` of all gradients concatenated (`'cos'`).
    Cosine,
}

/// The gradient-matching loss between synthetic gradients `syn` (tracked) and real gradients
/// `real` (constants), `[1]`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::{match_loss, MatchDistance};
/// use dd_prelude::distill::engine::MetaArch;
/// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
/// let p = arch.init(&device());
/// let same: f32 = match_loss(&p, &p, MatchDistance::PerLayer).into_scalar();
/// assert!(same.abs() < 1e-4);
/// ```
pub fn match_loss(syn: &Params, real: &Params, distance: MatchDistance) -> Tensor<1> {
    match distance {
        MatchDistance::PerLayer => {
            let mut terms = Vec::new();
            for i in 0..syn.len() {
                let rows = |p: &Params| -> Option<Tensor<2>> {
                    let s = p.shape(i);
                    match p.kind(i) {
                        ParamKind::ConvWeight => Some(
                            p.values()[i]
                                .clone()
                                .reshape([s[0], s[1..].iter().product::<usize>()]),
                        ),
                        // Burn stores [d_in, d_out]; the reference compares rows of PyTorch's [d_out, d_in].
                        ParamKind::LinearWeight => {
                            Some(p.values()[i].clone().reshape([s[0], s[1]]).transpose())
                        }
                        ParamKind::Vector => None,
                    }
                };
                if let (Some(gs), Some(gr)) = (rows(syn), rows(real)) {
                    let dot = gs.clone().mul(gr.clone()).sum_dim(1);
                    let norms =
                        safe_norm(gs.square().sum_dim(1)).mul(safe_norm(gr.square().sum_dim(1)));
                    let cos = dot.div(norms.add_scalar(1e-6));
                    terms.push(cos.neg().add_scalar(1.0).sum());
                }
            }
            Tensor::cat(terms, 0).sum()
        }
        MatchDistance::Mse => syn.flat().sub(real.flat()).square().sum(),
        MatchDistance::Cosine => {
            let (s, r) = (syn.flat(), real.flat());
            let dot = s.clone().mul(r.clone()).sum();
            let norms = safe_norm(s.square().sum()).mul(safe_norm(r.square().sum()));
            dot.div(norms.add_scalar(1e-6)).neg().add_scalar(1.0)
        }
    }
}

/// `sqrt(sum_sq)` with a finite derivative at zero: a dead unit's gradient row is all zeros,
/// and `sqrt'(0) = inf` would turn its (zero) contribution into NaN (PyTorch's `norm` masks
/// this case; adding 1e-20 under the root changes no value above 1e-10).
fn safe_norm<const D: usize>(sum_sq: Tensor<D>) -> Tensor<D> {
    sum_sq.add_scalar(1e-20).sqrt()
}

/// Trains `params` on the synthetic images for `epochs` epochs of plain SGD (the reference's
/// `epoch('train', ...)` with `optimizer_net = SGD(lr_net)`), with per-image DSA augmentation
/// when `augment` is set. Plain tensors, explicit gradients: no autodiff tape.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_on_synthetic(
    arch: &MetaArch,
    mut params: Params,
    images: &Tensor<4>,
    labels: &[usize],
    epochs: usize,
    batch: usize,
    lr: f64,
    augment: Option<&DiffAugConfig>,
    rng: &mut StdRng,
) -> Params {
    let device = images.device();
    let n = labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    for _ in 0..epochs {
        order.shuffle(rng);
        for chunk in order.chunks(batch.max(1)) {
            let (x, y) = if chunk.len() == n && chunk.iter().enumerate().all(|(i, &j)| i == j) {
                (images.clone(), labels.to_vec())
            } else {
                let idx: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
                let idx = Tensor::from_data(TensorData::new(idx, [chunk.len()]), &device);
                (
                    images.clone().select(0, idx),
                    chunk.iter().map(|&i| labels[i]).collect(),
                )
            };
            let x = match augment {
                Some(a) => a.augment_batch(x, rng),
                None => x,
            };
            let targets = one_hot(&y, arch.classes(), &device);
            let (_, grads) = arch.loss_and_grads(&params, x, &targets);
            params = params.sgd_step(&grads, lr);
        }
    }
    params
}

/// Settings of gradient matching (DC, and DSA with `augment`).
#[derive(Debug, Clone)]
pub(crate) struct GmSettings {
    pub(crate) name: &'static str,
    pub(crate) arch: MetaArch,
    pub(crate) lr_images: f64,
    pub(crate) lr_net: f64,
    pub(crate) batch_real: usize,
    pub(crate) batch_train: usize,
    pub(crate) outer_loop: usize,
    pub(crate) inner_loop: usize,
    pub(crate) distance: MatchDistance,
    pub(crate) augment: Option<DiffAugConfig>,
    pub(crate) config: serde_json::Value,
}

/// The gradient-matching method in the shared loop.
pub(crate) struct GradientMatching {
    pub(crate) s: GmSettings,
}

impl Method for GradientMatching {
    fn name(&self) -> &'static str {
        self.s.name
    }

    fn config_json(&self) -> serde_json::Value {
        self.s.config.clone()
    }

    fn lr_images(&self, _it: usize) -> f64 {
        self.s.lr_images
    }

    /// One iteration of `main.py`: a fresh network; `outer_loop` times: match the gradients of
    /// every class and update the images, then (except after the last) train the network on
    /// the synthetic set for `inner_loop` epochs.
    fn iteration(&mut self, ctx: &mut Ctx<'_>) -> Result<f64> {
        let s = &self.s;
        let device = ctx.device.clone();
        let classes = ctx.real.num_classes();
        let [_, h, w] = ctx.real.shape;
        let schedule = Bilevel {
            arch: &s.arch,
            outer_loop: s.outer_loop,
            inner_loop: s.inner_loop,
            batch_train: s.batch_train,
            lr_net: s.lr_net,
            augment: s.augment.as_ref(),
        };
        let loss_sum = schedule.run(ctx, |ctx, params| {
            let tracked = params.autodiff();
            let mut grads = Vec::with_capacity(classes);
            let mut loss_sum = 0.0;
            for c in 0..classes {
                let real = ctx.real.batch(c, s.batch_real, &mut ctx.rng);
                let syn = ctx.syn.class_leaf(c);
                let (real_in, syn_in) = match &s.augment {
                    Some(a) => {
                        let aug = a.sample([h, w], &mut ctx.rng);
                        (aug.apply(real), aug.apply(syn.clone()))
                    }
                    None => (real, syn.clone()),
                };
                let n_real = real_in.dims()[0];
                let (_, g_real) = s.arch.loss_and_grads(
                    params,
                    real_in,
                    &one_hot(&vec![c; n_real], classes, &device),
                );
                let t_syn = one_hot(&vec![c; ctx.syn.ipc], classes, &device).autodiff();
                let (_, g_syn) = s.arch.loss_and_grads(&tracked, syn_in, &t_syn);
                let loss = match_loss(&g_syn, &g_real, s.distance);
                loss_sum += loss.clone().into_scalar::<f32>() as f64;
                let g = syn
                    .grad(&loss.backward())
                    .expect("synthetic images require grad");
                grads.push(g);
            }
            let lr = ctx.lr;
            ctx.syn.step(Tensor::cat(grads, 0), lr);
            Ok(loss_sum)
        })?;
        Ok(loss_sum / (classes * s.outer_loop) as f64)
    }
}

/// The bi-level schedule of gradient matching, shared by DC, DSA and CAFE (the reference
/// code's `main.py` loop): a fresh network; `outer_loop` times, update the synthetic images
/// (`update`, which returns its loss), then, except after the last time, train the network
/// on the synthetic set for `inner_loop` epochs.
pub(crate) struct Bilevel<'a> {
    pub(crate) arch: &'a MetaArch,
    pub(crate) outer_loop: usize,
    pub(crate) inner_loop: usize,
    pub(crate) batch_train: usize,
    pub(crate) lr_net: f64,
    pub(crate) augment: Option<&'a DiffAugConfig>,
}

impl Bilevel<'_> {
    /// Runs the schedule on a fresh network; returns the sum of the updates' losses.
    pub(crate) fn run(
        &self,
        ctx: &mut Ctx<'_>,
        mut update: impl FnMut(&mut Ctx<'_>, &Params) -> Result<f64>,
    ) -> Result<f64> {
        let mut params = self.arch.init(ctx.device);
        let mut loss_sum = 0.0;
        for ol in 0..self.outer_loop {
            loss_sum += update(ctx, &params)?;
            if ol + 1 == self.outer_loop {
                break;
            }
            let labels = ctx.syn.labels();
            params = train_on_synthetic(
                self.arch,
                params,
                &ctx.syn.values,
                &labels,
                self.inner_loop,
                self.batch_train,
                self.lr_net,
                self.augment,
                &mut ctx.rng,
            );
        }
        Ok(loss_sum)
    }
}

/// The outer and inner loop counts of the reference code for `ipc` images per class
/// (`get_loops`): 1 -> (1, 1), 10 -> (10, 50), 20 -> (20, 25), 30 -> (30, 20),
/// 40 -> (40, 15), 50 -> (50, 10); `None` for other values.
///
/// # Example
/// ```
/// assert_eq!(dd_prelude::distill::get_loops(10), Some((10, 50)));
/// assert_eq!(dd_prelude::distill::get_loops(7), None);
/// ```
pub fn get_loops(ipc: usize) -> Option<(usize, usize)> {
    match ipc {
        1 => Some((1, 1)),
        10 => Some((10, 50)),
        20 => Some((20, 25)),
        30 => Some((30, 20)),
        40 => Some((40, 15)),
        50 => Some((50, 10)),
        _ => None,
    }
}

/// The loop counts of a gradient-matching config, checked.
pub(crate) fn loops(
    method: &'static str,
    ipc: usize,
    outer: Option<usize>,
    inner: Option<usize>,
) -> Result<(usize, usize)> {
    let default = get_loops(ipc);
    let outer = outer.or(default.map(|d| d.0));
    let inner = inner.or(default.map(|d| d.1));
    ensure(outer.is_some_and(|o| o >= 1), method, "outer_loop", || {
        format!(
            "has no reference value for ipc {ipc} (1, 10, 20, 30, 40, 50); set it with with_outer_loop(Some(n))"
        )
    })?;
    ensure(inner.is_some(), method, "inner_loop", || {
        format!("has no reference value for ipc {ipc}; set it with with_inner_loop(Some(n))")
    })?;
    Ok((outer.unwrap_or(1), inner.unwrap_or(0)))
}
