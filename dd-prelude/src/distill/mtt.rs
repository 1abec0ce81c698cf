//! MTT: dataset distillation by matching training trajectories (Cazenavette et al., CVPR 2022),
//! as in the reference `distill.py`, with the unroll's gradient computed in constant memory.
//!
//! One iteration: pick an expert and a start epoch `t < max_start_epoch` from the
//! [`ExpertBuffer`]; from the expert's parameters `theta_t`, take `syn_steps` SGD steps on
//! minibatches of the synthetic images with the learnable step size `alpha`; the loss is
//! `|theta_N - theta_{t+M}|^2 / |theta_t - theta_{t+M}|^2` with `M = expert_epochs`; the images
//! and `alpha` take one SGD-momentum step each (their own learning rates, momentum 0.5).
//!
//! # The gradient in constant memory (the idea of TESLA, Cui et al., ICML 2023)
//! Differentiating the plain unroll keeps every step's graph (activations of `syn_steps`
//! forward and backward passes) until the end: memory grows with `syn_steps`. With
//! `theta_{k+1} = theta_k - alpha G_k`, `G_k = grad L(theta_k; X_k)` and
//! `g_k = dJ / d theta_k`, reverse-mode gives, from `g_N = 2 (theta_N - theta*) / D`:
//! ```text
//! dJ/dX_k  = -alpha  d/dX_k  <G_k, g_{k+1}>
//! dJ/dalpha = -sum_k <G_k, g_{k+1}>
//! g_k      = g_{k+1} - alpha H_k g_{k+1},   H_k g_{k+1} = d/dtheta_k <G_k, g_{k+1}>
//! ```
//! [`Unroll::grads_constant_memory`] runs the forward without a graph, keeping only the
//! parameters `theta_k` (a few MB each), then walks back one step at a time: it rebuilds step
//! `k`'s gradient `G_k` as a graph (the meta-gradient engine's explicit backward, in tracked
//! ops), back-propagates the scalar `<G_k, g_{k+1}>` once, and drops the graph. That gives
//! both `dJ/dX_k` and the Hessian-vector product `H_k g_{k+1}` exactly, so the result equals
//! the plain unroll's gradient to round-off (a test checks it) while at most one step's graph
//! is alive. (TESLA's paper drops the `H_k` terms in one of its equations; the recursion above
//! keeps them.) The minibatches and augmentations are fixed before the forward pass
//! ([`Unroll::new`]) so both passes see the same inputs.

use burn::config::Config;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::engine::ops::one_hot;
use super::engine::{MetaArch, Params};
use super::experts::ExpertBuffer;
use super::outer::{Ctx, Method, RealPool, SynState, run};
use super::settings::{DistillCommon, check_settings, common_setters};
use super::{DistillRun, Distiller};
use crate::augment::DiffAugConfig;
use crate::data::ImageSet;
use crate::error::{Error, Result, ensure};
use crate::show::Table;
use polars::prelude::{Column, DataFrame};

/// MTT's normalised parameter distance `|theta - target|^2 / |start - target|^2`, `[1]`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::{engine::MetaArch, trajectory_loss};
/// let arch = MetaArch::mlp([1, 2, 2], &[3], 2);
/// let (a, b) = (arch.init(&device()), arch.init(&device()));
/// let at_start: f32 = trajectory_loss(&a, &a, &b).into_scalar();
/// assert!((at_start - 1.0).abs() < 1e-6);
/// ```
pub fn trajectory_loss(theta: &Params, start: &Params, target: &Params) -> Tensor<1> {
    let num = theta.zip_map(target, |a, b| a.sub(b)).squared_norm();
    let den = start.zip_map(target, |a, b| a.sub(b)).squared_norm();
    num.div(den)
}

/// The synthetic minibatches of one unroll, fixed before it runs: for every step, the
/// indices of the synthetic images it trains on (MTT's `indices_chunks`: a random permutation
/// cut into batches, taken from the end, a new permutation when they run out) and the random
/// stream of its DSA augmentation.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::distill::{Unroll, engine::MetaArch, trajectory_loss};
/// use rand::SeedableRng;
/// let dev = device();
/// let arch = MetaArch::mlp([1, 2, 2], &[4], 2);
/// let (start, target) = (arch.init(&dev), arch.init(&dev));
/// let images = burn::tensor::Tensor::<4>::ones([4, 1, 2, 2], &dev);
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let unroll = Unroll::new(vec![0, 0, 1, 1], 2, 2, 3, None, &mut rng);
/// let (loss, grad, _dlr) = unroll.grads_constant_memory(&arch, &start, &target, &images, 0.1);
/// assert_eq!(grad.dims(), [4, 1, 2, 2]);
/// assert!(loss > 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct Unroll {
    batches: Vec<Vec<usize>>,
    labels: Vec<usize>,
    classes: usize,
    augment: Option<DiffAugConfig>,
    seeds: Vec<u64>,
}

impl Unroll {
    /// `steps` minibatches of `batch` images from the synthetic images labelled `labels`
    /// (one per image), drawn from `rng`; `augment` is applied to each batch with a stream of
    /// its own.
    pub fn new(
        labels: Vec<usize>,
        classes: usize,
        batch: usize,
        steps: usize,
        augment: Option<DiffAugConfig>,
        rng: &mut StdRng,
    ) -> Self {
        let n = labels.len();
        let batch = batch.clamp(1, n.max(1));
        let mut chunks: Vec<Vec<usize>> = Vec::new();
        let mut batches = Vec::with_capacity(steps);
        let mut seeds = Vec::with_capacity(steps);
        for _ in 0..steps {
            if chunks.is_empty() {
                let mut perm: Vec<usize> = (0..n).collect();
                perm.shuffle(rng);
                chunks = perm.chunks(batch).map(|c| c.to_vec()).collect();
            }
            batches.push(chunks.pop().expect("refilled above"));
            seeds.push(rng.random());
        }
        Unroll {
            batches,
            labels,
            classes,
            augment,
            seeds,
        }
    }

    /// Number of SGD steps.
    pub fn steps(&self) -> usize {
        self.batches.len()
    }

    /// Step `k`'s input (selected, augmented; tracked when `images` is) and one-hot targets.
    fn input(&self, k: usize, images: &Tensor<4>) -> (Tensor<4>, Tensor<2>) {
        let device = images.device();
        let idx = &self.batches[k];
        let index: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [idx.len()]), &device);
        let x = images.clone().select(0, index);
        let x = match &self.augment {
            Some(a) => a.augment_batch(x, &mut StdRng::seed_from_u64(self.seeds[k])),
            None => x,
        };
        let y: Vec<usize> = idx.iter().map(|&i| self.labels[i]).collect();
        (x, one_hot(&y, self.classes, &device))
    }

    /// The plain unroll: `theta_N` from `start` as a graph of `images` and `lr` (both may be
    /// tracked). Memory grows with the number of steps; the reference for
    /// [`Unroll::grads_constant_memory`].
    pub fn run_tracked(
        &self,
        arch: &MetaArch,
        start: &Params,
        images: Tensor<4>,
        lr: Tensor<1>,
    ) -> Params {
        let mut theta = start.autodiff();
        for k in 0..self.steps() {
            let (x, t) = self.input(k, &images);
            let (_, g) = arch.loss_and_grads(&theta, x, &t.autodiff());
            theta = theta.sgd_step_tensor(&g, &lr);
        }
        theta
    }

    /// The trajectory loss from `start` towards `target` and its gradients with respect to
    /// `images` and the step size `lr`, holding at most one step's graph at a time (see the
    /// [module docs](self)): `(loss, dJ/dimages, dJ/dlr)`.
    pub fn grads_constant_memory(
        &self,
        arch: &MetaArch,
        start: &Params,
        target: &Params,
        images: &Tensor<4>,
        lr: f64,
    ) -> (f64, Tensor<4>, f64) {
        let images = images.clone().inner();
        let start = start.inner();
        let target = target.inner();
        // Forward without a graph, keeping theta_0 .. theta_{N-1}.
        let mut thetas = Vec::with_capacity(self.steps());
        let mut theta = start.clone();
        for k in 0..self.steps() {
            let (x, t) = self.input(k, &images);
            let (_, g) = arch.loss_and_grads(&theta, x, &t);
            let next = theta.sgd_step(&g, lr);
            thetas.push(theta);
            theta = next;
        }
        let den = start.zip_map(&target, |a, b| a.sub(b)).squared_norm();
        let diff = theta.zip_map(&target, |a, b| a.sub(b));
        let loss = diff.squared_norm().div(den.clone());
        let loss_value = loss.into_scalar::<f64>();
        // g_N = 2 (theta_N - target) / D
        let scale = den.mul_scalar(0.5).recip();
        let mut g = diff.map(|d| d.mul(scale.clone()));
        let mut d_images = Tensor::zeros_like(&images);
        let mut d_lr = 0.0;
        for k in (0..self.steps()).rev() {
            let leaf = images.clone().autodiff().require_grad();
            let theta_k = thetas[k].require_grad();
            let (x, t) = self.input(k, &leaf);
            let (_, gk) = arch.loss_and_grads(&theta_k, x, &t.autodiff());
            let dot = gk.zip_map(&g, |a, b| a.mul(b).sum());
            let s = Tensor::cat(dot.values().to_vec(), 0).sum();
            d_lr -= s.clone().into_scalar::<f64>();
            let grads = s.backward();
            if let Some(dx) = leaf.grad(&grads) {
                d_images = d_images.sub(dx.mul_scalar(lr));
            }
            let hg = theta_k.grads_from(&grads);
            g = g.zip_map(&hg, |a, b| a.sub(b.mul_scalar(lr)));
        }
        (loss_value, d_images, d_lr)
    }
}

/// What one MTT gradient cost ([`MttConfig::unroll_cost`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnrollCost {
    /// SGD steps unrolled.
    pub syn_steps: usize,
    /// Whether the gradient was the constant-memory one ([`Unroll::grads_constant_memory`]).
    pub constant_memory: bool,
    /// Resident memory (MiB) above what the process held before the gradient, at its peak
    /// (Linux's high-water mark, reset first; NaN where the platform gives none).
    pub peak_mib: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The trajectory loss, so both paths can be compared.
    pub loss: f64,
}

impl MttConfig {
    /// Memory and time of one MTT gradient with `syn_steps` unrolled steps on this config's
    /// network (width, depth, augmentation, synthetic batch) for a set shaped like `data`
    /// (`ipc` of its images per class as the synthetic images, a random start and a target
    /// one SGD step away): the constant-memory gradient or the plain unroll's. Peak memory is
    /// measured in this process (Linux's high-water mark, reset before the gradient), above
    /// what it already held; memory a previous call freed but the allocator kept may lower a
    /// later figure, so measure in increasing order, or one per process as
    /// `examples/mtt_memory` does.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::MttConfig;
    /// let px: Vec<f32> = (0..4 * 64).map(|i| ((i * 7) % 16) as f32 / 16.0).collect();
    /// let data = ImageSet::from_pixels("toy", [1, 8, 8], px, vec![0, 1, 0, 1], vec!["a".into(), "b".into()])?;
    /// let cfg = MttConfig::new(1, String::new()).with_width(4).with_depth(1);
    /// let (c, p) = (cfg.unroll_cost(&data, 3, true, &device())?, cfg.unroll_cost(&data, 3, false, &device())?);
    /// assert!((c.loss - p.loss).abs() <= 1e-5 * p.loss.abs());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn unroll_cost(
        &self,
        data: &ImageSet,
        syn_steps: usize,
        constant_memory: bool,
        device: &Device,
    ) -> Result<UnrollCost> {
        let cfg = self.clone().with_syn_steps(syn_steps);
        cfg.check()?;
        let arch = MetaArch::convnet(&cfg.common.convnet(data))?;
        let syn = data.subset(&data.sample_per_class(cfg.ipc, cfg.common.seed));
        let labels = syn.labels().to_vec();
        let classes = data.num_classes();
        let images = syn.tensor(device);
        device.seed(cfg.common.seed);
        let start = arch.init(device);
        let (_, g) =
            arch.loss_and_grads(&start, images.clone(), &one_hot(&labels, classes, device));
        let target = start.sgd_step(&g, 10.0 * cfg.lr_init);
        let mut rng = StdRng::seed_from_u64(cfg.common.seed);
        let n = labels.len();
        let unroll = Unroll::new(
            labels,
            classes,
            cfg.batch_syn.unwrap_or(n),
            syn_steps,
            cfg.augment.clone(),
            &mut rng,
        );
        // Memory freed by earlier work goes back to the system first (glibc keeps it otherwise,
        // and the peak above the baseline would miss what it reuses).
        let watch = crate::PeakMemory::start();
        let started = std::time::Instant::now();
        let loss = if constant_memory {
            unroll
                .grads_constant_memory(&arch, &start, &target, &images, cfg.lr_init)
                .0
        } else {
            let leaf = images.autodiff().require_grad();
            let lr = Tensor::<1>::from_data(TensorData::new(vec![cfg.lr_init], [1]), device)
                .autodiff()
                .require_grad();
            let theta = unroll.run_tracked(&arch, &start, leaf.clone(), lr.clone());
            let l = trajectory_loss(&theta, &start, &target);
            let value = l.clone().into_scalar::<f64>();
            let grads = l.backward();
            let _ = (leaf.grad(&grads), lr.grad(&grads));
            value
        };
        let seconds = started.elapsed().as_secs_f64();
        let peak_mib = watch.peak_mib();
        Ok(UnrollCost {
            syn_steps,
            constant_memory,
            peak_mib,
            seconds,
            loss,
        })
    }

    /// [`MttConfig::unroll_cost`] of both gradients at each of `syn_steps` (the constant-memory
    /// ones first, then the plain unrolls, each in the order given), as a table: peak MiB and seconds of
    /// each, and the relative difference of their losses.
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// use dd_prelude::distill::MttConfig;
    /// let px: Vec<f32> = (0..4 * 64).map(|i| ((i * 7) % 16) as f32 / 16.0).collect();
    /// let data = ImageSet::from_pixels("toy", [1, 8, 8], px, vec![0, 1, 0, 1], vec!["a".into(), "b".into()])?;
    /// let cfg = MttConfig::new(1, String::new()).with_width(4).with_depth(1);
    /// let t = cfg.memory_table(&data, &[2, 4], &device())?;
    /// assert_eq!(t.frame().height(), 2);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn memory_table(
        &self,
        data: &ImageSet,
        syn_steps: &[usize],
        device: &Device,
    ) -> Result<Table> {
        let mut constant = Vec::new();
        for &steps in syn_steps {
            constant.push(self.unroll_cost(data, steps, true, device)?);
        }
        let mut rows = Vec::new();
        for (&steps, c) in syn_steps.iter().zip(constant) {
            rows.push((c, self.unroll_cost(data, steps, false, device)?));
        }
        let col = |name: &str, f: &dyn Fn(&(UnrollCost, UnrollCost)) -> f64| {
            Column::new(name.into(), rows.iter().map(f).collect::<Vec<f64>>())
        };
        let frame = DataFrame::new_infer_height(vec![
            Column::new(
                "syn_steps".into(),
                rows.iter()
                    .map(|r| r.0.syn_steps as u32)
                    .collect::<Vec<_>>(),
            ),
            col("plain unroll: peak MiB", &|r| r.1.peak_mib),
            col("constant memory: peak MiB", &|r| r.0.peak_mib),
            col("plain s", &|r| r.1.seconds),
            col("constant s", &|r| r.0.seconds),
            col("loss relative difference", &|r| {
                (r.0.loss - r.1.loss).abs() / r.1.loss.abs().max(f64::MIN_POSITIVE)
            }),
        ])
        .map_err(|e| Error::Render {
            what: "MTT memory table",
            reason: e.to_string(),
        })?;
        Ok(Table::new(
            format!(
                "One MTT gradient: {} synthetic images per class, ConvNet width {} depth {}",
                self.ipc, self.common.width, self.common.depth
            ),
            frame,
        ))
    }
}

/// MTT, the trajectory-matching distiller; its config is [`MttConfig`].
pub type Mtt = MttConfig;

/// Configuration of [`Mtt`]: defaults are the reference's (`syn_steps` 20, `expert_epochs` 3,
/// `max_start_epoch` 25, `lr_img` 1000 and `lr_lr` 1e-5 with momentum 0.5, initial step size
/// 0.01, every synthetic image in each step's batch, DSA augmentation), 5000 iterations. The
/// network is the buffer's; `common.width` and `common.depth` must match it.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// use dd_prelude::distill::{Distiller, ExpertConfig, MttConfig};
/// let fmnist = FashionMnist::load_default()?;
/// let dev = device();
/// ExpertConfig::new().with_epochs(30).train_experts(0..5, &fmnist.train, "buffers/fmnist", &dev)?;
/// let syn = MttConfig::new(10, "buffers/fmnist".into()).with_iterations(500).distill(&fmnist.train, &dev)?;
/// # Ok::<(), Error>(())
/// ```
#[derive(Config, Debug)]
pub struct MttConfig {
    /// Synthetic images per class.
    pub ipc: usize,
    /// The expert buffer's folder ([`super::ExpertConfig::train_experts`], `dd-experts`).
    pub buffer: String,
    /// The settings every distiller shares; images' step size 1000 (the reference's `lr_img`).
    #[config(default = "DistillCommon::new().with_iterations(5000).with_lr_images(1000.0)")]
    pub common: DistillCommon,
    /// SGD steps on the synthetic set per iteration (`syn_steps`).
    #[config(default = 20)]
    pub syn_steps: usize,
    /// Epochs of the expert the student is matched against (`expert_epochs`).
    #[config(default = 3)]
    pub expert_epochs: usize,
    /// Start epochs are drawn below this (`max_start_epoch`).
    #[config(default = 25)]
    pub max_start_epoch: usize,
    /// Initial value of the learnable step size (`lr_teacher`).
    #[config(default = 0.01)]
    pub lr_init: f64,
    /// Learning rate of the step size (`lr_lr`).
    #[config(default = 1e-5)]
    pub lr_lr: f64,
    /// Synthetic images per step (`batch_syn`; `None`: all of them).
    #[config(default = "None")]
    pub batch_syn: Option<usize>,
    /// DSA augmentation of every step's batch (`None` to train on the images as they are).
    #[config(default = "Some(DiffAugConfig::new())")]
    pub augment: Option<DiffAugConfig>,
    /// The gradient in constant memory (`false`: differentiate the plain unroll, whose memory
    /// grows with `syn_steps`; both give the same gradient).
    #[config(default = true)]
    pub constant_memory: bool,
}

common_setters!(MttConfig);

impl MttConfig {
    /// Checks every field (not the buffer: `start` opens it).
    pub fn check(&self) -> Result<()> {
        const M: &str = "MttConfig";
        check_settings(M, self.ipc, &self.common)?;
        ensure(self.syn_steps >= 1, M, "syn_steps", || {
            "must be at least 1".into()
        })?;
        ensure(self.expert_epochs >= 1, M, "expert_epochs", || {
            "must be at least 1".into()
        })?;
        ensure(self.max_start_epoch >= 1, M, "max_start_epoch", || {
            "must be at least 1".into()
        })?;
        ensure(
            self.lr_init > 0.0 && self.lr_init.is_finite(),
            M,
            "lr_init",
            || format!("must be positive, got {}", self.lr_init),
        )?;
        ensure(
            self.lr_lr >= 0.0 && self.lr_lr.is_finite(),
            M,
            "lr_lr",
            || format!("must be >= 0, got {}", self.lr_lr),
        )?;
        ensure(self.batch_syn != Some(0), M, "batch_syn", || {
            "must be at least 1 (or None for all images)".into()
        })?;
        if let Some(a) = &self.augment {
            a.check()?;
        }
        Ok(())
    }
}

/// The MTT method in the shared loop.
struct MttMethod {
    cfg: MttConfig,
    buffer: ExpertBuffer,
    experts: Vec<usize>,
    config: serde_json::Value,
}

impl Method for MttMethod {
    fn name(&self) -> &'static str {
        "MTT"
    }

    fn config_json(&self) -> serde_json::Value {
        self.config.clone()
    }

    fn lr_images(&self, _it: usize) -> f64 {
        self.cfg.common.lr_images
    }

    fn init_state(&self, state: &mut SynState, _real: &RealPool) -> Result<()> {
        let dev = state.images().device();
        let lr = Tensor::<1>::from_data(TensorData::new(vec![self.cfg.lr_init], [1]), &dev);
        state.add("lr", lr, self.cfg.lr_lr, 0.5)
    }

    fn iteration(&mut self, ctx: &mut Ctx<'_>) -> Result<f64> {
        let cfg = &self.cfg;
        let device = ctx.device.clone();
        let expert = self.experts[ctx.rng.random_range(0..self.experts.len())];
        let start_epoch = ctx.rng.random_range(0..cfg.max_start_epoch);
        let start = self.buffer.load(expert, start_epoch, &device)?;
        let target = self
            .buffer
            .load(expert, start_epoch + cfg.expert_epochs, &device)?;
        let labels = ctx.syn.labels();
        let n = labels.len();
        let unroll = Unroll::new(
            labels,
            ctx.syn.classes,
            cfg.batch_syn.unwrap_or(n),
            cfg.syn_steps,
            cfg.augment.clone(),
            &mut ctx.rng,
        );
        let arch = self.buffer.arch();
        let lr = ctx.syn.get::<1>("lr").into_scalar::<f64>();
        let (loss, d_images, d_lr) = if cfg.constant_memory {
            unroll.grads_constant_memory(arch, &start, &target, &ctx.syn.images(), lr)
        } else {
            let images = ctx.syn.leaf();
            let lr_leaf = ctx.syn.leaf_of::<1>("lr");
            let theta = unroll.run_tracked(arch, &start, images.clone(), lr_leaf.clone());
            let loss = trajectory_loss(&theta, &start, &target);
            let value = loss.clone().into_scalar::<f64>();
            let grads = loss.backward();
            let di = images.grad(&grads).expect("images require grad");
            let dl = lr_leaf
                .grad(&grads)
                .expect("lr requires grad")
                .into_scalar::<f64>();
            (value, di, dl)
        };
        if !loss.is_finite() {
            return Err(Error::config(
                "MttConfig",
                "lr_images",
                format!(
                    "the trajectory loss became {loss} (expert {expert}, start epoch {start_epoch}); lower lr_images or lr_lr"
                ),
            ));
        }
        let lr_images = ctx.lr;
        ctx.syn.step(d_images, lr_images);
        let d_lr = Tensor::<1>::from_data(TensorData::new(vec![d_lr], [1]), &device);
        ctx.syn.step_named("lr", d_lr);
        Ok(loss)
    }

    fn learned_lr(&self, state: &SynState) -> Option<f64> {
        Some(state.get::<1>("lr").into_scalar::<f64>())
    }
}

impl Distiller for MttConfig {
    fn name(&self) -> &'static str {
        "MTT"
    }

    fn iterations(&self) -> usize {
        self.common.iterations
    }

    fn start(&self, data: &ImageSet, device: &Device) -> Result<Box<dyn DistillRun>> {
        self.check()?;
        let buffer = ExpertBuffer::open(&self.buffer)?;
        buffer.check_data(data)?;
        let net = &buffer.manifest().convnet;
        if (net.width, net.depth) != (self.common.width, self.common.depth) {
            return Err(Error::config(
                "MttConfig",
                "width",
                format!(
                    "the buffer's experts are ConvNets of width {} depth {}; set with_width({}).with_depth({})",
                    net.width, net.depth, net.width, net.depth
                ),
            ));
        }
        let last = self.max_start_epoch - 1 + self.expert_epochs;
        if last > buffer.epochs() {
            return Err(Error::config(
                "MttConfig",
                "max_start_epoch",
                format!(
                    "start epochs up to {} plus expert_epochs {} need {last} epochs; the buffer's experts have {}",
                    self.max_start_epoch - 1,
                    self.expert_epochs,
                    buffer.epochs()
                ),
            ));
        }
        let experts = buffer.complete_experts()?;
        if experts.is_empty() {
            return Err(Error::data(
                &self.buffer,
                "no complete expert: train them first (ExpertConfig::train_experts or dd-experts)",
            ));
        }
        let method = MttMethod {
            cfg: self.clone(),
            buffer,
            experts,
            config: serde_json::to_value(self).unwrap_or_default(),
        };
        run(method, self.ipc, &self.common, data, device)
    }
}
