//! The one training loop: [`fit`] (and [`fit_with`] for a [`Hook`]).
//!
//! Everything that trains a network (the tour, the evaluation protocol, teachers, KD students,
//! selectors' reference models) goes through this loop, parameterised by [`FitConfig`]. It
//! trains any [`Classifier`] on any [`Examples`] set whose inputs the model takes (images,
//! embedded sentences), towards hard or soft [`Targets`].

mod contrastive;
mod history;

pub use crate::augment::Augment;
pub use contrastive::{
    SimilarityContrastive, SymmetricContrastive, infonce, soft_symmetric_contrastive,
    symmetric_contrastive,
};
pub use history::{EpochRecord, History};

use std::any::Any;
use std::ops::ControlFlow;
use std::time::Instant;

use burn::config::Config;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::Batch;
use crate::data::{Examples, ImageSet, Targets, hard_cross_entropy};
use crate::error::{Error, Result, ensure};
use crate::models::{Classifier, ConvNet};
use crate::progress::Progress;

/// Learning-rate schedule over epochs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// Constant learning rate.
    Constant,
    /// Divide by 10 at half of the epochs (the DC/DSA/DM evaluation protocol).
    StepAtHalf,
    /// Cosine decay to zero over the epochs.
    Cosine,
}

/// Which optimizer [`fit`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// SGD with the config's momentum and weight decay.
    Sgd,
    /// Adam with the config's weight decay.
    Adam,
}

/// Configuration of [`fit`]. Defaults are the DC evaluation protocol's: SGD, momentum 0.9,
/// weight decay 5e-4, lr 0.01 divided by 10 at half, batch 256.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let cfg = FitConfig::new().with_epochs(3).with_batch_size(64).with_augment(Augment::CropFlip { pad: 2 });
/// assert!(cfg.check().is_ok());
/// assert!(FitConfig::new().with_lr(-1.0).check().is_err());
/// ```
#[derive(Config, Debug)]
pub struct FitConfig {
    /// Passes over the training set.
    #[config(default = 10)]
    pub epochs: usize,
    /// Images per step.
    #[config(default = 256)]
    pub batch_size: usize,
    /// Initial learning rate.
    #[config(default = 0.01)]
    pub lr: f64,
    /// SGD momentum (0 for plain SGD).
    #[config(default = 0.9)]
    pub momentum: f64,
    /// L2 weight decay.
    #[config(default = 5e-4)]
    pub weight_decay: f64,
    /// Learning-rate schedule.
    #[config(default = "Schedule::StepAtHalf")]
    pub schedule: Schedule,
    /// Optimizer.
    #[config(default = "OptimizerKind::Sgd")]
    pub optimizer: OptimizerKind,
    /// Augmentation applied to every batch.
    #[config(default = "Augment::None")]
    pub augment: Augment,
    /// Seed of the batch order and augmentation.
    #[config(default = 0)]
    pub seed: u64,
    /// Print throttled progress lines.
    #[config(default = true)]
    pub progress: bool,
}

impl FitConfig {
    /// Checks every field; called by [`fit`].
    pub fn check(&self) -> Result<()> {
        check_sgd(
            "FitConfig",
            self.epochs,
            self.batch_size,
            [self.lr, self.momentum, self.weight_decay],
            &self.augment,
        )
    }

    /// The learning rate of `epoch` (0-based) under the schedule.
    ///
    /// # Example
    /// ```
    /// let cfg = dd_prelude::FitConfig::new().with_epochs(10);
    /// assert_eq!(cfg.lr_at(4), 0.01);
    /// assert!((cfg.lr_at(5) - 0.001).abs() < 1e-12);
    /// ```
    pub fn lr_at(&self, epoch: usize) -> f64 {
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::StepAtHalf => {
                if epoch >= self.epochs / 2 && self.epochs > 1 {
                    self.lr * 0.1
                } else {
                    self.lr
                }
            }
            Schedule::Cosine => {
                let t = epoch as f64 / self.epochs as f64;
                0.5 * self.lr * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }

    fn optimizer(&self) -> ModuleOptimizer {
        let decay =
            (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32));
        match self.optimizer {
            OptimizerKind::Sgd => SgdConfig::new()
                .with_momentum((self.momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(self.momentum)
                        .with_dampening(0.0)
                }))
                .with_weight_decay(decay)
                .init(),
            OptimizerKind::Adam => AdamConfig::new().with_weight_decay(decay).init(),
        }
    }
}

/// Customises [`fit_with`]: the loss of a batch, and what happens after each epoch.
/// Every method has a default, so a hook overrides only what it changes.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use std::ops::ControlFlow;
/// /// Stops after the first epoch.
/// struct OneEpoch;
/// impl<M: Classifier> Hook<M> for OneEpoch {
///     fn epoch_end(&mut self, _m: &M, _r: &mut EpochRecord) -> ControlFlow<()> { ControlFlow::Break(()) }
/// }
/// ```
pub trait Hook<M: Classifier> {
    /// The loss to minimise for a batch; cross-entropy against the batch's targets (hard or
    /// soft) by default.
    ///
    /// `inputs` are the (augmented) inputs the logits came from, `indices` their positions in
    /// the training set.
    fn loss(
        &mut self,
        logits: Tensor<2>,
        targets: &Targets,
        _inputs: &M::Input,
        _indices: &[usize],
    ) -> Tensor<1> {
        targets.cross_entropy(logits)
    }

    /// Called after each epoch with the model in validation mode; may add to the record
    /// (a test accuracy) or stop training by returning `Break`.
    fn epoch_end(&mut self, _model: &M, _record: &mut EpochRecord) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// The default hook: cross-entropy, nothing after epochs.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHook;

impl<M: Classifier> Hook<M> for NoHook {}

/// Mean cross-entropy of `logits` `[n, classes]` against integer `labels` `[n]`.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use burn::tensor::{Tensor, Int};
/// let dev = device();
/// let logits = Tensor::<2>::from_floats([[0.0, 0.0]], &dev);
/// let labels = Tensor::<1, Int>::from_ints([1], &dev);
/// let l: f32 = cross_entropy(logits, labels).into_scalar();
/// assert!((l - std::f32::consts::LN_2).abs() < 1e-6);
/// ```
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    hard_cross_entropy(logits, labels)
}

/// A trained model and its training history.
#[derive(Debug, Clone)]
pub struct Trained<M> {
    /// The model, in validation mode (no autodiff).
    pub model: M,
    /// One record per epoch.
    pub history: History,
}

/// Trains `model` on `data` with cross-entropy against the set's targets (hard labels, or soft
/// ones for a [`SoftLabelled`](crate::data::SoftLabelled) set): the DC protocol's defaults
/// unless `config` says otherwise. Any [`Examples`] set whose inputs the model takes: images,
/// embedded sentences. Prints throttled progress lines (epoch, step, loss, examples/s, ETA).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let data = ImageSet::from_pixels("two", [1, 4, 4], (0..32).map(|i| (i % 16) as f32 / 16.0).collect(),
///                                  vec![0, 1], vec!["a".into(), "b".into()])?;
/// let net = ConvNetConfig::for_set(&data).with_width(4).with_depth(1).init(&dev);
/// let trained = fit(net, &data, &FitConfig::new().with_epochs(2).with_progress(false), &dev)?;
/// assert_eq!(trained.history.len(), 2);
/// # Ok::<(), Error>(())
/// ```
pub fn fit<M: Classifier, S: Examples<Input = M::Input>>(
    model: M,
    data: &S,
    config: &FitConfig,
    device: &Device,
) -> Result<Trained<M>> {
    // A notebook cell compiles the generic code it calls. For the prelude's ConvNet on an
    // ImageSet the loop is compiled once, in the prelude (`fit_convnet`); the branch is decided
    // at compile time, so the cell instantiates neither the loop nor the optimizer (0.6-0.7 s
    // of a training cell's time in the kernel, measured against `fit_with` with `NoHook`).
    if const { M::PRECOMPILED_FIT && S::PRECOMPILED_FIT } {
        fit_precompiled(model, data, config, device)
    } else {
        fit_with(model, data, config, &mut NoHook, device)
    }
}

/// [`fit`] through the loop compiled in the prelude for its own model and set types.
fn fit_precompiled<M: Classifier, S: Examples<Input = M::Input>>(
    model: M,
    data: &S,
    config: &FitConfig,
    device: &Device,
) -> Result<Trained<M>> {
    let model: Box<dyn Any> = Box::new(model);
    let (Ok(net), Some(images)) = (model.downcast::<ConvNet>(), data.as_image_set()) else {
        return Err(Error::config(
            "fit",
            "model",
            format!(
                "{}: PRECOMPILED_FIT is for the prelude's own models and sets",
                std::any::type_name::<M>()
            ),
        ));
    };
    let trained = fit_convnet(*net, images, config, device)?;
    let model: Box<dyn Any> = Box::new(trained.model);
    Ok(Trained {
        model: *model
            .downcast::<M>()
            .expect("the model went in as a ConvNet"),
        history: trained.history,
    })
}

#[inline(never)]
fn fit_convnet(
    model: ConvNet,
    data: &ImageSet,
    config: &FitConfig,
    device: &Device,
) -> Result<Trained<ConvNet>> {
    fit_with(model, data, config, &mut NoHook, device)
}

/// [`fit`] with a [`Hook`] that may replace the loss (knowledge distillation) or act after
/// each epoch (test accuracy, early stop).
pub fn fit_with<M: Classifier, S: Examples<Input = M::Input>, H: Hook<M>>(
    model: M,
    data: &S,
    config: &FitConfig,
    hook: &mut H,
    device: &Device,
) -> Result<Trained<M>> {
    config.check()?;
    ensure(!data.is_empty(), "fit", "data", || {
        format!("{} holds no example", data.name())
    })?;
    let mut model = model.train();
    let mut optim = config.optimizer();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..data.len()).collect();
    let steps_per_epoch = data.len().div_ceil(config.batch_size);
    let mut progress =
        Progress::new("train", config.epochs * data.len()).with_print(config.progress);
    let mut history = History::default();

    for epoch in 0..config.epochs {
        let lr = config.lr_at(epoch);
        let started = Instant::now();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        for (step, batch) in order.chunks(config.batch_size).enumerate() {
            let inputs = data
                .augmented(batch, &config.augment, &mut rng, device)?
                .autodiff();
            let targets = data.targets(batch, device);
            let logits = model.forward(inputs.clone());
            let loss = hook.loss(logits, &targets, &inputs, batch);
            let loss_value: f32 = loss.clone().into_scalar();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            history.push_step(
                epoch as f64 + (step + 1) as f64 / steps_per_epoch as f64,
                loss_value as f64,
            );
            loss_sum += loss_value as f64 * batch.len() as f64;
            seen += batch.len();
            progress.tick(batch.len(), || {
                format!(
                    "epoch {}/{} step {}/{} loss {:.4}",
                    epoch + 1,
                    config.epochs,
                    step + 1,
                    steps_per_epoch,
                    loss_sum / seen as f64
                )
            });
        }
        let seconds = started.elapsed().as_secs_f64();
        let mut record = EpochRecord {
            epoch: epoch + 1,
            loss: loss_sum / seen.max(1) as f64,
            lr,
            seconds,
            images_per_second: seen as f64 / seconds.max(1e-9),
            test_accuracy: None,
        };
        let flow = hook.epoch_end(&model.valid(), &mut record);
        history.push(record);
        if flow.is_break() {
            break;
        }
    }
    Ok(Trained {
        model: model.valid(),
        history,
    })
}

/// The checks an SGD training setting shares wherever it is configured ([`FitConfig`], the
/// evaluation protocol): epochs and batch size at least 1, `[lr, momentum, weight_decay]` a
/// positive finite step, a momentum in [0, 1) and a finite decay >= 0, and the augmentation's
/// own check; errors name `method`.
pub(crate) fn check_sgd(
    method: &'static str,
    epochs: usize,
    batch_size: usize,
    [lr, momentum, weight_decay]: [f64; 3],
    augment: &Augment,
) -> Result<()> {
    ensure(epochs > 0, method, "epochs", || "must be at least 1".into())?;
    ensure(batch_size > 0, method, "batch_size", || {
        "must be at least 1".into()
    })?;
    ensure(lr > 0.0 && lr.is_finite(), method, "lr", || {
        format!("must be positive, got {lr}")
    })?;
    ensure((0.0..1.0).contains(&momentum), method, "momentum", || {
        format!("must be in [0, 1), got {momentum}")
    })?;
    ensure(
        weight_decay >= 0.0 && weight_decay.is_finite(),
        method,
        "weight_decay",
        || format!("must be >= 0 and finite, got {weight_decay}"),
    )?;
    augment.check()
}
