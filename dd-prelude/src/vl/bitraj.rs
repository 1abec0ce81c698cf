//! Seed 001's bi-trajectory matching: the dual encoder's two trainable sides in the
//! meta-gradient engine ([`BiArch`], [`BiParams`]), expert trajectories of both sides on the
//! real pairs ([`train_bi_expert`]), and the distillation of synthetic images and continuous
//! text embeddings with learnable step sizes (one per side, as seed 001's code learns
//! `syn_lr_img` and `syn_lr_txt`) by matching both trajectories ([`BiTrajectoryConfig`], loss
//! [`bi_trajectory_loss`]).

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::{CaptionEmbeddings, unit_rows};
use crate::data::{EmbeddedPairs, Examples, PairSet};
use crate::distill::engine::ops::ContrastiveOp;
use crate::distill::engine::{MetaArch, Params};
use crate::distill::trajectory_loss;
use crate::error::{Error, Result, ensure};
use crate::models::DualEncoderConfig;
use crate::progress::Progress;

/// The trainable sides of a [`DualEncoder`](crate::models::DualEncoder) as engine archs: the
/// image side is the ConvNet with its last linear layer as the projection into the shared
/// space (`embed_dim` outputs), the text side the linear projection of caption embeddings;
/// the loss is CLIP's symmetric contrastive loss of the normalised embeddings scaled by
/// `scale` ([`ContrastiveOp`]), with its gradients to both sides written out, so the
/// parameter gradients are differentiable with respect to the images, the text embeddings
/// and the step size.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::BiArch;
/// let dev = device();
/// let cfg = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [8, 8]).with_width(4).with_depth(1), 6).with_embed_dim(5);
/// let arch = BiArch::new(&cfg)?;
/// let p = arch.init(&dev);
/// let x = burn::tensor::Tensor::<4>::ones([3, 1, 8, 8], &dev);
/// let t = burn::tensor::Tensor::<2>::ones([3, 6], &dev);
/// let (loss, g) = arch.loss_and_grads(&p, x, t);
/// assert!(loss.into_scalar::<f32>() > 0.0);
/// assert_eq!((g.image.len(), g.text.len()), (p.image.len(), 2));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BiArch {
    /// ConvNet image encoder with its projection.
    pub image: MetaArch,
    /// Linear projection of the caption embeddings.
    pub text: MetaArch,
    /// The contrastive loss.
    pub op: ContrastiveOp,
    text_dim: usize,
}

/// Parameters of both sides of a [`BiArch`].
#[derive(Debug, Clone)]
pub struct BiParams {
    /// The image side's.
    pub image: Params,
    /// The text projection's (weight, bias).
    pub text: Params,
}

impl BiParams {
    /// Both sides stepped by SGD with a (tracked) step size `lr` `[1]`.
    pub fn sgd_step_tensor(&self, grads: &BiParams, lr: &Tensor<1>) -> BiParams {
        self.sgd_step_sides(grads, lr, lr)
    }

    /// Each side stepped by SGD with its own (tracked) step size `[1]`: the image side with
    /// `lr_image`, the text projection with `lr_text` (seed 001's `syn_lr_img`, `syn_lr_txt`).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::engine::Params;
    /// use dd_prelude::vl::BiArch;
    /// let dev = device();
    /// let arch = BiArch::new(&DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(2).with_depth(1), 3))?;
    /// let p = arch.init(&dev);
    /// let zero = burn::tensor::Tensor::<1>::zeros([1], &dev);
    /// let q = p.sgd_step_sides(&p, &zero, &burn::tensor::Tensor::ones([1], &dev));
    /// let moved = |a: &Params, b: &Params| -> f32 { a.flat().sub(b.flat()).abs().max().into_scalar() };
    /// // The image side did not move (step 0); the text side did.
    /// assert_eq!(moved(&q.image, &p.image), 0.0);
    /// assert!(moved(&q.text, &p.text) > 0.0);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn sgd_step_sides(
        &self,
        grads: &BiParams,
        lr_image: &Tensor<1>,
        lr_text: &Tensor<1>,
    ) -> BiParams {
        BiParams {
            image: self.image.sgd_step_tensor(&grads.image, lr_image),
            text: self.text.sgd_step_tensor(&grads.text, lr_text),
        }
    }

    /// Both sides stepped by SGD with step size `lr`.
    pub fn sgd_step(&self, grads: &BiParams, lr: f64) -> BiParams {
        BiParams {
            image: self.image.sgd_step(&grads.image, lr),
            text: self.text.sgd_step(&grads.text, lr),
        }
    }

    /// Both sides off the autodiff graph.
    pub fn detach(&self) -> BiParams {
        BiParams {
            image: self.image.inner(),
            text: self.text.inner(),
        }
    }

    /// Both sides on the autodiff backend (constants of the graph).
    pub fn autodiff(&self) -> BiParams {
        BiParams {
            image: self.image.autodiff(),
            text: self.text.autodiff(),
        }
    }
}

impl BiArch {
    /// The two sides of `config`'s dual encoder.
    pub fn new(config: &DualEncoderConfig) -> Result<Self> {
        let mut image = config.image.clone();
        image.num_classes = config.embed_dim;
        Ok(BiArch {
            image: MetaArch::convnet(&image)?,
            text: MetaArch::mlp([1, 1, config.text_dim], &[], config.embed_dim),
            op: ContrastiveOp {
                scale: config.scale,
                normalize: true,
            },
            text_dim: config.text_dim,
        })
    }

    /// Fresh parameters (Burn's default initialisation, as [`DualEncoderConfig::init`]).
    pub fn init(&self, device: &Device) -> BiParams {
        BiParams {
            image: self.image.init(device),
            text: self.text.init(device),
        }
    }

    /// The contrastive loss of a batch of pairs and the gradients of both sides, by the
    /// explicit backward (tracked wherever `images`, `text` or `params` are).
    pub fn loss_and_grads(
        &self,
        params: &BiParams,
        images: Tensor<4>,
        text: Tensor<2>,
    ) -> (Tensor<1>, BiParams) {
        self.loss_and_grads_soft(params, images, text, None)
    }

    /// [`loss_and_grads`](Self::loss_and_grads) against soft targets `similarity` `[n, n]`
    /// (LoRS; `None`: the diagonal), tracked in it too.
    pub fn loss_and_grads_soft(
        &self,
        params: &BiParams,
        images: Tensor<4>,
        text: Tensor<2>,
        similarity: Option<Tensor<2>>,
    ) -> (Tensor<1>, BiParams) {
        let [n, d] = text.dims();
        let (ei, tape_i) = self.image.forward(&params.image, images);
        let (et, tape_t) = self.text.forward(&params.text, text.reshape([n, 1, 1, d]));
        let (loss, cache) = self.op.forward_soft(ei, et, similarity);
        let (di, dt) = self.op.backward(&cache);
        let (gi, _) = self.image.backward(&params.image, &tape_i, di, false);
        let (gt, _) = self.text.backward(&params.text, &tape_t, dt, false);
        (
            loss,
            BiParams {
                image: gi,
                text: gt,
            },
        )
    }

    fn check(&self, data: &EmbeddedPairs) -> Result<()> {
        let [c, h, w] = data.pairs().image_shape();
        ensure(
            self.image.input_shape() == [c, h, w] && data.text_dim() == self.text_dim,
            "BiArch",
            "data",
            || {
                format!(
                    "{}: images {:?} and text {}-d; the arch takes {:?} and {}-d",
                    data.name(),
                    [c, h, w],
                    data.text_dim(),
                    self.image.input_shape(),
                    self.text_dim
                )
            },
        )
    }
}

/// Seed 001's matching loss: MTT's normalised parameter distance of each side, summed,
/// `|img_K - img*|^2 / |img_0 - img*|^2 + |txt_K - txt*|^2 / |txt_0 - txt*|^2`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::{BiArch, bi_trajectory_loss};
/// let cfg = DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(2).with_depth(1), 3);
/// let arch = BiArch::new(&cfg)?;
/// let (a, b) = (arch.init(&device()), arch.init(&device()));
/// let l: f32 = bi_trajectory_loss(&a, &a, &b).into_scalar();
/// assert!((l - 2.0).abs() < 1e-5);
/// # Ok::<(), Error>(())
/// ```
pub fn bi_trajectory_loss(student: &BiParams, start: &BiParams, target: &BiParams) -> Tensor<1> {
    trajectory_loss(&student.image, &start.image, &target.image).add(trajectory_loss(
        &student.text,
        &start.text,
        &target.text,
    ))
}

/// One expert trajectory of both sides on the real pairs: fresh parameters (seeded by
/// `seed`), then `epochs` epochs of plain SGD (MTT's experts: no momentum, no weight decay)
/// with step `lr` on shuffled batches of `batch` pairs, the parameters kept after every epoch
/// (`epochs + 1` entries, the first the initialisation).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::{BiArch, CaptionEmbeddings, train_bi_expert};
/// let dev = device();
/// let pairs = PairSet::from_pixels("t", [1, 4, 4], (0..64).map(|i| (i % 5) as f32 / 5.0).collect(),
///     (0..4).map(|i| vec![format!("c{i}")]).collect(), (0..4).map(|i| i.to_string()).collect())?;
/// let set = CaptionEmbeddings::new((0..12).map(|i| ((i * 7) % 5) as f32).collect(), 3, (0..4).collect())?
///     .training_pairs(&pairs)?;
/// let arch = BiArch::new(&DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(2).with_depth(1), 3))?;
/// let traj = train_bi_expert(&arch, &set, 2, 0.1, 2, 0, &dev)?;
/// assert_eq!(traj.len(), 3);
/// # Ok::<(), Error>(())
/// ```
pub fn train_bi_expert(
    arch: &BiArch,
    data: &EmbeddedPairs,
    epochs: usize,
    lr: f64,
    batch: usize,
    seed: u64,
    device: &Device,
) -> Result<Vec<BiParams>> {
    arch.check(data)?;
    ensure(batch >= 2, "train_bi_expert", "batch", || {
        format!("is {batch}; the contrastive loss needs at least 2 pairs")
    })?;
    device.seed(seed);
    let mut params = arch.init(device);
    let mut out = vec![params.clone()];
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..data.len()).collect();
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(batch).filter(|c| c.len() >= 2) {
            let (x, t) = data.inputs(chunk, device);
            let (_, g) = arch.loss_and_grads(&params, x, t);
            params = params.sgd_step(&g, lr);
        }
        out.push(params.clone());
    }
    Ok(out)
}

/// Hyper-parameters of bi-trajectory matching (seed 001's stage 2; MTT's defaults where the
/// seed has none).
///
/// # Example
/// ```
/// let c = dd_prelude::vl::BiTrajectoryConfig::new(100);
/// assert_eq!((c.pairs, c.syn_steps, c.expert_epochs), (100, 10, 2));
/// assert!(c.check().is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct BiTrajectoryConfig {
    /// Synthetic pairs.
    pub pairs: usize,
    /// Student SGD steps per matching (`syn_steps`).
    pub syn_steps: usize,
    /// Expert epochs the student's steps should cover (`expert_epochs`).
    pub expert_epochs: usize,
    /// Latest expert epoch a matching starts from (`max_start_epoch`).
    pub max_start_epoch: usize,
    /// Synthetic pairs per student step (`batch_syn`; all of them when larger).
    pub batch_syn: usize,
    /// Outer iterations.
    pub iterations: usize,
    /// Learning rate of the synthetic images (10: on Twemoji at 32 px the meta-gradient's
    /// norm is about 1e-3 of the images', so a step moves them about 1%).
    pub lr_images: f64,
    /// Learning rate of the synthetic text embeddings (0.01: the meta-gradient's norm is
    /// about 1.7 times that of the unit-length embeddings).
    pub lr_text: f64,
    /// Learning rate of the student step sizes (MTT's 1e-5).
    pub lr_lr: f64,
    /// Initial student step size (of both sides).
    pub init_lr: f64,
    /// Learn a step size per side, as seed 001's code does (`syn_lr_img` for the image
    /// encoder's parameters, `syn_lr_txt` for the text projection's); `false`: one step size
    /// for both sides (its meta-gradient the sum of the two sides').
    pub per_side_lr: bool,
    /// Momentum of the outer SGD (0.5 in MTT's code).
    pub momentum: f64,
    /// Start from real pairs (`true`, the seed's choice) or from noise.
    pub real_init: bool,
    /// Keep every synthetic text embedding at unit length (rescaled after each outer step),
    /// where the sentence encoder's normalised embeddings lie; `false`: free.
    pub unit_text: bool,
    /// Learn the images (`false`: the text-only ablation keeps them fixed).
    pub learn_images: bool,
    /// Learn the text embeddings (`false`: the image-only ablation).
    pub learn_text: bool,
    /// Seed of the initial pairs, the expert and start-epoch draws and the batches.
    pub seed: u64,
    /// LoRS: learn a low-rank similarity matrix between the synthetic images and texts
    /// alongside them (`None`: the pairs match only along the diagonal, seed 001).
    pub similarity: Option<SimilarityConfig>,
}

/// LoRS's learned similarity ([`LowRankSimilarity`]): its rank, `alpha` and outer learning
/// rate (LoRS's Flickr30K scripts: rank 10, alpha 3, lr 10).
///
/// # Example
/// ```
/// let c = dd_prelude::vl::SimilarityConfig { rank: 10, alpha: 3.0, lr: 10.0 };
/// assert_eq!(c.rank, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimilarityConfig {
    /// Rank of the low-rank part.
    pub rank: usize,
    /// Scale of the low-rank part (times `1 / rank`).
    pub alpha: f64,
    /// Outer learning rate of its parameters.
    pub lr: f64,
}

/// One unroll's matching loss and meta-gradients ([`BiTrajectoryConfig::meta_grads`]).
#[derive(Debug, Clone)]
pub struct MetaGrads {
    /// The matching loss.
    pub loss: f64,
    /// With respect to the synthetic images.
    pub images: Tensor<4>,
    /// With respect to the synthetic text embeddings.
    pub text: Tensor<2>,
    /// With respect to the step sizes of the image side and of the text side (add the two for
    /// the gradient of one step size shared by both).
    pub lr: [f64; 2],
    /// With respect to the similarity's parameters, when one is learned.
    pub similarity: Option<LowRankSimilarity>,
}

impl BiTrajectoryConfig {
    /// Defaults for `pairs` synthetic pairs.
    pub fn new(pairs: usize) -> Self {
        BiTrajectoryConfig {
            pairs,
            syn_steps: 10,
            expert_epochs: 2,
            max_start_epoch: 5,
            batch_syn: 100,
            iterations: 100,
            lr_images: 10.0,
            lr_text: 0.01,
            lr_lr: 1e-5,
            init_lr: 0.05,
            per_side_lr: true,
            momentum: 0.5,
            real_init: true,
            unit_text: false,
            learn_images: true,
            learn_text: true,
            seed: 0,
            similarity: None,
        }
    }

    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "BiTrajectoryConfig";
        ensure(self.pairs >= 2, M, "pairs", || "needs at least 2".into())?;
        ensure(self.syn_steps >= 1, M, "syn_steps", || {
            "needs at least 1".into()
        })?;
        ensure(self.expert_epochs >= 1, M, "expert_epochs", || {
            "needs at least 1".into()
        })?;
        ensure(self.batch_syn >= 2, M, "batch_syn", || {
            "needs at least 2".into()
        })?;
        ensure(self.init_lr > 0.0, M, "init_lr", || {
            "must be positive".into()
        })?;
        ensure(
            self.learn_images || self.learn_text,
            M,
            "learn_images",
            || "and learn_text are both off: nothing to learn".into(),
        )
    }

    /// The matching loss of one unroll and its meta-gradients: from `start`, `syn_steps` SGD
    /// steps with step sizes `lr` (image side, text side) on the synthetic `(images, text)`
    /// minibatches `batches` (against `similarity`'s blocks when given), then
    /// [`bi_trajectory_loss`] against `target`. Returns the loss and its gradients with
    /// respect to the images, the text embeddings, the two step sizes and the similarity's
    /// parameters.
    #[allow(clippy::too_many_arguments)]
    pub fn meta_grads(
        arch: &BiArch,
        start: &BiParams,
        target: &BiParams,
        images: &Tensor<4>,
        text: &Tensor<2>,
        lr: [f64; 2],
        similarity: Option<&LowRankSimilarity>,
        batches: &[Vec<usize>],
    ) -> MetaGrads {
        let dev = images.device();
        let x = images.clone().autodiff().require_grad();
        let t = text.clone().autodiff().require_grad();
        let lr_t = Tensor::<1>::from_data(TensorData::new(lr.to_vec(), [2]), &dev)
            .cast(images.dtype())
            .autodiff()
            .require_grad();
        let sim = similarity.map(LowRankSimilarity::require_grad);
        let loss = unrolled_bi_loss_with(
            arch,
            start,
            target,
            x.clone(),
            t.clone(),
            lr_t.clone(),
            sim.as_ref(),
            batches,
        );
        let value: f64 = loss.clone().inner().into_scalar::<f64>();
        let grads = loss.backward();
        MetaGrads {
            loss: value,
            images: x.grad(&grads).expect("the loss depends on the images"),
            text: t.grad(&grads).expect("the loss depends on the text"),
            lr: {
                let g = lr_t
                    .grad(&grads)
                    .expect("the loss depends on the step sizes")
                    .into_data()
                    .convert::<f64>()
                    .try_into_vec::<f64>()
                    .expect("the step sizes' gradient converts to f64");
                [g[0], g[1]]
            },
            similarity: sim.map(|s| s.grads(&grads)),
        }
    }

    /// Distils `data` by matching `experts` (trajectories of [`train_bi_expert`]): the
    /// synthetic pairs start as random real pairs (or noise), then each iteration draws an
    /// expert and a start epoch, unrolls the student, and steps the images, the text
    /// embeddings and the step sizes (one per side, or one shared: `per_side_lr`) by SGD with
    /// momentum on their meta-gradients.
    pub fn distill(
        &self,
        arch: &BiArch,
        data: &EmbeddedPairs,
        captions: &CaptionEmbeddings,
        experts: &[Vec<BiParams>],
        device: &Device,
    ) -> Result<DistilledPairs> {
        self.check()?;
        arch.check(data)?;
        let n = self.pairs;
        ensure(n <= data.len(), "BiTrajectoryConfig", "pairs", || {
            format!("is {n}; the real set has {}", data.len())
        })?;
        let needed = self.max_start_epoch + self.expert_epochs;
        ensure(
            !experts.is_empty() && experts.iter().all(|e| e.len() > needed),
            "BiTrajectoryConfig",
            "experts",
            || {
                format!(
                    "need at least one trajectory of {} epochs (max_start_epoch + expert_epochs)",
                    needed
                )
            },
        )?;
        let mut rng = StdRng::seed_from_u64(self.seed);
        let init = data.pairs().sample(n, self.seed);
        let (mut images, mut text) = data.inputs(&init, device);
        let d = data.text_dim();
        let text_init: Vec<f32> = text
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| Error::config("BiTrajectoryConfig", "text", format!("{e:?}")))?;
        if !self.real_init {
            device.seed(self.seed);
            images = images.random_like(burn::tensor::Distribution::Normal(0.0, 1.0));
            text = text.random_like(burn::tensor::Distribution::Normal(0.0, 1.0));
        }
        if self.unit_text {
            text = unit_rows(text);
        }
        let mut lr = [self.init_lr; 2];
        let (mut vx, mut vt, mut vlr) = (images.zeros_like(), text.zeros_like(), [0.0f64; 2]);
        let mut sim = self.similarity.as_ref().map(|c| {
            device.seed(self.seed);
            LowRankSimilarity::new(n, c.rank, c.alpha, device)
        });
        let mut vs = sim
            .as_ref()
            .map(|s| s.map(|t| t.zeros_like(), |t| t.zeros_like()));
        let mut losses = Vec::with_capacity(self.iterations);
        let mut progress = Progress::new("bi-trajectory matching", self.iterations);
        let mut order: Vec<usize> = Vec::new();
        for _ in 0..self.iterations {
            let expert = &experts[rng.random_range(0..experts.len())];
            let s = rng.random_range(0..=self.max_start_epoch);
            let batches: Vec<Vec<usize>> = (0..self.syn_steps)
                .map(|_| {
                    if order.len() < self.batch_syn.min(n) {
                        order = (0..n).collect();
                        order.shuffle(&mut rng);
                    }
                    order.split_off(order.len() - self.batch_syn.min(n))
                })
                .collect();
            let MetaGrads {
                loss,
                images: gx,
                text: gt,
                lr: glr,
                similarity: gs,
            } = Self::meta_grads(
                arch,
                &expert[s],
                &expert[s + self.expert_epochs],
                &images,
                &text,
                lr,
                sim.as_ref(),
                &batches,
            );
            if !loss.is_finite() {
                return Err(Error::config(
                    "BiTrajectoryConfig",
                    "lr_images",
                    format!("the matching loss became {loss}; lower the learning rates"),
                ));
            }
            losses.push(loss);
            if self.learn_images {
                vx = vx.mul_scalar(self.momentum).add(gx.inner());
                images = images.sub(vx.clone().mul_scalar(self.lr_images));
            }
            if self.learn_text {
                vt = vt.mul_scalar(self.momentum).add(gt.inner());
                text = text.sub(vt.clone().mul_scalar(self.lr_text));
                if self.unit_text {
                    text = unit_rows(text);
                }
            }
            if let (Some(cfg), Some(cur), Some(g), Some(v)) =
                (&self.similarity, sim.as_mut(), gs, vs.as_mut())
            {
                *v = v.momentum(&g, self.momentum);
                *cur = cur.descend(v, cfg.lr);
            }
            // One shared step size moves both entries by the sum of the two sides' gradients.
            let glr = if self.per_side_lr {
                glr
            } else {
                [glr[0] + glr[1]; 2]
            };
            for k in 0..2 {
                vlr[k] = self.momentum * vlr[k] + glr[k];
                lr[k] = (lr[k] - self.lr_lr * vlr[k]).max(1e-6);
            }
            progress.tick(1, || {
                format!(
                    "matching loss {loss:.4}, step sizes {:.4} (image), {:.4} (text)",
                    lr[0], lr[1]
                )
            });
        }
        let similarity = sim.map(|s| s.matrix()).transpose()?;
        DistilledPairs::new(data, captions, images, text, &init, &text_init, lr, losses).map(
            |mut p| {
                p.text_dim = d;
                p.similarity = similarity;
                p
            },
        )
    }
}

/// The student's matching loss after an unroll: from `start`, one SGD step per minibatch of
/// synthetic pairs in `batches` with step size `lr` (`[1]`: both sides; `[2]`: the image side's
/// then the text side's, seed 001's `syn_lr_img` and `syn_lr_txt`), then
/// [`bi_trajectory_loss`] against `target`. Tracked in `images` `[n, C, H, W]`, `text` `[n, d]` and `lr` wherever
/// any of them is an autodiff tensor (the others are lifted onto the graph as constants), so
/// `backward()` gives the meta-gradients; plain otherwise.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::{BiArch, unrolled_bi_loss};
/// use burn::tensor::Tensor;
/// let dev = device();
/// let arch = BiArch::new(&DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(2).with_depth(1), 3))?;
/// let (start, target) = (arch.init(&dev), arch.init(&dev));
/// let x = Tensor::<4>::ones([2, 1, 4, 4], &dev).autodiff().require_grad();
/// let t = Tensor::<2>::ones([2, 3], &dev);
/// let loss = unrolled_bi_loss(&arch, &start, &target, x.clone(), t, Tensor::from_floats([0.1], &dev), &[vec![0, 1]]);
/// assert_eq!(x.grad(&loss.backward()).unwrap().dims(), [2, 1, 4, 4]);
/// # Ok::<(), Error>(())
/// ```
pub fn unrolled_bi_loss(
    arch: &BiArch,
    start: &BiParams,
    target: &BiParams,
    images: Tensor<4>,
    text: Tensor<2>,
    lr: Tensor<1>,
    batches: &[Vec<usize>],
) -> Tensor<1> {
    unrolled_bi_loss_with(arch, start, target, images, text, lr, None, batches)
}

/// [`unrolled_bi_loss`] with LoRS's learned similarity: each student step's contrastive loss
/// takes the batch's block of `similarity` as its soft targets (the diagonal when `None`).
/// Tracked in the similarity's parameters too wherever they are autodiff tensors.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::vl::{BiArch, LowRankSimilarity, unrolled_bi_loss_with};
/// use burn::tensor::Tensor;
/// let dev = device();
/// let arch = BiArch::new(&DualEncoderConfig::new(ConvNetConfig::new(1, 1, [4, 4]).with_width(2).with_depth(1), 3))?;
/// let (start, target) = (arch.init(&dev), arch.init(&dev));
/// let sim = LowRankSimilarity::new(2, 1, 1.0, &dev).require_grad();
/// let x = Tensor::<4>::ones([2, 1, 4, 4], &dev);
/// let t = Tensor::<2>::ones([2, 3], &dev);
/// let loss = unrolled_bi_loss_with(&arch, &start, &target, x, t, Tensor::from_floats([0.1], &dev), Some(&sim), &[vec![0, 1]]);
/// assert_eq!(sim.grads(&loss.backward()).diag.dims(), [2]);
/// # Ok::<(), Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn unrolled_bi_loss_with(
    arch: &BiArch,
    start: &BiParams,
    target: &BiParams,
    images: Tensor<4>,
    text: Tensor<2>,
    lr: Tensor<1>,
    similarity: Option<&LowRankSimilarity>,
    batches: &[Vec<usize>],
) -> Tensor<1> {
    let dev = images.device();
    let tracked = images.is_autodiff()
        || text.is_autodiff()
        || lr.is_autodiff()
        || similarity
            .is_some_and(|s| s.diag.is_autodiff() || s.left.is_autodiff() || s.right.is_autodiff());
    let (images, text, lr) = if tracked {
        (lift(images), lift(text), lift(lr))
    } else {
        (images, text, lr)
    };
    let similarity = similarity.map(|s| if tracked { s.lifted() } else { s.clone() });
    let (lr_image, lr_text) = match lr.dims() {
        [2] => (lr.clone().narrow(0, 0, 1), lr.narrow(0, 1, 1)),
        _ => (lr.clone(), lr),
    };
    let (start, target) = if tracked {
        (start.autodiff(), target.autodiff())
    } else {
        (start.clone(), target.clone())
    };
    let mut theta = start.clone();
    for b in batches {
        let idx = Tensor::<1, burn::tensor::Int>::from_data(
            TensorData::new(b.iter().map(|&i| i as i64).collect::<Vec<_>>(), [b.len()]),
            &dev,
        );
        let idx = if tracked { idx.autodiff() } else { idx };
        let x = images.clone().select(0, idx.clone());
        let t = text.clone().select(0, idx.clone());
        let s = similarity.as_ref().map(|s| s.block(idx));
        let (_, g) = arch.loss_and_grads_soft(&theta, x, t, s);
        theta = theta.sgd_step_sides(&g, &lr_image, &lr_text);
    }
    bi_trajectory_loss(&theta, &start, &target)
}

/// `t` on the autodiff backend (a constant of the graph) unless it is already there.
fn lift<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    if t.is_autodiff() { t } else { t.autodiff() }
}

/// LoRS's learned similarity between `n` synthetic images and texts, low rank around the
/// diagonal: `S = diag(a) + (alpha / r) L R^T` (`a` `[n]` starts at ones, `L` `[n, r]` at
/// normal noise, `R` `[n, r]` at zeros, so `S` starts as the identity). Its rows are the soft
/// targets of the contrastive loss ([`ContrastiveOp::forward_soft`]).
///
/// # Example
/// ```
/// use dd_prelude::vl::LowRankSimilarity;
/// let s = LowRankSimilarity::new(3, 2, 1.0, &dd_prelude::device());
/// assert_eq!(s.matrix()?, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LowRankSimilarity {
    /// The diagonal weights `a`, `[n]`.
    pub diag: Tensor<1>,
    /// The left factor `L`, `[n, r]`.
    pub left: Tensor<2>,
    /// The right factor `R`, `[n, r]`.
    pub right: Tensor<2>,
    /// `alpha / r`.
    pub scale: f64,
}

impl LowRankSimilarity {
    /// The identity for `n` pairs with rank `rank` factors scaled by `alpha / rank`.
    pub fn new(n: usize, rank: usize, alpha: f64, device: &Device) -> Self {
        let rank = rank.max(1);
        LowRankSimilarity {
            diag: Tensor::ones([n], device),
            left: Tensor::random(
                [n, rank],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                device,
            ),
            right: Tensor::zeros([n, rank], device),
            scale: alpha / rank as f64,
        }
    }

    /// The three parameters as leaves of a new graph (for their meta-gradients).
    pub fn require_grad(&self) -> Self {
        self.map(
            |t| t.autodiff().require_grad(),
            |t| t.autodiff().require_grad(),
        )
    }

    /// Their gradients in `grads` (zeros for a parameter the loss does not reach).
    pub fn grads(&self, grads: &burn::tensor::Gradients) -> Self {
        LowRankSimilarity {
            diag: self
                .diag
                .grad(grads)
                .unwrap_or_else(|| self.diag.clone().inner().zeros_like()),
            left: self
                .left
                .grad(grads)
                .unwrap_or_else(|| self.left.clone().inner().zeros_like()),
            right: self
                .right
                .grad(grads)
                .unwrap_or_else(|| self.right.clone().inner().zeros_like()),
            scale: self.scale,
        }
    }

    /// The rows and columns at `idx`, `[k, k]`.
    pub fn block(&self, idx: Tensor<1, burn::tensor::Int>) -> Tensor<2> {
        let a = self.diag.clone().select(0, idx.clone());
        let [k] = a.dims();
        let eye = Tensor::<2>::eye(k, &a.device()).cast(a.dtype());
        let eye = if a.is_autodiff() { eye.autodiff() } else { eye };
        let l = self.left.clone().select(0, idx.clone());
        let r = self.right.clone().select(0, idx);
        eye.mul(a.unsqueeze_dim::<2>(0))
            .add(l.matmul(r.transpose()).mul_scalar(self.scale))
    }

    /// The whole `[n, n]` matrix, row-major.
    pub fn matrix(&self) -> Result<Vec<f32>> {
        let [n] = self.diag.dims();
        let idx = Tensor::<1, burn::tensor::Int>::arange(0..n as i64, &self.diag.device());
        let idx = if self.diag.is_autodiff() {
            idx.autodiff()
        } else {
            idx
        };
        self.block(idx)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| Error::config("LowRankSimilarity", "matrix", format!("{e:?}")))
    }

    fn lifted(&self) -> Self {
        self.map(lift, lift)
    }

    fn map(
        &self,
        f1: impl Fn(Tensor<1>) -> Tensor<1>,
        f2: impl Fn(Tensor<2>) -> Tensor<2>,
    ) -> Self {
        LowRankSimilarity {
            diag: f1(self.diag.clone()),
            left: f2(self.left.clone()),
            right: f2(self.right.clone()),
            scale: self.scale,
        }
    }

    /// `self - lr * step` for each parameter, off the graph.
    fn descend(&self, step: &Self, lr: f64) -> Self {
        LowRankSimilarity {
            diag: self.diag.clone().sub(step.diag.clone().mul_scalar(lr)),
            left: self.left.clone().sub(step.left.clone().mul_scalar(lr)),
            right: self.right.clone().sub(step.right.clone().mul_scalar(lr)),
            scale: self.scale,
        }
    }

    /// `momentum * self + g`, the outer SGD's velocity.
    fn momentum(&self, g: &Self, momentum: f64) -> Self {
        LowRankSimilarity {
            diag: self.diag.clone().mul_scalar(momentum).add(g.diag.clone()),
            left: self.left.clone().mul_scalar(momentum).add(g.left.clone()),
            right: self.right.clone().mul_scalar(momentum).add(g.right.clone()),
            scale: self.scale,
        }
    }
}

/// A distilled set of pairs: synthetic images and continuous text embeddings, the learned
/// step sizes, the matching losses, and each synthetic text's nearest real caption before and
/// after distillation.
#[derive(Debug, Clone)]
pub struct DistilledPairs {
    /// The pairs as a training set (each image with its synthetic text embedding); each
    /// image's caption is the real caption nearest its text embedding.
    pub set: EmbeddedPairs,
    /// The learned student step size of the image side (of both sides when one is shared);
    /// fresh models train with it, as seed 001's code evaluates (`lr_net = syn_lr_img`).
    pub lr: f64,
    /// The learned student step size of the text side (equal to `lr` when one is shared).
    pub lr_text: f64,
    /// The matching loss of every iteration.
    pub losses: Vec<f64>,
    /// Nearest real caption of each synthetic text at initialisation.
    pub nearest_before: Vec<String>,
    /// Nearest real caption of each synthetic text after distillation.
    pub nearest_after: Vec<String>,
    /// LoRS's learned `[n, n]` similarity (row-major), when one was learned: fresh models
    /// train against it ([`SimilarityContrastive`](crate::train::SimilarityContrastive)).
    pub similarity: Option<Vec<f32>>,
    text_dim: usize,
}

impl DistilledPairs {
    #[allow(clippy::too_many_arguments)]
    fn new(
        data: &EmbeddedPairs,
        captions: &CaptionEmbeddings,
        images: Tensor<4>,
        text: Tensor<2>,
        init: &[usize],
        text_init: &[f32],
        lr: [f64; 2],
        losses: Vec<f64>,
    ) -> Result<Self> {
        let real = data.pairs();
        let [c, h, w] = real.image_shape();
        let n = init.len();
        let conv = |e: burn::tensor::DataError| {
            Error::config("DistilledPairs", "tensors", format!("{e:?}"))
        };
        let x: Vec<f32> = images.into_data().try_into_vec::<f32>().map_err(conv)?;
        let t: Vec<f32> = text.into_data().try_into_vec::<f32>().map_err(conv)?;
        let d = captions.dim();
        let texts = real.caption_pairs();
        let nearest = |v: &[f32]| -> String {
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
            let best = (0..captions.len())
                .map(|k| {
                    let r = captions.row(k);
                    (k, r.iter().zip(v).map(|(a, b)| a * b).sum::<f32>() / norm)
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(k, _)| k)
                .unwrap_or(0);
            texts[best].1.to_string()
        };
        let before: Vec<String> = (0..n)
            .map(|i| nearest(&text_init[i * d..(i + 1) * d]))
            .collect();
        let after: Vec<String> = (0..n).map(|i| nearest(&t[i * d..(i + 1) * d])).collect();
        // Back to pixel values with the real set's statistics, so the set shows as images.
        let (mean, std) = (real.mean().to_vec(), real.std().to_vec());
        let plane = h * w;
        let pixels: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(k, v)| {
                let ch = (k / plane) % c;
                v * std[ch] + mean[ch]
            })
            .collect();
        let pairs = PairSet::from_pixels_with_stats(
            format!("{} distilled ({n} pairs)", real.name()),
            [c, h, w],
            pixels,
            after.iter().map(|a| vec![a.clone()]).collect(),
            (0..n).map(|i| format!("syn {i}")).collect(),
            mean,
            std,
        )?;
        let pairs = match real.credit() {
            Some(credit) => pairs.with_credit(credit),
            None => pairs,
        };
        Ok(DistilledPairs {
            set: EmbeddedPairs::new(pairs, t, d)?,
            lr: lr[0],
            lr_text: lr[1],
            losses,
            nearest_before: before,
            nearest_after: after,
            similarity: None,
            text_dim: d,
        })
    }

    /// Width of the synthetic text embeddings.
    pub fn text_dim(&self) -> usize {
        self.text_dim
    }

    /// The first `k` distilled pairs: each synthetic image with the real caption nearest its
    /// text embedding before distillation (the real pair it started from) and after, as seed
    /// 001's slides show them.
    pub fn show(&self, k: usize) -> Result<crate::show::Html> {
        let pairs = self.set.pairs();
        let k = k.min(pairs.len());
        let idx: Vec<usize> = (0..k).collect();
        let images: Vec<f32> = idx.iter().flat_map(|&i| pairs.pixels(i)).collect();
        let captions = idx
            .iter()
            .map(|&i| {
                vec![
                    format!("before: {}", self.nearest_before[i]),
                    format!("after: {}", self.nearest_after[i]),
                ]
            })
            .collect();
        let shown = PairSet::from_pixels_with_stats(
            format!(
                "{}: nearest real caption of each synthetic text",
                pairs.name()
            ),
            pairs.image_shape(),
            images,
            captions,
            idx.iter().map(|&i| pairs.id(i).to_string()).collect(),
            pairs.mean().to_vec(),
            pairs.std().to_vec(),
        )?;
        let shown = match pairs.credit() {
            Some(c) => shown.with_credit(c),
            None => shown,
        };
        shown.show_indices(&idx)
    }

    /// The matching loss per iteration as a plot.
    pub fn loss_plot(&self) -> Result<crate::show::Png> {
        crate::show::LinePlot::new("Bi-trajectory matching loss", "iteration", "loss")
            .series(
                "image + text",
                self.losses
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| (i as f64, l))
                    .collect(),
            )
            .render()
    }
}
