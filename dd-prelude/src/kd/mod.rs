//! Knowledge distillation (Hinton, Vinyals & Dean 2015), as seed 000 trains its students:
//! `L = a * CE(student, y) + (1 - a) * T^2 * KL(softmax(teacher / T) || softmax(student / T))`
//! with `T = 4`, `a = 0.1`.
//!
//! The student trains through the one training loop ([`crate::fit_with`]) with a [`KdHook`]
//! that replaces the loss; the teacher's logits come either from a cache computed once on the
//! un-augmented set ([`CachedLogits`]) or from the teacher run on each (augmented) batch
//! ([`LiveTeacher`]).

mod plan;

pub use plan::{CoresetKdPlan, KdRun, SEED000_PUBLISHED};

use std::ops::ControlFlow;

use burn::config::Config;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor, TensorData};

use crate::data::{Batch, Examples, Targets};
use crate::error::{Result, ensure};
use crate::eval::logits;
use crate::models::Classifier;
use crate::train::{EpochRecord, Hook, NoHook};

/// Knowledge-distillation loss weights; defaults are seed 000's (`T = 4`, `a = 0.1`).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let kd = KdConfig::new();
/// assert_eq!((kd.temperature, kd.alpha), (4.0, 0.1));
/// assert!(KdConfig::new().with_alpha(1.5).check().is_err());
/// ```
#[derive(Config, Debug)]
pub struct KdConfig {
    /// Softening temperature `T` of both distributions.
    #[config(default = 4.0)]
    pub temperature: f64,
    /// Weight `a` of the cross-entropy with the true labels (`1 - a` goes to the KL term).
    #[config(default = 0.1)]
    pub alpha: f64,
}

impl KdConfig {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        ensure(
            self.temperature > 0.0 && self.temperature.is_finite(),
            "KdConfig",
            "temperature",
            || format!("must be positive, got {}", self.temperature),
        )?;
        ensure(
            (0.0..=1.0).contains(&self.alpha),
            "KdConfig",
            "alpha",
            || format!("must be in [0, 1], got {}", self.alpha),
        )
    }
}

/// The distillation loss of a batch, averaged over it:
/// `a * CE(student, labels) + (1 - a) * T^2 * KL(softmax(teacher / T) || softmax(student / T))`,
/// the KL summed over classes (PyTorch's `kl_div(..., reduction="batchmean")`). The `T^2`
/// keeps the soft term's gradients on the scale of the hard term's (Hinton et al.).
///
/// # Shapes
/// - `student`, `teacher`: `[batch, classes]` logits
/// - `targets`: hard labels `[batch]` (a `Tensor<1, Int>`) or soft [`Targets`]
/// - output: `[1]`
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use burn::tensor::{Int, Tensor};
/// let dev = device();
/// let s = Tensor::<2>::from_floats([[1.0, 2.0, 0.5]], &dev);
/// let y = Tensor::<1, Int>::from_ints([1], &dev);
/// // a student that matches its teacher pays only the cross-entropy part
/// let l: f32 = kd_loss(s.clone(), s.clone(), y.clone(), &KdConfig::new()).into_scalar();
/// let ce: f32 = cross_entropy(s, y).into_scalar();
/// assert!((l - 0.1 * ce).abs() < 1e-5);
/// ```
pub fn kd_loss(
    student: Tensor<2>,
    teacher: Tensor<2>,
    targets: impl Into<Targets>,
    config: &KdConfig,
) -> Tensor<1> {
    let t = config.temperature;
    let [n, _] = student.dims();
    let log_ps = log_softmax(student.clone().div_scalar(t), 1);
    let log_pt = log_softmax(teacher.clone().div_scalar(t), 1);
    let pt = softmax(teacher.div_scalar(t), 1);
    let kl = (pt * (log_pt - log_ps)).sum().div_scalar(n as f64);
    let ce = targets.into().cross_entropy(student);
    ce.mul_scalar(config.alpha) + kl.mul_scalar((1.0 - config.alpha) * t * t)
}

/// Where a [`KdHook`] gets the teacher's logits for a batch of inputs `I` (images by default).
pub trait TeacherLogits<I = Tensor<4>> {
    /// The teacher's logits `[batch, classes]` for the batch `inputs` (positions `indices` in
    /// the training set), on the device of `inputs`, without autodiff.
    fn logits(&mut self, inputs: &I, indices: &[usize]) -> Tensor<2>;
}

/// Teacher logits computed once on the un-augmented training set.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 4, 4], vec![0.5; 32], vec![0, 1], vec!["a".into(), "b".into()])?;
/// let teacher = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// let cache = CachedLogits::new(&teacher, &set, &dev);
/// assert_eq!(cache.classes(), 2);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CachedLogits {
    values: Vec<f32>,
    classes: usize,
}

impl CachedLogits {
    /// Runs `teacher` over `data` once.
    pub fn new<M: Classifier, S: Examples<Input = M::Input>>(
        teacher: &M,
        data: &S,
        device: &Device,
    ) -> Self {
        CachedLogits {
            values: logits(teacher, data, device),
            classes: data.num_classes(),
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }
}

impl<I: Batch> TeacherLogits<I> for CachedLogits {
    fn logits(&mut self, inputs: &I, indices: &[usize]) -> Tensor<2> {
        let mut rows = Vec::with_capacity(indices.len() * self.classes);
        for &i in indices {
            rows.extend_from_slice(&self.values[i * self.classes..(i + 1) * self.classes]);
        }
        let device = inputs.device();
        Tensor::from_data(
            TensorData::new(rows, [indices.len(), self.classes]),
            &device,
        )
    }
}

/// A teacher run on every batch the student sees, augmentation included.
#[derive(Debug, Clone)]
pub struct LiveTeacher<M> {
    model: M,
}

impl<M: Classifier> LiveTeacher<M> {
    /// Wraps `teacher` (in validation mode: batch norm uses its running statistics).
    pub fn new(teacher: &M) -> Self {
        LiveTeacher {
            model: teacher.valid(),
        }
    }
}

impl<M: Classifier> TeacherLogits<M::Input> for LiveTeacher<M> {
    fn logits(&mut self, inputs: &M::Input, _indices: &[usize]) -> Tensor<2> {
        self.model.forward(inputs.clone().inner())
    }
}

/// A [`Hook`] that trains a student with [`kd_loss`] against a teacher, then hands the end of
/// each epoch to an inner hook (a [`crate::TestEachEpoch`] for accuracy curves).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 4, 4], (0..64).map(|i| (i % 5) as f32 / 5.0).collect(),
///                                 vec![0, 1, 0, 1], vec!["a".into(), "b".into()])?;
/// let teacher = fit(ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev), &set,
///                   &FitConfig::new().with_epochs(2).with_progress(false), &dev)?.model;
/// let mut hook = KdHook::live(KdConfig::new(), &teacher).then(TestEachEpoch::new(&set));
/// let student = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// let cfg = FitConfig::new().with_epochs(2).with_augment(Augment::CropFlip { pad: 1 }).with_progress(false);
/// let trained = fit_with(student, &set, &cfg, &mut hook, &dev)?;
/// assert!(trained.history.last().unwrap().test_accuracy.is_some());
/// # Ok::<(), Error>(())
/// ```
pub struct KdHook<T, H = NoHook> {
    config: KdConfig,
    teacher: T,
    inner: H,
}

impl KdHook<CachedLogits> {
    /// Distils from `teacher`'s logits on `data` (the student's training set), computed once
    /// without augmentation.
    pub fn cached<M: Classifier, S: Examples<Input = M::Input>>(
        config: KdConfig,
        teacher: &M,
        data: &S,
        device: &Device,
    ) -> Self {
        KdHook {
            config,
            teacher: CachedLogits::new(teacher, data, device),
            inner: NoHook,
        }
    }
}

impl<M: Classifier> KdHook<LiveTeacher<M>> {
    /// Distils from `teacher` run on every (augmented) batch.
    pub fn live(config: KdConfig, teacher: &M) -> Self {
        KdHook {
            config,
            teacher: LiveTeacher::new(teacher),
            inner: NoHook,
        }
    }
}

impl<T: TeacherLogits> KdHook<T> {
    /// Distils from any [`TeacherLogits`] source.
    pub fn new(config: KdConfig, teacher: T) -> Self {
        KdHook {
            config,
            teacher,
            inner: NoHook,
        }
    }
}

impl<T, H> KdHook<T, H> {
    /// Hands the end of each epoch to `inner` (its loss is not used: this hook's loss is).
    pub fn then<H2>(self, inner: H2) -> KdHook<T, H2> {
        KdHook {
            config: self.config,
            teacher: self.teacher,
            inner,
        }
    }

    /// The loss weights.
    pub fn config(&self) -> &KdConfig {
        &self.config
    }
}

impl<M: Classifier, T: TeacherLogits<M::Input>, H: Hook<M>> Hook<M> for KdHook<T, H> {
    fn loss(
        &mut self,
        logits: Tensor<2>,
        targets: &Targets,
        inputs: &M::Input,
        indices: &[usize],
    ) -> Tensor<1> {
        let teacher = self.teacher.logits(inputs, indices);
        // the teacher's logits are a constant of the student's graph
        let teacher = if logits.is_autodiff() {
            teacher.autodiff()
        } else {
            teacher
        };
        kd_loss(logits, teacher, targets.clone(), &self.config)
    }

    fn epoch_end(&mut self, model: &M, record: &mut EpochRecord) -> ControlFlow<()> {
        self.inner.epoch_end(model, record)
    }
}

/// Trains `student` on `data` with a [`KdHook`]: checks the hook's weights, then runs the one
/// training loop ([`crate::fit_with`]).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 4, 4], (0..64).map(|i| (i % 5) as f32 / 5.0).collect(),
///                                 vec![0, 1, 0, 1], vec!["a".into(), "b".into()])?;
/// let teacher = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// let student = ConvNetConfig::for_set(&set).with_width(4).with_depth(1).init(&dev);
/// let mut hook = KdHook::cached(KdConfig::new().with_alpha(2.0), &teacher, &set, &dev);
/// let err = fit_kd(student, &set, &FitConfig::new(), &mut hook, &dev).unwrap_err();
/// assert!(err.to_string().contains("alpha"));
/// # Ok::<(), Error>(())
/// ```
pub fn fit_kd<M, S, T, H>(
    student: M,
    data: &S,
    config: &crate::train::FitConfig,
    hook: &mut KdHook<T, H>,
    device: &Device,
) -> Result<crate::train::Trained<M>>
where
    M: Classifier,
    S: Examples<Input = M::Input>,
    T: TeacherLogits<M::Input>,
    H: Hook<M>,
{
    hook.config().check()?;
    crate::train::fit_with(student, data, config, hook, device)
}
