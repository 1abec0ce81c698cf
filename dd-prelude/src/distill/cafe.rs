//! CAFE: aligning features (Wang et al., CVPR 2022), seed 002 eq. 5-6, as in the reference code
//! `kaiwang960112/CAFE` (`distill.py`), with the DC loop schedule.

use burn::config::Config;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};

use super::engine::ops::one_hot;
use super::engine::{MetaArch, Params};
use super::gm::{Bilevel, loops};
use super::outer::{Ctx, Method, run};
use super::settings::{DistillCommon, check_settings, common_setters};
use super::{DistillRun, Distiller};
use crate::augment::DiffAugConfig;
use crate::data::ImageSet;
use crate::error::{Result, ensure};
use crate::models::ConvNetConfig;

/// CAFE, layer-wise feature alignment with a discriminative loss; its config is [`CafeConfig`].
pub type Cafe = CafeConfig;

/// Configuration of [`Cafe`]: defaults are the reference code's (`lr_img` 0.1 SGD momentum 0.5,
/// halved at iterations 1200, 1600 and 1800; `lr_net` 0.01; real batch 256 per class; layer
/// weights 0.1, 0.1, 1.0 for the three blocks and 1.0 for the pooled embedding;
/// `inner_weight` 0.01; 2000 iterations).
///
/// The loss of one matching (all classes at once) is
/// `sum_l w_l sum_c ||mean f_l(real_c) - mean f_l(syn_c)||^2` over the ReLU output of every
/// block and the pooled embedding (eq. 5), plus the discriminative term (eq. 6): the per-class
/// mean synthetic embeddings act as a linear classifier of the real embeddings,
/// `||centres_syn - centres_real||^2 + inner_weight * sum_j CE(f(real_j) centres_syn^T, y_j)`.
///
/// Differences from the reference, stated: the outer/inner loops follow [`super::get_loops`]
/// instead of its accuracy watchers (`lambda_1`, `lambda_2`), so one iteration costs the same
/// as a DC iteration; the real-data cross-entropy the reference adds to its loss is left out
/// because it does not depend on the synthetic images.
///
/// # Example
/// ```
/// use dd_prelude::distill::{CafeConfig, Distiller};
/// let cafe = CafeConfig::new(10);
/// assert_eq!(cafe.name(), "CAFE");
/// assert_eq!(cafe.lr_at(1700), 0.1 * 0.25);
/// ```
#[derive(Config, Debug)]
pub struct CafeConfig {
    /// Synthetic images per class.
    pub ipc: usize,
    /// The settings every distiller shares (iterations, the images' optimizer and
    /// initialisation, the ConvNet, seed, checkpoints, progress), with this method's
    /// reference defaults; their `with_*` setters are forwarded.
    #[config(default = "DistillCommon::new().with_iterations(2000)")]
    pub common: DistillCommon,
    /// Iterations at which the image step size is halved.
    #[config(default = "vec![1200, 1600, 1800]")]
    pub lr_milestones: Vec<usize>,
    /// Step size of the network trained on the synthetic set.
    #[config(default = 0.01)]
    pub lr_net: f64,
    /// Real images per class per matching.
    #[config(default = 256)]
    pub batch_real: usize,
    /// Batch size of the network's training on the synthetic set.
    #[config(default = 256)]
    pub batch_train: usize,
    /// Matchings per network (default from [`super::get_loops`]).
    #[config(default = "None")]
    pub outer_loop: Option<usize>,
    /// Epochs on the synthetic set between matchings (default from [`super::get_loops`]).
    #[config(default = "None")]
    pub inner_loop: Option<usize>,
    /// Weights of the layer terms; the last is the pooled embedding's, the others the last
    /// blocks' (aligned from the end; earlier blocks take the first weight).
    #[config(default = "vec![0.1, 0.1, 1.0, 1.0]")]
    pub layer_weights: Vec<f64>,
    /// Weight of the discriminative cross-entropy (summed over real images).
    #[config(default = 0.01)]
    pub inner_weight: f64,
    /// Siamese augmentation (`Some` for CAFE+DSA).
    #[config(default = "None")]
    pub augment: Option<DiffAugConfig>,
}

common_setters!(CafeConfig);

impl CafeConfig {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "CafeConfig";
        check_settings(M, self.ipc, &self.common)?;
        ensure(
            self.lr_net > 0.0 && self.lr_net.is_finite(),
            M,
            "lr_net",
            || format!("must be positive and finite, got {}", self.lr_net),
        )?;
        ensure(self.batch_real >= 1, M, "batch_real", || {
            "must be at least 1".into()
        })?;
        ensure(self.batch_train >= 1, M, "batch_train", || {
            "must be at least 1".into()
        })?;
        ensure(!self.layer_weights.is_empty(), M, "layer_weights", || {
            "needs at least the embedding's weight".into()
        })?;
        ensure(
            self.layer_weights
                .iter()
                .all(|w| *w >= 0.0 && w.is_finite()),
            M,
            "layer_weights",
            || "must be >= 0 and finite".into(),
        )?;
        ensure(
            self.inner_weight >= 0.0 && self.inner_weight.is_finite(),
            M,
            "inner_weight",
            || format!("must be >= 0 and finite, got {}", self.inner_weight),
        )?;
        loops(M, self.ipc, self.outer_loop, self.inner_loop)?;
        if let Some(a) = &self.augment {
            a.check()?;
        }
        Ok(())
    }

    /// The image step size at iteration `it` (0-based), halved at each milestone passed.
    pub fn lr_at(&self, it: usize) -> f64 {
        self.lr_milestones
            .iter()
            .filter(|&&m| it >= m)
            .fold(self.common.lr_images, |lr, _| lr * 0.5)
    }

    /// The ConvNet distilled on for `data`.
    pub fn convnet(&self, data: &ImageSet) -> ConvNetConfig {
        self.common.convnet(data)
    }
}

/// The loss of one CAFE matching under a given network: real statistics are constants
/// ([`CafeLoss::real_stats`]), the synthetic images (class-major, `ipc` per class) may be
/// tracked, so `loss.backward()` gives the gradient with respect to them.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::CafeLoss;
/// use dd_prelude::distill::engine::MetaArch;
/// use burn::tensor::{Tensor, Distribution};
/// let dev = device();
/// let arch = MetaArch::convnet(&ConvNetConfig::new(2, 1, [8, 8]).with_width(4).with_depth(2))?;
/// let params = arch.init(&dev);
/// let cafe = CafeLoss { arch: &arch, layer_weights: &[0.1, 1.0, 1.0], inner_weight: 0.01 };
/// let real: Vec<Tensor<4>> = (0..2).map(|_| Tensor::random([5, 1, 8, 8], Distribution::Normal(0.0, 1.0), &dev)).collect();
/// let stats = cafe.real_stats(&params, real);
/// let syn = Tensor::<4>::random([2, 1, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
/// let loss: f32 = cafe.loss(&params, &stats, syn, 1).into_scalar();
/// assert!(loss > 0.0);
/// # Ok::<(), Error>(())
/// ```
pub struct CafeLoss<'a> {
    /// The network.
    pub arch: &'a MetaArch,
    /// Weights of the layer terms (see [`CafeConfig::layer_weights`]).
    pub layer_weights: &'a [f64],
    /// Weight of the discriminative cross-entropy.
    pub inner_weight: f64,
}

/// Real statistics of one CAFE matching: per layer, per-class means; the real embeddings and
/// their labels.
pub struct RealStats {
    layer_means: Vec<Tensor<2>>,
    features: Tensor<2>,
    labels: Vec<usize>,
}

impl CafeLoss<'_> {
    /// Weight of layer tap `l` of `taps` (block ReLU outputs, then the embedding).
    fn weight(&self, l: usize, taps: usize) -> f64 {
        let from_end = taps - 1 - l;
        let w = self.layer_weights;
        if from_end < w.len() {
            w[w.len() - 1 - from_end]
        } else {
            w[0]
        }
    }

    /// The per-layer taps of a batch: every block's ReLU output and the embedding, flattened
    /// to `[n, d_l]`.
    fn taps(&self, params: &Params, x: Tensor<4>) -> Vec<Tensor<2>> {
        let (_, tape) = self.arch.forward_taps(params, x);
        let mut out: Vec<Tensor<2>> = tape
            .relu_outputs
            .into_iter()
            .map(|t| t.flatten(1, 3))
            .collect();
        out.push(tape.features.expect("ConvNet has an embedding"));
        out
    }

    /// Statistics of real batches, one per class (index = label), computed class by class.
    pub fn real_stats(&self, params: &Params, batches: Vec<Tensor<4>>) -> RealStats {
        let mut means: Vec<Vec<Tensor<2>>> = Vec::new();
        let mut feats = Vec::new();
        let mut labels = Vec::new();
        for (c, b) in batches.into_iter().enumerate() {
            let taps = self.taps(params, b);
            labels.extend(std::iter::repeat_n(c, taps[0].dims()[0]));
            feats.push(taps.last().expect("taps").clone());
            for (l, t) in taps.into_iter().enumerate() {
                if means.len() <= l {
                    means.push(Vec::new());
                }
                means[l].push(t.mean_dim(0));
            }
        }
        RealStats {
            layer_means: means.into_iter().map(|m| Tensor::cat(m, 0)).collect(),
            features: Tensor::cat(feats, 0),
            labels,
        }
    }

    /// The loss for synthetic images `syn` (`ipc` per class, class-major, augmented already).
    pub fn loss(&self, params: &Params, real: &RealStats, syn: Tensor<4>, ipc: usize) -> Tensor<1> {
        let taps = self.taps(params, syn);
        let n_taps = taps.len();
        let classes = real.layer_means[0].dims()[0];
        let mut total: Option<Tensor<1>> = None;
        let mut centres = None;
        for (l, t) in taps.into_iter().enumerate() {
            let [_, d] = t.dims();
            let syn_means = t
                .reshape([classes, ipc, d])
                .mean_dim(1)
                .reshape([classes, d]);
            let term = syn_means
                .clone()
                .sub(real.layer_means[l].clone())
                .square()
                .sum()
                .mul_scalar(self.weight(l, n_taps));
            total = Some(match total {
                Some(s) => s.add(term),
                None => term,
            });
            if l + 1 == n_taps {
                centres = Some(syn_means);
            }
        }
        let centres = centres.expect("an embedding tap");
        // Discriminative term (eq. 6): centre matching plus the real images classified by the
        // synthetic centres, cross-entropy summed over the real images.
        let centre_term = centres
            .clone()
            .sub(real.layer_means[n_taps - 1].clone())
            .square()
            .sum();
        let logits = real.features.clone().matmul(centres.transpose());
        let targets = one_hot(&real.labels, classes, &logits.device());
        let ce_sum = log_softmax(logits, 1).mul(targets).sum().neg();
        total
            .expect("at least one tap")
            .add(centre_term)
            .add(ce_sum.mul_scalar(self.inner_weight))
    }
}

/// The CAFE method in the shared loop.
struct CafeMethod {
    cfg: CafeConfig,
    arch: MetaArch,
    outer_loop: usize,
    inner_loop: usize,
    config: serde_json::Value,
}

impl Method for CafeMethod {
    fn name(&self) -> &'static str {
        "CAFE"
    }

    fn config_json(&self) -> serde_json::Value {
        self.config.clone()
    }

    fn lr_images(&self, it: usize) -> f64 {
        self.cfg.lr_at(it)
    }

    fn iteration(&mut self, ctx: &mut Ctx<'_>) -> Result<f64> {
        let cfg = &self.cfg;
        let classes = ctx.real.num_classes();
        let ipc = ctx.syn.ipc;
        let [_, h, w] = ctx.real.shape;
        let loss_fn = CafeLoss {
            arch: &self.arch,
            layer_weights: &cfg.layer_weights,
            inner_weight: cfg.inner_weight,
        };
        let schedule = Bilevel {
            arch: &self.arch,
            outer_loop: self.outer_loop,
            inner_loop: self.inner_loop,
            batch_train: cfg.batch_train,
            lr_net: cfg.lr_net,
            augment: cfg.augment.as_ref(),
        };
        let loss_sum = schedule.run(ctx, |ctx, params| {
            let augs: Vec<_> = (0..classes)
                .map(|_| cfg.augment.as_ref().map(|a| a.sample([h, w], &mut ctx.rng)))
                .collect();
            let real: Vec<Tensor<4>> = (0..classes)
                .map(|c| {
                    let b = ctx.real.batch(c, cfg.batch_real, &mut ctx.rng);
                    match &augs[c] {
                        Some(a) => a.apply(b),
                        None => b,
                    }
                })
                .collect();
            let stats = loss_fn.real_stats(params, real);
            let leaf = ctx.syn.leaf();
            let syn = match cfg.augment {
                Some(_) => Tensor::cat(
                    (0..classes)
                        .map(|c| {
                            let part = leaf.clone().narrow(0, c * ipc, ipc);
                            match &augs[c] {
                                Some(a) => a.apply(part),
                                None => part,
                            }
                        })
                        .collect(),
                    0,
                ),
                None => leaf.clone(),
            };
            let loss = loss_fn.loss(&params.autodiff(), &stats, syn, ipc);
            let value = loss.clone().into_scalar::<f32>() as f64;
            let grad = leaf
                .grad(&loss.backward())
                .expect("synthetic images require grad");
            let lr = ctx.lr;
            ctx.syn.step(grad, lr);
            Ok(value)
        })?;
        Ok(loss_sum / (classes * self.outer_loop) as f64)
    }
}

impl Distiller for CafeConfig {
    fn name(&self) -> &'static str {
        "CAFE"
    }

    fn iterations(&self) -> usize {
        self.common.iterations
    }

    fn start(&self, data: &ImageSet, device: &Device) -> Result<Box<dyn DistillRun>> {
        self.check()?;
        let (outer_loop, inner_loop) =
            loops("CafeConfig", self.ipc, self.outer_loop, self.inner_loop)?;
        let method = CafeMethod {
            cfg: self.clone(),
            arch: MetaArch::convnet(&self.convnet(data))?,
            outer_loop,
            inner_loop,
            config: serde_json::to_value(self).unwrap_or_default(),
        };
        run(method, self.ipc, &self.common, data, device)
    }
}
